//! Writing a key pair: `PREFIX.key` (encrypted, mode 0600) and `PREFIX.pub` (0644).
//!
//! Both paths are checked before either is written, so a refusal leaves everything as it
//! was. Each file is written to a temporary file in the same directory, synced, then
//! renamed into place (without `--force`, with a rename that refuses to replace), so a
//! failure never leaves a partial key file behind. The two renames cannot be one atomic
//! step, so the key that was there is kept (a hard link) until the public key is in place
//! too, and put back if that fails: never a mismatched pair.

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

    let previous = keep_previous(&paths.private)?;
    persist(private_tmp, &paths.private, force)?;
    if let Err(e) = persist(public_tmp, &paths.public, force) {
        // The new private key is in place but its public key is not: put the old key back
        // (or remove the new one, if there was none), so the pair on disk still matches.
        match previous {
            Some(old) => {
                if let Err(restore) = old.persist(&paths.private) {
                    let kept = restore.path.keep().ok();
                    return Err(e.context(format!(
                        "and the previous {} could not be restored ({}); it is kept as {}",
                        paths.private.display(),
                        restore.error,
                        kept.map(|p| p.display().to_string()).unwrap_or_default()
                    )));
                }
            }
            None => {
                let _ = std::fs::remove_file(&paths.private);
            }
        }
        return Err(e.context("nothing was changed"));
    }
    eprintln!("Private key written to {}", paths.private.display());
    eprintln!("Public key written to {}", paths.public.display());
    tracing::info!("key pair {} written", key.fingerprint());
    Ok(())
}

/// A second name for the key file that is there now (in the same directory, removed when
/// dropped), so it can be put back; `None` when there is none.
fn keep_previous(path: &std::path::Path) -> anyhow::Result<Option<tempfile::TempPath>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let backup = tempfile::Builder::new()
        .prefix(".pinsign-")
        .suffix(".previous")
        .make_in(parent_dir(path), |p| std::fs::hard_link(path, p))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot keep a copy of {} while replacing it: {e}",
                path.display()
            )
        })?;
    Ok(Some(backup.into_temp_path()))
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

    #[test]
    fn a_failed_public_key_write_puts_the_old_pair_back() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("cosign");
        let paths = KeyPairPaths::from_prefix(prefix.to_str().unwrap()).unwrap();
        let password = Password::new("pw", "test");
        write_key_pair(&paths, &SigningKey::generate(), &password, false).unwrap();
        let old_key = std::fs::read(&paths.private).unwrap();
        // The public key's path becomes a directory: its rename fails after the key's.
        std::fs::remove_file(&paths.public).unwrap();
        std::fs::create_dir(&paths.public).unwrap();
        std::fs::write(paths.public.join("keep"), "x").unwrap();
        let e = write_key_pair(&paths, &SigningKey::generate(), &password, true).unwrap_err();
        assert!(format!("{e:#}").contains("nothing was changed"), "{e:#}");
        assert_eq!(std::fs::read(&paths.private).unwrap(), old_key);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "no temporary or backup file is left: {names:?}"
        );
        // Without an old key, the new one is removed again.
        std::fs::remove_file(&paths.private).unwrap();
        write_key_pair(&paths, &SigningKey::generate(), &password, true).unwrap_err();
        assert!(!paths.private.exists());
    }
}
