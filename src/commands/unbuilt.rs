//! Subcommands of the contract that later work will build. They answer clearly, exit 2.

use clap::{Args, Subcommand};

use crate::error::UsageError;

#[derive(Debug, Args)]
pub struct UnbuiltArgs {
    /// Arguments of the future command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print a Kyverno ClusterPolicy for a public key (not built yet).
    Kyverno(UnbuiltArgs),
}

pub fn not_built(name: &str) -> anyhow::Result<()> {
    Err(UsageError::new(format!(
        "`pinsign {name}` is not built yet in this version; see the README for what is"
    ))
    .into())
}

pub fn policy(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Kyverno(_) => not_built("policy kyverno"),
    }
}
