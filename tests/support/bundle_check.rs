//! An independent reader and checker of Sigstore bundles stored in a registry the way cosign v3
//! stores them, written from cosign's `pkg/oci/remote/write.go` (`WriteAttestationNewBundleFormat`,
//! `WriteReferrer`), the OCI distribution spec (referrers API, referrers tag schema) and
//! `specs/BUNDLE_SPEC.md`, not from pinsign's library: raw HTTP through `RegClient`, JSON read
//! here, the expected bytes built here.
//!
//! - [`referrers_of`]: the referrers list of a digest, from the API (200) or, when the registry
//!   answers 404, from the index tagged `sha256-<hex>`.
//! - [`stored_bundles`]: every bundle referrer listed, each manifest compared byte for byte with
//!   the manifest cosign would write for the same bundle, subject and creation time, its bundle
//!   blob fetched (digest and size checked) and its shape checked ([`check_cosign_bundle`]).

use super::client::{Endpoint, Fetched, OCI_INDEX, OCI_MANIFEST};
use super::{block_on, sha256_digest};
use base64::Engine as _;
use serde_json::Value;
use sha2::Digest as _;

pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";

/// How a referrers list was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListedBy {
    Api,
    Tag,
}

/// A referrers list as read.
#[derive(Clone, Debug)]
pub struct Listed {
    pub by: ListedBy,
    /// The `manifests` entries (empty when there is no referrers tag).
    pub entries: Vec<Value>,
    /// The bytes read (`None`: no referrers tag).
    pub raw: Option<Vec<u8>>,
}

/// `sha256-<hex>` for `sha256:<hex>`.
pub fn referrers_tag(digest: &str) -> String {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    format!("sha256-{hex}")
}

fn get(ep: &Endpoint, path: &str, accept: &str) -> Fetched {
    block_on(async {
        ep.client()
            .send(reqwest::Method::GET, path, &[("Accept", accept)], None)
            .await
    })
    .unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
}

/// The referrers of `repo@digest`: the API when the registry answers it, else the referrers tag.
pub fn referrers_of(ep: &Endpoint, repo: &str, digest: &str) -> Listed {
    let api = get(ep, &format!("/v2/{repo}/referrers/{digest}"), OCI_INDEX);
    if api.status == 200 {
        assert_eq!(api.content_type.as_deref(), Some(OCI_INDEX));
        return Listed {
            by: ListedBy::Api,
            entries: entries(&api.body),
            raw: Some(api.body),
        };
    }
    assert_eq!(api.status, 404, "referrers API: {api:?}");
    let tag = get(
        ep,
        &format!("/v2/{repo}/manifests/{}", referrers_tag(digest)),
        OCI_INDEX,
    );
    if tag.status == 404 {
        return Listed {
            by: ListedBy::Tag,
            entries: Vec::new(),
            raw: None,
        };
    }
    assert_eq!(tag.status, 200, "referrers tag: {tag:?}");
    let doc: Value = serde_json::from_slice(&tag.body).expect("referrers tag is JSON");
    assert_eq!(doc["schemaVersion"], 2);
    assert_eq!(doc["mediaType"], OCI_INDEX);
    Listed {
        by: ListedBy::Tag,
        entries: entries(&tag.body),
        raw: Some(tag.body),
    }
}

fn entries(body: &[u8]) -> Vec<Value> {
    let doc: Value = serde_json::from_slice(body).expect("referrers list is JSON");
    doc["manifests"]
        .as_array()
        .expect("referrers list has manifests")
        .clone()
}

/// A bundle referrer read back and checked.
#[derive(Clone, Debug)]
pub struct StoredBundle {
    pub manifest_digest: String,
    /// The bundle blob.
    pub bundle: Vec<u8>,
    /// The DSSE payload (the in-toto statement), as signed.
    pub statement_text: String,
}

/// The manifest `cosign sign` v3 pushes for `bundle` attached to `subject` at `created`
/// (go-containerregistry `v1.Manifest` plus `artifactType`, Go's `encoding/json` order).
pub fn cosign_manifest(
    subject_media_type: &str,
    subject_digest: &str,
    subject_size: u64,
    bundle: &[u8],
    created: &str,
) -> Vec<u8> {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let empty = sha256_digest(b"{}");
    format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"{manifest}","#,
            r#""config":{{"mediaType":"{empty_type}","size":2,"digest":"{empty}","artifactType":"{bundle_type}"}},"#,
            r#""layers":[{{"mediaType":"{bundle_type}","size":{size},"digest":"{layer}"}}],"#,
            r#""annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"{predicate}","org.opencontainers.image.created":{created}}},"#,
            r#""subject":{{"mediaType":{smt},"size":{ssize},"digest":{sdigest}}},"#,
            r#""artifactType":"{bundle_type}"}}"#
        ),
        manifest = OCI_MANIFEST,
        empty_type = OCI_EMPTY,
        empty = empty,
        bundle_type = BUNDLE_V03,
        size = bundle.len(),
        layer = sha256_digest(bundle),
        predicate = COSIGN_SIGN,
        created = q(created),
        smt = q(subject_media_type),
        ssize = subject_size,
        sdigest = q(subject_digest),
    )
    .into_bytes()
}

/// Every bundle referrer of `repo@digest` (API or referrers tag), each checked: the manifest is
/// byte for byte what cosign writes (given its own creation time), its `subject` is the image
/// (`subject_media_type`, `subject_size`), the listing entry names the manifest's digest, size,
/// artifact type and (API and pinsign's tag index) its annotations, the empty config blob
/// exists, and the bundle blob hashes to its descriptor.
pub fn stored_bundles(
    ep: &Endpoint,
    repo: &str,
    digest: &str,
    subject_media_type: &str,
    subject_size: u64,
) -> Vec<StoredBundle> {
    let listed = referrers_of(ep, repo, digest);
    let mut out = Vec::new();
    for entry in &listed.entries {
        if entry["artifactType"] != BUNDLE_V03 {
            continue;
        }
        let manifest_digest = entry["digest"].as_str().expect("entry digest").to_string();
        let m = get(
            ep,
            &format!("/v2/{repo}/manifests/{manifest_digest}"),
            OCI_MANIFEST,
        );
        assert_eq!(m.status, 200, "GET {manifest_digest}");
        assert_eq!(sha256_digest(&m.body), manifest_digest);
        assert_eq!(entry["size"].as_u64(), Some(m.body.len() as u64));
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        let manifest: Value = serde_json::from_slice(&m.body).expect("manifest JSON");
        let created = manifest["annotations"]["org.opencontainers.image.created"]
            .as_str()
            .expect("created annotation")
            .to_string();
        assert!(
            created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
            "created is RFC 3339 UTC whole seconds: {created}"
        );
        if let Some(annotations) = entry.get("annotations") {
            assert_eq!(annotations, &manifest["annotations"], "listed annotations");
        }
        let layer_digest = manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let blob = get(ep, &format!("/v2/{repo}/blobs/{layer_digest}"), "*/*");
        assert_eq!(blob.status, 200);
        assert_eq!(sha256_digest(&blob.body), layer_digest);
        let expected = cosign_manifest(
            subject_media_type,
            digest,
            subject_size,
            &blob.body,
            &created,
        );
        assert_eq!(
            String::from_utf8_lossy(&m.body),
            String::from_utf8_lossy(&expected),
            "the manifest cosign v3 writes"
        );
        let empty = get(
            ep,
            &format!("/v2/{repo}/blobs/{}", sha256_digest(b"{}")),
            "*/*",
        );
        assert_eq!(empty.status, 200);
        assert_eq!(empty.body, b"{}");
        let statement_text = check_cosign_bundle(&blob.body);
        out.push(StoredBundle {
            manifest_digest,
            bundle: blob.body,
            statement_text,
        });
    }
    out
}

/// The exact in-toto statement `cosign sign` v3 signs for `digest` with `annotations` (protojson:
/// fields in declaration order, map keys sorted, compact).
pub fn expected_statement(digest: &str, annotations: &[(&str, &str)]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut sorted: Vec<&(&str, &str)> = annotations.iter().collect();
    sorted.sort();
    let members: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:{}", q(k), q(v)))
        .collect();
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{hex}"}},"annotations":{{{}}}}}],"predicateType":"{COSIGN_SIGN}","predicate":{{}}}}"#,
        members.join(",")
    )
}

/// Checks `bundle` has the shape of a key-signed cosign v3 bundle with no transparency log:
/// exactly `{"mediaType":v0.3,"verificationMaterial":{"publicKey":{"hint":H}},"dsseEnvelope":
/// {"payload":..,"payloadType":in-toto,"signatures":[{"sig":..}]}}` in that order. Returns the
/// statement's text.
pub fn check_cosign_bundle(bundle: &[u8]) -> String {
    let doc: Value = serde_json::from_slice(bundle).expect("bundle JSON");
    let hint = doc["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .expect("publicKey.hint");
    let env = &doc["dsseEnvelope"];
    let payload = env["payload"].as_str().expect("payload");
    let sig = env["signatures"][0]["sig"].as_str().expect("sig");
    let expected = format!(
        r#"{{"mediaType":"{BUNDLE_V03}","verificationMaterial":{{"publicKey":{{"hint":"{hint}"}}}},"dsseEnvelope":{{"payload":"{payload}","payloadType":"{IN_TOTO}","signatures":[{{"sig":"{sig}"}}]}}}}"#
    );
    assert_eq!(
        String::from_utf8_lossy(bundle),
        expected,
        "cosign v3 bundle shape"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let statement = b64.decode(payload).expect("payload base64");
    String::from_utf8(statement).expect("statement UTF-8")
}

/// cosign's key hint for a PEM public key: base64(sha256(SPKI DER)).
pub fn key_hint(public_pem: &str) -> String {
    let der = super::cosign_writer::pem_der(public_pem, "PUBLIC KEY");
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(der))
}

/// True when `bundle`'s one DSSE signature verifies with the PEM public key over
/// `PAE(payloadType, payload)` (secure-systems-lab/dsse `protocol.md`), checked here with `p256`.
pub fn verifies_with(bundle: &[u8], public_pem: &str) -> bool {
    let doc: Value = serde_json::from_slice(bundle).expect("bundle JSON");
    let env = &doc["dsseEnvelope"];
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(env["payload"].as_str().expect("payload"))
        .expect("payload base64");
    let payload_type = env["payloadType"].as_str().expect("payloadType");
    let sig = b64
        .decode(env["signatures"][0]["sig"].as_str().expect("sig"))
        .expect("sig base64");
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    pae.extend_from_slice(&payload);
    super::cosign_check::verify_der(public_pem, &pae, &sig)
}
