//! Property tests of the `.sig` merge: whatever the tag holds and whatever is appended, a
//! merge never drops a layer, merging again changes nothing, and the order in which
//! signatures arrive does not change which (payload, signature) pairs end up in the tag.
//!
//! Manifests are generated as text (as a registry would hand them over), with layers drawn
//! from small pools of payloads and signatures so that duplicates, shared payloads (every
//! key signs the same payload) and foreign annotations (a cosign bundle) all occur.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::media_types::{OCI_CONFIG, OCI_MANIFEST, SIMPLESIGNING};
use crate::reference::Digest;

const IMAGE: &str =
    "127.0.0.1:5000/team/app@sha256:4c1c50d0ffc614f90b93b07d778028dc765548e823f676fb027f61d281ac380d";

fn image() -> crate::registry::PinnedImage {
    crate::registry::pinned_for_tests(IMAGE, OCI_MANIFEST, 1234)
}

/// A new signature layer: payload `p` of a pool of 3, signature `s` of a pool of 6.
fn new_layer() -> impl Strategy<Value = SignatureLayer> {
    (0u8..3, 0u8..6).prop_map(|(p, s)| {
        SignatureLayer::from_parts(
            image(),
            format!("{{\"payload\":{p}}}").into_bytes(),
            &[0x30, p, s, 0x01],
        )
    })
}

/// One layer descriptor as another writer may have left it: a simple-signing layer with or
/// without a signature and with or without a bundle annotation, or a layer of another type.
fn descriptor() -> impl Strategy<Value = String> {
    (0u8..3, proptest::option::of(0u8..6), any::<bool>(), 0u8..5).prop_map(
        |(p, s, bundle, kind)| {
            let digest = Digest::of(format!("{{\"payload\":{p}}}").as_bytes());
            let mut annotations = serde_json::Map::new();
            if let Some(s) = s {
                annotations.insert(
                    SIGNATURE_ANNOTATION.into(),
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        [0x30, p, s, 0x01],
                    )
                    .into(),
                );
            }
            if bundle {
                annotations.insert(
                    BUNDLE_ANNOTATION.into(),
                    "{\"SignedEntryTimestamp\":\"x\"}".into(),
                );
            }
            let media_type = if kind == 0 {
                "application/vnd.oci.image.layer.v1.tar"
            } else {
                SIMPLESIGNING
            };
            serde_json::json!({
                "mediaType": media_type,
                "size": 14,
                "digest": digest.as_str(),
                "annotations": annotations,
            })
            .to_string()
        },
    )
}

/// A `.sig` manifest as text, with 0 to 6 layers and sometimes manifest annotations. One
/// with only foreign layers is not a signature manifest and is skipped by the callers.
fn manifest() -> impl Strategy<Value = SigManifest> {
    (
        proptest::collection::vec(descriptor(), 0..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map("not a signature manifest", |(layers, annotated, docker)| {
            let media_type = if docker {
                crate::media_types::DOCKER_MANIFEST
            } else {
                OCI_MANIFEST
            };
            let config = sig_config(std::iter::empty());
            let mut text = format!(
                r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"{OCI_CONFIG}","size":{},"digest":"{}"}},"layers":[{}]"#,
                config.len(),
                Digest::of(&config),
                layers.join(",")
            );
            if annotated {
                text.push_str(r#","annotations":{"org.example.kept":"yes"}"#);
            }
            text.push('}');
            parse_sig_manifest(text.as_bytes()).ok()
        })
}

fn written(out: &MergeOutcome) -> SigManifest {
    parse_sig_manifest(&out.manifest).expect("a merged manifest parses")
}

fn key_set<'a>(keys: impl IntoIterator<Item = &'a LayerKey>) -> BTreeSet<LayerKey> {
    keys.into_iter().cloned().collect()
}

fn layer_keys(layers: &[SignatureLayer]) -> Vec<LayerKey> {
    layers.iter().map(SignatureLayer::key).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every layer that was there stays, byte for byte and in order, first; every new one
    /// is there after; the annotations of the manifest stay.
    #[test]
    fn a_merge_never_drops_a_layer(existing in proptest::option::of(manifest()),
                                   ours in proptest::collection::vec(new_layer(), 0..5)) {
        let out = merge(existing.as_ref(), &ours);
        let back = written(&out);
        let before: Vec<LayerDescriptor> =
            existing.iter().flat_map(|m| m.layers().to_vec()).collect();
        prop_assert!(back.layers().len() >= before.len());
        for (kept, was) in back.layers().iter().zip(&before) {
            prop_assert_eq!(kept.raw_json(), was.raw_json());
        }
        let keys = key_set(&back.layer_keys());
        for k in layer_keys(&ours) {
            prop_assert!(keys.contains(&k), "{:?} dropped", k);
        }
        if let Some(m) = &existing {
            let extra: Vec<_> = m.extra_members().collect();
            prop_assert_eq!(back.extra_members().collect::<Vec<_>>(), extra);
        }
        // `added` is exactly what the write adds.
        let had = existing.as_ref().map(|m| key_set(&m.layer_keys())).unwrap_or_default();
        let added = key_set(&out.added);
        prop_assert_eq!(added.clone(), keys.difference(&had).cloned().collect::<BTreeSet<_>>());
        prop_assert_eq!(out.changed, !added.is_empty());
    }

    /// Merging the same layers into what was written changes nothing (re-signing is
    /// idempotent: no write at all).
    #[test]
    fn a_merge_is_idempotent(existing in proptest::option::of(manifest()),
                             ours in proptest::collection::vec(new_layer(), 0..5)) {
        let once = merge(existing.as_ref(), &ours);
        let twice = merge(Some(&written(&once)), &ours);
        prop_assert!(!twice.changed);
        prop_assert!(twice.added.is_empty());
        prop_assert_eq!(twice.manifest, once.manifest);
    }

    /// Two signers appending in either order, or one appending all at once in any order,
    /// end with the same set of (payload, signature) keys.
    #[test]
    fn merges_are_order_independent_as_a_set(
        existing in proptest::option::of(manifest()),
        a in proptest::collection::vec(new_layer(), 0..4),
        b in proptest::collection::vec(new_layer(), 0..4),
    ) {
        let ab = merge(Some(&written(&merge(existing.as_ref(), &a))), &b);
        let ba = merge(Some(&written(&merge(existing.as_ref(), &b))), &a);
        let mut all = a.clone();
        all.extend(b.iter().cloned());
        let together = merge(existing.as_ref(), &all);
        all.reverse();
        let reversed = merge(existing.as_ref(), &all);
        let set = |o: &MergeOutcome| key_set(&written(o).layer_keys());
        prop_assert_eq!(set(&ab), set(&ba));
        prop_assert_eq!(set(&ab), set(&together));
        prop_assert_eq!(set(&together), set(&reversed));
        let mut expected = existing.iter().flat_map(|m| m.layer_keys()).collect::<BTreeSet<_>>();
        expected.extend(layer_keys(&a));
        expected.extend(layer_keys(&b));
        prop_assert_eq!(set(&ab), expected);
    }

    /// After a concurrent writer overwrote the tag (`current`), re-merging keeps all of it,
    /// restores what our write was based on (`previous`), adds ours, and the read-back check
    /// then finds nothing missing.
    #[test]
    fn a_remerge_restores_what_a_concurrent_writer_dropped(
        current in proptest::option::of(manifest()),
        previous in proptest::option::of(manifest()),
        ours in proptest::collection::vec(new_layer(), 0..4),
    ) {
        let out = remerge(current.as_ref(), previous.as_ref(), &ours);
        let back = written(&out);
        let keys = key_set(&back.layer_keys());
        for m in current.iter().chain(previous.iter()) {
            for k in m.layer_keys() {
                prop_assert!(keys.contains(&k), "{:?} dropped", k);
            }
        }
        prop_assert!(contains_all(&back, previous.as_ref(), &ours));
        prop_assert!(missing_layers(&back, previous.as_ref(), &ours).is_empty());
    }
}
