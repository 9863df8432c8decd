//! `pinsign sign-digest` against real registries: CNCF Distribution in every kind (http, TLS,
//! htpasswd, token) and ferro-oci-server for the referrers API. Every stored signature is read
//! back over raw HTTP and checked by `support::cosign_check`, which is independent of pinsign's
//! library (exact media types and payload bytes, blob digests and sizes, ECDSA P-256 with `p256`).
//!
//! Bad input and registry faults are in `sign_faults.rs`; concurrent signers in
//! `sign_concurrent.rs`.

use crate::sign_common;
use crate::support;
use crate::support::outcome::RunExt as _;

use crate::sign_common::{reference, sign, signed_line};
use crate::support::cosign_check::{
    self, expected_payload, referrer_manifests, sig_tag, sig_tag_bytes, sig_tag_manifest,
};
use crate::support::test_keys::keys;
use crate::support::{images, CountingProxy, Ferro, Registry, RegistryKind};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign");

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}"))
        .unwrap_or_else(|e| panic!("read fixture {path}: {e}"))
}

/// The fixture payload cosign made, with its repository and digest swapped for ours: pinsign's
/// payload must equal it byte for byte (same key order, no spaces, no newline).
fn fixture_shaped_payload(reference: &str, digest: &str) -> String {
    let fixture = fixture("payloads/busybox.payload.json");
    assert!(fixture.contains(cosign_check::FIXTURE_REFERENCE));
    assert!(fixture.contains(cosign_check::FIXTURE_DIGEST));
    fixture
        .replace(cosign_check::FIXTURE_REFERENCE, reference)
        .replace(cosign_check::FIXTURE_DIGEST, digest)
}

// ------------------------------------------------------------------ by digest and by tag

/// Sign by digest with one key and by tag with another; both layers pass the independent check.
fn sign_by_digest_and_tag(kind: RegistryKind) {
    let reg = Registry::start(kind);
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let image = ep.push_synthetic("team/app", Some("v1"), 1);
    let payload = expected_payload(&reference(&ep, "team/app"), &image.digest, &[]);
    assert_eq!(
        payload,
        fixture_shaped_payload(&reference(&ep, "team/app"), &image.digest)
    );

    // By digest: no "pinned" line, one signature.
    let out = sign(home.path(), &ep, &keys[0], &[&image.pinned]).ok();
    assert_eq!(
        out.stdout,
        format!(
            "{}\n",
            signed_line(&ep, "team/app", &image.digest, "team/app")
        ),
        "{kind:?}"
    );
    let first = sig_tag_manifest(&ep, "team/app", &image.digest).expect(".sig tag written");
    first.assert_exactly_signed_by(&payload, &[&keys[0].public_pem]);
    assert!(!first.layers[0].verifies_with(&keys[1].public_pem));

    // By tag: pinned first, the digest is what gets signed, appended to the first layer.
    let tagged = reg.image("team/app:v1");
    let out = sign(home.path(), &ep, &keys[1], &[&tagged]).ok();
    assert_eq!(
        out.stdout,
        format!(
            "pinned {tagged} -> {}\n{}\n",
            image.pinned,
            signed_line(&ep, "team/app", &image.digest, "team/app")
        ),
        "{kind:?}"
    );
    let second = sig_tag_manifest(&ep, "team/app", &image.digest).unwrap();
    second.assert_exactly_signed_by(&payload, &[&keys[0].public_pem, &keys[1].public_pem]);
    assert_eq!(
        second.layers[0].raw, first.layers[0].raw,
        "first layer kept"
    );
    assert!(second.layers[1].verifies_with(&keys[1].public_pem));
    // Both layers share the payload blob; the config lists it once per layer.
    assert_eq!(
        second.layers[0].descriptor["digest"],
        second.layers[1].descriptor["digest"]
    );
    let mut tags = ep.tags("team/app");
    tags.sort();
    assert_eq!(tags, vec![sig_tag(&image.digest), "v1".to_string()]);
}

#[test]
fn sign_by_digest_and_tag_http() {
    sign_by_digest_and_tag(RegistryKind::Http);
}

#[test]
fn sign_by_digest_and_tag_tls() {
    sign_by_digest_and_tag(RegistryKind::Tls);
}

#[test]
fn sign_by_digest_and_tag_basic_auth() {
    sign_by_digest_and_tag(RegistryKind::BasicAuth);
}

#[test]
fn sign_by_digest_and_tag_token() {
    sign_by_digest_and_tag(RegistryKind::Token);
}

/// `repo:tag@digest` where the tag has moved on: the digest is signed, with a warning.
#[test]
fn moved_tag_with_digest_signs_the_digest_and_warns() {
    let reg = Registry::basic_auth();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let old = ep.push_synthetic("moved/app", Some("v1"), 10);
    let new = ep.push_synthetic("moved/app", Some("v1"), 11);
    let input = reg.image(&format!("moved/app:v1@{}", old.digest));
    let out = sign(home.path(), &ep, &keys()[0], &[&input]).ok();
    assert_eq!(
        out.stdout,
        format!(
            "pinned {input} -> {}\n{}\n",
            old.pinned,
            signed_line(&ep, "moved/app", &old.digest, "moved/app")
        )
    );
    let warning = format!(
        "pinsign: warning: {input} now points at {}, not {}; signing the digest given",
        new.digest, old.digest
    );
    assert!(out.stderr.lines().any(|l| l == warning), "{}", out.stderr);
    sig_tag_manifest(&ep, "moved/app", &old.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "moved/app"), &old.digest, &[]),
            &[&keys()[0].public_pem],
        );
    assert!(sig_tag_bytes(&ep, "moved/app", &new.digest).is_none());

    // The tag still on that digest: no warning.
    let input = reg.image(&format!("moved/app:v1@{}", new.digest));
    let out = sign(home.path(), &ep, &keys()[0], &[&input]).ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert!(sig_tag_bytes(&ep, "moved/app", &new.digest).is_some());
}

// ------------------------------------------------------------------ keys, idempotence, annotations

#[test]
fn second_key_appends_resigning_is_idempotent_and_annotations_go_to_optional() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let image = ep.push_synthetic("multi/key", Some("v1"), 20);
    let payload = expected_payload(&reference(&ep, "multi/key"), &image.digest, &[]);

    sign(home.path(), &ep, &keys[0], &[&image.pinned]).ok();
    sign(home.path(), &ep, &keys[1], &[&image.pinned]).ok();
    let two = sig_tag_manifest(&ep, "multi/key", &image.digest).unwrap();
    two.assert_exactly_signed_by(&payload, &[&keys[0].public_pem, &keys[1].public_pem]);

    // The same key again: nothing written, reported as unchanged.
    let out = sign(
        home.path(),
        &ep,
        &keys[0],
        &[&image.pinned, "--output", "json"],
    )
    .ok();
    let report = out.json();
    let sig = &report[0]["signatures"][0];
    assert_eq!(sig["status"], "unchanged", "{report:#}");
    assert_eq!(sig["layers"], 2);
    assert_eq!(sig["signature_manifest_digest"], two.digest.as_str());
    assert_eq!(report[0]["status"], "unchanged", "nothing new was signed");
    assert_eq!(
        sig_tag_bytes(&ep, "multi/key", &image.digest).unwrap(),
        two.bytes,
        "manifest unchanged"
    );
    let out = sign(home.path(), &ep, &keys[1], &[&image.pinned]).ok();
    assert!(out.stdout.contains(", already there)"), "{}", out.stdout);

    // Annotations: a new payload (optional map, keys sorted), a third layer.
    let out = sign(
        home.path(),
        &ep,
        &keys[0],
        &[
            &image.pinned,
            "-a",
            "team=x",
            "--annotation",
            "env=prod",
            "-o",
            "json",
        ],
    )
    .ok();
    assert_eq!(out.json()[0]["signatures"][0]["layers"], 3);
    let annotated = expected_payload(
        &reference(&ep, "multi/key"),
        &image.digest,
        &[("env", "prod"), ("team", "x")],
    );
    assert!(annotated.ends_with(r#""optional":{"env":"prod","team":"x"}}"#));
    let three = sig_tag_manifest(&ep, "multi/key", &image.digest).unwrap();
    assert_eq!(three.layers.len(), 3);
    assert_eq!(three.layers[0].raw, two.layers[0].raw);
    assert_eq!(three.layers[1].raw, two.layers[1].raw);
    assert_eq!(three.assert_signed(&annotated, &keys[0].public_pem), 2);
    assert_ne!(
        three.layers[2].descriptor["digest"],
        three.layers[0].descriptor["digest"]
    );
}

// ------------------------------------------------------------------ --recursive

#[test]
fn recursive_signs_the_index_and_each_child() {
    let reg = Registry::token();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    // A real two-platform OCI index pushed by buildah.
    let index_digest = images::store().push_index(30, &ep, "multi/arch:v1");
    let index = ep.get_manifest("multi/arch", &index_digest).json();
    let children: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(children.len(), 2);
    let repo_ref = reference(&ep, "multi/arch");

    // Without --recursive only the index is signed.
    sign(home.path(), &ep, &keys[0], &[&reg.image("multi/arch:v1")]).ok();
    assert!(sig_tag_manifest(&ep, "multi/arch", &index_digest).is_some());
    for child in &children {
        assert!(sig_tag_bytes(&ep, "multi/arch", child).is_none());
    }

    let out = sign(
        home.path(),
        &ep,
        &keys[1],
        &[&reg.image("multi/arch:v1"), "--recursive"],
    )
    .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert_eq!(
        lines[1],
        signed_line(&ep, "multi/arch", &index_digest, "multi/arch")
    );
    for (line, child) in lines[2..].iter().zip(&children) {
        assert_eq!(*line, signed_line(&ep, "multi/arch", child, "multi/arch"));
    }
    sig_tag_manifest(&ep, "multi/arch", &index_digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&repo_ref, &index_digest, &[]),
            &[&keys[0].public_pem, &keys[1].public_pem],
        );
    for child in &children {
        sig_tag_manifest(&ep, "multi/arch", child)
            .unwrap_or_else(|| panic!("no .sig for child {child}"))
            .assert_exactly_signed_by(
                &expected_payload(&repo_ref, child, &[]),
                &[&keys[1].public_pem],
            );
    }

    // Again: every signature is already there.
    let out = sign(
        home.path(),
        &ep,
        &keys[1],
        &[
            &index_pinned(&reg, &index_digest),
            "--recursive",
            "-o",
            "json",
        ],
    )
    .ok();
    let report = out.json();
    let statuses: Vec<&Value> = report[0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(statuses, [&json!("unchanged"); 3], "{report:#}");
}

fn index_pinned(reg: &Registry, digest: &str) -> String {
    reg.image(&format!("multi/arch@{digest}"))
}

// ------------------------------------------------------------------ --signature-repo

#[test]
fn signature_repo_flag_and_cosign_repository_env() {
    let reg = Registry::token();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[0];
    let one = ep.push_synthetic("apps/one", Some("v1"), 40);
    let two = ep.push_synthetic("apps/two", Some("v1"), 41);

    let sig_repo = reg.image("signatures/store");
    let out = sign(
        home.path(),
        &ep,
        key,
        &[&one.pinned, "--signature-repo", &sig_repo],
    )
    .ok();
    assert_eq!(
        out.stdout,
        format!(
            "{}\n",
            signed_line(&ep, "apps/one", &one.digest, "signatures/store")
        )
    );
    // The payload names the image's repository, not the signature repository.
    sig_tag_manifest(&ep, "signatures/store", &one.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "apps/one"), &one.digest, &[]),
            &[&key.public_pem],
        );
    assert_eq!(ep.tags("apps/one"), vec!["v1".to_string()]);

    // COSIGN_REPOSITORY does the same.
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.env("COSIGN_REPOSITORY", reg.image("signatures/env"))
        .args(["sign-digest", &two.pinned, "--key"])
        .arg(&key.key);
    cmd.outcome().ok();
    sig_tag_manifest(&ep, "signatures/env", &two.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "apps/two"), &two.digest, &[]),
            &[&key.public_pem],
        );
    assert_eq!(ep.tags("apps/two"), vec!["v1".to_string()]);
    assert!(sig_tag_bytes(&ep, "signatures/store", &two.digest).is_none());
}

/// `--signature-repo` on another registry (both token auth over TLS, each with its own CA and
/// token server; one `--registry-cacert` bundle holds both CAs).
#[test]
fn signature_repo_on_another_registry() {
    let images_reg = Registry::token();
    let sigs_reg = Registry::token();
    let ep = images_reg.endpoint();
    let sigs_ep = sigs_reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[5];
    let image = ep.push_synthetic("apps/cross", Some("v1"), 42);
    let bundle = home.path().join("ca-bundle.pem");
    let mut pem = std::fs::read_to_string(images_reg.ca_path().unwrap()).unwrap();
    pem.push_str(&std::fs::read_to_string(sigs_reg.ca_path().unwrap()).unwrap());
    std::fs::write(&bundle, pem).unwrap();

    let mut cmd = support::pinsign(home.path());
    cmd.envs(ep.pinsign_env())
        .env("COSIGN_PASSWORD", support::test_keys::PASSWORD)
        .arg("--registry-cacert")
        .arg(&bundle)
        .args(["sign-digest", &images_reg.image("apps/cross:v1"), "--key"])
        .arg(&key.key)
        .args(["--signature-repo", &sigs_reg.image("sigs/cross")])
        .timeout(sign_common::TIMEOUT);
    let out = cmd.outcome().ok();
    assert!(
        out.stdout.ends_with(&format!(
            "(signature {}/sigs/cross:{})\n",
            sigs_ep.host,
            sig_tag(&image.digest)
        )),
        "{}",
        out.stdout
    );
    sig_tag_manifest(&sigs_ep, "sigs/cross", &image.digest)
        .unwrap()
        .assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "apps/cross"), &image.digest, &[]),
            &[&key.public_pem],
        );
    assert_eq!(ep.tags("apps/cross"), vec!["v1".to_string()]);
    // One token from each registry's token server.
    assert_eq!(
        images_reg
            .token_server()
            .unwrap()
            .log()
            .iter()
            .filter(|r| r.scopes.iter().any(|s| s.contains("apps/cross:pull,push")))
            .count(),
        1
    );
    assert!(sigs_reg.token_server().unwrap().log().iter().any(|r| r
        .scopes
        .iter()
        .any(|s| s == "repository:sigs/cross:pull,push")));
}

// ------------------------------------------------------------------ a cosign layer survives

#[test]
fn existing_bundled_cosign_layer_survives_byte_for_byte() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[0];
    let image = ep.push_synthetic("kept/app", Some("v1"), 50);

    // The real cosign layer (Rekor bundle annotation and all), pretty-printed as in the fixture.
    let descriptor_text = fixture("manifests/busybox-bundled.layer-descriptor.json");
    let descriptor_text = descriptor_text.trim_end();
    let descriptor: Value = serde_json::from_str(descriptor_text).unwrap();
    let payload_blob = fixture("payloads/busybox.payload.json");
    let client = ep.client();
    let manifest = support::block_on(async {
        let digest = client
            .push_blob("kept/app", payload_blob.as_bytes())
            .await
            .unwrap();
        assert_eq!(json!(digest), descriptor["digest"]);
        let config = serde_json::to_vec(&json!({
            "architecture": "", "created": "2021-10-20T07:56:19Z", "os": "",
            "rootfs": {"type": "layers", "diff_ids": [digest]}, "config": {}
        }))
        .unwrap();
        let config_digest = client.push_blob("kept/app", &config).await.unwrap();
        let manifest = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"config\":{{\"mediaType\":\"{}\",\"size\":{},\"digest\":\"{config_digest}\"}},\"layers\":[{descriptor_text}]}}",
            support::client::OCI_MANIFEST,
            support::client::OCI_CONFIG,
            config.len()
        );
        let put = client
            .put_manifest(
                "kept/app",
                &sig_tag(&image.digest),
                support::client::OCI_MANIFEST,
                manifest.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(put.status, 201, "{put:?}");
        manifest
    });
    let before = sig_tag_manifest(&ep, "kept/app", &image.digest).unwrap();
    assert_eq!(before.bytes, manifest.as_bytes());
    assert_eq!(before.layers[0].raw, descriptor_text);
    // The fixture layer itself verifies with the independent checker (cosign's own signature).
    assert!(before.layers[0].verifies_with(&fixture("payloads/busybox-bundled.pub")));

    sign(home.path(), &ep, key, &[&image.pinned]).ok();
    let after = sig_tag_manifest(&ep, "kept/app", &image.digest).unwrap();
    assert_eq!(after.layers.len(), 2);
    assert_eq!(
        after.layers[0].raw, descriptor_text,
        "the cosign layer descriptor must be kept byte for byte"
    );
    assert!(after.layers[0].verifies_with(&fixture("payloads/busybox-bundled.pub")));
    assert_eq!(
        after.layers[1].payload_text(),
        expected_payload(&reference(&ep, "kept/app"), &image.digest, &[])
    );
    assert!(after.layers[1].verifies_with(&key.public_pem));
    assert!(!after.layers[1].raw.contains("dev.sigstore.cosign/bundle"));
}

/// The `.sig` manifest cosign v1.13 pushed to Docker Hub (HTTP trace, fixture), put under our
/// image's `.sig` tag with its config and payload blobs: pinsign appends to it, keeps cosign's layer
/// byte for byte, and writes its own manifest, layer and config in cosign's exact shape.
#[test]
fn real_cosign_sig_manifest_is_appended_to_in_cosign_shape() {
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[3];
    let image = ep.push_synthetic("cosign/made", Some("v1"), 55);
    let cosign_manifest = fixture("manifests/chihjenhuang-cosign1.sig-manifest.json");
    let client = ep.client();
    support::block_on(async {
        for blob in [
            "manifests/chihjenhuang-cosign1.sig-config.json",
            "manifests/chihjenhuang-cosign1.payload.json",
        ] {
            client
                .push_blob("cosign/made", fixture(blob).as_bytes())
                .await
                .unwrap();
        }
        let put = client
            .put_manifest(
                "cosign/made",
                &sig_tag(&image.digest),
                support::client::OCI_MANIFEST,
                cosign_manifest.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(put.status, 201, "{put:?}");
    });
    let before = sig_tag_manifest(&ep, "cosign/made", &image.digest).unwrap();
    assert_eq!(before.bytes, cosign_manifest.as_bytes());

    sign(home.path(), &ep, key, &[&image.pinned]).ok();
    let after = sig_tag_manifest(&ep, "cosign/made", &image.digest).unwrap();
    assert_eq!(after.layers.len(), 2);
    assert_eq!(after.layers[0].raw, before.layers[0].raw);
    let payload = expected_payload(&reference(&ep, "cosign/made"), &image.digest, &[]);
    assert_eq!(after.assert_signed(&payload, &key.public_pem), 1);

    // pinsign's layer descriptor: cosign's member order, compact.
    let ours = &after.layers[1];
    let payload_digest = support::sha256_digest(payload.as_bytes());
    assert_eq!(
        ours.raw,
        format!(
            "{{\"mediaType\":\"{}\",\"size\":{},\"digest\":\"{payload_digest}\",\"annotations\":{{\"{}\":\"{}\"}}}}",
            cosign_check::SIMPLESIGNING,
            payload.len(),
            cosign_check::SIGNATURE_ANNOTATION,
            ours.signature_b64
        )
    );
    // The manifest: cosign's member order, compact, no trailing newline.
    let config = &after.json["config"];
    assert_eq!(
        String::from_utf8(after.bytes.clone()).unwrap(),
        format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{}\",\"config\":{{\"mediaType\":\"{}\",\"size\":{},\"digest\":\"{}\"}},\"layers\":[{},{}]}}",
            support::client::OCI_MANIFEST,
            support::client::OCI_CONFIG,
            config["size"],
            config["digest"].as_str().unwrap(),
            after.layers[0].raw,
            ours.raw
        )
    );
    // The config: cosign's shape, one diff_id and history entry per layer.
    let config_blob = cosign_check::fetch_blob(
        &ep,
        "cosign/made",
        config["digest"].as_str().unwrap(),
        config["size"].as_u64(),
    );
    let cosign_config: Value =
        serde_json::from_str(&fixture("manifests/chihjenhuang-cosign1.sig-config.json")).unwrap();
    let config_json: Value = serde_json::from_slice(&config_blob).unwrap();
    assert_eq!(keys_of(&config_json), keys_of(&cosign_config));
    assert_eq!(
        config_json["rootfs"],
        json!({"type": "layers", "diff_ids": [
            before.layers[0].descriptor["digest"], payload_digest
        ]})
    );
    assert_eq!(config_json["history"].as_array().unwrap().len(), 2);
}

/// Early cosign wrote Docker-typed signature manifests: pinsign reads one, keeps its layer byte
/// for byte and writes the merged manifest as OCI (what Zot accepts by default).
#[test]
fn docker_typed_sig_manifest_is_kept_and_rewritten_as_oci() {
    const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[4];
    let image = ep.push_synthetic("docker/typed", Some("v1"), 56);
    let config = fixture("manifests/chihjenhuang-cosign1.sig-config.json");
    let payload_blob = fixture("manifests/chihjenhuang-cosign1.payload.json");
    let client = ep.client();
    let layer_text = support::block_on(async {
        let config_digest = client
            .push_blob("docker/typed", config.as_bytes())
            .await
            .unwrap();
        let payload_digest = client
            .push_blob("docker/typed", payload_blob.as_bytes())
            .await
            .unwrap();
        let layer_text = format!(
            "{{\"mediaType\":\"{}\",\"size\":{},\"digest\":\"{payload_digest}\",\"annotations\":{{\"{}\":\"MEYCIQCPH7NJAIfrB6BZN91dV0o7l/i11muXrvrAh100jDMMhAIhAPsLH0oXb2OPITXRpWBMUd3vHtz5Ks5pql2Hr6t/IJXw\"}}}}",
            cosign_check::SIMPLESIGNING,
            payload_blob.len(),
            cosign_check::SIGNATURE_ANNOTATION,
        );
        let manifest = format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{DOCKER_MANIFEST}\",\"config\":{{\"mediaType\":\"{DOCKER_CONFIG}\",\"size\":{},\"digest\":\"{config_digest}\"}},\"layers\":[{layer_text}]}}",
            config.len()
        );
        let put = client
            .put_manifest(
                "docker/typed",
                &sig_tag(&image.digest),
                DOCKER_MANIFEST,
                manifest.as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(put.status, 201, "{put:?}");
        layer_text
    });
    assert_eq!(
        ep.get_manifest("docker/typed", &sig_tag(&image.digest))
            .content_type
            .as_deref(),
        Some(DOCKER_MANIFEST)
    );

    sign(home.path(), &ep, key, &[&image.pinned]).ok();
    // sig_tag_manifest insists on OCI media types for the manifest and the config.
    let after = sig_tag_manifest(&ep, "docker/typed", &image.digest).unwrap();
    assert_eq!(after.layers.len(), 2);
    assert_eq!(after.layers[0].raw, layer_text);
    assert_eq!(after.layers[0].payload, payload_blob.as_bytes());
    after.assert_signed(
        &expected_payload(&reference(&ep, "docker/typed"), &image.digest, &[]),
        &key.public_pem,
    );
}

// ------------------------------------------------------------------ batches

/// The keys of a JSON object, sorted.
fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    keys
}

#[test]
fn batch_from_file_and_stdin_with_json_report() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let a = ep.push_synthetic("batch/a", Some("v1"), 60);
    let b = ep.push_synthetic("batch/b", Some("v1"), 61);
    let c = ep.push_synthetic("batch/c", Some("v1"), 62);
    let list = home.path().join("images.txt");
    std::fs::write(
        &list,
        format!(
            "# images to sign\n{}\n\n   {}   # pinned already\n# {}\n{}\n",
            reg.image("batch/a:v1"),
            b.pinned,
            reg.image("batch/commented-out:v1"),
            reg.image("batch/c:v1"),
        ),
    )
    .unwrap();
    let out = sign(
        home.path(),
        &ep,
        &keys[0],
        &[
            "--images-from",
            list.to_str().unwrap(),
            "--concurrency",
            "2",
            "--output",
            "json",
        ],
    )
    .ok();
    assert_eq!(out.stderr.trim(), "signed 3 of 3 images", "{out:#?}");
    let report = out.json();
    let entries = report
        .as_array()
        .expect("a JSON array, one entry per image");
    assert_eq!(entries.len(), 3);
    let inputs = [
        reg.image("batch/a:v1"),
        b.pinned.clone(),
        reg.image("batch/c:v1"),
    ];
    for ((entry, input), (repo, image)) in
        entries
            .iter()
            .zip(&inputs)
            .zip([("batch/a", &a), ("batch/b", &b), ("batch/c", &c)])
    {
        assert_eq!(
            keys_of(entry),
            ["digest", "input", "pinned", "signatures", "status"],
            "{entry:#}"
        );
        assert_eq!(entry["input"], input.as_str());
        assert_eq!(entry["pinned"], image.pinned.as_str());
        assert_eq!(entry["status"], "signed");
        let signatures = entry["signatures"].as_array().unwrap();
        assert_eq!(signatures.len(), 1);
        let sig = &signatures[0];
        assert_eq!(
            keys_of(sig),
            [
                "digest",
                "format",
                "layers",
                "pinned",
                "signature_manifest_digest",
                "signature_ref",
                "status",
                "via"
            ]
        );
        assert_eq!(sig["format"], "simplesigning");
        assert_eq!(sig["via"], "sig-tag");
        assert_eq!(sig["digest"], image.digest.as_str());
        assert_eq!(sig["pinned"], image.pinned.as_str());
        assert_eq!(
            sig["signature_ref"],
            format!("{}:{}", reference(&ep, repo), sig_tag(&image.digest))
        );
        assert_eq!(sig["layers"], 1);
        assert_eq!(sig["status"], "signed");
        let stored = sig_tag_manifest(&ep, repo, &image.digest).unwrap();
        assert_eq!(sig["signature_manifest_digest"], stored.digest.as_str());
        stored.assert_exactly_signed_by(
            &expected_payload(&reference(&ep, repo), &image.digest, &[]),
            &[&keys[0].public_pem],
        );
    }
    assert!(ep.tags("batch/commented-out").is_empty());

    // stdin ('-'), plus an image on the command line, text output.
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.args(["sign-digest", &a.pinned, "--images-from", "-", "--key"])
        .arg(&keys[1].key)
        .write_stdin(format!(
            "# from a pipe\n{}\n{}  # trailing comment\n",
            b.pinned, c.pinned
        ));
    let out = cmd.outcome().ok();
    // Text lines come as images finish (any order with concurrency).
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            signed_line(&ep, "batch/a", &a.digest, "batch/a"),
            signed_line(&ep, "batch/b", &b.digest, "batch/b"),
            signed_line(&ep, "batch/c", &c.digest, "batch/c"),
        ]
    );
    for (repo, image) in [("batch/a", &a), ("batch/b", &b), ("batch/c", &c)] {
        sig_tag_manifest(&ep, repo, &image.digest)
            .unwrap()
            .assert_exactly_signed_by(
                &expected_payload(&reference(&ep, repo), &image.digest, &[]),
                &[&keys[0].public_pem, &keys[1].public_pem],
            );
    }
}

#[test]
fn batch_with_one_bad_image_signs_the_others_and_exits_1() {
    let reg = Registry::tls();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[2];
    let a = ep.push_synthetic("bad/a", Some("v1"), 70);
    let c = ep.push_synthetic("bad/c", Some("v1"), 71);
    let missing = reg.image("bad/missing:v1");
    let list = home.path().join("list");
    std::fs::write(
        &list,
        format!("{}\n{missing}\n{}\n", a.pinned, reg.image("bad/c:v1")),
    )
    .unwrap();

    // Text: the failure on its own line naming the image, a summary at the end.
    let out = sign(
        home.path(),
        &ep,
        key,
        &[
            "--images-from",
            list.to_str().unwrap(),
            "--concurrency",
            "3",
        ],
    )
    .code(1);
    let expected = format!(
        "pinsign: error: cannot sign {missing}: tag v1 not found in {}",
        reference(&ep, "bad/missing")
    );
    assert!(out.stderr.lines().any(|l| l == expected), "{out:#?}");
    assert!(out.stderr.contains("signed 2 of 3 images"), "{out:#?}");
    assert!(
        out.stderr
            .trim_end()
            .ends_with("pinsign: 1 of 3 images failed"),
        "{out:#?}"
    );
    assert!(out
        .stdout
        .contains(&signed_line(&ep, "bad/a", &a.digest, "bad/a")));
    assert!(out
        .stdout
        .contains(&signed_line(&ep, "bad/c", &c.digest, "bad/c")));
    for (repo, image) in [("bad/a", &a), ("bad/c", &c)] {
        sig_tag_manifest(&ep, repo, &image.digest)
            .unwrap()
            .assert_exactly_signed_by(
                &expected_payload(&reference(&ep, repo), &image.digest, &[]),
                &[&key.public_pem],
            );
    }
    assert!(ep.tags("bad/missing").is_empty());

    // JSON: the failed entry has status and error, no pinned digest, no signatures.
    let out = sign(
        home.path(),
        &ep,
        key,
        &["--images-from", list.to_str().unwrap(), "-o", "json"],
    )
    .code(1);
    let report = out.json();
    let failed = &report[1];
    assert_eq!(keys_of(failed), ["error", "input", "signatures", "status"]);
    assert_eq!(failed["input"], missing.as_str());
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["signatures"], json!([]));
    assert_eq!(
        failed["error"],
        expected.trim_start_matches("pinsign: error: ")
    );
    for entry in [&report[0], &report[2]] {
        assert_eq!(entry["status"], "unchanged");
        assert_eq!(entry["signatures"][0]["status"], "unchanged");
    }
}

// ------------------------------------------------------------------ referrers mode

#[test]
fn referrers_mode_on_ferro() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let image = ep.push_synthetic("ref/app", Some("v1"), 80);
    let subject = json!({
        "mediaType": support::client::OCI_MANIFEST,
        "digest": image.digest,
        "size": image.manifest.len(),
    });
    let payload = expected_payload(&reference(&ep, "ref/app"), &image.digest, &[]);

    let out = sign(
        home.path(),
        &ep,
        &keys[0],
        &[
            &ferro.image("ref/app:v1"),
            "--mode",
            "referrers",
            "-o",
            "json",
        ],
    )
    .ok();
    let first = &out.json()[0]["signatures"][0];
    assert_eq!(first["status"], "signed");
    assert_eq!(first["layers"], 1);
    let artifacts = referrer_manifests(&ep, "ref/app", &subject);
    assert_eq!(artifacts.len(), 1);
    artifacts[0].assert_exactly_signed_by(&payload, &[&keys[0].public_pem]);
    assert_eq!(
        first["signature_manifest_digest"],
        artifacts[0].digest.as_str()
    );
    assert_eq!(
        first["signature_ref"],
        format!("{}@{}", reference(&ep, "ref/app"), artifacts[0].digest)
    );
    // Referrers mode writes no .sig tag.
    assert!(sig_tag_bytes(&ep, "ref/app", &image.digest).is_none());

    // A second key: a second artifact; the same key again: unchanged.
    sign(
        home.path(),
        &ep,
        &keys[1],
        &[&image.pinned, "--mode", "referrers"],
    )
    .ok();
    let out = sign(
        home.path(),
        &ep,
        &keys[0],
        &[&image.pinned, "--mode", "referrers", "-o", "json"],
    )
    .ok();
    assert_eq!(out.json()[0]["signatures"][0]["status"], "unchanged");
    let artifacts = referrer_manifests(&ep, "ref/app", &subject);
    assert_eq!(artifacts.len(), 2, "{artifacts:#?}");
    // One artifact per key, each holding exactly one signature by that key.
    let mut signers: Vec<usize> = artifacts
        .iter()
        .map(|a| {
            let signer = (0..2)
                .find(|&i| a.layers[0].verifies_with(&keys[i].public_pem))
                .expect("signed by key 0 or 1");
            a.assert_exactly_signed_by(&payload, &[&keys[signer].public_pem]);
            signer
        })
        .collect();
    signers.sort();
    assert_eq!(signers, [0, 1]);

    // --recursive: the index and each child get their own referrer, subject = that manifest.
    let index = ep.push_synthetic_index("ref/multi", Some("v1"), 81);
    sign(
        home.path(),
        &ep,
        &keys[2],
        &[
            &ferro.image("ref/multi:v1"),
            "--mode",
            "referrers",
            "--recursive",
        ],
    )
    .ok();
    let mut subjects = vec![json!({
        "mediaType": support::client::OCI_INDEX,
        "digest": index.digest,
        "size": index.index.len(),
    })];
    for child in &index.children {
        subjects.push(json!({
            "mediaType": support::client::OCI_MANIFEST,
            "digest": child.digest,
            "size": child.manifest.len(),
        }));
    }
    for subject in &subjects {
        let digest = subject["digest"].as_str().unwrap();
        let artifacts = referrer_manifests(&ep, "ref/multi", subject);
        assert_eq!(artifacts.len(), 1, "referrers of {digest}");
        artifacts[0].assert_exactly_signed_by(
            &expected_payload(&reference(&ep, "ref/multi"), digest, &[]),
            &[&keys[2].public_pem],
        );
    }
}

/// A registry (or proxy) whose HEAD omits `Content-Length` and `Content-Type`: the image's
/// descriptor comes from a GET and a hash, so a referrer's `subject` names the real media type
/// and size (never size 0 and an empty type).
#[test]
fn a_head_without_size_or_type_is_completed_by_a_get() {
    let ferro = Ferro::start();
    let proxy = CountingProxy::start(&ferro.endpoint());
    let ep = proxy.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let image = ep.push_synthetic("bare/app", Some("v1"), 82);
    proxy.strip_headers(
        "HEAD",
        "/manifests/",
        &["Content-Length", "Content-Type"],
        usize::MAX,
    );
    sign(
        home.path(),
        &ep,
        &keys[0],
        &[&proxy.image("bare/app:v1"), "--mode", "referrers"],
    )
    .ok();
    assert!(
        proxy.count("GET", "/manifests/v1") >= 1,
        "the incomplete HEAD is completed by a GET: {}",
        proxy.report()
    );
    let subject = json!({
        "mediaType": support::client::OCI_MANIFEST,
        "digest": image.digest,
        "size": image.manifest.len(),
    });
    let artifacts = referrer_manifests(&ferro.endpoint(), "bare/app", &subject);
    assert_eq!(artifacts.len(), 1, "the referrer names the real descriptor");
    // resolve-digest reports the real media type too.
    let mut cmd = support::pinsign(home.path());
    ep.configure_pinsign(&mut cmd);
    let rows = cmd
        .args(["resolve-digest", &proxy.image("bare/app:v1"), "-o", "json"])
        .outcome()
        .ok()
        .json();
    assert_eq!(rows[0]["media_type"], support::client::OCI_MANIFEST);
}

#[test]
fn referrers_mode_on_distribution_is_refused_and_writes_nothing() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("noref/app", Some("v1"), 90);
    proxy.reset();
    let out = sign(
        home.path(),
        &ep,
        &keys()[0],
        &[&image.pinned, "--mode", "referrers"],
    );
    out.error(
        1,
        &[
            &format!("cannot sign {}", image.pinned),
            "does not support the OCI 1.1 referrers API",
            "use --mode tag",
        ],
    );
    assert_eq!(out.stdout, "");
    assert_eq!(proxy.count("PUT", "/"), 0, "{}", proxy.report());
    assert_eq!(proxy.count("POST", "/"), 0, "{}", proxy.report());
    assert_eq!(ep.tags("noref/app"), vec!["v1".to_string()]);
}

// ------------------------------------------------------------------ request counts

#[test]
fn request_counts_for_one_fresh_signature() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let home = support::temp_dir();
    let image = ep.push_synthetic("count/app", Some("v1"), 100);
    proxy.reset();
    sign(
        home.path(),
        &ep,
        &keys()[0],
        &[&proxy.image("count/app:v1")],
    )
    .ok();
    eprintln!(
        "one fresh signature by tag, plain http:\n{}",
        proxy.report()
    );
    assert!(proxy.total() <= 10, "{}", proxy.report());
    assert_eq!(proxy.count("PUT", "/manifests/"), 1, "{}", proxy.report());
    sig_tag_manifest(&ep, "count/app", &image.digest).unwrap();

    // Token auth over http: one token for the whole run (pull and push at once).
    let token_reg = Registry::token_http();
    let token_proxy = CountingProxy::start(&token_reg.endpoint());
    let ep = token_proxy.endpoint();
    let image = ep.push_synthetic("count/app", Some("v1"), 101);
    let tokens = token_reg.token_server().unwrap();
    let tokens_before = tokens.requests();
    token_proxy.reset();
    sign(
        home.path(),
        &ep,
        &keys()[0],
        &[&token_proxy.image("count/app:v1")],
    )
    .ok();
    eprintln!(
        "one fresh signature by tag, token auth: {} token request(s)\n{}",
        tokens.requests() - tokens_before,
        token_proxy.report()
    );
    assert_eq!(tokens.requests() - tokens_before, 1);
    assert!(token_proxy.total() <= 11, "{}", token_proxy.report());
    sig_tag_manifest(&ep, "count/app", &image.digest).unwrap();
}

/// A batch over several repositories on a token registry: one token request for all of them
/// (several scopes), however many images and concurrent jobs.
#[test]
fn batch_on_token_registry_asks_for_each_repository_once_in_one_token() {
    let reg = Registry::token_http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let mut inputs = Vec::new();
    for (i, repo) in ["tok/a", "tok/a", "tok/b", "tok/b", "tok/c", "tok/c"]
        .iter()
        .enumerate()
    {
        let image = ep.push_synthetic(repo, Some(&format!("v{i}")), 110 + i as u64);
        inputs.push(image.pinned);
    }
    let tokens = reg.token_server().unwrap();
    let before = tokens.log().len();
    let mut args: Vec<&str> = inputs.iter().map(String::as_str).collect();
    args.extend(["--concurrency", "6"]);
    let out = sign(home.path(), &ep, &keys()[0], &args).ok();
    assert_eq!(out.stdout.lines().count(), 6, "{}", out.stdout);
    let log = tokens.log();
    let mut scopes: Vec<String> = log[before..]
        .iter()
        .flat_map(|r| r.scopes.clone())
        .collect();
    scopes.sort();
    assert_eq!(
        scopes,
        [
            "repository:tok/a:pull,push",
            "repository:tok/b:pull,push",
            "repository:tok/c:pull,push"
        ]
    );
    assert_eq!(
        log.len() - before,
        1,
        "one token for the three repositories"
    );
}

// ------------------------------------------------------------------ --mode both

/// `--mode both` on a registry with the referrers API: the artifact and the `.sig` tag, two
/// lines; on one without the API it is refused and nothing is written.
#[test]
fn mode_both_writes_the_artifact_and_the_tag_and_is_refused_without_the_api() {
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let home = support::temp_dir();
    let keys = keys();
    let image = ep.push_synthetic("both/app", Some("v1"), 150);
    let payload = expected_payload(&reference(&ep, "both/app"), &image.digest, &[]);
    let out = sign(
        home.path(),
        &ep,
        &keys[0],
        &[&image.pinned, "--mode", "both", "-o", "json"],
    )
    .ok();
    let sigs = out.json()[0]["signatures"].clone();
    assert_eq!(sigs[0]["via"], "referrers-api", "{sigs}");
    assert_eq!(sigs[1]["via"], "sig-tag", "{sigs}");
    assert_eq!(sigs[1]["layers"], 1);
    let subject = json!({
        "mediaType": support::client::OCI_MANIFEST,
        "digest": image.digest,
        "size": image.manifest.len(),
    });
    referrer_manifests(&ep, "both/app", &subject)[0]
        .assert_exactly_signed_by(&payload, &[&keys[0].public_pem]);
    sig_tag_manifest(&ep, "both/app", &image.digest)
        .unwrap()
        .assert_exactly_signed_by(&payload, &[&keys[0].public_pem]);
    // A second key: both places hold both; again: already there in both.
    let out = sign(
        home.path(),
        &ep,
        &keys[1],
        &[&image.pinned, "--mode", "both"],
    )
    .ok();
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    let out = sign(
        home.path(),
        &ep,
        &keys[1],
        &[&image.pinned, "--mode", "both"],
    )
    .ok();
    assert_eq!(
        out.stdout.matches("already there").count(),
        2,
        "{}",
        out.stdout
    );
    sig_tag_manifest(&ep, "both/app", &image.digest)
        .unwrap()
        .assert_exactly_signed_by(&payload, &[&keys[0].public_pem, &keys[1].public_pem]);

    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let ep = proxy.endpoint();
    let image = ep.push_synthetic("both/app", Some("v1"), 151);
    proxy.reset();
    sign(
        home.path(),
        &ep,
        &keys[0],
        &[&image.pinned, "--mode", "both"],
    )
    .error(1, &["does not support the OCI 1.1 referrers API"]);
    assert_eq!(proxy.count("PUT", "/"), 0, "{}", proxy.report());
    assert_eq!(proxy.count("POST", "/"), 0, "{}", proxy.report());
}

// ------------------------------------------------------------------ --shard

/// `--shard I/N` on sign-digest and verify: N jobs given the same images, in any order, by
/// digest or by tag, cover each image exactly once; each reports only its share.
#[test]
fn shards_sign_and_verify_each_image_exactly_once() {
    let reg = Registry::http();
    let ep = reg.endpoint();
    let home = support::temp_dir();
    let key = &keys()[0];
    let images: Vec<support::SyntheticImage> = (0..12)
        .map(|i| ep.push_synthetic(&format!("shard/app-{i:02}"), Some("v1"), 160 + i))
        .collect();
    // Half by digest, half by tag; the second job gets them in reverse order.
    let inputs: Vec<String> = images
        .iter()
        .enumerate()
        .map(|(i, im)| {
            if i % 2 == 0 {
                im.pinned.clone()
            } else {
                format!("{}/{}:v1", ep.host, im.repo)
            }
        })
        .collect();
    let mut signed = Vec::new();
    for (n, shard) in ["1/3", "2/3", "3/3"].iter().enumerate() {
        let mut list: Vec<&str> = inputs.iter().map(String::as_str).collect();
        if n == 1 {
            list.reverse();
        }
        let mut args = list.clone();
        args.extend(["--shard", shard]);
        let out = sign(home.path(), &ep, key, &args).ok();
        let lines: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("signed "))
            .collect();
        assert!(
            out.stderr.contains(&format!(
                "(shard {shard}; {} more in the other shards)",
                12 - lines.len()
            )),
            "{}",
            out.stderr
        );
        signed.extend(lines.iter().map(|l| l.to_string()));
    }
    assert_eq!(signed.len(), 12, "{signed:#?}");
    for im in &images {
        assert_eq!(
            signed.iter().filter(|l| l.contains(&im.digest)).count(),
            1,
            "{} signed once: {signed:#?}",
            im.repo
        );
        assert!(sig_tag_manifest(&ep, &im.repo, &im.digest).is_some());
    }
    let pubkey = home.path().join("k.pub");
    std::fs::write(&pubkey, &key.public_pem).unwrap();
    let mut verified = 0;
    for shard in ["1/2", "2/2"] {
        let mut cmd = sign_common::pinsign(home.path(), &ep);
        cmd.arg("verify")
            .args(&inputs)
            .args(["--shard", shard, "--key"])
            .arg(&pubkey);
        let out = cmd.outcome().ok();
        verified += out
            .stdout
            .lines()
            .filter(|l| l.starts_with("verified "))
            .count();
    }
    assert_eq!(verified, 12);
    // A bad value is a usage error.
    let mut cmd = sign_common::pinsign(home.path(), &ep);
    cmd.arg("verify")
        .arg(&inputs[0])
        .args(["--shard", "4/3", "--key"])
        .arg(&pubkey);
    cmd.outcome().error(2, &["--shard"]);
}
