//! The OCI 1.1 referrers artifact cosign writes with `--registry-referrers-mode=oci-1-1`.
//!
//! cosign (`pkg/oci/remote/write.go`, `WriteSignaturesExperimentalOCI`) takes the same
//! signature image it would push to the `.sig` tag, uploads its layers and its config
//! file (the cosign image config, not the OCI empty blob), then rewrites the manifest:
//! `config.mediaType` becomes the artifact type, `subject` becomes the signed image's
//! descriptor (mediaType, size, digest from a HEAD), and a top-level `artifactType` is
//! added (cosign v3; v2 set only the config media type). It is pushed by digest, so each
//! signature is its own manifest and nothing is ever overwritten.

use serde::Deserialize;

use super::layer::{Blob, BlobData, LayerDescriptor, SignatureLayer};
use super::manifest::{
    check_has_signature_layers, descriptor_json, parse_manifest_doc, render_manifest, sig_config,
    ManifestKind,
};
use super::{json, SignatureError};
use crate::media_types::{OCI_MANIFEST, SIG_ARTIFACT};
use crate::reference::Digest;
use crate::registry::Descriptor;

/// A referrers artifact ready to push: blobs first, then the manifest by its digest.
#[derive(Debug, Clone)]
pub struct ReferrersArtifact {
    pub manifest: Vec<u8>,
    /// sha256 of `manifest`: push it to `/v2/<name>/manifests/<digest>`.
    pub digest: Digest,
    /// Always [`OCI_MANIFEST`].
    pub media_type: &'static str,
    pub config: Vec<u8>,
    /// Layer blobs (new payloads, each digest once), then the config.
    pub blobs: Vec<Blob>,
}

/// Build cosign's signature referrer for the layer's image:
/// `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
/// "config":{"mediaType":"application/vnd.dev.cosign.artifact.sig.v1+json","size":..,"digest":..},
/// "layers":[..],"subject":{"mediaType":..,"size":..,"digest":..},
/// "artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json"}`.
/// `subject` is the image's descriptor as the registry served it. The config blob is
/// [`sig_config`] (deterministic), so the same signature gives the same manifest digest.
pub fn referrers_artifact(layer: &SignatureLayer) -> ReferrersArtifact {
    let config = sig_config([layer.digest()]);
    let subject = layer.image().descriptor();
    let subject_json = descriptor_json(&subject.media_type, &subject.digest, subject.size);
    let artifact_type = serde_json::Value::from(SIG_ARTIFACT).to_string();
    let manifest = render_manifest(
        &config,
        SIG_ARTIFACT,
        &[layer.descriptor_json().as_str()],
        &[("subject", &subject_json), ("artifactType", &artifact_type)],
    );
    let blobs = vec![
        layer.blob(),
        Blob {
            digest: Digest::of(&config),
            size: config.len() as u64,
            data: BlobData::Upload(config.clone()),
        },
    ];
    ReferrersArtifact {
        digest: Digest::of(&manifest),
        manifest,
        media_type: OCI_MANIFEST,
        config,
        blobs,
    }
}

/// A signature referrer as read back from the registry.
#[derive(Debug, Clone)]
pub struct ReferrersManifest {
    pub subject: Descriptor,
    /// The top-level `artifactType`, else `config.mediaType` (cosign v2 wrote only that).
    pub artifact_type: String,
    pub layers: Vec<LayerDescriptor>,
    /// sha256 of the bytes parsed.
    pub digest: Digest,
}

impl ReferrersManifest {
    /// Fail unless `subject` names `image_digest` (a referrers listing for another digest
    /// must not count).
    pub fn check_subject(&self, image_digest: &Digest) -> Result<(), SignatureError> {
        if &self.subject.digest == image_digest {
            Ok(())
        } else {
            Err(SignatureError::Foreign(format!(
                "a signature referrer for {}, not for {image_digest}",
                self.subject.digest
            )))
        }
    }
}

/// Parse a cosign signature referrer: an OCI manifest whose `artifactType` (or, failing
/// that, `config.mediaType`) is [`SIG_ARTIFACT`], with a `subject`.
pub fn parse_referrers_artifact(bytes: &[u8]) -> Result<ReferrersManifest, SignatureError> {
    let doc = parse_manifest_doc(bytes)?;
    if doc.kind != ManifestKind::Oci {
        return Err(SignatureError::Foreign(
            "a Docker manifest, not an OCI artifact".into(),
        ));
    }
    let artifact_type = doc
        .artifact_type
        .clone()
        .unwrap_or_else(|| doc.config_media_type.clone());
    if artifact_type != SIG_ARTIFACT {
        return Err(SignatureError::Foreign(format!(
            "an OCI artifact of type {artifact_type}"
        )));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SubjectFields {
        media_type: String,
        digest: String,
        size: u64,
    }
    let Some(raw_subject) = doc.object.get("subject") else {
        return Err(SignatureError::Foreign(
            "a cosign signature artifact without a subject".into(),
        ));
    };
    let s: SubjectFields =
        json::member(raw_subject, "subject").map_err(SignatureError::Malformed)?;
    let digest = Digest::parse(&s.digest)
        .map_err(|e| SignatureError::Malformed(format!("subject digest: {e}")))?;
    check_has_signature_layers(&doc.layers)?;
    Ok(ReferrersManifest {
        subject: Descriptor {
            media_type: s.media_type,
            digest,
            size: s.size,
        },
        artifact_type,
        layers: doc.layers,
        digest: Digest::of(bytes),
    })
}
