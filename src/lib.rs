//! pinsign: build, pin, sign and verify container images by digest, cosign-compatible.
//!
//! The binary is a thin shell: `main -> cli -> commands`, and the commands compose the
//! modules below, each owning one idea: [`signing`] (the one way to make a signature),
//! [`verification`] (judging an image's signatures), [`storage`] (where signatures live),
//! [`registry`] (all registry I/O, and the only maker of a `PinnedImage`), [`signature`]
//! (cosign wire formats, pure data), [`keys`] (key files and passwords), [`build`]
//! (buildah and skopeo), all resting on [`reference`] (image names).

pub mod backoff;
pub mod batch;
pub mod build;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod error;
pub mod files;
pub mod keyless;
pub mod keys;
pub mod logging;
pub mod media_types;
pub mod output;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod rotation;
pub mod signature;
pub mod signing;
pub mod storage;
pub mod verification;
