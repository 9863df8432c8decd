/*!
cosign's wire formats, as pure data: no I/O, no network, no async here.

Owns: the simple-signing payload ([`payload`], [`SimpleSigning`]), signature layers
([`SignatureLayer`], [`LayerDescriptor`]), the `sha256-<hex>.sig` manifest (read with
[`parse_sig_manifest`], merge with [`merge`] / [`remerge`] without ever dropping a layer,
confirm with [`contains_all`]; take signatures out again with [`remove_layers`]), the OCI 1.1 referrers artifact ([`referrers_artifact`],
[`parse_referrers_artifact`]) and the pure part of verification ([`verify_signature_b64`],
[`verify_layers`]).

Why it is built this way:

* Existing layer descriptors are kept as the exact JSON text the registry returned
  (`serde_json::value::RawValue`), so a cosign bundle, certificate or any annotation we do
  not know survives a merge byte for byte, in its original key order.
* A layer is identified by its payload digest *and* its signature annotation
  ([`LayerKey`]): every signer of one digest produces the same payload blob, so the layer
  digest alone would merge away other keys' signatures.
* Everything pinsign writes is deterministic (the config's `created` is the zero time), so
  signing the same digest with the same key twice produces the same bytes.

The registry module fetches and pushes; the commands compose the two.
*/

pub(crate) mod json;
mod layer;
mod manifest;
mod payload;
mod prune;
mod referrers;
mod verify;

pub use layer::{Blob, BlobData, LayerDescriptor, LayerKey, SignatureLayer};
pub use manifest::{
    contains_all, merge, merge_keeping, missing_layers, parse_sig_manifest, remerge, sig_config,
    ManifestKind, MergeOutcome, SigManifest, ZERO_TIME,
};
pub use payload::{parse_annotations, payload, Critical, Identity, ImageClaim, SimpleSigning};
pub use prune::{reapply_removal, remove_layers, Removal, WouldEmpty};
pub use referrers::{
    parse_referrers_artifact, referrers_artifact, ReferrersArtifact, ReferrersManifest,
};
pub use verify::{
    check_layer_blob, check_payload, new_check, verify_layer, verify_layers, verify_signature_b64,
    FetchedLayer, SignatureCheck,
};

/// Layer annotation holding the base64 (standard, padded) DER signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation cosign writes for a Rekor bundle (kept, never interpreted here).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Layer annotation cosign writes for a Fulcio certificate (kept, never interpreted here).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// `critical.type` of every cosign container image signature payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// What went wrong with a signature document. Pure-data errors: the registry module adds
/// which image and which tag they came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a well-formed manifest (bad JSON, missing or mistyped fields).
    #[error("malformed signature manifest: {0}")]
    Malformed(String),
    /// A well-formed document that is not a cosign signature manifest. The signer must
    /// refuse to overwrite it.
    #[error("not a cosign signature manifest: it is {0}; pinsign will not overwrite or read it as signatures")]
    Foreign(String),
    /// The signature text is not standard base64.
    #[error("the signature is not valid base64: {0}")]
    BadBase64(String),
    /// The signature does not verify over the payload with the given key.
    #[error("the signature does not verify with key {fingerprint} ({source_name})")]
    BadSignature {
        fingerprint: String,
        source_name: String,
    },
    /// The payload is not a cosign simple-signing document.
    #[error("the payload is not a cosign simple-signing document: {0}")]
    BadPayload(String),
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
