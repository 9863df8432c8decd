//! Referrers lists: the OCI image index the referrers API answers with, and the same index kept
//! under the referrers tag (`sha256-<hex>`) on registries without the API (CNCF Distribution
//! 2.8 here). Read one, list the bundles in it, and merge descriptors into the tag's index
//! without ever dropping an entry.
//!
//! opencontainers/distribution-spec `spec.md` ("Pushing Manifests with Subject", "Referrers Tag
//! Schema"): pull the tag, start empty on 404, refuse (report, do not overwrite) a tag holding
//! anything but an image index, add the pushed manifest's descriptor with its `artifactType`
//! and all its annotations unless that digest is listed already, push the index back.
//! go-containerregistry (`pkg/v1/remote/write.go`, `commitSubjectReferrers`) decodes and
//! re-encodes the index, which drops members it does not know and sorts the entries; pinsign
//! keeps every existing entry and member as the exact JSON text it read, in its order, and
//! appends, as the `.sig` merge in `crate::signature` does.
//!
//! The tag has no compare-and-swap: a concurrent writer can overwrite our write. The caller
//! reads back, checks [`missing_referrers`], and merges again ([`merge_referrers`] with what
//! it read and what its write was based on) until nothing is missing.

use crate::media_types::{BUNDLE_PREFIX, OCI_INDEX};
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{self, ObjectWriter, RawObject};
use super::referrer::ReferrerDescriptor;
use super::{BundleError, MAX_INDEX_BYTES};
use crate::reference::Digest;

/// The referrers tag for `digest`: `sha256-<hex>` (the spec's truncation to 32 + 64 characters
/// changes nothing for sha256). A name, not a `Tag`: `crate::reference::Tag` is built there.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

/// One entry of a referrers list, parsed, with its exact JSON text kept.
#[derive(Debug, Clone)]
pub struct ReferrerEntry {
    pub media_type: String,
    /// As written (any algorithm); see [`ReferrerEntry::sha256`].
    pub digest: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    /// String-valued annotations (others are kept in the raw text only).
    pub annotations: BTreeMap<String, String>,
    raw: Box<RawValue>,
}

impl ReferrerEntry {
    /// The entry's JSON exactly as read.
    pub fn raw_json(&self) -> &str {
        self.raw.get()
    }

    /// The digest when it is a valid sha256 digest (the only kind pinsign fetches).
    pub fn sha256(&self) -> Option<Digest> {
        Digest::parse(&self.digest).ok()
    }

    /// Whether `artifactType` names a Sigstore bundle (any version: an unknown one is then
    /// reported by the verifier, not silently skipped).
    pub fn is_bundle(&self) -> bool {
        self.artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(BUNDLE_PREFIX))
    }
}

/// A referrers list as read: the entries in order, any other members of the index (exact text,
/// in order), and the digest of the bytes.
#[derive(Debug, Clone)]
pub struct ReferrersIndex {
    entries: Vec<ReferrerEntry>,
    extra: Vec<(String, Box<RawValue>)>,
    digest: Digest,
}

impl ReferrersIndex {
    pub fn entries(&self) -> &[ReferrerEntry] {
        &self.entries
    }

    /// sha256 of the bytes parsed.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Whether an entry has `digest`.
    pub fn contains(&self, digest: &str) -> bool {
        self.entries.iter().any(|e| e.digest == digest)
    }
}

/// Members of an index that pinsign writes itself; every other member is kept as it is.
const OWN_MEMBERS: [&str; 3] = ["schemaVersion", "mediaType", "manifests"];

/// Parse a referrers list (a referrers API answer or the referrers tag). An image manifest or
/// another document type is [`BundleError::Foreign`]; bad JSON, a schemaVersion other than 2,
/// or an entry without `mediaType`, `digest` or `size` is [`BundleError::MalformedOci`]. Both
/// mean: do not overwrite the tag.
pub fn parse_referrers_index(bytes: &[u8]) -> Result<ReferrersIndex, BundleError> {
    if bytes.len() > MAX_INDEX_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            limit: MAX_INDEX_BYTES,
        });
    }
    let bad = BundleError::MalformedOci;
    let obj = RawObject::parse(bytes).map_err(|e| bad(format!("not a JSON object: {e}")))?;
    let media_type: Option<String> = obj.member("mediaType", "").map_err(bad)?;
    match media_type.as_deref() {
        Some(OCI_INDEX) => {}
        Some(other) => {
            return Err(BundleError::Foreign(format!(
                "a document of media type {other}"
            )))
        }
        None if obj.get("config").is_some() || obj.get("layers").is_some() => {
            return Err(BundleError::Foreign("an image manifest".into()))
        }
        None => {}
    }
    let schema: Option<u64> = obj.member("schemaVersion", "").map_err(bad)?;
    if schema != Some(2) {
        return Err(bad(format!(
            "schemaVersion is {}, not 2",
            schema.map_or("missing".to_string(), |s| s.to_string())
        )));
    }
    let raw_entries: Vec<Box<RawValue>> = obj
        .member("manifests", "")
        .map_err(bad)?
        .ok_or_else(|| bad("manifests is missing".into()))?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        media_type: String,
        digest: String,
        size: u64,
        #[serde(default)]
        artifact_type: Option<serde_json::Value>,
        #[serde(default)]
        annotations: Option<serde_json::Value>,
    }
    let entries = raw_entries
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let f: Fields = json::from_object(raw.get().as_bytes())
                .map_err(|e| bad(format!("manifests entry {}: {e}", i + 1)))?;
            let annotations = match f.annotations {
                Some(serde_json::Value::Object(map)) => map
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect(),
                _ => BTreeMap::new(),
            };
            Ok(ReferrerEntry {
                media_type: f.media_type,
                digest: f.digest,
                size: f.size,
                artifact_type: f.artifact_type.and_then(|t| t.as_str().map(str::to_string)),
                annotations,
                raw,
            })
        })
        .collect::<Result<Vec<_>, BundleError>>()?;
    let extra = obj
        .0
        .into_iter()
        .filter(|(k, _)| !OWN_MEMBERS.contains(&k.as_str()))
        .collect();
    Ok(ReferrersIndex {
        entries,
        extra,
        digest: Digest::of(bytes),
    })
}

/// The entries that are Sigstore bundles, in list order (see [`ReferrerEntry::is_bundle`]).
pub fn bundle_referrers(index: &ReferrersIndex) -> Vec<&ReferrerEntry> {
    index.entries.iter().filter(|e| e.is_bundle()).collect()
}

/// What to write to the referrers tag after a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexMerge {
    /// The OCI image index to PUT on the referrers tag.
    pub index: Vec<u8>,
    /// sha256 of `index`.
    pub digest: Digest,
    /// Always [`OCI_INDEX`]: the Content-Type of the PUT.
    pub media_type: &'static str,
    /// Digests appended (ours, or entries of `previous` that a concurrent writer dropped).
    /// Empty means nothing changed: do not write.
    pub added: Vec<String>,
    pub changed: bool,
}

/// Merge into the referrers tag: keep every entry of `current` (what the tag holds now, or
/// nothing on 404) byte for byte and in order, with its other members; then append each entry
/// of `previous` (what an earlier write of ours was based on) that `current` lost; then each
/// of `ours` not listed yet (by digest). Never drops, never reorders.
pub fn merge_referrers(
    current: Option<&ReferrersIndex>,
    previous: Option<&ReferrersIndex>,
    ours: &[ReferrerDescriptor],
) -> IndexMerge {
    let mut digests: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let mut added: Vec<String> = Vec::new();
    for e in current.iter().flat_map(|i| i.entries()) {
        digests.push(e.digest.clone());
        texts.push(e.raw_json().to_string());
    }
    for e in previous.iter().flat_map(|i| i.entries()) {
        if !digests.contains(&e.digest) {
            digests.push(e.digest.clone());
            added.push(e.digest.clone());
            texts.push(e.raw_json().to_string());
        }
    }
    for d in ours {
        let digest = d.digest.as_str().to_string();
        if !digests.contains(&digest) {
            digests.push(digest.clone());
            added.push(digest);
            texts.push(d.to_json());
        }
    }
    let mut w = ObjectWriter::new();
    w.raw("schemaVersion", "2")
        .string("mediaType", OCI_INDEX)
        .raw("manifests", &format!("[{}]", texts.join(",")));
    for (k, v) in current.or(previous).iter().flat_map(|i| i.extra.iter()) {
        w.raw(k, v.get());
    }
    let index = w.finish().into_bytes();
    IndexMerge {
        digest: Digest::of(&index),
        index,
        media_type: OCI_INDEX,
        changed: !added.is_empty(),
        added,
    }
}

/// The digests of `previous`'s entries and of `ours` that `current` lacks, in that order:
/// empty means a read-back holds everything it should.
pub fn missing_referrers(
    current: Option<&ReferrersIndex>,
    previous: Option<&ReferrersIndex>,
    ours: &[ReferrerDescriptor],
) -> Vec<String> {
    let have = |d: &str| current.is_some_and(|c| c.contains(d));
    let wanted = previous
        .iter()
        .flat_map(|p| p.entries().iter().map(|e| e.digest.clone()))
        .chain(ours.iter().map(|d| d.digest.as_str().to_string()));
    let mut missing: Vec<String> = Vec::new();
    for d in wanted {
        if !have(&d) && !missing.contains(&d) {
            missing.push(d);
        }
    }
    missing
}
