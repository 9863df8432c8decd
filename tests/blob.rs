//! `sign-blob` and `verify-blob`: the real keyless vectors of `tests/fixtures/keyless/` through
//! the command line (legacy layers' payloads with their detached signature material, blob
//! bundles), their negative variants, and key-signed files checked both ways with sigstore-js.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support;
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::sigstore_js::SigstoreJs;

const KEYLESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keyless");

fn fixture(rel: &str) -> PathBuf {
    Path::new(KEYLESS).join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

/// `pinsign verify-blob ARGS...` in `dir`.
fn verify_blob(dir: &Path, args: &[&str]) -> Outcome {
    let home = support::temp_dir();
    support::pinsign(home.path())
        .current_dir(dir)
        .arg("verify-blob")
        .args(args)
        .outcome()
}

/// A legacy vector's directory with some files replaced (a negative case), in a temp dir.
fn legacy_case(base: &str, replace: Option<&serde_json::Map<String, Value>>) -> tempfile::TempDir {
    let dir = support::temp_dir();
    for entry in std::fs::read_dir(fixture(base)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    for (name, content) in replace.into_iter().flatten() {
        std::fs::write(dir.path().join(name), content.as_str().unwrap()).unwrap();
    }
    dir
}

/// The detached-signature flags of a legacy layer, with the policy; `--trusted-root ROOT` last.
fn legacy_args<'a>(dir: &Path, identity: &'a str, issuer: &'a str, root: &'a str) -> Vec<&'a str> {
    let mut args = vec![
        "payload.json",
        "--signature",
        "signature.b64",
        "--certificate",
        "certificate.pem",
        "--rekor-bundle",
        "bundle.json",
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
    ];
    if dir.join("chain.pem").exists() {
        args.extend(["--certificate-chain", "chain.pem"]);
    }
    args.extend(["--trusted-root", root]);
    args
}

#[test]
fn legacy_vectors_verify_as_detached_signatures() {
    let root = fixture("trust/trusted_root.public-good.json");
    let root = root.to_str().unwrap();
    for name in [
        "gha-go-bazel-v0.0.30",
        "gha-go-bazel-v0.0.26",
        "google-sa-cloudbuild-2023",
    ] {
        let v = json(&format!("legacy/{name}/vector.json"));
        let identity = v["expect"]["certificate_identity"].as_str().unwrap();
        let issuer = v["expect"]["certificate_oidc_issuer"].as_str().unwrap();
        let dir = legacy_case(&format!("legacy/{name}"), None);
        let out = verify_blob(dir.path(), &legacy_args(dir.path(), identity, issuer, root)).ok();
        assert!(
            out.stdout.starts_with("verified payload.json") && out.stdout.contains(identity),
            "{name}: {out}"
        );
        // The default trusted root is the same public-good one.
        let mut args = legacy_args(dir.path(), identity, issuer, root);
        args.truncate(args.len() - 2);
        verify_blob(dir.path(), &args).ok();
    }
    // The 2021 certificate has no OIDC issuer extension: any issuer fails, naming the check.
    let dir = legacy_case("legacy/email-kubewarden-2021", None);
    let out = verify_blob(
        dir.path(),
        &legacy_args(
            dir.path(),
            "flavio@castelli.me",
            "https://github.com/login/oauth",
            root,
        ),
    );
    out.error(1, &["NOT verified"]);
}

#[test]
fn legacy_negative_cases_are_refused_with_the_reason() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixture("negative")).unwrap() {
        let path = entry.unwrap().path();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if case["kind"] != "legacy" || case["verify_with"].get("image_digest").is_some() {
            // The image-digest case needs an image, not a file: `verify --bundle` covers that.
            continue;
        }
        let base = case["base"].as_str().unwrap();
        let v = json(&format!("{base}/vector.json"));
        let with = &case["verify_with"];
        let identity = with["certificate_identity"]
            .as_str()
            .or(v["expect"]["certificate_identity"].as_str())
            .unwrap();
        let issuer = with["certificate_oidc_issuer"]
            .as_str()
            .or(v["expect"]["certificate_oidc_issuer"].as_str())
            .unwrap_or("https://token.actions.githubusercontent.com");
        let root = fixture(
            case["trusted_root"]
                .as_str()
                .unwrap_or("trust/trusted_root.public-good.json"),
        );
        let dir = legacy_case(base, case["replace_files"].as_object());
        let out = verify_blob(
            dir.path(),
            &legacy_args(dir.path(), identity, issuer, root.to_str().unwrap()),
        );
        let line = out.error(1, &["is NOT verified"]);
        eprintln!("{}: {line}", case["case"]);
        checked += 1;
    }
    assert!(checked >= 14, "{checked} legacy cases");
}

#[test]
fn blob_bundles_verify_and_their_negatives_fail() {
    let bundles = fixture("bundles");
    for v in json("bundles/vectors.json").as_array().unwrap() {
        let bundle = v["bundle"].as_str().unwrap();
        if v.get("image").is_some() {
            continue; // image bundles: `verify --bundle --offline`
        }
        let artifact = match v["artifact_file"].as_str() {
            Some(file) => file.to_string(),
            None => format!("sha256:{}", v["artifact_sha256"].as_str().unwrap()),
        };
        let mut args = vec![
            artifact.as_str(),
            "--bundle",
            bundle,
            "--certificate-identity",
            v["certificate_identity"].as_str().unwrap(),
            "--certificate-oidc-issuer",
            v["certificate_oidc_issuer"].as_str().unwrap(),
        ];
        if let Some(p) = v["predicate_type"].as_str() {
            args.extend(["--predicate-type", p]);
        }
        let out = verify_blob(&bundles, &args).ok();
        assert!(out.stdout.starts_with("verified "), "{bundle}: {out}");
        // Another file: refused.
        let mut other = args.clone();
        let wrong = format!("sha256:{}", "e9".repeat(32));
        other[0] = &wrong;
        verify_blob(&bundles, &other).error(1, &["NOT verified"]);
        // Another identity: refused, naming it.
        let mut other = args.clone();
        other[4] = "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main";
        verify_blob(&bundles, &other).error(1, &["certificate identity is"]);
    }
}

#[test]
fn key_signed_files_verify_here_and_with_sigstore_js() {
    let js = SigstoreJs::require();
    let dir = support::temp_dir();
    let home = support::temp_dir();
    let pinsign = || {
        let mut cmd = support::pinsign(home.path());
        cmd.current_dir(dir.path()).env("COSIGN_PASSWORD", "blob");
        cmd
    };
    pinsign().arg("generate-key-pair").outcome().ok();
    pinsign()
        .args(["generate-key-pair", "--output-key-prefix", "other"])
        .outcome()
        .ok();
    std::fs::write(
        dir.path().join("release.tar.gz"),
        b"pretend tarball\n".repeat(1000),
    )
    .unwrap();
    pinsign()
        .args(["sign-blob", "release.tar.gz", "--key", "cosign.key"])
        .args([
            "--bundle",
            "release.bundle",
            "--output-signature",
            "release.sig",
        ])
        .outcome()
        .ok();
    let verify = |args: &[&str]| pinsign().arg("verify-blob").args(args).outcome();
    verify(&[
        "release.tar.gz",
        "--bundle",
        "release.bundle",
        "--key",
        "cosign.pub",
    ])
    .ok();
    verify(&[
        "release.tar.gz",
        "--signature",
        "release.sig",
        "--key",
        "cosign.pub",
    ])
    .ok();
    verify(&[
        "release.tar.gz",
        "--bundle",
        "release.bundle",
        "--key",
        "other.pub",
    ])
    .error(1, &["NOT verified"]);
    // sigstore-js, an implementation we did not write, accepts pinsign's blob bundle.
    let bundle = std::fs::read(dir.path().join("release.bundle")).unwrap();
    js.verify(
        &bundle,
        &[&dir.path().join("cosign.pub")],
        Some(&dir.path().join("release.tar.gz")),
    )
    .expect("sigstore-js verifies pinsign's blob bundle");
    // A changed file fails both ways.
    std::fs::write(dir.path().join("release.tar.gz"), b"another tarball\n").unwrap();
    verify(&[
        "release.tar.gz",
        "--bundle",
        "release.bundle",
        "--key",
        "cosign.pub",
    ])
    .error(1, &["NOT verified"]);
    verify(&[
        "release.tar.gz",
        "--signature",
        "release.sig",
        "--key",
        "cosign.pub",
    ])
    .error(1, &["does not verify"]);
    assert!(js
        .verify(
            &bundle,
            &[&dir.path().join("cosign.pub")],
            Some(&dir.path().join("release.tar.gz")),
        )
        .is_err());
}

/// A file larger than pinsign holds in memory is hashed as it is read and signed and verified
/// from its digest.
#[test]
fn large_files_are_hashed_as_they_are_read() {
    let dir = support::temp_dir();
    let home = support::temp_dir();
    let pinsign = || {
        let mut cmd = support::pinsign(home.path());
        cmd.current_dir(dir.path()).env("COSIGN_PASSWORD", "blob");
        cmd
    };
    pinsign().arg("generate-key-pair").outcome().ok();
    let big = dir.path().join("big.bin");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(65 * 1024 * 1024 + 7).unwrap(); // sparse: cheap to make
    pinsign()
        .args([
            "sign-blob",
            "big.bin",
            "--key",
            "cosign.key",
            "--output-signature",
            "big.sig",
        ])
        .outcome()
        .ok();
    pinsign()
        .args([
            "verify-blob",
            "big.bin",
            "--signature",
            "big.sig",
            "--key",
            "cosign.pub",
        ])
        .outcome()
        .ok();
}

#[test]
fn bad_input_is_a_usage_error() {
    let dir = legacy_case("legacy/gha-go-bazel-v0.0.30", None);
    for (args, needle) in [
        (vec!["payload.json", "--key", "k.pub"], "--bundle"),
        (
            vec!["payload.json", "--signature", "signature.b64"],
            "--key",
        ),
        (
            vec![
                "payload.json",
                "--signature",
                "signature.b64",
                "--certificate-identity",
                "x",
                "--certificate-oidc-issuer",
                "y",
            ],
            "--certificate",
        ),
        (
            vec![
                "payload.json",
                "--bundle",
                "b.json",
                "--key",
                "k.pub",
                "--certificate-identity",
                "x",
            ],
            "do not mix",
        ),
        (
            vec![
                "payload.json",
                "--bundle",
                "b.json",
                "--certificate-identity",
                "x",
            ],
            "--certificate-oidc-issuer",
        ),
        (
            vec![
                "payload.json",
                "--bundle",
                "b.json",
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                "y",
            ],
            "--certificate-identity-regexp",
        ),
    ] {
        verify_blob(dir.path(), &args).only_error(2, &[needle]);
    }
}
