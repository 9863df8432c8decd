//! The registry step of `policy check`, between [`super::plan()`] and [`super::decide()`]:
//! perform a plan's checks on the image, as Kyverno's cosign verifier would, and record a
//! [`CheckResult`] for each ([`perform`]).
//!
//! - Nothing is asked of the registry when the plan has no key check: an image no rule
//!   covers, or one only keyless rules cover, is judged from its name alone.
//! - The image is pinned once ([`Registry::resolve`]); every key check verifies that digest,
//!   which is the one Kyverno verifies at admission (and writes into the pod with
//!   `mutateDigest`). An image the registry does not have fails its checks (Kyverno fails
//!   the rule, and the pod could not start anyway); any other registry error makes them
//!   [`CheckResult::Error`], so the image is undetermined and the next image is still checked.
//! - Key checks at the same place with the same annotations share one
//!   [`verification::verify`] call with all their keys; each check then takes the
//!   signatures its own key verified.
//! - Place: the check's `repository` (else the image's own) and its `.sig` tag. With
//!   `cosignOCI11`, cosign (`VerifyImageSignatures`) first lists the referrers of the
//!   signature artifact type and reads **only the last one**; if that fails for any reason
//!   (no referrers API, none listed, no signature verifies) it falls back to the `.sig` tag.
//!   The prediction does the same.
//! - Keyless checks go through [`verify_keyless`]: the image's keyless signatures verified
//!   offline (certificate chain, SCT, Rekor SET, signature, body, identity) against the trusted
//!   root, once per identity the attestor names, each identity's wildcards turned into the
//!   anchored regular expression Kyverno's wildcard means.

use std::collections::BTreeMap;

use super::decide::{CheckResult, CheckResults};
use super::model::{IdentityMatch, KeylessIdentity};
use super::plan::{Check, CheckId, CheckKind, Plan, SignatureLocation};
use crate::keyless::{IdentityPolicy, KeylessTrust, Matcher, TrustedRoot};
use crate::keys::PublicKey;
use crate::media_types::SIG_ARTIFACT;
use crate::reference::{ImageRef, Repository};
use crate::registry::{PinnedImage, Registry, RegistryError};
use crate::verification::{self, Checked, Lookup, Verification};

/// Turns an error into its one-line text (the command passes `commands::describe`, which
/// adds flag advice to registry errors; this module knows no flags).
pub type Describe = fn(&anyhow::Error) -> String;

/// What performing a plan's checks found.
#[derive(Debug, Clone, Default)]
pub struct Performed {
    pub results: CheckResults,
    /// The image's digest (`REG/REPO@sha256:...`) when the registry was asked.
    pub pinned: Option<String>,
}

/// True when performing `plan` needs the registry (it has a signature check). The command
/// builds its registry client only then.
pub fn needs_registry(plan: &Plan) -> bool {
    !plan.checks.is_empty()
}

/// A keyless check: the image's keyless signatures, verified offline against `root`, for
/// each identity the attestor names (any one suffices, as in Kyverno).
pub async fn verify_keyless(
    registry: &Registry,
    pinned: &PinnedImage,
    check: &Check,
    root: &TrustedRoot,
    describe: Describe,
) -> CheckResult {
    let CheckKind::Keyless { identities } = &check.kind else {
        return CheckResult::Error {
            reason: format!("check {} is a key check, not a keyless one", check.id.0),
        };
    };
    let repository = match check.location.repository.as_deref().map(Repository::parse) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            return CheckResult::NotVerified {
                reason: format!(
                    "the policy's signature repository is not a repository ({e}): Kyverno fails the rule"
                ),
            }
        }
    };
    let lookup = if check.location.bundles || check.location.referrers_first {
        Lookup::Any { repository }
    } else {
        Lookup::Tag { repository }
    };
    let mut reasons = Vec::new();
    for identity in identities {
        let policy = match identity_policy(identity) {
            Ok(p) => p,
            Err(reason) => {
                reasons.push(reason);
                continue;
            }
        };
        let trust = KeylessTrust {
            policy,
            root: root.clone(),
        };
        let opts = verification::VerifyOptions {
            keys: &[],
            required: &BTreeMap::new(),
            lookup: &lookup,
            predicate_type: crate::bundle::COSIGN_SIGN_PREDICATE_TYPE,
            keyless: Some(&trust),
        };
        let v = match verification::verify_with(registry, pinned, &opts).await {
            Ok(v) => v,
            Err(e) => {
                return CheckResult::Error {
                    reason: format!("cannot read the signatures of {pinned}: {}", describe(&e)),
                }
            }
        };
        let counts = |s: &&Checked| {
            check.location.bundles || s.format == crate::verification::Format::SimpleSigning
        };
        if let Some(s) = v.valid().find(counts) {
            let who = s
                .keyless
                .as_ref()
                .map(|k| format!("{} (issuer {})", k.identity, k.issuer))
                .unwrap_or_default();
            return CheckResult::Verified {
                detail: format!("keyless signature by {who} in {}", s.location),
            };
        }
        let why = v
            .signatures
            .iter()
            .filter(counts)
            .filter_map(|s| s.check.reason.clone())
            .collect::<Vec<_>>();
        reasons.push(if why.is_empty() {
            format!("no keyless signatures for {pinned}")
        } else {
            why.join("; ")
        });
    }
    CheckResult::NotVerified {
        reason: reasons.join("; "),
    }
}

/// The keyless identity policy an attestor identity means. Kyverno matches a ClusterPolicy's
/// `subject`/`issuer` with its wildcard (`*` any run, `?` one character, the whole value);
/// an absent field matches anything.
fn identity_policy(identity: &KeylessIdentity) -> Result<IdentityPolicy, String> {
    let matcher = |m: Option<&IdentityMatch>, what: &'static str| -> Result<Matcher, String> {
        match m {
            None => Matcher::regex("", what).map_err(|e| e.to_string()),
            Some(IdentityMatch::Exact(s)) => Ok(Matcher::exact(s.clone())),
            Some(IdentityMatch::Regexp(re)) => Matcher::regex(re, what).map_err(|e| e.to_string()),
            Some(IdentityMatch::Wildcard(p)) => {
                let mut re = String::from("^");
                for c in p.chars() {
                    match c {
                        '*' => re.push_str(".*"),
                        '?' => re.push('.'),
                        c => re.push_str(&regex::escape(&c.to_string())),
                    }
                }
                re.push('$');
                Matcher::regex(&re, what).map_err(|e| e.to_string())
            }
        }
    };
    Ok(IdentityPolicy::new(
        matcher(identity.subject.as_ref(), "subject")?,
        matcher(identity.issuer.as_ref(), "issuer")?,
    ))
}

/// Perform every check of `plan` on `image` (the image the plan was made for); keyless
/// checks against `root`.
pub async fn perform(
    registry: &Registry,
    plan: &Plan,
    image: &ImageRef,
    root: &TrustedRoot,
    describe: Describe,
) -> Performed {
    let mut performed = Performed::default();
    if plan.checks.is_empty() {
        return performed;
    }
    let groups = key_groups(plan);
    let pinned = match registry.resolve(image).await {
        Ok(pinned) => pinned,
        Err(e) => {
            let result = match &e {
                RegistryError::NotFound { .. } => CheckResult::NotVerified {
                    reason: format!(
                        "{} does not exist ({e}): Kyverno fails the rule, and the pod could not \
                         pull it",
                        image.original()
                    ),
                },
                _ => CheckResult::Error {
                    reason: format!(
                        "cannot resolve {}: {}",
                        image.original(),
                        describe(&anyhow::Error::new(e))
                    ),
                },
            };
            for check in &plan.checks {
                performed.results.insert(check.id, result.clone());
            }
            return performed;
        }
    };
    for check in &plan.checks {
        if let CheckKind::Keyless { .. } = check.kind {
            let result = verify_keyless(registry, &pinned, check, root, describe).await;
            performed.results.insert(check.id, result);
        }
    }
    for group in &groups {
        for (id, result) in verify_group(registry, &pinned, group, describe).await {
            performed.results.insert(id, result);
        }
    }
    performed.pinned = Some(pinned.to_string());
    performed
}

/// Key checks that look in the same place for the same annotations.
struct KeyGroup<'a> {
    location: &'a SignatureLocation,
    annotations: &'a BTreeMap<String, String>,
    checks: Vec<(CheckId, &'a PublicKey)>,
}

fn key_groups(plan: &Plan) -> Vec<KeyGroup<'_>> {
    let mut groups: Vec<KeyGroup<'_>> = Vec::new();
    for check in &plan.checks {
        let CheckKind::Key { key, annotations } = &check.kind else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|g| *g.location == check.location && g.annotations == annotations)
        {
            Some(group) => group.checks.push((check.id, key)),
            None => groups.push(KeyGroup {
                location: &check.location,
                annotations,
                checks: vec![(check.id, key)],
            }),
        }
    }
    groups
}

/// How the referrers attempt of a `cosignOCI11` check went.
enum Referrers {
    /// The last signature referrer and its signatures (only those: cosign reads no other).
    Last {
        location: String,
        listed: usize,
        verification: Verification,
    },
    /// cosign would get an error here and fall back to the `.sig` tag.
    Failed(String),
    /// pinsign cannot read what cosign would read here.
    Unchecked(String),
}

async fn verify_group(
    registry: &Registry,
    pinned: &PinnedImage,
    group: &KeyGroup<'_>,
    describe: Describe,
) -> Vec<(CheckId, CheckResult)> {
    let all = |result: CheckResult| -> Vec<(CheckId, CheckResult)> {
        group
            .checks
            .iter()
            .map(|(id, _)| (*id, result.clone()))
            .collect()
    };
    let repository = match group.location.repository.as_deref() {
        None => None,
        Some(text) => match Repository::parse(text) {
            Ok(r) => Some(r),
            Err(e) => {
                return all(CheckResult::NotVerified {
                    reason: format!(
                        "the policy's signature repository {text:?} is not a repository ({e}): \
                         Kyverno fails the rule"
                    ),
                })
            }
        },
    };
    let keys: Vec<PublicKey> = group.checks.iter().map(|(_, k)| (*k).clone()).collect();
    let referrers = if group.location.referrers_first {
        Some(
            last_referrer(
                registry,
                pinned,
                repository.as_ref(),
                &keys,
                group.annotations,
            )
            .await,
        )
    } else {
        None
    };
    let verified_by_referrers = |key: &PublicKey| -> Option<&Checked> {
        match &referrers {
            Some(Referrers::Last { verification, .. }) => {
                verified_by(verification, key, group.location.bundles)
            }
            _ => None,
        }
    };
    let tag_needed = group
        .checks
        .iter()
        .any(|(_, key)| verified_by_referrers(key).is_none());
    let tag = if tag_needed {
        // An ImageValidatingPolicy also reads bundles, which the referrers API lists.
        let lookup = if group.location.bundles {
            Lookup::Any {
                repository: repository.clone(),
            }
        } else {
            Lookup::Tag {
                repository: repository.clone(),
            }
        };
        Some(
            verification::verify(registry, pinned, &keys, group.annotations, &lookup)
                .await
                .map_err(|e| format!("cannot read the signatures of {pinned}: {}", describe(&e))),
        )
    } else {
        None
    };
    group
        .checks
        .iter()
        .map(|(id, key)| {
            let fp = key.fingerprint();
            if let Some(s) = verified_by_referrers(key) {
                let detail = format!("signature by {fp} in the referrer {}", s.location);
                return (*id, CheckResult::Verified { detail });
            }
            let result = match &tag {
                // Not needed only when every key verified through the referrers.
                None => CheckResult::Error {
                    reason: "the .sig tag was not read".into(),
                },
                Some(Err(reason)) => CheckResult::Error {
                    reason: reason.clone(),
                },
                Some(Ok(v)) => match verified_by(v, key, group.location.bundles) {
                    Some(s) => {
                        let mut detail = format!("signature by {fp} in {}", s.location);
                        if let Some(r) = &referrers {
                            detail.push_str(&format!(
                                " (cosignOCI11: {}, so cosign falls back to the .sig tag)",
                                referrers_words(r, &fp)
                            ));
                        }
                        CheckResult::Verified { detail }
                    }
                    None => {
                        let tag_reason = not_verified(v, pinned, key);
                        match &referrers {
                            None => CheckResult::NotVerified { reason: tag_reason },
                            Some(r @ Referrers::Unchecked(_)) => CheckResult::Error {
                                reason: format!(
                                    "{}; in the .sig tag: {tag_reason}",
                                    referrers_words(r, &fp)
                                ),
                            },
                            Some(r) => CheckResult::NotVerified {
                                reason: format!(
                                    "cosignOCI11: {}; then in the .sig tag: {tag_reason}",
                                    referrers_words(r, &fp)
                                ),
                            },
                        }
                    }
                },
            };
            (*id, result)
        })
        .collect()
}

/// cosign's OCI 1.1 attempt: the last referrer with the signature artifact type.
async fn last_referrer(
    registry: &Registry,
    pinned: &PinnedImage,
    repository: Option<&Repository>,
    keys: &[PublicKey],
    annotations: &BTreeMap<String, String>,
) -> Referrers {
    if let Some(repo) = repository.filter(|r| *r != pinned.repository()) {
        return Referrers::Unchecked(format!(
            "cosignOCI11 with the signature repository {repo}: cosign reads the referrers there, \
             which pinsign does not"
        ));
    }
    let repo = pinned.repository();
    let listed = match registry
        .referrers(repo, pinned.digest(), Some(SIG_ARTIFACT))
        .await
    {
        Ok(list) => list,
        Err(RegistryError::ReferrersUnsupported { registry, .. }) => {
            return Referrers::Failed(format!("registry {registry} has no referrers API"))
        }
        Err(e) => return Referrers::Failed(format!("listing the referrers failed ({e})")),
    };
    let Some(last) = listed.last() else {
        return Referrers::Failed(format!("{pinned} has no signature referrers"));
    };
    let location = format!("{repo}@{}", last.digest);
    match verification::verify(registry, pinned, keys, annotations, &Lookup::Referrers).await {
        Ok(mut verification) => {
            verification.signatures.retain(|s| s.location == location);
            Referrers::Last {
                location,
                listed: listed.len(),
                verification,
            }
        }
        Err(e) => Referrers::Failed(format!(
            "reading the referrers failed ({})",
            crate::error::one_line(&e)
        )),
    }
}

/// The signature `key` verified, if any; a Sigstore bundle counts only where the policy's
/// verifier reads bundles.
fn verified_by<'v>(v: &'v Verification, key: &PublicKey, bundles: bool) -> Option<&'v Checked> {
    let fp = key.fingerprint();
    v.valid().find(|s| {
        s.check.key.as_deref() == Some(fp.as_str())
            && (bundles || s.format == crate::verification::Format::SimpleSigning)
    })
}

/// Why the referrers attempt did not verify with the key `fp`.
fn referrers_words(r: &Referrers, fp: &str) -> String {
    match r {
        Referrers::Failed(why) | Referrers::Unchecked(why) => why.clone(),
        Referrers::Last {
            location,
            listed,
            verification,
        } => {
            let last = if *listed == 1 {
                format!("the signature referrer {location}")
            } else {
                format!("only the last of {listed} signature referrers ({location}) counts, and it")
            };
            if verification.signatures.is_empty() {
                format!("{last} holds no simple-signing signature")
            } else {
                format!(
                    "{last} does not verify with {fp}: {}",
                    summarize(&verification.signatures, fp)
                )
            }
        }
    }
}

/// Why no signature in `v` verified with `key`: unsigned, another key, a replay, a
/// missing annotation...
fn not_verified(v: &Verification, pinned: &PinnedImage, key: &PublicKey) -> String {
    let fp = key.fingerprint();
    if v.signatures.is_empty() {
        return format!(
            "no signatures for {pinned} (looked in {})",
            v.places.join(" and ")
        );
    }
    let n = v.signatures.len();
    format!(
        "none of the {n} signature{} in {} verifies with {fp}: {}",
        if n == 1 { "" } else { "s" },
        v.places.join(" and "),
        summarize(&v.signatures, &fp)
    )
}

/// One reason per kind of failure, with a count when several signatures share it.
fn summarize(signatures: &[Checked], fp: &str) -> String {
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for s in signatures {
        let reason = match (&s.check.key, &s.check.reason) {
            (Some(k), _) if k != fp => format!("signed by another key ({k})"),
            (_, Some(r)) => r.clone(),
            (_, None) => "not valid".into(),
        };
        match reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => reasons.push((reason, 1)),
        }
    }
    reasons
        .into_iter()
        .map(|(r, count)| {
            if count == 1 {
                r
            } else {
                format!("{r} ({count} signatures)")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
