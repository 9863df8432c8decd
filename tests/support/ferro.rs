//! `ferro-oci-server` (OCI 1.1, referrers API; no auth, no TLS) on `127.0.0.1:<free port>` with its own
//! storage dir; killed and reaped on `Drop` unless `PINSIGN_KEEP_REGISTRY=1`.

use super::client::{quick_ping, Endpoint};
use super::find_on_path;
use super::process::ServerProcess;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub const INSTALL: &str =
    "cargo install ferro-oci-server --version 1.0.0 --locked --root ~/.cache/pinsign-tools";

/// The `ferro-oci-server` binary: on `PATH`, else `$HOME/.cache/pinsign-tools/bin/`; panics with the
/// install command if neither exists.
pub fn ferro_binary() -> PathBuf {
    if let Some(found) = find_on_path("ferro-oci-server") {
        return found;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/pinsign-tools/bin/ferro-oci-server");
    if cached.is_file() {
        return cached;
    }
    panic!("ferro-oci-server not found: {INSTALL}");
}

pub struct Ferro {
    server: ServerProcess,
    pub startup: Duration,
}

impl Ferro {
    pub fn start() -> Ferro {
        let started = Instant::now();
        let binary = ferro_binary();
        let dir = tempfile::Builder::new()
            .prefix("pinsign-ferro-")
            .tempdir()
            .expect("create ferro temp dir");
        let storage = dir.path().join("storage");
        let server = ServerProcess::launch(
            "ferro-oci-server",
            dir,
            "ferro.log",
            |port| {
                let mut cmd = Command::new(&binary);
                cmd.env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
                    .env("FERRO_OCI_STORAGE_DIR", &storage)
                    .env("NO_COLOR", "1");
                cmd
            },
            |port| quick_ping(&http_endpoint(port)).is_some(),
        );
        Ferro {
            server,
            startup: started.elapsed(),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{repo_and_ref}", self.host())
    }

    pub fn endpoint(&self) -> Endpoint {
        http_endpoint(self.server.port())
    }
}

/// A plain-http endpoint on `127.0.0.1:port`, without credentials.
fn http_endpoint(port: u16) -> Endpoint {
    Endpoint {
        host: format!("127.0.0.1:{port}"),
        tls: false,
        ca: None,
        cert_dir: None,
        creds: None,
    }
}
