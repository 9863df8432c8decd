//! Blobs: reads checked against their digest, uploads, and an existence check (a `.sig` layer
//! whose blob is gone can never verify). There is no existence check before an upload: an
//! upload of a blob the registry has costs no more than the check.

use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};

use super::client::{check_status, header_str, header_value, Access};
use super::{Registry, RegistryError};
use crate::reference::{Digest, Repository};

impl Registry {
    /// GET a blob, at most `max` bytes, checked against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", repo.path());
        let resp = self
            .fetch(repo, Method::GET, &path, HeaderMap::new())
            .await?
            .ok_or_else(|| RegistryError::NotFound {
                what: format!("blob {digest}"),
                repository: repo.to_string(),
            })?;
        let bytes = self.read_capped(repo, resp, max, &path).await?;
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                registry: repo.registry().to_string(),
                what: format!("blob {digest} of {repo}"),
                expected: digest.to_string(),
                actual: Digest::of(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }

    /// Whether the repository has the blob (`HEAD`; 404 is `false`).
    pub async fn has_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", repo.path());
        Ok(self
            .fetch(repo, Method::HEAD, &path, HeaderMap::new())
            .await?
            .is_some())
    }

    /// Upload a blob: one monolithic `POST ?digest=` where the registry takes it, else
    /// the POST opens a session and one PUT completes it.
    pub async fn push_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let path = format!("/v2/{}/blobs/uploads/?digest={digest}", repo.path());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, header_value("application/octet-stream"));
        let resp = self
            .send(
                repo,
                Method::POST,
                &path,
                Access::Push,
                headers.clone(),
                Some(bytes.to_vec()),
            )
            .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(());
        }
        let resp = check_status(repo, "POST", &path, resp).await?;
        let Some(location) = header_str(resp.headers(), LOCATION.as_str()) else {
            return Err(RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: format!("blob upload to {repo} started without a Location header"),
            });
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{sep}digest={digest}");
        let resp = self
            .send(
                repo,
                Method::PUT,
                &target,
                Access::Push,
                headers,
                Some(bytes.to_vec()),
            )
            .await?;
        check_status(repo, "PUT", "/v2/.../blobs/uploads/...", resp).await?;
        Ok(())
    }
}
