//! How pinsign talks to registries, against real Distribution registries and fake servers:
//! the scheme rules (loopback, registries.conf, certs.d, the flag, mixed runs), identity and
//! registry tokens, where credentials may go (never in clear, never to a registry that did not
//! ask, never to a redirect target), rate limits, hanging servers and oversized token replies.

use crate::support;
use crate::support::fake::{HangingServer, Recorder, TokenBomb, Trickle};
use crate::support::outcome::RunExt as _;
use crate::support::token::{READER_IDENTITY_TOKEN, WRITER_IDENTITY_TOKEN};
use crate::support::{test_keys, CountingProxy, Registry, WRITER};

use base64::Engine as _;
use std::path::Path;
use std::time::Duration;

/// A guard against hangs, not a timing assertion: every command here finishes in seconds.
const GUARD: Duration = Duration::from_secs(120);

fn pinsign(home: &Path) -> assert_cmd::Command {
    let mut cmd = support::pinsign(home);
    cmd.env("PINSIGN_RETRY_BASE_MS", "1")
        .env_remove("PINSIGN_LOG")
        .timeout(GUARD);
    cmd
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The same 127.0.0.1 port under a name the loopback rule does not cover (IPv4-mapped IPv6):
/// traffic stays on 127.0.0.1, but pinsign treats it as a remote host.
fn mapped(host: &str) -> String {
    let port = host.rsplit_once(':').unwrap().1;
    format!("[::ffff:127.0.0.1]:{port}")
}

// ---------------------------------------------------------------------------------------------
// Schemes

#[test]
fn loopback_registries_speak_plain_http_without_a_flag() {
    let reg = Registry::http();
    let image = reg.endpoint().push_synthetic("loop/app", Some("v1"), 201);
    let port = reg.host().rsplit_once(':').unwrap().1.to_string();
    let home = support::temp_dir();
    for host in [reg.host(), format!("localhost:{port}")] {
        let mut cmd = pinsign(home.path());
        cmd.args(["-v", "resolve-digest", &format!("{host}/loop/app:v1")]);
        let out = cmd.outcome().ok();
        assert_eq!(
            out.stdout,
            format!("{host}/loop/app@{}\n", image.digest),
            "{out}"
        );
        eprintln!("{}", out.stderr);
        // HTTPS first; plain HTTP because the host answered the handshake in plain HTTP.
        assert!(
            out.stderr
                .contains(&format!("{host} answers plain HTTP; using http://")),
            "{out}"
        );
    }
}

/// One run, two registries: a plain-HTTP one on a loopback name and a TLS one (its CA given),
/// signing on one and storing the signature on the other, then verifying.
#[test]
fn a_run_mixing_tls_and_plain_http_registries_works() {
    let http = Registry::http();
    let tls = Registry::tls();
    let image = http.endpoint().push_synthetic("mix/app", Some("v1"), 202);
    let other = tls.endpoint().push_synthetic("mix/other", Some("v1"), 203);
    let home = support::temp_dir();
    let ca = tls.ca_path().unwrap();

    let mut cmd = pinsign(home.path());
    cmd.arg("--registry-cacert").arg(ca).args([
        "resolve-digest",
        &http.image("mix/app:v1"),
        &tls.image("mix/other:v1"),
    ]);
    assert_eq!(
        cmd.outcome().quiet_ok(),
        format!("{}\n{}\n", image.pinned, other.pinned)
    );

    let key = &test_keys::keys()[0];
    let sigs = tls.image("mix/signatures");
    let mut cmd = pinsign(home.path());
    cmd.env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .arg("--registry-cacert")
        .arg(ca)
        .args(["sign-digest", &image.pinned, "--key", &key.key_arg()])
        .args(["--signature-repo", &sigs]);
    cmd.outcome().ok();
    let tags = tls.endpoint().tags("mix/signatures");
    assert_eq!(tags.len(), 1, "{tags:?}");

    let mut cmd = pinsign(home.path());
    cmd.arg("--registry-cacert")
        .arg(ca)
        .args(["verify", &image.pinned, "--key"])
        .arg(&key.public)
        .args(["--signature-repo", &sigs]);
    let out = cmd.outcome().ok();
    assert!(out.stdout.contains("verified"), "{out}");

    // --allow-http-registry still forces plain HTTP everywhere: the TLS registry then fails.
    let mut cmd = pinsign(home.path());
    cmd.args([
        "--allow-http-registry",
        "resolve-digest",
        &tls.image("mix/other:v1"),
    ]);
    cmd.outcome()
        .only_error(1, &["speaks TLS", "drop --allow-http-registry"]);
}

#[test]
fn registries_conf_insecure_and_blocked_entries_are_honoured() {
    let http = Registry::http();
    let tls = Registry::tls();
    let plain = http.endpoint().push_synthetic("conf/app", Some("v1"), 204);
    let secure = tls.endpoint().push_synthetic("conf/app", Some("v1"), 205);
    let home = support::temp_dir();
    let conf = home.path().join("conf/registries.conf");
    // A plain-HTTP registry under a name outside the loopback rule, and a TLS registry whose
    // certificate nobody here trusts (nor names the host): both marked insecure.
    let plain_host = mapped(&http.host());
    let tls_host = mapped(&tls.host());
    let blocked = Registry::http();
    write(
        &conf,
        &format!(
            "unqualified-search-registries = [\"docker.io\"]\n\
             [[registry]]\nlocation = \"{plain_host}\"\ninsecure = true\n\
             [[registry]]\nprefix = \"{tls_host}/conf\"\nlocation = \"{tls_host}/conf\"\ninsecure = true\n\
             [[registry]]\nlocation = \"{}\"\nblocked = true\n",
            blocked.host()
        ),
    );
    let resolve = |image: &str, with_conf: bool| {
        let mut cmd = pinsign(home.path());
        if with_conf {
            cmd.env("CONTAINERS_REGISTRIES_CONF", &conf);
        }
        cmd.args(["resolve-digest", image]);
        cmd.outcome()
    };
    let plain_image = format!("{plain_host}/conf/app:v1");
    let tls_image = format!("{tls_host}/conf/app:v1");
    assert_eq!(
        resolve(&plain_image, true).quiet_ok(),
        format!("{plain_host}/conf/app@{}\n", plain.digest)
    );
    assert_eq!(
        resolve(&tls_image, true).quiet_ok(),
        format!("{tls_host}/conf/app@{}\n", secure.digest)
    );
    // Without the file: refused, saying why.
    resolve(&plain_image, false).only_error(1, &["plain HTTP", "registries.conf"]);
    resolve(&tls_image, false).only_error(1, &["TLS", "--registry-cacert"]);
    // The prefix decides: another repository of that TLS registry is not insecure.
    tls.endpoint()
        .push_synthetic("elsewhere/app", Some("v1"), 206);
    resolve(&format!("{tls_host}/elsewhere/app:v1"), true).only_error(1, &["TLS"]);
    // blocked = true: refused before any request, naming the file.
    resolve(&blocked.image("any/app:v1"), true)
        .only_error(1, &["is blocked in", &conf.display().to_string()]);
    // A broken file is a usage error naming it.
    let broken = home.path().join("broken.conf");
    write(&broken, "[[registry]\n");
    let mut cmd = pinsign(home.path());
    cmd.env("CONTAINERS_REGISTRIES_CONF", &broken)
        .args(["resolve-digest", &plain_image]);
    cmd.outcome().only_error(2, &["broken.conf"]);
}

#[test]
fn certs_d_cas_are_trusted_per_host() {
    let tls = Registry::tls();
    let image = tls.endpoint().push_synthetic("certs/app", Some("v1"), 207);
    let home = support::temp_dir();
    let containers = home.path().join("etc/containers/certs.d");
    let docker = home.path().join("etc/docker/certs.d");
    // The docker directory holds the CA; the containers one has nothing for this host.
    std::fs::create_dir_all(&containers).unwrap();
    let host_dir = docker.join(tls.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(tls.ca_path().unwrap(), host_dir.join("test-ca.crt")).unwrap();
    std::fs::write(host_dir.join("client.key"), "not a CA").unwrap();
    let bases = std::env::join_paths([&containers, &docker]).unwrap();

    let mut cmd = pinsign(home.path());
    cmd.env("PINSIGN_CERTS_D", &bases)
        .args(["resolve-digest", &tls.image("certs/app:v1")]);
    assert_eq!(cmd.outcome().quiet_ok(), format!("{}\n", image.pinned));

    // The first base with a directory for the host wins, as in containers/image: an empty
    // directory there hides the CA.
    std::fs::create_dir_all(containers.join(tls.host())).unwrap();
    let mut cmd = pinsign(home.path());
    cmd.env("PINSIGN_CERTS_D", &bases)
        .args(["resolve-digest", &tls.image("certs/app:v1")]);
    cmd.outcome().only_error(1, &["unknown authority"]);
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// An auth file entry as `docker login` writes it for an OAuth2 registry: the user name in
/// `auth` with an empty password, and the identity token.
fn identity_auth_file(path: &Path, host: &str, token: &str) {
    write(
        path,
        &serde_json::json!({"auths": {host: {"auth": b64("writer:"), "identitytoken": token}}})
            .to_string(),
    );
}

#[test]
fn identity_tokens_are_exchanged_with_the_refresh_token_grant() {
    let reg = Registry::token();
    let tokens = reg.token_server().unwrap();
    let image = reg.endpoint().push_synthetic("id/app", Some("v1"), 208);
    let home = support::temp_dir();
    let auth = home.path().join("auth.json");
    identity_auth_file(&auth, &reg.host(), WRITER_IDENTITY_TOKEN);
    let ca = reg.ca_path().unwrap();

    let before = tokens.log().len();
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &auth)
        .arg("--registry-cacert")
        .arg(ca)
        .args(["-v", "resolve-digest", &reg.image("id/app:v1")]);
    let out = cmd.outcome().ok();
    assert_eq!(out.stdout, format!("{}\n", image.pinned));
    assert!(
        out.stderr.contains("the identity token from auth file"),
        "{out}"
    );
    assert!(!out.stderr.contains(WRITER_IDENTITY_TOKEN), "{out}");
    let asked = &tokens.log()[before..];
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].method, "POST");
    assert_eq!(asked[0].grant.as_deref(), Some("refresh_token"));
    assert_eq!(asked[0].client_id.as_deref(), Some("pinsign"));
    assert_eq!(asked[0].user.as_deref(), Some("writer"));
    assert_eq!(asked[0].scopes, vec!["repository:id/app:pull".to_string()]);
    assert_eq!(
        asked[0].authorization, None,
        "no Basic with an identity token"
    );

    // Pushing works too: sign with the identity token, the token asks for pull,push.
    let key = &test_keys::keys()[1];
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &auth)
        .env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .arg("--registry-cacert")
        .arg(ca)
        .args(["sign-digest", &image.pinned, "--key", &key.key_arg()]);
    cmd.outcome().ok();
    assert!(tokens.log()[before..].iter().any(|t| t.scopes
        == vec!["repository:id/app:pull,push".to_string()]
        && t.grant.as_deref() == Some("refresh_token")));

    // A credential helper answering user `<token>` holds an identity token, as in docker.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-pinsigntoken");
    write(
        &helper,
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\ncat >/dev/null\nprintf '{{\"Username\":\"<token>\",\"Secret\":\"{READER_IDENTITY_TOKEN}\"}}'\n"
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper_auth = home.path().join("helper-auth.json");
    write(
        &helper_auth,
        &serde_json::json!({"credHelpers": {reg.host(): "pinsigntoken"}}).to_string(),
    );
    let path = std::env::join_paths(
        std::iter::once(bin.clone())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let before = tokens.log().len();
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &helper_auth)
        .env("PATH", &path)
        .arg("--registry-cacert")
        .arg(ca)
        .args(["resolve-digest", &reg.image("id/app:v1")]);
    assert_eq!(cmd.outcome().quiet_ok(), format!("{}\n", image.pinned));
    assert_eq!(tokens.log()[before].user.as_deref(), Some("reader"));

    // The reader's identity token may not push: the error names the credential.
    let key = &test_keys::keys()[4];
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &helper_auth)
        .env("PATH", &path)
        .env("COSIGN_PASSWORD", test_keys::PASSWORD)
        .arg("--registry-cacert")
        .arg(ca)
        .args(["sign-digest", &image.pinned, "--key", &key.key_arg()]);
    cmd.outcome().only_error(
        1,
        &["the identity token from credential helper docker-credential-pinsigntoken"],
    );
}

#[test]
fn unusable_credentials_are_named_in_the_error() {
    let reg = Registry::basic_auth();
    reg.endpoint().push_synthetic("named/app", Some("v1"), 209);
    let home = support::temp_dir();
    let ca = reg.ca_path().unwrap();
    let image = reg.image("named/app:v1");
    let run = |auth: serde_json::Value| {
        let file = home.path().join("auth.json");
        write(&file, &auth.to_string());
        let mut cmd = pinsign(home.path());
        cmd.env("REGISTRY_AUTH_FILE", &file)
            .arg("--registry-cacert")
            .arg(ca)
            .args(["resolve-digest", &image]);
        cmd.outcome()
    };
    // An entry with no credential in it (what a failed `docker login` can leave).
    run(serde_json::json!({"auths": {reg.host(): {}}}))
        .only_error(1, &["holds no credentials", "auth.json", "log in"]);
    // An identity token for a registry that wants a password (Basic).
    run(serde_json::json!({"auths": {reg.host(): {"identitytoken": "abc"}}})).only_error(
        1,
        &[
            "asks for a password (Basic auth)",
            "the identity token from auth file",
        ],
    );
}

#[test]
fn registry_tokens_are_sent_as_is() {
    let reg = Registry::token();
    let tokens = reg.token_server().unwrap();
    let image = reg.endpoint().push_synthetic("bearer/app", Some("v1"), 210);
    // A token minted for this repository, as a CI system hands one out.
    let minted = mint_token(&tokens.realm(), "repository:bearer/app:pull");
    let token = minted["token"].as_str().unwrap().to_string();
    let home = support::temp_dir();
    let ca = reg.ca_path().unwrap();
    for via_env in [false, true] {
        let before = tokens.requests();
        let mut cmd = pinsign(home.path());
        cmd.arg("--registry-cacert").arg(ca);
        if via_env {
            cmd.env("PINSIGN_REGISTRY_TOKEN", &token);
        } else {
            cmd.args(["--registry-token", &token]);
        }
        cmd.args(["-vv", "resolve-digest", &reg.image("bearer/app:v1")]);
        let out = cmd.outcome().ok();
        assert_eq!(out.stdout, format!("{}\n", image.pinned));
        assert_eq!(tokens.requests(), before, "no token exchange: {out}");
        assert!(!out.stderr.contains(&token), "the token is never logged");
    }
    // Refused: the error names the flag.
    let mut cmd = pinsign(home.path());
    cmd.arg("--registry-cacert").arg(ca).args([
        "--registry-token",
        "not-a-token",
        "resolve-digest",
        &reg.image("bearer/app:v1"),
    ]);
    cmd.outcome()
        .only_error(1, &["401", "the registry token from --registry-token"]);
}

/// A token from the test token server for `writer`, over raw HTTP (as a CI system would hand
/// one out).
fn mint_token(realm: &str, scope: &str) -> serde_json::Value {
    use std::io::{BufReader, Write as _};
    let rest = realm.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let auth = b64(&format!("{}:{}", WRITER.name, WRITER.password));
    write!(
        stream,
        "GET /{path}?service={}&scope={scope} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n",
        support::token::SERVICE
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let (start, headers) = support::httpd::read_head(&mut reader).unwrap().unwrap();
    assert!(start.contains(" 200 "), "{start}");
    let body = support::httpd::read_body(&mut reader, &headers, true).unwrap();
    serde_json::from_slice(&body).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Where credentials go

#[test]
fn a_tls_registry_with_a_plain_http_realm_never_gets_the_password_in_clear() {
    // Distribution with TLS whose challenge names http://[::ffff:127.0.0.1]:PORT/token: the
    // token server itself, under a name that is not allowed plain HTTP.
    let reg =
        Registry::token_with_realm(&|t| format!("http://[::ffff:127.0.0.1]:{}/token", t.port()));
    let tokens = reg.token_server().unwrap();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let realm = format!("http://[::ffff:127.0.0.1]:{}/token", tokens.port());
    let before = tokens.requests();
    let mut cmd = pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.args(["resolve-digest", &reg.image("clear/app:v1")]);
    let line = cmd
        .outcome()
        .only_error(1, &[&realm, "plain-HTTP token server"]);
    assert!(!line.contains(WRITER.password), "{line}");
    assert_eq!(
        tokens.requests(),
        before,
        "the realm got nothing: {:?}",
        tokens.log()
    );
    // The same with credentials from an auth file.
    let auth = home.path().join("auth.json");
    write(
        &auth,
        &serde_json::json!({"auths": {reg.host(): {"auth": b64("writer:writer-secret")}}})
            .to_string(),
    );
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &auth)
        .args(reg.pinsign_flags())
        .args(["resolve-digest", &reg.image("clear/app:v1")]);
    cmd.outcome().only_error(1, &[&realm]);
    assert_eq!(tokens.requests(), before);
}

/// `PINSIGN_REGISTRY_*` are not tied to a registry: a registry that never asks (here an
/// anonymous one, named in the same command) never sees them.
#[test]
fn flag_credentials_go_only_to_registries_that_ask_for_them() {
    let private = Registry::basic_auth();
    let public = Registry::http();
    let a = private
        .endpoint()
        .push_synthetic("ask/app", Some("v1"), 211);
    let b = public.endpoint().push_synthetic("ask/app", Some("v1"), 212);
    let proxy = CountingProxy::start(&public.endpoint());
    let home = support::temp_dir();
    let mut cmd = pinsign(home.path());
    cmd.envs(private.pinsign_env())
        .arg("--registry-cacert")
        .arg(private.ca_path().unwrap())
        .args([
            "resolve-digest",
            &private.image("ask/app:v1"),
            &proxy.image("ask/app:v1"),
        ]);
    assert_eq!(
        cmd.outcome().quiet_ok(),
        format!(
            "{}\n{}\n",
            a.pinned,
            b.pinned.replace(&public.host(), &proxy.host())
        )
    );
    let seen = proxy.authorizations();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(Option::is_none), "{seen:?}");
    // Also as flags, and for verify with --signature-repo on the anonymous registry.
    let key = &test_keys::keys()[2];
    let mut cmd = pinsign(home.path());
    cmd.args(private.endpoint().pinsign_cred_flags())
        .arg("--registry-cacert")
        .arg(private.ca_path().unwrap())
        .args(["verify", &a.pinned, "--key"])
        .arg(&key.public)
        .args(["--signature-repo", &proxy.image("sigs")]);
    cmd.outcome().error(1, &["no signatures found"]);
    assert!(proxy.authorizations().iter().all(Option::is_none));
}

/// Blob downloads are often redirected to storage. A refusal there is the storage's, and the
/// storage never sees pinsign's credentials.
#[test]
fn a_refusing_redirect_target_is_blamed_and_never_gets_credentials() {
    let reg = Registry::token_http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let image = ep.push_synthetic("redir/app", Some("v1"), 213);
    let storage = Recorder::start(401);
    proxy.redirect("GET", "/blobs/", &storage.url(), 1);
    let home = support::temp_dir();
    let mut cmd = pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.args([
        "resolve-digest",
        &proxy.image("redir/app:v1"),
        "--platform",
        "linux/amd64",
    ]);
    let storage_host = storage.url().trim_start_matches("http://").to_string();
    cmd.outcome().only_error(
        1,
        &[
            &format!(
                "registry {} redirected GET /v2/redir/app/blobs/",
                proxy.host()
            ),
            &format!("to {storage_host}, which answered 401"),
        ],
    );
    let got = storage.log();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "GET");
    assert!(
        got[0].target.starts_with("/v2/redir/app/blobs/sha256:"),
        "{got:?}"
    );
    assert_eq!(got[0].authorization, None, "{got:?}");
    // The registry's own requests did carry the token.
    assert!(proxy.authorizations().iter().any(Option::is_some));
    drop(image);
}

// ---------------------------------------------------------------------------------------------
// Rate limits, hangs, huge replies

#[test]
fn rate_limits_are_waited_out_as_retry_after_asks() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let image = ep.push_synthetic("rate/app", Some("v1"), 214);
    let home = support::temp_dir();

    // 429 with Retry-After: 1, twice, then the registry answers.
    proxy.reset();
    proxy.fail_with_headers("HEAD", "/manifests/v1", 429, &[("Retry-After", "1")], 2);
    let mut cmd = pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.args(["-v", "resolve-digest", &proxy.image("rate/app:v1")]);
    let out = cmd.outcome().ok();
    assert_eq!(
        out.stdout,
        format!("{}\n", image.pinned.replace(&reg.host(), &proxy.host()))
    );
    let waits = out
        .stderr
        .lines()
        .filter(|l| l.contains("-> 429 (rate limited); retrying in 1 s, as Retry-After asks"))
        .count();
    assert_eq!(waits, 2, "{out}");
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 3);
    eprintln!("{}", out.stderr);

    // An HTTP date works the same way.
    proxy.fail_with_headers(
        "HEAD",
        "/manifests/v1",
        429,
        &[("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT")],
        1,
    );
    let mut cmd = pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.args(["resolve-digest", &proxy.image("rate/app:v1")]);
    cmd.outcome().ok();

    // Asking for an hour is beyond the retry budget: a clear error at once.
    proxy.reset();
    proxy.fail_with_headers("HEAD", "/manifests/v1", 429, &[("Retry-After", "3600")], 1);
    let mut cmd = pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.args(["resolve-digest", &proxy.image("rate/app:v1")]);
    cmd.outcome().only_error(
        1,
        &[
            "is rate limiting",
            "asked to wait 3600 s, more than the retry budget allows",
            "try again later",
        ],
    );
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 1);

    // Rate limited on every attempt: four attempts, then the error says so.
    proxy.reset();
    proxy.fail("HEAD", "/manifests/v1", 429, 10);
    let mut cmd = pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.args(["resolve-digest", &proxy.image("rate/app:v1")]);
    cmd.outcome()
        .only_error(1, &["answered 429 on all 4 attempts"]);
    assert_eq!(proxy.count("HEAD", "/manifests/v1"), 4);
    proxy.clear_faults();
}

#[test]
fn a_hanging_registry_is_bounded_and_named() {
    let hang = HangingServer::start();
    let home = support::temp_dir();
    let image = format!("{}/hang/app:v1", hang.host());

    // Plain HTTP (forced): the request goes out and nothing comes back.
    let mut cmd = pinsign(home.path());
    cmd.args([
        "--timeout",
        "1",
        "--allow-http-registry",
        "-v",
        "resolve-digest",
        &image,
    ]);
    let out = cmd.outcome();
    assert_eq!(out.code, 1, "{out}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("pinsign: error: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains(&format!("no answer from {} within 1 s", hang.host()))
            && line.contains("--timeout")
            && !line.contains("cannot connect"),
        "{out}"
    );
    let retries = out
        .stderr
        .lines()
        .filter(|l| l.contains("retrying in") && l.contains("attempt 2 of 4"))
        .count();
    assert_eq!(retries, 1, "one -v line per retry:\n{}", out.stderr);
    assert_eq!(
        hang.accepted(),
        2,
        "a request without answer is tried twice"
    );

    // verify and sign-digest are bounded the same way.
    let key = &test_keys::keys()[3];
    let mut cmd = pinsign(home.path());
    cmd.args([
        "--timeout",
        "1",
        "--allow-http-registry",
        "verify",
        &image,
        "--key",
    ])
    .arg(&key.public);
    cmd.outcome()
        .only_error(1, &["no answer from", "within 1 s"]);
    let mut cmd = pinsign(home.path());
    cmd.env("COSIGN_PASSWORD", test_keys::PASSWORD).args([
        "--timeout",
        "1",
        "--allow-http-registry",
        "sign-digest",
        &image,
        "--key",
        &key.key_arg(),
    ]);
    cmd.outcome()
        .only_error(1, &["no answer from", "within 1 s"]);

    // HTTPS (a loopback name, probed first): the handshake gets no answer.
    let mut cmd = pinsign(home.path());
    cmd.args(["--timeout", "1", "resolve-digest", &image]);
    cmd.outcome()
        .only_error(1, &[&format!("no answer from {} within 1 s", hang.host())]);
}

/// A registry that keeps sending a byte now and then never trips the answer timeout; the
/// per-image deadline (10 × --timeout) ends it.
#[test]
fn a_trickling_registry_meets_the_per_image_deadline() {
    let trickle = Trickle::start();
    let home = support::temp_dir();
    let image = format!("{}/slow/app:v1", trickle.host());
    let mut cmd = pinsign(home.path());
    cmd.args(["--timeout", "200ms", "resolve-digest", &image]);
    cmd.outcome().only_error(
        1,
        &[
            &format!("no result for {image} within 2 s (the per-image deadline)"),
            "--timeout",
        ],
    );
}

/// Peak resident memory of a command in KiB, from GNU time.
fn max_rss_kib(stderr: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss line in:\n{stderr}"))
}

#[test]
fn a_500_mb_token_reply_is_refused_with_bounded_memory() {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time not found: apt-get install -y time"
    );
    for with_length in [true, false] {
        let bomb = TokenBomb::start(500 * 1024 * 1024, with_length);
        let home = support::temp_dir();
        let mut cmd = assert_cmd::Command::new(time);
        for var in support::HOST_VARS {
            cmd.env_remove(var);
        }
        cmd.env("HOME", home.path())
            .envs(support::hermetic_hosts(home.path()))
            .timeout(GUARD)
            .args(["-f", "maxrss=%M", env!("CARGO_BIN_EXE_pinsign")])
            .args(["resolve-digest", &format!("{}/x/app:v1", bomb.host())]);
        let out = cmd.outcome();
        assert_eq!(out.code, 1, "{out}");
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("pinsign: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{out}");
        assert!(
            errors[0].contains("token server") && errors[0].contains("larger than 64 KiB"),
            "{out}"
        );
        let rss = max_rss_kib(&out.stderr);
        eprintln!(
            "content-length {with_length}: sent {} bytes before pinsign stopped; peak RSS {rss} KiB",
            bomb.sent()
        );
        assert!(rss < 100 * 1024, "peak RSS {rss} KiB");
        assert!(
            bomb.sent() < 100 * 1024 * 1024,
            "{} bytes sent",
            bomb.sent()
        );
    }
}

#[test]
fn timeouts_are_checked_as_usage() {
    let home = support::temp_dir();
    for bad in ["0", "soon", "2h"] {
        let mut cmd = pinsign(home.path());
        cmd.args(["--timeout", bad, "resolve-digest", "127.0.0.1:9/a:v1"]);
        cmd.outcome().error(2, &["--timeout"]);
    }
    let mut cmd = pinsign(home.path());
    cmd.args([
        "--registry-token",
        "t",
        "--registry-username",
        "u",
        "--registry-password",
        "p",
        "resolve-digest",
        "127.0.0.1:9/a:v1",
    ]);
    cmd.outcome().only_error(2, &["--registry-token"]);
}

/// Deleting a manifest (how `rotate --prune-old` removes an old signature artifact) asks a
/// token registry for the `delete` action, which Distribution requires for a DELETE; a pull or
/// push token would be refused.
#[test]
fn a_delete_asks_for_the_delete_action() {
    let reg = Registry::token_http();
    let ep = reg.endpoint();
    let image = ep.push_synthetic("del/app", None, 901);
    let creds = ep.creds.clone().expect("writer credentials");
    let registry = pinsign::registry::Registry::new(pinsign::registry::RegistryOptions {
        credentials: Some(pinsign::registry::Credentials::new(
            creds.0,
            creds.1,
            pinsign::registry::CredentialSource::Given("test".into()),
        )),
        ..Default::default()
    })
    .unwrap();
    let repo = pinsign::reference::Repository::parse(&ep.image("del/app")).unwrap();
    let digest = pinsign::reference::Digest::parse(&image.digest).unwrap();
    let deleted = support::block_on(registry.delete_manifest(&repo, &digest)).unwrap();
    assert!(deleted);
    assert_eq!(ep.get_manifest("del/app", &image.digest).status, 404);
    let scopes: Vec<String> = reg
        .token_server()
        .unwrap()
        .log()
        .into_iter()
        .flat_map(|r| r.scopes)
        .collect();
    assert!(
        scopes
            .iter()
            .any(|s| s == "repository:del/app:pull,push,delete"),
        "{scopes:?}"
    );
}
