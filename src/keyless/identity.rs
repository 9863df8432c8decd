//! The identity policy: who must have signed. A SAN of the certificate must match the
//! expected identity, its OIDC issuer the expected issuer, and optionally the GitHub workflow
//! extensions given values, as `cosign verify --certificate-identity[-regexp]
//! --certificate-oidc-issuer[-regexp] --certificate-github-workflow-*` decide.
//!
//! Matching semantics, as cosign's:
//!
//! * **Exact** values compare the whole string, byte for byte: a prefix of the SAN, or the
//!   issuer with a trailing slash, does not match (sigstore-js treats a string policy as an
//!   unanchored regexp; cosign and sigstore-python do not, and neither does pinsign).
//! * **Regular expressions are not anchored**, as in cosign: `--certificate-identity-regexp`
//!   is compiled with Go's `regexp.Compile` and tested with `MatchString`, which finds a
//!   match anywhere (cosign `pkg/cosign/verify.go` `CheckCertificatePolicy`, and sigstore-go
//!   `pkg/verify/certificate_identity.go`, whose doc says "regexp matching is not anchored by
//!   default; use ^...$"). So `github\.com/fluxcd/` also matches
//!   `https://evil.example/github.com/fluxcd/x`: write `^https://github\.com/fluxcd/`.
//!   Rust's `regex` crate has RE2's syntax and linear-time guarantee, like Go's `regexp`.
//! * **GitHub workflow** values compare the deprecated extensions `.1.2`–`.1.6` exactly, as
//!   cosign does. When a certificate lacks a deprecated one but has its provider-neutral twin
//!   carrying the same claim (trigger: `.1.20` Build Trigger = `event_name`; sha: `.1.13`
//!   Source Repository Digest = `sha`; ref: `.1.14` Source Repository Ref = `ref`), the twin
//!   is compared instead, so the policy keeps working if Fulcio drops the old ones. Name and
//!   repository have no twin with the same value and are compared with `.1.4`/`.1.5` only.

use regex::Regex;

use super::certificate::{FulcioCertificate, San};
use super::report::{Check, KeylessError, Outcome};

/// Compiled regular expressions larger than this are refused.
const MAX_REGEX_BYTES: usize = 1 << 20;

/// A policy value could not be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} {pattern:?} is not a valid regular expression: {reason}")]
pub struct PolicyError {
    what: &'static str,
    pattern: String,
    reason: String,
}

/// An expected value: the whole string, or an unanchored regular expression.
#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    pub fn exact(value: impl Into<String>) -> Matcher {
        Matcher::Exact(value.into())
    }

    /// Compile `pattern` (RE2 syntax, unanchored like cosign's); `what` names the flag in
    /// the error (`--certificate-identity-regexp`).
    pub fn regex(pattern: &str, what: &'static str) -> Result<Matcher, PolicyError> {
        regex::RegexBuilder::new(pattern)
            .size_limit(MAX_REGEX_BYTES)
            .build()
            .map(Matcher::Regex)
            .map_err(|e| PolicyError {
                what,
                pattern: pattern.to_string(),
                reason: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(want) => value == want,
            Matcher::Regex(re) => re.is_match(value),
        }
    }

    /// `https://x` or `the regular expression ^https://`, for messages.
    fn describe(&self) -> String {
        match self {
            Matcher::Exact(want) => want.clone(),
            Matcher::Regex(re) => format!("a match for the regular expression {}", re.as_str()),
        }
    }
}

/// Expected GitHub workflow extension values; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GithubWorkflowPolicy {
    /// `--certificate-github-workflow-trigger` (`push`).
    pub trigger: Option<String>,
    /// `--certificate-github-workflow-sha` (the commit).
    pub sha: Option<String>,
    /// `--certificate-github-workflow-name` (the workflow's name).
    pub name: Option<String>,
    /// `--certificate-github-workflow-repository` (`ORG/REPO`).
    pub repository: Option<String>,
    /// `--certificate-github-workflow-ref` (`refs/tags/v1.2.3`).
    pub git_ref: Option<String>,
}

impl GithubWorkflowPolicy {
    fn is_empty(&self) -> bool {
        *self == GithubWorkflowPolicy::default()
    }
}

/// Who must have signed.
#[derive(Clone, Debug)]
pub struct IdentityPolicy {
    identity: Matcher,
    issuer: Matcher,
    github: GithubWorkflowPolicy,
}

impl IdentityPolicy {
    /// Both an identity and an issuer are required, as cosign requires for keyless
    /// verification: an identity alone would accept the same name from any OIDC provider.
    pub fn new(identity: Matcher, issuer: Matcher) -> IdentityPolicy {
        IdentityPolicy {
            identity,
            issuer,
            github: GithubWorkflowPolicy::default(),
        }
    }

    pub fn with_github_workflow(mut self, github: GithubWorkflowPolicy) -> IdentityPolicy {
        self.github = github;
        self
    }

    pub fn identity(&self) -> &Matcher {
        &self.identity
    }

    pub fn issuer(&self) -> &Matcher {
        &self.issuer
    }

    pub fn github_workflow(&self) -> &GithubWorkflowPolicy {
        &self.github
    }

    /// The identity check: a URI, email or username SAN matches. Returns the SAN.
    pub fn check_identity(&self, cert: &FulcioCertificate) -> Result<String, KeylessError> {
        let sans = cert.subject_alternative_names();
        if let Some(san) = sans.iter().find(|s| self.identity.matches(s.value())) {
            return Ok(san.value().to_string());
        }
        let got = match sans {
            [] => "certificate has no URI or email SAN".to_string(),
            [one] => format!("certificate identity is {}", one.value()),
            many => format!(
                "certificate identities are {}",
                many.iter().map(San::value).collect::<Vec<_>>().join(", ")
            ),
        };
        Err(KeylessError::new(
            Check::Identity,
            format!("{got}, expected {}", self.identity.describe()),
        ))
    }

    /// The issuer check. Returns the issuer.
    pub fn check_issuer(&self, cert: &FulcioCertificate) -> Result<String, KeylessError> {
        match cert.oidc_issuer() {
            Some(issuer) if self.issuer.matches(issuer) => Ok(issuer.to_string()),
            Some(issuer) => Err(KeylessError::new(
                Check::Issuer,
                format!(
                    "certificate OIDC issuer is {issuer}, expected {}",
                    self.issuer.describe()
                ),
            )),
            None => Err(KeylessError::new(
                Check::Issuer,
                format!(
                    "certificate has no OIDC issuer extension (1.3.6.1.4.1.57264.1.8 or .1.1), \
                     expected {}",
                    self.issuer.describe()
                ),
            )),
        }
    }

    /// The GitHub workflow check (not applicable when the policy names no value).
    pub fn check_github_workflow(&self, cert: &FulcioCertificate) -> Result<Outcome, KeylessError> {
        if self.github.is_empty() {
            return Ok(Outcome::NotApplicable(
                "no GitHub workflow value was asked for".into(),
            ));
        }
        let old = cert.github_workflow();
        let new = cert.build_extensions();
        let fields = [
            (
                "trigger",
                "1.3.6.1.4.1.57264.1.2",
                &self.github.trigger,
                old.trigger.as_ref().or(new.build_trigger.as_ref()),
            ),
            (
                "sha",
                "1.3.6.1.4.1.57264.1.3",
                &self.github.sha,
                old.sha.as_ref().or(new.source_repository_digest.as_ref()),
            ),
            (
                "name",
                "1.3.6.1.4.1.57264.1.4",
                &self.github.name,
                old.name.as_ref(),
            ),
            (
                "repository",
                "1.3.6.1.4.1.57264.1.5",
                &self.github.repository,
                old.repository.as_ref(),
            ),
            (
                "ref",
                "1.3.6.1.4.1.57264.1.6",
                &self.github.git_ref,
                old.git_ref.as_ref().or(new.source_repository_ref.as_ref()),
            ),
        ];
        let mut checked = Vec::new();
        for (field, oid, want, got) in fields {
            let Some(want) = want else { continue };
            match got {
                Some(got) if got == want => checked.push(format!("{field} {got}")),
                Some(got) => {
                    return Err(KeylessError::new(
                        Check::GithubWorkflow,
                        format!("certificate GitHub workflow {field} is {got}, expected {want}"),
                    ))
                }
                None => {
                    return Err(KeylessError::new(
                        Check::GithubWorkflow,
                        format!(
                            "certificate has no GitHub workflow {field} extension ({oid}), \
                             expected {want}"
                        ),
                    ))
                }
            }
        }
        Ok(Outcome::Passed(checked.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf() -> FulcioCertificate {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keyless/legacy/gha-go-bazel-v0.0.30/certificate.pem"
        ))
        .unwrap();
        FulcioCertificate::from_pem(&pem).unwrap()
    }

    const SAN: &str = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30";
    const GHA: &str = "https://token.actions.githubusercontent.com";

    fn policy(identity: Matcher, issuer: Matcher) -> IdentityPolicy {
        IdentityPolicy::new(identity, issuer)
    }

    #[test]
    fn exact_means_the_whole_string() {
        let cert = leaf();
        let ok = policy(Matcher::exact(SAN), Matcher::exact(GHA));
        assert_eq!(ok.check_identity(&cert).unwrap(), SAN);
        assert_eq!(ok.check_issuer(&cert).unwrap(), GHA);
        let prefix = policy(
            Matcher::exact(SAN.trim_end_matches("@refs/tags/v0.0.30")),
            Matcher::exact(GHA),
        );
        let e = prefix.check_identity(&cert).unwrap_err();
        assert_eq!(e.check(), Check::Identity);
        assert_eq!(
            e.to_string(),
            format!(
                "certificate identity is {SAN}, expected {}",
                SAN.trim_end_matches("@refs/tags/v0.0.30")
            )
        );
        let slash = policy(Matcher::exact(SAN), Matcher::exact(format!("{GHA}/")));
        let e = slash.check_issuer(&cert).unwrap_err();
        assert_eq!(e.check(), Check::Issuer);
        assert!(e
            .to_string()
            .starts_with(&format!("certificate OIDC issuer is {GHA}, expected")));
    }

    #[test]
    fn regexps_are_unanchored_like_go_matchstring() {
        let cert = leaf();
        let re = |p: &str| Matcher::regex(p, "--certificate-identity-regexp").unwrap();
        // Unanchored: a fragment anywhere matches, as in cosign.
        assert!(policy(re("salrashid123/go-bazel"), re("actions"))
            .check_identity(&cert)
            .is_ok());
        assert!(policy(re("v0\\.0\\.30$"), re("^https://token"))
            .check_issuer(&cert)
            .is_ok());
        // Anchored patterns are what a policy should use.
        assert!(policy(re("^https://github\\.com/salrashid123/"), re("."))
            .check_identity(&cert)
            .is_ok());
        let flux = policy(re("^https://github\\.com/fluxcd/"), re("."));
        let e = flux.check_identity(&cert).unwrap_err();
        assert!(
            e.to_string().contains(
                "expected a match for the regular expression ^https://github\\.com/fluxcd/"
            ),
            "{e}"
        );
        // The classic mistake: unanchored matches a look-alike host.
        let loose = re("github\\.com/fluxcd/");
        assert!(loose.matches("https://evil.example/github.com/fluxcd/x"));
        assert!(!re("^https://github\\.com/fluxcd/")
            .matches("https://evil.example/github.com/fluxcd/x"));
        let e = Matcher::regex("(", "--certificate-identity-regexp").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--certificate-identity-regexp \"(\" is not a valid"),
            "{e}"
        );
    }

    #[test]
    fn github_workflow_values() {
        let cert = leaf();
        let base = policy(Matcher::exact(SAN), Matcher::exact(GHA));
        assert!(matches!(
            base.check_github_workflow(&cert),
            Ok(Outcome::NotApplicable(_))
        ));
        let all = base.clone().with_github_workflow(GithubWorkflowPolicy {
            trigger: Some("push".into()),
            sha: Some("7624bd5f279fb5d4700ea72c1b2373ee33960700".into()),
            name: Some("Release".into()),
            repository: Some("salrashid123/go-bazel-github-workflow".into()),
            git_ref: Some("refs/tags/v0.0.30".into()),
        });
        assert!(matches!(
            all.check_github_workflow(&cert),
            Ok(Outcome::Passed(_))
        ));
        let wrong = base.with_github_workflow(GithubWorkflowPolicy {
            git_ref: Some("refs/heads/main".into()),
            ..Default::default()
        });
        let e = wrong.check_github_workflow(&cert).unwrap_err();
        assert_eq!(e.check(), Check::GithubWorkflow);
        assert_eq!(
            e.to_string(),
            "certificate GitHub workflow ref is refs/tags/v0.0.30, expected refs/heads/main"
        );
    }

    #[test]
    fn missing_issuer_names_both_extensions() {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/keyless/legacy/email-kubewarden-2021/certificate.pem"
        ))
        .unwrap();
        let cert = FulcioCertificate::from_pem(&pem).unwrap();
        let p = policy(Matcher::exact("flavio@castelli.me"), Matcher::exact(GHA));
        assert_eq!(p.check_identity(&cert).unwrap(), "flavio@castelli.me");
        let e = p.check_issuer(&cert).unwrap_err();
        assert!(e.to_string().contains("no OIDC issuer extension"), "{e}");
    }
}
