//! One file per subcommand. Each takes its clap arguments, turns them into the plain
//! options of the modules below (in [`args`] for the shared ones), builds its clients once,
//! does its work, and returns an error that `main` turns into an exit code.
//!
//! This is also where advice that names a flag is added to an error: the modules below
//! state facts ([`advice`]).

pub mod args;
pub mod attached;
pub mod blob;
pub mod build_push;
pub mod keys;
pub mod policy;
pub mod resolve_digest;
pub mod rotate;
pub mod sign_digest;
pub mod verify;

use crate::registry::{RegistryError, TlsProblem};

/// Run an async command to completion on a small multi-threaded runtime.
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(fut)
}

/// An error on one line with what to do about it: the causes (`outer: cause: root`), then
/// the flag advice for a registry error in the chain.
pub fn describe(err: &anyhow::Error) -> String {
    let line = crate::error::one_line(err);
    match err
        .chain()
        .find_map(|c| c.downcast_ref::<RegistryError>())
        .and_then(advice)
    {
        Some(hint) if !line.contains(&hint) => format!("{line}; {hint}"),
        _ => line,
    }
}

/// What the user can do about a registry error, in terms of pinsign's flags.
pub fn advice(err: &RegistryError) -> Option<String> {
    Some(match err {
        RegistryError::Tls {
            problem: TlsProblem::UnknownIssuer,
            ..
        } => "pass --registry-cacert CA.pem (or --allow-insecure-registry for a throwaway test registry)".into(),
        RegistryError::PlainHttp { registry } => format!(
            "if plain HTTP is meant, mark {registry} insecure = true in registries.conf, or pass --allow-http-registry for a local test registry"
        ),
        RegistryError::SpeaksTls { .. } => "drop --allow-http-registry".into(),
        RegistryError::NoAnswer { .. } => {
            "check the registry and any proxy in between, or give it more time with --timeout".into()
        }
        RegistryError::ImageDeadline { .. } => {
            "the registry is too slow or keeps failing; --timeout raises the deadline (10 times --timeout)".into()
        }
        RegistryError::RateLimited { .. } => {
            "try again later, lower --concurrency, or log in (anonymous pulls are limited more)".into()
        }
        RegistryError::InsecureRealm { .. } => {
            "the registry's token realm must be https; for a test setup on a trusted network, mark the realm's host insecure = true in registries.conf".into()
        }
        RegistryError::ReferrersUnsupported { .. } => "use --mode tag".into(),
        RegistryError::Unauthorized {
            registry,
            credentials:
                crate::registry::CredentialSource::Anonymous
                | crate::registry::CredentialSource::Unusable(_),
            ..
        } => format!(
            "log in (buildah login / docker login {registry}) or pass --registry-username and PINSIGN_REGISTRY_PASSWORD (or PINSIGN_REGISTRY_TOKEN)"
        ),
        RegistryError::Unauthorized {
            status: 401,
            access,
            repository,
            ..
        } => format!(
            "check the credentials; they may not {} {repository}",
            access.verb()
        ),
        _ => return None,
    })
}
