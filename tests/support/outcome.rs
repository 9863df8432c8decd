//! Running pinsign and checking what it did: the one helper every test module uses.
//!
//! `cmd.outcome()` runs a prepared command (`assert_cmd::Command` or `std::process::Command`)
//! and fails the test if pinsign panicked. The checks then read like the contract: `.ok()`,
//! `.quiet_ok()` (nothing on stderr), `.error(code, needles)` (exactly one `pinsign: error:` line,
//! the last one, holding every needle), `.failure(..)` (the same with nothing on stdout),
//! `.only_error(..)` (the error line is all of stderr).

use std::fmt;
use std::process::Output;

/// What a finished pinsign run left.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a prepared command to completion.
pub trait RunExt {
    fn outcome(&mut self) -> Outcome;
}

impl RunExt for assert_cmd::Command {
    fn outcome(&mut self) -> Outcome {
        Outcome::of(&self.output().expect("run pinsign"))
    }
}

impl RunExt for std::process::Command {
    fn outcome(&mut self) -> Outcome {
        Outcome::of(&self.output().expect("run pinsign"))
    }
}

impl Outcome {
    /// From a finished process; fails the test if pinsign panicked.
    pub fn of(output: &Output) -> Outcome {
        let outcome = Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !outcome.stderr.contains("panicked") && !outcome.stderr.contains("RUST_BACKTRACE"),
            "pinsign panicked:\n{outcome}"
        );
        outcome
    }

    /// Asserts exit 0.
    pub fn ok(self) -> Outcome {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }

    /// Asserts exit 0 and an empty stderr (success without `-v` prints nothing there);
    /// returns stdout.
    pub fn quiet_ok(self) -> String {
        let out = self.ok();
        assert_eq!(
            out.stderr, "",
            "success without -v prints nothing on stderr:\n{out}"
        );
        out.stdout
    }

    /// Asserts the exit code.
    pub fn code(self, code: i32) -> Outcome {
        assert_eq!(self.code, code, "expected exit {code}:\n{self}");
        self
    }

    /// Asserts the exit code and exactly one error line (`pinsign: error: ...`, or clap's
    /// `error: ...` for a usage error) holding every needle; pinsign's own error is the last
    /// line of stderr. Returns the line.
    pub fn error(&self, code: i32, needles: &[&str]) -> String {
        assert_eq!(self.code, code, "expected exit {code}:\n{self}");
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("pinsign: error: ") || l.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{self}");
        let line = errors[0];
        if line.starts_with("pinsign: error: ") {
            assert_eq!(
                self.stderr.lines().last(),
                Some(line),
                "the error is the last line:\n{self}"
            );
        }
        for needle in needles {
            assert!(line.contains(needle), "error lacks {needle:?}:\n{self}");
        }
        eprintln!("[exit {code}] {line}");
        line.to_string()
    }

    /// [`Outcome::error`] with nothing on stdout.
    pub fn failure(&self, code: i32, needles: &[&str]) -> String {
        let line = self.error(code, needles);
        assert_eq!(self.stdout, "", "nothing on stdout for a failure:\n{self}");
        line
    }

    /// [`Outcome::error`] where the error line is all of stderr (stdout may hold a JSON
    /// report).
    pub fn only_error(&self, code: i32, needles: &[&str]) -> String {
        let line = self.error(code, needles);
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "expected a one-line error:\n{self}"
        );
        line
    }

    /// stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"))
    }
}
