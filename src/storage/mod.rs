/*!
Where signatures live in a registry: writing them and reading them back for verification.

This composes [`crate::registry`] (I/O) and [`crate::signature`] (formats):

- [`tag`]: the `sha256-<hex>.sig` tag. It is read-modify-write with no compare-and-swap, so
  another signer that read before our write can overwrite it a moment later. After writing,
  we read the tag back over a settle window and merge again whenever a layer that was there
  before, or ours, is missing. No signature is ever dropped.
- [`referrers`]: cosign's OCI 1.1 signature artifact, pushed by digest beside its subject.
- [`fetch`]: reading every stored signature of an image, each layer with its payload.
- [`prune`]: taking a retired key's signatures out again (its `.sig` layers, its referrer
  artifacts), only where the kept key's signature verifies, with the same settle as signing.
*/

mod fetch;
mod prune;
mod referrers;
mod tag;

pub use fetch::{fetch_from_referrers, fetch_from_tag, Found};
pub use prune::{prune_referrers, prune_tag, PruneKeys, PruneOutcome, PruneReport};
pub use referrers::store_as_referrer;
pub use tag::store_in_tag;

use crate::reference::{Digest, Repository};
use crate::registry::{Registry, RegistryError};
use crate::signature::{Blob, BlobData};

/// What a signature write did.
#[derive(Debug, Clone)]
pub struct Stored {
    /// `REG/REPO:sha256-<hex>.sig` or `REG/REPO@sha256:<artifact>`.
    pub signature_ref: String,
    /// Digest of the manifest that holds the signature now.
    pub manifest_digest: Digest,
    /// Layers in that manifest.
    pub layers: usize,
    /// False when the same signature was already there (nothing written).
    pub changed: bool,
}

/// Upload the blobs marked for upload that this process has not uploaded yet.
pub(crate) async fn push_blobs(
    registry: &Registry,
    repo: &Repository,
    blobs: &[Blob],
    uploaded: &mut Vec<Digest>,
) -> Result<(), RegistryError> {
    for blob in blobs {
        if let BlobData::Upload(bytes) = &blob.data {
            if uploaded.contains(&blob.digest) {
                continue;
            }
            registry.push_blob(repo, &blob.digest, bytes).await?;
            uploaded.push(blob.digest.clone());
        }
    }
    Ok(())
}
