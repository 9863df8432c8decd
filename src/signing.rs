/*!
Making signatures: the one path from a key and a pinned image to a signature stored in the
registry. `sign-digest`, `build-push --sign` and `rotate` all sign through [`Signer`].

Two formats, chosen by the [`Placement`]: cosign's simple signing (the `.sig` tag, or an
`artifact.sig.v1` referrer) and the Sigstore bundle `cosign sign --key --tlog-upload=false`
(v3) writes ([`crate::bundle::image_bundle`], attached by [`crate::storage::store_bundle`]).

It takes only a [`PinnedImage`], which only the registry can make, so a tag never reaches
it. Options are plain data ([`SignOptions`]); the key is loaded once per process (scrypt is
the slowest part of a signature) and shared by every image of a batch.
*/

use std::collections::BTreeMap;

use crate::bundle;
use crate::keys::{PasswordSource, PublicKey, SigningKey};
use crate::reference::{Digest, Repository};
use crate::registry::{PinnedImage, Registry};
use crate::signature::SignatureLayer;
use crate::storage::{self, Stored};
pub use crate::storage::{Format, ReferrersVia, Via};

/// Where a signature goes (and, for one found by `verification`, where it sits: rotation
/// writes the new key's signature into the same placement as the old one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placement {
    /// The `sha256-<hex>.sig` tag, in the image's repository or in `repository` (cosign's
    /// `COSIGN_REPOSITORY`).
    Tag { repository: Option<Repository> },
    /// An OCI 1.1 referrers artifact beside the image (it has no repository of its own: a
    /// referrer must live where its subject is).
    Referrers,
    /// Both (`--mode both`): the referrers artifact, then the `.sig` tag in the image's
    /// repository, merging in every signature referrer of the image while it settles, so the
    /// last signer to finish restores what a late write dropped from the tag. Needs the
    /// referrers API.
    Both,
    /// A Sigstore bundle (cosign v3's format): a referrer manifest in the image's repository
    /// or in `repository` (cosign v3.0.5 and later write to `COSIGN_REPOSITORY`, v3.1.0 and
    /// later read from it), listed through the referrers API or the referrers tag index as
    /// `via` says.
    Bundle {
        via: ReferrersVia,
        repository: Option<Repository>,
    },
}

impl Default for Placement {
    fn default() -> Self {
        Placement::Tag { repository: None }
    }
}

impl Placement {
    /// How a report names the placement for `image`.
    pub fn describe(&self, image: &PinnedImage) -> String {
        let repo = |r: &Option<Repository>| r.clone().unwrap_or_else(|| image.repository().clone());
        match self {
            Placement::Tag { repository } => {
                format!("{}:{}", repo(repository), image.signature_tag())
            }
            Placement::Referrers => format!("{image} (referrers)"),
            Placement::Both => format!(
                "{}:{} and {image} (referrers)",
                image.repository(),
                image.signature_tag()
            ),
            Placement::Bundle {
                via: ReferrersVia::Tag,
                repository,
            } => format!(
                "{}:{} (bundle, referrers tag)",
                repo(repository),
                crate::reference::Tag::referrers_of(image.digest())
            ),
            Placement::Bundle { repository, .. } => {
                format!(
                    "{}@{} (bundle, referrers)",
                    repo(repository),
                    image.digest()
                )
            }
        }
    }

    /// The repository a write for `image` touches (for push tokens).
    pub fn repository_for<'a>(&'a self, image: &'a Repository) -> &'a Repository {
        match self {
            Placement::Tag {
                repository: Some(r),
            }
            | Placement::Bundle {
                repository: Some(r),
                ..
            } => r,
            _ => image,
        }
    }

    /// The format written here.
    pub fn format(&self) -> Format {
        match self {
            Placement::Tag { .. } | Placement::Referrers | Placement::Both => Format::SimpleSigning,
            Placement::Bundle { .. } => Format::Bundle,
        }
    }
}

/// What a signing run needs: plain data the CLI fills in.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The private key: a file path or `env://VAR`.
    pub key: String,
    pub password: PasswordSource,
    /// `-a KEY=VALUE`: the payload's `optional` map (in a bundle: the statement subject's
    /// `annotations`).
    pub annotations: BTreeMap<String, String>,
    pub placement: Placement,
    /// On an index, also sign every child manifest.
    pub recursive: bool,
}

/// A loaded key plus what every signature of this run carries and where it goes.
pub struct Signer {
    key: SigningKey,
    annotations: BTreeMap<String, String>,
    placement: Placement,
    recursive: bool,
}

/// What happened to an image or one of its signatures (`status` in JSON output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A new signature was stored.
    Signed,
    /// The same signature was already stored; nothing was written.
    Unchanged,
    /// The image could not be signed (see `error`).
    Failed,
}

/// One signature written (or found already there).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    pub pinned: PinnedImage,
    pub digest: Digest,
    pub signature_ref: String,
    pub signature_manifest_digest: Digest,
    pub layers: usize,
    /// `signed`, or `unchanged` when the same signature was already stored.
    pub status: Status,
    /// `simplesigning` or `bundle`.
    pub format: Format,
    /// How verifiers find it: `sig-tag`, `referrers-api` or `referrers-tag`.
    pub via: Via,
    /// The referrers tag index listing it (`REG/REPO:sha256-<hex>`), with `referrers-tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// What the user should know about this write (dropped layers whose blobs are gone, a
    /// write that landed late).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Signed {
    fn new(image: &PinnedImage, stored: Stored) -> Signed {
        Signed {
            pinned: image.clone(),
            digest: image.digest().clone(),
            signature_ref: stored.signature_ref,
            signature_manifest_digest: stored.manifest_digest,
            layers: stored.layers,
            status: if stored.changed {
                Status::Signed
            } else {
                Status::Unchanged
            },
            format: stored.format,
            via: stored.via,
            index: stored.index,
            warnings: stored.warnings,
        }
    }

    /// `signed REG/REPO@sha256:... (signature REF[, already there])`; for a bundle
    /// `(bundle REF via the referrers API|listed in REG/REPO:sha256-<hex>[, already there])`.
    pub fn text_line(&self) -> String {
        let note = if self.status == Status::Unchanged {
            ", already there"
        } else {
            ""
        };
        match (self.format, &self.index) {
            (Format::SimpleSigning, _) => format!(
                "signed {} (signature {}{note})",
                self.pinned, self.signature_ref
            ),
            (Format::Bundle, Some(index)) => format!(
                "signed {} (bundle {} listed in {index}{note})",
                self.pinned, self.signature_ref
            ),
            (Format::Bundle, None) => format!(
                "signed {} (bundle {} via the referrers API{note})",
                self.pinned, self.signature_ref
            ),
        }
    }
}

impl Signer {
    /// Load the key (asking for its password if needed) for these options.
    pub fn load(opts: SignOptions) -> anyhow::Result<Signer> {
        let key = SigningKey::load(&opts.key, &opts.password)?;
        Ok(Signer {
            key,
            annotations: opts.annotations,
            placement: opts.placement,
            recursive: opts.recursive,
        })
    }

    /// A signer for a key already in memory (`rotate --new-key-prefix` signs with the key it
    /// has just generated and written), with no annotations of its own.
    pub fn from_key(key: SigningKey, placement: Placement) -> Signer {
        Signer {
            key,
            annotations: BTreeMap::new(),
            placement,
            recursive: false,
        }
    }

    /// The public half of the signing key (to compare keys and name them in reports).
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Tell the registry which repositories this run will push to, so their tokens are
    /// fetched with push rights the first time.
    pub fn announce(&self, registry: &Registry, image: &Repository) {
        registry.will_push(self.placement.repository_for(image));
    }

    /// Sign `image` and, with `recursive` on an index, every child manifest.
    pub async fn sign(
        &self,
        registry: &Registry,
        image: &PinnedImage,
    ) -> anyhow::Result<Vec<Signed>> {
        let mut targets = vec![image.clone()];
        if self.recursive && image.is_index() {
            targets.extend(registry.index_children(image).await?);
        }
        let mut signed = Vec::with_capacity(targets.len());
        for target in &targets {
            if self.placement == Placement::Both {
                let layer = SignatureLayer::sign(target, &self.annotations, &self.key);
                let stored = storage::store_both(registry, &layer).await?;
                signed.extend(stored.map(|s| Signed::new(target, s)));
            } else {
                signed.push(self.sign_at(registry, target, &self.placement).await?);
            }
        }
        Ok(signed)
    }

    /// Make the simple-signing signatures [`Signer::sign`] would store for `image` (and, with
    /// `recursive` on an index, its children), without storing anything: `sign-digest
    /// --upload=false --output-signature` hands them to another system. ECDSA here is
    /// deterministic (RFC 6979), so they are the very signatures an upload would store.
    pub async fn sign_detached(
        &self,
        registry: &Registry,
        image: &PinnedImage,
    ) -> anyhow::Result<Vec<SignatureLayer>> {
        let mut targets = vec![image.clone()];
        if self.recursive && image.is_index() {
            targets.extend(registry.index_children(image).await?);
        }
        Ok(targets
            .iter()
            .map(|t| SignatureLayer::sign(t, &self.annotations, &self.key))
            .collect())
    }

    /// Sign one pinned manifest and store the signature at `placement` (rotation stores
    /// a new signature where the old one was found).
    pub async fn sign_at(
        &self,
        registry: &Registry,
        image: &PinnedImage,
        placement: &Placement,
    ) -> anyhow::Result<Signed> {
        self.sign_with(registry, image, placement, &self.annotations)
            .await
    }

    /// [`Signer::sign_at`] with these payload annotations instead of the signer's own:
    /// rotation gives the new signature the `optional` map of the old one it replaces, so
    /// a policy that requires an annotation keeps admitting the image.
    pub async fn sign_with(
        &self,
        registry: &Registry,
        image: &PinnedImage,
        placement: &Placement,
        annotations: &BTreeMap<String, String>,
    ) -> anyhow::Result<Signed> {
        let stored = match placement {
            Placement::Tag { repository } => {
                let layer = SignatureLayer::sign(image, annotations, &self.key);
                storage::store_in_tag(registry, &layer, repository.as_ref()).await?
            }
            Placement::Referrers => {
                let layer = SignatureLayer::sign(image, annotations, &self.key);
                storage::store_as_referrer(registry, &layer).await?
            }
            // Both are written; the result named is the tag's.
            Placement::Both => {
                let layer = SignatureLayer::sign(image, annotations, &self.key);
                let [_, tag] = storage::store_both(registry, &layer).await?;
                tag
            }
            Placement::Bundle { via, repository } => {
                let built = bundle::image_bundle(image.digest(), annotations, &self.key);
                storage::store_bundle(registry, image, &built, *via, repository.as_ref()).await?
            }
        };
        Ok(Signed::new(image, stored))
    }
}
