//! `pinsign verify` against real registries, with signatures written by an independent writer.
//!
//! Every signature verified here (except the one labelled round-trip test at the end) is made by
//! `support::cosign_writer`: payload bytes formatted by hand in cosign's exact form, ECDSA P-256
//! with `p256` directly (or RSA with the `openssl` CLI), manifests written as text in
//! go-containerregistry's order, pushed with the harness's raw HTTP client. So a pass proves
//! pinsign reads what cosign writes, not just what pinsign writes. Real cosign vectors from
//! `tests/fixtures/cosign/` are checked offline and, once, pushed into a registry.
//!
//! Exit codes: 0 only when every image verified; 1 when any did not; 2 for usage errors.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::cosign_writer::{self as cw, Layer, Subject, TestKey};
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::{CountingProxy, Endpoint, Ferro, Registry, SyntheticImage, READER};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign");

fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join(rel)
}

fn fixture_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("read fixture {rel}: {e}"))
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// `pinsign <registry flags> verify ARGS...` with `envs`, against `ep` (credentials in env).
fn run_verify(home: &Path, ep: &Endpoint, args: &[&str], envs: &[(&str, &str)]) -> Outcome {
    let mut cmd = support::pinsign(home);
    ep.configure_pinsign(&mut cmd);
    cmd.arg("verify").args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(cmd)
}

fn run(mut cmd: assert_cmd::Command) -> Outcome {
    cmd.timeout(Duration::from_secs(120)).outcome()
}

#[track_caller]
fn assert_ok(out: &Outcome) {
    assert_eq!(out.code, 0, "expected success:\n{out}");
}

#[track_caller]
fn assert_fails(out: &Outcome, code: i32, needles: &[&str]) {
    assert_eq!(out.code, code, "expected exit {code}:\n{out}");
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{out}"
        );
    }
}

/// How to reach a registry, and a fresh HOME.
struct Setup {
    ep: Endpoint,
    home: tempfile::TempDir,
    /// The registry when the setup owns it (stopped when the setup is dropped).
    _registry: Option<Registry>,
}

impl Setup {
    /// For a registry (or proxy) the caller keeps running.
    fn new(ep: Endpoint) -> Setup {
        Setup {
            ep,
            home: support::temp_dir(),
            _registry: None,
        }
    }

    /// Owns `registry`, reached as its writer.
    fn owning(registry: Registry) -> Setup {
        Setup {
            ep: registry.endpoint(),
            home: support::temp_dir(),
            _registry: Some(registry),
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    /// Pushes `repo:v1` (synthetic, seeded) and returns it.
    fn image(&self, repo: &str, seed: u64) -> SyntheticImage {
        self.ep.push_synthetic(repo, Some("v1"), seed)
    }

    /// `HOST/REPO`, the payload's docker-reference.
    fn docker_ref(&self, repo: &str) -> String {
        self.ep.image(repo)
    }

    /// A payload for `image` with `optional` annotations.
    fn payload(&self, image: &SyntheticImage, optional: &[(&str, &str)]) -> Vec<u8> {
        cw::payload(&self.docker_ref(&image.repo), &image.digest, optional)
    }

    /// A new key whose public half is written as `name`.
    fn key(&self, name: &str) -> (TestKey, String) {
        let key = TestKey::generate();
        let path = key.write_public(self.dir(), name);
        (key, path_str(&path))
    }

    fn verify(&self, args: &[&str]) -> Outcome {
        run_verify(self.dir(), &self.ep, args, &[])
    }

    fn verify_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Outcome {
        run_verify(self.dir(), &self.ep, args, envs)
    }
}

fn http() -> Setup {
    Setup::owning(Registry::http())
}

// ------------------------------------------------------------------ 1. fixtures, offline

fn fixture_key(rel: &str) -> pinsign::keys::PublicKey {
    pinsign::keys::PublicKey::from_pem(&fixture_bytes(rel), rel).expect("fixture public key")
}

/// Every payload/signature/key triple of `tests/fixtures/cosign/payloads/` verifies with its key
/// through the library's offline check, and fails with `wrong-key.pub` (and with the other
/// triples' keys). The keyless (Fulcio) vector is checked with the certificate's key, extracted
/// with openssl.
#[test]
fn fixture_signatures_verify_offline_with_their_keys_only() {
    let dir = support::temp_dir();
    let cert_pub = dir.path().join("kubewarden-cert.pub");
    let pem = support::run(
        std::process::Command::new(support::require_tool("openssl")).args([
            "x509",
            "-pubkey",
            "-noout",
            "-in",
            &path_str(&fixture("payloads/kubewarden-keyless.cert.pem")),
        ]),
    );
    std::fs::write(&cert_pub, &pem).unwrap();

    let wrong = fixture_key("payloads/wrong-key.pub");
    let triples: [(&str, &str, PathBuf); 4] = [
        ("busybox", "busybox", fixture("payloads/busybox.pub")),
        (
            "busybox",
            "busybox-bundled",
            fixture("payloads/busybox-bundled.pub"),
        ),
        (
            "suse-toolbox-rsa",
            "suse-toolbox-rsa",
            fixture("payloads/suse-toolbox-rsa.pub"),
        ),
        ("kubewarden-keyless", "kubewarden-keyless", cert_pub),
    ];
    let keys: Vec<pinsign::keys::PublicKey> = triples
        .iter()
        .map(|(_, _, p)| {
            pinsign::keys::PublicKey::from_pem(&std::fs::read(p).unwrap(), &path_str(p)).unwrap()
        })
        .collect();
    for (i, (payload_name, sig_name, _)) in triples.iter().enumerate() {
        let payload = fixture_bytes(&format!("payloads/{payload_name}.payload.json"));
        let sig =
            String::from_utf8(fixture_bytes(&format!("payloads/{sig_name}.sig.b64"))).unwrap();
        pinsign::signature::verify_signature_b64(&payload, &sig, &keys[i])
            .unwrap_or_else(|e| panic!("{sig_name} must verify with its key: {e}"));
        let err = pinsign::signature::verify_signature_b64(&payload, &sig, &wrong)
            .expect_err("wrong-key.pub must not verify");
        assert!(err.to_string().contains("wrong-key.pub"), "{err}");
        for (j, other) in keys.iter().enumerate() {
            if j != i {
                assert!(
                    pinsign::signature::verify_signature_b64(&payload, &sig, other).is_err(),
                    "{sig_name} verified with the key of {}",
                    triples[j].1
                );
            }
        }
        // One flipped payload byte breaks it.
        let mut tampered = payload.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 0x01;
        assert!(pinsign::signature::verify_signature_b64(&tampered, &sig, &keys[i]).is_err());
    }
    // The payload this suite's writer makes is byte-identical to cosign's for the same inputs.
    let cosign_made = fixture_bytes("payloads/cosign-obsolete_test-expected-payload.json");
    let expected: serde_json::Value = serde_json::from_slice(&cosign_made).unwrap();
    let ours = cw::payload(
        expected["critical"]["identity"]["docker-reference"]
            .as_str()
            .unwrap(),
        expected["critical"]["image"]["docker-manifest-digest"]
            .as_str()
            .unwrap(),
        &[],
    );
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(cosign_made).unwrap()
    );
    let suse = fixture_bytes("payloads/suse-toolbox-rsa.payload.json");
    let suse_json: serde_json::Value = serde_json::from_slice(&suse).unwrap();
    let ours = cw::payload(
        suse_json["critical"]["identity"]["docker-reference"]
            .as_str()
            .unwrap(),
        suse_json["critical"]["image"]["docker-manifest-digest"]
            .as_str()
            .unwrap(),
        &[("creator", "OBS")],
    );
    assert_eq!(ours, suse, "optional map form");
}

// ------------------------------------------------------------------ 2. real cosign layer

/// A `.sig` manifest built around the real cosign layer descriptor (signature and Rekor bundle
/// annotations as cosign wrote them) with the real busybox payload as its blob, stored under the
/// `.sig` tag of an unrelated test image. The signature verifies with `busybox-bundled.pub`, but
/// the payload names busybox's digest: pinsign must refuse it as a replay.
#[test]
fn real_cosign_layer_verifies_but_is_refused_as_a_replay() {
    let s = http();
    let image = s.image("replay/busybox", 1);
    let descriptor = String::from_utf8(fixture_bytes(
        "manifests/busybox-bundled.layer-descriptor.json",
    ))
    .unwrap();
    let layer = Layer::raw(fixture_bytes("payloads/busybox.payload.json"), descriptor);
    cw::push_sig_tag(&s.ep, &image.repo, &image.digest, &[layer]);

    let key = path_str(&fixture("payloads/busybox-bundled.pub"));
    let img = s.ep.image("replay/busybox:v1");
    let out = s.verify(&[&img, "--key", &key]);
    assert_fails(
        &out,
        1,
        &[
            "is NOT verified",
            "payload names sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b",
            &format!("not the image digest {}", image.digest),
            "replayed signature",
        ],
    );

    let out = s.verify(&[&img, "--key", &key, "--output", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let json = out.json();
    let report = &json[0];
    assert_eq!(report["verified"], false);
    assert_eq!(report["digest"], image.digest.as_str());
    let sig = &report["signatures"][0];
    let fixture_fp = cw::spki_fingerprint(&cw::pem_der(
        &String::from_utf8(fixture_bytes("payloads/busybox-bundled.pub")).unwrap(),
        "PUBLIC KEY",
    ));
    assert_eq!(
        sig["key"], fixture_fp,
        "the signature verified with busybox-bundled.pub:\n{out}"
    );
    assert_eq!(sig["verified"], false);
    assert!(
        sig["reason"].as_str().unwrap().contains("replayed"),
        "{out}"
    );
    assert_eq!(
        sig["layer_digest"],
        "sha256:3af4414d20c9e1cb76ccc72aae8b242166dabe6af531a4a790db8e2f0e5ee7c9"
    );
    assert_eq!(
        sig["payload"]["critical"]["image"]["docker-manifest-digest"],
        "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
    );

    // The other busybox key did not make this layer's signature: no key verified it.
    let other = path_str(&fixture("payloads/busybox.pub"));
    let out = s.verify(&[&img, "--key", &other, "--output", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let sig = &out.json()[0]["signatures"][0];
    assert!(sig["key"].is_null(), "{out}");
    assert!(
        sig["reason"]
            .as_str()
            .unwrap()
            .contains("no key verified the signature"),
        "{out}"
    );
}

// ------------------------------------------------------------------ 3. all registry kinds

/// Signs `app:v1` with the independent writer, then verifies by tag and by digest as a user that
/// can only pull.
fn verify_by_tag_and_digest(reg: Registry) {
    let writer = reg.endpoint();
    let reader = if reg.kind().has_auth() {
        reg.endpoint_as(READER)
    } else {
        writer.clone()
    };
    let s = Setup::new(writer);
    let image = s.image("team/app", 7);
    let (key, pub_path) = s.key("cosign.pub");
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );

    let by_tag = s.ep.image("team/app:v1");
    let out = run_verify(s.dir(), &reader, &[&by_tag, "--key", &pub_path], &[]);
    assert_ok(&out);
    assert!(
        out.stdout
            .contains(&format!("pinned {by_tag} -> {}", image.pinned)),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(
            "verified {}: 1 of 1 signature valid, by {pub_path} ({})",
            image.pinned,
            key.fingerprint()
        )),
        "{out}"
    );

    let out = run_verify(s.dir(), &reader, &[&image.pinned, "--key", &pub_path], &[]);
    assert_ok(&out);
    assert!(
        !out.stdout.contains("pinned"),
        "a digest is not re-pinned:\n{out}"
    );
    assert!(out.stdout.contains(&key.fingerprint()), "{out}");
}

#[test]
fn verifies_independent_signature_on_http() {
    verify_by_tag_and_digest(Registry::http());
}

#[test]
fn verifies_independent_signature_on_tls() {
    verify_by_tag_and_digest(Registry::tls());
}

#[test]
fn verifies_independent_signature_on_basic_auth() {
    verify_by_tag_and_digest(Registry::basic_auth());
}

#[test]
fn verifies_independent_signature_on_token_auth() {
    verify_by_tag_and_digest(Registry::token());
}

/// Two layers signed by two keys: both keys, each alone, and a rotation overlap with an unknown
/// key all pass; the unknown key alone fails.
#[test]
fn two_keys_two_layers() {
    let s = http();
    let image = s.image("two/keys", 2);
    let (a, a_pub) = s.key("a.pub");
    let (b, b_pub) = s.key("b.pub");
    let (_c, c_pub) = s.key("c.pub");
    let payload = s.payload(&image, &[]);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[
            Layer::signed(&a, payload.clone()),
            Layer::signed(&b, payload),
        ],
    );
    let img = s.ep.image("two/keys:v1");

    let out = s.verify(&[&img, "--key", &a_pub, "--key", &b_pub]);
    assert_ok(&out);
    assert!(out.stdout.contains("2 of 2 signatures valid"), "{out}");
    assert!(out.stdout.contains(&a.fingerprint()), "{out}");
    assert!(out.stdout.contains(&b.fingerprint()), "{out}");

    for (key, path, other) in [(&a, &a_pub, &b), (&b, &b_pub, &a)] {
        let out = s.verify(&[&img, "--key", path]);
        assert_ok(&out);
        assert!(out.stdout.contains("1 of 2 signatures valid"), "{out}");
        assert!(out.stdout.contains(&key.fingerprint()), "{out}");
        assert!(!out.stdout.contains(&other.fingerprint()), "{out}");
    }

    let out = s.verify(&[&img, "--key", &c_pub, "--key", &a_pub]);
    assert_ok(&out);

    let out = s.verify(&[&img, "--key", &c_pub]);
    assert_fails(
        &out,
        1,
        &[
            "is NOT verified: none of 2 signatures passed",
            "no key verified the signature",
        ],
    );
}

/// A private key given as `--key` stands for its public half: cosign's encrypted key (with
/// `COSIGN_PASSWORD`), a plain PKCS#8 key; and a public key in `env://VAR`.
#[test]
fn private_keys_and_env_keys_as_key() {
    let s = http();
    let image = s.image("key/sources", 3);
    // A real cosign key file, opened here independently (scrypt + secretbox) to sign with.
    let cosign_key_path = fixture("keys/cosign-keys_test-pemsigstorekey.key");
    let cosign_key = cw::decrypt_cosign_key(
        &std::fs::read_to_string(&cosign_key_path).unwrap(),
        b"hello",
    );
    let plain = TestKey::generate();
    let plain_path = s.dir().join("plain.key");
    std::fs::write(&plain_path, plain.private_pkcs8_pem()).unwrap();
    let (env_key, _) = s.key("env.pub");
    let payload = s.payload(&image, &[]);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[
            Layer::signed(&cosign_key, payload.clone()),
            Layer::signed(&plain, payload.clone()),
            Layer::signed(&env_key, payload),
        ],
    );
    let img = s.ep.image("key/sources:v1");
    let cosign_key_arg = path_str(&cosign_key_path);

    let out = s.verify_env(
        &[&img, "--key", &cosign_key_arg],
        &[("COSIGN_PASSWORD", "hello")],
    );
    assert_ok(&out);
    assert!(out.stdout.contains(&cosign_key.fingerprint()), "{out}");
    assert!(out.stdout.contains("1 of 3 signatures valid"), "{out}");

    let out = s.verify(&[&img, "--key", &path_str(&plain_path)]);
    assert_ok(&out);
    assert!(out.stdout.contains(&plain.fingerprint()), "{out}");

    let pem = env_key.public_pem();
    let out = s.verify_env(
        &[&img, "--key", "env://VERIFY_PUB"],
        &[("VERIFY_PUB", &pem)],
    );
    assert_ok(&out);
    assert!(
        out.stdout
            .contains(&format!("by env://VERIFY_PUB ({})", env_key.fingerprint())),
        "{out}"
    );

    // Encrypted key without a password and no terminal: a clear error naming the key file.
    let out = s.verify(&[&img, "--key", &cosign_key_arg]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains(&cosign_key_arg), "{out}");
    assert!(out.stderr.contains("password"), "{out}");
    // env://VAR that is not set.
    let out = s.verify(&[&img, "--key", "env://VERIFY_PUB_UNSET"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("env://VERIFY_PUB_UNSET"), "{out}");
}

// ------------------------------------------------------------------ 4. failures

#[test]
fn unsigned_image_is_reported_as_unsigned() {
    let s = http();
    let image = s.image("no/sigs", 4);
    let (_k, pub_path) = s.key("k.pub");
    let img = s.ep.image("no/sigs:v1");
    let out = s.verify(&[&img, "--key", &pub_path]);
    assert_fails(
        &out,
        1,
        &[
            &format!("no signatures found for {}", image.pinned),
            &cw::sig_tag(&image.digest),
        ],
    );
    assert!(
        !out.stderr.contains("answered"),
        "unsigned is not a registry failure:\n{out}"
    );

    // A missing image is a different error, naming it.
    let missing = s.ep.image("no/sigs:nope");
    let out = s.verify(&[&missing, "--key", &pub_path]);
    assert_fails(&out, 1, &[&missing]);
    assert!(!out.stderr.contains("no signatures found"), "{out}");
}

#[test]
fn wrong_key_and_tampered_payload_are_refused() {
    let s = http();
    let (key, key_pub) = s.key("right.pub");
    let (_w, wrong_pub) = s.key("wrong.pub");

    let image = s.image("bad/wrongkey", 5);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );
    let out = s.verify(&[&image.pinned, "--key", &wrong_pub]);
    assert_fails(
        &out,
        1,
        &[
            &format!("{} is NOT verified", image.pinned),
            "no key verified the signature",
        ],
    );

    // The signature is over one payload, the blob (and its descriptor) is another.
    let image = s.image("bad/tampered", 6);
    let signed = s.payload(&image, &[("env", "dev")]);
    let sig = key.sign_b64(&signed);
    let tampered = s.payload(&image, &[("env", "prod")]);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::new(tampered, &sig)],
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub]);
    assert_fails(
        &out,
        1,
        &["is NOT verified", "no key verified the signature"],
    );
}

/// Layers whose blob does not hash to their descriptor: the size is another blob's; the stored
/// blob was corrupted on the registry's disk; the blob was deleted.
#[test]
fn blobs_that_do_not_match_their_descriptor_are_refused() {
    let reg = Registry::http();
    let s = Setup::new(reg.endpoint());
    let (key, key_pub) = s.key("k.pub");

    // 1. Descriptor names an existing blob (another image's payload) with this payload's size.
    let image = s.image("blob/size", 8);
    let good = s.payload(&image, &[]);
    let sig = key.sign_b64(&good);
    let other = s.payload(&image, &[("padding", "makes it longer")]);
    cw::push_blob(&s.ep, &image.repo, &other);
    let descriptor = cw::descriptor_with(
        cw::SIMPLESIGNING,
        good.len() as u64,
        &support::sha256_digest(&other),
        &sig,
    );
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::raw(good.clone(), descriptor)],
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub]);
    assert_fails(
        &out,
        1,
        &["is NOT verified", "blob does not match its digest"],
    );

    // 2. A correct signature layer whose blob the registry's storage then corrupts (same size).
    let image = s.image("blob/corrupt", 9);
    let payload = s.payload(&image, &[]);
    let layer = Layer::signed(&key, payload.clone());
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        std::slice::from_ref(&layer),
    );
    assert_ok(&s.verify(&[&image.pinned, "--key", &key_pub]));
    let hex = layer.digest().trim_start_matches("sha256:").to_string();
    let data = reg
        .dir()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut bytes = std::fs::read(&data).expect("blob data file");
    let at = bytes.len() - 3;
    bytes[at] ^= 0x20;
    std::fs::write(&data, &bytes).unwrap();
    let served = support::block_on(async {
        s.ep.client()
            .get(&format!("/v2/{}/blobs/{}", image.repo, layer.digest()))
            .await
    })
    .unwrap();
    assert_eq!(served.status, 200, "the registry still serves the blob");
    assert_eq!(served.body.len(), payload.len());
    assert_ne!(
        support::sha256_digest(&served.body),
        layer.digest(),
        "the registry serves bytes that do not hash to the digest"
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub]);
    assert_fails(
        &out,
        1,
        &[
            "is NOT verified",
            "payload blob rejected",
            "whose bytes hash to",
        ],
    );

    // 3. The payload blob is gone (deleted from the repository).
    let image = s.image("blob/gone", 10);
    let layer = Layer::signed(&key, s.payload(&image, &[]));
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        std::slice::from_ref(&layer),
    );
    let deleted = support::block_on(async {
        s.ep.client()
            .send(
                reqwest::Method::DELETE,
                &format!("/v2/{}/blobs/{}", image.repo, layer.digest()),
                &[],
                None,
            )
            .await
    })
    .unwrap();
    assert_eq!(deleted.status, 202, "DELETE blob");
    let out = s.verify(&[&image.pinned, "--key", &key_pub]);
    assert_fails(&out, 1, &["is NOT verified", "payload blob missing"]);
}

/// A valid signature (right key, right format) made for image A, stored under image B's `.sig`.
#[test]
fn signature_for_another_digest_is_a_replay() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let a = s.image("replay/a", 11);
    let b = s.ep.push_synthetic("replay/a", Some("v2"), 12);
    assert_ne!(a.digest, b.digest);
    cw::push_sig_tag(
        &s.ep,
        &b.repo,
        &b.digest,
        &[Layer::signed(&key, s.payload(&a, &[]))],
    );
    let out = s.verify(&[&s.ep.image("replay/a:v2"), "--key", &key_pub]);
    assert_fails(
        &out,
        1,
        &[
            &format!(
                "payload names {}, not the image digest {}",
                a.digest, b.digest
            ),
            "replayed signature",
        ],
    );
    // The image it was made for has no signature of its own.
    let out = s.verify(&[&a.pinned, "--key", &key_pub]);
    assert_fails(&out, 1, &["no signatures found"]);
}

/// `.sig` tags holding documents a registry accepts but that are not readable cosign signature
/// manifests: duplicate members, a negative layer size, an image index, an ordinary image.
#[test]
fn malformed_or_foreign_sig_manifests_fail_clearly() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let cases: [(&str, &str); 4] = [
        ("dup", "not a JSON object"),
        ("negsize", "malformed signature manifest"),
        ("index", "image index"),
        ("image", "not a cosign signature manifest"),
    ];
    for (i, (case, expected)) in cases.iter().enumerate() {
        let repo = format!("malformed/{case}");
        let image = s.image(&repo, 20 + i as u64);
        let layer = Layer::signed(&key, s.payload(&image, &[]));
        let (manifest, config) = cw::sig_manifest(std::slice::from_ref(&layer));
        cw::push_blob(&s.ep, &repo, &layer.blob);
        cw::push_blob(&s.ep, &repo, &config);
        let text = String::from_utf8(manifest).unwrap();
        let (media_type, body) = match *case {
            "dup" => (
                support::client::OCI_MANIFEST,
                text.replacen("\"layers\":", "\"layers\":[],\"layers\":", 1),
            ),
            "negsize" => (
                support::client::OCI_MANIFEST,
                text.replace(&format!("\"size\":{}", layer.blob.len()), "\"size\":-1"),
            ),
            "index" => (
                support::client::OCI_INDEX,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":{},"digest":"{}"}}]}}"#,
                    support::client::OCI_INDEX,
                    support::client::OCI_MANIFEST,
                    image.manifest.len(),
                    image.digest
                ),
            ),
            _ => (
                support::client::OCI_MANIFEST,
                String::from_utf8(image.manifest.clone()).unwrap(),
            ),
        };
        let put = cw::put_manifest(
            &s.ep,
            &repo,
            &cw::sig_tag(&image.digest),
            media_type,
            body.as_bytes(),
        );
        assert_eq!(
            put.status,
            201,
            "{case}: {}",
            String::from_utf8_lossy(&put.body)
        );
        let out = s.verify(&[&image.pinned, "--key", &key_pub]);
        assert_fails(
            &out,
            1,
            &[
                &format!("cannot verify {}", image.pinned),
                &cw::sig_tag(&image.digest),
                expected,
            ],
        );
    }
}

#[test]
fn payload_that_is_not_json_is_refused() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("bad/payload", 30);
    let not_json = b"this is not a cosign payload".to_vec();
    // Also JSON, signed, but not a simple-signing document.
    let wrong_type = cw::payload(&s.docker_ref(&image.repo), &image.digest, &[])
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace(cw::PAYLOAD_TYPE, "something else")
        .into_bytes();
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[
            Layer::signed(&key, not_json),
            Layer::signed(&key, wrong_type),
        ],
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub, "--output", "json"]);
    assert_eq!(out.code, 1, "{out}");
    let sigs = out.json()[0]["signatures"].clone();
    assert_eq!(sigs.as_array().unwrap().len(), 2, "{out}");
    // The signature verified, so the key is named; the payload is what was refused.
    assert_eq!(sigs[0]["key"], key.fingerprint());
    assert_eq!(sigs[0]["verified"], false);
    assert!(sigs[0]["payload"].is_null());
    assert!(
        sigs[0]["reason"].as_str().unwrap().contains("payload"),
        "{out}"
    );
    assert_eq!(sigs[1]["key"], key.fingerprint());
    assert!(
        sigs[1]["reason"]
            .as_str()
            .unwrap()
            .contains("something else"),
        "{out}"
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub]);
    assert_fails(&out, 1, &["none of 2 signatures passed"]);
}

#[test]
fn annotations_must_match_the_payload() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("annot/app", 31);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::signed(
            &key,
            s.payload(&image, &[("env", "dev"), ("team", "core")]),
        )],
    );
    let img = &image.pinned;
    assert_ok(&s.verify(&[img, "--key", &key_pub, "-a", "env=dev"]));
    assert_ok(&s.verify(&[
        img,
        "--key",
        &key_pub,
        "-a",
        "env=dev",
        "--annotation",
        "team=core",
    ]));
    let out = s.verify(&[img, "--key", &key_pub, "-a", "env=prod"]);
    assert_fails(
        &out,
        1,
        &["annotation env=prod missing (payload has env=dev)"],
    );
    let out = s.verify(&[img, "--key", &key_pub, "-a", "owner=me"]);
    assert_fails(
        &out,
        1,
        &["annotation owner=me missing (payload has no owner)"],
    );

    let out = s.verify(&[img, "--key", &key_pub, "-a", "env=dev", "--output", "json"]);
    assert_ok(&out);
    let sig = &out.json()[0]["signatures"][0];
    assert_eq!(sig["annotations"]["env"], "dev");
    assert_eq!(sig["annotations"]["team"], "core");

    // `optional: null` and a required annotation.
    let plain = s.ep.push_synthetic("annot/app", Some("v2"), 32);
    cw::push_sig_tag(
        &s.ep,
        &plain.repo,
        &plain.digest,
        &[Layer::signed(&key, s.payload(&plain, &[]))],
    );
    let out = s.verify(&[&plain.pinned, "--key", &key_pub, "-a", "env=dev"]);
    assert_fails(
        &out,
        1,
        &["annotation env=dev missing (payload has no env)"],
    );
    // A malformed -a is a usage error.
    let out = s.verify(&[&plain.pinned, "--key", &key_pub, "-a", "novalue"]);
    assert_eq!(out.code, 2, "{out}");
}

#[test]
fn key_file_that_is_no_key_names_the_file() {
    let s = http();
    let image = s.image("keys/bad", 33);
    let text = s.dir().join("notes.txt");
    std::fs::write(&text, "hello, I am not a key\n").unwrap();
    let cert = fixture("payloads/kubewarden-keyless.cert.pem");
    let missing = s.dir().join("missing.pub");
    for path in [text, cert, missing] {
        let arg = path_str(&path);
        let out = s.verify(&[&image.pinned, "--key", &arg]);
        assert!(out.code == 1 || out.code == 2, "{out}");
        assert!(out.stderr.contains(&arg), "message names {arg}:\n{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
}

/// An RSA key pair and signature made by the openssl CLI (PKCS#1 v1.5, SHA-256), as cosign
/// verifies with an RSA public key.
#[test]
fn rsa_signature_made_by_openssl_verifies() {
    let s = http();
    let openssl = support::require_tool("openssl");
    let image = s.image("rsa/app", 34);
    let dir = s.dir();
    let payload = s.payload(&image, &[]);
    std::fs::write(dir.join("payload.json"), &payload).unwrap();
    let in_dir = |args: &[&str]| {
        support::run(
            std::process::Command::new(&openssl)
                .args(args)
                .current_dir(dir),
        );
    };
    in_dir(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "rsa.key",
    ]);
    in_dir(&["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"]);
    in_dir(&[
        "dgst",
        "-sha256",
        "-sign",
        "rsa.key",
        "-out",
        "payload.sig",
        "payload.json",
    ]);
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(dir.join("payload.sig")).unwrap());
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::new(payload, &sig)],
    );
    let rsa_pub = path_str(&dir.join("rsa.pub"));
    let out = s.verify(&[&image.pinned, "--key", &rsa_pub]);
    assert_ok(&out);
    let fp = cw::spki_fingerprint(&cw::pem_der(
        &std::fs::read_to_string(dir.join("rsa.pub")).unwrap(),
        "PUBLIC KEY",
    ));
    assert!(out.stdout.contains(&fp), "{out}");
    // An EC key does not verify it.
    let (_k, ec_pub) = s.key("ec.pub");
    let out = s.verify(&[&image.pinned, "--key", &ec_pub]);
    assert_fails(&out, 1, &["no key verified the signature"]);
}

// ------------------------------------------------------------------ 5. referrers

#[test]
fn referrers_mode_finds_an_independent_artifact_on_ferro() {
    let ferro = Ferro::start();
    let s = Setup::new(ferro.endpoint());
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("ref/app", 40);
    let artifact = cw::push_referrer(
        &s.ep,
        &image.repo,
        &Subject {
            media_type: support::client::OCI_MANIFEST.to_string(),
            digest: image.digest.clone(),
            size: image.manifest.len() as u64,
        },
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );
    let listed = s.ep.referrers(&image.repo, &image.digest);
    assert_eq!(listed.status, 200);
    assert!(
        String::from_utf8_lossy(&listed.body).contains(&artifact),
        "ferro lists the artifact"
    );
    let img = s.ep.image("ref/app:v1");

    let out = s.verify(&[&img, "--key", &key_pub, "--mode", "referrers"]);
    assert_ok(&out);
    assert!(out.stdout.contains(&key.fingerprint()), "{out}");

    let out = s.verify(&[&img, "--key", &key_pub, "--mode", "any", "--output", "json"]);
    assert_ok(&out);
    let sig = &out.json()[0]["signatures"][0];
    assert_eq!(
        sig["location"],
        format!("{}@{artifact}", s.docker_ref(&image.repo)),
        "{out}"
    );

    // Found by the default (any) too, but not by what tags hold.
    let out = s.verify(&[&img, "--key", &key_pub]);
    assert_ok(&out);
    let out = s.verify(&[&img, "--key", &key_pub, "--mode", "tag"]);
    assert_fails(&out, 1, &["no signatures found"]);

    // A referrer whose subject is another image is not counted for this one.
    let other = s.ep.push_synthetic("ref/app", Some("v2"), 41);
    cw::push_referrer(
        &s.ep,
        &other.repo,
        &Subject {
            media_type: support::client::OCI_MANIFEST.to_string(),
            digest: other.digest.clone(),
            size: other.manifest.len() as u64,
        },
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );
    let out = s.verify(&[&other.pinned, "--key", &key_pub, "--mode", "referrers"]);
    assert_fails(&out, 1, &["replayed signature"]);
}

#[test]
fn referrers_mode_on_distribution() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("ref/dist", 42);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub, "--mode", "referrers"]);
    assert_fails(
        &out,
        1,
        &["does not support the OCI 1.1 referrers API", "--mode tag"],
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub, "--mode", "any"]);
    assert_ok(&out);
    let out = s.verify(&[&image.pinned, "--key", &key_pub, "--mode", "tag"]);
    assert_ok(&out);
}

// ------------------------------------------------------------------ 6. signature repository

#[test]
fn signature_repo_flag_and_cosign_repository() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("app/main", 43);
    cw::push_sig_tag(
        &s.ep,
        "sigs/store",
        &image.digest,
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );
    let sig_repo = s.ep.image("sigs/store");
    let img = s.ep.image("app/main:v1");

    let out = s.verify(&[&img, "--key", &key_pub]);
    assert_fails(&out, 1, &["no signatures found"]);

    let out = s.verify(&[&img, "--key", &key_pub, "--signature-repo", &sig_repo]);
    assert_ok(&out);

    let out = s.verify_env(
        &[&img, "--key", &key_pub, "--output", "json"],
        &[("COSIGN_REPOSITORY", &sig_repo)],
    );
    assert_ok(&out);
    assert_eq!(
        out.json()[0]["signatures"][0]["location"],
        format!("{sig_repo}:{}", cw::sig_tag(&image.digest))
    );

    // The flag wins over the variable.
    let out = s.verify_env(
        &[
            &img,
            "--key",
            &key_pub,
            "--signature-repo",
            &s.ep.image("sigs/elsewhere"),
        ],
        &[("COSIGN_REPOSITORY", &sig_repo)],
    );
    assert_fails(&out, 1, &["no signatures found", "sigs/elsewhere"]);
}

// ------------------------------------------------------------------ 7. batches

#[test]
fn batch_reports_every_image_and_fails_for_one_unsigned() {
    let s = http();
    let (key, key_pub) = s.key("k.pub");
    let mut images = Vec::new();
    for (i, repo) in ["batch/one", "batch/two", "batch/three"].iter().enumerate() {
        let image = s.image(repo, 50 + i as u64);
        if i != 1 {
            cw::push_sig_tag(
                &s.ep,
                &image.repo,
                &image.digest,
                &[Layer::signed(
                    &key,
                    s.payload(&image, &[("n", &i.to_string())]),
                )],
            );
        }
        images.push(image);
    }
    let tags: Vec<String> = images
        .iter()
        .map(|i| s.ep.image(&format!("{}:v1", i.repo)))
        .collect();

    let mut args: Vec<&str> = tags.iter().map(String::as_str).collect();
    args.extend(["--key", &key_pub, "--concurrency", "2"]);
    let out = s.verify(&args);
    assert_fails(
        &out,
        1,
        &[
            &format!("no signatures found for {}", images[1].pinned),
            "verified 2 of 3 images",
            "1 of 3 images failed",
        ],
    );
    for i in [0, 2] {
        assert!(
            out.stdout.contains(&format!(
                "verified {}: 1 of 1 signature valid",
                images[i].pinned
            )),
            "{out}"
        );
    }

    // JSON: one document, in input order.
    let mut json_args = args.clone();
    json_args.extend(["--output", "json"]);
    let out = s.verify(&json_args);
    assert_eq!(out.code, 1, "{out}");
    let json = out.json();
    let reports = json.as_array().expect("an array of reports");
    assert_eq!(reports.len(), 3);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["input"], tags[i].as_str());
        assert_eq!(r["pinned"], images[i].pinned.as_str());
        assert_eq!(r["digest"], images[i].digest.as_str());
        assert_eq!(r["verified"], i != 1);
    }
    let good = &reports[0];
    assert!(good.get("error").is_none(), "{out}");
    let sig = &good["signatures"][0];
    for field in [
        "location",
        "layer_digest",
        "key",
        "annotations",
        "verified",
        "reason",
        "payload",
    ] {
        assert!(sig.get(field).is_some(), "signature lacks {field}: {sig}");
    }
    assert_eq!(
        sig["location"],
        format!(
            "{}:{}",
            s.docker_ref("batch/one"),
            cw::sig_tag(&images[0].digest)
        )
    );
    assert_eq!(sig["key"], key.fingerprint());
    assert_eq!(sig["annotations"]["n"], "0");
    assert_eq!(sig["verified"], true);
    assert!(sig["reason"].is_null());
    assert_eq!(
        sig["payload"]["critical"]["image"]["docker-manifest-digest"],
        images[0].digest.as_str()
    );
    let bad = &reports[1];
    assert_eq!(bad["signatures"].as_array().unwrap().len(), 0);
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains(&format!("no signatures found for {}", images[1].pinned)),
        "{out}"
    );
    assert!(out.stderr.contains("verified 2 of 3 images"), "{out}");

    // --images-from FILE (comments and blank lines skipped) and '-'.
    let list = s.dir().join("images.txt");
    std::fs::write(
        &list,
        format!(
            "# signed ones\n{}\n\n{}  # by digest\n",
            tags[0], images[2].pinned
        ),
    )
    .unwrap();
    let out = s.verify(&["--images-from", &path_str(&list), "--key", &key_pub]);
    assert_ok(&out);
    assert!(out.stderr.contains("verified 2 of 2 images"), "{out}");

    let mut cmd = support::pinsign(s.dir());
    s.ep.configure_pinsign(&mut cmd);
    cmd.args(["verify", &tags[0], "--images-from", "-", "--key", &key_pub])
        .write_stdin(format!("{}\n", tags[1]));
    let out = run(cmd);
    assert_fails(&out, 1, &["verified 1 of 2 images"]);
}

// ------------------------------------------------------------------ 8. request counts

#[test]
fn request_count_of_one_verify() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let s = Setup::new(proxy.endpoint());
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("count/app", 60);
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::signed(&key, s.payload(&image, &[]))],
    );
    proxy.reset();
    let out = s.verify(&[&s.ep.image("count/app:v1"), "--key", &key_pub]);
    assert_ok(&out);
    let total = proxy.total();
    eprintln!("verify by tag, one signature, http: {}", proxy.report());
    // HEAD of the tag, GET of the .sig tag and its payload blob, then the referrers: GET
    // referrers (404: Distribution has no API), GET of the referrers tag (404).
    assert_eq!(
        total,
        5,
        "verify used {total} requests:\n{}",
        proxy.report()
    );
    assert_eq!(
        proxy.count("HEAD", "/manifests/v1"),
        1,
        "{}",
        proxy.report()
    );
    assert_eq!(
        proxy.count("GET", &format!("/manifests/{}", cw::sig_tag(&image.digest))),
        1
    );
    assert_eq!(
        proxy.count("GET", "/blobs/sha256:"),
        1,
        "{}",
        proxy.report()
    );
    assert_eq!(proxy.count("GET", "/referrers/"), 1, "{}", proxy.report());
    // --mode tag: no referrers API call.
    proxy.reset();
    let out = s.verify(&[
        &s.ep.image("count/app:v1"),
        "--key",
        &key_pub,
        "--mode",
        "tag",
    ]);
    assert_ok(&out);
    assert_eq!(proxy.total(), 4, "{}", proxy.report());
    assert_eq!(proxy.count("GET", "/referrers/"), 0, "{}", proxy.report());
    // A batch asks once whether the registry has the referrers API.
    let second = s.image("count/two", 62);
    cw::push_sig_tag(
        &s.ep,
        &second.repo,
        &second.digest,
        &[Layer::signed(&key, s.payload(&second, &[]))],
    );
    proxy.reset();
    let out = s.verify(&[
        &s.ep.image("count/app:v1"),
        &s.ep.image("count/two:v1"),
        "--key",
        &key_pub,
    ]);
    assert_ok(&out);
    assert_eq!(proxy.total(), 9, "{}", proxy.report());
    assert_eq!(proxy.count("GET", "/referrers/"), 1, "{}", proxy.report());

    // Token auth over http: one token for the one repository.
    let token_reg = Registry::token_http();
    let token_proxy = CountingProxy::start(&token_reg.endpoint());
    let t = Setup::new(token_proxy.endpoint());
    let image = t.image("count/app", 61);
    cw::push_sig_tag(
        &t.ep,
        &image.repo,
        &image.digest,
        &[Layer::signed(&key, t.payload(&image, &[]))],
    );
    let tokens = token_reg.token_server().unwrap();
    let before = tokens.requests();
    token_proxy.reset();
    let reader = token_proxy.endpoint().with_user(READER);
    let out = run_verify(
        t.dir(),
        &reader,
        &[&t.ep.image("count/app:v1"), "--key", &key_pub],
        &[],
    );
    assert_ok(&out);
    let token_requests = tokens.requests() - before;
    eprintln!(
        "verify by tag, one signature, token over http: {} token request(s); {}",
        token_requests,
        token_proxy.report()
    );
    assert_eq!(token_requests, 1, "{:?}", tokens.log());
    assert_eq!(
        token_proxy.total(),
        6,
        "registry requests with token auth (the first is the 401):\n{}",
        token_proxy.report()
    );
}

// ------------------------------------------------------------------ 9. round trip (pinsign's signer)

/// ROUND TRIP, NOT INDEPENDENT: pinsign's own `sign-digest` writes the signature and pinsign
/// verifies it. The one test here that uses pinsign's signer; it also checks the payload pinsign
/// wrote is byte-identical to the independent writer's.
#[test]
fn round_trip_with_pinsigns_own_signer() {
    let s = http();
    let image = s.image("roundtrip/app", 70);
    let key = TestKey::generate();
    let key_path = s.dir().join("cosign.key");
    std::fs::write(&key_path, key.private_pkcs8_pem()).unwrap();
    let pub_path = path_str(&key.write_public(s.dir(), "cosign.pub"));

    let mut cmd = support::pinsign(s.dir());
    s.ep.configure_pinsign(&mut cmd);
    cmd.args([
        "sign-digest",
        &image.pinned,
        "--key",
        &path_str(&key_path),
        "-a",
        "env=ci",
    ]);
    assert_ok(&run(cmd));

    let out = s.verify(&[
        &s.ep.image("roundtrip/app:v1"),
        "--key",
        &pub_path,
        "-a",
        "env=ci",
    ]);
    assert_ok(&out);
    assert!(out.stdout.contains(&key.fingerprint()), "{out}");

    let manifest = s.ep.get_manifest(&image.repo, &cw::sig_tag(&image.digest));
    assert_eq!(manifest.status, 200);
    let layer_digest = manifest.json()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let expected = s.payload(&image, &[("env", "ci")]);
    assert_eq!(
        layer_digest,
        support::sha256_digest(&expected),
        "pinsign's payload equals the independent writer's bytes"
    );
}

// ------------------------------------------------------------------ per-layer problems, wide .sig

/// One layer whose payload is over 1 MiB (by its descriptor, or larger than its descriptor
/// says) next to a valid signature: the big layer is reported and not fetched, the others are
/// still checked, and the image verifies. Anyone who can push must not be able to break
/// verification with one bad layer.
#[test]
fn an_oversized_layer_is_skipped_and_the_image_still_verifies() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let s = Setup::new(proxy.endpoint());
    let (key, key_pub) = s.key("k.pub");
    let (other, _) = s.key("other.pub");
    let image = s.image("big/app", 60);
    let huge = vec![b' '; (1 << 20) + 10];
    let good = Layer::signed(&key, s.payload(&image, &[]));
    // Its descriptor says how big it is: never fetched.
    let big = Layer::signed(&other, huge.clone());
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[big.clone(), good.clone()],
    );
    proxy.reset();
    let out = s.verify(&[&image.pinned, "--key", &key_pub, "-o", "json"]);
    assert_ok(&out);
    let sigs = out.json()[0]["signatures"].clone();
    assert_eq!(sigs.as_array().unwrap().len(), 2, "{out}");
    assert_eq!(sigs[0]["verified"], false);
    let reason = sigs[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("1048586 bytes, more than the 1 MiB pinsign reads")
            && reason.contains("not fetched"),
        "{reason}"
    );
    assert_eq!(sigs[1]["verified"], true);
    assert_eq!(
        proxy.count("GET", &format!("/blobs/{}", big.digest())),
        0,
        "{}",
        proxy.report()
    );

    // Its descriptor understates it: fetched, cut off at 1 MiB, reported.
    let image = s.image("big/liar", 61);
    let small = s.payload(&image, &[]);
    cw::push_blob(&s.ep, &image.repo, &huge);
    let liar = cw::descriptor_with(
        cw::SIMPLESIGNING,
        small.len() as u64,
        &support::sha256_digest(&huge),
        &other.sign_b64(&huge),
    );
    let good = Layer::signed(&key, small.clone());
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        &[Layer::raw(huge.clone(), liar), good],
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub]);
    assert_ok(&out);
    assert!(
        out.stderr.contains("larger than its descriptor says"),
        "{out}"
    );
}

/// A `.sig` tag with 300 layers over 150 distinct payloads (each signed twice): every payload
/// blob is fetched once, several at a time but never more than 16, through a proxy that delays
/// each request.
#[test]
fn hundreds_of_layers_are_fetched_once_per_blob_with_bounded_concurrency() {
    let reg = Registry::http();
    let proxy = CountingProxy::start(&reg.endpoint());
    let s = Setup::new(proxy.endpoint());
    let (key, key_pub) = s.key("k.pub");
    let image = s.image("wide/app", 62);
    let layers: Vec<Layer> = (0..300)
        .map(|i| {
            let n = (i % 150).to_string();
            Layer::signed(&key, s.payload(&image, &[("n", &n)]))
        })
        .collect();
    cw::push_sig_tag(&reg.endpoint(), &image.repo, &image.digest, &layers);
    proxy.reset();
    proxy.delay(
        "GET",
        "/blobs/",
        Duration::from_millis(20),
        Duration::from_millis(40),
    );
    let out = s.verify(&[&image.pinned, "--key", &key_pub, "-q", "-o", "json"]);
    assert_ok(&out);
    assert_eq!(out.json()[0]["signatures"].as_array().unwrap().len(), 300);
    assert_eq!(proxy.count("GET", "/blobs/"), 150, "{}", proxy.report());
    let most = proxy.most_in_flight();
    assert!(
        (2..=17).contains(&most),
        "at most 16 blob requests at once (+1 other): {most}"
    );
}

/// A signature stored as a referrer (`--mode both` or `--mode referrers`) that the `.sig` tag
/// lacks: verify says so (Kyverno's default verifier reads only the tag), `sign-digest --repair`
/// merges it in, keeping what the tag holds, and a second repair writes nothing.
#[test]
fn a_referrer_missing_from_the_tag_is_reported_and_repaired() {
    let ferro = Ferro::start();
    let s = Setup::new(ferro.endpoint());
    let (in_tag, in_tag_pub) = s.key("tag.pub");
    let (referrer, referrer_pub) = s.key("referrer.pub");
    let image = s.image("repair/app", 63);
    let subject = Subject {
        media_type: support::client::OCI_MANIFEST.to_string(),
        digest: image.digest.clone(),
        size: image.manifest.len() as u64,
    };
    let payload = s.payload(&image, &[]);
    let tag_layer = Layer::signed(&in_tag, payload.clone());
    cw::push_sig_tag(
        &s.ep,
        &image.repo,
        &image.digest,
        std::slice::from_ref(&tag_layer),
    );
    let artifact = cw::push_referrer(
        &s.ep,
        &image.repo,
        &subject,
        &[Layer::signed(&referrer, payload.clone())],
    );
    let keys = ["--key", &in_tag_pub, "--key", &referrer_pub];
    let mut args = vec![image.pinned.as_str()];
    args.extend(keys);
    let out = s.verify(&args);
    assert_ok(&out);
    let tag = format!(
        "{}:{}",
        s.docker_ref(&image.repo),
        cw::sig_tag(&image.digest)
    );
    assert!(
        out.stderr.contains(&format!(
            "pinsign: warning: 1 signature(s) of {} are referrers missing from {tag}, the tag Kyverno's default verifier reads; pinsign sign-digest --repair {} puts them there",
            image.pinned, image.pinned
        )),
        "{out}"
    );
    let mut json = args.clone();
    json.extend(["-o", "json"]);
    let report = s.verify(&json).json();
    assert_eq!(report[0]["missing_from_tag"]["tag"], tag.as_str());
    assert_eq!(
        report[0]["missing_from_tag"]["locations"][0],
        format!("{}@{artifact}", s.docker_ref(&image.repo))
    );

    let repair = |s: &Setup| {
        let mut cmd = support::pinsign(s.dir());
        s.ep.configure_pinsign(&mut cmd);
        cmd.args(["sign-digest", "--repair", &image.pinned]);
        run(cmd)
    };
    let out = repair(&s);
    assert_ok(&out);
    assert!(
        out.stdout.contains(&format!(
            "repaired {}: 1 signature(s) from its 1 referrer(s) merged into {tag} (2 layers)",
            image.pinned
        )),
        "{out}"
    );
    let manifest =
        crate::support::cosign_check::sig_tag_manifest(&s.ep, &image.repo, &image.digest)
            .expect(".sig tag");
    assert_eq!(manifest.layers.len(), 2);
    assert_eq!(
        manifest.layers[0].raw, tag_layer.descriptor,
        "kept byte for byte, first"
    );
    assert!(manifest.layers[1].verifies_with(&referrer.public_pem()));
    let out = s.verify(&args);
    assert_ok(&out);
    assert!(!out.stderr.contains("missing from"), "{out}");
    let out = repair(&s);
    assert_ok(&out);
    assert!(out.stdout.contains("nothing to repair"), "{out}");
    assert_eq!(
        crate::support::cosign_check::sig_tag_manifest(&s.ep, &image.repo, &image.digest)
            .unwrap()
            .digest,
        manifest.digest,
        "idempotent: nothing written"
    );
}
