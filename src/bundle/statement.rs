//! in-toto Statements: the payload of a DSSE envelope in a cosign bundle. Read v1 and v0.1;
//! write v1 exactly as `cosign sign` (v3.0.5 and later) writes it.
//!
//! in-toto/attestation `spec/v1/statement.md`: `_type` `https://in-toto.io/Statement/v1`,
//! `subject` (one or more resource descriptors, each with a `digest` set), `predicateType`, and
//! an optional `predicate` object. Unknown members are ignored (the spec's parsing rules).
//! `spec/v0.1.0/README.md` has the same members with `_type` `https://in-toto.io/Statement/v0.1`
//! (cosign's attestations used it). cosign's image signature subject has no `name` (see the
//! kubewarden vector), so none is required.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{json, BundleError, COSIGN_SIGN_PREDICATE_TYPE};
use crate::reference::Digest;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of an in-toto Statement v0.1.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// Which Statement layer version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StatementType {
    #[serde(rename = "https://in-toto.io/Statement/v1")]
    V1,
    #[serde(rename = "https://in-toto.io/Statement/v0.1")]
    V0_1,
}

impl StatementType {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementType::V1 => STATEMENT_V1,
            StatementType::V0_1 => STATEMENT_V01,
        }
    }
}

/// A parsed in-toto Statement. Every subject has a non-empty digest set.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub statement_type: StatementType,
    pub subjects: Vec<Subject>,
    pub predicate_type: String,
    /// `None` when absent or `null` (the spec treats unset as empty).
    pub predicate: Option<serde_json::Value>,
}

/// One subject: a resource descriptor with at least one digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub name: Option<String>,
    /// Algorithm (`sha256`, ...) to lowercase hex, as written.
    pub digest: BTreeMap<String, String>,
    /// The subject's `annotations` (cosign puts `-a KEY=VALUE` here); empty when absent.
    pub annotations: BTreeMap<String, serde_json::Value>,
}

impl Subject {
    /// The annotations with string values as they are and others as their JSON text, for
    /// reports.
    pub fn annotations_text(&self) -> BTreeMap<String, String> {
        self.annotations
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    /// `sha256:<hex>` when the subject has a sha256 digest.
    pub fn sha256(&self) -> Option<String> {
        self.digest.get("sha256").map(|hex| format!("sha256:{hex}"))
    }
}

impl Statement {
    /// Parse a Statement v1 or v0.1. A repeated member, another `_type`, no subject, a
    /// subject without a digest, or a missing `predicateType` is an error.
    pub fn parse(bytes: &[u8]) -> Result<Statement, BundleError> {
        let bad = BundleError::MalformedStatement;
        json::no_duplicate_members(bytes).map_err(bad)?;
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "_type")]
            statement_type: Option<String>,
            subject: Option<Vec<RawSubject>>,
            #[serde(rename = "predicateType")]
            predicate_type: Option<String>,
            #[serde(default)]
            predicate: Option<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct RawSubject {
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            digest: Option<BTreeMap<String, String>>,
            #[serde(default)]
            annotations: Option<BTreeMap<String, serde_json::Value>>,
        }
        let raw: Raw = json::from_object(bytes).map_err(bad)?;
        let statement_type = match raw.statement_type.as_deref() {
            Some(STATEMENT_V1) => StatementType::V1,
            Some(STATEMENT_V01) => StatementType::V0_1,
            Some(other) => {
                return Err(bad(format!(
                    "_type is {other:?}, not {STATEMENT_V1:?} or {STATEMENT_V01:?}"
                )))
            }
            None => return Err(bad("_type is missing".into())),
        };
        let raw_subjects = raw
            .subject
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("subject is missing or empty".into()))?;
        let subjects = raw_subjects
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let digest = s
                    .digest
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| bad(format!("subject {} has no digest", i + 1)))?;
                Ok(Subject {
                    name: s.name,
                    digest,
                    annotations: s.annotations.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, BundleError>>()?;
        let predicate_type = raw
            .predicate_type
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("predicateType is missing".into()))?;
        Ok(Statement {
            statement_type,
            subjects,
            predicate_type,
            predicate: raw.predicate.filter(|p| !p.is_null()),
        })
    }

    /// The first subject whose sha256 digest is `digest` (cosign matches any subject).
    pub fn subject_for(&self, digest: &Digest) -> Option<&Subject> {
        self.subjects
            .iter()
            .find(|s| s.digest.get("sha256").map(String::as_str) == Some(digest.hex()))
    }

    /// Every subject's sha256 digest (`sha256:<hex>`), for "names X, not Y" messages.
    pub fn subject_digests(&self) -> Vec<String> {
        self.subjects.iter().filter_map(Subject::sha256).collect()
    }
}

/// The statement `cosign sign` (v3.0.5 and later) signs for `digest`, byte for byte as its
/// `protojson.Marshal` writes it (compact; members in declaration order; map keys sorted;
/// serde_json escapes strings exactly as protobuf-go's encoder does: `"`, `\` and control
/// characters only):
/// `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"<hex>"},
/// "annotations":{..}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`.
pub fn cosign_sign_statement(digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    // Serializing a map of strings cannot fail.
    let annotations = serde_json::to_string(annotations).unwrap_or_else(|_| "{}".into());
    format!(
        concat!(
            r#"{{"_type":"{}","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{}}}],"#,
            r#""predicateType":"{}","predicate":{{}}}}"#
        ),
        STATEMENT_V1,
        digest.hex(),
        annotations,
        COSIGN_SIGN_PREDICATE_TYPE
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";

    fn digest() -> Digest {
        Digest::parse(&format!("sha256:{HEX}")).unwrap()
    }

    #[test]
    fn cosign_statement_bytes() {
        let none = cosign_sign_statement(&digest(), &BTreeMap::new());
        assert_eq!(
            String::from_utf8(none).unwrap(),
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{HEX}"}},"annotations":{{}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#
            )
        );
        let ann = BTreeMap::from([
            ("z".to_string(), "last".to_string()),
            ("a".to_string(), "x<y>&\"q\"\n".to_string()),
        ]);
        let text = String::from_utf8(cosign_sign_statement(&digest(), &ann)).unwrap();
        assert!(
            text.contains(r#""annotations":{"a":"x<y>&\"q\"\n","z":"last"}"#),
            "{text}"
        );
        let parsed = Statement::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.subjects[0].annotations_text(), ann);
        assert_eq!(parsed.predicate, Some(serde_json::json!({})));
    }

    #[test]
    fn reads_v1_and_v01() {
        let v1 = Statement::parse(&cosign_sign_statement(&digest(), &BTreeMap::new())).unwrap();
        assert_eq!(v1.statement_type, StatementType::V1);
        assert_eq!(v1.predicate_type, COSIGN_SIGN_PREDICATE_TYPE);
        assert!(v1.subject_for(&digest()).is_some());
        assert_eq!(v1.subject_digests(), vec![format!("sha256:{HEX}")]);
        let other = Digest::of(b"other");
        assert!(v1.subject_for(&other).is_none());

        let v01 = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"p","subject":[{{"name":"n","digest":{{"sha512":"ab"}}}},{{"name":"m","digest":{{"sha256":"{HEX}"}}}}],"predicate":null,"extra":1}}"#
        );
        let s = Statement::parse(v01.as_bytes()).unwrap();
        assert_eq!(s.statement_type, StatementType::V0_1);
        assert_eq!(s.subject_for(&digest()).unwrap().name.as_deref(), Some("m"));
        assert_eq!(s.predicate, None);
    }

    #[test]
    fn malformed_statements() {
        for (text, why) in [
            ("[]", "not a JSON object"),
            (
                r#"["https://in-toto.io/Statement/v1",[{"digest":{"sha256":"a"}}],"p",null]"#,
                "not a JSON object",
            ),
            ("{}", "_type is missing"),
            (
                r#"{"_type":"https://in-toto.io/Statement/v2","subject":[{"digest":{"sha256":"a"}}],"predicateType":"p"}"#,
                "not \"https://in-toto.io/Statement/v1\"",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p"}"#,
                "subject is missing or empty",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p"}"#,
                "subject is missing or empty",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x"}],"predicateType":"p"}"#,
                "subject 1 has no digest",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{}}],"predicateType":"p"}"#,
                "subject 1 has no digest",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"a"}}]}"#,
                "predicateType is missing",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":1}}],"predicateType":"p"}"#,
                "invalid type",
            ),
            (
                r#"{"_type":"https://in-toto.io/Statement/v1","_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"a"}}],"predicateType":"p"}"#,
                "appears twice",
            ),
        ] {
            let e = Statement::parse(text.as_bytes()).unwrap_err();
            assert!(
                matches!(e, BundleError::MalformedStatement(_)),
                "{text}: {e}"
            );
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
    }
}
