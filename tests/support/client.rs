//! How to reach a registry ([`Endpoint`]: address, TLS, credentials, and the flags pinsign, buildah and
//! skopeo need for it) and a small raw-HTTP registry client ([`RegClient`]) with Basic and Bearer auth,
//! used to read manifests back and to push tiny synthetic images quickly.

use super::{block_on, sha256_digest, User};
use anyhow::{bail, Context};
use base64::Engine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Accept header for manifests: OCI and Docker, images and indexes.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// Where a registry is and how to talk to it. Cheap to clone; `with_user`/`anonymous` change the
/// credentials used by every helper below.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `127.0.0.1:PORT`
    pub host: String,
    pub tls: bool,
    /// CA certificate (PEM) for a TLS registry.
    pub ca: Option<PathBuf>,
    /// Directory holding only `ca.crt`, for `--cert-dir` of buildah and skopeo.
    pub cert_dir: Option<PathBuf>,
    /// User name and password, if any.
    pub creds: Option<(String, String)>,
}

/// A response read completely.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub status: u16,
    /// `Docker-Content-Digest`, if sent.
    pub digest: Option<String>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        super::httpd::header(&self.headers, name)
    }
}

/// A synthetic image pushed by [`RegClient::push_synthetic`].
#[derive(Clone, Debug)]
pub struct SyntheticImage {
    pub repo: String,
    /// Manifest digest `sha256:<hex>`.
    pub digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub layer_digest: String,
    /// `HOST/REPO@DIGEST`
    pub pinned: String,
}

/// A synthetic two-platform OCI index (linux/amd64, linux/arm64) and its children.
#[derive(Clone, Debug)]
pub struct SyntheticIndex {
    pub digest: String,
    pub index: Vec<u8>,
    pub children: Vec<SyntheticImage>,
    pub pinned: String,
}

impl Endpoint {
    /// `http://HOST` or `https://HOST`
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.host
        )
    }

    /// `HOST/REPO[:TAG|@DIGEST]`, as pinsign, buildah and skopeo take it.
    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{}", self.host, repo_and_ref)
    }

    /// `docker://HOST/REPO...` for buildah and skopeo.
    pub fn docker_ref(&self, repo_and_ref: &str) -> String {
        format!("docker://{}", self.image(repo_and_ref))
    }

    pub fn with_user(&self, user: User) -> Endpoint {
        Endpoint {
            creds: Some((user.name.to_string(), user.password.to_string())),
            ..self.clone()
        }
    }

    pub fn with_creds(&self, name: &str, password: &str) -> Endpoint {
        Endpoint {
            creds: Some((name.to_string(), password.to_string())),
            ..self.clone()
        }
    }

    pub fn anonymous(&self) -> Endpoint {
        Endpoint {
            creds: None,
            ..self.clone()
        }
    }

    /// pinsign global flags to reach this registry: `--allow-http-registry` or `--registry-cacert FILE`.
    /// Credentials are not included: use [`Endpoint::pinsign_env`] (or [`Endpoint::pinsign_cred_flags`]).
    pub fn pinsign_flags(&self) -> Vec<String> {
        match (&self.ca, self.tls) {
            (_, false) => vec!["--allow-http-registry".to_string()],
            (Some(ca), true) => vec!["--registry-cacert".to_string(), path_str(ca)],
            (None, true) => Vec::new(),
        }
    }

    /// `PINSIGN_REGISTRY_USERNAME` / `PINSIGN_REGISTRY_PASSWORD` for the credentials, if any.
    pub fn pinsign_env(&self) -> Vec<(String, String)> {
        match &self.creds {
            Some((u, p)) => vec![
                ("PINSIGN_REGISTRY_USERNAME".to_string(), u.clone()),
                ("PINSIGN_REGISTRY_PASSWORD".to_string(), p.clone()),
            ],
            None => Vec::new(),
        }
    }

    /// Adds [`Endpoint::pinsign_flags`] (global flags, valid before the subcommand) and
    /// [`Endpoint::pinsign_env`] to a pinsign command.
    pub fn configure_pinsign(&self, cmd: &mut assert_cmd::Command) {
        cmd.args(self.pinsign_flags()).envs(self.pinsign_env());
    }

    /// [`Endpoint::configure_pinsign`] for a `std::process::Command`.
    pub fn configure_pinsign_std(&self, cmd: &mut std::process::Command) {
        cmd.args(self.pinsign_flags()).envs(self.pinsign_env());
    }

    /// `--registry-username U --registry-password P`, if credentials are set.
    pub fn pinsign_cred_flags(&self) -> Vec<String> {
        match &self.creds {
            Some((u, p)) => vec![
                "--registry-username".to_string(),
                u.clone(),
                "--registry-password".to_string(),
                p.clone(),
            ],
            None => Vec::new(),
        }
    }

    /// Flags for `buildah push`, `skopeo inspect`, `skopeo delete`: TLS and `--creds`.
    pub fn containers_flags(&self) -> Vec<String> {
        self.containers_flags_prefixed("")
    }

    /// Flags for the destination side of `skopeo copy`.
    pub fn skopeo_dest_flags(&self) -> Vec<String> {
        self.containers_flags_prefixed("dest-")
    }

    fn containers_flags_prefixed(&self, prefix: &str) -> Vec<String> {
        let mut flags = Vec::new();
        if !self.tls {
            flags.push(format!("--{prefix}tls-verify=false"));
        } else if let Some(dir) = &self.cert_dir {
            flags.push(format!("--{prefix}cert-dir"));
            flags.push(path_str(dir));
        }
        if let Some((u, p)) = &self.creds {
            flags.push(format!("--{prefix}creds"));
            flags.push(format!("{u}:{p}"));
        }
        flags
    }

    /// An async client using this endpoint's credentials.
    pub fn client(&self) -> RegClient {
        RegClient::new(self)
    }

    // Sync conveniences (they panic on transport errors, not on HTTP statuses).

    /// Status of a bare `GET /v2/`: no credentials, no token, no retry (401 on auth variants).
    pub fn ping(&self) -> u16 {
        let client = self.anonymous().client();
        let url = format!("{}/v2/", self.url());
        block_on(async move {
            client
                .http
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
        .expect("GET /v2/")
    }

    /// `GET /v2/REPO/manifests/REFERENCE` with auth; the response whatever its status.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Fetched {
        block_on(async { self.client().get_manifest(repo, reference).await }).expect("GET manifest")
    }

    /// `HEAD /v2/REPO/manifests/REFERENCE` with auth.
    pub fn head_manifest(&self, repo: &str, reference: &str) -> Fetched {
        block_on(async { self.client().head_manifest(repo, reference).await })
            .expect("HEAD manifest")
    }

    /// `GET /v2/REPO/referrers/DIGEST` with auth.
    pub fn referrers(&self, repo: &str, digest: &str) -> Fetched {
        block_on(async {
            self.client()
                .get(&format!("/v2/{repo}/referrers/{digest}"))
                .await
        })
        .expect("GET referrers")
    }

    /// Tags of `repo` (empty if the repository does not exist).
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let fetched = block_on(async { self.client().get(&format!("/v2/{repo}/tags/list")).await })
            .expect("GET tags");
        if fetched.status == 404 {
            return Vec::new();
        }
        assert_eq!(fetched.status, 200, "tags of {repo}: {fetched:?}");
        fetched.json()["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Pushes a tiny synthetic OCI image (config + one tar layer + manifest), tagged if `tag` is given;
    /// different seeds give different digests. Panics on failure.
    pub fn push_synthetic(&self, repo: &str, tag: Option<&str>, seed: u64) -> SyntheticImage {
        self.try_push_synthetic(repo, tag, seed)
            .unwrap_or_else(|e| panic!("push synthetic image to {}/{repo}: {e:#}", self.host))
    }

    pub fn try_push_synthetic(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: u64,
    ) -> anyhow::Result<SyntheticImage> {
        block_on(async { self.client().push_synthetic(repo, tag, seed).await })
    }

    /// Pushes a synthetic OCI index of two images (linux/amd64, linux/arm64). Panics on failure.
    pub fn push_synthetic_index(&self, repo: &str, tag: Option<&str>, seed: u64) -> SyntheticIndex {
        block_on(async { self.client().push_synthetic_index(repo, tag, seed).await })
            .unwrap_or_else(|e| panic!("push synthetic index to {}/{repo}: {e:#}", self.host))
    }
}

/// Status of `GET /v2/` if the server accepts a connection and answers within a second
/// (used while waiting for a server to start).
pub fn quick_ping(ep: &Endpoint) -> Option<u16> {
    let addr: std::net::SocketAddr = ep.host.parse().ok()?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    let client = RegClient::new(&ep.anonymous());
    let url = format!("{}/v2/", ep.url());
    block_on(async move {
        let response = client
            .http
            .get(url)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .ok()?;
        Some(response.status().as_u16())
    })
}

fn path_str(path: &std::path::Path) -> String {
    path.to_str().expect("UTF-8 path").to_string()
}

#[derive(Clone, Debug)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    /// Bearer tokens by scope.
    tokens: HashMap<String, String>,
}

/// A raw registry client: every request is sent as given; auth (Basic or Bearer, discovered from the
/// 401 challenge) is added and the request retried once.
pub struct RegClient {
    ep: Endpoint,
    http: reqwest::Client,
    auth: Mutex<AuthState>,
}

impl RegClient {
    pub fn new(ep: &Endpoint) -> RegClient {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none());
        // Only the test CA is trusted (none for http): loading the system's roots would cost
        // ~100 ms per client, and nothing here may reach a real registry anyway.
        let mut roots = Vec::new();
        if let Some(ca) = &ep.ca {
            let pem = std::fs::read(ca).expect("read CA certificate");
            roots.push(reqwest::Certificate::from_pem(&pem).expect("CA certificate PEM"));
        }
        builder = builder.tls_certs_only(roots);
        RegClient {
            ep: ep.clone(),
            http: builder.build().expect("reqwest client"),
            auth: Mutex::new(AuthState::default()),
        }
    }

    /// Sends `method` to `path_or_url` (`/v2/...` or an absolute URL such as an upload `Location`),
    /// with auth. The scope for a token is derived from the path and method.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Fetched> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.ep.url(), path_or_url)
        };
        let scope = scope_for(&method, &url);
        let mut fetched_auth = false;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(value) = self.authorization(scope.as_deref()) {
                request = request.header("Authorization", value);
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let fetched = read_response(response).await?;
            if fetched.status != 401 || fetched_auth {
                return Ok(fetched);
            }
            let Some(challenge) = fetched.header("www-authenticate").and_then(parse_challenge)
            else {
                return Ok(fetched);
            };
            fetched_auth = true;
            match &challenge {
                Challenge::Basic if self.ep.creds.is_none() => return Ok(fetched),
                Challenge::Basic => {}
                Challenge::Bearer { realm, service } => {
                    // A refusal by the token server (e.g. 401, wrong password) is the answer.
                    let token = match self
                        .fetch_token(realm, service.as_deref(), scope.as_deref())
                        .await?
                    {
                        Ok(token) => token,
                        Err(refused) => return Ok(refused),
                    };
                    self.auth
                        .lock()
                        .unwrap()
                        .tokens
                        .insert(scope.clone().unwrap_or_default(), token);
                }
            }
            self.auth.lock().unwrap().challenge = Some(challenge);
        }
    }

    fn authorization(&self, scope: Option<&str>) -> Option<String> {
        let state = self.auth.lock().unwrap();
        match state.challenge.as_ref()? {
            Challenge::Basic => {
                let (u, p) = self.ep.creds.as_ref()?;
                Some(basic_header(u, p))
            }
            Challenge::Bearer { .. } => state
                .tokens
                .get(scope.unwrap_or_default())
                .map(|t| format!("Bearer {t}")),
        }
    }

    /// A token, or the token server's refusal.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> anyhow::Result<Result<String, Fetched>> {
        let mut query = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        if let Some(scope) = scope {
            query.push(("scope", scope));
        }
        let mut request = self.http.get(realm).query(&query);
        if let Some((u, p)) = &self.ep.creds {
            request = request.header("Authorization", basic_header(u, p));
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("GET {realm}"))?;
        let fetched = read_response(response).await?;
        if fetched.status != 200 {
            return Ok(Err(fetched));
        }
        let body: serde_json::Value =
            serde_json::from_slice(&fetched.body).context("token response JSON")?;
        body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(|t| Ok(t.to_string()))
            .context("token response without token")
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Fetched> {
        self.send(reqwest::Method::GET, path, &[], None).await
    }

    pub async fn get_manifest(&self, repo: &str, reference: &str) -> anyhow::Result<Fetched> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.send(
            reqwest::Method::GET,
            &path,
            &[("Accept", MANIFEST_ACCEPT)],
            None,
        )
        .await
    }

    pub async fn head_manifest(&self, repo: &str, reference: &str) -> anyhow::Result<Fetched> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.send(
            reqwest::Method::HEAD,
            &path,
            &[("Accept", MANIFEST_ACCEPT)],
            None,
        )
        .await
    }

    /// PUTs a manifest; returns the response (201 on success, `Docker-Content-Digest` set).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> anyhow::Result<Fetched> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.send(
            reqwest::Method::PUT,
            &path,
            &[("Content-Type", media_type)],
            Some(body.to_vec()),
        )
        .await
    }

    /// Uploads a blob (POST, then one PUT with the bytes); returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> anyhow::Result<String> {
        let digest = sha256_digest(bytes);
        let start = self
            .send(
                reqwest::Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                &[("Content-Length", "0")],
                None,
            )
            .await?;
        if start.status != 202 {
            bail!(
                "POST blob upload to {repo}: {} {}",
                start.status,
                String::from_utf8_lossy(&start.body)
            );
        }
        let location = start
            .header("location")
            .context("upload started without Location")?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.ep.url())
        } else {
            location.to_string()
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let done = self
            .send(
                reqwest::Method::PUT,
                &url,
                &[("Content-Type", "application/octet-stream")],
                Some(bytes.to_vec()),
            )
            .await?;
        if done.status != 201 {
            bail!(
                "PUT blob {digest} to {repo}: {} {}",
                done.status,
                String::from_utf8_lossy(&done.body)
            );
        }
        Ok(digest)
    }

    /// Pushes a synthetic single-platform image (linux/amd64); see [`Endpoint::push_synthetic`].
    pub async fn push_synthetic(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: u64,
    ) -> anyhow::Result<SyntheticImage> {
        self.push_synthetic_for(repo, tag, seed, "amd64").await
    }

    async fn push_synthetic_for(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: u64,
        arch: &str,
    ) -> anyhow::Result<SyntheticImage> {
        let layer = tar_one_file(
            "seed.txt",
            format!("pinsign synthetic image, seed {seed}, {arch}\n").as_bytes(),
        );
        let layer_digest = self.push_blob(repo, &layer).await?;
        let config = serde_json::to_vec(&serde_json::json!({
            "created": "1970-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))?;
        let config_digest = self.push_blob(repo, &config).await?;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": layer.len()}],
        }))?;
        let digest = sha256_digest(&manifest);
        let put = self
            .put_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, &manifest)
            .await?;
        if put.status != 201 {
            bail!(
                "PUT manifest {repo}:{}: {} {}",
                tag.unwrap_or(&digest),
                put.status,
                String::from_utf8_lossy(&put.body)
            );
        }
        Ok(SyntheticImage {
            repo: repo.to_string(),
            pinned: format!("{}/{repo}@{digest}", self.ep.host),
            digest,
            manifest,
            config_digest,
            layer_digest,
        })
    }

    /// Pushes two synthetic images by digest and an OCI index over them, tagged if `tag` is given.
    pub async fn push_synthetic_index(
        &self,
        repo: &str,
        tag: Option<&str>,
        seed: u64,
    ) -> anyhow::Result<SyntheticIndex> {
        let mut children = Vec::new();
        for arch in ["amd64", "arm64"] {
            children.push(self.push_synthetic_for(repo, None, seed, arch).await?);
        }
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .zip(["amd64", "arm64"])
            .map(|(child, arch)| {
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": child.manifest.len(),
                    "platform": {"architecture": arch, "os": "linux"},
                })
            })
            .collect();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))?;
        let digest = sha256_digest(&index);
        let put = self
            .put_manifest(repo, tag.unwrap_or(&digest), OCI_INDEX, &index)
            .await?;
        if put.status != 201 {
            bail!(
                "PUT index {repo}: {} {}",
                put.status,
                String::from_utf8_lossy(&put.body)
            );
        }
        Ok(SyntheticIndex {
            pinned: format!("{}/{repo}@{digest}", self.ep.host),
            digest,
            index,
            children,
        })
    }
}

async fn read_response(response: reqwest::Response) -> anyhow::Result<Fetched> {
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .bytes()
        .await
        .context("read response body")?
        .to_vec();
    Ok(Fetched {
        status,
        digest: super::httpd::header(&headers, "docker-content-digest").map(str::to_string),
        content_type: super::httpd::header(&headers, "content-type").map(str::to_string),
        headers,
        body,
    })
}

fn basic_header(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// `repository:NAME:ACTIONS` for a `/v2/NAME/{manifests,blobs,tags,referrers}/...` URL.
fn scope_for(method: &reqwest::Method, url: &str) -> Option<String> {
    let path = url.split("://").nth(1)?.split_once('/')?.1;
    let path = path.split('?').next()?;
    let rest = path.strip_prefix("v2/")?;
    let name = ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|kw| rest.rfind(kw).map(|i| &rest[..i]))
        .max_by_key(|n| n.len())?;
    let actions = match *method {
        reqwest::Method::GET | reqwest::Method::HEAD => "pull",
        reqwest::Method::DELETE => "pull,push,delete",
        _ => "pull,push",
    };
    Some(format!("repository:{name}:{actions}"))
}

/// Parses `Basic realm=..` or `Bearer realm="..",service="..",scope=".."`.
fn parse_challenge(value: &str) -> Option<Challenge> {
    let (scheme, params) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut map = HashMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        map.insert(key, value.to_string());
        rest = tail.trim_start_matches(',').trim();
    }
    Some(Challenge::Bearer {
        realm: map.remove("realm")?,
        service: map.remove("service"),
    })
}

/// An uncompressed tar archive (ustar) holding one regular file, mtime 0.
pub fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |header: &mut [u8; 512], offset: usize, bytes: &[u8]| {
        header[offset..offset + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut header, 0, name.as_bytes());
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 148, b"        ");
    header[156] = b'0';
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    let checksum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    put(&mut header, 148, format!("{checksum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}
