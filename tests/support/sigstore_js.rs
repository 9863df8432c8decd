//! sigstore-js (npm `sigstore`, `@sigstore/sign`, `@sigstore/verify`, `@sigstore/bundle`), the
//! independent implementation pinsign's bundles are checked against, run through the scripts in
//! `tests/support/js/sigstore/` with `NODE_PATH` pointing at the tools dir.
//!
//! `scripts/setup` installs the exact versions of `tests/support/js/sigstore/package-lock.json`
//! into `${PINSIGN_TOOLS_DIR:-$HOME/.cache/pinsign-tools}/js/sigstore`. A missing `node`, a
//! missing install or an install from another lock fails the test with the command that fixes it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::node::{require_node, NpmTool};

/// sigstore-js as `scripts/setup` installs it.
pub const SIGSTORE_JS: NpmTool = NpmTool {
    dir: "sigstore",
    package: "sigstore",
    version: "4.1.1",
};

/// The scripts (`tests/support/js/sigstore/`).
pub fn scripts_dir() -> PathBuf {
    SIGSTORE_JS.source_dir()
}

/// A key pair made by Node's crypto: `key` is a PKCS#8 PEM private key, `public` its SPKI PEM.
#[derive(Clone, Debug)]
pub struct JsKey {
    pub key: PathBuf,
    pub public: PathBuf,
}

/// What `verify.cjs` printed for a bundle it accepted.
#[derive(Clone, Debug)]
pub struct JsVerified {
    pub media_type: String,
    pub hint: Option<String>,
    /// `dsseEnvelope` or `messageSignature`.
    pub content: String,
    pub payload_type: Option<String>,
    /// The DSSE payload, parsed (`null` for a message signature).
    pub statement: serde_json::Value,
}

/// sigstore-js, found and checked; scratch files go to a temp dir removed on drop.
pub struct SigstoreJs {
    node: PathBuf,
    node_path: PathBuf,
    dir: tempfile::TempDir,
    count: std::cell::Cell<u32>,
}

impl SigstoreJs {
    /// Finds `node` and the installed packages, or panics saying how to install them.
    pub fn require() -> SigstoreJs {
        let node = require_node();
        let install = SIGSTORE_JS.require();
        let node_path = install.join("node_modules");
        for package in [
            "sigstore",
            "@sigstore/sign",
            "@sigstore/verify",
            "@sigstore/bundle",
        ] {
            if !node_path.join(package).join("package.json").is_file() {
                panic!(
                    "sigstore-js package {package} is not installed in {}: {}",
                    node_path.display(),
                    SIGSTORE_JS.install_command()
                );
            }
        }
        let ours = std::fs::read(scripts_dir().join("package-lock.json"))
            .expect("read tests/support/js/sigstore/package-lock.json");
        let installed = std::fs::read(install.join("package-lock.json")).unwrap_or_default();
        if ours != installed {
            panic!(
                "sigstore-js in {} was installed from another package-lock.json: {}",
                install.display(),
                SIGSTORE_JS.install_command()
            );
        }
        SigstoreJs {
            node,
            node_path,
            dir: tempfile::Builder::new()
                .prefix("pinsign-sigstore-js-")
                .tempdir()
                .expect("create temp dir"),
            count: std::cell::Cell::new(0),
        }
    }

    /// A fresh path in the scratch dir.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let n = self.count.get() + 1;
        self.count.set(n);
        self.dir.path().join(format!("{n}-{name}"))
    }

    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new(&self.node);
        cmd.arg(scripts_dir().join(script))
            .env("NODE_PATH", &self.node_path)
            .env_remove("NODE_OPTIONS")
            .current_dir(self.dir.path());
        cmd
    }

    fn run(&self, mut cmd: Command) -> Result<String, String> {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// A new P-256 key pair made by Node.
    pub fn keygen(&self) -> JsKey {
        let prefix = self.scratch("key");
        let mut cmd = self.command("keygen.cjs");
        cmd.arg(&prefix);
        self.run(cmd)
            .unwrap_or_else(|e| panic!("keygen.cjs failed: {e}"));
        JsKey {
            key: prefix.with_extension("key"),
            public: prefix.with_extension("pub"),
        }
    }

    fn sign(&self, args: &[&str]) -> Vec<u8> {
        let out = self.scratch("bundle.json");
        let mut cmd = self.command("sign.cjs");
        cmd.args(args).arg("--out").arg(&out);
        self.run(cmd)
            .unwrap_or_else(|e| panic!("sign.cjs {args:?} failed: {e}"));
        std::fs::read(&out).expect("read the bundle sign.cjs wrote")
    }

    /// A cosign-v3-shaped image signature bundle for `digest` made by sigstore-js's
    /// `DSSEBundleBuilder` (annotations in the subject, `predicate_type` or cosign's).
    pub fn sign_image(
        &self,
        key: &JsKey,
        digest: &str,
        annotations: &[(&str, &str)],
        predicate_type: Option<&str>,
    ) -> Vec<u8> {
        let key_path = key.key.to_str().expect("UTF-8 path").to_string();
        let mut args = vec!["image".to_string(), "--key".into(), key_path];
        args.extend(["--digest".to_string(), digest.to_string()]);
        for (k, v) in annotations {
            args.extend(["-a".to_string(), format!("{k}={v}")]);
        }
        if let Some(p) = predicate_type {
            args.extend(["--predicate-type".to_string(), p.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.sign(&args)
    }

    /// A message-signature bundle over `file` (`MessageSignatureBundleBuilder`).
    pub fn sign_blob(&self, key: &JsKey, file: &Path) -> Vec<u8> {
        self.sign(&[
            "blob",
            "--key",
            key.key.to_str().expect("UTF-8 path"),
            "--file",
            file.to_str().expect("UTF-8 path"),
        ])
    }

    /// A DSSE bundle over a Statement naming `file` by its sha256.
    pub fn sign_blob_dsse(&self, key: &JsKey, file: &Path) -> Vec<u8> {
        self.sign(&[
            "blob-dsse",
            "--key",
            key.key.to_str().expect("UTF-8 path"),
            "--file",
            file.to_str().expect("UTF-8 path"),
        ])
    }

    /// Verify `bundle` with sigstore-js against any of `keys` (PEM files; the bundle's hint
    /// picks one), with `artifact` for a message signature. `Err` holds sigstore-js's message.
    pub fn verify(
        &self,
        bundle: &[u8],
        keys: &[&Path],
        artifact: Option<&Path>,
    ) -> Result<JsVerified, String> {
        let path = self.scratch("verify.json");
        std::fs::write(&path, bundle).expect("write bundle");
        let mut cmd = self.command("verify.cjs");
        cmd.arg("--bundle").arg(&path);
        for k in keys {
            cmd.arg("--key").arg(k);
        }
        if let Some(a) = artifact {
            cmd.arg("--artifact").arg(a);
        }
        let out = self.run(cmd)?;
        let v: serde_json::Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("verify.cjs printed no JSON ({e}): {out}"));
        assert_eq!(v["verified"], true, "{out}");
        let text = |k: &str| v[k].as_str().map(str::to_string);
        Ok(JsVerified {
            media_type: text("mediaType").unwrap_or_default(),
            hint: text("hint"),
            content: text("content").unwrap_or_default(),
            payload_type: text("payloadType"),
            statement: v["statement"].clone(),
        })
    }
}
