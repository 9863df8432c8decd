/*!
Flags shared by several commands, and the one place where they become plain options.

The modules below the commands take plain data ([`RegistryOptions`], [`PasswordSource`],
[`BatchOptions`], [`SignOptions`]); clap types stop here. Conflicting or half-given flags are
usage errors (exit 2) found before any work starts.
*/

use std::path::PathBuf;

use clap::Args;

use crate::batch::{BatchOptions, ListSource};
use crate::error::UsageError;
use crate::keys::PasswordSource;
use crate::reference::Repository;
use crate::registry::{AuthFiles, CredentialSource, Credentials, HostSettings, RegistryOptions};
use crate::signing::{Placement, ReferrersVia, SignOptions};
use crate::verification::Lookup;

/// Options accepted before or after any subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Log what pinsign does on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// No progress bars and no buildah/skopeo output; only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// How to reach registries. Without credentials flags, credentials come from the auth
/// files docker, podman, buildah and skopeo use.
#[derive(Clone, Default, Args)]
#[command(next_help_heading = "Registry options")]
pub struct RegistryArgs {
    /// Registry user name (overrides auth files).
    #[arg(
        long,
        global = true,
        env = "PINSIGN_REGISTRY_USERNAME",
        value_name = "USER"
    )]
    pub registry_username: Option<String>,

    /// Registry password or token; prefer the environment variable over the flag.
    #[arg(
        long,
        global = true,
        env = "PINSIGN_REGISTRY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub registry_password: Option<String>,

    /// Registry bearer token, sent as is (like cosign's); prefer the environment variable.
    #[arg(
        long,
        global = true,
        env = "PINSIGN_REGISTRY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub registry_token: Option<String>,

    /// Trust this CA certificate (PEM) for registry TLS, in addition to the system roots.
    #[arg(long, global = true, value_name = "FILE")]
    pub registry_cacert: Option<PathBuf>,

    /// Talk plain HTTP to every registry (localhost, 127.0.0.1, [::1] and registries.conf
    /// insecure entries need no flag).
    #[arg(long, global = true)]
    pub allow_http_registry: bool,

    /// Use TLS without verifying the registry's certificate (unsafe; prefer --registry-cacert).
    #[arg(long, global = true)]
    pub allow_insecure_registry: bool,

    /// How long to wait for a registry's answer (e.g. 30s, 2m, or seconds); connecting may take
    /// at most 10 s of it, one image at most 10 times it.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
}

/// `30s`, `1m30s`, `500ms`, `2h`, or a number of seconds; between 1 ms and 1 hour.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let bad = || format!("{text:?} is not a duration (e.g. 30s, 2m, 1m30s, 500ms, or seconds)");
    let mut total = Duration::ZERO;
    if let Ok(secs) = text.parse::<u64>() {
        total = Duration::from_secs(secs);
    } else {
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let part = match &rest[..unit_len] {
                "ms" => Duration::from_millis(number),
                "s" => Duration::from_secs(number),
                "m" => Duration::from_secs(number.saturating_mul(60)),
                "h" => Duration::from_secs(number.saturating_mul(3600)),
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total = total.saturating_add(part);
        }
    }
    if total < Duration::from_millis(1) || total > Duration::from_secs(3600) {
        return Err(format!("{text:?} is out of range: give between 1ms and 1h"));
    }
    Ok(total)
}

/// Never shows the password, so no `{:?}` of the command line can leak it.
impl std::fmt::Debug for RegistryArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryArgs")
            .field("registry_username", &self.registry_username)
            .field(
                "registry_password",
                &self.registry_password.as_ref().map(|_| "<hidden>"),
            )
            .field(
                "registry_token",
                &self.registry_token.as_ref().map(|_| "<hidden>"),
            )
            .field("registry_cacert", &self.registry_cacert)
            .field("allow_http_registry", &self.allow_http_registry)
            .field("allow_insecure_registry", &self.allow_insecure_registry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RegistryArgs {
    /// The plain registry options. Conflicting or half-given options are usage errors.
    pub fn options(&self) -> anyhow::Result<RegistryOptions> {
        let credentials =
            match (&self.registry_username, &self.registry_password) {
                (Some(u), Some(p)) => {
                    let from_env = std::env::var("PINSIGN_REGISTRY_USERNAME").ok().as_deref()
                        == Some(u.as_str());
                    let how = if from_env {
                        "PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD"
                    } else {
                        "--registry-username/--registry-password"
                    };
                    Some(Credentials::new(
                        u.clone(),
                        p.clone(),
                        CredentialSource::Given(how.to_string()),
                    ))
                }
                (None, None) => None,
                (Some(_), None) => return Err(UsageError::new(
                    "--registry-username needs --registry-password (or PINSIGN_REGISTRY_PASSWORD)",
                )
                .into()),
                (None, Some(_)) => return Err(UsageError::new(
                    "--registry-password needs --registry-username (or PINSIGN_REGISTRY_USERNAME)",
                )
                .into()),
            };
        let token = self.registry_token.as_deref().filter(|t| !t.is_empty());
        let credentials = match (credentials, token) {
            (Some(_), Some(_)) => return Err(UsageError::new(
                "--registry-token (PINSIGN_REGISTRY_TOKEN) and --registry-username/--registry-password (PINSIGN_REGISTRY_*) contradict each other: give one",
            )
            .into()),
            (None, Some(t)) => {
                let from_env = std::env::var("PINSIGN_REGISTRY_TOKEN").ok().as_deref() == Some(t);
                let how = if from_env {
                    "PINSIGN_REGISTRY_TOKEN"
                } else {
                    "--registry-token"
                };
                Some(Credentials::registry_token(
                    t.to_string(),
                    CredentialSource::Given(how.to_string()),
                ))
            }
            (credentials, None) => credentials,
        };
        if self.allow_insecure_registry && self.registry_cacert.is_some() {
            return Err(UsageError::new(
                "--allow-insecure-registry and --registry-cacert contradict each other: with a CA, drop --allow-insecure-registry",
            )
            .into());
        }
        let mut opts = RegistryOptions {
            credentials,
            ca_file: self.registry_cacert.clone(),
            allow_http: self.allow_http_registry,
            allow_insecure: self.allow_insecure_registry,
            auth_files: AuthFiles::from_env(),
            // A broken registries.conf is bad input: a usage error naming the file.
            hosts: HostSettings::from_env().map_err(|e| UsageError::new(e.to_string()))?,
            ..RegistryOptions::default()
        };
        if let Some(t) = self.timeout {
            opts.timeout = t;
        }
        // Tests shorten the retry backoff; never set in production.
        if let Some(ms) = std::env::var("PINSIGN_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            opts.retry_base = std::time::Duration::from_millis(ms);
        }
        Ok(opts)
    }
}

/// Where a private key's password comes from: `--password-file` when given (an explicit flag
/// wins), else `PINSIGN_PASSWORD`, `COSIGN_PASSWORD`, a prompt (see [`crate::keys::password`]).
#[derive(Debug, Clone, Default, Args)]
pub struct PasswordArgs {
    /// Read the private key password from this file (first line); given, it wins over
    /// PINSIGN_PASSWORD and COSIGN_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl PasswordArgs {
    pub fn source(&self) -> PasswordSource {
        PasswordSource {
            file: self.password_file.clone(),
        }
    }
}

/// The images a batch command works on.
#[derive(Debug, Clone, Args)]
pub struct ImageListArgs {
    /// Images: REG/REPO:TAG (pinned through the registry first) or REG/REPO@sha256:...
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,

    /// Read more images from FILE, or stdin with '-': one per line, '#' starts a comment.
    #[arg(long, value_name = "FILE|-")]
    pub images_from: Option<String>,

    /// How many images to work on at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

impl ImageListArgs {
    pub fn options(&self) -> BatchOptions {
        BatchOptions {
            images: self.images.clone(),
            images_from: self.images_from.as_deref().map(ListSource::parse),
            concurrency: self.concurrency as usize,
        }
    }
}

/// `--shard I/N` of `sign-digest` and `verify`.
#[derive(Debug, Clone, Default, Args)]
pub struct ShardArgs {
    /// Work only on job I's share of N (by digest, as rotate --shard): N jobs of a CI matrix
    /// given the same images cover each exactly once.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<crate::batch::Shard>,
}

fn parse_shard(text: &str) -> Result<crate::batch::Shard, String> {
    crate::batch::Shard::parse(text).map_err(|e| e.to_string())
}

/// `--output`: text lines for people, or one JSON document on stdout for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Where signatures are stored (`--mode`). Unset: `tag` for simple signing; for bundles the
/// referrers API where the registry has it, else the referrers tag index (as cosign v3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignMode {
    /// Found by a tag: the `sha256-<hex>.sig` tag (simplesigning; what cosign, Kyverno's
    /// default verifier and Zot read), or for bundles the referrers tag index `sha256-<hex>`,
    /// kept even where the registry has the referrers API.
    Tag,
    /// Found through the OCI 1.1 referrers API only: an `artifact.sig.v1` artifact
    /// (simplesigning) or a bundle referrer; refused on a registry without the API.
    Referrers,
    /// Both (simplesigning, registries with the referrers API, such as Zot): the artifact and
    /// the `.sig` tag, which every signer heals from the artifacts, so no signature goes missing
    /// from the tag even when one signer's write lands late.
    Both,
}

/// The signature format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignatureFormat {
    /// cosign's simple signing payload, in the `.sig` tag (what Kyverno ClusterPolicy's
    /// default verifier reads).
    #[default]
    Simplesigning,
    /// A Sigstore bundle (DSSE, in-toto statement) attached as an OCI 1.1 referrer: what
    /// `cosign sign` v3 writes by default.
    Bundle,
}

/// Where to look for signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VerifyMode {
    /// What tags hold: the `sha256-<hex>.sig` tag and the referrers tag index `sha256-<hex>`.
    Tag,
    /// The OCI 1.1 referrers API only (signature artifacts and bundles).
    Referrers,
    /// Everything: the `.sig` tag, and the referrers through the API, or the referrers tag
    /// index where the registry has no API.
    #[default]
    Any,
}

/// What every signature of a run carries and where it goes: shared by `sign-digest` and
/// `build-push --sign`, so both store signatures exactly alike.
#[derive(Debug, Clone, Args)]
pub struct SignatureArgs {
    /// Annotation KEY=VALUE put in the payload's "optional" map (repeatable; --annotations
    /// as in cosign).
    #[arg(
        short = 'a',
        long = "annotation",
        visible_alias = "annotations",
        value_name = "KEY=VALUE"
    )]
    pub annotations: Vec<String>,

    /// On an index, also sign every child manifest.
    #[arg(short = 'r', long)]
    pub recursive: bool,

    /// Store signatures in this repository instead of the image's (like COSIGN_REPOSITORY).
    #[arg(long, env = "COSIGN_REPOSITORY", value_name = "REG/REPO")]
    pub signature_repo: Option<String>,

    /// Signature format: simplesigning (the .sig tag) or bundle (a Sigstore bundle referrer,
    /// as cosign v3 signs).
    #[arg(long, value_enum, default_value_t)]
    pub format: SignatureFormat,

    /// Where to store signatures: tag, referrers, or both (tag and referrers artifact; the
    /// mode for Zot). Default: tag for simplesigning; for bundles the referrers API where the
    /// registry has it, else the referrers tag index.
    #[arg(long, value_enum)]
    pub mode: Option<SignMode>,
}

impl SignatureArgs {
    /// The signing options for a key (`KEY`: a path or env://VAR).
    pub fn options(&self, key: &str, password: &PasswordArgs) -> anyhow::Result<SignOptions> {
        let repository = Repository::parse_optional(self.signature_repo.as_deref())?;
        let placement = match (self.format, self.mode, repository) {
            (SignatureFormat::Simplesigning, None | Some(SignMode::Tag), repository) => {
                Placement::Tag { repository }
            }
            (SignatureFormat::Simplesigning, Some(SignMode::Referrers), None) => {
                Placement::Referrers
            }
            (SignatureFormat::Bundle, None, repository) => Placement::Bundle {
                via: ReferrersVia::Auto,
                repository,
            },
            (SignatureFormat::Bundle, Some(SignMode::Tag), repository) => Placement::Bundle {
                via: ReferrersVia::Tag,
                repository,
            },
            (SignatureFormat::Bundle, Some(SignMode::Referrers), None) => Placement::Bundle {
                via: ReferrersVia::Api,
                repository: None,
            },
            (SignatureFormat::Simplesigning, Some(SignMode::Both), None) => Placement::Both,
            (SignatureFormat::Bundle, Some(SignMode::Both), _) => return Err(UsageError::new(
                "--mode both is for simplesigning signatures (the .sig tag and its referrers); a bundle is one referrer: use --mode referrers or no --mode",
            )
            .into()),
            (_, Some(SignMode::Both), Some(_)) => return Err(UsageError::new(
                "--signature-repo (or COSIGN_REPOSITORY) does not go with --mode both: the tag is healed from the referrers beside the image; unset it",
            )
            .into()),
            (_, Some(SignMode::Referrers), Some(_)) => return Err(UsageError::new(
                "--signature-repo (or COSIGN_REPOSITORY) does not go with --mode referrers: pinsign verify --mode referrers looks beside the image; unset it, or use --mode tag (with --format bundle, or no --mode)",
            )
            .into()),
        };
        Ok(SignOptions {
            key: key.to_string(),
            password: password.source(),
            annotations: crate::signature::parse_annotations(&self.annotations)?,
            placement,
            recursive: self.recursive,
        })
    }

    /// True when a flag that only means something when signing was given.
    pub fn any_signing_flag(&self) -> bool {
        !self.annotations.is_empty()
            || self.recursive
            || self.mode.is_some()
            || self.format != SignatureFormat::default()
    }
}

/// cosign's signing flags that pinsign takes with the same meaning, so a cosign command line
/// runs unchanged: `-y` (pinsign never asks) and `--tlog-upload=false` (pinsign never uploads
/// to a transparency log; `true` is refused, not ignored).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "cosign compatibility")]
pub struct CosignSignArgs {
    /// Accepted as in cosign; pinsign never asks for confirmation (it uploads nothing to a
    /// transparency log).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Accepted as --tlog-upload=false: pinsign writes no transparency log (Rekor) entry;
    /// true is refused.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub tlog_upload: Option<bool>,
}

impl CosignSignArgs {
    /// Usage errors for what pinsign cannot do as asked (image signing adds
    /// [`AttachmentArgs::check`] and [`refuse_docker_media_types`]).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.tlog_upload == Some(true) {
            return Err(UsageError::new(
                "--tlog-upload=true: pinsign has no transparency log: it never uploads to Rekor (key signatures carry no tlog entry, as with cosign --tlog-upload=false); drop the flag or pass --tlog-upload=false",
            )
            .into());
        }
        Ok(())
    }

    /// [`CosignSignArgs::check`] for signing images: also the tag prefix and the media types.
    pub fn check_image_signing(&self, attachment: &AttachmentArgs) -> anyhow::Result<()> {
        self.check()?;
        attachment.check()?;
        refuse_docker_media_types(|v| std::env::var_os(v))
    }
}

/// cosign's `--attachment-tag-prefix` (a prefix on the `sha256-<hex>.sig`/`.att` tag names).
/// pinsign refuses a non-empty one rather than write or read tags nobody else finds: cosign
/// itself deprecated the flag ("please use OCI referrers"), Kyverno has no setting for it
/// (kyverno/kyverno#6314, closed unimplemented) and Zot recognises signatures only by
/// `sha256-<64 hex>.sig`, so prefixed signatures would be invisible to the admission check
/// and to the registry. `--signature-repo` (`COSIGN_REPOSITORY`) keeps signatures apart in a
/// way all of them read.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "cosign compatibility")]
pub struct AttachmentArgs {
    /// Refused unless empty (cosign deprecated it; Kyverno and Zot read only sha256-<hex>.sig
    /// tags): use --signature-repo to keep signatures apart.
    #[arg(long, value_name = "PREFIX")]
    pub attachment_tag_prefix: Option<String>,
}

impl AttachmentArgs {
    pub fn check(&self) -> anyhow::Result<()> {
        match self.attachment_tag_prefix.as_deref() {
            None | Some("") => Ok(()),
            Some(prefix) => Err(UsageError::new(format!(
                "--attachment-tag-prefix {prefix:?} is not supported: cosign deprecated it (use OCI referrers), and Kyverno and Zot find signatures only at sha256-<hex>.sig, so prefixed tags would be invisible to them; keep signatures apart with --signature-repo (COSIGN_REPOSITORY) instead"
            ))
            .into()),
        }
    }
}

/// `COSIGN_DOCKER_MEDIA_TYPES` set to true (Go's `strconv.ParseBool`, as cosign reads it) asks
/// for Docker v2 schema 2 signature manifests. pinsign writes OCI only: Zot, the production
/// registry, refuses Docker media types unless its `docker2s2` compat setting is on, and
/// cosign, Kyverno and every registry with OCI support read OCI signatures. Refused, so a
/// legacy-registry script learns it at once instead of failing at the push.
pub fn refuse_docker_media_types(
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> anyhow::Result<()> {
    let value = env("COSIGN_DOCKER_MEDIA_TYPES");
    let on = value
        .as_ref()
        .and_then(|v| v.to_str())
        .is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"));
    if on {
        return Err(UsageError::new(
            "COSIGN_DOCKER_MEDIA_TYPES is set: pinsign writes signatures as OCI manifests only (Zot accepts no Docker media types without its docker2s2 compat setting; cosign and Kyverno read OCI); unset it",
        )
        .into());
    }
    Ok(())
}

/// Where `verify` looks, from `--mode` and `--signature-repo`.
pub fn lookup(mode: VerifyMode, signature_repo: Option<&str>) -> anyhow::Result<Lookup> {
    let repository = Repository::parse_optional(signature_repo)?;
    Ok(match (mode, repository) {
        (VerifyMode::Tag, repository) => Lookup::Tag { repository },
        (VerifyMode::Any, repository) => Lookup::Any { repository },
        (VerifyMode::Referrers, None) => Lookup::Referrers,
        (VerifyMode::Referrers, Some(_)) => return Err(UsageError::new(
            "--signature-repo (or COSIGN_REPOSITORY) does not apply to --mode referrers: referrers live beside their subject; unset it or use --mode tag or any",
        )
        .into()),
    })
}

/// Keyless verification: who must have signed (the certificate's identity and OIDC issuer),
/// checked offline against a trusted root. Shared by `verify` and `verify-blob`.
#[derive(Debug, Clone, Default, Args)]
#[command(
    next_help_heading = "Keyless verification (instead of --key; offline, no TUF, no network)"
)]
pub struct KeylessArgs {
    /// The identity the certificate must name exactly (a workflow URI, an email).
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,

    /// A regular expression the identity must match (unanchored, as in cosign: write ^...$).
    #[arg(long, value_name = "RE")]
    pub certificate_identity_regexp: Option<String>,

    /// The OIDC issuer the certificate must name exactly (e.g. https://token.actions.githubusercontent.com).
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,

    /// A regular expression the OIDC issuer must match (unanchored, as in cosign).
    #[arg(long, value_name = "RE")]
    pub certificate_oidc_issuer_regexp: Option<String>,

    /// The Sigstore trusted root (trusted_root.json) to check against; default: the
    /// public-good instance's, shipped with pinsign. Never fetched.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,

    /// The GitHub workflow trigger the certificate must name (e.g. push).
    #[arg(long, value_name = "EVENT")]
    pub certificate_github_workflow_trigger: Option<String>,

    /// The commit SHA the certificate must name.
    #[arg(long, value_name = "SHA")]
    pub certificate_github_workflow_sha: Option<String>,

    /// The GitHub workflow name the certificate must name.
    #[arg(long, value_name = "NAME")]
    pub certificate_github_workflow_name: Option<String>,

    /// The repository (owner/name) the certificate must name.
    #[arg(long, value_name = "OWNER/REPO")]
    pub certificate_github_workflow_repository: Option<String>,

    /// The git ref the certificate must name (e.g. refs/tags/v1.0.0).
    #[arg(long, value_name = "REF")]
    pub certificate_github_workflow_ref: Option<String>,
}

impl KeylessArgs {
    /// True when any keyless flag was given.
    pub fn given(&self) -> bool {
        self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
            || self.trusted_root.is_some()
            || self.github().is_some()
    }

    fn github(&self) -> Option<crate::keyless::GithubWorkflowPolicy> {
        let g = crate::keyless::GithubWorkflowPolicy {
            trigger: self.certificate_github_workflow_trigger.clone(),
            sha: self.certificate_github_workflow_sha.clone(),
            name: self.certificate_github_workflow_name.clone(),
            repository: self.certificate_github_workflow_repository.clone(),
            git_ref: self.certificate_github_workflow_ref.clone(),
        };
        let any = g.trigger.is_some()
            || g.sha.is_some()
            || g.name.is_some()
            || g.repository.is_some()
            || g.git_ref.is_some();
        any.then_some(g)
    }

    /// The policy and trusted root, or a usage error saying what is missing. `keys` is how
    /// many `--key`s were given: key and keyless verification are never mixed in one run.
    pub fn keyless(&self, keys: usize) -> anyhow::Result<Option<crate::keyless::KeylessTrust>> {
        use crate::keyless::{IdentityPolicy, Matcher, TrustedRoot};
        if !self.given() {
            return Ok(None);
        }
        if keys > 0 {
            return Err(UsageError::new(
                "--key and keyless flags (--certificate-identity..., --trusted-root) do not mix: a key rule and a keyless rule are separate checks; run two verifications",
            )
            .into());
        }
        let identity = match (&self.certificate_identity, &self.certificate_identity_regexp) {
            (Some(id), _) => Matcher::exact(id.clone()),
            (None, Some(re)) => Matcher::regex(re, "--certificate-identity-regexp")
                .map_err(|e| UsageError::new(e.to_string()))?,
            (None, None) => {
                return Err(UsageError::new(
                    "keyless verification needs --certificate-identity or --certificate-identity-regexp (who must have signed)",
                )
                .into())
            }
        };
        let issuer = match (&self.certificate_oidc_issuer, &self.certificate_oidc_issuer_regexp) {
            (Some(url), _) => Matcher::exact(url.clone()),
            (None, Some(re)) => Matcher::regex(re, "--certificate-oidc-issuer-regexp")
                .map_err(|e| UsageError::new(e.to_string()))?,
            (None, None) => {
                return Err(UsageError::new(
                    "keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp (e.g. https://token.actions.githubusercontent.com)",
                )
                .into())
            }
        };
        let mut policy = IdentityPolicy::new(identity, issuer);
        if let Some(github) = self.github() {
            policy = policy.with_github_workflow(github);
        }
        let root = match &self.trusted_root {
            Some(path) => {
                TrustedRoot::from_file(path).map_err(|e| UsageError::new(e.to_string()))?
            }
            None => TrustedRoot::public_good()?,
        };
        Ok(Some(crate::keyless::KeylessTrust { policy, root }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_compatibility_flags() {
        use std::ffi::OsString;
        let ok = CosignSignArgs {
            yes: true,
            tlog_upload: Some(false),
        };
        assert!(ok.check().is_ok());
        let empty = AttachmentArgs {
            attachment_tag_prefix: Some(String::new()),
        };
        assert!(empty.check().is_ok());
        let e = CosignSignArgs {
            tlog_upload: Some(true),
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("no transparency log"), "{e}");
        let e = AttachmentArgs {
            attachment_tag_prefix: Some("sbom-".into()),
        }
        .check()
        .unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("--signature-repo"), "{e}");
        for (value, refused) in [
            ("1", true),
            ("true", true),
            ("T", true),
            ("0", false),
            ("false", false),
            ("", false),
            ("yes", false),
        ] {
            let got = refuse_docker_media_types(|k| {
                (k == "COSIGN_DOCKER_MEDIA_TYPES").then(|| OsString::from(value))
            });
            assert_eq!(got.is_err(), refused, "{value:?}");
        }
        assert!(refuse_docker_media_types(|_| None).is_ok());
    }

    #[test]
    fn conflicting_tls_options_are_usage_errors() {
        let args = RegistryArgs {
            allow_insecure_registry: true,
            registry_cacert: Some("ca.pem".into()),
            ..Default::default()
        };
        let e = args.options().unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        let args = RegistryArgs {
            registry_username: Some("u".into()),
            ..Default::default()
        };
        assert!(args.options().is_err());
        let args = RegistryArgs {
            registry_username: Some("u".into()),
            registry_password: Some("p".into()),
            registry_token: Some("t".into()),
            ..Default::default()
        };
        let e = args.options().unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(e.to_string().contains("--registry-token"), "{e}");
    }

    #[test]
    fn timeouts_parse_as_durations_or_seconds() {
        use std::time::Duration;
        assert_eq!(parse_timeout("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_timeout("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "abc", "5x", "0", "2h", "-1", "1.5s"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_and_mode_make_the_placement() {
        let sigs = Repository::parse("reg.example/sigs").unwrap();
        let placement = |format, mode, repo: Option<&str>| {
            SignatureArgs {
                annotations: vec![],
                recursive: false,
                signature_repo: repo.map(str::to_string),
                format,
                mode,
            }
            .options("k", &PasswordArgs::default())
            .unwrap()
            .placement
        };
        use SignatureFormat::{Bundle, Simplesigning};
        assert_eq!(
            placement(Simplesigning, None, None),
            Placement::Tag { repository: None }
        );
        assert_eq!(
            placement(Simplesigning, Some(SignMode::Tag), Some("reg.example/sigs")),
            Placement::Tag {
                repository: Some(sigs.clone())
            }
        );
        assert_eq!(
            placement(Simplesigning, Some(SignMode::Referrers), None),
            Placement::Referrers
        );
        assert_eq!(
            placement(Bundle, None, None),
            Placement::Bundle {
                via: ReferrersVia::Auto,
                repository: None
            }
        );
        assert_eq!(
            placement(Bundle, Some(SignMode::Tag), Some("reg.example/sigs")),
            Placement::Bundle {
                via: ReferrersVia::Tag,
                repository: Some(sigs.clone())
            }
        );
        assert_eq!(
            placement(Bundle, None, Some("reg.example/sigs")),
            Placement::Bundle {
                via: ReferrersVia::Auto,
                repository: Some(sigs)
            }
        );
        assert_eq!(
            placement(Bundle, Some(SignMode::Referrers), None),
            Placement::Bundle {
                via: ReferrersVia::Api,
                repository: None
            }
        );
        assert_eq!(
            placement(Simplesigning, Some(SignMode::Both), None),
            Placement::Both
        );
        for (format, repo) in [(Bundle, None), (Simplesigning, Some("reg.example/sigs"))] {
            let e = SignatureArgs {
                annotations: vec![],
                recursive: false,
                signature_repo: repo.map(str::to_string),
                format,
                mode: Some(SignMode::Both),
            }
            .options("k", &PasswordArgs::default())
            .unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2, "{e}");
        }
    }

    #[test]
    fn referrers_mode_with_a_signature_repo_is_refused_in_sign_and_verify() {
        for format in [SignatureFormat::Simplesigning, SignatureFormat::Bundle] {
            let args = SignatureArgs {
                annotations: vec![],
                recursive: false,
                signature_repo: Some("reg.example/sigs".into()),
                format,
                mode: Some(SignMode::Referrers),
            };
            let e = args.options("k", &PasswordArgs::default()).unwrap_err();
            assert_eq!(crate::error::exit_code(&e), 2);
        }
        let e = lookup(VerifyMode::Referrers, Some("reg.example/sigs")).unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        assert!(matches!(
            lookup(VerifyMode::Any, Some("reg.example/sigs")).unwrap(),
            Lookup::Any {
                repository: Some(_)
            }
        ));
        // An empty COSIGN_REPOSITORY means the image's own repository, as in cosign.
        assert!(matches!(
            lookup(VerifyMode::Referrers, Some("")).unwrap(),
            Lookup::Referrers
        ));
    }
}
