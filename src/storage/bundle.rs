//! Sigstore bundles in a registry, stored as `cosign sign --key` v3 stores them: the bundle and
//! the empty config `{}` as blobs, a referrer manifest (`subject` = the image) pushed by its
//! digest, and, where the referrers are not listed by the registry's API, an entry in the
//! referrers tag index (`sha256-<hex>`).
//!
//! The index is read-modify-write with no compare-and-swap, exactly like the `.sig` tag: a
//! writer that read before our write can overwrite it a moment later. So after writing, the
//! tag is read back over the same settle window as the `.sig` tag ([`super::window`]) (cheap `HEAD`s while its
//! digest is unchanged; a change is fetched and must still list every entry our write had) and
//! merged again whenever something is missing. Entries are never dropped or rewritten (see
//! [`crate::bundle::merge_referrers`]), and an index pinsign cannot read is never overwritten.
//!
//! Re-signing is idempotent although every manifest carries its creation time (so the same
//! bundle attached twice would have two manifest digests): pinsign's bundles are deterministic
//! (RFC 6979 signatures), so before writing it looks for a listed bundle referrer of this image
//! whose layer is this very bundle, and writes nothing when there is one.

use std::time::{Duration, Instant};

use super::listing::{list_referrers, read_referrers_tag, tag_place, Listing};
use super::tag::{MAX_WRITES, WRITE_BACKOFF};
use super::window::Window;
use super::{blob_race, push_blobs_concurrently, Format, ReferrersVia, Stored, Unconfirmed, Via};
use crate::bundle::{
    self, merge_referrers, missing_referrers, BuiltBundle, BundleReferrer, Created,
    ReferrerDescriptor, ReferrersIndex, PREDICATE_TYPE_ANNOTATION,
};
use crate::media_types::{BUNDLE_PREFIX, OCI_EMPTY};
use crate::reference::{Digest, Repository, Tag};
use crate::registry::{PinnedImage, Registry, RegistryError, MAX_MANIFEST_BYTES};

/// Attach `built` (a bundle for `image`) as a referrer in `repo` (the image's repository when
/// `None`), listed the way `how` says, and confirm the listing stuck.
pub async fn store_bundle(
    registry: &Registry,
    image: &PinnedImage,
    built: &BuiltBundle,
    how: ReferrersVia,
    repo: Option<&Repository>,
) -> anyhow::Result<Stored> {
    let repo = repo.unwrap_or(image.repository());
    let listing = list_referrers(registry, repo, image.digest(), how)
        .await
        .map_err(|e| e.context(format!("cannot attach a bundle to {image}")))?;
    let stored = |digest: Digest, changed: bool| Stored {
        signature_ref: format!("{repo}@{digest}"),
        manifest_digest: digest,
        layers: 1,
        changed,
        format: Format::Bundle,
        via: listing.via,
        index: listing.index_ref().map(str::to_string),
        warnings: Vec::new(),
    };
    if let Some(existing) = already_attached(registry, repo, image, &listing, built).await? {
        return Ok(stored(existing, false));
    }
    let referrer = bundle::bundle_referrer(image.descriptor(), &built.bytes, Created::now())
        .map_err(|e| anyhow::anyhow!("pinsign built a bundle it cannot attach to {image}: {e}"))?;
    let signature_ref = format!("{repo}@{}", referrer.digest);
    put_referrer(registry, repo, &referrer, &signature_ref).await?;
    if listing.via == Via::ReferrersTag {
        update_index(
            registry,
            repo,
            image.digest(),
            listing.index.as_ref(),
            &referrer.descriptor,
        )
        .await?;
    }
    Ok(stored(referrer.digest, true))
}

/// The listed referrer manifest of `image` whose one layer is `built`, if any. Only entries
/// that may be bundle referrers are fetched (by `artifactType`, and by the predicate type
/// annotation when the list carries one), each no larger than a manifest may be.
async fn already_attached(
    registry: &Registry,
    repo: &Repository,
    image: &PinnedImage,
    listing: &Listing,
    built: &BuiltBundle,
) -> anyhow::Result<Option<Digest>> {
    let Some(index) = &listing.index else {
        return Ok(None);
    };
    for entry in index.entries() {
        let maybe_bundle = match entry.artifact_type.as_deref() {
            Some(t) => t.starts_with(BUNDLE_PREFIX) || t.is_empty() || t == OCI_EMPTY,
            None => true,
        };
        let other_predicate = entry
            .annotations
            .get(PREDICATE_TYPE_ANNOTATION)
            .is_some_and(|p| Some(p.as_str()) != built.predicate_type);
        let Some(digest) = entry.sha256() else {
            continue;
        };
        if !maybe_bundle || other_predicate || entry.size > MAX_MANIFEST_BYTES as u64 {
            continue;
        }
        let manifest = match registry.get_manifest(repo, digest.as_str()).await {
            Ok(Some(m)) => m,
            Ok(None) | Err(RegistryError::DigestMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if let Ok(m) = bundle::parse_bundle_referrer(&manifest.bytes) {
            if m.subject.digest == *image.digest() && m.layer.digest == built.digest {
                return Ok(Some(digest));
            }
        }
    }
    Ok(None)
}

/// Upload the referrer's blobs and PUT its manifest by digest. Distribution briefly loses a
/// blob link while another writer uploads the same blob (every bundle referrer has the same
/// `{}` config): then upload again and retry.
async fn put_referrer(
    registry: &Registry,
    repo: &Repository,
    referrer: &BundleReferrer,
    signature_ref: &str,
) -> anyhow::Result<()> {
    for attempt in 1..=MAX_WRITES {
        push_blobs_concurrently(registry, repo, &referrer.blobs).await?;
        let put = registry
            .put_manifest(
                repo,
                referrer.digest.as_str(),
                referrer.media_type,
                &referrer.manifest,
            )
            .await;
        match put {
            Ok(_) => return Ok(()),
            Err(e) if blob_race(&e) && attempt < MAX_WRITES => {
                tracing::info!("{signature_ref}: {e}; uploading blobs again");
                crate::backoff::sleep(WRITE_BACKOFF, attempt as u32).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("cannot write {signature_ref}")))
            }
        }
    }
    anyhow::bail!("cannot write {signature_ref}: the registry kept losing its blobs")
}

/// Add `ours` to the referrers tag index of `digest`, keeping every entry (those of `seen`, the
/// index as read before the manifest was pushed, included), and confirm it stuck. Returns how
/// many entries the index has.
///
/// Each write merges into the index as read right before it (one `GET`), not as read before
/// the uploads: a writer whose read is old could overwrite an entry whose writer has already
/// finished its settle window, and that entry would be lost for good.
async fn update_index(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
    seen: Option<&ReferrersIndex>,
    ours: &ReferrerDescriptor,
) -> anyhow::Result<usize> {
    let place = tag_place(repo, digest);
    let mut wrote = false;
    update_index_with(registry, repo, digest, seen, ours, &mut wrote)
        .await
        .map_err(|e| {
            if wrote {
                anyhow::Error::new(Unconfirmed {
                    signature_ref: place.clone(),
                    cause: crate::error::one_line(&e),
                })
            } else {
                e
            }
        })
}

async fn update_index_with(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
    seen: Option<&ReferrersIndex>,
    ours: &ReferrerDescriptor,
    wrote: &mut bool,
) -> anyhow::Result<usize> {
    let tag = Tag::referrers_of(digest);
    let place = tag_place(repo, digest);
    let ours = std::slice::from_ref(ours);
    // Everything we must keep: what we saw, then what each of our writes held.
    let mut keep: Option<ReferrersIndex> = seen.cloned();
    let mut slowest = Duration::ZERO;
    for attempt in 1..=MAX_WRITES {
        if attempt > 1 {
            crate::backoff::sleep(WRITE_BACKOFF, attempt as u32 - 1).await;
        }
        let now = read_referrers_tag(registry, repo, digest).await?;
        let read_at = Instant::now();
        let merge = merge_referrers(now.as_ref(), keep.as_ref(), ours);
        let written = match now {
            // It lists everything already (put back by another writer's merge).
            Some(now) if !merge.changed => now,
            _ => {
                let put = registry
                    .put_manifest(repo, tag.as_str(), merge.media_type, &merge.index)
                    .await;
                match put {
                    Ok(_) => {}
                    // An index naming a manifest the registry has not linked yet (a
                    // concurrent writer's, just pushed): try again.
                    Err(e)
                        if (blob_race(&e) || e.has_code("MANIFEST_UNKNOWN"))
                            && attempt < MAX_WRITES =>
                    {
                        tracing::info!("{place}: {e}; writing again");
                        continue;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!("cannot write {place}")))
                    }
                }
                *wrote = true;
                slowest = slowest.max(read_at.elapsed());
                bundle::parse_referrers_index(&merge.index).map_err(|e| {
                    anyhow::anyhow!("pinsign built an unreadable referrers index for {place}: {e}")
                })?
            }
        };
        let window = Window::after(registry, slowest);
        window.log_late(&place);
        match settle(registry, repo, digest, &tag, &written, &window).await? {
            Settled::Kept { entries } => return Ok(entries),
            Settled::Lost => {
                tracing::info!(
                    "{place}: a concurrent write dropped referrers (attempt {attempt}); merging again"
                );
                keep = Some(written);
            }
        }
    }
    anyhow::bail!(
        "{place} kept changing under concurrent writers; gave up after {MAX_WRITES} writes (no referrer was removed; sign again)"
    )
}

enum Settled {
    /// The index lists everything we wrote; how many entries it has.
    Kept { entries: usize },
    /// Something we wrote is missing.
    Lost,
}

/// Read the index back over the settle window (see the module header). A tag turned into
/// something pinsign cannot read stops the write with an error.
async fn settle(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
    tag: &Tag,
    written: &ReferrersIndex,
    window: &Window,
) -> anyhow::Result<Settled> {
    let mut last = written.digest().clone();
    let mut entries = written.entries().len();
    let pauses = window.pauses();
    let mut quiet = 0;
    while quiet < pauses.len() {
        crate::batch::idle(tokio::time::sleep(pauses[quiet])).await;
        let Some(head) = registry.head_manifest(repo, tag.as_str()).await? else {
            return Ok(Settled::Lost);
        };
        if head.digest == last {
            quiet += 1;
            continue;
        }
        // Someone wrote after us: does their index still list everything ours did?
        match read_referrers_tag(registry, repo, digest).await? {
            Some(now) if missing_referrers(Some(&now), Some(written), &[]).is_empty() => {
                last = now.digest().clone();
                entries = now.entries().len();
                quiet = 0;
            }
            _ => return Ok(Settled::Lost),
        }
    }
    Ok(Settled::Kept { entries })
}
