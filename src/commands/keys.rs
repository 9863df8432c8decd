//! `generate-key-pair`, `import-key-pair`, `public-key`.

use std::path::PathBuf;

use clap::Args;

use std::io::Write as _;

use super::args::PasswordArgs;
use crate::files::write_atomic;
use crate::keys::files::{write_key_pair, KeyPairPaths};
use crate::keys::{load_public_key, Password, SigningKey};

#[derive(Debug, Args)]
pub struct GenerateKeyPairArgs {
    /// Write PREFIX.key (encrypted private key) and PREFIX.pub.
    #[arg(long, default_value = "cosign", value_name = "PREFIX")]
    pub output_key_prefix: String,

    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct ImportKeyPairArgs {
    /// The PEM private key to import (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY", P-256).
    #[arg(long, value_name = "PEM")]
    pub key: String,

    /// Write PREFIX.key (encrypted private key) and PREFIX.pub.
    #[arg(long, default_value = "import-cosign", value_name = "PREFIX")]
    pub output_key_prefix: String,

    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// The private key: a file path or env://VAR.
    #[arg(long, value_name = "KEY")]
    pub key: String,

    /// Write the PEM here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub outfile: Option<PathBuf>,

    #[command(flatten)]
    pub password: PasswordArgs,
}

pub fn generate_key_pair(args: GenerateKeyPairArgs) -> anyhow::Result<()> {
    let paths = KeyPairPaths::from_prefix(&args.output_key_prefix)?;
    // Refuse before asking for a password, and again (atomically) when writing.
    paths.check_writable(args.force)?;
    let password = Password::for_writing(
        &args.password.source(),
        &paths.private.display().to_string(),
    )?;
    let key = SigningKey::generate();
    write_key_pair(&paths, &key, &password, args.force)
}

pub fn import_key_pair(args: ImportKeyPairArgs) -> anyhow::Result<()> {
    let key = SigningKey::load_for_import(&args.key)?;
    let paths = KeyPairPaths::from_prefix(&args.output_key_prefix)?;
    paths.check_writable(args.force)?;
    let password = Password::for_writing(
        &args.password.source(),
        &paths.private.display().to_string(),
    )?;
    write_key_pair(&paths, &key, &password, args.force)
}

pub fn public_key(args: PublicKeyArgs) -> anyhow::Result<()> {
    let key = load_public_key(&args.key, &args.password.source())?;
    let pem = key.to_pem();
    match &args.outfile {
        Some(path) => {
            write_atomic(path, pem.as_bytes(), 0o644)?;
            eprintln!("Public key written to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(pem.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    #[test]
    fn parse_key_commands() {
        let cli = crate::cli::Cli::try_parse_from(["pinsign", "generate-key-pair"]).unwrap();
        let crate::cli::Command::GenerateKeyPair(a) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(a.output_key_prefix, "cosign");
        assert!(!a.force);
        let cli = crate::cli::Cli::try_parse_from([
            "pinsign",
            "import-key-pair",
            "--key",
            "env://K",
            "--password-file",
            "pw",
            "--force",
        ])
        .unwrap();
        let crate::cli::Command::ImportKeyPair(a) = cli.command else {
            panic!("wrong command")
        };
        assert_eq!(a.output_key_prefix, "import-cosign");
        assert_eq!(
            a.password.password_file.as_deref(),
            Some(std::path::Path::new("pw"))
        );
        assert!(crate::cli::Cli::try_parse_from(["pinsign", "public-key"]).is_err());
    }
}
