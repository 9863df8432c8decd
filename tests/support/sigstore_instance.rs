/*!
A self-made Sigstore for the keyless cases real vectors cannot give.

[`TestSigstore`] holds, with deterministic keys (so runs are reproducible):

- a test "Fulcio": a P-384 root and a P-384 intermediate (like public-good's), issuing P-256
  leaf certificates with the SAN, OIDC issuer extension(s), GitHub workflow extensions,
  EKU and validity a test chooses ([`LeafSpec`]), with an embedded SCT from
- a test CT log (P-256), and
- a test "Rekor" (P-256) signing SETs over hashedrekord bodies at a chosen `integratedTime`,
  plus a second Rekor key that no trusted root lists (for "SET by another log");
- [`TestSigstore::trusted_root_json`]: a `trusted_root.json` naming them, with the `validFor`
  windows a test chooses ([`RootOptions`]);
- [`TestSigstore::legacy_layer`]: a complete cosign keyless `.sig` layer (payload for an image
  digest, signature, certificate and chain PEM, the Rekor bundle annotation, and the layer
  annotations) ready to push as a simple-signing layer.

Everything is written with `x509-cert`'s builder, RustCrypto's ECDSA, and
`serde_json_canonicalizer` for the SET's canonical JSON (not pinsign's own code), so the
verifier is tested against bytes it did not produce.
*/

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use der::{Decode as _, Encode as _, EncodePem as _};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use sha2::Digest as _;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// cosign's simple-signing layer media type.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The test instance's URLs (what its trusted root names).
pub const FULCIO_URL: &str = "https://fulcio.test.invalid";
pub const REKOR_URL: &str = "https://rekor.test.invalid";
pub const CTLOG_URL: &str = "https://ctfe.test.invalid";
/// The issuer a GitHub Actions leaf names by default.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// 2025-01-01T00:00:00Z: the default "now" of the test instance.
pub const T0: i64 = 1_735_689_600;

fn p256_key(label: &str) -> p256::ecdsa::SigningKey {
    let seed = sha2::Sha256::digest(label.as_bytes());
    p256::ecdsa::SigningKey::from_slice(&seed).expect("a sha256 is a valid P-256 scalar")
}

fn p384_key(label: &str) -> p384::ecdsa::SigningKey {
    let seed = sha2::Sha384::digest(label.as_bytes());
    p384::ecdsa::SigningKey::from_slice(&seed).expect("a sha384 is a valid P-384 scalar")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn rfc3339(t: i64) -> String {
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(t as u64)).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    )
}

fn x509_time(t: i64) -> Time {
    Time::from(der::DateTime::from_unix_duration(Duration::from_secs(t as u64)).unwrap())
}

fn validity(not_before: i64, not_after: i64) -> Validity {
    Validity::new(x509_time(not_before), x509_time(not_after))
}

/// A builder profile that adds nothing: every extension is chosen by the test.
struct Plain {
    subject: Name,
    issuer: Name,
}

impl x509_cert::builder::profile::BuilderProfile for Plain {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }
    fn get_subject(&self) -> Name {
        self.subject.clone()
    }
    fn build_extensions(
        &self,
        _spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: x509_cert::spki::SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

fn ext<T: der::Encode>(oid: &str, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap(oid),
        critical,
        extn_value: der::asn1::OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

fn raw_ext(oid: &str, value: &[u8]) -> Extension {
    Extension {
        extn_id: der::asn1::ObjectIdentifier::new(oid).unwrap(),
        critical: false,
        extn_value: der::asn1::OctetString::new(value.to_vec()).unwrap(),
    }
}

fn utf8_ext(oid: &str, value: &str) -> Extension {
    ext(oid, false, &der::asn1::Utf8StringRef::new(value).unwrap())
}

/// A key identifier: the first 20 bytes of the SHA-256 of the SPKI (RFC 7093 §2 method 1).
fn key_id(spki: &SubjectPublicKeyInfoOwned) -> der::asn1::OctetString {
    let digest = sha2::Sha256::digest(spki.to_der().unwrap());
    der::asn1::OctetString::new(&digest[..20]).unwrap()
}

fn ski(spki: &SubjectPublicKeyInfoOwned) -> Extension {
    ext("2.5.29.14", false, &SubjectKeyIdentifier(key_id(spki)))
}

fn aki(issuer_spki: &SubjectPublicKeyInfoOwned) -> Extension {
    ext(
        "2.5.29.35",
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(key_id(issuer_spki)),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )
}

fn build(
    subject: &str,
    issuer: &Name,
    serial: u32,
    validity: Validity,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
    signer: &p384::ecdsa::SigningKey,
) -> Certificate {
    let profile = Plain {
        // A Fulcio leaf has an empty subject.
        subject: if subject.is_empty() {
            Name::default()
        } else {
            Name::from_str(subject).unwrap()
        },
        issuer: issuer.clone(),
    };
    let mut builder =
        CertificateBuilder::new(profile, SerialNumber::from(serial), validity, spki).unwrap();
    for e in extensions {
        builder.add_extension(e).unwrap();
    }
    builder
        .build::<_, p384::ecdsa::DerSignature>(signer)
        .unwrap()
}

/// A SAN for a leaf.
#[derive(Clone, Debug)]
pub enum SanSpec {
    Uri(String),
    Email(String),
}

/// What a leaf certificate says. Start from [`LeafSpec::github`] or [`LeafSpec::email`].
#[derive(Clone, Debug)]
pub struct LeafSpec {
    pub san: SanSpec,
    /// `1.3.6.1.4.1.57264.1.1` (raw string).
    pub issuer_v1: Option<String>,
    /// `1.3.6.1.4.1.57264.1.8` (DER UTF8String).
    pub issuer_v2: Option<String>,
    /// Deprecated GitHub workflow extensions `.1.N` (N in 2..=6), raw strings.
    pub github: Vec<(u32, String)>,
    /// Provider-neutral extensions `.1.N` (N in 9..=24), DER UTF8Strings.
    pub build: Vec<(u32, String)>,
    pub not_before: i64,
    pub not_after: i64,
    pub code_signing: bool,
    /// Embed an SCT from the test CT log.
    pub sct: bool,
}

impl LeafSpec {
    /// A GitHub Actions workflow leaf for `https://github.com/{repo}/.github/workflows/release.yml@{git_ref}`,
    /// valid ten minutes from `t`, with both issuer extensions and the workflow extensions.
    pub fn github(repo: &str, git_ref: &str, t: i64) -> LeafSpec {
        LeafSpec {
            san: SanSpec::Uri(format!(
                "https://github.com/{repo}/.github/workflows/release.yml@{git_ref}"
            )),
            issuer_v1: Some(GITHUB_ISSUER.into()),
            issuer_v2: Some(GITHUB_ISSUER.into()),
            github: vec![
                (2, "push".into()),
                (3, "0123456789abcdef0123456789abcdef01234567".into()),
                (4, "Release".into()),
                (5, repo.into()),
                (6, git_ref.into()),
            ],
            build: vec![
                (12, format!("https://github.com/{repo}")),
                (14, git_ref.into()),
                (20, "push".into()),
            ],
            not_before: t,
            not_after: t + 600,
            code_signing: true,
            sct: true,
        }
    }

    /// An email leaf (a person or service account) with the given issuer in `.1.8` only.
    pub fn email(email: &str, issuer: &str, t: i64) -> LeafSpec {
        LeafSpec {
            san: SanSpec::Email(email.into()),
            issuer_v1: None,
            issuer_v2: Some(issuer.into()),
            github: Vec::new(),
            build: Vec::new(),
            not_before: t,
            not_after: t + 600,
            code_signing: true,
            sct: true,
        }
    }

    /// The SAN's value.
    pub fn identity(&self) -> &str {
        match &self.san {
            SanSpec::Uri(v) | SanSpec::Email(v) => v,
        }
    }
}

/// An issued leaf: the certificate and its private key.
pub struct Leaf {
    pub pem: String,
    pub key: p256::ecdsa::SigningKey,
}

/// Which Rekor key signs a SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekorKey {
    /// The instance's Rekor, listed in its trusted root.
    Trusted,
    /// Another log's key, under the trusted log's id (a SET by another log).
    OtherUnderTrustedId,
    /// Another log's key, under its own id (a log the trusted root does not list).
    Other,
}

/// The `validFor` windows (and lists) of a test trusted root.
#[derive(Clone, Debug)]
pub struct RootOptions {
    pub ca_start: i64,
    pub ca_end: Option<i64>,
    pub rekor_start: i64,
    pub rekor_end: Option<i64>,
    /// List the test CT log (a private instance without CT omits it).
    pub ctlog: bool,
}

impl Default for RootOptions {
    fn default() -> Self {
        RootOptions {
            ca_start: T0 - 86_400 * 365,
            ca_end: None,
            rekor_start: T0 - 86_400 * 365,
            rekor_end: None,
            ctlog: true,
        }
    }
}

/// A complete legacy keyless signature layer.
#[derive(Clone, Debug)]
pub struct LegacyLayer {
    /// The layer blob.
    pub payload: Vec<u8>,
    pub signature_b64: String,
    pub certificate_pem: String,
    pub chain_pem: String,
    /// The `dev.sigstore.cosign/bundle` value.
    pub bundle_json: String,
    /// The layer annotations cosign writes (signature, certificate, chain, bundle).
    pub annotations: BTreeMap<String, String>,
    pub media_type: &'static str,
}

/// The test Sigstore instance.
pub struct TestSigstore {
    intermediate_key: p384::ecdsa::SigningKey,
    root: Certificate,
    intermediate: Certificate,
    rekor_key: p256::ecdsa::SigningKey,
    other_rekor_key: p256::ecdsa::SigningKey,
    ctlog_key: p256::ecdsa::SigningKey,
}

impl Default for TestSigstore {
    fn default() -> Self {
        TestSigstore::new()
    }
}

impl TestSigstore {
    /// The instance, with CA certificates valid from 2020 to 2035.
    pub fn new() -> TestSigstore {
        let root_key = p384_key("test fulcio root");
        let intermediate_key = p384_key("test fulcio intermediate");
        let (from, to) = (1_577_836_800, 2_051_222_400); // 2020-01-01 .. 2035-01-01
        let root_name = Name::from_str("CN=test-sigstore,O=pinsign.test").unwrap();
        let ca_exts = |path_len: Option<u8>| {
            vec![
                ext(
                    "2.5.29.15",
                    true,
                    &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
                ),
                ext(
                    "2.5.29.19",
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: path_len,
                    },
                ),
            ]
        };
        let root_spki = SubjectPublicKeyInfoOwned::from_key(root_key.verifying_key()).unwrap();
        let intermediate_spki =
            SubjectPublicKeyInfoOwned::from_key(intermediate_key.verifying_key()).unwrap();
        let mut root_exts = ca_exts(Some(1));
        root_exts.push(ski(&root_spki));
        let root = build(
            "CN=test-sigstore,O=pinsign.test",
            &root_name,
            1,
            validity(from, to),
            root_spki.clone(),
            root_exts,
            &root_key,
        );
        let mut intermediate_exts = ca_exts(Some(0));
        intermediate_exts.push(ski(&intermediate_spki));
        intermediate_exts.push(aki(&root_spki));
        let intermediate = build(
            "CN=test-sigstore-intermediate,O=pinsign.test",
            &root_name,
            2,
            validity(from, to),
            intermediate_spki,
            intermediate_exts,
            &root_key,
        );
        TestSigstore {
            intermediate_key,
            root,
            intermediate,
            rekor_key: p256_key("test rekor"),
            other_rekor_key: p256_key("another rekor"),
            ctlog_key: p256_key("test ct log"),
        }
    }

    fn spki_der(key: &p256::ecdsa::SigningKey) -> Vec<u8> {
        key.verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    fn log_id(key: &p256::ecdsa::SigningKey) -> [u8; 32] {
        sha2::Sha256::digest(Self::spki_der(key)).into()
    }

    /// The test Rekor's log id, hex (a legacy bundle's `logID`).
    pub fn rekor_log_id_hex(&self) -> String {
        hex::encode(Self::log_id(&self.rekor_key))
    }

    /// Intermediate then root, PEM (the `dev.sigstore.cosign/chain` value).
    pub fn chain_pem(&self) -> String {
        let lf = der::pem::LineEnding::LF;
        format!(
            "{}{}",
            self.intermediate.to_pem(lf).unwrap(),
            self.root.to_pem(lf).unwrap()
        )
    }

    /// The trusted root with the default windows and the CT log.
    pub fn trusted_root_json(&self) -> String {
        self.trusted_root_json_with(&RootOptions::default())
    }

    /// The trusted root with chosen windows.
    pub fn trusted_root_json_with(&self, options: &RootOptions) -> String {
        let window = |start: i64, end: Option<i64>| {
            let mut w = serde_json::json!({ "start": rfc3339(start) });
            if let Some(end) = end {
                w["end"] = serde_json::Value::String(rfc3339(end));
            }
            w
        };
        let log = |url: &str, key: &p256::ecdsa::SigningKey, start: i64, end: Option<i64>| {
            serde_json::json!({
                "baseUrl": url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(&Self::spki_der(key)),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": window(start, end)
                },
                "logId": { "keyId": b64(&Self::log_id(key)) }
            })
        };
        let ctlogs = if options.ctlog {
            vec![log(CTLOG_URL, &self.ctlog_key, options.ca_start, None)]
        } else {
            Vec::new()
        };
        let root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log(REKOR_URL, &self.rekor_key, options.rekor_start, options.rekor_end)],
            "certificateAuthorities": [{
                "subject": { "organization": "pinsign.test", "commonName": "test-sigstore" },
                "uri": FULCIO_URL,
                "certChain": { "certificates": [
                    { "rawBytes": b64(&self.intermediate.to_der().unwrap()) },
                    { "rawBytes": b64(&self.root.to_der().unwrap()) }
                ]},
                "validFor": window(options.ca_start, options.ca_end)
            }],
            "ctlogs": ctlogs,
            "timestampAuthorities": []
        });
        serde_json::to_string_pretty(&root).unwrap()
    }

    /// Issue a leaf certificate from the intermediate.
    pub fn issue_leaf(&self, spec: &LeafSpec) -> Leaf {
        let key = p256_key(&format!("leaf {} {}", spec.identity(), spec.not_before));
        let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).unwrap();
        let san = match &spec.san {
            SanSpec::Uri(v) => {
                GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(v).unwrap())
            }
            SanSpec::Email(v) => GeneralName::Rfc822Name(der::asn1::Ia5String::new(v).unwrap()),
        };
        let mut exts = vec![ext(
            "2.5.29.15",
            true,
            &KeyUsage(KeyUsages::DigitalSignature.into()),
        )];
        if spec.code_signing {
            exts.push(ext(
                "2.5.29.37",
                false,
                &ExtendedKeyUsage(vec![der::asn1::ObjectIdentifier::new_unwrap(
                    "1.3.6.1.5.5.7.3.3",
                )]),
            ));
        }
        exts.push(ski(&spki));
        exts.push(aki(self
            .intermediate
            .tbs_certificate()
            .subject_public_key_info()));
        exts.push(ext("2.5.29.17", true, &SubjectAltName(vec![san])));
        if let Some(v1) = &spec.issuer_v1 {
            exts.push(raw_ext("1.3.6.1.4.1.57264.1.1", v1.as_bytes()));
        }
        for (n, value) in &spec.github {
            exts.push(raw_ext(
                &format!("1.3.6.1.4.1.57264.1.{n}"),
                value.as_bytes(),
            ));
        }
        if let Some(v2) = &spec.issuer_v2 {
            exts.push(utf8_ext("1.3.6.1.4.1.57264.1.8", v2));
        }
        for (n, value) in &spec.build {
            exts.push(utf8_ext(&format!("1.3.6.1.4.1.57264.1.{n}"), value));
        }
        let issuer = self.intermediate.tbs_certificate().subject().clone();
        let serial = 1000 + (spec.not_before as u32 % 100_000);
        let make = |exts: Vec<Extension>| {
            build(
                "",
                &issuer,
                serial,
                validity(spec.not_before, spec.not_after),
                spki.clone(),
                exts,
                &self.intermediate_key,
            )
        };
        let cert = if spec.sct {
            // RFC 6962 §3.2: the CT log signs the TBS without the SCT extension.
            let pre = make(exts.clone());
            let precert_tbs = pre.tbs_certificate().to_der().unwrap();
            let issuer_key_hash: [u8; 32] = sha2::Sha256::digest(
                self.intermediate
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .unwrap(),
            )
            .into();
            let timestamp_ms = spec.not_before as u64 * 1000 + 42;
            let mut signed = vec![0u8, 0u8];
            signed.extend_from_slice(&timestamp_ms.to_be_bytes());
            signed.extend_from_slice(&1u16.to_be_bytes());
            signed.extend_from_slice(&issuer_key_hash);
            signed.extend_from_slice(&(precert_tbs.len() as u32).to_be_bytes()[1..]);
            signed.extend_from_slice(&precert_tbs);
            signed.extend_from_slice(&0u16.to_be_bytes());
            let sig: p256::ecdsa::DerSignature = self.ctlog_key.sign(&signed);
            // SignedCertificateTimestamp (TLS encoding), then the u16-length list.
            let mut sct = vec![0u8]; // v1
            sct.extend_from_slice(&Self::log_id(&self.ctlog_key));
            sct.extend_from_slice(&timestamp_ms.to_be_bytes());
            sct.extend_from_slice(&0u16.to_be_bytes()); // no extensions
            sct.extend_from_slice(&[4, 3]); // sha256, ecdsa
            sct.extend_from_slice(&(sig.as_bytes().len() as u16).to_be_bytes());
            sct.extend_from_slice(sig.as_bytes());
            let mut list = (sct.len() as u16 + 2).to_be_bytes().to_vec();
            list.extend_from_slice(&(sct.len() as u16).to_be_bytes());
            list.extend_from_slice(&sct);
            let mut with_sct = exts;
            with_sct.push(ext(
                "1.3.6.1.4.1.11129.2.4.2",
                false,
                &der::asn1::OctetString::new(list).unwrap(),
            ));
            make(with_sct)
        } else {
            make(exts)
        };
        let der = cert.to_der().unwrap();
        // Parse back: the bytes are a certificate x509-cert reads.
        Certificate::from_der(&der).unwrap();
        Leaf {
            pem: cert.to_pem(der::pem::LineEnding::LF).unwrap(),
            key,
        }
    }

    /// A hashedrekord body for `payload` signed by `signature` with `cert_pem`, canonical
    /// (sorted keys, compact), as Rekor stores it.
    pub fn hashedrekord_body(payload: &[u8], signature: &[u8], cert_pem: &str) -> Vec<u8> {
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": {
                    "algorithm": "sha256",
                    "value": hex::encode(sha2::Sha256::digest(payload))
                }},
                "signature": {
                    "content": b64(signature),
                    "publicKey": { "content": b64(cert_pem.as_bytes()) }
                }
            }
        });
        serde_json_canonicalizer::to_vec(&body).unwrap()
    }

    /// cosign's `dev.sigstore.cosign/bundle` for `body`, with a SET by `rekor`.
    pub fn rekor_bundle(
        &self,
        body: &[u8],
        integrated_time: i64,
        log_index: i64,
        rekor: RekorKey,
    ) -> String {
        let (signer, id_key) = match rekor {
            RekorKey::Trusted => (&self.rekor_key, &self.rekor_key),
            RekorKey::OtherUnderTrustedId => (&self.other_rekor_key, &self.rekor_key),
            RekorKey::Other => (&self.other_rekor_key, &self.other_rekor_key),
        };
        let log_id = hex::encode(Self::log_id(id_key));
        let payload = serde_json::json!({
            "body": b64(body),
            "integratedTime": integrated_time,
            "logID": log_id,
            "logIndex": log_index,
        });
        let set: p256::ecdsa::DerSignature =
            signer.sign(&serde_json_canonicalizer::to_vec(&payload).unwrap());
        // cosign's field order.
        format!(
            r#"{{"SignedEntryTimestamp":"{}","Payload":{{"body":"{}","integratedTime":{integrated_time},"logIndex":{log_index},"logID":"{log_id}"}}}}"#,
            b64(set.as_bytes()),
            b64(body)
        )
    }

    /// A legacy keyless signature layer for `repository@digest`, signed by a leaf issued per
    /// `spec`, logged at `integrated_time` with a SET by `rekor`.
    pub fn legacy_layer(
        &self,
        repository: &str,
        digest: &str,
        spec: &LeafSpec,
        integrated_time: i64,
        rekor: RekorKey,
    ) -> LegacyLayer {
        let leaf = self.issue_leaf(spec);
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{repository}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes();
        let signature: p256::ecdsa::DerSignature = leaf.key.sign(&payload);
        let body = Self::hashedrekord_body(&payload, signature.as_bytes(), &leaf.pem);
        let bundle_json = self.rekor_bundle(&body, integrated_time, 4242, rekor);
        let signature_b64 = b64(signature.as_bytes());
        let chain_pem = self.chain_pem();
        let annotations = BTreeMap::from([
            (
                "dev.cosignproject.cosign/signature".to_string(),
                signature_b64.clone(),
            ),
            (
                "dev.sigstore.cosign/certificate".to_string(),
                leaf.pem.clone(),
            ),
            ("dev.sigstore.cosign/chain".to_string(), chain_pem.clone()),
            (
                "dev.sigstore.cosign/bundle".to_string(),
                bundle_json.clone(),
            ),
        ]);
        LegacyLayer {
            payload,
            signature_b64,
            certificate_pem: leaf.pem,
            chain_pem,
            bundle_json,
            annotations,
            media_type: SIMPLESIGNING_MEDIA_TYPE,
        }
    }
}
