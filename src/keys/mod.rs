/*!
Key files and passwords, in cosign's formats.

Owns: generating and importing ECDSA P-256 key pairs, reading and writing cosign's
encrypted private key PEM (scrypt + nacl/secretbox around PKCS#8), finding the password,
and public keys for verification ([`PublicKey`]).

- [`source`]: where a key comes from (a file path or `env://VAR`).
- [`pem`]: finding PEM blocks in a key text.
- [`password`]: the password sources, in cosign's order, and the prompt.
- [`encrypted`]: cosign's encrypted private key envelope.
- [`signing`]: [`SigningKey`], key-type checks, [`load_public_key`].
- [`files`]: writing a key pair atomically, never overwriting without `--force`.

Secrets (passwords, key bytes, decrypted plaintext) live in `Zeroizing` buffers and
never reach a message, an error or a log line: errors name the file or env var only.
*/

pub mod encrypted;
pub mod files;
pub mod password;
pub mod pem;
mod public;
pub mod signing;
pub mod source;

pub use password::Password;
pub use public::PublicKey;
pub use signing::{load_public_key, SigningKey};
pub use source::KeySource;

use std::path::PathBuf;

/// Where a private key's password comes from besides `PINSIGN_PASSWORD` and
/// `COSIGN_PASSWORD` and the terminal prompt (see [`password`] for the order).
#[derive(Debug, Clone, Default)]
pub struct PasswordSource {
    /// A file whose first line is the password (`--password-file`).
    pub file: Option<PathBuf>,
}
