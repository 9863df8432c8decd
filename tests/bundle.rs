//! Sigstore bundles against an implementation pinsign did not write: sigstore-js verifies what
//! `pinsign::bundle` builds, and pinsign verifies (or refuses, for the right reason) what
//! sigstore-js builds; keys come from Node's crypto. Then the OCI pieces against real
//! registries: a bundle referrer on ferro-oci-server (referrers API) and on CNCF Distribution
//! through the referrers tag index, read back and verified by both implementations.
//!
//! Then the commands, end to end on both registry kinds: `pinsign sign-digest --format bundle`
//! (read back by the independent `support::bundle_check`, verified by sigstore-js),
//! `pinsign verify` of bundles attached by the independent `support::bundle_writer` (cosign v3's
//! way), refusals with their reasons, the three formats side by side, what is skipped, a referrers
//! tag pinsign must not touch, signature repositories and request counts.

use pinsign::media_types::{BUNDLE_V03, OCI_INDEX};
use std::collections::BTreeMap;

use base64::Engine as _;
use pinsign::bundle::{
    blob_bundle, bundle_referrer, bundle_referrers, image_bundle, key_hint, merge_referrers,
    parse_bundle_referrer, parse_referrers_index, referrers_tag, verify_blob_bundle,
    verify_image_bundle, BlobArtifact, BlobPolicy, BundleCheck, Created, ImagePolicy, Refusal,
    COSIGN_SIGN_PREDICATE_TYPE,
};
use pinsign::keys::{PasswordSource, PublicKey, SigningKey};
use pinsign::reference::Digest;
use pinsign::registry::Descriptor;
use pinsign::signature::BlobData;
use serde_json::json;

use crate::support::bundle_check::{
    self, expected_statement, referrers_of, stored_bundles, StoredBundle,
};
use crate::support::bundle_writer::attach_bundle;
use crate::support::client::OCI_MANIFEST;
use crate::support::cosign_check::sig_tag_bytes;
use crate::support::cosign_writer::{pem_der, spki_fingerprint, Subject};
use crate::support::outcome::{Outcome, RunExt as _};
use crate::support::sigstore_js::{JsKey, SigstoreJs};
use crate::support::test_keys::{self, TestKey};
use crate::support::{block_on, Endpoint, Ferro, Registry, SyntheticImage};

fn signing_key(k: &JsKey) -> SigningKey {
    SigningKey::load(k.key.to_str().unwrap(), &PasswordSource::default()).expect("load Node's key")
}

fn public_key(k: &JsKey) -> PublicKey {
    PublicKey::from_pem(&std::fs::read(&k.public).unwrap(), "node.pub").unwrap()
}

fn image_digest(seed: &str) -> Digest {
    Digest::of(format!("an image manifest {seed}").as_bytes())
}

fn verify(bytes: &[u8], image: &Digest, keys: &[PublicKey]) -> BundleCheck {
    verify_image_bundle(bytes, image, &ImagePolicy::new(keys))
}

#[test]
fn pinsign_image_bundle_verifies_with_sigstore_js() {
    let js = SigstoreJs::require();
    let node_key = js.keygen();
    let other = js.keygen();
    let key = signing_key(&node_key);
    let image = image_digest("pinsign");
    let annotations = BTreeMap::from([
        ("team".to_string(), "payments".to_string()),
        ("git".to_string(), "0123abc".to_string()),
    ]);
    let built = image_bundle(&image, &annotations, &key);

    let v = js
        .verify(&built.bytes, &[&other.public, &node_key.public], None)
        .expect("sigstore-js verifies pinsign's bundle");
    assert_eq!(v.media_type, BUNDLE_V03);
    assert_eq!(v.content, "dsseEnvelope");
    assert_eq!(
        v.payload_type.as_deref(),
        Some("application/vnd.in-toto+json")
    );
    // sigstore-js found the key by pinsign's hint, computed independently in common.cjs.
    assert_eq!(
        v.hint.as_deref(),
        Some(key_hint(&key.public_key()).as_str())
    );
    let st = &v.statement;
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], COSIGN_SIGN_PREDICATE_TYPE);
    assert_eq!(st["predicate"], json!({}));
    assert_eq!(st["subject"].as_array().unwrap().len(), 1);
    assert_eq!(st["subject"][0]["digest"], json!({"sha256": image.hex()}));
    assert_eq!(
        st["subject"][0]["annotations"],
        json!({"git": "0123abc", "team": "payments"})
    );
    assert!(st["subject"][0].get("name").is_none());

    // The check is not vacuous: another key, or a changed payload, is refused by sigstore-js.
    let e = js.verify(&built.bytes, &[&other.public], None).unwrap_err();
    assert!(e.contains("hint"), "{e}");
    let mut doc: serde_json::Value = serde_json::from_slice(&built.bytes).unwrap();
    let forged = String::from_utf8(pinsign_statement(&image_digest("forged"))).unwrap();
    doc["dsseEnvelope"]["payload"] = json!(b64(forged.as_bytes()));
    let e = js
        .verify(
            &serde_json::to_vec(&doc).unwrap(),
            &[&node_key.public],
            None,
        )
        .unwrap_err();
    assert!(e.contains("SIGNATURE_ERROR"), "{e}");
}

fn pinsign_statement(d: &Digest) -> Vec<u8> {
    let key = SigningKey::generate();
    let b = pinsign::bundle::Bundle::parse(&image_bundle(d, &BTreeMap::new(), &key).bytes).unwrap();
    b.dsse_envelope().unwrap().payload.clone()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn sigstore_js_image_bundle_verifies_with_pinsign() {
    let js = SigstoreJs::require();
    let node_key = js.keygen();
    let image = image_digest("js");
    let bundle = js.sign_image(&node_key, image.as_str(), &[("team", "payments")], None);
    let keys = [SigningKey::generate().public_key(), public_key(&node_key)];
    let want = BTreeMap::from([("team".to_string(), "payments".to_string())]);
    let check = verify_image_bundle(
        &bundle,
        &image,
        &ImagePolicy::new(&keys).with_annotations(&want),
    );
    assert!(check.verified, "{:?}", check.reason);
    assert_eq!(check.key.as_deref(), Some(keys[1].fingerprint().as_str()));
    assert_eq!(check.media_type.as_deref(), Some(BUNDLE_V03));
    assert_eq!(check.subjects, vec![image.to_string()]);
    assert_eq!(check.annotations, want);
}

#[test]
fn sigstore_js_bundles_are_refused_with_the_reason() {
    let js = SigstoreJs::require();
    let node_key = js.keygen();
    let keys = [public_key(&node_key)];
    let image = image_digest("refusals");
    let good = js.sign_image(&node_key, image.as_str(), &[("team", "payments")], None);
    assert!(verify(&good, &image, &keys).verified);

    // Tampered envelope: one byte of the payload changed (the payload still parses).
    let mut doc: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(doc["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8(payload)
        .unwrap()
        .replace("payments", "paymentz");
    doc["dsseEnvelope"]["payload"] = json!(b64(text.as_bytes()));
    let check = verify(&serde_json::to_vec(&doc).unwrap(), &image, &keys);
    assert_eq!(
        check.refusal,
        Some(Refusal::WrongKey { tried: 1 }),
        "{:?}",
        check.reason
    );
    // Tampered signature.
    let mut doc: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let mut sig = base64::engine::general_purpose::STANDARD
        .decode(
            doc["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    doc["dsseEnvelope"]["signatures"][0]["sig"] = json!(b64(&sig));
    let check = verify(&serde_json::to_vec(&doc).unwrap(), &image, &keys);
    assert_eq!(check.reason_kind, Some("wrong-key"), "{:?}", check.reason);

    // Other key.
    let other = [public_key(&js.keygen())];
    let check = verify(&good, &image, &other);
    assert_eq!(check.refusal, Some(Refusal::WrongKey { tried: 1 }));
    assert_eq!(
        check.reason.as_deref(),
        Some("no key verified the signature (tried 1 key(s)); it was made with another key or the bundle was altered")
    );

    // Other digest: signed for another image.
    let check = verify(&good, &image_digest("elsewhere"), &keys);
    assert_eq!(check.reason_kind, Some("other-digest"));
    assert!(check.key.is_some(), "the signature itself is valid");
    let reason = check.reason.unwrap();
    assert!(
        reason.contains(image.as_str()) && reason.contains("replayed"),
        "{reason}"
    );

    // A bundle for another predicate (an attestation, not a signature).
    let slsa = js.sign_image(
        &node_key,
        image.as_str(),
        &[],
        Some("https://slsa.dev/provenance/v1"),
    );
    let check = verify(&slsa, &image, &keys);
    assert_eq!(
        check.refusal,
        Some(Refusal::UnknownPredicate {
            found: "https://slsa.dev/provenance/v1".into(),
            expected: COSIGN_SIGN_PREDICATE_TYPE.into()
        })
    );
    let asked = ImagePolicy::new(&keys).with_predicate_type("https://slsa.dev/provenance/v1");
    assert!(verify_image_bundle(&slsa, &image, &asked).verified);

    // A required annotation the signer did not add.
    let want = BTreeMap::from([("env".to_string(), "prod".to_string())]);
    let check = verify_image_bundle(
        &good,
        &image,
        &ImagePolicy::new(&keys).with_annotations(&want),
    );
    assert_eq!(check.reason_kind, Some("annotations"));

    // Malformed and unknown versions never panic.
    assert_eq!(verify(b"{", &image, &keys).reason_kind, Some("malformed"));
    let mut doc: serde_json::Value = serde_json::from_slice(&good).unwrap();
    doc["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.9+json");
    let check = verify(&serde_json::to_vec(&doc).unwrap(), &image, &keys);
    assert_eq!(check.reason_kind, Some("unknown-media-type"));
}

#[test]
fn blob_bundles_both_ways() {
    let js = SigstoreJs::require();
    let node_key = js.keygen();
    let keys = [public_key(&node_key)];
    let policy = BlobPolicy::new(&keys);
    let file = js.scratch("release.tar.gz");
    std::fs::write(&file, b"pinsign release tarball\n").unwrap();
    let other = js.scratch("other.tar.gz");
    std::fs::write(&other, b"another file\n").unwrap();
    let data = std::fs::read(&file).unwrap();
    let digest = Digest::of(&data);

    // pinsign's blob bundle, checked by sigstore-js against the file.
    let ours = blob_bundle(&data, &signing_key(&node_key));
    let v = js
        .verify(&ours.bytes, &[&node_key.public], Some(&file))
        .expect("sigstore-js verifies pinsign's blob bundle");
    assert_eq!(v.content, "messageSignature");
    let e = js
        .verify(&ours.bytes, &[&node_key.public], Some(&other))
        .unwrap_err();
    assert!(e.contains("SIGNATURE_ERROR") || e.contains("digest"), "{e}");

    // sigstore-js's message signature bundle (it writes media type v0.2), checked by pinsign.
    let theirs = js.sign_blob(&node_key, &file);
    let check = verify_blob_bundle(&theirs, BlobArtifact::Bytes(&data), &policy);
    assert!(check.verified, "{:?}", check.reason);
    assert_eq!(
        check.media_type.as_deref(),
        Some("application/vnd.dev.sigstore.bundle+json;version=0.2")
    );
    assert!(verify_blob_bundle(&theirs, BlobArtifact::Digest(&digest), &policy).verified);
    let other_data = std::fs::read(&other).unwrap();
    let check = verify_blob_bundle(&theirs, BlobArtifact::Bytes(&other_data), &policy);
    assert_eq!(
        check.reason_kind,
        Some("other-digest"),
        "{:?}",
        check.reason
    );
    let wrong = [public_key(&js.keygen())];
    let check = verify_blob_bundle(
        &theirs,
        BlobArtifact::Bytes(&data),
        &BlobPolicy::new(&wrong),
    );
    assert_eq!(check.refusal, Some(Refusal::WrongKey { tried: 1 }));

    // sigstore-js's DSSE statement naming the file.
    let dsse = js.sign_blob_dsse(&node_key, &file);
    let check = verify_blob_bundle(&dsse, BlobArtifact::Bytes(&data), &policy);
    assert!(check.verified, "{:?}", check.reason);
    assert_eq!(check.subjects, vec![digest.to_string()]);
    let check = verify_blob_bundle(&dsse, BlobArtifact::Bytes(&other_data), &policy);
    assert_eq!(check.reason_kind, Some("other-digest"));
}

// ------------------------------------------------------------ the OCI pieces on real registries

/// Push a bundle referrer's blobs and manifest; return the manifest PUT's status and headers.
fn push_referrer(ep: &Endpoint, repo: &str, r: &pinsign::bundle::BundleReferrer) -> u16 {
    block_on(async {
        let client = ep.client();
        for blob in &r.blobs {
            let BlobData::Upload(bytes) = &blob.data else {
                panic!("a new referrer only has blobs to upload");
            };
            let pushed = client.push_blob(repo, bytes).await.unwrap();
            assert_eq!(pushed, blob.digest.as_str());
        }
        let put = client
            .put_manifest(repo, r.digest.as_str(), r.media_type, &r.manifest)
            .await
            .unwrap();
        assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
        assert_eq!(put.digest.as_deref(), Some(r.digest.as_str()));
        put.status
    })
}

/// From a referrers list to verified bundles: list, fetch each bundle manifest and its layer,
/// check the blob digest, verify with pinsign and with sigstore-js.
fn fetch_and_verify(
    ep: &Endpoint,
    repo: &str,
    list: &[u8],
    image: &Digest,
    keys: &[PublicKey],
    js: &SigstoreJs,
    key_file: &std::path::Path,
) -> usize {
    let index = parse_referrers_index(list).unwrap();
    let bundles = bundle_referrers(&index);
    for entry in &bundles {
        let manifest = ep.get_manifest(repo, &entry.digest);
        assert_eq!(manifest.status, 200);
        let m = parse_bundle_referrer(&manifest.body).unwrap();
        m.check_subject(image).unwrap();
        let blob = block_on(async {
            ep.client()
                .get(&format!("/v2/{repo}/blobs/{}", m.layer.digest))
                .await
        })
        .unwrap();
        assert_eq!(blob.status, 200);
        assert!(m.layer.digest.matches(&blob.body));
        let check = verify(&blob.body, image, keys);
        assert!(check.verified, "{:?}", check.reason);
        let v = js.verify(&blob.body, &[key_file], None).unwrap();
        assert_eq!(v.statement["subject"][0]["digest"]["sha256"], image.hex());
    }
    bundles.len()
}

fn subject_of(ep: &Endpoint, repo: &str, digest: &str) -> Descriptor {
    let head = ep.head_manifest(repo, digest);
    assert_eq!(head.status, 200);
    Descriptor {
        media_type: head.content_type.clone().unwrap(),
        digest: Digest::parse(digest).unwrap(),
        size: head
            .header("content-length")
            .and_then(|s| s.parse().ok())
            .unwrap(),
    }
}

#[test]
fn bundle_referrer_on_a_registry_with_the_referrers_api() {
    let js = SigstoreJs::require();
    let node_key = js.keygen();
    let key = signing_key(&node_key);
    let keys = [key.public_key()];
    let ferro = Ferro::start();
    let ep = ferro.endpoint();
    let image = ep.push_synthetic("team/app", Some("v1"), 7);
    let subject = subject_of(&ep, "team/app", &image.digest);
    let digest = subject.digest.clone();

    let pinsign_bundle = image_bundle(&digest, &BTreeMap::new(), &key);
    let js_bundle = js.sign_image(&node_key, digest.as_str(), &[], None);
    for (i, bytes) in [&pinsign_bundle.bytes, &js_bundle].into_iter().enumerate() {
        let r = bundle_referrer(
            &subject,
            bytes,
            Created::from_unix(1_700_000_000 + i as u64),
        )
        .unwrap();
        push_referrer(&ep, "team/app", &r);
    }
    let list = ep.referrers("team/app", digest.as_str());
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let index = parse_referrers_index(&list.body).unwrap();
    for e in bundle_referrers(&index) {
        assert_eq!(e.artifact_type.as_deref(), Some(BUNDLE_V03));
        assert_eq!(
            e.annotations
                .get("dev.sigstore.bundle.predicateType")
                .map(String::as_str),
            Some(COSIGN_SIGN_PREDICATE_TYPE),
            "the registry lists the manifest's annotations"
        );
    }
    let n = fetch_and_verify(
        &ep,
        "team/app",
        &list.body,
        &digest,
        &keys,
        &js,
        &node_key.public,
    );
    assert_eq!(n, 2);
}

#[test]
fn bundle_referrer_through_the_referrers_tag_on_distribution() {
    let js = SigstoreJs::require();
    let node_key = js.keygen();
    let key = signing_key(&node_key);
    let keys = [key.public_key()];
    let registry = Registry::http();
    let ep = registry.endpoint();
    let image = ep.push_synthetic("team/app", Some("v1"), 8);
    let subject = subject_of(&ep, "team/app", &image.digest);
    let digest = subject.digest.clone();
    // Distribution 2.8 has no referrers API.
    assert_eq!(ep.referrers("team/app", digest.as_str()).status, 404);
    let tag = referrers_tag(&digest);
    assert_eq!(ep.get_manifest("team/app", &tag).status, 404);

    // Two signers, one after the other, each read-merge-writing the tag.
    let bundles = [
        image_bundle(&digest, &BTreeMap::new(), &key).bytes,
        js.sign_image(&node_key, digest.as_str(), &[("by", "js")], None),
    ];
    for (i, bytes) in bundles.iter().enumerate() {
        let r = bundle_referrer(
            &subject,
            bytes,
            Created::from_unix(1_700_000_000 + i as u64),
        )
        .unwrap();
        push_referrer(&ep, "team/app", &r);
        let current = ep.get_manifest("team/app", &tag);
        let current =
            (current.status == 200).then(|| parse_referrers_index(&current.body).unwrap());
        let merge = merge_referrers(current.as_ref(), None, std::slice::from_ref(&r.descriptor));
        assert!(merge.changed);
        let put = block_on(async {
            ep.client()
                .put_manifest("team/app", &tag, merge.media_type, &merge.index)
                .await
        })
        .unwrap();
        assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
        assert_eq!(put.digest.as_deref(), Some(merge.digest.as_str()));
    }
    let list = ep.get_manifest("team/app", &tag);
    assert_eq!(list.status, 200);
    assert_eq!(list.content_type.as_deref(), Some(OCI_INDEX));
    let n = fetch_and_verify(
        &ep,
        "team/app",
        &list.body,
        &digest,
        &keys,
        &js,
        &node_key.public,
    );
    assert_eq!(n, 2, "{}", String::from_utf8_lossy(&list.body));
}

// ------------------------------------------------ pinsign sign-digest --format bundle / verify

/// A registry of either kind, reached over plain http: ferro-oci-server (referrers API) or CNCF
/// Distribution 2.8 (none: the referrers tag schema).
struct Target {
    ep: Endpoint,
    api: bool,
    _ferro: Option<Ferro>,
    _dist: Option<Registry>,
}

impl Target {
    fn start(api: bool) -> Target {
        if api {
            let ferro = Ferro::start();
            Target {
                ep: ferro.endpoint(),
                api,
                _ferro: Some(ferro),
                _dist: None,
            }
        } else {
            let dist = Registry::http();
            Target {
                ep: dist.endpoint(),
                api,
                _ferro: None,
                _dist: Some(dist),
            }
        }
    }

    /// `referrers-api` or `referrers-tag`: how bundles are listed here.
    fn via(&self) -> &'static str {
        if self.api {
            "referrers-api"
        } else {
            "referrers-tag"
        }
    }

    fn pinsign(&self, home: &std::path::Path) -> assert_cmd::Command {
        crate::sign_common::pinsign(home, &self.ep)
    }

    fn sign(&self, home: &std::path::Path, key: &TestKey, args: &[&str]) -> Outcome {
        crate::sign_common::sign(home, &self.ep, key, args)
    }

    fn verify(&self, home: &std::path::Path, args: &[&str]) -> Outcome {
        let mut cmd = self.pinsign(home);
        cmd.arg("verify").args(args);
        cmd.outcome()
    }

    fn subject(&self, image: &SyntheticImage) -> Subject {
        Subject {
            media_type: OCI_MANIFEST.to_string(),
            digest: image.digest.clone(),
            size: image.manifest.len() as u64,
        }
    }

    fn stored(&self, image: &SyntheticImage) -> Vec<StoredBundle> {
        self.stored_in(&image.repo, image)
    }

    fn stored_in(&self, repo: &str, image: &SyntheticImage) -> Vec<StoredBundle> {
        stored_bundles(
            &self.ep,
            repo,
            &image.digest,
            OCI_MANIFEST,
            image.manifest.len() as u64,
        )
    }
}

fn fingerprint(public_pem: &str) -> String {
    spki_fingerprint(&pem_der(public_pem, "PUBLIC KEY"))
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `pinsign sign-digest --format bundle` writes what cosign v3 writes (checked by the
/// independent reader, byte for byte against cosign's manifest and bundle shape), sigstore-js
/// verifies the bundle as fetched from the registry and finds the image digest in its
/// statement, re-signing is idempotent, a second key adds a second bundle, and `pinsign verify`
/// reports each with its format, where it was found and its key.
fn pinsign_bundle_in_a_registry(api: bool) {
    let t = Target::start(api);
    let js = SigstoreJs::require();
    let home = crate::support::temp_dir();
    let keys = test_keys::keys();
    let image = t.ep.push_synthetic("team/app", Some("v1"), 90);
    let tagged = t.ep.image("team/app:v1");

    let out = t
        .sign(
            home.path(),
            &keys[0],
            &[
                &tagged,
                "--format",
                "bundle",
                "-a",
                "team=payments",
                "-o",
                "json",
            ],
        )
        .ok();
    let report = out.json();
    let signed = &report[0]["signatures"][0];
    assert_eq!(signed["status"], "signed", "{out}");
    assert_eq!(signed["format"], "bundle");
    assert_eq!(signed["via"], t.via());
    let index_ref = t.ep.image(&format!(
        "team/app:{}",
        bundle_check::referrers_tag(&image.digest)
    ));
    if api {
        assert!(signed.get("index").is_none(), "{out}");
    } else {
        assert_eq!(signed["index"], index_ref.as_str());
        assert_eq!(t.ep.referrers("team/app", &image.digest).status, 404);
    }

    let stored = t.stored(&image);
    assert_eq!(stored.len(), 1, "one bundle referrer");
    let bundle = &stored[0];
    assert_eq!(
        signed["signature_manifest_digest"],
        bundle.manifest_digest.as_str()
    );
    assert_eq!(
        signed["signature_ref"],
        t.ep.image(&format!("team/app@{}", bundle.manifest_digest))
    );
    assert_eq!(
        bundle.statement_text,
        expected_statement(&image.digest, &[("team", "payments")]),
        "the statement cosign v3 signs, byte for byte"
    );
    let doc: serde_json::Value = serde_json::from_slice(&bundle.bundle).unwrap();
    assert_eq!(
        doc["verificationMaterial"]["publicKey"]["hint"],
        bundle_check::key_hint(&keys[0].public_pem)
    );
    // The independent implementation verifies it as fetched, and the statement names the image.
    let v = js
        .verify(&bundle.bundle, &[&keys[1].public, &keys[0].public], None)
        .expect("sigstore-js verifies pinsign's stored bundle");
    assert_eq!(v.media_type, BUNDLE_V03);
    assert_eq!(
        v.statement["subject"][0]["digest"]["sha256"],
        image.digest.strip_prefix("sha256:").unwrap()
    );
    assert!(js.verify(&bundle.bundle, &[&keys[1].public], None).is_err());
    // A bundle only: no .sig tag.
    assert!(sig_tag_bytes(&t.ep, "team/app", &image.digest).is_none());
    let listed_before = referrers_of(&t.ep, "team/app", &image.digest);

    // Again with the same key: unchanged, nothing written (although a manifest carries its
    // creation time, so writing again would add a second referrer).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = t
        .sign(
            home.path(),
            &keys[0],
            &[
                &image.pinned,
                "--format",
                "bundle",
                "-a",
                "team=payments",
                "-o",
                "json",
            ],
        )
        .ok();
    let again = &out.json()[0]["signatures"][0];
    assert_eq!(again["status"], "unchanged", "{out}");
    assert_eq!(
        again["signature_manifest_digest"],
        bundle.manifest_digest.as_str()
    );
    let listed = referrers_of(&t.ep, "team/app", &image.digest);
    assert_eq!(listed.raw, listed_before.raw, "nothing written");
    let out = t
        .sign(
            home.path(),
            &keys[0],
            &[&image.pinned, "--format", "bundle", "-a", "team=payments"],
        )
        .ok();
    assert!(out.stdout.contains("already there"), "{out}");

    // A second key: a second bundle; the first is kept byte for byte.
    t.sign(
        home.path(),
        &keys[1],
        &[&image.pinned, "--format", "bundle", "-a", "team=payments"],
    )
    .ok();
    let stored = t.stored(&image);
    assert_eq!(stored.len(), 2);
    assert!(stored
        .iter()
        .any(|s| s.manifest_digest == bundle.manifest_digest));
    for (s, key) in stored.iter().zip([&keys[0], &keys[1]].iter().cycle()) {
        let by0 = js.verify(&s.bundle, &[&keys[0].public], None).is_ok();
        let by1 = js.verify(&s.bundle, &[&keys[1].public], None).is_ok();
        assert!(
            by0 != by1,
            "each bundle verifies with exactly one key ({key:?})"
        );
    }

    // pinsign verify: both, each with format, place and key.
    let out = t
        .verify(
            home.path(),
            &[
                &tagged,
                "--key",
                path(&keys[0].public),
                "--key",
                path(&keys[1].public),
                "-a",
                "team=payments",
                "-o",
                "json",
            ],
        )
        .ok();
    let report = &out.json()[0];
    assert_eq!(report["verified"], true, "{out}");
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{out}");
    let mut fps: Vec<&str> = Vec::new();
    for s in sigs {
        assert_eq!(s["format"], "bundle");
        assert_eq!(s["via"], t.via());
        assert_eq!(s["verified"], true);
        assert_eq!(s["bundle"]["media_type"], BUNDLE_V03);
        assert_eq!(s["bundle"]["predicate_type"], COSIGN_SIGN_PREDICATE_TYPE);
        assert_eq!(s["annotations"]["team"], "payments");
        assert_eq!(s["payload"]["predicateType"], COSIGN_SIGN_PREDICATE_TYPE);
        let location = s["location"].as_str().unwrap();
        assert!(
            stored
                .iter()
                .any(|b| location == t.ep.image(&format!("team/app@{}", b.manifest_digest))),
            "{location}"
        );
        if api {
            assert!(s.get("listed_in").is_none());
        } else {
            assert_eq!(s["listed_in"], index_ref.as_str());
        }
        fps.push(s["key"].as_str().unwrap());
    }
    fps.sort();
    let mut want = vec![
        fingerprint(&keys[0].public_pem),
        fingerprint(&keys[1].public_pem),
    ];
    want.sort();
    assert_eq!(fps, want);

    // The text output says the same.
    let out = t
        .verify(
            home.path(),
            &[&image.pinned, "--key", path(&keys[0].public)],
        )
        .ok();
    assert!(out.stdout.contains("1 of 2 signatures valid, by"), "{out}");
    let place = if api {
        "(referrers API)".to_string()
    } else {
        format!("(listed in {index_ref})")
    };
    assert!(
        out.stderr.contains("signature 1/2: bundle sha256:"),
        "{out}"
    );
    assert!(out.stderr.contains(&place), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "valid, by {} ({})",
            path(&keys[0].public),
            fingerprint(&keys[0].public_pem)
        )),
        "{out}"
    );

    // --mode restricts: tag finds bundles only through the referrers tag, referrers only
    // through the API.
    let only = |mode: &str| {
        t.verify(
            home.path(),
            &[
                &image.pinned,
                "--key",
                path(&keys[0].public),
                "--mode",
                mode,
            ],
        )
    };
    if api {
        only("referrers").ok();
        only("tag").error(
            1,
            &[
                "no signatures found",
                &bundle_check::referrers_tag(&image.digest),
            ],
        );
    } else {
        only("tag").ok();
        only("referrers").error(1, &["does not support the OCI 1.1 referrers API", "404"]);
    }
}

#[test]
fn pinsign_bundle_on_ferro() {
    pinsign_bundle_in_a_registry(true);
}

#[test]
fn pinsign_bundle_on_distribution() {
    pinsign_bundle_in_a_registry(false);
}

/// A bundle sigstore-js made, attached as cosign v3 attaches it (the independent writer: API
/// on ferro, go-containerregistry's referrers tag on Distribution), verifies with `pinsign
/// verify`; tampered envelope, another image's digest, another key, another predicate and a
/// malformed blob are refused, each with its reason, and nothing panics.
fn sigstore_js_bundles_in_a_registry(api: bool) {
    let t = Target::start(api);
    let js = SigstoreJs::require();
    let home = crate::support::temp_dir();
    let node_key = js.keygen();
    let other_key = js.keygen();
    let image = t.ep.push_synthetic("js/app", Some("v1"), 91);
    let subject = t.subject(&image);
    let good = js.sign_image(&node_key, &image.digest, &[("team", "payments")], None);
    attach_bundle(&t.ep, "js/app", &subject, &good, "2026-01-02T03:04:05Z");
    let key = path(&node_key.public);
    let out = t
        .verify(
            home.path(),
            &[
                &image.pinned,
                "--key",
                key,
                "-a",
                "team=payments",
                "-o",
                "json",
            ],
        )
        .ok();
    let sig = &out.json()[0]["signatures"][0];
    assert_eq!(sig["verified"], true, "{out}");
    assert_eq!(sig["format"], "bundle");
    assert_eq!(sig["via"], t.via());
    assert_eq!(sig["key_source"], key);
    assert_eq!(
        sig["key"],
        fingerprint(&std::fs::read_to_string(&node_key.public).unwrap())
    );
    assert_eq!(sig["bundle"]["subjects"], json!([image.digest]));

    // Another image, signed only with bad bundles.
    let bad = t.ep.push_synthetic("js/bad", Some("v1"), 92);
    let bad_subject = t.subject(&bad);
    let for_bad = js.sign_image(&node_key, &bad.digest, &[("team", "payments")], None);
    let mut doc: serde_json::Value = serde_json::from_slice(&for_bad).unwrap();
    let b64e = base64::engine::general_purpose::STANDARD;
    let payload = b64e
        .decode(doc["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let forged = String::from_utf8(payload)
        .unwrap()
        .replace("payments", "paymentz");
    doc["dsseEnvelope"]["payload"] = json!(b64(forged.as_bytes()));
    let tampered = serde_json::to_vec(&doc).unwrap();
    let replayed = js.sign_image(&node_key, &image.digest, &[("team", "payments")], None);
    let other_key_bundle = js.sign_image(&other_key, &bad.digest, &[("team", "payments")], None);
    let slsa = js.sign_image(
        &node_key,
        &bad.digest,
        &[("team", "payments")],
        Some("https://slsa.dev/provenance/v1"),
    );
    let cases: [(&[u8], &str, &str); 5] = [
        (
            &tampered,
            "wrong-key",
            "no key verified the signature (tried 1 key(s))",
        ),
        (&replayed, "other-digest", "replayed signature"),
        (
            &other_key_bundle,
            "wrong-key",
            "it was made with another key or the bundle was altered",
        ),
        (
            &slsa,
            "unknown-predicate",
            "an attestation is not a signature",
        ),
        (b"{not a bundle", "malformed", "malformed bundle"),
    ];
    let mut by_manifest = std::collections::BTreeMap::new();
    for (i, (bytes, kind, _)) in cases.iter().enumerate() {
        let created = format!("2026-01-02T03:04:1{i}Z");
        let digest = attach_bundle(&t.ep, "js/bad", &bad_subject, bytes, &created);
        by_manifest.insert(t.ep.image(&format!("js/bad@{digest}")), *kind);
    }
    let verify_bad = |extra: &[&str]| {
        let mut args = vec![bad.pinned.as_str(), "--key", key, "-a", "team=payments"];
        args.extend_from_slice(extra);
        t.verify(home.path(), &args)
    };
    let out = verify_bad(&["-o", "json"]).code(1);
    let report = &out.json()[0];
    assert_eq!(report["verified"], false);
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 5, "{out}");
    for s in sigs {
        let want = by_manifest[s["location"].as_str().unwrap()];
        assert_eq!(s["bundle"]["reason_kind"], want, "{s}");
        assert_eq!(s["verified"], false);
        assert_eq!(s["format"], "bundle");
    }
    let replay = sigs
        .iter()
        .find(|s| s["bundle"]["reason_kind"] == "other-digest")
        .unwrap();
    assert_eq!(
        replay["key_source"], key,
        "signed by the key, for another image"
    );
    // The text output names each reason.
    let out = verify_bad(&[]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("is NOT verified: none of 5 signatures passed"),
        "{out}"
    );
    for (_, _, reason) in &cases {
        assert!(out.stderr.contains(reason), "{reason}:\n{out}");
    }
    // Another predicate is accepted when asked for.
    let out = verify_bad(&[
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "-o",
        "json",
    ])
    .ok();
    let report = out.json();
    let ok: Vec<&serde_json::Value> = report[0]["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verified"] == true)
        .collect();
    assert_eq!(ok.len(), 1, "{out}");
    assert_eq!(
        ok[0]["bundle"]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    // With the other key too, its bundle verifies.
    let out = verify_bad(&["--key", path(&other_key.public), "-o", "json"]).ok();
    assert_eq!(out.json()[0]["verified"], true);
}

#[test]
fn sigstore_js_bundles_on_ferro() {
    sigstore_js_bundles_in_a_registry(true);
}

#[test]
fn sigstore_js_bundles_on_distribution() {
    sigstore_js_bundles_in_a_registry(false);
}

/// One repository holding a simple-signing `.sig` signature, cosign's `artifact.sig.v1`
/// referrer and a bundle, each from its own writer and key: `verify` checks each and reports
/// three, with their formats and places; `--mode` restricts. Besides them the referrers list
/// holds an SBOM, a referrer of another image and (on Distribution, in the referrers tag) an
/// entry claiming 1 GB: each is skipped with its reason, nothing fetched for the big one.
fn three_formats_in_a_registry(api: bool) {
    use crate::support::cosign_writer::{self as cw, Layer};
    let t = Target::start(api);
    let js = SigstoreJs::require();
    let home = crate::support::temp_dir();
    let image = t.ep.push_synthetic("mixed/app", Some("v1"), 93);
    let other = t.ep.push_synthetic("mixed/app", Some("v2"), 94);
    let subject = t.subject(&image);
    let payload = cw::payload(&t.ep.image("mixed/app"), &image.digest, &[]);

    let tag_key = cw::TestKey::generate();
    let tag_pub = tag_key.write_public(home.path(), "tag.pub");
    cw::push_sig_tag(
        &t.ep,
        "mixed/app",
        &image.digest,
        &[Layer::signed(&tag_key, payload.clone())],
    );
    let artifact_key = cw::TestKey::generate();
    let artifact_pub = artifact_key.write_public(home.path(), "artifact.pub");
    let artifact = cw::push_referrer(
        &t.ep,
        "mixed/app",
        &subject,
        &[Layer::signed(&artifact_key, payload)],
    );
    let node_key = js.keygen();
    let bundle = js.sign_image(&node_key, &image.digest, &[], None);
    let bundle_manifest = attach_bundle(
        &t.ep,
        "mixed/app",
        &subject,
        &bundle,
        "2026-02-03T04:05:06Z",
    );

    // Not signatures: an SBOM, and a bundle referrer of another image.
    cw::push_blob(&t.ep, "mixed/app", b"{}");
    let sbom_layer = cw::push_blob(&t.ep, "mixed/app", b"{\"spdxVersion\":\"SPDX-2.3\"}");
    let sbom = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"{}"}},"layers":[{{"mediaType":"application/spdx+json","size":26,"digest":"{sbom_layer}"}}],"subject":{{"mediaType":"{OCI_MANIFEST}","size":{},"digest":"{}"}}}}"#,
        crate::support::sha256_digest(b"{}"),
        subject.size,
        subject.digest
    );
    let sbom_digest = crate::support::sha256_digest(sbom.as_bytes());
    let put = cw::put_manifest(
        &t.ep,
        "mixed/app",
        &sbom_digest,
        OCI_MANIFEST,
        sbom.as_bytes(),
    );
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    let others = js.sign_image(&node_key, &other.digest, &[], None);
    let stray = attach_bundle(
        &t.ep,
        "mixed/app",
        &t.subject(&other),
        &others,
        "2026-02-03T04:05:07Z",
    );
    if !api {
        use crate::support::bundle_writer::add_to_referrers_tag;
        let listed = |digest: &str, size: usize, kind: &str| {
            add_to_referrers_tag(&t.ep, "mixed/app", &image.digest, digest, size, kind)
        };
        // cosign's experimental artifacts go through go-containerregistry's referrers tag too.
        let artifact_size = t.ep.get_manifest("mixed/app", &artifact).body.len();
        listed(&artifact, artifact_size, cw::SIG_ARTIFACT_TYPE);
        listed(&sbom_digest, sbom.len(), "application/spdx+json");
        let stray_size = t.ep.get_manifest("mixed/app", &stray).body.len();
        listed(&stray, stray_size, BUNDLE_V03);
        // Distribution checks that an index's entries exist, not their sizes.
        listed(&other.digest, 1_000_000_000, BUNDLE_V03);
    }
    let keys = [
        "--key",
        path(&tag_pub),
        "--key",
        path(&artifact_pub),
        "--key",
        path(&node_key.public),
    ];
    let verify = |extra: &[&str]| {
        let mut args = vec![image.pinned.as_str()];
        args.extend_from_slice(&keys);
        args.extend_from_slice(extra);
        t.verify(home.path(), &args)
    };
    let out = verify(&["-o", "json"]).ok();
    let report = &out.json()[0];
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 3, "{out}");
    assert!(sigs.iter().all(|s| s["verified"] == true), "{out}");
    let row = |s: &serde_json::Value| {
        (
            s["format"].as_str().unwrap().to_string(),
            s["via"].as_str().unwrap().to_string(),
            s["location"].as_str().unwrap().to_string(),
            s["key_source"].as_str().unwrap().to_string(),
        )
    };
    let mut rows: Vec<_> = sigs.iter().map(row).collect();
    rows.sort();
    let mut want = vec![
        (
            "simplesigning".to_string(),
            "sig-tag".to_string(),
            t.ep.image(&format!("mixed/app:{}", cw::sig_tag(&image.digest))),
            path(&tag_pub).to_string(),
        ),
        (
            "simplesigning".to_string(),
            t.via().to_string(),
            t.ep.image(&format!("mixed/app@{artifact}")),
            path(&artifact_pub).to_string(),
        ),
        (
            "bundle".to_string(),
            t.via().to_string(),
            t.ep.image(&format!("mixed/app@{bundle_manifest}")),
            path(&node_key.public).to_string(),
        ),
    ];
    want.sort();
    assert_eq!(rows, want, "{out}");
    let skipped = report["skipped"].as_array().expect("skipped").clone();
    let reason_for = |digest: &str| {
        skipped
            .iter()
            .find(|s| s["location"] == t.ep.image(&format!("mixed/app@{digest}")))
            .unwrap_or_else(|| panic!("{digest} is not skipped:\n{out}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        reason_for(&sbom_digest).contains("application/spdx+json is not a signature"),
        "{out}"
    );
    if api {
        // ferro lists referrers of this image only.
        assert_eq!(skipped.len(), 1, "{out}");
    } else {
        assert!(
            reason_for(&stray).contains("not counted for this image"),
            "{out}"
        );
        assert!(
            reason_for(&other.digest).contains("listed as 1000000000 bytes"),
            "{out}"
        );
        assert_eq!(skipped.len(), 3, "{out}");
    }
    let out = verify(&[]).ok();
    assert!(out.stdout.contains("3 of 3 signatures valid, by"), "{out}");
    for line in [
        "signature 1/3: simplesigning sha256:".to_string(),
        format!("(.sig tag): valid, by {}", path(&tag_pub)),
    ] {
        assert!(out.stderr.contains(&line), "{line}:\n{out}");
    }
    assert!(
        !out.stderr.contains("skipped"),
        "skips are shown with -v or on failure:\n{out}"
    );
    let out = verify(&["-v"]).ok();
    assert!(out.stderr.contains("  skipped "), "{out}");

    // Each key alone verifies its own signature and refuses the others.
    for (key, format) in [
        (path(&tag_pub), "simplesigning"),
        (path(&artifact_pub), "simplesigning"),
        (path(&node_key.public), "bundle"),
    ] {
        let out = t
            .verify(home.path(), &[&image.pinned, "--key", key, "-o", "json"])
            .ok();
        let report = out.json();
        let valid: Vec<&serde_json::Value> = report[0]["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["verified"] == true)
            .collect();
        assert_eq!(valid.len(), 1, "{out}");
        assert_eq!(valid[0]["format"], format);
        assert_eq!(valid[0]["key_source"], key);
    }

    // --mode: tag finds what tags hold, referrers what the API lists.
    let count = |mode: &str| {
        let out = verify(&["--mode", mode, "-o", "json"]);
        out.json()[0]["signatures"].as_array().unwrap().len()
    };
    if api {
        assert_eq!(count("tag"), 1);
        assert_eq!(count("referrers"), 2);
    } else {
        assert_eq!(count("tag"), 3);
    }
}

#[test]
fn three_formats_on_ferro() {
    three_formats_in_a_registry(true);
}

#[test]
fn three_formats_on_distribution() {
    three_formats_in_a_registry(false);
}

/// A referrers tag holding something that is not a referrers index (here an image manifest) is
/// never overwritten: `sign-digest --format bundle` stops and says so (the tag is unchanged),
/// and `verify` reports it as skipped and still finds the `.sig` signature.
#[test]
fn a_foreign_referrers_tag_is_never_overwritten() {
    let t = Target::start(false);
    let home = crate::support::temp_dir();
    let keys = test_keys::keys();
    let image = t.ep.push_synthetic("foreign/app", Some("v1"), 95);
    let squatter = t.ep.push_synthetic("foreign/app", None, 96);
    let tag = bundle_check::referrers_tag(&image.digest);
    let put = crate::support::cosign_writer::put_manifest(
        &t.ep,
        "foreign/app",
        &tag,
        OCI_MANIFEST,
        &squatter.manifest,
    );
    assert_eq!(put.status, 201);
    let out = t.sign(
        home.path(),
        &keys[0],
        &[&image.pinned, "--format", "bundle"],
    );
    out.error(1, &[&tag, "not a referrers index", "will not overwrite"]);
    let now = t.ep.get_manifest("foreign/app", &tag);
    assert_eq!(now.body, squatter.manifest, "the tag is untouched");

    t.sign(home.path(), &keys[0], &[&image.pinned]).ok();
    let out = t
        .verify(
            home.path(),
            &[&image.pinned, "--key", path(&keys[0].public), "-o", "json"],
        )
        .ok();
    let report = &out.json()[0];
    assert_eq!(report["signatures"].as_array().unwrap().len(), 1);
    let skipped = &report["skipped"][0];
    assert_eq!(
        skipped["location"],
        t.ep.image(&format!("foreign/app:{tag}"))
    );
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("application/vnd.oci.image.manifest.v1+json"),
        "{out}"
    );
}

/// `--mode referrers --format bundle` needs the referrers API: on Distribution it is refused and
/// nothing is written. `--mode tag --format bundle` on ferro keeps the referrers tag index as
/// well (the registry lists the referrer through its API anyway). `--signature-repo` with
/// bundles (cosign v3.1 reads them there): the referrer lives in the signature repository and is
/// found there; `--mode referrers` with a signature repository is a usage error.
#[test]
fn bundle_modes_and_signature_repository() {
    let keys = test_keys::keys();
    let home = crate::support::temp_dir();
    for api in [false, true] {
        let t = Target::start(api);
        let image = t.ep.push_synthetic("modes/app", Some("v1"), 97);
        let before = t.ep.tags("modes/app");
        let out = t.sign(
            home.path(),
            &keys[0],
            &[&image.pinned, "--format", "bundle", "--mode", "referrers"],
        );
        if api {
            out.ok();
            assert_eq!(t.stored(&image).len(), 1);
            assert_eq!(t.ep.tags("modes/app"), before, "no referrers tag");
        } else {
            out.error(
                1,
                &["does not support the OCI 1.1 referrers API", "--mode tag"],
            );
            assert_eq!(t.ep.tags("modes/app"), before, "nothing written");
        }

        let tagged = t.ep.push_synthetic("modes/app", Some("v2"), 98);
        let out = t
            .sign(
                home.path(),
                &keys[1],
                &[
                    &tagged.pinned,
                    "--format",
                    "bundle",
                    "--mode",
                    "tag",
                    "-o",
                    "json",
                ],
            )
            .ok();
        assert_eq!(out.json()[0]["signatures"][0]["via"], "referrers-tag");
        let index =
            t.ep.get_manifest("modes/app", &bundle_check::referrers_tag(&tagged.digest));
        assert_eq!(index.status, 200, "the referrers tag index is kept");
        assert_eq!(index.json()["manifests"].as_array().unwrap().len(), 1);
        let out = t
            .verify(
                home.path(),
                &[
                    &tagged.pinned,
                    "--key",
                    path(&keys[1].public),
                    "--mode",
                    "tag",
                ],
            )
            .ok();
        assert!(out.stderr.contains("(listed in "), "{out}");

        // A signature repository.
        let sigs = t.ep.image("sigs/store");
        let third = t.ep.push_synthetic("modes/app", Some("v3"), 99);
        let out = t
            .sign(
                home.path(),
                &keys[2],
                &[
                    &third.pinned,
                    "--format",
                    "bundle",
                    "--signature-repo",
                    &sigs,
                    "-o",
                    "json",
                ],
            )
            .ok();
        let signed = &out.json()[0]["signatures"][0];
        assert!(
            signed["signature_ref"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{sigs}@")),
            "{out}"
        );
        assert_eq!(t.stored_in("sigs/store", &third).len(), 1);
        assert!(t.stored(&third).is_empty(), "nothing beside the image");
        let key = path(&keys[2].public);
        t.verify(
            home.path(),
            &[&third.pinned, "--key", key, "--signature-repo", &sigs],
        )
        .ok();
        let mut cmd = t.pinsign(home.path());
        cmd.env("COSIGN_REPOSITORY", &sigs)
            .args(["verify", &third.pinned, "--key", key])
            .outcome()
            .ok();
        t.verify(home.path(), &[&third.pinned, "--key", key])
            .error(1, &["no signatures found"]);
        t.sign(
            home.path(),
            &keys[2],
            &[
                &third.pinned,
                "--format",
                "bundle",
                "--mode",
                "referrers",
                "--signature-repo",
                &sigs,
            ],
        )
        .only_error(2, &["--signature-repo", "--mode referrers"]);

        // --recursive: one bundle for the index and one for each child, each its subject.
        let index = t.ep.push_synthetic_index("modes/multi", Some("v1"), 101);
        t.sign(
            home.path(),
            &keys[3],
            &[&index.pinned, "--format", "bundle", "--recursive"],
        )
        .ok();
        let stored = stored_bundles(
            &t.ep,
            "modes/multi",
            &index.digest,
            crate::support::client::OCI_INDEX,
            index.index.len() as u64,
        );
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].statement_text,
            expected_statement(&index.digest, &[])
        );
        for child in &index.children {
            let stored = t.stored(child);
            assert_eq!(stored.len(), 1, "the bundle of {}", child.digest);
            assert_eq!(
                stored[0].statement_text,
                expected_statement(&child.digest, &[])
            );
        }
    }
}

/// Registry requests of one fresh bundle signature, a re-sign (unchanged) and a verify of it,
/// counted by the proxy on both kinds (the numbers in the README's performance section).
fn request_counts(api: bool) {
    use crate::support::CountingProxy;
    let t = Target::start(api);
    let proxy = CountingProxy::start(&t.ep);
    let pep = proxy.endpoint();
    let home = crate::support::temp_dir();
    let keys = test_keys::keys();
    let image = t.ep.push_synthetic("count/app", Some("v1"), 100);
    let pinned = pep.image(&format!("count/app@{}", image.digest));
    let kind = if api {
        "ferro (referrers API)"
    } else {
        "Distribution (referrers tag)"
    };
    let measure = |what: &str, args: &[&str], sign: bool| {
        proxy.reset();
        let mut cmd = crate::sign_common::pinsign(home.path(), &pep);
        if sign {
            cmd.arg("sign-digest").arg("--key").arg(&keys[0].key);
        } else {
            cmd.arg("verify").arg("--key").arg(&keys[0].public);
        }
        cmd.args(args).outcome().ok();
        eprintln!("{what}, {kind}: {}", proxy.report());
        proxy.total()
    };
    let fresh = measure("bundle sign", &[&pinned, "--format", "bundle"], true);
    let again = measure("bundle re-sign", &[&pinned, "--format", "bundle"], true);
    let verify = measure("bundle verify", &[&pep.image("count/app:v1")], false);
    if api {
        // HEAD image, GET referrers, 2 blob uploads (one POST each: ferro takes the
        // monolithic upload), PUT manifest.
        assert_eq!(fresh, 5, "{}", proxy.report());
        // HEAD image, GET referrers, GET the listed bundle manifest.
        assert_eq!(again, 3);
        // HEAD tag, GET .sig (404), GET referrers, GET manifest, GET bundle blob.
        assert_eq!(verify, 5);
    } else {
        // HEAD image, GET referrers (404), GET referrers tag (404), 2 blob uploads (POST + PUT
        // each), PUT manifest, GET referrers tag again (404), PUT index, 3 settle HEADs.
        assert_eq!(fresh, 13, "{}", proxy.report());
        // HEAD image, GET referrers (404), GET referrers tag, GET the listed bundle manifest.
        assert_eq!(again, 4);
        // HEAD tag, GET .sig (404), GET referrers (404), GET referrers tag, GET manifest, GET blob.
        assert_eq!(verify, 6);
    }
    // A batch finds out once per registry whether it has the referrers API.
    let more: Vec<String> = (0..3)
        .map(|i| {
            let image =
                t.ep.push_synthetic(&format!("count/batch{i}"), Some("v1"), 110 + i);
            pep.image(&format!("count/batch{i}@{}", image.digest))
        })
        .collect();
    let mut args: Vec<&str> = more.iter().map(String::as_str).collect();
    args.extend(["--format", "bundle"]);
    let batch = measure("bundle sign of 3 images", &args, true);
    assert_eq!(proxy.count("GET", "/referrers/"), if api { 3 } else { 1 });
    assert_eq!(batch, if api { 3 * fresh } else { 3 * fresh - 2 });
}

#[test]
fn request_counts_on_ferro() {
    request_counts(true);
}

#[test]
fn request_counts_on_distribution() {
    request_counts(false);
}
