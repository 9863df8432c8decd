//! Concurrent jobs in one process share one bearer token per repository.
//!
//! Found by `benches/sign.rs`: the first requests of concurrent jobs all go out before the
//! registry's challenge is known, all get 401, and each used to throw away the token another job
//! had just fetched and fetch its own (2 to 6 token requests for one repository, where 1 is
//! enough). Counts of requests, not timings.

use crate::support;

use crate::support::outcome::RunExt as _;
use crate::support::Registry;

const PASSWORD: &str = "token-reuse-password";

#[test]
fn concurrent_jobs_in_one_repository_share_one_token() {
    let reg = Registry::token_http();
    let ep = reg.endpoint();
    let (home, key, public) = key_pair();
    let images: Vec<String> = (0..12)
        .map(|i| ep.push_synthetic("reuse/app", None, 300 + i).pinned)
        .collect();
    let tokens = reg.token_server().expect("token registry");

    // Signing: one pull+push token for the repository, whatever the concurrency.
    let before = tokens.log().len();
    let mut cmd = support::pinsign_std(home.path());
    ep.configure_pinsign_std(&mut cmd);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign-digest", "--concurrency", "8", "--key"])
        .arg(&key)
        .args(&images);
    let stdout = cmd.outcome().ok().stdout;
    assert_eq!(stdout.lines().count(), images.len(), "{stdout}");
    let scopes: Vec<Vec<String>> = tokens.log()[before..]
        .iter()
        .map(|r| r.scopes.clone())
        .collect();
    assert_eq!(
        scopes,
        [["repository:reuse/app:pull,push"]],
        "one token for the whole batch"
    );

    // Verifying: one pull token.
    let before = tokens.log().len();
    let mut cmd = support::pinsign_std(home.path());
    ep.configure_pinsign_std(&mut cmd);
    cmd.args(["verify", "--concurrency", "8", "--key"])
        .arg(&public)
        .args(&images);
    let stdout = cmd.outcome().ok().stdout;
    assert_eq!(stdout.lines().count(), images.len(), "{stdout}");
    let scopes: Vec<Vec<String>> = tokens.log()[before..]
        .iter()
        .map(|r| r.scopes.clone())
        .collect();
    assert_eq!(scopes, [["repository:reuse/app:pull"]]);
}

/// A batch over many repositories of one token registry: one token request asks for up to 16
/// repositories (several `scope` parameters, as the distribution token spec allows), and the
/// token serves each repository its `access` claim grants. 20 repositories cost 2 token
/// requests, where one per repository cost 20.
#[test]
fn a_batch_over_many_repositories_asks_for_one_token_per_sixteen() {
    let reg = Registry::token_http();
    let ep = reg.endpoint();
    let (home, key, public) = key_pair();
    let images: Vec<String> = (0..20)
        .map(|i| {
            ep.push_synthetic(&format!("many/app-{i:02}"), None, 400 + i)
                .pinned
        })
        .collect();
    let tokens = reg.token_server().expect("token registry");
    let scopes_since = |before: usize| -> Vec<Vec<String>> {
        tokens.log()[before..]
            .iter()
            .map(|r| r.scopes.clone())
            .collect()
    };
    let every_repo_once = |requests: &[Vec<String>], actions: &str| {
        let mut all: Vec<String> = requests.iter().flatten().cloned().collect();
        all.sort();
        let want: Vec<String> = (0..20)
            .map(|i| format!("repository:many/app-{i:02}:{actions}"))
            .collect();
        assert_eq!(all, want, "{requests:?}");
        assert!(requests.iter().all(|r| r.len() <= 16), "{requests:?}");
    };

    let before = tokens.log().len();
    let mut cmd = support::pinsign_std(home.path());
    ep.configure_pinsign_std(&mut cmd);
    cmd.env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign-digest", "--concurrency", "8", "--key"])
        .arg(&key)
        .args(&images);
    let stdout = cmd.outcome().ok().stdout;
    assert_eq!(stdout.lines().count(), images.len(), "{stdout}");
    let requests = scopes_since(before);
    assert_eq!(requests.len(), 2, "{requests:?}");
    every_repo_once(&requests, "pull,push");

    let before = tokens.log().len();
    let mut cmd = support::pinsign_std(home.path());
    ep.configure_pinsign_std(&mut cmd);
    cmd.args(["verify", "--concurrency", "8", "--key"])
        .arg(&public)
        .args(&images);
    let stdout = cmd.outcome().ok().stdout;
    assert_eq!(stdout.lines().count(), images.len(), "{stdout}");
    let requests = scopes_since(before);
    assert_eq!(requests.len(), 2, "{requests:?}");
    every_repo_once(&requests, "pull");
}

/// A home directory with a fresh `cosign.key`/`cosign.pub` (password [`PASSWORD`]).
fn key_pair() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let home = support::temp_dir();
    support::pinsign_std(home.path())
        .current_dir(home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .arg("generate-key-pair")
        .outcome()
        .ok();
    let key = home.path().join("cosign.key");
    let public = home.path().join("cosign.pub");
    (home, key, public)
}
