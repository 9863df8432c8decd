//! The trust material of keyless verification: a Sigstore `trusted_root.json`.
//!
//! The file every Sigstore client reads (protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot`
//! in its JSON form): Fulcio certificate authorities with their chains and `validFor` windows,
//! Rekor (`tlogs`) and CT (`ctlogs`) log keys with their log ids and windows, and timestamp
//! authorities (kept, not used: pinsign takes signing times from Rekor's SET). The
//! public-good instance's file ships in `data/` ([`TrustedRoot::public_good`]); a private
//! instance passes its own. There is no TUF and no network here.
//!
//! Parsing is strict about what verification relies on (every certificate decodes, every
//! log id is base64, every window is RFC 3339) and lenient about the rest: unknown fields
//! are ignored, so a newer file still loads, and a log key of a type pinsign cannot verify
//! with (an RSA PKCS#1 CT key of the staging instance, say) is kept as unusable instead of
//! failing the whole file; a check that needs it then says so.
//! (`sigstore_protobuf_specs`'s serde types were not used: they deny unknown fields.)

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;

use super::certificate::ParsedCertificate;
use super::crypto::VerifyingKey;
use super::time::{parse_rfc3339, ValidFor};

/// A trusted root larger than this is refused (public-good's is 7 KB).
pub const MAX_TRUSTED_ROOT_BYTES: u64 = 1024 * 1024;
const MAX_ENTRIES: usize = 64;
const MAX_CHAIN: usize = 8;

/// The media types of a trusted root pinsign reads.
pub const MEDIA_TYPES: [&str; 3] = [
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.1+json",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
];

const PUBLIC_GOOD_JSON: &str = include_str!("../../data/trusted_root.public-good.json");
const PUBLIC_GOOD_NAME: &str = "the built-in public-good trusted root";

/// A trusted root could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustedRootError {
    #[error("cannot read trusted root {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "trusted root {path} is larger than {MAX_TRUSTED_ROOT_BYTES} bytes; pass a Sigstore \
         trusted_root.json"
    )]
    TooLarge { path: String },
    #[error("trusted root {path}: {reason}; pass a Sigstore trusted_root.json")]
    Invalid { path: String, reason: String },
}

/// A log id: the `logId.keyId` of a trusted root entry (for Rekor v1 and CT logs, the
/// SHA-256 of the log's DER public key). Legacy cosign bundles write it in hex, Sigstore
/// bundles in base64; both decode to these bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogId(Vec<u8>);

impl LogId {
    pub fn new(bytes: Vec<u8>) -> LogId {
        LogId(bytes)
    }

    /// From the lower- or upper-case hex a legacy bundle's `logID` holds.
    pub fn from_hex(text: &str) -> Option<LogId> {
        hex::decode(text).ok().map(LogId)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hex, as cosign writes `logID` (and what the SET covers).
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl std::fmt::Display for LogId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A Fulcio (or timestamp) certificate authority: a chain from the issuing certificate up
/// to the root, and the window in which it issued.
#[derive(Clone, Debug)]
pub struct CertificateAuthority {
    uri: String,
    chain: Vec<ParsedCertificate>,
    valid_for: ValidFor,
}

impl CertificateAuthority {
    /// The CA's URI (`https://fulcio.sigstore.dev`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The certificates, issuing certificate first, root last; never empty.
    pub fn chain(&self) -> &[ParsedCertificate] {
        &self.chain
    }

    pub fn valid_for(&self) -> ValidFor {
        self.valid_for
    }
}

/// A transparency log of the trusted root: a Rekor log or a CT log.
#[derive(Clone, Debug)]
pub struct TransparencyLog {
    base_url: String,
    log_id: LogId,
    key: Result<VerifyingKey, String>,
    key_details: String,
    valid_for: ValidFor,
}

impl TransparencyLog {
    /// The log's URL (`https://rekor.sigstore.dev`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The log's URL without the scheme, for messages (`rekor.sigstore.dev`).
    pub fn name(&self) -> &str {
        self.base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, rest)| rest)
    }

    pub fn log_id(&self) -> &LogId {
        &self.log_id
    }

    /// The log's key, or why pinsign cannot verify with it.
    pub fn key(&self) -> Result<&VerifyingKey, &str> {
        self.key.as_ref().map_err(String::as_str)
    }

    /// `publicKey.keyDetails` as the file says it (`PKIX_ECDSA_P256_SHA_256`).
    pub fn key_details(&self) -> &str {
        &self.key_details
    }

    /// The window in which the log's key signed (`publicKey.validFor`).
    pub fn valid_for(&self) -> ValidFor {
        self.valid_for
    }
}

/// A parsed Sigstore `trusted_root.json`.
#[derive(Clone, Debug)]
pub struct TrustedRoot {
    source: String,
    media_type: String,
    certificate_authorities: Vec<CertificateAuthority>,
    tlogs: Vec<TransparencyLog>,
    ctlogs: Vec<TransparencyLog>,
    timestamp_authorities: Vec<CertificateAuthority>,
}

impl TrustedRoot {
    /// The Sigstore public-good instance's trusted root that ships with pinsign
    /// (`data/trusted_root.public-good.json`; provenance in `data/README.md`).
    pub fn public_good() -> Result<TrustedRoot, TrustedRootError> {
        TrustedRoot::from_json(PUBLIC_GOOD_JSON.as_bytes(), PUBLIC_GOOD_NAME)
    }

    /// Read and parse a trusted root file (at most [`MAX_TRUSTED_ROOT_BYTES`]).
    pub fn from_file(path: &Path) -> Result<TrustedRoot, TrustedRootError> {
        use std::io::Read as _;
        let name = path.display().to_string();
        let read_err = |source| TrustedRootError::Read {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_TRUSTED_ROOT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_TRUSTED_ROOT_BYTES {
            return Err(TrustedRootError::TooLarge { path: name });
        }
        TrustedRoot::from_json(&bytes, &name)
    }

    /// Parse trusted root JSON; `source` names it in errors (a path, or a description).
    pub fn from_json(bytes: &[u8], source: &str) -> Result<TrustedRoot, TrustedRootError> {
        let invalid = |reason: String| TrustedRootError::Invalid {
            path: source.to_string(),
            reason,
        };
        if bytes.len() as u64 > MAX_TRUSTED_ROOT_BYTES {
            return Err(TrustedRootError::TooLarge {
                path: source.to_string(),
            });
        }
        let raw: RawRoot = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not trusted root JSON ({e})")))?;
        if !MEDIA_TYPES.contains(&raw.media_type.as_str()) {
            return Err(invalid(format!(
                "mediaType {:?} is not a trusted root version pinsign reads ({})",
                raw.media_type,
                MEDIA_TYPES.join(", ")
            )));
        }
        let too_many = |what: &str, n: usize| {
            (n > MAX_ENTRIES).then(|| invalid(format!("{n} {what}, more than {MAX_ENTRIES}")))
        };
        for (what, n) in [
            ("certificateAuthorities", raw.certificate_authorities.len()),
            ("tlogs", raw.tlogs.len()),
            ("ctlogs", raw.ctlogs.len()),
            ("timestampAuthorities", raw.timestamp_authorities.len()),
        ] {
            if let Some(e) = too_many(what, n) {
                return Err(e);
            }
        }
        let cas = |list: Vec<RawCa>, what: &str| -> Result<Vec<CertificateAuthority>, _> {
            list.into_iter()
                .enumerate()
                .map(|(i, ca)| ca.parse().map_err(|e| invalid(format!("{what}[{i}]: {e}"))))
                .collect::<Result<Vec<_>, _>>()
        };
        let logs = |list: Vec<RawLog>, what: &str| -> Result<Vec<TransparencyLog>, _> {
            list.into_iter()
                .enumerate()
                .map(|(i, log)| {
                    log.parse()
                        .map_err(|e| invalid(format!("{what}[{i}]: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(TrustedRoot {
            source: source.to_string(),
            media_type: raw.media_type,
            certificate_authorities: cas(raw.certificate_authorities, "certificateAuthorities")?,
            tlogs: logs(raw.tlogs, "tlogs")?,
            ctlogs: logs(raw.ctlogs, "ctlogs")?,
            timestamp_authorities: cas(raw.timestamp_authorities, "timestampAuthorities")?,
        })
    }

    /// Where the root came from (a path, or "the built-in public-good trusted root").
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The Fulcio CAs.
    pub fn certificate_authorities(&self) -> &[CertificateAuthority] {
        &self.certificate_authorities
    }

    /// The Rekor logs.
    pub fn tlogs(&self) -> &[TransparencyLog] {
        &self.tlogs
    }

    /// The CT logs. Empty for a private instance that runs none.
    pub fn ctlogs(&self) -> &[TransparencyLog] {
        &self.ctlogs
    }

    /// The RFC 3161 timestamp authorities (parsed and kept; not used for verification).
    pub fn timestamp_authorities(&self) -> &[CertificateAuthority] {
        &self.timestamp_authorities
    }

    /// The Rekor logs with this id (normally one; several when a key was re-listed with
    /// another window).
    pub fn tlogs_with_id<'a>(
        &'a self,
        id: &LogId,
    ) -> impl Iterator<Item = &'a TransparencyLog> + 'a {
        let id = id.clone();
        self.tlogs.iter().filter(move |l| l.log_id == id)
    }

    /// The CT logs with this id.
    pub fn ctlogs_with_id<'a>(
        &'a self,
        id: &LogId,
    ) -> impl Iterator<Item = &'a TransparencyLog> + 'a {
        let id = id.clone();
        self.ctlogs.iter().filter(move |l| l.log_id == id)
    }
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("{what} is not base64 ({e})"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawCa>,
    #[serde(default)]
    ctlogs: Vec<RawLog>,
    #[serde(default)]
    timestamp_authorities: Vec<RawCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawValidFor {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

impl RawValidFor {
    fn parse(raw: Option<RawValidFor>) -> Result<ValidFor, String> {
        let Some(raw) = raw else {
            return Ok(ValidFor::always());
        };
        let time = |t: Option<String>| {
            t.map(|t| parse_rfc3339(&t).map_err(|e| format!("validFor: {e}")))
                .transpose()
        };
        Ok(ValidFor::new(time(raw.start)?, time(raw.end)?))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCa {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    #[serde(default)]
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
struct RawChain {
    #[serde(default)]
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

impl RawCa {
    fn parse(self) -> Result<CertificateAuthority, String> {
        let certs = self.cert_chain.certificates;
        if certs.is_empty() {
            return Err("certChain has no certificates".into());
        }
        if certs.len() > MAX_CHAIN {
            return Err(format!("certChain has more than {MAX_CHAIN} certificates"));
        }
        let chain = certs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let der = b64(&c.raw_bytes, &format!("certificate {i}"))?;
                ParsedCertificate::from_der(&der).map_err(|e| format!("certificate {i}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CertificateAuthority {
            uri: self.uri,
            chain,
            valid_for: RawValidFor::parse(self.valid_for)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    #[serde(default)]
    raw_bytes: Option<String>,
    #[serde(default)]
    key_details: Option<String>,
    #[serde(default)]
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

impl RawLog {
    fn parse(self) -> Result<TransparencyLog, String> {
        let log_id = LogId(b64(&self.log_id.key_id, "logId.keyId")?);
        if log_id.0.is_empty() {
            return Err("logId.keyId is empty".into());
        }
        let key_details = self.public_key.key_details.unwrap_or_default();
        let key = match &self.public_key.raw_bytes {
            None => Err("the trusted root gives no key bytes".to_string()),
            Some(text) => {
                let der = b64(text, "publicKey.rawBytes")?;
                VerifyingKey::from_spki_der(&der)
                    .map_err(|e| format!("its key ({key_details}) is unusable: {e}"))
            }
        };
        Ok(TransparencyLog {
            base_url: self.base_url,
            log_id,
            key,
            key_details,
            valid_for: RawValidFor::parse(self.public_key.valid_for)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    const TRUST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keyless/trust/");

    #[test]
    fn the_shipped_public_good_root_is_the_documented_file() {
        // data/README.md records this hash; an edit of the data file must update both.
        assert_eq!(
            hex::encode(sha2::Sha256::digest(PUBLIC_GOOD_JSON.as_bytes())),
            "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"
        );
        let fixture = std::fs::read(format!("{TRUST}trusted_root.public-good.json")).unwrap();
        assert_eq!(fixture, PUBLIC_GOOD_JSON.as_bytes());
    }

    #[test]
    fn public_good_contents() {
        let root = TrustedRoot::public_good().unwrap();
        assert_eq!(root.source(), PUBLIC_GOOD_NAME);
        let cas = root.certificate_authorities();
        assert_eq!(cas.len(), 2);
        assert_eq!(cas[0].uri(), "https://fulcio.sigstore.dev");
        assert_eq!(cas[0].chain().len(), 1);
        assert_eq!(cas[1].chain().len(), 2);
        assert_eq!(
            cas[1].chain()[0].subject(),
            "CN=sigstore-intermediate,O=sigstore.dev"
        );
        assert!(cas[0].valid_for().covers(1_634_714_717));
        assert!(!cas[0].valid_for().covers(1_772_216_446));
        assert!(cas[1].valid_for().covers(1_772_216_446));

        let rekor =
            LogId::from_hex("c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d")
                .unwrap();
        let tlog = root.tlogs_with_id(&rekor).next().unwrap();
        assert_eq!(tlog.name(), "rekor.sigstore.dev");
        let key = tlog.key().unwrap();
        assert_eq!(key.kind(), "ECDSA P-256");
        assert_eq!(
            key.key_id().as_slice(),
            rekor.as_bytes(),
            "log id = sha256(SPKI)"
        );
        assert_eq!(root.tlogs()[1].key().unwrap().kind(), "Ed25519");
        assert_eq!(root.ctlogs().len(), 2);
        assert_eq!(
            root.ctlogs()[1].base_url(),
            "https://ctfe.sigstore.dev/2022"
        );
        assert_eq!(root.timestamp_authorities().len(), 1);
    }

    #[test]
    fn staging_loads_with_an_unusable_rsa_ct_key_kept() {
        let root = TrustedRoot::from_file(Path::new(&format!("{TRUST}trusted_root.staging.json")))
            .unwrap();
        let rsa = &root.ctlogs()[0];
        assert_eq!(rsa.key_details(), "PKCS1_RSA_PKCS1V5");
        let why = rsa.key().unwrap_err();
        assert!(why.contains("PKCS1_RSA_PKCS1V5"), "{why}");
        assert!(root.ctlogs()[1].key().is_ok());
    }

    #[test]
    fn errors_name_the_file_and_the_entry() {
        let e = TrustedRoot::from_json(b"{", "root.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("trusted root root.json: not trusted root JSON"),
            "{e}"
        );
        let e = TrustedRoot::from_json(br#"{"mediaType":"text/plain"}"#, "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mediaType \"text/plain\""), "{e}");
        let bad_cert = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "certificateAuthorities":[{"uri":"x","certChain":{"certificates":[{"rawBytes":"AAAA"}]}}]}"#;
        let e = TrustedRoot::from_json(bad_cert, "r.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("certificateAuthorities[0]: certificate 0"),
            "{e}"
        );
        let bad_time = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs":[{"baseUrl":"x","publicKey":{"validFor":{"start":"soon"}},"logId":{"keyId":"AA=="}}]}"#;
        let e = TrustedRoot::from_json(bad_time, "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tlogs[0]: validFor"), "{e}");
        let e = TrustedRoot::from_file(Path::new("/nonexistent/root.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/root.json"), "{e}");
        let big = vec![b' '; MAX_TRUSTED_ROOT_BYTES as usize + 1];
        assert!(matches!(
            TrustedRoot::from_json(&big, "big.json"),
            Err(TrustedRootError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_ignored_and_missing_lists_are_empty() {
        let json = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot.v0.2+json",
            "futureField":{"a":1}}"#;
        let root = TrustedRoot::from_json(json, "r.json").unwrap();
        assert!(root.certificate_authorities().is_empty());
        assert!(root.ctlogs().is_empty());
    }
}
