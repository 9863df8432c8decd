//! Eight `pinsign sign-digest` processes signing the same digest with eight keys at once. The
//! `.sig` tag is read-modify-write with no compare-and-swap, so this is where signatures get lost
//! if the read-back-and-re-merge in `storage` is wrong. Every round must end with eight layers,
//! each verifying (independent checker) with its own key.
//!
//! The same for bundles (`--format bundle`) on a registry without the referrers API: each signer
//! pushes its own referrer manifest, then read-merge-writes the referrers tag index
//! (`sha256-<hex>`), which has no compare-and-swap either. Every round must end with an index
//! listing eight bundle referrers, each bundle verifying (independent checker) with its own key.

use crate::sign_common;
use crate::support;

use std::process::Stdio;
use std::time::Instant;

use crate::sign_common::{reference, Outcome};
use crate::support::bundle_check::{self, referrers_of, stored_bundles, ListedBy};
use crate::support::client::OCI_MANIFEST;
use crate::support::cosign_check::{expected_payload, sig_tag_manifest};
use crate::support::test_keys::{self, keys};
use crate::support::{Registry, RegistryKind};

const ROUNDS: u64 = 3;

crate::per_kind!(eight_signers: Http => http, Token => token);

fn eight_signers(kind: RegistryKind) {
    race(kind, &[]);
}

crate::per_kind!(eight_bundle_signers: Http => http, Token => token);

fn eight_bundle_signers(kind: RegistryKind) {
    race(kind, &["--format", "bundle"]);
}

/// `ROUNDS` rounds of eight concurrent signers with `args`; checks that nothing was lost.
fn race(kind: RegistryKind, args: &[&str]) {
    let bundles = args.contains(&"bundle");
    let reg = Registry::start(kind);
    let ep = reg.endpoint();
    let keys = keys();
    assert_eq!(keys.len(), test_keys::COUNT);
    assert_eq!(keys.len(), 8);
    let publics: Vec<String> = keys.iter().map(|k| k.public_pem.clone()).collect();
    for round in 0..ROUNDS {
        let repo = format!("race/app{round}{}", if bundles { "-bundle" } else { "" });
        let image = ep.push_synthetic(&repo, Some("v1"), 100 + round);
        let started = Instant::now();
        // Half by digest, half by tag: both pin to the same digest.
        let tagged = reg.image(&format!("{repo}:v1"));
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
            assert_eq!(out.code, 0, "{kind:?} round {round}, signer {i}: {out:#?}");
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
            "{kind:?} {} round {round}: 8 signers done in {:?}; {} re-merges after lost writes (at most {most_attempts} by one signer), {} blob re-uploads",
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
                "{kind:?} round {round}: {listed:#?}"
            );
            let stored = stored_bundles(
                &ep,
                &repo,
                &image.digest,
                OCI_MANIFEST,
                image.manifest.len() as u64,
            );
            assert_eq!(stored.len(), 8, "{kind:?} round {round}");
            for (i, b) in stored.iter().enumerate() {
                let signers = publics
                    .iter()
                    .filter(|p| bundle_check::verifies_with(&b.bundle, p))
                    .count();
                assert_eq!(signers, 1, "{kind:?} round {round}: bundle {i}");
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
            assert_eq!(signers, 1, "{kind:?} round {round}: layer {i}");
        }
    }
}
