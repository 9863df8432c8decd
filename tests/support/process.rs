//! A server process the harness started: spawned on a free `127.0.0.1` port with its log
//! in its own temp dir, ready once it answers, killed and reaped on `Drop` (kept running,
//! with its directory, when `PINSIGN_KEEP_REGISTRY=1`).

use super::{free_port, keep_requested, wait_until, START_TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct ServerProcess {
    name: &'static str,
    port: u16,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    log: PathBuf,
    /// Said when the process is kept for debugging (e.g. what did not survive).
    pub keep_note: String,
}

impl ServerProcess {
    /// Start `command(port)` on a free port, its output in `dir/log_name`, until
    /// `ready(port)` answers. A start that loses its port to another process is retried
    /// on a new one; one that does not answer within the start timeout panics with the log.
    pub fn launch(
        name: &'static str,
        dir: tempfile::TempDir,
        log_name: &str,
        mut command: impl FnMut(u16) -> Command,
        ready: impl Fn(u16) -> bool,
    ) -> ServerProcess {
        let path = dir.path().to_path_buf();
        let log = path.join(log_name);
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let file = std::fs::File::create(&log).expect("create the server log");
            let child = command(port)
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("clone log handle"))
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
            let mut server = ServerProcess {
                name,
                port,
                child: Some(child),
                dir: None,
                path: path.clone(),
                log: log.clone(),
                keep_note: String::new(),
            };
            let answered = wait_until(START_TIMEOUT, || server.exited() || ready(port));
            if answered && !server.exited() {
                server.dir = Some(dir);
                return server;
            }
            last_log = server.log();
            server.stop();
            if !answered {
                panic!(
                    "{name} on 127.0.0.1:{port} did not answer GET /v2/ within {START_TIMEOUT:?}; log:\n{last_log}"
                );
            }
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!("{name} exited at start; log:\n{last_log}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's own directory (config, storage, log).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if keep_requested() {
            if let Some(child) = self.child.take() {
                let dir = self.dir.take().map(|d| d.keep());
                eprintln!(
                    "{}=1: keeping {} on 127.0.0.1:{} (pid {}, dir {}){}",
                    super::KEEP_ENV,
                    self.name,
                    self.port,
                    child.id(),
                    dir.unwrap_or_default().display(),
                    self.keep_note
                );
            }
            return;
        }
        self.stop();
    }
}
