//! Public keys for verification: PEM SPKI, ECDSA P-256 (cosign's default) or RSA
//! (PKCS#1 v1.5 with SHA-256, which cosign also verifies).

use std::fmt;

use sigstore::crypto::{CosignVerificationKey, Signature};

/// A public key that can verify cosign signatures, with its fingerprint for messages.
#[derive(Clone)]
pub struct PublicKey {
    key: CosignVerificationKey,
    spki_der: Vec<u8>,
    /// Where the key came from (file path or env://VAR), for messages.
    source: String,
}

impl PublicKey {
    /// Parse a PEM `PUBLIC KEY` (SPKI). `source` names it in errors.
    pub fn from_pem(pem: &[u8], source: &str) -> anyhow::Result<PublicKey> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| anyhow::anyhow!("{source} is not a PEM file (not text)"))?;
        let blocks = super::pem::blocks(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        let Some(block) = blocks.into_iter().find(|b| b.label == "PUBLIC KEY") else {
            anyhow::bail!("{source} holds no \"PUBLIC KEY\" PEM block; pass a cosign .pub file");
        };
        let der = block.der.to_vec();
        Self::from_spki_der(der, source)
    }

    /// From DER SPKI bytes. Only ECDSA P-256 and RSA keys are accepted.
    pub fn from_spki_der(der: Vec<u8>, source: &str) -> anyhow::Result<PublicKey> {
        let key = CosignVerificationKey::try_from_der(&der)
            .map_err(|e| anyhow::anyhow!("{source} is not a usable public key: {e}"))?;
        match key {
            CosignVerificationKey::ECDSA_P256_SHA256_ASN1(_)
            | CosignVerificationKey::RSA_PKCS1_SHA256(_) => {}
            _ => anyhow::bail!(
                "{source}: unsupported key type; pinsign verifies ECDSA P-256 and RSA keys"
            ),
        }
        Ok(PublicKey {
            key,
            spki_der: der,
            source: source.to_string(),
        })
    }

    /// `SHA256:<hex>` of the DER SPKI: stable across PEM formatting, shown in verify output.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        format!(
            "SHA256:{}",
            hex::encode(sha2::Sha256::digest(&self.spki_der))
        )
    }

    /// The file or env var the key came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// PEM `PUBLIC KEY` text, as Kyverno's `publicKeys` and cosign's .pub take it.
    pub fn to_pem(&self) -> String {
        super::pem::encode("PUBLIC KEY", &self.spki_der).to_string()
    }

    /// Verify a DER signature over exactly `payload`.
    pub fn verify(&self, payload: &[u8], signature_der: &[u8]) -> bool {
        self.key
            .verify_signature(Signature::Raw(signature_der), payload)
            .is_ok()
    }

    /// Verify a DER signature over bytes known only by their SHA-256 (a large file hashed as
    /// it was read). Only ECDSA P-256 keys can check a bare digest; other keys answer false.
    pub fn verify_digest(&self, digest: &crate::reference::Digest, signature_der: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        use p256::pkcs8::DecodePublicKey as _;
        let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(&self.spki_der) else {
            return false;
        };
        let Ok(sig) = p256::ecdsa::DerSignature::try_from(signature_der) else {
            return false;
        };
        let prehash = hex::decode(digest.hex()).unwrap_or_default();
        key.verify_prehash(&prehash, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} from {})", self.fingerprint(), self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const FIX: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cosign/payloads/"
    );

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIX}{name}")).unwrap()
    }

    #[test]
    fn fixture_signature_verifies_and_wrong_key_fails() {
        let payload = read("busybox.payload.json");
        let sig = base64::engine::general_purpose::STANDARD
            .decode(read("busybox.sig.b64"))
            .unwrap();
        let key = PublicKey::from_pem(&read("busybox.pub"), "busybox.pub").unwrap();
        assert!(key.verify(&payload, &sig));
        let wrong = PublicKey::from_pem(&read("wrong-key.pub"), "wrong-key.pub").unwrap();
        assert!(!wrong.verify(&payload, &sig));
        assert!(key.fingerprint().starts_with("SHA256:"));
        let again = PublicKey::from_pem(key.to_pem().as_bytes(), "again").unwrap();
        assert_eq!(again.spki_der(), key.spki_der());
    }

    #[test]
    fn rsa_fixture_verifies() {
        let payload = read("suse-toolbox-rsa.payload.json");
        let sig = base64::engine::general_purpose::STANDARD
            .decode(read("suse-toolbox-rsa.sig.b64"))
            .unwrap();
        let key = PublicKey::from_pem(&read("suse-toolbox-rsa.pub"), "rsa.pub").unwrap();
        assert!(key.verify(&payload, &sig));
    }

    #[test]
    fn not_a_public_key() {
        let e = PublicKey::from_pem(b"hello", "x.pub").unwrap_err();
        assert!(e.to_string().contains("x.pub"), "{e}");
    }
}
