//! One file per subcommand. Each takes its clap arguments, turns them into the plain
//! options of the modules below (in [`args`] for the shared ones), builds its clients once,
//! does its work, and returns an error that `main` turns into an exit code.
//!
//! This is also where advice that names a flag is added to an error: the modules below
//! state facts ([`advice`]).

pub mod args;
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
        RegistryError::PlainHttp { .. } => {
            "for a local test registry pass --allow-http-registry".into()
        }
        RegistryError::SpeaksTls { .. } => "drop --allow-http-registry".into(),
        RegistryError::ReferrersUnsupported { .. } => "use --mode tag".into(),
        RegistryError::Unauthorized {
            registry,
            credentials: crate::registry::CredentialSource::Anonymous,
            ..
        } => format!(
            "log in (buildah login / docker login {registry}) or pass --registry-username and PINSIGN_REGISTRY_PASSWORD"
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
