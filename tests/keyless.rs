//! Keyless verification (`pinsign::keyless`) against real Sigstore public-good vectors
//! (`fixtures/keyless/`, see its README) and a self-made test instance
//! (`support::sigstore_instance`) for the cases real vectors cannot give.
//!
//! Cross-checks against an implementation we did not write: sigstore-rs's SET check
//! (`SignedArtifactBundle::new_verified`) and its Merkle inclusion + checkpoint check
//! (`rekor::models::InclusionProof::verify`) agree with pinsign's on the real vectors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use pinsign::keyless::{
    self, Check, GithubWorkflowPolicy, IdentityPolicy, InclusionProof, KeylessError, KeylessInput,
    KindVersion, LegacySignature, LogId, Matcher, Outcome, SignedArtifact, TlogEntry, TrustedRoot,
};
use pinsign::reference::Digest;
use serde_json::Value;

use crate::support::sigstore_instance::{
    LeafSpec, RekorKey, RootOptions, TestSigstore, GITHUB_ISSUER, T0,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keyless")
}

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn public_good() -> TrustedRoot {
    TrustedRoot::public_good().unwrap()
}

fn root_file(rel: &str) -> TrustedRoot {
    TrustedRoot::from_file(&fixtures().join(rel)).unwrap()
}

/// The public-good root without its CT logs (what a private instance without CT looks like).
fn public_good_without_ctlogs() -> TrustedRoot {
    let mut json: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("trust/trusted_root.public-good.json")).unwrap(),
    )
    .unwrap();
    json["ctlogs"] = Value::Array(Vec::new());
    TrustedRoot::from_json(json.to_string().as_bytes(), "public-good without ctlogs").unwrap()
}

fn exact(identity: &str, issuer: &str) -> IdentityPolicy {
    IdentityPolicy::new(Matcher::exact(identity), Matcher::exact(issuer))
}

// ---------------------------------------------------------------- legacy `.sig` layers

/// One legacy layer's files (`payload.json`, `signature.b64`, ...), by name.
struct LegacyFiles(BTreeMap<String, String>);

impl LegacyFiles {
    fn load(dir: &str) -> LegacyFiles {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().to_string();
            files.insert(name, std::fs::read_to_string(entry.path()).unwrap());
        }
        LegacyFiles(files)
    }

    fn get(&self, name: &str) -> &str {
        &self.0[name]
    }

    fn signature(&self) -> LegacySignature<'_> {
        LegacySignature {
            payload: self.get("payload.json").as_bytes(),
            signature_b64: self.get("signature.b64"),
            certificate_pem: self.get("certificate.pem"),
            chain_pem: self.0.get("chain.pem").map(String::as_str),
            bundle_json: self.get("bundle.json"),
        }
    }

    fn vector(&self) -> Value {
        serde_json::from_str(self.get("vector.json")).unwrap()
    }
}

fn verify_files(
    files: &LegacyFiles,
    digest: &str,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<keyless::KeylessVerified, KeylessError> {
    let digest = Digest::parse(digest).unwrap();
    keyless::verify_legacy(&files.signature(), Some(&digest), root, policy)
}

#[test]
fn legacy_vectors_verify_with_the_identity_and_issuer_of_their_vector() {
    for dir in [
        "legacy/gha-go-bazel-v0.0.30",
        "legacy/gha-go-bazel-v0.0.26",
        "legacy/google-sa-cloudbuild-2023",
    ] {
        let files = LegacyFiles::load(dir);
        let v = files.vector();
        let identity = v["expect"]["certificate_identity"].as_str().unwrap();
        let issuer = v["expect"]["certificate_oidc_issuer"].as_str().unwrap();
        let digest = v["image"]["digest"].as_str().unwrap();
        let got = verify_files(&files, digest, &public_good(), &exact(identity, issuer))
            .unwrap_or_else(|e| panic!("{dir}: {e} ({:?})", e.check()));
        assert_eq!(got.identity, identity, "{dir}");
        assert_eq!(got.issuer, issuer, "{dir}");
        assert_eq!(
            got.integrated_time,
            v["rekor"]["integratedTime"].as_i64().unwrap()
        );
        assert_eq!(got.log_index, v["rekor"]["logIndex"].as_i64().unwrap());
        assert_eq!(got.log_id, v["rekor"]["logID"].as_str().unwrap());
        assert_eq!(got.log_url, "https://rekor.sigstore.dev");
        assert_eq!(got.certificate_authority, "https://fulcio.sigstore.dev");
        // Every check ran, and each is named in the report.
        for check in [
            Check::SignedEntryTimestamp,
            Check::CertificateChain,
            Check::CertificateValidity,
            Check::CodeSigning,
            Check::Sct,
            Check::Signature,
            Check::TlogBody,
            Check::Identity,
            Check::Issuer,
            Check::PayloadDigest,
        ] {
            assert!(
                matches!(got.outcome(check), Some(Outcome::Passed(_))),
                "{dir}: {check} {:?}",
                got.outcome(check)
            );
        }
        assert!(matches!(
            got.outcome(Check::InclusionProof),
            Some(Outcome::NotApplicable(_))
        ));
        assert!(matches!(
            got.outcome(Check::GithubWorkflow),
            Some(Outcome::NotApplicable(_))
        ));
        let Some(Outcome::Passed(sct)) = got.outcome(Check::Sct) else {
            unreachable!()
        };
        assert!(sct.contains("ctfe.sigstore.dev/2022"), "{dir}: {sct}");
        let Some(Outcome::Passed(chain)) = got.outcome(Check::CertificateChain) else {
            unreachable!()
        };
        assert!(
            chain.contains("the attached chain is the trusted root's"),
            "{chain}"
        );
    }
}

#[test]
fn legacy_github_workflow_extensions_and_regexps() {
    let files = LegacyFiles::load("legacy/gha-go-bazel-v0.0.30");
    let digest = files.vector()["image"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let re = |p: &str| Matcher::regex(p, "--certificate-identity-regexp").unwrap();
    let issuer = Matcher::exact(GITHUB_ISSUER);
    let github = GithubWorkflowPolicy {
        repository: Some("salrashid123/go-bazel-github-workflow".into()),
        git_ref: Some("refs/tags/v0.0.30".into()),
        trigger: Some("push".into()),
        ..Default::default()
    };
    let policy = IdentityPolicy::new(re(r"^https://github\.com/salrashid123/"), issuer.clone())
        .with_github_workflow(github.clone());
    let got = verify_files(&files, &digest, &public_good(), &policy).unwrap();
    assert_eq!(got.github_workflow.name.as_deref(), Some("Release"));
    assert!(matches!(
        got.outcome(Check::GithubWorkflow),
        Some(Outcome::Passed(_))
    ));

    // The Flux policy of the README: a non-Flux signer is refused by identity.
    let flux = IdentityPolicy::new(re(r"^https://github\.com/fluxcd/"), issuer.clone());
    let e = verify_files(&files, &digest, &public_good(), &flux).unwrap_err();
    assert_eq!(e.check(), Check::Identity);
    assert!(e.message().contains(r"^https://github\.com/fluxcd/"), "{e}");

    // Unanchored, as cosign's MatchString: a fragment matches.
    let loose = IdentityPolicy::new(re("go-bazel-github-workflow"), re("actions"));
    assert!(verify_files(&files, &digest, &public_good(), &loose).is_ok());

    let wrong_ref =
        IdentityPolicy::new(re("."), issuer).with_github_workflow(GithubWorkflowPolicy {
            git_ref: Some("refs/tags/v0.0.29".into()),
            ..Default::default()
        });
    let e = verify_files(&files, &digest, &public_good(), &wrong_ref).unwrap_err();
    assert_eq!(e.check(), Check::GithubWorkflow);
}

#[test]
fn legacy_kubewarden_2021_fails_sct_then_issuer() {
    let files = LegacyFiles::load("legacy/email-kubewarden-2021");
    let digest = files.vector()["image"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let policy = exact("flavio@castelli.me", "https://github.com/login/oauth");
    // With the public-good root (which lists CT logs) the missing SCT is the first cause.
    let e = verify_files(&files, &digest, &public_good(), &policy).unwrap_err();
    assert_eq!(e.check(), Check::Sct, "{e}");
    assert!(e.message().contains("no embedded SCT"), "{e}");
    // Without CT logs, SCT is not applicable: chain (2021 root), SET, rekord body and
    // signature hold, and the missing issuer extension fails the policy.
    let e = verify_files(&files, &digest, &public_good_without_ctlogs(), &policy).unwrap_err();
    assert_eq!(e.check(), Check::Issuer, "{e}");
    assert!(e.message().contains("no OIDC issuer extension"), "{e}");
}

/// The first check pinsign reports for each negative legacy case, and the name of that
/// check in `check_vectors.py` (the independent checker lists every check that fails).
const LEGACY_NEGATIVES: &[(&str, Check, &str)] = &[
    (
        "legacy-wrong-identity-other-tag",
        Check::Identity,
        "identity",
    ),
    ("legacy-identity-prefix-only", Check::Identity, "identity"),
    ("legacy-wrong-issuer", Check::Issuer, "issuer"),
    ("legacy-issuer-trailing-slash", Check::Issuer, "issuer"),
    (
        "legacy-other-digest-platform-manifest",
        Check::PayloadDigest,
        "payload_digest",
    ),
    (
        "legacy-v0.0.26-signature-v0.0.30-identity",
        Check::Identity,
        "identity",
    ),
    ("legacy-kubewarden-2021-any-issuer", Check::Sct, "sct"),
    ("legacy-tampered-signature", Check::Signature, "signature"),
    ("legacy-tampered-set", Check::SignedEntryTimestamp, "set"),
    (
        "legacy-unknown-rekor-log",
        Check::SignedEntryTimestamp,
        "set",
    ),
    (
        "legacy-integrated-time-after-cert-expiry",
        Check::SignedEntryTimestamp,
        "set",
    ),
    ("legacy-tampered-payload", Check::Signature, "signature"),
    (
        "legacy-tampered-payload-descriptor-updated",
        Check::Signature,
        "signature",
    ),
    (
        "legacy-cert-swap-google-sa",
        Check::CertificateValidity,
        "cert_validity_at_integrated_time",
    ),
    (
        "legacy-self-signed-cert",
        Check::CertificateChain,
        "cert_chain",
    ),
    (
        "legacy-staging-trusted-root",
        Check::SignedEntryTimestamp,
        "set",
    ),
];

#[test]
fn legacy_negative_cases_fail_naming_the_first_cause() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures().join("negative")).unwrap() {
        let path = entry.unwrap().path();
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if case["kind"] != "legacy" {
            continue;
        }
        let name = case["case"].as_str().unwrap();
        let &(_, want, script_name) = LEGACY_NEGATIVES
            .iter()
            .find(|(n, ..)| *n == name)
            .unwrap_or_else(|| panic!("negative case {name} has no expectation here"));
        // The check pinsign names first is one the independent checker also finds failing.
        let documented: Vec<&str> = case["expect_failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(documented.contains(&script_name), "{name}: {documented:?}");

        let mut files = LegacyFiles::load(case["base"].as_str().unwrap());
        if let Some(replace) = case["replace_files"].as_object() {
            for (file, content) in replace {
                files
                    .0
                    .insert(file.clone(), content.as_str().unwrap().to_string());
            }
        }
        let v = files.vector();
        let with = &case["verify_with"];
        let pick = |key: &str, default: &Value| -> Option<String> {
            with.get(key)
                .unwrap_or(default)
                .as_str()
                .map(str::to_string)
        };
        let identity = pick("certificate_identity", &v["expect"]["certificate_identity"]).unwrap();
        let issuer = pick(
            "certificate_oidc_issuer",
            &v["expect"]["certificate_oidc_issuer"],
        )
        .unwrap_or_else(|| GITHUB_ISSUER.to_string());
        let digest = pick("image_digest", &v["image"]["digest"]).unwrap();
        let root = match case["trusted_root"].as_str() {
            Some(rel) => root_file(rel),
            None => public_good(),
        };
        let e = verify_files(&files, &digest, &root, &exact(&identity, &issuer)).expect_err(name);
        assert_eq!(e.check(), want, "{name}: {e}");
        assert!(!e.message().contains('\n'), "{name}: one line: {e}");
        seen += 1;
    }
    assert_eq!(seen, LEGACY_NEGATIVES.len());
}

#[test]
fn legacy_failure_messages_say_what_was_found_and_expected() {
    let files = LegacyFiles::load("legacy/gha-go-bazel-v0.0.30");
    let digest = "sha256:c05263d2ff654c3a94243662440913f045075d59c436e2c69e9145ec2b87a321";
    let san = "https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30";
    let other = san.replace("v0.0.30", "v0.0.29");
    let e = verify_files(
        &files,
        digest,
        &public_good(),
        &exact(&other, GITHUB_ISSUER),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("certificate identity is {san}, expected {other}")
    );
    let e = verify_files(
        &files,
        "sha256:81f575aadc0246c94c8580b55550eda76d518c6a932a43e72d9cb4d9734d0b75",
        &public_good(),
        &exact(san, GITHUB_ISSUER),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the signed payload names image {digest}, expected \
             sha256:81f575aadc0246c94c8580b55550eda76d518c6a932a43e72d9cb4d9734d0b75"
        )
    );
    let e = verify_files(
        &files,
        digest,
        &root_file("trust/trusted_root.staging.json"),
        &exact(san, GITHUB_ISSUER),
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "the Rekor entry is from log c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d, \
             which is not in the trusted root"
        ),
        "{e}"
    );
    // Without a digest (verify-blob of a payload), the digest check does not apply.
    let got = keyless::verify_legacy(
        &files.signature(),
        None,
        &public_good(),
        &exact(san, GITHUB_ISSUER),
    )
    .unwrap();
    assert!(matches!(
        got.outcome(Check::PayloadDigest),
        Some(Outcome::NotApplicable(_))
    ));
}

#[test]
fn legacy_sets_agree_with_sigstore_rs() {
    use sigstore::cosign::bundle::SignedArtifactBundle;
    use sigstore::crypto::CosignVerificationKey;
    let root = public_good();
    let tlog = &root.tlogs()[0];
    let key = CosignVerificationKey::try_from_der(tlog.key().unwrap().spki_der()).unwrap();
    let keys = BTreeMap::from([(tlog.log_id().to_hex(), key)]);
    let tampered: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("negative/legacy-tampered-set.json")).unwrap(),
    )
    .unwrap();
    let good = LegacyFiles::load("legacy/gha-go-bazel-v0.0.30");
    for (bundle, should_verify) in [
        (good.get("bundle.json").to_string(), true),
        (
            LegacyFiles::load("legacy/email-kubewarden-2021")
                .get("bundle.json")
                .to_string(),
            true,
        ),
        (
            tampered["replace_files"]["bundle.json"]
                .as_str()
                .unwrap()
                .to_string(),
            false,
        ),
    ] {
        let wrapped = format!(r#"{{"base64Signature":"","cert":"","rekorBundle":{bundle}}}"#);
        let theirs = SignedArtifactBundle::new_verified(&wrapped, &keys).is_ok();
        let entry = keyless::parse_rekor_bundle(&bundle).unwrap();
        let ours = keyless::rekor::verify_set(&entry, &root).is_ok();
        assert_eq!(theirs, should_verify);
        assert_eq!(ours, should_verify);
    }
}

// ---------------------------------------------------------------- Sigstore bundles

/// The keyless material of a Sigstore bundle, read with serde_json in the test (the bundle
/// code of `src/bundle/` does this in pinsign).
struct BundleMaterial {
    certificate_der: Vec<u8>,
    signature: Vec<u8>,
    entry: TlogEntry,
    /// `Some((payload_type, payload))` for DSSE.
    dsse: Option<(String, Vec<u8>)>,
}

fn tlog_entry(json: &Value) -> TlogEntry {
    let int = |v: &Value| -> i64 {
        v.as_str()
            .map(|s| s.parse().unwrap())
            .or_else(|| v.as_i64())
            .unwrap()
    };
    let proof = json.get("inclusionProof").map(|p| InclusionProof {
        log_index: int(&p["logIndex"]),
        root_hash: b64d(p["rootHash"].as_str().unwrap()),
        tree_size: int(&p["treeSize"]),
        hashes: p["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| b64d(h.as_str().unwrap()))
            .collect(),
        checkpoint: p["checkpoint"]["envelope"].as_str().unwrap().to_string(),
    });
    TlogEntry {
        log_id: LogId::new(b64d(json["logId"]["keyId"].as_str().unwrap())),
        log_index: int(&json["logIndex"]),
        integrated_time: int(&json["integratedTime"]),
        canonicalized_body: b64d(json["canonicalizedBody"].as_str().unwrap()),
        inclusion_promise: json
            .get("inclusionPromise")
            .map(|p| b64d(p["signedEntryTimestamp"].as_str().unwrap())),
        inclusion_proof: proof,
        kind_version: json.get("kindVersion").map(|k| KindVersion {
            kind: k["kind"].as_str().unwrap().into(),
            version: k["version"].as_str().unwrap().into(),
        }),
    }
}

fn bundle_material(doc: &Value) -> BundleMaterial {
    let vm = &doc["verificationMaterial"];
    let certificate_der = match vm.get("certificate") {
        Some(c) => b64d(c["rawBytes"].as_str().unwrap()),
        None => b64d(
            vm["x509CertificateChain"]["certificates"][0]["rawBytes"]
                .as_str()
                .unwrap(),
        ),
    };
    let entry = tlog_entry(&vm["tlogEntries"][0]);
    if let Some(env) = doc.get("dsseEnvelope") {
        BundleMaterial {
            certificate_der,
            signature: b64d(env["signatures"][0]["sig"].as_str().unwrap()),
            entry,
            dsse: Some((
                env["payloadType"].as_str().unwrap().to_string(),
                b64d(env["payload"].as_str().unwrap()),
            )),
        }
    } else {
        BundleMaterial {
            certificate_der,
            signature: b64d(doc["messageSignature"]["signature"].as_str().unwrap()),
            entry,
            dsse: None,
        }
    }
}

/// JSON-pointer `replace`, as the negative cases describe their patches.
fn patch(doc: &mut Value, ops: &Value) {
    for op in ops.as_array().into_iter().flatten() {
        let target = doc.pointer_mut(op["path"].as_str().unwrap()).unwrap();
        *target = op["value"].clone();
    }
}

/// Verify a bundle's keyless material through the plain-input API; for DSSE, also check the
/// in-toto subject digest and predicate type as the bundle code will.
fn verify_bundle(
    doc: &Value,
    vector: &Value,
    root: &TrustedRoot,
) -> Result<keyless::KeylessVerified, String> {
    let m = bundle_material(doc);
    let policy = exact(
        vector["certificate_identity"].as_str().unwrap(),
        vector["certificate_oidc_issuer"].as_str().unwrap(),
    );
    let sha256: [u8; 32] = hex::decode(vector["artifact_sha256"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let artifact_file = vector
        .get("artifact_file")
        .map(|f| std::fs::read(fixtures().join("bundles").join(f.as_str().unwrap())).unwrap());
    let artifact = match (&m.dsse, &artifact_file) {
        (Some((payload_type, payload)), _) => SignedArtifact::Dsse {
            payload_type,
            payload,
        },
        (None, Some(bytes)) if vector.get("verify_with_digest").is_none() => {
            SignedArtifact::Bytes(bytes)
        }
        (None, _) => SignedArtifact::Sha256(&sha256),
    };
    let input = KeylessInput {
        certificate_der: &m.certificate_der,
        chain_hint: &[],
        signature: &m.signature,
        tlog_entry: &m.entry,
        artifact,
    };
    let verified = keyless::verify_keyless(&input, root, &policy)
        .map_err(|e| format!("{:?}: {e}", e.check()))?;
    if let Some((_, payload)) = &m.dsse {
        let statement: Value = serde_json::from_slice(payload).unwrap();
        let subjects: Vec<&str> = statement["subject"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["digest"]["sha256"].as_str())
            .collect();
        if !subjects.contains(&vector["artifact_sha256"].as_str().unwrap()) {
            return Err(format!(
                "in-toto subject: no sha256 {}",
                vector["artifact_sha256"]
            ));
        }
        if let Some(want) = vector["predicate_type"].as_str() {
            if statement["predicateType"] != want {
                return Err(format!("predicateType {}", statement["predicateType"]));
            }
        }
    }
    Ok(verified)
}

fn bundle_vectors() -> Vec<Value> {
    serde_json::from_slice::<Vec<Value>>(
        &std::fs::read(fixtures().join("bundles/vectors.json")).unwrap(),
    )
    .unwrap()
}

fn bundle_doc(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("bundles").join(name)).unwrap()).unwrap()
}

#[test]
fn bundle_vectors_verify_through_the_plain_input_functions() {
    let vectors = bundle_vectors();
    assert_eq!(vectors.len(), 5);
    for v in &vectors {
        let name = v["bundle"].as_str().unwrap();
        let doc = bundle_doc(name);
        let got = verify_bundle(&doc, v, &public_good()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            got.identity,
            v["certificate_identity"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            got.integrated_time,
            v["integratedTime"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(got.log_index, v["logIndex"].as_i64().unwrap(), "{name}");
        assert_eq!(got.log_id, v["logID_hex"].as_str().unwrap(), "{name}");
        let proof = got.outcome(Check::InclusionProof).unwrap();
        assert!(matches!(proof, Outcome::Passed(_)), "{name}: {proof:?}");
        assert!(
            matches!(got.outcome(Check::Sct), Some(Outcome::Passed(_))),
            "{name}"
        );
    }
}

#[test]
fn blob_bundle_by_digest_and_by_bytes() {
    // The conformance blob: its file is here, so verify over the bytes and over the digest.
    let v = bundle_vectors()
        .into_iter()
        .find(|v| v["bundle"] == "conformance-happy-path-v0.3.sigstore.json")
        .unwrap();
    let doc = bundle_doc("conformance-happy-path-v0.3.sigstore.json");
    verify_bundle(&doc, &v, &public_good()).unwrap();
    let mut by_digest = v.clone();
    by_digest["verify_with_digest"] = Value::Bool(true);
    verify_bundle(&doc, &by_digest, &public_good()).unwrap();
}

#[test]
fn bundle_negative_cases_fail() {
    // (case, the check pinsign reports first; None when the failure is the bundle code's
    // in-toto statement check, which this test does itself)
    let expected: &[(&str, Option<Check>)] = &[
        ("bundle-wrong-identity-other-tag", Some(Check::Identity)),
        ("bundle-wrong-issuer", Some(Check::Issuer)),
        ("bundle-other-digest", None),
        ("bundle-tampered-dsse-signature", Some(Check::Signature)),
        ("bundle-tampered-dsse-payload", Some(Check::Signature)),
        ("bundle-tampered-set", Some(Check::SignedEntryTimestamp)),
        (
            "bundle-tampered-inclusion-proof",
            Some(Check::InclusionProof),
        ),
        (
            "bundle-staging-trusted-root",
            Some(Check::SignedEntryTimestamp),
        ),
        ("bundle-attestation-is-not-a-signature", None),
        ("bundle-blob-wrong-digest", Some(Check::Signature)),
    ];
    let vectors = bundle_vectors();
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures().join("negative")).unwrap() {
        let case: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        if case["kind"] != "bundle" {
            continue;
        }
        let name = case["case"].as_str().unwrap();
        let want = expected
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no expectation for {name}"))
            .1;
        let base = case["base"].as_str().unwrap();
        let mut vector = vectors
            .iter()
            .find(|v| v["bundle"] == base)
            .unwrap()
            .clone();
        for (k, val) in case["verify_with"].as_object().into_iter().flatten() {
            vector[k] = val.clone();
        }
        let mut doc = bundle_doc(base);
        patch(&mut doc, &case["patch"]);
        let root = match vector.get("trusted_root").and_then(Value::as_str) {
            Some(rel) => root_file(rel),
            None => public_good(),
        };
        let e = verify_bundle(&doc, &vector, &root).expect_err(name);
        match want {
            Some(check) => assert!(e.starts_with(&format!("{check:?}:")), "{name}: {e}"),
            None => assert!(
                e.starts_with("in-toto subject") || e.starts_with("predicateType"),
                "{name}: {e}"
            ),
        }
        seen += 1;
    }
    assert_eq!(seen, expected.len());
}

#[test]
fn inclusion_proofs_agree_with_sigstore_rs() {
    use sigstore::crypto::CosignVerificationKey;
    use sigstore::rekor::models::checkpoint::SignedCheckpoint;
    let root = public_good();
    let tlog = &root.tlogs()[0];
    let key = CosignVerificationKey::try_from_der(tlog.key().unwrap().spki_der()).unwrap();
    let tampered: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("negative/bundle-tampered-inclusion-proof.json")).unwrap(),
    )
    .unwrap();
    for v in bundle_vectors() {
        let name = v["bundle"].as_str().unwrap().to_string();
        for tamper in [false, true] {
            let mut doc = bundle_doc(&name);
            if tamper {
                // The documented bit flip, applied to every bundle's first proof hash.
                let first = doc
                    .pointer_mut("/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0")
                    .unwrap();
                let mut bytes = b64d(first.as_str().unwrap());
                bytes[0] ^= 1;
                *first = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
            let entry = tlog_entry(&doc["verificationMaterial"]["tlogEntries"][0]);
            let proof = entry.inclusion_proof.clone().unwrap();
            let checkpoint: SignedCheckpoint =
                serde_json::from_value(Value::String(proof.checkpoint.clone())).unwrap();
            let theirs = sigstore::rekor::models::InclusionProof::new(
                proof.log_index,
                proof.root_hash.clone().try_into().unwrap(),
                proof.tree_size.try_into().unwrap(),
                proof
                    .hashes
                    .iter()
                    .map(|h| h.clone().try_into().unwrap())
                    .collect(),
                Some(checkpoint),
            )
            .verify(&entry.canonicalized_body, &key)
            .is_ok();
            let ours = matches!(
                keyless::rekor::verify_inclusion_proof(&entry, tlog),
                Ok(Outcome::Passed(_))
            );
            assert_eq!(theirs, !tamper, "{name} tampered={tamper}: sigstore-rs");
            assert_eq!(ours, !tamper, "{name} tampered={tamper}: pinsign");
        }
    }
    // The fixture's own tampered case is that same flip.
    assert_eq!(
        tampered["patch"][0]["path"],
        "/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0"
    );
}

// ---------------------------------------------------------------- self-made instance

const REPO: &str = "pinsign-test/app";
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn test_root(instance: &TestSigstore, options: &RootOptions) -> TrustedRoot {
    TrustedRoot::from_json(
        instance.trusted_root_json_with(options).as_bytes(),
        "test trusted_root.json",
    )
    .unwrap()
}

fn verify_layer(
    layer: &crate::support::sigstore_instance::LegacyLayer,
    root: &TrustedRoot,
    policy: &IdentityPolicy,
) -> Result<keyless::KeylessVerified, KeylessError> {
    let signature = LegacySignature::from_annotations(&layer.payload, &layer.annotations).unwrap();
    keyless::verify_legacy(
        &signature,
        Some(&Digest::parse(DIGEST).unwrap()),
        root,
        policy,
    )
}

fn workflow_identity() -> String {
    format!("https://github.com/{REPO}/.github/workflows/release.yml@refs/tags/v1.0.0")
}

#[test]
fn self_made_instance_signature_verifies() {
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let root = test_root(&instance, &RootOptions::default());
    let policy =
        exact(&workflow_identity(), GITHUB_ISSUER).with_github_workflow(GithubWorkflowPolicy {
            repository: Some(REPO.into()),
            git_ref: Some("refs/tags/v1.0.0".into()),
            ..Default::default()
        });
    let got = verify_layer(&layer, &root, &policy).unwrap();
    assert_eq!(got.identity, workflow_identity());
    assert_eq!(got.integrated_time, T0 + 1);
    assert_eq!(got.log_index, 4242);
    assert_eq!(got.log_id, instance.rekor_log_id_hex());
    assert!(matches!(got.outcome(Check::Sct), Some(Outcome::Passed(_))));
    assert!(matches!(
        got.outcome(Check::GithubWorkflow),
        Some(Outcome::Passed(_))
    ));
    // The JSON report names every check.
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["checks"][0]["check"], "signed-entry-timestamp");
    assert_eq!(json["checks"][0]["outcome"], "passed");

    // An email identity with only the .1.8 issuer.
    let spec = LeafSpec::email("ci@example.com", "https://accounts.google.com", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 30, RekorKey::Trusted);
    verify_layer(
        &layer,
        &root,
        &exact("ci@example.com", "https://accounts.google.com"),
    )
    .unwrap();
}

#[test]
fn self_made_expired_certificate_at_integrated_time() {
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let root = test_root(&instance, &RootOptions::default());
    let policy = exact(&workflow_identity(), GITHUB_ISSUER);
    // Integrated one second after notAfter (a genuine SET over that time).
    let late = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 601, RekorKey::Trusted);
    let e = verify_layer(&late, &root, &policy).unwrap_err();
    assert_eq!(e.check(), Check::CertificateValidity, "{e}");
    assert_eq!(
        e.to_string(),
        "certificate was valid from 2025-01-01T00:00:00Z to 2025-01-01T00:10:00Z, but the \
         Rekor entry was integrated at 2025-01-01T00:10:01Z"
    );
    // Before notBefore, too; and the window's edges are inside.
    let early = instance.legacy_layer(REPO, DIGEST, &spec, T0 - 1, RekorKey::Trusted);
    assert_eq!(
        verify_layer(&early, &root, &policy).unwrap_err().check(),
        Check::CertificateValidity
    );
    for t in [T0, T0 + 600] {
        let edge = instance.legacy_layer(REPO, DIGEST, &spec, t, RekorKey::Trusted);
        verify_layer(&edge, &root, &policy).unwrap();
    }
}

#[test]
fn self_made_certificate_issued_outside_the_ca_validity() {
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let policy = exact(&workflow_identity(), GITHUB_ISSUER);
    // The CA's window ended before the signing time.
    let ended = RootOptions {
        ca_end: Some(T0 - 1),
        ..RootOptions::default()
    };
    let e = verify_layer(&layer, &test_root(&instance, &ended), &policy).unwrap_err();
    assert_eq!(e.check(), Check::CertificateChain, "{e}");
    assert!(e.to_string().contains("validFor"), "{e}");
    assert!(
        e.to_string()
            .contains("does not cover the signing time 2025-01-01T00:00:01Z"),
        "{e}"
    );
    // ... or starts after it.
    let later = RootOptions {
        ca_start: T0 + 2,
        ..RootOptions::default()
    };
    let e = verify_layer(&layer, &test_root(&instance, &later), &policy).unwrap_err();
    assert_eq!(e.check(), Check::CertificateChain, "{e}");
}

#[test]
fn self_made_set_by_another_log() {
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let root = test_root(&instance, &RootOptions::default());
    let policy = exact(&workflow_identity(), GITHUB_ISSUER);
    // Another key signed the SET, under the trusted log's id.
    let forged = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::OtherUnderTrustedId);
    let e = verify_layer(&forged, &root, &policy).unwrap_err();
    assert_eq!(e.check(), Check::SignedEntryTimestamp);
    assert!(
        e.to_string()
            .contains("does not verify with the key of rekor.test.invalid"),
        "{e}"
    );
    // Another log, under its own id.
    let other = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Other);
    let e = verify_layer(&other, &root, &policy).unwrap_err();
    assert_eq!(e.check(), Check::SignedEntryTimestamp);
    assert!(e.to_string().contains("not in the trusted root"), "{e}");
    // The trusted log, but outside its validFor.
    let retired = RootOptions {
        rekor_end: Some(T0),
        ..RootOptions::default()
    };
    let good = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let e = verify_layer(&good, &test_root(&instance, &retired), &policy).unwrap_err();
    assert_eq!(e.check(), Check::SignedEntryTimestamp);
    assert!(e.to_string().contains("validFor"), "{e}");
}

#[test]
fn self_made_mismatching_identity_issuer_and_regexp() {
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let root = test_root(&instance, &RootOptions::default());
    let re = |p: &str| Matcher::regex(p, "--certificate-identity-regexp").unwrap();
    let cases: Vec<(IdentityPolicy, Option<Check>)> = vec![
        (exact(&workflow_identity(), GITHUB_ISSUER), None),
        (
            exact(
                &workflow_identity().replace("v1.0.0", "v1.0.1"),
                GITHUB_ISSUER,
            ),
            Some(Check::Identity),
        ),
        (
            exact(&workflow_identity(), "https://gitlab.com"),
            Some(Check::Issuer),
        ),
        (
            IdentityPolicy::new(
                re(r"^https://github\.com/pinsign-test/"),
                re(r"^https://token\.actions\."),
            ),
            None,
        ),
        (
            IdentityPolicy::new(
                re(r"^https://github\.com/fluxcd/"),
                Matcher::exact(GITHUB_ISSUER),
            ),
            Some(Check::Identity),
        ),
        (
            IdentityPolicy::new(
                re("pinsign-test/app"),
                re("^https://accounts\\.google\\.com$"),
            ),
            Some(Check::Issuer),
        ),
        (
            IdentityPolicy::new(re("@refs/tags/v1\\.0\\.0$"), re("githubusercontent")),
            None,
        ),
    ];
    for (policy, want) in cases {
        let got = verify_layer(&layer, &root, &policy);
        assert_eq!(
            got.as_ref().err().map(KeylessError::check),
            want,
            "{policy:?}: {got:?}"
        );
    }
}

#[test]
fn self_made_private_instance_without_ct_and_leaf_without_sct() {
    let instance = TestSigstore::new();
    let mut spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    spec.sct = false;
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let policy = exact(&workflow_identity(), GITHUB_ISSUER);
    // A root that lists a CT log requires an SCT.
    let e = verify_layer(
        &layer,
        &test_root(&instance, &RootOptions::default()),
        &policy,
    )
    .unwrap_err();
    assert_eq!(e.check(), Check::Sct, "{e}");
    // A private instance without CT logs: the SCT check does not apply, and says so.
    let no_ct = RootOptions {
        ctlog: false,
        ..RootOptions::default()
    };
    let got = verify_layer(&layer, &test_root(&instance, &no_ct), &policy).unwrap();
    let Some(Outcome::NotApplicable(why)) = got.outcome(Check::Sct) else {
        panic!("{:?}", got.outcome(Check::Sct))
    };
    assert!(why.contains("lists no CT logs"), "{why}");
}

#[test]
fn self_made_leaf_without_code_signing_or_with_both_issuers_disagreeing() {
    let instance = TestSigstore::new();
    let root = test_root(&instance, &RootOptions::default());
    let policy = exact(&workflow_identity(), GITHUB_ISSUER);
    let mut spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    spec.code_signing = false;
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    assert_eq!(
        verify_layer(&layer, &root, &policy).unwrap_err().check(),
        Check::CodeSigning
    );

    let mut spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    spec.issuer_v1 = Some("https://evil.example".into());
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let e = verify_layer(&layer, &root, &policy).unwrap_err();
    assert_eq!(e.check(), Check::Input, "{e}");
    assert!(e.to_string().contains("two OIDC issuers"), "{e}");

    // Only the deprecated .1.1 issuer (2022-era Fulcio): read as the issuer.
    let mut spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    spec.issuer_v2 = None;
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    verify_layer(&layer, &root, &policy).unwrap();
}

#[test]
fn self_made_chain_to_a_look_alike_ca_is_refused() {
    // The same names, another key: a second instance's leaf against the first's root.
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let mut root_json: Value = serde_json::from_str(&instance.trusted_root_json()).unwrap();
    // Replace the CA chain by the public-good one (another CA altogether).
    let pg: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("trust/trusted_root.public-good.json")).unwrap(),
    )
    .unwrap();
    root_json["certificateAuthorities"] = pg["certificateAuthorities"].clone();
    let root = TrustedRoot::from_json(root_json.to_string().as_bytes(), "mixed").unwrap();
    let e = verify_layer(&layer, &root, &exact(&workflow_identity(), GITHUB_ISSUER)).unwrap_err();
    assert_eq!(e.check(), Check::CertificateChain, "{e}");
    assert!(
        e.to_string()
            .contains("does not chain to any certificate authority"),
        "{e}"
    );
}

#[test]
fn self_made_layer_carries_what_a_registry_test_pushes() {
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    assert_eq!(
        layer.media_type,
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    for key in [
        "dev.cosignproject.cosign/signature",
        "dev.sigstore.cosign/certificate",
        "dev.sigstore.cosign/chain",
        "dev.sigstore.cosign/bundle",
    ] {
        assert!(layer.annotations.contains_key(key), "{key}");
    }
    assert!(String::from_utf8(layer.payload.clone())
        .unwrap()
        .contains(DIGEST));
    // A layer with no certificate annotation is not keyless.
    let mut key_only = layer.annotations.clone();
    key_only.remove("dev.sigstore.cosign/certificate");
    let e = LegacySignature::from_annotations(&layer.payload, &key_only).unwrap_err();
    assert_eq!(e.check(), Check::Input);
    assert!(
        e.to_string().contains("dev.sigstore.cosign/certificate"),
        "{e}"
    );
    let _ = (
        &layer.signature_b64,
        &layer.certificate_pem,
        &layer.chain_pem,
        &layer.bundle_json,
    );
}

#[test]
fn self_made_certificates_verify_with_openssl() {
    // An implementation we did not write accepts the test instance's chain, at the signing
    // time and not after the leaf's ten minutes, and reads its SCT and Fulcio extensions.
    let openssl = crate::support::require_tool("openssl");
    let instance = TestSigstore::new();
    let spec = LeafSpec::github(REPO, "refs/tags/v1.0.0", T0);
    let layer = instance.legacy_layer(REPO, DIGEST, &spec, T0 + 1, RekorKey::Trusted);
    let dir = tempfile::tempdir().unwrap();
    let chain =
        pinsign::keyless::certificate::ParsedCertificate::chain_from_pem(&layer.chain_pem).unwrap();
    let pem = |der: &[u8]| {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    std::fs::write(dir.path().join("intermediate.pem"), pem(chain[0].der())).unwrap();
    std::fs::write(dir.path().join("root.pem"), pem(chain[1].der())).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), &layer.certificate_pem).unwrap();
    let verify = |at: i64| {
        std::process::Command::new(&openssl)
            .current_dir(dir.path())
            .args(["verify", "-x509_strict", "-attime", &at.to_string()])
            .args([
                "-CAfile",
                "root.pem",
                "-untrusted",
                "intermediate.pem",
                "leaf.pem",
            ])
            .output()
            .unwrap()
    };
    let ok = verify(T0 + 1);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!verify(T0 + 601).status.success(), "expired leaf accepted");
    let text = crate::support::run(
        std::process::Command::new(&openssl)
            .current_dir(dir.path())
            .args(["x509", "-noout", "-text", "-in", "leaf.pem"]),
    );
    assert!(text.contains("CT Precertificate SCTs"), "{text}");
    assert!(text.contains("Code Signing"), "{text}");
    assert!(
        text.contains(&format!("URI:{}", workflow_identity())),
        "{text}"
    );
    assert!(text.contains("1.3.6.1.4.1.57264.1.8"), "{text}");
}
