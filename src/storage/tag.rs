//! The `sha256-<hex>.sig` tag: append a signature layer, keeping every layer already there,
//! and confirm it stuck (see the module header of [`crate::storage`]).
//!
//! One signature, in order:
//!
//! 1. Upload our payload blob and the config a fresh tag would have, before the tag is read,
//!    so that reading the tag and writing it are one `GET` and one `PUT` apart.
//! 2. Read the tag and merge: everything it holds, byte for byte; every layer of what we read
//!    first and of each of our earlier writes that it lost; ours. When the merge needs a config
//!    not uploaded yet (the tag had layers), upload it and read again: a write always follows
//!    the read it merged.
//! 3. `PUT`, then settle ([`super::window`]): read the tag back over the window; when a layer
//!    our write held is gone, wait (backoff), read afresh and merge again. The backoff is
//!    never between a read and the write based on it: that would make our read-to-write time
//!    longer than the other writers' windows, and a write of ours based on an old read could
//!    then drop a layer whose writer has stopped watching.
//!
//! With `heal` (`--mode both`, `--repair`): the layers of the image's `artifact.sig.v1`
//! referrers (pushed by digest, never lost) are merged in too, at the start and again at the
//! end of each settle; so whichever writer finishes last puts back what a late write dropped.
//!
//! A layer whose blob the registry no longer has can never verify, and every manifest naming
//! it is refused (`MANIFEST_BLOB_UNKNOWN`): when uploading again does not help, such layers are
//! dropped, with a warning, and the signature is written without them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::window::{show, Window, LATE_WARNING};
use super::{blob_race, push_blobs_concurrently, Format, Stored, Unconfirmed, Via};
use crate::media_types::SIG_ARTIFACT;
use crate::reference::{Digest, Repository, Tag};
use crate::registry::{PinnedImage, Registry, RegistryError, MAX_MANIFEST_BYTES};
use crate::signature::{self, Blob, BlobData, LayerDescriptor, SigManifest, SignatureLayer};

/// How many times to write before giving up on a contended tag.
pub(super) const MAX_WRITES: usize = 12;
/// First wait before reading a contended tag again (see [`crate::backoff`]).
pub(super) const WRITE_BACKOFF: Duration = Duration::from_millis(20);
/// Reads of the tag before one write (each upload a merge needs is followed by a read).
const MAX_READS: usize = 3;
/// How long a blob must stay missing before its layers are dropped: Distribution briefly
/// loses a blob's link while another writer uploads the same blob.
const GONE_RECHECK: Duration = Duration::from_millis(200);

/// Add one signature layer to its image's `.sig` tag, in the image's repository or in
/// `sig_repo`, keeping every layer already there byte for byte, and confirm it stuck.
pub async fn store_in_tag(
    registry: &Registry,
    layer: &SignatureLayer,
    sig_repo: Option<&Repository>,
) -> anyhow::Result<Stored> {
    let writer = TagWriter::new(
        registry,
        layer.image(),
        sig_repo,
        std::slice::from_ref(layer),
    );
    writer.write().await.map(|w| w.stored(&writer))
}

/// [`store_in_tag`] in the image's repository, merging in the layers of the image's
/// signature referrers as well (`--mode both`; see the module header).
pub(super) async fn store_in_tag_healing(
    registry: &Registry,
    layer: &SignatureLayer,
) -> anyhow::Result<Stored> {
    let mut writer = TagWriter::new(registry, layer.image(), None, std::slice::from_ref(layer));
    writer.heal = true;
    writer.write().await.map(|w| w.stored(&writer))
}

/// What `repair_tag` did.
#[derive(Debug, Clone)]
pub struct Repaired {
    /// `REG/REPO:sha256-<hex>.sig`.
    pub signature_ref: String,
    /// The signature referrers of the image (artifacts read).
    pub referrers: usize,
    /// Layers merged into the tag (0: it held them all already).
    pub added: usize,
    /// Layers in the tag now.
    pub layers: usize,
    /// Digest of the `.sig` manifest now, when there is one.
    pub manifest_digest: Option<Digest>,
    pub warnings: Vec<String>,
}

/// `sign-digest --repair`: merge the layers of the image's `artifact.sig.v1` referrers into its
/// `.sig` tag (the one Kyverno's default verifier reads), keeping everything there, and
/// confirm it stuck. Idempotent: nothing is written when the tag holds them all. A registry
/// without the referrers API is an error ([`RegistryError::ReferrersUnsupported`]).
pub async fn repair_tag(registry: &Registry, image: &PinnedImage) -> anyhow::Result<Repaired> {
    let mut writer = TagWriter::new(registry, image, None, &[]);
    writer.heal = true;
    let written = writer.write().await?;
    Ok(Repaired {
        signature_ref: writer.signature_ref.clone(),
        referrers: written.referrers,
        added: written.added,
        layers: written.layers,
        manifest_digest: written.manifest_digest,
        warnings: written.warnings,
    })
}

/// One write of layers into one `.sig` tag.
struct TagWriter<'a> {
    registry: &'a Registry,
    image: &'a PinnedImage,
    sig_repo: &'a Repository,
    tag: Tag,
    signature_ref: String,
    ours: &'a [SignatureLayer],
    /// Merge in the layers of the image's signature referrers.
    heal: bool,
}

/// What a write ended with.
struct Written {
    manifest_digest: Option<Digest>,
    layers: usize,
    /// False when the tag held everything already (nothing written).
    changed: bool,
    /// Layers this writer added to the tag (ours, and referrers' with `heal`).
    added: usize,
    /// Signature referrers read (with `heal`).
    referrers: usize,
    warnings: Vec<String>,
}

impl Written {
    fn stored(self, writer: &TagWriter<'_>) -> Stored {
        Stored {
            signature_ref: writer.signature_ref.clone(),
            manifest_digest: self
                .manifest_digest
                .unwrap_or_else(|| signature::merge(None, writer.ours).digest),
            layers: self.layers,
            changed: self.changed,
            format: Format::SimpleSigning,
            via: Via::SigTag,
            index: None,
            warnings: self.warnings,
        }
    }
}

/// What a write tracks across its attempts.
#[derive(Default)]
struct State {
    /// Blobs uploaded by this writer.
    uploaded: BTreeSet<Digest>,
    /// Blobs the registry does not have (their layers are dropped).
    gone: BTreeSet<Digest>,
    /// Everything that must stay: the tag as first read, then each of our writes.
    before: Option<SigManifest>,
    /// Layers of the image's signature referrers (with `heal`).
    referred: Vec<LayerDescriptor>,
    /// Referrer manifests already read.
    referrers_seen: BTreeSet<String>,
    wrote: bool,
    /// The slowest of our writes, from the read it merged to the answer to the PUT.
    slowest: Duration,
    warnings: Vec<String>,
}

impl<'a> TagWriter<'a> {
    fn new(
        registry: &'a Registry,
        image: &'a PinnedImage,
        sig_repo: Option<&'a Repository>,
        ours: &'a [SignatureLayer],
    ) -> TagWriter<'a> {
        let sig_repo = sig_repo.unwrap_or(image.repository());
        let tag = image.signature_tag();
        TagWriter {
            registry,
            image,
            sig_repo,
            signature_ref: format!("{sig_repo}:{tag}"),
            tag,
            ours,
            heal: false,
        }
    }

    async fn write(&self) -> anyhow::Result<Written> {
        let mut state = State::default();
        let result = self.write_with(&mut state).await;
        result.map_err(|e| {
            if state.wrote {
                anyhow::Error::new(Unconfirmed {
                    signature_ref: self.signature_ref.clone(),
                    cause: crate::error::one_line(&e),
                })
            } else {
                e
            }
        })
    }

    async fn write_with(&self, state: &mut State) -> anyhow::Result<Written> {
        // 1. Before the tag is read: our payloads, and the config of a tag holding only ours.
        let fresh = signature::merge(None, self.ours);
        if !self.ours.is_empty() {
            self.upload(&fresh.blobs, state).await?;
        }
        if self.heal {
            self.read_referrers(state).await?;
        }
        let mut blob_misses = 0;
        let mut added = 0;
        for attempt in 1..=MAX_WRITES {
            if attempt > 1 {
                // Before the read, never between the read and the write.
                crate::backoff::sleep(WRITE_BACKOFF, attempt as u32 - 1).await;
            }
            // 2. Read, merge, and read again after an upload the merge needed.
            let mut reads = 0;
            let (current, merge, read_at) = loop {
                reads += 1;
                let current = self.read().await?;
                let read_at = Instant::now();
                if state.before.is_none() && !state.wrote {
                    state.before.clone_from(&current);
                }
                let merge = signature::merge_keeping(
                    current.as_ref(),
                    state.before.as_ref(),
                    &state.referred,
                    self.ours,
                    &state.gone,
                );
                let missing: Vec<Blob> = merge
                    .blobs
                    .iter()
                    .filter(|b| {
                        matches!(b.data, BlobData::Upload(_)) && !state.uploaded.contains(&b.digest)
                    })
                    .cloned()
                    .collect();
                let done = !merge.changed || missing.is_empty() || reads >= MAX_READS;
                self.upload(&missing, state).await?;
                if done {
                    break (current, merge, read_at);
                }
            };
            let written = if merge.changed {
                let put = self
                    .registry
                    .put_manifest(
                        self.sig_repo,
                        self.tag.as_str(),
                        merge.media_type,
                        &merge.manifest,
                    )
                    .await;
                match put {
                    Ok(_) => {}
                    // Distribution briefly loses a blob link while another signer uploads the
                    // same blob: upload ours again. A blob that stays missing was deleted.
                    Err(e) if blob_race(&e) && attempt < MAX_WRITES => {
                        tracing::info!("{}: {e}; uploading blobs again", self.signature_ref);
                        blob_misses += 1;
                        state.uploaded.clear();
                        self.upload(&fresh.blobs, state).await?;
                        if blob_misses >= 2 {
                            self.drop_gone(&merge, state).await?;
                        }
                        continue;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("cannot write {}", self.signature_ref)))
                    }
                }
                state.wrote = true;
                added = merge.added.len();
                state.slowest = state.slowest.max(read_at.elapsed());
                signature::parse_sig_manifest(&merge.manifest).map_err(|e| {
                    anyhow::anyhow!(
                        "pinsign built an unreadable manifest for {}: {e}",
                        self.signature_ref
                    )
                })?
            } else {
                match current {
                    // The tag holds everything already, and we have written nothing: done.
                    Some(m) if !state.wrote => {
                        return Ok(Written {
                            manifest_digest: Some(m.digest().clone()),
                            layers: m.layers().len(),
                            changed: false,
                            added: 0,
                            referrers: state.referrers_seen.len(),
                            warnings: std::mem::take(&mut state.warnings),
                        })
                    }
                    // Another writer put back what it had lost: watch that.
                    Some(m) => m,
                    // Nothing to write and no tag (a repair with no referrers).
                    None => {
                        return Ok(Written {
                            manifest_digest: None,
                            layers: 0,
                            changed: false,
                            added: 0,
                            referrers: state.referrers_seen.len(),
                            warnings: std::mem::take(&mut state.warnings),
                        })
                    }
                }
            };
            // 3. Settle.
            let window = Window::after(self.registry, state.slowest);
            window.log_late(&self.signature_ref);
            match settle(
                self.registry,
                self.sig_repo,
                &self.tag,
                &written,
                &self.signature_ref,
                &window,
            )
            .await?
            {
                Settled::Kept(now) => {
                    if self.heal {
                        self.read_referrers(state).await?;
                        let lacking = lacking(&now, &state.referred, &state.gone);
                        if lacking > 0 {
                            tracing::info!(
                                "{}: {lacking} signature(s) of the image's referrers are missing; merging them in",
                                self.signature_ref
                            );
                            state.before = Some(now);
                            continue;
                        }
                    }
                    if let (Some(late), false) =
                        (window.late.filter(|&late| late >= LATE_WARNING), self.heal)
                    {
                        state.warnings.push(format!(
                            "writing {} took {}, longer than other signers wait for concurrent writes: a signature another signer wrote meanwhile may have been overwritten (registries have no compare-and-swap on tags); check with pinsign verify, or sign with --mode both on a registry with the referrers API",
                            self.signature_ref,
                            show(late)
                        ));
                    }
                    return Ok(Written {
                        manifest_digest: Some(now.digest().clone()),
                        layers: now.layers().len(),
                        changed: true,
                        added,
                        referrers: state.referrers_seen.len(),
                        warnings: std::mem::take(&mut state.warnings),
                    });
                }
                Settled::Lost => {
                    tracing::info!(
                        "{}: a concurrent write dropped layers (attempt {attempt}); merging again",
                        self.signature_ref
                    );
                    state.before = Some(written);
                }
            }
        }
        anyhow::bail!(
            "{} kept changing under concurrent writers; gave up after {MAX_WRITES} writes (no signature was removed; run sign-digest again)",
            self.signature_ref
        )
    }

    async fn read(&self) -> anyhow::Result<Option<SigManifest>> {
        read_sig_manifest(
            self.registry,
            self.sig_repo,
            self.tag.as_str(),
            &self.signature_ref,
        )
        .await
    }

    /// Upload the `Upload` blobs of `blobs` not uploaded yet, at once.
    async fn upload(&self, blobs: &[Blob], state: &mut State) -> anyhow::Result<()> {
        let todo: Vec<Blob> = blobs
            .iter()
            .filter(|b| {
                matches!(b.data, BlobData::Upload(_)) && !state.uploaded.contains(&b.digest)
            })
            .cloned()
            .collect();
        push_blobs_concurrently(self.registry, self.sig_repo, &todo).await?;
        state.uploaded.extend(todo.into_iter().map(|b| b.digest));
        Ok(())
    }

    /// Read the image's signature referrers not read yet, adding their layers to
    /// `state.referred`. True when there was something new.
    async fn read_referrers(&self, state: &mut State) -> anyhow::Result<bool> {
        let repo = self.image.repository();
        let entries = self
            .registry
            .referrers(repo, self.image.digest(), Some(SIG_ARTIFACT))
            .await?;
        let mut new = false;
        for entry in entries {
            if state.referrers_seen.contains(&entry.digest) {
                continue;
            }
            if entry.size > MAX_MANIFEST_BYTES as i64 {
                state.referrers_seen.insert(entry.digest.clone());
                continue;
            }
            let manifest = match self.registry.get_manifest(repo, &entry.digest).await {
                Ok(Some(m)) => m,
                // Deleted meanwhile (a prune), or not what it claims: nothing to merge.
                Ok(None) | Err(RegistryError::DigestMismatch { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            state.referrers_seen.insert(entry.digest.clone());
            let Ok(artifact) = signature::parse_referrers_artifact(&manifest.bytes) else {
                continue;
            };
            if artifact.check_subject(self.image.digest()).is_err() {
                continue;
            }
            for layer in artifact.layers {
                if layer.is_simplesigning()
                    && !state.referred.iter().any(|l| l.key() == layer.key())
                {
                    state.referred.push(layer);
                    new = true;
                }
            }
        }
        Ok(new)
    }

    /// After a write refused for a missing blob even though ours were uploaded again: find
    /// the blobs of the merge that the registry does not have (twice, [`GONE_RECHECK`]
    /// apart) and drop their layers from now on, with a warning.
    async fn drop_gone(
        &self,
        merge: &signature::MergeOutcome,
        state: &mut State,
    ) -> anyhow::Result<()> {
        let ours: BTreeSet<&Digest> = self.ours.iter().map(SignatureLayer::digest).collect();
        let candidates: Vec<&Digest> = merge
            .blobs
            .iter()
            .filter(|b| matches!(b.data, BlobData::Existing) && !ours.contains(&b.digest))
            .map(|b| &b.digest)
            .collect();
        let mut missing = self.missing_blobs(&candidates).await?;
        if missing.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(GONE_RECHECK).await;
        missing = self.missing_blobs(&missing).await?;
        for digest in missing {
            let warning = format!(
                "{}: dropped the signature layer(s) whose payload blob {digest} is gone from {}: they can never verify",
                self.signature_ref, self.sig_repo
            );
            tracing::info!("{warning}");
            state.warnings.push(warning);
            state.gone.insert(digest.clone());
        }
        Ok(())
    }

    async fn missing_blobs<'d>(&self, digests: &[&'d Digest]) -> anyhow::Result<Vec<&'d Digest>> {
        use futures::StreamExt as _;
        let checks = futures::stream::iter(digests.iter().copied())
            .map(|d| async move { (d, self.registry.has_blob(self.sig_repo, d).await) })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        let mut missing = Vec::new();
        for (digest, has) in checks {
            if !has? {
                missing.push(digest);
            }
        }
        Ok(missing)
    }
}

/// How many layers of `referred` (whose blobs are not gone) `now` lacks.
fn lacking(now: &SigManifest, referred: &[LayerDescriptor], gone: &BTreeSet<Digest>) -> usize {
    let have: BTreeSet<_> = now.layer_keys().into_iter().collect();
    referred
        .iter()
        .filter(|l| !gone.contains(l.digest()) && !have.contains(&l.key()))
        .count()
}

pub(super) enum Settled {
    /// The tag holds everything we need: what it holds now.
    Kept(SigManifest),
    /// The tag lost something.
    Lost,
}

/// Read the tag back over the settle window. HEAD is enough while the tag still has the
/// digest we last saw; a different digest is fetched and must still hold every layer of
/// `written`. A change restarts the window, so we stop only once the tag is quiet.
pub(super) async fn settle(
    registry: &Registry,
    sig_repo: &Repository,
    tag: &Tag,
    written: &SigManifest,
    signature_ref: &str,
    window: &Window,
) -> anyhow::Result<Settled> {
    let mut last = written.clone();
    let pauses = window.pauses();
    let mut quiet = 0;
    while quiet < pauses.len() {
        crate::batch::idle(tokio::time::sleep(pauses[quiet])).await;
        let head = registry.head_manifest(sig_repo, tag.as_str()).await?;
        let Some(head) = head else {
            return Ok(Settled::Lost);
        };
        if head.digest == *last.digest() {
            quiet += 1;
            continue;
        }
        // Someone wrote after us: does their manifest still hold everything?
        let current = read_sig_manifest(registry, sig_repo, tag.as_str(), signature_ref).await?;
        match current {
            Some(m) if signature::contains_all(&m, Some(written), &[]) => {
                last = m;
                quiet = 0;
            }
            _ => return Ok(Settled::Lost),
        }
    }
    Ok(Settled::Kept(last))
}

/// Read and parse the `.sig` manifest; a malformed or foreign document is an error that
/// stops the write (pinsign never overwrites what it does not understand).
pub(super) async fn read_sig_manifest(
    registry: &Registry,
    sig_repo: &Repository,
    tag: &str,
    signature_ref: &str,
) -> anyhow::Result<Option<SigManifest>> {
    let Some(manifest) = registry.get_manifest(sig_repo, tag).await? else {
        return Ok(None);
    };
    let parsed = signature::parse_sig_manifest(&manifest.bytes).map_err(|e| {
        anyhow::anyhow!(
            "{signature_ref} holds something that is not a cosign signature manifest ({e}); not touching it"
        )
    })?;
    Ok(Some(parsed))
}
