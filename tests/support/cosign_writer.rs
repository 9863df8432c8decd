//! An independent writer of cosign signatures, so verify tests prove that pinsign reads what
//! cosign writes rather than round-tripping pinsign with itself. Nothing here calls pinsign:
//! payloads are formatted by hand in cosign's exact byte form, signatures are made with `p256`
//! directly (ECDSA P-256, SHA-256, ASN.1 DER, standard base64), manifests are written as text in
//! go-containerregistry's field order (as in `tests/fixtures/cosign/manifests/`), and everything
//! is pushed with the harness's raw HTTP client ([`RegClient`](super::RegClient)).
//!
//! - tag scheme: an OCI manifest tagged `sha256-<hex>.sig`, one `simplesigning` layer per
//!   signature with the `dev.cosignproject.cosign/signature` annotation, an OCI image config;
//! - OCI 1.1 referrers: the same layers in a manifest with `artifactType` and config media type
//!   `application/vnd.dev.cosign.artifact.sig.v1+json` and `subject` = the image, pushed by digest.

use super::client::{Endpoint, Fetched, OCI_CONFIG, OCI_MANIFEST};
use super::{block_on, sha256_digest};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const SIG_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// An ECDSA P-256 key pair made by `p256` in the test.
pub struct TestKey {
    key: p256::ecdsa::SigningKey,
}

impl TestKey {
    pub fn generate() -> TestKey {
        TestKey {
            key: p256::ecdsa::SigningKey::generate(),
        }
    }

    /// From PKCS#8 DER (e.g. a decrypted cosign key).
    pub fn from_pkcs8_der(der: &[u8]) -> TestKey {
        TestKey {
            key: p256::ecdsa::SigningKey::from_pkcs8_der(der).expect("PKCS#8 P-256 key"),
        }
    }

    /// The DER SPKI of the public key.
    pub fn spki_der(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_public_key_der()
            .expect("encode SPKI")
            .as_bytes()
            .to_vec()
    }

    /// PEM `PUBLIC KEY` (SPKI), the form of cosign's `.pub` file.
    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .expect("encode public PEM")
    }

    /// Plain PKCS#8 `PRIVATE KEY` PEM.
    pub fn private_pkcs8_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .expect("encode PKCS#8 PEM")
            .to_string()
    }

    /// `SHA256:<hex>` of the DER SPKI (how pinsign names a key), computed here.
    pub fn fingerprint(&self) -> String {
        spki_fingerprint(&self.spki_der())
    }

    /// Writes `dir/name` holding the public PEM; returns its path.
    pub fn write_public(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.public_pem()).expect("write public key");
        path
    }

    /// Base64 (standard, padded) of the DER ECDSA signature over exactly `payload`.
    pub fn sign_b64(&self, payload: &[u8]) -> String {
        let sig: p256::ecdsa::DerSignature = self.key.sign(payload);
        B64.encode(sig.as_bytes())
    }
}

/// `SHA256:<hex>` of a DER SPKI.
pub fn spki_fingerprint(der: &[u8]) -> String {
    use sha2::Digest as _;
    format!("SHA256:{}", hex::encode(sha2::Sha256::digest(der)))
}

/// The DER of the first `label` PEM block of `pem`, decoded here.
pub fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .unwrap_or_else(|| panic!("no {label} block in {pem}"))
        + begin.len();
    let stop = pem[start..].find(&end).expect("PEM end line") + start;
    let body: String = pem[start..stop].split_whitespace().collect();
    B64.decode(body).expect("PEM base64")
}

/// Opens a cosign encrypted private key (`ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY`: scrypt +
/// nacl/secretbox around PKCS#8) with `scrypt` and `crypto_secretbox` directly.
pub fn decrypt_cosign_key(pem: &str, password: &[u8]) -> TestKey {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let label = if pem.contains("ENCRYPTED SIGSTORE PRIVATE KEY") {
        "ENCRYPTED SIGSTORE PRIVATE KEY"
    } else {
        "ENCRYPTED COSIGN PRIVATE KEY"
    };
    let json: serde_json::Value = serde_json::from_slice(&pem_der(pem, label)).expect("key JSON");
    let n = json["kdf"]["params"]["N"].as_u64().expect("N");
    let r = json["kdf"]["params"]["r"].as_u64().expect("r") as u32;
    let p = json["kdf"]["params"]["p"].as_u64().expect("p") as u32;
    let field = |v: &serde_json::Value| B64.decode(v.as_str().expect("base64 field")).unwrap();
    let salt = field(&json["kdf"]["salt"]);
    let nonce = field(&json["cipher"]["nonce"]);
    let ciphertext = field(&json["ciphertext"]);
    let params = scrypt::Params::new(n.trailing_zeros() as u8, r, p).expect("scrypt params");
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).expect("scrypt");
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(&key));
    let plain = cipher
        .decrypt(
            crypto_secretbox::Nonce::from_slice(&nonce),
            ciphertext.as_slice(),
        )
        .expect("secretbox open (wrong password?)");
    TestKey::from_pkcs8_der(&plain)
}

/// The simple-signing payload exactly as cosign emits it: compact JSON, cosign's key order,
/// no trailing newline; `optional` is `null` without annotations, else a map (keys sorted, as
/// Go's encoding/json writes a map).
pub fn payload(docker_reference: &str, digest: &str, optional: &[(&str, &str)]) -> Vec<u8> {
    let quote = |s: &str| serde_json::to_string(s).unwrap();
    let optional = if optional.is_empty() {
        "null".to_string()
    } else {
        let map: BTreeMap<&str, &str> = optional.iter().copied().collect();
        serde_json::to_string(&map).unwrap()
    };
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":{}}},"optional":{}}}"#,
        quote(docker_reference),
        quote(digest),
        quote(PAYLOAD_TYPE),
        optional
    )
    .into_bytes()
}

/// One signature layer: the blob to push and the descriptor text to put in the manifest.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Pushed as a blob (may differ from what the descriptor names, to test corruption).
    pub blob: Vec<u8>,
    /// The descriptor exactly as written into `layers`.
    pub descriptor: String,
}

impl Layer {
    /// A simplesigning layer for `blob` with `signature_b64` as its signature annotation.
    pub fn new(blob: Vec<u8>, signature_b64: &str) -> Layer {
        let descriptor = descriptor_with(
            SIMPLESIGNING,
            blob.len() as u64,
            &sha256_digest(&blob),
            signature_b64,
        );
        Layer { blob, descriptor }
    }

    /// `payload` signed by `key`.
    pub fn signed(key: &TestKey, payload: Vec<u8>) -> Layer {
        let sig = key.sign_b64(&payload);
        Layer::new(payload, &sig)
    }

    /// `blob` is pushed, but the descriptor is given verbatim.
    pub fn raw(blob: Vec<u8>, descriptor: String) -> Layer {
        Layer { blob, descriptor }
    }

    /// The digest the descriptor names.
    pub fn digest(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.descriptor).expect("descriptor JSON");
        v["digest"].as_str().expect("descriptor digest").to_string()
    }
}

/// `{"mediaType":..,"size":..,"digest":..,"annotations":{signature}}` in cosign's order.
pub fn descriptor_with(media_type: &str, size: u64, digest: &str, signature_b64: &str) -> String {
    format!(
        r#"{{"mediaType":{},"size":{size},"digest":{},"annotations":{{{}:{}}}}}"#,
        serde_json::to_string(media_type).unwrap(),
        serde_json::to_string(digest).unwrap(),
        serde_json::to_string(SIGNATURE_ANNOTATION).unwrap(),
        serde_json::to_string(signature_b64).unwrap(),
    )
}

/// `sha256-<hex>.sig` for an image digest `sha256:<hex>`.
pub fn sig_tag(image_digest: &str) -> String {
    let hex = image_digest.strip_prefix("sha256:").expect("sha256 digest");
    format!("sha256-{hex}.sig")
}

/// The config cosign writes into a `.sig` manifest (go-containerregistry's empty image with one
/// layer per signature), with the zero creation time.
pub fn sig_config(layers: &[Layer]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(Layer::digest).collect();
    let history = vec![r#"{"created":"0001-01-01T00:00:00Z"}"#; layers.len().max(1)].join(",");
    format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{history}],"os":"","rootfs":{{"type":"layers","diff_ids":{}}},"config":{{}}}}"#,
        serde_json::to_string(&diff_ids).unwrap()
    )
    .into_bytes()
}

fn manifest_text(config_media_type: &str, config: &[u8], layers: &[Layer], tail: &str) -> Vec<u8> {
    let layer_texts: Vec<&str> = layers.iter().map(|l| l.descriptor.as_str()).collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",{}"config":{{"mediaType":"{config_media_type}","size":{},"digest":"{}"}},"layers":[{}]{tail}}}"#,
        if config_media_type == SIG_ARTIFACT_TYPE {
            format!(r#""artifactType":"{SIG_ARTIFACT_TYPE}","#)
        } else {
            String::new()
        },
        config.len(),
        sha256_digest(config),
        layer_texts.join(",")
    )
    .into_bytes()
}

/// The `.sig` manifest for `layers` and its config blob.
pub fn sig_manifest(layers: &[Layer]) -> (Vec<u8>, Vec<u8>) {
    let config = sig_config(layers);
    let manifest = manifest_text(OCI_CONFIG, &config, layers, "");
    (manifest, config)
}

/// Uploads `bytes` to `repo`; panics unless the registry takes it. Returns the digest.
pub fn push_blob(ep: &Endpoint, repo: &str, bytes: &[u8]) -> String {
    block_on(async { ep.client().push_blob(repo, bytes).await }).expect("push blob")
}

/// PUTs manifest bytes as they are; returns the response (the caller checks the status).
pub fn put_manifest(
    ep: &Endpoint,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
) -> Fetched {
    block_on(async {
        ep.client()
            .put_manifest(repo, reference, media_type, bytes)
            .await
    })
    .expect("PUT manifest")
}

fn push_layer_blobs(ep: &Endpoint, repo: &str, layers: &[Layer]) {
    let mut done: Vec<String> = Vec::new();
    for layer in layers {
        let digest = sha256_digest(&layer.blob);
        if !done.contains(&digest) {
            push_blob(ep, repo, &layer.blob);
            done.push(digest);
        }
    }
}

/// Writes `layers` as the `.sig` manifest of `image_digest` in `repo` (blobs, config, manifest
/// under `sha256-<hex>.sig`), replacing whatever the tag held. Returns the manifest digest.
pub fn push_sig_tag(ep: &Endpoint, repo: &str, image_digest: &str, layers: &[Layer]) -> String {
    push_layer_blobs(ep, repo, layers);
    let (manifest, config) = sig_manifest(layers);
    push_blob(ep, repo, &config);
    let put = put_manifest(ep, repo, &sig_tag(image_digest), OCI_MANIFEST, &manifest);
    assert_eq!(
        put.status,
        201,
        "PUT .sig manifest: {}",
        String::from_utf8_lossy(&put.body)
    );
    sha256_digest(&manifest)
}

/// The image a referrers artifact points at.
#[derive(Clone, Debug)]
pub struct Subject {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// Pushes an OCI 1.1 referrers artifact holding `layers` with `subject`, by digest. Returns the
/// artifact's digest.
pub fn push_referrer(ep: &Endpoint, repo: &str, subject: &Subject, layers: &[Layer]) -> String {
    push_layer_blobs(ep, repo, layers);
    // cosign's OCI 1.1 signature artifacts carry an empty JSON config of the artifact type.
    let config = b"{}".to_vec();
    push_blob(ep, repo, &config);
    let tail = format!(
        r#","subject":{{"mediaType":{},"size":{},"digest":{}}}"#,
        serde_json::to_string(&subject.media_type).unwrap(),
        subject.size,
        serde_json::to_string(&subject.digest).unwrap()
    );
    let manifest = manifest_text(SIG_ARTIFACT_TYPE, &config, layers, &tail);
    let digest = sha256_digest(&manifest);
    let put = put_manifest(ep, repo, &digest, OCI_MANIFEST, &manifest);
    assert_eq!(
        put.status,
        201,
        "PUT referrer manifest: {}",
        String::from_utf8_lossy(&put.body)
    );
    digest
}
