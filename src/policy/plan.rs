//! Step one of `policy check`: which rules and policies cover an image, and what each needs
//! verified ([`plan`]). No registry access: the caller performs the [`Check`]s the plan lists
//! (verify with these PEM keys at this place; keyless with these identities), then
//! [`super::decide`] turns the plan and the results into a verdict.
//!
//! Coverage follows Kyverno (see [`super::matching`]):
//! - ClusterPolicy: a `verifyImages` entry covers the image when one `imageReferences`
//!   wildcard matches `ImageInfo.String()` and no `skipImageReferences` one does; a skipped
//!   image passes that entry unchecked. With `verifyDigest` on and `mutateDigest` off, an
//!   image without a digest fails ("missing digest"). Every attestor set must pass; within a
//!   set, `count` entries. A key entry's signatures are found in the attestor's `repository`,
//!   else the entry's, else the image's own repository; with `cosignOCI11` cosign first reads
//!   the referrers API (the last referrer of the signature artifact type), then the `.sig` tag.
//! - ImageValidatingPolicy: globs see the pod-spec text, or, for a tag-only image the policy's
//!   globs match in Kyverno's normalised form with `mutateDigest` on, `<that form>@<digest>`.
//!   `verifyDigest` then needs a digest; each recognised validation needs `at_least` of its
//!   attestors; with `required`, an image no validation checked is denied.

use std::collections::BTreeMap;

use serde::Serialize;

use super::matching::{wildcard_match, KyvernoImage};
use super::model::*;
use super::spec::{FailureAction, PolicyKind};
use crate::keys::PublicKey;
use crate::reference::ReferenceError;

/// Stands for the digest `mutateDigest` would add when deciding whether a glob still matches
/// the mutated text (a glob that depends on the digest's hex digits is not a real-world one).
const PLACEHOLDER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The note on a ClusterPolicy rule that pins a tag-only image.
const MUTATE_DIGEST_NOTE: &str = "the image names a tag: Kyverno verifies the digest the tag \
     points to at admission and writes that digest into the pod (mutateDigest)";

/// Names one check of a plan; the caller answers each with a [`super::decide::CheckResult`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CheckId(pub usize);

/// Where Kyverno (cosign) looks for an image's signatures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SignatureLocation {
    /// A signature repository (`repository` / `source.repository`); `None`: the image's own.
    pub repository: Option<String>,
    /// `cosignOCI11`: the referrers API first (cosign reads only the *last* referrer manifest
    /// with the signature artifact type), then the `sha256-<hex>.sig` tag if that fails.
    pub referrers_first: bool,
    /// Whether Sigstore bundles count: an ImageValidatingPolicy reads bundles first, then
    /// `.sig` (Kyverno 1.17+); a ClusterPolicy's default `Cosign` verifier reads `.sig` only.
    pub bundles: bool,
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    /// Verify the image's simple-signing signatures with this key.
    Key {
        key: PublicKey,
        /// Every pair must be in the payload's `optional` map.
        annotations: BTreeMap<String, String>,
    },
    /// Keyless: a Fulcio certificate whose identity matches one of these.
    Keyless { identities: Vec<KeylessIdentity> },
}

/// One verification the caller performs on the image.
#[derive(Debug, Clone)]
pub struct Check {
    pub id: CheckId,
    pub kind: CheckKind,
    pub location: SignatureLocation,
    /// A key check whose rule also wants a transparency-log entry fails in Kyverno for pinsign
    /// signatures even when the signature verifies (decide says so).
    pub tlog: Tlog,
}

impl Check {
    fn same_as(&self, kind: &CheckKind, location: &SignatureLocation, tlog: &Tlog) -> bool {
        if self.location != *location || self.tlog != *tlog {
            return false;
        }
        match (&self.kind, kind) {
            (
                CheckKind::Key {
                    key: a,
                    annotations: x,
                },
                CheckKind::Key {
                    key: b,
                    annotations: y,
                },
            ) => a.spki_der() == b.spki_der() && x == y,
            (CheckKind::Keyless { identities: a }, CheckKind::Keyless { identities: b }) => a == b,
            _ => false,
        }
    }
}

/// What a rule needs, as a tree whose leaves are checks.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Every part must pass.
    All(Vec<Requirement>),
    /// At least `count` of the parts must pass.
    AtLeast {
        count: usize,
        of: Vec<Requirement>,
    },
    Check(CheckId),
    /// Something pinsign cannot evaluate; the verdict cannot be "admitted" on it.
    Unsupported(String),
    /// Fails whatever the registry holds (a missing digest, an unverified image).
    Fail(String),
}

/// A rule (ClusterPolicy `verifyImages` entry) or policy (ImageValidatingPolicy) that covers
/// the image.
#[derive(Debug, Clone, Serialize)]
pub struct RulePlan {
    pub policy: String,
    pub kind: PolicyKind,
    pub rule: String,
    /// The pattern that matched (none for an ImageValidatingPolicy without globs).
    pub matched_by: Option<String>,
    /// Enforce (ClusterPolicy) or `Deny` (ImageValidatingPolicy): a failure denies the pod.
    pub enforce: bool,
    pub failure_policy: FailurePolicy,
    #[serde(skip)]
    pub requirement: Requirement,
    pub notes: Vec<String>,
}

/// Everything [`super::decide`] needs for one image.
#[derive(Debug, Clone)]
pub struct Plan {
    /// As given (the pod spec's `image:`).
    pub image: String,
    /// How ClusterPolicy rules see it (`ImageInfo.String()`).
    pub kyverno_image: String,
    pub rules: Vec<RulePlan>,
    /// Rules that saw the image and let it through unchecked, with why.
    pub skipped: Vec<String>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
    /// No rule covers the image: no registry access is needed to judge it.
    pub fn is_covered(&self) -> bool {
        !self.rules.is_empty()
    }
}

struct Builder {
    checks: Vec<Check>,
}

impl Builder {
    fn check(&mut self, kind: CheckKind, location: SignatureLocation, tlog: Tlog) -> Requirement {
        if let Some(c) = self
            .checks
            .iter()
            .find(|c| c.same_as(&kind, &location, &tlog))
        {
            return Requirement::Check(c.id);
        }
        let id = CheckId(self.checks.len() + 1);
        self.checks.push(Check {
            id,
            kind,
            location,
            tlog,
        });
        Requirement::Check(id)
    }
}

/// Plan `image` (a pod spec's `image:` text) against `policies`.
pub fn plan(policies: &[Policy], image: &str) -> Result<Plan, ReferenceError> {
    let img = KyvernoImage::parse(image)?;
    let mut b = Builder { checks: Vec::new() };
    let mut rules = Vec::new();
    let mut skipped = Vec::new();
    let mut notes = Vec::new();
    // (index in rules, needs evidence from some validation) for ImageValidatingPolicies.
    let mut ivpol_required: Vec<usize> = Vec::new();
    let mut ivpol_verified = false;
    for policy in policies {
        match &policy.body {
            PolicyBody::Cluster(cp) => {
                plan_cluster_policy(policy, cp, &img, &mut b, &mut rules, &mut skipped)
            }
            PolicyBody::ImageValidating(iv) => {
                if let Some((rule, verifies)) = plan_ivpol(policy, iv, &img, &mut b, &mut skipped) {
                    ivpol_verified |= verifies;
                    if iv.required && !verifies {
                        ivpol_required.push(rules.len());
                    }
                    rules.push(rule);
                }
            }
        }
    }
    if !ivpol_verified {
        for i in ivpol_required {
            let rule = &mut rules[i];
            let fail = Requirement::Fail(format!(
                "image {} is not verified: no policy performed a signature or attestation \
                 check on it, and validationConfigurations.required is on",
                img.pod_spec_string()
            ));
            rule.requirement =
                match std::mem::replace(&mut rule.requirement, Requirement::All(vec![])) {
                    Requirement::All(mut parts) => {
                        parts.push(fail);
                        Requirement::All(parts)
                    }
                    other => Requirement::All(vec![other, fail]),
                };
        }
    }
    let mutated = rules
        .iter()
        .any(|r| r.notes.iter().any(|n| n == MUTATE_DIGEST_NOTE));
    if !img.has_digest() && !mutated && rules.iter().any(|r| r.kind == PolicyKind::ClusterPolicy) {
        notes.push(format!(
            "{} names a tag: Kyverno verifies the digest the tag points to at admission time",
            img.pod_spec_string()
        ));
    }
    Ok(Plan {
        image: img.pod_spec_string().to_string(),
        kyverno_image: img.cluster_policy_string(),
        rules,
        skipped,
        checks: b.checks,
        notes,
    })
}

fn plan_cluster_policy(
    policy: &Policy,
    cp: &ClusterPolicyModel,
    img: &KyvernoImage,
    b: &mut Builder,
    rules: &mut Vec<RulePlan>,
    skipped: &mut Vec<String>,
) {
    let name = img.cluster_policy_string();
    for rule in &cp.rules {
        for entry in &rule.entries {
            let Some(pattern) = entry
                .image_references
                .iter()
                .find(|p| wildcard_match(p, &name))
            else {
                continue;
            };
            let rule_name = if rule.entries.len() > 1 {
                format!("{}/verifyImages[{}]", rule.name, entry.index)
            } else {
                rule.name.clone()
            };
            let label = format!("ClusterPolicy {} rule {rule_name}", policy.name);
            if !rule.applies_to_pods {
                skipped.push(format!(
                    "{label} matches the image but applies to {:?}, not to Pods or their controllers",
                    rule.kinds
                ));
                continue;
            }
            if let Some(skip) = entry
                .skip_image_references
                .iter()
                .find(|p| wildcard_match(p, &name))
            {
                skipped.push(format!(
                    "{label} skips it (skipImageReferences {skip:?}): Kyverno lets it in unchecked by this rule"
                ));
                continue;
            }
            let mut parts = Vec::new();
            let mut notes = Vec::new();
            if rule.has_conditions {
                notes.push("the rule has exclude or preconditions, which pinsign does not evaluate: it assumes they do not exempt the pod".into());
            }
            if entry.verify_digest && !entry.mutate_digest && !img.has_digest() {
                parts.push(Requirement::Fail(format!(
                    "missing digest for {name}: verifyDigest is on and mutateDigest is off, so the pod must name a digest"
                )));
            }
            if entry.verify_digest && entry.mutate_digest && !img.has_digest() {
                notes.push(MUTATE_DIGEST_NOTE.into());
            }
            match entry.verifier {
                VerifierType::Cosign => {}
                VerifierType::SigstoreBundle => parts.push(Requirement::Unsupported(
                    "type SigstoreBundle: pinsign does not predict Sigstore bundle verification"
                        .into(),
                )),
                VerifierType::Notary => parts.push(Requirement::Unsupported(
                    "type Notary: pinsign verifies cosign signatures only".into(),
                )),
            }
            for set in &entry.attestors {
                parts.push(attestor_set(b, set, entry));
            }
            if entry.has_attestations {
                parts.push(Requirement::Unsupported(
                    "the rule checks attestations, which pinsign does not verify".into(),
                ));
            }
            if entry.attestors.is_empty() && !entry.has_attestations && entry.required {
                parts.push(Requirement::Fail(format!(
                    "unverified image {name}: the rule has no attestors and required is on"
                )));
            }
            rules.push(RulePlan {
                policy: policy.name.clone(),
                kind: PolicyKind::ClusterPolicy,
                rule: rule_name,
                matched_by: Some(pattern.clone()),
                enforce: entry.action == FailureAction::Enforce,
                failure_policy: cp.failure_policy,
                requirement: Requirement::All(parts),
                notes,
            });
        }
    }
}

fn attestor_set(b: &mut Builder, set: &AttestorSet, entry: &VerifyImages) -> Requirement {
    let of = set
        .entries
        .iter()
        .map(|e| match e {
            AttestorEntry::Key {
                key,
                tlog,
                repository,
                annotations,
            } => b.check(
                CheckKind::Key {
                    key: key.clone(),
                    annotations: annotations.clone(),
                },
                SignatureLocation {
                    repository: repository.clone().or_else(|| entry.repository.clone()),
                    referrers_first: entry.cosign_oci11,
                    bundles: false,
                },
                tlog.clone(),
            ),
            AttestorEntry::Keyless {
                identity,
                tlog,
                repository,
            } => b.check(
                CheckKind::Keyless {
                    identities: vec![identity.clone()],
                },
                SignatureLocation {
                    repository: repository.clone().or_else(|| entry.repository.clone()),
                    referrers_first: entry.cosign_oci11,
                    bundles: false,
                },
                tlog.clone(),
            ),
            AttestorEntry::Nested(nested) => attestor_set(b, nested, entry),
            AttestorEntry::Unsupported(reason) => Requirement::Unsupported(reason.clone()),
        })
        .collect();
    Requirement::AtLeast {
        count: set.count,
        of,
    }
}

/// Returns the plan of a covering policy and whether one of its validations verifies the
/// image's signatures.
fn plan_ivpol(
    policy: &Policy,
    iv: &IvpolModel,
    img: &KyvernoImage,
    b: &mut Builder,
    skipped: &mut Vec<String>,
) -> Option<(RulePlan, bool)> {
    let label = format!("ImageValidatingPolicy {}", policy.name);
    let globs_match = |s: &str| -> Option<String> {
        if iv.match_images.is_empty() {
            return Some(String::new());
        }
        iv.match_images.iter().find_map(|m| match m {
            ImageMatch::Glob(g) if g.matches(s) => Some(g.as_str().to_string()),
            _ => None,
        })
    };
    let raw = img.pod_spec_string();
    let mutated = !img.has_digest()
        && iv.mutate_digest
        && globs_match(&img.cluster_policy_string()).is_some();
    let validated = if mutated {
        img.mutated_string(PLACEHOLDER_DIGEST)
    } else {
        raw.to_string()
    };
    let matched = globs_match(&validated);
    let expressions: Vec<&String> = iv
        .match_images
        .iter()
        .filter_map(|m| match m {
            ImageMatch::Expression(e) => Some(e),
            ImageMatch::Glob(_) => None,
        })
        .collect();
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    if matched.is_none() {
        if expressions.is_empty() {
            return None;
        }
        parts.push(Requirement::Unsupported(format!(
            "matchImageReferences expression {:?} is CEL, which pinsign does not evaluate",
            expressions[0]
        )));
    }
    if !iv.applies_to_pods {
        skipped.push(format!(
            "{label} matches the image but its matchConstraints select {:?}, not pods or their controllers",
            iv.resources
        ));
        return None;
    }
    if iv.has_conditions {
        notes.push("the policy has matchConditions, which pinsign does not evaluate: it assumes they select the pod".into());
    }
    if mutated {
        notes.push(format!(
            "Kyverno would rewrite the image to {} (mutateDigest)",
            img.mutated_string("<digest>")
        ));
    }
    let has_digest = img.has_digest() || mutated;
    if iv.verify_digest && !has_digest {
        parts.push(Requirement::Fail(format!(
            "image {raw} does not have a digest: verifyDigest is on and mutateDigest does not add one"
        )));
    }
    let mut verifies = false;
    for v in &iv.validations {
        match v {
            Validation::VerifySignatures {
                index,
                lists,
                filters,
                attestors,
                at_least,
                ..
            } => {
                if !lists.iter().any(|l| l == "containers") {
                    notes.push(format!(
                        "validations[{index}] looks at images.{} only; pinsign takes the image for a container",
                        lists.join(", images.")
                    ));
                    continue;
                }
                let mut applies = filters.is_empty();
                for f in filters {
                    match regex::Regex::new(f) {
                        Ok(re) => applies |= re.is_match(&validated),
                        Err(_) => {
                            parts.push(Requirement::Unsupported(format!(
                                "validations[{index}] filters with the regular expression {f:?}, which pinsign cannot compile"
                            )));
                            applies = false;
                            break;
                        }
                    }
                }
                if !applies {
                    continue;
                }
                verifies = true;
                let of = attestors
                    .iter()
                    .map(|name| match iv.attestors.get(name) {
                        None => Requirement::Fail(format!(
                            "validations[{index}] names attestors.{name}, which the policy does not define"
                        )),
                        Some(IvpolAttestor::Key {
                            key,
                            tlog,
                            repository,
                            annotations,
                        }) => b.check(
                            CheckKind::Key {
                                key: key.clone(),
                                annotations: annotations.clone(),
                            },
                            SignatureLocation {
                                repository: repository.clone(),
                                referrers_first: false,
                                bundles: true,
                            },
                            tlog.clone(),
                        ),
                        Some(IvpolAttestor::Keyless {
                            identities,
                            tlog,
                            repository,
                        }) => b.check(
                            CheckKind::Keyless {
                                identities: identities.clone(),
                            },
                            SignatureLocation {
                                repository: repository.clone(),
                                referrers_first: false,
                                bundles: true,
                            },
                            tlog.clone(),
                        ),
                        Some(IvpolAttestor::Unsupported(reason)) => Requirement::Unsupported(reason.clone()),
                    })
                    .collect();
                parts.push(Requirement::AtLeast {
                    count: *at_least,
                    of,
                });
            }
            Validation::Unsupported { index, reason } => {
                verifies = true; // it may verify; required cannot be judged against it
                parts.push(Requirement::Unsupported(format!(
                    "validations[{index}]: {reason}"
                )));
            }
        }
    }
    Some((
        RulePlan {
            policy: policy.name.clone(),
            kind: PolicyKind::ImageValidatingPolicy,
            rule: "validations".into(),
            matched_by: matched.filter(|m| !m.is_empty()),
            enforce: iv.enforce,
            failure_policy: iv.failure_policy,
            requirement: Requirement::All(parts),
            notes,
        },
        verifies,
    ))
}
