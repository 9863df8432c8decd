//! The command line as a whole: version, man page, completions, usage errors that no single
//! command owns, and commands that are not built yet.

use crate::support;
use crate::support::outcome::RunExt as _;

/// pinsign in its own `HOME` (kept alive by the caller).
fn pinsign(home: &tempfile::TempDir) -> assert_cmd::Command {
    let mut cmd = support::pinsign(home.path());
    cmd.current_dir(home.path());
    cmd
}

#[test]
fn version_names_the_commit() {
    let home = support::temp_dir();
    let out = pinsign(&home).arg("--version").outcome().quiet_ok();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert!(
        out.starts_with(&format!("pinsign {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    if let Some(commit) = commit {
        assert!(out.contains(&commit), "{out} names {commit}");
    }
}

#[test]
fn man_page_renders_every_command() {
    let home = support::temp_dir();
    let page = pinsign(&home).arg("man").outcome().quiet_ok();
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq") || page.contains(".TH pinsign"),
        "{page}"
    );
    for command in [
        "BUILD-PUSH",
        "SIGN-DIGEST",
        "VERIFY",
        "RESOLVE-DIGEST",
        "GENERATE-KEY-PAIR",
    ] {
        assert!(
            page.contains(&format!(".SH \"PINSIGN {command}\"")),
            "the man page has a section for {command}"
        );
    }
    if let Some(man) = support::find_on_path("man") {
        let dir = support::temp_dir();
        let file = dir.path().join("pinsign.1");
        std::fs::write(&file, &page).unwrap();
        let rendered = std::process::Command::new(man)
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        assert!(rendered.status.success(), "{rendered:?}");
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(text.contains("--registry-cacert"), "{text}");
    }
}

#[test]
fn completions_for_every_shell() {
    let home = support::temp_dir();
    for shell in ["bash", "zsh", "fish"] {
        let script = pinsign(&home)
            .args(["completions", shell])
            .outcome()
            .quiet_ok();
        assert!(script.contains("sign-digest"), "{shell}");
    }
}

#[test]
fn verify_refuses_a_signature_repository_in_referrers_mode() {
    let home = support::temp_dir();
    for (args, env) in [
        (
            vec![
                "--mode",
                "referrers",
                "--signature-repo",
                "reg.example/sigs",
            ],
            None,
        ),
        (vec!["--mode", "referrers"], Some("reg.example/sigs")),
    ] {
        let mut cmd = pinsign(&home);
        if let Some(repo) = env {
            cmd.env("COSIGN_REPOSITORY", repo);
        }
        cmd.args(["verify", "reg.example/app:1", "--key", "k.pub"])
            .args(&args)
            .outcome()
            .only_error(2, &["--signature-repo", "referrers"]);
    }
}
