//! `generate-key-pair`, `import-key-pair`, `public-key`.

use std::path::PathBuf;

use clap::Args;

use crate::keys::PasswordArgs;

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

pub fn generate_key_pair(_args: GenerateKeyPairArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("generate-key-pair")
}

pub fn import_key_pair(_args: ImportKeyPairArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("import-key-pair")
}

pub fn public_key(_args: PublicKeyArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("public-key")
}
