//! Signing keys for tests, made once per test process with `pinsign generate-key-pair` (scrypt
//! costs ~0.1 s per key) in `$CARGO_TARGET_TMPDIR/pinsign-keys-<pid>`. Directories of finished
//! test processes are removed by the next process that makes keys.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The password of every generated key (give it as `COSIGN_PASSWORD`).
pub const PASSWORD: &str = "pinsign-test-password";

/// How many keys [`keys`] makes.
pub const COUNT: usize = 8;

#[derive(Clone, Debug)]
pub struct TestKey {
    /// The encrypted private key (`ENCRYPTED SIGSTORE PRIVATE KEY`), password [`PASSWORD`].
    pub key: PathBuf,
    /// The public key file and its PEM text.
    pub public: PathBuf,
    pub public_pem: String,
}

impl TestKey {
    pub fn key_arg(&self) -> String {
        self.key.to_str().expect("UTF-8 path").to_string()
    }
}

/// [`COUNT`] distinct key pairs, generated on first use.
pub fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(generate)
}

fn generate() -> Vec<TestKey> {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale(base);
    let dir = base.join(format!("pinsign-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create key dir");
    (0..COUNT)
        .map(|i| {
            let prefix = dir.join(format!("key{i}"));
            let mut cmd = super::pinsign_std(&dir);
            cmd.env("COSIGN_PASSWORD", PASSWORD)
                .args(["generate-key-pair", "--output-key-prefix"])
                .arg(&prefix);
            super::run(&mut cmd);
            let public = prefix.with_extension("pub");
            TestKey {
                key: prefix.with_extension("key"),
                public_pem: std::fs::read_to_string(&public).expect("read generated .pub"),
                public,
            }
        })
        .collect()
}

fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pinsign-keys-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
