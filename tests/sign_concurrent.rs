//! Eight `pinsign sign-digest` processes signing the same digest with eight keys at once. The
//! `.sig` tag is read-modify-write with no compare-and-swap, so this is where signatures get lost
//! if the read-back-and-re-merge in `storage` is wrong. Every round must end with eight layers,
//! each verifying (independent checker) with its own key.
//!
//! The same for bundles (`--format bundle`) on a registry without the referrers API: each signer
//! pushes its own referrer manifest, then read-merge-writes the referrers tag index
//! (`sha256-<hex>`), which has no compare-and-swap either. Every round must end with an index
//! listing eight bundle referrers, each bundle verifying (independent checker) with its own key.
//!
//! Both directly and through a proxy that delays every request 50-150 ms (a distant registry:
//! the settle window scales with the round trips a signer measures). And one signer whose `.sig`
//! write is held back 2 s while seven others sign: with `--mode both` (ferro-oci-server, which has
//! the referrers API) the tag ends with all eight; in the plain tag mode the late write can drop
//! the others' layers, and the late signer says so (the README's exact guarantee).

use crate::sign_common;
use crate::support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::sign_common::{reference, Outcome};
use crate::support::bundle_check::{self, referrers_of, stored_bundles, ListedBy};
use crate::support::client::OCI_MANIFEST;
use crate::support::cosign_check::{expected_payload, referrer_manifests, sig_tag_manifest};
use crate::support::test_keys::{self, keys, TestKey};
use crate::support::{CountingProxy, Endpoint, Ferro, Registry, RegistryKind};

const ROUNDS: u64 = 5;

crate::per_kind!(eight_signers: Http => http, Token => token);

fn eight_signers(kind: RegistryKind) {
    race(kind, &[], false);
}

crate::per_kind!(eight_bundle_signers: Http => http, Token => token);

fn eight_bundle_signers(kind: RegistryKind) {
    race(kind, &["--format", "bundle"], false);
}

#[test]
fn eight_signers_through_a_slow_proxy() {
    race(RegistryKind::Http, &[], true);
}

#[test]
fn eight_bundle_signers_through_a_slow_proxy() {
    race(RegistryKind::Http, &["--format", "bundle"], true);
}

/// `ROUNDS` rounds of eight concurrent signers with `args`, directly or through a proxy
/// delaying every request 50-150 ms; checks that nothing was lost.
fn race(kind: RegistryKind, args: &[&str], slow: bool) {
    let bundles = args.contains(&"bundle");
    let reg = Registry::start(kind);
    let proxy = slow.then(|| {
        let proxy = CountingProxy::start(&reg.endpoint());
        proxy.delay(
            "*",
            "/",
            Duration::from_millis(50),
            Duration::from_millis(150),
        );
        proxy
    });
    let ep = proxy
        .as_ref()
        .map_or_else(|| reg.endpoint(), CountingProxy::endpoint);
    let kind_name = format!("{kind:?}{}", if slow { " (slow proxy)" } else { "" });
    let keys = keys();
    assert_eq!(keys.len(), test_keys::COUNT);
    assert_eq!(keys.len(), 8);
    let publics: Vec<String> = keys.iter().map(|k| k.public_pem.clone()).collect();
    for round in 0..ROUNDS {
        let repo = format!("race/app{round}{}", if bundles { "-bundle" } else { "" });
        let image = ep.push_synthetic(&repo, Some("v1"), 100 + round);
        let started = Instant::now();
        // Half by digest, half by tag: both pin to the same digest.
        let tagged = format!("{}/{repo}:v1", ep.host);
        let children: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let home = support::temp_dir();
                let input = if i % 2 == 0 { &image.pinned } else { &tagged };
                let mut argv = vec![input.as_str(), "-v"];
                argv.extend_from_slice(args);
                let child = sign_common::sign_std(home.path(), &ep, key, &argv)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn pinsign");
                (home, child)
            })
            .collect();
        let outcomes: Vec<Outcome> = children
            .into_iter()
            .map(|(_home, child)| Outcome::of(&child.wait_with_output().expect("wait")))
            .collect();
        for (i, out) in outcomes.iter().enumerate() {
            assert_eq!(
                out.code, 0,
                "{kind_name} round {round}, signer {i}: {out:#?}"
            );
        }
        // With -v, storage logs each re-merge after a lost write and each blob re-upload.
        let count = |what: &str| {
            outcomes
                .iter()
                .map(|o| o.stderr.matches(what).count())
                .sum::<usize>()
        };
        let most_attempts = outcomes
            .iter()
            .flat_map(|o| {
                o.stderr
                    .match_indices("(attempt ")
                    .map(|(i, _)| &o.stderr[i + 9..])
            })
            .filter_map(|rest| rest.split(')').next()?.parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        eprintln!(
            "{kind_name} {} round {round}: 8 signers done in {:?}; {} re-merges after lost writes (at most {most_attempts} by one signer), {} blob re-uploads",
            if bundles { "bundle" } else { ".sig" },
            started.elapsed(),
            count("a concurrent write dropped"),
            count("uploading blobs again"),
        );
        if bundles {
            let listed = referrers_of(&ep, &repo, &image.digest);
            assert_eq!(listed.by, ListedBy::Tag);
            assert_eq!(
                listed.entries.len(),
                8,
                "{kind_name} round {round}: {listed:#?}"
            );
            let stored = stored_bundles(
                &ep,
                &repo,
                &image.digest,
                OCI_MANIFEST,
                image.manifest.len() as u64,
            );
            assert_eq!(stored.len(), 8, "{kind_name} round {round}");
            for (i, b) in stored.iter().enumerate() {
                let signers = publics
                    .iter()
                    .filter(|p| bundle_check::verifies_with(&b.bundle, p))
                    .count();
                assert_eq!(signers, 1, "{kind_name} round {round}: bundle {i}");
            }
            let mut hints: Vec<String> = stored
                .iter()
                .map(|b| {
                    let doc: serde_json::Value = serde_json::from_slice(&b.bundle).unwrap();
                    doc["verificationMaterial"]["publicKey"]["hint"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            hints.sort();
            hints.dedup();
            assert_eq!(hints.len(), 8, "eight distinct signers");
            assert!(
                sig_tag_manifest(&ep, &repo, &image.digest).is_none(),
                "bundles write no .sig tag"
            );
            continue;
        }
        let manifest = sig_tag_manifest(&ep, &repo, &image.digest).expect(".sig tag");
        manifest.assert_exactly_signed_by(
            &expected_payload(&reference(&ep, &repo), &image.digest, &[]),
            &publics,
        );
        // Each layer verifies with exactly one of the keys: eight distinct signers.
        for (i, layer) in manifest.layers.iter().enumerate() {
            let signers = publics.iter().filter(|p| layer.verifies_with(p)).count();
            assert_eq!(signers, 1, "{kind_name} round {round}: layer {i}");
        }
    }
}

/// How long the late signer's `.sig` write is held back.
const HOLD: Duration = Duration::from_secs(2);

/// With `--mode both` on a registry with the referrers API: one signer's `.sig` write is held
/// back 2 s (a proxy in front of it alone), seven others start 0.2 s later directly and finish
/// long before it lands. The late write drops their layers from the tag, and the late signer,
/// settling longer because its write was slow, merges them back from the referrers: the tag
/// ends with eight layers, and there are eight referrers.
#[test]
fn a_late_writer_in_mode_both_heals_the_tag() {
    let ferro = Ferro::start();
    let (outcomes, late, direct, repo, digest) =
        late_writer(&ferro.endpoint(), &["--mode", "both"]);
    for (i, out) in outcomes.iter().enumerate() {
        assert_eq!(out.code, 0, "signer {i}: {out:#?}");
    }
    assert!(
        outcomes[0].stderr.contains("longer than the settle window")
            && outcomes[0].stderr.contains("merging them in"),
        "the late signer settles longer and heals the tag: {}",
        outcomes[0].stderr
    );
    let publics: Vec<&str> = keys().iter().map(|k| k.public_pem.as_str()).collect();
    let manifest = sig_tag_manifest(&direct, &repo, &digest).expect(".sig tag");
    assert_eq!(manifest.layers.len(), 8, "{manifest:#?}");
    for (i, layer) in manifest.layers.iter().enumerate() {
        let signers = publics.iter().filter(|p| layer.verifies_with(p)).count();
        assert_eq!(signers, 1, "layer {i}");
    }
    let subject = serde_json::json!({
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": late.manifest.len(),
    });
    let artifacts = referrer_manifests(&direct, &repo, &subject);
    assert_eq!(artifacts.len(), 8, "{artifacts:#?}");
    // Nothing to repair: the tag holds every referrer's signature.
    let home = support::temp_dir();
    let out = sign_common::pinsign(home.path(), &direct)
        .args(["sign-digest", "--repair"])
        .arg(format!("{}/{repo}@{digest}", direct.host))
        .output()
        .expect("run pinsign");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("nothing to repair"), "{stdout}");
}

/// The plain tag mode with the same late writer, on Distribution: registries offer no
/// compare-and-swap on tags, so the late write can drop the layers of signers that finished
/// before it landed. What is guaranteed: every signer exits 0 only once its own layer has
/// survived its settle window; the late signer keeps settling and warns that it may have
/// overwritten others; running the others again puts their signatures back.
#[test]
fn a_late_writer_in_tag_mode_warns_and_a_rerun_restores() {
    let reg = Registry::http();
    let (outcomes, _late, direct, repo, digest) = late_writer(&reg.endpoint(), &[]);
    for (i, out) in outcomes.iter().enumerate() {
        assert_eq!(out.code, 0, "signer {i}: {out:#?}");
    }
    let warning = &outcomes[0].stderr;
    assert!(
        warning.contains("longer than the settle window")
            && warning.contains("may have been overwritten"),
        "{warning}"
    );
    let keys = keys();
    let manifest = sig_tag_manifest(&direct, &repo, &digest).expect(".sig tag");
    assert!(
        manifest
            .layers
            .iter()
            .any(|l| l.verifies_with(&keys[0].public_pem)),
        "the late signature is there"
    );
    let survivors = keys[1..]
        .iter()
        .filter(|k| {
            manifest
                .layers
                .iter()
                .any(|l| l.verifies_with(&k.public_pem))
        })
        .count();
    eprintln!(
        "tag mode, late write held {HOLD:?}: {survivors} of the 7 other signatures survived it"
    );
    // The others sign again (each says signed, or already there): all eight.
    for key in &keys[1..] {
        let home = support::temp_dir();
        sign_common::sign(
            home.path(),
            &direct,
            key,
            &[&format!("{}/{repo}@{digest}", direct.host)],
        )
        .ok();
    }
    let manifest = sig_tag_manifest(&direct, &repo, &digest).expect(".sig tag");
    assert_eq!(manifest.layers.len(), 8);
}

/// Signer 0 through a proxy holding its `.sig` PUT back [`HOLD`]; signers 1..8 directly,
/// 0.2 s later. Returns their outcomes (signer 0 first), the image, the direct endpoint, the
/// repository and the digest.
fn late_writer(
    direct: &Endpoint,
    args: &[&str],
) -> (
    Vec<Outcome>,
    support::SyntheticImage,
    Endpoint,
    String,
    String,
) {
    let proxy = CountingProxy::start(direct);
    proxy.hold("PUT", ".sig", HOLD, 1);
    let repo = "late/app".to_string();
    let image = direct.push_synthetic(&repo, Some("v1"), 140);
    let keys = keys();
    let spawn = |ep: &Endpoint, key: &TestKey| {
        let home = support::temp_dir();
        let pinned = format!("{}/{repo}@{}", ep.host, image.digest);
        let mut argv = vec![pinned.as_str(), "-v"];
        argv.extend_from_slice(args);
        let child = sign_common::sign_std(home.path(), ep, key, &argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pinsign");
        (home, child)
    };
    let mut children = vec![spawn(&proxy.endpoint(), &keys[0])];
    std::thread::sleep(Duration::from_millis(200));
    children.extend(keys[1..].iter().map(|k| spawn(direct, k)));
    let outcomes: Vec<Outcome> = children
        .into_iter()
        .map(|(_home, child)| Outcome::of(&child.wait_with_output().expect("wait")))
        .collect();
    assert_eq!(
        proxy.delayed().len(),
        1,
        "the late write was held: {:?}",
        proxy.delayed()
    );
    let digest = image.digest.clone();
    (outcomes, image, direct.clone(), repo, digest)
}
