//! The typed model of what matters for predicting admission, built by [`super::parse`] with
//! Kyverno's defaults applied and its deprecated forms folded in.
//!
//! Only what changes the verdict on an image is kept: which images a rule covers, its failure
//! action, the digest settings, and the attestors with what each needs. Anything pinsign
//! cannot evaluate becomes [`AttestorEntry::Unsupported`] or [`Validation::Unsupported`] with
//! the reason, so a prediction never silently passes it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::matching::Glob;
use super::spec::{FailureAction, PolicyKind};
use crate::keys::PublicKey;

/// One policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub api_version: String,
    /// 1-based position of the document in its file, for messages.
    pub document: usize,
    /// What pinsign noticed while reading (deprecated fields, settings Kyverno refuses).
    pub notes: Vec<String>,
    pub body: PolicyBody,
}

impl Policy {
    pub fn kind(&self) -> PolicyKind {
        match self.body {
            PolicyBody::Cluster(_) => PolicyKind::ClusterPolicy,
            PolicyBody::ImageValidating(_) => PolicyKind::ImageValidatingPolicy,
        }
    }
}

#[derive(Debug, Clone)]
pub enum PolicyBody {
    Cluster(ClusterPolicyModel),
    ImageValidating(IvpolModel),
}

/// `failurePolicy`: what Kyverno does when it cannot evaluate (a registry error, a timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailurePolicy {
    Fail,
    Ignore,
}

#[derive(Debug, Clone)]
pub struct ClusterPolicyModel {
    pub failure_policy: FailurePolicy,
    pub rules: Vec<VerifyRule>,
}

/// A rule with `verifyImages`.
#[derive(Debug, Clone)]
pub struct VerifyRule {
    pub name: String,
    /// The rule matches Pods (directly, by `*`, or through a pod controller Kyverno autogenerates
    /// rules for).
    pub applies_to_pods: bool,
    pub kinds: Vec<String>,
    /// `exclude`, `preconditions` or `celPreconditions` are set: pinsign cannot tell whether they
    /// exempt a pod, and assumes they do not.
    pub has_conditions: bool,
    pub entries: Vec<VerifyImages>,
}

/// Signature type of a `verifyImages` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VerifierType {
    Cosign,
    SigstoreBundle,
    Notary,
}

/// One `verifyImages` entry.
#[derive(Debug, Clone)]
pub struct VerifyImages {
    pub index: usize,
    pub verifier: VerifierType,
    pub image_references: Vec<String>,
    pub skip_image_references: Vec<String>,
    pub action: FailureAction,
    pub verify_digest: bool,
    pub mutate_digest: bool,
    pub required: bool,
    /// Rule-level signature repository (an attestor's own one wins).
    pub repository: Option<String>,
    pub cosign_oci11: bool,
    pub attestors: Vec<AttestorSet>,
    pub has_attestations: bool,
}

/// `attestors[]`: `count` of the entries must verify (Kyverno: no count, or 0, means all).
#[derive(Debug, Clone)]
pub struct AttestorSet {
    pub count: usize,
    pub entries: Vec<AttestorEntry>,
}

/// Whether a key or keyless signature must have a transparency-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "tlog", rename_all = "snake_case")]
pub enum Tlog {
    /// `ignoreTlog: true` / `insecureIgnoreTlog: true`.
    Ignored,
    /// Kyverno looks the signature up in this Rekor.
    Required { url: String },
}

/// How a keyless identity field is matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "match", content = "value", rename_all = "snake_case")]
pub enum IdentityMatch {
    /// ClusterPolicy `subject`/`issuer`: Kyverno's wildcard.
    Wildcard(String),
    /// ImageValidatingPolicy `subject`/`issuer`: the same string.
    Exact(String),
    /// `subjectRegExp` / `issuerRegExp` (RE2, unanchored as Go's `MatchString`).
    Regexp(String),
}

impl IdentityMatch {
    /// Whether `value` (a certificate SAN or OIDC issuer) satisfies this; `None` for a regexp
    /// Rust's `regex` cannot compile (RE2 and Rust's syntax differ at the edges).
    pub fn matches(&self, value: &str) -> Option<bool> {
        match self {
            IdentityMatch::Wildcard(p) => Some(super::matching::wildcard_match(p, value)),
            IdentityMatch::Exact(s) => Some(s == value),
            IdentityMatch::Regexp(re) => regex::Regex::new(re).ok().map(|r| r.is_match(value)),
        }
    }
}

/// A keyless identity: both fields, when set, must match the signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KeylessIdentity {
    pub issuer: Option<IdentityMatch>,
    pub subject: Option<IdentityMatch>,
}

#[derive(Debug, Clone)]
pub enum AttestorEntry {
    Key {
        key: PublicKey,
        tlog: Tlog,
        repository: Option<String>,
        annotations: BTreeMap<String, String>,
    },
    Keyless {
        identity: KeylessIdentity,
        tlog: Tlog,
        repository: Option<String>,
    },
    Nested(AttestorSet),
    Unsupported(String),
}

/// An `ImageValidatingPolicy`.
#[derive(Debug, Clone)]
pub struct IvpolModel {
    /// `validationActions` contains `Deny`.
    pub enforce: bool,
    pub failure_policy: FailurePolicy,
    pub applies_to_pods: bool,
    pub resources: Vec<String>,
    pub has_conditions: bool,
    /// `matchImageReferences`; empty means every image.
    pub match_images: Vec<ImageMatch>,
    pub verify_digest: bool,
    pub mutate_digest: bool,
    pub required: bool,
    pub attestors: BTreeMap<String, IvpolAttestor>,
    pub validations: Vec<Validation>,
}

#[derive(Debug, Clone)]
pub enum ImageMatch {
    Glob(Glob),
    /// A CEL `expression`: pinsign cannot evaluate it.
    Expression(String),
}

#[derive(Debug, Clone)]
pub enum IvpolAttestor {
    Key {
        key: PublicKey,
        tlog: Tlog,
        repository: Option<String>,
        annotations: BTreeMap<String, String>,
    },
    Keyless {
        identities: Vec<KeylessIdentity>,
        tlog: Tlog,
        repository: Option<String>,
    },
    Unsupported(String),
}

/// A `validations[]` entry.
#[derive(Debug, Clone)]
pub enum Validation {
    /// `LIST.filter(v, v.matches(RE) || ...)?.map(v, verifyImageSignatures(v, [attestors.A, ...])).all(e, e > N)`
    /// and the same with `.all(v, verifyImageSignatures(...) > N)`.
    VerifySignatures {
        index: usize,
        /// The `images.<name>` lists it looks at (`containers`, `initContainers`, ...).
        lists: Vec<String>,
        /// Anchored or not, as written: an image must match one (when there are any).
        filters: Vec<String>,
        attestors: Vec<String>,
        /// How many of `attestors` must verify.
        at_least: usize,
        message: Option<String>,
    },
    Unsupported {
        index: usize,
        reason: String,
    },
}
