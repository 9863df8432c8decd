//! Step two of `policy check`: the caller's check results and the [`Plan`] become a
//! [`Verdict`]: admitted, denied, not covered, or undetermined, with the rule, the policy and
//! the reason.
//!
//! - **denied**: a rule that enforces (ClusterPolicy `Enforce`, ImageValidatingPolicy `Deny`)
//!   fails. A key signature that verifies still fails a rule that wants a transparency-log
//!   entry: Kyverno would look it up in Rekor, and pinsign signatures have none.
//! - **admitted**: every enforcing rule that covers the image passes (Audit rules that fail
//!   admit it too; the reason says they fail).
//! - **not covered**: no rule or policy covers it; Kyverno would let it in unchecked.
//! - **undetermined**: an enforcing rule needs something pinsign did not check (keyless
//!   verification not available yet, an attestation, a CEL expression), or a check failed to
//!   reach the registry.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{FailurePolicy, Tlog};
use super::plan::{CheckId, CheckKind, Plan, Requirement};
use super::spec::PolicyKind;

/// What the caller found for one [`super::plan::Check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// A signature verified; `detail` says which and where (for the reason text).
    Verified { detail: String },
    /// No signature verified; `reason` says why (unsigned, another key, wrong digest...).
    NotVerified { reason: String },
    /// A keyless check the caller cannot perform (yet).
    NeedsKeyless,
    /// The check could not be performed (the registry failed).
    Error { reason: String },
}

/// The caller's answers, by check.
#[derive(Debug, Clone, Default)]
pub struct CheckResults(BTreeMap<CheckId, CheckResult>);

impl CheckResults {
    pub fn new() -> CheckResults {
        CheckResults::default()
    }
    pub fn insert(&mut self, id: CheckId, result: CheckResult) {
        self.0.insert(id, result);
    }
    pub fn get(&self, id: CheckId) -> Option<&CheckResult> {
        self.0.get(&id)
    }
}

/// The verdict's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Admitted,
    Denied,
    NotCovered,
    Undetermined,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Admitted => "admitted",
            Decision::Denied => "denied",
            Decision::NotCovered => "not covered",
            Decision::Undetermined => "undetermined",
        }
    }
}

/// How one covering rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    Pass,
    Fail,
    Undetermined,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleOutcome {
    pub policy: String,
    pub kind: PolicyKind,
    pub rule: String,
    pub matched_by: Option<String>,
    pub enforce: bool,
    pub status: RuleStatus,
    pub reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What Kyverno would decide for one image, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub image: String,
    pub kyverno_image: String,
    pub decision: Decision,
    /// The rule that decided (the first failing enforcing rule, or the first covering rule).
    pub policy: Option<String>,
    pub kind: Option<PolicyKind>,
    pub rule: Option<String>,
    pub reason: String,
    pub rules: Vec<RuleOutcome>,
    /// The digest the checks verified (`REG/REPO@sha256:...`), when the registry was asked:
    /// the one that would start. Set by the caller that pinned the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
enum Outcome {
    Pass(String),
    Fail(String),
    Undetermined(String),
    Error(String),
}

fn rekor_words(url: &str) -> String {
    if url.trim_end_matches('/') == super::generate::PUBLIC_REKOR {
        format!("the public Rekor ({url})")
    } else {
        format!("the Rekor at {url}")
    }
}

fn eval(req: &Requirement, plan: &Plan, results: &CheckResults) -> Outcome {
    match req {
        Requirement::Fail(reason) => Outcome::Fail(reason.clone()),
        Requirement::Unsupported(reason) => Outcome::Undetermined(reason.clone()),
        Requirement::Check(id) => {
            let Some(check) = plan.check(*id) else {
                return Outcome::Undetermined(format!("check {} is not in the plan", id.0));
            };
            let is_key = matches!(check.kind, CheckKind::Key { .. });
            let tlog = match (&check.tlog, is_key) {
                (Tlog::Required { url }, true) => Some(url.clone()),
                _ => None,
            };
            match results.get(*id) {
                None => Outcome::Undetermined(format!("check {} was not performed", id.0)),
                Some(CheckResult::Verified { detail }) => match tlog {
                    None => Outcome::Pass(detail.clone()),
                    Some(url) => Outcome::Fail(format!(
                        "{detail}, but the rule requires a transparency-log entry: Kyverno would look up {}, \
                         and pinsign signatures have none (set rekor.ignoreTlog: true, or \
                         ctlog.insecureIgnoreTlog: true in an ImageValidatingPolicy)",
                        rekor_words(&url)
                    )),
                },
                Some(CheckResult::NotVerified { reason }) => match tlog {
                    None => Outcome::Fail(reason.clone()),
                    Some(url) => Outcome::Fail(format!(
                        "{reason}; the rule would also look up {} for a transparency-log entry",
                        rekor_words(&url)
                    )),
                },
                Some(CheckResult::NeedsKeyless) => {
                    Outcome::Undetermined("needs keyless verification, which pinsign does not do yet".into())
                }
                Some(CheckResult::Error { reason }) => Outcome::Error(reason.clone()),
            }
        }
        Requirement::All(parts) => {
            let outcomes: Vec<Outcome> = parts.iter().map(|p| eval(p, plan, results)).collect();
            if let Some(Outcome::Fail(r)) = outcomes.iter().find(|o| matches!(o, Outcome::Fail(_)))
            {
                return Outcome::Fail(r.clone());
            }
            if let Some(Outcome::Error(r)) =
                outcomes.iter().find(|o| matches!(o, Outcome::Error(_)))
            {
                return Outcome::Error(r.clone());
            }
            if let Some(Outcome::Undetermined(r)) = outcomes
                .iter()
                .find(|o| matches!(o, Outcome::Undetermined(_)))
            {
                return Outcome::Undetermined(r.clone());
            }
            let passes: Vec<String> = outcomes
                .into_iter()
                .filter_map(|o| match o {
                    Outcome::Pass(r) => Some(r),
                    _ => None,
                })
                .collect();
            Outcome::Pass(if passes.is_empty() {
                "nothing to verify".into()
            } else {
                passes.join("; ")
            })
        }
        Requirement::AtLeast { count, of } => {
            let outcomes: Vec<Outcome> = of.iter().map(|p| eval(p, plan, results)).collect();
            let mut pass = Vec::new();
            let mut fail = Vec::new();
            let mut undetermined = Vec::new();
            let mut error = Vec::new();
            for o in outcomes {
                match o {
                    Outcome::Pass(r) => pass.push(r),
                    Outcome::Fail(r) => fail.push(r),
                    Outcome::Undetermined(r) => undetermined.push(r),
                    Outcome::Error(r) => error.push(r),
                }
            }
            let n = of.len();
            if pass.len() >= *count {
                return Outcome::Pass(if pass.is_empty() {
                    "nothing to verify".into()
                } else {
                    pass.join("; ")
                });
            }
            let reasons = |v: &[String]| {
                if v.len() == 1 {
                    v[0].clone()
                } else {
                    v.iter()
                        .enumerate()
                        .map(|(i, r)| format!("({}) {r}", i + 1))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            };
            if pass.len() + undetermined.len() + error.len() < *count {
                let why = reasons(&fail);
                return Outcome::Fail(if n == 1 && *count == 1 {
                    why
                } else {
                    format!(
                        "{} of {n} attestors verified, {count} needed: {why}",
                        pass.len()
                    )
                });
            }
            if !error.is_empty() {
                return Outcome::Error(reasons(&error));
            }
            Outcome::Undetermined(reasons(&undetermined))
        }
    }
}

/// The verdict for the image of `plan`, given the caller's `results`.
pub fn decide(plan: &Plan, results: &CheckResults) -> Verdict {
    let mut outcomes = Vec::new();
    for rule in &plan.rules {
        let (status, reason) = match eval(&rule.requirement, plan, results) {
            Outcome::Pass(r) => (RuleStatus::Pass, r),
            Outcome::Fail(r) => (RuleStatus::Fail, r),
            Outcome::Undetermined(r) => (RuleStatus::Undetermined, r),
            Outcome::Error(r) => (RuleStatus::Error, r),
        };
        outcomes.push((rule, status, reason));
    }
    let mut verdict = Verdict {
        image: plan.image.clone(),
        kyverno_image: plan.kyverno_image.clone(),
        decision: Decision::NotCovered,
        policy: None,
        kind: None,
        rule: None,
        reason: String::new(),
        rules: outcomes
            .iter()
            .map(|(rule, status, reason)| RuleOutcome {
                policy: rule.policy.clone(),
                kind: rule.kind,
                rule: rule.rule.clone(),
                matched_by: rule.matched_by.clone(),
                enforce: rule.enforce,
                status: *status,
                reason: reason.clone(),
                notes: rule.notes.clone(),
            })
            .collect(),
        pinned: None,
        skipped: plan.skipped.clone(),
        notes: plan.notes.clone(),
    };
    let mut set = |decision: Decision, rule: Option<&super::plan::RulePlan>, reason: String| {
        verdict.decision = decision;
        verdict.policy = rule.map(|r| r.policy.clone());
        verdict.kind = rule.map(|r| r.kind);
        verdict.rule = rule.map(|r| r.rule.clone());
        verdict.reason = reason;
    };
    if outcomes.is_empty() {
        set(
            Decision::NotCovered,
            None,
            "no rule or policy covers it: Kyverno would let it in unchecked, and it would start \
             without any signature check"
                .into(),
        );
        return verdict;
    }
    if let Some((rule, _, reason)) = outcomes
        .iter()
        .find(|(r, s, _)| r.enforce && *s == RuleStatus::Fail)
    {
        set(Decision::Denied, Some(rule), reason.clone());
        return verdict;
    }
    if let Some((rule, status, reason)) = outcomes.iter().find(|(r, s, _)| {
        (r.enforce && *s == RuleStatus::Undetermined)
            || (*s == RuleStatus::Error && (r.enforce || r.failure_policy == FailurePolicy::Fail))
    }) {
        let why = if *status == RuleStatus::Error {
            format!("could not check: {reason}")
        } else {
            reason.clone()
        };
        set(Decision::Undetermined, Some(rule), why);
        return verdict;
    }
    let audit_failures: Vec<String> = outcomes
        .iter()
        .filter(|(r, s, _)| !r.enforce && *s != RuleStatus::Pass)
        .map(|(r, status, reason)| {
            let how = match status {
                RuleStatus::Fail => "fails",
                _ => "cannot be judged",
            };
            format!(
                "{} {} rule {} (Audit) {how}: {reason}",
                r.kind.kubernetes_kind(),
                r.policy,
                r.rule
            )
        })
        .collect();
    let first_pass = outcomes
        .iter()
        .find(|(r, s, _)| r.enforce && *s == RuleStatus::Pass);
    let (rule, reason) = match first_pass {
        Some((rule, _, reason)) => (*rule, reason.clone()),
        None => (outcomes[0].0, outcomes[0].2.clone()),
    };
    let reason = if audit_failures.is_empty() {
        reason
    } else if first_pass.is_some() {
        format!(
            "{reason}; {}; Kyverno admits it and records the failure in a PolicyReport",
            audit_failures.join("; ")
        )
    } else {
        format!(
            "{}; Kyverno admits it and records the failure in a PolicyReport",
            audit_failures.join("; ")
        )
    };
    set(Decision::Admitted, Some(rule), reason);
    verdict
}
