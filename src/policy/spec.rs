//! What `pinsign policy kyverno` is asked to write, checked once: [`PolicySpec`].
//!
//! The command turns its flags into a [`PolicyInput`] (plain strings and parsed keys, no clap
//! types) and calls [`PolicySpec::new`], which refuses bad input with one-line
//! [`UsageError`]s (exit 2). A `PolicySpec` that exists is one [`super::generate`] can write.
//! Refusing a private key for `--key` is the command's job: this takes [`PublicKey`]s.

use crate::error::UsageError;
use crate::keys::PublicKey;
use crate::reference::Repository;

use super::matching::ImagePattern;

/// At most this many keys in one policy (a rotation overlaps two or three).
const MAX_KEYS: usize = 16;
/// At most this many image patterns per rule.
const MAX_PATTERNS: usize = 256;
/// The policy name when `--name` is not given.
pub const DEFAULT_NAME: &str = "pinsign-verify-images";

/// Which Kyverno resource to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// `kyverno.io/v1` `ClusterPolicy` with `verifyImages` rules.
    ClusterPolicy,
    /// `policies.kyverno.io/v1` `ImageValidatingPolicy`, the CEL-based type.
    ImageValidatingPolicy,
}

impl PolicyKind {
    /// The `--kind` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::ClusterPolicy => "cluster-policy",
            PolicyKind::ImageValidatingPolicy => "image-validating-policy",
        }
    }

    /// Kyverno's `kind:`.
    pub fn kubernetes_kind(self) -> &'static str {
        match self {
            PolicyKind::ClusterPolicy => "ClusterPolicy",
            PolicyKind::ImageValidatingPolicy => "ImageValidatingPolicy",
        }
    }
}

/// What Kyverno does when a matching image fails its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FailureAction {
    /// Deny the request.
    Enforce,
    /// Admit it and record the failure in a PolicyReport.
    Audit,
}

impl FailureAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureAction::Enforce => "Enforce",
            FailureAction::Audit => "Audit",
        }
    }
}

/// Where signatures are looked up, as `sign-digest --mode` writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMode {
    /// The `sha256-<hex>.sig` tag (Kyverno's default).
    Tag,
    /// The OCI 1.1 referrers API (ClusterPolicy `cosignOCI11: true`).
    Referrers,
}

/// The keyless identity's subject: a Kyverno wildcard pattern, or a regular expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `--keyless-subject`: matched as Kyverno's ClusterPolicy matches `subject` (wildcard
    /// `*`/`?`); written as an anchored `subjectRegExp` for an ImageValidatingPolicy when it
    /// has wildcards, since that type's `subject` is an exact match.
    Pattern(String),
    /// `--keyless-subject-regexp`: a regular expression (RE2 syntax), as Kyverno takes it.
    Regexp(String),
}

/// A keyless rule for upstream images (the Flux controllers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessRule {
    images: Vec<ImagePattern>,
    issuer: String,
    subject: Subject,
}

impl KeylessRule {
    pub fn images(&self) -> &[ImagePattern] {
        &self.images
    }
    /// The OIDC issuer URL (exact; Kyverno's ClusterPolicy also takes wildcards here).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn subject(&self) -> &Subject {
        &self.subject
    }
}

/// The command's input, unchecked: strings as the flags gave them.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub keys: Vec<PublicKey>,
    pub images: Vec<String>,
    /// Empty means `[cluster-policy]`; several kinds write one document each.
    pub kinds: Vec<PolicyKind>,
    pub name: Option<String>,
    /// `None` means Enforce.
    pub failure_action: Option<FailureAction>,
    pub signature_repo: Option<String>,
    /// `None` means tag.
    pub mode: Option<SignatureMode>,
    pub registry_secrets: Vec<String>,
    pub keyless_images: Vec<String>,
    pub keyless_issuer: Option<String>,
    pub keyless_subject: Option<String>,
    pub keyless_subject_regexp: Option<String>,
}

/// A checked policy request. Built only by [`PolicySpec::new`].
#[derive(Debug, Clone)]
pub struct PolicySpec {
    keys: Vec<PublicKey>,
    images: Vec<ImagePattern>,
    kinds: Vec<PolicyKind>,
    name: String,
    failure_action: FailureAction,
    signature_repo: Option<Repository>,
    mode: SignatureMode,
    registry_secrets: Vec<String>,
    keyless: Option<KeylessRule>,
    warnings: Vec<String>,
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError::new(msg)
}

impl PolicySpec {
    /// Check the input; each error is one line naming the offending value and what to do.
    pub fn new(input: PolicyInput) -> Result<PolicySpec, UsageError> {
        if input.keys.is_empty() {
            return Err(usage(
                "policy kyverno needs at least one --key PUB (the cosign.pub of the key that signs)",
            ));
        }
        if input.keys.len() > MAX_KEYS {
            return Err(usage(format!(
                "at most {MAX_KEYS} --key values in one policy"
            )));
        }
        let mut keys: Vec<PublicKey> = Vec::new();
        for key in input.keys.iter().cloned() {
            if let Some(first) = keys.iter().find(|k| k.spki_der() == key.spki_der()) {
                return Err(usage(format!(
                    "--key {} is the same key as --key {} ({}): give each key once",
                    key.source(),
                    first.source(),
                    key.fingerprint()
                )));
            }
            keys.push(key);
        }
        if input.images.is_empty() {
            return Err(usage(
                "policy kyverno needs at least one --image PATTERN (like oci.example.org/team/*)",
            ));
        }
        let images = patterns(&input.images, "--image")?;

        let mut kinds = input.kinds.clone();
        if kinds.is_empty() {
            kinds.push(PolicyKind::ClusterPolicy);
        }
        kinds.sort();
        kinds.dedup();

        let name = input
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_string());
        check_name(&name)?;

        let mode = input.mode.unwrap_or(SignatureMode::Tag);
        let signature_repo = Repository::parse_optional(input.signature_repo.as_deref())
            .map_err(|e| usage(format!("--signature-repo: {e}")))?;
        if mode == SignatureMode::Referrers && signature_repo.is_some() {
            return Err(usage(
                "--mode referrers cannot be combined with --signature-repo: a referrer lives in \
                 the image's own repository; drop one of them",
            ));
        }
        if mode == SignatureMode::Referrers && kinds.contains(&PolicyKind::ImageValidatingPolicy) {
            return Err(usage(
                "--mode referrers needs --kind cluster-policy: Kyverno's ImageValidatingPolicy \
                 has no cosignOCI11 setting and finds key signatures only by their \
                 sha256-<hex>.sig tag",
            ));
        }

        for secret in &input.registry_secrets {
            check_secret(secret, &kinds)?;
        }
        let mut registry_secrets = input.registry_secrets.clone();
        registry_secrets.dedup();

        let keyless = keyless_rule(&input)?;
        if let Some(rule) = &keyless {
            if let Some(p) = rule.images.iter().find(|p| images.contains(p)) {
                return Err(usage(format!(
                    "image pattern {p:?} is given to both --image and --keyless-image: an image \
                     would then need both a key signature and a keyless one; give it to one"
                )));
            }
        }

        let mut warnings: Vec<String> = images.iter().flat_map(|p| p.warnings()).collect();
        if let Some(rule) = &keyless {
            warnings.extend(rule.images.iter().flat_map(|p| p.warnings()));
        }
        Ok(PolicySpec {
            keys,
            images,
            kinds,
            name,
            failure_action: input.failure_action.unwrap_or(FailureAction::Enforce),
            signature_repo,
            mode,
            registry_secrets,
            keyless,
            warnings,
        })
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
    pub fn images(&self) -> &[ImagePattern] {
        &self.images
    }
    /// The kinds to write, each once, ClusterPolicy first.
    pub fn kinds(&self) -> &[PolicyKind] {
        &self.kinds
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn failure_action(&self) -> FailureAction {
        self.failure_action
    }
    pub fn signature_repo(&self) -> Option<&Repository> {
        self.signature_repo.as_ref()
    }
    pub fn mode(&self) -> SignatureMode {
        self.mode
    }
    pub fn registry_secrets(&self) -> &[String] {
        &self.registry_secrets
    }
    pub fn keyless(&self) -> Option<&KeylessRule> {
        self.keyless.as_ref()
    }
    /// Advice for stderr (patterns Kyverno reads differently than one may think).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

fn patterns(raw: &[String], flag: &str) -> Result<Vec<ImagePattern>, UsageError> {
    if raw.len() > MAX_PATTERNS {
        return Err(usage(format!("at most {MAX_PATTERNS} {flag} patterns")));
    }
    let mut out: Vec<ImagePattern> = Vec::new();
    for p in raw {
        let pattern = ImagePattern::parse(p).map_err(|e| usage(format!("{flag}: {e}")))?;
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    Ok(out)
}

/// Kubernetes object names: a DNS-1123 label here (63 characters), which also fits the
/// labels Kyverno puts policy names in.
fn check_name(name: &str) -> Result<(), UsageError> {
    if !is_dns_label(name) {
        return Err(usage(format!(
            "--name {name:?} is not a Kubernetes name: use at most 63 lower-case letters, \
             digits and '-', starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A Secret name (ClusterPolicy also takes `namespace/name`; an ImageValidatingPolicy's
/// secrets live in Kyverno's namespace).
fn check_secret(secret: &str, kinds: &[PolicyKind]) -> Result<(), UsageError> {
    let ok = match secret.split_once('/') {
        None => is_dns_subdomain(secret),
        Some((ns, name)) => {
            if kinds.contains(&PolicyKind::ImageValidatingPolicy) {
                return Err(usage(format!(
                    "--registry-secret {secret:?}: an ImageValidatingPolicy reads secrets from \
                     Kyverno's namespace only; give the name without a namespace"
                )));
            }
            is_dns_label(ns) && is_dns_subdomain(name)
        }
    };
    if !ok {
        return Err(usage(format!(
            "--registry-secret {secret:?} is not a Secret name (lower-case letters, digits, \
             '-' and '.'; NAMESPACE/NAME for a ClusterPolicy)"
        )));
    }
    Ok(())
}

fn keyless_rule(input: &PolicyInput) -> Result<Option<KeylessRule>, UsageError> {
    let any = !input.keyless_images.is_empty()
        || input.keyless_issuer.is_some()
        || input.keyless_subject.is_some()
        || input.keyless_subject_regexp.is_some();
    if !any {
        return Ok(None);
    }
    if input.keyless_images.is_empty() {
        return Err(usage(
            "a keyless rule needs --keyless-image PATTERN (the upstream images it covers)",
        ));
    }
    let images = patterns(&input.keyless_images, "--keyless-image")?;
    let Some(issuer) = input.keyless_issuer.clone() else {
        return Err(usage(
            "a keyless rule needs --keyless-issuer URL (like \
             https://token.actions.githubusercontent.com)",
        ));
    };
    if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        || issuer.contains(char::is_whitespace)
        || issuer.len() > 1024
    {
        return Err(usage(format!(
            "--keyless-issuer {issuer:?} is not an issuer URL (like \
             https://token.actions.githubusercontent.com)"
        )));
    }
    let subject = match (&input.keyless_subject, &input.keyless_subject_regexp) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "give --keyless-subject or --keyless-subject-regexp, not both",
            ))
        }
        (None, None) => {
            return Err(usage(
                "a keyless rule needs --keyless-subject S or --keyless-subject-regexp RE (the \
                 signer's identity, like https://github.com/fluxcd/*)",
            ))
        }
        (Some(s), None) => {
            if s.is_empty() || s.len() > 1024 {
                return Err(usage("--keyless-subject is empty or too long"));
            }
            Subject::Pattern(s.clone())
        }
        (None, Some(re)) => {
            if re.is_empty() || re.len() > 1024 {
                return Err(usage("--keyless-subject-regexp is empty or too long"));
            }
            regex::Regex::new(re).map_err(|e| {
                usage(format!(
                    "--keyless-subject-regexp {re:?} is not a regular expression: {}",
                    e.to_string().lines().last().unwrap_or("invalid")
                ))
            })?;
            Subject::Regexp(re.clone())
        }
    };
    Ok(Some(KeylessRule {
        images,
        issuer,
        subject,
    }))
}

/// A Kyverno wildcard (`*`, `?`) as an anchored regular expression.
pub(crate) fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut literal = String::new();
    for c in pattern.chars() {
        match c {
            '*' | '?' => {
                out.push_str(&regex::escape(&literal));
                literal.clear();
                out.push_str(if c == '*' { ".*" } else { "." });
            }
            _ => literal.push(c),
        }
    }
    out.push_str(&regex::escape(&literal));
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;

    fn input() -> PolicyInput {
        PolicyInput {
            keys: vec![SigningKey::generate().public_key()],
            images: vec!["oci.example.org/team/*".into()],
            ..PolicyInput::default()
        }
    }

    fn err(input: PolicyInput) -> String {
        let e = PolicySpec::new(input).unwrap_err().to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn defaults() {
        let spec = PolicySpec::new(input()).unwrap();
        assert_eq!(spec.kinds(), &[PolicyKind::ClusterPolicy]);
        assert_eq!(spec.name(), DEFAULT_NAME);
        assert_eq!(spec.failure_action(), FailureAction::Enforce);
        assert_eq!(spec.mode(), SignatureMode::Tag);
        assert!(spec.keyless().is_none());
        assert!(spec.warnings().is_empty());
    }

    #[test]
    fn bad_input() {
        let cases: Vec<(PolicyInput, &str)> = vec![
            (
                PolicyInput {
                    keys: vec![],
                    ..input()
                },
                "--key",
            ),
            (
                PolicyInput {
                    images: vec![],
                    ..input()
                },
                "--image",
            ),
            (
                PolicyInput {
                    images: vec!["nginx:*".into()],
                    ..input()
                },
                "\"nginx:*\"",
            ),
            (
                PolicyInput {
                    images: vec!["oci.example.org/A".into()],
                    ..input()
                },
                "lowercase",
            ),
            (
                PolicyInput {
                    name: Some("Bad_Name".into()),
                    ..input()
                },
                "--name",
            ),
            (
                PolicyInput {
                    mode: Some(SignatureMode::Referrers),
                    signature_repo: Some("oci.example.org/sigs".into()),
                    ..input()
                },
                "--mode referrers cannot be combined with --signature-repo",
            ),
            (
                PolicyInput {
                    mode: Some(SignatureMode::Referrers),
                    kinds: vec![PolicyKind::ImageValidatingPolicy],
                    ..input()
                },
                "cosignOCI11",
            ),
            (
                PolicyInput {
                    signature_repo: Some("oci.example.org/sigs:1".into()),
                    ..input()
                },
                "--signature-repo",
            ),
            (
                PolicyInput {
                    registry_secrets: vec!["Not A Secret".into()],
                    ..input()
                },
                "--registry-secret",
            ),
            (
                PolicyInput {
                    registry_secrets: vec!["kyverno/regcred".into()],
                    kinds: vec![PolicyKind::ImageValidatingPolicy],
                    ..input()
                },
                "namespace",
            ),
            (
                PolicyInput {
                    keyless_images: vec!["ghcr.io/fluxcd/*".into()],
                    keyless_subject: Some("https://github.com/fluxcd/*".into()),
                    ..input()
                },
                "--keyless-issuer",
            ),
            (
                PolicyInput {
                    keyless_images: vec!["ghcr.io/fluxcd/*".into()],
                    keyless_issuer: Some("https://token.actions.githubusercontent.com".into()),
                    ..input()
                },
                "--keyless-subject",
            ),
            (
                PolicyInput {
                    keyless_issuer: Some("https://token.actions.githubusercontent.com".into()),
                    keyless_subject: Some("x".into()),
                    ..input()
                },
                "--keyless-image",
            ),
            (
                PolicyInput {
                    keyless_images: vec!["ghcr.io/fluxcd/*".into()],
                    keyless_issuer: Some("token.actions".into()),
                    keyless_subject: Some("x".into()),
                    ..input()
                },
                "issuer URL",
            ),
            (
                PolicyInput {
                    keyless_images: vec!["ghcr.io/fluxcd/*".into()],
                    keyless_issuer: Some("https://token.actions.githubusercontent.com".into()),
                    keyless_subject_regexp: Some("(unclosed".into()),
                    ..input()
                },
                "not a regular expression",
            ),
            (
                PolicyInput {
                    keyless_images: vec!["oci.example.org/team/*".into()],
                    keyless_issuer: Some("https://token.actions.githubusercontent.com".into()),
                    keyless_subject: Some("x".into()),
                    ..input()
                },
                "both --image and --keyless-image",
            ),
        ];
        for (input, says) in cases {
            let e = err(input);
            assert!(e.contains(says), "{says:?} not in {e:?}");
        }
        let key = SigningKey::generate().public_key();
        let e = err(PolicyInput {
            keys: vec![key.clone(), key],
            ..input()
        });
        assert!(e.contains("same key"), "{e}");
    }

    #[test]
    fn wildcard_regex() {
        let re = regex::Regex::new(&wildcard_to_regex("https://github.com/fluxcd/*")).unwrap();
        assert!(re.is_match(
            "https://github.com/fluxcd/flux2/.github/workflows/release.yaml@refs/tags/v2.0.0"
        ));
        assert!(!re.is_match("https://github.com/evil/fluxcd/x"));
        assert_eq!(wildcard_to_regex("a.b?"), r"^a\.b.$");
    }
}
