//! Reading a referrers list: from the registry's referrers API, or from the referrers tag index
//! (`sha256-<hex>`, the OCI referrers tag schema) on a registry without one.
//!
//! With [`ReferrersVia::Auto`] the API is asked first and the tag read only when the registry
//! has no API (remembered per registry by [`Registry::list_referrers`]): that is the order of
//! the distribution spec, go-containerregistry and cosign v3. A list pinsign cannot read (a
//! referrers tag holding an image manifest, an API answer that is no index) is an
//! [`UnreadableList`] error: the signer stops without writing, the verifier reports it and
//! looks elsewhere.

use super::{ReferrersVia, Via};
use crate::bundle::{self, ReferrersIndex};
use crate::reference::{Digest, Repository, Tag};
use crate::registry::{ReferrersList, Registry, RegistryError};

/// A referrers list as read.
#[derive(Debug, Clone)]
pub struct Listing {
    /// [`Via::ReferrersApi`] or [`Via::ReferrersTag`].
    pub via: Via,
    /// What was read, for messages: `the referrers of REG/REPO@sha256:...` or
    /// `REG/REPO:sha256-<hex>`.
    pub place: String,
    /// The list; `None` when the referrers tag does not exist (nothing listed yet).
    pub index: Option<ReferrersIndex>,
}

impl Listing {
    /// The referrers tag (`REG/REPO:sha256-<hex>`) when the list came from it.
    pub fn index_ref(&self) -> Option<&str> {
        (self.via == Via::ReferrersTag).then_some(self.place.as_str())
    }
}

/// A referrers list that is there but is not one pinsign reads (see the module header).
#[derive(Debug, thiserror::Error)]
#[error("{place} {problem}")]
pub struct UnreadableList {
    pub place: String,
    pub problem: String,
}

/// `REG/REPO:sha256-<hex>`.
pub(super) fn tag_place(repo: &Repository, digest: &Digest) -> String {
    format!("{repo}:{}", Tag::referrers_of(digest))
}

/// List the referrers of `digest` in `repo`, the way `how` says.
pub async fn list_referrers(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
    how: ReferrersVia,
) -> anyhow::Result<Listing> {
    if how != ReferrersVia::Tag {
        match registry.list_referrers(repo, digest).await? {
            ReferrersList::Api(bytes) => {
                let place = format!("the referrers of {repo}@{digest}");
                let index = bundle::parse_referrers_index(&bytes).map_err(|e| UnreadableList {
                    place: place.clone(),
                    problem: format!("are not a readable OCI index ({e})"),
                })?;
                return Ok(Listing {
                    via: Via::ReferrersApi,
                    place,
                    index: Some(index),
                });
            }
            ReferrersList::NoApi { answer } if how == ReferrersVia::Api => {
                return Err(RegistryError::ReferrersUnsupported {
                    registry: repo.registry().to_string(),
                    answer,
                }
                .into())
            }
            ReferrersList::NoApi { .. } => {}
        }
    }
    Ok(Listing {
        via: Via::ReferrersTag,
        place: tag_place(repo, digest),
        index: read_referrers_tag(registry, repo, digest).await?,
    })
}

/// The referrers tag index of `digest` in `repo`: `None` when the tag does not exist. A tag
/// holding anything else is an [`UnreadableList`] (never overwritten, never read as bundles).
pub(super) async fn read_referrers_tag(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
) -> anyhow::Result<Option<ReferrersIndex>> {
    let tag = Tag::referrers_of(digest);
    let Some(manifest) = registry.get_manifest(repo, tag.as_str()).await? else {
        return Ok(None);
    };
    bundle::parse_referrers_index(&manifest.bytes)
        .map(Some)
        .map_err(|e| {
            UnreadableList {
                place: tag_place(repo, digest),
                problem: format!("is not a referrers index pinsign can read ({e})"),
            }
            .into()
        })
}
