//! `policy kyverno`: write the Kyverno admission policy for the signing keys; and
//! `policy check POLICY.yaml IMAGE...`: predict what Kyverno's policies in a file decide for
//! images, and why.
//!
//! Both are thin: the flags become a [`PolicyInput`] (or a policy file and an image list),
//! and [`crate::policy`] does the work. `policy kyverno` touches no registry; `policy check`
//! asks one only for images a key rule covers.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};

use super::args::{GlobalArgs, ImageListArgs, OutputFormat, SignMode};
use crate::batch::run_ordered;
use crate::error::{one_line, UsageError};
use crate::keys::signing::load_verification_key;
use crate::output::{print_json, print_line, Progress};
use crate::policy::{
    self, evaluate, FailureAction, PolicyFile, PolicyInput, PolicyKind, PolicySpec, Report,
    SignatureMode,
};
use crate::registry::Registry;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a Kyverno policy that admits images signed with these public keys.
    ///
    /// Prints YAML for `kubectl apply -f` (one document per --kind). Several keys are
    /// alternatives (any one admits: the overlap of a key rotation). Key signatures have no
    /// transparency-log entry, so the key attestors say so (rekor.ignoreTlog, ctlog.ignoreSCT).
    #[command(after_help = "Examples:
  pinsign policy kyverno --key cosign.pub --image 'oci.example.org/team/*' > policy.yaml
  pinsign policy kyverno --key old.pub --key new.pub --image 'oci.example.org/*' \\
      --kind image-validating-policy --output-file policy.yaml")]
    Kyverno(KyvernoArgs),
    /// Predict what Kyverno decides for images under the policies in a file, and why.
    ///
    /// For each image: admitted, denied, not covered (no rule protects it: it would start
    /// unchecked) or undetermined, with the deciding rule and the reason. Exit 0 only when
    /// every image would be admitted. Images no key rule covers are judged without contacting
    /// their registry.
    #[command(after_help = "Examples:
  pinsign policy check policy.yaml oci.example.org/team/app:1.4
  pinsign policy check policy.yaml --images-from deployed.txt -o json")]
    Check(CheckArgs),
}

/// `--kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// `kyverno.io/v1` ClusterPolicy with verifyImages rules.
    ClusterPolicy,
    /// `policies.kyverno.io/v1` ImageValidatingPolicy (CEL-based; newer Kyverno releases).
    ImageValidatingPolicy,
}

/// `--failure-action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailureActionArg {
    /// Deny pods whose images fail.
    #[value(name = "Enforce")]
    Enforce,
    /// Admit them and record the failure in a PolicyReport.
    #[value(name = "Audit")]
    Audit,
}

#[derive(Debug, Args)]
pub struct KyvernoArgs {
    /// Public key (PEM file or env://VAR) whose signatures admit an image; repeat for a
    /// rotation overlap. A private key is refused: a policy is published.
    #[arg(long, value_name = "PUB")]
    pub key: Vec<String>,

    /// Image pattern the keys protect, with its registry (wildcards * and ?), like
    /// oci.example.org/team/*; repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub image: Vec<String>,

    /// Resource to write; repeat (or separate with commas) to write both, one YAML document each.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND")]
    pub kind: Vec<KindArg>,

    /// The policy's name (metadata.name) [default: pinsign-verify-images].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// What Kyverno does with a pod whose image fails [default: Enforce].
    #[arg(long, value_enum, ignore_case = true, value_name = "ACTION")]
    pub failure_action: Option<FailureActionArg>,

    /// The repository the signatures are stored in (sign-digest --signature-repo), if not
    /// the image's own. COSIGN_REPOSITORY is not read: a policy says where to look explicitly.
    #[arg(long, value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Where the signatures are, as sign-digest --mode stored them [default: tag].
    #[arg(long, value_enum)]
    pub mode: Option<SignMode>,

    /// A docker-registry Secret Kyverno reads to pull from a private registry; repeatable.
    #[arg(long, value_name = "NAME")]
    pub registry_secret: Vec<String>,

    /// Upstream image pattern verified keylessly instead (like ghcr.io/fluxcd/*); repeatable.
    #[arg(
        long,
        value_name = "PATTERN",
        help_heading = "Keyless rule (upstream images)"
    )]
    pub keyless_image: Vec<String>,

    /// The OIDC issuer of the keyless signer's certificate.
    #[arg(
        long,
        value_name = "URL",
        help_heading = "Keyless rule (upstream images)"
    )]
    pub keyless_issuer: Option<String>,

    /// The signer's identity (certificate SAN), wildcards allowed, like https://github.com/fluxcd/*.
    #[arg(
        long,
        value_name = "S",
        help_heading = "Keyless rule (upstream images)"
    )]
    pub keyless_subject: Option<String>,

    /// The signer's identity as a regular expression.
    #[arg(
        long,
        value_name = "RE",
        help_heading = "Keyless rule (upstream images)"
    )]
    pub keyless_subject_regexp: Option<String>,

    /// Write the policy to FILE (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

impl KyvernoArgs {
    /// The plain input, with the keys loaded (a file that is not a public key is a usage
    /// error: the command line named the wrong file).
    pub fn input(&self) -> anyhow::Result<PolicyInput> {
        let keys = self
            .key
            .iter()
            .map(|k| {
                load_verification_key(k)
                    .map_err(|e| UsageError::new(format!("--key: {}", one_line(&e))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PolicyInput {
            keys,
            images: self.image.clone(),
            kinds: self
                .kind
                .iter()
                .map(|k| match k {
                    KindArg::ClusterPolicy => PolicyKind::ClusterPolicy,
                    KindArg::ImageValidatingPolicy => PolicyKind::ImageValidatingPolicy,
                })
                .collect(),
            name: self.name.clone(),
            failure_action: self.failure_action.map(|a| match a {
                FailureActionArg::Enforce => FailureAction::Enforce,
                FailureActionArg::Audit => FailureAction::Audit,
            }),
            signature_repo: self.signature_repo.clone(),
            mode: self.mode.map(|m| match m {
                // --mode both keeps every signature in the tag too: the default verifier reads it.
                SignMode::Tag | SignMode::Both => SignatureMode::Tag,
                SignMode::Referrers => SignatureMode::Referrers,
            }),
            registry_secrets: self.registry_secret.clone(),
            keyless_images: self.keyless_image.clone(),
            keyless_issuer: self.keyless_issuer.clone(),
            keyless_subject: self.keyless_subject.clone(),
            keyless_subject_regexp: self.keyless_subject_regexp.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy file: ClusterPolicy and ImageValidatingPolicy documents (other kinds are skipped).
    #[arg(value_name = "POLICY.yaml")]
    pub policy: PathBuf,

    #[command(flatten)]
    pub images: ImageListArgs,

    /// The Sigstore trusted root keyless rules are checked against (default: the public-good
    /// instance's, shipped with pinsign; a private Sigstore passes its own). Never fetched.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: OutputFormat,
}

pub fn run(cmd: PolicyCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Kyverno(args) => kyverno(args),
        PolicyCommand::Check(args) => super::block_on(check(args, global)),
    }
}

/// `policy kyverno`.
pub fn kyverno(args: KyvernoArgs) -> anyhow::Result<()> {
    let spec = PolicySpec::new(args.input()?)?;
    for warning in spec.warnings() {
        eprintln!("pinsign: warning: {warning}");
    }
    if let Ok(repo) = std::env::var("COSIGN_REPOSITORY") {
        if !repo.is_empty() && spec.signature_repo().is_none() {
            eprintln!(
                "pinsign: warning: COSIGN_REPOSITORY is set ({repo}), but a policy does not read \
                 it: if the signatures are stored there, pass --signature-repo {repo}"
            );
        }
    }
    let yaml = policy::generate(&spec)?;
    match &args.output_file {
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(yaml.as_bytes())?;
            out.flush()?;
        }
        Some(path) => {
            crate::files::write_atomic(path, yaml.as_bytes(), 0o644)?;
            let kinds: Vec<&str> = spec.kinds().iter().map(|k| k.kubernetes_kind()).collect();
            eprintln!(
                "{} {} written to {}",
                kinds.join(" and "),
                spec.name(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Read and parse the policy file (size-capped); a file that cannot be read as policies is
/// a usage error.
fn read_policies(path: &std::path::Path) -> anyhow::Result<PolicyFile> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| UsageError::new(format!("cannot read the policy file {name}: {e}")))?;
    let mut bytes = Vec::new();
    file.take(policy::parse::MAX_POLICY_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UsageError::new(format!("cannot read the policy file {name}: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| UsageError::new(format!("the policy file {name} is not UTF-8 text")))?;
    let parsed =
        policy::parse_policies(&text, &name).map_err(|e| UsageError::new(e.to_string()))?;
    if parsed.policies.is_empty() {
        return Err(UsageError::new(format!(
            "{name} holds no ClusterPolicy or ImageValidatingPolicy{}",
            match parsed.skipped.first() {
                Some(first) => format!(" ({first})"),
                None => String::new(),
            }
        ))
        .into());
    }
    Ok(parsed)
}

/// The fields every command's JSON has per image, added to the report's verdicts: `input`
/// (the image as given, = `image`), `status` (= `decision`) and `digest` (of `pinned`).
fn with_common_fields(mut doc: serde_json::Value) -> serde_json::Value {
    let Some(images) = doc.get_mut("images").and_then(|v| v.as_array_mut()) else {
        return doc;
    };
    for verdict in images.iter_mut().filter_map(|v| v.as_object_mut()) {
        if let Some(image) = verdict.get("image").cloned() {
            verdict.insert("input".into(), image);
        }
        if let Some(decision) = verdict.get("decision").cloned() {
            verdict.insert("status".into(), decision);
        }
        let digest = verdict
            .get("pinned")
            .and_then(|p| p.as_str())
            .and_then(|p| p.rsplit_once('@'))
            .map(|(_, d)| d.to_string());
        if let Some(digest) = digest {
            verdict.insert("digest".into(), digest.into());
        }
    }
    doc
}

/// `policy check`.
pub async fn check(args: CheckArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let file = read_policies(&args.policy)?;
    let batch = args.images.options();
    let images = batch.collect()?;
    let mut plans = Vec::with_capacity(images.len());
    for image in &images {
        plans.push(policy::plan(&file.policies, image.original())?);
    }
    // A client only when some check needs a registry: matching alone needs none.
    let registry = if plans.iter().any(evaluate::needs_registry) {
        Some(Registry::new(global.registry.options()?)?)
    } else {
        None
    };
    let root = match &args.trusted_root {
        Some(path) => crate::keyless::TrustedRoot::from_file(path)
            .map_err(|e| crate::error::UsageError::new(e.to_string()))?,
        None => crate::keyless::TrustedRoot::public_good()?,
    };
    let shared = Arc::new((registry, root));
    let progress = Progress::new(images.len(), "checking");
    let jobs: Vec<_> = images.into_iter().zip(plans).collect();
    let verdicts = run_ordered(
        jobs,
        batch.concurrency,
        &progress,
        |(image, plan)| {
            let shared = shared.clone();
            async move {
                let (registry, root) = shared.as_ref();
                let performed = match registry {
                    Some(registry) if evaluate::needs_registry(&plan) => {
                        evaluate::perform(registry, &plan, &image, root, super::describe).await
                    }
                    _ => evaluate::Performed::default(),
                };
                let mut verdict = policy::decide(&plan, &performed.results);
                verdict.pinned = performed.pinned;
                verdict
            }
        },
        |v| v.decision != policy::Decision::Admitted,
        |_| {},
    )
    .await;
    let name = args.policy.display().to_string();
    let name = name.as_str();
    let notes: Vec<String> = file
        .policies
        .iter()
        .flat_map(|p| {
            p.notes.iter().map(move |n| {
                format!(
                    "{name}: document {} ({} {}): {n}",
                    p.document,
                    p.kind().kubernetes_kind(),
                    p.name
                )
            })
        })
        .collect();
    let skipped: Vec<String> = file
        .skipped
        .iter()
        .map(|s| format!("{name}: {s}"))
        .collect();
    let report = Report::new(verdicts, skipped, notes);
    match args.output {
        OutputFormat::Json => print_json(&with_common_fields(serde_json::to_value(&report)?))?,
        OutputFormat::Text => {
            for line in report.policy_notes.iter().chain(&report.skipped_documents) {
                eprintln!("pinsign: warning: {line}");
            }
            for line in report.text_output() {
                print_line(&line)?;
            }
        }
    }
    let total = report.images.len();
    let plural = |n: usize| if n == 1 { "image" } else { "images" };
    if report.exit_code() != 0 {
        anyhow::bail!(
            "{} of {total} {} would not be admitted: {} denied, {} not covered, {} undetermined",
            total - report.admitted,
            plural(total),
            report.denied,
            report.not_covered,
            report.undetermined
        );
    }
    if total > 1 {
        eprintln!("all {total} images would be admitted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser as _;

    fn parse(args: &[&str]) -> PolicyCommand {
        let mut argv = vec!["pinsign", "policy"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Policy(cmd) => cmd,
            other => panic!("not a policy command: {other:?}"),
        }
    }

    #[test]
    fn kyverno_flags() {
        let PolicyCommand::Kyverno(a) = parse(&[
            "kyverno",
            "--key",
            "a.pub",
            "--key",
            "env://NEXT_PUB",
            "--image",
            "oci.example.org/team/*",
            "--kind",
            "cluster-policy,image-validating-policy",
            "--failure-action",
            "audit",
            "--mode",
            "tag",
            "--registry-secret",
            "regcred",
            "--keyless-image",
            "ghcr.io/fluxcd/*",
            "--keyless-issuer",
            "https://token.actions.githubusercontent.com",
            "--keyless-subject",
            "https://github.com/fluxcd/*",
            "--output-file",
            "policy.yaml",
        ]) else {
            panic!("kyverno");
        };
        assert_eq!(a.key, ["a.pub", "env://NEXT_PUB"]);
        assert_eq!(
            a.kind,
            [KindArg::ClusterPolicy, KindArg::ImageValidatingPolicy]
        );
        assert_eq!(a.failure_action, Some(FailureActionArg::Audit));
        assert_eq!(a.mode, Some(SignMode::Tag));
        assert_eq!(
            a.output_file.as_deref(),
            Some(std::path::Path::new("policy.yaml"))
        );
    }

    #[test]
    fn failure_action_takes_kyvernos_spelling() {
        for (text, want) in [
            ("Enforce", FailureActionArg::Enforce),
            ("Audit", FailureActionArg::Audit),
        ] {
            let PolicyCommand::Kyverno(a) = parse(&["kyverno", "--failure-action", text]) else {
                panic!()
            };
            assert_eq!(a.failure_action, Some(want));
        }
        let mut argv = vec!["pinsign", "policy", "kyverno", "--failure-action", "Deny"];
        assert!(Cli::try_parse_from(argv.drain(..)).is_err());
    }

    #[test]
    fn check_takes_a_file_then_images() {
        let PolicyCommand::Check(a) = parse(&[
            "check",
            "policy.yaml",
            "reg.example/a:1",
            "reg.example/b:1",
            "--images-from",
            "more.txt",
            "-o",
            "json",
        ]) else {
            panic!("check");
        };
        assert_eq!(a.policy, PathBuf::from("policy.yaml"));
        assert_eq!(a.images.images, ["reg.example/a:1", "reg.example/b:1"]);
        assert_eq!(a.images.images_from.as_deref(), Some("more.txt"));
        assert_eq!(a.output, OutputFormat::Json);
    }

    #[test]
    fn a_missing_key_file_is_a_usage_error() {
        let PolicyCommand::Kyverno(a) = parse(&["kyverno", "--key", "/nonexistent/cosign.pub"])
        else {
            panic!()
        };
        let e = a.input().unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("/nonexistent/cosign.pub"), "{e}");
    }
}
