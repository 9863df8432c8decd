/*!
The command line: the top-level parser and the options every command shares.

Each subcommand's own flags live beside its code in `commands/<name>.rs`. Parsing only
validates; nothing here touches the network or the file system.
*/

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

/// `pinsign --version`: the crate version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PINSIGN_GIT_COMMIT"),
    ")"
);

/// Build, pin, sign and verify container images by digest, cosign-compatible.
///
/// pinsign never signs a tag: every tag is resolved to its digest through the registry
/// first, and the signature covers that digest. Signatures are stored the way cosign
/// stores them, so `cosign verify --key` and Kyverno accept them unchanged.
#[derive(Debug, Parser)]
#[command(
    name = "pinsign",
    version = VERSION,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

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

    /// Trust this CA certificate (PEM) for registry TLS, in addition to the system roots.
    #[arg(long, global = true, value_name = "FILE")]
    pub registry_cacert: Option<PathBuf>,

    /// Talk plain HTTP to registries (for a local test registry only).
    #[arg(long, global = true)]
    pub allow_http_registry: bool,

    /// Use TLS without verifying the registry's certificate (unsafe; prefer --registry-cacert).
    #[arg(long, global = true)]
    pub allow_insecure_registry: bool,
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
            .field("registry_cacert", &self.registry_cacert)
            .field("allow_http_registry", &self.allow_http_registry)
            .field("allow_insecure_registry", &self.allow_insecure_registry)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image with buildah (or copy one with skopeo), push it, print the pinned digest.
    BuildPush(commands::build_push::BuildPushArgs),
    /// Resolve image references to the digests the registry serves.
    ResolveDigest(commands::resolve_digest::ResolveDigestArgs),
    /// Sign images by digest and store the signatures in the registry, as cosign does.
    SignDigest(commands::sign_digest::SignDigestArgs),
    /// Verify images' signatures with public keys, as cosign and Kyverno do.
    Verify(commands::verify::VerifyArgs),
    /// Generate a cosign-compatible key pair (PREFIX.key encrypted, PREFIX.pub).
    GenerateKeyPair(commands::keys::GenerateKeyPairArgs),
    /// Import a PEM private key (PKCS#8 or SEC1, P-256) as a cosign-compatible key pair.
    ImportKeyPair(commands::keys::ImportKeyPairArgs),
    /// Print the public key (PEM) of a private key.
    PublicKey(commands::keys::PublicKeyArgs),
    /// Rotate the signing key: new key pair, re-sign deployed digests (not built yet).
    Rotate(commands::unbuilt::UnbuiltArgs),
    /// Write admission policies for the public key.
    #[command(subcommand)]
    Policy(commands::unbuilt::PolicyCommand),
    /// Print a shell completion script.
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page (roff) on stdout: `pinsign man > pinsign.1`.
    Man,
}

/// Parse the process arguments (exits 2 on a usage error, as clap does).
pub fn parse() -> Cli {
    Cli::parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_output_hides_the_registry_password() {
        let cli = Cli::try_parse_from([
            "pinsign",
            "resolve-digest",
            "x",
            "--registry-username",
            "ci",
            "--registry-password",
            "s3cret-value",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("s3cret-value"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }

    #[test]
    fn registry_flags_are_global() {
        let cli = Cli::try_parse_from([
            "pinsign",
            "resolve-digest",
            "reg.example/app:1",
            "--allow-http-registry",
            "--registry-cacert",
            "ca.pem",
        ])
        .unwrap();
        assert!(cli.global.registry.allow_http_registry);
        assert_eq!(
            cli.global.registry.registry_cacert.as_deref(),
            Some(std::path::Path::new("ca.pem"))
        );
        let cli = Cli::try_parse_from([
            "pinsign",
            "-v",
            "--allow-insecure-registry",
            "resolve-digest",
            "x",
        ])
        .unwrap();
        assert!(cli.global.registry.allow_insecure_registry);
        assert_eq!(cli.global.verbose, 1);
    }
}
