/*!
Image references: parsing, normalising, and the types that say what a reference holds.

A reference as the user typed it is an [`ImageRef`]: a [`Repository`] plus an optional
[`Tag`] and an optional [`Digest`]. Once a digest is known *from the registry*, code works
with a `crate::registry::PinnedImage`, which only the registry can make: this module is
only about names.

The grammar is the Docker/OCI distribution one:
`[registry[:port]/]path[:tag][@sha256:hex]`, with `index.docker.io` and `library/` as
the defaults for bare names, as docker and cosign normalise them.
*/

use std::fmt;
use std::str::FromStr;

/// The registry a bare name like `alpine` or `org/app` refers to (cosign's spelling).
pub const DEFAULT_REGISTRY: &str = "index.docker.io";
/// Tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a reference could not be parsed. Always a usage error (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

fn err(input: &str, reason: impl Into<String>) -> ReferenceError {
    ReferenceError {
        input: input.to_string(),
        reason: reason.into(),
    }
}

/// A content digest, `sha256:<64 lowercase hex>`. Other algorithms are rejected: every
/// registry and cosign use sha256 for manifests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(bytes))
        ))
    }

    /// Parse `sha256:<hex>`; the error names what is wrong, not the input (callers add it).
    pub fn parse(s: &str) -> Result<Digest, String> {
        let Some((algo, hex)) = s.split_once(':') else {
            return Err("a digest looks like sha256:<64 hex characters>".into());
        };
        if algo != "sha256" {
            return Err(format!(
                "unsupported digest algorithm {algo:?} (only sha256)"
            ));
        }
        if hex.len() != 64 {
            return Err(format!(
                "a sha256 digest has 64 hex characters, this one has {}",
                hex.len()
            ));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err("a sha256 digest has only lowercase hex characters".into());
        }
        Ok(Digest(s.to_string()))
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Digest::of(bytes) == *self
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s).map_err(|reason| err(s, reason))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Tag, String> {
        if s.is_empty() {
            return Err("the tag after ':' is empty".into());
        }
        if s.len() > MAX_TAG_LEN {
            return Err(format!(
                "a tag has at most {MAX_TAG_LEN} characters, this one has {}",
                s.len()
            ));
        }
        let mut bytes = s.bytes();
        let first = bytes.next().unwrap_or(b'.');
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        if !word(first) || !bytes.all(|b| word(b) || b == b'.' || b == b'-') {
            return Err(format!(
                "tag {s:?} may hold only letters, digits, '_', '.' and '-', and may not start with '.' or '-'"
            ));
        }
        Ok(Tag(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// cosign's signature tag for a digest: `sha256-<hex>.sig`.
    pub fn signature_of(digest: &Digest) -> Tag {
        Tag(format!("sha256-{}.sig", digest.hex()))
    }

    /// The OCI referrers tag schema's tag for a digest: `sha256-<hex>` (an index listing
    /// the digest's referrers, on registries without the referrers API).
    pub fn referrers_of(digest: &Digest) -> Tag {
        Tag(format!("sha256-{}", digest.hex()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository in a registry: `registry[:port]` plus a lower-case path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: String,
    path: String,
}

impl Repository {
    /// Parse `registry/path` or a bare name (no tag, no digest), as `--signature-repo` takes it.
    pub fn parse(s: &str) -> Result<Repository, ReferenceError> {
        let r = ImageRef::parse(s)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(err(s, "a repository has no tag or digest"));
        }
        Ok(r.repository)
    }

    /// `--signature-repo` / `COSIGN_REPOSITORY`: unset or empty means "the image's own
    /// repository" (`None`), as cosign treats an empty `COSIGN_REPOSITORY`.
    pub fn parse_optional(s: Option<&str>) -> Result<Option<Repository>, ReferenceError> {
        s.filter(|s| !s.is_empty())
            .map(Repository::parse)
            .transpose()
    }

    /// Registry host, with port if any (`127.0.0.1:5000`, `index.docker.io`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path inside the registry (`library/alpine`, `team/app`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

/// An image reference as given on the command line, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    original: String,
    repository: Repository,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parse and normalise a reference as docker and cosign do.
    ///
    /// ```
    /// use pinsign::reference::ImageRef;
    ///
    /// let r = ImageRef::parse("alpine").unwrap();
    /// assert_eq!(r.to_string(), "index.docker.io/library/alpine");
    /// assert_eq!(r.manifest_reference(), "latest");
    ///
    /// let r = ImageRef::parse("127.0.0.1:5000/team/app:1.4").unwrap();
    /// assert_eq!(r.repository().registry(), "127.0.0.1:5000");
    /// assert_eq!(r.tag().unwrap().as_str(), "1.4");
    ///
    /// assert!(ImageRef::parse("team/App:1.4").is_err()); // repositories are lower-case
    /// ```
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(err(input, "the reference is empty"));
        }
        if s.contains("://") {
            return Err(err(
                input,
                "write the image without a scheme, like registry.example.com/team/app:tag",
            ));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d).map_err(|r| err(input, r))?)),
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; an earlier one is a registry port.
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i..].contains('/') => (
                &name_tag[..i],
                Some(Tag::parse(&name_tag[i + 1..]).map_err(|r| err(input, r))?),
            ),
            _ => (name_tag, None),
        };
        if name.is_empty() {
            return Err(err(input, "the repository name is empty"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(err(
                input,
                format!("a repository name has at most {MAX_NAME_LEN} characters"),
            ));
        }
        let (registry, path) = split_registry(name);
        if let Some(registry) = registry {
            check_registry(registry).map_err(|r| err(input, r))?;
        }
        check_path(path).map_err(|r| err(input, r))?;
        let registry = match registry {
            None | Some("docker.io") | Some("registry-1.docker.io") => DEFAULT_REGISTRY,
            Some(r) => r,
        };
        let path = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        // The limit is on the normalised name, as docker's reference parser applies it, so
        // that what is displayed parses again (`alpine` is `index.docker.io/library/alpine`).
        if registry.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(err(
                input,
                format!(
                    "a repository name has at most {MAX_NAME_LEN} characters, with the \
                     registry ({registry}/{}...)",
                    &path[..path.len().min(16)]
                ),
            ));
        }
        Ok(ImageRef {
            original: input.to_string(),
            repository: Repository {
                registry: registry.to_string(),
                path,
            },
            tag,
            digest,
        })
    }

    /// The text as the user typed it, for messages.
    pub fn original(&self) -> &str {
        &self.original
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest when given (it wins over a tag), else the
    /// tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The tag to resolve, when the reference names one (explicitly or by default).
    pub fn effective_tag(&self) -> Option<Tag> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t.clone()),
            (None, None) => Some(Tag(DEFAULT_TAG.to_string())),
            (None, Some(_)) => None,
        }
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// Normalised display: `registry/path[:tag][@digest]`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Split off the registry: the first component is a registry when it has a '.' or ':',
/// is `localhost`, or has upper-case letters (which a path never may).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        // IPv6 literal: [::1]:5000
        let Some((ip, port)) = rest.split_once(']') else {
            return Err(format!("registry {registry:?} has an unclosed '['"));
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("registry {registry:?} is not a valid IPv6 address"));
        }
        (None, port.strip_prefix(':'))
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let ok = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !ok {
            return Err(format!("registry host {host:?} is not a valid host name"));
        }
    }
    if let Some(port) = port {
        if port.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!(
                "registry port {port:?} is not a number from 0 to 65535"
            ));
        }
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository names must be lowercase".into());
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(
                "the repository path has an empty component (\"//\" or a trailing '/')".into(),
            );
        }
        if !valid_component(component) {
            return Err(format!(
                "path component {component:?} may hold only a-z, 0-9 and single '.', '_', '__' or '-' runs between them"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "4c1c50d0c5ad3d3b1df88b3b5ff3e6c7fc8bca2c0b7a56a08c0f4bd1a0bd6fb3";

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn bare_names_default_to_docker_hub_library() {
        let r = parse("alpine");
        assert_eq!(r.repository().registry(), "index.docker.io");
        assert_eq!(r.repository().path(), "library/alpine");
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(r.to_string(), "index.docker.io/library/alpine");
        let r = parse("docker.io/team/app:1.0");
        assert_eq!(r.repository().to_string(), "index.docker.io/team/app");
        assert_eq!(r.tag().unwrap().as_str(), "1.0");
    }

    #[test]
    fn registry_with_port_and_nested_path() {
        let r = parse("127.0.0.1:5000/a/b/c:v1");
        assert_eq!(r.repository().registry(), "127.0.0.1:5000");
        assert_eq!(r.repository().path(), "a/b/c");
        assert_eq!(r.tag().unwrap().as_str(), "v1");
        let r = parse("localhost/app");
        assert_eq!(r.repository().registry(), "localhost");
        let r = parse("localhost:5000/app");
        assert_eq!(r.repository().registry(), "localhost:5000");
        assert_eq!(r.manifest_reference(), "latest");
        let r = parse("[::1]:5000/app:x");
        assert_eq!(r.repository().registry(), "[::1]:5000");
    }

    #[test]
    fn tag_and_digest_together_digest_wins() {
        let r = parse(&format!("oci.example.io/team/app:1.2@sha256:{HEX}"));
        assert_eq!(r.tag().unwrap().as_str(), "1.2");
        assert_eq!(r.digest().unwrap().hex(), HEX);
        assert_eq!(r.manifest_reference(), format!("sha256:{HEX}"));
        assert_eq!(r.effective_tag().unwrap().as_str(), "1.2");
        let r = parse(&format!("oci.example.io/team/app@sha256:{HEX}"));
        assert!(r.effective_tag().is_none());
    }

    #[test]
    fn port_is_not_a_tag() {
        let r = parse("reg.example:443/app");
        assert_eq!(r.repository().registry(), "reg.example:443");
        assert!(r.tag().is_none());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "Reg.example/App",
            "reg.example/App:1",
            "UPPER",
            "app:",
            "app@",
            "app@sha256:abc",
            &format!("app@sha256:{}", HEX.to_uppercase()),
            &format!("app@sha512:{HEX}"),
            "reg.example//app",
            "reg.example/app/",
            "/app",
            "app:-bad",
            "app:.bad",
            "a--b__c..d",
            "reg.example:port/app",
            "reg.example:99999/app",
            "https://reg.example/app",
            "-reg.example/app",
            &format!("app:{}", "t".repeat(129)),
            "app:tag:more",
            &format!("{}/app", "a".repeat(256)),
        ] {
            let e = ImageRef::parse(bad);
            assert!(e.is_err(), "{bad:?} should be rejected, got {e:?}");
        }
    }

    /// Found by `fuzz/` (target `reference`, this input): a 246-character path
    /// without a registry parsed, but its display `index.docker.io/<path>` is over 255
    /// characters and did not parse again.
    #[test]
    fn the_name_limit_counts_the_default_registry() {
        let crash = "54/1/0atme054/1/0atme4a44054/1/0atme954/1/0atme4ae054/1/0atme4kkkkkkkkkkkkkkkkkk\
                     kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\
                     kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkka44054/1/0atme054/1/0aatme054/44a4";
        assert_eq!(crash.len(), 246);
        let e = ImageRef::parse(crash).unwrap_err();
        assert!(e.reason.contains("at most 255 characters"), "{e}");
        // At the limit, the display parses back to the same reference.
        let fits = format!(
            "a/{}",
            "b".repeat(MAX_NAME_LEN - DEFAULT_REGISTRY.len() - 3)
        );
        let r = parse(&fits);
        assert_eq!(r.to_string().len(), MAX_NAME_LEN);
        assert_eq!(
            parse(&r.to_string()),
            ImageRef {
                original: r.to_string(),
                ..r
            }
        );
        assert!(ImageRef::parse(&format!("{fits}b")).is_err());
        let bare = "c".repeat(MAX_NAME_LEN - "index.docker.io/library/".len());
        assert_eq!(parse(&bare).to_string().len(), MAX_NAME_LEN);
        assert!(ImageRef::parse(&format!("{bare}c")).is_err());
    }

    #[test]
    fn accepts_odd_but_valid() {
        let long = format!("app:{}", "t".repeat(128));
        for ok in [
            "a__b/c-d/e.f/g---h",
            "reg.example/a_b",
            "app:_tag.1-x",
            "REG.example/app",
            long.as_str(),
        ] {
            parse(ok);
        }
    }

    #[test]
    fn error_names_input() {
        let e = ImageRef::parse("Bad/Name").unwrap_err();
        assert!(e.to_string().contains("\"Bad/Name\""), "{e}");
        let e = ImageRef::parse("app@sha256:abc").unwrap_err();
        assert!(e.to_string().contains("64 hex"), "{e}");
    }

    #[test]
    fn digest_derived_tags() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(Tag::signature_of(&d).as_str(), format!("sha256-{HEX}.sig"));
        assert_eq!(Tag::referrers_of(&d).as_str(), format!("sha256-{HEX}"));
        // Both are valid tags by the grammar.
        assert!(Tag::parse(Tag::signature_of(&d).as_str()).is_ok());
    }

    #[test]
    fn digest_of_bytes() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(d.matches(b""));
        assert!(!d.matches(b"x"));
    }

    #[test]
    fn repository_parse_rejects_tag() {
        assert!(Repository::parse("reg.example/sigs").is_ok());
        assert!(Repository::parse("reg.example/sigs:tag").is_err());
        assert_eq!(Repository::parse_optional(None).unwrap(), None);
        assert_eq!(Repository::parse_optional(Some("")).unwrap(), None);
        assert!(Repository::parse_optional(Some("reg.example/sigs"))
            .unwrap()
            .is_some());
        assert!(Repository::parse_optional(Some("Bad/Repo")).is_err());
    }

    mod properties {
        //! Parse/format round trips: what parses displays as text that parses back to the
        //! same reference; digests and tags print as they were read.
        use super::super::*;
        use proptest::prelude::*;

        /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, short.
        fn component() -> impl Strategy<Value = String> {
            "[a-z0-9]{1,6}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}"
        }

        fn registry() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(prop_oneof![
                "[a-z][a-z0-9-]{0,8}[a-z0-9]\\.[a-z]{2,5}",
                "[a-z][a-z0-9]{0,8}\\.[a-z]{2,5}:[0-9]{1,5}".prop_filter("a port", |r| r
                    .rsplit(':')
                    .next()
                    .is_some_and(|p| p.parse::<u16>().is_ok())),
                Just("localhost".to_string()),
                Just("localhost:5000".to_string()),
                Just("127.0.0.1:5000".to_string()),
                Just("[::1]:5000".to_string()),
                Just("docker.io".to_string()),
                Just("REG.Example.com".to_string()),
            ])
        }

        fn tag() -> impl Strategy<Value = String> {
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"
        }

        fn digest() -> impl Strategy<Value = String> {
            "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))
        }

        fn reference() -> impl Strategy<Value = String> {
            (
                registry(),
                proptest::collection::vec(component(), 1..4),
                proptest::option::of(tag()),
                proptest::option::of(digest()),
            )
                .prop_map(|(registry, mut path, tag, digest)| {
                    if registry.is_none() {
                        // A first component with a '.' would name a registry, as in docker.
                        path[0] = path[0].replace('.', "-");
                    }
                    let mut s = registry.map(|r| format!("{r}/")).unwrap_or_default();
                    s.push_str(&path.join("/"));
                    if let Some(t) = tag {
                        s.push(':');
                        s.push_str(&t);
                    }
                    if let Some(d) = digest {
                        s.push('@');
                        s.push_str(&d);
                    }
                    s
                })
        }

        fn same(a: &ImageRef, b: &ImageRef) -> bool {
            a.repository() == b.repository() && a.tag() == b.tag() && a.digest() == b.digest()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// Every reference of the grammar parses, and its display parses back to it
            /// (and displays the same again).
            #[test]
            fn display_reparses_to_the_same_reference(text in reference()) {
                let r = ImageRef::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let shown = r.to_string();
                let again = ImageRef::parse(&shown).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(same(&r, &again), "{} -> {}", text, shown);
                prop_assert_eq!(again.to_string(), shown);
                prop_assert_eq!(again.manifest_reference(), r.manifest_reference());
            }

            /// Any text at all: if it parses, the display round-trips (the fuzz target's
            /// property, on a different generator).
            #[test]
            fn anything_that_parses_round_trips(text in "[a-zA-Z0-9:/@._\\-\\[\\]]{0,80}") {
                if let Ok(r) = ImageRef::parse(&text) {
                    let again = ImageRef::parse(&r.to_string())
                        .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
                    prop_assert!(same(&r, &again), "{:?}", text);
                }
            }

            #[test]
            fn digests_and_tags_print_as_read(d in digest(), t in tag()) {
                let parsed = Digest::parse(&d).map_err(TestCaseError::fail)?;
                prop_assert_eq!(parsed.to_string(), d.clone());
                prop_assert_eq!(Digest::parse(&parsed.to_string()), Ok(parsed.clone()));
                prop_assert_eq!(Tag::parse(Tag::signature_of(&parsed).as_str())
                    .map(|t| t.to_string()), Ok(format!("sha256-{}.sig", parsed.hex())));
                let tag = Tag::parse(&t).map_err(TestCaseError::fail)?;
                prop_assert_eq!(tag.to_string(), t.clone());
                prop_assert_eq!(Tag::parse(&tag.to_string()), Ok(tag));
            }
        }
    }
}
