//! Smoke tests of the test harness itself (`tests/support`): every component starts, answers, and
//! is reachable with the flags and credentials the harness hands out.

use crate::support;

use crate::support::client::{Endpoint, OCI_INDEX, OCI_MANIFEST};
use crate::support::images;
use crate::support::{
    sha256_digest, CountingProxy, Ferro, LieMode, LyingRegistry, Registry, RegistryKind, READER,
};
use std::time::Instant;

/// Reads `repo:reference` back over HTTP with the endpoint's auth; checks the bytes hash to the
/// `Docker-Content-Digest` and to `digest`.
fn assert_manifest(ep: &Endpoint, repo: &str, reference: &str, digest: &str) {
    let fetched = ep.get_manifest(repo, reference);
    assert_eq!(fetched.status, 200, "GET {repo}:{reference}: {fetched:?}");
    assert_eq!(sha256_digest(&fetched.body), digest, "{repo}:{reference}");
    assert_eq!(
        fetched.digest.as_deref(),
        Some(digest),
        "{repo}:{reference}"
    );
}

/// `skopeo inspect --raw` with the endpoint's containers flags; returns the manifest digest.
fn skopeo_digest(ep: &Endpoint, repo_ref: &str) -> String {
    let raw = support::run(
        images::store()
            .skopeo()
            .args(["inspect", "--raw"])
            .args(ep.containers_flags())
            .arg(ep.docker_ref(repo_ref)),
    );
    sha256_digest(raw.as_bytes())
}

crate::per_kind!(check_variant: Http => http, Tls => tls, BasicAuth => tls_basic_auth, Token => tls_token_auth, TokenHttp => http_token_auth);

fn check_variant(kind: RegistryKind) {
    let started = Instant::now();
    let reg = Registry::start(kind);
    let ep = reg.endpoint();
    eprintln!("{kind:?}: registry up in {:?}", reg.startup);

    // The unauthenticated ping tells the variant.
    let ping = reg.anonymous().ping();
    assert_eq!(ping, if kind.has_auth() { 401 } else { 200 }, "{kind:?}");

    // buildah push (flags and --creds from the harness), read back over HTTP and with skopeo.
    let pushed = Instant::now();
    let digest = images::store().push(1, &ep, "smoke/buildah:v1");
    eprintln!("{kind:?}: buildah push in {:?}", pushed.elapsed());
    assert_manifest(&ep, "smoke/buildah", "v1", &digest);
    assert_manifest(&ep, "smoke/buildah", &digest, &digest);
    assert_eq!(skopeo_digest(&ep, "smoke/buildah:v1"), digest);

    // Synthetic push over raw HTTP.
    let synthetic = ep.push_synthetic("smoke/synthetic", Some("v1"), 7);
    assert_manifest(&ep, "smoke/synthetic", "v1", &synthetic.digest);
    assert_eq!(
        synthetic.pinned,
        reg.image(&format!("smoke/synthetic@{}", synthetic.digest))
    );
    assert_ne!(synthetic.digest, digest);
    assert_eq!(ep.tags("smoke/synthetic"), vec!["v1".to_string()]);

    if kind.has_auth() {
        let anonymous = reg.anonymous().get_manifest("smoke/buildah", "v1");
        assert_eq!(anonymous.status, 401, "{kind:?}: anonymous GET");
        assert!(anonymous.header("www-authenticate").is_some());
        let wrong = ep
            .with_creds("writer", "wrong")
            .get_manifest("smoke/buildah", "v1");
        assert_eq!(wrong.status, 401, "{kind:?}: wrong password");
        // reader can pull everywhere.
        assert_manifest(&reg.endpoint_as(READER), "smoke/buildah", "v1", &digest);
    }
    if let Some(tokens) = reg.token_server() {
        assert!(tokens.requests() > 0);
        let reader = reg.endpoint_as(READER);
        let err = reader
            .try_push_synthetic("smoke/reader", Some("v1"), 8)
            .expect_err("reader must not push on the token registry");
        assert!(format!("{err:#}").contains("401"), "{err:#}");
        let log = tokens.log();
        assert!(log.iter().any(|r| r.user.as_deref() == Some("reader")));
        assert!(log.iter().any(|r| r.user.as_deref() == Some("writer")));
    }

    // pinsign flags and env the harness hands out.
    let flags = reg.pinsign_flags();
    if kind.tls() {
        assert_eq!(flags[0], "--registry-cacert");
        assert!(std::path::Path::new(&flags[1]).is_file());
    } else {
        assert_eq!(flags, vec!["--allow-http-registry".to_string()]);
    }
    assert_eq!(reg.pinsign_env().len(), if kind.has_auth() { 2 } else { 0 });
    eprintln!("{kind:?}: whole check in {:?}", started.elapsed());
}

#[test]
fn buildah_index_push() {
    let reg = Registry::token();
    let ep = reg.endpoint();
    let digest = images::store().push_index(3, &ep, "smoke/index:v1");
    let index = ep.get_manifest("smoke/index", "v1");
    assert_eq!(index.status, 200);
    assert_eq!(sha256_digest(&index.body), digest);
    let json = index.json();
    assert_eq!(json["mediaType"], OCI_INDEX);
    let children = json["manifests"].as_array().expect("manifests");
    let arches: Vec<&str> = children
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for child in children {
        let child_digest = child["digest"].as_str().unwrap();
        assert_eq!(child["mediaType"], OCI_MANIFEST);
        assert_manifest(&ep, "smoke/index", child_digest, child_digest);
    }
}

#[test]
fn synthetic_index_push() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let index = ep.push_synthetic_index("smoke/synthetic-index", Some("v1"), 4);
    assert_manifest(&ep, "smoke/synthetic-index", "v1", &index.digest);
    assert_eq!(index.children.len(), 2);
    for child in &index.children {
        assert_manifest(&ep, "smoke/synthetic-index", &child.digest, &child.digest);
    }
}

#[test]
fn oci_layout_and_archive() {
    let dir = support::temp_dir();
    let store = images::store();
    let layout = dir.path().join("layout");
    let digest = store.write_oci_layout(5, &layout, "v1");
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    assert!(index.contains(&digest), "{index}");
    let blob = layout.join("blobs/sha256").join(&digest[7..]);
    assert_eq!(sha256_digest(&std::fs::read(blob).unwrap()), digest);

    let archive = dir.path().join("image.tar");
    assert_eq!(store.write_oci_archive(5, &archive, "v1"), digest);
    assert!(archive.is_file());

    // skopeo copy from the layout to a TLS registry with the harness's dest flags.
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let digest_file = dir.path().join("copied.digest");
    support::run(
        store
            .skopeo()
            .args(["copy", "--quiet", "--format", "oci", "--digestfile"])
            .arg(&digest_file)
            .args(ep.skopeo_dest_flags())
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(ep.docker_ref("smoke/copied:v1")),
    );
    assert_eq!(images::read_digest_file(&digest_file), digest);
    assert_manifest(&ep, "smoke/copied", "v1", &digest);
}

#[test]
fn ferro_referrers() {
    let ferro = Ferro::start();
    eprintln!("ferro up in {:?}", ferro.startup);
    let ep = ferro.endpoint();
    let image = ep.push_synthetic("smoke/ferro", Some("v1"), 9);
    assert_manifest(&ep, "smoke/ferro", "v1", &image.digest);

    let empty = ep.referrers("smoke/ferro", &image.digest);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["manifests"].as_array().map(Vec::len), Some(0));

    // A referrer: an artifact manifest whose subject is the image.
    let client = ep.client();
    let referrer = support::block_on(async {
        let config = b"{}".to_vec();
        let config_digest = client.push_blob("smoke/ferro", &config).await.unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
            "config": {"mediaType": "application/vnd.dev.cosign.artifact.sig.v1+json",
                       "digest": config_digest, "size": config.len()},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.manifest.len()},
        }))
        .unwrap();
        let digest = sha256_digest(&manifest);
        let put = client
            .put_manifest("smoke/ferro", &digest, OCI_MANIFEST, &manifest)
            .await
            .unwrap();
        assert_eq!(put.status, 201, "{put:?}");
        digest
    });
    let referrers = ep.referrers("smoke/ferro", &image.digest);
    assert_eq!(referrers.status, 200);
    let json = referrers.json();
    assert_eq!(json["mediaType"], OCI_INDEX);
    let digests: Vec<&str> = json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [referrer.as_str()]);

    // Distribution has no referrers API.
    let reg = Registry::http();
    let on_distribution = reg.endpoint().referrers("smoke/ferro", &image.digest);
    assert_eq!(on_distribution.status, 404);
}

#[test]
fn lying_registry() {
    let liar = LyingRegistry::start();
    let ep = liar.endpoint();
    assert_eq!(ep.ping(), 200);
    let by_tag = ep.get_manifest("any/repo", "latest");
    assert_eq!(by_tag.status, 200);
    assert_eq!(
        by_tag.digest.as_deref(),
        Some(liar.claimed_digest().as_str())
    );
    assert_eq!(sha256_digest(&by_tag.body), liar.served_digest());
    assert_ne!(liar.claimed_digest(), liar.served_digest());
    let head = ep.head_manifest("any/repo", "latest");
    assert_eq!(head.digest, Some(liar.claimed_digest()));
    for asked in [liar.claimed_digest(), liar.served_digest()] {
        let by_digest = ep.get_manifest("any/repo", &asked);
        assert_eq!(by_digest.digest.as_deref(), Some(asked.as_str()));
        assert_ne!(sha256_digest(&by_digest.body), asked);
    }

    liar.set_mode(LieMode::Honest);
    let honest = ep.get_manifest("any/repo", "latest");
    assert_eq!(honest.digest, Some(sha256_digest(&honest.body)));

    liar.set_mode(LieMode::Status(500));
    assert_eq!(ep.ping(), 500);
    liar.set_mode(LieMode::StatusAfterPing(401));
    assert_eq!(ep.ping(), 200);
    let denied = ep.get_manifest("any/repo", "latest");
    assert_eq!(denied.status, 401);
    assert!(denied.header("www-authenticate").is_none());
    assert!(liar.requests() >= 8);
}

#[test]
fn counting_proxy() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let image = ep.push_synthetic("smoke/counted", Some("v1"), 10);
    assert_manifest(&ep, "smoke/counted", "v1", &image.digest);
    eprintln!("{}", proxy.report());
    // Two blobs (POST + PUT each), one manifest PUT, one manifest GET; one kept-alive connection per client.
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), 2);
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 2);
    assert_eq!(proxy.count("PUT", "/v2/smoke/counted/manifests/v1"), 1);
    assert_eq!(
        proxy.counts()[&(
            "GET".to_string(),
            "/v2/smoke/counted/manifests/v1".to_string()
        )],
        1
    );
    assert_eq!(proxy.total(), 6);
    assert_eq!(
        proxy.connections(),
        2,
        "push and read used one connection each"
    );

    // buildah through the proxy (Location URLs must point back at the proxy).
    proxy.reset();
    let digest = images::store().push(1, &ep, "smoke/counted:buildah");
    assert_manifest(&reg.endpoint(), "smoke/counted", "buildah", &digest);
    assert!(
        proxy.count("PUT", "/manifests/buildah") == 1,
        "{}",
        proxy.report()
    );

    // Token auth over http behind the proxy: token requests go to the token server, not the proxy.
    let token_reg = Registry::token_http();
    let token_proxy = CountingProxy::start(&token_reg.endpoint());
    let token_ep = token_proxy.endpoint();
    let image = token_ep.push_synthetic("smoke/counted", Some("v1"), 11);
    assert_manifest(&token_ep, "smoke/counted", "v1", &image.digest);
    let tokens = token_reg.token_server().unwrap().requests();
    assert!(tokens >= 2, "tokens: {tokens}");
    assert!(
        token_proxy.count("*", "/v2/") > 6,
        "{}",
        token_proxy.report()
    );
}

#[test]
fn pinsign_command_runs_isolated() {
    let home = support::temp_dir();
    support::pinsign(home.path())
        .arg("--help")
        .assert()
        .success();
    let cmd = support::pinsign_std(home.path());
    let removed: Vec<_> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    for var in support::HOST_VARS {
        assert!(removed.iter().any(|r| r == var), "{var} not removed");
    }
    let home_env = cmd
        .get_envs()
        .find(|(k, _)| *k == "HOME")
        .and_then(|(_, v)| v);
    assert_eq!(home_env, Some(home.path().as_os_str()));
}

#[test]
fn missing_tool_names_the_install_command() {
    let panic = std::panic::catch_unwind(|| support::require_tool("pinsign-no-such-tool"))
        .expect_err("must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(
        message,
        "pinsign-no-such-tool not found: apt-get install -y pinsign-no-such-tool"
    );
    assert!(support::require_tool("openssl").is_file());
}

/// Registries start within the harness's bound, and images built with `--timestamp 0` are
/// reproducible: the same seed pushed to two repositories gives the same digest, a different seed
/// another. (The timings are printed for information; performance is measured by the
/// benchmark, never asserted here.)
#[test]
fn startup_is_bounded_and_builds_are_reproducible() {
    let started = Instant::now();
    let reg = Registry::http();
    let http_start = started.elapsed();
    let tls = Registry::token();
    assert!(reg.startup < support::START_TIMEOUT && tls.startup < support::START_TIMEOUT);
    let store = images::store();
    let pushed = Instant::now();
    let first = store.push(100, &reg.endpoint(), "timing/image:v1");
    let push = pushed.elapsed();
    let again = store.push(100, &tls.endpoint(), "timing/again:v1");
    assert_eq!(first, again, "the same seed builds the same image");
    let other = store.push(101, &reg.endpoint(), "timing/other:v1");
    assert_ne!(first, other, "another seed builds another image");
    let index = store.push_index(100, &reg.endpoint(), "timing/index:v1");
    let children = reg.endpoint().get_manifest("timing/index", &index).json();
    assert_eq!(children["manifests"].as_array().map(Vec::len), Some(2));
    eprintln!(
        "timings: http registry start {http_start:?}, TLS+token registry start {:?}, \
         buildah build + push {push:?}",
        tls.startup
    );
}

#[tokio::test]
async fn usable_from_tokio_tests() {
    // Sync helpers run their own runtime on another thread, so they work inside async tests too.
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let image = ep.push_synthetic("smoke/tokio", Some("v1"), 12);
    let fetched = ep
        .client()
        .get_manifest("smoke/tokio", &image.digest)
        .await
        .unwrap();
    assert_eq!(fetched.status, 200);
    assert_eq!(sha256_digest(&fetched.body), image.digest);

    let home = support::temp_dir();
    let mut cmd = support::pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    cmd.arg("--help").assert().success();
}
