//! The rotation report: per image what was found and done, the counts, and the summary line
//! (pure data and text; the command prints and writes it).
//!
//! `--report FILE` and `--output json` hold the same document:
//! `{operation, dry_run, old_key, new_key, shard, summary: {...}, images: [{input, sources,
//! pinned, digest, old_verified, re_signed, removed, new_verified, status, reason}]}`.

use std::collections::BTreeMap;

use crate::batch::Shard;
use crate::reference::Digest;
use crate::storage::PruneReport;

/// What happened to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// New-key signatures written and verified.
    Rotated,
    /// A valid new-key signature was already in every place: nothing written.
    AlreadyRotated,
    /// `--dry-run`: would be re-signed.
    WouldRotate,
    /// Old-key signatures removed; the new key's still verifies.
    Pruned,
    /// No old-key signature left to remove.
    AlreadyPruned,
    /// `--dry-run`: old-key signatures would be removed.
    WouldPrune,
    /// Left alone for a reason (not signed by the old key; no valid new-key signature to
    /// prune against). Not a failure.
    Skipped,
    /// Could not be pinned, read, written or verified afterwards (see `reason`).
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Rotated => "rotated",
            Status::AlreadyRotated => "already rotated",
            Status::WouldRotate => "would rotate",
            Status::Pruned => "pruned",
            Status::AlreadyPruned => "already pruned",
            Status::WouldPrune => "would prune",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One new signature written (or, in a dry run, to write).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resigned {
    /// The `.sig` tag, or `IMAGE (referrers)`.
    pub place: String,
    /// Where the signature is stored now (absent in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_ref: Option<String>,
    /// The payload annotations, copied from the old signature.
    pub annotations: BTreeMap<String, String>,
}

/// Everything the report says about one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageReport {
    /// The image as given (a list line, or the pod spec's image).
    pub input: String,
    /// Where it was named: `--images-from FILE`, `pod NS/NAME container C`, ...
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Whether a signature by the old key verified (before anything was written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_verified: Option<bool>,
    /// The new-key signatures written (rotate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub re_signed: Vec<Resigned>,
    /// What was removed where (prune).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<PruneReport>,
    /// Whether a signature by the new key verifies (after the writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_verified: Option<bool>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ImageReport {
    /// A report with only the input known yet.
    pub fn new(input: &str, sources: Vec<String>) -> ImageReport {
        ImageReport {
            input: input.to_string(),
            sources,
            pinned: None,
            digest: None,
            old_verified: None,
            re_signed: Vec::new(),
            removed: Vec::new(),
            new_verified: None,
            status: Status::Failed,
            reason: None,
        }
    }

    /// The name used in lines: the pin when known.
    pub fn name(&self) -> &str {
        self.pinned.as_deref().unwrap_or(&self.input)
    }

    /// The stdout line for this image (failures go to stderr as errors instead).
    pub fn text_line(&self) -> String {
        let name = self.name();
        match self.status {
            Status::Rotated | Status::WouldRotate => {
                let places: Vec<String> = self
                    .re_signed
                    .iter()
                    .map(|r| r.signature_ref.clone().unwrap_or_else(|| r.place.clone()))
                    .collect();
                let verb = if self.status == Status::Rotated {
                    "rotated"
                } else {
                    "would rotate"
                };
                let tail = if self.status == Status::Rotated {
                    "; verified with the new key"
                } else {
                    ""
                };
                format!(
                    "{verb} {name} (new signature in {}{tail})",
                    places.join(", ")
                )
            }
            Status::Pruned | Status::WouldPrune => {
                let places: Vec<String> = self
                    .removed
                    .iter()
                    .filter_map(|r| match r.outcome {
                        crate::storage::PruneOutcome::Removed { count }
                        | crate::storage::PruneOutcome::WouldRemove { count } => {
                            Some(format!("{count} from {}", r.location))
                        }
                        _ => None,
                    })
                    .collect();
                format!(
                    "{} {name} (old-key signatures: {})",
                    self.status.as_str(),
                    places.join(", ")
                )
            }
            _ => match &self.reason {
                Some(reason) => format!("{} {name}: {reason}", self.status.as_str()),
                None => format!("{} {name}", self.status.as_str()),
            },
        }
    }
}

/// How many images ended how.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub images: usize,
    pub rotated: usize,
    pub already_rotated: usize,
    pub would_rotate: usize,
    pub pruned: usize,
    pub already_pruned: usize,
    pub would_prune: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Images another `--shard` takes (not counted above).
    pub other_shards: usize,
}

impl Summary {
    pub fn of(images: &[ImageReport], other_shards: usize) -> Summary {
        let mut s = Summary {
            images: images.len(),
            other_shards,
            ..Summary::default()
        };
        for i in images {
            *match i.status {
                Status::Rotated => &mut s.rotated,
                Status::AlreadyRotated => &mut s.already_rotated,
                Status::WouldRotate => &mut s.would_rotate,
                Status::Pruned => &mut s.pruned,
                Status::AlreadyPruned => &mut s.already_pruned,
                Status::WouldPrune => &mut s.would_prune,
                Status::Skipped => &mut s.skipped,
                Status::Failed => &mut s.failed,
            } += 1;
        }
        s
    }

    /// The summary line on stderr, e.g. `rotate: 10 rotated, 3 skipped, 0 failed, of 13
    /// images; skipped images are not failures: ...`.
    pub fn line(&self, operation: &str, dry_run: bool, shard: Option<Shard>) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (n, what) in [
            (self.rotated, "rotated"),
            (self.already_rotated, "already rotated"),
            (self.would_rotate, "would rotate"),
            (self.pruned, "pruned"),
            (self.already_pruned, "already pruned"),
            (self.would_prune, "would prune"),
            (self.skipped, "skipped"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        parts.push(format!("{} failed", self.failed));
        let mut line = format!(
            "{operation}{}: {}, of {} image{}",
            if dry_run {
                " (dry run, nothing written)"
            } else {
                ""
            },
            parts.join(", "),
            self.images,
            if self.images == 1 { "" } else { "s" }
        );
        if let Some(shard) = shard {
            line.push_str(&format!(
                " (shard {shard}; {} more in the other shards)",
                self.other_shards
            ));
        }
        if self.skipped > 0 {
            line.push_str(if operation == "rotate" {
                "; skipped images are not failures: they carry no valid old-key signature, so nothing was written for them"
            } else {
                "; skipped images are not failures: no valid new-key signature beside the old one, so nothing was removed from them"
            });
        }
        line
    }
}

/// The whole report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// `rotate` or `prune-old`.
    pub operation: &'static str,
    pub dry_run: bool,
    /// Fingerprints of the keys.
    pub old_key: String,
    pub new_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub summary: Summary,
    pub images: Vec<ImageReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: Status) -> ImageReport {
        let mut r = ImageReport::new("reg.example/app:1", vec!["list".into()]);
        r.status = status;
        r.pinned = Some("reg.example/app@sha256:ab".into());
        r
    }

    #[test]
    fn summary_counts_and_says_skips_are_not_failures() {
        let images = vec![
            report(Status::Rotated),
            report(Status::Rotated),
            report(Status::Skipped),
            report(Status::AlreadyRotated),
        ];
        let s = Summary::of(&images, 0);
        assert_eq!(
            (s.images, s.rotated, s.skipped, s.already_rotated, s.failed),
            (4, 2, 1, 1, 0)
        );
        let line = s.line("rotate", false, None);
        assert!(line.starts_with("rotate: 2 rotated, 1 already rotated, 1 skipped, 0 failed, of 4 images; skipped images are not failures"), "{line}");
        let line =
            Summary::of(&images[..1], 3).line("rotate", true, Some(Shard::parse("1/2").unwrap()));
        assert_eq!(line, "rotate (dry run, nothing written): 1 rotated, 0 failed, of 1 image (shard 1/2; 3 more in the other shards)");
    }

    #[test]
    fn lines_and_json() {
        let mut r = report(Status::Skipped);
        r.reason = Some("unsigned".into());
        assert_eq!(r.text_line(), "skipped reg.example/app@sha256:ab: unsigned");
        let mut r = report(Status::Rotated);
        r.re_signed.push(Resigned {
            place: "reg.example/app:sha256-ab.sig".into(),
            signature_ref: Some("reg.example/app:sha256-ab.sig".into()),
            annotations: BTreeMap::new(),
        });
        assert_eq!(
            r.text_line(),
            "rotated reg.example/app@sha256:ab (new signature in reg.example/app:sha256-ab.sig; verified with the new key)"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["status"], "rotated");
        assert_eq!(
            json["re_signed"][0]["place"],
            "reg.example/app:sha256-ab.sig"
        );
        assert!(json.get("removed").is_none());
        assert_eq!(
            serde_json::to_value(Status::AlreadyRotated).unwrap(),
            "already-rotated"
        );
    }
}
