//! `rotate --old-key OLD.pub (--new-key-prefix P | --new-key KEY)`: re-sign every image in
//! use with a new key, where the old key's signature verifies now, in the same place; and
//! `rotate --prune-old --old-key OLD.pub --new-key NEW.pub`: after the overlap, take the old
//! key's signatures out where the new key's verifies.
//!
//! Every flag is checked, the pods JSON read and the keys loaded before the first network
//! request, so bad input costs nothing and writes nothing (exit 2). Then: the new key pair
//! (written before any signature is made with it), the overlap policy, pinning, the shard,
//! and the images, `--concurrency` at once. The work itself is [`crate::rotation`].

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::args::{GlobalArgs, ImageListArgs, OutputFormat, PasswordArgs};
use crate::batch::{run_ordered, ListSource, Shard};
use crate::error::{BatchFailed, UsageError};
use crate::files::write_atomic;
use crate::keys::files::{write_key_pair, KeyPairPaths};
use crate::keys::{KeySource, Password, PublicKey, SigningKey};
use crate::output::{print_json, print_line, Progress};
use crate::policy::{self, PolicyInput, PolicySpec};
use crate::reference::Repository;
use crate::registry::Registry;
use crate::rotation::{
    self, inputs, ImageReport, Input, KeyIds, Pinned, Prune, Rotation, RunReport, Status, Summary,
};
use crate::signing::{Placement, SignOptions, Signer};

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub images: ImageListArgs,

    /// The retiring key's public key (PEM file or env://VAR); rotation never needs its
    /// private key.
    #[arg(long, value_name = "OLD.pub")]
    pub old_key: String,

    /// Generate the new key pair: P.key (encrypted, mode 0600) and P.pub.
    #[arg(long, value_name = "P")]
    pub new_key_prefix: Option<String>,

    /// The new key: its private key (file or env://VAR) to re-sign with; with --prune-old,
    /// its public key.
    #[arg(long, value_name = "KEY")]
    pub new_key: Option<String>,

    /// With --new-key-prefix: overwrite an existing P.key / P.pub.
    #[arg(long)]
    pub force: bool,

    /// Also take the images running in a cluster: the JSON of `kubectl get pods -A -o json`
    /// (a List, a PodList or one Pod), or '-' for stdin.
    #[arg(long, value_name = "PODS.json|-")]
    pub deployed_from: Option<String>,

    /// Signatures live in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Write the JSON report here (per image: input, digest, old-verified, re-signed,
    /// new-verified, status, reason).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write the overlap policy (a Kyverno ClusterPolicy admitting the old and the new key)
    /// here; needs --image.
    #[arg(long, value_name = "FILE")]
    pub policy_out: Option<PathBuf>,

    /// Image pattern the overlap policy covers (repeatable), e.g. 'oci.example.org/team/*'.
    #[arg(long = "image", value_name = "PATTERN")]
    pub policy_images: Vec<String>,

    /// Take only this job's share of the digests: I of N (a matrix of N jobs covers every
    /// digest exactly once).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Print what would be done; write nothing to the registry and no key or policy file.
    #[arg(long)]
    pub dry_run: bool,

    /// Remove the old key's signatures where a new-key signature verifies (after the overlap).
    #[arg(long)]
    pub prune_old: bool,

    #[command(flatten)]
    pub password: PasswordArgs,

    /// Output format (the JSON document is the --report one).
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Where the new key comes from.
enum NewKey {
    Generate(KeyPairPaths),
    Load(String),
    Public(String),
}

/// Everything checked before any I/O beyond reading the inputs and the old key.
struct Checked {
    new_key: NewKey,
    old: PublicKey,
    shard: Option<Shard>,
    signature_repo: Option<Repository>,
    inputs: Vec<Input>,
}

pub async fn run(args: RotateArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    super::args::refuse_docker_media_types(|v| std::env::var_os(v))?;
    let checked = check(&args)?;
    let operation = if args.prune_old {
        "prune-old"
    } else {
        "rotate"
    };
    let dry_run = args.dry_run;

    // The new key, before any network request: a wrong password costs nothing, and a
    // generated key is on disk before anything is signed with it.
    let (signer, new) = new_key(&args, &checked)?;
    if new.spki_der() == checked.old.spki_der() {
        return Err(UsageError::new(format!(
            "--new-key {} is the same key as --old-key {} ({}); a rotation needs a new key",
            new.source(),
            checked.old.source(),
            new.fingerprint()
        ))
        .into());
    }
    let ids = KeyIds {
        old: checked.old.fingerprint(),
        new: new.fingerprint(),
    };
    if let Some(path) = &args.policy_out {
        write_policy(&args, path, &checked.old, &new)?;
    }

    let registry = Registry::new(global.registry.options()?)?;
    if !dry_run {
        for input in &checked.inputs {
            registry.will_push(input.image.repository());
        }
        if let Some(repo) = &checked.signature_repo {
            registry.will_push(repo);
        }
    }
    let concurrency = args.images.concurrency as usize;
    let progress = Progress::new(checked.inputs.len(), "pinning");
    let pinned = inputs::pin_all(&registry, checked.inputs, concurrency, &progress).await;
    let pinned = inputs::dedupe_pinned(pinned);
    let (mine, other_shards) = match checked.shard {
        Some(shard) => inputs::take_shard(pinned, shard),
        None => (pinned, 0),
    };

    // One per process, behind an Arc: the size difference does not matter.
    #[allow(clippy::large_enum_variant)]
    enum Work {
        Rotate(Rotation),
        Prune(Prune),
    }
    let work = match signer {
        Some(signer) => Work::Rotate(Rotation {
            registry,
            old: checked.old,
            signer,
            new,
            ids: ids.clone(),
            signature_repo: checked.signature_repo,
            dry_run,
        }),
        None => Work::Prune(Prune {
            registry,
            old: checked.old,
            new,
            ids: ids.clone(),
            signature_repo: checked.signature_repo,
            dry_run,
        }),
    };
    let work = Arc::new(work);
    let progress = Progress::new(
        mine.len(),
        if args.prune_old {
            "pruning"
        } else {
            "rotating"
        },
    );
    let output = args.output;
    let results = run_ordered(
        mine,
        concurrency,
        &progress,
        |pinned: Pinned| {
            let work = work.clone();
            async move {
                let mut report = ImageReport::new(&pinned.input.text, pinned.input.sources.clone());
                let result = match pinned.result {
                    Err(e) => Err(anyhow::Error::new(e)),
                    Ok(image) => {
                        report.pinned = Some(image.to_string());
                        report.digest = Some(image.digest().clone());
                        match &*work {
                            Work::Rotate(r) => r.rotate(&image, &mut report).await,
                            Work::Prune(p) => p.prune(&image, &mut report).await,
                        }
                    }
                };
                if let Err(e) = result {
                    report.status = Status::Failed;
                    report.reason = Some(super::describe(&e));
                }
                (report, pinned.input)
            }
        },
        |(report, _)| report.status == Status::Failed,
        |(report, input)| print_image(report, input, operation, output),
    )
    .await;
    let images: Vec<ImageReport> = results.into_iter().map(|(report, _)| report).collect();

    let summary = Summary::of(&images, other_shards);
    let document = RunReport {
        operation,
        dry_run,
        old_key: ids.old,
        new_key: ids.new,
        shard: checked.shard,
        summary: summary.clone(),
        images,
    };
    match &args.report {
        // Writes nothing, as promised: the report is what `-o json` prints.
        Some(path) if dry_run => eprintln!(
            "would write the report {} (-o json prints it)",
            path.display()
        ),
        Some(path) => {
            let mut text = serde_json::to_vec_pretty(&document)?;
            text.push(b'\n');
            write_atomic(path, &text, 0o644)?;
        }
        None => {}
    }
    if args.output == OutputFormat::Json {
        print_json(&document)?;
    }
    eprintln!("{}", summary.line(operation, dry_run, checked.shard));
    if summary.failed > 0 {
        return Err(BatchFailed {
            failed: summary.failed,
            total: summary.images,
        }
        .into());
    }
    Ok(())
}

/// Every usage check, the old key, and the inputs (list and pods JSON): no network.
fn check(args: &RotateArgs) -> anyhow::Result<Checked> {
    let usage = |m: String| -> anyhow::Error { UsageError::new(m).into() };
    let new_key = match (args.prune_old, &args.new_key_prefix, &args.new_key) {
        (true, Some(_), _) => {
            return Err(usage(
                "--prune-old takes the new key's public key with --new-key NEW.pub, not --new-key-prefix".into(),
            ))
        }
        (true, None, None) => {
            return Err(usage(
                "--prune-old needs --new-key NEW.pub: old-key signatures are removed only where a new-key signature verifies".into(),
            ))
        }
        (true, None, Some(k)) => NewKey::Public(k.clone()),
        (false, Some(_), Some(_)) => {
            return Err(usage(
                "--new-key-prefix and --new-key exclude each other: generate the new key, or give one".into(),
            ))
        }
        (false, None, None) => {
            return Err(usage(
                "rotate needs the new key: --new-key-prefix P (generate P.key and P.pub) or --new-key KEY".into(),
            ))
        }
        (false, Some(prefix), None) => {
            let paths = KeyPairPaths::from_prefix(prefix).map_err(|_| {
                usage(format!(
                    "--new-key-prefix {prefix:?} names no file; pass e.g. `cosign-2025` or `keys/cosign-2025`"
                ))
            })?;
            if !args.force {
                if let Some(existing) = [&paths.private, &paths.public]
                    .into_iter()
                    .find(|p| std::fs::symlink_metadata(p).is_ok())
                {
                    return Err(usage(format!(
                        "{} already exists: to resume this rotation pass --new-key {} instead of --new-key-prefix; --force makes another new key (nothing was written)",
                        existing.display(),
                        paths.private.display()
                    )));
                }
            }
            NewKey::Generate(paths)
        }
        (false, None, Some(k)) => NewKey::Load(k.clone()),
    };
    if args.force && !matches!(new_key, NewKey::Generate(_)) {
        return Err(usage("--force goes with --new-key-prefix only".into()));
    }
    if args.prune_old && args.policy_out.is_some() {
        return Err(usage(
            "--policy-out writes the overlap policy of a rotation; for the final policy after --prune-old run `pinsign policy kyverno --key NEW.pub --image PATTERN`".into(),
        ));
    }
    match (&args.policy_out, args.policy_images.is_empty()) {
        (Some(_), true) => {
            return Err(usage(
                "--policy-out needs at least one --image PATTERN (like 'oci.example.org/team/*')"
                    .into(),
            ))
        }
        (None, false) => {
            return Err(usage(
                "--image PATTERN is for the overlap policy: give --policy-out FILE too".into(),
            ))
        }
        _ => {}
    }
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let signature_repo = Repository::parse_optional(args.signature_repo.as_deref())
        .map_err(|e| usage(format!("--signature-repo: {e}")))?;
    let old = public_key_only(&args.old_key, "--old-key")?;
    if let NewKey::Public(k) = &new_key {
        // Checked here too, so a prune with a private --new-key fails before any work.
        public_key_only(k, "--new-key")?;
    }
    if args.policy_out.is_some() {
        // The patterns and the signature repository, checked before any key is written.
        PolicySpec::new(policy_input(args, vec![old.clone()]))?;
    }

    let deployed_source = args.deployed_from.as_deref().map(ListSource::parse);
    let list = args.images.options();
    if deployed_source == Some(ListSource::Stdin) && list.images_from == Some(ListSource::Stdin) {
        return Err(usage(
            "--images-from - and --deployed-from - cannot both read stdin; give one of them a file"
                .into(),
        ));
    }
    let mut all: Vec<Input> = Vec::new();
    if !list.images.is_empty() || list.images_from.is_some() {
        let name = match (&list.images_from, list.images.is_empty()) {
            (None, _) => "the command line".to_string(),
            (Some(ListSource::File(p)), true) => format!("--images-from {}", p.display()),
            (Some(ListSource::Stdin), true) => "--images-from -".to_string(),
            (Some(_), false) => "the command line or --images-from".to_string(),
        };
        all.extend(inputs::from_list(list.collect()?, &name));
    }
    if let Some(source) = &deployed_source {
        let bytes = rotation::pods::read(source)?;
        let name = rotation::pods::source_name(source);
        let deployed = rotation::pods::parse(&bytes, &name)?;
        for w in &deployed.warnings {
            eprintln!("pinsign: warning: {w}");
        }
        tracing::info!(
            "{name}: {} pods, {} containers",
            deployed.pods,
            deployed.images.len()
        );
        all.extend(inputs::from_deployed(deployed));
    }
    if all.is_empty() {
        return Err(usage(match deployed_source {
            Some(s) => format!(
                "no images: {} lists no containers, and no --images-from or IMAGE was given",
                rotation::pods::source_name(&s)
            ),
            None => "no images given: use --deployed-from PODS.json, --images-from FILE or IMAGE arguments".into(),
        }));
    }
    Ok(Checked {
        new_key,
        old,
        shard,
        signature_repo,
        inputs: inputs::dedupe(all),
    })
}

/// A public key, refusing a private one (rotation and prune need only public halves of
/// the keys they judge with). Every problem is a usage error naming the flag.
fn public_key_only(arg: &str, flag: &str) -> anyhow::Result<PublicKey> {
    let usage = |m: String| -> anyhow::Error { UsageError::new(m).into() };
    let source = KeySource::parse(arg)?;
    let text = source
        .read()
        .map_err(|e| usage(format!("{flag} {source}: {}", crate::error::one_line(&e))))?;
    let text = std::str::from_utf8(&text).map_err(|_| {
        usage(format!(
            "{flag} {source} is not a PEM public key (not text)"
        ))
    })?;
    let blocks = crate::keys::pem::blocks(text)
        .map_err(|e| usage(format!("{flag} {source} is not a PEM public key: {e}")))?;
    if blocks.iter().any(|b| b.label.contains("PRIVATE KEY")) {
        return Err(usage(format!(
            "{flag} {source} is a private key; pass its public key (e.g. `pinsign public-key --key {source} --outfile OLD.pub`): judging signatures never needs a private key"
        )));
    }
    PublicKey::from_pem(text.as_bytes(), &source.to_string())
        .map_err(|e| usage(format!("{flag}: {}", crate::error::one_line(&e))))
}

/// The new key: generated and written, loaded (private, to sign), or public (prune).
fn new_key(args: &RotateArgs, checked: &Checked) -> anyhow::Result<(Option<Signer>, PublicKey)> {
    match &checked.new_key {
        NewKey::Public(k) => Ok((None, public_key_only(k, "--new-key")?)),
        NewKey::Load(k) => {
            let signer = Signer::load(SignOptions {
                key: k.clone(),
                password: args.password.source(),
                annotations: Default::default(),
                placement: Placement::default(),
                recursive: false,
            })?;
            let public = signer.public_key();
            Ok((Some(signer), public))
        }
        NewKey::Generate(paths) => {
            paths.check_writable(args.force)?;
            let key = SigningKey::generate();
            let public = key.public_key();
            if args.dry_run {
                eprintln!(
                    "would write the new key pair {} and {} ({})",
                    paths.private.display(),
                    paths.public.display(),
                    public.fingerprint()
                );
            } else {
                let password = Password::for_writing(
                    &args.password.source(),
                    &paths.private.display().to_string(),
                )?;
                write_key_pair(paths, &key, &password, args.force)?;
            }
            let public = PublicKey::from_spki_der(
                public.spki_der().to_vec(),
                &paths.public.display().to_string(),
            )?;
            Ok((Some(Signer::from_key(key, Placement::default())), public))
        }
    }
}

fn policy_input(args: &RotateArgs, keys: Vec<PublicKey>) -> PolicyInput {
    PolicyInput {
        keys,
        images: args.policy_images.clone(),
        signature_repo: args.signature_repo.clone(),
        ..PolicyInput::default()
    }
}

/// The overlap policy: both keys, through the policy command's own code.
fn write_policy(
    args: &RotateArgs,
    path: &std::path::Path,
    old: &PublicKey,
    new: &PublicKey,
) -> anyhow::Result<()> {
    let spec = PolicySpec::new(policy_input(args, vec![old.clone(), new.clone()]))?;
    for w in spec.warnings() {
        eprintln!("pinsign: warning: {w}");
    }
    let yaml = policy::generate(&spec)?;
    if args.dry_run {
        eprintln!(
            "would write the overlap policy {} (keys {} and {})",
            path.display(),
            old.fingerprint(),
            new.fingerprint()
        );
        return Ok(());
    }
    write_atomic(path, yaml.as_bytes(), 0o644)?;
    eprintln!(
        "Overlap policy written to {} (admits {} and {})",
        path.display(),
        old.fingerprint(),
        new.fingerprint()
    );
    Ok(())
}

/// The lines for one finished image: the pin (stdout), then the result (stdout), or the
/// error (stderr).
fn print_image(report: &ImageReport, input: &Input, operation: &str, output: OutputFormat) {
    if report.status == Status::Failed {
        let verb = if operation == "rotate" {
            "rotate"
        } else {
            "prune"
        };
        eprintln!(
            "pinsign: error: cannot {verb} {}: {}",
            report.input,
            report.reason.as_deref().unwrap_or("failed")
        );
    }
    if output != OutputFormat::Text {
        return;
    }
    if let Some(p) = &report.pinned {
        if *p != report.input {
            let how = if input.from_image_id {
                " (the digest its pod runs)"
            } else {
                ""
            };
            let _ = print_line(&format!("pinned {} -> {p}{how}", report.input));
        }
    }
    if report.status != Status::Failed {
        let _ = print_line(&report.text_line());
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> super::RotateArgs {
        let mut all = vec!["pinsign", "rotate"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Rotate(a) => a,
            _ => panic!("not rotate"),
        }
    }

    #[test]
    fn flags_parse() {
        let a = parse(&[
            "--old-key",
            "old.pub",
            "--new-key-prefix",
            "new",
            "--deployed-from",
            "pods.json",
            "--images-from",
            "list.txt",
            "--policy-out",
            "p.yaml",
            "--image",
            "reg/*",
            "--image",
            "other/*",
            "--shard",
            "1/2",
            "--dry-run",
            "--concurrency",
            "8",
            "-o",
            "json",
        ]);
        assert_eq!(a.policy_images, ["reg/*", "other/*"]);
        assert_eq!(a.images.concurrency, 8);
        assert!(a.dry_run && !a.prune_old);
        let a = parse(&[
            "--prune-old",
            "--old-key",
            "o.pub",
            "--new-key",
            "n.pub",
            "reg/app:1",
        ]);
        assert!(a.prune_old);
        assert_eq!(a.images.images, ["reg/app:1"]);
    }

    #[test]
    fn usage_errors_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::keys::SigningKey::generate();
        let old = dir.path().join("old.pub");
        std::fs::write(&old, key.public_key().to_pem()).unwrap();
        let old = old.to_str().unwrap().to_string();
        let e = |args: &[&str]| {
            let err = match super::check(&parse(args)) {
                Err(e) => e,
                Ok(_) => panic!("{args:?} accepted"),
            };
            assert_eq!(crate::error::exit_code(&err), 2, "{err:#}");
            err.to_string()
        };
        assert!(e(&["--old-key", &old]).contains("needs the new key"));
        assert!(
            e(&["--old-key", &old, "--new-key", "k", "--new-key-prefix", "p"])
                .contains("exclude each other")
        );
        assert!(e(&["--old-key", &old, "--prune-old"]).contains("--prune-old needs --new-key"));
        assert!(e(&[
            "--old-key",
            &old,
            "--new-key",
            "k",
            "--policy-out",
            "p.yaml"
        ])
        .contains("needs at least one --image"));
        assert!(e(&["--old-key", &old, "--new-key", "k", "--image", "x/*"])
            .contains("give --policy-out"));
        assert!(e(&[
            "--old-key",
            &old,
            "--new-key",
            "k",
            "--shard",
            "0/2",
            "r/a:1"
        ])
        .contains("--shard"));
        assert!(e(&["--old-key", &old, "--new-key", "k"]).contains("no images given"));
        assert!(
            e(&["--old-key", &old, "--new-key", "k", "--force", "r/a:1"])
                .contains("--force goes with --new-key-prefix")
        );
        let private = dir.path().join("old.key");
        std::fs::write(&private, key.to_pkcs8_der().as_slice()).unwrap();
        let pem = crate::keys::pem::encode("PRIVATE KEY", &key.to_pkcs8_der());
        std::fs::write(&private, pem.as_bytes()).unwrap();
        let line = e(&[
            "--old-key",
            private.to_str().unwrap(),
            "--new-key",
            "k",
            "r/a:1",
        ]);
        assert!(line.contains("is a private key"), "{line}");
        assert!(e(&[
            "--old-key",
            "/nonexistent/old.pub",
            "--new-key",
            "k",
            "r/a:1"
        ])
        .contains("--old-key /nonexistent/old.pub"));
        // An existing key pair is never overwritten: resume with --new-key instead.
        let prefix = dir.path().join("new");
        std::fs::write(prefix.with_extension("key"), "x").unwrap();
        let line = e(&[
            "--old-key",
            &old,
            "--new-key-prefix",
            prefix.to_str().unwrap(),
            "r/a:1",
        ]);
        assert!(
            line.contains("to resume this rotation pass --new-key"),
            "{line}"
        );
    }
}
