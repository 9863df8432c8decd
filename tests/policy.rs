//! The policy library at its public surface: generated policies against Kyverno's own CRD
//! schemas (with unknown fields rejected, as `kubectl apply` does), the PEM in them, their
//! shape, and Kyverno's example policies.
//!
//! The schemas are `spec.versions[v1].schema.openAPIV3Schema` of Kyverno's CRDs
//! (`tests/fixtures/kyverno/README.md`), validated with the `jsonschema` crate as Draft 4,
//! after closing in memory every object that lists `properties` and sets neither
//! `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`.

use pinsign::keys::{PublicKey, SigningKey};
use pinsign::policy::crd;
use pinsign::policy::{self, Decision, PolicyInput, PolicyKind, PolicySpec, SignatureMode};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kyverno/");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}{name}")).unwrap()
}

/// Close every schema object as the API server's strict field validation does.
fn close(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if map.contains_key("properties")
        && !map.contains_key("additionalProperties")
        && !map.contains_key("x-kubernetes-preserve-unknown-fields")
    {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(close);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(v) = map.get_mut(key) {
            close(v);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = map.get_mut(key) {
            list.iter_mut().for_each(close);
        }
    }
}

fn validator(file: &str) -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(&read(file)).unwrap();
    close(&mut schema);
    jsonschema::draft4::new(&schema).unwrap()
}

fn documents(yaml: &str) -> Vec<Value> {
    use serde::Deserialize as _;
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Schema errors of every document, by kind.
fn schema_errors(yaml: &str) -> Vec<String> {
    let cp = validator("clusterpolicy-v1.schema.json");
    let iv = validator("imagevalidatingpolicy-v1.schema.json");
    let mut out = Vec::new();
    for doc in documents(yaml) {
        let v = match doc["kind"].as_str() {
            Some("ClusterPolicy") => &cp,
            Some("ImageValidatingPolicy") => &iv,
            other => panic!("unexpected kind {other:?}"),
        };
        out.extend(
            v.iter_errors(&doc)
                .map(|e| format!("{}: {e}", e.instance_path())),
        );
    }
    out
}

fn keys(n: usize) -> Vec<SigningKey> {
    (0..n).map(|_| SigningKey::generate()).collect()
}

fn input(keys: &[SigningKey], kind: PolicyKind) -> PolicyInput {
    PolicyInput {
        keys: keys.iter().map(|k| k.public_key()).collect(),
        images: vec![
            "oci.example.org/team/*".into(),
            "oci.example.org/base/app@*".into(),
        ],
        kinds: vec![kind],
        ..PolicyInput::default()
    }
}

fn with_keyless(mut i: PolicyInput) -> PolicyInput {
    i.keyless_images = vec!["ghcr.io/fluxcd/*".into(), "docker.io/fluxcd/*".into()];
    i.keyless_issuer = Some("https://token.actions.githubusercontent.com".into());
    i.keyless_subject = Some("https://github.com/fluxcd/*".into());
    i
}

/// The variants issue 10 names, per kind.
fn variants(kind: PolicyKind) -> Vec<(&'static str, PolicyInput)> {
    let one = keys(1);
    let two = keys(2);
    let mut v = vec![
        ("one key", input(&one, kind)),
        ("two keys", input(&two, kind)),
        ("keyless rule", with_keyless(input(&one, kind))),
        (
            "keyless regexp",
            PolicyInput {
                keyless_subject: None,
                keyless_subject_regexp: Some(r"^https://github\.com/fluxcd/.*$".into()),
                ..with_keyless(input(&one, kind))
            },
        ),
        (
            "signature repo",
            PolicyInput {
                signature_repo: Some("oci.example.org/signatures".into()),
                ..input(&one, kind)
            },
        ),
        (
            "registry secrets",
            PolicyInput {
                registry_secrets: vec!["regcred".into(), "zot-pull".into()],
                ..input(&one, kind)
            },
        ),
        (
            "audit",
            PolicyInput {
                failure_action: Some(policy::FailureAction::Audit),
                name: Some("audit-only".into()),
                ..with_keyless(input(&two, kind))
            },
        ),
    ];
    if kind == PolicyKind::ClusterPolicy {
        v.push((
            "referrers",
            PolicyInput {
                mode: Some(SignatureMode::Referrers),
                ..input(&one, kind)
            },
        ));
    }
    v
}

#[test]
fn generated_policies_validate_against_kyverno_schemas() {
    for kind in [PolicyKind::ClusterPolicy, PolicyKind::ImageValidatingPolicy] {
        for (what, input) in variants(kind) {
            let spec = PolicySpec::new(input).unwrap_or_else(|e| panic!("{what}: {e}"));
            let yaml = policy::generate(&spec).unwrap();
            let errors = schema_errors(&yaml);
            assert!(errors.is_empty(), "{kind:?} {what}: {errors:#?}\n{yaml}");
            // and they read back as policies
            let parsed = policy::parse_policies(&yaml, what).unwrap();
            assert_eq!(parsed.policies.len(), 1, "{what}");
            assert!(
                parsed.policies[0].notes.is_empty(),
                "{what}: {:?}",
                parsed.policies[0].notes
            );
        }
    }
}

#[test]
fn both_kinds_in_one_file() {
    let k = keys(1);
    let spec = PolicySpec::new(PolicyInput {
        kinds: vec![PolicyKind::ImageValidatingPolicy, PolicyKind::ClusterPolicy],
        ..with_keyless(input(&k, PolicyKind::ClusterPolicy))
    })
    .unwrap();
    let yaml = policy::generate(&spec).unwrap();
    assert_eq!(yaml.matches("\n---\n").count(), 1, "{yaml}");
    let docs = documents(&yaml);
    assert_eq!(docs[0]["kind"], "ClusterPolicy");
    assert_eq!(docs[1]["kind"], "ImageValidatingPolicy");
    assert!(schema_errors(&yaml).is_empty());
}

#[test]
fn closing_the_schema_rejects_a_typo() {
    let k = keys(1);
    let yaml =
        policy::generate(&PolicySpec::new(input(&k, PolicyKind::ClusterPolicy)).unwrap()).unwrap();
    let typo = yaml.replace("ignoreTlog", "ignoreTLog");
    let errors = schema_errors(&typo);
    assert!(
        errors.iter().any(|e| e.contains("ignoreTLog")),
        "{errors:#?}"
    );
    let iv =
        policy::generate(&PolicySpec::new(input(&k, PolicyKind::ImageValidatingPolicy)).unwrap())
            .unwrap();
    let errors = schema_errors(&iv.replace("insecureIgnoreSCT", "insecureIgnoreSct"));
    assert!(!errors.is_empty());
}

#[test]
fn kyverno_examples_validate_and_parse() {
    for name in [
        "keyed-basic.yaml",
        "keyed-oci11.yaml",
        "verify-flux-images.yaml",
        "ivpol-keyless-github.yaml",
    ] {
        let text = read(&format!("examples/{name}"));
        // The IVPOL example is v1beta1; the v1 schema takes it with apiVersion v1.
        let v1 = text.replace("policies.kyverno.io/v1beta1", "policies.kyverno.io/v1");
        let errors = schema_errors(&v1);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        let parsed = policy::parse_policies(&text, name).unwrap();
        assert_eq!(parsed.policies.len(), 1, "{name}");
        assert!(parsed.skipped.is_empty());
        let p = policy::plan(&parsed.policies, "ghcr.io/kyverno/test-verify-image:signed").unwrap();
        let _ = policy::decide(&p, &policy::CheckResults::new());
    }
}

#[test]
fn cluster_policy_shape() {
    let two = keys(2);
    let spec = PolicySpec::new(with_keyless(input(&two, PolicyKind::ClusterPolicy))).unwrap();
    let yaml = policy::generate(&spec).unwrap();
    let doc: crd::ClusterPolicy = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(doc.api_version, "kyverno.io/v1");
    assert_eq!(doc.spec.background, Some(false));
    let wc = doc.spec.webhook_configuration.as_ref().unwrap();
    assert_eq!(wc.failure_policy.as_deref(), Some("Fail"));
    assert_eq!(wc.timeout_seconds, Some(30));
    assert!(doc.spec.failure_policy.is_none() && doc.spec.webhook_timeout_seconds.is_none());
    assert!(doc.spec.validation_failure_action.is_none());
    assert_eq!(
        doc.spec.rules.len(),
        2,
        "the keyless rule is a rule of its own"
    );

    let key_rule = &doc.spec.rules[0].verify_images[0];
    assert_eq!(
        key_rule.image_references,
        ["oci.example.org/team/*", "oci.example.org/base/app@*"]
    );
    assert_eq!(key_rule.failure_action.as_deref(), Some("Enforce"));
    assert_eq!(
        (
            key_rule.verify_digest,
            key_rule.required,
            key_rule.mutate_digest
        ),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(key_rule.attestors.len(), 1, "one attestor set");
    let set = &key_rule.attestors[0];
    assert_eq!(set.count, Some(1));
    assert_eq!(set.entries.len(), 2, "one entry per key");
    for (entry, key) in set.entries.iter().zip(&two) {
        assert!(entry.keyless.is_none());
        let keys = entry.keys.as_ref().unwrap();
        let pem = keys.public_keys.as_deref().unwrap();
        let parsed = PublicKey::from_pem(pem.as_bytes(), "policy").unwrap();
        assert_eq!(
            parsed.spki_der(),
            key.public_key().spki_der(),
            "the PEM is the key given"
        );
        assert_eq!(keys.rekor.as_ref().unwrap().ignore_tlog, Some(true));
        assert_eq!(keys.ctlog.as_ref().unwrap().ignore_sct, Some(true));
    }
    // PEM written as block text
    assert!(yaml.contains("publicKeys: |"), "{yaml}");
    assert!(
        yaml.contains("\n              -----BEGIN PUBLIC KEY-----\n"),
        "{yaml}"
    );

    let keyless_rule = &doc.spec.rules[1].verify_images[0];
    assert_eq!(
        keyless_rule.image_references,
        ["ghcr.io/fluxcd/*", "docker.io/fluxcd/*"]
    );
    let entries = &keyless_rule.attestors[0].entries;
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].keys.is_none(),
        "never a key beside the keyless identity"
    );
    let kl = entries[0].keyless.as_ref().unwrap();
    assert_eq!(
        kl.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(kl.subject.as_deref(), Some("https://github.com/fluxcd/*"));
    assert_eq!(
        kl.rekor.as_ref().unwrap().url.as_deref(),
        Some("https://rekor.sigstore.dev")
    );
}

#[test]
fn cluster_policy_options() {
    let k = keys(1);
    let gen = |i: PolicyInput| -> crd::ClusterPolicy {
        serde_yaml_ng::from_str(&policy::generate(&PolicySpec::new(i).unwrap()).unwrap()).unwrap()
    };
    let doc = gen(PolicyInput {
        signature_repo: Some("oci.example.org/signatures".into()),
        registry_secrets: vec!["kyverno/regcred".into()],
        ..input(&k, PolicyKind::ClusterPolicy)
    });
    let iv = &doc.spec.rules[0].verify_images[0];
    assert_eq!(iv.repository.as_deref(), Some("oci.example.org/signatures"));
    assert_eq!(iv.cosign_oci11, None);
    assert_eq!(
        iv.image_registry_credentials.as_ref().unwrap().secrets,
        ["kyverno/regcred"]
    );
    let doc = gen(PolicyInput {
        mode: Some(SignatureMode::Referrers),
        failure_action: Some(policy::FailureAction::Audit),
        ..input(&k, PolicyKind::ClusterPolicy)
    });
    let iv = &doc.spec.rules[0].verify_images[0];
    assert_eq!(iv.cosign_oci11, Some(true));
    assert_eq!(iv.repository, None);
    assert_eq!(iv.failure_action.as_deref(), Some("Audit"));
    assert_eq!(
        iv.mutate_digest,
        Some(false),
        "Kyverno refuses mutateDigest under Audit"
    );
}

#[test]
fn image_validating_policy_shape() {
    let two = keys(2);
    let spec = PolicySpec::new(PolicyInput {
        signature_repo: Some("oci.example.org/signatures".into()),
        registry_secrets: vec!["regcred".into()],
        ..with_keyless(input(&two, PolicyKind::ImageValidatingPolicy))
    })
    .unwrap();
    let yaml = policy::generate(&spec).unwrap();
    let doc: crd::ImageValidatingPolicy = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(doc.api_version, "policies.kyverno.io/v1");
    let s = &doc.spec;
    assert_eq!(s.validation_actions, ["Deny"]);
    let globs: Vec<_> = s
        .match_image_references
        .iter()
        .map(|m| m.glob.clone().unwrap())
        .collect();
    assert_eq!(
        globs,
        [
            "oci.example.org/team/*",
            "oci.example.org/base/app@*",
            "ghcr.io/fluxcd/*",
            "docker.io/fluxcd/*"
        ]
    );
    assert_eq!(s.credentials.as_ref().unwrap().secrets, ["regcred"]);
    let vc = s.validation_configurations.as_ref().unwrap();
    assert_eq!(
        (vc.verify_digest, vc.mutate_digest, vc.required),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(
        s.attestors.len(),
        3,
        "a cosign attestor per key, and one keyless"
    );
    for (a, key) in s.attestors.iter().zip(&two) {
        let cosign = a.cosign.as_ref().unwrap();
        assert!(cosign.keyless.is_none());
        let pem = cosign.key.as_ref().unwrap().data.as_deref().unwrap();
        assert_eq!(
            PublicKey::from_pem(pem.as_bytes(), "p").unwrap().spki_der(),
            key.public_key().spki_der()
        );
        let ct = cosign.ctlog.as_ref().unwrap();
        assert_eq!(
            (ct.insecure_ignore_tlog, ct.insecure_ignore_sct),
            (Some(true), Some(true))
        );
        assert_eq!(
            cosign.source.as_ref().unwrap().repository.as_deref(),
            Some("oci.example.org/signatures")
        );
    }
    let keyless = s.attestors[2].cosign.as_ref().unwrap();
    assert!(keyless.key.is_none());
    let id = &keyless.keyless.as_ref().unwrap().identities[0];
    assert_eq!(
        id.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    // subject with a wildcard: an anchored subjectRegExp (an IVPOL subject is exact)
    assert_eq!(id.subject, None);
    assert_eq!(
        id.subject_regexp.as_deref(),
        Some(r"^https://github\.com/fluxcd/.*$")
    );
    assert_eq!(
        s.validations.len(),
        2,
        "a validation for the keys and one for keyless"
    );
    let names: Vec<String> = s
        .attestors
        .iter()
        .map(|a| format!("attestors.{}", a.name))
        .collect();
    assert!(
        s.validations[0]
            .expression
            .contains(&format!("[{}, {}]", names[0], names[1])),
        "{}",
        s.validations[0].expression
    );
    assert!(!s.validations[0].expression.contains("keyless"));
    assert!(s.validations[1].expression.contains("[attestors.keyless]"));
    assert!(s.validations[0]
        .expression
        .contains(r"image.matches(r'^oci\.example\.org/team/.*$')"));
}

#[test]
fn generated_ivpol_filters_agree_with_its_globs() {
    // The CEL filter (regex) and Kyverno's glob must select the same images.
    let k = keys(1);
    let spec = PolicySpec::new(with_keyless(input(&k, PolicyKind::ImageValidatingPolicy))).unwrap();
    let yaml = policy::generate(&spec).unwrap();
    let parsed = policy::parse_policies(&yaml, "g").unwrap().policies;
    for image in [
        "oci.example.org/team/app:1",
        "oci.example.org/base/app@sha256:631e0092a6cfd0eaba96f7d4392f8577a45e7646243ce2777d6c808c361a8ff2",
        "ghcr.io/fluxcd/helm-controller:v1",
        "docker.io/fluxcd/helm-controller:v1",
        "fluxcd/helm-controller:v1",
        "oci.example.org/other/app:1",
    ] {
        let plan = policy::plan(&parsed, image).unwrap();
        let glob_covered = spec
            .images()
            .iter()
            .chain(spec.keyless().unwrap().images())
            .any(|p| {
                let g = p.to_glob().unwrap();
                g.matches(image) || g.matches(&format!("docker.io/{image}:x")) || g.matches(&format!("docker.io/{image}"))
            });
        assert_eq!(plan.is_covered(), glob_covered, "{image}");
        if plan.is_covered() {
            assert_eq!(plan.checks.len(), 1, "{image}: exactly one of the two validations applies");
        }
    }
}

#[test]
fn check_report_json_and_text() {
    let k = keys(1);
    let spec = PolicySpec::new(input(&k, PolicyKind::ClusterPolicy)).unwrap();
    let parsed = policy::parse_policies(&policy::generate(&spec).unwrap(), "p").unwrap();
    let mut verdicts = Vec::new();
    for image in ["oci.example.org/team/app:1", "quay.io/x/y:1"] {
        let plan = policy::plan(&parsed.policies, image).unwrap();
        let mut results = policy::CheckResults::new();
        for c in &plan.checks {
            results.insert(
                c.id,
                policy::CheckResult::Verified {
                    detail: "signature by K".into(),
                },
            );
        }
        verdicts.push(policy::decide(&plan, &results));
    }
    let report = policy::Report::new(verdicts, parsed.skipped, vec![]);
    assert_eq!(report.exit_code(), 1);
    let json: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["images"][0]["decision"], "admitted");
    assert_eq!(json["images"][1]["decision"], "not_covered");
    assert_eq!(
        json["images"][0]["rules"][0]["rule"],
        "verify-key-signatures"
    );
    let lines = report.text_lines();
    assert_eq!(
        lines[0],
        "admitted oci.example.org/team/app:1: ClusterPolicy pinsign-verify-images rule verify-key-signatures: signature by K"
    );
    assert!(
        lines[1].starts_with("not covered quay.io/x/y:1: no rule or policy covers it"),
        "{}",
        lines[1]
    );
    assert_eq!(report.denied + report.undetermined, 0);
    let _ = Decision::Denied;
}
