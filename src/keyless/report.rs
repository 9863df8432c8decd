//! The named checks of keyless verification, what each one found, and the failure that names
//! the first check that did not hold.
//!
//! Every check has a name ([`Check`]) so a reader (and a test) sees which one failed, and a
//! verified signature carries the list of checks with what each found ([`CheckReport`]),
//! including the ones that did not apply (a private instance without CT logs, a legacy
//! signature without an inclusion proof). A check that does not apply is reported as such,
//! never as passed.

use serde::Serialize;

/// One check of keyless verification, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The inputs parse: certificate PEM/DER, base64 signature, Rekor bundle JSON, payload.
    Input,
    /// The Rekor SignedEntryTimestamp verifies with the trusted log key named by the logID,
    /// and that log's `validFor` covers the integrated time. This makes T trustworthy.
    SignedEntryTimestamp,
    /// The Merkle inclusion proof leads to the root hash of a checkpoint signed by the log.
    InclusionProof,
    /// The leaf chains, link by link, to a certificate authority of the trusted root whose
    /// `validFor` covers T; every CA certificate is a CA and valid at T.
    CertificateChain,
    /// The leaf certificate was valid at T (notBefore <= T <= notAfter).
    CertificateValidity,
    /// The leaf is a code-signing certificate: EKU codeSigning, not a CA, no unknown
    /// critical extension.
    CodeSigning,
    /// The leaf's embedded SCT verifies with a CT log of the trusted root.
    Sct,
    /// The signature verifies with the leaf's key over the signed bytes.
    Signature,
    /// The Rekor entry body names this signature, this certificate and this artifact.
    TlogBody,
    /// The signed payload names the image digest being verified.
    PayloadDigest,
    /// (DSSE bundles) the in-toto statement is about the image or file being verified, with
    /// the predicate type and annotations required.
    Statement,
    /// A SAN of the certificate matches the expected identity.
    Identity,
    /// The certificate's OIDC issuer matches the expected issuer.
    Issuer,
    /// The GitHub workflow extensions match the expected values.
    GithubWorkflow,
}

impl Check {
    /// The check's name in words, as messages and `--output json` use it.
    pub fn name(self) -> &'static str {
        match self {
            Check::Input => "input",
            Check::SignedEntryTimestamp => "Rekor signed entry timestamp",
            Check::InclusionProof => "Rekor inclusion proof",
            Check::CertificateChain => "certificate chain",
            Check::CertificateValidity => "certificate validity at the signing time",
            Check::CodeSigning => "code-signing certificate",
            Check::Sct => "certificate transparency (SCT)",
            Check::Signature => "signature",
            Check::TlogBody => "Rekor entry body",
            Check::PayloadDigest => "payload image digest",
            Check::Statement => "in-toto statement",
            Check::Identity => "certificate identity",
            Check::Issuer => "certificate OIDC issuer",
            Check::GithubWorkflow => "GitHub workflow extensions",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum Outcome {
    /// The check held; the text says what was checked against what.
    Passed(String),
    /// The check does not apply to this input or trust root; the text says why.
    NotApplicable(String),
}

/// A check with what it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub check: Check,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Keyless verification failed: `check` is the first check that did not hold, and the
/// message says what was found and what was expected, in one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KeylessError {
    check: Check,
    message: String,
}

impl KeylessError {
    pub fn new(check: Check, message: impl Into<String>) -> KeylessError {
        KeylessError {
            check,
            message: message.into(),
        }
    }

    /// The first check that failed.
    pub fn check(&self) -> Check {
        self.check
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The checks run so far, in order.
#[derive(Debug, Default)]
pub(crate) struct Reports(Vec<CheckReport>);

impl Reports {
    pub(crate) fn passed(&mut self, check: Check, detail: impl Into<String>) {
        self.0.push(CheckReport {
            check,
            outcome: Outcome::Passed(detail.into()),
        });
    }

    pub(crate) fn push(&mut self, check: Check, outcome: Outcome) {
        self.0.push(CheckReport { check, outcome });
    }

    pub(crate) fn into_vec(self) -> Vec<CheckReport> {
        self.0
    }
}
