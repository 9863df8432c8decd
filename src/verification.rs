/*!
Checking an image's signatures the way cosign's and Kyverno's verifiers do: find every signature
stored for the pinned digest, in both formats, and judge each with the public keys. `verify`,
`policy check` and `rotate` all ask through [`verify`] (or [`verify_with`]).

Where signatures are looked for ([`Lookup`]):

- the `.sig` tag (cosign's simple signing), in the image's repository or a signature repository;
- the referrers of the digest: cosign's `artifact.sig.v1` artifacts and Sigstore bundles (cosign
  v3), listed by the registry's referrers API, or by the referrers tag index (`sha256-<hex>`) on
  a registry without one; in the image's repository, and in the signature repository too when
  one is given (cosign v3.1 keeps bundles there).

A simple-signing signature passes when it verifies with one of the keys, names the image's
digest, has cosign's payload type and carries every required annotation
([`crate::signature::verify_layer`]). A bundle passes when it is a known bundle version, its
DSSE signature verifies over PAE with one of the keys, its in-toto statement names the image's
digest, its predicate type is cosign's sign predicate (or the one asked for) and its subject
carries every required annotation ([`crate::bundle::verify_image_bundle`]). An image passes when
at least one signature passes. Finding nothing is a result ("unsigned"), not a registry failure;
what a referrers list holds besides signatures is reported as [`Skipped`].
*/

use std::collections::{BTreeMap, HashSet};

use crate::bundle::{self, BundleCheck, ImagePolicy, COSIGN_SIGN_PREDICATE_TYPE};
use crate::keyless::{self, KeylessTrust, KeylessVerified};
use crate::keys::PublicKey;
use crate::reference::Repository;
use crate::registry::{PinnedImage, Registry};
use crate::signature::{self, LayerKey, SignatureCheck};
use crate::signing::Placement;
use crate::storage::{self, Found, FoundItem};
pub use crate::storage::{Format, ReferrersVia, Skipped, Via};

/// Where to look for signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// What tags hold: the `.sig` tag (in the image's repository, or in `repository`) and the
    /// referrers tag index (`sha256-<hex>`, in the image's repository and in `repository`).
    /// No referrers API call.
    Tag { repository: Option<Repository> },
    /// The OCI 1.1 referrers API only (signature artifacts and bundles); a registry without it
    /// is an error.
    Referrers,
    /// Everything (the default): the `.sig` tag, and the referrers through the API or, on a
    /// registry without one, the referrers tag index.
    Any { repository: Option<Repository> },
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup::Any { repository: None }
    }
}

/// What a bundle said about itself, besides what [`SignatureCheck`] holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BundleInfo {
    /// The bundle's `mediaType` (its version).
    pub media_type: Option<String>,
    /// The statement's `predicateType`.
    pub predicate_type: Option<String>,
    /// The sha256 digests the statement's subjects name.
    pub subjects: Vec<String>,
    /// Why it was refused, as a stable name (`wrong-key`, `other-digest`, `unknown-predicate`,
    /// `malformed`, ...; see [`bundle::Refusal::kind`]).
    pub reason_kind: Option<&'static str>,
}

/// One signature found, with the verdict on it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    /// The manifest holding it: `REG/REPO:sha256-<hex>.sig` or `REG/REPO@sha256:<referrer>`.
    pub location: String,
    /// For a bundle: `layer_digest` is the bundle blob's digest, `payload` the in-toto
    /// statement, `annotations` the statement subject's.
    #[serde(flatten)]
    pub check: SignatureCheck,
    /// `simplesigning` or `bundle`.
    pub format: Format,
    /// How it was found: `sig-tag`, `referrers-api` or `referrers-tag`.
    pub via: Via,
    /// The referrers tag index that listed it (`REG/REPO:sha256-<hex>`), with `referrers-tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_in: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleInfo>,
    /// For a keyless signature that verified: who signed, when, in which log, and every check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessVerified>,
    /// Where a new signature of this kind goes to sit beside this one (rotation re-signs there).
    #[serde(skip)]
    pub placement: Placement,
}

/// Every signature found for an image, each judged.
#[derive(Debug, Clone)]
pub struct Verification {
    pub signatures: Vec<Checked>,
    /// Where pinsign looked, for "no signatures found ... (looked in ...)".
    pub places: Vec<String>,
    /// What the referrers lists held that is not a signature of this image, and why.
    pub skipped: Vec<Skipped>,
    /// Simple-signing signatures found as referrers that the existing `.sig` tag lacks.
    pub missing_from_tag: Option<MissingFromTag>,
}

/// Simple-signing signatures stored as referrers (`--mode both`, `--mode referrers`) that the
/// image's `.sig` tag, which exists, does not hold: Kyverno's default verifier reads only the
/// tag, so it does not see them. `sign-digest --repair` merges them in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingFromTag {
    /// The `.sig` tag: `REG/REPO:sha256-<hex>.sig`.
    pub tag: String,
    /// Their positions in [`Verification::signatures`].
    #[serde(skip)]
    pub signatures: Vec<usize>,
    /// Their locations (the referrer manifests).
    pub locations: Vec<String>,
}

impl Verification {
    /// True when at least one signature passed every check.
    pub fn verified(&self) -> bool {
        self.signatures.iter().any(|s| s.check.verified)
    }

    /// The signatures that passed.
    pub fn valid(&self) -> impl Iterator<Item = &Checked> {
        self.signatures.iter().filter(|s| s.check.verified)
    }
}

/// What an image's signatures must satisfy, and where to look.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    pub keys: &'a [PublicKey],
    /// `-a KEY=VALUE`: in a simple-signing payload's `optional`, in a bundle subject's
    /// `annotations`.
    pub required: &'a BTreeMap<String, String>,
    pub lookup: &'a Lookup,
    /// The predicate type a bundle's statement must have (cosign's sign predicate by default).
    pub predicate_type: &'a str,
    /// Keyless instead of keys: who must have signed, and the trust root to check against.
    pub keyless: Option<&'a KeylessTrust>,
}

/// Find and judge the signatures of `image`, bundles with cosign's sign predicate. Errors only
/// when the registry fails; an image without signatures gives an empty [`Verification`].
pub async fn verify(
    registry: &Registry,
    image: &PinnedImage,
    keys: &[PublicKey],
    required: &BTreeMap<String, String>,
    lookup: &Lookup,
) -> anyhow::Result<Verification> {
    verify_with(
        registry,
        image,
        &VerifyOptions {
            keys,
            required,
            lookup,
            predicate_type: COSIGN_SIGN_PREDICATE_TYPE,
            keyless: None,
        },
    )
    .await
}

/// [`verify`] with every option.
pub async fn verify_with(
    registry: &Registry,
    image: &PinnedImage,
    opts: &VerifyOptions<'_>,
) -> anyhow::Result<Verification> {
    let image_repo = image.repository();
    let (sig_repo, how) = match opts.lookup {
        Lookup::Tag { repository } => (Some(repository.as_ref()), ReferrersVia::Tag),
        Lookup::Any { repository } => (Some(repository.as_ref()), ReferrersVia::Auto),
        Lookup::Referrers => (None, ReferrersVia::Api),
    };
    let mut found: Vec<Found> = Vec::new();
    let mut places = Vec::new();
    let mut skipped = Vec::new();
    // The `.sig` tag and the signatures it holds, when it exists.
    let mut in_tag: Option<(String, HashSet<LayerKey>)> = None;
    if let Some(repository) = sig_repo {
        let repo = repository.unwrap_or(image_repo);
        let place = format!("{repo}:{}", image.signature_tag());
        places.push(place.clone());
        if let Some(layers) = storage::fetch_from_tag(registry, image, repo).await? {
            let keys = layers.iter().filter_map(layer_key).collect();
            in_tag = Some((place, keys));
            found.extend(layers);
        }
    }
    let mut referrer_repos = vec![image_repo];
    if let Some(Some(r)) = sig_repo {
        if r != image_repo {
            referrer_repos.push(r);
        }
    }
    for repo in referrer_repos {
        let listed = storage::fetch_referrers(registry, image, repo, how).await?;
        places.push(listed.place);
        found.extend(listed.found);
        skipped.extend(listed.skipped);
    }
    let policy = ImagePolicy::new(opts.keys)
        .with_predicate_type(opts.predicate_type)
        .with_annotations(opts.required);
    let missing: Vec<usize> = match &in_tag {
        Some((_, keys)) => found
            .iter()
            .enumerate()
            .filter(|(_, f)| f.via != Via::SigTag)
            .filter(|(_, f)| layer_key(f).is_some_and(|k| !keys.contains(&k)))
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    };
    let missing_from_tag = in_tag
        .filter(|_| !missing.is_empty())
        .map(|(tag, _)| MissingFromTag {
            tag,
            locations: missing.iter().map(|&i| found[i].location.clone()).collect(),
            signatures: missing,
        });
    let signatures = found
        .into_iter()
        .map(|f| judge(image, f, opts, &policy))
        .collect();
    Ok(Verification {
        signatures,
        places,
        skipped,
        missing_from_tag,
    })
}

fn judge(
    image: &PinnedImage,
    found: Found,
    opts: &VerifyOptions<'_>,
    policy: &ImagePolicy<'_>,
) -> Checked {
    let format = found.format();
    let placement = placement_of(image, &found);
    let mut keyless = None;
    let (check, bundle) = match (found.item, opts.keyless) {
        (FoundItem::Layer { layer, fetch_error }, trust) => {
            let mut check = match trust {
                Some(trust) => {
                    let (check, verified) =
                        keyless::judge_layer(image.digest(), &layer, trust, opts.required);
                    keyless = verified;
                    check
                }
                None => signature::verify_layer(image.digest(), &layer, opts.keys, opts.required),
            };
            if let Some(e) = fetch_error {
                check.verified = false;
                check.reason = Some(e);
                keyless = None;
            }
            (check, None)
        }
        (FoundItem::Bundle { digest, bytes }, Some(trust)) => {
            let (check, info, verified) =
                judge_keyless_bundle(image.digest(), digest, bytes, trust, opts);
            keyless = verified;
            (check, Some(info))
        }
        (FoundItem::Bundle { digest, bytes }, None) => {
            let (check, info) = keyed_bundle(digest, bytes, image.digest(), policy);
            (check, Some(info))
        }
    };
    Checked {
        location: found.location,
        check,
        format,
        via: found.via,
        listed_in: found.listed_in,
        bundle,
        keyless,
        placement,
    }
}

/// Judge a bundle given as a file (`verify --bundle FILE`) as a signature of `image_digest`,
/// with the keys or keyless, exactly as a bundle found in a registry is judged.
pub fn judge_bundle_file(
    image_digest: &crate::reference::Digest,
    location: &str,
    bytes: &[u8],
    opts: &VerifyOptions<'_>,
) -> Checked {
    let digest = crate::reference::Digest::of(bytes);
    let (check, info, keyless) = match opts.keyless {
        Some(trust) => judge_keyless_bundle(image_digest, digest, Ok(bytes.to_vec()), trust, opts),
        None => {
            let policy = ImagePolicy::new(opts.keys)
                .with_predicate_type(opts.predicate_type)
                .with_annotations(opts.required);
            let (check, info) = keyed_bundle(digest, Ok(bytes.to_vec()), image_digest, &policy);
            (check, info, None)
        }
    };
    Checked {
        location: location.to_string(),
        check,
        format: Format::Bundle,
        via: Via::File,
        listed_in: None,
        bundle: Some(info),
        keyless,
        placement: Placement::default(),
    }
}

/// A bundle judged with keys ([`bundle::verify_image_bundle`]).
fn keyed_bundle(
    digest: crate::reference::Digest,
    bytes: Result<Vec<u8>, bundle::Refusal>,
    image_digest: &crate::reference::Digest,
    policy: &ImagePolicy<'_>,
) -> (SignatureCheck, BundleInfo) {
    let check = match bytes {
        Ok(bytes) => bundle::verify_image_bundle(&bytes, image_digest, policy),
        Err(refusal) => BundleCheck::refused(digest.clone(), refusal),
    };
    let info = BundleInfo {
        media_type: check.media_type.clone(),
        predicate_type: check.predicate_type.clone(),
        subjects: check.subjects.clone(),
        reason_kind: check.reason_kind,
    };
    let check = SignatureCheck {
        layer_digest: digest,
        key: check.key,
        key_source: check.key_source,
        annotations: check.annotations,
        verified: check.verified,
        reason: check.reason,
        payload: check.statement,
    };
    (check, info)
}

/// A bundle judged keyless: its certificate, tlog entry and signature through the keyless
/// checks, then its statement ([`keyless::verify_bundle`]).
fn judge_keyless_bundle(
    image_digest: &crate::reference::Digest,
    digest: crate::reference::Digest,
    bytes: Result<Vec<u8>, bundle::Refusal>,
    trust: &KeylessTrust,
    opts: &VerifyOptions<'_>,
) -> (SignatureCheck, BundleInfo, Option<KeylessVerified>) {
    let mut check = SignatureCheck {
        layer_digest: digest,
        key: None,
        key_source: None,
        annotations: BTreeMap::new(),
        verified: false,
        reason: None,
        payload: serde_json::Value::Null,
    };
    let mut info = BundleInfo {
        media_type: None,
        predicate_type: None,
        subjects: Vec::new(),
        reason_kind: None,
    };
    let parsed = bytes.and_then(|b| bundle::Bundle::parse(&b).map_err(bundle::Refusal::from));
    let parsed = match parsed {
        Ok(b) => b,
        Err(refusal) => {
            info.reason_kind = Some(refusal.kind());
            check.reason = Some(refusal.to_string());
            return (check, info, None);
        }
    };
    info.media_type = Some(parsed.media_type().to_string());
    if let Some(envelope) = parsed.dsse_envelope() {
        check.payload = serde_json::from_slice(&envelope.payload).unwrap_or_default();
        if let Ok(statement) = bundle::Statement::parse(&envelope.payload) {
            info.predicate_type = Some(statement.predicate_type.clone());
            info.subjects = statement.subject_digests();
            if let Some(subject) = statement.subject_for(image_digest) {
                check.annotations = subject.annotations_text();
            }
        }
    }
    let subject = keyless::BundleSubject::Image {
        digest: image_digest,
        predicate_type: opts.predicate_type,
        annotations: opts.required,
    };
    match keyless::verify_bundle(&parsed, subject, &trust.root, &trust.policy) {
        Ok(verified) => {
            check.verified = true;
            (check, info, Some(verified))
        }
        Err(e) => {
            info.reason_kind = Some("keyless");
            check.reason = Some(e.to_string());
            (check, info, None)
        }
    }
}

/// The identity of a simple-signing signature found (payload digest and signature).
fn layer_key(found: &Found) -> Option<LayerKey> {
    match &found.item {
        FoundItem::Layer { layer, .. } => Some(layer.descriptor.key()),
        FoundItem::Bundle { .. } => None,
    }
}

/// Where a new signature goes to sit beside `found`.
fn placement_of(image: &PinnedImage, found: &Found) -> Placement {
    let repository = (found.repository != *image.repository()).then(|| found.repository.clone());
    match (found.format(), found.via) {
        (Format::SimpleSigning, Via::SigTag) => Placement::Tag { repository },
        (Format::SimpleSigning, _) => Placement::Referrers,
        (Format::Bundle, Via::ReferrersTag) => Placement::Bundle {
            via: ReferrersVia::Tag,
            repository,
        },
        (Format::Bundle, _) => Placement::Bundle {
            via: ReferrersVia::Api,
            repository,
        },
    }
}
