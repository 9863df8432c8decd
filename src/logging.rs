//! `-v` logs on stderr. Secrets never reach a log line: the registry layer logs
//! methods, URLs without query strings, and status codes, never headers or bodies.
//!
//! Colours: only on an interactive terminal, never with `NO_COLOR` (no-color.org) or
//! `TERM=dumb` ([`crate::output::interactive_stderr`]). tracing-subscriber's own default
//! (0.3.23, `fmt_layer.rs`) honours `NO_COLOR` but colours a pipe or a CI log file and ignores
//! `TERM=dumb`, so the choice is made here, once, with the same rule as the progress output.

use std::sync::atomic::{AtomicU8, Ordering};

static VERBOSITY: AtomicU8 = AtomicU8::new(0);
static QUIET: AtomicU8 = AtomicU8::new(0);

/// Set up the stderr logger: `-v` info, `-vv` debug, `-vvv` trace. `PINSIGN_LOG` (an
/// env-filter directive) overrides.
pub fn init(verbose: u8, quiet: bool) {
    VERBOSITY.store(verbose, Ordering::Relaxed);
    QUIET.store(quiet as u8, Ordering::Relaxed);
    // Only pinsign's own events: dependencies (rustls, hyper) log their errors too, and
    // those would add a second, raw line to pinsign's one-line error messages.
    let level = match verbose {
        0 => "pinsign=warn",
        1 => "pinsign=info",
        2 => "pinsign=debug",
        _ => "pinsign=trace",
    };
    let filter = std::env::var("PINSIGN_LOG").unwrap_or_else(|_| level.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(crate::output::interactive_stderr())
        .with_target(false)
        .without_time()
        .try_init();
}

/// True with `-v` or more.
pub fn verbose() -> bool {
    VERBOSITY.load(Ordering::Relaxed) > 0
}

/// True with `-q`: no progress bars, no tool output, only results and errors.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed) > 0
}
