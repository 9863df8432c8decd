/*!
How each host may be reached: the scheme rules, registries.conf, and per-host CA directories.

The container tools agree on three host-level settings, and pinsign reads the same files:

- **Loopback rule** (go-containerregistry's `name.Registry.Scheme`, which cosign and crane
  use, as of 2026-06: `localhost:PORT`, `*.localhost[:PORT]`, `127.0.0.1[:PORT]`, `::1` and
  `[::1][:PORT]`, anchored; plus a bare `localhost` here): these may be reached over plain HTTP
  without a flag. As there, HTTPS is tried first
  and plain HTTP only when the host answers the TLS handshake in plain HTTP (go-containerregistry
  races the two; pinsign decides from the handshake's answer, so a TLS registry with a
  certificate problem is reported as such, never silently downgraded). go-containerregistry
  also treats RFC 1918 addresses (10/8, 172.16/12, 192.168/16) this way; pinsign does not:
  those are shared networks, where a downgrade would send credentials in clear. Mark such a
  registry `insecure` in registries.conf instead.
- **`insecure = true`** in containers-registries.conf(5): TLS without certificate
  verification, then plain HTTP if the host does not speak TLS (what containers/image does).
  `blocked = true` refuses the registry. Entries match by `prefix` (or `location` when there
  is no prefix), longest match wins; `*.example.com` matches any subdomain. `location`
  rewrites and mirrors are not followed: pinsign talks to the registry the reference names,
  because that name is what it pins and signs.
- **Per-host CAs**: `*.crt` files in the first existing directory of
  `/etc/containers/certs.d/HOST[:PORT]/` and `/etc/docker/certs.d/HOST[:PORT]/`
  (containers-certs.d(5)), trusted for that host in addition to the system roots.

Which files: `$CONTAINERS_REGISTRIES_CONF` alone when set (no drop-ins then, so a job can pin
its configuration exactly); otherwise `$HOME/.config/containers/registries.conf` if it exists,
else `/etc/containers/registries.conf`, then the drop-ins `*.conf` of
`/etc/containers/registries.conf.d/` (skipped when the user file is used) and
`$HOME/.config/containers/registries.conf.d/`, in name order, a later entry with the same
prefix replacing an earlier one. `PINSIGN_CERTS_D` (a `:`-separated list of directories)
replaces the two certs.d base directories: a test hook, as the container tools have no
variable for them.
*/

use std::path::{Path, PathBuf};

/// The largest registries.conf (or drop-in) pinsign reads.
const MAX_CONF_BYTES: u64 = 1024 * 1024;
/// The largest CA file in a certs.d directory.
const MAX_CA_BYTES: u64 = 1024 * 1024;

/// One `[[registry]]` entry that matters to pinsign.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    prefix: String,
    insecure: bool,
    blocked: bool,
    /// The file it came from, for messages.
    file: PathBuf,
}

/// Host-level settings read from the container tools' files. Plain data; the empty default
/// (no entries, no certs.d directories) is what unit tests and library callers get unless
/// they ask for [`HostSettings::from_env`].
#[derive(Debug, Clone, Default)]
pub struct HostSettings {
    entries: Vec<Entry>,
    /// certs.d base directories, in order: the first with a HOST subdirectory wins.
    cert_bases: Vec<PathBuf>,
}

/// What the configuration says about one host (or repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// Plain HTTP is allowed, after HTTPS fails because the host speaks plain HTTP.
    pub http_fallback: bool,
    /// Why plain HTTP is allowed, for `-v` and errors ("loopback", "insecure in FILE").
    pub reason: Option<String>,
    /// Verify the TLS certificate (false for an `insecure` entry).
    pub verify_tls: bool,
    /// CA files of the host's certs.d directory.
    pub ca_files: Vec<PathBuf>,
    /// The file whose `blocked = true` entry matches, if any.
    pub blocked_by: Option<PathBuf>,
}

impl HostSettings {
    /// Read registries.conf (and drop-ins) and find the certs.d directories, from the process
    /// environment. A file that exists but cannot be read or parsed is an error naming it:
    /// going on without it would silently change how registries are reached.
    pub fn from_env() -> anyhow::Result<HostSettings> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let files = conf_files(var("CONTAINERS_REGISTRIES_CONF").map(PathBuf::from), home);
        let cert_bases = match var("PINSIGN_CERTS_D") {
            Some(list) => std::env::split_paths(&list).collect(),
            None => vec![
                PathBuf::from("/etc/containers/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
        };
        HostSettings::load(&files, cert_bases)
    }

    /// Read these registries.conf files in order (missing ones are skipped).
    pub fn load(files: &[PathBuf], cert_bases: Vec<PathBuf>) -> anyhow::Result<HostSettings> {
        let mut entries: Vec<Entry> = Vec::new();
        for file in files {
            let Some(text) = read_small(file, MAX_CONF_BYTES)? else {
                continue;
            };
            for entry in parse_conf(&text, file)? {
                // A drop-in's entry replaces an earlier one with the same prefix.
                entries.retain(|e| e.prefix != entry.prefix);
                entries.push(entry);
            }
        }
        Ok(HostSettings {
            entries,
            cert_bases,
        })
    }

    /// The policy for `name`: a host (`reg.example:5000`) or a repository
    /// (`reg.example:5000/team/app`), whose host is the part before the first `/`.
    pub fn policy(&self, name: &str) -> anyhow::Result<HostPolicy> {
        let host = name.split('/').next().unwrap_or(name);
        let entry = self
            .entries
            .iter()
            .filter(|e| prefix_matches(&e.prefix, name))
            .max_by_key(|e| e.prefix.len());
        let insecure = entry.filter(|e| e.insecure);
        let reason = if let Some(e) = insecure {
            Some(format!(
                "{} is marked insecure in {}",
                e.prefix,
                e.file.display()
            ))
        } else {
            is_loopback(host).then(|| format!("{host} is a loopback address"))
        };
        Ok(HostPolicy {
            http_fallback: reason.is_some(),
            reason,
            verify_tls: insecure.is_none(),
            ca_files: self.ca_files(host)?,
            blocked_by: entry.filter(|e| e.blocked).map(|e| e.file.clone()),
        })
    }

    /// The `*.crt` files of the first existing certs.d directory for `host`, sorted.
    fn ca_files(&self, host: &str) -> anyhow::Result<Vec<PathBuf>> {
        let dir_name = if host == crate::reference::DEFAULT_REGISTRY {
            "docker.io"
        } else {
            host
        };
        for base in &self.cert_bases {
            let dir = base.join(dir_name);
            let listing = match std::fs::read_dir(&dir) {
                Ok(l) => l,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => anyhow::bail!("cannot read the CA directory {}: {e}", dir.display()),
            };
            let mut files: Vec<PathBuf> = listing
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            files.sort();
            return Ok(files);
        }
        Ok(Vec::new())
    }
}

/// Read a CA file of a certs.d directory (bounded), for the TLS client.
pub(crate) fn read_ca_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    read_small(path, MAX_CA_BYTES)?
        .map(String::into_bytes)
        .ok_or_else(|| anyhow::anyhow!("the CA file {} vanished", path.display()))
}

/// Which registries.conf files to read, in order.
fn conf_files(explicit: Option<PathBuf>, home: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(file) = explicit {
        return vec![file];
    }
    let user_file = home
        .as_ref()
        .map(|h| h.join(".config/containers/registries.conf"));
    let user_dir = home
        .as_ref()
        .map(|h| h.join(".config/containers/registries.conf.d"));
    let mut files = Vec::new();
    match user_file.filter(|f| f.exists()) {
        Some(f) => files.push(f),
        None => {
            files.push(PathBuf::from("/etc/containers/registries.conf"));
            files.extend(drop_ins(Path::new("/etc/containers/registries.conf.d")));
        }
    }
    if let Some(dir) = user_dir {
        files.extend(drop_ins(&dir));
    }
    files
}

/// The `*.conf` files of a drop-in directory, in name order.
fn drop_ins(dir: &Path) -> Vec<PathBuf> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    files
}

/// A text file of at most `max` bytes; `None` when it does not exist.
fn read_small(path: &Path, max: u64) -> anyhow::Result<Option<String>> {
    use std::io::Read as _;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let mut text = String::new();
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    anyhow::ensure!(
        text.len() as u64 <= max,
        "{} is larger than {max} bytes; it is not a configuration file",
        path.display()
    );
    Ok(Some(text))
}

/// The `[[registry]]` entries (version 2) and the `[registries.insecure/block]` lists
/// (the deprecated version 1) of one file.
fn parse_conf(text: &str, file: &Path) -> anyhow::Result<Vec<Entry>> {
    #[derive(serde::Deserialize)]
    struct Conf {
        #[serde(default)]
        registry: Vec<RegistryTable>,
        registries: Option<V1>,
    }
    #[derive(serde::Deserialize)]
    struct RegistryTable {
        prefix: Option<String>,
        location: Option<String>,
        #[serde(default)]
        insecure: bool,
        #[serde(default)]
        blocked: bool,
    }
    #[derive(serde::Deserialize, Default)]
    struct V1 {
        #[serde(default)]
        insecure: V1List,
        #[serde(default)]
        block: V1List,
    }
    #[derive(serde::Deserialize, Default)]
    struct V1List {
        #[serde(default)]
        registries: Vec<String>,
    }
    let conf: Conf = toml::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid registries.conf: {}",
            file.display(),
            e.message()
        )
    })?;
    let mut entries = Vec::new();
    for table in conf.registry {
        let Some(prefix) = table
            .prefix
            .filter(|p| !p.is_empty())
            .or(table.location)
            .map(|p| p.trim_end_matches('/').to_string())
            .filter(|p| !p.is_empty())
        else {
            anyhow::bail!(
                "{}: a [[registry]] entry has neither prefix nor location",
                file.display()
            );
        };
        anyhow::ensure!(
            !prefix.starts_with("http://") && !prefix.starts_with("https://"),
            "{}: prefix {prefix:?} must not have a URI scheme",
            file.display()
        );
        entries.push(Entry {
            prefix,
            insecure: table.insecure,
            blocked: table.blocked,
            file: file.to_path_buf(),
        });
    }
    let v1 = conf.registries.unwrap_or_default();
    let mut v1_entry = |name: &str, insecure: bool, blocked: bool| {
        let prefix = name.trim_end_matches('/').to_string();
        match entries.iter_mut().find(|e| e.prefix == prefix) {
            Some(e) => {
                e.insecure |= insecure;
                e.blocked |= blocked;
            }
            None => entries.push(Entry {
                prefix,
                insecure,
                blocked,
                file: file.to_path_buf(),
            }),
        }
    };
    for name in &v1.insecure.registries {
        v1_entry(name, true, false);
    }
    for name in &v1.block.registries {
        v1_entry(name, false, true);
    }
    Ok(entries)
}

/// containers-registries.conf(5) prefix matching: the name starts with the prefix and goes on
/// with `/`, `:` or `@` (or ends); `*.example.com` matches the host of any subdomain.
fn prefix_matches(prefix: &str, name: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or(name);
        return host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1);
    }
    match name.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with(['/', ':', '@']),
        None => false,
    }
}

/// The loopback rule: the host names go-containerregistry's `Scheme()` lets speak plain HTTP,
/// except RFC 1918 addresses (see the module header).
pub fn is_loopback(host: &str) -> bool {
    let (name, port) = split_host_port(host);
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let name = name.to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name == "127.0.0.1" || name == "::1"
}

/// `host[:port]` split into the host (brackets of an IPv6 literal removed) and the port text.
pub(crate) fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((v6, "")) => (v6, None),
            Some((v6, port)) => (v6, Some(port.strip_prefix(':').unwrap_or(port))),
            None => (authority, None),
        };
    }
    if authority.matches(':').count() > 1 {
        // A bare IPv6 literal (`::1`): no port.
        return (authority, None);
    }
    match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule_matches_go_containerregistry_without_rfc1918() {
        for yes in [
            "localhost",
            "localhost:5000",
            "reg.localhost",
            "a.b.localhost:80",
            "127.0.0.1",
            "127.0.0.1:5000",
            "[::1]",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "127.0.0.2:5000",
            "10.0.0.1:5000",
            "192.168.1.1",
            "localhost.example.com",
            "mylocalhost:5000",
            "[::ffff:127.0.0.1]:5000",
            "example.com",
            "127.0.0.1:50a",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn prefixes_match_as_registries_conf_says() {
        assert!(prefix_matches("reg.example", "reg.example/team/app"));
        assert!(prefix_matches("reg.example", "reg.example"));
        assert!(prefix_matches("reg.example/team", "reg.example/team/app"));
        assert!(!prefix_matches("reg.example/team", "reg.example/teamx/app"));
        assert!(!prefix_matches("reg.example", "reg.example.evil/app"));
        assert!(prefix_matches("*.example.com", "a.b.example.com/x"));
        assert!(!prefix_matches("*.example.com", "example.com/x"));
        assert!(!prefix_matches("*.example.com", "evilexample.com/x"));
    }

    #[test]
    fn conf_files_drop_ins_and_policies() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("registries.conf");
        std::fs::write(
            &main,
            r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "plain.example:5000"
insecure = true

[[registry]]
prefix = "reg.example/team"
location = "mirror.example/team"
insecure = true

[[registry]]
location = "bad.example"
blocked = true
"#,
        )
        .unwrap();
        let drop_in = dir.path().join("50-override.conf");
        std::fs::write(
            &drop_in,
            "[[registry]]\nlocation = \"plain.example:5000\"\ninsecure = false\n",
        )
        .unwrap();
        let certs = dir.path().join("certs.d");
        std::fs::create_dir_all(certs.join("tls.example:443")).unwrap();
        std::fs::write(certs.join("tls.example:443/b.crt"), "x").unwrap();
        std::fs::write(certs.join("tls.example:443/a.crt"), "x").unwrap();
        std::fs::write(certs.join("tls.example:443/client.key"), "x").unwrap();

        let only_main =
            HostSettings::load(std::slice::from_ref(&main), vec![certs.clone()]).unwrap();
        let p = only_main.policy("plain.example:5000/app").unwrap();
        assert!(p.http_fallback && !p.verify_tls, "{p:?}");
        assert!(p.reason.unwrap().contains("registries.conf"));
        // The prefix decides, not the location.
        assert!(
            only_main
                .policy("reg.example/team/app")
                .unwrap()
                .http_fallback
        );
        assert!(!only_main.policy("reg.example/other").unwrap().http_fallback);
        assert_eq!(
            only_main.policy("bad.example/x").unwrap().blocked_by,
            Some(main.clone())
        );
        let tls = only_main.policy("tls.example:443/x").unwrap();
        assert_eq!(
            tls.ca_files,
            vec![
                certs.join("tls.example:443/a.crt"),
                certs.join("tls.example:443/b.crt")
            ]
        );
        assert!(tls.verify_tls && !tls.http_fallback);
        let local = only_main.policy("localhost:5000/x").unwrap();
        assert!(local.http_fallback && local.verify_tls);

        // A later drop-in replaces the entry with the same prefix.
        let both = HostSettings::load(&[main.clone(), drop_in], vec![]).unwrap();
        assert!(!both.policy("plain.example:5000/app").unwrap().http_fallback);

        // Missing files are skipped; a broken one is an error naming it.
        assert!(HostSettings::load(&[dir.path().join("missing.conf")], vec![]).is_ok());
        let broken = dir.path().join("broken.conf");
        std::fs::write(&broken, "[[registry]\n").unwrap();
        let e = HostSettings::load(&[broken], vec![]).unwrap_err();
        assert!(e.to_string().contains("broken.conf"), "{e}");
    }

    #[test]
    fn version_1_lists_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v1.conf");
        std::fs::write(
            &file,
            "[registries.insecure]\nregistries = ['old.example:5000']\n[registries.block]\nregistries = ['nope.example']\n",
        )
        .unwrap();
        let s = HostSettings::load(&[file], vec![]).unwrap();
        assert!(s.policy("old.example:5000/a").unwrap().http_fallback);
        assert!(s.policy("nope.example/a").unwrap().blocked_by.is_some());
    }

    #[test]
    fn explicit_conf_file_replaces_the_search() {
        assert_eq!(
            conf_files(Some("/x/r.conf".into()), Some("/home/u".into())),
            vec![PathBuf::from("/x/r.conf")]
        );
        let files = conf_files(None, Some("/nonexistent-home".into()));
        assert_eq!(files[0], PathBuf::from("/etc/containers/registries.conf"));
    }
}
