/*!
Kyverno admission policies: writing them (`pinsign policy kyverno`) and predicting what they
decide for an image (`pinsign policy check`).

- [`spec`]: [`PolicySpec`], the checked request to write a policy (usage errors, exit 2).
- [`generate`]: a spec to ClusterPolicy / ImageValidatingPolicy YAML.
- [`crd`]: the Kyverno resources as serde structs, for both directions.
- [`parse`]: YAML documents to the typed [`model`], with Kyverno's defaults.
- [`matching`]: Kyverno's wildcard and glob, and how it spells an image before matching.
- [`cel`]: recognising `verifyImageSignatures` validations.
- [`plan`]: which rules cover an image and which checks they need (no registry access).
- [`decide`]: check results to a verdict: admitted / denied / not covered / undetermined.
- [`report`]: text lines and the `--output json` document.
- [`evaluate`]: the registry I/O between [`plan()`] and [`decide()`]: for every
  [`plan::Check`] it verifies the image's signatures with the check's key at the check's
  [`plan::SignatureLocation`] (keyless checks: [`evaluate::verify_keyless`]), and records a
  [`decide::CheckResult`].

Another command that writes a policy (`rotate --policy-out`) fills a [`PolicyInput`] (keys
as [`crate::keys::PublicKey`]s, patterns as strings), checks it with [`PolicySpec::new`]
(a [`crate::error::UsageError`] names the bad value), shows [`PolicySpec::warnings`], and
writes [`generate()`]'s text, e.g. with [`crate::files::write_atomic`].
*/

pub mod cel;
pub mod crd;
pub mod decide;
pub mod evaluate;
pub mod generate;
pub mod matching;
pub mod model;
pub mod parse;
pub mod plan;
pub mod report;
pub mod spec;

pub use decide::{decide, CheckResult, CheckResults, Decision, Verdict};
pub use evaluate::verify_keyless;
pub use generate::generate;
pub use model::Policy;
pub use parse::{parse_policies, PolicyFile};
pub use plan::{plan, Check, CheckId, CheckKind, Plan, SignatureLocation};
pub use report::Report;
pub use spec::{FailureAction, PolicyInput, PolicyKind, PolicySpec, SignatureMode};

#[cfg(test)]
mod tests;
