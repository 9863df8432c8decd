//! The `pinsign` binary: parse, run, turn the result into an exit code. Nothing else.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = pinsign::cli::parse();
    pinsign::logging::init(cli.global.verbose, cli.global.quiet);
    match pinsign::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if pinsign::error::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // A batch already reported each failure; add the summary only for batches.
            match err.downcast_ref::<pinsign::error::BatchFailed>() {
                Some(batch) if batch.total == 1 => {}
                Some(_) => eprintln!("pinsign: {err}"),
                None => eprintln!("pinsign: error: {}", pinsign::commands::describe(&err)),
            }
            ExitCode::from(pinsign::error::exit_code(&err))
        }
    }
}
