//! pinsign: build, pin, sign and verify container images by digest, cosign-compatible.
//!
//! The binary is a thin shell over [`commands`]; the modules below each own one idea:
//! [`reference`] (image names and the `PinnedImage` type), [`registry`] (all registry
//! I/O), [`signature`] (cosign wire formats, pure data), [`keys`] (key files and
//! passwords), [`build`] (buildah and skopeo).

pub mod batch;
pub mod build;
pub mod cli;
pub mod commands;
pub mod error;
pub mod files;
pub mod keyless;
pub mod keys;
pub mod logging;
pub mod output;
pub mod reference;
pub mod registry;
pub mod signature;
pub mod storage;
