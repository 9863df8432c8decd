//! Signature layers: the ones found in a manifest (kept as their exact JSON) and the ones
//! pinsign makes.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{self, ObjectWriter};
use super::{SignatureError, SIGNATURE_ANNOTATION};
use crate::keys::SigningKey;
use crate::media_types::SIMPLESIGNING;
use crate::reference::Digest;
use crate::registry::PinnedImage;

/// What makes two signature layers the same signature: the payload blob *and* the
/// signature over it. Two keys signing one digest share the digest, never the signature.
/// Whether the layer is a simple-signing layer is part of it: a layer of another type with
/// the same digest and annotation is not that signature (no verifier reads it), so it must
/// neither stand in for ours nor make a merge skip a real one (found by the merge property
/// tests in `properties.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerKey {
    pub digest: Digest,
    pub signature: Option<String>,
    pub simplesigning: bool,
}

/// A layer descriptor read from a manifest. The exact JSON text is kept and written back
/// unchanged; the fields pinsign reads are parsed beside it.
#[derive(Debug, Clone)]
pub struct LayerDescriptor {
    raw: Box<str>,
    media_type: String,
    digest: Digest,
    size: u64,
    annotations: BTreeMap<String, String>,
}

impl LayerDescriptor {
    /// Parse one descriptor from its JSON text (`mediaType`, `digest`, `size` required;
    /// `annotations` values must be strings). `what` names it in errors ("layer 2").
    pub fn parse(raw: &str, what: &str) -> Result<LayerDescriptor, SignatureError> {
        let raw = RawValue::from_string(raw.to_string())
            .map_err(|e| SignatureError::Malformed(format!("{what}: {e}")))?;
        Self::from_raw(raw, what)
    }

    pub(crate) fn from_raw(
        raw: Box<RawValue>,
        what: &str,
    ) -> Result<LayerDescriptor, SignatureError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Fields {
            media_type: String,
            digest: String,
            size: u64,
            #[serde(default)]
            annotations: Option<BTreeMap<String, String>>,
        }
        let bad = |e: String| SignatureError::Malformed(format!("{what}: {e}"));
        // Reject duplicate members too: the raw text must mean one thing to every reader.
        json::RawObject::parse_str(raw.get()).map_err(bad)?;
        let f: Fields = json::member(&raw, "descriptor").map_err(bad)?;
        let digest = Digest::parse(&f.digest).map_err(|e| bad(format!("digest: {e}")))?;
        Ok(LayerDescriptor {
            raw: raw.into(),
            media_type: f.media_type,
            digest,
            size: f.size,
            annotations: f.annotations.unwrap_or_default(),
        })
    }

    /// The exact JSON text as read.
    pub fn raw_json(&self) -> &str {
        &self.raw
    }

    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The base64 signature annotation, when present.
    pub fn signature_b64(&self) -> Option<&str> {
        self.annotations
            .get(SIGNATURE_ANNOTATION)
            .map(String::as_str)
    }

    pub fn is_simplesigning(&self) -> bool {
        self.media_type == SIMPLESIGNING
    }

    pub fn key(&self) -> LayerKey {
        LayerKey {
            digest: self.digest.clone(),
            signature: self.signature_b64().map(str::to_string),
            simplesigning: self.is_simplesigning(),
        }
    }
}

/// A new signature layer: the payload blob and its signature annotation, for the image it
/// was made for. It can only be made by signing a [`PinnedImage`] (so only over a digest
/// the registry vouched for), and it carries that image, so storage writes it beside
/// exactly that image and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    image: PinnedImage,
    payload: Vec<u8>,
    digest: Digest,
    signature_b64: String,
}

impl SignatureLayer {
    /// Sign `image` with `key`: cosign's simple-signing payload for the image (with
    /// `annotations` in `optional`), ECDSA over its exact bytes.
    pub fn sign(
        image: &PinnedImage,
        annotations: &BTreeMap<String, String>,
        key: &SigningKey,
    ) -> SignatureLayer {
        let payload = super::payload(image, annotations);
        let der = key.sign(&payload);
        SignatureLayer::from_parts(image.clone(), payload, &der)
    }

    /// From the exact payload bytes and the DER signature over them (tests build odd ones).
    pub(super) fn from_parts(
        image: PinnedImage,
        payload: Vec<u8>,
        signature_der: &[u8],
    ) -> SignatureLayer {
        SignatureLayer {
            image,
            digest: Digest::of(&payload),
            signature_b64: base64::engine::general_purpose::STANDARD.encode(signature_der),
            payload,
        }
    }

    /// The image this signature was made for.
    pub fn image(&self) -> &PinnedImage {
        &self.image
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// sha256 of the payload: the layer (blob) digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn size(&self) -> u64 {
        self.payload.len() as u64
    }

    /// Standard, padded base64 of the DER signature (the annotation value).
    pub fn signature_b64(&self) -> &str {
        &self.signature_b64
    }

    pub fn key(&self) -> LayerKey {
        LayerKey {
            digest: self.digest.clone(),
            signature: Some(self.signature_b64.clone()),
            simplesigning: true,
        }
    }

    /// The descriptor JSON as cosign writes it (go-containerregistry's field order):
    /// `{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":N,"digest":"sha256:..","annotations":{"dev.cosignproject.cosign/signature":".."}}`.
    pub fn descriptor_json(&self) -> String {
        let mut w = ObjectWriter::new();
        w.value("mediaType", SIMPLESIGNING);
        w.value("size", &self.size());
        w.value("digest", self.digest.as_str());
        w.value(
            "annotations",
            &BTreeMap::from([(SIGNATURE_ANNOTATION, self.signature_b64.as_str())]),
        );
        // ObjectWriter emits valid UTF-8 JSON.
        String::from_utf8(w.finish()).unwrap_or_default()
    }

    /// As a [`LayerDescriptor`] (what a reader of the written manifest will see).
    pub fn descriptor(&self) -> LayerDescriptor {
        LayerDescriptor {
            raw: self.descriptor_json().into(),
            media_type: SIMPLESIGNING.to_string(),
            digest: self.digest.clone(),
            size: self.size(),
            annotations: BTreeMap::from([(
                SIGNATURE_ANNOTATION.to_string(),
                self.signature_b64.clone(),
            )]),
        }
    }

    pub(crate) fn blob(&self) -> Blob {
        Blob {
            digest: self.digest.clone(),
            size: self.size(),
            data: BlobData::Upload(self.payload.clone()),
        }
    }
}

/// A blob a manifest refers to, which must exist in the repository before the manifest
/// is pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub data: BlobData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobData {
    /// New content: push these bytes.
    Upload(Vec<u8>),
    /// Referred to by the manifest that was already there, so already in the repository.
    Existing,
}
