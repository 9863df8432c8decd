//! `pinsign verify IMAGE --certificate-identity ... --certificate-oidc-issuer ...` against a real
//! registry: legacy keyless `.sig` layers made by a self-made Sigstore (test Fulcio CA, test
//! Rekor, its own `trusted_root.json`), verified offline; each broken case refused with the check
//! it fails. The real cosign v3 image bundle is checked with `verify --bundle --offline` (its
//! image lives in a public registry, not here).

use std::path::{Path, PathBuf};

use crate::support;
use crate::support::cosign_writer::{self as cw, Layer};
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::sigstore_instance::{
    LeafSpec, RekorKey, RootOptions, TestSigstore, GITHUB_ISSUER, SIMPLESIGNING_MEDIA_TYPE, T0,
};
use crate::support::{Endpoint, Registry};

const REPO: &str = "acme/app";
const IDENTITY: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1";

/// A `.sig` layer carrying a keyless signature's annotations, as cosign writes it.
fn layer(signed: &crate::support::sigstore_instance::LegacyLayer) -> Layer {
    let descriptor = serde_json::json!({
        "mediaType": SIMPLESIGNING_MEDIA_TYPE,
        "size": signed.payload.len(),
        "digest": support::sha256_digest(&signed.payload),
        "annotations": signed.annotations,
    });
    Layer {
        blob: signed.payload.clone(),
        descriptor: descriptor.to_string(),
    }
}

struct Fixture {
    _reg: Registry,
    ep: Endpoint,
    instance: TestSigstore,
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let reg = Registry::http();
        let ep = reg.endpoint();
        let instance = TestSigstore::new();
        let dir = support::temp_dir();
        let root = dir.path().join("trusted_root.json");
        std::fs::write(&root, instance.trusted_root_json()).unwrap();
        Fixture {
            _reg: reg,
            ep,
            instance,
            dir,
            root,
        }
    }

    /// A fresh image in `REPO`, signed keyless per `spec`, logged at `t` with a SET by `rekor`.
    fn signed_image(&self, seed: u64, spec: &LeafSpec, t: i64, rekor: RekorKey) -> String {
        let image = self.ep.push_synthetic(REPO, None, seed);
        let signed = self.instance.legacy_layer(
            &format!("{}/{REPO}", self.ep.host),
            &image.digest,
            spec,
            t,
            rekor,
        );
        cw::push_sig_tag(&self.ep, REPO, &image.digest, &[layer(&signed)]);
        image.pinned
    }

    fn verify(&self, image: &str, root: &Path, args: &[&str]) -> Outcome {
        let mut cmd = support::pinsign(self.dir.path());
        self.ep.configure_pinsign(&mut cmd);
        cmd.args(["verify", image, "--trusted-root"])
            .arg(root)
            .args(args)
            .outcome()
    }
}

#[test]
fn keyless_signatures_in_a_registry_verify_and_broken_ones_name_the_check() {
    let f = Fixture::new();
    let spec = LeafSpec::github("acme/app", "refs/tags/v1", T0);
    let good = f.signed_image(1, &spec, T0 + 1, RekorKey::Trusted);
    let policy = [
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        GITHUB_ISSUER,
    ];

    let out = f.verify(&good, &f.root, &policy).ok();
    assert!(
        out.stdout
            .contains(&format!("by {IDENTITY} (issuer {GITHUB_ISSUER}, keyless)")),
        "{out}"
    );
    // The regexp forms (unanchored, as in cosign: anchor them).
    f.verify(
        &good,
        &f.root,
        &[
            "--certificate-identity-regexp",
            r"^https://github\.com/acme/",
            "--certificate-oidc-issuer-regexp",
            r"^https://token\.actions\.githubusercontent\.com$",
        ],
    )
    .ok();
    // GitHub workflow fields.
    f.verify(
        &good,
        &f.root,
        &[
            &policy[..],
            &[
                "--certificate-github-workflow-repository",
                "acme/app",
                "--certificate-github-workflow-ref",
                "refs/tags/v1",
            ],
        ]
        .concat(),
    )
    .ok();
    // JSON names who signed, when, and in which log.
    let json = f
        .verify(&good, &f.root, &[&policy[..], &["-o", "json"]].concat())
        .ok()
        .json();
    let keyless = &json[0]["signatures"][0]["keyless"];
    assert_eq!(keyless["identity"], IDENTITY);
    assert_eq!(keyless["issuer"], GITHUB_ISSUER);
    assert_eq!(keyless["integrated_time"], T0 + 1);

    // Each mismatch is refused, naming the check.
    let refused = |image: &str, root: &Path, args: &[&str], needle: &str| {
        let out = f.verify(image, root, args);
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains(needle), "expected {needle:?}:\n{out}");
    };
    let other = "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v2";
    refused(
        &good,
        &f.root,
        &[
            "--certificate-identity",
            other,
            "--certificate-oidc-issuer",
            GITHUB_ISSUER,
        ],
        &format!("certificate identity is {IDENTITY}, expected {other}"),
    );
    refused(
        &good,
        &f.root,
        &[
            "--certificate-identity",
            IDENTITY,
            "--certificate-oidc-issuer",
            "https://accounts.google.com",
        ],
        "certificate OIDC issuer is",
    );
    refused(
        &good,
        &f.root,
        &[
            "--certificate-identity-regexp",
            r"^https://github\.com/other/",
            "--certificate-oidc-issuer",
            GITHUB_ISSUER,
        ],
        "certificate identity",
    );
    refused(
        &good,
        &f.root,
        &[
            &policy[..],
            &["--certificate-github-workflow-ref", "refs/heads/main"],
        ]
        .concat(),
        "GitHub workflow",
    );

    // Logged after the ten-minute certificate expired.
    let expired = f.signed_image(2, &spec, T0 + 601, RekorKey::Trusted);
    refused(
        &expired,
        &f.root,
        &policy,
        "but the Rekor entry was integrated at",
    );
    // A SET made by another log under the trusted log's id.
    let forged = f.signed_image(3, &spec, T0 + 1, RekorKey::OtherUnderTrustedId);
    refused(
        &forged,
        &f.root,
        &policy,
        "signed entry timestamp does not verify",
    );
    // A certificate issued before the CA was valid (per the trusted root's validFor).
    let late_ca = f.dir.path().join("late-ca.json");
    std::fs::write(
        &late_ca,
        f.instance.trusted_root_json_with(&RootOptions {
            ca_start: T0 + 86_400,
            ..RootOptions::default()
        }),
    )
    .unwrap();
    refused(
        &good,
        &late_ca,
        &policy,
        "validFor (from 2025-01-02T00:00:00Z) does not cover the signing time",
    );
    // The public-good root (the default) does not trust the test instance.
    let mut cmd = support::pinsign(f.dir.path());
    f.ep.configure_pinsign(&mut cmd);
    let out = cmd.args(["verify", &good]).args(policy).outcome();
    assert_eq!(out.code, 1, "{out}");
}

#[test]
fn key_and_keyless_do_not_mix_and_keyless_needs_both_halves() {
    let f = Fixture::new();
    let spec = LeafSpec::github("acme/app", "refs/tags/v1", T0);
    let image = f.signed_image(4, &spec, T0 + 1, RekorKey::Trusted);
    for (args, needle) in [
        (
            vec!["--key", "cosign.pub", "--certificate-identity", IDENTITY],
            "do not mix",
        ),
        (
            vec!["--certificate-identity", IDENTITY],
            "--certificate-oidc-issuer",
        ),
        (
            vec!["--certificate-oidc-issuer", GITHUB_ISSUER],
            "--certificate-identity",
        ),
    ] {
        f.verify(&image, &f.root, &args).only_error(2, &[needle]);
    }
    // Neither a key nor keyless flags.
    let mut cmd = support::pinsign(f.dir.path());
    f.ep.configure_pinsign(&mut cmd);
    cmd.args(["verify", &image])
        .outcome()
        .only_error(2, &["--key"]);
}

/// The real cosign v3 image signature (kubewarden-controller v1.34.0), checked offline against
/// the digest it names, and refused for another digest, identity or predicate.
#[test]
fn cosign_v3_image_bundle_verifies_offline() {
    let bundles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keyless/bundles");
    let bundle = bundles.join("cosign-v3-image-kubewarden-controller-v1.34.0.sigstore.json");
    let identity =
        "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
    let digest = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
    let home = support::temp_dir();
    let verify = |image: &str, args: &[&str]| {
        support::pinsign(home.path())
            .arg("verify")
            .arg(image)
            .arg("--bundle")
            .arg(&bundle)
            .arg("--offline")
            .args(args)
            .outcome()
    };
    let policy = [
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        GITHUB_ISSUER,
    ];
    // ghcr.io is never asked: --offline makes no registry request at all.
    let image = format!("ghcr.io/kubewarden/kubewarden-controller@{digest}");
    let out = verify(&image, &policy).ok();
    assert!(out.stdout.contains(identity), "{out}");
    let other = format!(
        "ghcr.io/kubewarden/kubewarden-controller@sha256:{}",
        "0".repeat(64)
    );
    let refused = |out: Outcome, needle: &str| {
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains(needle), "expected {needle:?}:\n{out}");
    };
    refused(
        verify(&other, &policy),
        "the statement names sha256:c811d58d",
    );
    refused(
        verify(
            &image,
            &[
                "--certificate-identity",
                "https://github.com/kubewarden/other",
                "--certificate-oidc-issuer",
                GITHUB_ISSUER,
            ],
        ),
        "certificate identity is",
    );
    refused(
        verify(
            &image,
            &[
                &policy[..],
                &["--predicate-type", "https://slsa.dev/provenance/v1"],
            ]
            .concat(),
        ),
        "predicate type",
    );
    // A tag cannot be checked offline.
    verify("ghcr.io/kubewarden/kubewarden-controller:v1.34.0", &policy)
        .only_error(2, &["by digest"]);
}
