//! Writing a key pair: `PREFIX.key` (encrypted, mode 0600) and `PREFIX.pub` (0644).
//!
//! Both paths are checked before either is written, so a refusal leaves everything as it
//! was. Each file is written to a temporary file in the same directory, synced, then
//! renamed into place (without `--force`, with a rename that refuses to replace), so a
//! failure never leaves a partial key file behind.

use std::path::PathBuf;

use crate::files::{parent_dir, persist, prepare};

use super::password::Password;
use super::SigningKey;

/// The two files of a key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairPaths {
    pub private: PathBuf,
    pub public: PathBuf,
}

impl KeyPairPaths {
    /// `PREFIX.key` and `PREFIX.pub`.
    pub fn from_prefix(prefix: &str) -> anyhow::Result<KeyPairPaths> {
        if prefix.is_empty() || prefix.ends_with('/') {
            return Err(crate::error::UsageError::new(format!(
                "--output-key-prefix {prefix:?} names no file; pass e.g. `cosign` or `keys/cosign`"
            ))
            .into());
        }
        Ok(KeyPairPaths {
            private: PathBuf::from(format!("{prefix}.key")),
            public: PathBuf::from(format!("{prefix}.pub")),
        })
    }

    /// Refuse (naming the file) if either file exists, unless `force`. Also checks the
    /// directory exists, so the password is not asked for in vain.
    pub fn check_writable(&self, force: bool) -> anyhow::Result<()> {
        for path in [&self.private, &self.public] {
            let dir = parent_dir(path);
            if !dir.is_dir() {
                anyhow::bail!(
                    "cannot write {}: the directory {} does not exist; create it first",
                    path.display(),
                    dir.display()
                );
            }
            if !force && std::fs::symlink_metadata(path).is_ok() {
                anyhow::bail!(
                    "{} already exists; pass --force to overwrite it, or choose another \
                     --output-key-prefix (nothing was written)",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// Write `key` encrypted under `password`, and its public key, to `paths`. Prints
/// "Private key written to ..." and "Public key written to ..." on stderr, like cosign.
pub fn write_key_pair(
    paths: &KeyPairPaths,
    key: &SigningKey,
    password: &Password,
    force: bool,
) -> anyhow::Result<()> {
    paths.check_writable(force)?;
    let private_pem = key.to_encrypted_pem(password);
    let public_pem = key.public_key().to_pem();
    let private_tmp = prepare(&paths.private, private_pem.as_bytes(), 0o600)?;
    let public_tmp = prepare(&paths.public, public_pem.as_bytes(), 0o644)?;
    drop(private_pem);

    persist(private_tmp, &paths.private, force)?;
    if let Err(e) = persist(public_tmp, &paths.public, force) {
        if !force {
            // We created the key file a moment ago; do not leave half a pair.
            let _ = std::fs::remove_file(&paths.private);
        }
        return Err(e);
    }
    eprintln!("Private key written to {}", paths.private.display());
    eprintln!("Public key written to {}", paths.public.display());
    tracing::info!("key pair {} written", key.fingerprint());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        let paths = KeyPairPaths::from_prefix(prefix.to_str().unwrap()).unwrap();
        assert!(paths.private.ends_with("k.key") && paths.public.ends_with("k.pub"));
        paths.check_writable(false).unwrap();
        std::fs::write(&paths.public, "old").unwrap();
        let e = paths.check_writable(false).unwrap_err().to_string();
        assert!(
            e.contains("k.pub already exists") && e.contains("--force"),
            "{e}"
        );
        paths.check_writable(true).unwrap();
        assert!(KeyPairPaths::from_prefix("").is_err());
        let missing = KeyPairPaths::from_prefix("/nonexistent-dir/cosign").unwrap();
        let e = missing.check_writable(true).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
