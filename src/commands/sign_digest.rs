//! `sign-digest IMAGE... --key KEY`: pin, sign, store next to the image, confirm.
//!
//! Every image is pinned through the registry first (a tag is resolved, a digest is
//! checked to exist); only then is its `PinnedImage` signed. The key is loaded before
//! any network request, so a wrong password costs nothing. `--shard I/N` takes this job's
//! share of the images (by digest); `--repair` signs nothing and merges the signatures of an
//! image's referrers into its `.sig` tag ([`crate::storage::repair_tag`]).

use std::sync::Arc;

use clap::Args;

use super::args::{
    GlobalArgs, ImageListArgs, OutputFormat, PasswordArgs, ShardArgs, SignatureArgs,
};
use crate::batch::run_all_paced;
use crate::error::{BatchFailed, UsageError};
use crate::output::{print_json, print_line, progress_bar};
use crate::reference::{Digest, ImageRef};
use crate::registry::{PinnedImage, Registry};
use crate::signing::{Signed, Signer, Status};
use crate::storage::{self, Repaired, Unconfirmed};

#[derive(Debug, Args)]
pub struct SignDigestArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// Private key: a file path or env://VAR (PEM in an environment variable).
    #[arg(long, value_name = "KEY", required_unless_present = "repair")]
    pub key: Option<String>,

    /// Sign nothing: merge the signatures of each image's referrers (--mode both, --mode
    /// referrers) into its .sig tag, which Kyverno's default verifier reads. Idempotent.
    #[arg(long, conflicts_with_all = ["key", "expect_digest"])]
    pub repair: bool,

    #[command(flatten)]
    pub shard: ShardArgs,

    #[command(flatten)]
    pub signature: SignatureArgs,

    /// Fail unless the image resolves to this digest (sign what CI built, not what the
    /// tag points to now). Accepts sha256:... or a digest file written by build-push.
    #[arg(long, value_name = "sha256:...|FILE")]
    pub expect_digest: Option<String>,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Per input image: what was signed, or why not.
#[derive(serde::Serialize)]
struct Report {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
    signatures: Vec<Signed>,
    /// With `--repair`: what was merged into the `.sig` tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    repaired: Option<RepairReport>,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(serde::Serialize)]
struct RepairReport {
    signature_ref: String,
    /// Signature referrers of the image.
    referrers: usize,
    /// Layers merged into the tag.
    added: usize,
    /// Layers in the tag now.
    layers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_manifest_digest: Option<Digest>,
}

/// What signs (or repairs) each image.
enum Work {
    Sign(Box<Signer>),
    Repair,
}

pub async fn run(args: SignDigestArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let batch = args.images.options();
    let images = batch.collect()?;
    let expect = args
        .expect_digest
        .as_deref()
        .map(expected_digest)
        .transpose()?;
    if expect.is_some() && images.len() != 1 {
        return Err(UsageError::new("--expect-digest goes with exactly one image").into());
    }
    let work = match &args.key {
        Some(key) if !args.repair => {
            Work::Sign(Box::new(Signer::load(
                args.signature.options(key, &args.password)?,
            )?))
        }
        _ if args.signature.signature_repo.as_deref().is_some_and(|r| !r.is_empty()) => {
            return Err(UsageError::new(
                "--signature-repo (or COSIGN_REPOSITORY) does not go with --repair: the referrers it repairs from are beside the image; unset it",
            )
            .into())
        }
        _ => Work::Repair,
    };
    let shard = args.shard.shard;
    let registry = Registry::new(global.registry.options()?)?;
    for image in &images {
        match &work {
            Work::Sign(signer) => signer.announce(&registry, image.repository()),
            Work::Repair => registry.will_push(image.repository()),
        }
    }
    let shared = Arc::new((registry, work));
    let bar = progress_bar(images.len(), "signing");
    let reports = run_all_paced(images, batch.concurrency, &bar, |image| {
        let shared = shared.clone();
        let expect = expect.clone();
        let output = args.output;
        let bar = bar.clone();
        async move {
            let (registry, work) = &*shared;
            let report = sign_image(registry, work, &image, expect.as_ref(), shard).await?;
            print_report(&report, output, &bar);
            Some(report)
        }
    })
    .await;
    bar.finish_and_clear();
    tracing::info!("{} registry requests", shared.0.request_count());
    let others = reports.iter().filter(|r| r.is_none()).count();
    let reports: Vec<Report> = reports.into_iter().flatten().collect();
    let total = reports.len();
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    if args.output == OutputFormat::Json {
        print_json(&reports)?;
    }
    let verb = if args.repair { "repaired" } else { "signed" };
    if let Some(shard) = shard {
        eprintln!(
            "{verb} {} of {total} images (shard {shard}; {others} more in the other shards)",
            total - failed
        );
    } else if total > 1 {
        eprintln!("{verb} {} of {total} images", total - failed);
    }
    if failed > 0 {
        return Err(BatchFailed { failed, total }.into());
    }
    Ok(())
}

/// Text output as each image finishes (above the progress bar); errors on stderr.
fn print_report(report: &Report, output: OutputFormat, bar: &indicatif::ProgressBar) {
    bar.suspend(|| {
        if let Some(w) = &report.warning {
            eprintln!("pinsign: warning: {w}");
        }
        for w in report.signatures.iter().flat_map(|s| &s.warnings) {
            eprintln!("pinsign: warning: {w}");
        }
        if let Some(e) = &report.error {
            eprintln!("pinsign: error: {e}");
        }
        if output == OutputFormat::Text {
            if let Some(p) = &report.pinned {
                if report.input != *p {
                    let _ = print_line(&format!("pinned {} -> {p}", report.input));
                }
            }
            for s in &report.signatures {
                let _ = print_line(&s.text_line());
            }
            if let (Some(r), Some(p)) = (&report.repaired, &report.pinned) {
                let _ = print_line(&if r.added == 0 {
                    format!(
                        "nothing to repair for {p}: {} holds all {} signature(s) of its {} referrer(s)",
                        r.signature_ref, r.layers, r.referrers
                    )
                } else {
                    format!(
                        "repaired {p}: {} signature(s) from its {} referrer(s) merged into {} ({} layers)",
                        r.added, r.referrers, r.signature_ref, r.layers
                    )
                });
            }
        }
    });
}

/// One image's report, or `None` when `--shard` gives it to another job.
async fn sign_image(
    registry: &Registry,
    work: &Work,
    image: &ImageRef,
    expect: Option<&Digest>,
    shard: Option<crate::batch::Shard>,
) -> Option<Report> {
    if let (Some(shard), Some(digest)) = (shard, image.digest()) {
        if !shard.takes(digest) {
            return None;
        }
    }
    let mut report = Report {
        input: image.original().to_string(),
        pinned: None,
        warning: None,
        signatures: Vec::new(),
        repaired: None,
        status: Status::Failed,
        error: None,
    };
    let job = sign_image_inner(registry, work, image, expect, shard, &mut report);
    match registry.within_deadline(image.original(), job).await {
        Ok(false) => return None,
        Ok(true)
            if report
                .signatures
                .iter()
                .all(|s| s.status == Status::Unchanged)
                && report.repaired.as_ref().is_none_or(|r| r.added == 0) =>
        {
            report.status = Status::Unchanged
        }
        Ok(true) => report.status = Status::Signed,
        Err(_)
            if report.pinned.is_none()
                && shard.is_some_and(|s| !s.takes_name(image.original())) =>
        {
            return None
        }
        Err(e) => {
            report.error = Some(match e.downcast_ref::<Unconfirmed>() {
                Some(u) => format!(
                    "{}: {u}",
                    report.pinned.as_deref().unwrap_or(image.original())
                ),
                None => format!("cannot sign {}: {}", image.original(), super::describe(&e)),
            })
        }
    }
    Some(report)
}

/// Pin and sign (or repair); `false` when the pinned digest is another shard's.
async fn sign_image_inner(
    registry: &Registry,
    work: &Work,
    image: &ImageRef,
    expect: Option<&Digest>,
    shard: Option<crate::batch::Shard>,
    report: &mut Report,
) -> anyhow::Result<bool> {
    // Pin first, always.
    let pinned = registry.resolve(image).await?;
    if shard.is_some_and(|s| !s.takes(pinned.digest())) {
        return Ok(false);
    }
    report.pinned = Some(pinned.to_string());
    if let (Some(tag), Some(_)) = (image.tag(), image.digest()) {
        // repo:tag@digest: the digest wins; say so if the tag has moved on.
        if let Some(now) = registry
            .head_manifest(image.repository(), tag.as_str())
            .await?
        {
            if now.digest != *pinned.digest() {
                report.warning = Some(format!(
                    "{} now points at {}, not {}; signing the digest given",
                    image.original(),
                    now.digest,
                    pinned.digest()
                ));
            }
        }
    }
    if let Some(expected) = expect {
        anyhow::ensure!(
            pinned.digest() == expected,
            "{} resolves to {}, but --expect-digest is {expected}; the tag was re-pointed after the build, not signing",
            image.original(),
            pinned.digest()
        );
    }
    match work {
        Work::Sign(signer) => report.signatures = signer.sign(registry, &pinned).await?,
        Work::Repair => report.repaired = Some(repair(registry, &pinned).await?),
    }
    Ok(true)
}

async fn repair(registry: &Registry, pinned: &PinnedImage) -> anyhow::Result<RepairReport> {
    let r: Repaired = storage::repair_tag(registry, pinned).await?;
    for w in &r.warnings {
        eprintln!("pinsign: warning: {w}");
    }
    Ok(RepairReport {
        signature_ref: r.signature_ref,
        referrers: r.referrers,
        added: r.added,
        layers: r.layers,
        signature_manifest_digest: r.manifest_digest,
    })
}

/// `--expect-digest`: `sha256:...`, or a file holding one (build-push's `--digest-file`).
fn expected_digest(arg: &str) -> anyhow::Result<Digest> {
    if arg.starts_with("sha256:") {
        return Digest::parse(arg)
            .map_err(|e| UsageError::new(format!("--expect-digest {arg:?}: {e}")).into());
    }
    let text = std::fs::read_to_string(arg).map_err(|e| {
        UsageError::new(format!(
            "--expect-digest {arg:?} is neither sha256:... nor a readable digest file: {e}"
        ))
    })?;
    Digest::parse(text.trim()).map_err(|e| {
        UsageError::new(format!(
            "--expect-digest file {arg} does not hold a digest: {e}"
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_digest_from_value_or_file() {
        let hex = "cd".repeat(32);
        assert_eq!(
            expected_digest(&format!("sha256:{hex}")).unwrap().hex(),
            hex
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("digest");
        std::fs::write(&f, format!("sha256:{hex}\n")).unwrap();
        assert_eq!(expected_digest(f.to_str().unwrap()).unwrap().hex(), hex);
        let e = expected_digest("sha256:12").unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(expected_digest("/nonexistent/file").is_err());
    }
}
