//! Errors that decide the process exit code.
//!
//! Everything else travels as `anyhow::Error` with context; `main` looks for these
//! two markers anywhere in the chain once, in [`exit_code`].

/// The command line itself was wrong (bad flag value, malformed image reference,
/// conflicting options): exit code 2, like clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

/// A batch command already reported each failed item on its own line; this only
/// carries the summary and makes the process exit 1.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} images failed")]
pub struct BatchFailed {
    pub failed: usize,
    pub total: usize,
}

/// Exit code for an error: 128 + the signal for a command stopped by SIGINT or SIGTERM
/// (130, 143), 2 for usage errors, 1 for everything else.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(stopped) = err
        .chain()
        .find_map(|c| c.downcast_ref::<crate::build::Interrupted>())
    {
        return stopped.signal.exit_code();
    }
    let usage = err
        .chain()
        .any(|cause| cause.is::<UsageError>() || cause.is::<crate::reference::ReferenceError>());
    if usage {
        2
    } else {
        1
    }
}

/// True when the error is a closed stdout pipe (`pinsign ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, `outer: cause: root`, without repeating a
/// cause that the outer message already quotes.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || out.contains(text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(text);
    }
    out.replace('\n', " ")
}
