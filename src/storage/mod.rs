/*!
Where signatures live in a registry: writing them and reading them back for verification.

This composes [`crate::registry`] (I/O) with [`crate::signature`] and [`crate::bundle`] (formats):

- [`tag`]: the `sha256-<hex>.sig` tag. It is read-modify-write with no compare-and-swap, so
  another signer that read before our write can overwrite it a moment later. After writing,
  we read the tag back over a settle window and merge again whenever a layer that was there
  before, or ours, is missing. No signature is ever dropped.
- [`referrers`]: cosign's OCI 1.1 signature artifact, pushed by digest beside its subject.
- [`bundle`]: Sigstore bundles (cosign v3): a referrer manifest pushed by digest, listed by the
  registry's referrers API or, on a registry without one, in the referrers tag index
  (`sha256-<hex>`), which is read-merge-write with the same settle loop as the `.sig` tag.
- [`listing`]: reading a referrers list, from the API or the referrers tag.
- [`fetch`]: reading every stored signature of an image, each with its payload or bundle.
- [`prune`]: taking a retired key's signatures out again (its `.sig` layers, its referrer
  artifacts), only where the kept key's signature verifies, with the same settle as signing.
*/

mod bundle;
mod fetch;
mod listing;
mod prune;
mod referrers;
mod tag;

pub use bundle::store_bundle;
pub use fetch::{fetch_from_referrers, fetch_from_tag, fetch_referrers, Found, FoundItem, Skipped};
pub use listing::{list_referrers, Listing};
pub use prune::{prune_referrers, prune_tag, PruneKeys, PruneOutcome, PruneReport};
pub use referrers::store_as_referrer;
pub use tag::store_in_tag;

use crate::reference::{Digest, Repository};
use crate::registry::{Registry, RegistryError};
use crate::signature::{Blob, BlobData};

/// Which signature format: cosign's simple signing (`.sig` tag, or a `artifact.sig.v1`
/// referrer), or a Sigstore bundle (cosign v3's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[serde(rename = "simplesigning")]
    SimpleSigning,
    Bundle,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::SimpleSigning => "simplesigning",
            Format::Bundle => "bundle",
        }
    }
}

/// How a signature was found, or written: the `.sig` tag, the referrers API, or the referrers
/// tag index (`sha256-<hex>`, the OCI referrers tag schema for registries without the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    SigTag,
    ReferrersApi,
    ReferrersTag,
    /// Not from a registry: a bundle file given on the command line (`verify --bundle`).
    File,
}

impl Via {
    /// `.sig tag`, `referrers API`, `referrers tag`, `file`: for text output.
    pub fn describe(self) -> &'static str {
        match self {
            Via::SigTag => ".sig tag",
            Via::ReferrersApi => "referrers API",
            Via::ReferrersTag => "referrers tag",
            Via::File => "file",
        }
    }
}

/// Where a referrer is listed, for writing bundles and for reading referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ReferrersVia {
    /// The referrers API when the registry has one, else the referrers tag index; what cosign
    /// v3 (go-containerregistry's `remote.Put`) does. Found out once per registry per process.
    #[default]
    Auto,
    /// The referrers API only; a registry without it is an error (nothing is written).
    Api,
    /// The referrers tag index only (`sha256-<hex>`), kept even where the registry has the API.
    Tag,
}

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
    pub format: Format,
    /// How verifiers find it.
    pub via: Via,
    /// The referrers tag index that lists it (`REG/REPO:sha256-<hex>`), when [`Via::ReferrersTag`].
    pub index: Option<String>,
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

/// A manifest PUT refused because a blob it names is (momentarily) unknown: Distribution
/// briefly loses a blob link while another writer uploads the same blob.
pub(crate) fn blob_race(e: &RegistryError) -> bool {
    e.has_code("BLOB_UNKNOWN")
        || e.has_code("MANIFEST_BLOB_UNKNOWN")
        || e.has_code("DIGEST_INVALID")
}
