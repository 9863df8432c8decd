//! The request engine: one HTTP client for the process, lazy auth (a 401 brings the
//! challenge; one token per repository and scope, shared by concurrent jobs), retries of
//! 5xx and connection errors with backoff, and transport errors classified by their type.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use zeroize::Zeroizing;

use super::auth::{AuthStore, Challenge, Credentials};
use super::error::{CredentialSource, ErrorBody, RegistryError, TlsProblem};
use super::{RegistryOptions, MANIFEST_ACCEPT};
use crate::error::UsageError;
use crate::reference::Repository;

/// What a request needs on its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

impl Access {
    /// "pull from" / "push to", for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Access::Pull => "pull from",
            Access::Push => "push to",
        }
    }
}

struct Token {
    value: Zeroizing<String>,
    push: bool,
}

/// A registry client for the whole process. Cheap to share behind an `Arc`.
pub struct Registry {
    http: reqwest::Client,
    opts: RegistryOptions,
    /// Credentials per repository (`registry/path`), looked up once, and the auth files
    /// behind them (parsed once, helpers' answers cached per registry). An async mutex: a
    /// lookup may run a credential helper, a process, which must not block the runtime.
    creds: tokio::sync::Mutex<(HashMap<String, Option<Credentials>>, AuthStore)>,
    /// The challenge each registry answered with, so later repositories skip the 401.
    challenges: Mutex<HashMap<String, Challenge>>,
    /// Bearer tokens per (registry, repository path).
    tokens: Mutex<HashMap<(String, String), Token>>,
    /// Repositories this process will push to: their tokens ask for pull+push at once.
    push_repos: Mutex<HashSet<(String, String)>>,
    /// Serialises token fetches so concurrent jobs share one token per scope.
    token_fetch: tokio::sync::Mutex<()>,
    requests: AtomicU64,
    /// Which registries have the OCI 1.1 referrers API (see `referrers`).
    pub(super) referrers_api: super::referrers::ApiCache,
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
            // A CA file that cannot serve is bad input (exit 2), found before any request.
            let pem = std::fs::read(ca).map_err(|e| {
                UsageError::new(format!("cannot read the CA file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "the CA file {} holds no PEM certificate",
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
        Ok(Registry {
            http,
            opts,
            creds: tokio::sync::Mutex::new((HashMap::new(), AuthStore::default())),
            challenges: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            push_repos: Mutex::new(HashSet::new()),
            token_fetch: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
            referrers_api: Default::default(),
        })
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

    /// Send a read (`GET`/`HEAD`): `None` when the registry answers 404, an error for any
    /// other failure status, else the response.
    pub(super) async fn fetch(
        &self,
        repo: &Repository,
        method: Method,
        path: &str,
        headers: HeaderMap,
    ) -> Result<Option<reqwest::Response>, RegistryError> {
        let name = method.to_string();
        let resp = self
            .send(repo, method, path, Access::Pull, headers, None)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check_status(repo, &name, path, resp).await.map(Some)
    }

    /// Send one logical request: attach auth, answer one 401 challenge, retry 5xx and
    /// connection errors with backoff. Returns the final response whatever its status.
    pub(super) async fn send(
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
                        Challenge::Basic
                            if !sent_basic && self.credentials(repo).await?.is_some() =>
                        {
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
                return Err(self.unauthorized(repo, status, access).await);
            }
            return Ok(resp);
        }
    }

    async fn backoff(&self, attempt: u32) {
        crate::backoff::sleep(self.opts.retry_base, attempt).await;
    }

    async fn unauthorized(
        &self,
        repo: &Repository,
        status: StatusCode,
        access: Access,
    ) -> RegistryError {
        let credentials = match self.credentials(repo).await {
            Ok(Some(c)) => c.source,
            _ => CredentialSource::Anonymous,
        };
        RegistryError::Unauthorized {
            registry: repo.registry().to_string(),
            repository: repo.to_string(),
            status: status.as_u16(),
            credentials,
            access,
        }
    }

    /// The options this client was built with (build-push passes them on to buildah/skopeo).
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// Credentials for the repository: the configured ones, else the auth files' entry,
    /// looked up once per repository (auth files may hold an entry for
    /// `registry/namespace` that wins over the registry's own).
    pub async fn credentials(
        &self,
        repo: &Repository,
    ) -> Result<Option<Credentials>, RegistryError> {
        if let Some(c) = &self.opts.credentials {
            return Ok(Some(c.clone()));
        }
        let mut guard = self.creds.lock().await;
        let (cache, store) = &mut *guard;
        let cache_key = repo.to_string();
        if let Some(c) = cache.get(&cache_key) {
            return Ok(c.clone());
        }
        let found = store
            .lookup(&self.opts.auth_files, repo.registry(), repo.path())
            .await
            .map_err(|e| RegistryError::Protocol {
                registry: repo.registry().to_string(),
                detail: e.to_string(),
            })?;
        if let Some(c) = &found {
            tracing::info!("credentials for {} from {}", repo.registry(), c.source);
        }
        cache.insert(cache_key, found.clone());
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
            _ => Ok(self.credentials(repo).await?.map(|c| c.basic_header())),
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
        let creds = self.credentials(repo).await?;
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
            return Err(self.unauthorized(repo, status, access).await);
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                registry: repo.registry().to_string(),
                method: "GET".into(),
                path: format!("{realm} (token)"),
                status: status.as_u16(),
                body: ErrorBody::default(),
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
pub(super) fn key(repo: &Repository) -> (String, String) {
    (repo.registry().to_string(), repo.path().to_string())
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn accept_manifests() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT, header_value(MANIFEST_ACCEPT));
    h
}

pub(super) fn header_value(s: &str) -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from_str(s)
        .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("application/octet-stream"))
}

/// The media type of a response, without parameters (`; charset=...`).
pub(super) fn content_type(headers: &HeaderMap) -> Option<String> {
    header_str(headers, reqwest::header::CONTENT_TYPE.as_str())
        .map(|m| m.split(';').next().unwrap_or("").trim().to_string())
}

pub(super) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

/// Turn a non-success status into an error carrying the registry's own error list.
pub(super) async fn check_status(
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
    let body = ErrorBody::parse(&resp.bytes().await.unwrap_or_default());
    let speaks_tls = body
        .text
        .as_deref()
        .is_some_and(|m| m.contains("HTTP request to an HTTPS server"))
        || (body.errors.is_empty() && body.text.is_none() && bare_http10);
    if status == StatusCode::BAD_REQUEST && speaks_tls {
        return Err(RegistryError::SpeaksTls {
            registry: repo.registry().to_string(),
        });
    }
    Err(RegistryError::Status {
        registry: repo.registry().to_string(),
        method: method.to_string(),
        path: path.split('?').next().unwrap_or(path).to_string(),
        status: status.as_u16(),
        body,
    })
}

pub(super) async fn read_capped(
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

/// Classify a transport error by the types in its source chain: a TLS problem (from
/// rustls's own error), plain HTTP where TLS was expected, or a connection problem
/// (transient).
fn map_send_error(repo: &Repository, e: &reqwest::Error) -> RegistryError {
    let registry = repo.registry().to_string();
    if let Some(tls) = rustls_error(e) {
        use rustls::{CertificateError, Error, InvalidMessage};
        let problem = match tls {
            // What an HTTP answer looks like to a TLS record reader ("HTTP/1.1 400").
            Error::InvalidMessage(
                InvalidMessage::InvalidContentType
                | InvalidMessage::MessageTooLarge
                | InvalidMessage::UnknownProtocolVersion,
            ) => return RegistryError::PlainHttp { registry },
            Error::InvalidCertificate(CertificateError::UnknownIssuer) => TlsProblem::UnknownIssuer,
            Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsProblem::NotValidForName,
            Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => TlsProblem::Expired,
            other => TlsProblem::Other(other.to_string()),
        };
        return RegistryError::Tls { registry, problem };
    }
    let refused = io_error(e).is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    let detail = if refused {
        "connection refused; is the registry running and the address right?".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        root_cause(e)
    };
    RegistryError::Connect { registry, detail }
}

/// The rustls error behind a request error, if TLS is what failed. hyper and tokio-rustls
/// wrap it in (nested) `std::io::Error`s, whose `source()` skips the wrapped error, so
/// look inside those with `get_ref` too.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let mut inner = Some(c);
        while let Some(i) = inner {
            if let Some(tls) = i.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|e| e as &(dyn std::error::Error + 'static));
        }
        cur = c.source();
    }
    None
}

/// The innermost `std::io::Error` behind a request error.
fn io_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut found = None;
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            found = Some(io);
        }
        cur = c.source();
    }
    found
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;
    use crate::registry::auth::AuthFiles;

    #[tokio::test]
    async fn credentials_are_looked_up_per_repository() {
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
                    .await
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
}
