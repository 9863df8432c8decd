//! Reading an image's stored signatures: every layer with its payload blob.

use std::collections::HashMap;

use crate::media_types::SIG_ARTIFACT;
use crate::reference::{Digest, Repository};
use crate::registry::{PinnedImage, Registry, RegistryError};
use crate::signature::{self, FetchedLayer};

/// The largest payload blob pinsign reads (cosign payloads are a few hundred bytes).
const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Where a signature layer was found, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    /// `REG/REPO:sha256-<hex>.sig` or `REG/REPO@sha256:<artifact>`.
    pub location: String,
    #[serde(skip)]
    pub layer: FetchedLayer,
    /// Why the payload blob could not be fetched intact (its digest did not match, or the
    /// registry does not have it); such a layer never verifies.
    #[serde(skip)]
    pub fetch_error: Option<String>,
}

/// Signatures stored in the `.sig` tag: every layer with its payload blob (fetched once
/// per distinct digest). `None` when there is no `.sig` tag.
pub async fn fetch_from_tag(
    registry: &Registry,
    image: &PinnedImage,
    sig_repo: &Repository,
) -> anyhow::Result<Option<Vec<Found>>> {
    let tag = image.signature_tag();
    let location = format!("{sig_repo}:{tag}");
    let Some(manifest) = registry.get_manifest(sig_repo, tag.as_str()).await? else {
        return Ok(None);
    };
    let parsed = signature::parse_sig_manifest(&manifest.bytes).map_err(|e| {
        anyhow::anyhow!("{location} is not a readable cosign signature manifest: {e}")
    })?;
    let layers = fetch_layers(registry, sig_repo, parsed.layers()).await?;
    Ok(Some(
        layers
            .into_iter()
            .map(|(layer, fetch_error)| Found {
                location: location.clone(),
                layer,
                fetch_error,
            })
            .collect(),
    ))
}

/// Signatures attached through the referrers API. `Err` with
/// [`RegistryError::ReferrersUnsupported`] in the chain when the registry lacks it.
pub async fn fetch_from_referrers(
    registry: &Registry,
    image: &PinnedImage,
) -> anyhow::Result<Vec<Found>> {
    let repo = image.repository();
    let entries = registry
        .referrers(repo, image.digest(), Some(SIG_ARTIFACT))
        .await?;
    let mut out = Vec::new();
    for entry in entries {
        let location = format!("{repo}@{}", entry.digest);
        let manifest = registry
            .get_manifest(repo, &entry.digest)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!("{location} is listed as a referrer but does not exist")
            })?;
        let artifact = signature::parse_referrers_artifact(&manifest.bytes)
            .map_err(|e| anyhow::anyhow!("{location} is not a readable signature artifact: {e}"))?;
        if let Err(e) = artifact.check_subject(image.digest()) {
            tracing::warn!("{location}: {e}");
            continue;
        }
        for (layer, fetch_error) in fetch_layers(registry, repo, &artifact.layers).await? {
            out.push(Found {
                location: location.clone(),
                layer,
                fetch_error,
            });
        }
    }
    Ok(out)
}

/// Fetch each simple-signing layer's payload blob once per digest. A blob that fails its
/// digest check or is missing comes back empty with the reason, so verification reports it
/// per layer instead of failing the whole image.
pub(super) async fn fetch_layers(
    registry: &Registry,
    repo: &Repository,
    layers: &[signature::LayerDescriptor],
) -> anyhow::Result<Vec<(FetchedLayer, Option<String>)>> {
    let mut blobs: HashMap<Digest, (Vec<u8>, Option<String>)> = HashMap::new();
    let mut out = Vec::new();
    for descriptor in layers {
        if !descriptor.is_simplesigning() {
            continue;
        }
        let digest = descriptor.digest().clone();
        if !blobs.contains_key(&digest) {
            let fetched = match registry.get_blob(repo, &digest, MAX_PAYLOAD_BYTES).await {
                Ok(b) => (b, None),
                Err(e @ RegistryError::DigestMismatch { .. }) => {
                    (Vec::new(), Some(format!("payload blob rejected: {e}")))
                }
                Err(e @ RegistryError::NotFound { .. }) => {
                    (Vec::new(), Some(format!("payload blob missing: {e}")))
                }
                Err(e) => return Err(e.into()),
            };
            blobs.insert(digest.clone(), fetched);
        }
        let (blob, error) = &blobs[&digest];
        out.push((
            FetchedLayer {
                descriptor: descriptor.clone(),
                blob: blob.clone(),
            },
            error.clone(),
        ));
    }
    Ok(out)
}
