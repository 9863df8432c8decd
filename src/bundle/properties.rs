//! Property tests of the referrers tag index merge ([`merge_referrers`]): whatever the tag
//! holds and whatever is appended, no entry is dropped, merging again changes nothing, and
//! the order in which referrers arrive does not change which digests end up listed.
//!
//! Indexes are generated as text, with entries drawn from a small pool of digests so that
//! repeats occur, with foreign artifact types and with annotations of other tools.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::media_types::{OCI_INDEX, OCI_MANIFEST};
use crate::reference::Digest;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn digest(n: u8) -> Digest {
    Digest::of(&[n])
}

/// One of ours: a bundle referrer out of a pool of 6 digests.
fn ours() -> impl Strategy<Value = ReferrerDescriptor> {
    (0u8..6, any::<bool>()).prop_map(|(n, annotated)| ReferrerDescriptor {
        media_type: OCI_MANIFEST.into(),
        digest: digest(n),
        size: 500 + u64::from(n),
        artifact_type: BUNDLE.into(),
        annotations: if annotated {
            BTreeMap::from([("dev.sigstore.bundle.content".into(), "dsse-envelope".into())])
        } else {
            BTreeMap::new()
        },
    })
}

/// An entry another writer left: from the same pool, a bundle or another artifact type,
/// with annotations that are not all strings.
fn entry() -> impl Strategy<Value = String> {
    (0u8..6, 0u8..3).prop_map(|(n, kind)| {
        let artifact_type = match kind {
            0 => BUNDLE,
            1 => "application/vnd.dev.cosign.artifact.sig.v1+json",
            _ => "application/spdx+json",
        };
        serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest(n).as_str(),
            "size": 500 + u64::from(n),
            "annotations": {"org.example": "x", "org.example.n": n},
            "artifactType": artifact_type,
        })
        .to_string()
    })
}

/// A referrers tag index as text, with 0 to 6 entries and sometimes other members.
fn index() -> impl Strategy<Value = ReferrersIndex> {
    (proptest::collection::vec(entry(), 0..6), any::<bool>()).prop_map(|(entries, extra)| {
        let mut text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]"#,
            entries.join(",")
        );
        if extra {
            text.push_str(r#","annotations":{"org.example.kept":"yes"}"#);
        }
        text.push('}');
        parse_referrers_index(text.as_bytes()).expect("a generated index parses")
    })
}

fn written(out: &IndexMerge) -> ReferrersIndex {
    parse_referrers_index(&out.index).expect("a merged index parses")
}

fn digests(index: &ReferrersIndex) -> Vec<String> {
    index.entries().iter().map(|e| e.digest.clone()).collect()
}

fn set(index: &ReferrersIndex) -> BTreeSet<String> {
    digests(index).into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every entry that was there stays, byte for byte and in order, first; each of ours is
    /// listed; the index's other members stay.
    #[test]
    fn a_merge_never_drops_an_entry(current in proptest::option::of(index()),
                                    new in proptest::collection::vec(ours(), 0..5)) {
        let out = merge_referrers(current.as_ref(), None, &new);
        let back = written(&out);
        let before: Vec<&ReferrerEntry> = current.iter().flat_map(|i| i.entries()).collect();
        for (kept, was) in back.entries().iter().zip(&before) {
            prop_assert_eq!(kept.raw_json(), was.raw_json());
        }
        prop_assert!(back.entries().len() >= before.len());
        for d in &new {
            prop_assert!(back.contains(d.digest.as_str()), "{} dropped", d.digest);
        }
        prop_assert!(missing_referrers(Some(&back), None, &new).is_empty());
        let had: BTreeSet<String> = current.iter().flat_map(set).collect();
        let added: BTreeSet<String> = out.added.iter().cloned().collect();
        prop_assert_eq!(added.clone(), set(&back).difference(&had).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(out.changed, !added.is_empty());
    }

    /// Merging the same descriptors into what was written changes nothing.
    #[test]
    fn a_merge_is_idempotent(current in proptest::option::of(index()),
                             new in proptest::collection::vec(ours(), 0..5)) {
        let once = merge_referrers(current.as_ref(), None, &new);
        let twice = merge_referrers(Some(&written(&once)), None, &new);
        prop_assert!(!twice.changed);
        prop_assert_eq!(twice.index, once.index);
    }

    /// Two writers in either order, or one with all descriptors in any order, list the same
    /// digests; a re-merge after a concurrent overwrite restores what was lost.
    #[test]
    fn merges_are_order_independent_as_a_set(
        current in proptest::option::of(index()),
        previous in proptest::option::of(index()),
        a in proptest::collection::vec(ours(), 0..4),
        b in proptest::collection::vec(ours(), 0..4),
    ) {
        let ab = written(&merge_referrers(Some(&written(&merge_referrers(current.as_ref(), None, &a))), None, &b));
        let ba = written(&merge_referrers(Some(&written(&merge_referrers(current.as_ref(), None, &b))), None, &a));
        let mut all = a.clone();
        all.extend(b.iter().cloned());
        let together = written(&merge_referrers(current.as_ref(), None, &all));
        all.reverse();
        let reversed = written(&merge_referrers(current.as_ref(), None, &all));
        prop_assert_eq!(set(&ab), set(&ba));
        prop_assert_eq!(set(&ab), set(&together));
        prop_assert_eq!(set(&together), set(&reversed));
        let mut expected: BTreeSet<String> = current.iter().flat_map(set).collect();
        expected.extend(a.iter().chain(&b).map(|d| d.digest.as_str().to_string()));
        prop_assert_eq!(set(&ab), expected);

        let healed = written(&merge_referrers(current.as_ref(), previous.as_ref(), &a));
        for d in current.iter().chain(previous.iter()).flat_map(digests) {
            prop_assert!(healed.contains(&d), "{} dropped", d);
        }
        prop_assert!(missing_referrers(Some(&healed), previous.as_ref(), &a).is_empty());
    }
}
