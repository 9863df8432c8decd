/*!
Where signatures live in a registry: writing them and reading them back for verification.

This composes [`crate::registry`] (I/O) with [`crate::signature`] and [`crate::bundle`] (formats):

- [`tag`]: the `sha256-<hex>.sig` tag. It is read-modify-write with no compare-and-swap, so
  another signer that read before our write can overwrite it a moment later. After writing,
  we read the tag back over a settle window ([`window`]: a few round trips as this process
  measures them, longer after a slow write) and merge again whenever a layer that was there
  before, or ours, is missing. With `--mode both` the layers of the image's signature
  referrers are merged in too, so the last writer to finish restores what a late write
  dropped; `--repair` does only that.
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
mod window;

pub use bundle::store_bundle;
pub use fetch::{fetch_from_referrers, fetch_from_tag, fetch_referrers, Found, FoundItem, Skipped};
pub use listing::{list_referrers, Listing};
pub use prune::{prune_referrers, prune_tag, PruneKeys, PruneOutcome, PruneReport};
pub use referrers::{store_as_referrer, store_both};
pub use tag::{repair_tag, store_in_tag, Repaired};

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
    /// What the user should know (layers dropped because their blobs are gone, a write that
    /// landed so late it may have overwritten another signer's).
    pub warnings: Vec<String>,
}

/// A signature that was written, after which reading it back failed: it is most likely there,
/// but pinsign could not confirm that it stayed (a concurrent writer may have dropped it).
#[derive(Debug, thiserror::Error)]
#[error("the signature was written to {signature_ref}, but pinsign could not confirm that it stayed: {cause}; run sign-digest again (it says already there when the signature is in place)")]
pub struct Unconfirmed {
    pub signature_ref: String,
    pub cause: String,
}

/// Upload `blobs` (the `Upload` ones) at the same time: the uploads of one signature (payload,
/// config) cost one round trip of wall time, not one each.
pub(crate) async fn push_blobs_concurrently(
    registry: &Registry,
    repo: &Repository,
    blobs: &[Blob],
) -> Result<(), RegistryError> {
    let uploads = blobs.iter().filter_map(|blob| match &blob.data {
        BlobData::Upload(bytes) => Some(registry.push_blob(repo, &blob.digest, bytes)),
        BlobData::Existing => None,
    });
    futures::future::try_join_all(uploads).await.map(|_| ())
}

/// A manifest PUT refused because a blob it names is (momentarily) unknown: Distribution
/// briefly loses a blob link while another writer uploads the same blob.
pub(crate) fn blob_race(e: &RegistryError) -> bool {
    e.has_code("BLOB_UNKNOWN")
        || e.has_code("MANIFEST_BLOB_UNKNOWN")
        || e.has_code("DIGEST_INVALID")
}
