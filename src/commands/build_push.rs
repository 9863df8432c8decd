//! `build-push --image REG/REPO:TAG`: build (buildah) or copy (skopeo), push, pin.
//!
//! The result is the digest buildah/skopeo wrote to `--digestfile`, confirmed with the
//! registry (the digest exists and the tag points at it), so the pipeline's next step
//! signs exactly what was built.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::build::{self, BuildSpec, CopySource, Source, ToolOutput, ToolRegistryAccess};
use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::files::write_atomic;
use crate::keys::PasswordArgs;
use crate::output::{print_json, print_line, spinner, OutputFormat};
use crate::reference::{ImageRef, PinnedImage};
use crate::registry::{Registry, RegistryError, Resolved};

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
    #[arg(long, value_name = "TRANSPORT:PATH", value_parser = CopySource::parse,
          conflicts_with_all = ["file", "platform", "build_arg", "label"])]
    pub from: Option<CopySource>,

    /// Also write the pinned digest (sha256:..., no newline) to this file.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,

    /// Sign the pushed digest right away (needs --key).
    #[arg(long, requires = "key")]
    pub sign: bool,

    /// Private key for --sign: a file path or env://VAR.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// With --sign on a multi-platform build, also sign every child manifest of the index.
    #[arg(long, requires = "sign")]
    pub recursive: bool,

    /// Annotation KEY=VALUE for --sign (repeatable).
    #[arg(
        short = 'a',
        long = "annotation",
        value_name = "KEY=VALUE",
        requires = "sign"
    )]
    pub annotations: Vec<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(serde::Serialize)]
struct BuildResult {
    image: String,
    pinned: PinnedImage,
    digest: String,
    media_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signatures: Vec<serde_json::Value>,
}

pub async fn run(args: BuildPushArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let target = ImageRef::parse(&args.image)?;
    if target.digest().is_some() {
        return Err(UsageError::new(format!(
            "--image {}: push to a tag, not a digest (the digest is what build-push finds out)",
            args.image
        ))
        .into());
    }
    let source = match &args.from {
        Some(from) => Source::Copy(from.clone()),
        None => Source::Build(BuildSpec {
            context: args.context.clone(),
            file: args.file.clone(),
            platforms: args.platform.clone(),
            build_args: args.build_arg.clone(),
            labels: args.label.clone(),
            timestamp: source_date_epoch()?,
        }),
    };
    let registry = Registry::from_args(&global.registry)?;
    // Load the key before the build: a wrong password should not cost a build.
    let signer = match (&args.sign, &args.key) {
        (true, Some(key)) => Some(super::sign_digest::Signer::new(
            key,
            &args.password,
            &args.annotations,
        )?),
        _ => None,
    };
    let repo = target.repository();
    // Check access before spending a build: wrong credentials, an untrusted CA or a plain
    // HTTP registry fail here in one request (a missing tag is fine).
    registry.will_push(repo);
    registry
        .head_manifest(repo, &target.manifest_reference())
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot push {target}")))?;
    let credentials = registry
        .credentials(repo)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot push {target}")))?;
    let access =
        ToolRegistryAccess::new(repo.registry(), credentials.as_ref(), registry.options())?;

    let bar = spinner("starting");
    let quiet = global.quiet || args.output == OutputFormat::Json && !crate::logging::verbose();
    let out = ToolOutput::new(!quiet, bar.clone());
    let digest = build::build_and_push(&source, &target, &access, &out).await;
    if digest.is_err() {
        bar.finish_and_clear();
    }
    let digest = digest?;
    drop(access);

    // Confirm with the registry: the digest exists, and the tag points at it now.
    bar.set_message(format!("confirming {target} with the registry"));
    let by_digest = registry
        .head_manifest(repo, digest.as_str())
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot confirm the push of {target}")))?
        .ok_or_else(|| RegistryError::NotFound {
            what: format!("pushed manifest {digest}"),
            repository: repo.to_string(),
        })?;
    let tag = target.manifest_reference();
    let by_tag = registry
        .head_manifest(repo, &tag)
        .await?
        .with_context(|| format!("tag {tag} vanished from {repo} right after the push"))?;
    anyhow::ensure!(
        by_tag.digest == digest,
        "{target} points at {} but the push wrote {digest}: something re-pointed the tag; not signing",
        by_tag.digest
    );
    bar.finish_and_clear();
    let pinned = PinnedImage::new(repo.clone(), digest.clone());
    if let Some(path) = &args.digest_file {
        // `sha256:...`, no newline, written atomically: a reader never sees half a digest.
        write_atomic(path, pinned.digest().as_str().as_bytes(), 0o644)
            .with_context(|| format!("cannot write --digest-file {}", path.display()))?;
    }
    let signed = match &signer {
        Some(signer) => {
            let resolved = Resolved {
                pinned: pinned.clone(),
                media_type: by_digest.media_type.clone(),
                size: by_digest.size,
                platform: None,
            };
            signer
                .sign_tree(&registry, &resolved, args.recursive)
                .await?
        }
        None => Vec::new(),
    };
    let result = BuildResult {
        image: target.to_string(),
        digest: digest.to_string(),
        media_type: by_digest.media_type,
        pinned,
        signatures: signed.iter().map(|s| s.to_json()).collect(),
    };
    match args.output {
        OutputFormat::Json => print_json(&result)?,
        OutputFormat::Text => {
            if !global.quiet {
                for s in &signed {
                    eprintln!("{}", s.text_line());
                }
            }
            print_line(&result.pinned.to_string())?;
        }
    }
    Ok(())
}

/// `--timestamp` for buildah from `SOURCE_DATE_EPOCH`, the reproducible-builds convention.
fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).map_err(|_| {
            UsageError::new(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds"
            ))
            .into()
        }),
        _ => Ok(None),
    }
}
