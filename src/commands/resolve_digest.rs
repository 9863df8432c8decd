//! `resolve-digest IMAGE...`: what digest does the registry serve for this reference?

use clap::Args;

use crate::cli::GlobalArgs;
use crate::output::{print_json, print_line, OutputFormat};
use crate::reference::ImageRef;
use crate::registry::{Platform, Registry};

#[derive(Debug, Args)]
pub struct ResolveDigestArgs {
    /// Images to resolve: REG/REPO[:TAG] or REG/REPO@sha256:... (checked to exist).
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,

    /// For an index, resolve the child manifest for OS/ARCH[/VARIANT] (e.g. linux/arm64).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = parse_platform)]
    pub platform: Option<Platform>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}

#[derive(serde::Serialize)]
struct Row {
    input: String,
    pinned: String,
    digest: String,
    media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
}

pub async fn run(args: ResolveDigestArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let images = args
        .images
        .iter()
        .map(|s| ImageRef::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let registry = Registry::from_args(&global.registry)?;
    let mut rows = Vec::with_capacity(images.len());
    for image in &images {
        let mut resolved = registry.resolve(image).await.map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot resolve {}", image.original()))
        })?;
        if let Some(platform) = &args.platform {
            resolved = registry
                .resolve_platform(resolved, platform)
                .await
                .map_err(|e| e.context(format!("cannot resolve {}", image.original())))?;
        }
        let row = Row {
            input: image.original().to_string(),
            pinned: resolved.pinned.to_string(),
            digest: resolved.pinned.digest().to_string(),
            media_type: resolved.media_type,
            platform: resolved.platform,
        };
        if args.output == OutputFormat::Text {
            print_line(&row.pinned)?;
        }
        rows.push(row);
    }
    tracing::info!("{} registry requests", registry.request_count());
    if args.output == OutputFormat::Json {
        print_json(&rows)?;
    }
    Ok(())
}
