//! DSSE (Dead Simple Signing Envelope): the envelope a Sigstore bundle carries, and PAE, the
//! byte string its signatures are made over.
//!
//! From secure-systems-lab/dsse `protocol.md` (v1.0.2): `SIGNATURE = Sign(PAE(UTF8(PAYLOAD_TYPE),
//! SERIALIZED_BODY))` with `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP
//! body`, LEN the byte length in ASCII decimal without leading zeros. Signing the payload bytes
//! alone would let a signature over one payload type be replayed as another; PAE binds both.

use crate::keys::PublicKey;

/// A DSSE envelope, decoded: `payload` is the exact signed body (the base64 already removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<DsseSignature>,
}

/// One DSSE signature. `keyid` is an unauthenticated hint (empty when unset, as cosign
/// writes it) and must never decide anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    pub keyid: String,
    pub sig: Vec<u8>,
}

impl Envelope {
    /// `PAE(payload_type, payload)`: what each signature signs.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The first of `keys` that verifies one of the signatures over PAE, with the index of
    /// that signature.
    pub fn verify<'k>(&self, keys: &'k [PublicKey]) -> Option<(&'k PublicKey, usize)> {
        let pae = self.pae();
        keys.iter().find_map(|key| {
            self.signatures
                .iter()
                .position(|s| key.verify(&pae, &s.sig))
                .map(|i| (key, i))
        })
    }
}

/// DSSE's Pre-Authentication Encoding of `payload_type` and `payload`.
///
/// ```
/// assert_eq!(
///     pinsign::bundle::pae("http://example.com/HelloWorld", b"hello world"),
///     b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
/// );
/// ```
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_vectors() {
        // secure-systems-lab/dsse implementation/signing_spec.py doctest.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        // Empty type and body: the separators stay.
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
        // Lengths are bytes, not characters; the body is taken as raw bytes.
        assert_eq!(
            pae("é", &[0, 255]),
            b"DSSEv1 2 \xc3\xa9 2 \x00\xff".to_vec()
        );
        // No leading zeros, multi-digit lengths.
        let body = vec![b'x'; 1000];
        let p = pae("application/vnd.in-toto+json", &body);
        assert!(p.starts_with(b"DSSEv1 28 application/vnd.in-toto+json 1000 xxx"));
        assert_eq!(
            p.len(),
            "DSSEv1 28 application/vnd.in-toto+json 1000 ".len() + 1000
        );
    }

    #[test]
    fn verify_finds_the_key_and_signature() {
        let key = crate::keys::SigningKey::generate();
        let other = crate::keys::SigningKey::generate();
        let mut env = Envelope {
            payload_type: "t".into(),
            payload: b"body".to_vec(),
            signatures: vec![],
        };
        let good = key.sign(&env.pae());
        env.signatures = vec![
            DsseSignature {
                keyid: String::new(),
                sig: other.sign(b"not the pae"),
            },
            DsseSignature {
                keyid: String::new(),
                sig: good.clone(),
            },
        ];
        let keys = [other.public_key(), key.public_key()];
        let (k, i) = env.verify(&keys).unwrap();
        assert_eq!(k.fingerprint(), key.fingerprint());
        assert_eq!(i, 1);
        // A signature over the bare payload is not a DSSE signature.
        env.signatures = vec![DsseSignature {
            keyid: String::new(),
            sig: key.sign(b"body"),
        }];
        assert!(env.verify(&keys).is_none());
        // The payload type is signed too.
        env.signatures = vec![DsseSignature {
            keyid: String::new(),
            sig: good,
        }];
        env.payload_type = "u".into();
        assert!(env.verify(&keys).is_none());
    }
}
