//! Building the bundles `cosign sign --key --tlog-upload=false` (an image digest) and
//! `cosign sign-blob --key --new-bundle-format --tlog-upload=false` (a file) write.
//!
//! Both are what sigstore-go's `sign.Bundle` makes with a key pair and no transparency log or
//! timestamp authority, marshalled by Go's `protojson` (see `mod.rs`): compact, members in
//! declaration order (`mediaType`, `verificationMaterial`, then the content), bytes as padded
//! standard base64, no empty members. ECDSA P-256 signatures are RFC 6979 deterministic, so the
//! same key over the same digest and annotations always gives the same bytes.

use crate::media_types::{BUNDLE_V03, IN_TOTO};
use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::Digest as _;

use super::json::ObjectWriter;
use super::model::ContentKind;
use super::statement::cosign_sign_statement;
use super::COSIGN_SIGN_PREDICATE_TYPE;
use crate::keys::{PublicKey, SigningKey};
use crate::reference::Digest;

/// A bundle pinsign made, ready to write to a file or attach to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBundle {
    /// The bundle JSON.
    pub bytes: Vec<u8>,
    /// sha256 of `bytes`: the layer digest when attached.
    pub digest: Digest,
    /// Always [`BUNDLE_V03`].
    pub media_type: &'static str,
    pub content: ContentKind,
    /// The statement's predicate type (DSSE bundles).
    pub predicate_type: Option<&'static str>,
}

/// `verificationMaterial.publicKey.hint` as cosign computes it: standard base64 of SHA-256
/// over the SPKI DER of the public key (`internal/key/svkeypair.go`).
pub fn key_hint(key: &PublicKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(key.spki_der()))
}

/// The cosign v3 image signature bundle for `digest`: a DSSE envelope (payloadType
/// `application/vnd.in-toto+json`) over [`cosign_sign_statement`] with `annotations` in the
/// subject, signed over PAE by `key`, and the key named by its hint.
///
/// ```
/// use pinsign::bundle::{image_bundle, verify_image_bundle, ImagePolicy};
/// use pinsign::keys::SigningKey;
/// use pinsign::reference::Digest;
///
/// let key = SigningKey::generate();
/// let digest = Digest::of(b"an image manifest");
/// let bundle = image_bundle(&digest, &Default::default(), &key);
/// let keys = [key.public_key()];
/// let check = verify_image_bundle(&bundle.bytes, &digest, &ImagePolicy::new(&keys));
/// assert!(check.verified, "{:?}", check.reason);
/// ```
pub fn image_bundle(
    digest: &Digest,
    annotations: &BTreeMap<String, String>,
    key: &SigningKey,
) -> BuiltBundle {
    let payload = cosign_sign_statement(digest, annotations);
    let signature = key.sign(&super::dsse::pae(IN_TOTO, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = ObjectWriter::new();
    sig.proto_string("sig", &b64.encode(signature));
    let mut envelope = ObjectWriter::new();
    envelope
        .proto_string("payload", &b64.encode(&payload))
        .proto_string("payloadType", IN_TOTO)
        .raw("signatures", &format!("[{}]", sig.finish()));
    let bytes = bundle_json(&key.public_key(), "dsseEnvelope", &envelope.finish());
    BuiltBundle {
        digest: Digest::of(&bytes),
        bytes,
        media_type: BUNDLE_V03,
        content: ContentKind::DsseEnvelope,
        predicate_type: Some(COSIGN_SIGN_PREDICATE_TYPE),
    }
}

/// The `cosign sign-blob --new-bundle-format` bundle for a file's bytes: a message signature
/// (ECDSA over SHA-256 of `data`) with the file's SHA-256 as `messageDigest`.
pub fn blob_bundle(data: &[u8], key: &SigningKey) -> BuiltBundle {
    blob_bundle_of_digest(&Digest::of(data), key)
}

/// [`blob_bundle`] for a file known by its SHA-256 (hashed as it was read).
pub fn blob_bundle_of_digest(file: &Digest, key: &SigningKey) -> BuiltBundle {
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = hex::decode(file.hex()).unwrap_or_default();
    let mut digest = ObjectWriter::new();
    digest
        .proto_string("algorithm", "SHA2_256")
        .proto_string("digest", &b64.encode(&raw));
    let mut message = ObjectWriter::new();
    message
        .raw("messageDigest", &digest.finish())
        .proto_string("signature", &b64.encode(key.sign_digest(file)));
    let bytes = bundle_json(&key.public_key(), "messageSignature", &message.finish());
    BuiltBundle {
        digest: Digest::of(&bytes),
        bytes,
        media_type: BUNDLE_V03,
        content: ContentKind::MessageSignature,
        predicate_type: None,
    }
}

/// `{"mediaType":..,"verificationMaterial":{"publicKey":{"hint":..}},"<content_key>":<content>}`
fn bundle_json(public: &PublicKey, content_key: &str, content: &str) -> Vec<u8> {
    let mut hint = ObjectWriter::new();
    hint.proto_string("hint", &key_hint(public));
    let mut material = ObjectWriter::new();
    material.raw("publicKey", &hint.finish());
    let mut bundle = ObjectWriter::new();
    bundle
        .proto_string("mediaType", BUNDLE_V03)
        .raw("verificationMaterial", &material.finish())
        .raw(content_key, content);
    bundle.finish().into_bytes()
}
