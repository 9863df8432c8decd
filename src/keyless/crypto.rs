//! Signature verification by a public key given as DER SPKI, under an explicitly named scheme.
//!
//! Keyless verification checks signatures made by five different keys (Fulcio root and
//! intermediate, the leaf, the Rekor log, the CT log) with several curve/hash pairings
//! (Fulcio's P-384 CA signs with SHA-384; a P-256 leaf with SHA-256; a blob bundle holds only
//! the artifact's SHA-256, so its signature must be checked against a digest). So the scheme
//! is always named by the caller, from the certificate's `signatureAlgorithm`, the SCT's
//! `DigitallySigned` header or the log key's type, and never guessed from the key alone.
//!
//! ECDSA P-256 and P-384 use RustCrypto's `p256`/`p384` prehash verifiers, which accept any
//! hash (sigstore's `CosignVerificationKey` ties SHA-384 to P-384 and keeps its prehash
//! verifier crate-private). Ed25519 and RSA keys (Rekor v2 logs, some CT logs) go through
//! sigstore's `CosignVerificationKey`.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::pkcs8::DecodePublicKey as _;
use sha2::Digest as _;
use sigstore::crypto::{CosignVerificationKey, Signature as SigstoreSignature};

/// A message digest named by a signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }
}

/// How a signature was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// ECDSA over the named hash of the message, DER-encoded `(r, s)`.
    Ecdsa(Hash),
    /// Ed25519 over the message itself.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheme::Ecdsa(h) => write!(f, "ECDSA with {}", h.name()),
            Scheme::Ed25519 => f.write_str("Ed25519"),
            Scheme::RsaPkcs1Sha256 => f.write_str("RSA PKCS#1 v1.5 with SHA-256"),
        }
    }
}

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a DER SubjectPublicKeyInfo, or a key type pinsign does not verify with ({0})")]
    Unsupported(String),
}

enum Inner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(CosignVerificationKey),
    Rsa(CosignVerificationKey),
}

/// A public key that verifies signatures: ECDSA P-256 or P-384, Ed25519, or RSA.
pub struct VerifyingKey {
    spki_der: Vec<u8>,
    inner: Inner,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VerifyingKey({}, {})",
            self.kind(),
            hex::encode(self.key_id())
        )
    }
}

impl Clone for VerifyingKey {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::P256(k) => Inner::P256(*k),
            Inner::P384(k) => Inner::P384(*k),
            Inner::Ed25519(k) => Inner::Ed25519(k.clone()),
            Inner::Rsa(k) => Inner::Rsa(k.clone()),
        };
        VerifyingKey {
            spki_der: self.spki_der.clone(),
            inner,
        }
    }
}

impl VerifyingKey {
    /// From DER SubjectPublicKeyInfo bytes.
    pub fn from_spki_der(der: &[u8]) -> Result<VerifyingKey, KeyError> {
        let inner = if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            Inner::P256(k)
        } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            Inner::P384(k)
        } else {
            match CosignVerificationKey::try_from_der(der) {
                Ok(k @ CosignVerificationKey::ED25519(_)) => Inner::Ed25519(k),
                Ok(k @ CosignVerificationKey::RSA_PKCS1_SHA256(_)) => Inner::Rsa(k),
                Ok(_) => {
                    return Err(KeyError::Unsupported(
                        "only ECDSA P-256/P-384, Ed25519 and RSA keys are supported".into(),
                    ))
                }
                Err(e) => return Err(KeyError::Unsupported(e.to_string())),
            }
        };
        Ok(VerifyingKey {
            spki_der: der.to_vec(),
            inner,
        })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// SHA-256 of the DER SPKI: the log id of a Rekor or CT log key (RFC 6962 `LogID`).
    pub fn key_id(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.spki_der).into()
    }

    /// The key type, for messages (`ECDSA P-256`).
    pub fn kind(&self) -> &'static str {
        match self.inner {
            Inner::P256(_) => "ECDSA P-256",
            Inner::P384(_) => "ECDSA P-384",
            Inner::Ed25519(_) => "Ed25519",
            Inner::Rsa(_) => "RSA",
        }
    }

    /// The scheme a transparency log signs with when nothing else names one: ECDSA with the
    /// curve's own hash (what Rekor and the CT logs use), Ed25519, or RSA PKCS#1 SHA-256.
    pub fn natural_scheme(&self) -> Scheme {
        match self.inner {
            Inner::P256(_) => Scheme::Ecdsa(Hash::Sha256),
            Inner::P384(_) => Scheme::Ecdsa(Hash::Sha384),
            Inner::Ed25519(_) => Scheme::Ed25519,
            Inner::Rsa(_) => Scheme::RsaPkcs1Sha256,
        }
    }

    /// Verify `signature` over `message` under `scheme`. False for any mismatch, including a
    /// scheme that does not fit the key type.
    pub fn verify(&self, scheme: Scheme, message: &[u8], signature: &[u8]) -> bool {
        match (scheme, &self.inner) {
            (Scheme::Ecdsa(hash), Inner::P256(_) | Inner::P384(_)) => {
                self.verify_ecdsa_prehash(&hash.digest(message), signature)
            }
            (Scheme::Ed25519, Inner::Ed25519(k)) | (Scheme::RsaPkcs1Sha256, Inner::Rsa(k)) => k
                .verify_signature(SigstoreSignature::Raw(signature), message)
                .is_ok(),
            _ => false,
        }
    }

    /// Verify an ECDSA `signature` made over a message whose digest is `digest` (what a
    /// Sigstore message-signature bundle records). False for non-ECDSA keys.
    pub fn verify_ecdsa_prehash(&self, digest: &[u8], signature: &[u8]) -> bool {
        match &self.inner {
            Inner::P256(k) => p256::ecdsa::DerSignature::from_bytes(signature)
                .is_ok_and(|sig| k.verify_prehash(digest, &sig).is_ok()),
            Inner::P384(k) => p384::ecdsa::DerSignature::from_bytes(signature)
                .is_ok_and(|sig| k.verify_prehash(digest, &sig).is_ok()),
            _ => false,
        }
    }

    /// True for ECDSA keys (the only ones a digest-only signature can be checked with).
    pub fn is_ecdsa(&self) -> bool {
        matches!(self.inner, Inner::P256(_) | Inner::P384(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;

    fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    #[test]
    fn ecdsa_p256_message_and_prehash() {
        let sk = p256_key(7);
        let spki = sk.verifying_key().to_public_key_der().unwrap();
        let key = VerifyingKey::from_spki_der(spki.as_bytes()).unwrap();
        let sig: p256::ecdsa::DerSignature = sk.sign(b"hello");
        assert!(key.verify(Scheme::Ecdsa(Hash::Sha256), b"hello", sig.as_bytes()));
        assert!(!key.verify(Scheme::Ecdsa(Hash::Sha256), b"hellp", sig.as_bytes()));
        assert!(!key.verify(Scheme::Ecdsa(Hash::Sha384), b"hello", sig.as_bytes()));
        assert!(!key.verify(Scheme::Ed25519, b"hello", sig.as_bytes()));
        let digest = Hash::Sha256.digest(b"hello");
        assert!(key.verify_ecdsa_prehash(&digest, sig.as_bytes()));
        assert_eq!(key.kind(), "ECDSA P-256");
        assert_eq!(
            key.key_id().to_vec(),
            Hash::Sha256.digest(spki.as_bytes()),
            "log id is sha256 of the SPKI"
        );
    }

    #[test]
    fn ecdsa_p384_with_either_hash() {
        use p384::ecdsa::signature::hazmat::PrehashSigner as _;
        use p384::pkcs8::EncodePublicKey as _;
        let sk = p384::ecdsa::SigningKey::from_slice(&[9u8; 48]).unwrap();
        let spki = sk.verifying_key().to_public_key_der().unwrap();
        let key = VerifyingKey::from_spki_der(spki.as_bytes()).unwrap();
        let sig: p384::ecdsa::DerSignature = sk.sign(b"tbs");
        assert!(key.verify(Scheme::Ecdsa(Hash::Sha384), b"tbs", sig.as_bytes()));
        // A P-384 CA may sign with SHA-256 too (ecdsa-with-SHA256).
        let sig256: p384::ecdsa::Signature = sk.sign_prehash(&Hash::Sha256.digest(b"tbs")).unwrap();
        let der = sig256.to_der();
        assert!(key.verify(Scheme::Ecdsa(Hash::Sha256), b"tbs", der.as_bytes()));
        assert!(!key.verify(Scheme::Ecdsa(Hash::Sha384), b"tbs", der.as_bytes()));
        assert_eq!(key.natural_scheme(), Scheme::Ecdsa(Hash::Sha384));
    }

    #[test]
    fn ed25519_from_a_trusted_root_parses() {
        // Rekor v2 log2025-1 key of the public-good trusted root.
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode("MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=")
            .unwrap();
        let key = VerifyingKey::from_spki_der(&der).unwrap();
        assert_eq!(key.natural_scheme(), Scheme::Ed25519);
        assert!(!key.verify(Scheme::Ed25519, b"x", &[0u8; 64]));
        assert!(!key.verify_ecdsa_prehash(&[0u8; 32], &[0u8; 8]));
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(VerifyingKey::from_spki_der(b"not a key").is_err());
    }
}
