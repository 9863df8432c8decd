//! Records the git commit pinsign is built from, for `pinsign --version`.
//!
//! `PINSIGN_GIT_COMMIT` wins (a release built from a tarball has no `.git`); otherwise
//! `git rev-parse`, and "unknown" when neither is there.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PINSIGN_GIT_COMMIT");
    // Rebuild when the commit changes: HEAD and the ref it names, wherever git keeps them (in
    // a worktree `.git` is a file). Only paths that exist: a missing one reruns every build.
    for path in git_paths() {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = std::env::var("PINSIGN_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PINSIGN_GIT_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn git_paths() -> Vec<String> {
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        names.push(r);
    }
    names
        .iter()
        .filter_map(|n| git(&["rev-parse", "--git-path", n]))
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    if dirty {
        commit.push_str("-dirty");
    }
    Some(commit)
}
