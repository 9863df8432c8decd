//! Tests across the module, against cosign's real vectors in `tests/fixtures/cosign/`.

use std::collections::BTreeMap;

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;

use super::*;
use crate::keys::PublicKey;
use crate::media_types::{OCI_CONFIG, OCI_MANIFEST, SIG_ARTIFACT, SIMPLESIGNING};
use crate::reference::Digest;
use crate::registry::{Descriptor, PinnedImage};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIX}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fixture_text(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap()
}

fn fixture_key(name: &str) -> PublicKey {
    PublicKey::from_pem(&fixture(name), name).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
}

/// A deterministic P-256 test signer.
struct TestKey {
    signing: p256::ecdsa::SigningKey,
    public: PublicKey,
}

impl TestKey {
    fn new(seed: u8) -> TestKey {
        let signing = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let der = signing
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let public = PublicKey::from_spki_der(der, &format!("test-key-{seed}")).unwrap();
        TestKey { signing, public }
    }

    fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::DerSignature = self.signing.sign(payload);
        sig.as_bytes().to_vec()
    }

    fn layer(&self, payload: &[u8]) -> SignatureLayer {
        SignatureLayer::from_parts(image(HEX_A), payload.to_vec(), &self.sign(payload))
    }
}

const HEX_A: &str = "4c1c50d0ffc614f90b93b07d778028dc765548e823f676fb027f61d281ac380d";
const HEX_B: &str = "f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";

fn image(hex: &str) -> PinnedImage {
    crate::registry::pinned_for_tests(
        &format!("127.0.0.1:5000/team/app@sha256:{hex}"),
        OCI_MANIFEST,
        1234,
    )
}

fn fetched(layer: &SignatureLayer) -> FetchedLayer {
    FetchedLayer {
        descriptor: layer.descriptor(),
        blob: layer.payload().to_vec(),
    }
}

fn no_annotations() -> BTreeMap<String, String> {
    BTreeMap::new()
}

// ---------------------------------------------------------------- fixture signatures

/// The SubjectPublicKeyInfo inside a DER X.509 certificate (a minimal DER walk:
/// Certificate > TBSCertificate > [version] serial sigAlg issuer validity subject SPKI).
fn cert_spki(cert_der: &[u8]) -> Vec<u8> {
    /// (header length, content length) of the TLV at `at`.
    fn tlv(der: &[u8], at: usize) -> (usize, usize) {
        let first = der[at + 1] as usize;
        if first < 0x80 {
            return (2, first);
        }
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (2 + n, len)
    }
    let (h, _) = tlv(cert_der, 0); // Certificate
    let tbs = h;
    let (h, _) = tlv(cert_der, tbs); // TBSCertificate
    let mut at = tbs + h;
    if cert_der[at] == 0xa0 {
        let (h, l) = tlv(cert_der, at);
        at += h + l; // [0] version
    }
    for _ in 0..5 {
        let (h, l) = tlv(cert_der, at); // serial, signature, issuer, validity, subject
        at += h + l;
    }
    assert_eq!(cert_der[at], 0x30, "SPKI is a SEQUENCE");
    let (h, l) = tlv(cert_der, at);
    cert_der[at..at + h + l].to_vec()
}

fn pem_der(text: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).unwrap() + begin.len();
    let stop = text.find(&end).unwrap();
    unb64(&text[start..stop].split_whitespace().collect::<String>())
}

#[test]
fn every_fixture_triple_verifies_and_fails_with_wrong_key() {
    let keyless_cert = fixture_text("payloads/kubewarden-keyless.cert.pem");
    let keyless_key = PublicKey::from_spki_der(
        cert_spki(&pem_der(&keyless_cert, "CERTIFICATE")),
        "kubewarden-keyless.cert.pem",
    )
    .unwrap();
    let wrong = fixture_key("payloads/wrong-key.pub");
    let cases = [
        ("busybox", fixture_key("payloads/busybox.pub")),
        (
            "busybox-bundled",
            fixture_key("payloads/busybox-bundled.pub"),
        ),
        (
            "suse-toolbox-rsa",
            fixture_key("payloads/suse-toolbox-rsa.pub"),
        ),
        ("kubewarden-keyless", keyless_key),
    ];
    for (name, key) in cases {
        let payload_name = if name == "busybox-bundled" {
            "busybox"
        } else {
            name
        };
        let payload = fixture(&format!("payloads/{payload_name}.payload.json"));
        let sig = fixture_text(&format!("payloads/{name}.sig.b64"));
        verify_signature_b64(&payload, &sig, &key).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            matches!(
                verify_signature_b64(&payload, &sig, &wrong),
                Err(SignatureError::BadSignature { .. })
            ),
            "{name} must fail with wrong-key.pub"
        );
        let mut tampered = payload.clone();
        tampered[10] ^= 1;
        assert!(
            verify_signature_b64(&tampered, &sig, &key).is_err(),
            "{name}"
        );
    }
}

#[test]
fn bad_base64_and_bad_signature_are_distinct() {
    let key = fixture_key("payloads/busybox.pub");
    let payload = fixture("payloads/busybox.payload.json");
    let e = verify_signature_b64(&payload, "not base64!!", &key).unwrap_err();
    assert!(matches!(e, SignatureError::BadBase64(_)), "{e}");
    let e = verify_signature_b64(&payload, &b64(b"not a DER signature"), &key).unwrap_err();
    match &e {
        SignatureError::BadSignature {
            fingerprint,
            source_name,
        } => {
            assert_eq!(fingerprint, &key.fingerprint());
            assert_eq!(source_name, "payloads/busybox.pub");
        }
        other => panic!("{other}"),
    }
}

// ---------------------------------------------------------------- the .sig manifest

#[test]
fn real_cosign_sig_manifest_parses_and_renders_byte_exact() {
    let bytes = fixture("manifests/chihjenhuang-cosign1.sig-manifest.json");
    let m = parse_sig_manifest(&bytes).unwrap();
    assert_eq!(m.kind(), ManifestKind::Oci);
    assert!(m.digest().hex().starts_with("7ebe8964"), "{}", m.digest());
    assert_eq!(m.layers().len(), 1);
    let layer = &m.layers()[0];
    assert!(layer.is_simplesigning());
    assert_eq!(layer.size(), 252);
    let payload = fixture("manifests/chihjenhuang-cosign1.payload.json");
    assert!(layer.digest().matches(&payload));
    // Our manifest renderer, given cosign's own config blob, reproduces cosign's bytes.
    let config = fixture("manifests/chihjenhuang-cosign1.sig-config.json");
    let rendered = manifest::render_manifest(&config, OCI_CONFIG, &[layer.raw_json()], &[]);
    assert_eq!(rendered, bytes);
    assert_eq!(Digest::of(&rendered), *m.digest());
    // The layer descriptor survives a merge byte for byte.
    let k = TestKey::new(7);
    let out = merge(Some(&m), &[k.layer(&payload)]);
    let text = String::from_utf8(out.manifest.clone()).unwrap();
    let original_layer = layer.raw_json();
    assert!(text.contains(original_layer));
    assert!(text.contains(r#""layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":252,"digest":"sha256:b671489e"#));
    // Our config has cosign's shape: only `created` differs.
    let ours: serde_json::Value = serde_json::from_slice(&sig_config([layer.digest()])).unwrap();
    let mut theirs: serde_json::Value = serde_json::from_slice(&config).unwrap();
    theirs["created"] = ZERO_TIME.into();
    assert_eq!(ours, theirs);
}

fn bundled_sig_manifest() -> Vec<u8> {
    let descriptor = fixture_text("manifests/busybox-bundled.layer-descriptor.json");
    let descriptor = descriptor.trim_end();
    let config = sig_config([&Digest::of(&fixture("payloads/busybox.payload.json"))]);
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{descriptor}],"annotations":{{"org.example/note":"kept"}}}}"#,
        manifest::descriptor_json(OCI_CONFIG, &Digest::of(&config), config.len() as u64)
    )
    .into_bytes()
}

#[test]
fn bundled_layer_verifies_and_survives_merge_byte_for_byte() {
    let bytes = bundled_sig_manifest();
    let m = parse_sig_manifest(&bytes).unwrap();
    let layer = &m.layers()[0];
    assert!(layer.annotations().contains_key(BUNDLE_ANNOTATION));
    let payload = fixture("payloads/busybox.payload.json");
    let image_digest =
        Digest::parse("sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b")
            .unwrap();
    let checks = verify_layers(
        &image_digest,
        &[FetchedLayer {
            descriptor: layer.clone(),
            blob: payload.clone(),
        }],
        &[
            fixture_key("payloads/busybox.pub"),
            fixture_key("payloads/busybox-bundled.pub"),
        ],
        &no_annotations(),
    );
    assert!(checks[0].verified, "{:?}", checks[0].reason);
    assert_eq!(
        checks[0].key.as_deref(),
        Some(
            fixture_key("payloads/busybox-bundled.pub")
                .fingerprint()
                .as_str()
        )
    );

    // Merge a new signature by another key over the same payload.
    let k = TestKey::new(9);
    let out = merge(Some(&m), &[k.layer(&payload)]);
    assert!(out.changed);
    let text = String::from_utf8(out.manifest.clone()).unwrap();
    let descriptor = fixture_text("manifests/busybox-bundled.layer-descriptor.json");
    assert!(
        text.contains(descriptor.trim_end()),
        "bundle layer descriptor must be kept byte for byte"
    );
    assert!(
        text.ends_with(r#","annotations":{"org.example/note":"kept"}}"#),
        "{text}"
    );
    let merged = parse_sig_manifest(&out.manifest).unwrap();
    assert_eq!(merged.layers().len(), 2);
    assert_eq!(
        merged.layers()[0].annotations()[BUNDLE_ANNOTATION],
        layer.annotations()[BUNDLE_ANNOTATION]
    );
    // Both layers verify, each with its own key.
    let fetched: Vec<FetchedLayer> = merged
        .layers()
        .iter()
        .map(|d| FetchedLayer {
            descriptor: d.clone(),
            blob: payload.clone(),
        })
        .collect();
    let checks = verify_layers(
        &image_digest,
        &fetched,
        &[
            fixture_key("payloads/busybox-bundled.pub"),
            k.public.clone(),
        ],
        &no_annotations(),
    );
    assert!(checks.iter().all(|c| c.verified), "{checks:?}");
    assert_ne!(checks[0].key, checks[1].key);
    // One payload blob, already there; only the config is new.
    assert_eq!(out.blobs.len(), 2);
    assert_eq!(out.blobs[0].data, BlobData::Existing);
    assert_eq!(out.blobs[1].digest, Digest::of(&out.config));
    assert!(matches!(out.blobs[1].data, BlobData::Upload(_)));
    // The config lists the two layers, as cosign's does.
    let config: serde_json::Value = serde_json::from_slice(&out.config).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    assert_eq!(config["history"].as_array().unwrap().len(), 2);
}

#[test]
fn first_signature_makes_a_cosign_shaped_manifest() {
    let img = image(HEX_A);
    let k = TestKey::new(1);
    let p = payload(&img, &no_annotations());
    let layer = k.layer(&p);
    let out = merge(None, std::slice::from_ref(&layer));
    assert!(out.changed);
    assert_eq!(out.added, vec![layer.key()]);
    let expected = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{}"}},"#,
            r#""layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":{},"digest":"{}","#,
            r#""annotations":{{"dev.cosignproject.cosign/signature":"{}"}}}}]}}"#
        ),
        out.config.len(),
        Digest::of(&out.config),
        p.len(),
        Digest::of(&p),
        b64(&k.sign(&p)),
    );
    assert_eq!(String::from_utf8(out.manifest.clone()).unwrap(), expected);
    assert_eq!(out.digest, Digest::of(&out.manifest));
    assert_eq!(
        String::from_utf8(out.config.clone()).unwrap(),
        format!(
            r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#,
            Digest::of(&p)
        )
    );
    assert_eq!(out.blobs.len(), 2);
    assert_eq!(out.blobs[0].data, BlobData::Upload(p.clone()));
    assert_eq!(out.blobs[0].size, p.len() as u64);
}

#[test]
fn merge_is_idempotent() {
    let img = image(HEX_A);
    let k = TestKey::new(1);
    let layer = k.layer(&payload(&img, &no_annotations()));
    let first = merge(None, std::slice::from_ref(&layer));
    let m = parse_sig_manifest(&first.manifest).unwrap();
    let again = merge(Some(&m), std::slice::from_ref(&layer));
    assert!(!again.changed);
    assert!(again.added.is_empty());
    assert_eq!(again.manifest, first.manifest, "deterministic: same bytes");
    assert!(contains_all(&m, None, std::slice::from_ref(&layer)));
    // Also from scratch: the same signature twice is one layer.
    let twice = merge(None, &[layer.clone(), layer]);
    assert_eq!(twice.manifest, first.manifest);
}

#[test]
fn two_keys_same_payload_keep_two_layers() {
    let img = image(HEX_A);
    let p = payload(&img, &no_annotations());
    let (k1, k2) = (TestKey::new(1), TestKey::new(2));
    let (l1, l2) = (k1.layer(&p), k2.layer(&p));
    assert_eq!(l1.digest(), l2.digest());
    let first = merge(None, std::slice::from_ref(&l1));
    let m1 = parse_sig_manifest(&first.manifest).unwrap();
    let second = merge(Some(&m1), std::slice::from_ref(&l2));
    assert!(second.changed);
    let m2 = parse_sig_manifest(&second.manifest).unwrap();
    assert_eq!(
        m2.layer_keys(),
        vec![l1.key(), l2.key()],
        "existing first, new last"
    );
    assert_eq!(m2.layers()[0].raw_json(), m1.layers()[0].raw_json());
    // One payload blob for both layers (it is already there).
    let payload_blobs: Vec<_> = second
        .blobs
        .iter()
        .filter(|b| b.digest == *l1.digest())
        .collect();
    assert_eq!(payload_blobs.len(), 1);
    assert_eq!(payload_blobs[0].data, BlobData::Existing);
    // And both verify with their own key.
    let checks = verify_layers(
        img.digest(),
        &[fetched(&l1), fetched(&l2)],
        &[k2.public.clone(), k1.public.clone()],
        &no_annotations(),
    );
    assert!(checks.iter().all(|c| c.verified));
    assert_eq!(checks[0].key, Some(k1.public.fingerprint()));
    assert_eq!(checks[1].key, Some(k2.public.fingerprint()));
}

#[test]
fn concurrent_write_read_back_and_remerge() {
    let img = image(HEX_A);
    let p = payload(&img, &no_annotations());
    let (k0, k1, k2) = (TestKey::new(3), TestKey::new(4), TestKey::new(5));
    let base = parse_sig_manifest(&merge(None, &[k0.layer(&p)]).manifest).unwrap();
    // We (k1) and another signer (k2) both read `base`; theirs lands last.
    let ours = [k1.layer(&p)];
    let theirs = parse_sig_manifest(&merge(Some(&base), &[k2.layer(&p)]).manifest).unwrap();
    assert!(!contains_all(&theirs, Some(&base), &ours));
    assert_eq!(
        missing_layers(&theirs, Some(&base), &ours),
        vec![ours[0].key()]
    );
    let fixed = remerge(Some(&theirs), Some(&base), &ours);
    assert!(fixed.changed);
    let fixed_m = parse_sig_manifest(&fixed.manifest).unwrap();
    assert!(contains_all(&fixed_m, Some(&base), &ours));
    assert!(contains_all(&fixed_m, Some(&theirs), &[]));
    assert_eq!(
        fixed_m.layer_keys(),
        vec![k0.layer(&p).key(), k2.layer(&p).key(), k1.layer(&p).key()]
    );
    // A writer that replaced the manifest (sigstore-rs push_signature) lost k0: restored.
    let replaced = parse_sig_manifest(&merge(None, &[k2.layer(&p)]).manifest).unwrap();
    let restored = remerge(Some(&replaced), Some(&base), &ours);
    let restored_m = parse_sig_manifest(&restored.manifest).unwrap();
    assert!(contains_all(&restored_m, Some(&base), &ours));
    assert_eq!(restored.added.len(), 2);
    // The tag vanished meanwhile: write base + ours again.
    let gone = remerge(None, Some(&base), &ours);
    assert_eq!(
        parse_sig_manifest(&gone.manifest).unwrap().layer_keys(),
        vec![k0.layer(&p).key(), k1.layer(&p).key()]
    );
}

#[test]
fn docker_schema2_sig_manifest_is_read_and_rewritten_as_oci() {
    let text = String::from_utf8(fixture("manifests/chihjenhuang-cosign1.sig-manifest.json"))
        .unwrap()
        .replace(
            OCI_MANIFEST,
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .replace(OCI_CONFIG, "application/vnd.docker.container.image.v1+json");
    let m = parse_sig_manifest(text.as_bytes()).unwrap();
    assert_eq!(m.kind(), ManifestKind::Docker);
    let k = TestKey::new(1);
    let out = merge(Some(&m), &[k.layer(b"{}")]);
    assert!(String::from_utf8(out.manifest)
        .unwrap()
        .contains(OCI_MANIFEST));
}

#[test]
fn foreign_and_malformed_manifests_are_rejected() {
    let foreign = [
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            "image index",
        ),
        (r#"{"schemaVersion":2,"manifests":[]}"#, "image index"),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#,
            "image index",
        ),
        (
            r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#,
            "schema 1",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":3,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#,
            "application/vnd.oci.image.layer.v1.tar+gzip, none a cosign signature",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.helm.chart","config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#,
            "artifact of type application/vnd.cncf.helm.chart",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#,
            "config is of type application/vnd.cncf.helm.config.v1+json",
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"text/plain","config":{},"layers":[]}"#,
            "media type text/plain",
        ),
    ];
    for (doc, says) in foreign {
        match parse_sig_manifest(doc.as_bytes()) {
            Err(e @ SignatureError::Foreign(_)) => {
                assert!(e.to_string().contains(says), "{e} should say {says}");
                assert!(e.to_string().contains("will not overwrite"), "{e}");
            }
            other => panic!("{doc}: expected Foreign, got {other:?}"),
        }
    }
    let malformed = [
        "",
        "not json",
        "[]",
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":{}}"#,
        r#"{"schemaVersion":3,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[]}"#,
        r#"{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[]}"#,
        r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":1,"digest":"md5:00"}]}"#,
        r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":-1,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#,
        r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[],"layers":[]}"#,
    ];
    for doc in malformed {
        assert!(
            matches!(
                parse_sig_manifest(doc.as_bytes()),
                Err(SignatureError::Malformed(_))
            ),
            "{doc}: {:?}",
            parse_sig_manifest(doc.as_bytes())
        );
    }
}

#[test]
fn mixed_layers_are_kept_not_rejected() {
    // A .sig manifest holding a signature plus something else: keep both on merge.
    let text = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}},"layers":[{},{{"mediaType":"application/x-other","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}]}}"#,
        fixture_text("manifests/busybox-bundled.layer-descriptor.json").trim_end()
    );
    let m = parse_sig_manifest(text.as_bytes()).unwrap();
    let out = merge(Some(&m), &[TestKey::new(1).layer(b"x")]);
    assert_eq!(parse_sig_manifest(&out.manifest).unwrap().layers().len(), 3);
}

// ---------------------------------------------------------------- verification

#[test]
fn replayed_signature_is_rejected() {
    let k = TestKey::new(1);
    // A valid signature for image B, copied under image A's .sig tag.
    let layer = k.layer(&payload(&image(HEX_B), &no_annotations()));
    let checks = verify_layers(
        image(HEX_A).digest(),
        &[fetched(&layer)],
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert!(!checks[0].verified);
    assert_eq!(
        checks[0].reason.as_deref(),
        Some(
            format!("payload names sha256:{HEX_B}, not the image digest sha256:{HEX_A} (replayed signature)")
                .as_str()
        )
    );
    assert_eq!(checks[0].key, Some(k.public.fingerprint()));
}

#[test]
fn tampered_payload_and_blob_mismatch_are_rejected() {
    let k = TestKey::new(1);
    let img = image(HEX_A);
    let layer = k.layer(&payload(&img, &no_annotations()));
    // The blob changed but the descriptor did not: digest mismatch.
    let mut blob = layer.payload().to_vec();
    blob[20] ^= 1;
    let checks = verify_layers(
        img.digest(),
        &[FetchedLayer {
            descriptor: layer.descriptor(),
            blob: blob.clone(),
        }],
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    let reason = checks[0].reason.as_deref().unwrap();
    assert!(
        reason.starts_with("blob does not match its digest"),
        "{reason}"
    );
    // Tampered payload with a descriptor made to match: the signature fails.
    let forged = SignatureLayer::from_parts(image(HEX_A), blob, &unb64(layer.signature_b64()));
    let checks = verify_layers(
        img.digest(),
        &[fetched(&forged)],
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert_eq!(
        checks[0].reason.as_deref(),
        Some("no key verified the signature")
    );
    assert_eq!(checks[0].key, None);
    // Size mismatch alone.
    let desc = LayerDescriptor::parse(
        &layer
            .descriptor_json()
            .replace(&format!("\"size\":{}", layer.size()), "\"size\":1"),
        "t",
    )
    .unwrap();
    let checks = verify_layers(
        img.digest(),
        &[FetchedLayer {
            descriptor: desc,
            blob: layer.payload().to_vec(),
        }],
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert!(checks[0]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("blob does not match its digest"));
}

#[test]
fn wrong_key_wrong_type_no_signature() {
    let (k, other) = (TestKey::new(1), TestKey::new(2));
    let img = image(HEX_A);
    let layer = k.layer(&payload(&img, &no_annotations()));
    let c = verify_layer(
        img.digest(),
        &fetched(&layer),
        std::slice::from_ref(&other.public),
        &no_annotations(),
    );
    assert_eq!(c.reason.as_deref(), Some("no key verified the signature"));
    let c = verify_layer(img.digest(), &fetched(&layer), &[], &no_annotations());
    assert!(!c.verified);

    // A correctly signed payload of another type.
    let text = String::from_utf8(payload(&img, &no_annotations()))
        .unwrap()
        .replace("cosign container image signature", "something else");
    let odd = k.layer(text.as_bytes());
    let c = verify_layer(
        img.digest(),
        &fetched(&odd),
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert!(c
        .reason
        .unwrap()
        .contains("payload type is \"something else\""));

    // A signed blob that is not a payload at all.
    let junk = k.layer(b"hello");
    let c = verify_layer(
        img.digest(),
        &fetched(&junk),
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert!(c
        .reason
        .unwrap()
        .contains("not a cosign simple-signing document"));
    assert_eq!(c.payload, serde_json::Value::Null);

    // No signature annotation; not a simple-signing layer.
    let bare = LayerDescriptor::parse(
        &format!(
            r#"{{"mediaType":"{SIMPLESIGNING}","size":{},"digest":"{}"}}"#,
            layer.size(),
            layer.digest()
        ),
        "t",
    )
    .unwrap();
    let c = verify_layer(
        img.digest(),
        &FetchedLayer {
            descriptor: bare,
            blob: layer.payload().to_vec(),
        },
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert_eq!(
        c.reason.as_deref(),
        Some("layer has no dev.cosignproject.cosign/signature annotation")
    );
    let other_type = LayerDescriptor::parse(
        &layer
            .descriptor_json()
            .replace(SIMPLESIGNING, "application/vnd.dsse.envelope.v1+json"),
        "t",
    )
    .unwrap();
    let c = verify_layer(
        img.digest(),
        &FetchedLayer {
            descriptor: other_type,
            blob: layer.payload().to_vec(),
        },
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert!(c
        .reason
        .unwrap()
        .starts_with("layer media type is application/vnd.dsse"));
}

#[test]
fn required_annotations() {
    let k = TestKey::new(1);
    let img = image(HEX_A);
    let ann = parse_annotations(&["env=dev".into(), "team=core".into()]).unwrap();
    let layer = k.layer(&payload(&img, &ann));
    let keys = [k.public.clone()];
    let ok = verify_layer(
        img.digest(),
        &fetched(&layer),
        &keys,
        &parse_annotations(&["team=core".into()]).unwrap(),
    );
    assert!(ok.verified, "{:?}", ok.reason);
    assert_eq!(ok.annotations, ann);
    assert_eq!(ok.payload["optional"]["env"], "dev");
    let c = verify_layer(
        img.digest(),
        &fetched(&layer),
        &keys,
        &parse_annotations(&["env=prod".into()]).unwrap(),
    );
    assert_eq!(
        c.reason.as_deref(),
        Some("annotation env=prod missing (payload has env=dev)")
    );
    let c = verify_layer(
        img.digest(),
        &fetched(&layer),
        &keys,
        &parse_annotations(&["owner=me".into()]).unwrap(),
    );
    assert_eq!(
        c.reason.as_deref(),
        Some("annotation owner=me missing (payload has no owner)")
    );
    // No optional map at all.
    let plain = k.layer(&payload(&img, &no_annotations()));
    let c = verify_layer(
        img.digest(),
        &fetched(&plain),
        &keys,
        &parse_annotations(&["env=prod".into()]).unwrap(),
    );
    assert_eq!(
        c.reason.as_deref(),
        Some("annotation env=prod missing (payload has no env)")
    );
}

#[test]
fn signature_check_serializes_for_json_output() {
    let k = TestKey::new(1);
    let img = image(HEX_A);
    let layer = k.layer(&payload(&img, &no_annotations()));
    let c = verify_layer(
        img.digest(),
        &fetched(&layer),
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["layer_digest"], layer.digest().as_str());
    assert_eq!(v["reason"], serde_json::Value::Null);
    assert_eq!(
        v["payload"]["critical"]["image"]["docker-manifest-digest"],
        format!("sha256:{HEX_A}")
    );
}

// ---------------------------------------------------------------- referrers

fn subject() -> Descriptor {
    image(HEX_A).descriptor().clone()
}

#[test]
fn referrers_artifact_fields_exact() {
    let k = TestKey::new(1);
    let p = payload(&image(HEX_A), &no_annotations());
    let layer = k.layer(&p);
    let art = referrers_artifact(&layer);
    let expected = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""config":{{"mediaType":"application/vnd.dev.cosign.artifact.sig.v1+json","size":{},"digest":"{}"}},"#,
            r#""layers":[{}],"#,
            r#""subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1234,"digest":"sha256:{}"}},"#,
            r#""artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json"}}"#
        ),
        art.config.len(),
        Digest::of(&art.config),
        layer.descriptor_json(),
        HEX_A
    );
    assert_eq!(String::from_utf8(art.manifest.clone()).unwrap(), expected);
    assert_eq!(art.digest, Digest::of(&art.manifest));
    assert_eq!(art.config, sig_config([layer.digest()]));
    assert_eq!(art.blobs.len(), 2);
    assert_eq!(art.blobs[0].data, BlobData::Upload(p.clone()));
    assert_eq!(art.blobs[1].digest, Digest::of(&art.config));
    // Deterministic: the same signature is the same artifact.
    assert_eq!(referrers_artifact(&layer).digest, art.digest);

    let parsed = parse_referrers_artifact(&art.manifest).unwrap();
    assert_eq!(parsed.subject, subject());
    assert_eq!(parsed.artifact_type, SIG_ARTIFACT);
    assert_eq!(parsed.digest, art.digest);
    parsed.check_subject(&subject().digest).unwrap();
    assert!(parsed
        .check_subject(&Digest::parse(&format!("sha256:{HEX_B}")).unwrap())
        .is_err());
    let checks = verify_layers(
        &subject().digest,
        &[FetchedLayer {
            descriptor: parsed.layers[0].clone(),
            blob: p,
        }],
        std::slice::from_ref(&k.public),
        &no_annotations(),
    );
    assert!(checks[0].verified);
}

#[test]
fn referrers_parser_accepts_cosign_v2_and_rejects_others() {
    let k = TestKey::new(1);
    let art = referrers_artifact(&k.layer(b"{}"));
    let text = String::from_utf8(art.manifest).unwrap();
    // cosign v2 wrote no top-level artifactType, only the config media type.
    let v2 = text.replace(
        r#","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json""#,
        "",
    );
    assert_eq!(
        parse_referrers_artifact(v2.as_bytes())
            .unwrap()
            .artifact_type,
        SIG_ARTIFACT
    );
    let no_subject = text.replace(
        &format!(
            r#","subject":{}"#,
            manifest::descriptor_json(OCI_MANIFEST, &subject().digest, 1234)
        ),
        "",
    );
    assert!(matches!(
        parse_referrers_artifact(no_subject.as_bytes()),
        Err(SignatureError::Foreign(_))
    ));
    let attestation = text.replace(
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.dev.cosign.artifact.att.v1+json",
    );
    let e = parse_referrers_artifact(attestation.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("artifact.att"), "{e}");
    // The tag-mode parser accepts a sig referrer too (same layers).
    assert_eq!(
        parse_sig_manifest(text.as_bytes()).unwrap().layers().len(),
        1
    );
}

// ---------------------------------------------------------------- removing layers (prune)

#[test]
fn removal_takes_out_only_the_named_layers_and_keeps_the_rest_byte_for_byte() {
    let img = image(HEX_A);
    let p = payload(&img, &no_annotations());
    let (old, new, other) = (TestKey::new(7), TestKey::new(8), TestKey::new(9));
    // A real cosign layer with a bundle annotation, an old-key layer, a new-key one, another.
    let bundled = parse_sig_manifest(&bundled_sig_manifest()).unwrap();
    let merged = merge(
        Some(&bundled),
        &[old.layer(&p), new.layer(&p), other.layer(&p)],
    );
    let m = parse_sig_manifest(&merged.manifest).unwrap();
    let remove: std::collections::BTreeSet<LayerKey> = [old.layer(&p).key()].into();
    let r = remove_layers(&m, &remove).unwrap();
    assert!(r.changed);
    assert_eq!(r.removed, vec![old.layer(&p).key()]);
    assert!(r.restored.is_empty());
    assert_eq!(r.remaining, 3);
    assert_eq!(r.digest, Digest::of(&r.manifest));
    assert_eq!(r.media_type, OCI_MANIFEST);
    let after = parse_sig_manifest(&r.manifest).unwrap();
    assert_eq!(
        after.layer_keys(),
        vec![
            bundled.layer_keys()[0].clone(),
            new.layer(&p).key(),
            other.layer(&p).key()
        ]
    );
    // Kept layers are the exact JSON text that was there, in order.
    let kept: Vec<&str> = after.layers().iter().map(|l| l.raw_json()).collect();
    let before: Vec<&str> = m.layers().iter().map(|l| l.raw_json()).collect();
    assert_eq!(kept, vec![before[0], before[2], before[3]]);
    // Manifest-level annotations survive; the config lists exactly the remaining layers.
    assert_eq!(
        after.extra_members().collect::<Vec<_>>(),
        m.extra_members().collect::<Vec<_>>()
    );
    assert_eq!(
        r.config,
        sig_config(after.layers().iter().map(|l| l.digest()))
    );
    // Only the config is uploaded; the remaining payloads are already there.
    let uploads: Vec<&Blob> = r
        .blobs
        .iter()
        .filter(|b| matches!(b.data, BlobData::Upload(_)))
        .collect();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].digest, Digest::of(&r.config));
    // The result is what a fresh merge of the same layers would write: cosign-shaped.
    let fresh = merge(None, &[new.layer(&p), other.layer(&p)]);
    let fresh_m = parse_sig_manifest(&fresh.manifest).unwrap();
    let r2 = remove_layers(
        &parse_sig_manifest(&merge(Some(&fresh_m), &[old.layer(&p)]).manifest).unwrap(),
        &remove,
    )
    .unwrap();
    assert_eq!(
        r2.manifest, fresh.manifest,
        "byte-identical to never having had it"
    );
}

#[test]
fn removal_of_nothing_changes_nothing_and_never_empties() {
    let img = image(HEX_A);
    let p = payload(&img, &no_annotations());
    let (old, new) = (TestKey::new(7), TestKey::new(8));
    let m = parse_sig_manifest(&merge(None, &[new.layer(&p)]).manifest).unwrap();
    let remove: std::collections::BTreeSet<LayerKey> = [old.layer(&p).key()].into();
    let r = remove_layers(&m, &remove).unwrap();
    assert!(!r.changed);
    assert_eq!(
        r.manifest,
        m.raw(),
        "a no-op removal rewrites the same bytes"
    );
    // The only layer: refused.
    let only_old = parse_sig_manifest(&merge(None, &[old.layer(&p)]).manifest).unwrap();
    let e = remove_layers(&only_old, &remove).unwrap_err();
    assert_eq!(e, WouldEmpty { removed: 1 });
    assert!(
        e.to_string().contains("never removes the last signature"),
        "{e}"
    );
    // Duplicated layers of the removed key all go.
    let dup = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","size":1,"digest":"{}"}},"layers":[{},{},{}]}}"#,
        Digest::of(b"x"),
        old.layer(&p).descriptor_json(),
        new.layer(&p).descriptor_json(),
        old.layer(&p).descriptor_json()
    );
    let dup = parse_sig_manifest(dup.as_bytes()).unwrap();
    let r = remove_layers(&dup, &remove).unwrap();
    assert_eq!(r.remaining, 1);
    assert_eq!(r.removed.len(), 1);
    assert_eq!(
        parse_sig_manifest(&r.manifest).unwrap().layer_keys(),
        vec![new.layer(&p).key()]
    );
}

#[test]
fn reapplying_a_removal_after_a_concurrent_write_loses_no_signature() {
    let img = image(HEX_A);
    let p = payload(&img, &no_annotations());
    let (old, new, signer) = (TestKey::new(7), TestKey::new(8), TestKey::new(9));
    let remove: std::collections::BTreeSet<LayerKey> = [old.layer(&p).key()].into();
    let base = parse_sig_manifest(&merge(None, &[old.layer(&p), new.layer(&p)]).manifest).unwrap();
    // We wrote base minus old; a signer who had read base wrote base + theirs after us.
    let written = parse_sig_manifest(&remove_layers(&base, &remove).unwrap().manifest).unwrap();
    let theirs = parse_sig_manifest(&merge(Some(&base), &[signer.layer(&p)]).manifest).unwrap();
    let r = reapply_removal(Some(&theirs), &written, &remove).unwrap();
    assert!(r.changed);
    assert_eq!(r.removed, vec![old.layer(&p).key()]);
    assert!(r.restored.is_empty());
    assert_eq!(
        parse_sig_manifest(&r.manifest).unwrap().layer_keys(),
        vec![new.layer(&p).key(), signer.layer(&p).key()]
    );
    // A writer that replaced the manifest with only its own layer dropped the new key's:
    // restored from what we wrote.
    let replaced = parse_sig_manifest(&merge(None, &[signer.layer(&p)]).manifest).unwrap();
    let r = reapply_removal(Some(&replaced), &written, &remove).unwrap();
    assert_eq!(r.restored, vec![new.layer(&p).key()]);
    assert_eq!(
        parse_sig_manifest(&r.manifest).unwrap().layer_keys(),
        vec![signer.layer(&p).key(), new.layer(&p).key()]
    );
    // The tag vanished meanwhile: what we wrote is written again.
    let r = reapply_removal(None, &written, &remove).unwrap();
    assert_eq!(r.manifest, written.raw());
}

/// Found by the merge property tests: a layer of another media type with the same payload
/// digest and signature annotation as a real signature layer counted as that signature.
/// A restore then skipped the real one (leaving a manifest with no signature layer), and a
/// signer would have called its signature "already there" when only the look-alike was.
#[test]
fn a_look_alike_layer_of_another_type_is_not_the_signature() {
    let key = TestKey::new(7);
    let ours = key.layer(&payload(&image(HEX_A), &BTreeMap::new()));
    let look_alike = ours
        .descriptor_json()
        .replace(SIMPLESIGNING, "application/vnd.oci.image.layer.v1.tar");
    let config = sig_config([ours.digest()]);
    let text = |layers: &[&str]| manifest::render_manifest(&config, OCI_CONFIG, layers, &[]);
    // The tag holds only the look-alike next to another signature: ours is appended.
    let other = TestKey::new(8).layer(&payload(&image(HEX_A), &BTreeMap::new()));
    let current = parse_sig_manifest(&text(&[&look_alike, &other.descriptor_json()])).unwrap();
    let out = merge(Some(&current), std::slice::from_ref(&ours));
    assert!(
        out.changed,
        "the look-alike does not make ours already there"
    );
    assert!(!contains_all(&current, None, std::slice::from_ref(&ours)));
    let back = parse_sig_manifest(&out.manifest).unwrap();
    assert_eq!(back.layers().len(), 3);
    // A restore of a manifest holding both keeps both.
    let previous = parse_sig_manifest(&text(&[&look_alike, &ours.descriptor_json()])).unwrap();
    let healed = remerge(None, Some(&previous), &[]);
    let back = parse_sig_manifest(&healed.manifest).unwrap();
    assert_eq!(back.layer_keys(), previous.layer_keys());
}
