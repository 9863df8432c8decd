//! Manifests: resolving references to digests, reading (always checked against a digest),
//! writing, indexes and platforms, and the OCI 1.1 referrers list.

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::Method;

use super::client::{
    accept_manifests, check_status, content_type, header_str, header_value, read_capped, Access,
};
use super::{
    is_index, parse_index, Descriptor, Manifest, Platform, Registry, RegistryError, Resolved,
    MAX_MANIFEST_BYTES, OCI_INDEX,
};
use crate::reference::{Digest, ImageRef, PinnedImage, Repository};

impl Registry {
    /// Resolve a reference to the digest the registry serves: one HEAD; a GET plus hash
    /// only if the registry sends no `Docker-Content-Digest`. A digest reference is
    /// checked to exist, never trusted blindly.
    pub async fn resolve(&self, image: &ImageRef) -> Result<Resolved, RegistryError> {
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
        Ok(Resolved {
            pinned: PinnedImage::new(repo.clone(), desc.digest),
            media_type: desc.media_type,
            size: desc.size,
            platform: None,
        })
    }

    /// HEAD a manifest by tag or digest; `None` when it does not exist.
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
        let media_type = content_type(headers).unwrap_or_default();
        let size = header_str(headers, "content-length")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match header_str(headers, "docker-content-digest") {
            Some(d) => {
                let digest = Digest::parse(&d).map_err(|e| RegistryError::Protocol {
                    registry: repo.registry().to_string(),
                    detail: format!("Docker-Content-Digest {d:?} is not a digest: {e}"),
                })?;
                Ok(Some(Descriptor {
                    media_type,
                    digest,
                    size,
                }))
            }
            None => {
                // No digest header: fetch and hash (get_manifest checks it against a digest reference).
                let m = self.get_manifest(repo, reference).await?;
                Ok(m.map(|m| Descriptor {
                    media_type: m.media_type,
                    size: m.bytes.len() as u64,
                    digest: m.digest,
                }))
            }
        }
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
        let bytes = read_capped(repo, resp, MAX_MANIFEST_BYTES, &path).await?;
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

    /// The OCI 1.1 referrers of a manifest, optionally filtered by artifact type. A
    /// registry without the API (404) is [`RegistryError::ReferrersUnsupported`].
    pub async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<oci_client::manifest::ImageIndexEntry>, RegistryError> {
        let mut path = format!("/v2/{}/referrers/{digest}", repo.path());
        if let Some(t) = artifact_type {
            path.push_str(&format!("?artifactType={}", t.replace('+', "%2B")));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, header_value(OCI_INDEX));
        let resp = self
            .fetch(repo, Method::GET, &path, headers)
            .await?
            .ok_or_else(|| RegistryError::ReferrersUnsupported {
                registry: repo.registry().to_string(),
            })?;
        let bytes = read_capped(repo, resp, MAX_MANIFEST_BYTES, &path).await?;
        let index: oci_client::manifest::OciImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: format!("the referrers list of {repo}@{digest} is not an OCI index: {e}"),
            })?;
        Ok(index
            .manifests
            .into_iter()
            .filter(|m| artifact_type.is_none_or(|t| m.artifact_type.as_deref() == Some(t)))
            .collect())
    }

    /// For an index, the child manifest for `platform`; the error lists the platforms
    /// the index has. A single manifest is returned unchanged (it is its own platform).
    pub async fn resolve_platform(
        &self,
        resolved: Resolved,
        platform: &Platform,
    ) -> anyhow::Result<Resolved> {
        if !is_index(&resolved.media_type) {
            return self.check_single_platform(resolved, platform).await;
        }
        let index = self.get_index(&resolved.pinned).await?;
        let mut available = Vec::new();
        for entry in &index.manifests {
            let Some(p) = &entry.platform else { continue };
            let p = Platform::of_entry(p);
            if platform.matches(&p) {
                let digest = Digest::parse(&entry.digest).map_err(|e| {
                    anyhow::anyhow!(
                        "index {} lists a bad digest {:?}: {e}",
                        resolved.pinned,
                        entry.digest
                    )
                })?;
                return Ok(Resolved {
                    pinned: resolved.pinned.with_digest(digest),
                    media_type: entry.media_type.clone(),
                    size: entry.size.max(0) as u64,
                    platform: Some(p.to_string()),
                });
            }
            available.push(p.to_string());
        }
        anyhow::bail!(
            "{} has no {platform} image; it has: {}",
            resolved.pinned,
            if available.is_empty() {
                "no platforms listed".to_string()
            } else {
                available.join(", ")
            }
        )
    }

    /// A single manifest matches `--platform` only if its config says so (one GET of the
    /// manifest and one of its config blob, spent only when `--platform` was asked for).
    async fn check_single_platform(
        &self,
        resolved: Resolved,
        platform: &Platform,
    ) -> anyhow::Result<Resolved> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(default)]
            os: String,
            #[serde(default)]
            architecture: String,
            variant: Option<String>,
        }
        let image = &resolved.pinned;
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
        let own = Platform {
            os: config.os,
            architecture: config.architecture,
            variant: config.variant.filter(|v| !v.is_empty()),
        };
        anyhow::ensure!(
            platform.matches(&own),
            "{image} is a single-platform {own} image, not {platform}"
        );
        Ok(Resolved {
            platform: Some(own.to_string()),
            ..resolved
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
