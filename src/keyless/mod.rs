/*!
Keyless (Sigstore) verification, the pure part: no I/O, no network, no clock.

A keyless signature has no long-lived key: the signer got a ten-minute Fulcio certificate
naming its OIDC identity (a CI workflow, an email), signed with it, and logged the signature
in Rekor, whose signed entry timestamp (SET) proves *when*. Verifying it means checking, in
this order ([`verify`] has the list and why):

| check ([`Check`]) | module |
|---|---|
| the SET verifies with the trusted Rekor key named by the log id; T = `integratedTime` | [`rekor`] |
| the inclusion proof and its signed checkpoint (bundles) | [`rekor`] |
| the leaf chains to a trusted Fulcio CA valid at T; it was valid at T; it is for code signing | [`chain`], [`certificate`] |
| its embedded SCT verifies with a trusted CT log (not applicable without CT logs) | [`sct`] |
| the signature verifies over the payload, digest or DSSE PAE with the leaf's key | [`verify`], [`crypto`] |
| the Rekor entry's body is this signature, certificate and artifact | [`rekor::body`] |
| SAN, OIDC issuer and GitHub workflow extensions match the policy | [`identity`] |
| (legacy `.sig` layers) the payload names the image digest | [`legacy`] |

Trust comes only from a [`TrustedRoot`] (`trusted_root.json`; the public-good one ships in
`data/`); nothing is fetched. Entry points: [`verify_legacy`] for a cosign `.sig` layer,
[`verify_keyless`] with plain inputs ([`KeylessInput`], [`TlogEntry`]) for the bundle code.
A failure is a [`KeylessError`] naming the first check that failed; a success is a
[`KeylessVerified`] listing every check with what it found, including those that did not
apply.

What comes from the `sigstore` crate (0.15, features `cosign` + `rustls-tls`, nothing more):
`crypto::CosignVerificationKey` verifies with Ed25519 and RSA keys (Rekor v2 and some CT
logs), and `cosign::bundle::Bundle` is the serde type of the legacy bundle annotation. The
rest does not fit, so pinsign has its own (tested against sigstore-rs where it can be called):

* certificate chain, SCT and Merkle code (`crypto::certificate`, `CertificatePool`,
  `transparency`, `MerkleProofVerifier`) are crate-private;
* its bundle `Verifier` checks the chain at the certificate's notBefore rather than the SET's
  time, ignores the CA's `validFor`, and leaves SET and inclusion-proof checks as TODOs; it
  also needs the `sigstore-trust-root` feature (TUF) for a trusted root;
* `bundle::verify::policy` reads the issuer from `.1.1` only, has no regular expressions, and
  its `AnyOf` fails when any child fails;
* `cosign::bundle::Bundle`'s SET check is crate-private; the public
  `SignedArtifactBundle::new_verified` wants a different JSON shape (used in tests as a
  cross-check);
* `rekor::models::InclusionProof::verify` re-serializes the checkpoint note instead of
  verifying the signed bytes and ignores the key hint (used in tests as a cross-check);
* `CosignVerificationKey` ties SHA-384 to P-384 and keeps its prehash verifier private, so
  ECDSA goes through RustCrypto's `p256`/`p384` (already in the lock), see [`crypto`];
* `sigstore_protobuf_specs`'s trusted-root types deny unknown fields (a newer file would not
  load), so [`trust_root`] has its own lenient serde structs.
*/

pub mod bundle;
pub mod certificate;
pub mod chain;
pub mod crypto;
pub mod identity;
mod image;
pub mod legacy;
pub mod rekor;
pub mod report;
pub mod sct;
mod tbs;
pub mod time;
pub mod trust_root;
pub mod verify;

pub use bundle::{verify_bundle, BundleSubject};
pub use certificate::{BuildExtensions, FulcioCertificate, GithubWorkflow, San};
pub use identity::{GithubWorkflowPolicy, IdentityPolicy, Matcher, PolicyError};
pub use image::{judge_layer, KeylessTrust};
pub use legacy::{
    parse_rekor_bundle, verify_detached, verify_legacy, DetachedSignature, LegacySignature,
};
pub use rekor::{InclusionProof, KindVersion, TlogEntry};
pub use report::{Check, CheckReport, KeylessError, Outcome};
pub use trust_root::{LogId, TrustedRoot, TrustedRootError};
pub use verify::{dsse_pae, verify_keyless, KeylessInput, KeylessVerified, SignedArtifact};
