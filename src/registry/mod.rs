/*!
Talking to registries: the only module that builds URLs or sends HTTP.

Callers speak repositories, references and digests; this module turns them into the
distribution API, handles auth (see [`auth`]), retries what is safe to retry, and checks
every byte it returns against the digest it was asked for or told. One [`Registry`] serves
a whole process so connections and tokens are reused across images.

Why not `oci_client::Client` for the requests: it pings `/v2/` before each operation class
and authenticates per call, which doubles the round trips of a signing step, and it
cannot retry 5xx reads or count requests. pinsign uses oci-client's manifest and index
types ([`oci_client::manifest`]) and sends the few requests it needs itself.
*/

pub mod auth;
pub mod error;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use zeroize::Zeroizing;

pub use auth::Credentials;
pub use error::{CredentialSource, RegistryError};

use crate::cli::RegistryArgs;
use crate::error::UsageError;
use crate::reference::{Digest, ImageRef, PinnedImage, Repository};
use auth::{AuthFiles, Challenge};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests larger than this are refused (Distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// True for an index or manifest list media type.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// How to reach registries: credentials, TLS, retries. Built once from the flags; all
/// defaults live here.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub credentials: Option<Credentials>,
    pub ca_file: Option<std::path::PathBuf>,
    pub allow_http: bool,
    pub allow_insecure: bool,
    pub auth_files: AuthFiles,
    /// Attempts for a request that failed with 5xx or a connection error.
    pub attempts: u32,
    /// First retry delay; doubles each time, with jitter.
    pub retry_base: Duration,
}

impl RegistryOptions {
    /// From the global flags. Conflicting or half-given options are usage errors.
    pub fn from_args(args: &RegistryArgs) -> anyhow::Result<RegistryOptions> {
        let credentials =
            match (&args.registry_username, &args.registry_password) {
                (Some(u), Some(p)) => {
                    let from_env = std::env::var("PINSIGN_REGISTRY_USERNAME").ok().as_deref()
                        == Some(u.as_str());
                    let source = if from_env {
                        CredentialSource::Env
                    } else {
                        CredentialSource::Flags
                    };
                    Some(Credentials::new(u.clone(), p.clone(), source))
                }
                (None, None) => None,
                (Some(_), None) => return Err(UsageError::new(
                    "--registry-username needs --registry-password (or PINSIGN_REGISTRY_PASSWORD)",
                )
                .into()),
                (None, Some(_)) => return Err(UsageError::new(
                    "--registry-password needs --registry-username (or PINSIGN_REGISTRY_USERNAME)",
                )
                .into()),
            };
        if args.allow_insecure_registry && args.registry_cacert.is_some() {
            return Err(UsageError::new(
                "--allow-insecure-registry and --registry-cacert contradict each other: with a CA, drop --allow-insecure-registry",
            )
            .into());
        }
        let retry_base = std::env::var("PINSIGN_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_millis(200));
        Ok(RegistryOptions {
            credentials,
            ca_file: args.registry_cacert.clone(),
            allow_http: args.allow_http_registry,
            allow_insecure: args.allow_insecure_registry,
            auth_files: AuthFiles::from_env(),
            attempts: 4,
            retry_base,
        })
    }
}

/// What the registry says about a manifest, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// A manifest's bytes, checked against its digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// An image reference resolved to the digest the registry serves.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub pinned: PinnedImage,
    pub media_type: String,
    pub size: u64,
    /// `os/arch[/variant]` when chosen from an index with `--platform`.
    pub platform: Option<String>,
}

impl Resolved {
    /// The descriptor of the resolved manifest (the `subject` of a referrers artifact).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.pinned.digest().clone(),
            size: self.size,
        }
    }
}

/// What a request needs on its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Pull,
    Push,
}

struct Token {
    value: Zeroizing<String>,
    push: bool,
}

/// A registry client for the whole process. Cheap to share behind an `Arc`.
pub struct Registry {
    http: reqwest::Client,
    opts: RegistryOptions,
    /// Credentials per repository (`registry/path`; `*` for the flags), looked up once.
    creds: Mutex<HashMap<String, Option<Credentials>>>,
    /// The challenge each registry answered with, so later repositories skip the 401.
    challenges: Mutex<HashMap<String, Challenge>>,
    /// Bearer tokens per (registry, repository path).
    tokens: Mutex<HashMap<(String, String), Token>>,
    /// Repositories this process will push to: their tokens ask for pull+push at once.
    push_repos: Mutex<HashSet<(String, String)>>,
    /// Serialises token fetches so concurrent jobs share one token per scope.
    token_fetch: tokio::sync::Mutex<()>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(opts: RegistryOptions) -> anyhow::Result<Registry> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("pinsign/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .pool_idle_timeout(Duration::from_secs(60));
        if let Some(ca) = &opts.ca_file {
            let pem = std::fs::read(ca).map_err(|e| {
                UsageError::new(format!(
                    "cannot read --registry-cacert {}: {e}",
                    ca.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "--registry-cacert {} holds no PEM certificate",
                        ca.display()
                    ))
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        if opts.allow_insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        let creds = opts
            .credentials
            .clone()
            .map(|c| ("*".to_string(), Some(c)))
            .into_iter()
            .collect();
        Ok(Registry {
            http,
            opts,
            creds: Mutex::new(creds),
            challenges: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            push_repos: Mutex::new(HashSet::new()),
            token_fetch: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
        })
    }

    /// From the global flags.
    pub fn from_args(args: &RegistryArgs) -> anyhow::Result<Registry> {
        Registry::new(RegistryOptions::from_args(args)?)
    }

    /// Registry HTTP requests sent so far, token requests included (for `-v` and benchmarks).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Say that this process will push to `repo`, so its token is fetched with push
    /// rights the first time (one token request instead of two).
    pub fn will_push(&self, repo: &Repository) {
        lock(&self.push_repos).insert(key(repo));
    }

    // ----- manifests -----

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
        let resp = self
            .send(
                repo,
                Method::HEAD,
                &path,
                Access::Pull,
                accept_manifests(),
                None,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check_status(repo, "HEAD", &path, resp).await?;
        let headers = resp.headers();
        let media_type = header_str(headers, CONTENT_TYPE.as_str()).unwrap_or_default();
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
                    media_type: media_type
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
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
        let resp = self
            .send(
                repo,
                Method::GET,
                &path,
                Access::Pull,
                accept_manifests(),
                None,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check_status(repo, "GET", &path, resp).await?;
        let media_type = header_str(resp.headers(), CONTENT_TYPE.as_str())
            .map(|m| m.split(';').next().unwrap_or("").trim().to_string());
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

    // ----- blobs -----

    /// True when the repository has the blob.
    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", repo.path());
        let resp = self
            .send(
                repo,
                Method::HEAD,
                &path,
                Access::Pull,
                HeaderMap::new(),
                None,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check_status(repo, "HEAD", &path, resp).await?;
        Ok(true)
    }

    /// GET a blob, at most `max` bytes, checked against its digest.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let path = format!("/v2/{}/blobs/{digest}", repo.path());
        let resp = self
            .send(
                repo,
                Method::GET,
                &path,
                Access::Pull,
                HeaderMap::new(),
                None,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                what: format!("blob {digest}"),
                repository: repo.to_string(),
            });
        }
        let resp = check_status(repo, "GET", &path, resp).await?;
        let bytes = read_capped(repo, resp, max, &path).await?;
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

    // ----- referrers -----

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
            .send(repo, Method::GET, &path, Access::Pull, headers, None)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::ReferrersUnsupported {
                registry: repo.registry().to_string(),
            });
        }
        let resp = check_status(repo, "GET", &path, resp).await?;
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

    // ----- the request engine -----

    fn url(&self, repo: &Repository, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            return path_or_url.to_string();
        }
        let scheme = if self.opts.allow_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}{path_or_url}", repo.registry())
    }

    /// Send one logical request: attach auth, answer one 401 challenge, retry 5xx and
    /// connection errors with backoff. Returns the final response whatever its status.
    async fn send(
        &self,
        repo: &Repository,
        method: Method,
        path: &str,
        access: Access,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = self.url(repo, path);
        let shown = url.split('?').next().unwrap_or(&url).to_string();
        let mut attempt = 0;
        let mut challenged = false;
        loop {
            attempt += 1;
            let auth = self.auth_header(repo, access).await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(a) = &auth {
                req = req.header(AUTHORIZATION, a.as_str());
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let result = req.send().await;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    let err = map_send_error(repo, &e);
                    if err.is_transient() && attempt < self.opts.attempts {
                        tracing::debug!("{method} {shown}: {err}; retrying");
                        self.backoff(attempt).await;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = resp.status();
            tracing::debug!("{method} {shown} -> {}", status.as_u16());
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let header = header_str(resp.headers(), WWW_AUTHENTICATE.as_str());
                if let Some(challenge) = header.as_deref().and_then(Challenge::parse) {
                    let sent_basic = auth.as_ref().is_some_and(|a| a.starts_with("Basic "));
                    lock(&self.challenges).insert(repo.registry().to_string(), challenge.clone());
                    match challenge {
                        Challenge::Bearer { .. } => {
                            // Forget the cached token only if this request carried it (it
                            // was refused): jobs that went out before a concurrent job fetched
                            // the first token must share it, not throw it away.
                            let sent = auth.as_ref().and_then(|a| a.strip_prefix("Bearer "));
                            {
                                let mut tokens = lock(&self.tokens);
                                if tokens
                                    .get(&key(repo))
                                    .is_some_and(|t| sent == Some(t.value.as_str()))
                                {
                                    tokens.remove(&key(repo));
                                }
                            }
                            self.fetch_token(repo, access).await?;
                            continue;
                        }
                        Challenge::Basic if !sent_basic && self.credentials(repo)?.is_some() => {
                            continue
                        }
                        Challenge::Basic => {}
                    }
                }
            }
            if status.is_server_error() && attempt < self.opts.attempts {
                tracing::debug!("{method} {shown} -> {}; retrying", status.as_u16());
                self.backoff(attempt).await;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(self.unauthorized(repo, status, access, &method));
            }
            return Ok(resp);
        }
    }

    async fn backoff(&self, attempt: u32) {
        let base = self.opts.retry_base.as_millis() as u64 * (1u64 << (attempt - 1).min(6));
        let jitter = jitter_ms(base / 2 + 1);
        tokio::time::sleep(Duration::from_millis(base + jitter)).await;
    }

    fn unauthorized(
        &self,
        repo: &Repository,
        status: StatusCode,
        access: Access,
        method: &Method,
    ) -> RegistryError {
        let source = match self.credentials(repo) {
            Ok(Some(c)) => c.source,
            _ => CredentialSource::Anonymous,
        };
        let action = if access == Access::Push {
            "push to"
        } else {
            "pull from"
        };
        let hint = match (&source, status) {
            (CredentialSource::Anonymous, _) => format!(
                "log in (buildah login / docker login {}) or pass --registry-username and PINSIGN_REGISTRY_PASSWORD",
                repo.registry()
            ),
            (_, StatusCode::FORBIDDEN) => {
                format!("the credentials are valid but may not {action} {repo} ({method})")
            }
            _ => format!("check the credentials; they may not {action} {repo}"),
        };
        RegistryError::Unauthorized {
            registry: repo.registry().to_string(),
            repository: repo.to_string(),
            status: status.as_u16(),
            credentials: source,
            hint,
        }
    }

    /// The options this client was built with (build-push passes them on to buildah/skopeo).
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// Credentials for the repository, looked up once per repository: auth files may hold
    /// an entry for `registry/namespace` that wins over the registry's own.
    pub fn credentials(&self, repo: &Repository) -> Result<Option<Credentials>, RegistryError> {
        let mut creds = lock(&self.creds);
        if let Some(c) = creds.get("*") {
            return Ok(c.clone());
        }
        let cache_key = repo.to_string();
        if let Some(c) = creds.get(&cache_key) {
            return Ok(c.clone());
        }
        let found = self
            .opts
            .auth_files
            .lookup(repo.registry(), repo.path())
            .map_err(|e| RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: e.to_string(),
            })?;
        if let Some(c) = &found {
            tracing::info!("credentials for {} from {}", repo.registry(), c.source);
        }
        creds.insert(cache_key, found.clone());
        Ok(found)
    }

    /// The Authorization header for a request: a cached token with enough rights, a
    /// token fetched now when the registry is known to want one, or Basic.
    async fn auth_header(
        &self,
        repo: &Repository,
        access: Access,
    ) -> Result<Option<Zeroizing<String>>, RegistryError> {
        if let Some(t) = lock(&self.tokens).get(&key(repo)) {
            if t.push || access == Access::Pull {
                return Ok(Some(Zeroizing::new(format!("Bearer {}", t.value.as_str()))));
            }
        }
        let challenge = lock(&self.challenges).get(repo.registry()).cloned();
        match challenge {
            Some(Challenge::Bearer { .. }) => {
                let token = self.fetch_token(repo, access).await?;
                Ok(Some(Zeroizing::new(format!("Bearer {}", token.as_str()))))
            }
            // Basic, or not asked yet: send Basic when we have credentials, so a
            // basic-auth registry costs no 401 round trip.
            _ => Ok(self.credentials(repo)?.map(|c| c.basic_header())),
        }
    }

    /// Fetch (once per scope, shared by concurrent jobs) a bearer token for `repo`.
    async fn fetch_token(
        &self,
        repo: &Repository,
        access: Access,
    ) -> Result<Zeroizing<String>, RegistryError> {
        let _guard = self.token_fetch.lock().await;
        if let Some(t) = lock(&self.tokens).get(&key(repo)) {
            if t.push || access == Access::Pull {
                return Ok(t.value.clone());
            }
        }
        let Some(Challenge::Bearer { realm, service, .. }) =
            lock(&self.challenges).get(repo.registry()).cloned()
        else {
            return Err(RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: "asked for a bearer token without a challenge".into(),
            });
        };
        let push = access == Access::Push || lock(&self.push_repos).contains(&key(repo));
        let actions = if push { "pull,push" } else { "pull" };
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &service {
            query.push(("service", s.clone()));
        }
        query.push(("scope", format!("repository:{}:{actions}", repo.path())));
        let creds = self.credentials(repo)?;
        let mut req = self.http.get(&realm).query(&query);
        if let Some(c) = &creds {
            req = req.header(AUTHORIZATION, c.basic_header().as_str());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| {
            let mut err = map_send_error(repo, &e);
            if let RegistryError::Connect { detail, .. } = &mut err {
                *detail = format!("token server {realm}: {detail}");
            }
            err
        })?;
        let status = resp.status();
        tracing::debug!("GET {realm} (token, {actions}) -> {}", status.as_u16());
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let mut err = self.unauthorized(repo, status, access, &Method::GET);
            if let RegistryError::Unauthorized { hint, .. } = &mut err {
                *hint = format!("the token server {realm} refused them; {hint}");
            }
            return Err(err);
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                registry: repo.registry().to_string(),
                method: "GET".into(),
                path: format!("{realm} (token)"),
                status: status.as_u16(),
                message: None,
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let reply: TokenReply = resp.json().await.map_err(|e| RegistryError::Protocol {
            registry: repo.registry().to_string(),
            detail: format!("token server {realm} sent an unreadable reply: {e}"),
        })?;
        let Some(value) = reply.token.or(reply.access_token).filter(|t| !t.is_empty()) else {
            return Err(RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: format!("token server {realm} sent no token"),
            });
        };
        let value = Zeroizing::new(value);
        lock(&self.tokens).insert(
            key(repo),
            Token {
                value: value.clone(),
                push,
            },
        );
        Ok(value)
    }
}

#[derive(serde::Deserialize)]
struct MediaTypeOnly {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

fn key(repo: &Repository) -> (String, String) {
    (repo.registry().to_string(), repo.path().to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept_manifests() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT, header_value(MANIFEST_ACCEPT));
    h
}

fn header_value(s: &str) -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from_str(s)
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("application/octet-stream"))
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
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

/// Turn a non-success status into an error carrying the registry's own message.
async fn check_status(
    repo: &Repository,
    method: &str,
    path: &str,
    resp: reqwest::Response,
) -> Result<reqwest::Response, RegistryError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    // Go's TLS server answers plain HTTP with a bare `HTTP/1.0 400` and a text body; a HEAD
    // (how a tag is resolved) never sees that body, so the bare answer must tell it.
    let bare_http10 = resp.version() == reqwest::Version::HTTP_10 && resp.url().scheme() == "http";
    let body = resp.bytes().await.unwrap_or_default();
    let mut message = error::error_message(&body);
    if status == StatusCode::BAD_REQUEST
        && (message
            .as_deref()
            .is_some_and(|m| m.contains("HTTP request to an HTTPS server"))
            || (message.is_none() && bare_http10))
    {
        message = Some("the registry speaks TLS: drop --allow-http-registry".into());
    }
    Err(RegistryError::Status {
        registry: repo.registry().to_string(),
        method: method.to_string(),
        path: path.split('?').next().unwrap_or(path).to_string(),
        status: status.as_u16(),
        message,
    })
}

async fn read_capped(
    repo: &Repository,
    mut resp: reqwest::Response,
    max: usize,
    path: &str,
) -> Result<Vec<u8>, RegistryError> {
    let too_big = || RegistryError::Protocol {
        registry: repo.registry().to_string(),
        detail: format!("{path} is larger than {max} bytes; refusing it"),
    };
    if resp.content_length().is_some_and(|n| n as usize > max) {
        return Err(too_big());
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                out.extend_from_slice(&chunk);
                if out.len() > max {
                    return Err(too_big());
                }
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(map_send_error(repo, &e)),
        }
    }
}

/// Classify a transport error: TLS trouble gets a hint, connection trouble is transient.
fn map_send_error(repo: &Repository, e: &reqwest::Error) -> RegistryError {
    let registry = repo.registry().to_string();
    let mut chain = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cur {
        chain.push_str(&format!("{c} | {c:?} | "));
        cur = c.source();
    }
    if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        return RegistryError::PlainHttp { registry };
    }
    if chain.contains("UnknownIssuer") || chain.contains("unknown issuer") {
        return RegistryError::Tls {
            registry,
            detail: "its certificate is signed by an unknown authority; pass --registry-cacert CA.pem (or --allow-insecure-registry for a throwaway test registry)".into(),
        };
    }
    if chain.contains("NotValidForName") {
        return RegistryError::Tls {
            registry,
            detail: "its certificate is not valid for this host name".into(),
        };
    }
    if chain.contains("Expired") {
        return RegistryError::Tls {
            registry,
            detail: "its certificate has expired".into(),
        };
    }
    if chain.contains("InvalidCertificate") || chain.contains("invalid peer certificate") {
        return RegistryError::Tls {
            registry,
            detail: format!("its certificate was rejected ({})", root_cause(e)),
        };
    }
    let detail = if chain.contains("Connection refused") {
        "connection refused; is the registry running and the address right?".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        root_cause(e)
    };
    RegistryError::Connect { registry, detail }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A little randomness for backoff, from the clock (no RNG crate needed for jitter).
fn jitter_ms(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    nanos % max.max(1)
}

/// A platform as `--platform` takes it: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, UsageError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: Some(variant.to_string()),
                })
            }
            _ => Err(UsageError::new(format!(
                "--platform {s:?} is not OS/ARCH or OS/ARCH/VARIANT (e.g. linux/amd64, linux/arm/v7)"
            ))),
        }
    }

    fn of_entry(p: &oci_client::manifest::Platform) -> Platform {
        Platform {
            os: p.os.to_string(),
            architecture: p.architecture.to_string(),
            variant: p.variant.clone().filter(|v| !v.is_empty()),
        }
    }

    /// Does an index entry's platform satisfy this request? A request without a variant
    /// matches any variant.
    fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Read an index's children (OCI index or Docker manifest list).
pub fn parse_index(bytes: &[u8]) -> Result<oci_client::manifest::OciImageIndex, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl Registry {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!Platform::parse("linux/arm/v7")
            .unwrap()
            .matches(&Platform::parse("linux/arm/v6").unwrap()));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_are_looked_up_per_repository() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &file,
            serde_json::json!({"auths": {
                "reg.example": {"auth": b64("general:pw1")},
                "reg.example/team": {"auth": b64("team:pw2")},
            }})
            .to_string(),
        )
        .unwrap();
        let repo = |s: &str| ImageRef::parse(s).unwrap().repository().clone();
        // In both orders: the first lookup on a registry must not decide for its other repositories.
        for names in [["team/app", "other/app"], ["other/app", "team/app"]] {
            let registry = Registry::new(RegistryOptions {
                credentials: None,
                ca_file: None,
                allow_http: false,
                allow_insecure: false,
                auth_files: AuthFiles {
                    files: vec![file.clone()],
                },
                attempts: 1,
                retry_base: Duration::from_millis(1),
            })
            .unwrap();
            for name in names {
                let c = registry
                    .credentials(&repo(&format!("reg.example/{name}")))
                    .unwrap()
                    .unwrap();
                let want = if name.starts_with("team/") {
                    "team"
                } else {
                    "general"
                };
                assert_eq!(c.username, want, "{name}");
            }
        }
    }

    #[test]
    fn conflicting_tls_options_are_usage_errors() {
        let args = RegistryArgs {
            allow_insecure_registry: true,
            registry_cacert: Some("ca.pem".into()),
            ..Default::default()
        };
        let e = RegistryOptions::from_args(&args).unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        let args = RegistryArgs {
            registry_username: Some("u".into()),
            ..Default::default()
        };
        assert!(RegistryOptions::from_args(&args).is_err());
    }
}
