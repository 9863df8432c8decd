//! The OCI 1.1 manifest that attaches a bundle to an image (write it, read it back), and the
//! descriptor of that manifest as a referrers list holds it.
//!
//! cosign (`pkg/oci/remote/write.go`, `WriteReferrer`) marshals a go-containerregistry
//! `v1.Manifest` plus `artifactType` with Go's `encoding/json`, so the member order is
//! `schemaVersion, mediaType, config, layers, annotations, subject, artifactType`, descriptors
//! are `mediaType, size, digest[, annotations][, artifactType]`, annotation keys are sorted and
//! strings get Go's HTML-safe escaping. Its config descriptor is the OCI empty descriptor and,
//! oddly, carries `artifactType` too; pinsign writes the same bytes, so a bundle attached by
//! pinsign and one attached by cosign for the same bundle and time have the same digest.

use crate::media_types::{BUNDLE_PREFIX, IN_TOTO, OCI_EMPTY, OCI_MANIFEST};
use std::collections::BTreeMap;

use serde::Deserialize;

use super::json::{self, go_string, go_string_map, ObjectWriter, RawObject};
use super::media_type::BundleVersion;
use super::model::{Bundle, Content};
use super::statement::Statement;
use super::time::Created;
use super::{
    BundleError, CONTENT_ANNOTATION, CREATED_ANNOTATION, MAX_BUNDLE_BYTES, MAX_INDEX_BYTES,
    OCI_EMPTY_BLOB, PREDICATE_TYPE_ANNOTATION,
};
use crate::reference::Digest;
use crate::registry::Descriptor;
use crate::signature::{Blob, BlobData};

/// A descriptor of a manifest that has a `subject`, as a referrers list names it: what the
/// referrers API returns and what the referrers tag index must hold (distribution-spec:
/// `artifactType`, and all the manifest's annotations copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub artifact_type: String,
    pub annotations: BTreeMap<String, String>,
}

impl ReferrerDescriptor {
    /// Compact JSON in go-containerregistry's `v1.Descriptor` order: `mediaType, size, digest,
    /// annotations` (omitted when empty), `artifactType`.
    pub fn to_json(&self) -> String {
        let mut w = ObjectWriter::new();
        w.string("mediaType", &self.media_type)
            .raw("size", &self.size.to_string())
            .string("digest", self.digest.as_str());
        if !self.annotations.is_empty() {
            w.raw("annotations", &go_string_map(&self.annotations));
        }
        w.string("artifactType", &self.artifact_type);
        w.finish()
    }
}

/// A bundle referrer ready to push: upload `blobs`, then PUT `manifest` by `digest`; on a
/// registry without the referrers API, merge `descriptor` into the referrers tag index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReferrer {
    pub manifest: Vec<u8>,
    pub digest: Digest,
    /// Always [`OCI_MANIFEST`]: the Content-Type of the PUT.
    pub media_type: &'static str,
    /// The bundle (as `Upload`), then the empty config `{}` (as `Upload`).
    pub blobs: Vec<Blob>,
    /// This manifest as a referrers list entry.
    pub descriptor: ReferrerDescriptor,
}

/// The manifest cosign v3 pushes for `bundle` (its JSON bytes) attached to `subject`
/// (mediaType, digest and size of the signed image manifest, from a HEAD), created at
/// `created`. The bundle is parsed first: its version gives the artifact and layer media type,
/// its content the `dev.sigstore.bundle.content` annotation, and for a DSSE in-toto statement
/// its predicate type the `dev.sigstore.bundle.predicateType` annotation. A bundle pinsign
/// cannot read is not attached.
pub fn bundle_referrer(
    subject: &Descriptor,
    bundle: &[u8],
    created: Created,
) -> Result<BundleReferrer, BundleError> {
    let parsed = Bundle::parse(bundle)?;
    let media_type = parsed.version().media_type();
    let mut annotations = BTreeMap::from([
        (
            CONTENT_ANNOTATION.to_string(),
            parsed.content_kind().as_str().to_string(),
        ),
        (CREATED_ANNOTATION.to_string(), created.rfc3339()),
    ]);
    if let Content::Dsse(env) = parsed.content() {
        if env.payload_type == IN_TOTO {
            if let Ok(statement) = Statement::parse(&env.payload) {
                annotations.insert(PREDICATE_TYPE_ANNOTATION.into(), statement.predicate_type);
            }
        }
    }
    let empty = Digest::of(OCI_EMPTY_BLOB);
    let mut config = ObjectWriter::new();
    config
        .string("mediaType", OCI_EMPTY)
        .raw("size", &OCI_EMPTY_BLOB.len().to_string())
        .string("digest", empty.as_str())
        .string("artifactType", media_type);
    let layer_digest = Digest::of(bundle);
    let mut layer = ObjectWriter::new();
    layer
        .string("mediaType", media_type)
        .raw("size", &bundle.len().to_string())
        .string("digest", layer_digest.as_str());
    let mut subject_json = ObjectWriter::new();
    subject_json
        .string("mediaType", &subject.media_type)
        .raw("size", &subject.size.to_string())
        .string("digest", subject.digest.as_str());
    let mut w = ObjectWriter::new();
    w.raw("schemaVersion", "2")
        .string("mediaType", OCI_MANIFEST)
        .raw("config", &config.finish())
        .raw("layers", &format!("[{}]", layer.finish()))
        .raw("annotations", &go_string_map(&annotations))
        .raw("subject", &subject_json.finish())
        .string("artifactType", media_type);
    let manifest = w.finish().into_bytes();
    let digest = Digest::of(&manifest);
    Ok(BundleReferrer {
        descriptor: ReferrerDescriptor {
            media_type: OCI_MANIFEST.to_string(),
            digest: digest.clone(),
            size: manifest.len() as u64,
            artifact_type: media_type.to_string(),
            annotations,
        },
        digest,
        manifest,
        media_type: OCI_MANIFEST,
        blobs: vec![
            Blob {
                digest: layer_digest,
                size: bundle.len() as u64,
                data: BlobData::Upload(bundle.to_vec()),
            },
            Blob {
                digest: empty,
                size: OCI_EMPTY_BLOB.len() as u64,
                data: BlobData::Upload(OCI_EMPTY_BLOB.to_vec()),
            },
        ],
    })
}

/// A bundle referrer manifest as read back: which image it is for and where the bundle is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleManifest {
    pub subject: Descriptor,
    /// Top-level `artifactType`, else `config.mediaType`.
    pub artifact_type: String,
    pub layer: BundleLayer,
    /// The manifest's string annotations.
    pub annotations: BTreeMap<String, String>,
    /// sha256 of the bytes parsed.
    pub digest: Digest,
}

/// The one layer of a bundle referrer: fetch this blob, check it hashes to `digest`, and hand
/// it to the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleLayer {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

impl BundleManifest {
    /// Fail unless `subject` names `image_digest`: a referrers listing, or a tag index, that
    /// lists a manifest for another image must not make it count for this one.
    pub fn check_subject(&self, image_digest: &Digest) -> Result<(), BundleError> {
        if &self.subject.digest == image_digest {
            Ok(())
        } else {
            Err(BundleError::Foreign(format!(
                "a bundle referrer for {}, not for {image_digest}",
                self.subject.digest
            )))
        }
    }

    /// The version the layer's media type names (an unknown one is an error to report).
    pub fn layer_version(&self) -> Result<BundleVersion, BundleError> {
        BundleVersion::from_media_type(&self.layer.media_type)
    }
}

/// Read a bundle referrer manifest the way `cosign verify` does (`pkg/oci/remote/signatures.go`,
/// `Bundle`): an OCI image manifest with exactly one layer whose media type starts with
/// `application/vnd.dev.sigstore.bundle`; pinsign also needs the `subject` and a layer no larger
/// than [`MAX_BUNDLE_BYTES`]. Anything else is [`BundleError::Foreign`] (another kind of
/// referrer, skipped) or [`BundleError::MalformedOci`].
pub fn parse_bundle_referrer(bytes: &[u8]) -> Result<BundleManifest, BundleError> {
    if bytes.len() > MAX_INDEX_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            limit: MAX_INDEX_BYTES,
        });
    }
    let bad = BundleError::MalformedOci;
    let obj = RawObject::parse(bytes).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let media_type: Option<String> = obj.member("mediaType", "").map_err(bad)?;
    if let Some(mt) = media_type.filter(|mt| mt != OCI_MANIFEST) {
        return Err(BundleError::Foreign(format!(
            "a document of media type {mt}"
        )));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Desc {
        media_type: String,
        digest: String,
        size: u64,
    }
    let config: Desc = obj
        .object_member("config", "")
        .map_err(bad)?
        .ok_or_else(|| bad("config is missing".into()))?;
    let artifact_type: String = obj
        .member("artifactType", "")
        .map_err(bad)?
        .unwrap_or(config.media_type);
    let raw_layers: Vec<Box<serde_json::value::RawValue>> = obj
        .member("layers", "")
        .map_err(bad)?
        .ok_or_else(|| bad("layers is missing".into()))?;
    let layers = raw_layers
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            json::from_object::<Desc>(raw.get().as_bytes())
                .map_err(|e| bad(format!("layer {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let [layer] = <[Desc; 1]>::try_from(layers).map_err(|layers| {
        BundleError::Foreign(format!(
            "an artifact of type {artifact_type} with {} layers (a bundle referrer has one)",
            layers.len()
        ))
    })?;
    if !layer.media_type.starts_with(BUNDLE_PREFIX) {
        return Err(BundleError::Foreign(format!(
            "an artifact of type {artifact_type} whose layer is {}",
            layer.media_type
        )));
    }
    if layer.size > MAX_BUNDLE_BYTES as u64 {
        return Err(BundleError::TooLarge {
            size: usize::try_from(layer.size).unwrap_or(usize::MAX),
            limit: MAX_BUNDLE_BYTES,
        });
    }
    let subject: Desc = obj
        .object_member("subject", "")
        .map_err(bad)?
        .ok_or_else(|| bad("the bundle referrer has no subject".into()))?;
    let digest_of = |d: &str, what: &str| {
        Digest::parse(d).map_err(|e| bad(format!("{what} digest {}: {e}", go_string(d))))
    };
    let annotations: BTreeMap<String, serde_json::Value> = obj
        .member("annotations", "")
        .map_err(bad)?
        .unwrap_or_default();
    Ok(BundleManifest {
        subject: Descriptor {
            media_type: subject.media_type,
            digest: digest_of(&subject.digest, "subject")?,
            size: subject.size,
        },
        artifact_type,
        layer: BundleLayer {
            digest: digest_of(&layer.digest, "layer")?,
            media_type: layer.media_type,
            size: layer.size,
        },
        annotations: annotations
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect(),
        digest: Digest::of(bytes),
    })
}
