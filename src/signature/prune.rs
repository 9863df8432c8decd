//! Removing signatures from a `.sig` manifest: the counterpart of [`super::merge`], for
//! `rotate --prune-old`.
//!
//! Like a merge, a removal never touches what it was not asked to remove: every other layer
//! stays byte for byte, in its order, and manifest-level members (`annotations`) are kept.
//! Only the config is rebuilt (its `rootfs.diff_ids` lists the layers). A removal that
//! would leave the manifest without any layer is refused: pinsign never writes a `.sig` tag
//! that holds no signature (and never removes the last one).
//!
//! Concurrent writers are handled as for signing: after writing, the tag is read back; if a
//! concurrent signer dropped a layer we kept, [`reapply_removal`] restores it from what we
//! wrote, and removes the asked-for layers again from whatever is there now.

use std::collections::BTreeSet;

use super::layer::{Blob, BlobData, LayerDescriptor, LayerKey};
use super::manifest::{render_manifest, sig_config, SigManifest};
use crate::media_types::{OCI_CONFIG, OCI_MANIFEST};
use crate::reference::Digest;

/// What to write to the `.sig` tag after a removal.
#[derive(Debug, Clone)]
pub struct Removal {
    /// The OCI manifest to PUT on the `.sig` tag.
    pub manifest: Vec<u8>,
    /// sha256 of `manifest`.
    pub digest: Digest,
    /// Always [`OCI_MANIFEST`].
    pub media_type: &'static str,
    /// The rebuilt config blob (also in `blobs`, to upload).
    pub config: Vec<u8>,
    /// The remaining layers' blobs (already in the repository), then the config.
    pub blobs: Vec<Blob>,
    /// Layers taken out, in manifest order.
    pub removed: Vec<LayerKey>,
    /// Layers put back from what we wrote before (a concurrent writer had dropped them).
    pub restored: Vec<LayerKey>,
    /// Layers left in the manifest.
    pub remaining: usize,
    /// Whether the tag needs a write at all.
    pub changed: bool,
}

/// A removal that would leave no layer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("removing {removed} signature layer(s) would leave the signature manifest empty; pinsign never removes the last signature")]
pub struct WouldEmpty {
    pub removed: usize,
}

/// Take every layer whose [`LayerKey`] is in `remove` out of `current`; keep the rest
/// exactly as it is.
pub fn remove_layers(
    current: &SigManifest,
    remove: &BTreeSet<LayerKey>,
) -> Result<Removal, WouldEmpty> {
    rebuild(Some(current), None, remove)
}

/// After a read-back found `current` (or nothing) instead of `written`, our last write:
/// keep `current`, restore the layers of `written` it lost, and take out `remove` again.
pub fn reapply_removal(
    current: Option<&SigManifest>,
    written: &SigManifest,
    remove: &BTreeSet<LayerKey>,
) -> Result<Removal, WouldEmpty> {
    rebuild(current, Some(written), remove)
}

fn rebuild(
    current: Option<&SigManifest>,
    written: Option<&SigManifest>,
    remove: &BTreeSet<LayerKey>,
) -> Result<Removal, WouldEmpty> {
    let mut kept: Vec<&LayerDescriptor> = Vec::new();
    let mut kept_keys: BTreeSet<LayerKey> = BTreeSet::new();
    let mut removed: Vec<LayerKey> = Vec::new();
    let mut restored: Vec<LayerKey> = Vec::new();
    for layer in current.iter().flat_map(|m| m.layers()) {
        let key = layer.key();
        if remove.contains(&key) {
            if !removed.contains(&key) {
                removed.push(key);
            }
            continue;
        }
        // Kept even when it repeats: what is there stays as it is.
        kept_keys.insert(key);
        kept.push(layer);
    }
    for layer in written.iter().flat_map(|m| m.layers()) {
        let key = layer.key();
        if remove.contains(&key) || kept_keys.contains(&key) {
            continue;
        }
        kept_keys.insert(key.clone());
        restored.push(key);
        kept.push(layer);
    }
    if kept.is_empty() {
        return Err(WouldEmpty {
            removed: removed.len(),
        });
    }
    let config = sig_config(kept.iter().map(|l| l.digest()));
    let extra: Vec<(&str, &str)> = current
        .or(written)
        .map(|m| m.extra_members().collect())
        .unwrap_or_default();
    let texts: Vec<&str> = kept.iter().map(|l| l.raw_json()).collect();
    let manifest = render_manifest(&config, OCI_CONFIG, &texts, &extra);
    let mut blobs: Vec<Blob> = Vec::new();
    for layer in &kept {
        if !blobs.iter().any(|b| &b.digest == layer.digest()) {
            blobs.push(Blob {
                digest: layer.digest().clone(),
                size: layer.size(),
                data: BlobData::Existing,
            });
        }
    }
    blobs.push(Blob {
        digest: Digest::of(&config),
        size: config.len() as u64,
        data: BlobData::Upload(config.clone()),
    });
    let digest = Digest::of(&manifest);
    let changed = !removed.is_empty() || !restored.is_empty();
    Ok(Removal {
        digest,
        manifest,
        media_type: OCI_MANIFEST,
        config,
        blobs,
        removed,
        restored,
        remaining: kept.len(),
        changed,
    })
}
