/*!
Talking to registries: the only module that builds URLs or sends HTTP.

Callers speak repositories, references and digests; this module turns them into the
distribution API, handles auth (see [`auth`]), retries what is safe to retry, and checks
every byte it returns against the digest it was asked for or told. One [`Registry`] serves
a whole process so connections and tokens are reused across images.

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
mod platform;

use std::time::Duration;

pub use auth::Credentials;
pub use client::Registry;
pub use error::{CredentialSource, RegistryError};
pub use platform::{parse_index, Platform};

use crate::cli::RegistryArgs;
use crate::error::UsageError;
use crate::reference::{Digest, PinnedImage};
use auth::AuthFiles;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Manifests larger than this are refused (Distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// True for an index or manifest list media type.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// How to reach registries: credentials, TLS, retries. Built once from the flags; all
/// defaults live here.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub credentials: Option<Credentials>,
    pub ca_file: Option<std::path::PathBuf>,
    pub allow_http: bool,
    pub allow_insecure: bool,
    pub auth_files: AuthFiles,
    /// Attempts for a request that failed with 5xx or a connection error.
    pub attempts: u32,
    /// First retry delay; doubles each time, with jitter.
    pub retry_base: Duration,
}

impl RegistryOptions {
    /// From the global flags. Conflicting or half-given options are usage errors.
    pub fn from_args(args: &RegistryArgs) -> anyhow::Result<RegistryOptions> {
        let credentials =
            match (&args.registry_username, &args.registry_password) {
                (Some(u), Some(p)) => {
                    let from_env = std::env::var("PINSIGN_REGISTRY_USERNAME").ok().as_deref()
                        == Some(u.as_str());
                    let source = if from_env {
                        CredentialSource::Env
                    } else {
                        CredentialSource::Flags
                    };
                    Some(Credentials::new(u.clone(), p.clone(), source))
                }
                (None, None) => None,
                (Some(_), None) => return Err(UsageError::new(
                    "--registry-username needs --registry-password (or PINSIGN_REGISTRY_PASSWORD)",
                )
                .into()),
                (None, Some(_)) => return Err(UsageError::new(
                    "--registry-password needs --registry-username (or PINSIGN_REGISTRY_USERNAME)",
                )
                .into()),
            };
        if args.allow_insecure_registry && args.registry_cacert.is_some() {
            return Err(UsageError::new(
                "--allow-insecure-registry and --registry-cacert contradict each other: with a CA, drop --allow-insecure-registry",
            )
            .into());
        }
        let retry_base = std::env::var("PINSIGN_RETRY_BASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_millis(200));
        Ok(RegistryOptions {
            credentials,
            ca_file: args.registry_cacert.clone(),
            allow_http: args.allow_http_registry,
            allow_insecure: args.allow_insecure_registry,
            auth_files: AuthFiles::from_env(),
            attempts: 4,
            retry_base,
        })
    }
}

/// What the registry says about a manifest, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
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

/// An image reference resolved to the digest the registry serves.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub pinned: PinnedImage,
    pub media_type: String,
    pub size: u64,
    /// `os/arch[/variant]` when chosen from an index with `--platform`.
    pub platform: Option<String>,
}

impl Resolved {
    /// The descriptor of the resolved manifest (the `subject` of a referrers artifact).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.pinned.digest().clone(),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicting_tls_options_are_usage_errors() {
        let args = RegistryArgs {
            allow_insecure_registry: true,
            registry_cacert: Some("ca.pem".into()),
            ..Default::default()
        };
        let e = RegistryOptions::from_args(&args).unwrap_err();
        assert_eq!(crate::error::exit_code(&e), 2);
        let args = RegistryArgs {
            registry_username: Some("u".into()),
            ..Default::default()
        };
        assert!(RegistryOptions::from_args(&args).is_err());
    }
}
