//! What can go wrong talking to a registry, each with what to do about it.

use std::fmt;

/// Where the credentials used for a registry came from, named in auth errors (never the
/// values themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `--registry-username/--registry-password` flags.
    Flags,
    /// `PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD`.
    Env,
    /// An auth file (containers auth.json or docker config.json).
    AuthFile(std::path::PathBuf),
    /// A docker credential helper (`docker-credential-NAME`).
    Helper(String),
    /// No credentials: anonymous access.
    Anonymous,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Flags => f.write_str("--registry-username/--registry-password"),
            CredentialSource::Env => {
                f.write_str("PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD")
            }
            CredentialSource::AuthFile(p) => write!(f, "auth file {}", p.display()),
            CredentialSource::Helper(h) => write!(f, "credential helper docker-credential-{h}"),
            CredentialSource::Anonymous => f.write_str("no credentials (anonymous)"),
        }
    }
}

/// A registry failure. Messages are one line and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{what} not found in {repository}")]
    NotFound { what: String, repository: String },

    #[error(
        "registry {registry} refused access to {repository} ({status}) with {credentials}: {hint}"
    )]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
        credentials: CredentialSource,
        hint: String,
    },

    #[error("cannot connect to registry {registry}: {detail}")]
    Connect { registry: String, detail: String },

    #[error("TLS with registry {registry} failed: {detail}")]
    Tls { registry: String, detail: String },

    #[error("registry {registry} answered plain HTTP to a TLS request; for a local test registry pass --allow-http-registry")]
    PlainHttp { registry: String },

    #[error("registry {registry} answered {status} to {method} {path}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        registry: String,
        method: String,
        path: String,
        status: u16,
        message: Option<String>,
    },

    #[error("registry {registry} served {what} whose bytes hash to {actual}, not {expected}; the registry or a proxy is corrupting or lying about content")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: String,
        actual: String,
    },

    #[error("registry {registry} does not support the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest> answered 404); use --mode tag")]
    ReferrersUnsupported { registry: String },

    #[error("registry {registry}: {detail}")]
    Protocol { registry: String, detail: String },
}

impl RegistryError {
    /// True for errors that might go away on retry (5xx, connection trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Status { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            RegistryError::Connect { .. } => true,
            _ => false,
        }
    }
}

/// The registry's own explanation from an error body (`{"errors":[{"code","message"}]}`),
/// capped so a huge HTML page cannot flood a terminal.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
        detail: Option<serde_json::Value>,
    }
    let body = &body[..body.len().min(64 * 1024)];
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| {
                let mut s = e.code.clone().unwrap_or_default();
                if let Some(m) = &e.message {
                    if !s.is_empty() {
                        s.push_str(": ");
                    }
                    s.push_str(m);
                }
                if let Some(d) = &e.detail {
                    let d = match d {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !d.is_empty() && d != "null" {
                        s.push_str(&format!(" ({})", truncate(&d, 200)));
                    }
                }
                s
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return Some(truncate(&parts.join("; "), 300));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then(|| truncate(&text, 200))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_summarised() {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"missing layer"}]}"#;
        assert_eq!(
            error_message(body).unwrap(),
            "MANIFEST_INVALID: manifest invalid (missing layer)"
        );
        assert_eq!(error_message(b"").as_deref(), None);
        let long = "x".repeat(10_000);
        assert!(error_message(long.as_bytes()).unwrap().chars().count() <= 201);
    }
}
