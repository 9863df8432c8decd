//! Bundle versions and their two media type spellings.
//!
//! sigstore-go (`pkg/bundle/bundle.go`, `getBundleVersion`, `MediaTypeString`) reads
//! `application/vnd.dev.sigstore.bundle+json;version=0.N` (the original spelling, the only one
//! for 0.1 and 0.2) and `application/vnd.dev.sigstore.bundle.v0.N+json` (written from 0.3 on).
//! pinsign accepts exactly these six strings; anything else, a v0.4 included, is unknown.

use super::BundleError;
use crate::media_types::BUNDLE_V03;

/// A bundle format version pinsign reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BundleVersion {
    V0_1,
    V0_2,
    V0_3,
}

impl BundleVersion {
    /// The version a bundle `mediaType` names, in either spelling.
    pub fn from_media_type(media_type: &str) -> Result<BundleVersion, BundleError> {
        const BASE: &str = "application/vnd.dev.sigstore.bundle";
        let version = if let Some(v) = media_type.strip_prefix(BASE) {
            v.strip_prefix("+json;version=")
                .or_else(|| v.strip_prefix(".v").and_then(|v| v.strip_suffix("+json")))
        } else {
            None
        };
        match version {
            Some("0.1") => Ok(BundleVersion::V0_1),
            Some("0.2") => Ok(BundleVersion::V0_2),
            Some("0.3") => Ok(BundleVersion::V0_3),
            _ => Err(BundleError::UnknownMediaType(media_type.to_string())),
        }
    }

    /// The spelling sigstore-go writes for this version (`MediaTypeString`).
    pub fn media_type(self) -> &'static str {
        match self {
            BundleVersion::V0_1 => "application/vnd.dev.sigstore.bundle+json;version=0.1",
            BundleVersion::V0_2 => "application/vnd.dev.sigstore.bundle+json;version=0.2",
            BundleVersion::V0_3 => BUNDLE_V03,
        }
    }

    /// `0.1`, `0.2` or `0.3`.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleVersion::V0_1 => "0.1",
            BundleVersion::V0_2 => "0.2",
            BundleVersion::V0_3 => "0.3",
        }
    }
}

impl std::fmt::Display for BundleVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_every_version() {
        for (text, v) in [
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.1",
                BundleVersion::V0_1,
            ),
            (
                "application/vnd.dev.sigstore.bundle.v0.1+json",
                BundleVersion::V0_1,
            ),
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.2",
                BundleVersion::V0_2,
            ),
            (
                "application/vnd.dev.sigstore.bundle.v0.2+json",
                BundleVersion::V0_2,
            ),
            (
                "application/vnd.dev.sigstore.bundle+json;version=0.3",
                BundleVersion::V0_3,
            ),
            (
                "application/vnd.dev.sigstore.bundle.v0.3+json",
                BundleVersion::V0_3,
            ),
        ] {
            assert_eq!(BundleVersion::from_media_type(text), Ok(v), "{text}");
            assert_eq!(
                BundleVersion::from_media_type(v.media_type()),
                Ok(v),
                "round trip {v}"
            );
        }
    }

    #[test]
    fn unknown_versions_and_types() {
        for text in [
            "",
            "application/json",
            "application/vnd.dev.sigstore.bundle.v0.4+json",
            "application/vnd.dev.sigstore.bundle+json;version=0.4",
            "application/vnd.dev.sigstore.bundle+json",
            "application/vnd.dev.sigstore.bundle.v0.3+json ",
            "application/vnd.dev.sigstore.bundle.v0.3",
            "APPLICATION/VND.DEV.SIGSTORE.BUNDLE.V0.3+JSON",
            "application/vnd.dev.cosign.simplesigning.v1+json",
        ] {
            let e = BundleVersion::from_media_type(text).unwrap_err();
            assert!(matches!(e, BundleError::UnknownMediaType(_)), "{text}: {e}");
        }
    }
}
