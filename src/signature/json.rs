//! Small JSON helpers: an object read as ordered raw members, an object writer that splices
//! raw members back in, and Go's `encoding/json` string escaping.

use std::fmt;
use std::io;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON object as its members in document order, each value as its exact source text.
/// (Shared with [`crate::bundle`], which adds typed member accessors.)
pub(crate) struct RawObject(pub(crate) Vec<(String, Box<RawValue>)>);

impl RawObject {
    /// Parse `bytes` as one JSON object; duplicate member names are an error (readers
    /// disagree on which one wins, so we do not guess).
    pub(crate) fn parse(bytes: &[u8]) -> Result<RawObject, String> {
        let obj: RawObject = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut seen = std::collections::BTreeSet::new();
        for (k, _) in &obj.0 {
            if !seen.insert(k.as_str()) {
                return Err(format!("member {k:?} appears twice"));
            }
        }
        Ok(obj)
    }

    pub(crate) fn parse_str(text: &str) -> Result<RawObject, String> {
        Self::parse(text.as_bytes())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// Deserialize a raw member as `T`, naming the member in the error.
pub(crate) fn member<T: de::DeserializeOwned>(raw: &RawValue, name: &str) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| format!("{name}: {e}"))
}

/// Writes a compact JSON object member by member, values either serialized or raw.
pub(crate) struct ObjectWriter {
    out: Vec<u8>,
    first: bool,
}

impl ObjectWriter {
    pub(crate) fn new() -> ObjectWriter {
        ObjectWriter {
            out: vec![b'{'],
            first: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // A String serializes infallibly.
        self.out
            .extend_from_slice(serde_json::to_string(key).unwrap_or_default().as_bytes());
        self.out.push(b':');
    }

    /// A member whose value is serialized compactly.
    pub(crate) fn value<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        // Our own serde types (strings, integers, maps of strings) cannot fail to serialize.
        if let Ok(text) = serde_json::to_vec(value) {
            self.out.extend_from_slice(&text);
        }
    }

    /// A member whose value is spliced in as the exact text given.
    pub(crate) fn raw(&mut self, key: &str, raw: &str) {
        self.key(key);
        self.out.extend_from_slice(raw.as_bytes());
    }

    /// A member whose value is a JSON array of raw texts.
    pub(crate) fn raw_array<'a>(&mut self, key: &str, items: impl IntoIterator<Item = &'a str>) {
        self.key(key);
        self.out.push(b'[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(item.as_bytes());
        }
        self.out.push(b']');
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// A compact formatter that escapes strings as Go's `encoding/json` does by default:
/// `<`, `>`, `&`, U+2028 and U+2029 become `\u003c`, `\u003e`, `\u0026`, `\u2028`,
/// `\u2029`. cosign marshals its payload with Go, so an annotation holding one of these
/// produces the same bytes from pinsign as from cosign.
pub(crate) struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as compact JSON with Go's string escaping.
pub(crate) fn to_go_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    // Serializing our payload structs (strings and maps of strings) into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_object_keeps_order_and_text() {
        let obj = RawObject::parse(br#"{"b": 1 ,"a":{"z":"\u003c","y":2}}"#).unwrap();
        let keys: Vec<_> = obj.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(obj.get("a").unwrap().get(), r#"{"z":"\u003c","y":2}"#);
        assert!(RawObject::parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(RawObject::parse(b"[1]").is_err());
        assert!(RawObject::parse(b"{").is_err());
    }

    #[test]
    fn go_escaping() {
        let v = std::collections::BTreeMap::from([("k<", "a<b>&c\u{2028}\"\n")]);
        assert_eq!(
            String::from_utf8(to_go_json(&v)).unwrap(),
            r#"{"k\u003c":"a\u003cb\u003e\u0026c\u2028\"\n"}"#
        );
    }

    #[test]
    fn object_writer() {
        let mut w = ObjectWriter::new();
        w.value("a", &1);
        w.raw("b", r#"{ "x" : 1 }"#);
        w.raw_array("c", ["1", "[2]"]);
        assert_eq!(w.finish(), br#"{"a":1,"b":{ "x" : 1 },"c":[1,[2]]}"#);
    }
}
