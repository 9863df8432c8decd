//! `resolve-digest IMAGE...`: what digest does the registry serve for this reference?

use clap::Args;

use super::args::{GlobalArgs, OutputFormat};
use crate::error::BatchFailed;
use crate::output::{print_json, print_line};
use crate::reference::ImageRef;
use crate::registry::{PinnedImage, Platform, Registry};

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

/// One image's result; a failed image has only `input` and `error`.
#[derive(serde::Serialize)]
struct Row {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Resolve every image (one failure does not stop the others), print as it goes, and
/// exit 1 at the end if any failed.
pub async fn run(args: ResolveDigestArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let images = args
        .images
        .iter()
        .map(|s| ImageRef::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let registry = Registry::new(global.registry.options()?)?;
    let mut rows = Vec::with_capacity(images.len());
    for image in &images {
        let work = resolve_one(&registry, image, args.platform.as_ref());
        let row = match registry.within_deadline(image.original(), work).await {
            Ok((pinned, platform)) => Row {
                input: image.original().to_string(),
                pinned: Some(pinned.to_string()),
                digest: Some(pinned.digest().to_string()),
                media_type: Some(pinned.media_type().to_string()),
                platform: platform.map(|p| p.to_string()),
                error: None,
            },
            Err(e) => {
                let error = format!(
                    "cannot resolve {}: {}",
                    image.original(),
                    super::describe(&e)
                );
                eprintln!("pinsign: error: {error}");
                Row {
                    input: image.original().to_string(),
                    pinned: None,
                    digest: None,
                    media_type: None,
                    platform: None,
                    error: Some(error),
                }
            }
        };
        if let (OutputFormat::Text, Some(pinned)) = (args.output, &row.pinned) {
            print_line(pinned)?;
        }
        rows.push(row);
    }
    tracing::info!("{} registry requests", registry.request_count());
    if args.output == OutputFormat::Json {
        print_json(&rows)?;
    }
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        return Err(BatchFailed {
            failed,
            total: rows.len(),
        }
        .into());
    }
    Ok(())
}

async fn resolve_one(
    registry: &Registry,
    image: &ImageRef,
    platform: Option<&Platform>,
) -> anyhow::Result<(PinnedImage, Option<Platform>)> {
    let pinned = registry.resolve(image).await?;
    match platform {
        Some(p) => {
            let (child, found) = registry.resolve_platform(pinned, p).await?;
            Ok((child, Some(found)))
        }
        None => Ok((pinned, None)),
    }
}
