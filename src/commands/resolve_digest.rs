//! `resolve-digest IMAGE...`: what digest does the registry serve for this reference?

use std::sync::Arc;

use clap::Args;

use super::args::{GlobalArgs, ImageListArgs, OutputFormat};
use crate::batch::run_ordered;
use crate::error::BatchFailed;
use crate::output::{print_json, print_line, Progress};
use crate::reference::ImageRef;
use crate::registry::{PinnedImage, Platform, Registry};

#[derive(Debug, Args)]
pub struct ResolveDigestArgs {
    /// Images to resolve (REG/REPO[:TAG] or REG/REPO@sha256:..., checked to exist), with
    /// --images-from and --concurrency as in sign-digest.
    #[command(flatten)]
    pub images: ImageListArgs,

    /// For an index, resolve the child manifest for OS/ARCH[/VARIANT] (e.g. linux/arm64).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = parse_platform)]
    pub platform: Option<Platform>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,

    /// Print only the digest (sha256:...) of each image, one per line, for scripts.
    #[arg(long, conflicts_with = "output")]
    pub digest_only: bool,
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}

/// One image's result; a failed image has only `input`, `status` and `error`.
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
    /// `resolved` or `failed`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Resolve every image (one failure does not stop the others), print in input order as
/// results come in, and exit 1 at the end if any failed.
pub async fn run(args: ResolveDigestArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let batch = args.images.options();
    let images = batch.collect()?;
    let registry = Arc::new(Registry::new(global.registry.options()?)?);
    let progress = Progress::new(images.len(), "resolving");
    let platform = args.platform.clone();
    let output = args.output;
    let digest_only = args.digest_only;
    let mut broken_pipe = None;
    // The first image goes alone: its answer teaches the registry client how the registry
    // authenticates (the 401 challenge, the token), so the others, sent together, reuse that
    // instead of each collecting a 401 of their own. A batch costs the requests of a loop.
    let (first_done, first_waiter) = tokio::sync::watch::channel(false);
    let first_done = Arc::new(first_done);
    let rows = run_ordered(
        images.into_iter().enumerate().collect(),
        batch.concurrency,
        &progress,
        |(i, image): (usize, ImageRef)| {
            let registry = registry.clone();
            let platform = platform.clone();
            let first_done = first_done.clone();
            let mut first_waiter = first_waiter.clone();
            async move {
                if i > 0 {
                    let _ = first_waiter.wait_for(|done| *done).await;
                }
                let row = resolve_row(&registry, &image, platform.as_ref()).await;
                if i == 0 {
                    first_done.send_replace(true);
                }
                row
            }
        },
        |row| row.error.is_some(),
        |row| {
            if let Some(e) = &row.error {
                eprintln!("pinsign: error: {e}");
            }
            let line = match (output, digest_only) {
                (OutputFormat::Json, _) => None,
                (OutputFormat::Text, true) => row.digest.as_deref(),
                (OutputFormat::Text, false) => row.pinned.as_deref(),
            };
            if let (Some(line), None) = (line, &broken_pipe) {
                if let Err(e) = print_line(line) {
                    broken_pipe = Some(e);
                }
            }
        },
    )
    .await;
    if let Some(e) = broken_pipe {
        return Err(e);
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

async fn resolve_row(registry: &Registry, image: &ImageRef, platform: Option<&Platform>) -> Row {
    let work = resolve_one(registry, image, platform);
    match registry.within_deadline(image.original(), work).await {
        Ok((pinned, platform)) => Row {
            input: image.original().to_string(),
            pinned: Some(pinned.to_string()),
            digest: Some(pinned.digest().to_string()),
            media_type: Some(pinned.media_type().to_string()),
            platform: platform.map(|p| p.to_string()),
            status: "resolved",
            error: None,
        },
        Err(e) => Row {
            input: image.original().to_string(),
            pinned: None,
            digest: None,
            media_type: None,
            platform: None,
            status: "failed",
            error: Some(format!(
                "cannot resolve {}: {}",
                image.original(),
                super::describe(&e)
            )),
        },
    }
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
