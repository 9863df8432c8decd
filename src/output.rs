//! How results are printed: text lines for people, one JSON document for scripts.
//! Results go to stdout; progress and logs go to stderr.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

/// Print one JSON document on stdout (pretty, trailing newline).
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    // Serialise first, so a closed pipe surfaces as a plain io::Error (success in main).
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&text)?;
    out.flush()?;
    Ok(())
}

/// Print one line on stdout; a closed pipe surfaces as an io error the caller can ignore.
pub fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}

/// A progress bar for batch work: drawn only when stderr is a terminal, there is more
/// than one item, and `-q` was not given. Hidden bars cost nothing.
pub fn progress_bar(len: usize, what: &str) -> ProgressBar {
    if len < 2 || crate::logging::quiet() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// A spinner for one long phase (build, push), on a terminal only.
pub fn spinner(msg: &str) -> ProgressBar {
    if crate::logging::quiet() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    // Cleared however the command ends, error paths included.
    let bar = ProgressBar::new_spinner().with_finish(indicatif::ProgressFinish::AndClear);
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
