//! Platforms (`--platform os/arch[/variant]`) and reading image indexes.

use crate::error::UsageError;

/// A platform as `--platform` takes it: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, UsageError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: Some(variant.to_string()),
                })
            }
            _ => Err(UsageError::new(format!(
                "--platform {s:?} is not OS/ARCH or OS/ARCH/VARIANT (e.g. linux/amd64, linux/arm/v7)"
            ))),
        }
    }

    pub(super) fn of_entry(p: &oci_client::manifest::Platform) -> Platform {
        Platform {
            os: p.os.to_string(),
            architecture: p.architecture.to_string(),
            variant: p.variant.clone().filter(|v| !v.is_empty()),
        }
    }

    /// Does an index entry's platform satisfy this request? A request without a variant
    /// matches any variant.
    pub(super) fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Read an index's children (OCI index or Docker manifest list).
pub fn parse_index(bytes: &[u8]) -> Result<oci_client::manifest::OciImageIndex, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert!(p.matches(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!Platform::parse("linux/arm/v7")
            .unwrap()
            .matches(&Platform::parse("linux/arm/v6").unwrap()));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }
}
