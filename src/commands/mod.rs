//! One file per subcommand. Each parses nothing itself (clap did), builds its clients
//! once, does its work, and returns an error that `main` turns into an exit code.

pub mod build_push;
pub mod completions;
pub mod keys;
pub mod resolve_digest;
pub mod sign_digest;
pub mod unbuilt;
pub mod verify;

use crate::cli::{Cli, Command};

/// Run the parsed command line to completion on a tokio runtime.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let global = cli.global;
    runtime.block_on(async move {
        match cli.command {
            Command::BuildPush(args) => build_push::run(args, &global).await,
            Command::ResolveDigest(args) => resolve_digest::run(args, &global).await,
            Command::SignDigest(args) => sign_digest::run(args, &global).await,
            Command::Verify(args) => verify::run(args, &global).await,
            Command::GenerateKeyPair(args) => keys::generate_key_pair(args),
            Command::ImportKeyPair(args) => keys::import_key_pair(args),
            Command::PublicKey(args) => keys::public_key(args),
            Command::Rotate(_) => unbuilt::not_built("rotate"),
            Command::Policy(cmd) => unbuilt::policy(cmd),
            Command::Completions(args) => completions::run(args),
            Command::Man => completions::man(),
        }
    })
}
