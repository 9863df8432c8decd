//! Test images built with real buildah: `FROM scratch` plus one small file whose content depends on a
//! seed, `--timestamp 0` (reproducible), OCI format, `--isolation chroot`, in a vfs store in a temp
//! dir (`CONTAINERS_STORAGE_CONF`). Each image is built once per test process and then pushed (digest
//! from `--digestfile`) or written to an OCI layout / `oci-archive`. All options precede image
//! arguments (buildah and skopeo reject the other order).
//!
//! The store lives in `$TMPDIR/pinsign-buildah-<pid>`; stores of processes that are gone are removed
//! when the next test process opens its own.

use super::client::Endpoint;
use super::{require_tool, run};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The per-process buildah store (created on first use).
pub fn store() -> &'static ImageStore {
    static STORE: OnceLock<ImageStore> = OnceLock::new();
    STORE.get_or_init(ImageStore::create)
}

pub struct ImageStore {
    root: PathBuf,
    built: Mutex<HashSet<String>>,
    timings: Mutex<Vec<(String, Duration)>>,
}

/// Writes `Containerfile` (`FROM scratch`, `COPY payload.txt /payload.txt`) and `payload.txt`
/// (content varies by `seed`) into `dir`: a build context for buildah or `pinsign build-push`.
pub fn write_context(dir: &Path, seed: u64) {
    write_context_labeled(dir, seed, "image");
}

fn write_context_labeled(dir: &Path, seed: u64, label: &str) {
    std::fs::create_dir_all(dir).expect("create context dir");
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY payload.txt /payload.txt\n",
    )
    .expect("write Containerfile");
    std::fs::write(
        dir.join("payload.txt"),
        format!("pinsign test {label}, seed {seed}\n"),
    )
    .expect("write payload.txt");
}

/// Reads a `--digestfile`: `sha256:<64 hex>`, no newline.
pub fn read_digest_file(path: &Path) -> String {
    let digest = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read digest file {}: {e}", path.display()));
    let valid = digest.len() == 71
        && digest.starts_with("sha256:")
        && digest[7..].bytes().all(|b| b.is_ascii_hexdigit());
    assert!(valid, "digest file {} holds {digest:?}", path.display());
    digest
}

impl ImageStore {
    fn create() -> ImageStore {
        require_tool("buildah");
        remove_stale_stores();
        let root = std::env::temp_dir().join(format!("pinsign-buildah-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("tmp")).expect("create buildah store");
        std::fs::write(
            root.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                root.join("graph").display(),
                root.join("run").display()
            ),
        )
        .expect("write storage.conf");
        std::fs::write(root.join("registries.conf"), "").expect("write registries.conf");
        // buildah refuses a REGISTRY_AUTH_FILE that does not exist.
        std::fs::write(root.join("auth.json"), "{\"auths\":{}}").expect("write auth.json");
        ImageStore {
            root,
            built: Mutex::new(HashSet::new()),
            timings: Mutex::new(Vec::new()),
        }
    }

    /// Environment for buildah and skopeo (also what `pinsign build-push` needs to use this store):
    /// `CONTAINERS_STORAGE_CONF`, `BUILDAH_ISOLATION=chroot`, an empty `CONTAINERS_REGISTRIES_CONF`,
    /// an empty `REGISTRY_AUTH_FILE` (`{"auths":{}}`; buildah rejects a missing one), and `TMPDIR` inside the store.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: &str| self.root.join(p).to_string_lossy().into_owned();
        vec![
            ("CONTAINERS_STORAGE_CONF".into(), path("storage.conf")),
            ("CONTAINERS_REGISTRIES_CONF".into(), path("registries.conf")),
            ("REGISTRY_AUTH_FILE".into(), path("auth.json")),
            ("BUILDAH_ISOLATION".into(), "chroot".into()),
            ("TMPDIR".into(), path("tmp")),
        ]
    }

    /// `buildah` with [`ImageStore::env`] and `DOCKER_CONFIG`/`XDG_RUNTIME_DIR` removed.
    pub fn buildah(&self) -> Command {
        self.tool("buildah")
    }

    /// `skopeo` with [`ImageStore::env`].
    pub fn skopeo(&self) -> Command {
        self.tool("skopeo")
    }

    fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(require_tool(name));
        cmd.env_remove("DOCKER_CONFIG")
            .env_remove("XDG_RUNTIME_DIR");
        cmd.envs(self.env());
        cmd
    }

    /// The local name of the single-platform (linux/amd64) image for `seed`, built on first use.
    pub fn image(&self, seed: u64) -> String {
        let name = format!("localhost/pinsign-test/image-{seed}:latest");
        self.build_once(&name, |context| {
            write_context_labeled(context, seed, "image");
            run(self
                .buildah()
                .args(["build", "--quiet", "--timestamp", "0", "--format", "oci"])
                .args([
                    "--isolation",
                    "chroot",
                    "--platform",
                    "linux/amd64",
                    "--tag",
                ])
                .arg(&name)
                .arg("--file")
                .arg(context.join("Containerfile"))
                .arg(context));
        });
        name
    }

    /// The local manifest list for `seed` (linux/amd64 then linux/arm64), built on first use.
    ///
    /// Each platform is built alone and added in a fixed order: `buildah build --platform a,b
    /// --manifest` adds the images in the order their builds finish, so its index digest varies.
    pub fn index(&self, seed: u64) -> String {
        let name = format!("localhost/pinsign-test/index-{seed}:latest");
        self.build_once(&name, |context| {
            write_context_labeled(context, seed, "index");
            run(self.buildah().args(["manifest", "create"]).arg(&name));
            for arch in ["amd64", "arm64"] {
                let image = format!("localhost/pinsign-test/index-{seed}-{arch}:latest");
                run(self
                    .buildah()
                    .args(["build", "--quiet", "--timestamp", "0", "--format", "oci"])
                    .args(["--isolation", "chroot", "--platform"])
                    .arg(format!("linux/{arch}"))
                    .arg("--tag")
                    .arg(&image)
                    .arg("--file")
                    .arg(context.join("Containerfile"))
                    .arg(context));
                run(self
                    .buildah()
                    .args(["manifest", "add"])
                    .arg(&name)
                    .arg(format!("containers-storage:{image}")));
            }
        });
        name
    }

    fn build_once(&self, name: &str, build: impl FnOnce(&Path)) {
        // Held across the build: concurrent tests wait instead of building the same image twice.
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if built.contains(name) {
            return;
        }
        let started = Instant::now();
        let context = tempfile::Builder::new()
            .prefix("context-")
            .tempdir_in(self.root.join("tmp"))
            .expect("create context dir");
        build(context.path());
        self.timings
            .lock()
            .unwrap()
            .push((name.to_string(), started.elapsed()));
        built.insert(name.to_string());
    }

    /// Pushes the image for `seed` to `REPO:TAG` on `ep` (OCI manifest) and returns its digest.
    pub fn push(&self, seed: u64, ep: &Endpoint, repo_tag: &str) -> String {
        let image = self.image(seed);
        self.push_local(&image, &ep.docker_ref(repo_tag), &ep.containers_flags())
    }

    /// Pushes the two-platform OCI index for `seed` (with its images) to `REPO:TAG`; returns the
    /// index digest. Read the child digests with `ep.get_manifest(repo, &digest)`.
    pub fn push_index(&self, seed: u64, ep: &Endpoint, repo_tag: &str) -> String {
        let list = self.index(seed);
        let digest_file = self.digest_file();
        run(self
            .buildah()
            .args(["manifest", "push", "--quiet", "--all", "--format", "oci"])
            .arg("--digestfile")
            .arg(digest_file.path())
            .args(ep.containers_flags())
            .arg(&list)
            .arg(ep.docker_ref(repo_tag)));
        read_digest_file(digest_file.path())
    }

    /// Writes the image for `seed` to the OCI layout `dir` under `tag` (`oci:DIR:TAG`); returns the
    /// manifest digest.
    pub fn write_oci_layout(&self, seed: u64, dir: &Path, tag: &str) -> String {
        let image = self.image(seed);
        self.push_local(&image, &format!("oci:{}:{tag}", dir.display()), &[])
    }

    /// Writes the image for `seed` to an `oci-archive:FILE:TAG`; returns the manifest digest.
    pub fn write_oci_archive(&self, seed: u64, file: &Path, tag: &str) -> String {
        let image = self.image(seed);
        self.push_local(
            &image,
            &format!("oci-archive:{}:{tag}", file.display()),
            &[],
        )
    }

    fn push_local(&self, image: &str, destination: &str, flags: &[String]) -> String {
        let digest_file = self.digest_file();
        run(self
            .buildah()
            .args(["push", "--quiet", "--format", "oci", "--digestfile"])
            .arg(digest_file.path())
            .args(flags)
            .arg(image)
            .arg(destination));
        read_digest_file(digest_file.path())
    }

    fn digest_file(&self) -> tempfile::NamedTempFile {
        tempfile::Builder::new()
            .prefix("digest-")
            .tempfile_in(self.root.join("tmp"))
            .expect("create digest file")
    }
}

/// Removes `$TMPDIR/pinsign-buildah-<pid>` stores whose process no longer runs.
fn remove_stale_stores() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pinsign-buildah-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
