//! Plan and decide, end to end on parsed policies: generated ones and Kyverno's examples.

use super::*;
use crate::keys::SigningKey;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kyverno/examples/"
);

fn example(name: &str) -> Vec<Policy> {
    let text = std::fs::read_to_string(format!("{EXAMPLES}{name}")).unwrap();
    parse_policies(&text, name).unwrap().policies
}

const DIGEST: &str = "sha256:631e0092a6cfd0eaba96f7d4392f8577a45e7646243ce2777d6c808c361a8ff2";

fn spec(
    keys: &[&SigningKey],
    kinds: &[PolicyKind],
    edit: impl FnOnce(&mut PolicyInput),
) -> PolicySpec {
    let mut input = PolicyInput {
        keys: keys.iter().map(|k| k.public_key()).collect(),
        images: vec!["oci.example.org/team/*".into()],
        kinds: kinds.to_vec(),
        ..PolicyInput::default()
    };
    edit(&mut input);
    PolicySpec::new(input).unwrap()
}

fn policies(spec: &PolicySpec) -> Vec<Policy> {
    let yaml = generate(spec).unwrap();
    parse_policies(&yaml, "generated").unwrap().policies
}

/// Answer every key check: verified when the check's key is one of `signers`.
fn answer(plan: &Plan, signers: &[&SigningKey]) -> CheckResults {
    let mut results = CheckResults::new();
    for check in &plan.checks {
        let result = match &check.kind {
            CheckKind::Key { key, .. } => {
                if signers
                    .iter()
                    .any(|s| s.public_key().spki_der() == key.spki_der())
                {
                    CheckResult::Verified {
                        detail: format!("signature by {}", key.fingerprint()),
                    }
                } else {
                    CheckResult::NotVerified {
                        reason: format!("no signature verifies with {}", key.fingerprint()),
                    }
                }
            }
            CheckKind::Keyless { .. } => CheckResult::NeedsKeyless,
        };
        results.insert(check.id, result);
    }
    results
}

fn verdict(policies: &[Policy], image: &str, signers: &[&SigningKey]) -> Verdict {
    let plan = plan(policies, image).unwrap();
    decide(&plan, &answer(&plan, signers))
}

#[test]
fn generated_policies_decide_per_kind() {
    let a = SigningKey::generate();
    let b = SigningKey::generate();
    let other = SigningKey::generate();
    for kind in [PolicyKind::ClusterPolicy, PolicyKind::ImageValidatingPolicy] {
        let one = policies(&spec(&[&a], &[kind], |_| {}));
        let two = policies(&spec(&[&a, &b], &[kind], |_| {}));
        let image = format!("oci.example.org/team/app@{DIGEST}");
        let tagged = "oci.example.org/team/app:1.4";
        let cases: Vec<(&[Policy], &str, Vec<&SigningKey>, Decision)> = vec![
            (&one, &image, vec![&a], Decision::Admitted),
            (&one, tagged, vec![&a], Decision::Admitted), // mutateDigest pins it
            (&one, &image, vec![], Decision::Denied),
            (&one, &image, vec![&other], Decision::Denied),
            (&two, &image, vec![&a], Decision::Admitted),
            (&two, &image, vec![&b], Decision::Admitted),
            (&two, &image, vec![&other], Decision::Denied),
            (
                &one,
                "ghcr.io/fluxcd/source-controller:v1",
                vec![],
                Decision::NotCovered,
            ),
        ];
        for (policies, image, signers, want) in cases {
            let v = verdict(policies, image, &signers);
            assert_eq!(v.decision, want, "{kind:?} {image}: {v:#?}");
        }
        let denied = verdict(&one, &image, &[&other]);
        assert!(
            denied.reason.contains("no signature verifies"),
            "{}",
            denied.reason
        );
        assert_eq!(denied.policy.as_deref(), Some(spec::DEFAULT_NAME));
        let nc = verdict(&one, "docker.io/nginx:1", &[]);
        assert!(nc.reason.contains("let it in unchecked"), "{}", nc.reason);
        assert!(report::text_line(&nc).starts_with("not covered docker.io/nginx:1: "));
    }
}

#[test]
fn two_keys_make_one_check_each_and_no_registry_for_uncovered() {
    let a = SigningKey::generate();
    let b = SigningKey::generate();
    let p = policies(&spec(&[&a, &b], &[PolicyKind::ClusterPolicy], |_| {}));
    let plan = plan(&p, "oci.example.org/team/app:1").unwrap();
    assert_eq!(plan.checks.len(), 2);
    assert!(plan.checks.iter().all(|c| c.tlog == model::Tlog::Ignored));
    let uncovered = super::plan(&p, "quay.io/x/y:1").unwrap();
    assert!(!uncovered.is_covered());
    assert!(uncovered.checks.is_empty());
}

#[test]
fn signature_location_follows_repo_and_mode() {
    let a = SigningKey::generate();
    let p = policies(&spec(&[&a], &[PolicyKind::ClusterPolicy], |i| {
        i.signature_repo = Some("oci.example.org/signatures".into())
    }));
    let plan = plan(&p, "oci.example.org/team/app:1").unwrap();
    assert_eq!(
        plan.checks[0].location.repository.as_deref(),
        Some("oci.example.org/signatures")
    );
    assert!(!plan.checks[0].location.referrers_first);
    let p = policies(&spec(&[&a], &[PolicyKind::ClusterPolicy], |i| {
        i.mode = Some(SignatureMode::Referrers)
    }));
    let plan = super::plan(&p, "oci.example.org/team/app:1").unwrap();
    assert!(plan.checks[0].location.referrers_first);
    assert_eq!(plan.checks[0].location.repository, None);
}

#[test]
fn audit_admits_with_the_failure_named() {
    let a = SigningKey::generate();
    let other = SigningKey::generate();
    for kind in [PolicyKind::ClusterPolicy, PolicyKind::ImageValidatingPolicy] {
        let p = policies(&spec(&[&a], &[kind], |i| {
            i.failure_action = Some(FailureAction::Audit)
        }));
        let v = verdict(&p, &format!("oci.example.org/team/app@{DIGEST}"), &[&other]);
        assert_eq!(v.decision, Decision::Admitted, "{v:#?}");
        assert!(v.reason.contains("(Audit) fails"), "{}", v.reason);
        // Audit with no mutation: a tag-only image now lacks the digest verifyDigest wants.
        let v = verdict(&p, "oci.example.org/team/app:1", &[&a]);
        assert_eq!(v.decision, Decision::Admitted);
        assert!(v.reason.contains("digest"), "{}", v.reason);
    }
}

#[test]
fn keyless_rule_is_separate_and_undetermined() {
    let a = SigningKey::generate();
    for kind in [PolicyKind::ClusterPolicy, PolicyKind::ImageValidatingPolicy] {
        let p = policies(&spec(&[&a], &[kind], |i| {
            i.keyless_images = vec!["ghcr.io/fluxcd/*".into()];
            i.keyless_issuer = Some("https://token.actions.githubusercontent.com".into());
            i.keyless_subject = Some("https://github.com/fluxcd/*".into());
        }));
        let flux = verdict(&p, "ghcr.io/fluxcd/source-controller:v1.0.0", &[]);
        assert_eq!(flux.decision, Decision::Undetermined, "{kind:?} {flux:#?}");
        assert!(
            flux.reason.contains("needs keyless verification"),
            "{}",
            flux.reason
        );
        // our own image needs only the key
        let own = verdict(&p, &format!("oci.example.org/team/app@{DIGEST}"), &[&a]);
        assert_eq!(own.decision, Decision::Admitted, "{kind:?} {own:#?}");
        let plan = plan(&p, "ghcr.io/fluxcd/source-controller:v1.0.0").unwrap();
        assert_eq!(plan.checks.len(), 1);
        let CheckKind::Keyless { identities } = &plan.checks[0].kind else {
            panic!("keyless check expected");
        };
        let subject = identities[0].subject.as_ref().unwrap();
        assert_eq!(
            subject.matches(
                "https://github.com/fluxcd/flux2/.github/workflows/release.yml@refs/tags/v2.1.0"
            ),
            Some(true)
        );
        assert_eq!(
            subject.matches("https://github.com/attacker/fluxcd"),
            Some(false)
        );
        // A keyless answer from the caller decides it.
        let mut results = CheckResults::new();
        results.insert(
            plan.checks[0].id,
            CheckResult::Verified {
                detail: "keyless ok".into(),
            },
        );
        assert_eq!(decide(&plan, &results).decision, Decision::Admitted);
    }
}

#[test]
fn kyverno_examples_parse_and_plan() {
    // keyed-basic: one key, ignoreTlog, pattern with a tag wildcard.
    let p = example("keyed-basic.yaml");
    assert_eq!(p.len(), 1);
    let plan = plan(&p, "ghcr.io/kyverno/test-verify-image:signed").unwrap();
    assert_eq!(plan.checks.len(), 1);
    assert_eq!(plan.checks[0].tlog, model::Tlog::Ignored);
    // Kyverno's own chainsaw step for this policy expects its key's signature to admit.
    let mut ok = CheckResults::new();
    ok.insert(
        plan.checks[0].id,
        CheckResult::Verified {
            detail: "signature verifies".into(),
        },
    );
    assert_eq!(decide(&plan, &ok).decision, Decision::Admitted);
    // `repo:*` does not match Kyverno's digest-only spelling: such a pod is not covered.
    let digest_only =
        super::plan(&p, &format!("ghcr.io/kyverno/test-verify-image@{DIGEST}")).unwrap();
    assert!(!digest_only.is_covered());

    let p = example("keyed-oci11.yaml");
    let plan = super::plan(&p, "ghcr.io/kyverno/test-verify-image:cosign-oci11").unwrap();
    assert!(plan.checks[0].location.referrers_first);

    // The Flux policy: keyless only, Audit (deprecated validationFailureAction).
    let p = example("verify-flux-images.yaml");
    assert!(p[0]
        .notes
        .iter()
        .any(|n| n.contains("validationFailureAction")));
    let plan = super::plan(&p, "ghcr.io/fluxcd/helm-controller:v0.37.0").unwrap();
    assert_eq!(plan.checks.len(), 1);
    assert!(!plan.rules[0].enforce);
    let v = decide(&plan, &answer(&plan, &[]));
    // Audit: Kyverno admits whatever the keyless check says.
    assert_eq!(v.decision, Decision::Admitted, "{v:#?}");
    let v = verdict(&p, "docker.io/fluxcd/source-controller:v1", &[]);
    assert_eq!(v.decision, Decision::Admitted);
    let v = verdict(&p, "fluxcd/source-controller:v1", &[]); // docker.io/ added by Kyverno
    assert_eq!(v.decision, Decision::Admitted);
    let v = verdict(&p, "index.docker.io/fluxcd/source-controller:v1", &[]);
    assert_eq!(v.decision, Decision::NotCovered);

    // The ImageValidatingPolicy example: attestations, which pinsign does not verify.
    let p = example("ivpol-keyless-github.yaml");
    assert_eq!(p[0].kind(), PolicyKind::ImageValidatingPolicy);
    let v = verdict(&p, "ghcr.io/kyverno/test-images/cosign:v1", &[]);
    assert_eq!(v.decision, Decision::Undetermined, "{v:#?}");
    assert!(v.reason.contains("attestations"), "{}", v.reason);
    let v = verdict(&p, "ghcr.io/other:v1", &[]);
    assert_eq!(v.decision, Decision::NotCovered);
}

const KEY_POLICY: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: counts}
spec:
  rules:
  - name: r
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["oci.example.org/*"]
      failureAction: Enforce
      COUNT
      attestors:
      - COUNTFIELD
        entries:
        - keys: {publicKeys: "KEY_A", rekor: {ignoreTlog: true}}
        - keys: {publicKeys: "KEY_B", rekor: REKOR_B}
"#;

fn count_policy(a: &SigningKey, b: &SigningKey, count: &str, rekor_b: &str) -> Vec<Policy> {
    let text = KEY_POLICY
        .replace("COUNTFIELD\n", &format!("{count}\n"))
        .replace("      COUNT\n", "")
        .replace("KEY_A", &a.public_key().to_pem().replace('\n', "\\n"))
        .replace("KEY_B", &b.public_key().to_pem().replace('\n', "\\n"))
        .replace("REKOR_B", rekor_b);
    parse_policies(&text, "counts.yaml").unwrap().policies
}

#[test]
fn count_semantics() {
    let a = SigningKey::generate();
    let b = SigningKey::generate();
    let image = format!("oci.example.org/app@{DIGEST}");
    let ignored = "{ignoreTlog: true}";
    // (count line, signers, decision)
    let cases: Vec<(&str, Vec<&SigningKey>, Decision)> = vec![
        ("count: 1", vec![&a], Decision::Admitted),
        ("count: 1", vec![&b], Decision::Admitted),
        ("count: 1", vec![], Decision::Denied),
        ("count: 2", vec![&a], Decision::Denied),
        ("count: 2", vec![&a, &b], Decision::Admitted),
        // no count: every entry (Kyverno's RequiredCount)
        ("- {}", vec![&a], Decision::Denied),
        ("- {}", vec![&a, &b], Decision::Admitted),
    ];
    for (count, signers, want) in cases {
        let count_line = if count.starts_with('-') {
            "".to_string()
        } else {
            count.to_string()
        };
        let p = count_policy(&a, &b, &count_line, ignored);
        let v = verdict(&p, &image, &signers);
        assert_eq!(v.decision, want, "{count}: {v:#?}");
    }
    let p = count_policy(&a, &b, "count: 2", ignored);
    let v = verdict(&p, &image, &[&a]);
    assert!(
        v.reason.contains("1 of 2 attestors verified, 2 needed"),
        "{}",
        v.reason
    );
}

#[test]
fn tlog_required_names_the_public_rekor() {
    let a = SigningKey::generate();
    let b = SigningKey::generate();
    let image = format!("oci.example.org/app@{DIGEST}");
    let p = count_policy(
        &a,
        &b,
        "count: 1",
        "{ignoreTlog: false, url: https://rekor.sigstore.dev}",
    );
    // signed by b only, whose entry wants the transparency log: denied, Rekor named.
    let v = verdict(&p, &image, &[&b]);
    assert_eq!(v.decision, Decision::Denied, "{v:#?}");
    assert!(
        v.reason
            .contains("would look up the public Rekor (https://rekor.sigstore.dev)"),
        "{}",
        v.reason
    );
    // a verifies without the log: admitted.
    assert_eq!(verdict(&p, &image, &[&a]).decision, Decision::Admitted);
    // no rekor at all means the public Rekor too
    let text = KEY_POLICY
        .replace("COUNTFIELD\n", "count: 1\n")
        .replace("      COUNT\n", "")
        .replace("KEY_A", &a.public_key().to_pem().replace('\n', "\\n"))
        .replace(", rekor: {ignoreTlog: true}", "")
        .replace(
            "        - keys: {publicKeys: \"KEY_B\", rekor: REKOR_B}\n",
            "",
        );
    let p = parse_policies(&text, "x").unwrap().policies;
    let v = verdict(&p, &image, &[&a]);
    assert_eq!(v.decision, Decision::Denied);
    assert!(v.reason.contains("public Rekor"), "{}", v.reason);
}

#[test]
fn digest_rules_and_skips() {
    let a = SigningKey::generate();
    let text = format!(
        r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {{name: digests}}
spec:
  validationFailureAction: Enforce
  rules:
  - name: r
    match: {{resources: {{kinds: [Pod]}}}}
    verifyImages:
    - imageReferences: ["oci.example.org/*"]
      skipImageReferences: ["oci.example.org/tools/*"]
      mutateDigest: false
      attestors:
      - entries:
        - keys:
            publicKeys: "{}"
            rekor: {{ignoreTlog: true}}
"#,
        a.public_key().to_pem().replace('\n', "\\n")
    );
    let p = parse_policies(&text, "d.yaml").unwrap().policies;
    let v = verdict(&p, "oci.example.org/app:1", &[&a]);
    assert_eq!(v.decision, Decision::Denied);
    assert!(
        v.reason
            .contains("missing digest for oci.example.org/app:1"),
        "{}",
        v.reason
    );
    assert_eq!(
        verdict(&p, &format!("oci.example.org/app@{DIGEST}"), &[&a]).decision,
        Decision::Admitted
    );
    let v = verdict(&p, "oci.example.org/tools/x:1", &[]);
    assert_eq!(v.decision, Decision::NotCovered);
    assert!(
        v.skipped[0].contains("skipImageReferences"),
        "{:?}",
        v.skipped
    );
}

#[test]
fn registry_errors_are_undetermined_not_denied() {
    let a = SigningKey::generate();
    let p = policies(&spec(&[&a], &[PolicyKind::ClusterPolicy], |_| {}));
    let plan = plan(&p, "oci.example.org/team/app:1").unwrap();
    let mut results = CheckResults::new();
    results.insert(
        plan.checks[0].id,
        CheckResult::Error {
            reason: "registry refused (401)".into(),
        },
    );
    let v = decide(&plan, &results);
    assert_eq!(v.decision, Decision::Undetermined);
    assert!(
        v.reason.contains("could not check: registry refused"),
        "{}",
        v.reason
    );
    let v = decide(&plan, &CheckResults::new());
    assert_eq!(v.decision, Decision::Undetermined);
}

#[test]
fn other_documents_are_skipped_with_a_note() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n";
    let f = parse_policies(text, "mixed.yaml").unwrap();
    assert!(f.policies.is_empty());
    assert_eq!(f.skipped.len(), 2);
    assert!(
        f.skipped[0].contains("ConfigMap \"keys\""),
        "{:?}",
        f.skipped
    );
    let e = parse_policies("a: [", "bad.yaml").unwrap_err().to_string();
    assert!(e.starts_with("bad.yaml: document 1"), "{e}");
    let e = parse_policies(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, verifyImages: [{attestors: [{count: 3, entries: [{keyless: {issuer: x}}]}]}]}]}\n",
        "c.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("count 3"), "{e}");
}
