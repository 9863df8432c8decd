//! `sign-digest IMAGE... --key KEY`: pin, sign, store next to the image, confirm.

use clap::Args;

use crate::batch::ImageListArgs;
use crate::cli::GlobalArgs;
use crate::keys::PasswordArgs;
use crate::output::OutputFormat;

/// Where signatures are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignMode {
    /// The `sha256-<hex>.sig` tag (what cosign, Kyverno's default and Zot read).
    #[default]
    Tag,
    /// An OCI 1.1 artifact with `subject`, found through the referrers API.
    Referrers,
}

#[derive(Debug, Args)]
pub struct SignDigestArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// Private key: a file path or env://VAR (PEM in an environment variable).
    #[arg(long, value_name = "KEY")]
    pub key: String,

    /// Annotation KEY=VALUE put in the payload's "optional" map (repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// On an index, also sign every child manifest.
    #[arg(long)]
    pub recursive: bool,

    /// Store signatures in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Where to store signatures.
    #[arg(long, value_enum, default_value_t)]
    pub mode: SignMode,

    /// Fail unless the image resolves to this digest (sign what CI built). Accepts
    /// sha256:... or a digest file written by build-push.
    #[arg(long, value_name = "sha256:...|FILE")]
    pub expect_digest: Option<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub async fn run(_args: SignDigestArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("sign-digest")
}
