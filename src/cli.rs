/*!
The command line: the top-level parser, and the dispatch from a parsed command line to the
command that runs it.

Each subcommand's own flags live beside its code in `commands/<name>.rs`, the shared ones in
`commands/args.rs`. Parsing only validates; nothing here touches the network or the file
system. The dependency goes one way: `cli` uses `commands`, never the reverse.
*/

use clap::{CommandFactory, Parser, Subcommand};

use crate::commands::{self, args::GlobalArgs};

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
    /// Rotate the signing key: re-sign every image in use with a new key where the old one's
    /// signature verifies, in the same place; later, --prune-old removes the old signatures.
    Rotate(commands::rotate::RotateArgs),
    /// Kyverno admission policies: write them for the public keys, predict what they decide.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Sign a file (a release tarball) with a key: a Sigstore bundle or cosign's detached signature.
    SignBlob(commands::blob::SignBlobArgs),
    /// Verify a file's signature: a Sigstore bundle or a detached signature, with a key or keyless.
    VerifyBlob(commands::blob::VerifyBlobArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout: `pinsign man > pinsign.1`.
    Man,
}

/// Parse the process arguments (exits 2 on a usage error, as clap does).
pub fn parse() -> Cli {
    Cli::parse()
}

/// Run a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::BuildPush(args) => commands::block_on(commands::build_push::run(args, &global)),
        Command::ResolveDigest(args) => {
            commands::block_on(commands::resolve_digest::run(args, &global))
        }
        Command::SignDigest(args) => commands::block_on(commands::sign_digest::run(args, &global)),
        Command::Verify(args) => commands::block_on(commands::verify::run(args, &global)),
        Command::GenerateKeyPair(args) => commands::keys::generate_key_pair(args),
        Command::ImportKeyPair(args) => commands::keys::import_key_pair(args),
        Command::PublicKey(args) => commands::keys::public_key(args),
        Command::Rotate(args) => commands::block_on(commands::rotate::run(args, &global)),
        Command::Policy(cmd) => commands::policy::run(cmd, &global),
        Command::SignBlob(args) => commands::blob::sign_blob(args),
        Command::VerifyBlob(args) => commands::blob::verify_blob(args),
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
    }
}

/// `pinsign completions SHELL`: generated from the clap definition, so it always lists
/// exactly the flags the binary takes.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "pinsign", &mut std::io::stdout());
    Ok(())
}

/// The man page of the whole command line: the top-level page, then for every subcommand
/// a section with its synopsis, description and options (one page, as `man pinsign` shows).
fn man() -> anyhow::Result<()> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_string();
        let page = clap_mangen::Man::new(sub.clone().bin_name(format!("pinsign {name}")));
        out.extend_from_slice(format!(".SH \"PINSIGN {}\"\n", name.to_uppercase()).as_bytes());
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
    }
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, &out)?;
    std::io::Write::flush(&mut stdout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
