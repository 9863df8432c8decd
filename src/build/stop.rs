//! Stopping cleanly on SIGINT and SIGTERM: Ctrl-C, and what a CI runner sends when a job
//! is cancelled.
//!
//! Without this, SIGTERM ends pinsign on the spot: the private directory holding the auth
//! file buildah was given (the registry credentials, base64) stays on disk, and buildah
//! goes on running. [`Stop::install`] catches both signals for the rest of the process
//! (once a handler is installed the default action is gone for good, so it is installed
//! once, by the commands that run tools, and everything below asks [`Stop::current`]).
//! While a tool runs, the signal is forwarded to the tool's process group (its children
//! included), which gets [`GRACE`] to exit, or until a second signal, before it is killed;
//! no tool starts after a signal. The command then unwinds, its temporary files are removed
//! as their owners are dropped, and it exits 128 + the signal number (130, 143), as a shell
//! reports a process ended by that signal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

/// How long a tool gets to exit after the signal is forwarded, before it is killed.
pub const GRACE: Duration = Duration::from_secs(5);

/// The signals that stop a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, a CI runner cancelling the job).
    Terminate,
}

impl StopSignal {
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => libc::SIGINT,
            StopSignal::Terminate => libc::SIGTERM,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal number: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        // SIGINT is 2 and SIGTERM 15 on every Unix pinsign runs on.
        (128 + self.number()).clamp(0, 255) as u8
    }
}

/// A command stopped by a signal. `crate::error::exit_code` turns it into 130 or 143.
#[derive(Debug, thiserror::Error)]
#[error("{what} stopped by {}", signal.name())]
pub struct Interrupted {
    pub signal: StopSignal,
    /// What was stopped: `buildah build`, `build-push of REG/REPO:TAG`.
    pub what: String,
}

struct Shared {
    /// The first signal received, and a change notification for every later one.
    first: watch::Sender<Option<StopSignal>>,
    /// Signals received so far (a second one cuts the grace period short).
    count: AtomicUsize,
    /// Tools running now: a signal then waits for them to be stopped gracefully.
    tools: AtomicUsize,
}

static INSTALLED: OnceLock<Arc<Shared>> = OnceLock::new();

/// The process's SIGINT/SIGTERM state (a cheap handle; all handles share one state).
#[derive(Clone)]
pub struct Stop(Arc<Shared>);

impl Stop {
    /// Catch SIGINT and SIGTERM from now on, for the rest of the process (a second call
    /// returns the same state). Must run inside the tokio runtime that runs the command.
    pub fn install() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        if let Some(shared) = INSTALLED.get() {
            return Ok(Stop(shared.clone()));
        }
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let shared = Arc::new(Shared {
            first: watch::channel(None).0,
            count: AtomicUsize::new(0),
            tools: AtomicUsize::new(0),
        });
        let listener = shared.clone();
        tokio::spawn(async move {
            loop {
                let signal = tokio::select! {
                    Some(()) = interrupt.recv() => StopSignal::Interrupt,
                    Some(()) = terminate.recv() => StopSignal::Terminate,
                    else => return,
                };
                listener.count.fetch_add(1, Ordering::SeqCst);
                listener.first.send_modify(|first| {
                    first.get_or_insert(signal);
                });
            }
        });
        Ok(Stop(INSTALLED.get_or_init(|| shared).clone()))
    }

    /// The installed state, if a command installed it.
    pub fn current() -> Option<Stop> {
        INSTALLED.get().cloned().map(Stop)
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<StopSignal> {
        *self.0.first.borrow()
    }

    /// Wait for the first signal (at once when it came already).
    pub async fn wait(&self) -> StopSignal {
        let mut rx = self.0.first.subscribe();
        loop {
            if let Some(signal) = *rx.borrow_and_update() {
                return signal;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Wait for a signal after the first (a second Ctrl-C: stop waiting, kill now).
    pub(crate) async fn wait_again(&self) {
        let mut rx = self.0.first.subscribe();
        while self.0.count.load(Ordering::SeqCst) < 2 {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether a tool is running now (and will be stopped gracefully by its runner).
    pub fn tools_running(&self) -> bool {
        self.0.tools.load(Ordering::SeqCst) > 0
    }

    /// Count a tool as running until the guard is dropped.
    pub(crate) fn tool_running(&self) -> ToolGuard {
        self.0.tools.fetch_add(1, Ordering::SeqCst);
        ToolGuard(self.0.clone())
    }
}

pub(crate) struct ToolGuard(Arc<Shared>);

impl Drop for ToolGuard {
    fn drop(&mut self) {
        self.0.tools.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Send `signal` to the process group `pgid` (a tool started as its own group leader).
pub(crate) fn signal_group(pgid: u32, signal: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a negative pid
    // addresses the process group the tool leads, and nothing else.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Whether a process with this pid exists (it may belong to another user: then it exists).
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
        let e = Interrupted {
            signal: StopSignal::Terminate,
            what: "buildah build".into(),
        };
        assert_eq!(e.to_string(), "buildah build stopped by SIGTERM");
    }

    #[test]
    fn liveness_of_pids() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        // Far above any pid_max.
        assert!(!pid_alive(i32::MAX as u32));
    }
}
