//! X.509 certificates for keyless verification: any certificate of a chain
//! ([`ParsedCertificate`]), and the Fulcio leaf with what it says about the signer
//! ([`FulcioCertificate`]).
//!
//! What a Fulcio leaf carries (sigstore/fulcio `docs/oid-info.md`):
//!
//! * the signer's identity as a SAN: a URI for workflows (`https://github.com/ORG/REPO/.github/
//!   workflows/release.yml@refs/tags/v1`), an email for people and service accounts;
//! * the OIDC issuer: `1.3.6.1.4.1.57264.1.8` (a DER UTF8String, Fulcio since 2022), falling
//!   back to the deprecated `.1.1` (the raw string bytes, no DER). If both are present they
//!   must agree: Fulcio writes the same value twice, so a disagreement is a forgery attempt or
//!   a broken CA, and the certificate is refused rather than one of them picked;
//! * the deprecated GitHub workflow extensions `.1.2`–`.1.6` (raw strings: trigger, sha,
//!   name, repository, ref), which cosign's `--certificate-github-workflow-*` flags compare;
//! * the provider-neutral `.1.9`–`.1.24` (DER UTF8Strings: build signer URI and digest,
//!   runner environment, source repository URI/digest/ref/ids, build config, trigger, run
//!   invocation URI, visibility, deployment environment, token subject).
//!
//! Parsing refuses a certificate with an extension twice (RFC 5280 §4.2) or a Fulcio
//! extension that does not decode, so every later check reads one unambiguous value.

use std::collections::BTreeSet;

use der::asn1::ObjectIdentifier;
use der::{Decode as _, DecodePem as _, Encode as _};
use serde::Serialize;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use super::crypto::{Hash, KeyError, Scheme, VerifyingKey};
use super::tbs;

/// Certificates larger than this are refused (a Fulcio leaf is ~2.5 KB).
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

/// OIDs pinsign reads; the Fulcio ones are under Sigstore's PEN 57264.
pub mod oid {
    use der::asn1::ObjectIdentifier;

    pub const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
    pub const GITHUB_WORKFLOW_TRIGGER: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.2");
    pub const GITHUB_WORKFLOW_SHA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3");
    pub const GITHUB_WORKFLOW_NAME: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.4");
    pub const GITHUB_WORKFLOW_REPOSITORY: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
    pub const GITHUB_WORKFLOW_REF: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6");
    /// OtherName SAN type (a username), inside the SAN extension.
    pub const OTHERNAME_SAN: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
    pub const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
    /// The embedded SCT list (RFC 6962 §3.3).
    pub const CT_PRECERT_SCTS: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
    pub const KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
    pub const ECDSA_WITH_SHA256: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_WITH_SHA384: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_WITH_SHA512: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
    pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
    pub const SHA256_WITH_RSA: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    pub const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
    pub const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
    pub const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
    pub const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
    pub const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
    pub const AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");

    /// `1.3.6.1.4.1.57264.1.N`.
    pub(crate) fn fulcio(n: u32) -> Option<ObjectIdentifier> {
        ObjectIdentifier::new(&format!("1.3.6.1.4.1.57264.1.{n}")).ok()
    }
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CertificateError(String);

/// A parsed X.509 certificate with the bytes its signature covers and its public key.
#[derive(Clone, Debug)]
pub struct ParsedCertificate {
    der: Vec<u8>,
    tbs_der: Vec<u8>,
    x509: x509_cert::Certificate,
    key: Result<VerifyingKey, KeyError>,
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
    not_before: i64,
    not_after: i64,
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
}

impl ParsedCertificate {
    /// Parse a DER certificate. Refuses a certificate with an extension twice.
    pub fn from_der(der: &[u8]) -> Result<ParsedCertificate, CertificateError> {
        if der.len() > MAX_CERTIFICATE_BYTES {
            return Err(CertificateError(format!(
                "certificate is {} bytes, more than the {MAX_CERTIFICATE_BYTES} accepted",
                der.len()
            )));
        }
        let x509 = x509_cert::Certificate::from_der(der)
            .map_err(|e| CertificateError(format!("not a DER X.509 certificate ({e})")))?;
        let tbs_der = tbs::tbs_bytes(der)
            .map_err(|e| CertificateError(format!("certificate: {e}")))?
            .to_vec();
        let tbs = x509.tbs_certificate();
        let mut seen = BTreeSet::new();
        for ext in tbs.extensions().map(Vec::as_slice).unwrap_or(&[]) {
            if !seen.insert(ext.extn_id.to_string()) {
                return Err(CertificateError(format!(
                    "certificate has extension {} twice",
                    ext.extn_id
                )));
            }
        }
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| CertificateError(format!("certificate public key: {e}")))?;
        let encode_name = |name: &x509_cert::name::Name| {
            name.to_der()
                .map_err(|e| CertificateError(format!("certificate name: {e}")))
        };
        let basic_constraints = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| CertificateError(format!("basicConstraints does not decode ({e})")))?
            .map(|(_, bc)| bc);
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(|e| CertificateError(format!("keyUsage does not decode ({e})")))?
            .map(|(_, ku)| ku);
        Ok(ParsedCertificate {
            der: der.to_vec(),
            key: VerifyingKey::from_spki_der(&spki),
            subject_der: encode_name(tbs.subject())?,
            issuer_der: encode_name(tbs.issuer())?,
            not_before: unix(tbs.validity().not_before),
            not_after: unix(tbs.validity().not_after),
            basic_constraints,
            key_usage,
            tbs_der,
            x509,
        })
    }

    /// Parse one PEM `CERTIFICATE` block.
    pub fn from_pem(pem: &str) -> Result<ParsedCertificate, CertificateError> {
        if pem.len() > MAX_CERTIFICATE_BYTES * 2 {
            return Err(CertificateError("certificate PEM is too large".into()));
        }
        let x509 = x509_cert::Certificate::from_pem(pem.trim().as_bytes())
            .map_err(|e| CertificateError(format!("not a PEM certificate ({e})")))?;
        let der = x509
            .to_der()
            .map_err(|e| CertificateError(format!("certificate: {e}")))?;
        ParsedCertificate::from_der(&der)
    }

    /// Parse every PEM `CERTIFICATE` block of `pem`, in order (a chain annotation).
    pub fn chain_from_pem(pem: &str) -> Result<Vec<ParsedCertificate>, CertificateError> {
        if pem.len() > MAX_CERTIFICATE_BYTES * 8 {
            return Err(CertificateError(
                "certificate chain PEM is too large".into(),
            ));
        }
        let certs = x509_cert::Certificate::load_pem_chain(pem.trim().as_bytes())
            .map_err(|e| CertificateError(format!("not a PEM certificate chain ({e})")))?;
        certs
            .iter()
            .map(|c| {
                let der = c
                    .to_der()
                    .map_err(|e| CertificateError(format!("certificate: {e}")))?;
                ParsedCertificate::from_der(&der)
            })
            .collect()
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The TBSCertificate bytes as issued (what the issuer signed).
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.x509
    }

    /// The subject public key, or why it cannot verify anything.
    pub fn public_key(&self) -> Result<&VerifyingKey, &KeyError> {
        self.key.as_ref()
    }

    /// The subject's DER SubjectPublicKeyInfo (what an SCT's issuer key hash covers).
    pub fn spki_der(&self) -> Result<Vec<u8>, CertificateError> {
        self.x509
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| CertificateError(format!("certificate public key: {e}")))
    }

    /// Subject name (RFC 4514 text), for messages; `(empty)` for a Fulcio leaf.
    pub fn subject(&self) -> String {
        let text = self.x509.tbs_certificate().subject().to_string();
        if text.is_empty() {
            "(empty)".into()
        } else {
            text
        }
    }

    /// Issuer name (RFC 4514 text), for messages.
    pub fn issuer(&self) -> String {
        self.x509.tbs_certificate().issuer().to_string()
    }

    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer_der
    }

    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// True when `t` (Unix seconds) is within notBefore..=notAfter.
    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// basicConstraints cA.
    pub fn is_ca(&self) -> bool {
        self.basic_constraints.as_ref().is_some_and(|bc| bc.ca)
    }

    /// basicConstraints pathLenConstraint, when the certificate is a CA and sets one.
    pub fn path_len_constraint(&self) -> Option<u8> {
        self.basic_constraints
            .as_ref()
            .filter(|bc| bc.ca)
            .and_then(|bc| bc.path_len_constraint)
    }

    /// True unless a keyUsage extension is present without `bit`.
    pub(crate) fn key_usage_allows(&self, bit: KeyUsageBit) -> bool {
        self.key_usage.as_ref().is_none_or(|ku| match bit {
            KeyUsageBit::DigitalSignature => ku.digital_signature(),
            KeyUsageBit::KeyCertSign => ku.key_cert_sign(),
        })
    }

    /// The extensions this certificate marks critical.
    pub(crate) fn critical_extensions(&self) -> Vec<ObjectIdentifier> {
        self.x509
            .tbs_certificate()
            .extensions()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter(|e| e.critical)
            .map(|e| e.extn_id)
            .collect()
    }

    /// The value bytes of extension `id`, if present.
    pub(crate) fn extension_value(&self, id: &ObjectIdentifier) -> Option<&[u8]> {
        self.x509
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|e| e.extn_id == *id)
            .map(|e| e.extn_value.as_bytes())
    }

    /// True when `issuer`'s key verifies this certificate's signature and `issuer`'s
    /// subject is this certificate's issuer name. `Err` says why not, in words.
    pub(crate) fn is_signed_by(&self, issuer: &ParsedCertificate) -> Result<(), String> {
        if self.issuer_der != issuer.subject_der {
            return Err(format!(
                "its issuer is {}, not {}",
                self.issuer(),
                issuer.subject()
            ));
        }
        let outer = self.x509.signature_algorithm();
        if outer != self.x509.tbs_certificate().signature() {
            return Err("its two signature algorithm fields differ".into());
        }
        let scheme = scheme_of(&outer.oid)
            .ok_or_else(|| format!("its signature algorithm {} is not supported", outer.oid))?;
        let key = issuer
            .public_key()
            .map_err(|e| format!("the key of {} cannot verify ({e})", issuer.subject()))?;
        let signature = self
            .x509
            .signature()
            .as_bytes()
            .ok_or("its signature is not a whole number of bytes")?;
        if key.verify(scheme, &self.tbs_der, signature) {
            Ok(())
        } else {
            Err(format!(
                "its signature ({scheme}) does not verify with the key of {}",
                issuer.subject()
            ))
        }
    }
}

/// The keyUsage bits keyless verification requires.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeyUsageBit {
    DigitalSignature,
    KeyCertSign,
}

/// The verification scheme for an X.509 `signatureAlgorithm`.
pub(crate) fn scheme_of(algorithm: &ObjectIdentifier) -> Option<Scheme> {
    Some(match *algorithm {
        oid::ECDSA_WITH_SHA256 => Scheme::Ecdsa(Hash::Sha256),
        oid::ECDSA_WITH_SHA384 => Scheme::Ecdsa(Hash::Sha384),
        oid::ECDSA_WITH_SHA512 => Scheme::Ecdsa(Hash::Sha512),
        oid::ED25519 => Scheme::Ed25519,
        oid::SHA256_WITH_RSA => Scheme::RsaPkcs1Sha256,
        _ => return None,
    })
}

fn unix(time: x509_cert::time::Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// A Subject Alternative Name that can be an identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum San {
    /// A URI SAN: a CI workflow (`https://github.com/ORG/REPO/.github/workflows/W@REF`).
    Uri(String),
    /// An email SAN: a person or a service account.
    Email(String),
    /// Fulcio's OtherName SAN (`1.3.6.1.4.1.57264.1.7`): a username.
    Username(String),
}

impl San {
    pub fn value(&self) -> &str {
        match self {
            San::Uri(v) | San::Email(v) | San::Username(v) => v,
        }
    }
}

/// Which extension the OIDC issuer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum IssuerSource {
    /// `1.3.6.1.4.1.57264.1.8`, DER UTF8String.
    #[serde(rename = "1.3.6.1.4.1.57264.1.8")]
    V2,
    /// `1.3.6.1.4.1.57264.1.1`, raw bytes (deprecated, the only one before mid-2022).
    #[serde(rename = "1.3.6.1.4.1.57264.1.1")]
    V1,
}

/// The deprecated GitHub workflow extensions `.1.2`–`.1.6` (raw strings), the ones cosign's
/// `--certificate-github-workflow-*` flags compare.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GithubWorkflow {
    /// `.1.2`: the `event_name` claim (`push`, `release`, `workflow_dispatch`).
    pub trigger: Option<String>,
    /// `.1.3`: the `sha` claim (commit).
    pub sha: Option<String>,
    /// `.1.4`: the `workflow` claim (the workflow's name).
    pub name: Option<String>,
    /// `.1.5`: the `repository` claim (`ORG/REPO`).
    pub repository: Option<String>,
    /// `.1.6`: the `ref` claim (`refs/tags/v1.2.3`).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
}

/// The provider-neutral build extensions `.1.9`–`.1.24` (DER UTF8Strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BuildExtensions {
    /// `.1.9` Build Signer URI (the workflow file and ref that signed).
    pub build_signer_uri: Option<String>,
    /// `.1.10` Build Signer Digest.
    pub build_signer_digest: Option<String>,
    /// `.1.11` Runner Environment (`github-hosted`, `self-hosted`).
    pub runner_environment: Option<String>,
    /// `.1.12` Source Repository URI (`https://github.com/ORG/REPO`).
    pub source_repository_uri: Option<String>,
    /// `.1.13` Source Repository Digest (commit).
    pub source_repository_digest: Option<String>,
    /// `.1.14` Source Repository Ref (`refs/tags/v1`).
    pub source_repository_ref: Option<String>,
    /// `.1.15` Source Repository Identifier.
    pub source_repository_identifier: Option<String>,
    /// `.1.16` Source Repository Owner URI.
    pub source_repository_owner_uri: Option<String>,
    /// `.1.17` Source Repository Owner Identifier.
    pub source_repository_owner_identifier: Option<String>,
    /// `.1.18` Build Config URI.
    pub build_config_uri: Option<String>,
    /// `.1.19` Build Config Digest.
    pub build_config_digest: Option<String>,
    /// `.1.20` Build Trigger (`push`).
    pub build_trigger: Option<String>,
    /// `.1.21` Run Invocation URI.
    pub run_invocation_uri: Option<String>,
    /// `.1.22` Source Repository Visibility At Signing.
    pub source_repository_visibility: Option<String>,
    /// `.1.23` Deployment Environment.
    pub deployment_environment: Option<String>,
    /// `.1.24` Token Subject (the raw `sub` claim).
    pub token_subject: Option<String>,
}

impl BuildExtensions {
    fn slot(&mut self, n: u32) -> Option<&mut Option<String>> {
        Some(match n {
            9 => &mut self.build_signer_uri,
            10 => &mut self.build_signer_digest,
            11 => &mut self.runner_environment,
            12 => &mut self.source_repository_uri,
            13 => &mut self.source_repository_digest,
            14 => &mut self.source_repository_ref,
            15 => &mut self.source_repository_identifier,
            16 => &mut self.source_repository_owner_uri,
            17 => &mut self.source_repository_owner_identifier,
            18 => &mut self.build_config_uri,
            19 => &mut self.build_config_digest,
            20 => &mut self.build_trigger,
            21 => &mut self.run_invocation_uri,
            22 => &mut self.source_repository_visibility,
            23 => &mut self.deployment_environment,
            24 => &mut self.token_subject,
            _ => return None,
        })
    }
}

/// A Fulcio-issued leaf certificate and the signer facts it carries.
#[derive(Clone, Debug)]
pub struct FulcioCertificate {
    cert: ParsedCertificate,
    sans: Vec<San>,
    issuer: Option<(String, IssuerSource)>,
    github: GithubWorkflow,
    build: BuildExtensions,
    code_signing: bool,
}

impl FulcioCertificate {
    pub fn from_der(der: &[u8]) -> Result<FulcioCertificate, CertificateError> {
        FulcioCertificate::new(ParsedCertificate::from_der(der)?)
    }

    pub fn from_pem(pem: &str) -> Result<FulcioCertificate, CertificateError> {
        FulcioCertificate::new(ParsedCertificate::from_pem(pem)?)
    }

    fn new(cert: ParsedCertificate) -> Result<FulcioCertificate, CertificateError> {
        let tbs = cert.x509().tbs_certificate();
        let sans = match tbs.get_extension::<SubjectAltName>() {
            Ok(Some((_, san))) => san.0.iter().filter_map(identity_san).collect(),
            Ok(None) => Vec::new(),
            Err(e) => {
                return Err(CertificateError(format!(
                    "subjectAltName does not decode ({e})"
                )))
            }
        };
        let code_signing = match tbs.get_extension::<ExtendedKeyUsage>() {
            Ok(Some((_, eku))) => eku.0.contains(&oid::KP_CODE_SIGNING),
            Ok(None) => false,
            Err(e) => {
                return Err(CertificateError(format!(
                    "extendedKeyUsage does not decode ({e})"
                )))
            }
        };
        let raw = |id: &ObjectIdentifier| -> Result<Option<String>, CertificateError> {
            cert.extension_value(id)
                .map(|v| {
                    String::from_utf8(v.to_vec())
                        .map_err(|_| CertificateError(format!("extension {id} is not UTF-8 text")))
                })
                .transpose()
        };
        let utf8 = |id: &ObjectIdentifier| -> Result<Option<String>, CertificateError> {
            cert.extension_value(id)
                .map(|v| {
                    der::asn1::Utf8StringRef::from_der(v)
                        .map(|s| s.as_str().to_string())
                        .map_err(|_| {
                            CertificateError(format!("extension {id} is not a DER UTF8String"))
                        })
                })
                .transpose()
        };
        let issuer = match (utf8(&oid::ISSUER_V2)?, raw(&oid::ISSUER_V1)?) {
            (Some(v2), Some(v1)) if v2 != v1 => {
                return Err(CertificateError(format!(
                    "certificate names two OIDC issuers: {v2} (1.3.6.1.4.1.57264.1.8) and {v1} \
                     (1.3.6.1.4.1.57264.1.1)"
                )))
            }
            (Some(v2), _) => Some((v2, IssuerSource::V2)),
            (None, Some(v1)) => Some((v1, IssuerSource::V1)),
            (None, None) => None,
        };
        let github = GithubWorkflow {
            trigger: raw(&oid::GITHUB_WORKFLOW_TRIGGER)?,
            sha: raw(&oid::GITHUB_WORKFLOW_SHA)?,
            name: raw(&oid::GITHUB_WORKFLOW_NAME)?,
            repository: raw(&oid::GITHUB_WORKFLOW_REPOSITORY)?,
            git_ref: raw(&oid::GITHUB_WORKFLOW_REF)?,
        };
        let mut build = BuildExtensions::default();
        for n in 9..=24 {
            let Some(id) = oid::fulcio(n) else { continue };
            let value = utf8(&id)?;
            if let Some(slot) = build.slot(n) {
                *slot = value;
            }
        }
        Ok(FulcioCertificate {
            cert,
            sans,
            issuer,
            github,
            build,
            code_signing,
        })
    }

    /// The certificate itself (bytes, key, validity, names).
    pub fn certificate(&self) -> &ParsedCertificate {
        &self.cert
    }

    pub fn der(&self) -> &[u8] {
        self.cert.der()
    }

    /// The URI, email and username SANs, in certificate order.
    pub fn subject_alternative_names(&self) -> &[San] {
        &self.sans
    }

    /// The OIDC issuer (`.1.8`, else `.1.1`), if the certificate has one.
    pub fn oidc_issuer(&self) -> Option<&str> {
        self.issuer.as_ref().map(|(v, _)| v.as_str())
    }

    /// Which extension [`Self::oidc_issuer`] came from.
    pub fn oidc_issuer_source(&self) -> Option<IssuerSource> {
        self.issuer.as_ref().map(|(_, s)| *s)
    }

    /// The deprecated GitHub workflow extensions.
    pub fn github_workflow(&self) -> &GithubWorkflow {
        &self.github
    }

    /// The provider-neutral build extensions.
    pub fn build_extensions(&self) -> &BuildExtensions {
        &self.build
    }

    /// EKU includes codeSigning.
    pub fn has_code_signing_eku(&self) -> bool {
        self.code_signing
    }

    pub fn not_before(&self) -> i64 {
        self.cert.not_before()
    }

    pub fn not_after(&self) -> i64 {
        self.cert.not_after()
    }

    /// True when `t` (Unix seconds) is within notBefore..=notAfter.
    pub fn valid_at(&self, t: i64) -> bool {
        self.cert.valid_at(t)
    }

    /// The signer's public key.
    pub fn public_key(&self) -> Result<&VerifyingKey, &KeyError> {
        self.cert.public_key()
    }

    /// Critical extensions this verifier does not know: RFC 5280 §4.2 says a certificate
    /// with one must be refused.
    pub(crate) fn unknown_critical_extensions(&self) -> Vec<ObjectIdentifier> {
        const KNOWN: [ObjectIdentifier; 6] = [
            oid::KEY_USAGE,
            oid::SUBJECT_ALT_NAME,
            oid::BASIC_CONSTRAINTS,
            oid::EXTENDED_KEY_USAGE,
            oid::SUBJECT_KEY_ID,
            oid::AUTHORITY_KEY_ID,
        ];
        self.cert
            .critical_extensions()
            .into_iter()
            .filter(|id| !KNOWN.contains(id))
            .collect()
    }
}

fn identity_san(name: &GeneralName) -> Option<San> {
    match name {
        GeneralName::UniformResourceIdentifier(uri) => Some(San::Uri(uri.as_str().to_string())),
        GeneralName::Rfc822Name(email) => Some(San::Email(email.as_str().to_string())),
        GeneralName::OtherName(other) if other.type_id == oid::OTHERNAME_SAN => {
            der::asn1::Utf8StringRef::try_from(&other.value)
                .ok()
                .map(|s| San::Username(s.as_str().to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keyless/legacy/"
    );

    fn leaf(dir: &str) -> FulcioCertificate {
        let pem = std::fs::read_to_string(format!("{LEGACY}{dir}/certificate.pem")).unwrap();
        FulcioCertificate::from_pem(&pem).unwrap()
    }

    #[test]
    fn github_actions_leaf_extensions() {
        let c = leaf("gha-go-bazel-v0.0.30");
        assert_eq!(
            c.subject_alternative_names(),
            [San::Uri(
                "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/\
                 release.yaml@refs/tags/v0.0.30"
                    .into()
            )]
        );
        assert_eq!(
            c.oidc_issuer(),
            Some("https://token.actions.githubusercontent.com")
        );
        assert_eq!(c.oidc_issuer_source(), Some(IssuerSource::V2));
        let gh = c.github_workflow();
        assert_eq!(gh.trigger.as_deref(), Some("push"));
        assert_eq!(
            gh.sha.as_deref(),
            Some("7624bd5f279fb5d4700ea72c1b2373ee33960700")
        );
        assert_eq!(gh.name.as_deref(), Some("Release"));
        assert_eq!(
            gh.repository.as_deref(),
            Some("salrashid123/go-bazel-github-workflow")
        );
        assert_eq!(gh.git_ref.as_deref(), Some("refs/tags/v0.0.30"));
        let b = c.build_extensions();
        assert_eq!(
            b.source_repository_uri.as_deref(),
            Some("https://github.com/salrashid123/go-bazel-github-workflow")
        );
        assert_eq!(
            b.source_repository_ref.as_deref(),
            Some("refs/tags/v0.0.30")
        );
        assert_eq!(b.runner_environment.as_deref(), Some("github-hosted"));
        assert_eq!(
            b.source_repository_identifier.as_deref(),
            Some("1150755799")
        );
        assert_eq!(b.build_trigger.as_deref(), Some("push"));
        assert_eq!(b.source_repository_visibility.as_deref(), Some("public"));
        assert_eq!(
            b.run_invocation_uri.as_deref(),
            Some("https://github.com/salrashid123/go-bazel-github-workflow/actions/runs/22498294485/attempts/1")
        );
        assert_eq!(b.token_subject, None);
        assert!(c.has_code_signing_eku());
        assert!(!c.certificate().is_ca());
        assert!(c.unknown_critical_extensions().is_empty());
        assert_eq!(c.not_before(), 1_772_216_446);
        assert_eq!(c.not_after(), 1_772_217_046);
        assert_eq!(c.public_key().unwrap().kind(), "ECDSA P-256");
        assert_eq!(
            c.certificate().issuer(),
            "CN=sigstore-intermediate,O=sigstore.dev"
        );
    }

    #[test]
    fn email_leaf_with_only_the_old_issuer_extension_and_none() {
        let google = leaf("google-sa-cloudbuild-2023");
        assert_eq!(
            google.subject_alternative_names(),
            [San::Email(
                "cosign-svc-account@mineral-minutia-820.iam.gserviceaccount.com".into()
            )]
        );
        assert_eq!(google.oidc_issuer(), Some("https://accounts.google.com"));
        assert_eq!(google.github_workflow(), &GithubWorkflow::default());
        let old = leaf("email-kubewarden-2021");
        assert_eq!(old.oidc_issuer(), None, "2021 Fulcio wrote no issuer");
        assert_eq!(
            old.subject_alternative_names(),
            [San::Email("flavio@castelli.me".into())]
        );
    }

    #[test]
    fn chain_annotation_parses_in_order() {
        let pem =
            std::fs::read_to_string(format!("{LEGACY}gha-go-bazel-v0.0.30/chain.pem")).unwrap();
        let chain = ParsedCertificate::chain_from_pem(&pem).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            chain[0].subject(),
            "CN=sigstore-intermediate,O=sigstore.dev"
        );
        assert!(chain[0].is_ca());
        assert_eq!(chain[0].path_len_constraint(), Some(0));
        assert!(chain[0].is_signed_by(&chain[1]).is_ok());
        assert!(chain[1].is_signed_by(&chain[0]).is_err());
        let leaf = leaf("gha-go-bazel-v0.0.30");
        assert!(leaf.certificate().is_signed_by(&chain[0]).is_ok());
        let e = leaf.certificate().is_signed_by(&chain[1]).unwrap_err();
        assert!(e.contains("issuer is CN=sigstore-intermediate"), "{e}");
    }

    #[test]
    fn not_a_certificate() {
        assert!(FulcioCertificate::from_pem("hello").is_err());
        assert!(FulcioCertificate::from_der(&[0x30, 0x00]).is_err());
        assert!(ParsedCertificate::from_der(&vec![0u8; MAX_CERTIFICATE_BYTES + 1]).is_err());
    }
}
