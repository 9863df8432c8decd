//! Legacy cosign keyless signatures: one simple-signing layer of a `sha256-<hex>.sig` image
//! with the Fulcio certificate, its chain and the Rekor bundle in layer annotations.
//!
//! | annotation | content |
//! |---|---|
//! | `dev.cosignproject.cosign/signature` | base64 DER ECDSA signature over the payload bytes |
//! | `dev.sigstore.cosign/certificate` | the Fulcio leaf, PEM |
//! | `dev.sigstore.cosign/chain` | intermediate and root, PEM (a hint; the trusted root decides) |
//! | `dev.sigstore.cosign/bundle` | `{"SignedEntryTimestamp": base64, "Payload": {"body": base64, "integratedTime", "logIndex", "logID": hex}}` |
//!
//! [`verify_legacy`] runs the keyless pipeline ([`super::verify::verify_keyless`]) on the
//! payload bytes and then checks that the payload names the image digest. The layer's own
//! integrity (blob digest = descriptor digest, media type) is the signature-layer code's
//! check, done before a layer gets here.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::certificate::{FulcioCertificate, ParsedCertificate};
use super::identity::IdentityPolicy;
use super::rekor::TlogEntry;
use super::report::{Check, CheckReport, KeylessError, Outcome};
use super::trust_root::{LogId, TrustedRoot};
use super::verify::{verify_keyless, KeylessInput, KeylessVerified, SignedArtifact};
use crate::reference::Digest;
use crate::signature::{
    SimpleSigning, BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, PAYLOAD_TYPE, SIGNATURE_ANNOTATION,
};

/// Layer annotation holding the certificate chain (PEM). The certificate and bundle
/// annotations are [`crate::signature::CERTIFICATE_ANNOTATION`] and
/// [`crate::signature::BUNDLE_ANNOTATION`].
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";

/// Annotation values and payloads larger than these are refused.
const MAX_BUNDLE_BYTES: usize = 256 * 1024;
const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// One legacy keyless signature layer, as text and bytes.
#[derive(Clone, Copy, Debug)]
pub struct LegacySignature<'a> {
    /// The layer blob (the simple-signing payload), exact bytes.
    pub payload: &'a [u8],
    /// `dev.cosignproject.cosign/signature`.
    pub signature_b64: &'a str,
    /// `dev.sigstore.cosign/certificate`.
    pub certificate_pem: &'a str,
    /// `dev.sigstore.cosign/chain`, when present.
    pub chain_pem: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle`.
    pub bundle_json: &'a str,
}

/// A keyless signature detached from what it signs: `cosign sign-blob`'s signature,
/// certificate (and chain) and Rekor bundle, or a `.sig` layer's annotations.
#[derive(Clone, Copy, Debug)]
pub struct DetachedSignature<'a> {
    /// The signature, base64 (standard, padded) DER.
    pub signature_b64: &'a str,
    pub certificate_pem: &'a str,
    pub chain_pem: Option<&'a str>,
    /// cosign's Rekor bundle JSON (`{"SignedEntryTimestamp":..,"Payload":{..}}`).
    pub bundle_json: &'a str,
}

impl<'a> LegacySignature<'a> {
    /// The signature material without the payload.
    pub fn detached(&self) -> DetachedSignature<'a> {
        DetachedSignature {
            signature_b64: self.signature_b64,
            certificate_pem: self.certificate_pem,
            chain_pem: self.chain_pem,
            bundle_json: self.bundle_json,
        }
    }

    /// Take the values from a layer's annotations. Fails (naming the annotation) when the
    /// layer is not a keyless signature.
    pub fn from_annotations(
        payload: &'a [u8],
        annotations: &'a BTreeMap<String, String>,
    ) -> Result<LegacySignature<'a>, KeylessError> {
        let get = |name: &str| {
            annotations.get(name).map(String::as_str).ok_or_else(|| {
                KeylessError::new(
                    Check::Input,
                    format!("the signature layer has no {name} annotation, so it is not a keyless signature"),
                )
            })
        };
        Ok(LegacySignature {
            payload,
            signature_b64: get(SIGNATURE_ANNOTATION)?,
            certificate_pem: get(CERTIFICATE_ANNOTATION)?,
            chain_pem: annotations.get(CHAIN_ANNOTATION).map(String::as_str),
            bundle_json: get(BUNDLE_ANNOTATION)?,
        })
    }
}

/// Verify one legacy keyless signature layer. `expected_digest` is the image digest the
/// payload must name (`None` for a detached payload: the check is then reported as not
/// applicable).
pub fn verify_legacy(
    signature: &LegacySignature<'_>,
    expected_digest: Option<&Digest>,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<KeylessVerified, KeylessError> {
    if signature.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(KeylessError::new(
            Check::Input,
            format!(
                "the signed payload is {} bytes, more than the {MAX_PAYLOAD_BYTES} accepted",
                signature.payload.len()
            ),
        ));
    }
    let mut verified = verify_detached(
        &signature.detached(),
        SignedArtifact::Bytes(signature.payload),
        root,
        policy,
    )?;
    let outcome = check_payload(signature.payload, expected_digest)?;
    verified.checks.push(CheckReport {
        check: Check::PayloadDigest,
        outcome,
    });
    Ok(verified)
}

/// Verify a detached keyless signature over `artifact` (a file's bytes or sha256): every
/// check of [`verify_legacy`] but the payload's image digest.
pub fn verify_detached(
    signature: &DetachedSignature<'_>,
    artifact: SignedArtifact<'_>,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<KeylessVerified, KeylessError> {
    let input = |message: String| KeylessError::new(Check::Input, message);
    let signature_der = base64::engine::general_purpose::STANDARD
        .decode(signature.signature_b64.trim())
        .map_err(|e| input(format!("the signature is not base64 ({e})")))?;
    let leaf = FulcioCertificate::from_pem(signature.certificate_pem)
        .map_err(|e| input(format!("the certificate: {e}")))?;
    // A chain that does not parse is a bad hint, not a bad signature: it is never used.
    let chain_hint: Vec<Vec<u8>> = signature
        .chain_pem
        .and_then(|pem| ParsedCertificate::chain_from_pem(pem).ok())
        .map(|certs| certs.iter().map(|c| c.der().to_vec()).collect())
        .unwrap_or_default();
    let entry = parse_rekor_bundle(signature.bundle_json)?;
    verify_keyless(
        &KeylessInput {
            certificate_der: leaf.der(),
            chain_hint: &chain_hint,
            signature: &signature_der,
            tlog_entry: &entry,
            artifact,
        },
        root,
        policy,
    )
}

/// The payload is a cosign image signature naming `expected`.
fn check_payload(payload: &[u8], expected: Option<&Digest>) -> Result<Outcome, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::PayloadDigest, message);
    let parsed: SimpleSigning = serde_json::from_slice(payload).map_err(|e| {
        fail(format!(
            "the signed payload is not a cosign simple-signing payload ({e})"
        ))
    })?;
    if parsed.critical.kind != PAYLOAD_TYPE {
        return Err(fail(format!(
            "the signed payload's critical.type is {:?}, not {PAYLOAD_TYPE:?}",
            parsed.critical.kind
        )));
    }
    let named = parsed.critical.image.docker_manifest_digest.as_str();
    match expected {
        None => Ok(Outcome::NotApplicable(format!(
            "no image digest to compare; the payload names {named}"
        ))),
        Some(want) if want.as_str() == named => {
            Ok(Outcome::Passed(format!("the payload names {named}")))
        }
        Some(want) => Err(fail(format!(
            "the signed payload names image {named}, expected {}",
            want.as_str()
        ))),
    }
}

/// Parse cosign's `dev.sigstore.cosign/bundle` annotation into a tlog entry (SET, no
/// inclusion proof).
pub fn parse_rekor_bundle(json: &str) -> Result<TlogEntry, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::Input, message);
    if json.len() > MAX_BUNDLE_BYTES {
        return Err(fail(format!(
            "the Rekor bundle annotation is {} bytes, more than the {MAX_BUNDLE_BYTES} accepted",
            json.len()
        )));
    }
    // sigstore's own type for this annotation.
    let bundle: sigstore::cosign::bundle::Bundle = serde_json::from_str(json).map_err(|e| {
        fail(format!(
            "the Rekor bundle annotation is not cosign's bundle JSON ({e})"
        ))
    })?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = bundle.payload;
    let log_id = LogId::from_hex(&payload.log_id).ok_or_else(|| {
        fail(format!(
            "the Rekor bundle's logID {:?} is not hex",
            payload.log_id
        ))
    })?;
    let set = b64
        .decode(bundle.signed_entry_timestamp.trim())
        .map_err(|e| {
            fail(format!(
                "the Rekor bundle's SignedEntryTimestamp is not base64 ({e})"
            ))
        })?;
    let body = b64
        .decode(payload.body.trim())
        .map_err(|e| fail(format!("the Rekor bundle's body is not base64 ({e})")))?;
    Ok(TlogEntry {
        log_id,
        log_index: payload.log_index,
        integrated_time: payload.integrated_time,
        canonicalized_body: body,
        inclusion_promise: Some(set),
        inclusion_proof: None,
        kind_version: None,
    })
}
