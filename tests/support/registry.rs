//! CNCF Distribution 2.8 (`docker-registry serve CONFIG.yml`) on `127.0.0.1:<free port>`, with its own
//! temp dir for config, certificates, storage and log; killed and reaped on `Drop` unless
//! `PINSIGN_KEEP_REGISTRY=1`.

use super::client::Endpoint;
use super::pki::Ca;
use super::token::{TokenServer, ISSUER, SERVICE};
use super::{free_port, keep_requested, require_tool, run, wait_until, START_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry user. Passwords are fixed test values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct User {
    pub name: &'static str,
    pub password: &'static str,
}

/// Read-write on every auth variant.
pub const WRITER: User = User {
    name: "writer",
    password: "writer-secret",
};
/// Pull-only on the token variants; htpasswd has no authorization, so read-write there.
pub const READER: User = User {
    name: "reader",
    password: "reader-secret",
};
/// The users every auth variant knows.
pub const USERS: [User; 2] = [WRITER, READER];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryKind {
    /// Plain http, no auth.
    Http,
    /// TLS (test CA), no auth.
    Tls,
    /// TLS + htpasswd basic auth (`writer`, `reader`).
    BasicAuth,
    /// TLS + token auth with a [`TokenServer`] in this process.
    Token,
    /// Plain http + token auth (e.g. behind a [`CountingProxy`](super::CountingProxy)).
    TokenHttp,
}

impl RegistryKind {
    pub const ALL: [RegistryKind; 5] = [
        RegistryKind::Http,
        RegistryKind::Tls,
        RegistryKind::BasicAuth,
        RegistryKind::Token,
        RegistryKind::TokenHttp,
    ];

    pub fn tls(self) -> bool {
        matches!(
            self,
            RegistryKind::Tls | RegistryKind::BasicAuth | RegistryKind::Token
        )
    }

    pub fn has_auth(self) -> bool {
        matches!(
            self,
            RegistryKind::BasicAuth | RegistryKind::Token | RegistryKind::TokenHttp
        )
    }
}

/// A running registry.
pub struct Registry {
    kind: RegistryKind,
    port: u16,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    ca: Option<PathBuf>,
    cert_dir: Option<PathBuf>,
    token: Option<TokenServer>,
    /// How long start took (config, certificates, spawn, first answer).
    pub startup: Duration,
}

impl Registry {
    pub fn http() -> Registry {
        Registry::start(RegistryKind::Http)
    }

    pub fn tls() -> Registry {
        Registry::start(RegistryKind::Tls)
    }

    /// TLS + htpasswd.
    pub fn basic_auth() -> Registry {
        Registry::start(RegistryKind::BasicAuth)
    }

    /// TLS + token auth.
    pub fn token() -> Registry {
        Registry::start(RegistryKind::Token)
    }

    /// Plain http + token auth.
    pub fn token_http() -> Registry {
        Registry::start(RegistryKind::TokenHttp)
    }

    pub fn start(kind: RegistryKind) -> Registry {
        let started = Instant::now();
        let binary = require_tool("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("pinsign-registry-")
            .tempdir()
            .expect("create registry temp dir");
        let root = dir.path().to_path_buf();

        let ca = (kind.tls() || kind.has_auth()).then(|| Ca::create(&root.join("pki")));
        let server_cert = kind.tls().then(|| ca.as_ref().unwrap().issue_server());
        let cert_dir = kind.tls().then(|| {
            let cert_dir = root.join("certs.d");
            std::fs::create_dir_all(&cert_dir).expect("create certs.d");
            std::fs::copy(&ca.as_ref().unwrap().cert, cert_dir.join("ca.crt")).expect("copy CA");
            cert_dir
        });
        let token = matches!(kind, RegistryKind::Token | RegistryKind::TokenHttp)
            .then(|| TokenServer::start(ca.as_ref().unwrap(), &USERS));

        let mut auth = String::new();
        if kind == RegistryKind::BasicAuth {
            let htpasswd = root.join("htpasswd");
            let mut lines = String::new();
            for user in USERS {
                lines.push_str(
                    run(Command::new(require_tool("htpasswd")).args([
                        "-Bbn",
                        user.name,
                        user.password,
                    ]))
                    .trim(),
                );
                lines.push('\n');
            }
            std::fs::write(&htpasswd, lines).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: pinsign-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        if let Some(token) = &token {
            auth = format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                token.realm(),
                ca.as_ref().unwrap().cert.display()
            );
        }
        let tls = server_cert
            .as_ref()
            .map(|c| {
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    c.cert.display(),
                    c.key.display()
                )
            })
            .unwrap_or_default();

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: pinsign-test-secret\n{tls}{auth}",
                root.join("storage").display()
            );
            let config_path = root.join("config.yml");
            std::fs::write(&config_path, config).expect("write config.yml");
            let log_path = root.join("registry.log");
            let log = std::fs::File::create(&log_path).expect("create registry.log");
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut registry = Registry {
                kind,
                port,
                child: Some(child),
                path: root.clone(),
                dir: None,
                ca: ca.as_ref().map(|c| c.cert.clone()),
                cert_dir: cert_dir.clone(),
                token: None,
                startup: Duration::ZERO,
            };
            let endpoint = registry.endpoint();
            let ready = wait_until(START_TIMEOUT, || {
                if registry.exited() {
                    return true;
                }
                super::client::quick_ping(&endpoint).is_some()
            });
            if ready && !registry.exited() {
                registry.dir = Some(dir);
                registry.token = token;
                registry.startup = started.elapsed();
                return registry;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(mut child) = registry.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if !ready {
                panic!(
                    "docker-registry on 127.0.0.1:{port} did not answer GET /v2/ within {START_TIMEOUT:?}; log:\n{last_log}"
                );
            }
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("docker-registry exited at start; log:\n{last_log}");
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    pub fn kind(&self) -> RegistryKind {
        self.kind
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://...`
    pub fn url(&self) -> String {
        self.endpoint().url()
    }

    /// `127.0.0.1:PORT/REPO[:TAG|@DIGEST]`
    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{repo_and_ref}", self.host())
    }

    /// The CA certificate (PEM) of a TLS registry.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca.as_deref().filter(|_| self.kind.tls())
    }

    /// The registry's temp dir (config.yml, registry.log, storage/, pki/).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The registry's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("registry.log")).unwrap_or_default()
    }

    /// Users known to an auth variant (empty without auth).
    pub fn users(&self) -> Vec<User> {
        if self.kind.has_auth() {
            USERS.to_vec()
        } else {
            Vec::new()
        }
    }

    /// The token server of a token variant.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// How to reach the registry as `writer` (auth variants) or anonymously (no auth).
    pub fn endpoint(&self) -> Endpoint {
        let endpoint = Endpoint {
            host: self.host(),
            tls: self.kind.tls(),
            ca: self.ca_path().map(Path::to_path_buf),
            cert_dir: self.cert_dir.clone(),
            creds: None,
        };
        if self.kind.has_auth() {
            endpoint.with_user(WRITER)
        } else {
            endpoint
        }
    }

    /// How to reach the registry as `user`.
    pub fn endpoint_as(&self, user: User) -> Endpoint {
        self.endpoint().with_user(user)
    }

    /// How to reach the registry without credentials.
    pub fn anonymous(&self) -> Endpoint {
        self.endpoint().anonymous()
    }

    /// pinsign global flags (`--allow-http-registry` / `--registry-cacert FILE`), no credentials.
    pub fn pinsign_flags(&self) -> Vec<String> {
        self.endpoint().pinsign_flags()
    }

    /// `PINSIGN_REGISTRY_USERNAME/PASSWORD` for `writer` on auth variants, else empty.
    pub fn pinsign_env(&self) -> Vec<(String, String)> {
        self.endpoint().pinsign_env()
    }

    /// buildah push / skopeo inspect flags (TLS, `--creds` for `writer` on auth variants).
    pub fn containers_flags(&self) -> Vec<String> {
        self.endpoint().containers_flags()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if keep_requested() {
            let dir = self.dir.take().map(|d| d.keep());
            eprintln!(
                "{}=1: keeping registry {} (pid {}, dir {}){}",
                super::KEEP_ENV,
                self.url(),
                child.id(),
                dir.unwrap_or_default().display(),
                if self.token.is_some() {
                    "; its token server lived in the test process and is gone"
                } else {
                    ""
                }
            );
            return;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
