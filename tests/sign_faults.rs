//! `pinsign sign-digest` on bad input and registry faults. Each case: exit 1 (2 for usage errors),
//! one error line naming the image (or the file) and what to do, and nothing half-written: the
//! `.sig` tag is absent, or byte-for-byte what it was.

use crate::sign_common;
use crate::support;
use crate::support::outcome::RunExt as _;

use crate::sign_common::{reference, sign, Outcome};
use crate::support::client::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::support::cosign_check::{expected_payload, sig_tag, sig_tag_bytes, sig_tag_manifest};
use crate::support::test_keys::keys;
use crate::support::{CountingProxy, Endpoint, Registry, READER};

// ------------------------------------------------------------------ missing images

#[test]
fn missing_tag_digest_or_repository() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("gone/app", Some("v1"), 1);
    let absent = format!("sha256:{}", "0".repeat(64));
    let repo = reference(&ep, "gone/app");

    let missing_tag = reg.image("gone/app:nope");
    sign(home.path(), &ep, &keys()[0], &[&missing_tag]).error(
        1,
        &[&format!(
            "cannot sign {missing_tag}: tag nope not found in {repo}"
        )],
    );
    let missing_digest = reg.image(&format!("gone/app@{absent}"));
    sign(home.path(), &ep, &keys()[0], &[&missing_digest]).error(
        1,
        &[&format!(
            "cannot sign {missing_digest}: manifest {absent} not found in {repo}"
        )],
    );
    let missing_repo = reg.image("never/pushed:v1");
    sign(home.path(), &ep, &keys()[0], &[&missing_repo]).error(
        1,
        &[&format!("cannot sign {missing_repo}: tag v1 not found")],
    );
    // Nothing was written anywhere.
    assert_eq!(ep.tags("gone/app"), vec!["v1".to_string()]);
    assert!(ep.tags("never/pushed").is_empty());
    assert!(sig_tag_bytes(&ep, "gone/app", &absent).is_none());
    assert!(sig_tag_bytes(&ep, "gone/app", &image.digest).is_none());
}

// ------------------------------------------------------------------ permissions, keys, digests

#[test]
fn reader_without_push_permission_on_token_registry() {
    let reg = Registry::token();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("locked/app", Some("v1"), 2);
    let reader = reg.endpoint_as(READER);
    let input = reg.image("locked/app:v1");
    let out = sign(home.path(), &reader, &keys()[0], &[&input]);
    let line = out.error(
        1,
        &[
            &format!("cannot sign {input}"),
            "refused access",
            &reference(&ep, "locked/app"),
            "PINSIGN_REGISTRY_USERNAME",
        ],
    );
    assert!(!line.contains("reader-secret"), "{line}");
    assert!(sig_tag_bytes(&ep, "locked/app", &image.digest).is_none());
    assert_eq!(ep.tags("locked/app"), vec!["v1".to_string()]);
}

#[test]
fn expect_digest_mismatch_value_and_file() {
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let built = ep.push_synthetic("ci/app", Some("v1"), 3);
    // The tag is re-pointed after the build.
    let moved = ep.push_synthetic("ci/app", Some("v1"), 4);
    let input = reg.image("ci/app:v1");
    let expected_message = format!(
        "cannot sign {input}: {input} resolves to {}, but --expect-digest is {}; the tag was re-pointed after the build, not signing",
        moved.digest, built.digest
    );

    sign(
        home.path(),
        &ep,
        &keys()[0],
        &[&input, "--expect-digest", &built.digest],
    )
    .error(1, &[&expected_message]);

    // A digest file as build-push writes it (no newline), and with a newline.
    for content in [built.digest.clone(), format!("{}\n", built.digest)] {
        let file = home.path().join("digest");
        std::fs::write(&file, content).unwrap();
        sign(
            home.path(),
            &ep,
            &keys()[0],
            &[&input, "--expect-digest", file.to_str().unwrap()],
        )
        .error(1, &[&expected_message]);
    }
    for digest in [&built.digest, &moved.digest] {
        assert!(sig_tag_bytes(&ep, "ci/app", digest).is_none());
    }

    // The matching digest, as a file: signed.
    let file = home.path().join("digest");
    std::fs::write(&file, &moved.digest).unwrap();
    sign(
        home.path(),
        &ep,
        &keys()[0],
        &[&input, "--expect-digest", file.to_str().unwrap()],
    )
    .ok();
    sig_tag_manifest(&ep, "ci/app", &moved.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "ci/app"), &moved.digest, &[]),
            &[&keys()[0].public_pem],
        );
}

#[test]
fn wrong_key_password_fails_before_any_request() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("pw/app", Some("v1"), 5);
    proxy.reset();
    let key = &keys()[0];
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.env("COSIGN_PASSWORD", "not the password")
        .args(["sign-digest", &image.pinned, "--key"])
        .arg(&key.key);
    let out = cmd.outcome();
    let line = out.error(1, &[&key.key_arg()]);
    assert!(line.contains("password"), "{line}");
    assert!(!line.contains("not the password"), "{line}");
    assert_eq!(proxy.total(), 0, "{}", proxy.report());
    assert!(sig_tag_bytes(&ep, "pw/app", &image.digest).is_none());
}

// ------------------------------------------------------------------ what is under .sig already

/// Puts `manifest` (of `media_type`) under the `.sig` tag of a new image in `repo`; returns the
/// image's pinned reference and digest.
fn image_with_sig_tag(
    ep: &Endpoint,
    repo: &str,
    seed: u64,
    media_type: &str,
    manifest: impl FnOnce(&support::SyntheticImage) -> Vec<u8>,
) -> (String, String, Vec<u8>) {
    let image = ep.push_synthetic(repo, Some("v1"), seed);
    let bytes = manifest(&image);
    let client = ep.client();
    let put = support::block_on(async {
        client
            .put_manifest(repo, &sig_tag(&image.digest), media_type, &bytes)
            .await
            .unwrap()
    });
    assert_eq!(put.status, 201, "{put:?}");
    assert_eq!(
        sig_tag_bytes(ep, repo, &image.digest).as_deref(),
        Some(bytes.as_slice())
    );
    (image.pinned, image.digest, bytes)
}

/// Signing must be refused with `fragments` in the one error line, and the `.sig` tag unchanged.
fn assert_refused(
    home: &std::path::Path,
    ep: &Endpoint,
    repo: &str,
    (pinned, digest, before): &(String, String, Vec<u8>),
    fragments: &[&str],
) -> Outcome {
    let out = sign(home, ep, &keys()[0], &[pinned]);
    let sig_ref = format!("{}:{}", reference(ep, repo), sig_tag(digest));
    let mut all = vec![format!("cannot sign {pinned}"), sig_ref];
    all.extend(fragments.iter().map(|f| f.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    out.error(1, &all);
    assert_eq!(
        sig_tag_bytes(ep, repo, digest).as_deref(),
        Some(before.as_slice()),
        "{repo}: the .sig tag must not be overwritten"
    );
    out
}

#[test]
fn existing_foreign_or_malformed_sig_manifest_is_refused_and_kept() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();

    // An OCI index under the .sig tag.
    let index = ep.push_synthetic_index("foreign/index", None, 10);
    let case = image_with_sig_tag(&ep, "foreign/index", 11, OCI_INDEX, |_| index.index.clone());
    assert_refused(
        home.path(),
        &ep,
        "foreign/index",
        &case,
        &[
            "not a cosign signature manifest",
            "an image index",
            "not overwrite",
        ],
    );

    // An ordinary image (tar layer) under the .sig tag.
    let case = image_with_sig_tag(&ep, "foreign/image", 12, OCI_MANIFEST, |image| {
        image.manifest.clone()
    });
    assert_refused(
        home.path(),
        &ep,
        "foreign/image",
        &case,
        &[
            "not a cosign signature manifest",
            "application/vnd.oci.image.layer.v1.tar",
        ],
    );

    // JSON Distribution accepts (Go's decoder lets the last duplicate member win) but that means
    // two things: "layers" twice.
    let case = image_with_sig_tag(&ep, "malformed/dup", 13, OCI_MANIFEST, |image| {
        format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{{\"mediaType\":\"{OCI_CONFIG}\",\"size\":{},\"digest\":\"{}\"}},\"layers\":[],\"layers\":[]}}",
            config_size(&ep, "malformed/dup", image),
            image.config_digest
        )
        .into_bytes()
    });
    assert_refused(
        home.path(),
        &ep,
        "malformed/dup",
        &case,
        &["malformed signature manifest", "\"layers\" appears twice"],
    );

    // A simple-signing layer with a negative size.
    let case = image_with_sig_tag(&ep, "malformed/size", 14, OCI_MANIFEST, |image| {
        format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"config\":{{\"mediaType\":\"{OCI_CONFIG}\",\"size\":{},\"digest\":\"{}\"}},\"layers\":[{{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"size\":-1,\"digest\":\"{}\"}}]}}",
            config_size(&ep, "malformed/size", image),
            image.config_digest,
            image.layer_digest
        )
        .into_bytes()
    });
    assert_refused(
        home.path(),
        &ep,
        "malformed/size",
        &case,
        &["malformed signature manifest", "layer 1"],
    );
}

/// The size of a synthetic image's config blob, from its manifest.
fn config_size(_ep: &Endpoint, _repo: &str, image: &support::SyntheticImage) -> u64 {
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    manifest["config"]["size"].as_u64().unwrap()
}

/// Invalid JSON cannot be pushed (Distribution answers 400), so it is written into the
/// registry's storage the way Distribution lays it out. Distribution then answers 500 for the
/// tag; pinsign retries, gives up with one line, and writes nothing.
#[test]
fn corrupt_sig_manifest_in_storage_is_not_overwritten() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("corrupt/app", Some("v1"), 20);
    let bytes = format!("{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\"layers\":[");
    let digest = support::sha256_digest(bytes.as_bytes());
    let hex = &digest[7..];
    let root = reg.dir().join("storage/docker/registry/v2");
    let blob = root.join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    std::fs::create_dir_all(&blob).unwrap();
    std::fs::write(blob.join("data"), &bytes).unwrap();
    let tag = sig_tag(&image.digest);
    let manifests = root.join("repositories/corrupt/app/_manifests");
    for dir in [
        manifests.join(format!("revisions/sha256/{hex}")),
        manifests.join(format!("tags/{tag}/current")),
        manifests.join(format!("tags/{tag}/index/sha256/{hex}")),
    ] {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("link"), &digest).unwrap();
    }
    assert_eq!(ep.get_manifest("corrupt/app", &tag).status, 500);

    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.env("PINSIGN_RETRY_BASE_MS", "1")
        .args(["sign-digest", &image.pinned, "--key"])
        .arg(&keys()[0].key);
    cmd.outcome().error(
        1,
        &[
            &format!("cannot sign {}", image.pinned),
            "answered 500",
            &tag,
        ],
    );
    let stored =
        std::fs::read_to_string(manifests.join(format!("tags/{tag}/current/link"))).unwrap();
    assert_eq!(
        stored, digest,
        "the tag still points at the corrupt manifest"
    );
}

/// The payload blob of an existing signature is gone from the repository (blob deleted, or a link
/// Distribution lost). A second key signs the same payload, so pinsign holds those exact bytes:
/// it uploads them again, and both signatures verify afterwards.
#[test]
fn deleted_payload_blob_is_uploaded_again_by_the_next_signer() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("gc/app", Some("v1"), 25);
    sign(home.path(), &ep, &keys()[0], &[&image.pinned]).ok();
    let first = sig_tag_manifest(&ep, "gc/app", &image.digest).unwrap();
    let blob = first.layers[0].descriptor["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let client = ep.client();
    let (deleted, gone) = support::block_on(async {
        let path = format!("/v2/gc/app/blobs/{blob}");
        let deleted = client
            .send(reqwest::Method::DELETE, &path, &[], None)
            .await
            .unwrap();
        (deleted.status, client.get(&path).await.unwrap().status)
    });
    assert_eq!((deleted, gone), (202, 404));

    sign(home.path(), &ep, &keys()[1], &[&image.pinned]).ok();
    sig_tag_manifest(&ep, "gc/app", &image.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "gc/app"), &image.digest, &[]),
            &[&keys()[0].public_pem, &keys()[1].public_pem],
        );
}

/// A layer whose payload blob is gone and that pinsign cannot upload again (another key's
/// signature with other annotations, so another payload): every manifest naming it is refused
/// with `MANIFEST_BLOB_UNKNOWN`. It can never verify, so the next signer drops it, says so,
/// and signs; the other layers stay.
#[test]
fn a_layer_whose_blob_is_gone_is_dropped_with_a_warning_and_the_signature_written() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let image = ep.push_synthetic("gone/app", Some("v1"), 26);
    sign(home.path(), &ep, &keys[0], &[&image.pinned, "-a", "team=a"]).ok();
    sign(home.path(), &ep, &keys[1], &[&image.pinned, "-a", "team=b"]).ok();
    let before = sig_tag_manifest(&ep, "gone/app", &image.digest).unwrap();
    assert_eq!(before.layers.len(), 2);
    let blob = before.layers[0].descriptor["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let client = ep.client();
    let deleted = support::block_on(async {
        let path = format!("/v2/gone/app/blobs/{blob}");
        client
            .send(reqwest::Method::DELETE, &path, &[], None)
            .await
            .unwrap()
            .status
    });
    assert_eq!(deleted, 202);

    let out = sign(home.path(), &ep, &keys[2], &[&image.pinned]).ok();
    assert!(
        out.stderr.contains(&format!(
            "pinsign: warning: {}:{}: dropped the signature layer(s) whose payload blob {blob} is gone from {}: they can never verify",
            reference(&ep, "gone/app"),
            sig_tag(&image.digest),
            reference(&ep, "gone/app")
        )),
        "{}",
        out.stderr
    );
    let after = sig_tag_manifest(&ep, "gone/app", &image.digest).unwrap();
    let signed_by = |pem: &str| after.layers.iter().any(|l| l.verifies_with(pem));
    assert_eq!(after.layers.len(), 2, "{after:#?}");
    assert!(!signed_by(&keys[0].public_pem));
    assert!(signed_by(&keys[1].public_pem) && signed_by(&keys[2].public_pem));
    // The layer left is byte for byte what was there.
    assert!(after.layers.iter().any(|l| l.raw == before.layers[1].raw));
}

/// The signature is written, then every read-back fails (500 on each `HEAD` of the tag): the
/// signature is most likely there, so the error says written, not "cannot sign"; once the
/// registry answers again, a rerun finds it already there.
#[test]
fn a_signature_written_but_not_confirmed_says_so_and_a_rerun_finds_it_there() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let home = support::temp_dir();
    let key = &keys()[0];
    let image = ep.push_synthetic("unconfirmed/app", Some("v1"), 27);
    proxy.fail("HEAD", ".sig", 500, 1000);
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.env("PINSIGN_RETRY_BASE_MS", "1")
        .args(["sign-digest", &image.pinned, "--key"])
        .arg(&key.key);
    let sig_ref = format!(
        "{}:{}",
        reference(&ep, "unconfirmed/app"),
        sig_tag(&image.digest)
    );
    let line = cmd.outcome().error(
        1,
        &[
            &format!(
                "{}: the signature was written to {sig_ref}, but pinsign could not confirm that it stayed",
                image.pinned
            ),
            "answered 500 to HEAD",
            "already there",
        ],
    );
    assert!(!line.contains("cannot sign"), "{line}");
    proxy.clear_faults();
    let again = sign(home.path(), &ep, key, &[&image.pinned]).ok();
    assert!(
        again
            .stdout
            .contains(&format!("(signature {sig_ref}, already there)")),
        "{}",
        again.stdout
    );
}

// ------------------------------------------------------------------ transient and lasting 5xx

#[test]
fn transient_5xx_are_retried_and_lasting_ones_fail_cleanly() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let direct = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[0];
    let retrying = |args: &[&str]| {
        let mut cmd = sign_common::pinsign(home.path(), &ep);
        cmd.env("PINSIGN_RETRY_BASE_MS", "1")
            .arg("sign-digest")
            .args(args)
            .arg("--key")
            .arg(&key.key);
        cmd.outcome()
    };

    // Up to three failures per request, on every kind of request a signature needs.
    let image = ep.push_synthetic("flaky/app", Some("v1"), 30);
    proxy.fail("HEAD", "/manifests/v1", 503, 3);
    proxy.fail("GET", "/manifests/sha256-", 500, 2);
    proxy.fail("POST", "/blobs/uploads/", 502, 1);
    proxy.fail("PUT", "/blobs/uploads/", 503, 1);
    proxy.fail("PUT", "/manifests/sha256-", 500, 2);
    proxy.fail("HEAD", "/manifests/sha256-", 504, 1);
    retrying(&[&proxy.image("flaky/app:v1")]).ok();
    assert_eq!(proxy.injected().len(), 10, "{:?}", proxy.injected());
    sig_tag_manifest(&direct, "flaky/app", &image.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "flaky/app"), &image.digest, &[]),
            &[&key.public_pem],
        );
    proxy.clear_faults();

    // The .sig write keeps failing: one line, the tag is not there.
    let image = ep.push_synthetic("down/app", Some("v1"), 31);
    proxy.reset();
    proxy.fail("PUT", "/manifests/sha256-", 503, 1000);
    let out = retrying(&[&image.pinned]);
    out.error(
        1,
        &[
            &format!("cannot sign {}", image.pinned),
            &format!(
                "cannot write {}:{}",
                reference(&ep, "down/app"),
                sig_tag(&image.digest)
            ),
            "answered 503 to PUT",
        ],
    );
    assert_eq!(proxy.count("PUT", "/manifests/"), 4, "{}", proxy.report());
    assert!(sig_tag_bytes(&direct, "down/app", &image.digest).is_none());
    proxy.clear_faults();

    // Resolving keeps failing: nothing is uploaded at all.
    proxy.reset();
    proxy.fail("HEAD", "/manifests/", 500, 1000);
    let input = proxy.image("down/app:v1");
    retrying(&[&input]).error(
        1,
        &[&format!("cannot sign {input}"), "answered 500 to HEAD"],
    );
    assert_eq!(proxy.count("POST", "/"), 0, "{}", proxy.report());
    assert_eq!(proxy.count("PUT", "/"), 0, "{}", proxy.report());
    assert!(sig_tag_bytes(&direct, "down/app", &image.digest).is_none());
}

/// A registry that rejects the `.sig` manifest (`MANIFEST_INVALID`): one line naming the
/// registry and its reason, exit 1, no retry of a request that cannot succeed, nothing written.
#[test]
fn rejected_manifest_names_the_registry_and_its_reason() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let direct = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[0];
    let image = ep.push_synthetic("strict/app", Some("v1"), 32);
    proxy.fail_with(
        "PUT",
        "/manifests/sha256-",
        400,
        r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"media type not allowed by policy"}]}"#,
        1000,
    );
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.arg("sign-digest")
        .arg(&image.pinned)
        .arg("--key")
        .arg(&key.key);
    cmd.outcome().error(
        1,
        &[
            &format!("cannot sign {}", image.pinned),
            &format!("registry {}", ep.host),
            "answered 400 to PUT",
            "MANIFEST_INVALID: manifest invalid (media type not allowed by policy)",
        ],
    );
    assert_eq!(
        proxy.count("PUT", "/manifests/sha256-"),
        1,
        "{}",
        proxy.report()
    );
    assert!(sig_tag_bytes(&direct, "strict/app", &image.digest).is_none());
}

// ------------------------------------------------------------------ usage errors

#[test]
fn usage_errors_exit_2_before_any_request() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("usage/app", Some("v1"), 40);
    let other = ep.push_synthetic("usage/other", Some("v1"), 41);
    proxy.reset();
    let sig_repo = proxy.image("usage/sigs");
    let bad_ref = proxy.image("usage/App:v1");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![&bad_ref], "usage/App"),
        (
            vec![&image.pinned, "--expect-digest", "sha256:12"],
            "--expect-digest",
        ),
        (
            vec![&image.pinned, "--expect-digest", "/no/such/digest-file"],
            "/no/such/digest-file",
        ),
        (
            vec![
                &image.pinned,
                &other.pinned,
                "--expect-digest",
                &image.digest,
            ],
            "exactly one image",
        ),
        (
            vec![
                &image.pinned,
                "--mode",
                "referrers",
                "--signature-repo",
                &sig_repo,
            ],
            "--signature-repo",
        ),
        (vec![], "no images given"),
        (
            vec![&image.pinned, "-a", "novalue"],
            "must look like KEY=VALUE",
        ),
        (
            vec![&image.pinned, "-a", "env=a", "-a", "env=b"],
            "given twice",
        ),
    ];
    for (args, fragment) in cases {
        let out = sign(home.path(), &ep, &keys()[0], &args);
        let line = out.error(2, &[fragment]);
        assert!(!line.contains('\n'));
    }
    // clap's own errors: exit 2 too.
    for args in [
        vec![image.pinned.as_str(), "--concurrency", "0"],
        vec![image.pinned.as_str(), "--mode", "sideways"],
    ] {
        let out = sign(home.path(), &ep, &keys()[0], &args).code(2);
        assert!(out.stderr.contains("error:"), "{out:#?}");
    }
    // COSIGN_REPOSITORY in the environment counts as --signature-repo, and the error says so.
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.env("COSIGN_REPOSITORY", &sig_repo)
        .args(["sign-digest", &image.pinned, "--mode", "referrers", "--key"])
        .arg(&keys()[0].key);
    cmd.outcome().error(2, &["COSIGN_REPOSITORY", "--mode tag"]);
    let list = home.path().join("list");
    std::fs::write(&list, format!("{}\nnot a valid//reference\n", image.pinned)).unwrap();
    sign(
        home.path(),
        &ep,
        &keys()[0],
        &["--images-from", list.to_str().unwrap()],
    )
    .error(2, &[&format!("{} line 2", list.display())]);
    assert_eq!(proxy.total(), 0, "{}", proxy.report());
    assert!(sig_tag_bytes(&ep, "usage/app", &image.digest).is_none());
}
