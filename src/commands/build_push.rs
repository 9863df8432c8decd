//! `build-push --image REG/REPO:TAG`: build (buildah) or copy (skopeo), push, pin.

use std::path::PathBuf;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::keys::PasswordArgs;
use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct BuildPushArgs {
    /// Where to push: REG/REPO:TAG.
    #[arg(long, value_name = "REG/REPO:TAG")]
    pub image: String,

    /// Build context directory.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub context: PathBuf,

    /// Containerfile to build (default: Containerfile, then Dockerfile, in the context).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Platforms to build, comma-separated (several build an index): linux/amd64,linux/arm64.
    #[arg(long, value_name = "OS/ARCH,...", value_delimiter = ',')]
    pub platform: Vec<String>,

    /// Build argument K=V (repeatable).
    #[arg(long, value_name = "K=V")]
    pub build_arg: Vec<String>,

    /// Image label K=V (repeatable).
    #[arg(long, value_name = "K=V")]
    pub label: Vec<String>,

    /// Copy this image with skopeo instead of building: oci-archive:PATH, oci:DIR[:REF] or docker-archive:PATH.
    #[arg(long, value_name = "TRANSPORT:PATH")]
    pub from: Option<String>,

    /// Also write the pinned digest (sha256:..., no newline) to this file.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,

    /// Sign the pushed digest right away (needs --key).
    #[arg(long, requires = "key")]
    pub sign: bool,

    /// Private key for --sign: a file path or env://VAR.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// Annotation KEY=VALUE for --sign (repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE", requires = "sign")]
    pub annotations: Vec<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub async fn run(_args: BuildPushArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    super::unbuilt::not_built("build-push")
}
