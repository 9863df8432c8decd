//! [`PinnedImage`]: an image the registry vouched for, the only thing pinsign signs.
//!
//! Its constructor is private to the registry module: outside code gets one only from
//! [`Registry::resolve`](super::Registry::resolve) (a tag or digest the registry answered
//! for), [`Registry::confirm_pushed`](super::Registry::confirm_pushed) (what buildah or
//! skopeo pushed, confirmed by digest and tag) or
//! [`Registry::index_children`](super::Registry::index_children) (children of a pinned
//! index, each confirmed to exist). So "never sign a tag" and "never sign a digest nobody
//! checked" are kept by the compiler, not by convention.
//!
//! It carries the manifest's full descriptor (media type, digest, size) as the registry
//! served it, because a referrers artifact's `subject` must name exactly that.

use std::fmt;

use super::Descriptor;
use crate::reference::{Digest, Repository, Tag};

/// An image pinned to a digest the registry vouched for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PinnedImage {
    repository: Repository,
    descriptor: Descriptor,
}

impl PinnedImage {
    /// Private to the registry module on purpose (see the module header).
    pub(super) fn new(repository: Repository, descriptor: Descriptor) -> PinnedImage {
        PinnedImage {
            repository,
            descriptor,
        }
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// The manifest's descriptor as the registry served it (a referrer's `subject`).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    pub fn media_type(&self) -> &str {
        &self.descriptor.media_type
    }

    /// True for an OCI index or a Docker manifest list.
    pub fn is_index(&self) -> bool {
        super::is_index(&self.descriptor.media_type)
    }

    /// The cosign signature tag for this digest: `sha256-<hex>.sig`.
    pub fn signature_tag(&self) -> Tag {
        Tag::signature_of(self.digest())
    }
}

impl fmt::Display for PinnedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.descriptor.digest)
    }
}

impl serde::Serialize for PinnedImage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Pinned images for unit tests elsewhere in the crate, which have no registry to ask.
#[cfg(test)]
pub(crate) fn for_tests(reference: &str, media_type: &str, size: u64) -> PinnedImage {
    let r = crate::reference::ImageRef::parse(reference).expect("valid test reference");
    let digest = r.digest().expect("test reference has a digest").clone();
    PinnedImage::new(
        r.repository().clone(),
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "4c1c50d0c5ad3d3b1df88b3b5ff3e6c7fc8bca2c0b7a56a08c0f4bd1a0bd6fb3";

    #[test]
    fn signature_tag_and_display() {
        let p = for_tests(
            &format!("127.0.0.1:5000/team/app@sha256:{HEX}"),
            super::super::OCI_MANIFEST,
            100,
        );
        assert_eq!(p.signature_tag().as_str(), format!("sha256-{HEX}.sig"));
        assert_eq!(
            p.to_string(),
            format!("127.0.0.1:5000/team/app@sha256:{HEX}")
        );
        assert!(!p.is_index());
    }
}
