//! Where a key comes from: a file path, or `env://VAR` (the PEM text in an environment
//! variable, which is how CI secrets usually arrive).
//!
//! cosign also takes KMS references (`awskms://`, `gcpkms://`, `azurekms://`,
//! `hashivault://`, `k8s://`, `pkcs11:`). pinsign signs only with keys it holds, so those
//! are refused here, by name, for every command that takes a key: a script moved from
//! cosign gets "KMS keys are not supported", not a puzzling "cannot read key file".

use std::fmt;
use std::path::PathBuf;

use anyhow::Context as _;
use zeroize::Zeroizing;

/// The most a key text may hold: a PEM P-256 key is about 250 bytes, cosign's encrypted
/// one about 650, an RSA-4096 public key 800; 64 KiB leaves room for comments and chains
/// while `--key /dev/zero` fails at once instead of filling memory.
pub const MAX_KEY_BYTES: usize = 64 * 1024;

/// A key argument as the user gave it. `Display` is the name used in every message
/// (the path as typed, or `env://VAR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Env(String),
}

impl KeySource {
    /// Parse a key argument: `env://VAR` or a path. A KMS reference is a usage error.
    pub fn parse(arg: &str) -> anyhow::Result<KeySource> {
        if let Some(scheme) = kms_scheme(arg) {
            return Err(crate::error::UsageError::new(format!(
                "{arg:?} names a key in {scheme}: KMS keys are not supported; use a key file or env://VAR (the PEM key in an environment variable)"
            ))
            .into());
        }
        if let Some(var) = arg.strip_prefix("env://") {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(crate::error::UsageError::new(format!(
                    "{arg:?} names no environment variable; write env://VAR, e.g. env://COSIGN_PRIVATE_KEY"
                ))
                .into());
            }
            return Ok(KeySource::Env(var.to_string()));
        }
        if arg.is_empty() {
            return Err(crate::error::UsageError::new(
                "the key argument is empty; pass a key file path or env://VAR",
            )
            .into());
        }
        Ok(KeySource::File(PathBuf::from(arg)))
    }

    /// Read the key text, at most [`MAX_KEY_BYTES`] (a larger one is an error naming the
    /// source and the limit, found without reading more than that). The bytes are wiped
    /// when dropped: they may be a private key.
    pub fn read(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let too_large = || {
            anyhow::anyhow!(
                "{self} is larger than {} KiB, the most a key file may hold (a PEM key is a few \
                 KiB); is it the right file?",
                MAX_KEY_BYTES / 1024
            )
        };
        match self {
            KeySource::File(path) => {
                use std::io::Read as _;
                let mut bytes = Zeroizing::new(Vec::new());
                std::fs::File::open(path)
                    .and_then(|f| f.take(MAX_KEY_BYTES as u64 + 1).read_to_end(&mut bytes))
                    .with_context(|| format!("cannot read key file {}; check the path", self))?;
                if bytes.len() > MAX_KEY_BYTES {
                    return Err(too_large());
                }
                Ok(bytes)
            }
            KeySource::Env(var) => match std::env::var_os(var) {
                None => anyhow::bail!(
                    "{self}: the environment variable {var} is not set; put the PEM key in it \
                     (e.g. from a CI secret) or pass a key file"
                ),
                Some(value) if value.is_empty() => anyhow::bail!(
                    "{self}: the environment variable {var} is empty; put the PEM key in it \
                     (is the CI secret defined for this job?)"
                ),
                Some(value) => {
                    use std::os::unix::ffi::OsStringExt as _;
                    let bytes = Zeroizing::new(value.into_vec());
                    if bytes.len() > MAX_KEY_BYTES {
                        return Err(too_large());
                    }
                    Ok(bytes)
                }
            },
        }
    }
}

/// The KMS and hardware-token reference schemes cosign accepts for `--key` (its
/// `pkg/signature/kms` providers, `k8s://` secrets and PKCS#11 URIs). Matched
/// case-insensitively, as URI schemes are.
const KMS_SCHEMES: &[(&str, &str)] = &[
    ("awskms://", "AWS KMS"),
    ("gcpkms://", "Google Cloud KMS"),
    ("azurekms://", "Azure Key Vault"),
    ("hashivault://", "HashiCorp Vault"),
    ("k8s://", "a Kubernetes secret"),
    ("pkcs11:", "a PKCS#11 token"),
];

/// The provider name when `arg` is a KMS reference.
fn kms_scheme(arg: &str) -> Option<&'static str> {
    KMS_SCHEMES
        .iter()
        .find(|(prefix, _)| {
            arg.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
        .map(|(_, name)| *name)
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "{}", path.display()),
            KeySource::Env(var) => write!(f, "env://{var}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_env() {
        assert_eq!(
            KeySource::parse("cosign.key").unwrap(),
            KeySource::File("cosign.key".into())
        );
        let env = KeySource::parse("env://COSIGN_PRIVATE_KEY").unwrap();
        assert_eq!(env, KeySource::Env("COSIGN_PRIVATE_KEY".into()));
        assert_eq!(env.to_string(), "env://COSIGN_PRIVATE_KEY");
        let e = KeySource::parse("env://").unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(KeySource::parse("").is_err());
    }

    #[test]
    fn kms_references_are_refused_by_name() {
        for arg in [
            "awskms:///arn:aws:kms:us-east-1:111122223333:key/abcd",
            "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
            "azurekms://vault.vault.azure.net/key",
            "hashivault://transit-key",
            "k8s://ns/secret",
            "pkcs11:token=yubi;object=key?module-path=/usr/lib/p11.so",
            "AWSKMS://alias/x",
        ] {
            let e = KeySource::parse(arg).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{arg}");
            let msg = e.to_string();
            assert!(
                msg.contains("KMS keys are not supported; use a key file or env://"),
                "{msg}"
            );
            assert!(!msg.contains("cannot read key file"), "{msg}");
        }
        // A file that merely starts with a similar name is a file.
        assert_eq!(
            KeySource::parse("pkcs11-key.pem").unwrap(),
            KeySource::File("pkcs11-key.pem".into())
        );
    }

    #[test]
    fn unset_var_is_named() {
        let src = KeySource::Env("PINSIGN_TEST_SURELY_UNSET_VAR".into());
        let e = src.read().unwrap_err().to_string();
        assert!(
            e.contains("PINSIGN_TEST_SURELY_UNSET_VAR is not set"),
            "{e}"
        );
    }

    #[test]
    fn oversized_keys_are_refused_without_reading_them_whole() {
        let src = KeySource::parse("/dev/zero").unwrap();
        let e = src.read().unwrap_err().to_string();
        assert!(
            e.contains("/dev/zero is larger than 64 KiB") && e.contains("key file"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let exact = dir.path().join("exact.key");
        std::fs::write(&exact, vec![b'a'; MAX_KEY_BYTES]).unwrap();
        let src = KeySource::File(exact.clone());
        assert_eq!(src.read().unwrap().len(), MAX_KEY_BYTES);
        std::fs::write(&exact, vec![b'a'; MAX_KEY_BYTES + 1]).unwrap();
        assert!(src.read().is_err());
    }

    #[test]
    fn missing_file_is_named() {
        let src = KeySource::parse("/nonexistent/dir/cosign.key").unwrap();
        let e = format!("{:#}", src.read().unwrap_err());
        assert!(e.contains("/nonexistent/dir/cosign.key"), "{e}");
    }
}
