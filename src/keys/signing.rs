//! [`SigningKey`]: the ECDSA P-256 private key pinsign signs with, read from cosign's
//! encrypted PEM or a plain PKCS#8 PEM; and [`load_public_key`], which takes either half.
//!
//! Key types are told apart by their PKCS#8 algorithm OID and curve OID (or the SEC1
//! curve OID, or the PEM label), so an RSA, Ed25519 or P-384 key gets an error that
//! names its type instead of a parse failure.

use std::fmt;

use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use pkcs8::ObjectIdentifier;
use zeroize::Zeroizing;

use super::encrypted::{self, Sealed};
use super::password::Password;
use super::source::KeySource;
use super::{pem, PasswordSource, PublicKey};

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// An ECDSA P-256 private key. The scalar is wiped on drop (p256 zeroizes it);
/// `Debug` shows only the public key's fingerprint and where the key came from.
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    /// Load a private key from a path or `env://VAR`: cosign's encrypted PEM (either
    /// label) or a plain PKCS#8 `PRIVATE KEY`. Asks for the password only if encrypted.
    pub fn load(key_arg: &str, password: &PasswordSource) -> anyhow::Result<SigningKey> {
        let source = KeySource::parse(key_arg)?;
        let text = source.read()?;
        let name = source.to_string();
        let key = match classify(&text, &name, KeyUse::Sign)? {
            KeyText::Encrypted(sealed) => open(&sealed, &name, password)?,
            KeyText::Pkcs8(der) => SigningKey::from_pkcs8_der(&der, &name)?,
            KeyText::Sec1(der) => {
                // Only a key that import takes is worth the advice to import it: the curve
                // and the encoding are checked first.
                SigningKey::from_sec1_der(&der, &name)?;
                anyhow::bail!(
                    "{name} is a plain SEC1 \"EC PRIVATE KEY\"; import it first with \
                     `pinsign import-key-pair --key {name}` and use the key that writes"
                )
            }
            KeyText::Public(_) => anyhow::bail!(
                "{name} is a public key; signing needs the private key (e.g. cosign.key)"
            ),
        };
        tracing::info!("loaded private key {name} ({})", key.fingerprint());
        Ok(key)
    }

    /// Read a plain private key to import: PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`,
    /// P-256 only, from a path or `env://VAR`.
    pub fn load_for_import(key_arg: &str) -> anyhow::Result<SigningKey> {
        let source = KeySource::parse(key_arg)?;
        let text = source.read()?;
        let name = source.to_string();
        match classify(&text, &name, KeyUse::Import)? {
            KeyText::Pkcs8(der) => SigningKey::from_pkcs8_der(&der, &name),
            KeyText::Sec1(der) => SigningKey::from_sec1_der(&der, &name),
            KeyText::Encrypted(_) => anyhow::bail!(
                "{name} is already a cosign encrypted key; use it as it is (import takes a \
                 plain PKCS#8 \"PRIVATE KEY\" or SEC1 \"EC PRIVATE KEY\" PEM)"
            ),
            KeyText::Public(_) => anyhow::bail!(
                "{name} is a public key; import-key-pair needs a private key (PKCS#8 or SEC1 PEM)"
            ),
        }
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> SigningKey {
        SigningKey::from_p256(p256::ecdsa::SigningKey::generate(), "a new key")
    }

    /// From PKCS#8 DER, after checking it holds a P-256 EC key. `source` names it in errors.
    pub fn from_pkcs8_der(der: &[u8], source: &str) -> anyhow::Result<SigningKey> {
        SigningKey::pkcs8_for(der, source, KeyUse::Sign)
    }

    fn pkcs8_for(der: &[u8], source: &str, usage: KeyUse) -> anyhow::Result<SigningKey> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|_| anyhow::anyhow!("{source} does not hold a PKCS#8 private key"))?;
        let (alg, params) = info
            .algorithm
            .oids()
            .map_err(|_| anyhow::anyhow!("{source}: the PKCS#8 key algorithm is malformed"))?;
        if alg != ID_EC_PUBLIC_KEY {
            let kind = with_article(algorithm_name(alg));
            match usage {
                KeyUse::Verify => anyhow::bail!(
                    "{source} is {kind} private key; pinsign reads only ECDSA P-256 private keys. \
                     To verify with it, pass its public key (`openssl pkey -in {source} -pubout`): \
                     pinsign verifies with ECDSA P-256, RSA and Ed25519 public keys"
                ),
                KeyUse::Sign | KeyUse::Import => anyhow::bail!(
                    "{source} is {kind} key; pinsign signs only with ECDSA P-256 keys (cosign's default)"
                ),
            }
        }
        check_curve(params, source, usage)?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .map_err(|_| anyhow::anyhow!("{source}: the P-256 private key is malformed"))?;
        Ok(SigningKey::from_p256(key, source))
    }

    /// From SEC1 `ECPrivateKey` DER, after checking the curve is P-256.
    pub fn from_sec1_der(der: &[u8], source: &str) -> anyhow::Result<SigningKey> {
        SigningKey::sec1_for(der, source, KeyUse::Sign)
    }

    fn sec1_for(der: &[u8], source: &str, usage: KeyUse) -> anyhow::Result<SigningKey> {
        let parsed = sec1::EcPrivateKey::try_from(der)
            .map_err(|_| anyhow::anyhow!("{source} does not hold a SEC1 EC private key"))?;
        check_curve(
            parsed.parameters.and_then(|p| p.named_curve()),
            source,
            usage,
        )?;
        let secret = p256::SecretKey::from_sec1_der(der)
            .map_err(|_| anyhow::anyhow!("{source}: the P-256 private key is malformed"))?;
        Ok(SigningKey::from_p256(secret.into(), source))
    }

    fn from_p256(key: p256::ecdsa::SigningKey, source: &str) -> SigningKey {
        // Encoding a valid P-256 point as SPKI cannot fail, nor can parsing it back.
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.into_vec())
            .unwrap_or_default();
        let public = PublicKey::from_spki_der(spki, source)
            .expect("the SPKI of a P-256 key is a valid public key");
        SigningKey { key, public }
    }

    /// ASN.1 DER ECDSA P-256 signature over SHA-256(`payload`), as cosign makes.
    pub fn sign(&self, payload: &[u8]) -> Vec<u8> {
        let sig: p256::ecdsa::DerSignature = self.key.sign(payload);
        sig.as_bytes().to_vec()
    }

    /// The same signature [`SigningKey::sign`] makes over some bytes, from their SHA-256
    /// alone (a file too large to hold in memory is hashed as it is read).
    pub fn sign_digest(&self, digest: &crate::reference::Digest) -> Vec<u8> {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        let prehash = hex::decode(digest.hex()).unwrap_or_default();
        let sig: Result<p256::ecdsa::Signature, _> = self.key.sign_prehash(&prehash);
        // A 32-byte prehash always signs; an empty signature would simply never verify.
        sig.map(|s| s.to_der().as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// The public half, for verification and the `.pub` file.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// `SHA256:<hex>` of the public key's SPKI DER.
    pub fn fingerprint(&self) -> String {
        self.public.fingerprint()
    }

    /// Where the key came from (path, env://VAR, or "a new key").
    pub fn source(&self) -> &str {
        self.public.source()
    }

    /// PKCS#8 DER of the private key (wiped on drop).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let doc = self.key.to_pkcs8_der().ok();
        Zeroizing::new(doc.map(|d| d.as_bytes().to_vec()).unwrap_or_default())
    }

    /// cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` PEM, sealed under `password`.
    pub fn to_encrypted_pem(&self, password: &Password) -> Zeroizing<String> {
        let json = encrypted::seal(&self.to_pkcs8_der(), password.as_bytes());
        pem::encode(encrypted::SIGSTORE_LABEL, &json)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({} from {})",
            self.fingerprint(),
            self.public.source()
        )
    }
}

/// A verification key from a PEM public key, or from a private key (its public half;
/// asks for a password only when the key is encrypted), from a path or `env://VAR`.
pub fn load_public_key(key_arg: &str, password: &PasswordSource) -> anyhow::Result<PublicKey> {
    let source = KeySource::parse(key_arg)?;
    let text = source.read()?;
    let name = source.to_string();
    match classify(&text, &name, KeyUse::Verify)? {
        KeyText::Public(der) => PublicKey::from_spki_der(der, &name),
        KeyText::Encrypted(sealed) => Ok(open(&sealed, &name, password)?.public_key()),
        KeyText::Pkcs8(der) => Ok(SigningKey::pkcs8_for(&der, &name, KeyUse::Verify)?.public_key()),
        KeyText::Sec1(der) => Ok(SigningKey::sec1_for(&der, &name, KeyUse::Verify)?.public_key()),
    }
}

/// A verification key that must be published as it is (a Kyverno policy's PEM): a PEM
/// public key only, from a path or `env://VAR`. A private key is refused without being
/// decrypted, so no password is asked and no private material can reach the output.
pub fn load_verification_key(key_arg: &str) -> anyhow::Result<PublicKey> {
    let source = KeySource::parse(key_arg)?;
    let text = source.read()?;
    let name = source.to_string();
    let private = |what: &str| {
        anyhow::anyhow!(
            "{name} is {what}; a policy takes only the public key (it is published, a private \
             key never is): pass the .pub file, or make one with `pinsign public-key --key \
             {name} --outfile cosign.pub`"
        )
    };
    match classify(&text, &name, KeyUse::Verify)? {
        KeyText::Public(der) => PublicKey::from_spki_der(der, &name),
        KeyText::Encrypted(_) => Err(private("an encrypted private key")),
        KeyText::Pkcs8(_) | KeyText::Sec1(_) => Err(private("a private key")),
    }
}

/// The password-free core of [`load_public_key`]: classify a key text and parse it as far
/// as no password is needed. `Ok(Some(key))` for a public key or a plain private key (its
/// public half), `Ok(None)` for a cosign encrypted key (its envelope parsed and checked),
/// an error naming `name` otherwise. Exposed for fuzzing (`fuzz/`).
#[doc(hidden)]
pub fn inspect_key_text(bytes: &[u8], name: &str) -> anyhow::Result<Option<PublicKey>> {
    Ok(match classify(bytes, name, KeyUse::Verify)? {
        KeyText::Public(der) => Some(PublicKey::from_spki_der(der, name)?),
        KeyText::Encrypted(_) => None,
        KeyText::Pkcs8(der) => {
            Some(SigningKey::pkcs8_for(&der, name, KeyUse::Verify)?.public_key())
        }
        KeyText::Sec1(der) => Some(SigningKey::sec1_for(&der, name, KeyUse::Verify)?.public_key()),
    })
}

/// What a key is read for: the same bad key needs different advice when signing (use a
/// P-256 key) and when verifying (RSA and Ed25519 public keys are fine; pass the public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    Sign,
    Import,
    Verify,
}

/// What a key text holds, by its first PEM block (an `EC PARAMETERS` block is skipped).
enum KeyText {
    Public(Vec<u8>),
    Encrypted(Sealed),
    Pkcs8(Zeroizing<Vec<u8>>),
    Sec1(Zeroizing<Vec<u8>>),
}

fn classify(bytes: &[u8], name: &str, usage: KeyUse) -> anyhow::Result<KeyText> {
    let neither = || {
        anyhow::anyhow!(
            "{name} is neither a PEM public key nor a PEM private key; pass a cosign .key or \
             .pub file (or env://VAR holding one)"
        )
    };
    let text = std::str::from_utf8(bytes).map_err(|_| neither())?;
    let blocks = pem::blocks(text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let Some(block) = blocks.into_iter().find(|b| b.label != "EC PARAMETERS") else {
        return Err(neither());
    };
    let label = block.label.as_str();
    Ok(match label {
        "PUBLIC KEY" => KeyText::Public(block.der.to_vec()),
        encrypted::SIGSTORE_LABEL | encrypted::COSIGN_LABEL => KeyText::Encrypted(
            Sealed::parse(&block.der).map_err(|e| anyhow::anyhow!("{name}: {e}"))?,
        ),
        "PRIVATE KEY" => KeyText::Pkcs8(block.der),
        "EC PRIVATE KEY" => KeyText::Sec1(block.der),
        "RSA PUBLIC KEY" if usage == KeyUse::Verify => anyhow::bail!(
            "{name} is a PKCS#1 RSA public key (PEM \"RSA PUBLIC KEY\"); cosign and pinsign read \
             public keys as PEM \"PUBLIC KEY\" (SPKI): convert it with \
             `openssl rsa -RSAPublicKey_in -in {name} -pubout`"
        ),
        "RSA PRIVATE KEY" if usage == KeyUse::Verify => anyhow::bail!(
            "{name} is an RSA private key (PEM \"RSA PRIVATE KEY\"), which pinsign does not read; \
             to verify with it, pass its public key (`openssl pkey -in {name} -pubout`): pinsign \
             verifies with ECDSA P-256, RSA and Ed25519 public keys"
        ),
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => anyhow::bail!(
            "{name} is an RSA key (PEM \"{label}\"); pinsign signs only with ECDSA P-256 keys \
             (cosign's default); generate one with `pinsign generate-key-pair`"
        ),
        "DSA PRIVATE KEY" | "OPENSSH PRIVATE KEY" => anyhow::bail!(
            "{name} is an unsupported key type (PEM \"{label}\"); pinsign signs only with \
             ECDSA P-256 keys (PKCS#8 or cosign's encrypted format)"
        ),
        "ENCRYPTED PRIVATE KEY" => anyhow::bail!(
            "{name} is a password-protected PKCS#8 key, which pinsign does not read; decrypt it \
             (`openssl pkcs8 -in KEY -out plain.pem`) and run `pinsign import-key-pair --key plain.pem`"
        ),
        "CERTIFICATE" => anyhow::bail!(
            "{name} is a certificate, not a key; pass a cosign .key or .pub file"
        ),
        other => anyhow::bail!(
            "{name} holds a PEM \"{other}\" block, which is neither a public nor a private key \
             pinsign reads"
        ),
    })
}

/// Decrypt a cosign envelope (asking for the password now) into a P-256 key.
fn open(sealed: &Sealed, name: &str, password: &PasswordSource) -> anyhow::Result<SigningKey> {
    let password = Password::for_reading(password, name)?;
    open_with(sealed, name, password)
}

fn open_with(sealed: &Sealed, name: &str, password: Password) -> anyhow::Result<SigningKey> {
    let plain = sealed.open(password.as_bytes()).map_err(|_| {
        anyhow::anyhow!(
            "cannot decrypt {name}: wrong password (from {}); check the password for this key",
            password.origin()
        )
    })?;
    drop(password);
    if pkcs8::PrivateKeyInfoRef::try_from(&plain[..]).is_err() {
        if sec1::EcPrivateKey::try_from(&plain[..]).is_ok() {
            anyhow::bail!(
                "{name} decrypts to a SEC1 \"EC PRIVATE KEY\", not PKCS#8; cosign rejects such \
                 keys too; generate a new key pair with `pinsign generate-key-pair`"
            );
        }
        anyhow::bail!(
            "{name} decrypts to something that is not a PKCS#8 private key; it was not written by \
             cosign or pinsign"
        );
    }
    SigningKey::from_pkcs8_der(&plain, name)
}

fn check_curve(curve: Option<ObjectIdentifier>, source: &str, usage: KeyUse) -> anyhow::Result<()> {
    let curve = match curve {
        Some(oid) if oid == PRIME256V1 => return Ok(()),
        Some(oid) => format!("on curve {}", curve_name(oid)),
        None => "without a named curve".to_string(),
    };
    match usage {
        KeyUse::Sign | KeyUse::Import => anyhow::bail!(
            "{source} is an EC key {curve}; pinsign signs only with P-256 (prime256v1) keys"
        ),
        KeyUse::Verify => anyhow::bail!(
            "{source} is an EC private key {curve}; pinsign reads only ECDSA P-256 private \
             keys, and verifies with ECDSA P-256, RSA and Ed25519 public keys"
        ),
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "RSA".into(),
        "1.2.840.113549.1.1.10" => "RSA-PSS".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.3.101.110" => "X25519".into(),
        "1.3.101.111" => "X448".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        other => format!("unknown-algorithm (OID {other})"),
    }
}

fn curve_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.132.0.34" => "P-384 (secp384r1)".into(),
        "1.3.132.0.35" => "P-521 (secp521r1)".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        "1.2.840.10045.3.1.1" => "P-192 (prime192v1)".into(),
        "1.3.132.0.33" => "P-224 (secp224r1)".into(),
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1".into(),
        other => format!("OID {other}"),
    }
}

fn with_article(name: String) -> String {
    let vowel = name.starts_with(['A', 'E', 'I', 'O', 'U', 'R', 'X', 'u']);
    format!("{} {name}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod sign_digest_tests {
    use super::*;

    #[test]
    fn signing_a_digest_is_signing_its_bytes() {
        let key = SigningKey::generate();
        let data = b"a release tarball";
        let digest = crate::reference::Digest::of(data);
        let sig = key.sign_digest(&digest);
        assert!(key.public_key().verify(data, &sig));
        // Deterministic (RFC 6979): the same signature as over the bytes.
        assert_eq!(sig, key.sign(data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cosign/keys/");

    fn path(name: &str) -> String {
        format!("{KEYS}{name}")
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(path(name)).unwrap()
    }

    fn sealed(name: &str) -> Sealed {
        match classify(&read(name), name, KeyUse::Sign).unwrap() {
            KeyText::Encrypted(s) => s,
            _ => panic!("{name} is not encrypted"),
        }
    }

    fn derived_pub_der(name: &str) -> Vec<u8> {
        let text = String::from_utf8(read(name)).unwrap();
        let blocks = pem::blocks(&text).unwrap();
        blocks[0].der.to_vec()
    }

    /// Every encrypted fixture opens with its documented password, and its public key is
    /// the matching `*.derived.pub` (compared as DER).
    #[test]
    fn encrypted_fixtures_decrypt_to_their_public_keys() {
        let cases = [
            ("cosign-keys_test-pemsigstorekey", "hello", 32768),
            ("cosign-keys_test-pemcosignkey", "hello", 32768),
            (
                "sigstore-rs-cosign_generated_encrypted_empty_private",
                "",
                65536,
            ),
            ("sigstore-rs-ecdsa_encrypted_private", "123", 32768),
            (
                "sigstore-rs-example-ECDSA_P256_ASN1_ENCRYPTED_PRIVATE_PEM",
                "password",
                32768,
            ),
        ];
        for (stem, pw, n) in cases {
            let s = sealed(&format!("{stem}.key"));
            assert_eq!(s.n(), n, "{stem}");
            assert!(s.open(b"not the password").is_err(), "{stem}");
            let plain = s.open(pw.as_bytes()).unwrap();
            let key = SigningKey::from_pkcs8_der(&plain, stem).unwrap();
            assert_eq!(
                key.public_key().spki_der(),
                &derived_pub_der(&format!("{stem}.derived.pub"))[..],
                "{stem}"
            );
        }
    }

    #[test]
    fn sec1_inside_is_rejected_like_cosign() {
        let name = "cosign-keys_test-pemcosigneckey-sec1-inside.key";
        let s = sealed(name);
        assert_eq!(s.n(), 65536);
        let plain = s.open(b"hello").unwrap();
        assert!(SigningKey::from_pkcs8_der(&plain, name).is_err());
        let e = open_with(&s, name, Password::new("hello", "test"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(name) && e.contains("SEC1") && e.contains("not PKCS#8"),
            "{e}"
        );
        let e = open_with(&s, name, Password::new("nope", "COSIGN_PASSWORD"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot decrypt") && e.contains("wrong password"),
            "{e}"
        );
        assert!(e.contains("COSIGN_PASSWORD") && !e.contains("nope"), "{e}");
    }

    #[test]
    fn plain_pkcs8_fixtures_load_without_password() {
        for name in [
            "cosign-keys_test-validecpkcs8.pem",
            "sigstore-rs-ecdsa_private.key",
            "sigstore-rs-example-ECDSA_P256_ASN1_PRIVATE_PEM.key",
        ] {
            let key = SigningKey::load(&path(name), &PasswordSource::default()).unwrap();
            let sig = key.sign(b"payload");
            assert!(key.public_key().verify(b"payload", &sig), "{name}");
            assert!(!key.public_key().verify(b"payloaX", &sig), "{name}");
        }
    }

    #[test]
    fn generated_key_round_trips_through_pkcs8_and_signs() {
        let key = SigningKey::generate();
        let again = SigningKey::from_pkcs8_der(&key.to_pkcs8_der(), "again").unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        let sig = key.sign(b"hello");
        assert!(again.public_key().verify(b"hello", &sig));
        // The signature is DER (SEQUENCE of two INTEGERs).
        assert_eq!(sig[0], 0x30);
        let pem = key.to_encrypted_pem(&Password::new("pw", "test"));
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let KeyText::Encrypted(s) = classify(pem.as_bytes(), "t", KeyUse::Sign).unwrap() else {
            panic!("not encrypted")
        };
        let back = SigningKey::from_pkcs8_der(&s.open(b"pw").unwrap(), "t").unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
    }

    #[test]
    fn debug_shows_only_the_fingerprint() {
        let key = SigningKey::generate();
        let d = format!("{key:?}");
        assert!(d.starts_with("SigningKey(SHA256:"), "{d}");
        let der = key.to_pkcs8_der();
        let hex_scalar = hex::encode(&der[der.len() - 32..]);
        assert!(!d.contains(&hex_scalar));
    }

    #[test]
    fn key_types_are_named() {
        let e = classify(
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "k",
            KeyUse::Sign,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("RSA"), "{e}");
        let e = classify(b"hello", "k", KeyUse::Sign)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("neither a PEM public key nor a PEM private key"),
            "{e}"
        );
        assert_eq!(
            algorithm_name(ObjectIdentifier::new_unwrap("1.3.101.112")),
            "Ed25519"
        );
        assert_eq!(with_article("Ed25519".into()), "an Ed25519");
        assert_eq!(with_article("DSA".into()), "a DSA");
        let e = check_curve(
            Some(ObjectIdentifier::new_unwrap("1.3.132.0.34")),
            "k",
            KeyUse::Sign,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("P-384"), "{e}");
    }

    #[test]
    fn public_key_from_either_half() {
        let args = PasswordSource::default();
        let from_pub = load_public_key(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/cosign/payloads/busybox.pub"
            ),
            &args,
        )
        .unwrap();
        assert!(from_pub.fingerprint().starts_with("SHA256:"));
        let from_priv = load_public_key(
            &path("sigstore-rs-example-ECDSA_P256_ASN1_PRIVATE_PEM.key"),
            &args,
        )
        .unwrap();
        let key = SigningKey::load(
            &path("sigstore-rs-example-ECDSA_P256_ASN1_PRIVATE_PEM.key"),
            &args,
        )
        .unwrap();
        assert_eq!(from_priv.spki_der(), key.public_key().spki_der());
    }

    #[test]
    fn verification_key_is_a_public_key_only() {
        let key = load_verification_key(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cosign/payloads/busybox.pub"
        ))
        .unwrap();
        assert!(key.fingerprint().starts_with("SHA256:"));
        for (name, says) in [
            (
                "cosign-keys_test-pemsigstorekey.key",
                "an encrypted private key",
            ),
            (
                "cosign-keys_test-pemcosignkey.key",
                "an encrypted private key",
            ),
            ("cosign-keys_test-validecpkcs8.pem", "a private key"),
            ("sigstore-rs-ecdsa_private.key", "a private key"),
        ] {
            // No password source at all: a refusal must come before any decryption.
            let e = load_verification_key(&path(name)).unwrap_err().to_string();
            assert!(e.contains(says), "{name}: {e}");
            assert!(e.contains("only the public key"), "{e}");
            assert!(!e.contains('\n') && !e.contains("BEGIN"), "{e}");
        }
    }

    #[test]
    fn signing_key_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SigningKey>();
    }
}
