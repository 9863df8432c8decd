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
    let home = support::temp_dir();
    support::pinsign_std(home.path())
        .current_dir(home.path())
        .env("COSIGN_PASSWORD", PASSWORD)
        .arg("generate-key-pair")
        .outcome()
        .ok();
    let key = home.path().join("cosign.key");
    let public = home.path().join("cosign.pub");
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
