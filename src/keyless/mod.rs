//! Keyless (Sigstore) verification (work in progress).

pub mod certificate;
pub mod crypto;
pub mod report;
pub mod tbs;
pub mod time;
