//! `sign-digest IMAGE... --key KEY`: pin, sign, store next to the image, confirm.
//!
//! Every image is pinned through the registry first (a tag is resolved, a digest is
//! checked to exist); only then is its `PinnedImage` signed. The key is loaded before
//! any network request, so a wrong password costs nothing. `--shard I/N` takes this job's
//! share of the images (by digest); `--repair` signs nothing and merges the signatures of an
//! image's referrers into its `.sig` tag ([`crate::storage::repair_tag`]).
//!
//! `--upload=false` with `--output-signature`/`--output-payload` (cosign's flags) signs
//! without writing to the registry: the image is still pinned through it, and the
//! signature and payload go to files only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::args::{
    AttachmentArgs, CosignSignArgs, GlobalArgs, ImageListArgs, OutputFormat, PasswordArgs,
    ShardArgs, SignatureArgs, SignatureFormat,
};
use crate::batch::run_ordered;
use crate::error::{BatchFailed, UsageError};
use crate::files::write_atomic;
use crate::output::{print_json, print_line, Progress};
use crate::reference::{Digest, ImageRef};
use crate::registry::{PinnedImage, Registry};
use crate::signing::{Format, Signed, Signer, Status};
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
    #[arg(long, conflicts_with_all = ["key", "expect_digest", "output_signature", "output_payload"])]
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

    #[command(flatten)]
    pub detached: DetachedArgs,

    #[command(flatten)]
    pub cosign: CosignSignArgs,

    #[command(flatten)]
    pub attachment: AttachmentArgs,
}

/// cosign's flags for signing without (or besides) storing the signature in the registry.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Signature files (as cosign sign)")]
pub struct DetachedArgs {
    /// Store the signature in the registry; --upload=false writes nothing there (give
    /// --output-signature and/or --output-payload). The image is still pinned through it.
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub upload: bool,

    /// Write the signature (base64, as cosign) to FILE; with several signatures (several
    /// images, --recursive) to FILE-sha256-<hex> for each signed digest.
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,

    /// Write the signed payload (the exact simple-signing JSON) to FILE; with several, to
    /// FILE-sha256-<hex> for each signed digest.
    #[arg(long, value_name = "FILE")]
    pub output_payload: Option<PathBuf>,
}

impl DetachedArgs {
    fn any_file(&self) -> bool {
        self.output_signature.is_some() || self.output_payload.is_some()
    }

    fn check(&self, format: SignatureFormat) -> anyhow::Result<()> {
        if !self.upload && !self.any_file() {
            return Err(UsageError::new(
                "--upload=false stores nothing: add --output-signature FILE and/or --output-payload FILE",
            )
            .into());
        }
        if self.any_file() && format != SignatureFormat::Simplesigning {
            return Err(UsageError::new(
                "--output-signature and --output-payload write cosign's simple-signing signature and payload; they do not go with --format bundle",
            )
            .into());
        }
        Ok(())
    }
}

/// Per input image: what was signed, or why not.
#[derive(serde::Serialize)]
struct Report {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
    /// The signatures stored in the registry (none with `--upload=false`).
    signatures: Vec<Signed>,
    /// The signature and payload files written (`--output-signature`, `--output-payload`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<Written>,
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
    /// Layers dropped because their blobs are gone, and the like.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// What signs (or repairs) each image.
enum Work {
    Sign(Box<Signer>),
    Repair,
}

/// One signature written to files.
#[derive(serde::Serialize)]
struct Written {
    pinned: PinnedImage,
    digest: Digest,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_file: Option<String>,
    /// False with `--upload=false`: the registry has not got it.
    uploaded: bool,
}

impl Written {
    fn text_line(&self) -> String {
        let files: Vec<String> = [
            self.signature_file
                .as_ref()
                .map(|f| format!("signature file {f}")),
            self.payload_file
                .as_ref()
                .map(|f| format!("payload file {f}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.uploaded {
            format!("wrote {} for {}", files.join(", "), self.pinned)
        } else {
            format!(
                "signed {} ({}; not uploaded)",
                self.pinned,
                files.join(", ")
            )
        }
    }
}

/// The text line of one stored signature; it starts with its status word, as JSON's
/// `status` says it: `signed` (written now) or `unchanged` (already there).
pub(crate) fn signature_line(s: &Signed) -> String {
    let (word, note) = match s.status {
        Status::Unchanged => ("unchanged", ", already there"),
        Status::Signed | Status::Failed => ("signed", ""),
    };
    match (s.format, &s.index) {
        (Format::SimpleSigning, _) => {
            format!("{word} {} (signature {}{note})", s.pinned, s.signature_ref)
        }
        (Format::Bundle, Some(index)) => format!(
            "{word} {} (bundle {} listed in {index}{note})",
            s.pinned, s.signature_ref
        ),
        (Format::Bundle, None) => format!(
            "{word} {} (bundle {} via the referrers API{note})",
            s.pinned, s.signature_ref
        ),
    }
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
    args.cosign.check_image_signing(&args.attachment)?;
    args.detached.check(args.signature.format)?;
    let work = match &args.key {
        Some(key) if !args.repair => Work::Sign(Box::new(Signer::load(
            args.signature.options(key, &args.password)?,
        )?)),
        _ if args.signature.signature_repo.as_deref().is_some_and(|r| !r.is_empty()) => {
            return Err(UsageError::new(
                "--signature-repo (or COSIGN_REPOSITORY) does not go with --repair: the referrers it repairs from are beside the image; unset it",
            )
            .into())
        }
        _ if !args.detached.upload => {
            return Err(UsageError::new(
                "--repair writes the .sig tag; it does not go with --upload=false",
            )
            .into())
        }
        _ => Work::Repair,
    };
    let shard = args.shard.shard;
    let registry = Registry::new(global.registry.options()?)?;
    if args.detached.upload {
        for image in &images {
            match &work {
                Work::Sign(signer) => signer.announce(&registry, image.repository()),
                Work::Repair => registry.will_push(image.repository()),
            }
        }
    }
    let files = Files {
        signature: args.detached.output_signature.clone(),
        payload: args.detached.output_payload.clone(),
        upload: args.detached.upload,
        per_digest: images.len() > 1 || args.signature.recursive,
    };
    let shared = Arc::new((registry, work, files));
    let progress = Progress::new(images.len(), "signing");
    let output = args.output;
    let reports = run_ordered(
        images,
        batch.concurrency,
        &progress,
        |image| {
            let shared = shared.clone();
            let expect = expect.clone();
            async move {
                let (registry, work, files) = &*shared;
                sign_image(registry, work, files, &image, expect.as_ref(), shard).await
            }
        },
        |r| r.as_ref().is_some_and(|r| r.error.is_some()),
        |r| {
            if let Some(r) = r {
                print_report(r, output)
            }
        },
    )
    .await;
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

/// Where `--output-signature` and `--output-payload` go.
struct Files {
    signature: Option<PathBuf>,
    payload: Option<PathBuf>,
    upload: bool,
    /// Several signatures may be written: each file name gets `-sha256-<hex>` (cosign does
    /// this for --recursive; for several images, too, so none overwrites another).
    per_digest: bool,
}

impl Files {
    fn any(&self) -> bool {
        self.signature.is_some() || self.payload.is_some()
    }

    fn path(&self, base: &Path, digest: &Digest) -> PathBuf {
        if self.per_digest {
            let mut name = base.as_os_str().to_owned();
            name.push(format!("-sha256-{}", digest.hex()));
            PathBuf::from(name)
        } else {
            base.to_path_buf()
        }
    }

    /// Write one signature's files (atomically: a reader never sees half a signature).
    fn write(&self, layer: &crate::signature::SignatureLayer) -> anyhow::Result<Written> {
        let digest = layer.image().digest();
        let mut written = Written {
            pinned: layer.image().clone(),
            digest: digest.clone(),
            signature_file: None,
            payload_file: None,
            uploaded: self.upload,
        };
        if let Some(base) = &self.signature {
            let path = self.path(base, digest);
            write_atomic(&path, layer.signature_b64().as_bytes(), 0o644).map_err(|e| {
                anyhow::anyhow!("cannot write --output-signature {}: {e:#}", path.display())
            })?;
            written.signature_file = Some(path.display().to_string());
        }
        if let Some(base) = &self.payload {
            let path = self.path(base, digest);
            write_atomic(&path, layer.payload(), 0o644).map_err(|e| {
                anyhow::anyhow!("cannot write --output-payload {}: {e:#}", path.display())
            })?;
            written.payload_file = Some(path.display().to_string());
        }
        Ok(written)
    }
}

/// Text output, image by image in input order; warnings and errors on stderr. Every result
/// line starts with its status word (`pinned`, `signed`, `unchanged`).
fn print_report(report: &Report, output: OutputFormat) {
    if let Some(w) = &report.warning {
        eprintln!("pinsign: warning: {w}");
    }
    let repair_warnings = report.repaired.iter().flat_map(|r| &r.warnings);
    for w in report
        .signatures
        .iter()
        .flat_map(|s| &s.warnings)
        .chain(repair_warnings)
    {
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
            if let Some(r) = &report.repaired {
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
        for s in &report.signatures {
            let _ = print_line(&signature_line(s));
        }
        for f in &report.files {
            let _ = print_line(&f.text_line());
        }
    }
}

/// One image's report, or `None` when `--shard` gives it to another job.
async fn sign_image(
    registry: &Registry,
    work: &Work,
    files: &Files,
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
        digest: None,
        warning: None,
        signatures: Vec::new(),
        files: Vec::new(),
        repaired: None,
        status: Status::Failed,
        error: None,
    };
    let job = sign_image_inner(registry, work, files, image, expect, shard, &mut report);
    match registry.within_deadline(image.original(), job).await {
        Ok(false) => return None,
        Ok(true)
            if files.upload
                && report
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
    files: &Files,
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
    report.digest = Some(pinned.digest().to_string());
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
    let signer = match work {
        Work::Sign(signer) => signer,
        Work::Repair => {
            report.repaired = Some(repair(registry, &pinned).await?);
            return Ok(true);
        }
    };
    // Files first, as cosign writes them before uploading.
    if files.any() {
        for layer in signer.sign_detached(registry, &pinned).await? {
            report.files.push(files.write(&layer)?);
        }
    }
    if files.upload {
        report.signatures = signer.sign(registry, &pinned).await?;
    }
    Ok(true)
}

async fn repair(registry: &Registry, pinned: &PinnedImage) -> anyhow::Result<RepairReport> {
    let r: Repaired = storage::repair_tag(registry, pinned).await?;
    Ok(RepairReport {
        signature_ref: r.signature_ref,
        referrers: r.referrers,
        added: r.added,
        layers: r.layers,
        signature_manifest_digest: r.manifest_digest,
        warnings: r.warnings,
    })
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
