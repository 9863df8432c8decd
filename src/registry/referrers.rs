//! The OCI 1.1 referrers API as registries really answer it, and what this process has learned
//! about which registries have it.
//!
//! opencontainers/distribution-spec `spec.md` ("Listing Referrers"): a registry with the API
//! answers `GET /v2/<name>/referrers/<digest>` with 200 and an OCI image index (an empty one
//! when nothing refers to the digest) and "MUST NOT return a 404". Registries without it answer
//! 404 (CNCF Distribution 2.8: `404 page not found`, `text/plain`), or 400, 405, 406, 501, or a
//! 200 that is not an index (an HTML page from a proxy). go-containerregistry
//! (`pkg/v1/remote/referrers.go`, `fetchReferrers`) takes a 200 with the index `Content-Type` as
//! the API and 404, 400 and 406 as "use the referrers tag"; pinsign does the same, and also takes
//! a 200 whose body is an index under a generic `Content-Type`. 401, 403 and 5xx stay errors:
//! a registry that refuses us, or fails, must never make pinsign decide it has no API and write
//! the referrers tag instead.
//!
//! Whether a registry has the API is a property of the registry, not of a repository, so the
//! answer is remembered per registry for the life of the [`Registry`]: a batch of 50 images on
//! Distribution asks once, and every later listing goes straight to the referrers tag.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::{Method, StatusCode};

use super::client::{check_status, content_type, header_value, lock, Access};
use super::error::ErrorBody;
use super::{Registry, RegistryError, MAX_MANIFEST_BYTES};
use crate::media_types::OCI_INDEX;
use crate::reference::{Digest, Repository};

/// What `GET /v2/<name>/referrers/<digest>` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferrersList {
    /// The registry has the API; the OCI image index it answered with (at most
    /// [`MAX_MANIFEST_BYTES`], not yet parsed: the caller reads it with its own rules).
    Api(Vec<u8>),
    /// The registry has no referrers API; `answer` says what it answered (`404`, `405`,
    /// `200 with text/html`), for messages.
    NoApi { answer: String },
}

/// Per registry host: has it the referrers API? (Absent: not asked yet.) `probe` makes the first
/// question single-flight: the concurrent jobs of a batch wait for its answer instead of each
/// asking too (like the token fetch in `client`).
#[derive(Debug, Default)]
pub(super) struct ApiCache {
    known: Mutex<HashMap<String, Known>>,
    probe: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
enum Known {
    Yes,
    No { answer: String },
}

impl Registry {
    /// What this process has learned about `registry` (a host, `127.0.0.1:5000`): `Some(true)`
    /// when it answered the referrers API, `Some(false)` when it showed it has none, `None`
    /// when it was not asked yet.
    pub fn has_referrers_api(&self, registry: &str) -> Option<bool> {
        lock(&self.referrers_api.known)
            .get(registry)
            .map(|k| matches!(k, Known::Yes))
    }

    /// List the referrers of `repo@digest` through the API, once per registry finding out
    /// whether it has one (see the module header). No `artifactType` filter is sent: registries
    /// may ignore it, and one listing serves bundles and signature artifacts alike.
    pub async fn list_referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<ReferrersList, RegistryError> {
        let host = repo.registry().to_string();
        let known = |registry: &Registry| lock(&registry.referrers_api.known).get(&host).cloned();
        // While nobody knows, one job asks and the others wait for its answer.
        let _probe = match known(self) {
            Some(Known::No { answer }) => return Ok(ReferrersList::NoApi { answer }),
            Some(Known::Yes) => None,
            None => {
                let guard = self.referrers_api.probe.lock().await;
                match known(self) {
                    Some(Known::No { answer }) => return Ok(ReferrersList::NoApi { answer }),
                    Some(Known::Yes) => None,
                    None => Some(guard),
                }
            }
        };
        let path = format!("/v2/{}/referrers/{digest}", repo.path());
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, header_value(OCI_INDEX));
        let resp = self
            .send(repo, Method::GET, &path, Access::Pull, headers, None)
            .await?;
        let status = resp.status();
        let known_yes = matches!(known(self), Some(Known::Yes));
        let answer = match status {
            StatusCode::OK => {
                let media_type = content_type(resp.headers()).unwrap_or_default();
                let bytes = self
                    .read_capped(repo, resp, MAX_MANIFEST_BYTES, &path)
                    .await?;
                if media_type == OCI_INDEX || looks_like_index(&bytes) {
                    self.learn(&host, Known::Yes);
                    return Ok(ReferrersList::Api(bytes));
                }
                format!(
                    "200 with {}",
                    if media_type.is_empty() {
                        "no Content-Type".to_string()
                    } else {
                        media_type
                    }
                )
            }
            StatusCode::NOT_FOUND => {
                // An API registry answers 404 only for a repository it does not have (a
                // signature repository nothing was pushed to yet): then nothing refers to it.
                let body = ErrorBody::parse(&resp.bytes().await.unwrap_or_default());
                if known_yes && body.has_code("NAME_UNKNOWN") {
                    return Ok(ReferrersList::Api(EMPTY_INDEX.to_vec()));
                }
                if body.has_code("NAME_UNKNOWN") {
                    // Says nothing about the registry: do not remember it.
                    return Ok(ReferrersList::NoApi {
                        answer: "404 NAME_UNKNOWN".into(),
                    });
                }
                "404".to_string()
            }
            StatusCode::BAD_REQUEST
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::NOT_ACCEPTABLE
            | StatusCode::NOT_IMPLEMENTED => status.as_u16().to_string(),
            s if s.is_success() => s.as_u16().to_string(),
            // Refused (401/403 come back as errors from `send`), or failed after retries.
            _ => {
                let failed = check_status(repo, "GET", &path, resp).await.err();
                return Err(failed.unwrap_or_else(|| RegistryError::Protocol {
                    registry: host.clone(),
                    detail: format!("GET {path} answered {status}"),
                }));
            }
        };
        tracing::debug!("{host} has no referrers API ({answer}); using the referrers tag");
        self.learn(
            &host,
            Known::No {
                answer: answer.clone(),
            },
        );
        Ok(ReferrersList::NoApi { answer })
    }

    fn learn(&self, host: &str, known: Known) {
        lock(&self.referrers_api.known).insert(host.to_string(), known);
    }

    /// The OCI 1.1 referrers of a manifest, optionally filtered by artifact type (here, not by
    /// the registry). A registry without the API is [`RegistryError::ReferrersUnsupported`].
    pub async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<oci_client::manifest::ImageIndexEntry>, RegistryError> {
        let bytes = match self.list_referrers(repo, digest).await? {
            ReferrersList::Api(bytes) => bytes,
            ReferrersList::NoApi { answer } => {
                return Err(RegistryError::ReferrersUnsupported {
                    registry: repo.registry().to_string(),
                    answer,
                })
            }
        };
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
}

const EMPTY_INDEX: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// A JSON object with a `manifests` array and, if it names one, the index media type.
fn looks_like_index(bytes: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice(bytes) else {
        return false;
    };
    doc.get("manifests")
        .is_some_and(serde_json::Value::is_array)
        && doc
            .get("mediaType")
            .is_none_or(|m| m.as_str() == Some(OCI_INDEX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_an_index() {
        assert!(looks_like_index(EMPTY_INDEX));
        assert!(looks_like_index(br#"{"manifests":[{"digest":"x"}]}"#));
        assert!(!looks_like_index(b"<html>404</html>"));
        assert!(!looks_like_index(br#"{"errors":[]}"#));
        assert!(!looks_like_index(
            br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#
        ));
    }
}
