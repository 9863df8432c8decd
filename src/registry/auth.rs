/*!
Registry credentials and the auth handshake.

Credentials come from, in order: the `--registry-username/--registry-password` flags or
`--registry-token` (or their `PINSIGN_REGISTRY_*` env vars), then the auth files the container
tools share: `$REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`,
`$DOCKER_CONFIG/config.json`, `~/.docker/config.json`, each with `credHelpers`, `auths` and
`credsStore`. A credential is a password, an identity token (OAuth2 refresh token, exchanged at
the token server) or a registry token (sent as is): [`SecretKind`].

The handshake is lazy: no `/v2/` ping. A request goes out with what we know: a cached token;
or, before the registry has challenged, the auth file's credentials for that registry (a
basic-auth registry then costs no 401 round trip). Flag and environment credentials are not
tied to a registry, so they wait for a 401. A 401 carries the challenge; we fetch one token for
the whole scope we will need (pull, or pull+push when the command pushes to that repository),
cache it per repository for the whole process, and retry once.
*/

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::CredentialSource;

/// What a credential's secret is; it decides how the secret is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A password (or an access token used as one): sent as Basic, to the registry or its
    /// token server.
    Password,
    /// An OAuth2 refresh token (`identitytoken` in an auth file, or a credential helper's
    /// answer with user `<token>`, as `docker login` stores them for Azure and OIDC-backed
    /// registries): exchanged at the token server with the refresh-token grant, never sent
    /// as Basic.
    IdentityToken,
    /// A bearer token for the registry itself (`--registry-token`, `registrytoken` in an
    /// auth file): sent as is, `Authorization: Bearer TOKEN`.
    RegistryToken,
}

impl SecretKind {
    /// How a message names it: "" for a password (the source says enough), else "the
    /// identity token from " / "the registry token from ".
    pub fn words(self) -> &'static str {
        match self {
            SecretKind::Password => "",
            SecretKind::IdentityToken => "the identity token from ",
            SecretKind::RegistryToken => "the registry token from ",
        }
    }
}

/// A user name and a secret (a password or a token, see [`SecretKind`]). The secret is
/// zeroized on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    password: Zeroizing<String>,
    kind: SecretKind,
    pub source: CredentialSource,
}

impl Credentials {
    /// A user name and password.
    pub fn new(username: String, password: String, source: CredentialSource) -> Self {
        Credentials {
            username,
            password: Zeroizing::new(password),
            kind: SecretKind::Password,
            source,
        }
    }

    /// An identity (OAuth2 refresh) token, with the user name it was issued to, if known.
    pub fn identity_token(username: String, token: String, source: CredentialSource) -> Self {
        Credentials {
            username,
            password: Zeroizing::new(token),
            kind: SecretKind::IdentityToken,
            source,
        }
    }

    /// A bearer token sent to the registry as is.
    pub fn registry_token(token: String, source: CredentialSource) -> Self {
        Credentials {
            username: String::new(),
            password: Zeroizing::new(token),
            kind: SecretKind::RegistryToken,
            source,
        }
    }

    /// The secret, whatever its [`kind`](Credentials::kind).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn kind(&self) -> SecretKind {
        self.kind
    }

    /// `Basic base64(user:password)`. Only meaningful for a [`SecretKind::Password`].
    pub fn basic_header(&self) -> Zeroizing<String> {
        let raw = Zeroizing::new(format!("{}:{}", self.username, self.password()));
        Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
        ))
    }

    /// `Bearer TOKEN`, for a [`SecretKind::RegistryToken`].
    pub(crate) fn bearer_header(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("Bearer {}", self.password()))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials({} {:?} from {}, secret hidden)",
            self.username, self.kind, self.source
        )
    }
}

/// Where auth files live, read once from the environment so tests can pin them.
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    pub files: Vec<PathBuf>,
}

impl AuthFiles {
    /// The standard search order, from the process environment.
    pub fn from_env() -> AuthFiles {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let mut files = Vec::new();
        if let Some(p) = var("REGISTRY_AUTH_FILE") {
            files.push(PathBuf::from(p));
        }
        if let Some(d) = var("XDG_RUNTIME_DIR") {
            files.push(Path::new(&d).join("containers/auth.json"));
        }
        if let Some(d) = var("DOCKER_CONFIG") {
            files.push(Path::new(&d).join("config.json"));
        }
        if let Some(h) = var("HOME") {
            files.push(Path::new(&h).join(".docker/config.json"));
        }
        AuthFiles { files }
    }

    /// Credentials for `registry` (and repository path, for auth.json's per-repository
    /// entries) from the first file that has an entry, reading the files now. A process
    /// that looks up many repositories uses an [`AuthStore`] instead.
    pub async fn lookup(&self, registry: &str, path: &str) -> anyhow::Result<Option<Credentials>> {
        AuthStore::default().lookup(self, registry, path).await
    }

    /// Read and parse every auth file that exists. Errors only when a file exists but
    /// cannot be read or parsed: silently going anonymous then would turn into a
    /// confusing 401 later.
    fn load(&self) -> anyhow::Result<Vec<(PathBuf, AuthConfig)>> {
        let mut configs = Vec::new();
        for file in &self.files {
            let bytes = match read_capped(file) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => anyhow::bail!("cannot read auth file {}: {e}", file.display()),
            };
            configs.push((file.clone(), AuthConfig::parse(&bytes, file)?));
        }
        Ok(configs)
    }
}

/// The most an auth file may hold. Real ones are a few hundred bytes per registry; a
/// larger file is not an auth file (or is `/dev/zero`), and reading it whole would cost
/// memory without bound.
pub const MAX_AUTH_FILE_BYTES: u64 = 1024 * 1024;

/// Read an auth file, refusing one larger than [`MAX_AUTH_FILE_BYTES`] without reading
/// more than that. The bytes are wiped on drop: they hold credentials.
fn read_capped(file: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(file)?
        .take(MAX_AUTH_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_AUTH_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB, the most pinsign reads from an auth file",
            MAX_AUTH_FILE_BYTES / 1024
        )));
    }
    Ok(bytes)
}

/// The pure core of an auth file lookup: parse `bytes` as the auth file `file` and find
/// the entry for `registry`/`path`. A credential helper entry is named, not run, and gives
/// `Ok(None)`. Exposed for fuzzing (`fuzz/`).
#[doc(hidden)]
pub fn parse_auth_file(
    bytes: &[u8],
    file: &Path,
    registry: &str,
    path: &str,
) -> anyhow::Result<Option<Credentials>> {
    match AuthConfig::parse(bytes, file)?.lookup(registry, path, file)? {
        Entry::Found(credentials) => Ok(Some(credentials)),
        Entry::Helper { .. } | Entry::Empty { .. } | Entry::None => Ok(None),
    }
}

/// The auth files as one process sees them: read and parsed once, on first use, with each
/// credential helper's answer cached per registry. A helper is a process and may go over
/// the network, so a batch over many repositories of one registry runs it once, and it runs
/// as an async child process, never blocking the runtime.
#[derive(Debug, Default)]
pub struct AuthStore {
    configs: Option<Vec<(PathBuf, AuthConfig)>>,
    helpers: HashMap<(String, String), Option<Credentials>>,
    /// Why a registry got no credentials although an auth file names it.
    notes: HashMap<String, String>,
}

impl AuthStore {
    /// Credentials for a repository: the first auth file with an entry for it decides.
    /// A helper that fails is an error naming the entry that chose it.
    pub async fn lookup(
        &mut self,
        files: &AuthFiles,
        registry: &str,
        path: &str,
    ) -> anyhow::Result<Option<Credentials>> {
        if self.configs.is_none() {
            self.configs = Some(files.load()?);
        }
        let configs = self.configs.as_deref().unwrap_or_default();
        for (file, config) in configs {
            let (helper, entry) = match config.lookup(registry, path, file)? {
                Entry::Found(credentials) => return Ok(Some(credentials)),
                Entry::Helper { name, entry } => (name, entry),
                Entry::Empty { note } => {
                    self.notes.insert(registry.to_string(), note);
                    return Ok(None);
                }
                Entry::None => continue,
            };
            let key = (helper.to_string(), registry.to_string());
            if let Some(cached) = self.helpers.get(&key) {
                return Ok(cached.clone());
            }
            let answer = run_helper(helper, registry)
                .await
                .map_err(|e| helper_error(e, entry, file))?;
            self.helpers.insert(key, answer.clone());
            return Ok(answer);
        }
        Ok(None)
    }

    /// Why `registry` got no credentials although an auth file has an entry for it (an entry
    /// without any credential in it), for the error that follows a refusal.
    pub fn note(&self, registry: &str) -> Option<&str> {
        self.notes.get(registry).map(String::as_str)
    }
}

/// What one auth file says about a repository.
enum Entry<'a> {
    Found(Credentials),
    /// Ask `docker-credential-NAME`, chosen by the file's `entry` (`credHelpers`/`credsStore`).
    Helper {
        name: &'a str,
        entry: &'static str,
    },
    /// An entry exists but holds nothing usable; the note says why (for the auth error).
    Empty {
        note: String,
    },
    None,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(hidden)")
    }
}

impl AuthConfig {
    fn parse(bytes: &[u8], file: &Path) -> anyhow::Result<AuthConfig> {
        // serde's message can quote a value it did not expect (`invalid type: string
        // "..."`), which here may be a password: say only where and what kind of problem.
        serde_json::from_slice(bytes).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "has an entry of an unexpected shape",
                _ => "is not valid JSON",
            };
            anyhow::anyhow!(
                "auth file {} {what} (line {}, column {}); fix or remove it",
                file.display(),
                e.line(),
                e.column()
            )
        })
    }

    /// The entry for a repository; pure (a helper is only named, not run).
    fn lookup(&self, registry: &str, path: &str, file: &Path) -> anyhow::Result<Entry<'_>> {
        if let Some(helper) = self
            .cred_helpers
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .map(|(_, v)| v)
        {
            return Ok(Entry::Helper {
                name: helper,
                entry: "credHelpers",
            });
        }
        // The most specific key wins: "reg/team/app" over "reg/team" over "reg".
        let full = format!("{registry}/{path}");
        let best = self
            .auths
            .iter()
            .filter(|(k, _)| {
                let k = normalize_key(k);
                k == registry || (full.starts_with(&k) && full[k.len()..].starts_with('/'))
            })
            .max_by_key(|(k, _)| normalize_key(k).len());
        if let Some((key, entry)) = best {
            let source = CredentialSource::AuthFile(file.to_path_buf());
            let nonempty =
                |v: &Option<String>| v.as_deref().filter(|t| !t.is_empty()).map(str::to_string);
            // `docker login` to an OAuth2 registry stores `auth` = base64("user:") next to the
            // identity token: the token is the secret, the user name comes from `auth`.
            let decoded = match &entry.auth {
                Some(auth) if !auth.trim().is_empty() => Some(decode_auth(auth, key, file)?),
                _ => None,
            };
            let username = decoded
                .as_ref()
                .map(|(u, _)| u.clone())
                .or_else(|| entry.username.clone())
                .filter(|u| !u.is_empty());
            if let Some(token) = nonempty(&entry.identitytoken) {
                return Ok(Entry::Found(Credentials::identity_token(
                    username.unwrap_or_else(|| "<token>".into()),
                    token,
                    source,
                )));
            }
            if let Some(token) = nonempty(&entry.registrytoken) {
                return Ok(Entry::Found(Credentials::registry_token(token, source)));
            }
            if let Some((user, pass)) = decoded {
                return Ok(Entry::Found(Credentials::new(
                    user,
                    pass.to_string(),
                    source,
                )));
            }
            if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
                return Ok(Entry::Found(Credentials::new(u.clone(), p.clone(), source)));
            }
            if self.creds_store.is_none() {
                return Ok(Entry::Empty {
                    note: format!(
                        "the entry for {key} in auth file {} holds no credentials (no auth, identitytoken or registrytoken) and the file names no credsStore",
                        file.display()
                    ),
                });
            }
        }
        if let Some(store) = &self.creds_store {
            return Ok(Entry::Helper {
                name: store,
                entry: "credsStore",
            });
        }
        Ok(Entry::None)
    }
}

/// An `auth` value: base64 of `user:password`.
fn decode_auth(auth: &str, key: &str, file: &Path) -> anyhow::Result<(String, Zeroizing<String>)> {
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| {
                anyhow::anyhow!(
                    "auth file {}: the \"auth\" entry for {key} is not base64",
                    file.display()
                )
            })?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| {
        anyhow::anyhow!(
            "auth file {}: the entry for {key} is not text",
            file.display()
        )
    })?;
    let Some((user, pass)) = text.split_once(':') else {
        anyhow::bail!(
            "auth file {}: the \"auth\" entry for {key} is not user:password",
            file.display()
        );
    };
    Ok((user.to_string(), Zeroizing::new(pass.to_string())))
}

/// A helper failure, naming the auth file entry that chose the helper.
fn helper_error(e: anyhow::Error, entry: &str, file: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{e} (chosen by \"{entry}\" in auth file {}: install the helper, or remove that entry)",
        file.display()
    )
}

/// Strip scheme and API path from an auth file key: `https://index.docker.io/v1/` →
/// `index.docker.io`, `docker.io` → `index.docker.io`.
fn normalize_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    let (host, rest) = match k.split_once('/') {
        Some((h, r)) => (h, Some(r)),
        None => (k, None),
    };
    let host = match host {
        "docker.io" | "registry-1.docker.io" => crate::reference::DEFAULT_REGISTRY,
        h => h,
    };
    match rest {
        Some(r) => format!("{host}/{r}"),
        None => host.to_string(),
    }
}

/// How long a credential helper may take (it may ask a keychain or a cloud API).
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The most a helper may print: a user name and a token.
const MAX_HELPER_OUTPUT: usize = 64 * 1024;

/// `docker-credential-NAME get` with the server on stdin, as an async child process with a
/// deadline (it is killed when the deadline passes or the lookup is dropped).
async fn run_helper(name: &str, registry: &str) -> anyhow::Result<Option<Credentials>> {
    use std::process::Stdio;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let program = format!("docker-credential-{name}");
    let server = if registry == crate::reference::DEFAULT_REGISTRY {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot run credential helper {program}: {e}"))?;
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(server.as_bytes()).await?;
        }
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            anyhow::bail!("cannot read the output of {program}");
        };
        let mut out = Zeroizing::new(Vec::new());
        let mut err = Vec::new();
        let mut stdout = stdout.take(MAX_HELPER_OUTPUT as u64 + 1);
        let mut stderr = stderr.take(MAX_HELPER_OUTPUT as u64);
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a?;
        b?;
        let status = child.wait().await?;
        Ok((status, out, err))
    };
    let (status, out, err) = tokio::time::timeout(HELPER_TIMEOUT, run)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "credential helper {program} gave no answer for {registry} within {} s",
                HELPER_TIMEOUT.as_secs()
            )
        })??;
    anyhow::ensure!(
        out.len() <= MAX_HELPER_OUTPUT,
        "credential helper {program} printed more than {MAX_HELPER_OUTPUT} bytes"
    );
    if !status.success() {
        if String::from_utf8_lossy(&out).contains("credentials not found") {
            return Ok(None);
        }
        anyhow::bail!(
            "credential helper {program} failed for {registry} ({status}): {}",
            String::from_utf8_lossy(&err).trim()
        );
    }
    #[derive(serde::Deserialize)]
    struct HelperReply {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let reply: HelperReply = serde_json::from_slice(&out)
        .map_err(|e| anyhow::anyhow!("credential helper {program} gave unreadable output: {e}"))?;
    let secret = Zeroizing::new(reply.secret);
    let source = CredentialSource::Helper(name.to_string());
    // Docker's convention: a helper answering user `<token>` holds an identity token.
    if reply.username == "<token>" {
        return Ok(Some(Credentials::identity_token(
            reply.username,
            secret.to_string(),
            source,
        )));
    }
    Ok(Some(Credentials::new(
        reply.username,
        secret.to_string(),
        source,
    )))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parse `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

/// `k="v", k2=v2` with quoted values that may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="http://127.0.0.1:9/token",service="reg",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:9/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None);
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn auth_keys_normalise() {
        assert_eq!(
            normalize_key("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(normalize_key("docker.io"), "index.docker.io");
        assert_eq!(normalize_key("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            normalize_key("reg.example/team/app"),
            "reg.example/team/app"
        );
    }

    #[tokio::test]
    async fn auth_file_lookup_prefers_most_specific_and_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &file,
            serde_json::json!({"auths": {
                "reg.example": {"auth": b64("general:pw1")},
                "reg.example/team": {"auth": b64("team:pw2")},
                "https://other.example/v1/": {"username": "u", "password": "p"}
            }})
            .to_string(),
        )
        .unwrap();
        let files = AuthFiles {
            files: vec![dir.path().join("missing.json"), file.clone()],
        };
        let c = files
            .lookup("reg.example", "team/app")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "team");
        assert_eq!(c.password(), "pw2");
        assert_eq!(c.source, CredentialSource::AuthFile(file.clone()));
        assert!(!format!("{c:?}").contains("pw2"));
        let c = files
            .lookup("reg.example", "other/app")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "general");
        let c = files.lookup("other.example", "x").await.unwrap().unwrap();
        assert_eq!(c.password(), "p");
        assert!(files
            .lookup("nowhere.example", "x")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn oversized_auth_files_are_refused_without_reading_them_whole() {
        for file in [PathBuf::from("/dev/zero"), {
            let dir = tempfile::tempdir().unwrap().keep();
            let f = dir.join("auth.json");
            std::fs::write(&f, vec![b' '; MAX_AUTH_FILE_BYTES as usize + 1]).unwrap();
            f
        }] {
            let files = AuthFiles {
                files: vec![file.clone()],
            };
            let e = files
                .lookup("reg.example", "a")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&file.display().to_string()) && e.contains("larger than 1024 KiB"),
                "{e}"
            );
        }
    }

    /// serde's messages quote unexpected values; in an auth file those may be passwords.
    #[test]
    fn a_malformed_entry_is_reported_without_its_content() {
        let file = Path::new("/home/ci/.docker/config.json");
        for text in [
            r#"{"auths": {"reg.example": "dXNlcjpodW50ZXIy"}}"#,
            r#"{"auths": {"reg.example": {"password": ["hunter2"]}}}"#,
            r#"{"auths": {"reg.example": {"auth": "hunter2"}}}"#,
            r#"{"auths": {"reg.example": {"username": "u", "password": "hunter2"}}"#,
        ] {
            let e = format!(
                "{:#}",
                parse_auth_file(text.as_bytes(), file, "reg.example", "a").unwrap_err()
            );
            assert!(e.contains("config.json"), "{e}");
            assert!(
                !e.contains("hunter2") && !e.contains("dXNlcjpodW50ZXIy"),
                "{e}"
            );
        }
        let ok = r#"{"auths": {"reg.example": {"username": "u", "password": "hunter2"}}}"#;
        let c = parse_auth_file(ok.as_bytes(), file, "reg.example", "a")
            .unwrap()
            .unwrap();
        assert_eq!(c.password(), "hunter2");
    }

    #[tokio::test]
    async fn broken_auth_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, "{not json").unwrap();
        let files = AuthFiles {
            files: vec![file.clone()],
        };
        let e = files
            .lookup("reg.example", "a")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.json"), "{e}");
    }
}
