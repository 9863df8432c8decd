//! `ferro-oci-server` (OCI 1.1, referrers API; no auth, no TLS) on `127.0.0.1:<free port>` with its own
//! storage dir; killed and reaped on `Drop` unless `PINSIGN_KEEP_REGISTRY=1`.

use super::client::{quick_ping, Endpoint};
use super::{find_on_path, free_port, keep_requested, wait_until, START_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    port: u16,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
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
        let path = dir.path().to_path_buf();
        let log_path = path.join("ferro.log");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(&log_path).expect("create ferro.log");
            let child = Command::new(&binary)
                .env("FERRO_OCI_LISTEN", format!("127.0.0.1:{port}"))
                .env("FERRO_OCI_STORAGE_DIR", path.join("storage"))
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut ferro = Ferro {
                port,
                child: Some(child),
                dir: None,
                path: path.clone(),
                startup: Duration::ZERO,
            };
            let endpoint = ferro.endpoint();
            let ready = wait_until(START_TIMEOUT, || {
                ferro.exited() || quick_ping(&endpoint).is_some()
            });
            if ready && !ferro.exited() {
                ferro.dir = Some(dir);
                ferro.startup = started.elapsed();
                return ferro;
            }
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(mut child) = ferro.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if !ready {
                panic!("ferro-oci-server on 127.0.0.1:{port} did not answer GET /v2/ within {START_TIMEOUT:?}; log:\n{last_log}");
            }
        }
        panic!("ferro-oci-server exited at start; log:\n{last_log}");
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{repo_and_ref}", self.host())
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("ferro.log")).unwrap_or_default()
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host(),
            tls: false,
            ca: None,
            cert_dir: None,
            creds: None,
        }
    }

    /// `--allow-http-registry`
    pub fn pinsign_flags(&self) -> Vec<String> {
        self.endpoint().pinsign_flags()
    }
}

impl Drop for Ferro {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if keep_requested() {
            let dir = self.dir.take().map(|d| d.keep());
            eprintln!(
                "{}=1: keeping ferro-oci-server {} (pid {}, dir {})",
                super::KEEP_ENV,
                self.url(),
                child.id(),
                dir.unwrap_or_default().display()
            );
            return;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
