//! `verify IMAGE... --key PUB`: the verdict Kyverno will reach, with the reasons.

use clap::Args;

use crate::batch::ImageListArgs;
use crate::cli::GlobalArgs;
use crate::keys::PasswordArgs;
use crate::output::OutputFormat;

/// Where to look for signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VerifyMode {
    /// The `sha256-<hex>.sig` tag.
    #[default]
    Tag,
    /// The OCI 1.1 referrers API.
    Referrers,
    /// Both.
    Any,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// Public key (PEM file or env://VAR); repeat for a rotation overlap. A private key
    /// file is accepted too (its public half is used).
    #[arg(long, value_name = "PUB", required = true)]
    pub key: Vec<String>,

    /// Require the payload's "optional" map to hold KEY=VALUE (repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// Look for signatures in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Where to look for signatures.
    #[arg(long, value_enum, default_value_t)]
    pub mode: VerifyMode,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub async fn run(_args: VerifyArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("verify")
}
