//! A Sigstore bundle as pinsign's own typed data, and reading one from its JSON.
//!
//! The JSON is read with `sigstore_protobuf_specs` (protojson's mapping, see the module header
//! in `mod.rs`), after a size check and a check that no member appears twice, then converted
//! and checked: a known media type, verification material and content present, and the
//! version rules of sigstore-go's `validate` (v0.1 tlog entries carry an inclusion promise,
//! v0.2+ an inclusion proof, v0.3 no certificate chain). Everything the keyless verifier needs
//! (certificates, tlog entries with proofs and checkpoints, RFC 3161 timestamps) is kept.

use sigstore_protobuf_specs::dev::sigstore::bundle::v1 as pb;
use sigstore_protobuf_specs::dev::sigstore::rekor::v1 as pb_rekor;

use super::dsse::{DsseSignature, Envelope};
use super::media_type::BundleVersion;
use super::{json, BundleError, MAX_BUNDLE_BYTES};
use crate::reference::Digest;

/// A parsed, structurally valid Sigstore bundle. Made only by [`Bundle::parse`], so every
/// `Bundle` has a known version, verification material and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    version: BundleVersion,
    media_type: String,
    material: VerificationMaterial,
    content: Content,
    digest: Digest,
    size: usize,
}

/// How the signer's key is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// A key known out of band (`cosign sign --key`); `hint` is unauthenticated, may be empty.
    PublicKey { hint: String },
    /// DER certificates, leaf first (bundles v0.1 and v0.2).
    CertificateChain(Vec<Vec<u8>>),
    /// The DER leaf certificate (v0.3, keyless).
    Certificate(Vec<u8>),
}

/// `verificationMaterial`: the key, and the evidence of when and that it was logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationMaterial {
    pub key: KeyMaterial,
    pub tlog_entries: Vec<TlogEntry>,
    /// DER RFC 3161 signed timestamps (`timestampVerificationData.rfc3161Timestamps`).
    pub rfc3161_timestamps: Vec<Vec<u8>>,
}

/// One transparency-log (Rekor) entry, and its inclusion proof: the keyless verifier's own
/// types ([`crate::keyless::TlogEntry`]), so a bundle's entries are checked without a copy.
pub use crate::keyless::{InclusionProof, KindVersion, TlogEntry};

/// What was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dsse(Envelope),
    MessageSignature(MessageSignature),
}

/// The two kinds of content, as the `dev.sigstore.bundle.content` annotation names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContentKind {
    #[serde(rename = "dsse-envelope")]
    DsseEnvelope,
    #[serde(rename = "message-signature")]
    MessageSignature,
}

impl ContentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::DsseEnvelope => "dsse-envelope",
            ContentKind::MessageSignature => "message-signature",
        }
    }
}

/// A signature over an artifact's bytes (what `cosign sign-blob` makes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSignature {
    /// The artifact digest the signer recorded; optional in the format.
    pub digest: Option<MessageDigest>,
    pub signature: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDigest {
    pub algorithm: HashAlgorithm,
    pub digest: Vec<u8>,
}

/// `HashAlgorithm` of sigstore's protobuf-specs (`common.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Unspecified,
    Sha2_256,
    Sha2_384,
    Sha2_512,
    Sha3_256,
    Sha3_384,
}

impl HashAlgorithm {
    /// The enum numbers of `dev.sigstore.common.v1.HashAlgorithm` (matched by number: the
    /// generated Rust marks the SHA-3 variants deprecated).
    fn from_proto(value: i32) -> Result<HashAlgorithm, BundleError> {
        Ok(match value {
            0 => HashAlgorithm::Unspecified,
            1 => HashAlgorithm::Sha2_256,
            2 => HashAlgorithm::Sha2_384,
            3 => HashAlgorithm::Sha2_512,
            4 => HashAlgorithm::Sha3_256,
            5 => HashAlgorithm::Sha3_384,
            _ => {
                return Err(BundleError::Malformed(format!(
                    "messageSignature.messageDigest.algorithm {value} is unknown"
                )))
            }
        })
    }

    /// The protojson name, e.g. `SHA2_256`.
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Unspecified => "HASH_ALGORITHM_UNSPECIFIED",
            HashAlgorithm::Sha2_256 => "SHA2_256",
            HashAlgorithm::Sha2_384 => "SHA2_384",
            HashAlgorithm::Sha2_512 => "SHA2_512",
            HashAlgorithm::Sha3_256 => "SHA3_256",
            HashAlgorithm::Sha3_384 => "SHA3_384",
        }
    }
}

impl Bundle {
    /// Read a bundle from its JSON. Refuses more than [`MAX_BUNDLE_BYTES`], a repeated member,
    /// unknown members (as Go's `protojson`), an unknown media type, missing verification
    /// material or content, and what sigstore-go's version rules forbid.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: bytes.len(),
                limit: MAX_BUNDLE_BYTES,
            });
        }
        json::no_duplicate_members(bytes).map_err(BundleError::Malformed)?;
        // The media type first, so a future version is reported as unknown rather than as
        // a member we do not know.
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "mediaType", default)]
            media_type: Option<String>,
        }
        let head: Head = json::from_object(bytes).map_err(|e| {
            BundleError::Malformed(format!("not a JSON object with a mediaType: {e}"))
        })?;
        let media_type = head
            .media_type
            .ok_or_else(|| BundleError::Malformed("mediaType is missing".into()))?;
        let version = BundleVersion::from_media_type(&media_type)?;
        let proto: pb::Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let material = proto
            .verification_material
            .ok_or_else(|| BundleError::Malformed("verificationMaterial is missing".into()))?;
        let material = convert_material(material, version)?;
        let content = match proto.content {
            Some(pb::bundle::Content::DsseEnvelope(e)) => Content::Dsse(Envelope {
                payload_type: e.payload_type,
                payload: e.payload,
                signatures: e
                    .signatures
                    .into_iter()
                    .map(|s| DsseSignature {
                        keyid: s.keyid,
                        sig: s.sig,
                    })
                    .collect(),
            }),
            Some(pb::bundle::Content::MessageSignature(m)) => {
                Content::MessageSignature(MessageSignature {
                    digest: m
                        .message_digest
                        .map(|d| {
                            Ok::<_, BundleError>(MessageDigest {
                                algorithm: HashAlgorithm::from_proto(d.algorithm)?,
                                digest: d.digest,
                            })
                        })
                        .transpose()?,
                    signature: m.signature,
                })
            }
            None => {
                return Err(BundleError::Malformed(
                    "the bundle has neither dsseEnvelope nor messageSignature".into(),
                ))
            }
        };
        Ok(Bundle {
            version,
            media_type,
            material,
            content,
            digest: Digest::of(bytes),
            size: bytes.len(),
        })
    }

    pub fn version(&self) -> BundleVersion {
        self.version
    }

    /// The `mediaType` as written (either spelling).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    pub fn verification_material(&self) -> &VerificationMaterial {
        &self.material
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn content_kind(&self) -> ContentKind {
        match self.content {
            Content::Dsse(_) => ContentKind::DsseEnvelope,
            Content::MessageSignature(_) => ContentKind::MessageSignature,
        }
    }

    /// The DSSE envelope, if that is the content.
    pub fn dsse_envelope(&self) -> Option<&Envelope> {
        match &self.content {
            Content::Dsse(e) => Some(e),
            Content::MessageSignature(_) => None,
        }
    }

    /// sha256 of the bytes parsed (the layer digest when it came from a registry).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

fn convert_material(
    m: pb::VerificationMaterial,
    version: BundleVersion,
) -> Result<VerificationMaterial, BundleError> {
    use pb::verification_material::Content as C;
    let key = match m.content {
        Some(C::PublicKey(k)) => KeyMaterial::PublicKey { hint: k.hint },
        Some(C::X509CertificateChain(chain)) => {
            if version >= BundleVersion::V0_3 {
                return Err(BundleError::Malformed(
                    "a v0.3 bundle may not carry an x509CertificateChain (only certificate)".into(),
                ));
            }
            if chain.certificates.is_empty() {
                return Err(BundleError::Malformed(
                    "verificationMaterial.x509CertificateChain has no certificates".into(),
                ));
            }
            KeyMaterial::CertificateChain(
                chain
                    .certificates
                    .into_iter()
                    .map(|c| c.raw_bytes)
                    .collect(),
            )
        }
        Some(C::Certificate(c)) => KeyMaterial::Certificate(c.raw_bytes),
        None => {
            return Err(BundleError::Malformed(
                "verificationMaterial has no publicKey, certificate or x509CertificateChain".into(),
            ))
        }
    };
    let tlog_entries = m
        .tlog_entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| convert_tlog_entry(e, i, version))
        .collect::<Result<Vec<_>, _>>()?;
    let rfc3161_timestamps = m
        .timestamp_verification_data
        .map(|t| {
            t.rfc3161_timestamps
                .into_iter()
                .map(|t| t.signed_timestamp)
                .collect()
        })
        .unwrap_or_default();
    Ok(VerificationMaterial {
        key,
        tlog_entries,
        rfc3161_timestamps,
    })
}

fn convert_tlog_entry(
    e: pb_rekor::TransparencyLogEntry,
    i: usize,
    version: BundleVersion,
) -> Result<TlogEntry, BundleError> {
    let n = i + 1;
    let inclusion_proof = match e.inclusion_proof {
        None => None,
        Some(p) => Some(InclusionProof {
            log_index: p.log_index,
            root_hash: p.root_hash,
            tree_size: p.tree_size,
            hashes: p.hashes,
            checkpoint: p.checkpoint.map(|c| c.envelope).ok_or_else(|| {
                BundleError::Malformed(format!(
                    "tlog entry {n}: the inclusion proof has no checkpoint"
                ))
            })?,
        }),
    };
    let entry = TlogEntry {
        log_index: e.log_index,
        log_id: crate::keyless::LogId::new(e.log_id.map(|l| l.key_id).unwrap_or_default()),
        kind_version: e.kind_version.map(|k| KindVersion {
            kind: k.kind,
            version: k.version,
        }),
        integrated_time: e.integrated_time,
        inclusion_promise: e.inclusion_promise.map(|p| p.signed_entry_timestamp),
        inclusion_proof,
        canonicalized_body: e.canonicalized_body,
    };
    if version == BundleVersion::V0_1 && entry.inclusion_promise.is_none() {
        return Err(BundleError::Malformed(format!(
            "tlog entry {n} has no inclusionPromise (required in a v0.1 bundle)"
        )));
    }
    if version >= BundleVersion::V0_2 && entry.inclusion_proof.is_none() {
        return Err(BundleError::Malformed(format!(
            "tlog entry {n} has no inclusionProof (required from bundle v0.2 on)"
        )));
    }
    Ok(entry)
}
