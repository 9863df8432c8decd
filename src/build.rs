/*!
Running buildah and skopeo: the only module that does.

The pushed digest comes from the tools' `--digestfile`, never from their output
(`buildah bud -q` prints the *config* digest, not the manifest's). All options go before
the image arguments: buildah and skopeo reject them after. pinsign's registry settings
travel in the tools' own terms: credentials in an auth file in a private temporary
directory (never `--creds`, which would show the password in the process list; an identity
token as `identitytoken`, which containers/image exchanges itself), the CAs (`--registry-cacert`
and the registry's certs.d directory) in a `--cert-dir`, and `--tls-verify=false` for a
registry pinsign reaches over plain HTTP (the flag, or a loopback or `insecure` registry that
answered in plain HTTP) or without verification (the flag, or an `insecure` entry).

That private directory lives where a `kill -9` leaves the least: under
`$XDG_RUNTIME_DIR/pinsign` (memory-backed, the user's own, gone at logout) when there is one,
else in the temp dir. Its name carries pinsign's pid, so the next run removes a directory its
killed predecessor could not. SIGINT and SIGTERM are caught ([`stop`]): the tool is stopped,
the directory removed, and the command exits 130 or 143.
*/

mod stop;

pub use stop::{Interrupted, Stop, StopSignal, GRACE};

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::reference::{Digest, ImageRef};
use crate::registry::{Credentials, RegistryOptions, SecretKind};

/// What to build or copy.
#[derive(Debug, Clone)]
pub enum Source {
    /// `buildah build` of a context directory.
    Build(BuildSpec),
    /// `skopeo copy` from a local image (`oci:DIR[:REF]`, `oci-archive:PATH`, `docker-archive:PATH`).
    Copy(CopySource),
}

#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    pub context: PathBuf,
    pub file: Option<PathBuf>,
    pub platforms: Vec<String>,
    pub build_args: Vec<String>,
    pub labels: Vec<String>,
    /// Seconds since the epoch for reproducible builds (from `SOURCE_DATE_EPOCH`).
    pub timestamp: Option<u64>,
}

/// A local image skopeo can read, validated at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    transport: &'static str,
    rest: String,
}

impl CopySource {
    /// Accepts `oci:DIR[:REF]`, `oci-archive:PATH[:REF]`, `docker-archive:PATH[:REF]`.
    pub fn parse(s: &str) -> Result<CopySource, String> {
        for transport in ["oci-archive", "docker-archive", "oci"] {
            if let Some(rest) = s.strip_prefix(transport).and_then(|r| r.strip_prefix(':')) {
                if rest.is_empty() {
                    return Err(format!("{s:?} names no path after {transport}:"));
                }
                return Ok(CopySource {
                    transport,
                    rest: rest.to_string(),
                });
            }
        }
        Err(format!(
            "{s:?} is not oci:DIR[:REF], oci-archive:PATH or docker-archive:PATH"
        ))
    }

    /// The path part (without a `:REF` suffix), for existence checks.
    pub fn path(&self) -> &Path {
        Path::new(self.rest.split(':').next().unwrap_or(&self.rest))
    }

    /// OCI sources keep their manifest digest; a docker archive is converted to OCI.
    pub fn is_oci(&self) -> bool {
        self.transport != "docker-archive"
    }
}

impl std::fmt::Display for CopySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.transport, self.rest)
    }
}

/// The registry side of a tool invocation: flags plus the private directory holding the
/// auth file and CA. The directory is removed when this is dropped.
pub struct ToolRegistryAccess {
    dir: tempfile::TempDir,
    authfile: Option<PathBuf>,
    cert_dir: Option<PathBuf>,
    tls_verify: bool,
}

impl ToolRegistryAccess {
    /// Prepare the auth file and CA directory for pushing to `registry`.
    pub fn new(
        registry: &str,
        credentials: Option<&Credentials>,
        opts: &RegistryOptions,
    ) -> anyhow::Result<ToolRegistryAccess> {
        let dir = private_dir()
            .context("cannot create a private temporary directory for buildah/skopeo")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        let authfile = match credentials {
            Some(c) => {
                let entry = match c.kind() {
                    SecretKind::Password => {
                        let auth =
                            zeroize::Zeroizing::new(format!("{}:{}", c.username, c.password()));
                        serde_json::json!({
                            "auth": base64::engine::general_purpose::STANDARD.encode(auth.as_bytes())
                        })
                    }
                    // containers/image exchanges an identity token itself (the OAuth2
                    // refresh-token grant), as it does for `podman login` to such registries.
                    SecretKind::IdentityToken => {
                        let user = zeroize::Zeroizing::new(format!("{}:", c.username));
                        serde_json::json!({
                            "auth": base64::engine::general_purpose::STANDARD.encode(user.as_bytes()),
                            "identitytoken": c.password(),
                        })
                    }
                    SecretKind::RegistryToken => anyhow::bail!(
                        "buildah and skopeo cannot take a bearer token for {registry} from an auth file, and a token on their command line would show in the process list; give build-push a user name and password (or an identity token in an auth file) instead of {}",
                        c.source
                    ),
                };
                let doc = zeroize::Zeroizing::new(
                    serde_json::json!({"auths": {registry: entry}}).to_string(),
                );
                let path = dir.path().join("auth.json");
                write_private(&path, doc.as_bytes())?;
                Some(path)
            }
            None => None,
        };
        // The CAs pinsign trusts for this registry: --registry-cacert and the registry's
        // certs.d directory (which the tools would read themselves, but a --cert-dir
        // replaces it, so both go into the one directory). A CA bundle is a few KiB (the
        // system's is ~200 KiB): copy at most 1 MiB of each, so `/dev/zero` cannot fill the disk.
        let policy = opts.hosts.policy(registry)?;
        let mut cas: Vec<PathBuf> = opts.ca_file.iter().cloned().collect();
        cas.extend(policy.ca_files.iter().cloned());
        let cert_dir = if cas.is_empty() {
            None
        } else {
            let certs = dir.path().join("certs");
            std::fs::create_dir(&certs)?;
            for (i, ca) in cas.iter().enumerate() {
                let pem = crate::files::read_bounded(ca, 1024 * 1024, "a CA certificate (PEM)")?;
                std::fs::write(certs.join(format!("ca-{i}.crt")), pem)?;
            }
            Some(certs)
        };
        // `--tls-verify=false` lets containers/image fall back to plain HTTP (and skip
        // certificate checks): what pinsign itself does for this registry.
        let tls_verify = !(opts.plain_http(registry) || opts.allow_insecure || !policy.verify_tls);
        Ok(ToolRegistryAccess {
            dir,
            authfile,
            cert_dir,
            tls_verify,
        })
    }

    /// Flags for `buildah push` / `buildah manifest push` (prefix `""`) or skopeo's
    /// destination (prefix `"dest-"`).
    fn flags(&self, prefix: &str) -> Vec<OsString> {
        let mut out = Vec::new();
        if let Some(a) = &self.authfile {
            out.push(format!("--{prefix}authfile").into());
            out.push(a.clone().into_os_string());
        }
        if let Some(c) = &self.cert_dir {
            out.push(format!("--{prefix}cert-dir").into());
            out.push(c.clone().into_os_string());
        }
        out.push(format!("--{prefix}tls-verify={}", self.tls_verify).into());
        out
    }

    /// Where the tool may write scratch files (the digest file).
    fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

/// The name every private directory starts with; the pid follows, then a random part.
const TOOL_DIR_PREFIX: &str = "pinsign-tool-";

/// A new private directory (0700) for one tool invocation: in `$XDG_RUNTIME_DIR/pinsign`
/// when that can be used safely, else in the temp dir.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    let prefix = format!("{TOOL_DIR_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    match runtime_base() {
        Some(base) => {
            remove_stale(&base);
            builder.tempdir_in(base)
        }
        None => builder.tempdir(),
    }
}

/// `$XDG_RUNTIME_DIR/pinsign`, created 0700 if missing, when `XDG_RUNTIME_DIR` is set, and
/// the directory is ours: a real directory (no symlink), owned by this user, closed to others.
fn runtime_base() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty())?;
    let runtime = PathBuf::from(runtime);
    if !runtime.is_absolute() || !runtime.is_dir() {
        return None;
    }
    let base = runtime.join("pinsign");
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&base) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            tracing::debug!("cannot create {}: {e}; using the temp dir", base.display());
            return None;
        }
    }
    let meta = std::fs::symlink_metadata(&base).ok()?;
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != uid {
        tracing::debug!(
            "{} is not a directory of this user; using the temp dir",
            base.display()
        );
        return None;
    }
    if meta.mode() & 0o077 != 0 {
        // Ours, but open to others (made by hand?): close it before putting secrets in it.
        use std::os::unix::fs::PermissionsExt as _;
        let closed = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700));
        if let Err(e) = closed {
            tracing::debug!(
                "cannot make {} private: {e}; using the temp dir",
                base.display()
            );
            return None;
        }
    }
    Some(base)
}

/// Remove the private directories of pinsign processes that no longer exist (killed with
/// SIGKILL, which no handler can catch), so their credentials stay no longer than until the
/// next run. Only in `base`, which is this user's own.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(TOOL_DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !stop::pid_alive(pid) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!(
                    "removed {}, left behind by pinsign process {pid}, which was killed",
                    entry.path().display()
                ),
                Err(e) => tracing::debug!("cannot remove {}: {e}", entry.path().display()),
            }
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Where buildah's and skopeo's output goes: streamed to stderr through the phase
/// spinner (so tool lines and the spinner do not garble each other), or, with `-q`,
/// kept only for the error message.
#[derive(Clone)]
pub struct ToolOutput {
    stream: bool,
    bar: indicatif::ProgressBar,
}

impl ToolOutput {
    /// `stream`: show the tools' output; `bar`: the spinner whose message names the phase.
    pub fn new(stream: bool, bar: indicatif::ProgressBar) -> ToolOutput {
        ToolOutput { stream, bar }
    }

    /// No output at all (cleanup commands).
    fn silent() -> ToolOutput {
        ToolOutput::new(false, indicatif::ProgressBar::hidden())
    }

    fn quiet(&self) -> bool {
        !self.stream
    }

    fn phase(&self, msg: String) {
        self.bar.set_message(msg);
    }

    fn line(&self, line: &str) {
        if self.stream {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }
}

/// Find the Containerfile: `--file`, else `Containerfile`, else `Dockerfile` in the context.
pub fn containerfile(spec: &BuildSpec) -> anyhow::Result<PathBuf> {
    if let Some(f) = &spec.file {
        anyhow::ensure!(f.is_file(), "--file {} does not exist", f.display());
        return Ok(f.clone());
    }
    anyhow::ensure!(
        spec.context.is_dir(),
        "build context {} is not a directory",
        spec.context.display()
    );
    for name in ["Containerfile", "Dockerfile"] {
        let p = spec.context.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    anyhow::bail!(
        "no Containerfile or Dockerfile in {}; pass --file",
        spec.context.display()
    )
}

/// Build (or copy) and push to `target`; returns the digest the tool wrote to its
/// `--digestfile`. The caller confirms it with the registry before trusting it.
pub async fn build_and_push(
    source: &Source,
    target: &ImageRef,
    access: &ToolRegistryAccess,
    out: &ToolOutput,
) -> anyhow::Result<Digest> {
    let quiet = out.quiet();
    let digest_file = access.scratch().join("digest");
    let dest = format!("docker://{target}");
    match source {
        Source::Build(spec) => {
            let file = containerfile(spec)?;
            let local = format!("localhost/pinsign-build-{}:latest", std::process::id());
            let multi = spec.platforms.len() > 1;
            let mut args: Vec<OsString> = vec!["build".into()];
            if quiet {
                args.push("--quiet".into());
            }
            args.extend(["--format".into(), "oci".into()]);
            args.extend(["--file".into(), file.into_os_string()]);
            for a in &spec.build_args {
                args.extend(["--build-arg".into(), a.into()]);
            }
            for l in &spec.labels {
                args.extend(["--label".into(), l.into()]);
            }
            if let Some(ts) = spec.timestamp {
                args.extend(["--timestamp".into(), ts.to_string().into()]);
            }
            if multi {
                // A fresh list name each run: `--manifest` would add to a stale list.
                remove_local(&local, true).await;
            }
            let built = build_local(spec, &args, &local, target, out).await;
            let pushed = match built {
                Ok(()) => {
                    let mut push: Vec<OsString> = if multi {
                        vec!["manifest".into(), "push".into(), "--all".into()]
                    } else {
                        vec!["push".into()]
                    };
                    if quiet {
                        push.push("--quiet".into());
                    }
                    push.extend(["--format".into(), "oci".into()]);
                    push.extend(["--digestfile".into(), digest_file.clone().into_os_string()]);
                    push.extend(access.flags(""));
                    push.extend([local.clone().into(), dest.into()]);
                    out.phase(format!("pushing {target}"));
                    run_tool("buildah", push, out)
                        .await
                        .with_context(|| format!("pushing to {target} failed"))
                }
                Err(e) => Err(e),
            };
            // The local image (or list) was only a vehicle for the push: never leave it in
            // the user's buildah storage, whether the build or push worked or not.
            remove_local(&local, multi).await;
            pushed?;
        }
        Source::Copy(from) => {
            anyhow::ensure!(
                from.path().exists(),
                "--from {from}: {} does not exist",
                from.path().display()
            );
            let mut args: Vec<OsString> = vec!["copy".into()];
            if quiet {
                args.push("--quiet".into());
            }
            args.extend(["--multi-arch".into(), "all".into()]);
            if from.is_oci() {
                args.push("--preserve-digests".into());
            } else {
                args.extend(["--format".into(), "oci".into()]);
            }
            args.extend(["--digestfile".into(), digest_file.clone().into_os_string()]);
            args.extend(access.flags("dest-"));
            args.extend([from.to_string().into(), dest.into()]);
            out.phase(format!("copying {from} to {target}"));
            run_tool("skopeo", args, out)
                .await
                .with_context(|| format!("copying {from} to {target} failed"))?;
        }
    }
    read_digest_file(&digest_file)
}

/// `buildah build` into the local image `local`: one build, or for several platforms one
/// build per platform into the manifest list `local`, in the order given (`buildah build
/// --platform a,b --manifest L` adds the images in the order their builds finish, so the
/// index, and its digest, would change from run to run).
async fn build_local(
    spec: &BuildSpec,
    args: &[OsString],
    local: &str,
    target: &ImageRef,
    out: &ToolOutput,
) -> anyhow::Result<()> {
    if spec.platforms.len() > 1 {
        for platform in &spec.platforms {
            let mut one = args.to_vec();
            one.extend(["--platform".into(), platform.into()]);
            one.extend(["--manifest".into(), local.into()]);
            one.push(spec.context.clone().into_os_string());
            out.phase(format!("building {platform} for {target}"));
            run_tool("buildah", one, out)
                .await
                .with_context(|| format!("building {platform} for {target} failed"))?;
        }
        return Ok(());
    }
    let mut one = args.to_vec();
    if let Some(platform) = spec.platforms.first() {
        one.extend(["--platform".into(), platform.into()]);
    }
    one.extend(["--tag".into(), local.into()]);
    one.push(spec.context.clone().into_os_string());
    out.phase(format!("building {target}"));
    run_tool("buildah", one, out)
        .await
        .with_context(|| format!("building {target} failed"))
}

/// Remove the local image (`buildah rmi`) or manifest list (`buildah manifest rm`) a build
/// made; quietly, as it may not exist.
async fn remove_local(local: &str, list: bool) {
    let args: &[&str] = if list {
        &["manifest", "rm", local]
    } else {
        &["rmi", local]
    };
    let _ = run_tool("buildah", args.iter().copied(), &ToolOutput::silent()).await;
}

/// Read a `--digestfile`: `sha256:<hex>`, no newline (tolerate one). At most 1 KiB is read.
pub fn read_digest_file(path: &Path) -> anyhow::Result<Digest> {
    use std::io::Read as _;
    const MAX_DIGEST_FILE: u64 = 1024;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_DIGEST_FILE + 1).read_to_end(&mut bytes))
        .with_context(|| format!("the tool wrote no digest file {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_DIGEST_FILE,
        "the digest file {} is larger than {MAX_DIGEST_FILE} bytes, not a digest",
        path.display()
    );
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    anyhow::ensure!(
        !text.is_empty(),
        "the digest file {} is empty",
        path.display()
    );
    Digest::parse(text).map_err(|e| {
        anyhow::anyhow!(
            "the digest file {} holds {text:?}, not a digest: {e}",
            path.display()
        )
    })
}

/// Run buildah or skopeo, streaming its output through `out` and keeping the last lines
/// for the error message.
async fn run_tool<I, S>(tool: &str, args: I, out: &ToolOutput) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let shown = format!(
        "{tool} {}",
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let what = format!(
        "{tool} {}",
        args.first()
            .map(|a| a.to_string_lossy())
            .unwrap_or_default()
    );
    let stop = Stop::current();
    if let Some(signal) = stop.as_ref().and_then(Stop::received) {
        return Err(Interrupted { signal, what }.into());
    }
    tracing::info!("running {shown}");
    let mut command = tokio::process::Command::new(tool);
    if stop.is_some() {
        // Its own process group, so that a signal reaches the tool and its children, and
        // only through pinsign (which then removes the auth file the tool was given).
        command.process_group(0);
    }
    let mut child = command
        .args(&args)
        // The tools get credentials from the private auth file; they need none of these.
        .env_remove("PINSIGN_REGISTRY_PASSWORD")
        .env_remove("PINSIGN_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!("{tool} not found: install {tool} (apt-get install {tool})")
            } else {
                anyhow::anyhow!("cannot run {tool}: {e}")
            }
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        anyhow::bail!("cannot read {tool}'s output");
    };
    let tail = std::sync::Arc::new(std::sync::Mutex::new(VecDeque::with_capacity(8)));
    let pump = |reader: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        let tail = tail.clone();
        let out = out.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                out.line(&line);
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == 6 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        })
    };
    let a = pump(Box::new(stdout));
    let b = pump(Box::new(stderr));
    let status = match &stop {
        None => child.wait().await?,
        Some(stop) => {
            let _running = stop.tool_running();
            tokio::select! {
                status = child.wait() => status?,
                signal = stop.wait() => {
                    stop_child(&mut child, signal, stop).await;
                    // The pipes close as the group exits; do not wait on a straggler.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        let _ = tokio::join!(a, b);
                    })
                    .await;
                    return Err(Interrupted { signal, what }.into());
                }
            }
        }
    };
    let _ = tokio::join!(a, b);
    if status.success() {
        return Ok(());
    }
    let tail: Vec<String> = tail
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let code = status
        .code()
        .map(|c| format!("exit code {c}"))
        .unwrap_or_else(|| "killed by a signal".into());
    anyhow::bail!(
        "{what} failed ({code}): {}",
        if tail.is_empty() {
            "no output".to_string()
        } else {
            tail.join(" | ")
        }
    )
}

/// Forward `signal` to the tool's process group; after [`GRACE`] (or at a second signal)
/// kill the group; reap the tool.
async fn stop_child(child: &mut tokio::process::Child, signal: StopSignal, stop: &Stop) {
    let Some(pid) = child.id() else {
        return;
    };
    tracing::info!("forwarding {} to the tool (pid {pid})", signal.name());
    stop::signal_group(pid, signal.number());
    let exited = tokio::select! {
        r = child.wait() => r.is_ok(),
        () = tokio::time::sleep(GRACE) => false,
        () = stop.wait_again() => false,
    };
    // Whatever the leader did, children it started may still run: the group goes.
    stop::signal_group(pid, libc::SIGKILL);
    if !exited {
        tracing::info!(
            "the tool did not exit within {} s; killed it",
            GRACE.as_secs()
        );
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_parse() {
        let s = CopySource::parse("oci:/tmp/layout:v1").unwrap();
        assert!(s.is_oci());
        assert_eq!(s.path(), Path::new("/tmp/layout"));
        assert_eq!(s.to_string(), "oci:/tmp/layout:v1");
        let s = CopySource::parse("oci-archive:img.tar").unwrap();
        assert_eq!(s.path(), Path::new("img.tar"));
        assert!(!CopySource::parse("docker-archive:x.tar").unwrap().is_oci());
        for bad in ["docker://reg/x", "oci:", "dir:/x", "x.tar"] {
            assert!(CopySource::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digest_file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d");
        let hex = "ab".repeat(32);
        std::fs::write(&p, format!("sha256:{hex}")).unwrap();
        assert_eq!(read_digest_file(&p).unwrap().hex(), hex);
        std::fs::write(&p, "").unwrap();
        assert!(read_digest_file(&p)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        std::fs::write(&p, "sha256:zz").unwrap();
        assert!(read_digest_file(&p).is_err());
        assert!(read_digest_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn containerfile_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let spec = BuildSpec {
            context: dir.path().to_path_buf(),
            ..Default::default()
        };
        assert!(containerfile(&spec)
            .unwrap_err()
            .to_string()
            .contains("--file"));
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert!(containerfile(&spec).unwrap().ends_with("Dockerfile"));
        std::fs::write(dir.path().join("Containerfile"), "FROM scratch\n").unwrap();
        assert!(containerfile(&spec).unwrap().ends_with("Containerfile"));
    }

    #[test]
    fn tool_access_hides_password_in_a_private_file() {
        let opts = RegistryOptions {
            allow_http: true,
            ..Default::default()
        };
        let creds = Credentials::new(
            "ci".into(),
            "s3cret".into(),
            crate::registry::CredentialSource::Given("flags".into()),
        );
        let access = ToolRegistryAccess::new("127.0.0.1:5000", Some(&creds), &opts).unwrap();
        let flags: Vec<String> = access
            .flags("dest-")
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        assert!(flags.iter().all(|f| !f.contains("s3cret")), "{flags:?}");
        assert!(flags.contains(&"--dest-tls-verify=false".to_string()));
        let authfile = access.authfile.clone().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&authfile).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let dir = access.scratch().to_path_buf();
        drop(access);
        assert!(!dir.exists(), "the private directory is removed");
    }

    fn flag_strings(access: &ToolRegistryAccess) -> Vec<String> {
        access
            .flags("")
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn tool_access_follows_the_scheme_of_each_registry() {
        use crate::registry::Scheme;
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs.d");
        std::fs::create_dir_all(certs.join("tls.example:5000")).unwrap();
        std::fs::write(certs.join("tls.example:5000/ca.crt"), "PEM").unwrap();
        let conf = dir.path().join("registries.conf");
        std::fs::write(
            &conf,
            "[[registry]]\nlocation = \"insecure.example\"\ninsecure = true\n",
        )
        .unwrap();
        let opts = RegistryOptions {
            hosts: crate::registry::HostSettings::load(&[conf], vec![certs]).unwrap(),
            ..Default::default()
        };
        // A loopback registry that answered in plain HTTP, next to a TLS one: per registry.
        opts.schemes.set("127.0.0.1:5000", Scheme::Http);
        opts.schemes.set("localhost:5001", Scheme::Https);
        let plain = ToolRegistryAccess::new("127.0.0.1:5000", None, &opts).unwrap();
        assert!(flag_strings(&plain).contains(&"--tls-verify=false".to_string()));
        let tls = ToolRegistryAccess::new("localhost:5001", None, &opts).unwrap();
        assert_eq!(flag_strings(&tls), vec!["--tls-verify=true".to_string()]);
        // The registry's certs.d CA travels in the private --cert-dir.
        let with_ca = ToolRegistryAccess::new("tls.example:5000", None, &opts).unwrap();
        let flags = flag_strings(&with_ca);
        assert!(
            flags.contains(&"--tls-verify=true".to_string()),
            "{flags:?}"
        );
        let cert_dir = with_ca.cert_dir.clone().unwrap();
        assert_eq!(
            std::fs::read_to_string(cert_dir.join("ca-0.crt")).unwrap(),
            "PEM"
        );
        // An insecure entry: no verification (and plain HTTP allowed).
        let insecure = ToolRegistryAccess::new("insecure.example", None, &opts).unwrap();
        assert!(flag_strings(&insecure).contains(&"--tls-verify=false".to_string()));
    }

    #[test]
    fn tool_access_writes_identity_tokens_and_refuses_bearer_tokens() {
        let opts = RegistryOptions::default();
        let source = || crate::registry::CredentialSource::Given("test".into());
        let id = Credentials::identity_token("ci".into(), "refresh-me".into(), source());
        let access = ToolRegistryAccess::new("reg.example", Some(&id), &opts).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(access.authfile.clone().unwrap()).unwrap())
                .unwrap();
        assert_eq!(doc["auths"]["reg.example"]["identitytoken"], "refresh-me");
        let token = Credentials::registry_token("bearer".into(), source());
        let e = ToolRegistryAccess::new("reg.example", Some(&token), &opts)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("bearer token") && !e.contains("bearer\""), "{e}");
    }
}
