/*!
Checking an image's signatures the way Kyverno's cosign verifier does: find every signature
stored for the pinned digest (the `.sig` tag and/or the referrers API), and judge each with
the public keys. `verify`, `policy check` and `rotate` all ask through [`verify`].

An image passes when at least one signature verifies with one of the keys, names the
image's digest, has cosign's payload type and carries every required annotation. Finding
nothing is a result ("unsigned"), not a registry failure.
*/

use std::collections::BTreeMap;

use crate::keys::PublicKey;
use crate::reference::Repository;
use crate::registry::{PinnedImage, Registry, RegistryError};
use crate::signature::{self, SignatureCheck};
use crate::signing::Placement;
use crate::storage::{self, Found};

/// Where to look for signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The `.sig` tag, in the image's repository or in `repository`.
    Tag { repository: Option<Repository> },
    /// The OCI 1.1 referrers API.
    Referrers,
    /// Both; a registry without the referrers API is then simply not asked.
    Any { repository: Option<Repository> },
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup::Tag { repository: None }
    }
}

/// One signature found, with the verdict on it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    /// `REG/REPO:sha256-<hex>.sig` or `REG/REPO@sha256:<artifact>`.
    pub location: String,
    /// Where it was found, as data: what `rotate` re-signs into.
    #[serde(skip)]
    pub place: Place,
    #[serde(flatten)]
    pub check: SignatureCheck,
}

/// Where a signature was found, in terms a signer can write to again: `rotate` appends the
/// new key's signature in the same place as the old one ([`Place::placement`]). A later
/// signature format (Sigstore bundles) adds its own variant here, so "the same place and
/// format" stays one match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A layer of the `sha256-<hex>.sig` tag in `repository` (the image's own, or the
    /// signature repository).
    Tag { repository: Repository },
    /// A cosign signature artifact found through the referrers API.
    Referrers,
}

impl Place {
    /// The placement that writes a signature for `image` into this place.
    pub fn placement(&self, image: &PinnedImage) -> Placement {
        match self {
            Place::Tag { repository } if repository == image.repository() => {
                Placement::Tag { repository: None }
            }
            Place::Tag { repository } => Placement::Tag {
                repository: Some(repository.clone()),
            },
            Place::Referrers => Placement::Referrers,
        }
    }

    /// How a report names the place: the `.sig` tag, or "referrers".
    pub fn describe(&self, image: &PinnedImage) -> String {
        match self {
            Place::Tag { repository } => format!("{repository}:{}", image.signature_tag()),
            Place::Referrers => format!("{image} (referrers)"),
        }
    }
}

/// Every signature found for an image, each judged.
#[derive(Debug, Clone)]
pub struct Verification {
    pub signatures: Vec<Checked>,
    /// Where pinsign looked, for "no signatures found ... (looked in ...)".
    pub places: Vec<String>,
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

/// Find and judge the signatures of `image`. Errors only when the registry fails; an
/// image without signatures gives an empty [`Verification`].
pub async fn verify(
    registry: &Registry,
    image: &PinnedImage,
    keys: &[PublicKey],
    required: &BTreeMap<String, String>,
    lookup: &Lookup,
) -> anyhow::Result<Verification> {
    let mut found: Vec<(Place, Found)> = Vec::new();
    let mut places = Vec::new();
    let tag_repo = match lookup {
        Lookup::Tag { repository } | Lookup::Any { repository } => {
            Some(repository.as_ref().unwrap_or(image.repository()))
        }
        Lookup::Referrers => None,
    };
    if let Some(repo) = tag_repo {
        places.push(format!("{repo}:{}", image.signature_tag()));
        if let Some(layers) = storage::fetch_from_tag(registry, image, repo).await? {
            let place = Place::Tag {
                repository: repo.clone(),
            };
            found.extend(layers.into_iter().map(|f| (place.clone(), f)));
        }
    }
    if matches!(lookup, Lookup::Referrers | Lookup::Any { .. }) {
        places.push(format!("the referrers of {image}"));
        match storage::fetch_from_referrers(registry, image).await {
            Ok(layers) => found.extend(layers.into_iter().map(|f| (Place::Referrers, f))),
            Err(e) if matches!(lookup, Lookup::Any { .. }) && referrers_unsupported(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let signatures = found
        .into_iter()
        .map(|(place, f)| {
            let mut check = signature::verify_layer(image.digest(), &f.layer, keys, required);
            if let Some(e) = f.fetch_error {
                check.verified = false;
                check.reason = Some(e);
            }
            Checked {
                location: f.location,
                place,
                check,
            }
        })
        .collect();
    Ok(Verification { signatures, places })
}

fn referrers_unsupported(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<RegistryError>(),
            Some(RegistryError::ReferrersUnsupported { .. })
        )
    })
}
