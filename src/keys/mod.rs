/*!
Key files and passwords, in cosign's formats.

Owns: generating and importing ECDSA P-256 key pairs, reading and writing cosign's
encrypted private key PEM (scrypt + nacl/secretbox around PKCS#8), finding the password,
and public keys for verification ([`PublicKey`]).
*/

mod public;

pub use public::PublicKey;

use std::path::PathBuf;

use clap::Args;

/// Where a private key's password comes from, after `PINSIGN_PASSWORD` and
/// `COSIGN_PASSWORD` (which win, as in cosign).
#[derive(Debug, Clone, Default, Args)]
pub struct PasswordArgs {
    /// Read the private key password from this file (first line).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}
