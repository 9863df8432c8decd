//! What to do for one image, decided from its judged signatures alone (pure: the registry
//! I/O is before and after).
//!
//! The rule of issue 11: **an image is re-signed with the new key only if a signature by the
//! old key verifies for it now.** Unsigned images, images signed only by other keys, and
//! images whose old-key signature fails a check are skipped, with the reason, and nothing is
//! written for them. Where the old key's valid signatures are (the `.sig` tag of a
//! repository, or the referrers), the new one goes, once per distinct payload annotation
//! map (so a policy that requires an annotation keeps admitting the image). A place that
//! already holds a valid new-key signature with those annotations is left alone.

use std::collections::BTreeMap;

use crate::signing::Placement;
use crate::verification::Checked;

/// Fingerprints (`SHA256:<hex>` of the SPKI) of the two keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIds {
    pub old: String,
    pub new: String,
}

/// One new signature to write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub place: Placement,
    /// The payload's `optional` map, copied from the old signature.
    pub annotations: BTreeMap<String, String>,
}

/// The decision for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not signed by the old key now: nothing is written.
    Skip { reason: String },
    /// Every place with a valid old-key signature also has a valid new-key one (or the old
    /// signatures are already pruned and a new-key one verifies).
    AlreadyRotated,
    /// Write these new-key signatures.
    Resign { targets: Vec<Target> },
}

/// Decide from the image's signatures, judged with both keys. `places` is where they were
/// looked for (named in the "unsigned" reason).
pub fn decide(signatures: &[Checked], places: &[String], keys: &KeyIds) -> Decision {
    let old_valid = valid_by(signatures, &keys.old);
    let new_valid = valid_by(signatures, &keys.new);
    if old_valid.is_empty() {
        if !new_valid.is_empty() {
            return Decision::AlreadyRotated;
        }
        return Decision::Skip {
            reason: skip_reason(signatures, places, keys),
        };
    }
    let mut targets: Vec<Target> = Vec::new();
    for s in old_valid {
        let target = Target {
            place: s.placement.clone(),
            annotations: s.check.annotations.clone(),
        };
        let done = new_valid
            .iter()
            .any(|n| n.placement == target.place && n.check.annotations == target.annotations);
        if !done && !targets.contains(&target) {
            targets.push(target);
        }
    }
    if targets.is_empty() {
        Decision::AlreadyRotated
    } else {
        targets.sort();
        Decision::Resign { targets }
    }
}

fn valid_by<'a>(signatures: &'a [Checked], fingerprint: &str) -> Vec<&'a Checked> {
    signatures
        .iter()
        .filter(|s| s.check.verified && s.check.key.as_deref() == Some(fingerprint))
        .collect()
}

/// Whether a signature by the old key verifies (the report's `old_verified`).
pub fn old_verified(signatures: &[Checked], keys: &KeyIds) -> bool {
    signatures
        .iter()
        .any(|s| s.check.verified && s.check.key.as_deref() == Some(keys.old.as_str()))
}

/// Whether a signature by the new key verifies in `place` with `annotations`.
pub fn new_verified_at(signatures: &[Checked], keys: &KeyIds, target: &Target) -> bool {
    signatures.iter().any(|s| {
        s.check.verified
            && s.check.key.as_deref() == Some(keys.new.as_str())
            && s.placement == target.place
            && s.check.annotations == target.annotations
    })
}

fn skip_reason(signatures: &[Checked], places: &[String], keys: &KeyIds) -> String {
    if signatures.is_empty() {
        return format!(
            "unsigned: no signatures found (looked in {}); nothing written",
            places.join(" and ")
        );
    }
    if let Some(bad) = signatures
        .iter()
        .find(|s| s.check.key.as_deref() == Some(keys.old.as_str()))
    {
        return format!(
            "the old key's signature does not verify: {}; nothing written",
            bad.check.reason.as_deref().unwrap_or("rejected")
        );
    }
    let n = signatures.len();
    format!(
        "not signed by the old key: {n} signature{} by other keys; nothing written",
        if n == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{Digest, Repository};
    use crate::signature::SignatureCheck;

    fn keys() -> KeyIds {
        KeyIds {
            old: "SHA256:old".into(),
            new: "SHA256:new".into(),
        }
    }

    fn tag(repo: &str) -> Placement {
        Placement::Tag {
            repository: Some(Repository::parse(repo).unwrap()),
        }
    }

    fn sig(
        place: Placement,
        key: Option<&str>,
        verified: bool,
        annotations: &[(&str, &str)],
    ) -> Checked {
        Checked {
            location: format!("{place:?}"),
            format: crate::verification::Format::SimpleSigning,
            via: crate::verification::Via::SigTag,
            listed_in: None,
            bundle: None,
            keyless: None,
            placement: place,
            check: SignatureCheck {
                layer_digest: Digest::of(b"payload"),
                key: key.map(str::to_string),
                key_source: None,
                annotations: annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                verified,
                reason: (!verified).then(|| "payload names sha256:x, not the image digest".into()),
                payload: serde_json::Value::Null,
            },
        }
    }

    #[test]
    fn skips_say_why() {
        let places = vec!["reg.example/app:sha256-x.sig".to_string()];
        let reason = |sigs: &[Checked]| match decide(sigs, &places, &keys()) {
            Decision::Skip { reason } => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(&[])
            .starts_with("unsigned: no signatures found (looked in reg.example/app:sha256-x.sig)"));
        let foreign = sig(tag("reg.example/app"), None, false, &[]);
        assert_eq!(
            reason(&[foreign.clone(), foreign]),
            "not signed by the old key: 2 signatures by other keys; nothing written"
        );
        let replayed = sig(tag("reg.example/app"), Some("SHA256:old"), false, &[]);
        assert!(reason(&[replayed])
            .starts_with("the old key's signature does not verify: payload names"));
    }

    #[test]
    fn resigns_in_each_place_with_each_annotation_set_once() {
        let t = tag("reg.example/app");
        let sigs = [
            sig(t.clone(), Some("SHA256:old"), true, &[]),
            sig(t.clone(), Some("SHA256:old"), true, &[]),
            sig(t.clone(), Some("SHA256:old"), true, &[("git_sha", "1f2e")]),
            sig(Placement::Referrers, Some("SHA256:old"), true, &[]),
            sig(t.clone(), None, false, &[]),
        ];
        let Decision::Resign { targets } = decide(&sigs, &[], &keys()) else {
            panic!()
        };
        assert_eq!(targets.len(), 3);
        assert!(targets.contains(&Target {
            place: Placement::Referrers,
            annotations: BTreeMap::new()
        }));
        assert!(old_verified(&sigs, &keys()));
        // The tag one with no annotations is done already: only the rest remain.
        let mut more = sigs.to_vec();
        more.push(sig(t.clone(), Some("SHA256:new"), true, &[]));
        let Decision::Resign { targets } = decide(&more, &[], &keys()) else {
            panic!()
        };
        assert_eq!(targets.len(), 2);
        assert!(new_verified_at(
            &more,
            &keys(),
            &Target {
                place: t.clone(),
                annotations: BTreeMap::new()
            }
        ));
        // All done: already rotated.
        more.push(sig(
            t.clone(),
            Some("SHA256:new"),
            true,
            &[("git_sha", "1f2e")],
        ));
        more.push(sig(Placement::Referrers, Some("SHA256:new"), true, &[]));
        assert_eq!(decide(&more, &[], &keys()), Decision::AlreadyRotated);
    }

    #[test]
    fn a_new_key_signature_elsewhere_does_not_count_and_pruned_images_are_rotated() {
        let sigs = [
            sig(tag("reg.example/app"), Some("SHA256:old"), true, &[]),
            sig(tag("reg.example/sigs"), Some("SHA256:new"), true, &[]),
        ];
        assert!(matches!(
            decide(&sigs, &[], &keys()),
            Decision::Resign { .. }
        ));
        // An invalid new-key signature does not count either.
        let sigs = [
            sig(tag("reg.example/app"), Some("SHA256:old"), true, &[]),
            sig(tag("reg.example/app"), Some("SHA256:new"), false, &[]),
        ];
        assert!(matches!(
            decide(&sigs, &[], &keys()),
            Decision::Resign { .. }
        ));
        // Old signatures pruned already, the new one valid: already rotated.
        let sigs = [sig(tag("reg.example/app"), Some("SHA256:new"), true, &[])];
        assert_eq!(decide(&sigs, &[], &keys()), Decision::AlreadyRotated);
        assert!(!old_verified(&sigs, &keys()));
    }
}
