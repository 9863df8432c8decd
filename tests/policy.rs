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

// ------------------------------------------------------------------ the commands

use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::test_keys::{self, TestKey};
use crate::support::{self, Endpoint, Ferro, Registry, RegistryKind};
use std::path::{Path, PathBuf};

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// pinsign in `home`, run from there.
fn pinsign(home: &Path) -> assert_cmd::Command {
    let mut cmd = support::pinsign(home);
    cmd.current_dir(home)
        .timeout(std::time::Duration::from_secs(120));
    cmd
}

/// `pinsign policy kyverno ARGS...`.
fn kyverno(home: &Path, args: &[&str]) -> Outcome {
    pinsign(home)
        .args(["policy", "kyverno"])
        .args(args)
        .outcome()
}

/// `policy kyverno ARGS... --output-file HOME/NAME`; returns the file.
fn write_policy(home: &Path, name: &str, args: &[&str]) -> PathBuf {
    let file = home.join(name);
    kyverno(home, &[args, &["--output-file", path_str(&file)]].concat()).ok();
    file
}

/// `sign-digest IMAGE --key K EXTRA...` against `ep`.
fn sign(home: &Path, ep: &Endpoint, image: &str, key: &TestKey, extra: &[&str]) {
    let mut cmd = pinsign(home);
    ep.configure_pinsign(&mut cmd);
    cmd.env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .args(["sign-digest", image, "--key", &key.key_arg()])
        .args(extra)
        .outcome()
        .ok();
}

/// `policy check POLICY IMAGES... ARGS` with the registry flags of `ep` (if any).
fn check(home: &Path, ep: Option<&Endpoint>, policy: &Path, args: &[&str]) -> Outcome {
    let mut cmd = pinsign(home);
    if let Some(ep) = ep {
        ep.configure_pinsign(&mut cmd);
    }
    cmd.args(["policy", "check", path_str(policy)])
        .args(args)
        .outcome()
}

/// `policy check ... -o json`: the report, after checking the exit code.
fn check_json(
    home: &Path,
    ep: Option<&Endpoint>,
    policy: &Path,
    images: &[&str],
    code: i32,
) -> Value {
    let out = check(home, ep, policy, &[images, &["-o", "json"]].concat()).code(code);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out}"))
}

/// The verdict for `image` in a report.
fn verdict<'a>(report: &'a Value, image: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["image"] == image)
        .unwrap_or_else(|| panic!("no verdict for {image}: {report:#}"))
}

#[track_caller]
fn assert_decision(report: &Value, image: &str, decision: &str, reason_has: &[&str]) {
    let v = verdict(report, image);
    assert_eq!(v["decision"], decision, "{image}: {v:#}");
    let reason = v["reason"].as_str().unwrap();
    for needle in reason_has {
        assert!(
            reason.contains(needle),
            "{image}: {needle:?} not in {reason:?}"
        );
    }
}

/// A port with a listener that is never served: after the run, [`assert_untouched`] proves
/// nobody connected (nothing listens for real, so a connection would also fail).
fn silent_port() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

#[track_caller]
fn assert_untouched(listener: &std::net::TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("someone connected to the port of an uncovered image: {other:?}"),
    }
}

fn fingerprint(key: &TestKey) -> String {
    PublicKey::from_pem(key.public_pem.as_bytes(), "k")
        .unwrap()
        .fingerprint()
}

fn kind_flag(kind: PolicyKind) -> &'static str {
    kind.as_str()
}

/// Signed with the policy's key → admitted (by tag and by digest); unsigned, signed by
/// another key, re-tagged to an unsigned digest → denied with the reason; an image no rule
/// covers → not covered, its registry never contacted. For both kinds, on each registry kind.
fn check_predicts_admission(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let keys = test_keys::keys();
    let (ours, theirs) = (&keys[0], &keys[1]);

    let signed = ep.push_synthetic("team/signed", Some("v1"), 1);
    sign(home, &ep, &ep.image("team/signed:v1"), ours, &[]);
    ep.push_synthetic("team/unsigned", Some("v1"), 2);
    ep.push_synthetic("team/other", Some("v1"), 3);
    sign(home, &ep, &ep.image("team/other:v1"), theirs, &[]);
    ep.push_synthetic("team/moved", Some("v1"), 4);
    sign(home, &ep, &ep.image("team/moved:v1"), ours, &[]);
    let moved = ep.push_synthetic("team/moved", Some("v1"), 5); // the tag now names an unsigned digest

    let silent = silent_port();
    let uncovered = format!("{}/team/app:1", silent.local_addr().unwrap());
    let pattern = ep.image("team/*");
    let by_tag = ep.image("team/signed:v1");
    let by_digest = signed.pinned.clone();
    let unsigned = ep.image("team/unsigned:v1");
    let other = ep.image("team/other:v1");
    let moved_tag = ep.image("team/moved:v1");
    let fp = fingerprint(ours);

    for policy_kind in [PolicyKind::ClusterPolicy, PolicyKind::ImageValidatingPolicy] {
        let policy = write_policy(
            home,
            &format!("{}.yaml", kind_flag(policy_kind)),
            &[
                "--key",
                path_str(&ours.public),
                "--image",
                &pattern,
                "--kind",
                kind_flag(policy_kind),
            ],
        );
        let images = [
            by_tag.as_str(),
            &by_digest,
            &unsigned,
            &other,
            &moved_tag,
            &uncovered,
        ];
        let report = check_json(home, Some(&ep), &policy, &images, 1);
        let what = policy_kind.kubernetes_kind();
        assert_decision(
            &report,
            &by_tag,
            "admitted",
            &[&format!("signature by {fp}")],
        );
        assert_eq!(verdict(&report, &by_tag)["pinned"], signed.pinned, "{what}");
        assert_eq!(verdict(&report, &by_tag)["kind"], kind_flag(policy_kind));
        assert_decision(&report, &by_digest, "admitted", &[&fp]);
        assert_decision(
            &report,
            &unsigned,
            "denied",
            &["no signatures for", &ep.image("team/unsigned@sha256:")],
        );
        assert_decision(
            &report,
            &other,
            "denied",
            &[
                "none of the 1 signature",
                &format!("verifies with {fp}"),
                "no key verified the signature",
            ],
        );
        assert_decision(
            &report,
            &moved_tag,
            "denied",
            &[&format!("no signatures for {}", moved.pinned)],
        );
        assert_eq!(verdict(&report, &moved_tag)["pinned"], moved.pinned);
        assert_decision(
            &report,
            &uncovered,
            "not_covered",
            &[
                "no rule or policy covers it",
                "start without any signature check",
            ],
        );
        assert_eq!(
            (
                &report["admitted"],
                &report["denied"],
                &report["not_covered"],
                &report["ok"]
            ),
            (
                &Value::from(2),
                &Value::from(3),
                &Value::from(1),
                &Value::from(false)
            ),
            "{what}: {report:#}"
        );

        // Text: a line per image starting with the decision, the summary on stderr.
        let out = check(home, Some(&ep), &policy, &[by_tag.as_str(), &uncovered]).code(1);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let rule = match policy_kind {
            PolicyKind::ClusterPolicy => {
                "ClusterPolicy pinsign-verify-images rule verify-key-signatures: "
            }
            PolicyKind::ImageValidatingPolicy => "ImageValidatingPolicy pinsign-verify-images: ",
        };
        assert!(
            lines[0].starts_with(&format!("admitted {by_tag}: {rule}signature by {fp}")),
            "{out}"
        );
        assert_eq!(lines[1], format!("  pinned {}", signed.pinned), "{out}");
        assert!(
            out.stdout.contains(&format!(
                "\nnot covered {uncovered}: no rule or policy covers it"
            )),
            "{out}"
        );
        out.error(
            1,
            &["1 of 2 images would not be admitted: 0 denied, 1 not covered, 0 undetermined"],
        );
        // Every image admitted: exit 0.
        let out = check(home, Some(&ep), &policy, &[by_tag.as_str(), &by_digest]).ok();
        assert_eq!(out.stderr, "all 2 images would be admitted\n", "{out}");
        assert_eq!(
            out.stdout
                .lines()
                .filter(|l| l.starts_with("admitted "))
                .count(),
            2
        );
    }
    assert_untouched(&silent);
}

crate::per_kind!(check_predicts_admission: Http => http, Token => token);

/// A policy with two keys (a rotation's overlap) admits images signed by either, and denies
/// an image signed by neither, naming both.
#[test]
fn two_key_overlap_admits_either_key() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let keys = test_keys::keys();
    for (i, key) in keys[..3].iter().enumerate() {
        ep.push_synthetic(&format!("team/app{i}"), Some("v1"), 10 + i as u64);
        sign(home, &ep, &ep.image(&format!("team/app{i}:v1")), key, &[]);
    }
    let policy = write_policy(
        home,
        "overlap.yaml",
        &[
            "--key",
            path_str(&keys[0].public),
            "--key",
            path_str(&keys[1].public),
            "--image",
            &ep.image("team/*"),
            "--kind",
            "cluster-policy,image-validating-policy",
        ],
    );
    let images: Vec<String> = (0..3)
        .map(|i| ep.image(&format!("team/app{i}:v1")))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let report = check_json(home, Some(&ep), &policy, &refs, 1);
    assert_decision(&report, &images[0], "admitted", &[&fingerprint(&keys[0])]);
    assert_decision(&report, &images[1], "admitted", &[&fingerprint(&keys[1])]);
    assert_decision(
        &report,
        &images[2],
        "denied",
        &[
            "0 of 2 attestors verified, 1 needed",
            &fingerprint(&keys[0]),
            &fingerprint(&keys[1]),
        ],
    );
    // Both documents cover every image, and both judged it.
    for image in &images[..2] {
        let rules = verdict(&report, image)["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{rules:#?}");
        assert!(rules.iter().all(|r| r["status"] == "pass"), "{rules:#?}");
    }
}

/// A Sigstore bundle (cosign v3's format) admits an image under an ImageValidatingPolicy, which
/// reads bundles, but not under a ClusterPolicy, whose default verifier reads only the `.sig`
/// tag: the prediction follows each verifier.
#[test]
fn bundles_count_for_image_validating_policies_only() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let key = &test_keys::keys()[0];
    ep.push_synthetic("team/bundled", Some("v1"), 40);
    let image = ep.image("team/bundled:v1");
    sign(home, &ep, &image, key, &["--format", "bundle"]);
    for (kind, decision) in [
        ("cluster-policy", "denied"),
        ("image-validating-policy", "admitted"),
    ] {
        let policy = write_policy(
            home,
            &format!("{kind}.yaml"),
            &[
                "--key",
                path_str(&key.public),
                "--image",
                &ep.image("team/*"),
                "--kind",
                kind,
            ],
        );
        let code = if decision == "admitted" { 0 } else { 1 };
        let report = check_json(home, Some(&ep), &policy, &[&image], code);
        assert_decision(&report, &image, decision, &[]);
    }
}

/// `cosignOCI11`: cosign reads the last signature referrer, then falls back to the `.sig`
/// tag; a policy without it never reads referrers. On ferro-oci-server (OCI 1.1).
#[test]
fn referrers_policy_on_an_oci_1_1_registry() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let keys = test_keys::keys();
    let (a, b) = (&keys[0], &keys[1]);
    let referrer = ep.push_synthetic("team/referrer", Some("v1"), 21);
    sign(home, &ep, &referrer.pinned, a, &["--mode", "referrers"]);
    let tagged = ep.push_synthetic("team/tagged", Some("v1"), 22);
    sign(home, &ep, &tagged.pinned, a, &[]);
    // Two referrers, by two keys: which one is last is the registry's listing order.
    let two = ep.push_synthetic("team/two", Some("v1"), 23);
    sign(home, &ep, &two.pinned, a, &["--mode", "referrers"]);
    let listed = |ep: &Endpoint| -> Vec<String> {
        ep.referrers("team/two", &two.digest).json()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let by_a = listed(&ep)[0].clone();
    sign(home, &ep, &two.pinned, b, &["--mode", "referrers"]);
    let after = listed(&ep);
    assert_eq!(after.len(), 2);
    let (last_key, first_key) = if after[1] == by_a { (a, b) } else { (b, a) };

    let pattern = ep.image("team/*");
    let referrers_policy = |key: &TestKey, name: &str| {
        write_policy(
            home,
            name,
            &[
                "--key",
                path_str(&key.public),
                "--image",
                &pattern,
                "--mode",
                "referrers",
            ],
        )
    };
    let policy_a = referrers_policy(a, "a.yaml");
    let report = check_json(
        home,
        Some(&ep),
        &policy_a,
        &[&referrer.pinned, &tagged.pinned],
        0,
    );
    assert_decision(
        &report,
        &referrer.pinned,
        "admitted",
        &[&format!(
            "in the referrer {}",
            ep.image("team/referrer@sha256:")
        )],
    );
    assert_decision(
        &report,
        &tagged.pinned,
        "admitted",
        &[
            "has no signature referrers, so cosign falls back to the .sig tag",
            &format!("in {}", ep.image("team/tagged:sha256-")),
        ],
    );

    // Only the last referrer counts.
    let last = referrers_policy(last_key, "last.yaml");
    let report = check_json(home, Some(&ep), &last, &[&two.pinned], 0);
    assert_decision(&report, &two.pinned, "admitted", &[&fingerprint(last_key)]);
    let first = referrers_policy(first_key, "first.yaml");
    let report = check_json(home, Some(&ep), &first, &[&two.pinned], 1);
    assert_decision(
        &report,
        &two.pinned,
        "denied",
        &[
            "only the last of 2 signature referrers",
            &format!("does not verify with {}", fingerprint(first_key)),
            "then in the .sig tag: no signatures for",
        ],
    );

    // Without cosignOCI11 the referrer is never read.
    let tag_policy = write_policy(
        home,
        "tag.yaml",
        &["--key", path_str(&a.public), "--image", &pattern],
    );
    let report = check_json(home, Some(&ep), &tag_policy, &[&referrer.pinned], 1);
    assert_decision(&report, &referrer.pinned, "denied", &["no signatures for"]);
}

/// `--signature-repo`: the policy looks where the signatures were stored, and only there.
#[test]
fn signature_repository_is_where_the_check_looks() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let key = &test_keys::keys()[0];
    let sigs = ep.image("signatures");
    let elsewhere = ep.push_synthetic("team/elsewhere", Some("v1"), 31);
    sign(
        home,
        &ep,
        &elsewhere.pinned,
        key,
        &["--signature-repo", &sigs],
    );
    let beside = ep.push_synthetic("team/beside", Some("v1"), 32);
    sign(home, &ep, &beside.pinned, key, &[]);
    for kind in ["cluster-policy", "image-validating-policy"] {
        let policy = write_policy(
            home,
            &format!("{kind}.yaml"),
            &[
                "--key",
                path_str(&key.public),
                "--image",
                &ep.image("team/*"),
                "--signature-repo",
                &sigs,
                "--kind",
                kind,
            ],
        );
        let report = check_json(
            home,
            Some(&ep),
            &policy,
            &[&elsewhere.pinned, &beside.pinned],
            1,
        );
        assert_decision(
            &report,
            &elsewhere.pinned,
            "admitted",
            &[&format!("in {sigs}:sha256-")],
        );
        assert_decision(
            &report,
            &beside.pinned,
            "denied",
            &[&format!("looked in {sigs}:sha256-")],
        );
    }
}

/// A key attestor without `ignoreTlog` fails even with a valid signature: Kyverno would look
/// it up in the public Rekor.
#[test]
fn a_rule_that_wants_the_transparency_log_is_reported() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let key = &test_keys::keys()[0];
    let image = ep.push_synthetic("team/app", Some("v1"), 41);
    sign(home, &ep, &image.pinned, key, &[]);
    let generated = write_policy(
        home,
        "p.yaml",
        &[
            "--key",
            path_str(&key.public),
            "--image",
            &ep.image("team/*"),
        ],
    );
    let text = std::fs::read_to_string(&generated).unwrap();
    let edited = home.join("tlog.yaml");
    std::fs::write(
        &edited,
        text.replace("ignoreTlog: true", "ignoreTlog: false"),
    )
    .unwrap();
    let report = check_json(home, Some(&ep), &edited, &[&image.pinned], 1);
    assert_decision(
        &report,
        &image.pinned,
        "denied",
        &[
            &format!("signature by {}", fingerprint(key)),
            "would look up the public Rekor (https://rekor.sigstore.dev)",
            "rekor.ignoreTlog: true",
        ],
    );
}

/// A registry that cannot be reached makes its image undetermined; the other images are
/// still checked.
#[test]
fn a_registry_error_for_one_image_does_not_stop_the_others() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let key = &test_keys::keys()[0];
    let image = ep.push_synthetic("team/app", Some("v1"), 51);
    sign(home, &ep, &image.pinned, key, &[]);
    let dead = format!("127.0.0.1:{}", support::free_port());
    let policy = write_policy(
        home,
        "p.yaml",
        &[
            "--key",
            path_str(&key.public),
            "--image",
            &ep.image("team/*"),
            "--image",
            &format!("{dead}/team/*"),
        ],
    );
    let unreachable = format!("{dead}/team/app:v1");
    let missing = ep.image("team/app:no-such-tag");
    let report = check_json(
        home,
        Some(&ep),
        &policy,
        &[&unreachable, &image.pinned, &missing],
        1,
    );
    assert_decision(
        &report,
        &unreachable,
        "undetermined",
        &["could not check: cannot resolve", &dead],
    );
    assert_decision(&report, &image.pinned, "admitted", &[]);
    assert_decision(&report, &missing, "denied", &["does not exist"]);
    assert_eq!(report["undetermined"], 1);
}

/// Kyverno's own example policies parse and are evaluated: the keyed ones against real
/// registries (their image patterns pointed at them, with their own key and with ours), the
/// keyless ones without any registry access.
#[test]
fn kyverno_example_policies_are_evaluated() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ferro = Ferro::start();
    let fep = ferro.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let key = &test_keys::keys()[0];
    let example = |name: &str, host: &str, pem: Option<&str>| -> PathBuf {
        let mut text = read(&format!("examples/{name}")).replace(
            "ghcr.io/kyverno/test-verify-image",
            &format!("{host}/kyverno/test-verify-image"),
        );
        if let Some(pem) = pem {
            let start = text.find("-----BEGIN PUBLIC KEY-----").unwrap();
            let end =
                text.find("-----END PUBLIC KEY-----").unwrap() + "-----END PUBLIC KEY-----".len();
            let indent = " ".repeat(14);
            let ours = pem
                .trim()
                .lines()
                .collect::<Vec<_>>()
                .join(&format!("\n{indent}"));
            text.replace_range(start..end, &ours);
        }
        let file = home.join(format!(
            "{}-{name}",
            if pem.is_some() { "ours" } else { "theirs" }
        ));
        std::fs::write(&file, text).unwrap();
        file
    };

    // keyed-basic.yaml on Distribution.
    ep.push_synthetic("kyverno/test-verify-image", Some("signed"), 61);
    let image = ep.image("kyverno/test-verify-image:signed");
    sign(home, &ep, &image, key, &[]);
    let theirs = example("keyed-basic.yaml", &ep.host, None);
    let report = check_json(home, Some(&ep), &theirs, &[&image], 1);
    assert_decision(
        &report,
        &image,
        "denied",
        &["no key verified the signature"],
    );
    assert_eq!(verdict(&report, &image)["policy"], "keyed-basic-policy");
    assert_eq!(verdict(&report, &image)["rule"], "keyed-basic-rule");
    let ours = example("keyed-basic.yaml", &ep.host, Some(&key.public_pem));
    let report = check_json(home, Some(&ep), &ours, &[&image], 0);
    assert_decision(&report, &image, "admitted", &[&fingerprint(key)]);
    // Their deprecated top-level fields are named.
    let out = check(home, Some(&ep), &ours, &[&image]).ok();
    assert!(
        out.stderr
            .contains("spec.failurePolicy and spec.webhookTimeoutSeconds are deprecated"),
        "{out}"
    );

    // keyed-oci11.yaml (cosignOCI11) on ferro-oci-server.
    fep.push_synthetic("kyverno/test-verify-image", Some("signed"), 62);
    let image = fep.image("kyverno/test-verify-image:signed");
    sign(home, &fep, &image, key, &["--mode", "referrers"]);
    let ours = example("keyed-oci11.yaml", &fep.host, Some(&key.public_pem));
    let report = check_json(home, Some(&fep), &ours, &[&image], 0);
    assert_decision(&report, &image, "admitted", &["in the referrer"]);
    let theirs = example("keyed-oci11.yaml", &fep.host, None);
    check_json(home, Some(&fep), &theirs, &[&image], 1);

    // The ImageValidatingPolicy example verifies an attestation, which pinsign does not judge:
    // undetermined, and no registry is asked.
    let ivpol = home.join("ivpol.yaml");
    std::fs::write(&ivpol, read("examples/ivpol-keyless-github.yaml")).unwrap();
    let image = "ghcr.io/kyverno/test-images/cosign:v1";
    let report = check_json(home, None, &ivpol, &[image], 1);
    assert_decision(&report, image, "undetermined", &[]);
    assert!(verdict(&report, image)["pinned"].is_null());
}

/// Kyverno's Flux policy (keyless: `subject: https://github.com/fluxcd/*`, the GitHub issuer),
/// pointed at a local registry whose images are signed keyless by a self-made Sigstore: the
/// controller signed by a Flux workflow is admitted, one signed by another workflow is denied
/// once the policy enforces; the identity's wildcard is Kyverno's.
#[test]
fn keyless_rules_are_verified_against_the_trusted_root() {
    use crate::support::cosign_writer::{self as cw, Layer};
    use crate::support::sigstore_instance::{
        LeafSpec, RekorKey, TestSigstore, SIMPLESIGNING_MEDIA_TYPE, T0,
    };
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let home = home.path();
    let instance = TestSigstore::new();
    let root = home.join("trusted_root.json");
    std::fs::write(&root, instance.trusted_root_json()).unwrap();
    let sign = |repo: &str, workflow_repo: &str, seed: u64| {
        let image = ep.push_synthetic(repo, Some("v1.2.0"), seed);
        let spec = LeafSpec::github(workflow_repo, "refs/tags/v1.2.0", T0);
        let signed = instance.legacy_layer(
            &format!("{}/{repo}", ep.host),
            &image.digest,
            &spec,
            T0 + 1,
            RekorKey::Trusted,
        );
        let descriptor = serde_json::json!({
            "mediaType": SIMPLESIGNING_MEDIA_TYPE,
            "size": signed.payload.len(),
            "digest": support::sha256_digest(&signed.payload),
            "annotations": signed.annotations,
        });
        cw::push_sig_tag(
            &ep,
            repo,
            &image.digest,
            &[Layer {
                blob: signed.payload.clone(),
                descriptor: descriptor.to_string(),
            }],
        );
        format!("{}/{repo}:v1.2.0", ep.host)
    };
    let flux = sign("fluxcd/source-controller", "fluxcd/source-controller", 71);
    let impostor = sign("fluxcd/helm-controller", "evil/helm-controller", 72);
    ep.push_synthetic("fluxcd/kustomize-controller", Some("v1.2.0"), 73);
    let unsigned = format!("{}/fluxcd/kustomize-controller:v1.2.0", ep.host);
    let policy_text = read("examples/verify-flux-images.yaml")
        .replace("ghcr.io/fluxcd/", &format!("{}/fluxcd/", ep.host));
    let audit = home.join("flux-audit.yaml");
    std::fs::write(&audit, &policy_text).unwrap();
    let enforce = home.join("flux-enforce.yaml");
    std::fs::write(
        &enforce,
        policy_text.replace(
            "validationFailureAction: Audit",
            "validationFailureAction: Enforce",
        ),
    )
    .unwrap();
    let run = |policy: &Path, images: &[&str], code: i32| {
        let out = check(
            home,
            Some(&ep),
            policy,
            &[images, &["--trusted-root", path_str(&root), "-o", "json"]].concat(),
        )
        .code(code);
        serde_json::from_str::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{out}"))
    };
    let report = run(&enforce, &[&flux], 0);
    assert_decision(
        &report,
        &flux,
        "admitted",
        &["keyless signature by https://github.com/fluxcd/source-controller/"],
    );
    let report = run(&enforce, &[&impostor, &unsigned], 1);
    assert_decision(&report, &impostor, "denied", &["certificate identity"]);
    assert_decision(&report, &unsigned, "denied", &[]);
    // The example as upstream ships it audits: admitted, saying which rule fails.
    let report = run(&audit, &[&impostor], 0);
    assert_decision(&report, &impostor, "admitted", &["(Audit)"]);
    // The public-good root (the default) does not trust the test instance.
    let out = check(home, Some(&ep), &enforce, &[&flux, "-o", "json"]).code(1);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_decision(&report, &flux, "denied", &[]);
}

// ------------------------------------------------------------------ policy kyverno

/// The command's output: both kinds, validating against Kyverno's schemas, the PEM of each
/// key given (file and env://), the keyless rule apart, warnings on stderr; `--output-file`
/// writes exactly that.
#[test]
fn kyverno_command_output_validates_and_is_written_atomically() {
    let home = support::temp_dir();
    let home = home.path();
    let keys = test_keys::keys();
    let args = [
        "--key",
        path_str(&keys[0].public),
        "--key",
        "env://NEXT_PUB",
        "--image",
        "oci.example.org/team/*",
        "--image",
        "oci.example.org/base/app:*",
        "--kind",
        "cluster-policy",
        "--kind",
        "image-validating-policy",
        "--registry-secret",
        "regcred",
        "--keyless-image",
        "ghcr.io/fluxcd/*",
        "--keyless-issuer",
        "https://token.actions.githubusercontent.com",
        "--keyless-subject",
        "https://github.com/fluxcd/*",
        "--name",
        "team-images",
    ];
    let out = pinsign(home)
        .env("NEXT_PUB", &keys[1].public_pem)
        .env("COSIGN_REPOSITORY", "oci.example.org/sigs")
        .args(["policy", "kyverno"])
        .args(args)
        .outcome()
        .ok();
    let errors = schema_errors(&out.stdout);
    assert!(errors.is_empty(), "{errors:#?}\n{}", out.stdout);
    assert!(
        out.stderr
            .contains("pinsign: warning: image pattern \"oci.example.org/base/app:*\" needs a tag")
            && out.stderr.contains("oci.example.org/base/app@*"),
        "{out}"
    );
    assert!(
        out.stderr.contains(
            "COSIGN_REPOSITORY is set (oci.example.org/sigs), but a policy does not read it"
        ),
        "{out}"
    );
    assert!(
        !out.stdout.contains("oci.example.org/sigs"),
        "COSIGN_REPOSITORY is not read"
    );
    let docs = documents(&out.stdout);
    assert_eq!(docs.len(), 2);
    let cp: crd::ClusterPolicy = serde_json::from_value(docs[0].clone()).unwrap();
    assert_eq!(cp.metadata.name, "team-images");
    assert_eq!(cp.spec.rules.len(), 2, "the keyless rule is separate");
    let entries = &cp.spec.rules[0].verify_images[0].attestors[0].entries;
    assert_eq!(entries.len(), 2, "one attestor, an entry per key");
    for (entry, key) in entries.iter().zip(&keys[..2]) {
        let pem = entry.keys.as_ref().unwrap().public_keys.as_deref().unwrap();
        assert_eq!(
            pem.trim(),
            key.public_pem.trim(),
            "the PEM is the key given"
        );
    }
    let parsed = policy::parse_policies(&out.stdout, "stdout").unwrap();
    assert_eq!(parsed.policies.len(), 2);
    assert!(parsed.policies.iter().all(|p| p.notes.is_empty()));

    // --output-file: the same bytes, nothing on stdout, no temporary file left; rewritten in place.
    let file = home.join("deploy").join("policy.yaml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "old").unwrap();
    let written = pinsign(home)
        .env("NEXT_PUB", &keys[1].public_pem)
        .args(["policy", "kyverno"])
        .args(args)
        .args(["--output-file", path_str(&file)])
        .outcome()
        .ok();
    assert_eq!(written.stdout, "");
    assert!(
        written.stderr.contains(&format!(
            "ClusterPolicy and ImageValidatingPolicy team-images written to {}",
            file.display()
        )),
        "{written}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out.stdout);
    let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["policy.yaml"]);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // A file that cannot be written: exit 1, the old content kept.
    let blocked = home.join("no-such-dir").join("p.yaml");
    kyverno(
        home,
        &[
            "--key",
            path_str(&keys[0].public),
            "--image",
            "oci.example.org/*",
            "--output-file",
            path_str(&blocked),
        ],
    )
    .failure(1, &["cannot write", "no-such-dir"]);
}

/// A private key is refused, before any password is asked (none is given here), and
/// nothing of it is printed.
#[test]
fn kyverno_refuses_a_private_key() {
    let home = support::temp_dir();
    let home = home.path();
    let key = &test_keys::keys()[0];
    let out = kyverno(
        home,
        &["--key", &key.key_arg(), "--image", "oci.example.org/*"],
    );
    out.failure(
        2,
        &[
            "is an encrypted private key",
            "only the public key",
            "pinsign public-key --key",
        ],
    );
    let plain = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cosign/keys/cosign-keys_test-validecpkcs8.pem"
    );
    let text = std::fs::read_to_string(plain).unwrap();
    let out = pinsign(home)
        .env("SIGNING_KEY", &text)
        .args([
            "policy",
            "kyverno",
            "--key",
            "env://SIGNING_KEY",
            "--image",
            "oci.example.org/*",
        ])
        .outcome();
    out.failure(2, &["env://SIGNING_KEY is a private key"]);
    let body = text.lines().nth(1).unwrap();
    assert!(
        !out.stderr.contains(body),
        "private material printed:\n{out}"
    );
}

/// Bad input: one line naming it, exit 2, nothing on stdout.
#[test]
fn kyverno_bad_input_is_a_usage_error() {
    let home = support::temp_dir();
    let home = home.path();
    let key = test_keys::keys()[0].public.clone();
    let key = path_str(&key);
    let cert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cosign/payloads/kubewarden-keyless.cert.pem"
    );
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["--image", "oci.example.org/*"],
            &["at least one --key"],
        ),
        (vec!["--key", key], &["at least one --image"]),
        (
            vec!["--key", key, "--image", "nginx:*"],
            &["\"nginx:*\"", "names no registry"],
        ),
        (
            vec!["--key", key, "--image", "oci.example.org/Team/*"],
            &["lowercase"],
        ),
        (
            vec!["--key", cert, "--image", "oci.example.org/*"],
            &["is a certificate"],
        ),
        (
            vec!["--key", "missing.pub", "--image", "oci.example.org/*"],
            &["missing.pub"],
        ),
        (
            vec![
                "--key",
                key,
                "--image",
                "oci.example.org/*",
                "--keyless-image",
                "ghcr.io/fluxcd/*",
                "--keyless-subject",
                "x",
            ],
            &["--keyless-issuer"],
        ),
        (
            vec![
                "--key",
                key,
                "--image",
                "oci.example.org/*",
                "--keyless-image",
                "ghcr.io/fluxcd/*",
                "--keyless-issuer",
                "https://token.actions.githubusercontent.com",
            ],
            &["--keyless-subject"],
        ),
        (
            vec![
                "--key",
                key,
                "--image",
                "oci.example.org/*",
                "--mode",
                "referrers",
                "--signature-repo",
                "oci.example.org/sigs",
            ],
            &["--mode referrers cannot be combined with --signature-repo"],
        ),
        (
            vec![
                "--key",
                key,
                "--image",
                "oci.example.org/*",
                "--failure-action",
                "Deny",
            ],
            &["Deny"],
        ),
        (
            vec![
                "--key",
                key,
                "--image",
                "oci.example.org/*",
                "--name",
                "Not_A_Name",
            ],
            &["--name"],
        ),
    ];
    for (args, needles) in cases {
        kyverno(home, &args).failure(2, needles);
    }
}

/// `policy check` usage errors: the policy file and the images are checked before any work.
#[test]
fn check_bad_input_is_a_usage_error() {
    let home = support::temp_dir();
    let home = home.path();
    let missing = home.join("missing.yaml");
    check(home, None, &missing, &["oci.example.org/a:1"])
        .failure(2, &["cannot read the policy file", "missing.yaml"]);
    let not_policy = home.join("cm.yaml");
    std::fs::write(
        &not_policy,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keys\n",
    )
    .unwrap();
    check(home, None, &not_policy, &["oci.example.org/a:1"]).failure(
        2,
        &[
            "holds no ClusterPolicy or ImageValidatingPolicy",
            "ConfigMap",
        ],
    );
    let broken = home.join("broken.yaml");
    std::fs::write(&broken, "kind: [").unwrap();
    check(home, None, &broken, &["oci.example.org/a:1"])
        .failure(2, &["broken.yaml", "not valid YAML"]);
    let policy = write_policy(
        home,
        "p.yaml",
        &[
            "--key",
            path_str(&test_keys::keys()[0].public),
            "--image",
            "oci.example.org/*",
        ],
    );
    check(home, None, &policy, &["oci.example.org/Bad:1"]).failure(2, &["lowercase"]);
    check(home, None, &policy, &[]).failure(2, &["no images given"]);
    // --images-from: an uncovered image from a file, judged without a registry.
    let list = home.join("images.txt");
    std::fs::write(
        &list,
        "# deployed\nquay.io/jetstack/cert-manager-controller:v1.14.0\n",
    )
    .unwrap();
    let out = check(home, None, &policy, &["--images-from", path_str(&list)]).code(1);
    assert!(
        out.stdout
            .starts_with("not covered quay.io/jetstack/cert-manager-controller:v1.14.0: "),
        "{out}"
    );
}

/// `examples/kyverno/*.yaml` are exactly what the command in their header writes, and they
/// validate against Kyverno's schemas.
#[test]
fn kyverno_examples_are_what_pinsign_writes() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kyverno"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let command = text
            .lines()
            .find_map(|l| l.strip_prefix("#   pinsign policy kyverno "))
            .unwrap_or_else(|| panic!("{}: no command in the header", path.display()));
        let mut args: Vec<String> = command
            .split_whitespace()
            .map(|a| a.trim_matches('\'').to_string())
            .collect();
        let at = args.iter().position(|a| a == "--output-file").unwrap();
        assert_eq!(
            args[at + 1],
            path.file_name().unwrap().to_str().unwrap(),
            "{}",
            path.display()
        );
        args.drain(at..at + 2);
        let body: String = text
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let out = support::pinsign(dir)
            .current_dir(dir)
            .args(["policy", "kyverno"])
            .args(&args)
            .outcome()
            .ok();
        assert_eq!(
            out.stdout,
            body,
            "{} is not what its command writes",
            path.display()
        );
        assert!(schema_errors(&body).is_empty(), "{}", path.display());
        seen += 1;
    }
    assert_eq!(seen, 3);
}
