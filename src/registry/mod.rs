/*!
Talking to registries: the only module that builds URLs or sends HTTP, and the only one that
can make a [`PinnedImage`].

Callers speak repositories, references and digests; this module turns them into the
distribution API, handles auth (see [`auth`]), retries what is safe to retry, and checks
every byte it returns against the digest it was asked for or told. One [`Registry`] serves
a whole process so connections and tokens are reused across images.

It knows nothing of the command line: [`RegistryOptions`] is plain data the CLI fills in,
and errors ([`RegistryError`]) state facts, leaving the flag advice to the commands.

Why not `oci_client::Client` for the requests: it pings `/v2/` before each operation class
and authenticates per call, which doubles the round trips of a signing step, and it
cannot retry 5xx reads or count requests. pinsign uses oci-client's manifest and index
types ([`oci_client::manifest`]) and sends the few requests it needs itself.
*/

pub mod auth;
mod blobs;
mod client;
pub mod error;
mod manifests;
mod pinned;
mod platform;
mod referrers;

use std::time::Duration;

pub use auth::{AuthFiles, Credentials};
pub use client::{Access, Registry};
pub use error::{CredentialSource, ErrorBody, RegistryError, TlsProblem};
pub use pinned::PinnedImage;
pub use platform::{parse_index, Platform};
pub use referrers::ReferrersList;

#[cfg(test)]
pub(crate) use pinned::for_tests as pinned_for_tests;

use crate::reference::Digest;

pub use crate::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests larger than this are refused (Distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// True for an index or manifest list media type.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// How to reach registries: credentials, TLS, retries. Plain data; all defaults live in
/// [`RegistryOptions::default`], and the CLI rejects conflicting flags before filling it.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Credentials for every registry (from flags or environment), overriding auth files.
    pub credentials: Option<Credentials>,
    /// A CA certificate file (PEM) trusted in addition to the system roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Talk plain HTTP instead of TLS.
    pub allow_http: bool,
    /// TLS without verifying the certificate.
    pub allow_insecure: bool,
    pub auth_files: AuthFiles,
    /// Attempts for a request that failed with 5xx or a connection error.
    pub attempts: u32,
    /// First retry delay; doubles each time, with jitter.
    pub retry_base: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            credentials: None,
            ca_file: None,
            allow_http: false,
            allow_insecure: false,
            auth_files: AuthFiles::default(),
            attempts: 4,
            retry_base: Duration::from_millis(200),
        }
    }
}

/// What the registry says about a manifest, without its bytes: the media type, digest
/// and size a referrers `subject` or an index entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// A manifest's bytes, checked against its digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}
