//! How results are printed: text lines for people, one JSON document for scripts.
//! Results go to stdout; progress and logs go to stderr.
//!
//! This module also owns progress. On an interactive terminal a batch draws an indicatif bar
//! and build-push a spinner naming its phase. Anywhere else (a CI log, a pipe, `TERM=dumb`,
//! `NO_COLOR`) nothing redraws: a batch that runs longer than the progress interval (10 s)
//! prints a plain progress line every interval and at every 10% of the work (done/total,
//! failures, rate), and build-push prints each phase as a line with the time it started, so a
//! log shows where the time went. `-q` turns all of it off.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a batch without a terminal prints a progress line (and how long it stays quiet
/// first).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Test hook: `PINSIGN_PROGRESS_INTERVAL_MS` replaces [`PROGRESS_INTERVAL`], so a test sees
/// the progress lines of a batch that takes a second. Not meant for production use.
pub const PROGRESS_INTERVAL_ENV: &str = "PINSIGN_PROGRESS_INTERVAL_MS";

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

/// True when stderr can take redrawing output: a terminal whose `TERM` is not `dumb`, and no
/// `NO_COLOR`. Bars and spinners redraw with cursor-control escape codes, so a user who asks
/// for no escape codes (`NO_COLOR`, no-color.org) or has a terminal that cannot move the
/// cursor (`TERM=dumb`, as Emacs shells and some CI runners set) gets plain lines instead.
pub fn interactive_stderr() -> bool {
    std::io::stderr().is_terminal() && terminal_allows_escapes(|v| std::env::var_os(v))
}

/// The environment half of [`interactive_stderr`] and of the log colours.
pub fn terminal_allows_escapes(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = env("TERM").is_some_and(|v| v == "dumb");
    !no_color && !dumb
}

/// The progress interval: [`PROGRESS_INTERVAL`], or the test hook's value.
pub fn progress_interval() -> Duration {
    std::env::var(PROGRESS_INTERVAL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(PROGRESS_INTERVAL)
}

/// A progress bar for batch work: drawn only on an interactive terminal, for more than one
/// item, without `-q`. Hidden bars cost nothing. (Batches that also need progress lines in
/// CI logs use [`Progress`].)
fn progress_bar(len: usize, what: &str) -> ProgressBar {
    if len < 2 || crate::logging::quiet() || !interactive_stderr() {
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

/// The progress of a batch: a bar on an interactive terminal, plain lines elsewhere (see the
/// module header), nothing with `-q` or for a single item.
pub struct Progress {
    inner: Inner,
}

enum Inner {
    Hidden,
    Bar(ProgressBar),
    Lines(Mutex<Lines>),
}

/// The state of the plain progress lines.
struct Lines {
    what: String,
    total: usize,
    done: usize,
    failed: usize,
    start: Instant,
    /// When the last line was printed (the start before the first).
    last: Instant,
    interval: Duration,
    /// The number of finished items at which the next 10% line is due.
    next_step: usize,
}

impl Lines {
    fn new(what: &str, total: usize, interval: Duration, now: Instant) -> Lines {
        Lines {
            what: what.to_string(),
            total,
            done: 0,
            failed: 0,
            start: now,
            last: now,
            interval,
            next_step: step_of(total),
        }
    }

    /// The line due now, if any: nothing in the first interval (a short batch shows only its
    /// result); then one every interval, and one whenever another 10% of the work is done.
    /// Nothing once all is done: the command's summary says the rest.
    fn due(&mut self, now: Instant) -> Option<String> {
        if self.done >= self.total || now.duration_since(self.start) < self.interval {
            return None;
        }
        let by_time = now.duration_since(self.last) >= self.interval;
        let by_step = self.done >= self.next_step;
        if !by_time && !by_step {
            return None;
        }
        self.last = now;
        let step = step_of(self.total);
        self.next_step = (self.done / step + 1) * step;
        Some(self.line(now))
    }

    fn line(&self, now: Instant) -> String {
        let elapsed = now.duration_since(self.start).as_secs_f64();
        let rate = if elapsed > 0.0 {
            self.done as f64 / elapsed
        } else {
            0.0
        };
        format!(
            "pinsign: {} {}/{} ({}%), {} failed, {rate:.1} images/s, {elapsed:.1} s elapsed",
            self.what,
            self.done,
            self.total,
            self.done * 100 / self.total.max(1),
            self.failed,
        )
    }
}

/// 10% of `total` items, at least one.
fn step_of(total: usize) -> usize {
    total.div_ceil(10).max(1)
}

impl Progress {
    /// Progress over `total` items; `what` names the work (`signing`, `verifying`).
    pub fn new(total: usize, what: &str) -> Progress {
        let inner = if total < 2 || crate::logging::quiet() {
            Inner::Hidden
        } else if interactive_stderr() {
            Inner::Bar(progress_bar(total, what))
        } else {
            Inner::Lines(Mutex::new(Lines::new(
                what,
                total,
                progress_interval(),
                Instant::now(),
            )))
        };
        Progress { inner }
    }

    /// How often [`Progress::tick`] should be called.
    pub fn tick_interval(&self) -> Option<Duration> {
        match &self.inner {
            Inner::Lines(lines) => Some(lock(lines).interval),
            _ => None,
        }
    }

    /// One more item finished (`failed`: it did not succeed).
    pub fn done(&self, failed: bool) {
        match &self.inner {
            Inner::Hidden => {}
            Inner::Bar(bar) => bar.inc(1),
            Inner::Lines(lines) => {
                let mut lines = lock(lines);
                lines.done += 1;
                lines.failed += usize::from(failed);
                if let Some(line) = lines.due(Instant::now()) {
                    eprintln!("{line}");
                }
            }
        }
    }

    /// Time passed: print the line that is due by time, if any.
    pub fn tick(&self) {
        if let Inner::Lines(lines) = &self.inner {
            if let Some(line) = lock(lines).due(Instant::now()) {
                eprintln!("{line}");
            }
        }
    }

    /// Run `f` (which prints) without garbling the bar.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.inner {
            Inner::Bar(bar) => bar.suspend(f),
            Inner::Lines(lines) => {
                // Hold the lock: a progress line never lands inside a result's lines.
                let _held = lock(lines);
                f()
            }
            Inner::Hidden => f(),
        }
    }

    /// The work is over: the bar goes away.
    pub fn finish(&self) {
        if let Inner::Bar(bar) = &self.inner {
            bar.finish_and_clear();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A spinner for the long phases of one command (build, push): on an interactive terminal a
/// spinner whose message names the phase; elsewhere each new phase message is printed as a
/// line (`pinsign: [  12.3 s] pushing REG/REPO:TAG`); with `-q` nothing.
pub fn spinner(msg: &str) -> ProgressBar {
    if crate::logging::quiet() {
        return ProgressBar::hidden();
    }
    if !interactive_stderr() {
        return phase_lines(msg, PhaseLines::stderr());
    }
    // Cleared however the command ends, error paths included.
    let bar = ProgressBar::new_spinner().with_finish(indicatif::ProgressFinish::AndClear);
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A bar that prints every new message once, as a line, to `sink`.
fn phase_lines(msg: &str, sink: PhaseLines) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::term_like(Box::new(sink)));
    bar.set_style(
        ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(msg.to_string());
    bar
}

/// The draw target of [`phase_lines`]: indicatif draws the message and clears it again on
/// every update; this keeps only the text and writes it when it differs from the last one
/// written, with the time since the first phase began. Cursor movement is dropped, so no
/// escape code reaches the log.
#[derive(Clone)]
struct PhaseLines {
    start: Instant,
    state: Arc<Mutex<PhaseState>>,
    /// Where lines go: stderr, or a buffer in tests.
    out: Arc<dyn Fn(&str) + Send + Sync>,
}

#[derive(Default)]
struct PhaseState {
    pending: String,
    last: String,
}

impl PhaseLines {
    fn stderr() -> PhaseLines {
        PhaseLines::to(Arc::new(|line: &str| eprintln!("{line}")))
    }

    fn to(out: Arc<dyn Fn(&str) + Send + Sync>) -> PhaseLines {
        // One clock for every phase of the command: the first phase starts it.
        static FIRST_PHASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        PhaseLines {
            start: *FIRST_PHASE.get_or_init(Instant::now),
            state: Arc::new(Mutex::new(PhaseState::default())),
            out,
        }
    }
}

impl std::fmt::Debug for PhaseLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhaseLines")
    }
}

impl indicatif::TermLike for PhaseLines {
    fn width(&self) -> u16 {
        // Wide enough that indicatif never cuts a message.
        1000
    }

    fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        state.pending.push_str(s);
        state.pending.push('\n');
        Ok(())
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        lock(&self.state).pending.push_str(s);
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        let mut state = lock(&self.state);
        let text = std::mem::take(&mut state.pending).trim().to_string();
        if text.is_empty() || text == state.last {
            return Ok(());
        }
        state.last = text.clone();
        drop(state);
        let elapsed = self.start.elapsed().as_secs_f64();
        (self.out)(&format!("pinsign: [{elapsed:6.1} s] {text}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn no_color_and_dumb_terminals_get_no_escapes() {
        assert!(terminal_allows_escapes(env_of(&[(
            "TERM",
            "xterm-256color"
        )])));
        assert!(terminal_allows_escapes(env_of(&[])));
        assert!(!terminal_allows_escapes(env_of(&[("NO_COLOR", "1")])));
        assert!(!terminal_allows_escapes(env_of(&[
            ("TERM", "xterm"),
            ("NO_COLOR", "yes")
        ])));
        // no-color.org: an empty NO_COLOR does not count.
        assert!(terminal_allows_escapes(env_of(&[("NO_COLOR", "")])));
        assert!(!terminal_allows_escapes(env_of(&[("TERM", "dumb")])));
    }

    #[test]
    fn progress_lines_every_interval_and_every_tenth() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        let mut lines = Lines::new("signing", 100, interval, start);
        // Quiet in the first interval, however much is done.
        lines.done = 30;
        assert_eq!(lines.due(start + Duration::from_secs(5)), None);
        // After it: the line that is due by time.
        let at = start + Duration::from_secs(10);
        let line = lines.due(at).expect("due after the first interval");
        assert_eq!(
            line,
            "pinsign: signing 30/100 (30%), 0 failed, 3.0 images/s, 10.0 s elapsed"
        );
        assert_eq!(lines.due(at + Duration::from_secs(1)), None);
        // The next 10% step prints at once, with the failures.
        lines.done = 40;
        lines.failed = 2;
        let line = lines.due(at + Duration::from_secs(2)).expect("10% step");
        assert!(line.contains("40/100 (40%), 2 failed"), "{line}");
        lines.done = 45;
        assert_eq!(lines.due(at + Duration::from_secs(3)), None);
        // A stuck batch still prints every interval.
        assert!(lines.due(at + Duration::from_secs(12)).is_some());
        // Nothing once everything is done.
        lines.done = 100;
        assert_eq!(lines.due(at + Duration::from_secs(60)), None);
        // Few items: every item is a 10% step.
        assert_eq!(step_of(3), 1);
        assert_eq!(step_of(25), 3);
    }

    #[test]
    fn phases_become_lines_once_each() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let bar = phase_lines(
            "building linux/amd64",
            PhaseLines::to(Arc::new(move |l: &str| {
                sink.lock().unwrap().push(l.to_string())
            })),
        );
        bar.suspend(|| {});
        bar.set_message("pushing reg.example/app:1");
        bar.set_message("pushing reg.example/app:1");
        bar.set_message("confirming reg.example/app:1 with the registry");
        bar.finish_and_clear();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[0].starts_with("pinsign: [") && seen[0].ends_with("] building linux/amd64"));
        assert!(seen[1].ends_with("] pushing reg.example/app:1"), "{seen:?}");
        assert!(seen[2].ends_with("] confirming reg.example/app:1 with the registry"));
        assert!(seen.iter().all(|l| !l.contains('\u{1b}')), "{seen:?}");
    }
}
