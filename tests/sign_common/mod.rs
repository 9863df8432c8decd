//! Helpers shared by the `sign-digest` test files (`tests/sign*.rs`): running the binary against a
//! harness registry and reading its outcome.
#![allow(dead_code)]

use crate::support::test_keys::{self, TestKey};
use crate::support::{self, Endpoint};
use std::path::Path;
use std::time::Duration;

/// How long one pinsign run may take before the test fails (generous: the machine is shared).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// What a finished pinsign run left.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn from_output(output: &std::process::Output) -> Outcome {
        let outcome = Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !outcome.stderr.contains("panicked"),
            "pinsign panicked: {outcome:?}"
        );
        outcome
    }

    /// Asserts exit 0; returns self.
    pub fn ok(self) -> Outcome {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    /// Asserts the exit code; returns self.
    pub fn code(self, code: i32) -> Outcome {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        self
    }

    /// Asserts the exit code and that stderr holds exactly one `pinsign: error: ` line containing
    /// every fragment; returns that line.
    pub fn one_error(&self, code: i32, fragments: &[&str]) -> String {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("pinsign: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected: {self:#?}");
        for fragment in fragments {
            assert!(
                errors[0].contains(fragment),
                "error line lacks {fragment:?}: {}",
                errors[0]
            );
        }
        eprintln!("exit {code}: {}", errors[0]);
        errors[0].to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:#?}"))
    }
}

/// `pinsign` (host variables cleared, `HOME` = `home`) set up for `ep`: registry flags and
/// credentials, and `COSIGN_PASSWORD` for the generated test keys.
pub fn pinsign(home: &Path, ep: &Endpoint) -> assert_cmd::Command {
    let mut cmd = support::pinsign(home);
    ep.configure_pinsign(&mut cmd);
    cmd.env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .timeout(TIMEOUT);
    cmd
}

/// Runs a prepared command.
pub fn run(cmd: &mut assert_cmd::Command) -> Outcome {
    Outcome::from_output(&cmd.output().expect("run pinsign"))
}

/// `pinsign sign-digest ARGS... --key KEY` against `ep`.
pub fn sign(home: &Path, ep: &Endpoint, key: &TestKey, args: &[&str]) -> Outcome {
    let mut cmd = pinsign(home, ep);
    cmd.arg("sign-digest").args(args).arg("--key").arg(&key.key);
    run(&mut cmd)
}

/// `sign-digest` as a `std::process::Command`, for spawning several at once.
pub fn sign_std(home: &Path, ep: &Endpoint, key: &TestKey, args: &[&str]) -> std::process::Command {
    let mut cmd = support::pinsign_std(home);
    ep.configure_pinsign_std(&mut cmd);
    cmd.env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .arg("sign-digest")
        .args(args)
        .arg("--key")
        .arg(&key.key);
    cmd
}

/// `HOST/REPO`, the `docker-reference` of a payload.
pub fn reference(ep: &Endpoint, repo: &str) -> String {
    format!("{}/{repo}", ep.host)
}

/// The text line sign-digest prints for a fresh signature in the tag scheme.
pub fn signed_line(ep: &Endpoint, repo: &str, digest: &str, sig_repo: &str) -> String {
    format!(
        "signed {}/{repo}@{digest} (signature {}/{sig_repo}:{})",
        ep.host,
        ep.host,
        crate::support::cosign_check::sig_tag(digest)
    )
}
