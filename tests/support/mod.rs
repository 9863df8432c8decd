/*!
Test harness shared by every integration test (`mod support;`).

It starts real components itself, each on `127.0.0.1` and a free port, and stops them on `Drop`:

- [`Registry`]: CNCF Distribution (`docker-registry serve`) in four variants: plain http, TLS, TLS with
  htpasswd basic auth, token auth (TLS or http) with a [`TokenServer`] run by this process;
- [`Ferro`]: `ferro-oci-server`, an OCI 1.1 registry with the referrers API;
- [`LyingRegistry`]: serves manifests that do not hash to the digest they claim, or a fixed status;
- [`CountingProxy`]: an HTTP reverse proxy counting requests by method and path (and injecting
  statuses, `Retry-After`, redirects);
- [`fake`]: a server that never answers, a token server with an endless reply, a recorder;
- [`images`]: images built with real buildah (vfs store, chroot isolation) and pushed or written to OCI
  layouts, and tiny synthetic images pushed over HTTP by [`RegClient`];
- [`cosign_writer`]: cosign signatures (tag scheme and referrers) written without pinsign's code;
- [`pinsign`]: the binary under test with the host's credential and password variables removed.

A missing tool fails the test with the command that installs it; nothing is skipped. See README.md here.
*/

pub mod bundle_check;
pub mod bundle_writer;
pub mod client;
pub mod cosign_check;
pub mod cosign_writer;
pub mod fake;
pub mod ferro;
pub mod httpd;
pub mod images;
pub mod lying;
pub mod node;
pub mod outcome;
pub mod pki;
pub mod pods;
pub mod process;
pub mod proxy;
pub mod pty;
pub mod registry;
pub mod sigstore_instance;
pub mod sigstore_js;
pub mod snapshot;
pub mod test_keys;
pub mod token;

pub use client::{Endpoint, SyntheticImage};
pub use ferro::Ferro;
pub use lying::{LyingRegistry, Mode as LieMode};
pub use proxy::CountingProxy;
pub use registry::{Registry, RegistryKind, User, READER, WRITER};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One `#[test]` per registry kind, in a module named after the check, each calling
/// `check(RegistryKind::KIND)`: `per_kind!(resolves_on: Http => http, Tls => tls);` makes the
/// tests `resolves_on::http` and `resolves_on::tls`.
#[macro_export]
macro_rules! per_kind {
    ($check:ident: $($kind:ident => $name:ident),+ $(,)?) => {
        mod $check {
            $(
                #[test]
                fn $name() {
                    super::$check($crate::support::RegistryKind::$kind)
                }
            )+
        }
    };
}

/// How long a started component may take to answer `GET /v2/`.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variable that keeps started registries (and their directories) after the test.
pub const KEEP_ENV: &str = "PINSIGN_KEEP_REGISTRY";

/// Variables a command under test must not inherit from the host.
pub const HOST_VARS: &[&str] = &[
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "XDG_RUNTIME_DIR",
    "PINSIGN_PASSWORD",
    "COSIGN_PASSWORD",
    "PINSIGN_REGISTRY_USERNAME",
    "PINSIGN_REGISTRY_PASSWORD",
    "PINSIGN_REGISTRY_TOKEN",
    "COSIGN_REPOSITORY",
    "COSIGN_DOCKER_MEDIA_TYPES",
    "NO_COLOR",
    "PINSIGN_PROGRESS_INTERVAL_MS",
];

/// Whether `PINSIGN_KEEP_REGISTRY` asks to keep started components.
pub fn keep_requested() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Finds `tool` on `PATH`, or panics with the Debian package that installs it.
pub fn require_tool(tool: &str) -> PathBuf {
    let package = match tool {
        "docker-registry" => "docker-registry",
        "htpasswd" => "apache2-utils",
        "openssl" => "openssl",
        "buildah" => "buildah",
        "skopeo" => "skopeo",
        "script" => "util-linux",
        other => other,
    };
    find_on_path(tool).unwrap_or_else(|| panic!("{tool} not found: apt-get install -y {package}"))
}

/// The first executable named `tool` in `PATH`.
pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A port on 127.0.0.1 that was free a moment ago (callers retry if a server then fails to bind).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns stdout.
pub fn run(cmd: &mut std::process::Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `ready` every 10 ms until it returns true or `timeout` passes; returns whether it became ready.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a future to completion on its own thread and runtime, so sync helpers work both in plain
/// `#[test]`s and inside `#[tokio::test]`s (where `block_on` on the test's runtime would panic).
pub fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime")
                    .block_on(fut)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The built `pinsign` binary with the host's credential, password and signature-repo variables removed
/// and `HOME` set to `home` (give each test its own `tempfile::TempDir`).
pub fn pinsign(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_pinsign"));
    for var in HOST_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home);
    for (k, v) in hermetic_hosts(home) {
        cmd.env(k, v);
    }
    cmd
}

/// No registries.conf and no certs.d directories from the machine: a test that wants them sets
/// `CONTAINERS_REGISTRIES_CONF` and `PINSIGN_CERTS_D` itself (a later `env` call wins).
pub fn hermetic_hosts(home: &Path) -> [(&'static str, std::ffi::OsString); 2] {
    [
        ("CONTAINERS_REGISTRIES_CONF", "/dev/null".into()),
        ("PINSIGN_CERTS_D", home.join("no-certs.d").into_os_string()),
    ]
}

/// Like [`pinsign`], as a `std::process::Command` (for spawning, timing or piping).
pub fn pinsign_std(home: &Path) -> std::process::Command {
    pinsign_std_at(Path::new(env!("CARGO_BIN_EXE_pinsign")), home)
}

/// [`pinsign_std`] for another pinsign binary (the benchmark compares a baseline build).
pub fn pinsign_std_at(binary: &Path, home: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary);
    for var in HOST_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home);
    cmd.envs(hermetic_hosts(home));
    cmd
}

/// A fresh temp dir (for a test's `HOME`, keys, contexts).
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pinsign-test-")
        .tempdir()
        .expect("create temp dir")
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
