//! Reading an image's stored signatures: every simple-signing layer with its payload blob, and
//! every Sigstore bundle with its bytes, each with where it was found.
//!
//! A referrers list may hold anything (SBOMs, attestations, another tool's artifacts, a
//! referrer of another image listed by mistake). Reads are bounded: a listed manifest larger
//! than [`MAX_MANIFEST_BYTES`] or a bundle larger than [`bundle::MAX_BUNDLE_BYTES`] is never
//! fetched (its descriptor's `size` is checked first), and every byte read is checked against
//! its digest. What is not a signature is [`Skipped`] with the reason; a signature that cannot
//! be read intact is still reported, as one that fails, with the reason.

use std::collections::HashMap;

use super::listing::{list_referrers, Listing, UnreadableList};
use super::{Format, ReferrersVia, Via};
use crate::bundle::{self, BundleError, ReferrerEntry, Refusal};
use crate::media_types::{BUNDLE_PREFIX, OCI_EMPTY, SIG_ARTIFACT};
use crate::reference::{Digest, Repository};
use crate::registry::{PinnedImage, Registry, RegistryError, MAX_MANIFEST_BYTES};
use crate::signature::{self, FetchedLayer};

/// The largest payload blob pinsign reads (cosign payloads are a few hundred bytes).
const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// One signature found, not judged yet.
#[derive(Debug, Clone)]
pub struct Found {
    /// The manifest that holds it: `REG/REPO:sha256-<hex>.sig` or `REG/REPO@sha256:<referrer>`.
    pub location: String,
    pub via: Via,
    /// The referrers tag index that listed it (`REG/REPO:sha256-<hex>`), for [`Via::ReferrersTag`].
    pub listed_in: Option<String>,
    /// The repository it was found in.
    pub repository: Repository,
    pub item: FoundItem,
}

impl Found {
    pub fn format(&self) -> Format {
        match self.item {
            FoundItem::Layer { .. } => Format::SimpleSigning,
            FoundItem::Bundle { .. } => Format::Bundle,
        }
    }
}

/// What was found.
#[derive(Debug, Clone)]
pub enum FoundItem {
    /// A simple-signing layer; `fetch_error` says why its payload blob could not be fetched
    /// intact (its digest did not match, or the registry does not have it): it never verifies.
    Layer {
        layer: FetchedLayer,
        fetch_error: Option<String>,
    },
    /// A Sigstore bundle layer: its bytes (digest and size checked), or why it could not be
    /// read (then it never verifies).
    Bundle {
        /// The layer digest the referrer manifest names.
        digest: Digest,
        bytes: Result<Vec<u8>, Refusal>,
    },
}

/// Something in a referrers list that is not a signature for this image, or could not be
/// looked at, and why. Reported, never counted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The listed manifest (`REG/REPO@sha256:...`) or the list itself.
    pub location: String,
    pub reason: String,
}

/// Signatures stored in the `.sig` tag: every layer with its payload blob (fetched once
/// per distinct digest). `None` when there is no `.sig` tag.
pub async fn fetch_from_tag(
    registry: &Registry,
    image: &PinnedImage,
    sig_repo: &Repository,
) -> anyhow::Result<Option<Vec<Found>>> {
    let tag = image.signature_tag();
    let location = format!("{sig_repo}:{tag}");
    let Some(manifest) = registry.get_manifest(sig_repo, tag.as_str()).await? else {
        return Ok(None);
    };
    let parsed = signature::parse_sig_manifest(&manifest.bytes).map_err(|e| {
        anyhow::anyhow!("{location} is not a readable cosign signature manifest: {e}")
    })?;
    let layers = fetch_layers(registry, sig_repo, parsed.layers()).await?;
    Ok(Some(
        layers
            .into_iter()
            .map(|(layer, fetch_error)| Found {
                location: location.clone(),
                via: Via::SigTag,
                listed_in: None,
                repository: sig_repo.clone(),
                item: FoundItem::Layer { layer, fetch_error },
            })
            .collect(),
    ))
}

/// Simple-signing signatures attached through the referrers API, in the image's repository.
/// `Err` with [`RegistryError::ReferrersUnsupported`] in the chain when the registry lacks it.
pub async fn fetch_from_referrers(
    registry: &Registry,
    image: &PinnedImage,
) -> anyhow::Result<Vec<Found>> {
    let found = fetch_referrers(registry, image, image.repository(), ReferrersVia::Api).await?;
    for s in &found.skipped {
        tracing::info!("{}: {}", s.location, s.reason);
    }
    Ok(found
        .found
        .into_iter()
        .filter(|f| f.format() == Format::SimpleSigning)
        .collect())
}

/// What one referrers list held.
#[derive(Debug, Clone, Default)]
pub struct Referrers {
    /// Signatures (both formats), in list order.
    pub found: Vec<Found>,
    pub skipped: Vec<Skipped>,
    /// What was read: `the referrers of REG/REPO@sha256:...` or `REG/REPO:sha256-<hex>`.
    pub place: String,
}

/// Every signature listed as a referrer of `image` in `repo` (the image's repository, or a
/// signature repository), found the way `how` says: cosign's `artifact.sig.v1` artifacts and
/// Sigstore bundles. Errors only for registry failures (and, with [`ReferrersVia::Api`], a
/// registry without the API); a list pinsign cannot read is one [`Skipped`].
pub async fn fetch_referrers(
    registry: &Registry,
    image: &PinnedImage,
    repo: &Repository,
    how: ReferrersVia,
) -> anyhow::Result<Referrers> {
    let listing = match list_referrers(registry, repo, image.digest(), how).await {
        Ok(l) => l,
        Err(e) => {
            if let Some(u) = e.downcast_ref::<UnreadableList>() {
                return Ok(Referrers {
                    skipped: vec![Skipped {
                        location: u.place.clone(),
                        reason: u.problem.clone(),
                    }],
                    place: u.place.clone(),
                    ..Referrers::default()
                });
            }
            return Err(e);
        }
    };
    let mut out = Referrers {
        place: listing.place.clone(),
        ..Referrers::default()
    };
    let entries = listing.index.as_ref().map(|i| i.entries()).unwrap_or(&[]);
    for entry in entries {
        let location = format!("{repo}@{}", entry.digest);
        match candidate(entry) {
            Ok(kind) => {
                fetch_entry(registry, image, repo, &listing, entry, kind, &mut out).await?;
            }
            Err(reason) => out.skipped.push(Skipped { location, reason }),
        }
    }
    Ok(out)
}

/// What a listed entry claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `artifactType` names a Sigstore bundle.
    Bundle,
    /// cosign's `artifact.sig.v1`.
    SigArtifact,
    /// No `artifactType`, or the empty type (ghcr.io lists bundle referrers with
    /// `application/vnd.oci.empty.v1+json`, sigstore-rs `cosign/client.rs` notes): look inside.
    Unknown,
}

/// Whether an entry may be a signature, by what the list says of it (nothing fetched).
fn candidate(entry: &ReferrerEntry) -> Result<Kind, String> {
    let kind = match entry.artifact_type.as_deref() {
        Some(t) if t.starts_with(BUNDLE_PREFIX) => Kind::Bundle,
        Some(SIG_ARTIFACT) => Kind::SigArtifact,
        None | Some("") | Some(OCI_EMPTY) => Kind::Unknown,
        Some(other) => return Err(format!("artifact type {other} is not a signature")),
    };
    if entry.sha256().is_none() {
        return Err(format!(
            "listed with digest {:?}, not a sha256 digest",
            entry.digest
        ));
    }
    if entry.size > MAX_MANIFEST_BYTES as u64 {
        return Err(format!(
            "listed as {} bytes, more than the {MAX_MANIFEST_BYTES} bytes pinsign reads for a manifest; not fetched",
            entry.size
        ));
    }
    Ok(kind)
}

async fn fetch_entry(
    registry: &Registry,
    image: &PinnedImage,
    repo: &Repository,
    listing: &Listing,
    entry: &ReferrerEntry,
    kind: Kind,
    out: &mut Referrers,
) -> anyhow::Result<()> {
    let location = format!("{repo}@{}", entry.digest);
    let skip = |out: &mut Referrers, reason: String| {
        out.skipped.push(Skipped {
            location: location.clone(),
            reason,
        })
    };
    let manifest = match registry.get_manifest(repo, &entry.digest).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            skip(out, format!("listed, but {repo} does not have it"));
            return Ok(());
        }
        Err(e @ (RegistryError::DigestMismatch { .. } | RegistryError::TooLarge { .. })) => {
            skip(out, format!("not read intact: {e}"));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let found = |item: FoundItem| Found {
        location: location.clone(),
        via: listing.via,
        listed_in: listing.index_ref().map(str::to_string),
        repository: repo.clone(),
        item,
    };
    let as_bundle = if kind == Kind::SigArtifact {
        None
    } else {
        Some(bundle::parse_bundle_referrer(&manifest.bytes))
    };
    match as_bundle {
        Some(Ok(m)) => {
            if m.subject.digest != *image.digest() {
                skip(out, another_image(&m.subject.digest, image));
                return Ok(());
            }
            let bytes = fetch_bundle(registry, repo, &m.layer).await?;
            out.found.push(found(FoundItem::Bundle {
                digest: m.layer.digest.clone(),
                bytes,
            }));
            return Ok(());
        }
        // A bundle referrer whose bundle is larger than pinsign reads: a bundle that fails,
        // its blob not fetched.
        Some(Err(BundleError::TooLarge { size, limit })) => {
            let digest =
                first_layer_digest(&manifest.bytes).unwrap_or_else(|| manifest.digest.clone());
            out.found.push(found(FoundItem::Bundle {
                digest,
                bytes: Err(Refusal::TooLarge { size, limit }),
            }));
            return Ok(());
        }
        Some(Err(e)) if kind == Kind::Bundle => {
            skip(
                out,
                format!("listed as a bundle, but is not a bundle referrer ({e})"),
            );
            return Ok(());
        }
        _ => {}
    }
    // cosign's signature artifact (or an unknown type that may be one).
    let artifact = match signature::parse_referrers_artifact(&manifest.bytes) {
        Ok(a) => a,
        Err(e) => {
            skip(out, format!("not a signature: {e}"));
            return Ok(());
        }
    };
    if artifact.subject.digest != *image.digest() {
        skip(out, another_image(&artifact.subject.digest, image));
        return Ok(());
    }
    for (layer, fetch_error) in fetch_layers(registry, repo, &artifact.layers).await? {
        out.found
            .push(found(FoundItem::Layer { layer, fetch_error }));
    }
    Ok(())
}

fn another_image(subject: &Digest, image: &PinnedImage) -> String {
    format!(
        "a referrer of {subject}, not of {}; not counted for this image",
        image.digest()
    )
}

/// `layers[0].digest` of a manifest, read loosely (for a report on a manifest that was refused).
fn first_layer_digest(bytes: &[u8]) -> Option<Digest> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    Digest::parse(doc.get("layers")?.get(0)?.get("digest")?.as_str()?).ok()
}

/// The bundle blob a referrer names, at most [`bundle::MAX_BUNDLE_BYTES`], checked against its
/// digest and size. A missing or mismatching blob is the bundle's refusal, not an error.
async fn fetch_bundle(
    registry: &Registry,
    repo: &Repository,
    layer: &bundle::BundleLayer,
) -> anyhow::Result<Result<Vec<u8>, Refusal>> {
    match registry
        .get_blob(repo, &layer.digest, bundle::MAX_BUNDLE_BYTES)
        .await
    {
        Ok(bytes) if bytes.len() as u64 == layer.size => Ok(Ok(bytes)),
        Ok(bytes) => Ok(Err(Refusal::Unreadable(format!(
            "the bundle blob is {} bytes, its descriptor says {}",
            bytes.len(),
            layer.size
        )))),
        Err(e @ RegistryError::DigestMismatch { .. }) => Ok(Err(Refusal::Unreadable(format!(
            "bundle blob rejected: {e}"
        )))),
        Err(e @ RegistryError::NotFound { .. }) => Ok(Err(Refusal::Unreadable(format!(
            "bundle blob missing: {e}"
        )))),
        Err(e @ RegistryError::TooLarge { .. }) => Ok(Err(Refusal::Unreadable(format!(
            "bundle blob larger than its descriptor says: {e}"
        )))),
        Err(e) => Err(e.into()),
    }
}

/// Fetch each simple-signing layer's payload blob once per digest, [`FETCH_CONCURRENCY`] at a
/// time. A blob that fails its digest check, is missing, or is larger than a payload may be
/// (by its descriptor, or as it arrives) comes back empty with the reason, so verification
/// reports and skips that layer instead of failing the whole image; anyone who can push could
/// otherwise break verification with one bad layer.
pub(super) async fn fetch_layers(
    registry: &Registry,
    repo: &Repository,
    layers: &[signature::LayerDescriptor],
) -> anyhow::Result<Vec<(FetchedLayer, Option<String>)>> {
    use futures::StreamExt as _;
    let wanted: Vec<&signature::LayerDescriptor> =
        layers.iter().filter(|d| d.is_simplesigning()).collect();
    let mut distinct: Vec<(&Digest, u64)> = Vec::new();
    for d in &wanted {
        if !distinct.iter().any(|(digest, _)| *digest == d.digest()) {
            distinct.push((d.digest(), d.size()));
        }
    }
    let fetched =
        futures::stream::iter(distinct)
            .map(|(digest, size)| async move {
                (digest, fetch_payload(registry, repo, digest, size).await)
            })
            .buffer_unordered(FETCH_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
    let mut blobs: HashMap<&Digest, (Vec<u8>, Option<String>)> = HashMap::new();
    for (digest, result) in fetched {
        blobs.insert(digest, result?);
    }
    Ok(wanted
        .into_iter()
        .map(|descriptor| {
            let (blob, error) = blobs.get(descriptor.digest()).cloned().unwrap_or_default();
            (
                FetchedLayer {
                    descriptor: descriptor.clone(),
                    blob,
                },
                error,
            )
        })
        .collect())
}

/// How many payload blobs of one image are fetched at once.
const FETCH_CONCURRENCY: usize = 16;

/// One payload blob, or why it cannot be read (a per-layer result); `Err` only when the
/// registry fails.
async fn fetch_payload(
    registry: &Registry,
    repo: &Repository,
    digest: &Digest,
    size: u64,
) -> Result<(Vec<u8>, Option<String>), RegistryError> {
    let too_large = |size: String| {
        format!(
            "payload blob {digest} is {size}, more than the {} MiB pinsign reads for a signature payload; not fetched, skipped",
            MAX_PAYLOAD_BYTES >> 20
        )
    };
    if size > MAX_PAYLOAD_BYTES as u64 {
        return Ok((Vec::new(), Some(too_large(format!("{size} bytes")))));
    }
    match registry.get_blob(repo, digest, MAX_PAYLOAD_BYTES).await {
        Ok(b) => Ok((b, None)),
        Err(e @ RegistryError::DigestMismatch { .. }) => {
            Ok((Vec::new(), Some(format!("payload blob rejected: {e}"))))
        }
        Err(e @ RegistryError::NotFound { .. }) => {
            Ok((Vec::new(), Some(format!("payload blob missing: {e}"))))
        }
        // Its descriptor understated it: the registry sent more than a payload may be.
        Err(RegistryError::TooLarge { .. }) => Ok((
            Vec::new(),
            Some(too_large("larger than its descriptor says".into())),
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(artifact_type: Option<&str>, digest: &str, size: u64) -> ReferrerEntry {
        let mut json = serde_json::json!({
            "mediaType": crate::media_types::OCI_MANIFEST,
            "digest": digest,
            "size": size,
        });
        if let Some(t) = artifact_type {
            json["artifactType"] = t.into();
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::media_types::OCI_INDEX,
            "manifests": [json],
        });
        let parsed = bundle::parse_referrers_index(index.to_string().as_bytes()).unwrap();
        parsed.entries()[0].clone()
    }

    #[test]
    fn what_is_fetched_from_a_referrers_list() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let kind = |t: Option<&str>, digest: &str, size: u64| candidate(&entry(t, digest, size));
        assert_eq!(
            kind(Some(crate::media_types::BUNDLE_V03), &d, 700),
            Ok(Kind::Bundle)
        );
        assert_eq!(
            kind(
                Some("application/vnd.dev.sigstore.bundle+json;version=0.2"),
                &d,
                700
            ),
            Ok(Kind::Bundle)
        );
        assert_eq!(kind(Some(SIG_ARTIFACT), &d, 700), Ok(Kind::SigArtifact));
        assert_eq!(kind(None, &d, 700), Ok(Kind::Unknown));
        assert_eq!(kind(Some(OCI_EMPTY), &d, 700), Ok(Kind::Unknown));
        let sbom = kind(Some("application/spdx+json"), &d, 700).unwrap_err();
        assert!(
            sbom.contains("application/spdx+json is not a signature"),
            "{sbom}"
        );
        let big = kind(Some(crate::media_types::BUNDLE_V03), &d, 5 << 20).unwrap_err();
        assert!(
            big.contains("5242880 bytes") && big.contains("not fetched"),
            "{big}"
        );
        let other = kind(Some(crate::media_types::BUNDLE_V03), "sha512:abcd", 10).unwrap_err();
        assert!(other.contains("not a sha256 digest"), "{other}");
    }
}
