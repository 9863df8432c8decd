//! Manifests: resolving references to digests, reading (always checked against a digest),
//! writing, indexes and platforms (the OCI 1.1 referrers list is in `referrers`).

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;

use super::client::{
    accept_manifests, check_status, content_type, header_str, header_value, Access,
};
use super::{
    parse_index, Descriptor, Manifest, PinnedImage, Platform, Registry, RegistryError,
    MAX_MANIFEST_BYTES,
};
use crate::reference::{Digest, ImageRef, Repository, Tag};

impl Registry {
    /// Resolve a reference to the digest the registry serves: one HEAD; a GET plus hash
    /// only if the HEAD lacks the digest, size or media type. A digest reference is
    /// checked to exist, never trusted blindly.
    pub async fn resolve(&self, image: &ImageRef) -> Result<PinnedImage, RegistryError> {
        let repo = image.repository();
        let reference = image.manifest_reference();
        let desc = match self.head_manifest(repo, &reference).await? {
            Some(d) => d,
            None => return Err(not_found_manifest(image, repo)),
        };
        if let Some(asked) = image.digest() {
            if desc.digest != *asked {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry().to_string(),
                    what: format!("manifest {asked} of {repo}"),
                    expected: asked.to_string(),
                    actual: desc.digest.to_string(),
                });
            }
        }
        Ok(PinnedImage::new(repo.clone(), desc))
    }

    /// Pin what buildah or skopeo says it pushed: the manifest must exist by digest, and
    /// `tag` must point at it now (anything else means the tag was re-pointed after the
    /// push, and nothing may be signed).
    pub async fn confirm_pushed(
        &self,
        repo: &Repository,
        digest: &Digest,
        tag: &Tag,
    ) -> anyhow::Result<PinnedImage> {
        let desc = self
            .head_manifest(repo, digest.as_str())
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("pushed manifest {digest}"),
                repository: repo.to_string(),
            })?;
        anyhow::ensure!(
            desc.digest == *digest,
            "{repo}@{digest} is served as {}",
            desc.digest
        );
        let by_tag = self
            .head_manifest(repo, tag.as_str())
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!("tag {tag} vanished from {repo} right after the push")
            })?;
        anyhow::ensure!(
            by_tag.digest == *digest,
            "{repo}:{tag} points at {} but the push wrote {digest}: something re-pointed the tag; not signing",
            by_tag.digest
        );
        Ok(PinnedImage::new(repo.clone(), desc))
    }

    /// The child manifests of a pinned index, in index order, each confirmed to exist with
    /// a HEAD by digest (an index may list a child that was never pushed).
    pub async fn index_children(&self, index: &PinnedImage) -> anyhow::Result<Vec<PinnedImage>> {
        let parsed = self.get_index(index).await?;
        let mut children = Vec::with_capacity(parsed.manifests.len());
        for entry in parsed.manifests {
            let digest = Digest::parse(&entry.digest).map_err(|e| {
                anyhow::anyhow!("index {index} lists a bad digest {:?}: {e}", entry.digest)
            })?;
            children.push(self.pin_child(index, &digest).await?);
        }
        Ok(children)
    }

    /// A child of `index` by digest, confirmed to exist.
    async fn pin_child(&self, index: &PinnedImage, digest: &Digest) -> anyhow::Result<PinnedImage> {
        let repo = index.repository();
        let desc = self
            .head_manifest(repo, digest.as_str())
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!("index {index} lists {digest}, which {repo} does not have")
            })?;
        Ok(PinnedImage::new(repo.clone(), desc))
    }

    /// HEAD a manifest by tag or digest; `None` when it does not exist. A HEAD that lacks
    /// `Docker-Content-Digest`, `Content-Length` or `Content-Type` is completed by a GET
    /// (the bytes hashed and counted), so a descriptor never has a guessed size or type.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Descriptor>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", repo.path());
        let Some(resp) = self
            .fetch(repo, Method::HEAD, &path, accept_manifests())
            .await?
        else {
            return Ok(None);
        };
        let headers = resp.headers();
        let media_type = content_type(headers).filter(|m| !m.is_empty());
        let size = header_str(headers, "content-length").and_then(|s| s.parse::<u64>().ok());
        let digest = header_str(headers, "docker-content-digest")
            .map(|d| {
                Digest::parse(&d).map_err(|e| RegistryError::Protocol {
                    registry: repo.registry().to_string(),
                    detail: format!("Docker-Content-Digest {d:?} is not a digest: {e}"),
                })
            })
            .transpose()?;
        if let (Some(media_type), Some(size), Some(digest)) = (media_type, size, digest) {
            return Ok(Some(Descriptor {
                media_type,
                digest,
                size,
            }));
        }
        // Incomplete: fetch and hash (get_manifest checks it against a digest reference).
        let Some(m) = self.get_manifest(repo, reference).await? else {
            return Ok(None);
        };
        if m.media_type.is_empty() {
            return Err(RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: format!(
                    "{repo}:{reference} is served with no media type (no Content-Type and none in the manifest)"
                ),
            });
        }
        Ok(Some(Descriptor {
            media_type: m.media_type,
            size: m.bytes.len() as u64,
            digest: m.digest,
        }))
    }

    /// GET a manifest by tag or digest; `None` when it does not exist. The bytes are
    /// checked against the requested digest, or against the digest the registry claims.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", repo.path());
        let Some(resp) = self
            .fetch(repo, Method::GET, &path, accept_manifests())
            .await?
        else {
            return Ok(None);
        };
        let media_type = content_type(resp.headers());
        let claimed = header_str(resp.headers(), "docker-content-digest");
        let bytes = self
            .read_capped(repo, resp, MAX_MANIFEST_BYTES, &path)
            .await?;
        let digest = Digest::of(&bytes);
        let expected = Digest::parse(reference)
            .ok()
            .or_else(|| claimed.as_deref().and_then(|c| Digest::parse(c).ok()));
        if let Some(expected) = expected {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry().to_string(),
                    what: format!("manifest {reference} of {repo}"),
                    expected: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        // The body's own mediaType wins over a generic Content-Type.
        let media_type = serde_json::from_slice::<MediaTypeOnly>(&bytes)
            .ok()
            .and_then(|m| m.media_type)
            .or(media_type)
            .unwrap_or_default();
        Ok(Some(Manifest {
            bytes,
            media_type,
            digest,
        }))
    }

    /// PUT a manifest under a tag or its digest. Returns its digest, checked against what
    /// the registry says it stored.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let path = format!("/v2/{}/manifests/{reference}", repo.path());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, header_value(media_type));
        let resp = self
            .send(
                repo,
                Method::PUT,
                &path,
                Access::Push,
                headers,
                Some(bytes.to_vec()),
            )
            .await?;
        let resp = check_status(repo, "PUT", &path, resp).await?;
        let digest = Digest::of(bytes);
        if let Some(stored) = header_str(resp.headers(), "docker-content-digest") {
            if stored != digest.as_str() {
                return Err(RegistryError::DigestMismatch {
                    registry: repo.registry().to_string(),
                    what: format!("the manifest just pushed to {repo}:{reference}"),
                    expected: digest.to_string(),
                    actual: stored,
                });
            }
        }
        Ok(digest)
    }

    /// DELETE a manifest by digest (a tag is never deleted this way: registries refuse it,
    /// and a digest names exactly what was judged). `false` when it was already gone.
    pub async fn delete_manifest(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/manifests/{digest}", repo.path());
        let resp = self
            .send(
                repo,
                reqwest::Method::DELETE,
                &path,
                Access::Delete,
                HeaderMap::new(),
                None,
            )
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check_status(repo, "DELETE", &path, resp).await?;
        Ok(true)
    }

    /// For an index, the child manifest for `platform` (confirmed to exist); the error
    /// lists the platforms the index has. A single manifest is returned unchanged if its
    /// config says it is that platform. Returns the image and its `os/arch[/variant]`.
    pub async fn resolve_platform(
        &self,
        image: PinnedImage,
        platform: &Platform,
    ) -> anyhow::Result<(PinnedImage, Platform)> {
        if !image.is_index() {
            let own = self.single_platform(&image).await?;
            anyhow::ensure!(
                platform.matches(&own),
                "{image} is a single-platform {own} image, not {platform}"
            );
            return Ok((image, own));
        }
        let index = self.get_index(&image).await?;
        let mut available = Vec::new();
        for entry in &index.manifests {
            let Some(p) = &entry.platform else { continue };
            let p = Platform::of_entry(p);
            if platform.matches(&p) {
                let digest = Digest::parse(&entry.digest).map_err(|e| {
                    anyhow::anyhow!("index {image} lists a bad digest {:?}: {e}", entry.digest)
                })?;
                return Ok((self.pin_child(&image, &digest).await?, p));
            }
            available.push(p.to_string());
        }
        anyhow::bail!(
            "{image} has no {platform} image; it has: {}",
            if available.is_empty() {
                "no platforms listed".to_string()
            } else {
                available.join(", ")
            }
        )
    }

    /// The platform a single manifest's config names (one GET of the manifest and one of
    /// its config blob, spent only when `--platform` was asked for).
    async fn single_platform(&self, image: &PinnedImage) -> anyhow::Result<Platform> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(default)]
            os: String,
            #[serde(default)]
            architecture: String,
            variant: Option<String>,
        }
        let repo = image.repository();
        let manifest = self
            .get_manifest(repo, image.digest().as_str())
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("manifest {}", image.digest()),
                repository: repo.to_string(),
            })?;
        let parsed: oci_client::manifest::OciImageManifest =
            serde_json::from_slice(&manifest.bytes)
                .map_err(|e| anyhow::anyhow!("{image} is not a readable image manifest: {e}"))?;
        let config_digest = Digest::parse(&parsed.config.digest)
            .map_err(|e| anyhow::anyhow!("{image} names a bad config digest: {e}"))?;
        let config = self
            .get_blob(repo, &config_digest, MAX_MANIFEST_BYTES)
            .await?;
        let config: Config = serde_json::from_slice(&config)
            .map_err(|e| anyhow::anyhow!("the config of {image} is not readable: {e}"))?;
        Ok(Platform {
            os: config.os,
            architecture: config.architecture,
            variant: config.variant.filter(|v| !v.is_empty()),
        })
    }

    /// GET and parse an index by digest (checked against the digest).
    pub async fn get_index(
        &self,
        image: &PinnedImage,
    ) -> anyhow::Result<oci_client::manifest::OciImageIndex> {
        let repo = image.repository();
        let manifest = self
            .get_manifest(repo, image.digest().as_str())
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("manifest {}", image.digest()),
                repository: repo.to_string(),
            })?;
        parse_index(&manifest.bytes)
            .map_err(|e| anyhow::anyhow!("{image} is not a readable image index: {e}"))
    }
}

#[derive(serde::Deserialize)]
struct MediaTypeOnly {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

fn not_found_manifest(image: &ImageRef, repo: &Repository) -> RegistryError {
    let what = match (image.digest(), image.effective_tag()) {
        (Some(d), _) => format!("manifest {d}"),
        (None, Some(t)) => format!("tag {t}"),
        (None, None) => "manifest".to_string(),
    };
    RegistryError::NotFound {
        what,
        repository: repo.to_string(),
    }
}
