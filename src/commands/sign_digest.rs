//! `sign-digest IMAGE... --key KEY`: pin, sign, store next to the image, confirm.
//!
//! Every image is pinned through the registry first (a tag is resolved, a digest is
//! checked to exist); only then is its `PinnedImage` signed. The key is loaded before
//! any network request, so a wrong password costs nothing.

use std::sync::Arc;

use clap::Args;

use super::args::{GlobalArgs, ImageListArgs, OutputFormat, PasswordArgs, SignatureArgs};
use crate::batch::run_all;
use crate::error::{BatchFailed, UsageError};
use crate::output::{print_json, print_line, progress_bar};
use crate::reference::{Digest, ImageRef};
use crate::registry::Registry;
use crate::signing::{Signed, Signer, Status};

#[derive(Debug, Args)]
pub struct SignDigestArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// Private key: a file path or env://VAR (PEM in an environment variable).
    #[arg(long, value_name = "KEY")]
    pub key: String,

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
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    let signer = Signer::load(args.signature.options(&args.key, &args.password)?)?;
    let registry = Registry::new(global.registry.options()?)?;
    for image in &images {
        signer.announce(&registry, image.repository());
    }
    let shared = Arc::new((registry, signer));
    let bar = progress_bar(images.len(), "signing");
    let total = images.len();
    let reports = run_all(images, batch.concurrency, &bar, |image| {
        let shared = shared.clone();
        let expect = expect.clone();
        let output = args.output;
        let bar = bar.clone();
        async move {
            let (registry, signer) = &*shared;
            let report = sign_image(registry, signer, &image, expect.as_ref()).await;
            print_report(&report, output, &bar);
            report
        }
    })
    .await;
    bar.finish_and_clear();
    tracing::info!("{} registry requests", shared.0.request_count());
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    if args.output == OutputFormat::Json {
        print_json(&reports)?;
    }
    if total > 1 {
        eprintln!("signed {} of {total} images", total - failed);
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
        }
    });
}

async fn sign_image(
    registry: &Registry,
    signer: &Signer,
    image: &ImageRef,
    expect: Option<&Digest>,
) -> Report {
    let mut report = Report {
        input: image.original().to_string(),
        pinned: None,
        warning: None,
        signatures: Vec::new(),
        status: Status::Failed,
        error: None,
    };
    let work = sign_image_inner(registry, signer, image, expect, &mut report);
    match registry.within_deadline(image.original(), work).await {
        Ok(())
            if report
                .signatures
                .iter()
                .all(|s| s.status == Status::Unchanged) =>
        {
            report.status = Status::Unchanged
        }
        Ok(()) => report.status = Status::Signed,
        Err(e) => {
            report.error = Some(format!(
                "cannot sign {}: {}",
                image.original(),
                super::describe(&e)
            ))
        }
    }
    report
}

async fn sign_image_inner(
    registry: &Registry,
    signer: &Signer,
    image: &ImageRef,
    expect: Option<&Digest>,
    report: &mut Report,
) -> anyhow::Result<()> {
    // Pin first, always.
    let pinned = registry.resolve(image).await?;
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
    report.signatures = signer.sign(registry, &pinned).await?;
    Ok(())
}

/// `--expect-digest`: `sha256:...`, or a file holding one (build-push's `--digest-file`).
fn expected_digest(arg: &str) -> anyhow::Result<Digest> {
    if arg.starts_with("sha256:") {
        return Digest::parse(arg)
            .map_err(|e| UsageError::new(format!("--expect-digest {arg:?}: {e}")).into());
    }
    // A digest file holds 71 bytes; read at most a little more, so `/dev/zero` fails at once.
    use std::io::Read as _;
    const MAX_DIGEST_FILE: u64 = 1024;
    let file = std::fs::File::open(arg).map_err(|e| {
        UsageError::new(format!(
            "--expect-digest {arg:?} is neither sha256:... nor a readable digest file: {e}"
        ))
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_DIGEST_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UsageError::new(format!("cannot read --expect-digest file {arg}: {e}")))?;
    if bytes.len() as u64 > MAX_DIGEST_FILE {
        return Err(UsageError::new(format!(
            "--expect-digest file {arg} is larger than {MAX_DIGEST_FILE} bytes; a digest file \
             holds one sha256:... digest"
        ))
        .into());
    }
    let text = String::from_utf8_lossy(&bytes);
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
        let e = expected_digest("/dev/zero").unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("larger than 1024 bytes"), "{e}");
    }
}
