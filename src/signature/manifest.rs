//! The `sha256-<hex>.sig` manifest: read it, append to it, confirm what a read-back holds.

use std::collections::BTreeSet;

use serde_json::value::RawValue;

use super::json::{self, ObjectWriter, RawObject};
use super::layer::{Blob, BlobData, LayerDescriptor, LayerKey, SignatureLayer};
use super::SignatureError;
use crate::media_types::{
    DOCKER_CONFIG, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
    SIG_ARTIFACT,
};
use crate::reference::Digest;

/// The zero time go-containerregistry writes for an unset timestamp. pinsign uses it for
/// the config's `created` (cosign writes the signing time there), so that signing the
/// same digest with the same key again yields the same config, the same manifest and the
/// same manifest digest: re-signing is idempotent and nothing is rewritten.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

const INDEX_MEDIA_TYPES: [&str; 2] = [OCI_INDEX, DOCKER_MANIFEST_LIST];

/// Members of a manifest that pinsign writes itself; every other member is kept as is.
const OWN_MEMBERS: [&str; 4] = ["schemaVersion", "mediaType", "config", "layers"];

/// The media type the manifest was read with. pinsign always writes OCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// `application/vnd.oci.image.manifest.v1+json` (or no `mediaType`, which OCI allows).
    Oci,
    /// `application/vnd.docker.distribution.manifest.v2+json`, as older tools wrote.
    Docker,
}

/// A signature manifest as read from the `.sig` tag: its layers (exact JSON kept), any
/// other manifest-level members (e.g. `annotations`, exact JSON kept, in order), and the
/// digest of the bytes it was read from.
#[derive(Debug, Clone)]
pub struct SigManifest {
    kind: ManifestKind,
    layers: Vec<LayerDescriptor>,
    extra: Vec<(String, Box<RawValue>)>,
    digest: Digest,
    raw: Vec<u8>,
}

impl SigManifest {
    pub fn kind(&self) -> ManifestKind {
        self.kind
    }

    /// Every layer, in manifest order (including any that are not simple-signing layers).
    pub fn layers(&self) -> &[LayerDescriptor] {
        &self.layers
    }

    /// Manifest-level members other than schemaVersion, mediaType, config and layers, as
    /// (name, exact JSON text), in document order.
    pub fn extra_members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.extra.iter().map(|(k, v)| (k.as_str(), v.get()))
    }

    /// sha256 of the bytes this was parsed from.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The identity of every layer, in order.
    pub fn layer_keys(&self) -> Vec<LayerKey> {
        self.layers.iter().map(LayerDescriptor::key).collect()
    }
}

/// Parse what the `.sig` tag holds. OCI image manifests and Docker v2 schema 2 manifests
/// are accepted; an index, a schema 1 manifest, another artifact type, a foreign config
/// or an image none of whose layers is a simple-signing layer is [`SignatureError::Foreign`]
/// (say what it is, refuse to overwrite it); bad JSON or missing fields are
/// [`SignatureError::Malformed`].
pub fn parse_sig_manifest(bytes: &[u8]) -> Result<SigManifest, SignatureError> {
    let doc = parse_manifest_doc(bytes)?;
    if let Some(t) = &doc.artifact_type {
        if t != SIG_ARTIFACT {
            return Err(SignatureError::Foreign(format!(
                "an OCI artifact of type {t}"
            )));
        }
    }
    let config_ok =
        [OCI_CONFIG, DOCKER_CONFIG, SIG_ARTIFACT].contains(&doc.config_media_type.as_str());
    if !config_ok {
        return Err(SignatureError::Foreign(format!(
            "an image whose config is of type {}",
            doc.config_media_type
        )));
    }
    check_has_signature_layers(&doc.layers)?;
    Ok(SigManifest {
        kind: doc.kind,
        layers: doc.layers,
        extra: doc.extra,
        digest: Digest::of(bytes),
        raw: bytes.to_vec(),
    })
}

/// The parts of an image manifest every reader here needs.
pub(crate) struct ManifestDoc {
    pub(crate) kind: ManifestKind,
    pub(crate) artifact_type: Option<String>,
    pub(crate) config_media_type: String,
    pub(crate) layers: Vec<LayerDescriptor>,
    pub(crate) extra: Vec<(String, Box<RawValue>)>,
    pub(crate) object: RawObject,
}

pub(crate) fn parse_manifest_doc(bytes: &[u8]) -> Result<ManifestDoc, SignatureError> {
    let malformed = |e: String| SignatureError::Malformed(e);
    let obj = RawObject::parse(bytes).map_err(|e| malformed(format!("not a JSON object: {e}")))?;
    let media_type: Option<String> = obj
        .get("mediaType")
        .map(|v| json::member(v, "mediaType"))
        .transpose()
        .map_err(malformed)?;
    if let Some(mt) = media_type
        .as_deref()
        .filter(|mt| INDEX_MEDIA_TYPES.contains(mt))
    {
        return Err(SignatureError::Foreign(format!("an image index ({mt})")));
    }
    if obj.get("manifests").is_some() {
        return Err(SignatureError::Foreign(
            "an image index (it lists manifests)".into(),
        ));
    }
    let schema: u64 = obj
        .get("schemaVersion")
        .ok_or_else(|| malformed("schemaVersion is missing".into()))
        .and_then(|v| json::member(v, "schemaVersion").map_err(malformed))?;
    if schema == 1 {
        return Err(SignatureError::Foreign("a Docker schema 1 manifest".into()));
    }
    if schema != 2 {
        return Err(malformed(format!("schemaVersion is {schema}, not 2")));
    }
    let kind = match media_type.as_deref() {
        None | Some(OCI_MANIFEST) => ManifestKind::Oci,
        Some(DOCKER_MANIFEST) => ManifestKind::Docker,
        Some(other) => {
            return Err(SignatureError::Foreign(format!(
                "a document of media type {other}"
            )))
        }
    };
    let artifact_type: Option<String> = obj
        .get("artifactType")
        .map(|v| json::member(v, "artifactType"))
        .transpose()
        .map_err(malformed)?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ConfigFields {
        media_type: String,
    }
    let config: ConfigFields = obj
        .get("config")
        .ok_or_else(|| malformed("config is missing".into()))
        .and_then(|v| json::member(v, "config").map_err(malformed))?;
    let raw_layers: Vec<Box<RawValue>> = obj
        .get("layers")
        .ok_or_else(|| malformed("layers is missing".into()))
        .and_then(|v| json::member(v, "layers").map_err(malformed))?;
    let layers = raw_layers
        .into_iter()
        .enumerate()
        .map(|(i, raw)| LayerDescriptor::from_raw(raw, &format!("layer {}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let extra = obj
        .0
        .iter()
        .filter(|(k, _)| !OWN_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ManifestDoc {
        kind,
        artifact_type,
        config_media_type: config.media_type,
        layers,
        extra,
        object: obj,
    })
}

/// An image with layers, none of them a signature, is something else (an image pushed
/// to the wrong tag, an attestation): never ours to rewrite.
pub(crate) fn check_has_signature_layers(layers: &[LayerDescriptor]) -> Result<(), SignatureError> {
    if layers.is_empty() || layers.iter().any(LayerDescriptor::is_simplesigning) {
        return Ok(());
    }
    let types: BTreeSet<&str> = layers.iter().map(LayerDescriptor::media_type).collect();
    Err(SignatureError::Foreign(format!(
        "an image with {} layer(s) of type {}, none a cosign signature",
        layers.len(),
        types.into_iter().collect::<Vec<_>>().join(", ")
    )))
}

/// The config blob cosign writes for a signature image, for these layer digests:
/// `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"},..],"os":"","rootfs":{"type":"layers","diff_ids":[..]},"config":{}}`,
/// one history entry per layer as go-containerregistry's `mutate.Append` makes.
/// `created` is [`ZERO_TIME`], not the signing time, so re-signing is idempotent.
pub fn sig_config<'a>(layer_digests: impl IntoIterator<Item = &'a Digest>) -> Vec<u8> {
    let diff_ids: Vec<&str> = layer_digests.into_iter().map(Digest::as_str).collect();
    let history: Vec<String> = diff_ids
        .iter()
        .map(|_| format!(r#"{{"created":"{ZERO_TIME}"}}"#))
        .collect();
    let mut rootfs = ObjectWriter::new();
    rootfs.value("type", "layers");
    rootfs.value("diff_ids", &diff_ids);
    let rootfs = rootfs.finish();
    let mut w = ObjectWriter::new();
    w.value("architecture", "");
    w.value("created", ZERO_TIME);
    w.raw_array("history", history.iter().map(String::as_str));
    w.value("os", "");
    w.raw("rootfs", std::str::from_utf8(&rootfs).unwrap_or_default());
    w.raw("config", "{}");
    w.finish()
}

/// `{"mediaType":..,"size":..,"digest":..}` in go-containerregistry's order.
pub(crate) fn descriptor_json(media_type: &str, digest: &Digest, size: u64) -> String {
    let mut w = ObjectWriter::new();
    w.value("mediaType", media_type);
    w.value("size", &size);
    w.value("digest", digest.as_str());
    String::from_utf8(w.finish()).unwrap_or_default()
}

/// A compact OCI image manifest: `schemaVersion`, `mediaType`, `config` (pointing at
/// `config` with `config_media_type`), `layers` spliced in as given, then `extra`.
pub(crate) fn render_manifest(
    config: &[u8],
    config_media_type: &str,
    layers: &[&str],
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut w = ObjectWriter::new();
    w.value("schemaVersion", &2);
    w.value("mediaType", OCI_MANIFEST);
    w.raw(
        "config",
        &descriptor_json(config_media_type, &Digest::of(config), config.len() as u64),
    );
    w.raw_array("layers", layers.iter().copied());
    for (k, v) in extra {
        w.raw(k, v);
    }
    w.finish()
}

/// What to write to the `.sig` tag after a merge.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// The OCI manifest to PUT on the `.sig` tag.
    pub manifest: Vec<u8>,
    /// sha256 of `manifest` (compare with the registry's `Docker-Content-Digest`).
    pub digest: Digest,
    /// Always [`OCI_MANIFEST`], the Content-Type of the PUT.
    pub media_type: &'static str,
    /// The config blob (also listed in `blobs`).
    pub config: Vec<u8>,
    /// Every blob the manifest refers to, each digest once: layer blobs in manifest order,
    /// then the config. Push the `Upload` ones before the manifest.
    pub blobs: Vec<Blob>,
    /// Layers appended to the manifest that was there (ours, or ones a concurrent writer
    /// dropped and we restore). Empty means nothing changed: do not write.
    pub added: Vec<LayerKey>,
    /// Whether the tag needs a write at all: something was added (or a layer whose blob is
    /// gone was left out).
    pub changed: bool,
}

/// Append `new_layers` to what the `.sig` tag holds (`existing`, or nothing). Never
/// replaces or reorders: existing layers first, byte for byte, then each new layer that
/// is not already there (same payload digest *and* same signature). Manifest-level members
/// such as `annotations` are kept. The result is always an OCI manifest.
pub fn merge(existing: Option<&SigManifest>, new_layers: &[SignatureLayer]) -> MergeOutcome {
    remerge(existing, None, new_layers)
}

/// Re-merge after a read-back found `current` (written by someone else meanwhile, or
/// nothing) instead of what we wrote: keep all of `current`, restore any layer of
/// `previous` (the manifest our write was based on) that it lost, and append ours.
pub fn remerge(
    current: Option<&SigManifest>,
    previous: Option<&SigManifest>,
    ours: &[SignatureLayer],
) -> MergeOutcome {
    merge_keeping(current, previous, &[], ours, &BTreeSet::new())
}

/// The merge of one write: every layer `current` holds, byte for byte and in order; then each
/// layer of `previous` (what an earlier write of ours held, or the tag as we first read it),
/// then of `also` (layers found elsewhere, e.g. in the image's signature referrers), then of
/// `ours` that `current` lacks. The one exception to "never drop a layer": layers whose payload
/// blob is in `gone` (the registry no longer has it, so they can never verify, and a manifest
/// naming them is refused) are left out; that counts as a change.
pub fn merge_keeping(
    current: Option<&SigManifest>,
    previous: Option<&SigManifest>,
    also: &[LayerDescriptor],
    ours: &[SignatureLayer],
    gone: &BTreeSet<Digest>,
) -> MergeOutcome {
    let mut dropped = false;
    let mut keys: Vec<LayerKey> = Vec::new();
    let mut layer_texts: Vec<String> = Vec::new();
    let mut blobs: Vec<Blob> = Vec::new();
    let mut added: Vec<LayerKey> = Vec::new();
    let push_blob = |blob: Blob, blobs: &mut Vec<Blob>| {
        if !blobs.iter().any(|b| b.digest == blob.digest) {
            blobs.push(blob);
        }
    };
    let existing_blob = |l: &LayerDescriptor| Blob {
        digest: l.digest().clone(),
        size: l.size(),
        data: BlobData::Existing,
    };
    for layer in current.iter().flat_map(|m| m.layers()) {
        if gone.contains(layer.digest()) {
            dropped = true;
            continue;
        }
        // Kept even when it repeats: what is there stays as it is.
        keys.push(layer.key());
        layer_texts.push(layer.raw_json().to_string());
        push_blob(existing_blob(layer), &mut blobs);
    }
    let restored = previous.iter().flat_map(|m| m.layers()).chain(also);
    for layer in restored {
        let key = layer.key();
        if !keys.contains(&key) && !gone.contains(layer.digest()) {
            keys.push(key.clone());
            added.push(key);
            layer_texts.push(layer.raw_json().to_string());
            push_blob(existing_blob(layer), &mut blobs);
        }
    }
    for layer in ours {
        let key = layer.key();
        if !keys.contains(&key) {
            keys.push(key.clone());
            added.push(key);
            layer_texts.push(layer.descriptor_json());
            push_blob(layer.blob(), &mut blobs);
        }
    }
    let config = sig_config(keys.iter().map(|k| &k.digest));
    let extra: Vec<(&str, &str)> = current
        .or(previous)
        .map(|m| m.extra_members().collect())
        .unwrap_or_default();
    let texts: Vec<&str> = layer_texts.iter().map(String::as_str).collect();
    let manifest = render_manifest(&config, OCI_CONFIG, &texts, &extra);
    push_blob(
        Blob {
            digest: Digest::of(&config),
            size: config.len() as u64,
            data: BlobData::Upload(config.clone()),
        },
        &mut blobs,
    );
    MergeOutcome {
        digest: Digest::of(&manifest),
        manifest,
        media_type: OCI_MANIFEST,
        config,
        blobs,
        changed: !added.is_empty() || dropped,
        added,
    }
}

/// The layers of `previous` and `ours` that `current` lacks (by payload digest and
/// signature), in that order.
pub fn missing_layers(
    current: &SigManifest,
    previous: Option<&SigManifest>,
    ours: &[SignatureLayer],
) -> Vec<LayerKey> {
    let have: BTreeSet<LayerKey> = current.layer_keys().into_iter().collect();
    let mut missing: Vec<LayerKey> = Vec::new();
    let wanted = previous
        .iter()
        .flat_map(|m| m.layer_keys())
        .chain(ours.iter().map(SignatureLayer::key));
    for key in wanted {
        if !have.contains(&key) && !missing.contains(&key) {
            missing.push(key);
        }
    }
    missing
}

/// Read-back confirmation: does `current` hold every layer of `previous` (what our write
/// was based on) plus ours? If not, [`remerge`] and write again.
pub fn contains_all(
    current: &SigManifest,
    previous: Option<&SigManifest>,
    ours: &[SignatureLayer],
) -> bool {
    missing_layers(current, previous, ours).is_empty()
}
