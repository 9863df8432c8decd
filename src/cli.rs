/*!
The command line: the top-level parser, and the dispatch from a parsed command line to the
command that runs it.

Each subcommand's own flags live beside its code in `commands/<name>.rs`, the shared ones in
`commands/args.rs`. Parsing only validates; nothing here touches the network or the file
system. The dependency goes one way: `cli` uses `commands`, never the reverse.
*/

use clap::{CommandFactory, FromArgMatches as _, Parser, Subcommand};

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
    #[command(after_help = "Examples:
  pinsign build-push --image oci.example.org/team/app:1.4 --digest-file app.digest
  pinsign build-push --image oci.example.org/team/app:1.4 --platform linux/amd64,linux/arm64 \\
      --sign -r --key env://COSIGN_PRIVATE_KEY
  pinsign build-push --image oci.example.org/team/app:1.4 --from oci-archive:app.tar --digest-only")]
    BuildPush(commands::build_push::BuildPushArgs),
    /// Resolve image references to the digests the registry serves.
    #[command(after_help = "Examples:
  pinsign resolve-digest oci.example.org/team/app:1.4
  DIGEST=$(pinsign resolve-digest --digest-only oci.example.org/team/app:1.4)
  pinsign resolve-digest --images-from images.txt --concurrency 8 -o json")]
    ResolveDigest(commands::resolve_digest::ResolveDigestArgs),
    /// Sign images by digest and store the signatures in the registry, as cosign does.
    #[command(after_help = "Examples:
  pinsign sign-digest oci.example.org/team/app:1.4 --key env://COSIGN_PRIVATE_KEY --expect-digest app.digest
  pinsign sign-digest --images-from deployed.txt --key cosign.key -a git_sha=1f2e3d --concurrency 8
  pinsign sign-digest oci.example.org/team/app:1.4 --key cosign.key --upload=false \\
      --output-signature app.sig --output-payload app.payload")]
    SignDigest(commands::sign_digest::SignDigestArgs),
    /// Verify images' signatures with public keys, as cosign and Kyverno do.
    #[command(after_help = "Examples:
  pinsign verify oci.example.org/team/app:1.4 --key cosign.pub
  pinsign verify --images-from deployed.txt --key old.pub --key new.pub -o json
  pinsign verify oci.example.org/team/app:1.4 --key cosign.pub -a git_sha=1f2e3d --mode tag")]
    Verify(commands::verify::VerifyArgs),
    /// Generate a cosign-compatible key pair (PREFIX.key encrypted, PREFIX.pub).
    #[command(after_help = "Examples:
  COSIGN_PASSWORD=... pinsign generate-key-pair
  pinsign generate-key-pair --output-key-prefix release --password-file release.pw")]
    GenerateKeyPair(commands::keys::GenerateKeyPairArgs),
    /// Import a PEM private key (PKCS#8 or SEC1, P-256) as a cosign-compatible key pair.
    #[command(after_help = "Examples:
  pinsign import-key-pair --key ec-private.pem
  pinsign import-key-pair --key env://PEM_PRIVATE_KEY --output-key-prefix ci")]
    ImportKeyPair(commands::keys::ImportKeyPairArgs),
    /// Print the public key (PEM) of a private key.
    #[command(after_help = "Examples:
  pinsign public-key --key cosign.key > cosign.pub
  pinsign public-key --key env://COSIGN_PRIVATE_KEY --outfile cosign.pub")]
    PublicKey(commands::keys::PublicKeyArgs),
    /// Rotate the signing key: re-sign every image in use with a new key where the old one's
    /// signature verifies, in the same place; later, --prune-old removes the old signatures.
    #[command(after_help = "Examples:
  kubectl get pods -A -o json > pods.json
  pinsign rotate --old-key old.pub --new-key-prefix new --deployed-from pods.json --dry-run
  pinsign rotate --old-key old.pub --new-key new.key --images-from deployed.txt --prune-old")]
    Rotate(commands::rotate::RotateArgs),
    /// Kyverno admission policies: write them for the public keys, predict what they decide.
    #[command(subcommand)]
    #[command(after_help = "Examples:
  pinsign policy kyverno --key cosign.pub --image 'oci.example.org/team/*' > policy.yaml
  pinsign policy check policy.yaml oci.example.org/team/app:1.4")]
    Policy(commands::policy::PolicyCommand),
    /// Sign a file (a release tarball) with a key: a Sigstore bundle or cosign's detached signature.
    SignBlob(commands::blob::SignBlobArgs),
    /// Verify a file's signature: a Sigstore bundle or a detached signature, with a key or keyless.
    VerifyBlob(commands::blob::VerifyBlobArgs),
    /// Print where an image's signatures are stored (cosign's triangulate): the .sig tag by
    /// default; -o json also says which of the .sig tag, referrers API and referrers tag hold any.
    Triangulate(commands::attached::TriangulateArgs),
    /// Show an image and everything attached to it: the .sig, .att and .sbom tags and the
    /// referrers by artifact type (cosign's tree).
    Tree(commands::attached::TreeArgs),
    /// Download what is attached to an image (cosign's download).
    #[command(subcommand)]
    #[command(after_help = "Examples:
  pinsign download signature oci.example.org/team/app:1.4
  pinsign download signature oci.example.org/team/app:1.4 -o json")]
    Download(commands::attached::DownloadCommand),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  pinsign completions bash > /etc/bash_completion.d/pinsign
  pinsign completions zsh > \"${fpath[1]}/_pinsign\"
  pinsign completions fish > ~/.config/fish/completions/pinsign.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout: `pinsign man > pinsign.1`.
    #[command(after_help = "Examples:
  pinsign man > /usr/local/share/man/man1/pinsign.1
  pinsign man | man -l -")]
    Man,
}

/// The subcommands that never talk to a registry: the global registry options are hidden
/// from their `--help` (still accepted, so a shared alias or env file does no harm).
const OFFLINE_COMMANDS: &[&[&str]] = &[
    &["generate-key-pair"],
    &["import-key-pair"],
    &["public-key"],
    &["sign-blob"],
    &["verify-blob"],
    &["completions"],
    &["man"],
    &["policy", "kyverno"],
];

/// The whole command line: the derived parser, with the registry options hidden where they
/// mean nothing ([`OFFLINE_COMMANDS`]). Parsing, completions and the man page all use it.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Global options are copied into every subcommand when the parser is built, unless the
    // subcommand already has one by that name: give the offline ones a hidden copy first.
    let registry_ids: Vec<clap::Id> =
        <commands::args::RegistryArgs as clap::Args>::augment_args(clap::Command::new("registry"))
            .get_arguments()
            .map(|a| a.get_id().clone())
            .collect();
    let registry_args: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set() && registry_ids.contains(a.get_id()))
        .cloned()
        .collect();
    for path in OFFLINE_COMMANDS {
        cmd = hide_in(cmd, path, &registry_args);
    }
    cmd
}

fn hide_in(cmd: clap::Command, path: &[&str], args: &[clap::Arg]) -> clap::Command {
    match path {
        [] => args
            .iter()
            .fold(cmd, |cmd, a| cmd.arg(a.clone().hide(true))),
        [first, rest @ ..] => cmd.mut_subcommand(*first, |sub| hide_in(sub, rest, args)),
    }
}

/// Parse the process arguments (exits 2 on a usage error, as clap does).
pub fn parse() -> Cli {
    let mut cmd = command();
    let mut matches = cmd.get_matches_mut();
    Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
}

/// [`parse`] from given arguments, for tests.
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut matches = command().try_get_matches_from(args)?;
    Cli::from_arg_matches_mut(&mut matches)
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
        Command::Triangulate(args) => {
            commands::block_on(commands::attached::triangulate(args, &global))
        }
        Command::Tree(args) => commands::block_on(commands::attached::tree(args, &global)),
        Command::Download(cmd) => commands::attached::download(cmd, &global),
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
    }
}

/// `pinsign completions SHELL`: generated from the clap definition, so it always lists
/// exactly the flags the binary takes.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = command();
    clap_complete::generate(shell, &mut cmd, "pinsign", &mut std::io::stdout());
    Ok(())
}

/// The man page of the whole command line: the top-level page, then for every subcommand
/// a section with its synopsis, description and options (one page, as `man pinsign` shows).
fn man() -> anyhow::Result<()> {
    let mut cmd = command();
    cmd.build();
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

    /// Every command a user can run, as its path of names (`["policy", "check"]`).
    fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
        if !path.is_empty() {
            out.push(path.clone());
        }
        for sub in subs.into_iter().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            leaves(sub, p, out);
        }
    }

    fn find<'a>(cmd: &'a clap::Command, path: &[String]) -> &'a clap::Command {
        path.iter().fold(cmd, |c, name| {
            c.find_subcommand(name).expect("subcommand exists")
        })
    }

    #[test]
    fn every_help_ends_with_two_or_three_examples() {
        let mut cmd = command();
        cmd.build();
        let mut all = Vec::new();
        leaves(&cmd, Vec::new(), &mut all);
        assert!(all.len() >= 18, "{all:?}");
        for path in &all {
            let sub = find(&cmd, path);
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let examples = help
                .strip_prefix("Examples:\n")
                .unwrap_or_else(|| panic!("pinsign {path:?} --help has no examples: {help:?}"));
            let commands = examples
                .lines()
                .filter(|l| l.starts_with("  ") && !l.starts_with("      "))
                .count();
            assert!(
                (2..=3).contains(&commands),
                "pinsign {path:?}: {commands} examples"
            );
        }
    }

    #[test]
    fn registry_options_are_hidden_where_no_registry_is_used() {
        let mut cmd = command();
        cmd.build();
        let hidden = |path: &[&str]| {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            let sub = find(&cmd, &path);
            let arg = sub
                .get_arguments()
                .find(|a| a.get_id() == "registry_username")
                .expect("the option is accepted everywhere");
            arg.is_hide_set()
        };
        for path in OFFLINE_COMMANDS {
            assert!(hidden(path), "{path:?}");
        }
        for path in [
            &["sign-digest"][..],
            &["verify"],
            &["resolve-digest"],
            &["build-push"],
            &["rotate"],
            &["policy", "check"],
            &["triangulate"],
            &["tree"],
            &["download", "signature"],
        ] {
            assert!(!hidden(path), "{path:?}");
        }
        // Still accepted (a shared env file or alias does no harm).
        let cli = try_parse_from([
            "pinsign",
            "public-key",
            "--key",
            "k",
            "--allow-http-registry",
        ])
        .unwrap();
        assert!(cli.global.registry.allow_http_registry);
    }

    #[test]
    fn cosign_aliases_parse_as_their_long_forms() {
        let sign = |extra: &[&str]| {
            let mut args = vec!["pinsign", "sign-digest", "r.example/a:1", "--key", "k"];
            args.extend_from_slice(extra);
            match try_parse_from(args).unwrap().command {
                Command::SignDigest(a) => a,
                _ => panic!("sign-digest"),
            }
        };
        for flag in ["-a", "--annotation", "--annotations"] {
            assert_eq!(
                sign(&[flag, "x=1"]).signature.annotations,
                ["x=1"],
                "{flag}"
            );
        }
        assert!(sign(&["-r"]).signature.recursive);
        assert!(sign(&["--recursive"]).signature.recursive);
        assert!(sign(&["-y"]).cosign.yes && sign(&["--yes"]).cosign.yes);
        assert_eq!(sign(&[]).cosign.tlog_upload, None);
        assert_eq!(
            sign(&["--tlog-upload=false"]).cosign.tlog_upload,
            Some(false)
        );
        assert_eq!(sign(&["--tlog-upload"]).cosign.tlog_upload, Some(true));
        assert!(sign(&[]).detached.upload);
        assert!(!sign(&["--upload=false"]).detached.upload);
        assert!(sign(&["--upload"]).detached.upload);
        let verify = |extra: &[&str]| {
            let mut args = vec!["pinsign", "verify", "r.example/a:1", "--key", "k.pub"];
            args.extend_from_slice(extra);
            match try_parse_from(args).unwrap().command {
                Command::Verify(a) => a,
                _ => panic!("verify"),
            }
        };
        for flag in ["-a", "--annotation", "--annotations"] {
            assert_eq!(verify(&[flag, "x=1"]).annotations, ["x=1"], "{flag}");
        }
        assert_eq!(
            verify(&["--insecure-ignore-tlog=true"])
                .cosign
                .insecure_ignore_tlog,
            Some(true)
        );
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
