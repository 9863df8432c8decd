//! A registry that lies, for tests that pinsign refuses what it cannot trust. Plain http on
//! `127.0.0.1:<free port>`; any repository name and tag is accepted.
//!
//! In [`Mode::WrongDigest`] (the default):
//! - `HEAD`/`GET /v2/<name>/manifests/<tag>` claims `Docker-Content-Digest: claimed_digest()` but the
//!   body is [`LyingRegistry::manifest`], which hashes to `served_digest()`;
//! - `GET .../manifests/<digest>` answers with that digest in the header and bytes that hash to
//!   something else (the manifest, or a second one if the manifest's own digest was asked).

use super::client::{Endpoint, OCI_MANIFEST};
use super::httpd::{Request, Response, Server};
use super::sha256_digest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Manifests whose bytes never hash to the digest claimed or requested (see module doc).
    WrongDigest,
    /// Honest answers for the same manifest (header digest = hash of body) — a control.
    Honest,
    /// Every request, `/v2/` included, gets this status and a JSON error body, without
    /// `WWW-Authenticate` (e.g. 401 without challenge, 500).
    Status(u16),
    /// `/v2/` answers 200; every other request this status (no `WWW-Authenticate`).
    StatusAfterPing(u16),
}

struct State {
    mode: Mutex<Mode>,
    manifest: Vec<u8>,
    other: Vec<u8>,
    count: AtomicUsize,
    log: Mutex<Vec<(String, String)>>,
}

pub struct LyingRegistry {
    server: Server,
    state: Arc<State>,
}

impl LyingRegistry {
    /// Starts in [`Mode::WrongDigest`].
    pub fn start() -> LyingRegistry {
        LyingRegistry::with_mode(Mode::WrongDigest)
    }

    pub fn with_mode(mode: Mode) -> LyingRegistry {
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            manifest: fake_manifest("served"),
            other: fake_manifest("claimed"),
            count: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        });
        let handler_state = state.clone();
        let server = Server::start(Arc::new(move |req: &Request| handle(&handler_state, req)));
        LyingRegistry { server, state }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.host()
    }

    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{repo_and_ref}", self.host())
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

    /// What the served manifest really hashes to.
    pub fn served_digest(&self) -> String {
        sha256_digest(&self.state.manifest)
    }

    /// The digest claimed for tags in `Docker-Content-Digest` (hash of a different manifest).
    pub fn claimed_digest(&self) -> String {
        sha256_digest(&self.state.other)
    }

    pub fn requests(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// `(method, target)` of every request so far.
    pub fn log(&self) -> Vec<(String, String)> {
        self.state.log.lock().unwrap().clone()
    }
}

fn fake_manifest(label: &str) -> Vec<u8> {
    let config = format!("{{\"label\":\"{label}\"}}");
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256_digest(config.as_bytes()),
            "size": config.len(),
        },
        "layers": [],
        "annotations": {"pinsign.test": label},
    }))
    .expect("manifest JSON")
}

fn error(status: u16) -> Response {
    let code = match status {
        401 => "UNAUTHORIZED",
        404 => "MANIFEST_UNKNOWN",
        _ => "UNKNOWN",
    };
    Response::new(status)
        .header("Docker-Distribution-Api-Version", "registry/2.0")
        .json(&serde_json::json!({"errors": [{"code": code, "message": "lying registry", "detail": null}]}))
}

fn handle(state: &State, req: &Request) -> Response {
    state.count.fetch_add(1, Ordering::SeqCst);
    state
        .log
        .lock()
        .unwrap()
        .push((req.method.clone(), req.target.clone()));
    let mode = *state.mode.lock().unwrap();
    let path = req.path();
    let ping = path == "/v2/" || path == "/v2";
    match mode {
        Mode::Status(status) => return error(status),
        Mode::StatusAfterPing(status) if !ping => return error(status),
        _ => {}
    }
    if ping {
        return Response::new(200)
            .header("Docker-Distribution-Api-Version", "registry/2.0")
            .json(&serde_json::json!({}));
    }
    let Some((_, reference)) = path.rsplit_once("/manifests/") else {
        return error(404);
    };
    if req.method != "GET" && req.method != "HEAD" {
        return error(405);
    }
    let served = sha256_digest(&state.manifest);
    let (body, claimed) = match (mode, reference.starts_with("sha256:")) {
        (Mode::Honest, _) => (state.manifest.clone(), served),
        (_, false) => (state.manifest.clone(), sha256_digest(&state.other)),
        (_, true) if reference == served => (state.other.clone(), reference.to_string()),
        (_, true) => (state.manifest.clone(), reference.to_string()),
    };
    Response::new(200)
        .header("Docker-Distribution-Api-Version", "registry/2.0")
        .header("Content-Type", OCI_MANIFEST)
        .header("Docker-Content-Digest", claimed)
        .body(body)
}
