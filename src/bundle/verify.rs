//! Key-based verification of bundles: an image signature bundle against an image digest, a
//! blob bundle against a file. One [`BundleCheck`] per bundle, with a typed [`Refusal`] when
//! it is not accepted; nothing here panics on any input.
//!
//! An image bundle is accepted only when every check passes, in this order (the signature is
//! checked before anything inside the payload is believed):
//!
//! 1. it parses as a bundle of a known version, no larger than [`MAX_BUNDLE_BYTES`](super::MAX_BUNDLE_BYTES);
//! 2. it names a public key (a certificate means a keyless signature: other checks apply);
//! 3. its content is a DSSE envelope with exactly one signature (sigstore-go's rule);
//! 4. that signature verifies over PAE(payloadType, payload) with one of the keys;
//! 5. `payloadType` is `application/vnd.in-toto+json`;
//! 6. the payload is an in-toto Statement (v1, or v0.1 as older cosign wrote);
//! 7. a subject's sha256 digest is the image digest (else a replayed signature);
//! 8. `predicateType` is the expected one (cosign's sign predicate by default: attestations,
//!    SBOMs and provenance are not signatures; `cosign verify` does not check this);
//! 9. every required annotation is in that subject's `annotations` with that string value.

use crate::media_types::IN_TOTO;
use std::collections::BTreeMap;

use serde::Serialize;

use super::dsse::Envelope;
use super::model::{Bundle, Content, ContentKind, HashAlgorithm, KeyMaterial, MessageSignature};
use super::statement::{Statement, Subject};
use super::{BundleError, COSIGN_SIGN_PREDICATE_TYPE};
use crate::keys::PublicKey;
use crate::reference::Digest;

static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

/// What an image bundle must satisfy besides verifying with one of `keys`.
#[derive(Debug, Clone, Copy)]
pub struct ImagePolicy<'a> {
    pub keys: &'a [PublicKey],
    /// [`COSIGN_SIGN_PREDICATE_TYPE`] unless set (`--predicate-type`).
    pub predicate_type: &'a str,
    /// `-a KEY=VALUE`: each must be in the subject's annotations.
    pub annotations: &'a BTreeMap<String, String>,
}

impl<'a> ImagePolicy<'a> {
    /// cosign's sign predicate, no required annotations.
    pub fn new(keys: &'a [PublicKey]) -> ImagePolicy<'a> {
        ImagePolicy {
            keys,
            predicate_type: COSIGN_SIGN_PREDICATE_TYPE,
            annotations: &NO_ANNOTATIONS,
        }
    }

    pub fn with_predicate_type(self, predicate_type: &'a str) -> ImagePolicy<'a> {
        ImagePolicy {
            predicate_type,
            ..self
        }
    }

    pub fn with_annotations(self, annotations: &'a BTreeMap<String, String>) -> ImagePolicy<'a> {
        ImagePolicy {
            annotations,
            ..self
        }
    }
}

/// What a blob bundle must satisfy besides verifying with one of `keys`.
#[derive(Debug, Clone, Copy)]
pub struct BlobPolicy<'a> {
    pub keys: &'a [PublicKey],
    /// For a DSSE bundle: the predicate type required, or any when `None` (a message
    /// signature has none).
    pub predicate_type: Option<&'a str>,
}

impl<'a> BlobPolicy<'a> {
    pub fn new(keys: &'a [PublicKey]) -> BlobPolicy<'a> {
        BlobPolicy {
            keys,
            predicate_type: None,
        }
    }
}

/// The file a blob bundle is checked against: its bytes, or only its sha256 digest (then a
/// message signature can be checked for ECDSA P-256 keys only, as the digest is what they sign).
#[derive(Debug, Clone, Copy)]
pub enum BlobArtifact<'a> {
    Bytes(&'a [u8]),
    Digest(&'a Digest),
}

impl BlobArtifact<'_> {
    pub fn digest(&self) -> Digest {
        match self {
            BlobArtifact::Bytes(b) => Digest::of(b),
            BlobArtifact::Digest(d) => (*d).clone(),
        }
    }
}

/// Why a bundle was not accepted. `kind()` gives a stable name for JSON output and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the bundle is {size} bytes, more than the {limit} bytes pinsign reads")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed bundle: {0}")]
    Malformed(String),
    #[error("unknown bundle media type {0:?}; pinsign reads bundle versions 0.1 to 0.3")]
    UnknownMediaType(String),
    #[error("the bundle is signed with a certificate (keyless), not a key; verify it with --certificate-identity and --certificate-oidc-issuer")]
    Keyless,
    #[error(
        "the bundle holds a message signature over a file, not a DSSE statement about an image"
    )]
    NotDsse,
    #[error("the DSSE envelope has {0} signatures; a Sigstore bundle carries exactly one")]
    SignatureCount(usize),
    #[error("no key was given to verify with")]
    NoKeys,
    #[error("no key verified the signature (tried {tried} key(s)); it was made with another key or the bundle was altered")]
    WrongKey { tried: usize },
    #[error("the DSSE payload type is {0:?}, not {IN_TOTO:?}")]
    PayloadType(String),
    #[error("malformed in-toto statement: {0}")]
    MalformedStatement(String),
    #[error("the statement names {}, not {expected} (replayed signature)", names(.named))]
    OtherDigest {
        named: Vec<String>,
        expected: Digest,
    },
    #[error(
        "the predicate type is {found:?}, not {expected:?}: an attestation is not a signature"
    )]
    UnknownPredicate { found: String, expected: String },
    #[error("{}", .0.join("; "))]
    Annotations(Vec<String>),
    #[error("the bundle signs a file with digest {found}, not {expected}")]
    MessageDigest { found: String, expected: Digest },
    #[error("the message digest algorithm is {0}; pinsign checks SHA2_256")]
    DigestAlgorithm(&'static str),
    #[error("with only the file's digest pinsign can check ECDSA P-256 signatures; pass the file itself")]
    NeedsFile,
    /// The bundle (or its referrer manifest) could not be read intact from the registry: the
    /// text says what (a blob missing, or not matching its digest or size).
    #[error("{0}")]
    Unreadable(String),
}

fn names(named: &[String]) -> String {
    match named {
        [] => "no sha256 digest".into(),
        [one] => one.clone(),
        many => many.join(", "),
    }
}

impl Refusal {
    /// A stable kebab-case name: `malformed`, `wrong-key`, `other-digest`,
    /// `unknown-predicate`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::TooLarge { .. } => "too-large",
            Refusal::Malformed(_) => "malformed",
            Refusal::UnknownMediaType(_) => "unknown-media-type",
            Refusal::Keyless => "keyless",
            Refusal::NotDsse => "not-dsse",
            Refusal::SignatureCount(_) => "signature-count",
            Refusal::NoKeys => "no-keys",
            Refusal::WrongKey { .. } => "wrong-key",
            Refusal::PayloadType(_) => "payload-type",
            Refusal::MalformedStatement(_) => "malformed-statement",
            Refusal::OtherDigest { .. } => "other-digest",
            Refusal::UnknownPredicate { .. } => "unknown-predicate",
            Refusal::Annotations(_) => "annotations",
            Refusal::MessageDigest { .. } => "other-digest",
            Refusal::DigestAlgorithm(_) => "digest-algorithm",
            Refusal::NeedsFile => "needs-file",
            Refusal::Unreadable(_) => "unreadable",
        }
    }
}

impl From<BundleError> for Refusal {
    fn from(e: BundleError) -> Refusal {
        match e {
            BundleError::TooLarge { size, limit } => Refusal::TooLarge { size, limit },
            BundleError::UnknownMediaType(m) => Refusal::UnknownMediaType(m),
            BundleError::MalformedStatement(m) => Refusal::MalformedStatement(m),
            BundleError::Malformed(m) | BundleError::MalformedOci(m) | BundleError::Foreign(m) => {
                Refusal::Malformed(m)
            }
        }
    }
}

/// The verdict on one bundle, for text and JSON reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleCheck {
    /// sha256 of the bundle bytes (its layer digest when it came from a registry).
    pub bundle_digest: Digest,
    pub media_type: Option<String>,
    pub content: Option<ContentKind>,
    /// Fingerprint (`SHA256:<hex>` of the SPKI) of the key the signature verified with; set
    /// even when a later check failed ("signed by K, but ...").
    pub key: Option<String>,
    /// Where that key came from (file or env://VAR).
    pub key_source: Option<String>,
    pub predicate_type: Option<String>,
    /// The sha256 digests the statement's subjects name.
    pub subjects: Vec<String>,
    /// The matching subject's annotations (values as text), else the first subject's.
    pub annotations: BTreeMap<String, String>,
    /// The DSSE payload as JSON (`null` for a message signature or a payload that is not JSON).
    pub statement: serde_json::Value,
    /// True only when every check passed.
    pub verified: bool,
    /// Why not, in words; `None` when verified.
    pub reason: Option<String>,
    /// Why not, as [`Refusal::kind`].
    pub reason_kind: Option<&'static str>,
    #[serde(skip)]
    pub refusal: Option<Refusal>,
}

impl BundleCheck {
    /// A not-yet-verified check of the bundle `bytes` (for callers composing
    /// [`verify_dsse_signature`] and [`check_image_statement`] themselves, as keyless does).
    pub fn for_bundle(bytes: &[u8]) -> BundleCheck {
        BundleCheck {
            bundle_digest: Digest::of(bytes),
            media_type: None,
            content: None,
            key: None,
            key_source: None,
            predicate_type: None,
            subjects: Vec::new(),
            annotations: BTreeMap::new(),
            statement: serde_json::Value::Null,
            verified: false,
            reason: None,
            reason_kind: None,
            refusal: None,
        }
    }

    /// The verdict on a bundle that could not be checked at all (not fetched, or not intact):
    /// `bundle_digest` is the digest its descriptor names.
    pub fn refused(bundle_digest: Digest, refusal: Refusal) -> BundleCheck {
        BundleCheck {
            bundle_digest,
            ..BundleCheck::for_bundle(b"")
        }
        .refuse(refusal)
    }

    fn refuse(mut self, refusal: Refusal) -> BundleCheck {
        self.reason = Some(refusal.to_string());
        self.reason_kind = Some(refusal.kind());
        self.refusal = Some(refusal);
        self.verified = false;
        self
    }

    fn accept(mut self) -> BundleCheck {
        self.verified = true;
        self
    }

    fn key(&mut self, key: &PublicKey) {
        self.key = Some(key.fingerprint());
        self.key_source = Some(key.source().to_string());
    }

    fn statement(&mut self, statement: &Statement, chosen: Option<&Subject>) {
        self.predicate_type = Some(statement.predicate_type.clone());
        self.subjects = statement.subject_digests();
        if let Some(s) = chosen.or(statement.subjects.first()) {
            self.annotations = s.annotations_text();
        }
    }
}

/// Parse `bytes`, refusing what cannot be verified with a key, and record what it is.
fn parse_keyed(bytes: &[u8], check: &mut BundleCheck) -> Result<Bundle, Refusal> {
    let bundle = Bundle::parse(bytes)?;
    check.media_type = Some(bundle.media_type().to_string());
    check.content = Some(bundle.content_kind());
    match bundle.verification_material().key {
        KeyMaterial::PublicKey { .. } => Ok(bundle),
        KeyMaterial::Certificate(_) | KeyMaterial::CertificateChain(_) => Err(Refusal::Keyless),
    }
}

/// Verify an image signature bundle (`bytes`, as fetched) for `image_digest`: the checks in
/// this module's header, in order. Never panics; the refusal says which check failed.
pub fn verify_image_bundle(
    bytes: &[u8],
    image_digest: &Digest,
    policy: &ImagePolicy<'_>,
) -> BundleCheck {
    let mut check = BundleCheck::for_bundle(bytes);
    let result = (|| {
        let bundle = parse_keyed(bytes, &mut check)?;
        let Content::Dsse(envelope) = bundle.content() else {
            return Err(Refusal::NotDsse);
        };
        check.statement = serde_json::from_slice(&envelope.payload).unwrap_or_default();
        let key = verify_dsse_signature(envelope, policy.keys)?;
        check.key(key);
        let statement = check_image_statement(envelope, image_digest, policy, &mut check)?;
        Ok(statement)
    })();
    match result {
        Ok(_) => check.accept(),
        Err(r) => check.refuse(r),
    }
}

/// Checks 3 and 4: exactly one DSSE signature, and it verifies over PAE with one of `keys`.
/// Public for the keyless verifier, which calls it with the certificate's key.
pub fn verify_dsse_signature<'k>(
    envelope: &Envelope,
    keys: &'k [PublicKey],
) -> Result<&'k PublicKey, Refusal> {
    if envelope.signatures.len() != 1 {
        return Err(Refusal::SignatureCount(envelope.signatures.len()));
    }
    if keys.is_empty() {
        return Err(Refusal::NoKeys);
    }
    envelope
        .verify(keys)
        .map(|(key, _)| key)
        .ok_or(Refusal::WrongKey { tried: keys.len() })
}

/// Checks 5 to 9 on an envelope whose signature was verified: in-toto payload type, a
/// Statement, a subject naming `image_digest`, the predicate type, the annotations. Fills in
/// what it learns in `check`. Public for the keyless verifier.
pub fn check_image_statement(
    envelope: &Envelope,
    image_digest: &Digest,
    policy: &ImagePolicy<'_>,
    check: &mut BundleCheck,
) -> Result<Statement, Refusal> {
    let statement = parse_statement(envelope)?;
    let subject = statement.subject_for(image_digest);
    check.statement(&statement, subject);
    let Some(subject) = subject else {
        return Err(Refusal::OtherDigest {
            named: statement.subject_digests(),
            expected: image_digest.clone(),
        });
    };
    check_predicate(&statement, policy.predicate_type)?;
    let problems: Vec<String> = policy
        .annotations
        .iter()
        .filter_map(|(k, want)| match subject.annotations.get(k) {
            Some(serde_json::Value::String(s)) if s == want => None,
            Some(serde_json::Value::String(s)) => Some(format!(
                "annotation {k}={want} missing (the statement has {k}={s})"
            )),
            Some(other) => Some(format!(
                "annotation {k}={want} missing (the statement has {k}={other})"
            )),
            None => Some(format!(
                "annotation {k}={want} missing (the statement has no {k})"
            )),
        })
        .collect();
    if !problems.is_empty() {
        return Err(Refusal::Annotations(problems));
    }
    Ok(statement)
}

fn parse_statement(envelope: &Envelope) -> Result<Statement, Refusal> {
    if envelope.payload_type != IN_TOTO {
        return Err(Refusal::PayloadType(envelope.payload_type.clone()));
    }
    Ok(Statement::parse(&envelope.payload)?)
}

fn check_predicate(statement: &Statement, expected: &str) -> Result<(), Refusal> {
    if statement.predicate_type == expected {
        Ok(())
    } else {
        Err(Refusal::UnknownPredicate {
            found: statement.predicate_type.clone(),
            expected: expected.to_string(),
        })
    }
}

/// Verify a blob bundle for a file: a message signature over the file (and its recorded
/// digest, when present, equal to the file's sha256), or a DSSE in-toto statement, signed by
/// one of the keys, with a subject naming the file's sha256 (and the predicate type, when the
/// policy asks for one).
pub fn verify_blob_bundle(
    bytes: &[u8],
    artifact: BlobArtifact<'_>,
    policy: &BlobPolicy<'_>,
) -> BundleCheck {
    let mut check = BundleCheck::for_bundle(bytes);
    let result = (|| {
        let bundle = parse_keyed(bytes, &mut check)?;
        let digest = artifact.digest();
        match bundle.content() {
            Content::MessageSignature(m) => {
                let key = verify_message_signature(m, artifact, &digest, policy.keys)?;
                check.key(key);
                Ok(())
            }
            Content::Dsse(envelope) => {
                check.statement = serde_json::from_slice(&envelope.payload).unwrap_or_default();
                let key = verify_dsse_signature(envelope, policy.keys)?;
                check.key(key);
                let statement = parse_statement(envelope)?;
                let subject = statement.subject_for(&digest);
                check.statement(&statement, subject);
                if subject.is_none() {
                    return Err(Refusal::OtherDigest {
                        named: statement.subject_digests(),
                        expected: digest,
                    });
                }
                if let Some(expected) = policy.predicate_type {
                    check_predicate(&statement, expected)?;
                }
                Ok(())
            }
        }
    })();
    match result {
        Ok(()) => check.accept(),
        Err(r) => check.refuse(r),
    }
}

/// A message signature: the recorded digest (if any) must be the file's sha256, and the
/// signature must verify over the file's bytes (or, given only the digest, over the digest as
/// an ECDSA P-256 prehash). Public for the keyless verifier.
pub fn verify_message_signature<'k>(
    m: &MessageSignature,
    artifact: BlobArtifact<'_>,
    digest: &Digest,
    keys: &'k [PublicKey],
) -> Result<&'k PublicKey, Refusal> {
    if let Some(md) = &m.digest {
        if md.algorithm != HashAlgorithm::Sha2_256 {
            return Err(Refusal::DigestAlgorithm(md.algorithm.as_str()));
        }
        if md.digest.as_slice() != hex_bytes(digest).as_slice() {
            return Err(Refusal::MessageDigest {
                found: format!("sha256:{}", hex::encode(&md.digest)),
                expected: digest.clone(),
            });
        }
    }
    if keys.is_empty() {
        return Err(Refusal::NoKeys);
    }
    let found = match artifact {
        BlobArtifact::Bytes(data) => keys.iter().find(|k| k.verify(data, &m.signature)),
        BlobArtifact::Digest(d) => {
            let prehash = hex_bytes(d);
            let mut p256_keys = keys
                .iter()
                .filter_map(|k| p256_key(k).map(|v| (k, v)))
                .peekable();
            if p256_keys.peek().is_none() {
                return Err(Refusal::NeedsFile);
            }
            p256_keys
                .find(|(_, v)| verify_prehash(v, &prehash, &m.signature))
                .map(|(k, _)| k)
        }
    };
    found.ok_or(Refusal::WrongKey { tried: keys.len() })
}

fn hex_bytes(d: &Digest) -> Vec<u8> {
    hex::decode(d.hex()).unwrap_or_default()
}

fn p256_key(key: &PublicKey) -> Option<p256::ecdsa::VerifyingKey> {
    use p256::pkcs8::DecodePublicKey as _;
    p256::ecdsa::VerifyingKey::from_public_key_der(key.spki_der()).ok()
}

fn verify_prehash(key: &p256::ecdsa::VerifyingKey, prehash: &[u8], der: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let Ok(sig) = p256::ecdsa::DerSignature::try_from(der) else {
        return false;
    };
    key.verify_prehash(prehash, &sig).is_ok()
}
