//! Writing the policy: [`PolicySpec`] to Kyverno resources (the [`super::crd`] structs), then
//! to YAML with `serde_yaml_ng`, one document per kind separated by `---`, PEM keys as literal
//! block text. The result is what `kubectl apply -f` takes.
//!
//! What each field says, and why (issue 10):
//! - ClusterPolicy: `background: false` and `spec.webhookConfiguration` (not the deprecated
//!   top-level `failurePolicy` / `webhookTimeoutSeconds`); one rule for the keys with one
//!   attestor set of `count: 1` holding one `keys` entry per key, so any key admits (a
//!   rotation's overlap); `rekor.ignoreTlog` and `ctlog.ignoreSCT`, because key signatures
//!   have no transparency-log entry and Kyverno would otherwise look them up in the public
//!   Rekor and deny the pod; `verifyDigest`/`required` on, `mutateDigest` on under Enforce
//!   (Kyverno refuses `mutateDigest: true` with Audit); `repository` for `--signature-repo`,
//!   `cosignOCI11` for `--mode referrers`, `imageRegistryCredentials.secrets`. The keyless
//!   rule, if any, is a rule of its own, never an entry beside the keys.
//! - ImageValidatingPolicy: one `cosign` attestor per key (`key.data`, `ctlog.insecureIgnoreTlog`
//!   and `insecureIgnoreSCT`), one for the keyless identity, and one validation for each: the
//!   key validation admits an image when at least one key attestor verifies
//!   (`verifyImageSignatures(...) > 0`). `matchImageReferences` is policy-wide, so each
//!   validation first keeps the images its own patterns cover (`filter` with `matches()` on
//!   the patterns as anchored regular expressions), over containers, init containers and
//!   ephemeral containers alike.

use serde::Serialize;

use super::crd::*;
use super::spec::{
    wildcard_to_regex, FailureAction, PolicyKind, PolicySpec, SignatureMode, Subject,
};
use crate::keys::PublicKey;

/// The Rekor the keyless rule checks entries in.
pub const PUBLIC_REKOR: &str = "https://rekor.sigstore.dev";
/// Webhook timeout written into policies (Kyverno allows 1 to 30 seconds; image checks are
/// registry round trips).
pub const WEBHOOK_TIMEOUT_SECONDS: i64 = 30;
/// Rule names in a generated ClusterPolicy.
pub const KEY_RULE: &str = "verify-key-signatures";
pub const KEYLESS_RULE: &str = "verify-keyless-signatures";
/// The keyless attestor's name in a generated ImageValidatingPolicy.
pub const KEYLESS_ATTESTOR: &str = "keyless";

/// Writing YAML failed (it does not, for these types; the error is kept rather than hidden).
#[derive(Debug, thiserror::Error)]
#[error("cannot write the Kyverno policy as YAML: {0}")]
pub struct GenerateError(#[from] serde_yaml_ng::Error);

/// The YAML text for every kind the spec asks for.
pub fn generate(spec: &PolicySpec) -> Result<String, GenerateError> {
    let mut out = Vec::new();
    {
        let mut ser = serde_yaml_ng::Serializer::new(&mut out);
        for kind in spec.kinds() {
            match kind {
                PolicyKind::ClusterPolicy => cluster_policy(spec).serialize(&mut ser)?,
                PolicyKind::ImageValidatingPolicy => {
                    image_validating_policy(spec).serialize(&mut ser)?
                }
            }
        }
    }
    // The emitter writes UTF-8 only.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn digest_settings(spec: &PolicySpec) -> (bool, bool, bool) {
    // (verifyDigest, required, mutateDigest)
    (true, true, spec.failure_action() == FailureAction::Enforce)
}

fn pods() -> MatchResources {
    MatchResources {
        any: vec![ResourceFilter {
            resources: Some(ResourceDescription {
                kinds: vec!["Pod".into()],
                operations: vec![],
            }),
        }],
        ..MatchResources::default()
    }
}

/// The `kyverno.io/v1` ClusterPolicy.
pub fn cluster_policy(spec: &PolicySpec) -> ClusterPolicy {
    let (verify_digest, required, mutate_digest) = digest_settings(spec);
    let action = Some(spec.failure_action().as_str().to_string());
    let key_entries = spec
        .keys()
        .iter()
        .map(|key| Attestor {
            keys: Some(StaticKeyAttestor {
                public_keys: Some(key.to_pem()),
                rekor: Some(Rekor {
                    url: None,
                    ignore_tlog: Some(true),
                }),
                ctlog: Some(CtLog {
                    ignore_sct: Some(true),
                }),
                ..StaticKeyAttestor::default()
            }),
            ..Attestor::default()
        })
        .collect();
    let mut rules = vec![Rule {
        name: KEY_RULE.into(),
        match_: Some(pods()),
        verify_images: vec![ImageVerification {
            image_references: spec.images().iter().map(|p| p.to_string()).collect(),
            failure_action: action.clone(),
            verify_digest: Some(verify_digest),
            required: Some(required),
            mutate_digest: Some(mutate_digest),
            repository: spec.signature_repo().map(|r| r.to_string()),
            cosign_oci11: (spec.mode() == SignatureMode::Referrers).then_some(true),
            image_registry_credentials: (!spec.registry_secrets().is_empty()).then(|| {
                ImageRegistryCredentials {
                    secrets: spec.registry_secrets().to_vec(),
                    ..ImageRegistryCredentials::default()
                }
            }),
            attestors: vec![AttestorSet {
                count: Some(1),
                entries: key_entries,
            }],
            ..ImageVerification::default()
        }],
        ..Rule::default()
    }];
    if let Some(keyless) = spec.keyless() {
        let (subject, subject_regexp) = match keyless.subject() {
            Subject::Pattern(s) => (Some(s.clone()), None),
            Subject::Regexp(re) => (None, Some(re.clone())),
        };
        rules.push(Rule {
            name: KEYLESS_RULE.into(),
            match_: Some(pods()),
            verify_images: vec![ImageVerification {
                image_references: keyless.images().iter().map(|p| p.to_string()).collect(),
                failure_action: action,
                verify_digest: Some(verify_digest),
                required: Some(required),
                mutate_digest: Some(mutate_digest),
                attestors: vec![AttestorSet {
                    count: Some(1),
                    entries: vec![Attestor {
                        keyless: Some(KeylessAttestor {
                            subject,
                            subject_regexp,
                            issuer: Some(keyless.issuer().to_string()),
                            rekor: Some(Rekor {
                                url: Some(PUBLIC_REKOR.into()),
                                ignore_tlog: None,
                            }),
                            ..KeylessAttestor::default()
                        }),
                        ..Attestor::default()
                    }],
                }],
                ..ImageVerification::default()
            }],
            ..Rule::default()
        });
    }
    ClusterPolicy {
        api_version: "kyverno.io/v1".into(),
        kind: "ClusterPolicy".into(),
        metadata: Metadata {
            name: spec.name().to_string(),
            ..Metadata::default()
        },
        spec: ClusterPolicySpec {
            background: Some(false),
            webhook_configuration: Some(WebhookConfiguration {
                failure_policy: Some("Fail".into()),
                timeout_seconds: Some(WEBHOOK_TIMEOUT_SECONDS),
            }),
            rules,
            ..ClusterPolicySpec::default()
        },
    }
}

/// The attestor name for a key in a generated ImageValidatingPolicy: `key_` and the first 12
/// hex digits of its fingerprint, a CEL identifier that stays the same for the same key.
pub fn key_attestor_name(key: &PublicKey) -> String {
    let fingerprint = key.fingerprint();
    let hex = fingerprint.strip_prefix("SHA256:").unwrap_or(&fingerprint);
    format!("key_{}", &hex[..hex.len().min(12)])
}

/// The CEL validation: every image of the pod that one of `regexes` covers must verify with
/// at least one of `attestors`.
pub fn validation_expression(regexes: &[String], attestors: &[String]) -> String {
    let filter = regexes
        .iter()
        .map(|re| format!("image.matches(r'{re}')"))
        .collect::<Vec<_>>()
        .join(" || ");
    let attestors = attestors
        .iter()
        .map(|a| format!("attestors.{a}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "(images.containers + images.initContainers + images.ephemeralContainers)\
         .filter(image, {filter})\
         .all(image, verifyImageSignatures(image, [{attestors}]) > 0)"
    )
}

/// The `policies.kyverno.io/v1` ImageValidatingPolicy.
pub fn image_validating_policy(spec: &PolicySpec) -> ImageValidatingPolicy {
    let (verify_digest, required, mutate_digest) = digest_settings(spec);
    let mut globs: Vec<MatchImageReference> = spec
        .images()
        .iter()
        .map(|p| MatchImageReference {
            glob: Some(p.to_string()),
            expression: None,
        })
        .collect();
    let key_regexes: Vec<String> = spec
        .images()
        .iter()
        .map(|p| wildcard_to_regex(p.as_str()))
        .collect();
    let mut attestors: Vec<IvpolAttestor> = spec
        .keys()
        .iter()
        .map(|key| IvpolAttestor {
            name: key_attestor_name(key),
            cosign: Some(Cosign {
                key: Some(CosignKey {
                    data: Some(key.to_pem()),
                    ..CosignKey::default()
                }),
                ctlog: Some(CosignCtLog {
                    url: None,
                    insecure_ignore_tlog: Some(true),
                    insecure_ignore_sct: Some(true),
                }),
                source: spec.signature_repo().map(|r| Source {
                    repository: Some(r.to_string()),
                    tag_prefix: None,
                }),
                ..Cosign::default()
            }),
            notary: None,
        })
        .collect();
    let key_names: Vec<String> = attestors.iter().map(|a| a.name.clone()).collect();
    let mut validations = vec![IvpolValidation {
        expression: validation_expression(&key_regexes, &key_names),
        message: Some(format!(
            "an image matching {} has no signature that verifies with this policy's keys",
            join_patterns(spec.images().iter().map(|p| p.as_str()))
        )),
        message_expression: None,
    }];
    if let Some(keyless) = spec.keyless() {
        globs.extend(keyless.images().iter().map(|p| MatchImageReference {
            glob: Some(p.to_string()),
            expression: None,
        }));
        let (subject, subject_regexp) = match keyless.subject() {
            Subject::Pattern(s) if s.contains(['*', '?']) => (None, Some(wildcard_to_regex(s))),
            Subject::Pattern(s) => (Some(s.clone()), None),
            Subject::Regexp(re) => (None, Some(re.clone())),
        };
        let (issuer, issuer_regexp) = if keyless.issuer().contains(['*', '?']) {
            (None, Some(wildcard_to_regex(keyless.issuer())))
        } else {
            (Some(keyless.issuer().to_string()), None)
        };
        attestors.push(IvpolAttestor {
            name: KEYLESS_ATTESTOR.into(),
            cosign: Some(Cosign {
                keyless: Some(CosignKeyless {
                    identities: vec![Identity {
                        issuer,
                        issuer_regexp,
                        subject,
                        subject_regexp,
                        subject_expression: None,
                    }],
                }),
                ctlog: Some(CosignCtLog {
                    url: Some(PUBLIC_REKOR.into()),
                    ..CosignCtLog::default()
                }),
                ..Cosign::default()
            }),
            notary: None,
        });
        let regexes: Vec<String> = keyless
            .images()
            .iter()
            .map(|p| wildcard_to_regex(p.as_str()))
            .collect();
        validations.push(IvpolValidation {
            expression: validation_expression(&regexes, &[KEYLESS_ATTESTOR.to_string()]),
            message: Some(format!(
                "an image matching {} has no keyless signature by the expected identity",
                join_patterns(keyless.images().iter().map(|p| p.as_str()))
            )),
            message_expression: None,
        });
    }
    ImageValidatingPolicy {
        api_version: "policies.kyverno.io/v1".into(),
        kind: "ImageValidatingPolicy".into(),
        metadata: Metadata {
            name: spec.name().to_string(),
            ..Metadata::default()
        },
        spec: IvpolSpec {
            validation_actions: vec![match spec.failure_action() {
                FailureAction::Enforce => "Deny".into(),
                FailureAction::Audit => "Audit".into(),
            }],
            failure_policy: Some("Fail".into()),
            webhook_configuration: Some(IvpolWebhookConfiguration {
                timeout_seconds: Some(WEBHOOK_TIMEOUT_SECONDS),
            }),
            evaluation: Some(Evaluation {
                background: Some(Enabled {
                    enabled: Some(false),
                }),
                admission: None,
            }),
            match_constraints: Some(MatchConstraints {
                resource_rules: vec![ResourceRule {
                    api_groups: vec!["".into()],
                    api_versions: vec!["v1".into()],
                    operations: vec!["CREATE".into(), "UPDATE".into()],
                    resources: vec!["pods".into()],
                }],
            }),
            match_image_references: globs,
            credentials: (!spec.registry_secrets().is_empty()).then(|| Credentials {
                secrets: spec.registry_secrets().to_vec(),
                ..Credentials::default()
            }),
            validation_configurations: Some(ValidationConfigurations {
                verify_digest: Some(verify_digest),
                mutate_digest: Some(mutate_digest),
                required: Some(required),
            }),
            attestors,
            validations,
            ..IvpolSpec::default()
        },
    }
}

fn join_patterns<'a>(patterns: impl Iterator<Item = &'a str>) -> String {
    patterns.collect::<Vec<_>>().join(", ")
}
