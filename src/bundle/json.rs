//! JSON helpers for the bundle formats: a check that no object repeats a member (at any
//! depth), typed members of a raw object ([`RawObject`] lives in `signature::json`), a compact object writer, and Go
//! `encoding/json` string escaping for the OCI documents cosign writes with go-containerregistry.
//!
//! Why the duplicate check: readers disagree on a repeated member (JavaScript and serde keep
//! the last, Go's `protojson` refuses the document), so a bundle with one could mean one thing
//! to pinsign and another to cosign. It is refused as malformed, as `protojson` does.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Fails, naming the member, if any JSON object in `bytes` has a member name twice. Also
/// fails on anything that is not JSON (serde_json's nesting limit of 128 applies).
pub(crate) fn no_duplicate_members(bytes: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Checked.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

/// A visitor that walks a whole JSON value and fails on a repeated member name.
#[derive(Clone, Copy)]
struct Checked;

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Checked)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("member {key:?} appears twice")));
            }
            map.next_value_seed(Checked)?;
        }
        Ok(())
    }
}

/// Deserialize `text` as `T`, but only from a JSON object: serde also fills a struct from an
/// array of its fields in order, which no format here allows.
pub(crate) fn from_object<T: de::DeserializeOwned>(text: &[u8]) -> Result<T, String> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    serde_json::from_slice(text).map_err(|e| e.to_string())
}

pub(crate) use crate::signature::json::RawObject;

impl RawObject {
    /// The member `key` as `T`, naming `what.key` in the error; `None` when absent.
    pub(crate) fn member<T: de::DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, String> {
        self.get(key)
            .map(|raw| serde_json::from_str(raw.get()).map_err(|e| format!("{what}{key}: {e}")))
            .transpose()
    }

    /// [`RawObject::member`] for a member that must be a JSON object (a descriptor).
    pub(crate) fn object_member<T: de::DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, String> {
        self.get(key)
            .map(|raw| from_object(raw.get().as_bytes()).map_err(|e| format!("{what}{key}: {e}")))
            .transpose()
    }
}

/// Writes a compact JSON object member by member; values are JSON texts given by the caller.
pub(crate) struct ObjectWriter {
    out: String,
}

impl ObjectWriter {
    pub(crate) fn new() -> ObjectWriter {
        ObjectWriter {
            out: String::from("{"),
        }
    }

    /// A member whose value is the JSON text `raw`, spliced in as is.
    pub(crate) fn raw(&mut self, key: &str, raw: &str) -> &mut Self {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push_str(&go_string(key));
        self.out.push(':');
        self.out.push_str(raw);
        self
    }

    /// A string member, escaped as Go's `encoding/json` does.
    pub(crate) fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.raw(key, &go_string(value))
    }

    /// A string member, escaped as protobuf-go's `protojson` (and serde_json) escape it:
    /// `"`, `\` and control characters only.
    pub(crate) fn proto_string(&mut self, key: &str, value: &str) -> &mut Self {
        let mut out = std::mem::take(&mut self.out);
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(key).to_string());
        out.push(':');
        out.push_str(&serde_json::Value::from(value).to_string());
        self.out = out;
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        out.push('}');
        out
    }
}

/// A JSON string literal escaped as Go's `encoding/json` escapes it: serde_json's escaping
/// (`"`, `\`, control characters; `\b \f \n \r \t` by name, as Go does since 1.22) plus
/// `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`.
pub(crate) fn go_string(s: &str) -> String {
    let plain = serde_json::Value::from(s).to_string();
    if !plain.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return plain;
    }
    let mut out = String::with_capacity(plain.len() + 12);
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A map of strings as a compact JSON object, keys sorted, Go's escaping.
pub(crate) fn go_string_map<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut w = ObjectWriter::new();
    for (k, v) in map {
        w.string(k, v);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_found_at_any_depth() {
        assert!(
            no_duplicate_members(br#"{"a":[{"b":1,"c":{"d":[1,"x",null,true,1.5]}}]}"#).is_ok()
        );
        let e = no_duplicate_members(br#"{"a":1,"a":1}"#).unwrap_err();
        assert!(e.contains("\"a\" appears twice"), "{e}");
        let e = no_duplicate_members(br#"{"a":[{"b":{"c":1,"c":2}}]}"#).unwrap_err();
        assert!(e.contains("\"c\" appears twice"), "{e}");
        // The same name in sibling objects is fine.
        assert!(no_duplicate_members(br#"[{"a":1},{"a":2}]"#).is_ok());
        assert!(no_duplicate_members(b"{").is_err());
        assert!(no_duplicate_members(b"{} x").is_err());
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(no_duplicate_members(deep.as_bytes()).is_err());
    }

    #[test]
    fn raw_object_keeps_order_and_text() {
        let obj = RawObject::parse(br#"{"b": 1 ,"a":{"z":"\u003c","y":2}}"#).unwrap();
        let keys: Vec<_> = obj.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(obj.get("a").unwrap().get(), r#"{"z":"\u003c","y":2}"#);
        assert_eq!(obj.member::<u64>("b", "x.").unwrap(), Some(1));
        assert!(obj.member::<String>("b", "x.").unwrap_err().contains("x.b"));
        assert!(RawObject::parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(RawObject::parse(b"[1]").is_err());
    }

    #[test]
    fn go_escaping() {
        assert_eq!(go_string("plain"), r#""plain""#);
        assert_eq!(
            go_string("a<b>&c\u{2028}\u{2029}\"\n\u{8}\u{c}\u{1}"),
            r#""a\u003cb\u003e\u0026c\u2028\u2029\"\n\b\f\u0001""#
        );
        let m = std::collections::BTreeMap::from([
            ("z".to_string(), "1".to_string()),
            ("a".to_string(), "<".to_string()),
        ]);
        assert_eq!(go_string_map(&m), r#"{"a":"\u003c","z":"1"}"#);
        assert_eq!(ObjectWriter::new().finish(), "{}");
    }
}
