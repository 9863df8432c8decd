//! cosign's encrypted private key envelope (from go-securesystemslib `encrypted`):
//!
//! ```text
//! -----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
//! base64 of {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":B64},
//!            "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}
//! -----END ENCRYPTED SIGSTORE PRIVATE KEY-----
//! ```
//!
//! key = scrypt(password, salt, N, r, p, 32); plaintext = secretbox-open (XSalsa20-Poly1305)
//! = PKCS#8 DER. We write the `SIGSTORE` label with N=32768 (cosign's current output) and
//! read both labels with N=32768 or N=65536 only, r=8, p=1: any other parameters are refused
//! before deriving, so a crafted key cannot make us burn memory and CPU.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use p256::elliptic_curve::Generate as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The label pinsign writes (cosign >= 2.0 writes it too).
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label older cosign releases wrote; still read.
pub const COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt N values accepted when reading (cosign writes 32768; older keys have 65536).
pub const ACCEPTED_N: [u64; 2] = [32768, 65536];
const WRITE_LOG_N: u8 = 15; // N = 32768
const R: u32 = 8;
const P: u32 = 1;
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// A parsed and checked envelope, ready to open with a password.
pub struct Sealed {
    log_n: u8,
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

/// Opening failed: the password is wrong (or the ciphertext was altered; secretbox
/// cannot tell the two apart).
#[derive(Debug, PartialEq, Eq)]
pub struct WrongPassword;

impl Sealed {
    /// Parse the JSON inside the PEM and check every parameter. Errors describe the
    /// problem without the caller's file name, which the caller adds.
    pub fn parse(json: &[u8]) -> Result<Sealed, String> {
        let env: Envelope = serde_json::from_slice(json)
            .map_err(|e| format!("the encrypted key is not cosign's JSON envelope ({e})"))?;
        if env.kdf.name != "scrypt" {
            return Err(format!(
                "unsupported key derivation {:?}; cosign keys use scrypt",
                env.kdf.name
            ));
        }
        if env.cipher.name != "nacl/secretbox" {
            return Err(format!(
                "unsupported cipher {:?}; cosign keys use nacl/secretbox",
                env.cipher.name
            ));
        }
        let ScryptParams { n, r, p } = env.kdf.params;
        if !ACCEPTED_N.contains(&n) || r != R || p != P {
            return Err(format!(
                "unsupported scrypt parameters N={n} r={r} p={p}; pinsign reads keys with \
                 N=32768 or N=65536, r=8, p=1 (cosign's), and refuses others so a crafted \
                 key cannot exhaust memory or CPU"
            ));
        }
        let salt = B64
            .decode(&env.kdf.salt)
            .map_err(|_| "the scrypt salt is not valid base64".to_string())?;
        if salt.is_empty() {
            return Err("the scrypt salt is empty".to_string());
        }
        let nonce: [u8; NONCE_LEN] = B64
            .decode(&env.cipher.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| "the secretbox nonce is not 24 bytes of base64".to_string())?;
        let ciphertext = B64
            .decode(&env.ciphertext)
            .map_err(|_| "the ciphertext is not valid base64".to_string())?;
        Ok(Sealed {
            log_n: n.trailing_zeros() as u8,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// scrypt N of this key.
    pub fn n(&self) -> u64 {
        1u64 << self.log_n
    }

    /// Derive the key from `password` and open the box: the PKCS#8 DER (wiped on drop).
    pub fn open(&self, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrongPassword> {
        let key = derive(password, &self.salt, self.log_n);
        let cipher = XSalsa20Poly1305::new(Key::from_slice(&key[..]));
        cipher
            .decrypt(Nonce::from_slice(&self.nonce), self.ciphertext.as_slice())
            .map(Zeroizing::new)
            .map_err(|_| WrongPassword)
    }
}

/// Seal `plaintext` (PKCS#8 DER) under `password` with a fresh salt and nonce: the JSON
/// envelope bytes, ready to be base64'd into the PEM.
pub fn seal(plaintext: &[u8], password: &[u8]) -> Vec<u8> {
    let salt = <[u8; SALT_LEN]>::generate();
    let nonce = <[u8; NONCE_LEN]>::generate();
    seal_with(plaintext, password, &salt, &nonce)
}

fn seal_with(
    plaintext: &[u8],
    password: &[u8],
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let key = derive(password, salt, WRITE_LOG_N);
    let cipher = XSalsa20Poly1305::new(Key::from_slice(&key[..]));
    // Encryption into a Vec cannot fail for inputs this small.
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .unwrap_or_default();
    let env = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams {
                n: 1 << WRITE_LOG_N,
                r: R,
                p: P,
            },
            salt: B64.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: B64.encode(nonce),
        },
        ciphertext: B64.encode(ciphertext),
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

fn derive(password: &[u8], salt: &[u8], log_n: u8) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    // Parameters are one of the checked constants and the output length is 32, so
    // neither call can fail.
    if let Ok(params) = scrypt::Params::new(log_n, R, P) {
        let _ = scrypt::scrypt(password, salt, &params, &mut key[..]);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open() {
        let json = seal(b"plaintext bytes", b"pw");
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(
            text.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#""cipher":{"name":"nacl/secretbox","nonce":""#),
            "{text}"
        );
        let sealed = Sealed::parse(&json).unwrap();
        assert_eq!(sealed.n(), 32768);
        assert_eq!(&sealed.open(b"pw").unwrap()[..], b"plaintext bytes");
        assert_eq!(sealed.open(b"wrong").unwrap_err(), WrongPassword);
        // Fresh salt and nonce every time.
        assert_ne!(seal(b"x", b"pw"), seal(b"x", b"pw"));
    }

    #[test]
    fn refuses_other_parameters_before_deriving() {
        let good = String::from_utf8(seal_with(b"x", b"", &[1; 32], &[2; 24])).unwrap();
        for (from, to) in [
            ("\"N\":32768", "\"N\":1048576"),
            ("\"N\":32768", "\"N\":16384"),
            ("\"r\":8", "\"r\":16"),
            ("\"p\":1", "\"p\":4"),
        ] {
            let bad = good.replace(from, to);
            let e = Sealed::parse(bad.as_bytes()).err().unwrap();
            assert!(e.contains("unsupported scrypt parameters"), "{e}");
        }
        let e = Sealed::parse(good.replace("nacl/secretbox", "aes").as_bytes())
            .err()
            .unwrap();
        assert!(e.contains("unsupported cipher"), "{e}");
        assert!(Sealed::parse(b"not json").is_err());
        let n65536 = good.replace("\"N\":32768", "\"N\":65536");
        assert_eq!(Sealed::parse(n65536.as_bytes()).unwrap().n(), 65536);
    }
}
