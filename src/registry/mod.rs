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
pub mod hosts;
mod manifests;
mod pinned;
mod platform;
mod referrers;
pub mod retry;
mod timing;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use auth::{AuthFiles, Credentials, SecretKind};
pub use client::{Access, Registry};
pub use error::{CredentialSource, ErrorBody, RegistryError, TlsProblem};
pub use hosts::{HostPolicy, HostSettings};
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

/// How to reach registries: credentials, TLS, timeouts, retries. Plain data; all defaults live
/// in [`RegistryOptions::default`], and the CLI rejects conflicting flags before filling it.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Credentials given to the process (flags or environment), overriding auth files. Not
    /// tied to a registry, so they are sent only to a registry that challenges for them.
    pub credentials: Option<Credentials>,
    /// A CA certificate file (PEM) trusted in addition to the system roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Talk plain HTTP to every registry (the flag); without it, plain HTTP is used only
    /// where [`HostSettings`] allows it (loopback names, `insecure` entries).
    pub allow_http: bool,
    /// TLS without verifying the certificate, for every registry.
    pub allow_insecure: bool,
    pub auth_files: AuthFiles,
    /// registries.conf entries and certs.d directories ([`HostSettings::from_env`]); empty
    /// by default, so nothing is read from the machine unless asked for.
    pub hosts: HostSettings,
    /// How long to wait for an answer: the response, or the next bytes of its body.
    pub timeout: Duration,
    /// How long connecting (TCP and TLS handshake) may take; never more than `timeout`.
    pub connect_timeout: Duration,
    /// Attempts for a request that failed with 5xx, 429, a connection error or no answer
    /// (no answer: at most 2, each costs a full timeout).
    pub attempts: u32,
    /// First retry delay; doubles each time, with jitter.
    pub retry_base: Duration,
    /// The most one request may spend waiting between attempts (backoffs and
    /// `Retry-After` waits together).
    pub retry_budget: Duration,
    /// The scheme found for each registry, shared by every clone of these options: the
    /// registry client decides it, and build-push tells buildah and skopeo the same.
    pub schemes: SchemeCache,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            credentials: None,
            ca_file: None,
            allow_http: false,
            allow_insecure: false,
            auth_files: AuthFiles::default(),
            hosts: HostSettings::default(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            attempts: 4,
            retry_base: Duration::from_millis(200),
            retry_budget: Duration::from_secs(60),
            schemes: SchemeCache::default(),
        }
    }
}

/// The default answer timeout (`--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl RegistryOptions {
    /// The connect timeout actually used: `connect_timeout`, or `timeout` when shorter.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.min(self.timeout)
    }

    /// How long one image's registry work may take in all: 10 × `timeout` (5 minutes by
    /// default), enough for every request of a signing to retry, never a hang.
    pub fn image_deadline(&self) -> Duration {
        self.timeout.saturating_mul(10)
    }

    /// True when `registry` is reached over plain HTTP: the flag, or a host allowed plain
    /// HTTP that answered the TLS handshake in plain HTTP (known once it was contacted).
    pub fn plain_http(&self, registry: &str) -> bool {
        self.allow_http || self.schemes.get(registry) == Some(Scheme::Http)
    }
}

/// How a registry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The scheme decided per registry host, shared by clones.
#[derive(Debug, Clone, Default)]
pub struct SchemeCache(Arc<Mutex<HashMap<String, Scheme>>>);

impl SchemeCache {
    pub fn get(&self, host: &str) -> Option<Scheme> {
        client::lock(&self.0).get(host).copied()
    }

    pub(crate) fn set(&self, host: &str, scheme: Scheme) {
        client::lock(&self.0).insert(host.to_string(), scheme);
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
