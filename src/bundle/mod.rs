/*!
Sigstore bundles, the format cosign v3 signs with by default, as pure data: no I/O here.

Owns: reading a bundle ([`Bundle::parse`]: media types v0.1 to v0.3 in both spellings, the
verification material with its transparency-log entries as typed data, a DSSE envelope or a
message signature), the DSSE envelope and its PAE ([`dsse`]), in-toto Statements ([`statement`]),
building what `cosign sign --key --tlog-upload=false` and `cosign sign-blob --key
--new-bundle-format --tlog-upload=false` write ([`image_bundle`], [`blob_bundle`]), the OCI pieces
that attach a bundle to an image ([`bundle_referrer`], the referrers tag index in [`index`]), and
key-based verification ([`verify_image_bundle`], [`verify_blob_bundle`]) with a typed reason per
refused bundle ([`Refusal`]).

# What cosign v3 does (research; sources are sigstore/cosign @ d6d86c22, v3.1.x)

* `cmd/cosign/cli/sign/sign.go`, `signDigestBundle`: the statement is an in-toto Statement v1
  (`_type` `https://in-toto.io/Statement/v1`) with **one subject that has only a `digest`**
  (`{"sha256": "<hex>"}`, no `name`) and the `-a` annotations as that subject's `annotations`
  (a protobuf `Struct`, so `{}` when there are none); `predicateType`
  `https://sigstore.dev/cosign/sign/v1`; `predicate` `{}` (added in v3.0.5 by commit 96debc14;
  earlier v3 releases, like the kubewarden vector in `tests/fixtures/keyless/bundles/`, omit it).
  It is marshalled with Go's `protojson`: fields in declaration order, map keys sorted, compact.
  (`protojson` adds a space after every comma in builds whose binary hash is odd, see
  protobuf-go `internal/encoding/json/encode.go` `prepareNext` and `internal/detrand`; release
  builds seen in the wild do not. pinsign writes the compact form.)
* `cmd/cosign/cli/signcommon/common.go`, `NewAttestationBundle`, and `pkg/cosign/bundle/sign.go`,
  `SignData`: the payload is signed by sigstore-go's `sign.Bundle` (sigstore/sigstore-go
  `pkg/sign/signer.go`, `content.go`) as DSSE with payloadType `application/vnd.in-toto+json`:
  the signature is over `PAE(payloadType, payload)`, one signature, no `keyid`. The bundle is
  `protojson.Marshal`led: `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
  "verificationMaterial":{"publicKey":{"hint":H}},"dsseEnvelope":{"payload":B64,"payloadType":..,
  "signatures":[{"sig":B64}]}}`. With `--tlog-upload=false` and no `--timestamp-server-url` the
  signing config has no Rekor and no TSA (`NewSigningConfigFromKeyOpts`), so there are no
  `tlogEntries` and no `timestampVerificationData`.
* The hint (`internal/key/svkeypair.go`, `NewSignerVerifierKeypair`) is standard base64 of
  SHA-256 over the PKIX (SPKI DER) public key. It is unauthenticated; cosign's own verifier
  ignores it (`root.NewTrustedPublicKeyMaterial(func(_ string) ...)`), sigstore-js looks the key up
  by it.
* `cmd/cosign/cli/sign/sign_blob.go`: `sign-blob --new-bundle-format` signs the file's bytes as
  sigstore-go `PlainData`: a `messageSignature` with `messageDigest {algorithm: SHA2_256, digest:
  sha256(file)}` and the ECDSA signature over the file (SHA-256 inside the signature).
* `pkg/oci/remote/write.go`, `WriteAttestationNewBundleFormat` and `WriteReferrer`: the bundle is
  a blob; the manifest (go-containerregistry `v1.Manifest` plus a top-level `artifactType`,
  encoding/json order) is `schemaVersion`, `mediaType` (OCI manifest), `config` = the empty
  descriptor `application/vnd.oci.empty.v1+json`, size 2, digest of `{}`, **carrying
  `artifactType` = the bundle media type too**, `layers` = one descriptor of the bundle
  (media type `application/vnd.dev.sigstore.bundle.v0.3+json`), `annotations`
  `dev.sigstore.bundle.content: dsse-envelope`, `dev.sigstore.bundle.predicateType`,
  `org.opencontainers.image.created` (RFC 3339, UTC, whole seconds), `subject` = the image's
  descriptor from a HEAD, and `artifactType` = the bundle media type. Pushed by its digest with
  go-containerregistry `remote.Put`, which updates the referrers tag when the registry has no
  referrers API (`pkg/v1/remote/write.go`, `commitSubjectReferrers`).
* `pkg/cosign/verify.go`, `GetBundles`: `cosign verify` lists the referrers of the digest (API,
  else the `sha256-<hex>` tag), fetches every listed manifest, keeps those with exactly one layer
  whose media type starts with `application/vnd.dev.sigstore.bundle`, and needs bundle version
  ≥ 0.3. `cmd/cosign/cli/verify/verify.go` uses bundles when there are any, else the `.sig` tag.
  Its claim check (`pkg/cosign/verifiers.go`, `IntotoSubjectClaimVerifier`) looks for a subject
  whose `sha256` digest is the image's and compares the annotations; it does not check the
  predicate type. pinsign does (an attestation is not a signature), as the issue asks.
* OCI distribution spec (opencontainers/distribution-spec `spec.md`, "Pushing Manifests with
  Subject" and "Referrers Tag Schema"): without the API the client pulls the index tagged
  `<alg>-<hex>`, starts empty on 404, refuses a tag holding something else, adds the manifest's
  descriptor with `artifactType` (else the config media type) and **all the manifest's
  annotations**, creates no duplicate, and pushes it back. There is no compare-and-swap.
* DSSE (secure-systems-lab/dsse `protocol.md`, `envelope.md`): `PAE(type, body) = "DSSEv1" SP
  LEN(type) SP type SP LEN(body) SP body`, LEN in ASCII decimal; base64 standard or URL-safe;
  unknown envelope fields are ignored. sigstore-go requires exactly one signature
  (`pkg/verify/signature.go`, `ErrDSSEInvalidSignatureCount`).
* in-toto (in-toto/attestation `spec/v1/statement.md`, `spec/v0.1.0/README.md`): `_type`,
  `subject` (each with a `digest` set), `predicateType`, optional `predicate`; v0.1 has the same
  shape with `https://in-toto.io/Statement/v0.1` and a `name` per subject.
* Bundle versions (sigstore/sigstore-go `pkg/bundle/bundle.go`, `getBundleVersion`, `validate`):
  `application/vnd.dev.sigstore.bundle+json;version=0.N` or `application/vnd.dev.sigstore.bundle.v0.N+json`;
  v0.1 tlog entries need an inclusion promise, v0.2 and later an inclusion proof; v0.3 may not
  carry an `x509CertificateChain`.

# Which library does what

Parsing uses the `sigstore_protobuf_specs` types (the ones the `sigstore` crate re-exports as
`sigstore::bundle::Bundle`): their serde is protojson's mapping (camelCase or proto names, base64
bytes, 64-bit integers as strings, enum names, one member per `oneof`, unknown members refused as
Go's `protojson` refuses them). The result is turned into pinsign's own types ([`Bundle`],
[`VerificationMaterial`], [`TlogEntry`], ...), so callers do not depend on prost and the checks
(duplicate members, required parts per version) live in one place. Writing is pinsign's own:
prost-reflect's serializer orders members by field number (`tlogEntries` before `certificate`),
not in the declaration order cosign's `protojson` uses. The `sigstore` crate's PAE and in-toto
types are `pub(crate)` there, so [`dsse::pae`] and [`statement`] are written here.
*/

mod build;
pub mod dsse;
pub mod index;
mod json;
mod media_type;
mod model;
mod referrer;
pub mod statement;
mod time;
mod verify;

pub use build::{blob_bundle, blob_bundle_of_digest, image_bundle, key_hint, BuiltBundle};
pub use dsse::{pae, DsseSignature, Envelope};
pub use index::{
    bundle_referrers, merge_referrers, missing_referrers, parse_referrers_index, referrers_tag,
    IndexMerge, ReferrerEntry, ReferrersIndex,
};
pub use media_type::BundleVersion;
pub use model::{
    Bundle, Content, ContentKind, HashAlgorithm, InclusionProof, KeyMaterial, MessageDigest,
    MessageSignature, TlogEntry, VerificationMaterial,
};
pub use referrer::{
    bundle_referrer, parse_bundle_referrer, BundleLayer, BundleManifest, BundleReferrer,
    ReferrerDescriptor,
};
pub use statement::{Statement, StatementType, Subject};
pub use time::Created;
pub use verify::{
    check_image_statement, verify_blob_bundle, verify_dsse_signature, verify_image_bundle,
    verify_message_signature, BlobArtifact, BlobPolicy, BundleCheck, ImagePolicy, Refusal,
};

/// `predicateType` of a cosign image signature (`pkg/types/predicate.go`).
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The OCI empty blob, `{}`: the config of a bundle referrer.
pub const OCI_EMPTY_BLOB: &[u8] = b"{}";
/// Manifest annotation: `dsse-envelope` or `message-signature`.
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// Manifest annotation: the statement's predicate type (DSSE bundles only).
pub const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Manifest annotation: when the bundle was attached (RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// The largest bundle pinsign reads. Signature bundles are a few KB; an attestation with a
/// large predicate (an SBOM) may be MBs. Fetch no more than this: the registry layer should
/// check a layer descriptor's `size` against it before downloading.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;
/// The largest referrers list (API answer or referrers tag index) pinsign reads. The
/// distribution spec asks registries to take manifests of at least 4 MB.
pub const MAX_INDEX_BYTES: usize = 4 * 1024 * 1024;

/// What is wrong with a bundle, a statement or a referrers document. Pure-data errors: the
/// caller adds which image, file or tag they came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Larger than pinsign reads.
    #[error("it is {size} bytes, more than the {limit} bytes pinsign reads")]
    TooLarge { size: usize, limit: usize },
    /// Not a well-formed Sigstore bundle (bad JSON, missing or mistyped members).
    #[error("malformed Sigstore bundle: {0}")]
    Malformed(String),
    /// A `mediaType` pinsign does not know (not a bundle, or a version after 0.3).
    #[error("unknown bundle media type {0:?}; pinsign reads versions 0.1, 0.2 and 0.3")]
    UnknownMediaType(String),
    /// The DSSE payload is not an in-toto Statement pinsign can read.
    #[error("malformed in-toto statement: {0}")]
    MalformedStatement(String),
    /// Not a well-formed OCI document (referrers index or bundle referrer manifest).
    #[error("malformed OCI document: {0}")]
    MalformedOci(String),
    /// A well-formed OCI document of another kind: never overwritten, never read as bundles.
    #[error("not a referrers list: it is {0}; pinsign will not overwrite it")]
    Foreign(String),
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
