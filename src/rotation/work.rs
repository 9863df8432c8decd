//! One image's rotation or prune: the registry I/O around the pure [`super::plan`].
//!
//! Errors are returned, not formatted: the command adds flag advice and puts them in the
//! report. Whatever was done before an error is already in the report.

use std::collections::BTreeMap;

use crate::keys::PublicKey;
use crate::reference::Repository;
use crate::registry::{PinnedImage, Registry};
use crate::signing::Signer;
use crate::storage::{self, PruneKeys, PruneOutcome};
use crate::verification::{self, Lookup};

use super::plan::{self, Decision, KeyIds};
use super::report::{ImageReport, Resigned, Status};

/// What every image of a rotation needs.
pub struct Rotation {
    pub registry: Registry,
    pub old: PublicKey,
    /// Signs with the new key (never used in a dry run).
    pub signer: Signer,
    pub new: PublicKey,
    pub ids: KeyIds,
    /// `--signature-repo`: where `.sig` tags are looked for (and so written).
    pub signature_repo: Option<Repository>,
    pub dry_run: bool,
}

/// What every image of a prune needs.
pub struct Prune {
    pub registry: Registry,
    pub old: PublicKey,
    pub new: PublicKey,
    pub ids: KeyIds,
    pub signature_repo: Option<Repository>,
    pub dry_run: bool,
}

/// Signatures are looked for everywhere a verifier might: the `.sig` tag (in the signature
/// repository, if one is given) and the referrers API where the registry has one.
fn lookup(signature_repo: &Option<Repository>) -> Lookup {
    Lookup::Any {
        repository: signature_repo.clone(),
    }
}

impl Rotation {
    /// Re-sign `image` with the new key where the old key's signature verifies now.
    pub async fn rotate(
        &self,
        image: &PinnedImage,
        report: &mut ImageReport,
    ) -> anyhow::Result<()> {
        let lookup = lookup(&self.signature_repo);
        let none = BTreeMap::new();
        let keys = [self.old.clone(), self.new.clone()];
        let found = verification::verify(&self.registry, image, &keys, &none, &lookup).await?;
        report.old_verified = Some(plan::old_verified(&found.signatures, &self.ids));
        let new_now = found
            .valid()
            .any(|s| s.check.key.as_deref() == Some(self.ids.new.as_str()));
        report.new_verified = Some(new_now);
        let targets = match plan::decide(&found.signatures, &found.places, &self.ids) {
            Decision::Skip { reason } => {
                report.status = Status::Skipped;
                report.reason = Some(reason);
                return Ok(());
            }
            Decision::AlreadyRotated => {
                report.status = Status::AlreadyRotated;
                return Ok(());
            }
            Decision::Resign { targets } => targets,
        };
        if self.dry_run {
            report.re_signed = targets
                .iter()
                .map(|t| Resigned {
                    place: t.place.describe(image),
                    signature_ref: None,
                    annotations: t.annotations.clone(),
                })
                .collect();
            report.status = Status::WouldRotate;
            return Ok(());
        }
        for target in &targets {
            let signed = self
                .signer
                .sign_with(&self.registry, image, &target.place, &target.annotations)
                .await?;
            report.re_signed.push(Resigned {
                place: target.place.describe(image),
                signature_ref: Some(signed.signature_ref),
                annotations: target.annotations.clone(),
            });
        }
        // Verified with the new key alone, where it was written.
        let after = verification::verify(
            &self.registry,
            image,
            std::slice::from_ref(&self.new),
            &none,
            &lookup,
        )
        .await?;
        let missing: Vec<String> = targets
            .iter()
            .filter(|t| !plan::new_verified_at(&after.signatures, &self.ids, t))
            .map(|t| t.place.describe(image))
            .collect();
        report.new_verified = Some(missing.is_empty());
        anyhow::ensure!(
            missing.is_empty(),
            "the new signature does not verify with the new key after writing it in {}",
            missing.join(", ")
        );
        report.status = Status::Rotated;
        Ok(())
    }
}

impl Prune {
    /// Remove the old key's signatures from `image` where the new key's verifies.
    pub async fn prune(&self, image: &PinnedImage, report: &mut ImageReport) -> anyhow::Result<()> {
        let lookup = lookup(&self.signature_repo);
        let none = BTreeMap::new();
        let both = [self.old.clone(), self.new.clone()];
        let before = verification::verify(&self.registry, image, &both, &none, &lookup).await?;
        report.old_verified = Some(plan::old_verified(&before.signatures, &self.ids));
        let keys = PruneKeys {
            remove: &self.old,
            keep: &self.new,
        };
        let tag = storage::prune_tag(
            &self.registry,
            image,
            self.signature_repo.as_ref(),
            keys,
            self.dry_run,
        )
        .await?;
        report.removed.push(tag);
        let referrers = storage::prune_referrers(&self.registry, image, keys, self.dry_run).await?;
        report.removed.push(referrers);
        report.removed.retain(|r| r.outcome != PruneOutcome::Absent);
        let after = if self.dry_run {
            before
        } else {
            verification::verify(
                &self.registry,
                image,
                std::slice::from_ref(&self.new),
                &none,
                &lookup,
            )
            .await?
        };
        let new_ok = after
            .valid()
            .any(|s| s.check.key.as_deref() == Some(self.ids.new.as_str()));
        report.new_verified = Some(new_ok);
        let any = |f: fn(&PruneOutcome) -> bool| report.removed.iter().any(|r| f(&r.outcome));
        let kept: Vec<String> = report
            .removed
            .iter()
            .filter(|r| matches!(r.outcome, PruneOutcome::NoValidKeep { .. }))
            .map(|r| r.location.clone())
            .collect();
        if !kept.is_empty() {
            report.reason = Some(format!(
                "old-key signatures in {} kept: no valid new-key signature there (rotate first); nothing removed there",
                kept.join(", ")
            ));
        }
        report.status = if any(|o| matches!(o, PruneOutcome::Removed { .. })) {
            anyhow::ensure!(
                new_ok,
                "no new-key signature verifies after the prune (this should not happen: only old-key layers were removed)"
            );
            Status::Pruned
        } else if any(|o| matches!(o, PruneOutcome::WouldRemove { .. })) {
            Status::WouldPrune
        } else if !kept.is_empty() {
            Status::Skipped
        } else if new_ok {
            Status::AlreadyPruned
        } else {
            report.reason = Some(if after.signatures.is_empty() {
                "unsigned: no signatures found; nothing removed".to_string()
            } else {
                "no signature by the old or the new key verifies; nothing removed".to_string()
            });
            Status::Skipped
        };
        Ok(())
    }
}
