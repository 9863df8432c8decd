//! How Kyverno spells an image before it matches patterns against it.
//!
//! ClusterPolicy rules match `imageReferences` against `ImageInfo.String()`
//! (`pkg/utils/image/infos.go`, `GetImageInfo`, with Kyverno's default configuration:
//! `defaultRegistry: docker.io`, `enableDefaultRegistryMutation: true`):
//!
//! - a name whose first component has no `.` or `:`, is not `localhost` and is lower-case gets
//!   `docker.io/` in front; nothing else is rewritten: no `library/`, and `index.docker.io`
//!   stays `index.docker.io` (`nginx:1` is `docker.io/nginx:1`, never
//!   `docker.io/library/nginx:1`);
//! - no tag and no digest means tag `latest`;
//! - with a digest the tag is dropped: `repo:1.0@sha256:...` is `repo@sha256:...`.
//!
//! ImageValidatingPolicy globs see the image as the pod spec writes it, except that
//! `mutateDigest` (its default) first rewrites a tag-only image its globs match in the form
//! above to `<that form>@<digest>` (`MutateDigest` in `pkg/image/verification/evaluator`).
//!
//! pinsign's own [`crate::reference::ImageRef`] normalises differently (`index.docker.io`,
//! `library/`), as docker and cosign do for registry access; these strings are only for
//! matching.

use crate::reference::{ImageRef, ReferenceError};

/// An image as a pod spec names it, with the strings Kyverno matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KyvernoImage {
    /// As given.
    original: String,
    /// Registry and path after Kyverno's default-registry rule: `docker.io/nginx`.
    name: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl KyvernoImage {
    /// Parse an image reference (the text of a pod's `image:`). It must be a valid reference.
    pub fn parse(image: &str) -> Result<KyvernoImage, ReferenceError> {
        let text = image.trim();
        // The reference grammar (and its error messages) are pinsign's own.
        ImageRef::parse(text)?;
        let name_tag = text.split_once('@').map_or(text, |(n, _)| n);
        let digest = text.split_once('@').map(|(_, d)| d.to_string());
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i..].contains('/') => {
                (&name_tag[..i], Some(name_tag[i + 1..].to_string()))
            }
            _ => (name_tag, None),
        };
        Ok(KyvernoImage {
            original: image.to_string(),
            name: with_default_registry(name),
            tag,
            digest,
        })
    }

    pub fn original(&self) -> &str {
        &self.original
    }

    pub fn has_digest(&self) -> bool {
        self.digest.is_some()
    }

    /// `ImageInfo.String()`: what ClusterPolicy `imageReferences` and `skipImageReferences`
    /// are matched against.
    pub fn cluster_policy_string(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.name),
            (None, Some(t)) => format!("{}:{t}", self.name),
            (None, None) => format!("{}:latest", self.name),
        }
    }

    /// The text of the pod spec, trimmed: what ImageValidatingPolicy globs see when no digest
    /// mutation happened.
    pub fn pod_spec_string(&self) -> &str {
        self.original.trim()
    }

    /// What an ImageValidatingPolicy's `mutateDigest` would write for a tag-only image, with
    /// `digest` standing for the one the registry serves.
    pub fn mutated_string(&self, digest: &str) -> String {
        format!("{}@{digest}", self.cluster_policy_string())
    }
}

/// Kyverno's `addDefaultRegistry` with `docker.io`.
fn with_default_registry(name: &str) -> String {
    let needs = match name.find('/') {
        None => true,
        Some(i) => {
            let first = &name[..i];
            !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
        }
    };
    if needs {
        format!("docker.io/{name}")
    } else {
        name.to_string()
    }
}

/// True when Kyverno would put `docker.io/` in front of this name (or pattern): it names no
/// registry.
pub fn lacks_registry(name: &str) -> bool {
    with_default_registry(name) != name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kyverno's own `Test_GetImageInfo` and `Test_ReferenceWithTag` vectors
    /// (`pkg/utils/image/infos_test.go`), as `ImageInfo.String()`.
    const CASES: &[(&str, &str)] = &[
        ("nginx", "docker.io/nginx:latest"),
        ("nginx:v10.3", "docker.io/nginx:v10.3"),
        ("docker.io/test/nginx:v10.3", "docker.io/test/nginx:v10.3"),
        ("test/nginx", "docker.io/test/nginx:latest"),
        ("localhost:4443/test/nginx", "localhost:4443/test/nginx:latest"),
        (
            "docker.io/test/centos@sha256:dead07b4d8ed7e29e98de0f4504d87e8880d4347859d839686a31da35a3b532f",
            "docker.io/test/centos@sha256:dead07b4d8ed7e29e98de0f4504d87e8880d4347859d839686a31da35a3b532f",
        ),
        // pinsign's additions, from the same code read: no index.docker.io rewrite, tag dropped
        // beside a digest.
        ("index.docker.io/library/nginx:1", "index.docker.io/library/nginx:1"),
        ("localhost/app", "localhost/app:latest"),
        (
            "ghcr.io/kyverno/zulu:v0.0.14@sha256:476b21f1a75dc90fac3579ee757f4607bb5546f476195cf645c54badf558c0db",
            "ghcr.io/kyverno/zulu@sha256:476b21f1a75dc90fac3579ee757f4607bb5546f476195cf645c54badf558c0db",
        ),
        ("127.0.0.1:5000/team/app:1.4", "127.0.0.1:5000/team/app:1.4"),
    ];

    #[test]
    fn kyverno_vectors() {
        for (input, want) in CASES {
            let image = KyvernoImage::parse(input).unwrap();
            assert_eq!(image.cluster_policy_string(), *want, "{input}");
        }
    }

    #[test]
    fn mutated_form_keeps_the_tag() {
        let image = KyvernoImage::parse("nginx:1").unwrap();
        assert_eq!(image.pod_spec_string(), "nginx:1");
        assert_eq!(
            image.mutated_string("sha256:00"),
            "docker.io/nginx:1@sha256:00"
        );
    }

    #[test]
    fn invalid_reference_is_refused() {
        assert!(KyvernoImage::parse("Team/App:1").is_err());
        assert!(KyvernoImage::parse("").is_err());
    }

    #[test]
    fn registry_detection() {
        assert!(lacks_registry("nginx:*"));
        assert!(lacks_registry("team/app"));
        assert!(!lacks_registry("localhost/app"));
        assert!(!lacks_registry("oci.example.org/*"));
        assert!(!lacks_registry("127.0.0.1:5000/*"));
    }
}
