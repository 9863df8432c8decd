//! `pinsign completions SHELL` and `pinsign man`: generated from the clap definition, so
//! they always list exactly the flags the binary takes.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "pinsign", &mut std::io::stdout());
    Ok(())
}

/// The man page of the whole command line: the top-level page, then for every subcommand
/// a section with its synopsis, description and options (one page, as `man pinsign` shows).
pub fn man() -> anyhow::Result<()> {
    let cmd = crate::cli::Cli::command();
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
