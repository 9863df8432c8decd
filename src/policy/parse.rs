//! Reading policy files: any number of YAML documents; ClusterPolicy (`kyverno.io/v1`, and
//! the deprecated forms older examples use) and ImageValidatingPolicy (`policies.kyverno.io`
//! `v1`, `v1beta1`, `v1alpha1`) become [`Policy`]s with Kyverno's defaults applied; any other
//! kind is skipped with a note.
//!
//! Defaults are Kyverno's CRD defaults (`mutateDigest`, `verifyDigest`, `required`: true;
//! `validationFailureAction`: Audit; `failurePolicy`: Fail), and its engine's: an attestor set
//! without `count` (or `count: 0`) needs every entry; a `publicKeys` text with several PEM
//! blocks is one entry per key (`ExpandStaticKeys`); a key without `rekor` requires the public
//! Rekor (`https://rekor.sigstore.dev`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::cel;
use super::crd;
use super::matching::Glob;
use super::model::*;
use super::spec::FailureAction;
use crate::keys::PublicKey;

/// Largest policy file read.
pub const MAX_POLICY_FILE: usize = 4 * 1024 * 1024;
/// Most documents read from one file.
const MAX_DOCUMENTS: usize = 1000;
const PUBLIC_REKOR: &str = "https://rekor.sigstore.dev";

/// The policy file could not be read as Kyverno policies.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{file}: {size} bytes is more than the {max} a policy file may have")]
    TooLarge {
        file: String,
        size: usize,
        max: usize,
    },
    #[error("{file}: document {document} is not valid YAML: {reason}")]
    Yaml {
        file: String,
        document: usize,
        reason: String,
    },
    #[error(
        "{file}: document {document} ({kind} {name:?}) does not fit Kyverno's {kind}: {reason}"
    )]
    Shape {
        file: String,
        document: usize,
        kind: String,
        name: String,
        reason: String,
    },
    #[error("{file}: more than {max} YAML documents")]
    TooManyDocuments { file: String, max: usize },
}

/// What a file held.
#[derive(Debug, Clone, Default)]
pub struct PolicyFile {
    pub policies: Vec<Policy>,
    /// Documents skipped and why (`document 2: ConfigMap "keys" is not a policy`).
    pub skipped: Vec<String>,
}

/// Parse `text` (the file's contents); `file` names it in messages.
pub fn parse_policies(text: &str, file: &str) -> Result<PolicyFile, ParseError> {
    if text.len() > MAX_POLICY_FILE {
        return Err(ParseError::TooLarge {
            file: file.into(),
            size: text.len(),
            max: MAX_POLICY_FILE,
        });
    }
    let mut out = PolicyFile::default();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        if document > MAX_DOCUMENTS {
            return Err(ParseError::TooManyDocuments {
                file: file.into(),
                max: MAX_DOCUMENTS,
            });
        }
        let value = serde_yaml_ng::Value::deserialize(doc).map_err(|e| ParseError::Yaml {
            file: file.into(),
            document,
            reason: e.to_string(),
        })?;
        if value.is_null() {
            continue; // an empty document (a trailing `---`)
        }
        let meta: crd::TypeMeta = serde_yaml_ng::from_value(value.clone()).unwrap_or_default();
        let shape = |reason: String| ParseError::Shape {
            file: file.into(),
            document,
            kind: meta.kind.clone(),
            name: meta.metadata.name.clone(),
            reason,
        };
        let group = meta.api_version.split('/').next().unwrap_or("");
        match (group, meta.kind.as_str()) {
            ("kyverno.io", "ClusterPolicy") | ("kyverno.io", "Policy") => {
                let doc: crd::ClusterPolicy =
                    serde_yaml_ng::from_value(value).map_err(|e| shape(e.to_string()))?;
                out.policies
                    .push(cluster_policy(doc, document).map_err(shape)?);
            }
            ("policies.kyverno.io", "ImageValidatingPolicy")
            | ("policies.kyverno.io", "NamespacedImageValidatingPolicy") => {
                let doc: crd::ImageValidatingPolicy =
                    serde_yaml_ng::from_value(value).map_err(|e| shape(e.to_string()))?;
                out.policies
                    .push(image_validating_policy(doc, document).map_err(shape)?);
            }
            _ => {
                out.skipped.push(format!(
                "document {document}: {} {:?} ({}) is not a ClusterPolicy or ImageValidatingPolicy",
                if meta.kind.is_empty() { "untyped document" } else { &meta.kind },
                meta.metadata.name,
                if meta.api_version.is_empty() { "no apiVersion" } else { &meta.api_version },
            ))
            }
        }
    }
    Ok(out)
}

fn failure_policy(value: Option<&str>) -> Result<FailurePolicy, String> {
    match value {
        None | Some("Fail") => Ok(FailurePolicy::Fail),
        Some("Ignore") => Ok(FailurePolicy::Ignore),
        Some(other) => Err(format!(
            "failurePolicy {other:?} is neither Fail nor Ignore"
        )),
    }
}

fn failure_action(value: &str) -> Result<FailureAction, String> {
    match value {
        "Enforce" | "enforce" => Ok(FailureAction::Enforce),
        "Audit" | "audit" => Ok(FailureAction::Audit),
        other => Err(format!(
            "failure action {other:?} is neither Enforce nor Audit"
        )),
    }
}

/// Kinds a ClusterPolicy rule can name that put a pod's image through it (Kyverno
/// autogenerates the pod-controller rules from a Pod rule, and a controller rule checks the
/// pod template).
const POD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "DaemonSet",
    "StatefulSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

fn kind_covers_pods(kind: &str) -> bool {
    // `v1/Pod`, `apps/v1/Deployment`, `*`
    let last = kind.rsplit('/').next().unwrap_or(kind);
    POD_KINDS
        .iter()
        .any(|k| super::matching::wildcard_match(last, k))
}

fn cluster_policy(doc: crd::ClusterPolicy, document: usize) -> Result<Policy, String> {
    let spec = doc.spec;
    let mut notes = Vec::new();
    if spec.validation_failure_action.is_some() {
        notes.push("spec.validationFailureAction is deprecated: Kyverno now reads verifyImages[].failureAction".into());
    }
    if spec.failure_policy.is_some() || spec.webhook_timeout_seconds.is_some() {
        notes.push("spec.failurePolicy and spec.webhookTimeoutSeconds are deprecated: Kyverno now reads spec.webhookConfiguration".into());
    }
    let policy_action = match spec.validation_failure_action.as_deref() {
        Some(a) => failure_action(a)?,
        None => FailureAction::Audit, // the CRD default
    };
    let fp = spec
        .webhook_configuration
        .as_ref()
        .and_then(|w| w.failure_policy.as_deref())
        .or(spec.failure_policy.as_deref());
    let failure_policy = failure_policy(fp)?;
    let mut rules = Vec::new();
    for rule in spec.rules {
        if rule.verify_images.is_empty() {
            continue;
        }
        let kinds: Vec<String> = rule
            .match_
            .as_ref()
            .map(|m| {
                let mut kinds = Vec::new();
                for f in m.any.iter().chain(&m.all) {
                    if let Some(r) = &f.resources {
                        kinds.extend(r.kinds.iter().cloned());
                    }
                }
                if let Some(r) = &m.resources {
                    kinds.extend(r.kinds.iter().cloned());
                }
                kinds
            })
            .unwrap_or_default();
        let mut entries = Vec::new();
        for (index, iv) in rule.verify_images.into_iter().enumerate() {
            entries.push(verify_images(
                iv,
                index,
                policy_action,
                &rule.name,
                &mut notes,
            )?);
        }
        rules.push(VerifyRule {
            applies_to_pods: kinds.iter().any(|k| kind_covers_pods(k)),
            kinds,
            has_conditions: rule.exclude.is_some()
                || rule.preconditions.is_some()
                || rule.cel_preconditions.is_some(),
            name: rule.name,
            entries,
        });
    }
    Ok(Policy {
        name: doc.metadata.name,
        api_version: doc.api_version,
        document,
        notes,
        body: PolicyBody::Cluster(ClusterPolicyModel {
            failure_policy,
            rules,
        }),
    })
}

fn verify_images(
    iv: crd::ImageVerification,
    index: usize,
    policy_action: FailureAction,
    rule: &str,
    notes: &mut Vec<String>,
) -> Result<VerifyImages, String> {
    let verifier = match iv.type_.as_deref() {
        None | Some("Cosign") => VerifierType::Cosign,
        Some("SigstoreBundle") => VerifierType::SigstoreBundle,
        Some("Notary") => VerifierType::Notary,
        Some(other) => {
            return Err(format!(
                "verifyImages type {other:?} is not Cosign, SigstoreBundle or Notary"
            ))
        }
    };
    let action = match iv.failure_action.as_deref() {
        Some(a) => failure_action(a)?,
        None => policy_action,
    };
    let mutate_digest = iv.mutate_digest.unwrap_or(true);
    if action == FailureAction::Audit && mutate_digest {
        notes.push(format!(
            "rule {rule:?}: Kyverno refuses this policy: mutateDigest must be false for the Audit failure action"
        ));
    }
    let mut image_references = iv.image_references;
    if let Some(image) = iv.image {
        image_references.push(image); // the deprecated single pattern (Kyverno's Convert)
    }
    let mut attestors: Vec<AttestorSet> = Vec::new();
    for set in &iv.attestors {
        attestors.push(attestor_set(set, verifier)?);
    }
    // Deprecated inline key / keyless fields become one more attestor set.
    if let Some(key) = iv.key.as_deref() {
        attestors.push(AttestorSet {
            count: 1,
            entries: vec![key_entry(
                key,
                &Tlog::Required {
                    url: PUBLIC_REKOR.into(),
                },
                None,
                &iv.annotations,
            )],
        });
    } else if let Some(issuer) = iv.issuer.as_deref() {
        attestors.push(AttestorSet {
            count: 1,
            entries: vec![AttestorEntry::Keyless {
                identity: KeylessIdentity {
                    issuer: Some(IdentityMatch::Wildcard(issuer.into())),
                    subject: iv.subject.clone().map(IdentityMatch::Wildcard),
                },
                tlog: Tlog::Required {
                    url: PUBLIC_REKOR.into(),
                },
                repository: None,
            }],
        });
    }
    Ok(VerifyImages {
        index,
        verifier,
        image_references,
        skip_image_references: iv.skip_image_references,
        action,
        verify_digest: iv.verify_digest.unwrap_or(true),
        mutate_digest,
        required: iv.required.unwrap_or(true),
        repository: iv.repository.filter(|r| !r.is_empty()),
        cosign_oci11: iv.cosign_oci11.unwrap_or(false),
        attestors,
        has_attestations: iv.attestations.is_some(),
    })
}

fn tlog_of(rekor: Option<&crd::Rekor>) -> Tlog {
    match rekor {
        Some(r) if r.ignore_tlog == Some(true) => Tlog::Ignored,
        Some(r) => Tlog::Required {
            url: r
                .url
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| PUBLIC_REKOR.into()),
        },
        None => Tlog::Required {
            url: PUBLIC_REKOR.into(),
        },
    }
}

/// One PEM `publicKeys` text → one entry per PEM block (Kyverno's `ExpandStaticKeys`).
fn key_entries(
    text: &str,
    tlog: &Tlog,
    repository: Option<&str>,
    annotations: &BTreeMap<String, String>,
) -> Vec<AttestorEntry> {
    let trimmed = text.trim();
    if !trimmed.starts_with("-----BEGIN") {
        return vec![AttestorEntry::Unsupported(format!(
            "key {:?} is a reference (Secret, KMS or variable), not a PEM key pinsign can read",
            trimmed.chars().take(60).collect::<String>()
        ))];
    }
    let blocks: Vec<String> = trimmed
        .split("-----END PUBLIC KEY-----")
        .filter(|b| b.contains("-----BEGIN"))
        .map(|b| format!("{}-----END PUBLIC KEY-----\n", b.trim_start()))
        .collect();
    if blocks.is_empty() {
        return vec![AttestorEntry::Unsupported(
            "publicKeys holds no PUBLIC KEY PEM block".into(),
        )];
    }
    blocks
        .iter()
        .map(|pem| key_entry(pem, tlog, repository, annotations))
        .collect()
}

fn key_entry(
    pem: &str,
    tlog: &Tlog,
    repository: Option<&str>,
    annotations: &BTreeMap<String, String>,
) -> AttestorEntry {
    match PublicKey::from_pem(pem.as_bytes(), "the policy's publicKeys") {
        Ok(key) => AttestorEntry::Key {
            key,
            tlog: tlog.clone(),
            repository: repository.map(str::to_string),
            annotations: annotations.clone(),
        },
        Err(e) => AttestorEntry::Unsupported(format!("{e:#}")),
    }
}

fn attestor_set(set: &crd::AttestorSet, verifier: VerifierType) -> Result<AttestorSet, String> {
    let mut entries = Vec::new();
    for entry in &set.entries {
        let repository = entry.repository.as_deref().filter(|r| !r.is_empty());
        if verifier == VerifierType::Notary {
            entries.push(AttestorEntry::Unsupported(
                "a Notary attestor: pinsign verifies cosign signatures only".into(),
            ));
            continue;
        }
        let kinds = [
            entry.keys.is_some(),
            entry.keyless.is_some(),
            entry.certificates.is_some(),
            entry.attestor.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(
                "an attestor entry needs exactly one of keys, keyless, certificates or attestor"
                    .into(),
            );
        }
        if let Some(keys) = &entry.keys {
            let tlog = tlog_of(keys.rekor.as_ref());
            match keys.public_keys.as_deref() {
                Some(text) if !text.trim().is_empty() => {
                    entries.extend(key_entries(text, &tlog, repository, &entry.annotations))
                }
                _ => entries.push(AttestorEntry::Unsupported(
                    "a key from a Secret or KMS: pinsign reads only inline publicKeys PEM".into(),
                )),
            }
        } else if let Some(keyless) = &entry.keyless {
            let issuer = match (&keyless.issuer, &keyless.issuer_regexp) {
                (Some(i), _) if !i.is_empty() => Some(IdentityMatch::Wildcard(i.clone())),
                (_, Some(re)) if !re.is_empty() => Some(IdentityMatch::Regexp(re.clone())),
                _ => None,
            };
            let subject = match (&keyless.subject, &keyless.subject_regexp) {
                (Some(s), _) if !s.is_empty() => Some(IdentityMatch::Wildcard(s.clone())),
                (_, Some(re)) if !re.is_empty() => Some(IdentityMatch::Regexp(re.clone())),
                _ => None,
            };
            entries.push(AttestorEntry::Keyless {
                identity: KeylessIdentity { issuer, subject },
                tlog: tlog_of(keyless.rekor.as_ref()),
                repository: repository.map(str::to_string),
            });
        } else if entry.certificates.is_some() {
            entries.push(AttestorEntry::Unsupported(
                "a certificates attestor: pinsign verifies keys and keyless identities only".into(),
            ));
        } else if let Some(nested) = &entry.attestor {
            entries.push(AttestorEntry::Nested(attestor_set(nested, verifier)?));
        }
    }
    let count = match set.count {
        None | Some(0) => entries.len(),
        Some(n) if n < 0 => return Err(format!("attestor count {n} is negative")),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    if count > entries.len() {
        return Err(format!(
            "attestor count {count} is more than its {} entries (Kyverno refuses this policy)",
            entries.len()
        ));
    }
    Ok(AttestorSet { count, entries })
}

fn image_validating_policy(
    doc: crd::ImageValidatingPolicy,
    document: usize,
) -> Result<Policy, String> {
    let spec = doc.spec;
    let mut notes = Vec::new();
    let enforce =
        spec.validation_actions.is_empty() || spec.validation_actions.iter().any(|a| a == "Deny");
    let failure_policy = failure_policy(spec.failure_policy.as_deref())?;
    let rules = spec
        .match_constraints
        .as_ref()
        .map(|m| m.resource_rules.clone())
        .unwrap_or_default();
    let mut resources = Vec::new();
    let mut applies_to_pods = false;
    for r in &rules {
        resources.extend(r.resources.iter().cloned());
        let core_or_apps = r
            .api_groups
            .iter()
            .any(|g| g.is_empty() || g == "*" || g == "apps" || g == "batch");
        let creates =
            r.operations.is_empty() || r.operations.iter().any(|o| o == "CREATE" || o == "*");
        let pods = r.resources.iter().any(|res| {
            matches!(
                res.as_str(),
                "pods"
                    | "*"
                    | "deployments"
                    | "daemonsets"
                    | "statefulsets"
                    | "replicasets"
                    | "jobs"
                    | "cronjobs"
            )
        });
        applies_to_pods |= core_or_apps && creates && pods;
    }
    let mut match_images = Vec::new();
    for m in &spec.match_image_references {
        match (&m.glob, &m.expression) {
            (Some(g), _) => {
                match_images.push(ImageMatch::Glob(Glob::parse(g).map_err(|e| e.to_string())?))
            }
            (None, Some(e)) => match_images.push(ImageMatch::Expression(e.clone())),
            (None, None) => {
                return Err("a matchImageReferences entry needs glob or expression".into())
            }
        }
    }
    let vc = spec.validation_configurations.clone().unwrap_or_default();
    let mut attestors = BTreeMap::new();
    for a in &spec.attestors {
        attestors.insert(a.name.clone(), ivpol_attestor(a));
    }
    if spec.images.is_some() {
        notes.push("spec.images (custom image extractors) is set: pinsign assumes the image is a pod container".into());
    }
    let validations = spec
        .validations
        .iter()
        .enumerate()
        .map(|(index, v)| match cel::recognize(&v.expression) {
            Ok(s) => Validation::VerifySignatures {
                index,
                lists: s.lists,
                filters: s.filters,
                attestors: s.attestors,
                at_least: s.at_least,
                message: v.message.clone(),
            },
            Err(reason) => Validation::Unsupported { index, reason },
        })
        .collect();
    Ok(Policy {
        name: doc.metadata.name,
        api_version: doc.api_version,
        document,
        notes,
        body: PolicyBody::ImageValidating(IvpolModel {
            enforce,
            failure_policy,
            applies_to_pods,
            resources,
            has_conditions: spec.match_conditions.is_some(),
            match_images,
            verify_digest: vc.verify_digest.unwrap_or(true),
            mutate_digest: vc.mutate_digest.unwrap_or(true),
            required: vc.required.unwrap_or(true),
            attestors,
            validations,
        }),
    })
}

fn ivpol_attestor(a: &crd::IvpolAttestor) -> IvpolAttestor {
    let Some(cosign) = &a.cosign else {
        return IvpolAttestor::Unsupported(format!(
            "attestor {:?} is not a cosign attestor (pinsign verifies cosign signatures only)",
            a.name
        ));
    };
    let tlog = match &cosign.ctlog {
        Some(c) if c.insecure_ignore_tlog == Some(true) => Tlog::Ignored,
        Some(c) => Tlog::Required {
            url: c
                .url
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| PUBLIC_REKOR.into()),
        },
        None => Tlog::Required {
            url: PUBLIC_REKOR.into(),
        },
    };
    let repository = cosign
        .source
        .as_ref()
        .and_then(|s| s.repository.clone())
        .filter(|r| !r.is_empty());
    if let Some(key) = &cosign.key {
        return match key.data.as_deref() {
            Some(pem) => match PublicKey::from_pem(pem.as_bytes(), &format!("attestor {:?} key.data", a.name)) {
                Ok(key) => IvpolAttestor::Key {
                    key,
                    tlog,
                    repository,
                    annotations: cosign.annotations.clone(),
                },
                Err(e) => IvpolAttestor::Unsupported(format!("{e:#}")),
            },
            None => IvpolAttestor::Unsupported(format!(
                "attestor {:?} takes its key from KMS or an expression: pinsign reads only key.data",
                a.name
            )),
        };
    }
    if let Some(keyless) = &cosign.keyless {
        let identities = keyless
            .identities
            .iter()
            .map(|id| KeylessIdentity {
                issuer: id
                    .issuer
                    .clone()
                    .map(IdentityMatch::Exact)
                    .or_else(|| id.issuer_regexp.clone().map(IdentityMatch::Regexp)),
                subject: id
                    .subject
                    .clone()
                    .map(IdentityMatch::Exact)
                    .or_else(|| id.subject_regexp.clone().map(IdentityMatch::Regexp)),
            })
            .collect();
        return IvpolAttestor::Keyless {
            identities,
            tlog,
            repository,
        };
    }
    IvpolAttestor::Unsupported(format!(
        "attestor {:?} verifies with a certificate: pinsign verifies keys and keyless identities only",
        a.name
    ))
}
