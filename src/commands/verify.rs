//! `verify IMAGE... --key PUB`: the verdict Kyverno will reach, with the reasons.
//!
//! An image passes when at least one signature stored for its digest verifies with one
//! of the keys, names that digest, has cosign's type, and carries every `-a` annotation.
//! A tag is pinned first and the pin is printed; each signature that fails says why.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Args;

use super::args::{self, GlobalArgs, ImageListArgs, OutputFormat, PasswordArgs, VerifyMode};
use crate::batch::run_all;
use crate::error::BatchFailed;
use crate::keys::{load_public_key, PublicKey};
use crate::output::{print_json, print_line, progress_bar};
use crate::reference::ImageRef;
use crate::registry::Registry;
use crate::signature;
use crate::verification::{self, Checked, Lookup};

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

/// Per input image.
#[derive(serde::Serialize)]
struct Report {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    verified: bool,
    signatures: Vec<Checked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(args: VerifyArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let batch = args.images.options();
    let images = batch.collect()?;
    let required = signature::parse_annotations(&args.annotations)?;
    let lookup = args::lookup(args.mode, args.signature_repo.as_deref())?;
    let keys = args
        .key
        .iter()
        .map(|k| load_public_key(k, &args.password.source()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registry = Registry::new(global.registry.options()?)?;
    let shared = Arc::new((registry, keys, required, lookup));
    let bar = progress_bar(images.len(), "verifying");
    let total = images.len();
    let reports = run_all(images, batch.concurrency, &bar, |image| {
        let shared = shared.clone();
        let output = args.output;
        let bar = bar.clone();
        async move {
            let (registry, keys, required, lookup) = &*shared;
            let report = verify_image(registry, keys, required, lookup, &image).await;
            bar.suspend(|| print_text(&report, keys, output));
            report
        }
    })
    .await;
    bar.finish_and_clear();
    tracing::info!("{} registry requests", shared.0.request_count());
    if args.output == OutputFormat::Json {
        print_json(&reports)?;
    }
    let failed = reports.iter().filter(|r| !r.verified).count();
    if total > 1 {
        eprintln!("verified {} of {total} images", total - failed);
    }
    if failed > 0 {
        return Err(BatchFailed { failed, total }.into());
    }
    Ok(())
}

fn print_text(report: &Report, keys: &[PublicKey], output: OutputFormat) {
    if output != OutputFormat::Text {
        if let Some(e) = &report.error {
            eprintln!("pinsign: error: {e}");
        }
        return;
    }
    if let Some(p) = &report.pinned {
        if *p != report.input {
            let _ = print_line(&format!("pinned {} -> {p}", report.input));
        }
    }
    if let Some(e) = &report.error {
        eprintln!("pinsign: error: {e}");
        return;
    }
    let pinned = report.pinned.as_deref().unwrap_or(&report.input);
    let n = report.signatures.len();
    if report.verified {
        let good: Vec<&Checked> = report
            .signatures
            .iter()
            .filter(|s| s.check.verified)
            .collect();
        let by: Vec<String> = good
            .iter()
            .filter_map(|s| s.check.key.clone())
            .map(|fp| match keys.iter().find(|k| k.fingerprint() == fp) {
                Some(k) => format!("{} ({fp})", k.source()),
                None => fp,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let _ = print_line(&format!(
            "verified {pinned}: {} of {n} signature{} valid, by {}",
            good.len(),
            if n == 1 { "" } else { "s" },
            by.join(", ")
        ));
    } else {
        eprintln!(
            "pinsign: error: {pinned} is NOT verified: none of {n} signature{} passed",
            if n == 1 { "" } else { "s" }
        );
    }
    // Numbered: every key signs the same payload, so layer digests often repeat.
    for (i, s) in report.signatures.iter().enumerate() {
        if !s.check.verified || !report.verified {
            eprintln!(
                "  signature {}/{n} (payload {}) in {}: {}",
                i + 1,
                short(s.check.layer_digest.as_str()),
                s.location,
                s.check.reason.as_deref().unwrap_or("valid")
            );
        }
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

async fn verify_image(
    registry: &Registry,
    keys: &[PublicKey],
    required: &BTreeMap<String, String>,
    lookup: &Lookup,
    image: &ImageRef,
) -> Report {
    let mut report = Report {
        input: image.original().to_string(),
        pinned: None,
        digest: None,
        verified: false,
        signatures: Vec::new(),
        error: None,
    };
    let work = verify_inner(registry, keys, required, lookup, image, &mut report);
    if let Err(e) = registry.within_deadline(image.original(), work).await {
        report.verified = false;
        report.error = Some(format!(
            "cannot verify {}: {}",
            image.original(),
            super::describe(&e)
        ));
    }
    report
}

async fn verify_inner(
    registry: &Registry,
    keys: &[PublicKey],
    required: &BTreeMap<String, String>,
    lookup: &Lookup,
    image: &ImageRef,
    report: &mut Report,
) -> anyhow::Result<()> {
    let pinned = registry.resolve(image).await?;
    report.pinned = Some(pinned.to_string());
    report.digest = Some(pinned.digest().to_string());
    let verification = verification::verify(registry, &pinned, keys, required, lookup).await?;
    if verification.signatures.is_empty() {
        anyhow::bail!(
            "no signatures found for {pinned} (looked in {})",
            verification.places.join(" and ")
        );
    }
    report.verified = verification.verified();
    report.signatures = verification.signatures;
    Ok(())
}
