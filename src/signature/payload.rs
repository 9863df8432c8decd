//! The simple-signing payload: what a signature is made over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{json, SignatureError, PAYLOAD_TYPE};
use crate::error::UsageError;
use crate::registry::PinnedImage;

/// The payload cosign signs for `image`, byte for byte:
/// `{"critical":{"identity":{"docker-reference":"REG/REPO"},"image":{"docker-manifest-digest":"sha256:HEX"},"type":"cosign container image signature"},"optional":null}`.
///
/// Compact JSON, no trailing newline, keys in this order; `docker-reference` is the
/// repository only (no tag, no digest); `optional` is `annotations` with sorted keys, or
/// `null` when there are none. Strings are escaped as Go escapes them (`<` is `\u003c`).
pub fn payload(image: &PinnedImage, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Out<'a> {
        critical: CriticalOut<'a>,
        optional: Option<&'a BTreeMap<String, String>>,
    }
    #[derive(Serialize)]
    struct CriticalOut<'a> {
        identity: IdentityOut,
        image: ImageOut<'a>,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    #[derive(Serialize)]
    struct IdentityOut {
        #[serde(rename = "docker-reference")]
        docker_reference: String,
    }
    #[derive(Serialize)]
    struct ImageOut<'a> {
        #[serde(rename = "docker-manifest-digest")]
        digest: &'a str,
    }
    json::to_go_json(&Out {
        critical: CriticalOut {
            identity: IdentityOut {
                docker_reference: image.repository().to_string(),
            },
            image: ImageOut {
                digest: image.digest().as_str(),
            },
            kind: PAYLOAD_TYPE,
        },
        optional: (!annotations.is_empty()).then_some(annotations),
    })
}

/// A parsed simple-signing payload, for verification. Extra fields anywhere are
/// tolerated; `critical.image.docker-manifest-digest` and `critical.type` are required.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    /// The annotations (`-a KEY=VALUE`); cosign allows any JSON value here.
    #[serde(default)]
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Critical {
    #[serde(default)]
    pub identity: Option<Identity>,
    pub image: ImageClaim,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Identity {
    #[serde(rename = "docker-reference", default)]
    pub docker_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageClaim {
    /// As written in the payload; not parsed, so a malformed value simply fails to match.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, SignatureError> {
        serde_json::from_slice(bytes).map_err(|e| SignatureError::BadPayload(e.to_string()))
    }

    /// The `optional` map with every value as text: strings as they are, anything else as
    /// its compact JSON.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.optional
            .iter()
            .flatten()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

/// Parse `-a KEY=VALUE` arguments. The value may hold '=' (split at the first); an empty
/// key, a missing '=' or one key given twice with different values is a usage error.
pub fn parse_annotations(args: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(UsageError::new(format!(
                "annotation {arg:?} must look like KEY=VALUE"
            )));
        };
        if key.is_empty() {
            return Err(UsageError::new(format!(
                "annotation {arg:?} has an empty key; write KEY=VALUE"
            )));
        }
        if let Some(prev) = out.insert(key.to_string(), value.to_string()) {
            if prev != value {
                return Err(UsageError::new(format!(
                    "annotation {key:?} is given twice, as {prev:?} and {value:?}; give it once"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Digest;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIX}{name}")).unwrap()
    }

    fn pinned(reference: &str) -> PinnedImage {
        crate::registry::pinned_for_tests(reference, crate::media_types::OCI_MANIFEST, 1)
    }

    fn pinned_from_payload(name: &str) -> PinnedImage {
        let p = SimpleSigning::parse(&fixture(name)).unwrap();
        let reference = p.critical.identity.unwrap().docker_reference.unwrap();
        let digest = Digest::parse(&p.critical.image.docker_manifest_digest).unwrap();
        pinned(&format!("{reference}@{digest}"))
    }

    #[test]
    fn cosign_obsolete_test_payload_byte_exact() {
        let image = pinned(
            "docker.io/namespace/image@sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec",
        );
        assert_eq!(
            payload(&image, &BTreeMap::new()),
            fixture("payloads/cosign-obsolete_test-expected-payload.json")
        );
    }

    #[test]
    fn fixture_payloads_byte_exact() {
        for name in [
            "payloads/busybox.payload.json",
            "payloads/kubewarden-keyless.payload.json",
            "manifests/chihjenhuang-cosign1.payload.json",
        ] {
            let image = pinned_from_payload(name);
            assert_eq!(
                String::from_utf8(payload(&image, &BTreeMap::new())).unwrap(),
                String::from_utf8(fixture(name)).unwrap(),
                "{name}"
            );
        }
        let image = pinned_from_payload("payloads/suse-toolbox-rsa.payload.json");
        let ann = BTreeMap::from([("creator".to_string(), "OBS".to_string())]);
        assert_eq!(
            payload(&image, &ann),
            fixture("payloads/suse-toolbox-rsa.payload.json")
        );
    }

    #[test]
    fn optional_sorted_and_go_escaped() {
        let image = pinned_from_payload("payloads/busybox.payload.json");
        let ann = parse_annotations(&["z=1".into(), "a=x<y".into()]).unwrap();
        let text = String::from_utf8(payload(&image, &ann)).unwrap();
        assert!(
            text.ends_with(r#""optional":{"a":"x\u003cy","z":"1"}}"#),
            "{text}"
        );
        let parsed = SimpleSigning::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.annotations(), ann);
        assert_eq!(parsed.critical.kind, PAYLOAD_TYPE);
    }

    #[test]
    fn simple_signing_tolerant_but_requires_digest_and_type() {
        let ok = br#"{"critical":{"image":{"docker-manifest-digest":"sha256:ab","x":1},"type":"t","extra":[]},"optional":{"n":3,"s":"v"},"more":true}"#;
        let p = SimpleSigning::parse(ok).unwrap();
        assert_eq!(p.critical.image.docker_manifest_digest, "sha256:ab");
        assert_eq!(p.annotations()["n"], "3");
        assert_eq!(p.annotations()["s"], "v");
        for bad in [
            &br#"{"critical":{"image":{},"type":"t"}}"#[..],
            br#"{"critical":{"image":{"docker-manifest-digest":"sha256:ab"}}}"#,
            br#"{"optional":null}"#,
            b"not json",
        ] {
            assert!(matches!(
                SimpleSigning::parse(bad),
                Err(SignatureError::BadPayload(_))
            ));
        }
    }

    #[test]
    fn annotations_parse() {
        let a =
            parse_annotations(&["env=prod".into(), "expr=a=b".into(), "empty=".into()]).unwrap();
        assert_eq!(a["env"], "prod");
        assert_eq!(a["expr"], "a=b");
        assert_eq!(a["empty"], "");
        assert!(parse_annotations(&["=v".into()]).is_err());
        assert!(parse_annotations(&["novalue".into()]).is_err());
        assert!(parse_annotations(&["k=1".into(), "k=2".into()]).is_err());
        assert!(parse_annotations(&["k=1".into(), "k=1".into()]).is_ok());
        assert!(parse_annotations(&[]).unwrap().is_empty());
    }
}
