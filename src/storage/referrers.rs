//! cosign's OCI 1.1 signature referrer: one artifact per signature, pushed by digest with
//! `subject` = the signed image, so nothing is ever overwritten (no settle: nothing can race);
//! and `--mode both`, the artifact and the `.sig` tag.

use super::{push_blobs_concurrently, Format, Stored, Via};
use crate::media_types::SIG_ARTIFACT;
use crate::registry::Registry;
use crate::signature::{self, SignatureLayer};

/// Push a referrers artifact holding one signature layer, with `subject` = the layer's
/// image. Checks first that the registry has the referrers API, so nothing is written to a
/// registry where no verifier could find it.
pub async fn store_as_referrer(
    registry: &Registry,
    layer: &SignatureLayer,
) -> anyhow::Result<Stored> {
    let image = layer.image();
    let repo = image.repository();
    let existing = registry
        .referrers(repo, image.digest(), Some(SIG_ARTIFACT))
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot sign {image} in referrers mode"))
        })?;
    let artifact = signature::referrers_artifact(layer);
    let signature_ref = format!("{repo}@{}", artifact.digest);
    if existing
        .iter()
        .any(|e| e.digest == artifact.digest.as_str())
    {
        return Ok(Stored {
            signature_ref,
            manifest_digest: artifact.digest,
            layers: 1,
            changed: false,
            format: Format::SimpleSigning,
            via: Via::ReferrersApi,
            index: None,
            warnings: Vec::new(),
        });
    }
    push_blobs_concurrently(registry, repo, &artifact.blobs).await?;
    registry
        .put_manifest(
            repo,
            artifact.digest.as_str(),
            artifact.media_type,
            &artifact.manifest,
        )
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot write {signature_ref}")))?;
    Ok(Stored {
        signature_ref,
        manifest_digest: artifact.digest,
        layers: 1,
        changed: true,
        format: Format::SimpleSigning,
        via: Via::ReferrersApi,
        index: None,
        warnings: Vec::new(),
    })
}

/// `--mode both`: the referrers artifact first (pushed by digest, it can never be lost), then
/// the `.sig` tag, merging in the layers of every signature referrer of the image while it
/// settles, so the last signer to finish puts back whatever a late write dropped from the tag
/// (see [`super::tag`]). A registry without the referrers API is refused before anything is
/// written. Returns the artifact, then the tag.
pub async fn store_both(
    registry: &Registry,
    layer: &SignatureLayer,
) -> anyhow::Result<[Stored; 2]> {
    let artifact = store_as_referrer(registry, layer).await?;
    let tag = super::tag::store_in_tag_healing(registry, layer).await?;
    Ok([artifact, tag])
}
