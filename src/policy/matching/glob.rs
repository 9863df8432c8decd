//! Kyverno's glob, the matcher behind ImageValidatingPolicy `matchImageReferences[].glob`.
//!
//! Kyverno compiles the glob with `github.com/gobwas/glob` v0.2.3 `glob.Compile(pattern)`, with
//! **no separators** (`pkg/cel/compiler/compiler.go`, `CompileMatchImageReference`). Without
//! separators `*` and `**` both match any run of characters, `/` included, and `?` any one
//! character. The rest of gobwas's syntax, as its lexer and parser read it:
//!
//! - `[abc]` one of the listed characters, `[!abc]` none of them; `[a-z]` one character in a
//!   range (only one range per class, and only when the second character is `-`);
//!   an empty class is an error;
//! - `{a,b,c}` alternatives, nested freely; `,` and `}` are plain characters outside braces,
//!   `]` outside a class; an unclosed `{` ends at the end of the pattern;
//! - `\c` is `c` itself; a trailing `\` is dropped.
//!
//! [`Glob::to_regex`] writes the same language as an anchored RE2/Rust regular expression:
//! pinsign's generated ImageValidatingPolicy filters images in CEL with `matches()`.

use std::fmt;

/// A parse error, in gobwas's words where it has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid glob {pattern:?}: {reason}")]
pub struct GlobError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(Vec<char>),
    /// `*` or `**`: with no separators they are the same.
    Any,
    /// `?`
    Single,
    /// `[...]` list or `[lo-hi]` range, possibly negated.
    Class {
        not: bool,
        chars: Vec<char>,
        range: Option<(char, char)>,
    },
    /// `{a,b}`
    Alternatives(Vec<Vec<Node>>),
}

/// A compiled Kyverno glob.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    nodes: Vec<Node>,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: &str) -> GlobError {
        GlobError {
            pattern: self.source.to_string(),
            reason: reason.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn sequence(&mut self, in_braces: bool) -> Result<Vec<Node>, GlobError> {
        let mut nodes = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ',' | '}' if in_braces => break,
                '{' => {
                    self.pos += 1;
                    let mut alternatives = vec![self.sequence(true)?];
                    loop {
                        match self.peek() {
                            Some(',') => {
                                self.pos += 1;
                                alternatives.push(self.sequence(true)?);
                            }
                            Some('}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => break, // unclosed: ends with the pattern, as in gobwas
                        }
                    }
                    nodes.push(Node::Alternatives(alternatives));
                }
                '[' => {
                    self.pos += 1;
                    nodes.push(self.class()?);
                }
                '?' => {
                    self.pos += 1;
                    nodes.push(Node::Single);
                }
                '*' => {
                    self.pos += 1;
                    if self.peek() == Some('*') {
                        self.pos += 1;
                    }
                    nodes.push(Node::Any);
                }
                _ => {
                    let breakers: &[char] = if in_braces {
                        &['?', '*', '[', '{', '}', ',']
                    } else {
                        &['?', '*', '[', '{']
                    };
                    let text = self.text(breakers);
                    if !text.is_empty() {
                        nodes.push(Node::Text(text));
                    }
                }
            }
        }
        Ok(nodes)
    }

    /// Characters up to an unescaped breaker; `\c` is `c`.
    fn text(&mut self, breakers: &[char]) -> Vec<char> {
        let mut out = Vec::new();
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if !escaped {
                if c == '\\' {
                    escaped = true;
                    self.pos += 1;
                    continue;
                }
                if breakers.contains(&c) {
                    break;
                }
            }
            escaped = false;
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// After `[`: gobwas's `fetchRange` and `parserRange`.
    fn class(&mut self) -> Result<Node, GlobError> {
        let mut not = false;
        let mut chars = Vec::new();
        let mut range = None;
        let mut lo = None;
        let mut want_hi = false;
        let mut want_close = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unexpected end of input"));
            };
            self.pos += 1;
            if want_close {
                if c != ']' {
                    return Err(self.err("expected close range character"));
                }
                break;
            }
            if want_hi {
                let low = lo.unwrap_or(c);
                if c < low {
                    return Err(self.err(&format!(
                        "hi character '{c}' should be greater than lo '{low}'"
                    )));
                }
                range = Some((low, c));
                want_close = true;
                continue;
            }
            if !not && chars.is_empty() && c == '!' {
                not = true;
                continue;
            }
            if self.peek() == Some('-') {
                self.pos += 1;
                lo = Some(c);
                want_hi = true;
                continue;
            }
            self.pos -= 1;
            chars = self.text(&[']']);
            want_close = true;
        }
        if chars.is_empty() == range.is_none() {
            return Err(self.err("could not parse range"));
        }
        Ok(Node::Class { not, chars, range })
    }
}

impl Glob {
    /// Compile `pattern` as Kyverno does; the error names the pattern.
    pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
        let mut parser = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            source: pattern,
        };
        let nodes = parser.sequence(false)?;
        Ok(Glob {
            source: pattern.to_string(),
            nodes,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let mut start = vec![false; name.len() + 1];
        start[0] = true;
        ends(&self.nodes, &name, start)[name.len()]
    }

    /// The same language as an anchored regular expression, in the syntax RE2 (CEL's
    /// `matches()`) and Rust's `regex` share.
    pub fn to_regex(&self) -> String {
        let mut out = String::from("^");
        write_regex(&self.nodes, &mut out);
        out.push('$');
        out
    }
}

/// From the set of positions a sequence may start at, the set it may end at.
fn ends(nodes: &[Node], name: &[char], mut at: Vec<bool>) -> Vec<bool> {
    for node in nodes {
        let mut next = vec![false; name.len() + 1];
        match node {
            Node::Any => {
                let mut on = false;
                for i in 0..=name.len() {
                    on |= at[i];
                    next[i] = on;
                }
            }
            Node::Text(text) => {
                for i in 0..=name.len() {
                    if at[i] && name[i..].starts_with(text) {
                        next[i + text.len()] = true;
                    }
                }
            }
            Node::Single | Node::Class { .. } => {
                for i in 0..name.len() {
                    if at[i] && one_char(node, name[i]) {
                        next[i + 1] = true;
                    }
                }
            }
            Node::Alternatives(alternatives) => {
                for alternative in alternatives {
                    let reached = ends(alternative, name, at.clone());
                    for (n, r) in next.iter_mut().zip(reached) {
                        *n |= r;
                    }
                }
            }
        }
        at = next;
    }
    at
}

fn one_char(node: &Node, c: char) -> bool {
    match node {
        Node::Single => true,
        Node::Class { not, chars, range } => {
            let inside = match range {
                Some((lo, hi)) => *lo <= c && c <= *hi,
                None => chars.contains(&c),
            };
            inside != *not
        }
        _ => false,
    }
}

fn write_regex(nodes: &[Node], out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => {
                let text: String = text.iter().collect();
                out.push_str(&regex::escape(&text));
            }
            Node::Any => out.push_str(".*"),
            Node::Single => out.push('.'),
            Node::Class { not, chars, range } => {
                out.push('[');
                if *not {
                    out.push('^');
                }
                let escape = |c: char, out: &mut String| {
                    if c.is_ascii_punctuation() {
                        out.push('\\');
                    }
                    out.push(c);
                };
                match range {
                    Some((lo, hi)) => {
                        escape(*lo, out);
                        out.push('-');
                        escape(*hi, out);
                    }
                    None => chars.iter().for_each(|c| escape(*c, out)),
                }
                out.push(']');
            }
            Node::Alternatives(alternatives) => {
                out.push_str("(?:");
                for (i, alternative) in alternatives.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    write_regex(alternative, out);
                }
                out.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (glob, name, matches), from gobwas's syntax as its lexer and parser read it, and
    /// Kyverno's own `Test_matchGlob_Match` cases.
    const CASES: &[(&str, &str, bool)] = &[
        ("ghcr.io/*", "ghcr.io/kyverno/kyverno", true), // Kyverno's test
        ("ghcr.io/*/foo", "ghcr.io/kyverno/kyverno", false), // Kyverno's test
        (
            "ghcr.io/kyverno/test-images/cosign:*",
            "ghcr.io/kyverno/test-images/cosign:v1",
            true,
        ),
        ("ghcr.io/*", "ghcr.io/a/b/c:1@sha256:00", true),
        ("ghcr.io/**", "ghcr.io/a/b", true),
        ("*", "", true),
        ("", "", true),
        ("", "x", false),
        ("a?c", "a/c", true),
        ("a?c", "ac", false),
        ("img:v[0-9]", "img:v7", true),
        ("img:v[0-9]", "img:vx", false),
        ("img:v[!0-9]", "img:vx", true),
        ("img:[abc]", "img:b", true),
        ("img:[!abc]", "img:b", false),
        ("img:[ab-c]", "img:-", true), // a list, not a range: the second character is not '-'
        ("{ghcr.io,docker.io}/fluxcd/*", "docker.io/fluxcd/x:1", true),
        ("{ghcr.io,docker.io}/fluxcd/*", "quay.io/fluxcd/x:1", false),
        ("a{b,c{d,e}}f", "acef", true),
        ("a{b,c{d,e}}f", "acf", false),
        ("a{b,}c", "ac", true),
        ("a}b,c", "a}b,c", true),
        ("a]b", "a]b", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("{a,b", "b", true),
        ("A*", "a", false),
    ];

    #[test]
    fn table_and_regex_agree() {
        for (glob, name, want) in CASES {
            let g = Glob::parse(glob).unwrap();
            assert_eq!(g.matches(name), *want, "glob {glob:?} vs {name:?}");
            let re = regex::Regex::new(&g.to_regex()).unwrap();
            assert_eq!(
                re.is_match(name),
                *want,
                "regex {} vs {name:?}",
                g.to_regex()
            );
        }
    }

    #[test]
    fn errors() {
        for bad in ["a[", "a[]", "a[!]", "a[z-a]", "a[a-bc]"] {
            let e = Glob::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn regex_escapes_text() {
        let g = Glob::parse("oci.example.org/team/*").unwrap();
        assert_eq!(g.to_regex(), r"^oci\.example\.org/team/.*$");
    }
}
