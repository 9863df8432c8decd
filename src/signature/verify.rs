//! Verification, the pure part: given the layers and their fetched blobs, which signatures
//! hold for this image digest, with which key, and why the others do not.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use super::layer::LayerDescriptor;
use super::payload::SimpleSigning;
use super::{SignatureError, PAYLOAD_TYPE, SIGNATURE_ANNOTATION};
use crate::keys::PublicKey;
use crate::media_types::SIMPLESIGNING;
use crate::reference::Digest;

/// Verify a base64 (standard, padded) DER signature over exactly `payload`: the offline
/// check, as `cosign verify-blob --key` does it.
///
/// ```
/// use pinsign::keys::PublicKey;
/// use pinsign::signature::verify_signature_b64;
///
/// // A real cosign signature (from sigstore-rs's tests) and the key that made it.
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign/payloads/");
/// let read = |f: &str| std::fs::read(format!("{dir}{f}")).unwrap();
/// let payload = read("busybox.payload.json");
/// let signature = String::from_utf8(read("busybox.sig.b64")).unwrap();
/// let key = PublicKey::from_pem(&read("busybox.pub"), "busybox.pub").unwrap();
/// assert!(verify_signature_b64(&payload, &signature, &key).is_ok());
///
/// let other = PublicKey::from_pem(&read("wrong-key.pub"), "wrong-key.pub").unwrap();
/// assert!(verify_signature_b64(&payload, &signature, &other).is_err());
/// ```
pub fn verify_signature_b64(
    payload: &[u8],
    signature_b64: &str,
    key: &PublicKey,
) -> Result<(), SignatureError> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(signature_b64.trim())
        .map_err(|e| SignatureError::BadBase64(e.to_string()))?;
    if key.verify(payload, &der) {
        Ok(())
    } else {
        Err(SignatureError::BadSignature {
            fingerprint: key.fingerprint(),
            source_name: key.source().to_string(),
        })
    }
}

/// A layer descriptor with the blob fetched for it (unchecked: [`verify_layers`] checks it).
#[derive(Debug, Clone)]
pub struct FetchedLayer {
    pub descriptor: LayerDescriptor,
    pub blob: Vec<u8>,
}

/// The verdict on one signature layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureCheck {
    pub layer_digest: Digest,
    /// Fingerprint (`SHA256:<hex>` of the SPKI) of the key the signature verified with;
    /// set even when a later check failed, so a report can say "signed by K, but ...".
    pub key: Option<String>,
    /// Where that key came from (file or env://VAR).
    pub key_source: Option<String>,
    /// The payload's `optional` map (values as text); empty when there is none.
    pub annotations: BTreeMap<String, String>,
    /// True only when every check passed.
    pub verified: bool,
    /// Why the layer was not accepted; `None` when verified.
    pub reason: Option<String>,
    /// The payload as JSON (`null` when the blob is not JSON).
    pub payload: serde_json::Value,
}

/// Check every layer against `image_digest`, in order. A layer is accepted only when its
/// media type is the simple-signing type, its blob hashes to its descriptor's digest with
/// the descriptor's size, its signature verifies with one of `keys`, its payload's
/// `critical.type` is cosign's and its `critical.image.docker-manifest-digest` is
/// `image_digest` (anything else is a replayed signature), and every `required`
/// annotation is in the payload's `optional` map with that value.
pub fn verify_layers(
    image_digest: &Digest,
    layers: &[FetchedLayer],
    keys: &[PublicKey],
    required: &BTreeMap<String, String>,
) -> Vec<SignatureCheck> {
    layers
        .iter()
        .map(|l| verify_layer(image_digest, l, keys, required))
        .collect()
}

/// [`verify_layers`] for one layer.
pub fn verify_layer(
    image_digest: &Digest,
    layer: &FetchedLayer,
    keys: &[PublicKey],
    required: &BTreeMap<String, String>,
) -> SignatureCheck {
    let d = &layer.descriptor;
    let parsed = SimpleSigning::parse(&layer.blob);
    let mut check = new_check(layer, parsed.as_ref().ok());
    let fail = |mut check: SignatureCheck, reason: String| {
        check.reason = Some(reason);
        check
    };
    if let Err(reason) = check_layer_blob(layer) {
        return fail(check, reason);
    }
    let Some(sig_b64) = d.signature_b64() else {
        return fail(
            check,
            format!("layer has no {SIGNATURE_ANNOTATION} annotation"),
        );
    };
    let der = match base64::engine::general_purpose::STANDARD.decode(sig_b64.trim()) {
        Ok(der) => der,
        Err(e) => {
            return fail(
                check,
                format!("signature annotation is not valid base64 ({e})"),
            )
        }
    };
    if keys.is_empty() {
        return fail(check, "no key was given to verify with".into());
    }
    let Some(key) = keys.iter().find(|k| k.verify(&layer.blob, &der)) else {
        return fail(check, "no key verified the signature".into());
    };
    check.key = Some(key.fingerprint());
    check.key_source = Some(key.source().to_string());
    let payload = match parsed {
        Ok(p) => p,
        Err(e) => return fail(check, e.to_string()),
    };
    if let Err(reason) = check_payload(&payload, image_digest, required) {
        return fail(check, reason);
    }
    check.verified = true;
    check
}

/// A not-yet-verified check of `layer`, with what its payload says.
pub fn new_check(layer: &FetchedLayer, parsed: Option<&SimpleSigning>) -> SignatureCheck {
    SignatureCheck {
        layer_digest: layer.descriptor.digest().clone(),
        key: None,
        key_source: None,
        annotations: parsed.map(SimpleSigning::annotations).unwrap_or_default(),
        verified: false,
        reason: None,
        payload: serde_json::from_slice(&layer.blob).unwrap_or(serde_json::Value::Null),
    }
}

/// The checks on a layer before its signature: the simple-signing media type, and a blob that
/// hashes to the descriptor's digest with its size.
pub fn check_layer_blob(layer: &FetchedLayer) -> Result<(), String> {
    let d = &layer.descriptor;
    if d.media_type() != SIMPLESIGNING {
        return Err(format!(
            "layer media type is {}, not {SIMPLESIGNING}",
            d.media_type()
        ));
    }
    if layer.blob.len() as u64 != d.size() || !d.digest().matches(&layer.blob) {
        return Err(format!(
            "blob does not match its digest (descriptor: {} bytes, {}; blob: {} bytes, {})",
            d.size(),
            d.digest(),
            layer.blob.len(),
            Digest::of(&layer.blob)
        ));
    }
    Ok(())
}

/// The checks on a verified payload: cosign's type, the image's digest (anything else is a
/// replayed signature), and every required annotation in `optional`.
pub fn check_payload(
    payload: &SimpleSigning,
    image_digest: &Digest,
    required: &BTreeMap<String, String>,
) -> Result<(), String> {
    if payload.critical.kind != PAYLOAD_TYPE {
        return Err(format!(
            "payload type is {:?}, not {PAYLOAD_TYPE:?}",
            payload.critical.kind
        ));
    }
    let named = &payload.critical.image.docker_manifest_digest;
    if named != image_digest.as_str() {
        return Err(format!(
            "payload names {named}, not the image digest {image_digest} (replayed signature)"
        ));
    }
    let problems: Vec<String> = required
        .iter()
        .filter_map(|(k, want)| {
            let have = payload.optional.as_ref().and_then(|o| o.get(k));
            match have {
                Some(serde_json::Value::String(s)) if s == want => None,
                Some(serde_json::Value::String(s)) => Some(format!(
                    "annotation {k}={want} missing (payload has {k}={s})"
                )),
                Some(other) => Some(format!(
                    "annotation {k}={want} missing (payload has {k}={other})"
                )),
                None => Some(format!(
                    "annotation {k}={want} missing (payload has no {k})"
                )),
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
