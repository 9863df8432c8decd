//! Taking a retired key's signatures out of the registry (`rotate --prune-old`): its layers
//! from the `.sig` tag, and its referrer artifacts.
//!
//! Two rules make this safe:
//!
//! - **Only where the kept key's signature verifies, in the same place.** A `.sig` tag loses
//!   the removed key's layers only if it also holds a layer that verifies with the kept key
//!   for this digest; a referrer artifact is deleted only if another artifact of the image
//!   holds such a signature, and only if every signature in it is the removed key's. The
//!   pure removal ([`signature::remove_layers`]) refuses to leave an empty manifest.
//! - **The same settle as signing.** The tag has no compare-and-swap, so after writing we
//!   read it back over the settle window ([`super::tag`]). A concurrent writer that dropped a
//!   layer we kept gets it restored ([`signature::reapply_removal`]). A concurrent signer
//!   that read the tag before our write puts the removed layers back (to it they look lost):
//!   we then wait longer than a signer's settle window, so it finishes, and remove them
//!   again from what is there by then. Nothing anyone else wrote is ever dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::fetch::fetch_layers;
use super::tag::{read_sig_manifest, settle, Settled, MAX_WRITES, WRITE_BACKOFF};
use super::window::Window;
use super::{blob_race, push_blobs_concurrently};
use crate::keys::PublicKey;
use crate::media_types::SIG_ARTIFACT;
use crate::reference::{Digest, Repository, Tag};
use crate::registry::{PinnedImage, Registry, RegistryError};
use crate::signature::{self, FetchedLayer, LayerKey, Removal, SigManifest};

/// Rounds of "remove, then find the removed layers put back by a concurrent signer".
const MAX_ROUNDS: u32 = 6;
/// How long to let a concurrent signer finish before removing again: longer than its whole
/// settle window ([`super::window`]: 50 ms on loopback, 8 round trips elsewhere) plus a
/// re-merge; at least this.
const YIELD: Duration = Duration::from_millis(900);

/// The two keys of a prune: signatures by `remove` go where one by `keep` verifies.
#[derive(Debug, Clone, Copy)]
pub struct PruneKeys<'a> {
    pub remove: &'a PublicKey,
    pub keep: &'a PublicKey,
}

/// What a prune did in one place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PruneOutcome {
    /// No signature stored there (no `.sig` tag; no referrers API, or no signature referrer).
    Absent,
    /// No signature by the removed key there.
    NothingToRemove,
    /// Signatures by the removed key are there, but no signature by the kept key verifies
    /// there: nothing was removed.
    NoValidKeep { found: usize },
    /// `--dry-run`: this many layers (tag) or artifacts (referrers) would go.
    WouldRemove { count: usize },
    /// This many layers (tag) or artifacts (referrers) were removed.
    Removed { count: usize },
}

/// One place's prune result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneReport {
    /// `REG/REPO:sha256-<hex>.sig`, or `REG/REPO@sha256:<image> (referrers)`.
    pub location: String,
    #[serde(flatten)]
    pub outcome: PruneOutcome,
    /// Something the report should say besides (artifacts kept because they also hold
    /// other signatures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Remove the `remove` key's layers from the image's `.sig` tag (in the image's repository
/// or `sig_repo`) where a `keep`-key layer verifies for the image; confirm it stuck.
pub async fn prune_tag(
    registry: &Registry,
    image: &PinnedImage,
    sig_repo: Option<&Repository>,
    keys: PruneKeys<'_>,
    dry_run: bool,
) -> anyhow::Result<PruneReport> {
    let sig_repo = sig_repo.unwrap_or(image.repository());
    let tag = image.signature_tag();
    let signature_ref = format!("{sig_repo}:{tag}");
    let report = |outcome| PruneReport {
        location: signature_ref.clone(),
        outcome,
        note: None,
    };
    // Distinct layers taken out (a layer a concurrent signer put back counts once).
    let mut removed: BTreeSet<LayerKey> = BTreeSet::new();
    for round in 1..=MAX_ROUNDS {
        let current = read_sig_manifest(registry, sig_repo, tag.as_str(), &signature_ref).await?;
        let Some(current) = current else {
            return Ok(report(if removed.is_empty() {
                PruneOutcome::Absent
            } else {
                PruneOutcome::Removed {
                    count: removed.len(),
                }
            }));
        };
        let judged = judge(registry, sig_repo, image, current.layers(), keys).await?;
        if judged.remove.is_empty() {
            return Ok(report(if removed.is_empty() {
                PruneOutcome::NothingToRemove
            } else {
                PruneOutcome::Removed {
                    count: removed.len(),
                }
            }));
        }
        if !judged.keep_valid {
            return Ok(report(PruneOutcome::NoValidKeep {
                found: judged.remove.len(),
            }));
        }
        if dry_run {
            return Ok(report(PruneOutcome::WouldRemove {
                count: judged.remove.len(),
            }));
        }
        let removal = signature::remove_layers(&current, &judged.remove)
            .map_err(|e| anyhow::anyhow!("{signature_ref}: {e}"))?;
        // Judging fetched every payload: write only if the tag is still what was judged, so
        // the write follows its read at once (see `super::tag`).
        let again = registry.head_manifest(sig_repo, tag.as_str()).await?;
        if again.as_ref().map(|d| &d.digest) != Some(current.digest()) {
            tracing::info!(
                "{signature_ref}: changed while its signatures were checked; checking again"
            );
            continue;
        }
        let written = removal.digest.clone();
        let now = write_settled(
            registry,
            sig_repo,
            &tag,
            &signature_ref,
            removal,
            &judged.remove,
        )
        .await?;
        removed.extend(judged.remove.iter().cloned());
        if now == written {
            return Ok(report(PruneOutcome::Removed {
                count: removed.len(),
            }));
        }
        // Someone wrote after us and kept all we wrote; a signer that read the tag before
        // our write may have put the removed layers back. Let it finish, then look again.
        tracing::info!(
            "{signature_ref}: written again by another writer (round {round}); checking after it settles"
        );
        let signer_window = Window::after(registry, Duration::ZERO).length;
        tokio::time::sleep(YIELD.max(signer_window * 3)).await;
    }
    anyhow::bail!(
        "{signature_ref}: signatures by {} keep coming back (is a signer still using that key?); gave up after {MAX_ROUNDS} rounds; no signature was lost; run the prune again",
        keys.remove.source()
    )
}

/// Write a removal and read the tag back until it is quiet, restoring what a concurrent
/// writer dropped. Returns the digest the tag settled on.
async fn write_settled(
    registry: &Registry,
    sig_repo: &Repository,
    tag: &Tag,
    signature_ref: &str,
    mut removal: Removal,
    remove: &BTreeSet<LayerKey>,
) -> anyhow::Result<Digest> {
    let mut slowest = Duration::ZERO;
    let mut read_at = std::time::Instant::now();
    for attempt in 1..=MAX_WRITES {
        push_blobs_concurrently(registry, sig_repo, &removal.blobs).await?;
        let put = registry
            .put_manifest(
                sig_repo,
                tag.as_str(),
                removal.media_type,
                &removal.manifest,
            )
            .await;
        match put {
            Ok(_) => {}
            Err(e) if blob_race(&e) && attempt < MAX_WRITES => {
                tracing::info!("{signature_ref}: {e}; uploading the config again");
                continue;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("cannot write {signature_ref}")))
            }
        }
        slowest = slowest.max(read_at.elapsed());
        let written: SigManifest = signature::parse_sig_manifest(&removal.manifest)
            .map_err(|e| anyhow::anyhow!("pinsign built an unreadable {signature_ref}: {e}"))?;
        let window = Window::after(registry, slowest);
        match settle(registry, sig_repo, tag, &written, signature_ref, &window).await? {
            Settled::Kept(now) => return Ok(now.digest().clone()),
            Settled::Lost => {
                tracing::info!(
                    "{signature_ref}: a concurrent write dropped layers (attempt {attempt}); restoring them"
                );
                // Wait first, then merge into the tag as it is now: never a wait between the
                // read and the write based on it.
                crate::backoff::sleep(WRITE_BACKOFF, attempt as u32).await;
                let current =
                    read_sig_manifest(registry, sig_repo, tag.as_str(), signature_ref).await?;
                read_at = std::time::Instant::now();
                removal = signature::reapply_removal(current.as_ref(), &written, remove)
                    .map_err(|e| anyhow::anyhow!("{signature_ref}: {e}"))?;
            }
        }
    }
    anyhow::bail!(
        "{signature_ref} kept changing under concurrent writers; gave up after {MAX_WRITES} writes (no signature was lost; run the prune again)"
    )
}

/// Delete the image's referrer artifacts whose every signature is by the `remove` key,
/// where another referrer holds a `keep`-key signature that verifies.
pub async fn prune_referrers(
    registry: &Registry,
    image: &PinnedImage,
    keys: PruneKeys<'_>,
    dry_run: bool,
) -> anyhow::Result<PruneReport> {
    let repo = image.repository();
    let report = |outcome, note| PruneReport {
        location: format!("{image} (referrers)"),
        outcome,
        note,
    };
    let entries = match registry
        .referrers(repo, image.digest(), Some(SIG_ARTIFACT))
        .await
    {
        Ok(entries) => entries,
        Err(RegistryError::ReferrersUnsupported { .. }) => {
            return Ok(report(PruneOutcome::Absent, None))
        }
        Err(e) => return Err(e.into()),
    };
    if entries.is_empty() {
        return Ok(report(PruneOutcome::Absent, None));
    }
    let mut doomed: Vec<Digest> = Vec::new();
    let mut mixed = 0;
    let mut keep_valid = false;
    for entry in entries {
        let digest = Digest::parse(&entry.digest).map_err(|e| {
            anyhow::anyhow!(
                "the referrers of {image} list a bad digest {:?}: {e}",
                entry.digest
            )
        })?;
        let Some(manifest) = registry.get_manifest(repo, digest.as_str()).await? else {
            continue; // deleted meanwhile
        };
        let artifact = match signature::parse_referrers_artifact(&manifest.bytes) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("{repo}@{digest}: {e}; left alone");
                continue;
            }
        };
        if artifact.check_subject(image.digest()).is_err() {
            continue;
        }
        let judged = judge(registry, repo, image, &artifact.layers, keys).await?;
        keep_valid |= judged.keep_valid;
        if judged.remove.is_empty() {
            continue;
        }
        if judged.others == 0 {
            doomed.push(digest);
        } else {
            mixed += 1;
        }
    }
    let note = (mixed > 0).then(|| {
        format!("{mixed} artifact(s) holding the old key's and other signatures were kept")
    });
    if doomed.is_empty() {
        return Ok(report(PruneOutcome::NothingToRemove, note));
    }
    if !keep_valid {
        return Ok(report(
            PruneOutcome::NoValidKeep {
                found: doomed.len(),
            },
            note,
        ));
    }
    if dry_run {
        return Ok(report(
            PruneOutcome::WouldRemove {
                count: doomed.len(),
            },
            note,
        ));
    }
    for digest in &doomed {
        registry
            .delete_manifest(repo, digest)
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot delete {repo}@{digest}")))?;
    }
    Ok(report(
        PruneOutcome::Removed {
            count: doomed.len(),
        },
        note,
    ))
}

/// The layers of one manifest, judged for a prune.
struct Judged {
    /// Layers whose signature verifies with the removed key.
    remove: BTreeSet<LayerKey>,
    /// Whether a layer passes every check with the kept key for this image.
    keep_valid: bool,
    /// Layers that are neither the removed key's nor unreadable-but-simple-signing: other
    /// keys', the kept key's, foreign layer types, layers whose payload could not be read.
    others: usize,
}

async fn judge(
    registry: &Registry,
    repo: &Repository,
    image: &PinnedImage,
    layers: &[signature::LayerDescriptor],
    keys: PruneKeys<'_>,
) -> anyhow::Result<Judged> {
    let fetched = fetch_layers(registry, repo, layers).await?;
    let none = BTreeMap::new();
    let mut judged = Judged {
        remove: BTreeSet::new(),
        keep_valid: false,
        // Layers fetch_layers skipped (not simple-signing) count as others.
        others: layers.len() - fetched.len(),
    };
    for (layer, fetch_error) in &fetched {
        if fetch_error.is_some() {
            judged.others += 1;
            continue;
        }
        if signed_by(image, layer, keys.remove, &none) {
            judged.remove.insert(layer.descriptor.key());
            continue;
        }
        judged.others += 1;
        let check = signature::verify_layer(
            image.digest(),
            layer,
            std::slice::from_ref(keys.keep),
            &none,
        );
        judged.keep_valid |= check.verified;
    }
    Ok(judged)
}

/// True when the layer's signature verifies with `key` over its (intact) payload, whatever
/// the payload says: a key's signature is the key's, even a replayed one.
fn signed_by(
    image: &PinnedImage,
    layer: &FetchedLayer,
    key: &PublicKey,
    none: &BTreeMap<String, String>,
) -> bool {
    signature::verify_layer(image.digest(), layer, std::slice::from_ref(key), none)
        .key
        .is_some()
}
