//! The keyless verification pipeline: every check, in order, on plain inputs. The legacy
//! `.sig` code ([`super::legacy`]) and the Sigstore bundle code both end here.
//!
//! Order (the first failure is the one reported):
//!
//! 1. [`Check::Input`]: the leaf certificate parses.
//! 2. [`Check::SignedEntryTimestamp`]: the SET verifies with the trusted log named by the
//!    entry's log id, inside that log's `validFor`. From here on T = `integratedTime`.
//! 3. [`Check::InclusionProof`]: when the entry has one, its Merkle path and signed checkpoint.
//! 4. [`Check::CertificateChain`]: leaf to a trusted CA valid at T, link by link.
//! 5. [`Check::CertificateValidity`]: notBefore <= T <= notAfter.
//! 6. [`Check::CodeSigning`]: EKU codeSigning, digitalSignature, not a CA, no unknown
//!    critical extension.
//! 7. [`Check::Sct`]: embedded SCT from a trusted CT log (not applicable without CT logs).
//! 8. [`Check::Signature`]: over the bytes, the digest, or the DSSE PAE, with the leaf key.
//! 9. [`Check::TlogBody`]: the entry names this signature, certificate and artifact.
//! 10. [`Check::Identity`], [`Check::Issuer`], [`Check::GithubWorkflow`]: the policy.
//!
//! Time comes first because every later time check needs a trusted T; the policy comes last
//! so a "wrong identity" is only ever said about a signature that is otherwise genuine.

use serde::Serialize;
use sha2::Digest as _;

use super::certificate::{FulcioCertificate, GithubWorkflow, KeyUsageBit, ParsedCertificate};
use super::chain::{self, VerifiedChain};
use super::identity::IdentityPolicy;
use super::rekor::body::{self, ExpectedArtifact};
use super::rekor::{self, TlogEntry};
use super::report::{Check, CheckReport, KeylessError, Outcome, Reports};
use super::sct;
use super::time::format_utc;
use super::trust_root::TrustedRoot;

/// What was signed.
#[derive(Clone, Copy, Debug)]
pub enum SignedArtifact<'a> {
    /// A signature over exactly these bytes: a legacy simple-signing payload, a blob. The
    /// Rekor entry must be a `hashedrekord`/`rekord` of their SHA-256.
    Bytes(&'a [u8]),
    /// A signature over a blob known only by its SHA-256 (a message-signature bundle whose
    /// file is not at hand). Needs an ECDSA leaf key, which can verify a digest.
    Sha256(&'a [u8; 32]),
    /// A DSSE envelope: the signature is over PAE(`payload_type`, `payload`) and the Rekor
    /// entry must be a `dsse`/`intoto` entry of the payload's SHA-256.
    Dsse {
        payload_type: &'a str,
        payload: &'a [u8],
    },
}

/// The keyless material of one signature, as plain data.
#[derive(Clone, Copy, Debug)]
pub struct KeylessInput<'a> {
    /// The Fulcio leaf, DER.
    pub certificate_der: &'a [u8],
    /// Certificates the signature carried above the leaf (cosign's chain annotation, a
    /// bundle's `x509CertificateChain`), DER. Only a hint: the path comes from the trusted
    /// root, and the report says whether the hint matched it.
    pub chain_hint: &'a [Vec<u8>],
    /// The signature, raw (DER for ECDSA).
    pub signature: &'a [u8],
    pub tlog_entry: &'a TlogEntry,
    pub artifact: SignedArtifact<'a>,
}

/// A verified keyless signature: who signed, when, where it is logged, and every check with
/// what it found.
#[derive(Clone, Debug, Serialize)]
pub struct KeylessVerified {
    /// The SAN that matched the identity policy.
    pub identity: String,
    /// The certificate's OIDC issuer.
    pub issuer: String,
    /// T: when Rekor integrated the entry (Unix seconds), signed by the SET.
    pub integrated_time: i64,
    pub log_index: i64,
    /// The Rekor log id, lower-case hex.
    pub log_id: String,
    /// The Rekor log's URL.
    pub log_url: String,
    /// The Fulcio CA the certificate chains to.
    pub certificate_authority: String,
    /// The certificate's GitHub workflow extensions (all `None` for non-GitHub signers).
    pub github_workflow: GithubWorkflow,
    pub checks: Vec<CheckReport>,
}

/// DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(payload)> <payload>`,
/// what a DSSE signature is over.
pub fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Verify one keyless signature: certificate, chain, SCT, Rekor entry, signature and identity.
pub fn verify_keyless(
    input: &KeylessInput<'_>,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<KeylessVerified, KeylessError> {
    let mut reports = Reports::default();
    let entry = input.tlog_entry;

    // 1. Input.
    let leaf = FulcioCertificate::from_der(input.certificate_der)
        .map_err(|e| KeylessError::new(Check::Input, format!("signing certificate: {e}")))?;

    // 2. SET: the signing time T.
    let log = rekor::verify_set(entry, root)?;
    let t = entry.integrated_time;
    reports.passed(
        Check::SignedEntryTimestamp,
        format!(
            "signed by {} (log {}), logIndex {}, integrated {}",
            log.name(),
            log.log_id(),
            entry.log_index,
            format_utc(t)
        ),
    );

    // 3. Inclusion proof.
    let outcome = rekor::verify_inclusion_proof(entry, log)?;
    reports.push(Check::InclusionProof, outcome);

    // 4. Chain at T.
    let chain = chain::verify_chain(&leaf, root, t)?;
    reports.passed(
        Check::CertificateChain,
        format!(
            "{}; {}",
            chain.describe(),
            hint_note(input.chain_hint, &chain)
        ),
    );

    // 5. Leaf validity at T.
    if !leaf.valid_at(t) {
        return Err(KeylessError::new(
            Check::CertificateValidity,
            format!(
                "certificate was valid from {} to {}, but the Rekor entry was integrated at {}",
                format_utc(leaf.not_before()),
                format_utc(leaf.not_after()),
                format_utc(t)
            ),
        ));
    }
    reports.passed(
        Check::CertificateValidity,
        format!(
            "valid {} to {}, signed at {}",
            format_utc(leaf.not_before()),
            format_utc(leaf.not_after()),
            format_utc(t)
        ),
    );

    // 6. A code-signing certificate.
    check_code_signing(&leaf)?;
    reports.passed(
        Check::CodeSigning,
        "extendedKeyUsage codeSigning, not a CA, no unknown critical extension",
    );

    // 7. SCT.
    let outcome = sct::verify_embedded_sct(&leaf, chain.issuer, root)?;
    reports.push(Check::Sct, outcome);

    // 8. Signature.
    let detail = verify_signature(&leaf, input.signature, input.artifact)?;
    reports.passed(Check::Signature, detail);

    // 9. The Rekor entry is this signature.
    let expected = match input.artifact {
        SignedArtifact::Bytes(bytes) => {
            ExpectedArtifact::Message(sha2::Sha256::digest(bytes).into())
        }
        SignedArtifact::Sha256(digest) => ExpectedArtifact::Message(*digest),
        SignedArtifact::Dsse { payload, .. } => {
            ExpectedArtifact::DssePayload(sha2::Sha256::digest(payload).into())
        }
    };
    let kind = body::check_body(
        &entry.canonicalized_body,
        entry.kind_version.as_ref(),
        input.signature,
        leaf.der(),
        expected,
    )
    .map_err(|message| KeylessError::new(Check::TlogBody, message))?;
    reports.passed(
        Check::TlogBody,
        format!("{kind} entry of this signature, certificate and artifact"),
    );

    // 10. Policy.
    let identity = policy.check_identity(&leaf)?;
    reports.passed(Check::Identity, identity.clone());
    let issuer = policy.check_issuer(&leaf)?;
    reports.passed(Check::Issuer, issuer.clone());
    let outcome = policy.check_github_workflow(&leaf)?;
    reports.push(Check::GithubWorkflow, outcome);

    Ok(KeylessVerified {
        identity,
        issuer,
        integrated_time: t,
        log_index: entry.log_index,
        log_id: log.log_id().to_hex(),
        log_url: log.base_url().to_string(),
        certificate_authority: chain.authority.uri().to_string(),
        github_workflow: leaf.github_workflow().clone(),
        checks: reports.into_vec(),
    })
}

/// EKU codeSigning, keyUsage digitalSignature (when present), not a CA, and no critical
/// extension this verifier does not understand (RFC 5280 §4.2).
fn check_code_signing(leaf: &FulcioCertificate) -> Result<(), KeylessError> {
    let fail = |message: String| KeylessError::new(Check::CodeSigning, message);
    if !leaf.has_code_signing_eku() {
        return Err(fail(
            "certificate is not for code signing (no extendedKeyUsage codeSigning)".into(),
        ));
    }
    if !leaf
        .certificate()
        .key_usage_allows(KeyUsageBit::DigitalSignature)
    {
        return Err(fail(
            "certificate's keyUsage does not allow digitalSignature".into(),
        ));
    }
    if leaf.certificate().is_ca() {
        return Err(fail("the signing certificate is a CA certificate".into()));
    }
    if let Some(unknown) = leaf.unknown_critical_extensions().first() {
        return Err(fail(format!(
            "certificate has a critical extension pinsign does not know ({unknown})"
        )));
    }
    Ok(())
}

fn verify_signature(
    leaf: &FulcioCertificate,
    signature: &[u8],
    artifact: SignedArtifact<'_>,
) -> Result<String, KeylessError> {
    let fail = |message: String| KeylessError::new(Check::Signature, message);
    let key = leaf
        .public_key()
        .map_err(|e| fail(format!("the certificate's key cannot verify: {e}")))?;
    let scheme = key.natural_scheme();
    let (ok, what) = match artifact {
        SignedArtifact::Bytes(bytes) => (key.verify(scheme, bytes, signature), "the payload bytes"),
        SignedArtifact::Sha256(digest) => {
            if !key.is_ecdsa() {
                return Err(fail(format!(
                    "a signature over a digest can only be checked with an ECDSA key, the \
                     certificate has an {} key",
                    key.kind()
                )));
            }
            (
                key.verify_ecdsa_prehash(digest, signature),
                "the artifact's SHA-256",
            )
        }
        SignedArtifact::Dsse {
            payload_type,
            payload,
        } => (
            key.verify(scheme, &dsse_pae(payload_type, payload), signature),
            "the DSSE envelope (PAE)",
        ),
    };
    if ok {
        Ok(format!(
            "{scheme} over {what}, with the certificate's {} key",
            key.kind()
        ))
    } else {
        Err(fail(format!(
            "signature does not verify over {what} with the certificate's key"
        )))
    }
}

/// What the chain hint says next to the path the trusted root gave.
fn hint_note(hint: &[Vec<u8>], chain: &VerifiedChain<'_>) -> String {
    if hint.is_empty() {
        return "no chain was attached to the signature".into();
    }
    let trusted: Vec<&[u8]> = chain
        .authority
        .chain()
        .iter()
        .map(ParsedCertificate::der)
        .collect();
    let attached: Vec<&[u8]> = hint.iter().map(Vec::as_slice).collect();
    if attached == trusted {
        "the attached chain is the trusted root's".into()
    } else {
        "the attached chain differs from the trusted root's and was not used".into()
    }
}

impl KeylessVerified {
    /// The report for one check, if it ran.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|r| r.check == check)
            .map(|r| &r.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_spec_encoding() {
        // The example of the DSSE spec (protocol.md).
        assert_eq!(
            dsse_pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(dsse_pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }
}
