//! The `pinsign` binary: parse, run, turn the result into an exit code. Nothing else.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = pinsign::cli::parse();
    pinsign::logging::init(cli.global.verbose, cli.global.quiet);
    match pinsign::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if pinsign::error::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            if !err.is::<pinsign::error::BatchFailed>() || pinsign::logging::verbose() {
                eprintln!("pinsign: error: {}", pinsign::error::one_line(&err));
            } else {
                eprintln!("pinsign: {err}");
            }
            ExitCode::from(pinsign::error::exit_code(&err))
        }
    }
}
