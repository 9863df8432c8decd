//! The Rekor entry body check: the logged entry is *this* signature, by *this* certificate,
//! over *this* artifact (without it, a valid SET for some other entry could be replayed next
//! to a forged signature; cf. CVE-2022-36056).
//!
//! Kinds read (Rekor `pkg/types`):
//!
//! | kind, apiVersion | artifact | signature | certificate |
//! |---|---|---|---|
//! | `hashedrekord` 0.0.1 (cosign ≥ 1.10, blobs) | `spec.data.hash` (sha256 hex) | `spec.signature.content` (base64) | `spec.signature.publicKey.content` (base64 PEM) |
//! | `rekord` 0.0.1 (cosign 1.x) | `spec.data.hash`, or sha256 of `spec.data.content` | `spec.signature.content` | `spec.signature.publicKey.content` |
//! | `dsse` 0.0.1 (cosign v3 bundles) | `spec.payloadHash` (sha256 of the DSSE payload) | one of `spec.signatures[].signature` | its `verifier` (base64 PEM) |
//! | `intoto` 0.0.2 (cosign attest) | `spec.content.payloadHash` | one of `spec.content.envelope.signatures[].sig` (base64 of the base64 DSSE signature) | its `publicKey` (base64 PEM) |
//!
//! The certificate is compared as DER, so PEM line breaks do not matter. A `dsse` body's
//! `envelopeHash` is not compared: it hashes the envelope as Rekor serialized it, which a
//! verifier cannot rebuild byte for byte (sigstore-go does not compare it either).

use base64::Engine as _;
use serde::Deserialize;
use sha2::Digest as _;

use crate::keyless::certificate::ParsedCertificate;

/// Bodies larger than this are refused (a hashedrekord body with a Fulcio certificate is
/// ~4 KB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the artifact's hash in the entry must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedArtifact {
    /// A signature over bytes whose SHA-256 this is (legacy payload, blob).
    Message([u8; 32]),
    /// A DSSE envelope whose payload has this SHA-256.
    DssePayload([u8; 32]),
}

/// The Rekor entry's kind and version (`kindVersion` of a bundle's tlog entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindVersion {
    pub kind: String,
    pub version: String,
}

impl std::fmt::Display for KindVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.version)
    }
}

/// Check that `body` (the entry's canonicalized body) names `signature`, `certificate_der`
/// and `artifact`. On success, returns the body's kind and version; `Err` says what did not
/// match, in words.
pub fn check_body(
    body: &[u8],
    declared: Option<&KindVersion>,
    signature: &[u8],
    certificate_der: &[u8],
    artifact: ExpectedArtifact,
) -> Result<KindVersion, String> {
    if body.len() > MAX_BODY_BYTES {
        return Err(format!(
            "the Rekor entry body is {} bytes, more than the {MAX_BODY_BYTES} accepted",
            body.len()
        ));
    }
    let head: Head = serde_json::from_slice(body)
        .map_err(|e| format!("the Rekor entry body is not an entry ({e})"))?;
    let kind = KindVersion {
        kind: head.kind.clone(),
        version: head.api_version.clone(),
    };
    if let Some(declared) = declared {
        if *declared != kind {
            return Err(format!(
                "the tlog entry says it is {declared}, its body is {kind}"
            ));
        }
    }
    let logged = Logged::parse(&kind, body)?;
    match (artifact, &logged.artifact) {
        (ExpectedArtifact::Message(want), LoggedArtifact::Message(got)) if want == *got => {}
        (ExpectedArtifact::DssePayload(want), LoggedArtifact::DssePayload(got)) if want == *got => {
        }
        (ExpectedArtifact::Message(want), LoggedArtifact::Message(got)) => {
            return Err(format!(
                "the Rekor entry is for an artifact with sha256 {}, the signed payload has \
                 sha256 {}",
                hex::encode(got),
                hex::encode(want)
            ))
        }
        (ExpectedArtifact::DssePayload(want), LoggedArtifact::DssePayload(got)) => {
            return Err(format!(
                "the Rekor entry is for a DSSE payload with sha256 {}, the envelope's payload \
                 has sha256 {}",
                hex::encode(got),
                hex::encode(want)
            ))
        }
        (ExpectedArtifact::Message(_), LoggedArtifact::DssePayload(_)) => {
            return Err(format!(
                "the Rekor entry is a {kind} entry (a DSSE envelope), but the signature is over \
                 plain bytes"
            ))
        }
        (ExpectedArtifact::DssePayload(_), LoggedArtifact::Message(_)) => {
            return Err(format!(
                "the Rekor entry is a {kind} entry (plain bytes), but the signature is a DSSE \
                 envelope's"
            ))
        }
    }
    let mut named_other_cert = false;
    for entry in &logged.signatures {
        if entry.signature != signature {
            continue;
        }
        match &entry.certificate_der {
            Some(der) if der == certificate_der => return Ok(kind),
            _ => named_other_cert = true,
        }
    }
    Err(if named_other_cert {
        "the Rekor entry logs this signature with another certificate or key".to_string()
    } else {
        "the Rekor entry logs another signature, not this one".to_string()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    kind: String,
    api_version: String,
}

enum LoggedArtifact {
    Message([u8; 32]),
    DssePayload([u8; 32]),
}

struct LoggedSignature {
    signature: Vec<u8>,
    /// The logged certificate as DER; `None` when the entry names a bare public key or
    /// something that is not a certificate.
    certificate_der: Option<Vec<u8>>,
}

struct Logged {
    artifact: LoggedArtifact,
    signatures: Vec<LoggedSignature>,
}

#[derive(Deserialize)]
struct HashValue {
    algorithm: String,
    value: String,
}

impl HashValue {
    fn sha256(&self, what: &str) -> Result<[u8; 32], String> {
        if self.algorithm != "sha256" {
            return Err(format!(
                "the Rekor entry's {what} uses {}, pinsign reads sha256",
                self.algorithm
            ));
        }
        hex::decode(&self.value)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| format!("the Rekor entry's {what} is not a sha256 hex digest"))
    }
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| format!("the Rekor entry's {what} is not base64"))
}

/// A base64 PEM certificate as Rekor stores it, as DER; `None` if it is not a certificate.
fn logged_certificate(b64_pem: &str) -> Option<Vec<u8>> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(b64_pem)
        .ok()?;
    let pem = String::from_utf8(pem).ok()?;
    ParsedCertificate::from_pem(&pem)
        .ok()
        .map(|c| c.der().to_vec())
}

mod wire {
    //! The body shapes, as Rekor's schemas define them (only the fields checked).
    use super::HashValue;
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Entry<S> {
        pub spec: S,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RekordSpec {
        pub data: RekordData,
        pub signature: RekordSignature,
    }

    #[derive(Deserialize)]
    pub struct RekordData {
        #[serde(default)]
        pub hash: Option<HashValue>,
        /// `rekord` only: the artifact itself, base64.
        #[serde(default)]
        pub content: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RekordSignature {
        pub content: String,
        pub public_key: Content,
    }

    #[derive(Deserialize)]
    pub struct Content {
        pub content: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DsseSpec {
        pub payload_hash: HashValue,
        pub signatures: Vec<DsseSignature>,
    }

    #[derive(Deserialize)]
    pub struct DsseSignature {
        pub signature: String,
        pub verifier: String,
    }

    #[derive(Deserialize)]
    pub struct IntotoSpec {
        pub content: IntotoContent,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct IntotoContent {
        pub envelope: IntotoEnvelope,
        pub payload_hash: HashValue,
    }

    #[derive(Deserialize)]
    pub struct IntotoEnvelope {
        pub signatures: Vec<IntotoSignature>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct IntotoSignature {
        pub sig: String,
        pub public_key: String,
    }
}

impl Logged {
    fn parse(kind: &KindVersion, body: &[u8]) -> Result<Logged, String> {
        let shape = |e: serde_json::Error| format!("the Rekor {kind} body is malformed ({e})");
        match (kind.kind.as_str(), kind.version.as_str()) {
            (kind_name @ ("hashedrekord" | "rekord"), "0.0.1") => {
                let entry: wire::Entry<wire::RekordSpec> =
                    serde_json::from_slice(body).map_err(shape)?;
                let data = &entry.spec.data;
                let artifact = match (&data.hash, &data.content) {
                    (Some(hash), _) => hash.sha256("artifact hash")?,
                    (None, Some(content)) if kind_name == "rekord" => {
                        sha2::Sha256::digest(b64(content, "artifact")?).into()
                    }
                    _ => return Err(format!("the Rekor {kind} body names no artifact hash")),
                };
                Ok(Logged {
                    artifact: LoggedArtifact::Message(artifact),
                    signatures: vec![LoggedSignature {
                        signature: b64(&entry.spec.signature.content, "signature")?,
                        certificate_der: logged_certificate(
                            &entry.spec.signature.public_key.content,
                        ),
                    }],
                })
            }
            ("dsse", "0.0.1") => {
                let entry: wire::Entry<wire::DsseSpec> =
                    serde_json::from_slice(body).map_err(shape)?;
                let signatures = entry
                    .spec
                    .signatures
                    .iter()
                    .map(|s| {
                        Ok(LoggedSignature {
                            signature: b64(&s.signature, "signature")?,
                            certificate_der: logged_certificate(&s.verifier),
                        })
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Logged {
                    artifact: LoggedArtifact::DssePayload(
                        entry.spec.payload_hash.sha256("payload hash")?,
                    ),
                    signatures,
                })
            }
            ("intoto", "0.0.2") => {
                let entry: wire::Entry<wire::IntotoSpec> =
                    serde_json::from_slice(body).map_err(shape)?;
                let content = &entry.spec.content;
                let signatures = content
                    .envelope
                    .signatures
                    .iter()
                    .map(|s| {
                        let once = b64(&s.sig, "signature")?;
                        let text = String::from_utf8(once)
                            .map_err(|_| "the Rekor entry's signature is not base64".to_string())?;
                        Ok(LoggedSignature {
                            signature: b64(&text, "signature")?,
                            certificate_der: logged_certificate(&s.public_key),
                        })
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Logged {
                    artifact: LoggedArtifact::DssePayload(
                        content.payload_hash.sha256("payload hash")?,
                    ),
                    signatures,
                })
            }
            _ => Err(format!(
                "the Rekor entry is a {kind} entry; pinsign reads hashedrekord 0.0.1, rekord \
                 0.0.1, dsse 0.0.1 and intoto 0.0.2"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keyless/legacy/"
    );

    fn pem(dir: &str) -> String {
        std::fs::read_to_string(format!("{DIR}{dir}/certificate.pem")).unwrap()
    }

    fn der(dir: &str) -> Vec<u8> {
        ParsedCertificate::from_pem(&pem(dir))
            .unwrap()
            .der()
            .to_vec()
    }

    fn enc(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    const SIG: &[u8] = b"\x30\x06\x02\x01\x01\x02\x01\x01";
    const HASH: [u8; 32] = [0xab; 32];

    fn hashedrekord(cert_pem: &str, sig: &[u8], hash: [u8; 32]) -> Vec<u8> {
        serde_json::json!({"apiVersion":"0.0.1","kind":"hashedrekord","spec":{
            "data":{"hash":{"algorithm":"sha256","value":hex::encode(hash)}},
            "signature":{"content":enc(sig),"publicKey":{"content":enc(cert_pem.as_bytes())}}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn hashedrekord_names_signature_certificate_and_hash() {
        let cert = "gha-go-bazel-v0.0.30";
        let body = hashedrekord(&pem(cert), SIG, HASH);
        let kind = check_body(
            &body,
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::Message(HASH),
        )
        .unwrap();
        assert_eq!(kind.to_string(), "hashedrekord 0.0.1");
        let declared = KindVersion {
            kind: "hashedrekord".into(),
            version: "0.0.1".into(),
        };
        assert!(check_body(
            &body,
            Some(&declared),
            SIG,
            &der(cert),
            ExpectedArtifact::Message(HASH)
        )
        .is_ok());
        let wrong_kind = KindVersion {
            kind: "dsse".into(),
            version: "0.0.1".into(),
        };
        let e = check_body(
            &body,
            Some(&wrong_kind),
            SIG,
            &der(cert),
            ExpectedArtifact::Message(HASH),
        )
        .unwrap_err();
        assert!(
            e.contains("says it is dsse 0.0.1, its body is hashedrekord 0.0.1"),
            "{e}"
        );
        let e = check_body(
            &body,
            None,
            b"other",
            &der(cert),
            ExpectedArtifact::Message(HASH),
        )
        .unwrap_err();
        assert_eq!(e, "the Rekor entry logs another signature, not this one");
        let other_cert = der("google-sa-cloudbuild-2023");
        let e = check_body(
            &body,
            None,
            SIG,
            &other_cert,
            ExpectedArtifact::Message(HASH),
        )
        .unwrap_err();
        assert!(e.contains("another certificate or key"), "{e}");
        let e = check_body(
            &body,
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::Message([0; 32]),
        )
        .unwrap_err();
        assert!(e.contains("artifact with sha256 abab"), "{e}");
        let e = check_body(
            &body,
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::DssePayload(HASH),
        )
        .unwrap_err();
        assert!(e.contains("plain bytes"), "{e}");
    }

    #[test]
    fn dsse_and_intoto_bodies() {
        let cert = "gha-go-bazel-v0.0.30";
        let dsse = serde_json::json!({"apiVersion":"0.0.1","kind":"dsse","spec":{
            "envelopeHash":{"algorithm":"sha256","value":hex::encode([1u8; 32])},
            "payloadHash":{"algorithm":"sha256","value":hex::encode(HASH)},
            "signatures":[{"signature":enc(b"someone else"),"verifier":enc(pem("google-sa-cloudbuild-2023").as_bytes())},
                          {"signature":enc(SIG),"verifier":enc(pem(cert).as_bytes())}]}})
        .to_string();
        assert!(check_body(
            dsse.as_bytes(),
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::DssePayload(HASH)
        )
        .is_ok());
        let e = check_body(
            dsse.as_bytes(),
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::Message(HASH),
        )
        .unwrap_err();
        assert!(e.contains("a DSSE envelope"), "{e}");
        // intoto 0.0.2 stores the DSSE signature base64-encoded twice.
        let intoto = serde_json::json!({"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{
            "envelope":{"payloadType":"application/vnd.in-toto+json",
                "signatures":[{"sig":enc(enc(SIG).as_bytes()),"publicKey":enc(pem(cert).as_bytes())}]},
            "hash":{"algorithm":"sha256","value":hex::encode([2u8; 32])},
            "payloadHash":{"algorithm":"sha256","value":hex::encode(HASH)}}}})
        .to_string();
        let kind = check_body(
            intoto.as_bytes(),
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::DssePayload(HASH),
        )
        .unwrap();
        assert_eq!(kind.to_string(), "intoto 0.0.2");
        let e = check_body(
            intoto.as_bytes(),
            None,
            SIG,
            &der(cert),
            ExpectedArtifact::DssePayload([0; 32]),
        )
        .unwrap_err();
        assert!(e.contains("DSSE payload with sha256"), "{e}");
    }

    #[test]
    fn unknown_kinds_and_malformed_bodies() {
        let cert = der("gha-go-bazel-v0.0.30");
        let any = ExpectedArtifact::Message(HASH);
        let e = check_body(
            br#"{"apiVersion":"0.0.1","kind":"helm","spec":{}}"#,
            None,
            SIG,
            &cert,
            any,
        )
        .unwrap_err();
        assert!(e.contains("is a helm 0.0.1 entry; pinsign reads"), "{e}");
        assert!(check_body(b"not json", None, SIG, &cert, any).is_err());
        assert!(check_body(
            br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#,
            None,
            SIG,
            &cert,
            any
        )
        .is_err());
        let sha512 = br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha512","value":"00"}},"signature":{"content":"","publicKey":{"content":""}}}}"#;
        let e = check_body(sha512, None, SIG, &cert, any).unwrap_err();
        assert!(e.contains("uses sha512"), "{e}");
    }
}
