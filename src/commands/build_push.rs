//! `build-push --image REG/REPO:TAG`: build (buildah) or copy (skopeo), push, pin.
//!
//! The result is the digest buildah/skopeo wrote to `--digestfile`, confirmed with the
//! registry (the digest exists and the tag points at it), so the pipeline's next step
//! signs exactly what was built.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::args::{
    AttachmentArgs, CosignSignArgs, GlobalArgs, OutputFormat, PasswordArgs, SignatureArgs,
};
use crate::build::{
    self, BuildSpec, CopySource, Interrupted, Source, Stop, ToolOutput, ToolRegistryAccess,
};
use crate::error::UsageError;
use crate::files::write_atomic;
use crate::output::{print_json, print_line, spinner};
use crate::reference::ImageRef;
use crate::registry::{PinnedImage, Registry};
use crate::signing::Signer;

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

    /// Sign the pushed digest right away (needs --key), exactly as sign-digest would.
    #[arg(long, requires = "key")]
    pub sign: bool,

    /// Private key for --sign: a file path or env://VAR.
    #[arg(long, value_name = "KEY", requires = "sign")]
    pub key: Option<String>,

    /// How --sign signs: annotations, --recursive for a multi-platform index, where the
    /// signatures go (--signature-repo, COSIGN_REPOSITORY, --mode).
    #[command(flatten)]
    pub signature: SignatureArgs,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,

    /// Print only the digest (sha256:...) as the last stdout line, for scripts.
    #[arg(long, conflicts_with = "output")]
    pub digest_only: bool,

    #[command(flatten)]
    pub cosign: CosignSignArgs,

    #[command(flatten)]
    pub attachment: AttachmentArgs,
}

/// `-o json`: the shape every command shares (`input`, `pinned`, `digest`, `status`).
#[derive(serde::Serialize)]
struct BuildResult {
    /// `--image` as given.
    input: String,
    /// `--image`, normalised (kept for scripts written before `input`).
    image: String,
    pinned: PinnedImage,
    digest: String,
    media_type: String,
    /// `pushed`, or `signed` with `--sign`.
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signatures: Vec<crate::signing::Signed>,
}

/// Run build-push; SIGINT and SIGTERM stop it cleanly: a running buildah or skopeo gets
/// the signal (and is killed after `build::GRACE`), the private directory with the auth file
/// is removed as the work is dropped, and the error makes pinsign exit 130 or 143.
pub async fn run(args: BuildPushArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let stop = Stop::install().context("cannot catch SIGINT and SIGTERM")?;
    let image = args.image.clone();
    let mut work = Box::pin(build_push(args, global, &stop));
    let signal = tokio::select! {
        result = &mut work => return result,
        signal = stop.wait() => signal,
    };
    // A running tool is being stopped by its runner, which then returns: let it, so the
    // tool is gone before the auth file is. Anything else (a registry request) is dropped.
    if stop.tools_running() {
        let bound = build::GRACE + std::time::Duration::from_secs(5);
        if let Ok(Err(e)) = tokio::time::timeout(bound, &mut work).await {
            if e.chain().any(|c| c.is::<Interrupted>()) {
                return Err(e.context(format!(
                    "build-push of {image} interrupted; its temporary auth file is removed"
                )));
            }
        }
    }
    // Dropping the work removes the private directory (and kills a tool still running).
    drop(work);
    Err(Interrupted {
        signal,
        what: format!("build-push of {image} (its temporary auth file is removed)"),
    }
    .into())
}

async fn build_push(args: BuildPushArgs, global: &GlobalArgs, stop: &Stop) -> anyhow::Result<()> {
    let target = ImageRef::parse(&args.image)?;
    let (Some(tag), None) = (target.effective_tag(), target.digest()) else {
        return Err(UsageError::new(format!(
            "--image {}: push to a tag, not a digest (the digest is what build-push finds out)",
            args.image
        ))
        .into());
    };
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
    if !args.sign && args.signature.any_signing_flag() {
        return Err(UsageError::new(
            "--annotation, --recursive, --format and --mode go with --sign",
        )
        .into());
    }
    if args.sign {
        args.cosign.check_image_signing(&args.attachment)?;
    }
    let registry = Registry::new(global.registry.options()?)?;
    // Load the key before the build: a wrong password should not cost a build.
    let signer = match (&args.sign, &args.key) {
        (true, Some(key)) => Some(Signer::load(args.signature.options(key, &args.password)?)?),
        _ => None,
    };
    let repo = target.repository();
    // Check access before spending a build: wrong credentials, an untrusted CA or a plain
    // HTTP registry fail here in one request (a missing tag is fine).
    registry.will_push(repo);
    if let Some(signer) = &signer {
        signer.announce(&registry, repo);
    }
    registry
        .head_manifest(repo, tag.as_str())
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot push {target}")))?;
    let credentials = registry
        .credentials(repo)
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot push {target}")))?;
    let access =
        ToolRegistryAccess::new(repo.registry(), credentials.as_ref(), registry.options())?;

    let bar = spinner("");
    let quiet = global.quiet || args.output == OutputFormat::Json && !crate::logging::verbose();
    let out = ToolOutput::new(!quiet, bar.clone());
    let digest = build::build_and_push(&source, &target, &access, &out).await;
    if digest.is_err() {
        bar.finish_and_clear();
    }
    let digest = digest?;
    drop(access);
    if let Some(signal) = stop.received() {
        bar.finish_and_clear();
        return Err(Interrupted {
            signal,
            what: format!("build-push of {target} (pushed {digest}, not confirmed or signed)"),
        }
        .into());
    }

    // Confirm with the registry: the digest exists, and the tag points at it now.
    bar.set_message(format!("confirming {target} with the registry"));
    let pinned = registry
        .confirm_pushed(repo, &digest, &tag)
        .await
        .with_context(|| format!("cannot confirm the push of {target}"))?;
    bar.finish_and_clear();
    if let Some(path) = &args.digest_file {
        // `sha256:...`, no newline, written atomically: a reader never sees half a digest.
        write_atomic(path, pinned.digest().as_str().as_bytes(), 0o644)
            .with_context(|| format!("cannot write --digest-file {}", path.display()))?;
    }
    let signed = match &signer {
        Some(signer) => {
            let phase = spinner(&format!("signing {pinned}"));
            let signed = signer.sign(&registry, &pinned).await;
            phase.finish_and_clear();
            signed?
        }
        None => Vec::new(),
    };
    let result = BuildResult {
        input: args.image.clone(),
        image: target.to_string(),
        digest: digest.to_string(),
        media_type: pinned.media_type().to_string(),
        status: if signer.is_some() { "signed" } else { "pushed" },
        pinned,
        signatures: signed,
    };
    match args.output {
        OutputFormat::Json => print_json(&result)?,
        OutputFormat::Text => {
            if !global.quiet {
                for s in &result.signatures {
                    eprintln!("{}", super::sign_digest::signature_line(s));
                }
            }
            if args.digest_only {
                print_line(&result.digest)?;
            } else {
                print_line(&result.pinned.to_string())?;
            }
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
