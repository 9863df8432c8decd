//! CNCF Distribution 2.8 (`docker-registry serve CONFIG.yml`) on `127.0.0.1:<free port>`, with its own
//! temp dir for config, certificates, storage and log; killed and reaped on `Drop` unless
//! `PINSIGN_KEEP_REGISTRY=1`.

use super::client::Endpoint;
use super::pki::Ca;
use super::process::ServerProcess;
use super::token::{TokenServer, ISSUER, SERVICE};
use super::{require_tool, run};
use std::path::{Path, PathBuf};
use std::process::Command;
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
    server: ServerProcess,
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
        Registry::start_with_realm(kind, &|token: &TokenServer| token.realm())
    }

    /// TLS + token auth whose challenge names the realm `realm(token server)` instead of
    /// `http://127.0.0.1:PORT/token`: e.g. the same server as `http://[::ffff:127.0.0.1]:PORT/token`,
    /// a plain-HTTP realm on a host the loopback rule does not cover.
    pub fn token_with_realm(realm: &dyn Fn(&TokenServer) -> String) -> Registry {
        Registry::start_with_realm(RegistryKind::Token, realm)
    }

    fn start_with_realm(kind: RegistryKind, realm: &dyn Fn(&TokenServer) -> String) -> Registry {
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
                realm(token),
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

        let storage = root.join("storage");
        let config_path = root.join("config.yml");
        let ca_cert = ca.as_ref().map(|c| c.cert.clone());
        let mut server = ServerProcess::launch(
            "docker-registry",
            dir,
            "registry.log",
            |port| {
                let config = format!(
                    "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: pinsign-test-secret\n{tls}{auth}",
                    storage.display()
                );
                std::fs::write(&config_path, config).expect("write config.yml");
                let mut cmd = Command::new(&binary);
                cmd.arg("serve").arg(&config_path);
                cmd
            },
            |port| {
                let endpoint = Endpoint {
                    host: format!("127.0.0.1:{port}"),
                    tls: kind.tls(),
                    ca: ca_cert.clone(),
                    cert_dir: cert_dir.clone(),
                    creds: None,
                };
                super::client::quick_ping(&endpoint).is_some()
            },
        );
        if token.is_some() {
            server.keep_note = "; its token server lived in the test process and is gone".into();
        }
        Registry {
            kind,
            server,
            ca: ca_cert,
            cert_dir,
            token,
            startup: started.elapsed(),
        }
    }

    pub fn kind(&self) -> RegistryKind {
        self.kind
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
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
        self.server.dir()
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
}
