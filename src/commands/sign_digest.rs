//! `sign-digest IMAGE... --key KEY`: pin, sign, store next to the image, confirm.
//!
//! Every image is pinned through the registry first (a tag is resolved, a digest is
//! checked to exist); only then is its `PinnedImage` signed. The key is loaded before
//! any network request, so a wrong password costs nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Args;

use crate::batch::{run_all, ImageListArgs};
use crate::cli::GlobalArgs;
use crate::error::{BatchFailed, UsageError};
use crate::keys::{PasswordArgs, SigningKey};
use crate::output::{print_json, print_line, progress_bar, OutputFormat};
use crate::reference::{Digest, ImageRef, PinnedImage, Repository};
use crate::registry::{is_index, Descriptor, Registry, Resolved};
use crate::signature::{self, SignatureLayer};
use crate::storage::{self, Stored};

/// Where signatures are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignMode {
    /// The `sha256-<hex>.sig` tag (what cosign, Kyverno's default and Zot read).
    #[default]
    Tag,
    /// An OCI 1.1 artifact with `subject`, found through the referrers API.
    Referrers,
}

#[derive(Debug, Args)]
pub struct SignDigestArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// Private key: a file path or env://VAR (PEM in an environment variable).
    #[arg(long, value_name = "KEY")]
    pub key: String,

    /// Annotation KEY=VALUE put in the payload's "optional" map (repeatable).
    #[arg(short = 'a', long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// On an index, also sign every child manifest.
    #[arg(long)]
    pub recursive: bool,

    /// Store signatures in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Where to store signatures.
    #[arg(long, value_enum, default_value_t)]
    pub mode: SignMode,

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

/// What happened to an image or one of its signatures (`status` in the JSON output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A new signature was stored.
    Signed,
    /// The same signature was already stored; nothing was written.
    Unchanged,
    /// The image could not be signed (see `error`).
    Failed,
}

/// A loaded key plus what every signature of this run carries.
pub struct Signer {
    key: SigningKey,
    annotations: BTreeMap<String, String>,
    mode: SignMode,
    signature_repo: Option<Repository>,
}

/// One signature written (or found already there).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    pub pinned: PinnedImage,
    pub digest: Digest,
    pub signature_ref: String,
    pub signature_manifest_digest: Digest,
    pub layers: usize,
    /// `signed`, or `unchanged` when the same signature was already stored.
    pub status: Status,
}

impl Signed {
    pub fn text_line(&self) -> String {
        let note = if self.status == Status::Unchanged {
            ", already there"
        } else {
            ""
        };
        format!(
            "signed {} (signature {}{note})",
            self.pinned, self.signature_ref
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Signer {
    /// Load the key (asking for its password if needed) and parse annotations.
    pub fn new(
        key: &str,
        password: &PasswordArgs,
        annotations: &[String],
    ) -> anyhow::Result<Signer> {
        Ok(Signer {
            annotations: signature::parse_annotations(annotations)?,
            key: SigningKey::load(key, password)?,
            mode: SignMode::Tag,
            signature_repo: None,
        })
    }

    /// Sign a resolved image and, with `recursive` on an index, every child manifest.
    pub async fn sign_tree(
        &self,
        registry: &Registry,
        resolved: &Resolved,
        recursive: bool,
    ) -> anyhow::Result<Vec<Signed>> {
        let mut targets = vec![(resolved.pinned.clone(), resolved.descriptor())];
        if recursive && is_index(&resolved.media_type) {
            let index = registry.get_index(&resolved.pinned).await?;
            for child in index.manifests {
                let digest = Digest::parse(&child.digest).map_err(|e| {
                    anyhow::anyhow!(
                        "index {} lists a bad digest {:?}: {e}",
                        resolved.pinned,
                        child.digest
                    )
                })?;
                targets.push((
                    resolved.pinned.with_digest(digest.clone()),
                    Descriptor {
                        media_type: child.media_type,
                        digest,
                        size: child.size.max(0) as u64,
                    },
                ));
            }
        }
        let mut signed = Vec::with_capacity(targets.len());
        for (pinned, subject) in &targets {
            signed.push(self.sign_one(registry, pinned, subject).await?);
        }
        Ok(signed)
    }

    /// Sign one pinned manifest and store the signature. `subject` is the manifest's
    /// descriptor (referrers mode points at it).
    pub async fn sign_one(
        &self,
        registry: &Registry,
        image: &PinnedImage,
        subject: &Descriptor,
    ) -> anyhow::Result<Signed> {
        let payload = signature::payload(image, &self.annotations);
        let der = self.key.sign(&payload);
        let layer = SignatureLayer::new(payload, &der);
        let stored: Stored = match self.mode {
            SignMode::Tag => {
                let sig_repo = self.signature_repo.as_ref().unwrap_or(image.repository());
                storage::store_in_tag(registry, image, sig_repo, &layer).await?
            }
            SignMode::Referrers => {
                storage::store_as_referrer(registry, image, subject, &layer).await?
            }
        };
        Ok(Signed {
            pinned: image.clone(),
            digest: image.digest().clone(),
            signature_ref: stored.signature_ref,
            signature_manifest_digest: stored.manifest_digest,
            layers: stored.layers,
            status: if stored.changed {
                Status::Signed
            } else {
                Status::Unchanged
            },
        })
    }
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
    let images = args.images.collect()?;
    let expect = args
        .expect_digest
        .as_deref()
        .map(expected_digest)
        .transpose()?;
    if expect.is_some() && images.len() != 1 {
        return Err(UsageError::new("--expect-digest goes with exactly one image").into());
    }
    let signature_repo = Repository::parse_optional(args.signature_repo.as_deref())?;
    if signature_repo.is_some() && args.mode == SignMode::Referrers {
        return Err(UsageError::new(
            "--signature-repo (or COSIGN_REPOSITORY) works with --mode tag only: a referrer must live beside its subject; unset it or use --mode tag",
        )
        .into());
    }
    let mut signer = Signer::new(&args.key, &args.password, &args.annotations)?;
    signer.mode = args.mode;
    signer.signature_repo = signature_repo.clone();
    let registry = Registry::from_args(&global.registry)?;
    for image in &images {
        registry.will_push(signature_repo.as_ref().unwrap_or(image.repository()));
    }
    let shared = Arc::new((registry, signer));
    let bar = progress_bar(images.len(), "signing");
    let total = images.len();
    let reports = run_all(images, args.images.concurrency as usize, &bar, |image| {
        let shared = shared.clone();
        let expect = expect.clone();
        let recursive = args.recursive;
        let output = args.output;
        let bar = bar.clone();
        async move {
            let (registry, signer) = &*shared;
            let report = sign_image(registry, signer, &image, expect.as_ref(), recursive).await;
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
    recursive: bool,
) -> Report {
    let mut report = Report {
        input: image.original().to_string(),
        pinned: None,
        warning: None,
        signatures: Vec::new(),
        status: Status::Failed,
        error: None,
    };
    match sign_image_inner(registry, signer, image, expect, recursive, &mut report).await {
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
                crate::error::one_line(&e)
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
    recursive: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    // Pin first, always.
    let resolved = registry.resolve(image).await?;
    report.pinned = Some(resolved.pinned.to_string());
    if let (Some(tag), Some(_)) = (image.tag(), image.digest()) {
        // repo:tag@digest: the digest wins; say so if the tag has moved on.
        if let Some(now) = registry
            .head_manifest(image.repository(), tag.as_str())
            .await?
        {
            if now.digest != *resolved.pinned.digest() {
                report.warning = Some(format!(
                    "{} now points at {}, not {}; signing the digest given",
                    image.original(),
                    now.digest,
                    resolved.pinned.digest()
                ));
            }
        }
    }
    if let Some(expected) = expect {
        anyhow::ensure!(
            resolved.pinned.digest() == expected,
            "{} resolves to {}, but --expect-digest is {expected}; the tag was re-pointed after the build, not signing",
            image.original(),
            resolved.pinned.digest()
        );
    }
    report.signatures = signer.sign_tree(registry, &resolved, recursive).await?;
    Ok(())
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
