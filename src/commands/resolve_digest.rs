//! `resolve-digest IMAGE...`: what digest does the registry serve for this reference?

use clap::Args;

use crate::cli::GlobalArgs;
use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct ResolveDigestArgs {
    /// Images to resolve: REG/REPO[:TAG] or REG/REPO@sha256:... (checked to exist).
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// For an index, resolve the child manifest for OS/ARCH[/VARIANT] (e.g. linux/arm64).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub async fn run(_args: ResolveDigestArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("resolve-digest")
}
