//! `pinsign resolve-digest`, run as the real binary against real registries (Distribution in every
//! kind the harness starts, a lying registry, a counting proxy), with images pushed by real buildah.
//!
//! What it pins down: the printed digest is the one buildah pushed; a digest reference is checked,
//! an index is resolved per platform and its bytes are checked; JSON output is one document; every
//! failure is one line naming the image and what to do, with the right exit code; credentials come
//! from flags, env, auth files and credential helpers in the documented order and never show up in
//! output; and a tag costs one HEAD (plus the token handshake on a token registry).

use crate::support;
use crate::support::outcome::{Outcome, RunExt as _};

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::support::client::{Endpoint, OCI_INDEX, OCI_MANIFEST};
use crate::support::{
    images, CountingProxy, LieMode, LyingRegistry, Registry, RegistryKind, READER, WRITER,
};
use base64::Engine as _;

// ---------------------------------------------------------------------------------------------
// Running the binary

/// The binary with the host's registry and password variables removed, `HOME` set, and no log
/// filter or retry tuning inherited.
fn pinsign(home: &Path) -> assert_cmd::Command {
    let mut cmd = support::pinsign(home);
    cmd.env_remove("PINSIGN_LOG")
        .env_remove("PINSIGN_RETRY_BASE_MS")
        .timeout(Duration::from_secs(120));
    cmd
}

/// `pinsign [flags] resolve-digest IMAGES...` for a registry (flags and env credentials from `ep`).
fn resolve_cmd<S: AsRef<std::ffi::OsStr>>(
    home: &Path,
    ep: &Endpoint,
    images: &[S],
) -> assert_cmd::Command {
    let mut cmd = pinsign(home);
    ep.configure_pinsign(&mut cmd);
    cmd.arg("resolve-digest").args(images);
    cmd
}

/// The line `-v` logs at the end of `resolve-digest`: registry requests sent, token requests included.
fn logged_request_count(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|l| {
            let before = l.strip_suffix(" registry requests")?;
            before.split_whitespace().last()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no request count in stderr:\n{stderr}"))
}

fn pinned(host: &str, repo: &str, digest: &str) -> String {
    format!("{host}/{repo}@{digest}")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// An auth file (containers auth.json / docker config.json) with one `auths` entry.
fn write_auth_file(path: &Path, host: &str, user: &str, password: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let json = serde_json::json!({"auths": {host: {"auth": b64(&format!("{user}:{password}"))}}});
    std::fs::write(path, json.to_string()).unwrap();
}

/// The child digest of `platform` (`arm64`) in the index `repo@index_digest`, read from the registry.
fn child_digest(ep: &Endpoint, repo: &str, index_digest: &str, arch: &str) -> String {
    let fetched = ep.get_manifest(repo, index_digest);
    assert_eq!(fetched.status, 200, "{fetched:?}");
    let index = fetched.json();
    let entries = index["manifests"].as_array().expect("index manifests");
    let found: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
        .collect();
    assert_eq!(found.len(), 1, "one linux/{arch} child in {index}");
    found[0]["digest"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Tags and digests on every registry kind, against buildah's --digestfile

crate::per_kind!(resolves_on: Http => http, Tls => tls, BasicAuth => basic_auth, Token => token);

fn resolves_on(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let ep = reg.endpoint();
    let host = reg.host();
    let built = images::store().push(1, &ep, "team/app:v1");
    // A second image in the same repository, under another tag.
    let other = ep.push_synthetic("team/app", Some("other"), 31);
    assert_ne!(other.digest, built);
    let home = support::temp_dir();

    // A tag: the digest buildah's --digestfile reported.
    let out = resolve_cmd(home.path(), &ep, &[reg.image("team/app:v1")])
        .outcome()
        .quiet_ok();
    assert_eq!(
        out,
        format!("{}\n", pinned(&host, "team/app", &built)),
        "{kind:?}"
    );

    // A digest: checked to exist, printed as is.
    let by_digest = reg.image(&format!("team/app@{built}"));
    let out = resolve_cmd(home.path(), &ep, &[&by_digest])
        .outcome()
        .quiet_ok();
    assert_eq!(
        out,
        format!("{}\n", pinned(&host, "team/app", &built)),
        "{kind:?}"
    );

    // repo:tag@digest where the tag points elsewhere: the digest wins.
    let both = reg.image(&format!("team/app:other@{built}"));
    let out = resolve_cmd(home.path(), &ep, &[&both]).outcome().quiet_ok();
    assert_eq!(
        out,
        format!("{}\n", pinned(&host, "team/app", &built)),
        "{kind:?}"
    );

    // Several images in one call: one line each, in argument order.
    let out = resolve_cmd(
        home.path(),
        &ep,
        &[
            reg.image("team/app:other"),
            by_digest,
            reg.image("team/app:v1"),
            both,
        ],
    )
    .outcome()
    .quiet_ok();
    let expected: Vec<String> = [&other.digest, &built, &built, &built]
        .iter()
        .map(|d| pinned(&host, "team/app", d))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{kind:?}");
}

// ---------------------------------------------------------------------------------------------
// 2 and 3. A two-platform index, and JSON output

#[test]
fn index_resolves_per_platform_and_prints_json() {
    let reg = Registry::token();
    let ep = reg.endpoint();
    let host = reg.host();
    let index = images::store().push_index(2, &ep, "multi/app:v1");
    let arm64 = child_digest(&ep, "multi/app", &index, "arm64");
    let amd64 = child_digest(&ep, "multi/app", &index, "amd64");
    let home = support::temp_dir();
    let tag = reg.image("multi/app:v1");

    // Without --platform: the index itself.
    let out = resolve_cmd(home.path(), &ep, &[&tag]).outcome().quiet_ok();
    assert_eq!(out, format!("{}\n", pinned(&host, "multi/app", &index)));

    // With --platform: the child the registry's index lists, from the tag and from the digest.
    for (platform, child) in [("linux/arm64", &arm64), ("linux/amd64", &amd64)] {
        for image in [tag.clone(), reg.image(&format!("multi/app@{index}"))] {
            let mut cmd = resolve_cmd(home.path(), &ep, &[image]);
            cmd.args(["--platform", platform]);
            assert_eq!(
                cmd.outcome().quiet_ok(),
                format!("{}\n", pinned(&host, "multi/app", child))
            );
        }
    }

    // JSON: one document on stdout, even with -v logging on stderr.
    let mut cmd = resolve_cmd(
        home.path(),
        &ep,
        &[tag.clone(), reg.image(&format!("multi/app@{index}"))],
    );
    cmd.args(["--output", "json", "-v"]);
    let outcome = cmd.outcome();
    assert_eq!(outcome.code, 0, "{outcome}");
    assert!(outcome.stderr.contains("registry requests"), "{outcome}");
    let rows: serde_json::Value = serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{outcome}"));
    assert_eq!(
        rows,
        serde_json::json!([
            {
                "input": tag,
                "pinned": pinned(&host, "multi/app", &index),
                "digest": index,
                "media_type": OCI_INDEX,
                "status": "resolved",
            },
            {
                "input": reg.image(&format!("multi/app@{index}")),
                "pinned": pinned(&host, "multi/app", &index),
                "digest": index,
                "media_type": OCI_INDEX,
                "status": "resolved",
            },
        ])
    );

    // JSON with --platform: the child, its media type and the platform chosen.
    let mut cmd = resolve_cmd(home.path(), &ep, &[&tag]);
    cmd.args(["--platform", "linux/arm64", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&cmd.outcome().quiet_ok()).expect("JSON");
    assert_eq!(
        rows,
        serde_json::json!([{
            "input": tag,
            "pinned": pinned(&host, "multi/app", &arm64),
            "digest": arm64,
            "media_type": OCI_MANIFEST,
            "platform": "linux/arm64",
            "status": "resolved",
        }])
    );

    // A platform the index lacks: exit 1, naming the image and the platforms it has.
    let mut cmd = resolve_cmd(home.path(), &ep, &[&tag]);
    cmd.args(["--platform", "linux/s390x"]);
    cmd.outcome()
        .only_error(1, &[&tag, "linux/s390x", "linux/amd64, linux/arm64"]);
    let mut cmd = resolve_cmd(home.path(), &ep, &[&tag]);
    cmd.args(["--platform", "linux/arm/v7", "-o", "json"]);
    let line = cmd
        .outcome()
        .only_error(1, &[&tag, "linux/arm/v7", "linux/amd64"]);
    assert!(!line.contains('{'), "{line}");

    // Malformed --platform: a usage error before any request.
    for bad in ["linux", "linux/", "/arm64", "linux/arm64/v8/x", ""] {
        let mut cmd = resolve_cmd(home.path(), &ep, &[&tag]);
        cmd.arg(format!("--platform={bad}"));
        let outcome = cmd.outcome();
        assert_eq!(outcome.code, 2, "--platform {bad:?}:\n{outcome}");
        assert!(outcome.stderr.contains("OS/ARCH"), "{outcome}");
        assert_eq!(outcome.stdout, "");
    }
}

#[test]
fn json_output_of_single_images_has_no_platform() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let one = ep.push_synthetic("json/app", Some("a"), 41);
    let two = ep.push_synthetic("json/other", Some("b"), 42);
    let home = support::temp_dir();
    let inputs = [reg.image("json/app:a"), reg.image("json/other:b")];
    let mut cmd = resolve_cmd(home.path(), &ep, &inputs);
    cmd.args(["--output", "json"]);
    let stdout = cmd.outcome().quiet_ok();
    assert!(stdout.ends_with("]\n"), "{stdout}");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&stdout).expect("a JSON array and nothing else");
    assert_eq!(rows.len(), 2);
    for (row, (input, image)) in rows.iter().zip(inputs.iter().zip([&one, &two])) {
        let keys: BTreeSet<&str> = row.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["digest", "input", "media_type", "pinned", "status"]),
            "{row:?}"
        );
        assert_eq!(row["input"], input.as_str());
        assert_eq!(row["pinned"], image.pinned.as_str());
        assert_eq!(row["digest"], image.digest.as_str());
        assert_eq!(row["media_type"], OCI_MANIFEST);
    }
}

/// `--platform` on a single-platform image checks the image's own config: the right
/// platform passes (and is reported), another one is an error naming both.
#[test]
fn platform_of_a_single_image_is_checked_against_its_config() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let image = ep.push_synthetic("single/app", Some("v1"), 43);
    let home = support::temp_dir();
    let tag = reg.image("single/app:v1");
    let mut cmd = resolve_cmd(home.path(), &ep, &[&tag]);
    cmd.args(["--platform", "linux/amd64", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&cmd.outcome().quiet_ok()).unwrap();
    assert_eq!(rows[0]["digest"], image.digest.as_str(), "{rows}");
    assert_eq!(rows[0]["platform"], "linux/amd64", "{rows}");
    let mut cmd = resolve_cmd(home.path(), &ep, &[&tag]);
    cmd.args(["--platform", "linux/arm64"]);
    cmd.outcome().only_error(
        1,
        &[&tag, "single-platform linux/amd64 image, not linux/arm64"],
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Bad input

#[test]
fn malformed_references_are_usage_errors_before_any_request() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    ep.push_synthetic("bad/app", Some("v1"), 51);
    proxy.reset();
    let home = support::temp_dir();
    let good = proxy.image("bad/app:v1");
    let host = proxy.host();
    let cases = [
        (format!("{host}/Bad/App:v1"), "lowercase"),
        (format!("{host}/bad/app@sha256:abc123"), "64 hex"),
        (String::new(), "empty"),
        ("   ".to_string(), "empty"),
        (format!("https://{host}/bad/app:v1"), "without a scheme"),
        (format!("{host}/bad/app:v1:v2"), "path component"),
        (
            format!("{host}/bad/app@sha512:{}", "a".repeat(128)),
            "sha256",
        ),
        (format!("{host}/bad//app"), "empty component"),
    ];
    for (bad, why) in &cases {
        // Malformed alone, and after a valid image: nothing is resolved, nothing printed.
        for images in [vec![bad.clone()], vec![good.clone(), bad.clone()]] {
            let mut cmd = resolve_cmd(home.path(), &ep, &images);
            let quoted = format!("{bad:?}");
            let line = cmd
                .outcome()
                .only_error(2, &["invalid image reference", &quoted, why]);
            assert!(!line.contains(&format!("{good:?}")), "{line}");
        }
    }
    assert_eq!(proxy.total(), 0, "requests sent:\n{}", proxy.report());

    // No image at all is clap's usage error.
    let outcome = pinsign(home.path()).arg("resolve-digest").outcome();
    assert_eq!(outcome.code, 2, "{outcome}");
    assert!(outcome.stderr.contains("IMAGE"), "{outcome}");
}

#[test]
fn unknown_repository_and_tag_fail_naming_them() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let image = ep.push_synthetic("known/app", Some("v1"), 61);
    let home = support::temp_dir();

    let unknown_repo = reg.image("unknown/app:v1");
    resolve_cmd(home.path(), &ep, &[&unknown_repo])
        .outcome()
        .only_error(1, &[&unknown_repo, "not found"]);
    let unknown_tag = reg.image("known/app:v2");
    resolve_cmd(home.path(), &ep, &[&unknown_tag])
        .outcome()
        .only_error(1, &[&unknown_tag, "tag v2 not found", "known/app"]);
    // A digest that does not exist is not trusted.
    let missing = format!("sha256:{}", "0".repeat(64));
    let unknown_digest = reg.image(&format!("known/app@{missing}"));
    resolve_cmd(home.path(), &ep, &[&unknown_digest])
        .outcome()
        .only_error(1, &[&unknown_digest, &missing, "not found"]);
    // Nor is a digest of another repository.
    let elsewhere = reg.image(&format!("unknown/app@{}", image.digest));
    resolve_cmd(home.path(), &ep, &[&elsewhere])
        .outcome()
        .only_error(1, &[&elsewhere, "not found"]);
    // The image without a tag means :latest.
    let latest = reg.image("known/app");
    resolve_cmd(home.path(), &ep, &[&latest])
        .outcome()
        .only_error(1, &[&latest, "tag latest not found"]);

    // In a batch, a failure does not stop the others: every image is reported (the failed
    // one with its error), and the exit code is 1 at the end.
    let mut cmd = resolve_cmd(
        home.path(),
        &ep,
        &[unknown_tag.clone(), reg.image("known/app:v1")],
    );
    cmd.args(["-o", "json"]);
    let outcome = cmd.outcome();
    assert_eq!(outcome.code, 1, "{outcome}");
    let doc: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("one JSON document");
    let rows = doc.as_array().expect("an array");
    assert_eq!(rows.len(), 2, "{doc}");
    assert!(
        rows[0]["error"].as_str().unwrap().contains(&unknown_tag),
        "{doc}"
    );
    assert!(rows[0].get("pinned").is_none(), "{doc}");
    assert!(
        rows[1]["digest"].as_str().unwrap().starts_with("sha256:"),
        "{doc}"
    );
    assert!(outcome.stderr.contains(&unknown_tag), "{outcome}");
    assert!(outcome.stderr.contains("1 of 2 images failed"), "{outcome}");
}

/// A distinctive wrong password that must never appear in any output.
const WRONG_PASSWORD: &str = "wrong-Pa55word-7c1e";

fn assert_no_secret(outcome: &Outcome) {
    for secret in [
        WRONG_PASSWORD,
        WRITER.password,
        READER.password,
        &b64(&format!("writer:{WRONG_PASSWORD}")),
        &b64(&format!("writer:{}", WRITER.password)),
    ] {
        assert!(
            !outcome.stdout.contains(secret) && !outcome.stderr.contains(secret),
            "output shows a secret {secret:?}:\n{outcome}"
        );
    }
}

crate::per_kind!(wrong_credentials_on: BasicAuth => basic_auth, Token => token);

fn wrong_credentials_on(kind: RegistryKind) {
    let reg = &Registry::start(kind);
    let ep = reg.endpoint();
    ep.push_synthetic("private/app", Some("v1"), 71);
    let image = reg.image("private/app:v1");
    let home = support::temp_dir();
    let wrong = ep.with_creds("writer", WRONG_PASSWORD);

    // From PINSIGN_REGISTRY_USERNAME/PASSWORD, also at -vv (debug logs must not leak it either).
    let mut cmd = resolve_cmd(home.path(), &wrong, &[&image]);
    let line = cmd.outcome().only_error(
        1,
        &[
            &image,
            "PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD",
            "401",
        ],
    );
    assert!(!line.contains(WRONG_PASSWORD), "{line}");
    let mut cmd = resolve_cmd(home.path(), &wrong, &[&image]);
    cmd.arg("-vv");
    let outcome = cmd.outcome();
    assert_eq!(outcome.code, 1, "{outcome}");
    assert_no_secret(&outcome);

    // From the flags.
    let mut cmd = pinsign(home.path());
    cmd.args(reg.pinsign_flags())
        .args(wrong.pinsign_cred_flags())
        .args(["resolve-digest", &image]);
    let outcome = cmd.outcome();
    assert_no_secret(&outcome);
    let mut cmd = pinsign(home.path());
    cmd.args(reg.pinsign_flags())
        .args(["resolve-digest", &image])
        .args(wrong.pinsign_cred_flags());
    cmd.outcome()
        .only_error(1, &[&image, "--registry-username/--registry-password"]);

    // From an auth file.
    let auth_file = home.path().join("auth.json");
    write_auth_file(&auth_file, &reg.host(), "writer", WRONG_PASSWORD);
    let mut cmd = resolve_cmd(home.path(), &ep.anonymous(), &[&image]);
    cmd.env("REGISTRY_AUTH_FILE", &auth_file);
    let outcome = cmd.outcome();
    assert_no_secret(&outcome);
    let mut cmd = resolve_cmd(home.path(), &ep.anonymous(), &[&image]);
    cmd.env("REGISTRY_AUTH_FILE", &auth_file);
    cmd.outcome()
        .only_error(1, &[&image, &format!("auth file {}", auth_file.display())]);

    // No credentials at all: say how to log in.
    let mut cmd = resolve_cmd(home.path(), &ep.anonymous(), &[&image]);
    cmd.outcome()
        .only_error(1, &[&image, "log in", "--registry-username"]);
}

#[test]
fn transport_errors_say_what_to_do() {
    let home = support::temp_dir();

    // TLS registry with a CA pinsign does not know: suggest --registry-cacert.
    let tls = Registry::tls();
    tls.endpoint().push_synthetic("tls/app", Some("v1"), 81);
    let image = tls.image("tls/app:v1");
    let mut cmd = pinsign(home.path());
    cmd.args(["resolve-digest", &image]);
    cmd.outcome()
        .only_error(1, &[&image, "unknown authority", "--registry-cacert"]);

    // --allow-http-registry against a TLS registry: say it speaks TLS.
    let mut cmd = pinsign(home.path());
    cmd.args(["--allow-http-registry", "resolve-digest", &image]);
    cmd.outcome()
        .only_error(1, &[&image, "TLS", "drop --allow-http-registry"]);

    // A plain-http registry on a loopback name needs no flag (the localhost rule); under a
    // name the rule does not cover (the same address, IPv4-mapped), plain HTTP is refused
    // and the error says how to allow it.
    let http = Registry::http();
    let pushed = http.endpoint().push_synthetic("plain/app", Some("v1"), 82);
    let mut cmd = pinsign(home.path());
    cmd.args(["resolve-digest", &http.image("plain/app:v1")]);
    assert_eq!(cmd.outcome().quiet_ok(), format!("{}\n", pushed.pinned));
    let port = http.host().rsplit_once(':').unwrap().1.to_string();
    let image = format!("[::ffff:127.0.0.1]:{port}/plain/app:v1");
    let mut cmd = pinsign(home.path());
    cmd.args(["resolve-digest", &image]);
    cmd.outcome().only_error(
        1,
        &[
            &image,
            "plain HTTP",
            "insecure = true in registries.conf",
            "--allow-http-registry",
        ],
    );

    // Nothing listens on the port: connection refused (after fast retries).
    let port = support::free_port();
    let image = format!("127.0.0.1:{port}/gone/app:v1");
    let mut cmd = pinsign(home.path());
    cmd.env("PINSIGN_RETRY_BASE_MS", "1")
        .args(["--allow-http-registry", "resolve-digest", &image]);
    cmd.outcome().only_error(1, &[&image, "connection refused"]);

    // A --registry-cacert that is missing or not PEM is a usage error.
    let missing = home.path().join("no-such-ca.pem");
    let mut cmd = pinsign(home.path());
    cmd.arg("--registry-cacert")
        .arg(&missing)
        .args(["resolve-digest", &tls.image("tls/app:v1")]);
    cmd.outcome().only_error(2, &["no-such-ca.pem"]);
    let not_pem = home.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let mut cmd = pinsign(home.path());
    cmd.arg("--registry-cacert")
        .arg(&not_pem)
        .args(["resolve-digest", &tls.image("tls/app:v1")]);
    cmd.outcome()
        .only_error(2, &["not-a-ca.pem", "no PEM certificate"]);
}

/// The lying registry's HEAD claims whatever digest was asked for, so a digest reference passes the
/// existence check; what matters is that pinsign pins exactly what it was asked or told, never the
/// hash of other bytes. (A body that does not match is refused wherever pinsign GETs it: see
/// `corrupted_index_is_refused_on_the_get_path`.)
#[test]
fn lying_registry_pins_only_what_it_was_told() {
    let liar = LyingRegistry::start();
    let home = support::temp_dir();
    let ep = liar.endpoint();

    // By tag, the HEAD's Docker-Content-Digest is all pinsign asks for: it pins what was claimed.
    let out = resolve_cmd(home.path(), &ep, &[liar.image("liar/app:v1")])
        .outcome()
        .quiet_ok();
    assert_eq!(
        out,
        format!(
            "{}\n",
            pinned(&liar.host(), "liar/app", &liar.claimed_digest())
        )
    );

    // By digest: the digest asked for, confirmed by the HEAD.
    for asked in [liar.claimed_digest(), liar.served_digest()] {
        let image = liar.image(&format!("liar/app@{asked}"));
        let out = resolve_cmd(home.path(), &ep, &[image]).outcome().quiet_ok();
        assert_eq!(
            out,
            format!("{}\n", pinned(&liar.host(), "liar/app", &asked))
        );
    }
}

/// A real Distribution whose stored index blob was altered on disk serves bytes that no longer hash
/// to their digest: `--platform` reads the index (GET) and must refuse it, naming both digests.
#[test]
fn corrupted_index_is_refused_on_the_get_path() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let index = ep.push_synthetic_index("corrupt/app", Some("v1"), 91);
    let hex = &index.digest["sha256:".len()..];
    let blob = reg.dir().join(format!(
        "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let original = std::fs::read(&blob).expect("index blob in the registry's storage");
    assert_eq!(original, index.index);
    // Still a valid index, listing the same children, but other bytes.
    let mut altered = original.clone();
    altered.extend_from_slice(b"\n");
    std::fs::write(&blob, &altered).unwrap();
    let actual = support::sha256_digest(&altered);

    let home = support::temp_dir();
    let image = reg.image("corrupt/app:v1");
    // The HEAD still answers the index digest: resolving the tag alone pins it.
    let out = resolve_cmd(home.path(), &ep, &[&image])
        .outcome()
        .quiet_ok();
    assert_eq!(out, format!("{}\n", index.pinned));
    // Choosing a platform reads the index: its bytes do not match.
    let mut cmd = resolve_cmd(home.path(), &ep, &[&image]);
    cmd.args(["--platform", "linux/arm64"]);
    cmd.outcome()
        .only_error(1, &[&image, &index.digest, &actual]);
    let by_digest = reg.image(&format!("corrupt/app@{}", index.digest));
    let mut cmd = resolve_cmd(home.path(), &ep, &[&by_digest]);
    cmd.args(["--platform", "linux/amd64"]);
    cmd.outcome()
        .only_error(1, &[&by_digest, &index.digest, &actual]);
}

#[test]
fn server_errors_are_retried_then_reported() {
    let home = support::temp_dir();

    // 500 on every request: retried, then one clean line.
    let liar = LyingRegistry::with_mode(LieMode::Status(500));
    let image = liar.image("flaky/app:v1");
    let mut cmd = resolve_cmd(home.path(), &liar.endpoint(), &[&image]);
    cmd.env("PINSIGN_RETRY_BASE_MS", "1");
    cmd.outcome().only_error(1, &[&image, "500", "HEAD"]);
    let attempts = liar.requests();
    assert!(attempts > 1, "a 500 is retried: {:?}", liar.log());
    eprintln!("500: {attempts} attempts");

    // 401 without a challenge: refused, naming the (absent) credentials and how to log in.
    let liar = LyingRegistry::with_mode(LieMode::StatusAfterPing(401));
    let image = liar.image("locked/app:v1");
    let mut cmd = resolve_cmd(home.path(), &liar.endpoint(), &[&image]);
    cmd.outcome()
        .only_error(1, &[&image, "401", "anonymous", "log in"]);
    assert_eq!(liar.requests(), 1, "a 401 is not retried: {:?}", liar.log());

    // 503 that recovers while pinsign backs off: success. The retry delay (1 s, then 2 s, 4 s) is
    // far longer than it takes this test to see the first request and switch the mode.
    let liar = LyingRegistry::with_mode(LieMode::Status(503));
    let image = liar.image("flaky/app:v1");
    let mut cmd = support::pinsign_std(home.path());
    cmd.env_remove("PINSIGN_LOG")
        .env("PINSIGN_RETRY_BASE_MS", "1000")
        .args(liar.pinsign_flags())
        .args(["resolve-digest", &image])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn pinsign");
    assert!(
        support::wait_until(Duration::from_secs(60), || liar.requests() >= 1),
        "pinsign never reached the registry"
    );
    liar.set_mode(LieMode::Honest);
    let output = child.wait_with_output().expect("wait for pinsign");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "{}\n",
            pinned(&liar.host(), "flaky/app", &liar.served_digest())
        )
    );
    assert!(liar.requests() >= 2, "{:?}", liar.log());
}

// ---------------------------------------------------------------------------------------------
// 5. Where credentials come from

/// A `docker-credential-pinsigntest` in its own directory: answers `get` for `host` with
/// `user`/`secret`, "credentials not found" for anything else, and logs the servers asked for.
fn write_credential_helper(dir: &Path, host: &str, user: &str, secret: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("helper.log");
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = get ] || exit 2\n\
         server=$(cat)\n\
         printf '%s\\n' \"$server\" >> '{log}'\n\
         if [ \"$server\" = '{host}' ]; then\n\
           printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n\
         else\n\
           echo 'credentials not found in native keychain'\n\
           exit 1\n\
         fi\n",
        log = log.display()
    );
    let path = dir.join("docker-credential-pinsigntest");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

crate::per_kind!(credential_sources_on: BasicAuth => basic_auth, Token => token);

fn credential_sources_on(kind: RegistryKind) {
    let reg = &Registry::start(kind);
    let ep = reg.endpoint();
    let image = ep.push_synthetic("creds/app", Some("v1"), 101);
    let input = reg.image("creds/app:v1");
    let expected = format!("{}\n", image.pinned);
    let host = reg.host();
    let anonymous = ep.anonymous();
    let resolve = |home: &Path| resolve_cmd(home, &anonymous, &[&input]);

    // $REGISTRY_AUTH_FILE (containers auth.json), as reader (pull only is enough).
    let home = support::temp_dir();
    let auth_file = home.path().join("containers-auth.json");
    write_auth_file(&auth_file, &host, READER.name, READER.password);
    assert_eq!(
        resolve(home.path())
            .env("REGISTRY_AUTH_FILE", &auth_file)
            .outcome()
            .quiet_ok(),
        expected
    );

    // $DOCKER_CONFIG/config.json, with an https:// key as docker writes it.
    let home = support::temp_dir();
    let docker_config = home.path().join("docker-config");
    write_auth_file(
        &docker_config.join("config.json"),
        &format!("https://{host}"),
        WRITER.name,
        WRITER.password,
    );
    assert_eq!(
        resolve(home.path())
            .env("DOCKER_CONFIG", &docker_config)
            .outcome()
            .quiet_ok(),
        expected
    );

    // ~/.docker/config.json through $HOME.
    let home = support::temp_dir();
    write_auth_file(
        &home.path().join(".docker/config.json"),
        &host,
        WRITER.name,
        WRITER.password,
    );
    assert_eq!(resolve(home.path()).outcome().quiet_ok(), expected);

    // $REGISTRY_AUTH_FILE comes before $DOCKER_CONFIG and ~/.docker.
    let wrong_config = home.path().join("wrong-docker-config");
    write_auth_file(
        &wrong_config.join("config.json"),
        &host,
        "writer",
        WRONG_PASSWORD,
    );
    let good_auth = home.path().join("good-auth.json");
    write_auth_file(&good_auth, &host, WRITER.name, WRITER.password);
    assert_eq!(
        resolve(home.path())
            .env("REGISTRY_AUTH_FILE", &good_auth)
            .env("DOCKER_CONFIG", &wrong_config)
            .outcome()
            .quiet_ok(),
        expected
    );
    // ... and $DOCKER_CONFIG before ~/.docker (which is right): its wrong entry is used and named.
    resolve(home.path())
        .env("DOCKER_CONFIG", &wrong_config)
        .outcome()
        .only_error(1, &[&input, "wrong-docker-config/config.json"]);

    // credHelpers: a docker-credential-pinsigntest first on PATH.
    let home = support::temp_dir();
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper_log = write_credential_helper(&bin, &host, WRITER.name, WRITER.password);
    let config = home.path().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        serde_json::json!({"credHelpers": {&host: "pinsigntest"}}).to_string(),
    )
    .unwrap();
    assert_eq!(
        resolve(home.path())
            .env("PATH", path_with(&bin))
            .outcome()
            .quiet_ok(),
        expected
    );
    let asked = std::fs::read_to_string(&helper_log).unwrap();
    assert_eq!(
        asked,
        format!("{host}\n"),
        "helper asked once, for the registry host"
    );
    // Three repositories of one registry in one run: the helper still runs once.
    std::fs::remove_file(&helper_log).unwrap();
    let other = ep.push_synthetic("creds/other", Some("v1"), 102);
    let third = ep.push_synthetic("creds/third", Some("v1"), 103);
    let inputs = [
        input.clone(),
        reg.image("creds/other:v1"),
        reg.image("creds/third:v1"),
    ];
    assert_eq!(
        resolve_cmd(home.path(), &anonymous, &inputs)
            .env("PATH", path_with(&bin))
            .outcome()
            .quiet_ok(),
        format!("{}\n{}\n{}\n", image.pinned, other.pinned, third.pinned)
    );
    assert_eq!(
        std::fs::read_to_string(&helper_log).unwrap(),
        format!("{host}\n"),
        "one helper run per registry, not per repository"
    );
    // The helper with a wrong secret: named in the error, secret not shown.
    let bad_bin = home.path().join("bad-bin");
    std::fs::create_dir_all(&bad_bin).unwrap();
    write_credential_helper(&bad_bin, &host, "writer", WRONG_PASSWORD);
    let outcome = resolve(home.path())
        .env("PATH", path_with(&bad_bin))
        .outcome();
    assert_no_secret(&outcome);
    resolve(home.path())
        .env("PATH", path_with(&bad_bin))
        .outcome()
        .only_error(1, &[&input, "docker-credential-pinsigntest"]);
    // A helper that is not installed: a clear error naming it and the file, not anonymous access.
    resolve(home.path()).outcome().only_error(
        1,
        &[
            &input,
            "docker-credential-pinsigntest",
            &format!("auth file {}", config.display()),
        ],
    );

    // credsStore: the helper for every registry; one that does not know this registry means
    // anonymous access (and a hint to log in), not an error.
    let home = support::temp_dir();
    let config = home.path().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        serde_json::json!({"auths": {}, "credsStore": "pinsigntest"}).to_string(),
    )
    .unwrap();
    assert_eq!(
        resolve(home.path())
            .env("PATH", path_with(&bin))
            .outcome()
            .quiet_ok(),
        expected
    );
    let elsewhere = home.path().join("elsewhere-bin");
    std::fs::create_dir_all(&elsewhere).unwrap();
    write_credential_helper(&elsewhere, "registry.example", WRITER.name, WRITER.password);
    resolve(home.path())
        .env("PATH", path_with(&elsewhere))
        .outcome()
        .only_error(1, &[&input, "anonymous", "log in"]);

    // Flags and env override the files.
    let home = support::temp_dir();
    let wrong_file = home.path().join("wrong-auth.json");
    write_auth_file(&wrong_file, &host, "writer", WRONG_PASSWORD);
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &wrong_file)
        .args(reg.pinsign_flags())
        .args(ep.pinsign_cred_flags())
        .args(["resolve-digest", &input]);
    assert_eq!(cmd.outcome().quiet_ok(), expected);
    let mut cmd = resolve_cmd(home.path(), &ep, &[&input]);
    cmd.env("REGISTRY_AUTH_FILE", &wrong_file);
    assert_eq!(cmd.outcome().quiet_ok(), expected);
    // Right file, wrong flags: the flags are used (and named).
    let good_file = home.path().join("good-auth.json");
    write_auth_file(&good_file, &host, WRITER.name, WRITER.password);
    let mut cmd = pinsign(home.path());
    cmd.env("REGISTRY_AUTH_FILE", &good_file)
        .args(reg.pinsign_flags())
        .args(ep.with_creds("writer", WRONG_PASSWORD).pinsign_cred_flags())
        .args(["resolve-digest", &input]);
    cmd.outcome()
        .only_error(1, &[&input, "--registry-username/--registry-password"]);
    // Half the credentials is a usage error.
    let mut cmd = pinsign(home.path());
    cmd.args(reg.pinsign_flags())
        .args(["--registry-username", "writer", "resolve-digest", &input]);
    cmd.outcome().only_error(2, &["--registry-password"]);

    // A broken auth file is named, not skipped.
    let home = support::temp_dir();
    let broken = home.path().join("broken.json");
    std::fs::write(&broken, "{\"auths\": ").unwrap();
    resolve(home.path())
        .env("REGISTRY_AUTH_FILE", &broken)
        .outcome()
        .only_error(1, &[&input, "broken.json"]);
}

// ---------------------------------------------------------------------------------------------
// 6. What one resolve costs

#[test]
fn one_tag_costs_one_head_on_an_anonymous_registry() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let image = ep.push_synthetic("count/app", Some("v1"), 111);
    let index = ep.push_synthetic_index("count/multi", Some("v1"), 112);
    let home = support::temp_dir();

    proxy.reset();
    let mut cmd = resolve_cmd(home.path(), &ep, &[proxy.image("count/app:v1")]);
    assert_eq!(
        cmd.outcome().quiet_ok(),
        format!("{}\n", image.pinned.replace(&reg.host(), &proxy.host()))
    );
    assert_eq!(
        proxy.log(),
        vec![("HEAD".to_string(), "/v2/count/app/manifests/v1".to_string())],
        "{}",
        proxy.report()
    );
    eprintln!("http, tag: {}", proxy.report());

    // A digest: one HEAD too.
    proxy.reset();
    let mut cmd = resolve_cmd(
        home.path(),
        &ep,
        &[proxy.image(&format!("count/app@{}", image.digest))],
    );
    cmd.outcome().quiet_ok();
    assert_eq!(proxy.total(), 1, "{}", proxy.report());
    assert_eq!(proxy.count("HEAD", "/manifests/sha256:"), 1);

    // An index with --platform: HEAD, GET of the index, HEAD of the child chosen (an index
    // may list a child the registry does not have, and nothing unconfirmed is pinned).
    proxy.reset();
    let mut cmd = resolve_cmd(home.path(), &ep, &[proxy.image("count/multi:v1")]);
    cmd.args(["--platform", "linux/arm64"]);
    let out = cmd.outcome().quiet_ok();
    assert!(out.contains(&index.children[1].digest), "{out}");
    assert_eq!(
        proxy.count("HEAD", "/manifests/v1"),
        1,
        "{}",
        proxy.report()
    );
    assert_eq!(
        proxy.count("GET", &format!("/manifests/{}", index.digest)),
        1,
        "{}",
        proxy.report()
    );
    assert_eq!(
        proxy.count("HEAD", &format!("/manifests/{}", index.children[1].digest)),
        1,
        "{}",
        proxy.report()
    );
    assert_eq!(proxy.total(), 3, "{}", proxy.report());

    // Five tags in one call: five HEADs.
    for i in 0..5 {
        ep.push_synthetic("count/five", Some(&format!("t{i}")), 113 + i);
    }
    proxy.reset();
    let connections = proxy.connections();
    let tags: Vec<String> = (0..5)
        .map(|i| proxy.image(&format!("count/five:t{i}")))
        .collect();
    resolve_cmd(home.path(), &ep, &tags).outcome().quiet_ok();
    assert_eq!(proxy.total(), 5, "{}", proxy.report());
    assert_eq!(proxy.count("HEAD", "/v2/count/five/manifests/t"), 5);
    eprintln!(
        "http, five tags: {} over {} connections",
        proxy.report(),
        proxy.connections() - connections
    );
}

#[test]
fn token_registry_costs_one_token_per_repository() {
    let reg = Registry::token_http();
    let tokens = reg.token_server().unwrap();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let image = ep.push_synthetic("count/app", Some("v1"), 121);
    for i in 0..5 {
        ep.push_synthetic("count/five", Some(&format!("t{i}")), 122 + i);
    }
    ep.push_synthetic("count/other", Some("v1"), 127);
    let home = support::temp_dir();

    // One tag: HEAD (401 + challenge), one token, HEAD again.
    proxy.reset();
    let before = tokens.requests();
    let mut cmd = resolve_cmd(home.path(), &ep, &[proxy.image("count/app:v1")]);
    cmd.arg("-v");
    let outcome = cmd.outcome();
    assert_eq!(outcome.code, 0, "{outcome}");
    assert_eq!(
        outcome.stdout,
        format!("{}\n", image.pinned.replace(&reg.host(), &proxy.host()))
    );
    let token_requests = tokens.requests() - before;
    eprintln!(
        "token_http, tag: {} token requests: {token_requests}; pinsign counted {}",
        proxy.report(),
        logged_request_count(&outcome.stderr)
    );
    assert_eq!(
        proxy.count("HEAD", "/v2/count/app/manifests/v1"),
        2,
        "{}",
        proxy.report()
    );
    assert_eq!(proxy.total(), 2, "no ping, no GET: {}", proxy.report());
    assert_eq!(token_requests, 1);
    assert_eq!(logged_request_count(&outcome.stderr), 3);
    let last = tokens.log().pop().unwrap();
    assert_eq!(last.user.as_deref(), Some("writer"));
    assert_eq!(last.scopes, vec!["repository:count/app:pull".to_string()]);

    // Five tags of one repository: the token is fetched once and reused.
    proxy.reset();
    let before = tokens.requests();
    let tags: Vec<String> = (0..5)
        .map(|i| proxy.image(&format!("count/five:t{i}")))
        .collect();
    let out = resolve_cmd(home.path(), &ep, &tags).outcome().quiet_ok();
    assert_eq!(out.lines().count(), 5);
    assert_eq!(tokens.requests() - before, 1, "one token for five tags");
    assert_eq!(proxy.count("HEAD", "/manifests/"), 6, "{}", proxy.report());
    assert_eq!(proxy.total(), 6, "{}", proxy.report());

    // Two repositories: a token each (scopes are per repository), but only the first 401.
    proxy.reset();
    let before = tokens.requests();
    let out = resolve_cmd(
        home.path(),
        &ep,
        &[proxy.image("count/app:v1"), proxy.image("count/other:v1")],
    )
    .outcome()
    .quiet_ok();
    assert_eq!(out.lines().count(), 2);
    let two_repo_tokens = tokens.requests() - before;
    eprintln!(
        "token_http, two repositories: {} token requests: {two_repo_tokens}",
        proxy.report()
    );
    assert_eq!(two_repo_tokens, 2);
    assert_eq!(proxy.total(), 3, "{}", proxy.report());
}

/// Requests pinsign itself counts (`-v`) for one tag on each kind, TLS kinds included (the proxy
/// only forwards plain http).
#[test]
fn request_count_of_one_tag_on_every_kind() {
    let mut report = Vec::new();
    for kind in RegistryKind::ALL {
        let reg = Registry::start(kind);
        let ep = reg.endpoint();
        ep.push_synthetic("count/app", Some("v1"), 131);
        let home = support::temp_dir();
        let before = reg.token_server().map(|t| t.requests());
        let mut cmd = resolve_cmd(home.path(), &ep, &[reg.image("count/app:v1")]);
        cmd.arg("-v");
        let outcome = cmd.outcome();
        assert_eq!(outcome.code, 0, "{kind:?}: {outcome}");
        let counted = logged_request_count(&outcome.stderr);
        let tokens = reg
            .token_server()
            .map(|t| t.requests() - before.unwrap_or(0))
            .unwrap_or(0);
        report.push(format!("{kind:?}: {counted} requests ({tokens} token)"));
        // 1 HEAD; a token registry adds the unavoidable 401 and one token request; a basic
        // registry given PINSIGN_REGISTRY_* credentials adds the 401 that asks for them
        // (credentials not tied to a registry wait for its challenge; an auth file entry for
        // the registry goes up front: see `credentials_from_an_auth_file_cost_no_401`).
        let expected = match kind {
            RegistryKind::Token | RegistryKind::TokenHttp => 3,
            RegistryKind::BasicAuth => 2,
            _ => 1,
        };
        assert_eq!(counted, expected, "{kind:?}");
        assert_eq!(tokens, if expected == 3 { 1 } else { 0 }, "{kind:?}");
    }
    eprintln!("one resolve-digest of a tag:\n  {}", report.join("\n  "));
}

/// An auth file entry names its registry, so its credentials go with the first request: a
/// basic-auth registry costs no 401.
#[test]
fn credentials_from_an_auth_file_cost_no_401() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    ep.push_synthetic("count/app", Some("v1"), 132);
    let home = support::temp_dir();
    let auth_file = home.path().join("auth.json");
    write_auth_file(&auth_file, &reg.host(), WRITER.name, WRITER.password);
    let mut cmd = resolve_cmd(home.path(), &ep.anonymous(), &[reg.image("count/app:v1")]);
    cmd.env("REGISTRY_AUTH_FILE", &auth_file).arg("-v");
    let outcome = cmd.outcome();
    assert_eq!(outcome.code, 0, "{outcome}");
    assert_eq!(logged_request_count(&outcome.stderr), 1, "{outcome}");
}

// ---------------------------------------------------------------------------------------------
// 7. TLS without verification

#[test]
fn insecure_tls_works_without_a_ca_and_conflicts_with_one() {
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let image = ep.push_synthetic("insecure/app", Some("v1"), 141);
    let input = reg.image("insecure/app:v1");
    let home = support::temp_dir();

    let mut cmd = pinsign(home.path());
    cmd.args(["resolve-digest", &input, "--allow-insecure-registry"]);
    assert_eq!(cmd.outcome().quiet_ok(), format!("{}\n", image.pinned));

    let ca = reg.ca_path().unwrap();
    let mut cmd = pinsign(home.path());
    cmd.arg("--allow-insecure-registry")
        .arg("--registry-cacert")
        .arg(ca)
        .args(["resolve-digest", &input]);
    cmd.outcome()
        .only_error(2, &["--allow-insecure-registry", "--registry-cacert"]);
}

/// auth.json entries per repository (`podman login REG/NAMESPACE`): the most specific entry is used
/// for each image, also when one call resolves images of several repositories.
#[test]
fn per_repository_auth_entries_apply_per_image() {
    let reg = Registry::token();
    let ep = reg.endpoint();
    let team = ep.push_synthetic("team/app", Some("v1"), 151);
    let other = ep.push_synthetic("other/app", Some("v1"), 152);
    let tokens = reg.token_server().unwrap();
    let home = support::temp_dir();
    let auth_file = home.path().join("auth.json");
    let host = reg.host();
    let json = serde_json::json!({"auths": {
        &host: {"auth": b64(&format!("{}:{}", WRITER.name, WRITER.password))},
        format!("{host}/team"): {"auth": b64(&format!("{}:{}", READER.name, READER.password))},
    }});
    std::fs::write(&auth_file, json.to_string()).unwrap();

    for order in [
        ["team/app:v1", "other/app:v1"],
        ["other/app:v1", "team/app:v1"],
    ] {
        let before = tokens.log().len();
        let images: Vec<String> = order.iter().map(|i| reg.image(i)).collect();
        let mut cmd = resolve_cmd(home.path(), &ep.anonymous(), &images);
        cmd.env("REGISTRY_AUTH_FILE", &auth_file);
        let out = cmd.outcome().quiet_ok();
        let expected: Vec<&str> = order
            .iter()
            .map(|i| {
                if i.starts_with("team/") {
                    team.pinned.as_str()
                } else {
                    other.pinned.as_str()
                }
            })
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), expected);
        let users: Vec<(String, Vec<String>)> = tokens.log()[before..]
            .iter()
            .map(|t| (t.user.clone().unwrap_or_default(), t.scopes.clone()))
            .collect();
        for (user, scopes) in &users {
            let want = if scopes.iter().any(|s| s.contains(":team/app:")) {
                READER.name
            } else {
                WRITER.name
            };
            assert_eq!(user, want, "order {order:?}: token requests {users:?}");
        }
        assert_eq!(users.len(), 2, "{users:?}");
    }
}
