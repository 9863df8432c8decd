/*!
Which images a Kyverno rule or policy applies to, decided exactly as Kyverno decides it.

- [`wildcard`]: ClusterPolicy `imageReferences` / `skipImageReferences` (go-wildcard).
- [`glob`]: ImageValidatingPolicy `matchImageReferences[].glob` (gobwas/glob, no separators).
- [`image`]: the string each of them is matched against ([`KyvernoImage`]).
- [`ImagePattern`]: a pattern pinsign writes into a policy, restricted to `*` and `?` so that
  it means the same to both matchers.

No registry access happens here: an image no rule covers is judged from its name alone.
*/

pub mod glob;
pub mod image;
pub mod wildcard;

pub use glob::{Glob, GlobError};
pub use image::KyvernoImage;
pub use wildcard::wildcard_match;

use std::fmt;

use crate::reference::ImageRef;

/// Longest pattern accepted, like the reference grammar's name limit plus a tag.
const MAX_PATTERN_LEN: usize = 512;

/// An image pattern for `pinsign policy kyverno --image`: reference characters plus the
/// wildcards `*` (any run of characters, `/` included) and `?` (one character), which mean
/// the same in Kyverno's wildcard and in its glob. Built only by [`ImagePattern::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern(String);

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

impl ImagePattern {
    /// Check `pattern`: it must be an image reference once each wildcard stands for some
    /// text, and must name a registry (Kyverno matches `docker.io/nginx:1`, so `nginx:*`
    /// would match nothing).
    pub fn parse(pattern: &str) -> Result<ImagePattern, PatternError> {
        let fail = |reason: String| PatternError {
            pattern: pattern.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(fail("the pattern is empty".into()));
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(fail(format!(
                "a pattern has at most {MAX_PATTERN_LEN} characters"
            )));
        }
        if let Some(c) = pattern.chars().find(|c| {
            !(c.is_ascii_alphanumeric()
                || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '*' | '?'))
        }) {
            return Err(fail(format!(
                "{c:?} is neither a reference character nor a wildcard (only * and ? are)"
            )));
        }
        if pattern.contains("://") {
            return Err(fail(
                "write the image without a scheme, like oci.example.org/team/*".into(),
            ));
        }
        let (name, digest) = match pattern.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (pattern, None),
        };
        if let Some(d) = digest.filter(|d| !digest_pattern_ok(d)) {
            return Err(fail(format!(
                "{d:?} after '@' is not a digest pattern (sha256:<hex>, * or sha256:*)"
            )));
        }
        // Valid when some text in place of the wildcards makes a reference.
        let valid = ["x", "0", "x0"].iter().any(|stand_in| {
            let filled = name.replace(['*', '?'], stand_in);
            ImageRef::parse(&filled).is_ok()
        });
        if !valid {
            let filled = name.replace(['*', '?'], "x");
            let reason = match ImageRef::parse(&filled) {
                Err(e) => e.reason,
                Ok(_) => "it is not an image reference with wildcards".into(),
            };
            return Err(fail(format!("not a reference pattern: {reason}")));
        }
        if names_no_registry(pattern) {
            return Err(fail(format!(
                "it names no registry, and Kyverno matches images with theirs (nginx:1 is \
                 docker.io/nginx:1): write docker.io/{pattern} or the image's registry"
            )));
        }
        Ok(ImagePattern(pattern.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same pattern as a Kyverno glob (only `*` and `?`, so the compile cannot fail
    /// for a pattern that passed [`ImagePattern::parse`]; an error would be reported anyway).
    pub fn to_glob(&self) -> Result<Glob, GlobError> {
        Glob::parse(&self.0)
    }

    /// Advice about how Kyverno will read this pattern; empty when there is none.
    pub fn warnings(&self) -> Vec<String> {
        let p = &self.0;
        let mut out = Vec::new();
        let last = p.rsplit('/').next().unwrap_or(p);
        if let Some((repo, _)) = last
            .split_once(':')
            .filter(|(r, _)| !r.contains(['*', '?']))
        {
            let base = &p[..p.len() - last.len()];
            out.push(format!(
                "image pattern {p:?} needs a tag: Kyverno sees an image pinned by digest alone \
                 as {base}{repo}@sha256:..., which it does not match, so such a pod would run \
                 unchecked; also give --image {base}{repo}@*"
            ));
        }
        if p.starts_with("index.docker.io/") || p.starts_with("registry-1.docker.io/") {
            out.push(format!(
                "image pattern {p:?}: Kyverno calls Docker Hub docker.io (nginx:1 is \
                 docker.io/nginx:1), so this matches only images written with this host"
            ));
        }
        if p.starts_with("docker.io/library/") {
            out.push(format!(
                "image pattern {p:?}: Kyverno adds no library/ (nginx:1 is docker.io/nginx:1), \
                 so this matches only images written with library/"
            ));
        }
        out
    }

    /// Kyverno's wildcard match of this pattern.
    pub fn matches_wildcard(&self, name: &str) -> bool {
        wildcard_match(&self.0, name)
    }
}

/// True when Kyverno's default-registry rule would apply to every image the pattern can match,
/// so that (matched against `docker.io/...`) it matches nothing.
fn names_no_registry(pattern: &str) -> bool {
    let prefix = pattern.split(['*', '?']).next().unwrap_or(pattern);
    match pattern.find('/') {
        None => prefix == pattern || prefix.contains(':'),
        Some(_) if prefix.contains('/') => image::lacks_registry(pattern),
        Some(_) => false,
    }
}

/// The part after `@`: a digest, or a digest with wildcards in it.
fn digest_pattern_ok(d: &str) -> bool {
    if crate::reference::Digest::parse(d).is_ok() {
        return true;
    }
    let wild = d.contains(['*', '?']);
    let chars_ok = d
        .chars()
        .all(|c| matches!(c, '0'..='9' | 'a'..='f' | 's' | 'h' | ':' | '*' | '?'));
    let prefix_ok = d.starts_with(['*', '?']) || d.starts_with("sha256:");
    wild && chars_ok && prefix_ok
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_patterns() {
        for p in [
            "oci.example.org/*",
            "oci.example.org/team/app:*",
            "oci.example.org/team/app@*",
            "ghcr.io/fluxcd/source-controller:*",
            "docker.io/fluxcd/*",
            "127.0.0.1:5000/team/*",
            "localhost/app",
            "*",
            "*/team/app:v?",
            "registry.example.com/team/app:1.4",
        ] {
            ImagePattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn invalid_patterns() {
        for (p, says) in [
            ("", "empty"),
            ("nginx:*", "names no registry"),
            ("team/app", "names no registry"),
            ("oci.example.org/Team/*", "lowercase"),
            ("https://oci.example.org/*", "scheme"),
            ("oci.example.org/{a,b}", "wildcard"),
            ("oci.example.org/team app", "wildcard"),
            ("oci.example.org/app:*:*", "reference pattern"),
        ] {
            let e = ImagePattern::parse(p).unwrap_err().to_string();
            assert!(e.contains(says), "{p}: {e}");
            assert!(e.contains(&format!("{p:?}")), "{e}");
        }
    }

    #[test]
    fn warnings() {
        let w = ImagePattern::parse("ghcr.io/fluxcd/helm-controller:*")
            .unwrap()
            .warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("ghcr.io/fluxcd/helm-controller@*"), "{w:?}");
        assert!(ImagePattern::parse("oci.example.org/*")
            .unwrap()
            .warnings()
            .is_empty());
        assert_eq!(
            ImagePattern::parse("index.docker.io/x/*")
                .unwrap()
                .warnings()
                .len(),
            1
        );
    }

    #[test]
    fn wildcard_and_glob_agree_on_generated_patterns() {
        let names = [
            "oci.example.org/team/app:1.4",
            "oci.example.org/team/app@sha256:00",
            "oci.example.org/team/app:1@sha256:00",
            "docker.io/nginx:1",
            "oci.example.org",
        ];
        for p in [
            "oci.example.org/*",
            "*/app:?.?",
            "oci.example.org/team/app:*",
            "*",
        ] {
            let pattern = ImagePattern::parse(p).unwrap();
            let glob = pattern.to_glob().unwrap();
            for n in names {
                assert_eq!(pattern.matches_wildcard(n), glob.matches(n), "{p} vs {n}");
            }
        }
    }
}
