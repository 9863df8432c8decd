//! The request engine: one HTTP client per kind of trust for the process, the scheme of each
//! registry (HTTPS, or plain HTTP where [`super::hosts`] allows it), lazy auth (a 401 brings
//! the challenge; one token per repository and scope, shared by concurrent jobs), bounded
//! retries (5xx, 429 with `Retry-After`, connection errors, no answer) within a retry budget,
//! and transport errors classified by their type.
//!
//! Credentials stay where they belong: Basic and token requests go over plain HTTP only to
//! hosts allowed plain HTTP; a redirect target never gets our `Authorization` (reqwest drops
//! it across hosts, and a challenge from a redirect target is never answered); credentials
//! given as flags or environment variables go to a registry only after it challenged for
//! them, as they are not tied to one registry.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use zeroize::Zeroizing;

use super::auth::{AuthStore, Challenge, Credentials, SecretKind};
use super::error::{CredentialSource, ErrorBody, RegistryError, TlsProblem};
use super::hosts::HostPolicy;
use super::retry::{self, show, Budget};
use super::{RegistryOptions, Scheme, MANIFEST_ACCEPT};
use crate::error::UsageError;
use crate::reference::Repository;

/// What a request needs on its repository, in increasing order of rights: a token fetched
/// for one serves every request that needs no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Pull,
    Push,
    /// Deleting a manifest (`rotate --prune-old` removing an old signature artifact); token
    /// registries grant it as its own action.
    Delete,
}

impl Access {
    /// "pull from" / "push to" / "delete from", for messages.
    pub fn verb(self) -> &'static str {
        match self {
            Access::Pull => "pull from",
            Access::Push => "push to",
            Access::Delete => "delete from",
        }
    }

    /// The token scope's actions for this access.
    pub(super) fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
            Access::Delete => "pull,push,delete",
        }
    }
}

pub(super) struct Token {
    pub(super) value: Zeroizing<String>,
    /// What the token was asked for (a registry may have granted less; it then answers 401
    /// and the request says so).
    pub(super) access: Access,
}

/// How many attempts a request that got no answer at all gets: each costs a full timeout.
const MAX_NO_ANSWER: u32 = 2;

/// The trust of one TLS client: verify or not, and the CA files added to the system roots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Trust {
    verify: bool,
    ca_files: Vec<PathBuf>,
}

/// A registry client for the whole process. Cheap to share behind an `Arc`.
pub struct Registry {
    pub(super) opts: RegistryOptions,
    /// The `--registry-cacert` certificates, trusted for every host.
    default_certs: Vec<reqwest::Certificate>,
    /// One client (and connection pool) per kind of trust; most runs use one.
    clients: Mutex<HashMap<Trust, reqwest::Client>>,
    /// What registries.conf and certs.d say per registry or repository, read once each.
    policies: Mutex<HashMap<String, HostPolicy>>,
    /// Credentials per repository (`registry/path`), looked up once, and the auth files
    /// behind them (parsed once, helpers' answers cached per registry). An async mutex: a
    /// lookup may run a credential helper, a process, which must not block the runtime.
    creds: tokio::sync::Mutex<(HashMap<String, Option<Credentials>>, AuthStore)>,
    /// The challenge each registry answered with, so later repositories skip the 401.
    pub(super) challenges: Mutex<HashMap<String, Challenge>>,
    /// Bearer tokens per (registry, repository path).
    pub(super) tokens: Mutex<HashMap<(String, String), Token>>,
    /// Repositories this process will push to: their tokens ask for pull+push at once.
    pub(super) push_repos: Mutex<HashSet<(String, String)>>,
    /// Repositories this process will work on, per registry, in the order announced: a token
    /// request for one asks for the next ones too (see `token`).
    pub(super) announced: Mutex<HashMap<String, Vec<String>>>,
    /// Serialises token fetches so concurrent jobs share one token per scope.
    pub(super) token_fetch: tokio::sync::Mutex<()>,
    /// Identity tokens a token server rotated (a `refresh_token` in its reply), per registry.
    pub(super) rotated: Mutex<HashMap<String, Zeroizing<String>>>,
    pub(super) requests: AtomicU64,
    /// Which registries have the OCI 1.1 referrers API (see `referrers`).
    pub(super) referrers_api: super::referrers::ApiCache,
    /// How long the latest answers took (see [`Registry::typical_round_trip`]).
    round_trips: super::timing::RoundTrips,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(opts: RegistryOptions) -> anyhow::Result<Registry> {
        let mut default_certs = Vec::new();
        if let Some(ca) = &opts.ca_file {
            // A CA file that cannot serve is bad input (exit 2), found before any request.
            let pem = std::fs::read(ca).map_err(|e| {
                UsageError::new(format!("cannot read the CA file {}: {e}", ca.display()))
            })?;
            default_certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "the CA file {} holds no PEM certificate",
                        ca.display()
                    ))
                })?;
        }
        let registry = Registry {
            default_certs,
            opts,
            clients: Mutex::new(HashMap::new()),
            policies: Mutex::new(HashMap::new()),
            creds: tokio::sync::Mutex::new((HashMap::new(), AuthStore::default())),
            challenges: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            push_repos: Mutex::new(HashSet::new()),
            announced: Mutex::new(HashMap::new()),
            token_fetch: tokio::sync::Mutex::new(()),
            rotated: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            referrers_api: Default::default(),
            round_trips: Default::default(),
        };
        // The common client, built now so a setup problem shows before any work.
        registry
            .client_for(&Trust {
                verify: !registry.opts.allow_insecure,
                ca_files: Vec::new(),
            })
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(registry)
    }

    /// Registry HTTP requests sent so far, token requests included (for `-v` and benchmarks).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The typical time a registry took to answer a request in this process (the median of
    /// the latest answers), `None` before the first answer. The settle window of a tag write
    /// scales with it.
    pub fn typical_round_trip(&self) -> Option<Duration> {
        self.round_trips.typical()
    }

    /// Say that this process will push to `repo`, so its token is fetched with push
    /// rights the first time (one token request instead of two).
    pub fn will_push(&self, repo: &Repository) {
        lock(&self.push_repos).insert(key(repo));
        self.will_pull(repo);
    }

    /// Say that this process will read from `repo` (a batch names its images up front): on a
    /// token registry, one token request then covers several repositories.
    pub fn will_pull(&self, repo: &Repository) {
        let (registry, path) = key(repo);
        let mut announced = lock(&self.announced);
        let paths = announced.entry(registry).or_default();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }

    /// The per-image deadline (see [`RegistryOptions::image_deadline`]) applied to `work`:
    /// a registry that trickles or keeps failing cannot hold one image for longer.
    pub async fn within_deadline<T>(
        &self,
        image: &str,
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let after = self.opts.image_deadline();
        match tokio::time::timeout(after, work).await {
            Ok(result) => result,
            Err(_) => Err(RegistryError::ImageDeadline {
                image: image.to_string(),
                after,
            }
            .into()),
        }
    }

    /// What registries.conf and certs.d say about `name` (a repository or a host), read once.
    pub(super) fn policy(&self, name: &str) -> Result<HostPolicy, RegistryError> {
        if let Some(p) = lock(&self.policies).get(name) {
            return Ok(p.clone());
        }
        let host = name.split('/').next().unwrap_or(name);
        let policy = self
            .opts
            .hosts
            .policy(name)
            .map_err(|e| RegistryError::Protocol {
                registry: host.to_string(),
                detail: e.to_string(),
            })?;
        lock(&self.policies).insert(name.to_string(), policy.clone());
        Ok(policy)
    }

    /// The HTTP client for a host with this policy.
    pub(super) fn client(
        &self,
        host: &str,
        policy: &HostPolicy,
    ) -> Result<reqwest::Client, RegistryError> {
        self.client_for(&Trust {
            verify: policy.verify_tls && !self.opts.allow_insecure,
            ca_files: policy.ca_files.clone(),
        })
        .map_err(|detail| RegistryError::Protocol {
            registry: host.to_string(),
            detail,
        })
    }

    fn client_for(&self, trust: &Trust) -> Result<reqwest::Client, String> {
        if let Some(c) = lock(&self.clients).get(trust) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("pinsign/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.opts.connect_timeout())
            .read_timeout(self.opts.timeout)
            .pool_idle_timeout(Duration::from_secs(60));
        let mut certs = self.default_certs.clone();
        for file in &trust.ca_files {
            let pem = super::hosts::read_ca_file(file).map_err(|e| e.to_string())?;
            let found = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    format!("the CA file {} holds no PEM certificate", file.display())
                })?;
            certs.extend(found);
        }
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        if !trust.verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        lock(&self.clients).insert(trust.clone(), client.clone());
        Ok(client)
    }

    /// The scheme for `host` now, and whether it is still being probed (HTTPS tried first on a
    /// host allowed plain HTTP).
    fn scheme(&self, host: &str, policy: &HostPolicy) -> (Scheme, bool) {
        if self.opts.allow_http {
            return (Scheme::Http, false);
        }
        match self.opts.schemes.get(host) {
            Some(s) => (s, false),
            None => (Scheme::Https, policy.http_fallback),
        }
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

    /// Send one logical request: attach auth, answer one 401 challenge, retry 5xx, 429,
    /// connection errors and missing answers with backoff (honouring `Retry-After`) within
    /// the attempts and the retry budget. Returns the final response whatever its status.
    pub(super) async fn send(
        &self,
        repo: &Repository,
        method: Method,
        path: &str,
        access: Access,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, RegistryError> {
        let host = repo.registry();
        let policy = self.policy(&repo.to_string())?;
        if let Some(file) = &policy.blocked_by {
            return Err(RegistryError::Blocked {
                registry: host.to_string(),
                file: file.clone(),
            });
        }
        let client = self.client(host, &policy)?;
        let attempts = self.opts.attempts.max(1);
        let mut budget = Budget::new(self.opts.retry_budget);
        let mut attempt = 0;
        let mut no_answers = 0;
        let mut challenged = false;
        loop {
            attempt += 1;
            let (scheme, probing) = self.scheme(host, &policy);
            let url = request_url(scheme, host, path);
            let shown = url.split('?').next().unwrap_or(&url).to_string();
            // An absolute URL (an upload's Location) may point elsewhere: our credentials
            // go only to the registry's own host.
            let ours = reqwest::Url::parse(&url).is_ok_and(|u| on_host(&u, host));
            let auth = if ours {
                self.auth_header(repo, access).await?
            } else {
                None
            };
            let mut req = client
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(a) = &auth {
                req = req.header(AUTHORIZATION, a.as_str());
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = std::time::Instant::now();
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    if probing && answered_plain_http(&e) {
                        // Not a request the registry saw: the TLS handshake got plain HTTP.
                        self.requests.fetch_sub(1, Ordering::Relaxed);
                        attempt -= 1;
                        self.opts.schemes.set(host, Scheme::Http);
                        tracing::info!(
                            "{host} answers plain HTTP; using http:// ({})",
                            policy.reason.as_deref().unwrap_or("allowed")
                        );
                        continue;
                    }
                    let err = self.map_send_error(host, &e, false);
                    let retry = match &err {
                        RegistryError::NoAnswer { .. } => {
                            no_answers += 1;
                            no_answers < MAX_NO_ANSWER
                        }
                        other => other.is_transient(),
                    };
                    if retry && attempt < attempts {
                        let wait = crate::backoff::delay(self.opts.retry_base, attempt);
                        if budget.take(wait) {
                            tracing::info!(
                                "{method} {shown}: {err}; retrying in {} (attempt {} of {attempts})",
                                show(wait),
                                attempt + 1
                            );
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    return Err(err);
                }
            };
            if probing {
                self.opts.schemes.set(host, Scheme::Https);
            }
            let took = sent.elapsed();
            self.round_trips.record(took);
            let status = resp.status();
            tracing::debug!(
                "{method} {shown} -> {} ({} ms)",
                status.as_u16(),
                took.as_millis()
            );
            let requested = reqwest::Url::parse(&url).ok();
            let redirected = requested
                .as_ref()
                .is_some_and(|u| !same_origin(u, resp.url()));
            if redirected && (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
            {
                return Err(RegistryError::RedirectRefused {
                    registry: host.to_string(),
                    target: origin(resp.url()),
                    method: method.to_string(),
                    path: path.split('?').next().unwrap_or(path).to_string(),
                    status: status.as_u16(),
                });
            }
            if status == StatusCode::UNAUTHORIZED && !challenged && ours && !redirected {
                challenged = true;
                if self
                    .answer_challenge(repo, access, &resp, auth.as_ref().map(|a| a.as_str()))
                    .await?
                {
                    // The challenge round trip is not a failed attempt.
                    attempt -= 1;
                    continue;
                }
            }
            let asked = header_str(resp.headers(), RETRY_AFTER.as_str())
                .and_then(|v| retry::retry_after(&v, std::time::SystemTime::now()));
            if status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::SERVICE_UNAVAILABLE && asked.is_some())
            {
                let wait =
                    asked.unwrap_or_else(|| crate::backoff::delay(self.opts.retry_base, attempt));
                let too_long = wait > retry::MAX_RETRY_AFTER || wait > budget.left();
                if attempt < attempts && !too_long && budget.take(wait) {
                    tracing::info!(
                        "{method} {shown} -> {} ({}); retrying in {}{} (attempt {} of {attempts})",
                        status.as_u16(),
                        if status == StatusCode::TOO_MANY_REQUESTS {
                            "rate limited"
                        } else {
                            "unavailable"
                        },
                        show(wait),
                        if asked.is_some() {
                            ", as Retry-After asks"
                        } else {
                            ""
                        },
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                if status == StatusCode::TOO_MANY_REQUESTS {
                    return Err(RegistryError::RateLimited {
                        registry: host.to_string(),
                        method: method.to_string(),
                        path: path.split('?').next().unwrap_or(path).to_string(),
                        status: status.as_u16(),
                        attempts: attempt,
                        wait: asked.filter(|_| too_long),
                    });
                }
                return Ok(resp);
            }
            if status.is_server_error() && attempt < attempts {
                let wait = crate::backoff::delay(self.opts.retry_base, attempt);
                if budget.take(wait) {
                    tracing::info!(
                        "{method} {shown} -> {}; retrying in {} (attempt {} of {attempts})",
                        status.as_u16(),
                        show(wait),
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(self.unauthorized(repo, status, access).await);
            }
            return Ok(resp);
        }
    }

    /// React to a 401 from the registry itself: remember its challenge and get what it asks
    /// for. `true` when the request should be sent again.
    async fn answer_challenge(
        &self,
        repo: &Repository,
        access: Access,
        resp: &reqwest::Response,
        sent: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let header = header_str(resp.headers(), WWW_AUTHENTICATE.as_str());
        // A 401 without a challenge pinsign understands still asks for credentials: answer it
        // as Basic.
        let challenge = header
            .as_deref()
            .and_then(Challenge::parse)
            .unwrap_or(Challenge::Basic);
        lock(&self.challenges).insert(repo.registry().to_string(), challenge.clone());
        let creds = self.credentials(repo).await?;
        match challenge {
            Challenge::Bearer { .. } => {
                if let Some(c) = creds
                    .as_ref()
                    .filter(|c| c.kind() == SecretKind::RegistryToken)
                {
                    // Sent as is: again only if this request did not carry it already.
                    return Ok(sent != Some(c.bearer_header().as_str()));
                }
                // Forget the cached token only if this request carried it (it was refused):
                // jobs that went out before a concurrent job fetched the first token must
                // share it, not throw it away.
                let sent_token = sent.and_then(|a| a.strip_prefix("Bearer "));
                {
                    let mut tokens = lock(&self.tokens);
                    if tokens
                        .get(&key(repo))
                        .is_some_and(|t| sent_token == Some(t.value.as_str()))
                    {
                        tokens.remove(&key(repo));
                    }
                }
                self.fetch_token(repo, access).await?;
                Ok(true)
            }
            // Send what we have now that the registry asked, unless we just did.
            Challenge::Basic => Ok(creds.is_some() && sent.is_none()),
        }
    }

    pub(super) async fn unauthorized(
        &self,
        repo: &Repository,
        status: StatusCode,
        access: Access,
    ) -> RegistryError {
        let (credentials, kind) = match self.credentials(repo).await {
            Ok(Some(c)) => (c.source.clone(), Some(c.kind())),
            _ => {
                let guard = self.creds.lock().await;
                match guard.1.note(repo.registry()) {
                    Some(note) => (CredentialSource::Unusable(note.to_string()), None),
                    None => (CredentialSource::Anonymous, None),
                }
            }
        };
        RegistryError::Unauthorized {
            registry: repo.registry().to_string(),
            repository: repo.to_string(),
            status: status.as_u16(),
            credentials,
            kind,
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
        match &found {
            Some(c) => tracing::info!(
                "credentials for {} from {}{}",
                repo.registry(),
                c.kind().words(),
                c.source
            ),
            None => {
                if let Some(note) = store.note(repo.registry()) {
                    tracing::info!("no credentials for {}: {note}", repo.registry());
                }
            }
        }
        cache.insert(cache_key, found.clone());
        Ok(found)
    }

    /// The Authorization header for a request: a cached token with enough rights; what the
    /// registry's challenge asks for (a token fetched now, or Basic); before any challenge,
    /// the credentials of an auth file entry for this registry (a basic-auth registry then
    /// costs no 401 round trip). Credentials given as flags or environment variables are
    /// not tied to a registry: they wait for the registry to challenge.
    async fn auth_header(
        &self,
        repo: &Repository,
        access: Access,
    ) -> Result<Option<Zeroizing<String>>, RegistryError> {
        if let Some(t) = lock(&self.tokens).get(&key(repo)) {
            if t.access >= access {
                return Ok(Some(Zeroizing::new(format!("Bearer {}", t.value.as_str()))));
            }
        }
        let challenge = lock(&self.challenges).get(repo.registry()).cloned();
        let creds = self.credentials(repo).await?;
        match (challenge, creds) {
            (Some(Challenge::Bearer { .. }), Some(c)) if c.kind() == SecretKind::RegistryToken => {
                Ok(Some(c.bearer_header()))
            }
            (Some(Challenge::Bearer { .. }), _) => {
                let token = self.fetch_token(repo, access).await?;
                Ok(Some(Zeroizing::new(format!("Bearer {}", token.as_str()))))
            }
            (Some(Challenge::Basic), Some(c)) => match c.kind() {
                SecretKind::Password => Ok(Some(c.basic_header())),
                SecretKind::RegistryToken => Ok(Some(c.bearer_header())),
                SecretKind::IdentityToken => Err(RegistryError::CredentialMismatch {
                    registry: repo.registry().to_string(),
                    wanted: "a password (Basic auth)".into(),
                    kind: c.kind(),
                    from: c.source.clone(),
                    why: "only a token server can exchange".into(),
                }),
            },
            (_, None) => Ok(None),
            (None, Some(c)) => Ok(match (&c.source, c.kind()) {
                (CredentialSource::Given(_), _) => None,
                (_, SecretKind::Password) => Some(c.basic_header()),
                (_, SecretKind::RegistryToken) => Some(c.bearer_header()),
                (_, SecretKind::IdentityToken) => None,
            }),
        }
    }

    /// Classify a transport error by the types in its source chain: a TLS problem (from
    /// rustls's own error), plain HTTP where TLS was expected, no answer within the
    /// timeout, or a connection problem (transient).
    pub(super) fn map_send_error(
        &self,
        registry: &str,
        e: &reqwest::Error,
        token_server: bool,
    ) -> RegistryError {
        let registry = registry.to_string();
        if let Some(tls) = rustls_error(e) {
            use rustls::{CertificateError, Error};
            if is_plain_http_record(tls) {
                return RegistryError::PlainHttp { registry };
            }
            let problem = match tls {
                Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    TlsProblem::UnknownIssuer
                }
                Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
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
        if e.is_timeout() {
            let connecting = e.is_connect();
            return RegistryError::NoAnswer {
                registry,
                after: if connecting {
                    self.opts.connect_timeout()
                } else {
                    self.opts.timeout
                },
                connecting,
                token_server,
            };
        }
        let refused =
            io_error(e).is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        let detail = if refused {
            "connection refused; is the registry running and the address right?".to_string()
        } else {
            root_cause(e)
        };
        RegistryError::Connect { registry, detail }
    }

    /// Read a response body of at most `max` bytes.
    pub(super) async fn read_capped(
        &self,
        repo: &Repository,
        resp: reqwest::Response,
        max: usize,
        path: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let too_big = || RegistryError::TooLarge {
            registry: repo.registry().to_string(),
            what: path.to_string(),
            max,
        };
        read_limited(resp, max).await.map_err(|e| match e {
            Limited::TooBig => too_big(),
            Limited::Failed(e) => self.map_send_error(repo.registry(), &e, false),
        })
    }
}

/// Why reading a bounded body stopped.
pub(super) enum Limited {
    TooBig,
    Failed(reqwest::Error),
}

/// A body of at most `max` bytes: refused from `Content-Length` before reading, or as soon as
/// more arrives, so an endless or huge body never grows memory past `max`.
pub(super) async fn read_limited(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Limited> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(Limited::TooBig);
    }
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > max {
                    return Err(Limited::TooBig);
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(Limited::Failed(e)),
        }
    }
}

/// `scheme://host/path`, or `path` itself when it is already a URL (an upload's Location).
fn request_url(scheme: Scheme, host: &str, path_or_url: &str) -> String {
    if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
        return path_or_url.to_string();
    }
    format!("{}://{host}{path_or_url}", scheme.as_str())
}

/// `host[:port]` of a URL, as messages and registries.conf name hosts.
pub(super) fn origin(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// True when two URLs have the same scheme, host and port (what keeps an Authorization).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// True when `url` points at `registry` (`host[:port]`, the port defaulting by scheme).
fn on_host(url: &reqwest::Url, registry: &str) -> bool {
    let (host, port) = super::hosts::split_host_port(registry);
    let port = port.and_then(|p| p.parse::<u16>().ok());
    let Some(url_host) = url.host_str() else {
        return false;
    };
    let url_host = url_host.trim_start_matches('[').trim_end_matches(']');
    url_host.eq_ignore_ascii_case(host)
        && url.port_or_known_default() == port.or_else(|| url.port_or_known_default())
}

/// True when a TLS handshake got a plain-HTTP answer: the server speaks HTTP on that port.
fn answered_plain_http(e: &reqwest::Error) -> bool {
    rustls_error(e).is_some_and(is_plain_http_record)
}

/// What an HTTP answer ("HTTP/1.1 400") looks like to a TLS record reader.
fn is_plain_http_record(tls: &rustls::Error) -> bool {
    use rustls::{Error, InvalidMessage};
    matches!(
        tls,
        Error::InvalidMessage(
            InvalidMessage::InvalidContentType
                | InvalidMessage::MessageTooLarge
                | InvalidMessage::UnknownProtocolVersion
        )
    )
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
                auth_files: AuthFiles {
                    files: vec![file.clone()],
                },
                attempts: 1,
                retry_base: Duration::from_millis(1),
                ..RegistryOptions::default()
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
