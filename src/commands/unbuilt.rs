//! Subcommands of the contract that later work will build. They say so and exit 1: the
//! command line was right, the version is what lacks it.

use clap::Args;

#[derive(Debug, Args)]
pub struct UnbuiltArgs {
    /// Arguments of the future command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

pub fn not_built(name: &str) -> anyhow::Result<()> {
    anyhow::bail!("`pinsign {name}` is not built yet in this version; see the README for what is")
}
