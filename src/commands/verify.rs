//! `verify IMAGE... --key PUB` (or keyless: `--certificate-identity ... --certificate-oidc-issuer
//! ...`): the verdict cosign and Kyverno will reach, with the reasons.
//!
//! An image passes when at least one signature stored for its digest (a simple-signing layer
//! or a Sigstore bundle, see [`crate::verification`]) verifies with one of the keys (or is a
//! keyless signature by the identity asked for, checked offline against a trusted root), names
//! that digest, has cosign's type (or predicate), and carries every `-a` annotation. A tag is
//! pinned first and the pin is printed; every signature found is listed with its format, where
//! it was found and who signed it, or why it failed. `--bundle FILE` judges a bundle file
//! instead of what the registry stores; with `--offline`, no registry is asked at all.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Args;

use super::args::{
    self, AttachmentArgs, GlobalArgs, ImageListArgs, KeylessArgs, OutputFormat, PasswordArgs,
    ShardArgs, VerifyMode,
};
use crate::batch::run_ordered;
use crate::error::{BatchFailed, UsageError};
use crate::keyless::KeylessTrust;
use crate::keys::{load_public_key, PublicKey};
use crate::output::{print_json, print_line, Progress};
use crate::reference::ImageRef;
use crate::registry::Registry;
use crate::signature;
use crate::verification::{self, Checked, Lookup, MissingFromTag, Skipped, VerifyOptions};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// Public key (PEM file or env://VAR); repeat for a rotation overlap. A private key
    /// file is accepted too (its public half is used). Without --key, the keyless flags.
    #[arg(long, value_name = "PUB")]
    pub key: Vec<String>,

    #[command(flatten)]
    pub keyless: KeylessArgs,

    /// Judge this Sigstore bundle file (as cosign v3 writes) instead of the signatures the
    /// registry stores for the image.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<std::path::PathBuf>,

    /// With --bundle: ask no registry at all; the image must be given by digest
    /// (REG/REPO@sha256:...).
    #[arg(long, requires = "bundle")]
    pub offline: bool,

    /// Require KEY=VALUE in the payload's "optional" map (a bundle: in its statement
    /// subject's annotations) (repeatable; --annotations as in cosign).
    #[arg(
        short = 'a',
        long = "annotation",
        visible_alias = "annotations",
        value_name = "KEY=VALUE"
    )]
    pub annotations: Vec<String>,

    /// The in-toto predicate type a bundle's statement must have.
    #[arg(long, value_name = "URI", default_value = crate::bundle::COSIGN_SIGN_PREDICATE_TYPE)]
    pub predicate_type: String,

    /// Look for signatures in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Where to look for signatures: any (the .sig tag and the referrers, through the API or
    /// the referrers tag index), tag (only what tags hold) or referrers (only the API).
    #[arg(long, value_enum, default_value_t)]
    pub mode: VerifyMode,

    #[command(flatten)]
    pub password: PasswordArgs,

    #[command(flatten)]
    pub shard: ShardArgs,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,

    #[command(flatten)]
    pub cosign: CosignVerifyArgs,
}

/// cosign's verify flags that pinsign takes with the same meaning.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "cosign compatibility")]
pub struct CosignVerifyArgs {
    /// Accepted as in cosign v2 (=true): pinsign never looks up a transparency log for key
    /// signatures; =false (require one) is refused.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub insecure_ignore_tlog: Option<bool>,

    #[command(flatten)]
    pub attachment: AttachmentArgs,
}

impl CosignVerifyArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.insecure_ignore_tlog == Some(false) {
            return Err(UsageError::new(
                "--insecure-ignore-tlog=false asks for a transparency log entry: pinsign verifies key signatures by the key alone (they carry no Rekor entry); drop the flag",
            )
            .into());
        }
        self.attachment.check()
    }
}

/// What `status` says of an image, in JSON and as the first word of its text line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    /// At least one signature passed.
    Verified,
    /// Signatures were found, none passed.
    NotVerified,
    /// No signature was found where pinsign looked.
    Unsigned,
    /// The image could not be checked (see `error`).
    Failed,
}

impl Status {
    /// The status of an image whose signatures were judged.
    fn of(verified: bool) -> Self {
        if verified {
            Status::Verified
        } else {
            Status::NotVerified
        }
    }
}

/// Per input image.
#[derive(serde::Serialize)]
struct Report {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    status: Status,
    verified: bool,
    signatures: Vec<Checked>,
    /// What the referrers lists held that is not a signature of this image.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<Skipped>,
    /// Signatures stored as referrers that the `.sig` tag lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_from_tag: Option<MissingFromTag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What every image of the run is checked against.
struct Policy {
    keys: Vec<PublicKey>,
    keyless: Option<KeylessTrust>,
    /// `--bundle FILE`: its name and bytes, judged instead of what the registry stores.
    bundle_file: Option<(String, Vec<u8>)>,
    required: BTreeMap<String, String>,
    lookup: Lookup,
    predicate_type: String,
}

impl Policy {
    fn options(&self) -> VerifyOptions<'_> {
        VerifyOptions {
            keys: &self.keys,
            required: &self.required,
            lookup: &self.lookup,
            predicate_type: &self.predicate_type,
            keyless: self.keyless.as_ref(),
        }
    }
}

pub async fn run(args: VerifyArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let batch = args.images.options();
    let images = batch.collect()?;
    args.cosign.check()?;
    let required = signature::parse_annotations(&args.annotations)?;
    let lookup = args::lookup(args.mode, args.signature_repo.as_deref())?;
    let keyless = args.keyless.keyless(args.key.len())?;
    if keyless.is_none() && args.key.is_empty() {
        return Err(UsageError::new(
            "give --key PUB, or the keyless flags (--certificate-identity and --certificate-oidc-issuer)",
        )
        .into());
    }
    let keys = args
        .key
        .iter()
        .map(|k| load_public_key(k, &args.password.source()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let bundle_file = match &args.bundle {
        Some(path) => {
            if images.len() != 1 {
                return Err(UsageError::new("--bundle goes with exactly one image").into());
            }
            let bytes = crate::files::read_bounded(
                path,
                crate::bundle::MAX_BUNDLE_BYTES as u64,
                "a Sigstore bundle",
            )?;
            Some((path.display().to_string(), bytes))
        }
        None => None,
    };
    let shard = args.shard.shard;
    let policy = Policy {
        keys,
        keyless,
        bundle_file,
        required,
        lookup,
        predicate_type: args.predicate_type.clone(),
    };
    if args.offline {
        if images[0].digest().is_none() {
            return Err(UsageError::new(format!(
                "--offline needs the image by digest (REG/REPO@sha256:...), not {}: a tag can only be resolved by its registry",
                images[0].original()
            ))
            .into());
        }
        let report = offline(&policy, &images[0]);
        print_text(&report, &policy.keys, args.output, global.quiet);
        if args.output == OutputFormat::Json {
            print_json(&[&report])?;
        }
        if !report.verified {
            return Err(BatchFailed {
                failed: 1,
                total: 1,
            }
            .into());
        }
        return Ok(());
    }
    let registry = Registry::new(global.registry.options()?)?;
    for image in &images {
        registry.will_pull(image.repository());
    }
    let shared = Arc::new((registry, policy));
    let progress = Progress::new(images.len(), "verifying");
    let quiet = global.quiet;
    let output = args.output;
    let reports = run_ordered(
        images,
        batch.concurrency,
        &progress,
        |image| {
            let shared = shared.clone();
            async move {
                let (registry, policy) = &*shared;
                verify_image(registry, policy, &image, shard).await
            }
        },
        |r| r.as_ref().is_some_and(|r| !r.verified),
        |r| {
            if let Some(r) = r {
                print_text(r, &shared.1.keys, output, quiet)
            }
        },
    )
    .await;
    tracing::info!("{} registry requests", shared.0.request_count());
    let others = reports.iter().filter(|r| r.is_none()).count();
    let reports: Vec<Report> = reports.into_iter().flatten().collect();
    let total = reports.len();
    if args.output == OutputFormat::Json {
        print_json(&reports)?;
    }
    let failed = reports.iter().filter(|r| !r.verified).count();
    if let Some(shard) = shard {
        eprintln!(
            "verified {} of {total} images (shard {shard}; {others} more in the other shards)",
            total - failed
        );
    } else if total > 1 {
        eprintln!("verified {} of {total} images", total - failed);
    }
    if failed > 0 {
        return Err(BatchFailed { failed, total }.into());
    }
    Ok(())
}

/// Text output: the verdict on stdout (one line per image), then one line per signature on
/// stderr with its format, where it was found and the key that verified it (or why not), and
/// what was skipped (only when the image failed, or with -v). `-q` keeps only failures.
fn print_text(report: &Report, keys: &[PublicKey], output: OutputFormat, quiet: bool) {
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
        print_skipped(report);
        eprintln!("pinsign: error: {e}");
        return;
    }
    let pinned = report.pinned.as_deref().unwrap_or(&report.input);
    let n = report.signatures.len();
    let key_name = |fp: &str| match keys.iter().find(|k| k.fingerprint() == fp) {
        Some(k) => format!("{} ({fp})", k.source()),
        None => fp.to_string(),
    };
    // Who made a valid signature: a key, or a keyless identity and its issuer.
    let signer = |s: &Checked| match (&s.keyless, s.check.key.as_deref()) {
        (Some(k), _) => Some(format!("{} (issuer {}, keyless)", k.identity, k.issuer)),
        (None, Some(fp)) => Some(key_name(fp)),
        (None, None) => None,
    };
    if report.verified {
        let good: Vec<&Checked> = report
            .signatures
            .iter()
            .filter(|s| s.check.verified)
            .collect();
        let by: Vec<String> = good
            .iter()
            .filter_map(|s| signer(s))
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
    for (i, s) in report.signatures.iter().enumerate() {
        if quiet && s.check.verified {
            continue;
        }
        let verdict = match (&s.check.reason, signer(s)) {
            (None, Some(by)) => format!("valid, by {by}"),
            (None, None) => "valid".to_string(),
            (Some(reason), _) => reason.clone(),
        };
        eprintln!(
            "  signature {}/{n}: {} {} in {} ({}): {verdict}",
            i + 1,
            s.format.as_str(),
            short(s.check.layer_digest.as_str()),
            s.location,
            match &s.listed_in {
                Some(index) => format!("listed in {index}"),
                None => s.via.describe().to_string(),
            },
        );
    }
    if let Some(m) = &report.missing_from_tag {
        eprintln!(
            "pinsign: warning: {} signature(s) of {pinned} are referrers missing from {}, the tag Kyverno's default verifier reads; pinsign sign-digest --repair {pinned} puts them there",
            m.locations.len(),
            m.tag
        );
    }
    if !report.verified || crate::logging::verbose() {
        print_skipped(report);
    }
}

fn print_skipped(report: &Report) {
    for s in &report.skipped {
        eprintln!("  skipped {}: {}", s.location, s.reason);
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// One image's report, or `None` when `--shard` gives it to another job.
async fn verify_image(
    registry: &Registry,
    policy: &Policy,
    image: &ImageRef,
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
        status: Status::Failed,
        verified: false,
        signatures: Vec::new(),
        skipped: Vec::new(),
        missing_from_tag: None,
        error: None,
    };
    let work = verify_inner(registry, policy, image, shard, &mut report);
    match registry.within_deadline(image.original(), work).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(_)
            if report.pinned.is_none()
                && shard.is_some_and(|s| !s.takes_name(image.original())) =>
        {
            return None
        }
        Err(e) => {
            report.verified = false;
            if report.status != Status::Unsigned {
                report.status = Status::Failed;
            }
            report.error = Some(format!(
                "cannot verify {}: {}",
                image.original(),
                super::describe(&e)
            ));
        }
    }
    Some(report)
}

/// `--bundle FILE --offline`: the bundle judged against the digest the reference names, with
/// no registry request (an air-gapped review, a signature of an image in a public registry).
fn offline(policy: &Policy, image: &ImageRef) -> Report {
    let mut report = Report {
        input: image.original().to_string(),
        pinned: None,
        digest: None,
        verified: false,
        status: Status::Failed,
        signatures: Vec::new(),
        skipped: Vec::new(),
        missing_from_tag: None,
        error: None,
    };
    let Some(digest) = image.digest() else {
        return report;
    };
    report.pinned = Some(format!("{}@{digest}", image.repository()));
    report.digest = Some(digest.to_string());
    if let Some((path, bundle)) = &policy.bundle_file {
        let checked = verification::judge_bundle_file(digest, path, bundle, &policy.options());
        report.verified = checked.check.verified;
        report.status = Status::of(report.verified);
        report.signatures = vec![checked];
    }
    report
}

/// Pin and verify; `false` when the pinned digest is another shard's.
async fn verify_inner(
    registry: &Registry,
    policy: &Policy,
    image: &ImageRef,
    shard: Option<crate::batch::Shard>,
    report: &mut Report,
) -> anyhow::Result<bool> {
    let pinned = registry.resolve(image).await?;
    if shard.is_some_and(|s| !s.takes(pinned.digest())) {
        return Ok(false);
    }
    report.pinned = Some(pinned.to_string());
    report.digest = Some(pinned.digest().to_string());
    if let Some((path, bundle)) = &policy.bundle_file {
        let checked =
            verification::judge_bundle_file(pinned.digest(), path, bundle, &policy.options());
        report.verified = checked.check.verified;
        report.status = Status::of(report.verified);
        report.signatures = vec![checked];
        return Ok(true);
    }
    let verification = verification::verify_with(registry, &pinned, &policy.options()).await?;
    report.skipped = verification.skipped.clone();
    report.missing_from_tag = verification.missing_from_tag.clone();
    if verification.signatures.is_empty() {
        report.status = Status::Unsigned;
        anyhow::bail!(
            "no signatures found for {pinned} (looked in {})",
            verification.places.join(" and ")
        );
    }
    report.verified = verification.verified();
    report.status = Status::of(report.verified);
    report.signatures = verification.signatures;
    Ok(true)
}
