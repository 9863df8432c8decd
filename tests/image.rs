//! pinsign's own container image (`scripts/image`): built from scratch with buildah around the
//! binary under test, it runs `pinsign --version` (the version and commit of that binary), holds no
//! shell and no executable but pinsign and the libraries it links, is reproducible, and ships
//! signed by pinsign itself: pushed with `build-push --from oci-archive:`, signed by digest with
//! `sign-digest --key env://...`, and verified with `pinsign verify`.

use crate::support::images::{self, read_digest_file};
use crate::support::{self, test_keys, Registry, HOST_VARS};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The line `pinsign --version` prints for the binary under test (build.rs sets the commit).
fn expected_version_line() -> String {
    format!(
        "pinsign {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("PINSIGN_GIT_COMMIT")
    )
}

/// A fixed timestamp, so two builds can be compared byte for byte.
const SOURCE_DATE_EPOCH: &str = "1700000000";

/// Environment variable the tests hand the signing key in (as a CI secret arrives).
const KEY_VAR: &str = "PINSIGN_TEST_IMAGE_KEY";

/// `scripts/image ARGS` from the repository root, with the harness's buildah store, a fixed
/// SOURCE_DATE_EPOCH and none of the host's credential variables.
fn scripts_image(args: &[&str]) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/image"))
        .args(args)
        .current_dir(root);
    for var in HOST_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(images::store().env())
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH);
    cmd
}

/// [`scripts_image`] with the first test key in [`KEY_VAR`] (as a CI secret arrives) and its password.
fn scripts_image_signing(args: &[&str]) -> Command {
    let key = &test_keys::keys()[0];
    let pem = std::fs::read_to_string(&key.key).expect("read test key");
    let mut cmd = scripts_image(args);
    cmd.env(KEY_VAR, pem)
        .env("COSIGN_PASSWORD", test_keys::PASSWORD);
    cmd
}

fn output_of(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn assert_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The manifest digest an oci-archive's `index.json` names (its only image).
fn archive_digest(archive: &Path) -> String {
    let index = support::run(
        Command::new("tar")
            .arg("-xOf")
            .arg(archive)
            .arg("index.json"),
    );
    let index: serde_json::Value = serde_json::from_str(&index).expect("index.json is JSON");
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    assert_eq!(manifests.len(), 1, "one image in {}", archive.display());
    manifests[0]["digest"]
        .as_str()
        .expect("manifest digest")
        .to_string()
}

/// A working container from the archive in the harness store; removed on drop.
struct Container {
    id: String,
}

impl Container {
    fn from_archive(archive: &Path) -> Container {
        let id = support::run(
            images::store()
                .buildah()
                .args(["from", "--quiet"])
                .arg(format!("oci-archive:{}", archive.display())),
        );
        Container {
            id: id.trim().to_string(),
        }
    }

    /// `buildah run --isolation chroot CTR -- ARGS...`
    fn run(&self, args: &[&str]) -> Output {
        output_of(
            images::store()
                .buildah()
                .args(["run", "--isolation", "chroot", &self.id, "--"])
                .args(args),
        )
    }

    /// Every path in the container's root filesystem (relative, `/`-separated), with its mode.
    fn files(&self) -> Vec<(String, u32)> {
        let mount = support::run(images::store().buildah().args(["mount", &self.id]));
        let root = PathBuf::from(mount.trim());
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        support::run(images::store().buildah().args(["umount", &self.id]));
        files
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = images::store().buildah().args(["rm", &self.id]).output();
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).expect("read image dir") {
        let entry = entry.expect("dir entry");
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("stat image file");
        let rel = path
            .strip_prefix(root)
            .expect("inside root")
            .to_string_lossy()
            .into_owned();
        out.push((rel, meta.permissions().mode()));
        if meta.is_dir() {
            walk(root, &path, out);
        }
    }
}

#[test]
fn own_image_runs_has_no_shell_and_ships_signed_by_itself() {
    let started = Instant::now();
    let reg = Registry::http();
    let ep = reg.endpoint();
    let key = &test_keys::keys()[0];
    let work = support::temp_dir();
    let archive = work.path().join("pinsign-image.tar");
    let digest_file = work.path().join("image.digest");
    let binary = env!("CARGO_BIN_EXE_pinsign");
    let image = reg.image("tools/pinsign:test");
    let key_arg = format!("env://{KEY_VAR}");
    let mut args = vec![
        "--binary",
        binary,
        "--image",
        &image,
        "--key",
        &key_arg,
        "--digest-file",
        digest_file.to_str().expect("UTF-8 path"),
        "--archive",
        archive.to_str().expect("UTF-8 path"),
        "--",
    ];
    let flags = ep.pinsign_flags();
    args.extend(flags.iter().map(String::as_str));
    let out = output_of(&mut scripts_image_signing(&args));
    let stdout = assert_ok(&out, "scripts/image");
    let built = started.elapsed();

    // The pinned reference is the last line; it names the digest the registry confirmed, which
    // is the digest of the archive that was built.
    let digest = read_digest_file(&digest_file);
    assert_eq!(
        stdout.lines().last(),
        Some(reg.image(&format!("tools/pinsign@{digest}")).as_str()),
        "stdout: {stdout}"
    );
    assert_eq!(archive_digest(&archive), digest);

    // No shell: the only executables are pinsign and shared objects (listed before any `buildah
    // run`, which adds /etc/hosts and friends to the container), and /bin/sh does not start.
    let ctr = Container::from_archive(&archive);
    let files = ctr.files();
    let executables: BTreeSet<&str> = files
        .iter()
        .filter(|(path, mode)| mode & 0o170000 == 0o100000 && mode & 0o111 != 0 && !path.is_empty())
        .map(|(path, _)| path.as_str())
        .collect();
    for exe in &executables {
        let name = exe.rsplit('/').next().unwrap_or(exe);
        assert!(
            *exe == "usr/local/bin/pinsign" || name.contains(".so"),
            "unexpected executable {exe} in the image: {executables:?}"
        );
    }
    for (path, _) in &files {
        let name = path.rsplit('/').next().unwrap_or(path);
        assert!(
            !["sh", "bash", "dash", "ash", "busybox", "apt", "dpkg"].contains(&name),
            "{path} in the image"
        );
    }
    let names: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for needed in [
        "usr/local/bin/pinsign",
        "lib64/ld-linux-x86-64.so.2",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "usr/share/doc/pinsign/LICENSE",
    ] {
        assert!(names.contains(needed), "{needed} missing from {names:?}");
    }
    let shell = ctr.run(&["/bin/sh", "-c", "true"]);
    assert!(!shell.status.success(), "a shell ran in the image");

    // It runs, and says which version and commit it is.
    let version = ctr.run(&["/usr/local/bin/pinsign", "--version"]);
    let version = assert_ok(&version, "pinsign --version in the image");
    assert_eq!(version.trim(), expected_version_line());
    assert!(
        version.contains(env!("CARGO_PKG_VERSION")) && version.contains(env!("PINSIGN_GIT_COMMIT")),
        "{version}"
    );

    drop(ctr);

    // OCI labels, read back from the registry.
    let inspect = support::run(
        images::store()
            .skopeo()
            .arg("inspect")
            .args(ep.containers_flags())
            .arg(ep.docker_ref(&format!("tools/pinsign@{digest}"))),
    );
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("skopeo inspect JSON");
    let labels = &inspect["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        env!("PINSIGN_GIT_COMMIT")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );

    // Signed by digest, with the key, and pinsign verify accepts it (tag in, digest checked).
    let tags = ep.tags("tools/pinsign");
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    assert!(tags.contains(&sig_tag), "tags: {tags:?}");
    let home = support::temp_dir();
    let mut verify = support::pinsign(home.path());
    ep.configure_pinsign(&mut verify);
    let verified = verify
        .args(["verify", &image, "--key"])
        .arg(&key.public)
        .args(["--output", "json"])
        .assert()
        .success();
    let report: serde_json::Value =
        serde_json::from_slice(&verified.get_output().stdout).expect("verify JSON");
    assert_eq!(report[0]["verified"], true, "{report}");
    assert_eq!(report[0]["digest"], digest.as_str(), "{report}");

    // Reproducible: the same binary and SOURCE_DATE_EPOCH give the same image digest.
    let again = work.path().join("again.tar");
    let out = output_of(&mut scripts_image(&[
        "--no-push",
        "--binary",
        binary,
        "--archive",
        again.to_str().expect("UTF-8 path"),
    ]));
    assert_ok(&out, "scripts/image --no-push");
    assert_eq!(archive_digest(&again), digest, "a second build differs");
    eprintln!(
        "own image: built, pushed and signed in {built:.1?}; whole test {:.1?}; archive {} bytes",
        started.elapsed(),
        std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0)
    );
}

#[test]
fn scripts_image_names_a_missing_binary() {
    let work = support::temp_dir();
    let missing = work.path().join("no-such-pinsign");
    let out = output_of(&mut scripts_image(&[
        "--no-push",
        "--binary",
        missing.to_str().expect("UTF-8 path"),
    ]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no executable pinsign at") && stderr.contains("no-such-pinsign"),
        "{stderr}"
    );
}
