//! Eight `pinsign sign-digest` processes signing the same digest with eight keys at once. The
//! `.sig` tag is read-modify-write with no compare-and-swap, so this is where signatures get lost
//! if the read-back-and-re-merge in `storage` is wrong. Every round must end with eight layers,
//! each verifying (independent checker) with its own key.

use crate::sign_common;
use crate::support;

use std::process::Stdio;
use std::time::Instant;

use crate::sign_common::{reference, Outcome};
use crate::support::cosign_check::{expected_payload, sig_tag_manifest};
use crate::support::test_keys::{self, keys};
use crate::support::{Registry, RegistryKind};

const ROUNDS: u64 = 3;

crate::per_kind!(eight_signers: Http => http, Token => token);

fn eight_signers(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let ep = reg.endpoint();
    let keys = keys();
    assert_eq!(keys.len(), test_keys::COUNT);
    assert_eq!(keys.len(), 8);
    let publics: Vec<String> = keys.iter().map(|k| k.public_pem.clone()).collect();
    for round in 0..ROUNDS {
        let repo = format!("race/app{round}");
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
                let child = sign_common::sign_std(home.path(), &ep, key, &[input, "-v"])
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
            "{kind:?} round {round}: 8 signers done in {:?}; {} re-merges after lost writes (at most {most_attempts} by one signer), {} blob re-uploads",
            started.elapsed(),
            count("a concurrent write dropped layers"),
            count("uploading blobs again"),
        );
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
