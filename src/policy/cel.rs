//! Reading the one family of CEL validations pinsign can predict: signature checks.
//!
//! An ImageValidatingPolicy decides with CEL; pinsign does not run CEL. It recognises
//! the shape Kyverno's documentation and tests use, and the one pinsign writes:
//!
//! ```text
//! images.containers.map(image, verifyImageSignatures(image, [attestors.a, attestors.b])).all(e, e > 0)
//! (images.containers + images.initContainers).filter(image, image.matches(r'^...$') || ...)
//!     .all(image, verifyImageSignatures(image, [attestors.a]) > 0)
//! ```
//!
//! `verifyImageSignatures` returns how many of the listed attestors verify the image, so
//! `> N` means "at least N+1 of them" (also `>= N` and `== N`, read as "at least N").
//! Anything else is left to the caller as unsupported, with the reason.

/// A recognised signature validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureValidation {
    pub lists: Vec<String>,
    pub filters: Vec<String>,
    pub attestors: Vec<String>,
    pub at_least: usize,
}

/// Longest expression looked at.
const MAX_EXPRESSION: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Punct(&'static str),
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            // A raw string r'..' / r".."
            if (c == 'r' || c == 'R') && matches!(chars.get(i + 1), Some('\'') | Some('"')) {
                let quote = chars[i + 1];
                let start = i + 2;
                let end = (start..chars.len())
                    .find(|&j| chars[j] == quote)
                    .ok_or("unterminated string")?;
                out.push(Tok::Str(chars[start..end].iter().collect()));
                i = end + 1;
                continue;
            }
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Int(text.parse().map_err(|_| "number too large")?));
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated string".into());
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' {
                    let Some(&e) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        '\\' | '\'' | '"' => s.push(e),
                        _ => return Err(format!("string escape \\{e} is not read here")),
                    }
                } else {
                    s.push(d);
                }
            }
            out.push(Tok::Str(s));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let punct = ["||", ">=", "==", "&&", "!=", "<="]
            .into_iter()
            .find(|p| two == *p)
            .or_else(|| {
                [
                    ".", "(", ")", "[", "]", ",", "+", ">", "<", "!", "?", ":", "-",
                ]
                .into_iter()
                .find(|p| p.starts_with(c))
            });
        match punct {
            Some(p) => {
                i += p.len();
                out.push(Tok::Punct(p));
            }
            None => return Err(format!("character {c:?} is not read here")),
        }
    }
    Ok(out)
}

struct Cursor {
    toks: Vec<Tok>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn punct(&mut self, p: &str) -> Result<(), String> {
        match self.peek() {
            Some(Tok::Punct(q)) if *q == p => {
                self.pos += 1;
                Ok(())
            }
            other => Err(format!("expected {p:?}, found {}", describe(other))),
        }
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }
    fn ident(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            other => Err(format!("expected a name, found {}", describe(other))),
        }
    }
    fn keyword(&mut self, word: &str) -> Result<(), String> {
        let got = self.ident()?;
        if got == word {
            Ok(())
        } else {
            Err(format!("expected {word}, found {got}"))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            other => Err(format!("expected a string, found {}", describe(other))),
        }
    }
    fn int(&mut self) -> Result<i64, String> {
        match self.peek() {
            Some(Tok::Int(n)) => {
                let n = *n;
                self.pos += 1;
                Ok(n)
            }
            other => Err(format!("expected a number, found {}", describe(other))),
        }
    }
}

fn describe(tok: Option<&Tok>) -> String {
    match tok {
        None => "the end".into(),
        Some(Tok::Ident(s)) => s.clone(),
        Some(Tok::Str(_)) => "a string".into(),
        Some(Tok::Int(n)) => n.to_string(),
        Some(Tok::Punct(p)) => (*p).to_string(),
    }
}

/// Read `expression`; the error says why it is not a signature check pinsign understands.
pub fn recognize(expression: &str) -> Result<SignatureValidation, String> {
    if expression.len() > MAX_EXPRESSION {
        return Err("the expression is too long to read".into());
    }
    if !expression.contains("verifyImageSignatures") {
        return Err(if expression.contains("verifyAttestationSignatures") {
            "it checks attestations (verifyAttestationSignatures), which pinsign does not verify"
                .into()
        } else {
            "it is not a verifyImageSignatures check, so pinsign cannot evaluate it".into()
        });
    }
    let toks = tokenize(expression).map_err(|e| format!("pinsign cannot read it: {e}"))?;
    let mut c = Cursor { toks, pos: 0 };
    let shape = parse(&mut c).map_err(|e| format!("pinsign reads only the usual shape: {e}"))?;
    if c.pos != c.toks.len() {
        return Err(format!(
            "pinsign reads only the usual shape: unexpected {} after it",
            describe(c.peek())
        ));
    }
    Ok(shape)
}

fn parse(c: &mut Cursor) -> Result<SignatureValidation, String> {
    let lists = source(c)?;
    let mut filters = Vec::new();
    c.punct(".")?;
    let mut method = c.ident()?;
    if method == "filter" {
        c.punct("(")?;
        let var = c.ident()?;
        c.punct(",")?;
        loop {
            let v = c.ident()?;
            if v != var {
                return Err(format!("filter uses {v}, not {var}"));
            }
            c.punct(".")?;
            c.keyword("matches")?;
            c.punct("(")?;
            filters.push(c.string()?);
            c.punct(")")?;
            if c.is_punct("||") {
                c.punct("||")?;
                continue;
            }
            break;
        }
        c.punct(")")?;
        c.punct(".")?;
        method = c.ident()?;
    }
    let (attestors, at_least) = match method.as_str() {
        // .map(v, verifyImageSignatures(v, [...])).all(e, e OP N)
        "map" => {
            c.punct("(")?;
            let var = c.ident()?;
            c.punct(",")?;
            let attestors = call(c, &var)?;
            c.punct(")")?;
            c.punct(".")?;
            c.keyword("all")?;
            c.punct("(")?;
            let e = c.ident()?;
            c.punct(",")?;
            let e2 = c.ident()?;
            if e2 != e {
                return Err(format!("all() tests {e2}, not {e}"));
            }
            let at_least = comparison(c)?;
            c.punct(")")?;
            (attestors, at_least)
        }
        // .all(v, verifyImageSignatures(v, [...]) OP N)
        "all" => {
            c.punct("(")?;
            let var = c.ident()?;
            c.punct(",")?;
            let attestors = call(c, &var)?;
            let at_least = comparison(c)?;
            c.punct(")")?;
            (attestors, at_least)
        }
        other => return Err(format!("{other}() where map() or all() was expected")),
    };
    Ok(SignatureValidation {
        lists,
        filters,
        attestors,
        at_least,
    })
}

/// `images.X` or `(images.X + images.Y ...)`.
fn source(c: &mut Cursor) -> Result<Vec<String>, String> {
    let one = |c: &mut Cursor| -> Result<String, String> {
        c.keyword("images")?;
        c.punct(".")?;
        c.ident()
    };
    if c.is_punct("(") {
        c.punct("(")?;
        let mut lists = vec![one(c)?];
        while c.is_punct("+") {
            c.punct("+")?;
            lists.push(one(c)?);
        }
        c.punct(")")?;
        Ok(lists)
    } else {
        Ok(vec![one(c)?])
    }
}

/// `verifyImageSignatures(VAR, [attestors.A, ...])`
fn call(c: &mut Cursor, var: &str) -> Result<Vec<String>, String> {
    c.keyword("verifyImageSignatures")?;
    c.punct("(")?;
    let v = c.ident()?;
    if v != var {
        return Err(format!("verifyImageSignatures is given {v}, not {var}"));
    }
    c.punct(",")?;
    c.punct("[")?;
    let mut attestors = Vec::new();
    loop {
        c.keyword("attestors")?;
        c.punct(".")?;
        attestors.push(c.ident()?);
        if c.is_punct(",") {
            c.punct(",")?;
            continue;
        }
        break;
    }
    c.punct("]")?;
    c.punct(")")?;
    Ok(attestors)
}

/// `> N`, `>= N` or `== N`, as "at least" a count.
fn comparison(c: &mut Cursor) -> Result<usize, String> {
    let op = match c.peek() {
        Some(Tok::Punct(p @ (">" | ">=" | "=="))) => *p,
        other => {
            return Err(format!(
                "expected > N, >= N or == N, found {}",
                describe(other)
            ))
        }
    };
    c.pos += 1;
    let n = c.int()?;
    let at_least = if op == ">" { n.saturating_add(1) } else { n };
    Ok(usize::try_from(at_least.max(0)).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kyverno_shape() {
        let v = recognize(
            "images.containers.map(image, verifyImageSignatures(image, [attestors.notary])).all(e, e > 0)",
        )
        .unwrap();
        assert_eq!(v.lists, ["containers"]);
        assert!(v.filters.is_empty());
        assert_eq!(v.attestors, ["notary"]);
        assert_eq!(v.at_least, 1);
    }

    #[test]
    fn pinsign_shape() {
        let expr = super::super::generate::validation_expression(
            &[r"^oci\.example\.org/.*$".into(), "^b$".into()],
            &["key_a".into(), "key_b".into()],
        );
        let v = recognize(&expr).unwrap();
        assert_eq!(
            v.lists,
            ["containers", "initContainers", "ephemeralContainers"]
        );
        assert_eq!(v.filters, [r"^oci\.example\.org/.*$", "^b$"]);
        assert_eq!(v.attestors, ["key_a", "key_b"]);
        assert_eq!(v.at_least, 1);
    }

    #[test]
    fn counts() {
        let base = "images.containers.map(i, verifyImageSignatures(i, [attestors.a, attestors.b])).all(e, e ";
        assert_eq!(recognize(&format!("{base}>= 2)")).unwrap().at_least, 2);
        assert_eq!(recognize(&format!("{base}== 2)")).unwrap().at_least, 2);
        assert_eq!(recognize(&format!("{base}> 1)")).unwrap().at_least, 2);
        assert!(recognize(&format!("{base}< 1)")).is_err());
    }

    #[test]
    fn unsupported() {
        for (expr, says) in [
            ("images.containers.map(image, verifyAttestationSignatures(image, attestations.slsa, [attestors.cosign])).all(e, e > 0)", "attestations"),
            ("variables.environment == true", "not a verifyImageSignatures"),
            ("images.containers.map(image, verifyImageSignatures(image, [attestors.a])).exists(e, e > 0)", "usual shape"),
            ("images.containers.map(image, verifyImageSignatures(image, [attestors.a])).all(e, e > 0) && true", "usual shape"),
        ] {
            let e = recognize(expr).unwrap_err();
            assert!(e.contains(says), "{expr}: {e}");
        }
    }
}
