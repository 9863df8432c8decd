//! The certificate transparency check: the leaf's embedded precertificate SCT verifies with a
//! CT log of the trusted root (cosign checks this by default; `--insecure-ignore-sct` is
//! what turns it off there).
//!
//! An SCT is the CT log's signature over the RFC 6962 §3.2 `precert_entry`: version,
//! signature type, timestamp, entry type, the SHA-256 of the issuer's SubjectPublicKeyInfo,
//! the leaf's TBSCertificate *without* the SCT extension, and the SCT's extensions. The log
//! is chosen by the SCT's log id, and its `validFor` must cover the SCT's timestamp (as
//! sigstore-go does).
//!
//! **A trusted root without CT logs** (a private Sigstore instance that runs none) makes the
//! check *not applicable*, and the report says so. It is never passed silently: as soon as
//! the root lists one CT log, a leaf needs a valid SCT from a listed log, and a leaf
//! without any SCT fails.

use sha2::Digest as _;
use x509_cert::ext::pkix::sct::{
    HashAlgorithm, SignatureAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList,
};

use super::certificate::{oid, FulcioCertificate, ParsedCertificate};
use super::crypto::{Hash, Scheme};
use super::report::{Check, KeylessError, Outcome};
use super::tbs;
use super::time::format_utc;
use super::trust_root::{LogId, TrustedRoot};

/// Check the leaf's embedded SCT. `issuer` is the certificate that signed the leaf (from the
/// verified chain).
pub fn verify_embedded_sct(
    leaf: &FulcioCertificate,
    issuer: &ParsedCertificate,
    root: &TrustedRoot,
) -> Result<Outcome, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::Sct, message);
    if root.ctlogs().is_empty() {
        return Ok(Outcome::NotApplicable(format!(
            "the trusted root ({}) lists no CT logs, so there is no log to check an SCT \
             against (a private instance without certificate transparency)",
            root.source()
        )));
    }
    let list = match leaf
        .certificate()
        .x509()
        .tbs_certificate()
        .get_extension::<SignedCertificateTimestampList>()
    {
        Ok(Some((_, list))) => list,
        Ok(None) => {
            return Err(fail(format!(
                "certificate has no embedded SCT, but the trusted root lists CT logs ({})",
                root.ctlogs()
                    .iter()
                    .map(|l| l.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
        Err(e) => {
            return Err(fail(format!(
                "the certificate's SCT list does not decode ({e})"
            )))
        }
    };
    let scts = list.parse_timestamps().map_err(|e| {
        fail(format!(
            "the certificate's SCT list does not decode ({e:?})"
        ))
    })?;
    let precert_tbs =
        tbs::tbs_without_extension(leaf.certificate().tbs_der(), &oid::CT_PRECERT_SCTS)
            .map_err(|e| fail(format!("cannot rebuild the precertificate: {e}")))?;
    let issuer_spki = issuer
        .spki_der()
        .map_err(|e| fail(format!("issuer key: {e}")))?;
    let issuer_key_hash: [u8; 32] = sha2::Sha256::digest(&issuer_spki).into();

    let mut last_problem = None;
    for serialized in &scts {
        let sct = serialized
            .parse_timestamp()
            .map_err(|e| fail(format!("an SCT does not decode ({e:?})")))?;
        let log_id = LogId::new(sct.log_id.key_id.to_vec());
        let seconds = i64::try_from(sct.timestamp / 1000).unwrap_or(i64::MAX);
        let Some(scheme) = scheme_of(&sct) else {
            last_problem = Some(format!(
                "the SCT from log {log_id} uses a signature algorithm pinsign does not verify"
            ));
            continue;
        };
        let signed =
            signed_data(&sct, &issuer_key_hash, &precert_tbs).map_err(|e| fail(e.to_string()))?;
        for log in root.ctlogs_with_id(&log_id) {
            if !log.valid_for().covers(seconds) {
                last_problem = Some(format!(
                    "the SCT from {} is dated {}, outside that log's validFor ({})",
                    log.name(),
                    format_utc(seconds),
                    log.valid_for()
                ));
                continue;
            }
            let key = match log.key() {
                Ok(key) => key,
                Err(why) => {
                    last_problem = Some(format!("CT log {}: {why}", log.name()));
                    continue;
                }
            };
            if key.verify(scheme, &signed, sct.signature.signature.as_slice()) {
                return Ok(Outcome::Passed(format!(
                    "SCT from {} ({}), dated {}",
                    log.name(),
                    log_id,
                    format_utc(seconds)
                )));
            }
            last_problem = Some(format!(
                "the SCT from {} does not verify with that log's key",
                log.name()
            ));
        }
    }
    Err(fail(last_problem.unwrap_or_else(|| {
        format!(
            "none of the certificate's {} SCT(s) is from a CT log of the trusted root ({})",
            scts.len(),
            root.source()
        )
    })))
}

fn scheme_of(sct: &SignedCertificateTimestamp) -> Option<Scheme> {
    let algorithm = &sct.signature.algorithm;
    match (&algorithm.signature, &algorithm.hash) {
        (SignatureAlgorithm::Ecdsa, HashAlgorithm::Sha256) => Some(Scheme::Ecdsa(Hash::Sha256)),
        (SignatureAlgorithm::Ecdsa, HashAlgorithm::Sha384) => Some(Scheme::Ecdsa(Hash::Sha384)),
        (SignatureAlgorithm::Ed25519, _) => Some(Scheme::Ed25519),
        (SignatureAlgorithm::Rsa, HashAlgorithm::Sha256) => Some(Scheme::RsaPkcs1Sha256),
        _ => None,
    }
}

/// The RFC 6962 §3.2 `digitally-signed` input of a precertificate SCT.
pub(crate) fn signed_data(
    sct: &SignedCertificateTimestamp,
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let extensions = sct.extensions.as_slice();
    precert_signed_data(sct.timestamp, issuer_key_hash, precert_tbs, extensions)
}

/// The bytes a CT log signs for a precertificate (RFC 6962 §3.2 `digitally-signed`): v1,
/// `certificate_timestamp`, the timestamp, `precert_entry`, the issuer key hash, the
/// 24-bit-length TBS without the SCT extension, and the 16-bit-length SCT extensions.
pub fn precert_signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
    extensions: &[u8],
) -> Result<Vec<u8>, &'static str> {
    if precert_tbs.len() >= 1 << 24 {
        return Err("precertificate TBS is too large for an SCT");
    }
    let ext_len = u16::try_from(extensions.len()).map_err(|_| "SCT extensions are too large")?;
    let mut out = Vec::with_capacity(precert_tbs.len() + 64);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&(precert_tbs.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(precert_tbs);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(extensions);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyless::chain::verify_chain;

    fn leaf(dir: &str) -> FulcioCertificate {
        let pem = std::fs::read_to_string(format!(
            "{}/tests/fixtures/keyless/legacy/{dir}/certificate.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        FulcioCertificate::from_pem(&pem).unwrap()
    }

    #[test]
    fn real_sct_verifies_and_a_wrong_issuer_key_does_not() {
        let root = TrustedRoot::public_good().unwrap();
        let cert = leaf("google-sa-cloudbuild-2023");
        let chain = verify_chain(&cert, &root, 1_683_465_314).unwrap();
        let Outcome::Passed(detail) = verify_embedded_sct(&cert, chain.issuer, &root).unwrap()
        else {
            panic!("not passed")
        };
        assert!(
            detail.starts_with("SCT from ctfe.sigstore.dev/2022"),
            "{detail}"
        );
        // The issuer key hash is part of the signed data: the root's key does not fit.
        let wrong_issuer = &chain.authority.chain()[1];
        let e = verify_embedded_sct(&cert, wrong_issuer, &root).unwrap_err();
        assert!(e.message().contains("does not verify"), "{e}");
    }

    #[test]
    fn signed_data_layout() {
        let data = precert_signed_data(0x0102, &[7; 32], b"TBS", b"").unwrap();
        let mut want = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1];
        want.extend_from_slice(&[7; 32]);
        want.extend_from_slice(&[0, 0, 3]);
        want.extend_from_slice(b"TBS");
        want.extend_from_slice(&[0, 0]);
        assert_eq!(data, want);
    }
}
