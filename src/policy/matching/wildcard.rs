//! Kyverno's wildcard, the matcher behind `imageReferences` and `skipImageReferences`.
//!
//! Kyverno's `ext/wildcard.Match` is `github.com/IGLOU-EU/go-wildcard` v1.0.3 `Match`: `*`
//! matches any run of characters (none included, `/` included: a name is flat, not a path),
//! `?` exactly one character, everything else itself, case-sensitive, with no escape
//! character. The empty pattern matches only the empty name.

/// True when `name` matches the Kyverno wildcard `pattern`.
///
/// ```
/// use pinsign::policy::matching::wildcard_match;
/// assert!(wildcard_match("ghcr.io/*", "ghcr.io/fluxcd/source-controller:v1"));
/// assert!(!wildcard_match("ghcr.io/fluxcd/*:v?", "ghcr.io/fluxcd/x:v10"));
/// ```
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    // reachable[i]: the pattern read so far can end after name[..i].
    let mut reachable = vec![false; name.len() + 1];
    reachable[0] = true;
    for p in pattern.chars() {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' => {
                let mut on = false;
                for i in 0..=name.len() {
                    on |= reachable[i];
                    next[i] = on;
                }
            }
            _ => {
                for i in 0..name.len() {
                    if reachable[i] && (p == '?' || name[i] == p) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        reachable = next;
    }
    reachable[name.len()]
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    /// (pattern, name, matches): go-wildcard v1.0.3's behaviour, read from its source.
    const CASES: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("", "a", false),
        ("*", "", true),
        ("*", "anything/at/all:1", true),
        ("ghcr.io/*", "ghcr.io/fluxcd/source-controller:v1.0.0", true),
        ("ghcr.io/*", "ghcr.io", false),
        ("ghcr.io/fluxcd/*", "ghcr.io/fluxcd/a/b/c:1", true),
        ("ghcr.io/*/foo", "ghcr.io/a/b/foo", true),
        (
            "ghcr.io/kyverno/test-verify-image:*",
            "ghcr.io/kyverno/test-verify-image:signed",
            true,
        ),
        // A digest-pinned image is `repo@sha256:...` to Kyverno: a `:*` tag pattern misses it.
        (
            "ghcr.io/kyverno/test-verify-image:*",
            "ghcr.io/kyverno/test-verify-image@sha256:ab",
            false,
        ),
        (
            "ghcr.io/kyverno/test-verify-image*",
            "ghcr.io/kyverno/test-verify-image@sha256:ab",
            true,
        ),
        ("docker.io/*", "docker.io/nginx:1", true),
        ("index.docker.io/*", "docker.io/nginx:1", false),
        ("nginx:*", "docker.io/nginx:1", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("a?c", "abbc", false),
        ("a?", "a/", true),
        ("A*", "a", false),
        ("*:latest", "docker.io/nginx:latest", true),
        ("**", "x", true),
        ("*a*b*", "xxaxxbxx", true),
        ("*a*b*", "xxbxxaxx", false),
        ("[a]", "a", false),
        ("[a]", "[a]", true),
        ("\\*", "\\x", true),
    ];

    #[test]
    fn table() {
        for (pattern, name, want) in CASES {
            assert_eq!(
                wildcard_match(pattern, name),
                *want,
                "{pattern:?} vs {name:?}"
            );
        }
    }

    #[test]
    fn long_inputs_stay_cheap() {
        let pattern = "*a".repeat(100);
        let name = "a".repeat(300) + "b";
        assert!(!wildcard_match(&pattern, &name));
    }
}
