//! Helpers shared by the `sign-digest` test files (`tests/sign*.rs`): running the binary against a
//! harness registry and reading its outcome.

pub use crate::support::outcome::Outcome;
use crate::support::outcome::RunExt as _;
use crate::support::test_keys::{self, TestKey};
use crate::support::{self, Endpoint};
use std::path::Path;
use std::time::Duration;

/// How long one pinsign run may take before the test fails (generous: the machine is shared).
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// `pinsign` (host variables cleared, `HOME` = `home`) set up for `ep`: registry flags and
/// credentials, and `COSIGN_PASSWORD` for the generated test keys.
pub fn pinsign(home: &Path, ep: &Endpoint) -> assert_cmd::Command {
    let mut cmd = support::pinsign(home);
    ep.configure_pinsign(&mut cmd);
    cmd.env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .timeout(TIMEOUT);
    cmd
}

/// `pinsign sign-digest ARGS... --key KEY` against `ep`.
pub fn sign(home: &Path, ep: &Endpoint, key: &TestKey, args: &[&str]) -> Outcome {
    let mut cmd = pinsign(home, ep);
    cmd.arg("sign-digest").args(args).arg("--key").arg(&key.key);
    cmd.outcome()
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
