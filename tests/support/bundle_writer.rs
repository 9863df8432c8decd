//! Attaching a Sigstore bundle to an image the way `cosign sign` v3 does, without pinsign's code:
//! cosign `pkg/oci/remote/write.go` (`WriteReferrer`: the bundle and the empty config `{}` as
//! blobs, the manifest of [`cosign_manifest`] pushed by digest), then go-containerregistry
//! `pkg/v1/remote/write.go` (`commitSubjectReferrers`): when `GET /v2/<name>/referrers/<digest>`
//! is not 200, read the index tagged `sha256-<hex>` (empty on 404), append the manifest's
//! descriptor (`mediaType`, `size`, `digest`, `artifactType`; ggcr copies no annotations) unless
//! listed, sort the entries by digest, and PUT it back.
//!
//! [`add_to_referrers_tag`] does the last step for any manifest (cosign's experimental
//! `artifact.sig.v1` referrers go through the same ggcr code).

use super::bundle_check::{cosign_manifest, referrers_tag, BUNDLE_V03};
use super::client::{Endpoint, OCI_INDEX, OCI_MANIFEST};
use super::cosign_writer::{push_blob, put_manifest, Subject};
use super::sha256_digest;
use serde_json::{json, Value};

/// Attaches `bundle` to `subject` in `repo` as cosign v3 does, created at `created` (RFC 3339).
/// Returns the referrer manifest's digest.
pub fn attach_bundle(
    ep: &Endpoint,
    repo: &str,
    subject: &Subject,
    bundle: &[u8],
    created: &str,
) -> String {
    push_blob(ep, repo, bundle);
    push_blob(ep, repo, b"{}");
    let manifest = cosign_manifest(
        &subject.media_type,
        &subject.digest,
        subject.size,
        bundle,
        created,
    );
    let digest = sha256_digest(&manifest);
    let put = put_manifest(ep, repo, &digest, OCI_MANIFEST, &manifest);
    assert_eq!(
        put.status,
        201,
        "PUT bundle referrer: {}",
        String::from_utf8_lossy(&put.body)
    );
    if ep.referrers(repo, &subject.digest).status != 200 {
        add_to_referrers_tag(
            ep,
            repo,
            &subject.digest,
            &digest,
            manifest.len(),
            BUNDLE_V03,
        );
    }
    digest
}

/// go-containerregistry's referrers tag update for a manifest `digest` of `size` bytes with
/// `artifact_type`, listed under the subject `subject_digest`.
pub fn add_to_referrers_tag(
    ep: &Endpoint,
    repo: &str,
    subject_digest: &str,
    digest: &str,
    size: usize,
    artifact_type: &str,
) {
    let tag = referrers_tag(subject_digest);
    let current = ep.get_manifest(repo, &tag);
    let mut entries: Vec<Value> = if current.status == 200 {
        current.json()["manifests"].as_array().unwrap().clone()
    } else {
        assert_eq!(current.status, 404);
        Vec::new()
    };
    if entries.iter().any(|e| e["digest"] == digest) {
        return;
    }
    entries.push(json!({
        "mediaType": OCI_MANIFEST,
        "size": size,
        "digest": digest,
        "artifactType": artifact_type,
    }));
    entries.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    // v1.IndexManifest, v1.Descriptor field order (encoding/json).
    let listed: Vec<String> = entries
        .iter()
        .map(|e| {
            let annotations = e
                .get("annotations")
                .map(|a| format!(r#","annotations":{a}"#))
                .unwrap_or_default();
            format!(
                r#"{{"mediaType":{},"size":{},"digest":{}{annotations},"artifactType":{}}}"#,
                e["mediaType"], e["size"], e["digest"], e["artifactType"]
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
        listed.join(",")
    );
    let put = put_manifest(ep, repo, &tag, OCI_INDEX, index.as_bytes());
    assert_eq!(
        put.status,
        201,
        "PUT referrers tag: {}",
        String::from_utf8_lossy(&put.body)
    );
}
