//! `pinsign build-push`, run as the real binary with real buildah and skopeo against real
//! Distribution registries (plain http, TLS with a test CA, TLS + htpasswd).
//!
//! Each test has its own workspace: a vfs buildah store (`CONTAINERS_STORAGE_CONF`), `TMPDIR`,
//! `HOME` and build contexts, all in one temp dir, with `BUILDAH_ISOLATION=chroot`. Images for
//! copy mode come from the harness's own store (`images::store()`), built with buildah directly.
//! What pinsign pushed is read back over HTTP with the harness client; signatures are checked
//! here with an independent reading of cosign's format (manifest, payload, `p256`).

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;

use crate::support::client::{Endpoint, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::{images, Registry};

/// Generous: the machine is shared with other test runs.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Seed of the harness image used for copy mode (built once per test process).
const SEED: u64 = 41;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign/keys");
/// cosign's own test key (password `hello`) and its public half.
const KEY: &str = "cosign-keys_test-pemsigstorekey.key";
const KEY_PUB: &str = "cosign-keys_test-pemsigstorekey.derived.pub";
const KEY_PASSWORD: &str = "hello";

const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

// ---------------------------------------------------------------------------------------------
// Workspace and command helpers
// ---------------------------------------------------------------------------------------------

/// One test's directory: `store/` (vfs storage.conf, empty registries.conf), `tmp/` (TMPDIR),
/// `home/`, and whatever contexts and files the test writes.
struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn new() -> Ws {
        support::require_tool("buildah");
        support::require_tool("skopeo");
        let dir = support::temp_dir();
        let root = dir.path();
        for sub in ["home", "tmp", "store"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(
            root.join("store/storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                root.join("store/graph").display(),
                root.join("store/run").display()
            ),
        )
        .unwrap();
        std::fs::write(root.join("store/registries.conf"), "").unwrap();
        Ws { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The variables buildah and skopeo read, pointing into this workspace.
    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("CONTAINERS_STORAGE_CONF", self.path("store/storage.conf")),
            (
                "CONTAINERS_REGISTRIES_CONF",
                self.path("store/registries.conf"),
            ),
            ("BUILDAH_ISOLATION", PathBuf::from("chroot")),
            ("TMPDIR", self.path("tmp")),
        ]
    }

    /// `pinsign` in this workspace (cwd), with the store variables set and host variables removed.
    fn pinsign(&self) -> assert_cmd::Command {
        let mut cmd = support::pinsign(&self.path("home"));
        cmd.current_dir(self.dir.path())
            .envs(self.env())
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("PINSIGN_LOG")
            .timeout(TIMEOUT);
        cmd
    }

    /// `pinsign [registry flags] build-push --image IMAGE`, credentials (if any) in the environment.
    fn build_push(&self, ep: &Endpoint, image: &str) -> assert_cmd::Command {
        let mut cmd = self.pinsign();
        ep.configure_pinsign(&mut cmd);
        cmd.args(["build-push", "--image", image]);
        cmd
    }

    /// Writes `files` into the directory `name` and returns its path.
    fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }

    /// A directory holding `buildah` and `skopeo` wrappers that append their argv (one argument a
    /// line, after a `---` line) to `argv-TOOL.log` here, note the mode and content of any auth
    /// file they are handed in `authfiles-TOOL.log`, then exec the real tool.
    fn recording_wrappers(&self) -> PathBuf {
        let bin = self.path("wrappers");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["buildah", "skopeo"] {
            let real = support::require_tool(tool);
            let script = format!(
                "#!/bin/sh\n\
                 {{ echo ---; for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }} >> '{argv}'\n\
                 prev=\n\
                 for a in \"$@\"; do\n\
                 \x20 case \"$prev\" in --authfile|--dest-authfile)\n\
                 \x20   {{ stat -c %a \"$a\"; cat \"$a\"; echo; }} >> '{auth}';;\n\
                 \x20 esac\n\
                 \x20 prev=\"$a\"\n\
                 done\n\
                 exec '{real}' \"$@\"\n",
                argv = self.path(&format!("argv-{tool}.log")).display(),
                auth = self.path(&format!("authfiles-{tool}.log")).display(),
                real = real.display(),
            );
            let path = bin.join(tool);
            std::fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        bin
    }

    /// A directory holding a `buildah` wrapper whose `push` fails (as a refused or broken
    /// push would) and which runs every other subcommand for real.
    fn failing_push_wrapper(&self) -> PathBuf {
        let bin = self.path("failing-push");
        std::fs::create_dir_all(&bin).unwrap();
        let real = support::require_tool("buildah");
        let script = format!(
            "#!/bin/sh\n\
             if [ \"$1\" = push ]; then echo 'Error: pushing is broken in this test' >&2; exit 125; fi\n\
             exec '{}' \"$@\"\n",
            real.display()
        );
        let path = bin.join("buildah");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    /// The names of the images in this workspace's buildah store, one per line.
    fn local_images(&self) -> String {
        let output = std::process::Command::new(support::require_tool("buildah"))
            .envs(self.env())
            .args(["images", "--noheading", "--format", "{{.Name}}:{{.Tag}}"])
            .output()
            .expect("run buildah images");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What a wrapper recorded (empty if the tool never ran).
    fn recorded(&self, file: &str) -> String {
        std::fs::read_to_string(self.path(file)).unwrap_or_default()
    }
}

/// `PATH` with `first` in front.
fn path_with(first: &Path) -> std::ffi::OsString {
    let mut dirs = vec![first.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// The pinned reference on the last stdout line, split: (`HOST/REPO`, `sha256:...`).
fn pinned(out: &Outcome) -> (String, String) {
    let last = out.stdout.lines().last().expect("a line on stdout");
    let (repo, digest) = last
        .split_once('@')
        .unwrap_or_else(|| panic!("not REG/REPO@DIGEST: {last:?}"));
    assert!(is_digest(digest), "{last:?}");
    (repo.to_string(), digest.to_string())
}

fn is_digest(s: &str) -> bool {
    s.len() == 71
        && s.starts_with("sha256:")
        && s[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// stdout holds exactly one line: the pinned reference. Returns its digest.
fn only_pinned_line(out: &Outcome, ep: &Endpoint, repo: &str) -> String {
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "stdout holds only the pinned reference:\n{}",
        out.stdout
    );
    let (name, digest) = pinned(out);
    assert_eq!(name, ep.image(repo));
    assert_eq!(out.stdout, format!("{name}@{digest}\n"));
    digest
}

/// stdout is exactly one JSON document.
fn json_doc(out: &Outcome) -> serde_json::Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.stdout))
}

/// HEAD `repo:reference`: (digest, content type); panics unless 200.
fn head(ep: &Endpoint, repo: &str, reference: &str) -> (String, String) {
    let got = ep.head_manifest(repo, reference);
    assert_eq!(got.status, 200, "HEAD {repo}:{reference}: {got:?}");
    (
        got.digest.clone().expect("Docker-Content-Digest"),
        got.content_type.clone().expect("Content-Type"),
    )
}

/// GET a manifest by digest, checking the bytes hash to it.
fn manifest(ep: &Endpoint, repo: &str, digest: &str) -> serde_json::Value {
    let got = ep.get_manifest(repo, digest);
    assert_eq!(got.status, 200, "GET {repo}@{digest}: {got:?}");
    assert_eq!(support::sha256_digest(&got.body), digest);
    got.json()
}

/// GET a blob, checking the bytes hash to its digest.
fn blob(ep: &Endpoint, repo: &str, digest: &str) -> Vec<u8> {
    let path = format!("/v2/{repo}/blobs/{digest}");
    let got = support::block_on(async { ep.client().get(&path).await }).expect("GET blob");
    assert_eq!(got.status, 200, "GET {path}: {}", got.status);
    assert_eq!(support::sha256_digest(&got.body), digest);
    got.body
}

/// The image config of the manifest `digest` (checked to be an OCI manifest with an OCI config).
fn config(ep: &Endpoint, repo: &str, digest: &str) -> serde_json::Value {
    let m = manifest(ep, repo, digest);
    assert_eq!(m["mediaType"], OCI_MANIFEST, "{m}");
    assert_eq!(m["config"]["mediaType"], OCI_CONFIG, "{m}");
    let config = blob(ep, repo, m["config"]["digest"].as_str().unwrap());
    serde_json::from_slice(&config).unwrap()
}

fn label(config: &serde_json::Value, key: &str) -> Option<String> {
    config["config"]["Labels"][key].as_str().map(str::to_string)
}

/// A Containerfile `FROM scratch` copying `payload.txt` in, labelled `which=WHICH`.
fn containerfile(which: &str) -> String {
    format!("FROM scratch\nLABEL which={which}\nCOPY payload.txt /payload.txt\n")
}

/// Checks, independently of pinsign's code, that the `.sig` tag of `digest` in `repo` holds a
/// cosign signature over exactly `HOST/REPO@digest` by the key in `pub_pem`, with `optional`.
fn check_cosign_signature(
    ep: &Endpoint,
    repo: &str,
    digest: &str,
    pub_pem: &str,
    optional: serde_json::Value,
) {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let (sig_digest, content_type) = head(ep, repo, &tag);
    assert_eq!(content_type, OCI_MANIFEST);
    let m = manifest(ep, repo, &sig_digest);
    assert_eq!(m["mediaType"], OCI_MANIFEST);
    assert_eq!(m["config"]["mediaType"], OCI_CONFIG);
    let layers = m["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "{m}");
    let layer = &layers[0];
    assert_eq!(layer["mediaType"], SIMPLESIGNING);
    let payload = blob(ep, repo, layer["digest"].as_str().unwrap());
    assert_eq!(layer["size"].as_u64(), Some(payload.len() as u64));
    let expected = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": ep.image(repo)},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": optional,
    });
    // Compact JSON, keys in cosign's order, no trailing newline: byte-exact.
    assert_eq!(
        String::from_utf8(payload.clone()).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
    let sig = B64
        .decode(layer["annotations"][SIGNATURE_ANNOTATION].as_str().unwrap())
        .expect("base64 signature");
    let sig = p256::ecdsa::DerSignature::from_bytes(&sig).expect("DER ECDSA signature");
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pub_pem).expect("public key");
    key.verify(&payload, &sig)
        .expect("the signature verifies with the public key");
}

// ---------------------------------------------------------------------------------------------
// Build mode
// ---------------------------------------------------------------------------------------------

/// A build leaves nothing of its own in buildah's storage: not after a push, not after a
/// failed build, not after a failed push (multi-platform builds remove their list too).
#[test]
fn no_local_image_is_left_in_buildahs_storage() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let good = ws.context(
        "good",
        &[
            ("Containerfile", &containerfile("left")),
            ("payload.txt", "left\n"),
        ],
    );
    let bad = ws.context(
        "bad",
        &[("Containerfile", "FROM scratch\nCOPY missing.txt /\n")],
    );
    let leftovers = |what: &str| {
        let images = ws.local_images();
        assert!(
            !images.contains("pinsign-build-"),
            "{what} left a local image:\n{images}"
        );
    };
    ws.build_push(&ep, &ep.image("left/app:v1"))
        .arg("--context")
        .arg(&good)
        .outcome()
        .ok();
    leftovers("a successful build-push");
    ws.build_push(&ep, &ep.image("left/app:v2"))
        .arg("--context")
        .arg(&bad)
        .outcome()
        .failure(1, &["building"]);
    leftovers("a failed build");
    // buildah builds, then its push fails.
    ws.build_push(&ep, &ep.image("left/app:v3"))
        .env("PATH", path_with(&ws.failing_push_wrapper()))
        .arg("--context")
        .arg(&good)
        .outcome()
        .failure(1, &["pushing to"]);
    leftovers("a failed push");
}

/// `build-push --sign` stores its signature exactly where `sign-digest` would: in
/// `COSIGN_REPOSITORY` or `--signature-repo`, or as a referrer with `--mode referrers`; and
/// `verify`, looking in the same place, finds it.
#[test]
fn sign_honours_the_signature_repository_and_mode() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("placed")),
            ("payload.txt", "placed\n"),
        ],
    );
    let key = Path::new(KEYS).join(KEY);
    let public = Path::new(KEYS).join(KEY_PUB);
    let verify = |ep: &Endpoint, pinned: &str, envs: &[(&str, String)], args: &[&str]| {
        let mut cmd = ws.pinsign();
        ep.configure_pinsign(&mut cmd);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.arg("verify")
            .arg(pinned)
            .arg("--key")
            .arg(&public)
            .args(args)
            .outcome()
    };
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<String>);
    let cases: [Case; 2] = [
        (
            "placed/env",
            vec![("COSIGN_REPOSITORY", ep.image("sigs/from-env"))],
            vec![],
        ),
        (
            "placed/flag",
            vec![],
            vec!["--signature-repo".into(), ep.image("sigs/from-flag")],
        ),
    ];
    for (repo, envs, flags) in cases {
        let out = ws
            .build_push(&ep, &ep.image(&format!("{repo}:v1")))
            .env("PINSIGN_PASSWORD", KEY_PASSWORD)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["--sign", "--key"])
            .arg(&key)
            .args(&flags)
            .arg("--context")
            .arg(&context)
            .outcome()
            .ok();
        let (_, digest) = pinned(&out);
        let sig_tag = format!("{}.sig", digest.replace(':', "-"));
        let sig_repo = if flags.is_empty() {
            "sigs/from-env"
        } else {
            "sigs/from-flag"
        };
        assert_eq!(ep.head_manifest(sig_repo, &sig_tag).status, 200, "{repo}");
        assert_eq!(
            ep.head_manifest(repo, &sig_tag).status,
            404,
            "{repo}: nothing beside the image"
        );
        let pinned_ref = format!("{}@{digest}", ep.image(repo));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        verify(&ep, &pinned_ref, &envs, &flags).ok();
        // Without the signature repository, verify looks beside the image and finds nothing.
        verify(&ep, &pinned_ref, &[], &[]).error(1, &["no signatures found"]);
    }

    // --mode referrers, on a registry with the referrers API.
    let ferro = support::Ferro::start();
    let fep = ferro.endpoint();
    let out = ws
        .build_push(&fep, &fep.image("placed/referrer:v1"))
        .env("PINSIGN_PASSWORD", KEY_PASSWORD)
        .args(["--sign", "--mode", "referrers", "--key"])
        .arg(&key)
        .arg("--context")
        .arg(&context)
        .outcome()
        .ok();
    let (_, digest) = pinned(&out);
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    assert_eq!(fep.head_manifest("placed/referrer", &sig_tag).status, 404);
    let pinned_ref = format!("{}@{digest}", fep.image("placed/referrer"));
    verify(&fep, &pinned_ref, &[], &["--mode", "referrers"]).ok();

    // --format bundle: a Sigstore bundle referrer, through the referrers API on ferro and the
    // referrers tag index on Distribution, exactly as sign-digest --format bundle writes it.
    for (ep, via) in [(&fep, "referrers API"), (&ep, "listed in")] {
        let out = ws
            .build_push(ep, &ep.image("placed/bundle:v1"))
            .env("PINSIGN_PASSWORD", KEY_PASSWORD)
            .args(["--sign", "--format", "bundle", "--key"])
            .arg(&key)
            .arg("--context")
            .arg(&context)
            .outcome()
            .ok();
        assert!(out.stderr.contains("(bundle "), "{out}");
        assert!(out.stderr.contains(via), "{out}");
        let (_, digest) = pinned(&out);
        let sig_tag = format!("{}.sig", digest.replace(':', "-"));
        assert_eq!(ep.head_manifest("placed/bundle", &sig_tag).status, 404);
        let head = ep.head_manifest("placed/bundle", &digest);
        let size: u64 = head.header("content-length").unwrap().parse().unwrap();
        let stored = support::bundle_check::stored_bundles(
            ep,
            "placed/bundle",
            &digest,
            head.content_type.as_deref().unwrap(),
            size,
        );
        assert_eq!(stored.len(), 1, "{out}");
        let pinned_ref = format!("{}@{digest}", ep.image("placed/bundle"));
        let out = verify(ep, &pinned_ref, &[], &["-o", "json"]).ok();
        assert_eq!(out.json()[0]["signatures"][0]["format"], "bundle", "{out}");
    }
    // A signing flag without --sign is a usage error.
    ws.build_push(&ep, &ep.image("placed/nosign:v1"))
        .args(["--format", "bundle", "--context"])
        .arg(&context)
        .outcome()
        .only_error(2, &["--format", "--sign"]);
}

#[test]
fn build_pushes_an_oci_image_and_pins_the_digest_the_registry_serves() {
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let context = ws.context(
        "app",
        &[
            (
                "Containerfile",
                "FROM scratch\nARG GREETING=unset\nLABEL greeting=$GREETING\n\
                 COPY payload.txt /payload.txt\n",
            ),
            ("payload.txt", "hello from the build test\n"),
        ],
    );
    let digest_file = ws.path("out/digest");
    std::fs::create_dir_all(digest_file.parent().unwrap()).unwrap();
    let out = ws
        .build_push(&ep, &ep.image("app:v1"))
        .arg("--context")
        .arg(&context)
        .args(["--build-arg", "GREETING=hello"])
        .args(["--label", "org.example.team=build"])
        .arg("--digest-file")
        .arg(&digest_file)
        .outcome()
        .ok();

    // stdout: only the pin; the tools' progress went to stderr.
    let digest = only_pinned_line(&out, &ep, "app");
    assert!(out.stderr.contains("STEP 1/"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Writing manifest"),
        "buildah push output on stderr:\n{}",
        out.stderr
    );

    // The registry serves exactly that digest for the tag, as an OCI manifest.
    let (by_tag, content_type) = head(&ep, "app", "v1");
    assert_eq!(by_tag, digest);
    assert_eq!(content_type, OCI_MANIFEST);
    assert_eq!(head(&ep, "app", &digest).0, digest);
    assert_eq!(std::fs::read_to_string(&digest_file).unwrap(), digest);

    let m = manifest(&ep, "app", &digest);
    assert_eq!(m["layers"].as_array().unwrap().len(), 1, "{m}");
    let config = config(&ep, "app", &digest);
    assert_eq!(label(&config, "greeting").as_deref(), Some("hello"));
    assert_eq!(label(&config, "org.example.team").as_deref(), Some("build"));
    assert_eq!(config["os"], "linux");
}

#[test]
fn containerfile_then_dockerfile_by_default_and_file_overrides() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let payload = ("payload.txt", "lookup\n");
    let only_docker = ws.context(
        "only-docker",
        &[("Dockerfile", &containerfile("dockerfile")), payload],
    );
    let both = ws.context(
        "both",
        &[
            ("Containerfile", &containerfile("containerfile")),
            ("Dockerfile", &containerfile("dockerfile")),
            ("alt.Containerfile", &containerfile("alt")),
            payload,
        ],
    );
    let cases: [(&str, &Path, Option<&str>, &str); 3] = [
        ("docker", &only_docker, None, "dockerfile"),
        ("both", &both, None, "containerfile"),
        ("alt", &both, Some("both/alt.Containerfile"), "alt"),
    ];
    for (tag, context, file, which) in cases {
        let mut cmd = ws.build_push(&ep, &ep.image(&format!("lookup:{tag}")));
        cmd.arg("-q").arg("--context").arg(context);
        if let Some(file) = file {
            cmd.args(["-f", file]);
        }
        let out = cmd.outcome().ok();
        let digest = only_pinned_line(&out, &ep, "lookup");
        assert_eq!(out.stderr, "", "-q: nothing on stderr");
        let config = config(&ep, "lookup", &digest);
        assert_eq!(label(&config, "which").as_deref(), Some(which), "{tag}");
    }
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    // Two workspaces: separate stores, so nothing is shared between the builds.
    let mut digests = Vec::new();
    for tag in ["a", "b"] {
        let ws = Ws::new();
        let context = ws.path("ctx");
        images::write_context(&context, SEED);
        let out = ws
            .build_push(&ep, &ep.image(&format!("repro:{tag}")))
            .env("SOURCE_DATE_EPOCH", "0")
            .args(["-q", "--platform", "linux/amd64", "--context"])
            .arg(&context)
            .outcome()
            .ok();
        digests.push(only_pinned_line(&out, &ep, "repro"));
    }
    assert_eq!(digests[0], digests[1], "same context, same digest");
    let config = config(&ep, "repro", &digests[0]);
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["architecture"], "amd64");

    // And it is the image buildah itself builds from that context with `--timestamp 0`.
    let layout = support::temp_dir();
    let direct = images::store().write_oci_layout(SEED, &layout.path().join("l"), "v1");
    assert_eq!(digests[0], direct);
}

#[test]
fn two_platforms_give_one_deterministic_oci_index_in_the_order_given() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let build = |tag: &str, platforms: &str| {
        let ws = Ws::new();
        let context = ws.context(
            "ctx",
            &[
                ("Containerfile", &containerfile("multi")),
                ("payload.txt", "multi\n"),
            ],
        );
        let out = ws
            .build_push(&ep, &ep.image(&format!("multi:{tag}")))
            .env("SOURCE_DATE_EPOCH", "0")
            .args(["--platform", platforms, "--output", "json", "--context"])
            .arg(&context)
            .outcome()
            .ok();
        let doc = json_doc(&out);
        assert!(!out.stderr.contains("STEP"), "json implies quiet tools");
        let digest = doc["digest"].as_str().unwrap().to_string();
        assert_eq!(doc["media_type"], OCI_INDEX, "{doc}");
        assert_eq!(doc["pinned"], format!("{}@{digest}", ep.image("multi")));
        let (by_tag, content_type) = head(&ep, "multi", tag);
        assert_eq!(by_tag, digest, "the printed digest is the index's");
        assert_eq!(content_type, OCI_INDEX);
        digest
    };
    let first = build("one", "linux/amd64,linux/arm64");
    let again = build("two", "linux/amd64,linux/arm64");
    assert_eq!(first, again, "SOURCE_DATE_EPOCH=0: the same index twice");

    let index = manifest(&ep, "multi", &first);
    assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
    let children = index["manifests"].as_array().unwrap();
    let arches: Vec<&str> = children
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"], "{index}");
    let mut child_digests = Vec::new();
    for child in children {
        assert_eq!(child["mediaType"], OCI_MANIFEST);
        assert_eq!(child["platform"]["os"], "linux");
        let digest = child["digest"].as_str().unwrap();
        let config = config(&ep, "multi", digest);
        assert_eq!(config["architecture"], child["platform"]["architecture"]);
        child_digests.push(digest.to_string());
    }
    assert_ne!(child_digests[0], child_digests[1]);

    // The order follows --platform, with the same images.
    let reversed = build("rev", "linux/arm64,linux/amd64");
    let index = manifest(&ep, "multi", &reversed);
    let digests: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [&child_digests[1], &child_digests[0]]);
}

// ---------------------------------------------------------------------------------------------
// Copy mode
// ---------------------------------------------------------------------------------------------

#[test]
fn copy_mode_preserves_oci_digests_and_converts_docker_archives() {
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let store = images::store();

    // oci:DIR:TAG, with the tools' progress on stderr.
    let layout = ws.path("layout");
    let image = store.write_oci_layout(SEED, &layout, "v1");
    let out = ws
        .build_push(&ep, &ep.image("copy:layout"))
        .arg("--from")
        .arg(format!("oci:{}:v1", layout.display()))
        .outcome()
        .ok();
    assert_eq!(only_pinned_line(&out, &ep, "copy"), image);
    assert!(out.stderr.contains("Writing manifest"), "{}", out.stderr);
    assert_eq!(
        head(&ep, "copy", "layout"),
        (image.clone(), OCI_MANIFEST.into())
    );

    // oci-archive:PATH, quiet.
    let archive = ws.path("image.tar");
    assert_eq!(store.write_oci_archive(SEED, &archive, "v1"), image);
    let out = ws
        .build_push(&ep, &ep.image("copy:archive"))
        .arg("-q")
        .arg("--from")
        .arg(format!("oci-archive:{}", archive.display()))
        .outcome()
        .ok();
    assert_eq!(only_pinned_line(&out, &ep, "copy"), image);
    assert_eq!(out.stderr, "", "-q: nothing on stderr");
    assert_eq!(head(&ep, "copy", "archive").0, image);

    // docker-archive:PATH becomes an OCI manifest (the digest changes with the format).
    let docker = ws.path("docker.tar");
    support::run(
        store
            .skopeo()
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!(
                "docker-archive:{}:localhost/copy:v1",
                docker.display()
            )),
    );
    let out = ws
        .build_push(&ep, &ep.image("copy:docker"))
        .args(["-q", "--output", "json", "--digest-file", "docker.digest"])
        .arg("--from")
        .arg(format!("docker-archive:{}", docker.display()))
        .outcome()
        .ok();
    let doc = json_doc(&out);
    let converted = doc["digest"].as_str().unwrap().to_string();
    assert_eq!(doc["media_type"], OCI_MANIFEST, "{doc}");
    assert_eq!(
        head(&ep, "copy", "docker"),
        (converted.clone(), OCI_MANIFEST.into())
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("docker.digest")).unwrap(),
        converted
    );
    let m = manifest(&ep, "copy", &converted);
    assert_eq!(m["config"]["mediaType"], OCI_CONFIG, "{m}");
    for layer in m["layers"].as_array().unwrap() {
        let media_type = layer["mediaType"].as_str().unwrap();
        assert!(
            media_type.starts_with("application/vnd.oci.image.layer.v1.tar"),
            "{m}"
        );
    }

    // An OCI layout holding an index is copied whole, index digest kept.
    let index_layout = ws.path("index-layout");
    let list = store.index(SEED);
    let digest_file = ws.path("index.digest");
    support::run(
        store
            .buildah()
            .args(["manifest", "push", "--quiet", "--all", "--format", "oci"])
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(&list)
            .arg(format!("oci:{}:v1", index_layout.display())),
    );
    let index = images::read_digest_file(&digest_file);
    let out = ws
        .build_push(&ep, &ep.image("copy:index"))
        .arg("-q")
        .arg("--from")
        .arg(format!("oci:{}:v1", index_layout.display()))
        .outcome()
        .ok();
    assert_eq!(only_pinned_line(&out, &ep, "copy"), index);
    assert_eq!(
        head(&ep, "copy", "index"),
        (index.clone(), OCI_INDEX.into())
    );
    for child in manifest(&ep, "copy", &index)["manifests"]
        .as_array()
        .unwrap()
    {
        let digest = child["digest"].as_str().unwrap();
        assert_eq!(head(&ep, "copy", digest).0, digest, "child pushed too");
    }
}

// ---------------------------------------------------------------------------------------------
// Signing, output, credentials
// ---------------------------------------------------------------------------------------------

#[test]
fn sign_stores_a_cosign_signature_over_exactly_the_pushed_digest() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("signed")),
            ("payload.txt", "signed\n"),
        ],
    );
    let key = Path::new(KEYS).join(KEY);
    let out = ws
        .build_push(&ep, &ep.image("team/signed:v1"))
        .env("PINSIGN_PASSWORD", KEY_PASSWORD)
        .args(["--output", "json", "--sign", "--key"])
        .arg(&key)
        .args(["-a", "team=ci", "--digest-file", "digest", "--context"])
        .arg(&context)
        .outcome()
        .ok();
    let doc = json_doc(&out);
    let digest = doc["digest"].as_str().unwrap().to_string();
    assert!(is_digest(&digest), "{doc}");
    assert_eq!(
        doc["pinned"],
        format!("{}@{digest}", ep.image("team/signed"))
    );
    assert_eq!(doc["media_type"], OCI_MANIFEST);
    assert_eq!(std::fs::read_to_string(ws.path("digest")).unwrap(), digest);
    assert_eq!(head(&ep, "team/signed", "v1").0, digest);

    assert_eq!(doc["signatures"].as_array().map(Vec::len), Some(1), "{doc}");
    let sig = &doc["signatures"][0];
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    assert_eq!(sig["digest"], digest.as_str(), "{doc}");
    assert_eq!(sig["status"], "signed", "{doc}");
    assert!(
        sig["signature_ref"].as_str().unwrap().ends_with(&sig_tag),
        "{doc}"
    );
    assert_eq!(
        head(&ep, "team/signed", &sig_tag).0,
        sig["signature_manifest_digest"].as_str().unwrap()
    );

    let pub_pem = std::fs::read_to_string(Path::new(KEYS).join(KEY_PUB)).unwrap();
    check_cosign_signature(
        &ep,
        "team/signed",
        &digest,
        &pub_pem,
        serde_json::json!({"team": "ci"}),
    );

    // Text mode: the signature line goes to stderr, the pin stays the only stdout line.
    let out = ws
        .build_push(&ep, &ep.image("team/signed:v2"))
        .env("PINSIGN_PASSWORD", KEY_PASSWORD)
        .args(["--sign", "--key"])
        .arg(&key)
        .arg("--context")
        .arg(&context)
        .outcome()
        .ok();
    let second = only_pinned_line(&out, &ep, "team/signed");
    assert!(
        out.stderr
            .contains(&format!("{}@{second}", ep.image("team/signed"))),
        "{}",
        out.stderr
    );
    check_cosign_signature(
        &ep,
        "team/signed",
        &second,
        &pub_pem,
        serde_json::Value::Null,
    );
}

#[test]
fn tool_output_never_reaches_stdout() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("out")),
            ("payload.txt", "out\n"),
        ],
    );

    // --output json: one document, tools silenced.
    let out = ws
        .build_push(&ep, &ep.image("out:json"))
        .args(["--output", "json", "--context"])
        .arg(&context)
        .outcome()
        .ok();
    let doc = json_doc(&out);
    assert_eq!(doc["image"], ep.image("out:json"));
    assert!(doc.get("signatures").is_none(), "{doc}");
    assert!(!out.stderr.contains("STEP"), "{}", out.stderr);

    // -v --output json: the tools speak, on stderr only.
    let out = ws
        .build_push(&ep, &ep.image("out:verbose"))
        .args(["-v", "--output", "json", "--context"])
        .arg(&context)
        .outcome()
        .ok();
    let doc = json_doc(&out);
    assert_eq!(doc["media_type"], OCI_MANIFEST);
    assert!(out.stderr.contains("STEP 1/"), "{}", out.stderr);
    assert!(out.stderr.contains("Writing manifest"), "{}", out.stderr);

    // -q text: the pin and nothing else anywhere.
    let out = ws
        .build_push(&ep, &ep.image("out:quiet"))
        .args(["-q", "--context"])
        .arg(&context)
        .outcome()
        .ok();
    only_pinned_line(&out, &ep, "out");
    assert_eq!(out.stderr, "");
}

#[test]
fn credentials_reach_the_tools_only_through_a_private_auth_file() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let (user, password) = ep.creds.clone().unwrap();
    let ws = Ws::new();
    let wrappers = ws.recording_wrappers();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("creds")),
            ("payload.txt", "creds\n"),
        ],
    );
    let path = path_with(&wrappers);

    // Two platforms: buildah build (twice) and buildah manifest push with the auth file.
    let out = ws
        .build_push(&ep, &ep.image("private/app:multi"))
        .env("PATH", &path)
        .args(["-q", "--platform", "linux/amd64,linux/arm64", "--context"])
        .arg(&context)
        .outcome()
        .ok();
    let (_, digest) = pinned(&out);
    assert_eq!(
        head(&ep, "private/app", "multi"),
        (digest, OCI_INDEX.into())
    );

    // Copy mode: skopeo copy with --dest-authfile.
    let archive = ws.path("image.tar");
    let image = images::store().write_oci_archive(SEED, &archive, "v1");
    let out = ws
        .build_push(&ep, &ep.image("private/app:copied"))
        .env("PATH", &path)
        .args(["-q", "--from"])
        .arg(format!("oci-archive:{}", archive.display()))
        .outcome()
        .ok();
    assert_eq!(pinned(&out).1, image);
    assert_eq!(head(&ep, "private/app", "copied").0, image);

    let buildah = ws.recorded("argv-buildah.log");
    let skopeo = ws.recorded("argv-skopeo.log");
    for (tool, argv) in [("buildah", &buildah), ("skopeo", &skopeo)] {
        assert!(!argv.is_empty(), "{tool} ran through the wrapper");
        assert!(
            !argv.contains(&password),
            "password on {tool}'s command line:\n{argv}"
        );
        assert!(!argv.contains("--creds"), "{tool}:\n{argv}");
        assert!(!argv.contains("-secret"), "{tool}:\n{argv}");
    }
    let push = buildah
        .split("---\n")
        .find(|call| call.starts_with("manifest\npush\n"))
        .unwrap_or_else(|| panic!("no buildah manifest push:\n{buildah}"));
    let authfile = push
        .lines()
        .skip_while(|a| *a != "--authfile")
        .nth(1)
        .unwrap_or_else(|| panic!("no --authfile:\n{push}"));
    let private_dir = ws.path("tmp").join("pinsign-tool-");
    assert!(
        authfile.starts_with(private_dir.to_str().unwrap()),
        "the auth file lives in a private dir in TMPDIR: {authfile}"
    );
    assert!(push.lines().any(|a| a == "--cert-dir"), "{push}");
    assert!(skopeo.lines().any(|a| a == "--dest-authfile"), "{skopeo}");
    assert!(skopeo.lines().any(|a| a == "--dest-cert-dir"), "{skopeo}");

    // The auth files they were handed: mode 0600, the registry's entry, user:password in base64.
    let expected_auth = B64.encode(format!("{user}:{password}"));
    for tool in ["buildah", "skopeo"] {
        let seen = ws.recorded(&format!("authfiles-{tool}.log"));
        let mut lines = seen.lines();
        let mode = lines
            .next()
            .unwrap_or_else(|| panic!("{tool}: no auth file"));
        assert_eq!(mode, "600", "{tool}'s auth file is private");
        let doc: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(
            doc["auths"][ep.host.as_str()]["auth"],
            expected_auth.as_str()
        );
    }

    // The private directory is gone.
    let left: Vec<String> = std::fs::read_dir(ws.path("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pinsign-tool-"))
        .collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A tool that pushes but leaves an empty or malformed `--digestfile`: pinsign refuses to
/// guess the digest (it never reads one from the tool's output) and signs nothing.
#[test]
fn an_empty_or_malformed_digest_file_is_an_error() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("digestfile")),
            ("payload.txt", "digestfile\n"),
        ],
    );
    let real = support::require_tool("buildah");
    for (name, content, expected) in [
        ("empty", "", "is empty"),
        ("garbage", "sha256:not-a-digest", "not a digest"),
    ] {
        // Runs the real buildah, then overwrites the digest file it was given.
        let bin = ws.path(&format!("spoil-{name}"));
        std::fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\n\
             '{real}' \"$@\" || exit $?\n\
             prev=\n\
             for a in \"$@\"; do\n\
             \x20 [ \"$prev\" = --digestfile ] && printf '%s' '{content}' > \"$a\"\n\
             \x20 prev=\"$a\"\n\
             done\n\
             exit 0\n",
            real = real.display(),
        );
        let wrapper = bin.join("buildah");
        std::fs::write(&wrapper, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let image = ep.image(&format!("spoiled/{name}:v1"));
        let out = ws
            .build_push(&ep, &image)
            .env("PATH", path_with(&bin))
            .args(["-q", "--context"])
            .arg(&context)
            .outcome();
        let line = out.failure(1, &[]);
        assert!(line.contains("digest file"), "{line}");
        assert!(line.contains(expected), "{line}");
        assert!(out.stdout.is_empty(), "no pin printed: {}", out.stdout);
    }
}

#[test]
fn missing_tools_are_named_with_the_command_that_installs_them() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let empty = ws.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("x")),
            ("payload.txt", "x\n"),
        ],
    );
    for platforms in ["linux/amd64", "linux/amd64,linux/arm64"] {
        let line = ws
            .build_push(&ep, &ep.image("tools:v1"))
            .env("PATH", &empty)
            .args(["--platform", platforms, "--context"])
            .arg(&context)
            .outcome()
            .failure(1, &[]);
        assert!(
            line.contains("buildah not found: install buildah (apt-get install buildah)"),
            "{line}"
        );
    }
    let archive = ws.path("image.tar");
    std::fs::write(&archive, "not read").unwrap();
    let line = ws
        .build_push(&ep, &ep.image("tools:v1"))
        .env("PATH", &empty)
        .arg("--from")
        .arg(format!("oci-archive:{}", archive.display()))
        .outcome()
        .failure(1, &[]);
    assert!(
        line.contains("skopeo not found: install skopeo (apt-get install skopeo)"),
        "{line}"
    );
    assert!(ep.tags("tools").is_empty());
}

#[test]
fn a_failed_build_reports_the_tools_last_lines_and_pushes_nothing() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let missing = ws.context(
        "missing",
        &[(
            "Containerfile",
            "FROM scratch\nCOPY missing-file /missing-file\n",
        )],
    );
    let syntax = ws.context(
        "syntax",
        &[
            ("Containerfile", "FROMM scratch\nCOPY payload.txt /\n"),
            ("payload.txt", "x\n"),
        ],
    );
    for (context, quiet, hint) in [
        (&missing, true, "missing-file"),
        (&syntax, true, "no FROM statement"),
        (&missing, false, "missing-file"),
    ] {
        let mut cmd = ws.build_push(&ep, &ep.image("broken:v1"));
        if quiet {
            cmd.arg("-q");
        }
        let out = cmd.arg("--context").arg(context).outcome();
        let line = out.failure(1, &[]);
        if quiet {
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        }
        assert!(line.contains("broken:v1"), "names the image: {line}");
        assert!(line.contains("buildah build failed (exit code "), "{line}");
        assert!(line.contains(hint), "the tool's last lines: {line}");
    }
    // With several platforms, the failing one is named.
    let line = ws
        .build_push(&ep, &ep.image("broken:multi"))
        .args(["-q", "--platform", "linux/amd64,linux/arm64", "--context"])
        .arg(&missing)
        .outcome()
        .failure(1, &[]);
    assert!(
        line.contains(&format!(
            "building linux/amd64 for {}",
            ep.image("broken:multi")
        )),
        "{line}"
    );
    assert!(line.contains("missing-file"), "{line}");
    assert!(ep.tags("broken").is_empty(), "nothing pushed");
}

#[test]
fn a_refused_push_names_the_registry() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let wrong = ep.with_creds("writer", "not-the-password");
    let ws = Ws::new();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("refused")),
            ("payload.txt", "refused\n"),
        ],
    );
    let wrappers = ws.recording_wrappers();
    let line = ws
        .build_push(&wrong, &ep.image("refused:v1"))
        .env("PATH", path_with(&wrappers))
        .args(["-q", "--digest-file", "refused.digest"])
        .arg("--context")
        .arg(&context)
        .outcome()
        .failure(1, &[]);
    assert!(line.contains(&ep.host), "names the registry: {line}");
    assert!(line.contains("refused:v1"), "names the image: {line}");
    assert!(
        line.contains("check the credentials"),
        "says what to do: {line}"
    );
    assert!(!line.contains("not-the-password"), "{line}");
    assert_eq!(
        ws.recorded("argv-buildah.log"),
        "",
        "wrong credentials are caught before anything is built"
    );
    assert!(
        !ws.path("refused.digest").exists(),
        "no digest file for a failed push"
    );
    assert!(ep.tags("refused").is_empty(), "nothing pushed");

    // Copy mode, same refusal.
    let archive = ws.path("image.tar");
    images::store().write_oci_archive(SEED, &archive, "v1");
    let line = ws
        .build_push(&wrong, &ep.image("refused:copy"))
        .arg("-q")
        .arg("--from")
        .arg(format!("oci-archive:{}", archive.display()))
        .outcome()
        .failure(1, &[]);
    assert!(line.contains(&ep.host), "names the registry: {line}");
    assert!(ep.tags("refused").is_empty(), "nothing pushed");
}

#[test]
fn usage_errors_exit_2_before_any_tool_runs() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let wrappers = ws.recording_wrappers();
    let path = path_with(&wrappers);
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("usage")),
            ("payload.txt", "usage\n"),
        ],
    );
    let by_digest = ep.image(&format!("usage@sha256:{}", "ab".repeat(32)));
    // (arguments after build-push, SOURCE_DATE_EPOCH, what the message names)
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (
            vec!["--image".into(), by_digest.clone()],
            None,
            "push to a tag, not a digest",
        ),
        (
            vec![
                "--image".into(),
                ep.image("usage:v1"),
                "--from".into(),
                "bad:thing".into(),
            ],
            None,
            "bad:thing",
        ),
        (
            vec!["--image".into(), ep.image("usage:v1"), "--sign".into()],
            None,
            "--key",
        ),
        (
            vec![
                "--image".into(),
                ep.image("usage:v1"),
                "--from".into(),
                "oci-archive:x.tar".into(),
                "--platform".into(),
                "linux/amd64".into(),
            ],
            None,
            "--platform",
        ),
        (
            vec!["--image".into(), ep.image("usage:v1")],
            Some("yesterday"),
            "SOURCE_DATE_EPOCH",
        ),
        (
            vec!["--image".into(), "127.0.0.1:1/UPPER:v1".into()],
            None,
            "UPPER",
        ),
    ];
    for (args, epoch, hint) in cases {
        let mut cmd = ws.pinsign();
        ep.configure_pinsign(&mut cmd);
        cmd.env("PATH", &path)
            .arg("build-push")
            .args(&args)
            .arg("--context")
            .arg(&context);
        if let Some(epoch) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        let out = cmd.outcome();
        out.failure(2, &[]);
        assert!(out.stderr.contains(hint), "{args:?}: {}", out.stderr);
    }
    assert_eq!(ws.recorded("argv-buildah.log"), "", "buildah never ran");
    assert_eq!(ws.recorded("argv-skopeo.log"), "", "skopeo never ran");
    assert!(ep.tags("usage").is_empty());
}

#[test]
fn missing_inputs_are_clear_errors() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let wrappers = ws.recording_wrappers();
    let path = path_with(&wrappers);
    let empty = ws.context("empty", &[("payload.txt", "x\n")]);
    let image = ep.image("inputs:v1");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--context".into(), empty.display().to_string()],
            format!(
                "no Containerfile or Dockerfile in {}; pass --file",
                empty.display()
            ),
        ),
        (
            vec!["--context".into(), "nowhere".into()],
            "build context nowhere is not a directory".into(),
        ),
        (
            vec!["-f".into(), "nowhere/Containerfile".into()],
            "--file nowhere/Containerfile does not exist".into(),
        ),
        (
            vec!["--from".into(), "oci-archive:nowhere.tar".into()],
            "--from oci-archive:nowhere.tar: nowhere.tar does not exist".into(),
        ),
        (
            vec!["--from".into(), "oci:nowhere:v1".into()],
            "--from oci:nowhere:v1: nowhere does not exist".into(),
        ),
    ];
    for (args, message) in cases {
        let line = ws
            .build_push(&ep, &image)
            .env("PATH", &path)
            .args(&args)
            .outcome()
            .failure(1, &[]);
        assert!(line.contains(&message), "{args:?}: {line}");
    }
    assert_eq!(ws.recorded("argv-buildah.log"), "", "buildah never ran");
    assert_eq!(ws.recorded("argv-skopeo.log"), "", "skopeo never ran");
}

#[test]
fn a_wrong_key_password_fails_before_building() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let wrappers = ws.recording_wrappers();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("key")),
            ("payload.txt", "key\n"),
        ],
    );
    let key = Path::new(KEYS).join(KEY);
    let line = ws
        .build_push(&ep, &ep.image("keyed:v1"))
        .env("PATH", path_with(&wrappers))
        .env("PINSIGN_PASSWORD", "not-hello")
        .args(["--sign", "--key"])
        .arg(&key)
        .arg("--context")
        .arg(&context)
        .outcome()
        .failure(1, &[]);
    assert!(line.contains(KEY), "names the key file: {line}");
    assert!(line.contains("password"), "{line}");
    assert_eq!(ws.recorded("argv-buildah.log"), "", "buildah never ran");
    assert!(ep.tags("keyed").is_empty(), "nothing pushed");
}

/// The scheme and CAs pinsign uses for a registry travel to buildah and skopeo: a loopback
/// plain-HTTP registry needs no flag (the tools get `--tls-verify=false`), and a TLS registry
/// whose CA is only in a certs.d directory gets that CA in the tools' `--cert-dir`.
#[test]
fn loopback_and_certs_d_registries_reach_the_tools_without_flags() {
    let ws = Ws::new();
    let wrappers = ws.recording_wrappers();
    let path = path_with(&wrappers);
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("schemes")),
            ("payload.txt", "schemes\n"),
        ],
    );

    let http = Registry::http();
    let out = ws
        .pinsign()
        .env("PATH", &path)
        .args([
            "-q",
            "build-push",
            "--image",
            &http.image("loop/app:v1"),
            "--context",
        ])
        .arg(&context)
        .outcome()
        .ok();
    let (_, digest) = pinned(&out);
    assert_eq!(head(&http.endpoint(), "loop/app", "v1").0, digest);
    let argv = ws.recorded("argv-buildah.log");
    let push = argv
        .split("---\n")
        .find(|call| call.starts_with("push\n"))
        .unwrap_or_else(|| panic!("no buildah push:\n{argv}"));
    assert!(push.lines().any(|a| a == "--tls-verify=false"), "{push}");

    let tls = Registry::tls();
    let certs = ws.path("certs.d");
    std::fs::create_dir_all(certs.join(tls.host())).unwrap();
    std::fs::copy(
        tls.ca_path().unwrap(),
        certs.join(tls.host()).join("ca.crt"),
    )
    .unwrap();
    std::fs::remove_file(ws.path("argv-buildah.log")).unwrap();
    let out = ws
        .pinsign()
        .env("PATH", &path)
        .env("PINSIGN_CERTS_D", &certs)
        .args([
            "-q",
            "build-push",
            "--image",
            &tls.image("certs/app:v1"),
            "--context",
        ])
        .arg(&context)
        .outcome()
        .ok();
    let (_, digest) = pinned(&out);
    assert_eq!(head(&tls.endpoint(), "certs/app", "v1").0, digest);
    let argv = ws.recorded("argv-buildah.log");
    let push = argv
        .split("---\n")
        .find(|call| call.starts_with("push\n"))
        .unwrap_or_else(|| panic!("no buildah push:\n{argv}"));
    assert!(push.lines().any(|a| a == "--tls-verify=true"), "{push}");
    assert!(push.lines().any(|a| a == "--cert-dir"), "{push}");
}

// ---------------------------------------------------------------------------------------------
// Cancelled jobs: SIGTERM (a CI runner's cancel) and SIGINT (Ctrl-C)
// ---------------------------------------------------------------------------------------------

/// A `buildah` whose `push` notes its pid, the auth file it was handed and whether it
/// exists, then waits on a background `sleep` (which, started with `&` by a non-interactive
/// shell, ignores SIGINT: only the kill after the grace period ends it). Every other
/// subcommand runs the real buildah.
fn slow_buildah(ws: &Ws) -> PathBuf {
    let bin = ws.path("slow");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = push ] || exec '{real}' \"$@\"\n\
         echo $$ >> '{pids}'\n\
         prev=\n\
         for a in \"$@\"; do\n\
         \x20 [ \"$prev\" = --authfile ] && {{ echo \"$a\"; test -f \"$a\" && echo exists; }} >> '{auth}'\n\
         \x20 prev=\"$a\"\n\
         done\n\
         sleep 300 &\n\
         echo $! >> '{pids}'\n\
         wait\n",
        pids = ws.path("slow-pids").display(),
        auth = ws.path("slow-auth").display(),
        real = support::require_tool("buildah").display(),
    );
    let path = bin.join("buildah");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Whether `pid` is a live process (a zombie or a missing entry is not).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// `pinsign-tool-*` entries under `dir` (recursively, two levels).
fn tool_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("pinsign-tool-")
        {
            found.push(path);
        } else if path.is_dir() {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                if inner
                    .file_name()
                    .to_string_lossy()
                    .starts_with("pinsign-tool-")
                {
                    found.push(inner.path());
                }
            }
        }
    }
    found
}

/// Start `build-push` with the slow buildah, wait until buildah runs, send `signal`, and
/// check: exit 128 + signal within a bound, buildah and its child gone, the auth file it was
/// handed (which existed while it ran) removed with its directory, and stderr says so.
fn stopped_by(signal: &str, code: i32, runtime_dir: Option<&Path>) -> Ws {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let ws = Ws::new();
    let context = ws.context(
        "ctx",
        &[
            ("Containerfile", &containerfile("cancel")),
            ("payload.txt", "cancel\n"),
        ],
    );
    let mut cmd = support::pinsign_std(&ws.path("home"));
    cmd.current_dir(ws.dir.path())
        .envs(ws.env())
        .env("PATH", path_with(&slow_buildah(&ws)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(dir) = runtime_dir {
        cmd.env("XDG_RUNTIME_DIR", dir);
    }
    ep.configure_pinsign_std(&mut cmd);
    cmd.args([
        "build-push",
        "--image",
        &ep.image("cancel/app:v1"),
        "--context",
    ])
    .arg(&context);
    let mut child = cmd.spawn().expect("start pinsign");
    let started = support::wait_until(TIMEOUT, || {
        ws.recorded("slow-pids").lines().count() >= 2 || child.try_wait().unwrap().is_some()
    });
    assert!(started, "buildah never started");
    assert!(
        child.try_wait().unwrap().is_none(),
        "pinsign ended before the signal"
    );
    let pids: Vec<u32> = ws
        .recorded("slow-pids")
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let auth = ws.recorded("slow-auth");
    let mut lines = auth.lines();
    let authfile = PathBuf::from(lines.next().expect("buildah was handed an auth file"));
    assert_eq!(lines.next(), Some("exists"), "{auth}");

    let sent = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The grace period is 5 s; SIGINT needs it (the background sleep ignores SIGINT).
    let bound = Duration::from_secs(30);
    assert!(
        support::wait_until(bound, || child.try_wait().unwrap().is_some()),
        "pinsign did not exit within {bound:?} of {signal}"
    );
    let took = sent.elapsed();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{signal} took {took:?}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("stopped by SIG{signal}"))
            && stderr.contains("temporary auth file is removed"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing pinned or signed");
    for pid in pids {
        assert!(
            support::wait_until(Duration::from_secs(10), || !running(pid)),
            "process {pid} (buildah or its child) still runs after {signal}"
        );
    }
    assert!(!authfile.exists(), "{} is left behind", authfile.display());
    assert!(
        !authfile.parent().unwrap().exists(),
        "its private directory is left behind"
    );
    assert_eq!(tool_dirs(&ws.path("tmp")), Vec::<PathBuf>::new());
    ws
}

/// `kill -TERM` (a CI runner cancelling the job) during the push: buildah gets SIGTERM,
/// the auth file goes, exit 143.
#[test]
fn sigterm_during_the_push_stops_buildah_and_removes_the_auth_file() {
    let ws = stopped_by("TERM", 143, None);
    // Without XDG_RUNTIME_DIR the private directory was in the temp dir.
    assert!(ws
        .recorded("slow-auth")
        .starts_with(&*ws.path("tmp").to_string_lossy()));
}

/// Ctrl-C (SIGINT) during the push: forwarded to buildah's process group; the background
/// child that ignores SIGINT is killed after the grace period; exit 130. With
/// `XDG_RUNTIME_DIR` set, the auth file lives under `$XDG_RUNTIME_DIR/pinsign` (0700), and a
/// directory a killed pinsign left there is removed by this run.
#[test]
fn sigint_during_the_push_stops_buildah_and_removes_the_auth_file() {
    let run = support::temp_dir();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(run.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // What a `kill -9`ed pinsign (a pid that no longer exists) left behind.
    let stale = run.path().join("pinsign/pinsign-tool-999999999-abcdef");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("auth.json"), "{}").unwrap();
    let ws = stopped_by("INT", 130, Some(run.path()));
    let base = run.path().join("pinsign");
    assert!(
        ws.recorded("slow-auth")
            .starts_with(&*base.to_string_lossy()),
        "{}",
        ws.recorded("slow-auth")
    );
    let mode = std::fs::metadata(&base).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(!stale.exists(), "the stale directory is removed");
    assert_eq!(tool_dirs(run.path()), Vec::<PathBuf>::new());
}
