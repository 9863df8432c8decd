//! The `sha256-<hex>.sig` tag: append a signature layer, keeping every layer already there,
//! and confirm it stuck (see the module header of [`crate::storage`]).

use std::time::Duration;

use super::{blob_race, push_blobs, Format, Stored, Via};
use crate::reference::{Digest, Repository};
use crate::registry::Registry;
use crate::signature::{self, SigManifest, SignatureLayer};

/// Delays between read-backs of the `.sig` tag after a write. A read that finds the tag
/// changed restarts the window, so pinsign only stops once the tag has been quiet.
/// (Measured on Distribution: one immediate read-back lost 3 to 5 of 8 concurrent
/// signatures; three reads over ~0.3 s lost none.)
pub(super) const SETTLE: [Duration; 3] = [
    Duration::from_millis(40),
    Duration::from_millis(120),
    Duration::from_millis(200),
];
/// How many times to re-merge and write before giving up on a contended tag.
pub(super) const MAX_WRITES: usize = 12;
/// First wait before writing a contended tag again (see [`crate::backoff`]).
pub(super) const WRITE_BACKOFF: Duration = Duration::from_millis(20);

/// Add one signature layer to its image's `.sig` tag, in the image's repository or in
/// `sig_repo`, keeping every layer already there byte for byte, and confirm it stuck.
pub async fn store_in_tag(
    registry: &Registry,
    layer: &SignatureLayer,
    sig_repo: Option<&Repository>,
) -> anyhow::Result<Stored> {
    let image = layer.image();
    let sig_repo = sig_repo.unwrap_or(image.repository());
    let tag = image.signature_tag();
    let signature_ref = format!("{sig_repo}:{tag}");
    let ours = std::slice::from_ref(layer);
    let previous = read_sig_manifest(registry, sig_repo, tag.as_str(), &signature_ref).await?;
    let mut outcome = signature::merge(previous.as_ref(), ours);
    if !outcome.changed {
        let current = previous.as_ref().map(|m| m.layers().len()).unwrap_or(0);
        return Ok(Stored {
            signature_ref,
            manifest_digest: previous
                .as_ref()
                .map(|m| m.digest().clone())
                .unwrap_or(outcome.digest),
            layers: current,
            changed: false,
            format: Format::SimpleSigning,
            via: Via::SigTag,
            index: None,
        });
    }
    let mut uploaded: Vec<Digest> = Vec::new();
    // Our payload blob is not uploaded when a layer already there has the same payload (every
    // signer of a digest makes the same one). Once the registry says a blob is unknown, it may
    // be that one (lost link, deleted blob): upload it too, since we hold its bytes.
    let mut own_blob_too = false;
    for attempt in 1..=MAX_WRITES {
        push_blobs(registry, sig_repo, &outcome.blobs, &mut uploaded).await?;
        if own_blob_too {
            push_blobs(
                registry,
                sig_repo,
                std::slice::from_ref(&layer.blob()),
                &mut uploaded,
            )
            .await?;
        }
        let put = registry
            .put_manifest(
                sig_repo,
                tag.as_str(),
                outcome.media_type,
                &outcome.manifest,
            )
            .await;
        match put {
            Ok(_) => {}
            // Distribution briefly loses a blob link while another signer uploads the same
            // payload blob: upload everything again and retry the write.
            Err(e) if blob_race(&e) && attempt < MAX_WRITES => {
                tracing::info!("{signature_ref}: {e}; uploading blobs again");
                uploaded.clear();
                own_blob_too = true;
                crate::backoff::sleep(WRITE_BACKOFF, attempt as u32).await;
                continue;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("cannot write {signature_ref}")))
            }
        }
        // Every layer of what we just wrote (earlier signers' and ours) must survive.
        let written = signature::parse_sig_manifest(&outcome.manifest).map_err(|e| {
            anyhow::anyhow!("pinsign built an unreadable manifest for {signature_ref}: {e}")
        })?;
        match settle(registry, sig_repo, &tag, &written, &signature_ref).await? {
            Settled::Kept { digest, layers } => {
                return Ok(Stored {
                    signature_ref,
                    manifest_digest: digest,
                    layers,
                    changed: true,
                    format: Format::SimpleSigning,
                    via: Via::SigTag,
                    index: None,
                })
            }
            Settled::Lost(current) => {
                tracing::info!(
                    "{signature_ref}: a concurrent write dropped layers (attempt {attempt}); merging again"
                );
                // Keep what is there now and put back what our write had.
                outcome = signature::remerge(current.as_ref(), Some(&written), ours);
                crate::backoff::sleep(WRITE_BACKOFF, attempt as u32).await;
            }
        }
    }
    anyhow::bail!(
        "{signature_ref} kept changing under concurrent writers; gave up after {MAX_WRITES} writes (no signature was removed; run sign-digest again)"
    )
}

pub(super) enum Settled {
    /// The tag holds everything we need; its digest and layer count.
    Kept { digest: Digest, layers: usize },
    /// The tag lost something; what it holds now.
    Lost(Option<SigManifest>),
}

/// Read the tag back over the settle window. HEAD is enough while the tag still has the
/// digest we last saw; a different digest is fetched and must still hold every layer of
/// `written`. A change restarts the window, so we stop only once the tag is quiet.
pub(super) async fn settle(
    registry: &Registry,
    sig_repo: &Repository,
    tag: &crate::reference::Tag,
    written: &SigManifest,
    signature_ref: &str,
) -> anyhow::Result<Settled> {
    let mut last = written.digest().clone();
    let mut layers = written.layers().len();
    let mut quiet = 0;
    while quiet < SETTLE.len() {
        tokio::time::sleep(SETTLE[quiet]).await;
        let head = registry.head_manifest(sig_repo, tag.as_str()).await?;
        let Some(head) = head else {
            return Ok(Settled::Lost(None));
        };
        if head.digest == last {
            quiet += 1;
            continue;
        }
        // Someone wrote after us: does their manifest still hold everything?
        let current = read_sig_manifest(registry, sig_repo, tag.as_str(), signature_ref).await?;
        match current {
            Some(m) if signature::contains_all(&m, Some(written), &[]) => {
                last = m.digest().clone();
                layers = m.layers().len();
                quiet = 0;
            }
            other => return Ok(Settled::Lost(other)),
        }
    }
    Ok(Settled::Kept {
        digest: last,
        layers,
    })
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
