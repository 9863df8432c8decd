//! An independent checker of cosign signatures stored in a registry, written from cosign's spec
//! (`specs/SIGNATURE_SPEC.md`) and the real vectors in `tests/fixtures/cosign/`, not from pinsign's
//! library: raw HTTP through [`RegClient`], JSON read here, ECDSA P-256 verified with the `p256` crate.
//!
//! - [`sig_tag_manifest`]: the `sha256-<hex>.sig` manifest, every media type, the config and each
//!   layer's blob checked (digest and size), the signature annotation decoded.
//! - [`referrer_manifests`]: the same for OCI 1.1 referrers artifacts (`subject`, `artifactType`).
//! - [`expected_payload`]: the exact payload bytes cosign signs for a repository and digest.
//! - [`verify_der`] / [`SigManifest::assert_signed`]: the signature over the payload with a `.pub`.

use super::client::{Endpoint, Fetched, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use super::{block_on, sha256_digest};
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use serde_json::value::RawValue;
use serde_json::Value;

pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const SIG_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// `docker-reference` and digest inside the fixture payload cosign produced
/// (`tests/fixtures/cosign/payloads/busybox.payload.json`, a sigstore-rs test vector).
pub const FIXTURE_REFERENCE: &str = "registry-testing.svc.lan/busybox";
pub const FIXTURE_DIGEST: &str =
    "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";

/// `sha256-<hex>.sig` for `sha256:<hex>`.
pub fn sig_tag(digest: &str) -> String {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    format!("sha256-{hex}.sig")
}

/// The exact simple-signing payload cosign signs: compact JSON, keys in this order, no newline;
/// `optional` is `null` without annotations, else an object with the keys sorted.
/// `reference` is `HOST/REPO` (no tag, no digest).
pub fn expected_payload(reference: &str, digest: &str, annotations: &[(&str, &str)]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let optional = if annotations.is_empty() {
        "null".to_string()
    } else {
        let mut sorted: Vec<&(&str, &str)> = annotations.iter().collect();
        sorted.sort();
        let members: Vec<String> = sorted
            .iter()
            .map(|(k, v)| format!("{}:{}", q(k), q(v)))
            .collect();
        format!("{{{}}}", members.join(","))
    };
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":{}}},\"image\":{{\"docker-manifest-digest\":{}}},\"type\":\"cosign container image signature\"}},\"optional\":{optional}}}",
        q(reference),
        q(digest)
    )
}

/// True when the DER ECDSA P-256 signature over `payload` verifies with the PEM public key.
pub fn verify_der(public_pem: &str, payload: &[u8], der: &[u8]) -> bool {
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(public_pem)
        .unwrap_or_else(|e| panic!("not a P-256 public key PEM ({e}): {public_pem}"));
    let Ok(signature) = p256::ecdsa::DerSignature::from_bytes(der) else {
        return false;
    };
    key.verify(payload, &signature).is_ok()
}

/// One simple-signing layer, its blob fetched and checked against the descriptor.
#[derive(Clone, Debug)]
pub struct Layer {
    /// The descriptor object's exact JSON text as it appears in the manifest.
    pub raw: String,
    pub descriptor: Value,
    /// The payload blob (its sha256 and length match the descriptor).
    pub payload: Vec<u8>,
    /// The `dev.cosignproject.cosign/signature` annotation and its decoded DER bytes.
    pub signature_b64: String,
    pub signature_der: Vec<u8>,
}

impl Layer {
    pub fn payload_text(&self) -> String {
        String::from_utf8(self.payload.clone()).expect("payload is UTF-8")
    }

    pub fn verifies_with(&self, public_pem: &str) -> bool {
        verify_der(public_pem, &self.payload, &self.signature_der)
    }
}

/// A signature manifest read and checked.
#[derive(Clone, Debug)]
pub struct SigManifest {
    /// Where it was read (`REPO:TAG` or `REPO@DIGEST`), for messages.
    pub location: String,
    pub bytes: Vec<u8>,
    /// sha256 of `bytes`.
    pub digest: String,
    pub json: Value,
    pub layers: Vec<Layer>,
}

impl SigManifest {
    /// Asserts that some layer carries exactly `payload` with a signature that verifies with
    /// `public_pem`; returns its index.
    pub fn assert_signed(&self, payload: &str, public_pem: &str) -> usize {
        let found = self
            .layers
            .iter()
            .position(|l| l.payload == payload.as_bytes() && l.verifies_with(public_pem));
        found.unwrap_or_else(|| {
            panic!(
                "{}: no layer with payload {payload} signed by\n{public_pem}\nlayers: {:#?}",
                self.location,
                self.layers
                    .iter()
                    .map(|l| (l.payload_text(), &l.signature_b64))
                    .collect::<Vec<_>>()
            )
        })
    }

    /// Asserts that every layer carries `payload` and that the layers are signed by exactly
    /// `public_pems`, one layer per key, in any order.
    pub fn assert_exactly_signed_by(&self, payload: &str, public_pems: &[impl AsRef<str>]) {
        assert_eq!(
            self.layers.len(),
            public_pems.len(),
            "{}: layer count",
            self.location
        );
        for (i, layer) in self.layers.iter().enumerate() {
            assert_eq!(
                layer.payload_text(),
                payload,
                "{}: layer {i} payload",
                self.location
            );
        }
        for pem in public_pems {
            self.assert_signed(payload, pem.as_ref());
        }
    }
}

/// GETs a blob and checks its digest and size; panics otherwise.
pub fn fetch_blob(ep: &Endpoint, repo: &str, digest: &str, size: Option<u64>) -> Vec<u8> {
    let path = format!("/v2/{repo}/blobs/{digest}");
    let fetched: Fetched =
        block_on(async { ep.client().get(&path).await }).expect("GET blob transport");
    assert_eq!(
        fetched.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&fetched.body)
    );
    assert_eq!(
        sha256_digest(&fetched.body),
        digest,
        "blob {digest} of {repo}"
    );
    if let Some(size) = size {
        assert_eq!(fetched.body.len() as u64, size, "size of blob {digest}");
    }
    fetched.body
}

/// The `sha256-<hex>.sig` manifest of `image_digest` in `sig_repo`, checked as cosign writes it,
/// or `None` when the tag does not exist.
pub fn sig_tag_manifest(ep: &Endpoint, sig_repo: &str, image_digest: &str) -> Option<SigManifest> {
    let tag = sig_tag(image_digest);
    let fetched = ep.get_manifest(sig_repo, &tag);
    if fetched.status == 404 {
        return None;
    }
    assert_eq!(fetched.status, 200, "GET {sig_repo}:{tag}: {fetched:?}");
    let location = format!("{sig_repo}:{tag}");
    assert_eq!(
        fetched.content_type.as_deref(),
        Some(OCI_MANIFEST),
        "{location}: Content-Type"
    );
    let manifest = check_manifest(ep, sig_repo, &fetched.body, &location, OCI_CONFIG);
    assert!(
        manifest.json.get("artifactType").is_none(),
        "{location}: a .sig tag manifest has no artifactType"
    );
    assert!(
        manifest.json.get("subject").is_none(),
        "{location}: a .sig tag manifest has no subject"
    );
    assert_eq!(
        fetched.digest.as_deref(),
        Some(manifest.digest.as_str()),
        "{location}: Docker-Content-Digest"
    );
    Some(manifest)
}

/// Raw manifest bytes of the `.sig` tag (status and body), for before/after comparisons.
pub fn sig_tag_bytes(ep: &Endpoint, sig_repo: &str, image_digest: &str) -> Option<Vec<u8>> {
    let fetched = ep.get_manifest(sig_repo, &sig_tag(image_digest));
    match fetched.status {
        404 => None,
        200 => Some(fetched.body),
        other => panic!("GET {sig_repo}:{}: {other}", sig_tag(image_digest)),
    }
}

/// The signature artifacts listed by `GET /v2/<repo>/referrers/<image_digest>` with artifactType
/// [`SIG_ARTIFACT_TYPE`], each checked: OCI manifest, `artifactType` and config media type
/// [`SIG_ARTIFACT_TYPE`], `subject` = `subject` (the image's descriptor: mediaType, digest, size),
/// layers as in the tag scheme.
pub fn referrer_manifests(ep: &Endpoint, repo: &str, subject: &Value) -> Vec<SigManifest> {
    let image_digest = subject["digest"].as_str().expect("subject digest");
    let list = ep.referrers(repo, image_digest);
    assert_eq!(
        list.status, 200,
        "referrers of {repo}@{image_digest}: {list:?}"
    );
    let json = list.json();
    assert_eq!(json["mediaType"], OCI_INDEX, "referrers list media type");
    let mut out = Vec::new();
    for entry in json["manifests"].as_array().expect("manifests array") {
        if entry["artifactType"] != SIG_ARTIFACT_TYPE {
            continue;
        }
        assert_eq!(entry["mediaType"], OCI_MANIFEST, "referrer entry {entry}");
        let digest = entry["digest"].as_str().expect("entry digest");
        let location = format!("{repo}@{digest}");
        let fetched = ep.get_manifest(repo, digest);
        assert_eq!(fetched.status, 200, "GET {location}");
        assert_eq!(sha256_digest(&fetched.body), digest, "{location}");
        assert_eq!(
            entry["size"].as_u64(),
            Some(fetched.body.len() as u64),
            "{location}: size in the referrers list"
        );
        let manifest = check_manifest(ep, repo, &fetched.body, &location, SIG_ARTIFACT_TYPE);
        assert_eq!(
            manifest.json["artifactType"], SIG_ARTIFACT_TYPE,
            "{location}: artifactType"
        );
        let got_subject = &manifest.json["subject"];
        for field in ["mediaType", "digest", "size"] {
            assert_eq!(
                got_subject[field], subject[field],
                "{location}: subject.{field}"
            );
        }
        out.push(manifest);
    }
    out
}

/// The checks shared by both schemes: OCI image manifest, schemaVersion 2, config of
/// `config_media_type` whose blob matches, and every layer a simple-signing layer whose blob
/// matches its descriptor and which carries a base64 DER signature.
fn check_manifest(
    ep: &Endpoint,
    repo: &str,
    bytes: &[u8],
    location: &str,
    config_media_type: &str,
) -> SigManifest {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        layers: Vec<&'a RawValue>,
    }
    let json: Value =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{location} is not JSON ({e})"));
    assert_eq!(json["schemaVersion"], 2, "{location}: schemaVersion");
    assert_eq!(json["mediaType"], OCI_MANIFEST, "{location}: mediaType");
    let config = &json["config"];
    assert_eq!(
        config["mediaType"], config_media_type,
        "{location}: config.mediaType"
    );
    let config_digest = config["digest"].as_str().expect("config digest");
    let config_blob = fetch_blob(ep, repo, config_digest, config["size"].as_u64());
    let _: Value = serde_json::from_slice(&config_blob)
        .unwrap_or_else(|e| panic!("{location}: config blob is not JSON ({e})"));
    let raw: Raw = serde_json::from_slice(bytes).expect("layers");
    let mut layers = Vec::new();
    for (i, raw_layer) in raw.layers.iter().enumerate() {
        let descriptor: Value = serde_json::from_str(raw_layer.get()).unwrap();
        assert_eq!(
            descriptor["mediaType"], SIMPLESIGNING,
            "{location}: layer {i} mediaType"
        );
        let digest = descriptor["digest"].as_str().expect("layer digest");
        let size = descriptor["size"].as_u64().expect("layer size");
        let payload = fetch_blob(ep, repo, digest, Some(size));
        let signature_b64 = descriptor["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap_or_else(|| panic!("{location}: layer {i} has no {SIGNATURE_ANNOTATION}"))
            .to_string();
        let signature_der = base64::engine::general_purpose::STANDARD
            .decode(&signature_b64)
            .unwrap_or_else(|e| panic!("{location}: layer {i} signature is not std base64: {e}"));
        layers.push(Layer {
            raw: raw_layer.get().to_string(),
            descriptor,
            payload,
            signature_b64,
            signature_der,
        });
    }
    SigManifest {
        location: location.to_string(),
        digest: sha256_digest(bytes),
        bytes: bytes.to_vec(),
        json,
        layers,
    }
}
