//! What can go wrong talking to a registry, as data.
//!
//! The registry layer states facts ("its certificate is signed by an unknown authority",
//! "the registry has no referrers API"); it does not know the command line, so advice that
//! names a flag is added by the commands (`crate::commands::advice`). A registry's own error
//! list is kept as the entries it sent (`code`, `message`, `detail`), so callers match on
//! codes such as `BLOB_UNKNOWN` instead of searching text.

use std::fmt;

use std::time::Duration;

use super::auth::SecretKind;
use super::client::Access;
use super::retry::show;

/// Where the credentials used for a registry came from, named in auth errors (never the
/// values themselves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Given to the process directly (flags or environment); the text says how, e.g.
    /// "PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD".
    Given(String),
    /// An auth file (containers auth.json or docker config.json).
    AuthFile(std::path::PathBuf),
    /// A docker credential helper (`docker-credential-NAME`).
    Helper(String),
    /// No credentials: anonymous access.
    Anonymous,
    /// No usable credentials although some were configured; the text says why (an auth file
    /// entry without any credential in it, ...).
    Unusable(String),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Given(how) => f.write_str(how),
            CredentialSource::AuthFile(p) => write!(f, "auth file {}", p.display()),
            CredentialSource::Helper(h) => write!(f, "credential helper docker-credential-{h}"),
            CredentialSource::Anonymous => f.write_str("no credentials (anonymous)"),
            CredentialSource::Unusable(why) => write!(f, "no usable credentials ({why})"),
        }
    }
}

/// One entry of a registry's `{"errors":[{"code","message","detail"}]}` body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    /// Kept as compact JSON text (registries put strings, objects or null here).
    #[serde(default, deserialize_with = "detail_text")]
    pub detail: Option<String>,
}

fn detail_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<serde_json::Value> = serde::Deserialize::deserialize(d)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.is_empty() => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// What a registry said in the body of a failed response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The distribution-spec error list, when the body is one.
    pub errors: Vec<ErrorEntry>,
    /// Otherwise the start of the body as text (an HTML page, a proxy's message).
    pub text: Option<String>,
}

impl ErrorBody {
    /// Parse a (size-capped) error body.
    pub fn parse(body: &[u8]) -> ErrorBody {
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<ErrorEntry>,
        }
        let body = &body[..body.len().min(64 * 1024)];
        if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
            if !parsed.errors.is_empty() {
                return ErrorBody {
                    errors: parsed.errors,
                    text: None,
                };
            }
        }
        let text = String::from_utf8_lossy(body);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        ErrorBody {
            errors: Vec::new(),
            text: (!text.is_empty()).then(|| truncate(&text, 200)),
        }
    }

    /// True when the registry listed an error with this code (`BLOB_UNKNOWN`, ...).
    pub fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }

    fn summary(&self) -> Option<String> {
        if self.errors.is_empty() {
            return self.text.clone();
        }
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|e| {
                let mut s = e.code.clone();
                if !e.message.is_empty() {
                    if !s.is_empty() {
                        s.push_str(": ");
                    }
                    s.push_str(&e.message);
                }
                if let Some(d) = &e.detail {
                    s.push_str(&format!(" ({})", truncate(d, 200)));
                }
                s
            })
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| truncate(&parts.join("; "), 300))
    }
}

/// Why TLS with a registry failed, from the TLS library's own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The certificate chains to no CA this process trusts.
    UnknownIssuer,
    /// The certificate does not name the host.
    NotValidForName,
    /// The certificate has expired (or is not valid yet).
    Expired,
    /// Another certificate or handshake problem, as the TLS library words it.
    Other(String),
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsProblem::UnknownIssuer => {
                f.write_str("its certificate is signed by an unknown authority")
            }
            TlsProblem::NotValidForName => {
                f.write_str("its certificate is not valid for this host name")
            }
            TlsProblem::Expired => f.write_str("its certificate has expired or is not valid yet"),
            TlsProblem::Other(detail) => write!(f, "{detail}"),
        }
    }
}

/// A registry failure. Messages are one line of facts; commands add what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{what} not found in {repository}")]
    NotFound { what: String, repository: String },

    #[error(
        "registry {registry} refused access to {repository} ({status}) with {}{credentials}{}",
        kind.map(SecretKind::words).unwrap_or_default(),
        if *status == 403 { format!(": the credentials are valid but may not {} it", access.verb()) } else { String::new() }
    )]
    Unauthorized {
        registry: String,
        repository: String,
        status: u16,
        credentials: CredentialSource,
        /// What kind of secret was used (`None`: anonymous).
        kind: Option<SecretKind>,
        access: Access,
    },

    /// The credential found for a registry cannot answer its challenge (an identity token
    /// for a Basic-auth registry, ...).
    #[error("registry {registry} asks for {wanted}, but the credential for it is {}{from}, which {why}", kind.words())]
    CredentialMismatch {
        registry: String,
        wanted: String,
        kind: SecretKind,
        from: CredentialSource,
        why: String,
    },

    #[error("cannot connect to registry {registry}: {detail}")]
    Connect { registry: String, detail: String },

    /// The connection was made (or is being made) but nothing came back in time.
    #[error("no answer from {}{registry} within {}{}", if *token_server { "the token server of " } else { "" }, show(*after), if *connecting { " (connecting)" } else { "" })]
    NoAnswer {
        registry: String,
        after: Duration,
        connecting: bool,
        token_server: bool,
    },

    /// 429 Too Many Requests (or 503 with Retry-After) beyond what the retry budget allows.
    #[error("registry {registry} is rate limiting: {method} {path} answered {status}{}{}", if *attempts > 1 { format!(" on all {attempts} attempts") } else { String::new() }, wait.map(|w| format!("; it asked to wait {}, more than the retry budget allows", show(w))).unwrap_or_default())]
    RateLimited {
        registry: String,
        method: String,
        path: String,
        status: u16,
        attempts: u32,
        /// The wait the registry asked for last, when it was too long to honour.
        wait: Option<Duration>,
    },

    /// A TLS registry named a plain-HTTP token realm: credentials would travel in clear.
    #[error("registry {registry} sends clients to the plain-HTTP token server {realm}; pinsign sends credentials and fetches tokens over plain HTTP only for hosts allowed plain HTTP, so it did not contact it")]
    InsecureRealm { registry: String, realm: String },

    /// A request was redirected (blob downloads go to storage) and the target refused it.
    #[error("registry {registry} redirected {method} {path} to {target}, which answered {status}: the redirect target refused the request (pinsign never sends its credentials there)")]
    RedirectRefused {
        registry: String,
        target: String,
        method: String,
        path: String,
        status: u16,
    },

    /// registries.conf marks the registry `blocked = true`.
    #[error("registry {registry} is blocked in {}", file.display())]
    Blocked {
        registry: String,
        file: std::path::PathBuf,
    },

    /// One image's work took longer than the per-image deadline.
    #[error("no result for {image} within {} (the per-image deadline)", show(*after))]
    ImageDeadline { image: String, after: Duration },

    #[error("TLS with registry {registry} failed: {problem}")]
    Tls {
        registry: String,
        problem: TlsProblem,
    },

    #[error("registry {registry} answered plain HTTP to a TLS request")]
    PlainHttp { registry: String },

    #[error("registry {registry} speaks TLS, but was asked over plain HTTP")]
    SpeaksTls { registry: String },

    #[error("registry {registry} answered {status} to {method} {path}{}", body.summary().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        registry: String,
        method: String,
        path: String,
        status: u16,
        body: ErrorBody,
    },

    #[error("registry {registry} served {what} whose bytes hash to {actual}, not {expected}; the registry or a proxy is corrupting or lying about content")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: String,
        actual: String,
    },

    /// `answer` is what `GET /v2/<name>/referrers/<digest>` got: `404`, `405`, `200 with text/html`...
    #[error("registry {registry} does not support the OCI 1.1 referrers API (GET /v2/<name>/referrers/<digest> answered {answer})")]
    ReferrersUnsupported { registry: String, answer: String },

    /// A response body longer than pinsign reads for what it is.
    #[error("registry {registry}: {what} is larger than {max} bytes; refusing it")]
    TooLarge {
        registry: String,
        what: String,
        max: usize,
    },

    #[error("registry {registry}: {detail}")]
    Protocol { registry: String, detail: String },
}

impl RegistryError {
    /// True for errors that might go away on retry (5xx, connection trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Status { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            RegistryError::Connect { .. } | RegistryError::NoAnswer { .. } => true,
            _ => false,
        }
    }

    /// True when the registry answered with this distribution-spec error code.
    pub fn has_code(&self, code: &str) -> bool {
        matches!(self, RegistryError::Status { body, .. } if body.has_code(code))
    }
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
    fn error_body_keeps_the_entries() {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"missing layer"},{"code":"BLOB_UNKNOWN","message":"blob unknown","detail":{"digest":"sha256:ab"}}]}"#;
        let parsed = ErrorBody::parse(body);
        assert!(parsed.has_code("BLOB_UNKNOWN"));
        assert!(!parsed.has_code("DIGEST_INVALID"));
        assert_eq!(
            parsed.errors[1].detail.as_deref(),
            Some(r#"{"digest":"sha256:ab"}"#)
        );
        assert_eq!(
            parsed.summary().unwrap(),
            r#"MANIFEST_INVALID: manifest invalid (missing layer); BLOB_UNKNOWN: blob unknown ({"digest":"sha256:ab"})"#
        );
        assert_eq!(ErrorBody::parse(b"").summary(), None);
        let long = "x".repeat(10_000);
        assert!(
            ErrorBody::parse(long.as_bytes())
                .summary()
                .unwrap()
                .chars()
                .count()
                <= 201
        );
        // An error list that is not one is kept as text, not guessed at.
        let odd = ErrorBody::parse(br#"{"errors":"nope"}"#);
        assert!(odd.errors.is_empty() && odd.text.is_some());
    }

    #[test]
    fn unauthorized_names_the_source_never_the_secret() {
        let e = RegistryError::Unauthorized {
            registry: "reg.example".into(),
            repository: "reg.example/team/app".into(),
            status: 403,
            credentials: CredentialSource::Given(
                "PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD".into(),
            ),
            kind: Some(SecretKind::Password),
            access: Access::Push,
        };
        assert_eq!(
            e.to_string(),
            "registry reg.example refused access to reg.example/team/app (403) with PINSIGN_REGISTRY_USERNAME/PINSIGN_REGISTRY_PASSWORD: the credentials are valid but may not push to it"
        );
        let e = RegistryError::Unauthorized {
            registry: "reg.example".into(),
            repository: "reg.example/team/app".into(),
            status: 401,
            credentials: CredentialSource::AuthFile("/run/auth.json".into()),
            kind: Some(SecretKind::IdentityToken),
            access: Access::Pull,
        };
        assert_eq!(
            e.to_string(),
            "registry reg.example refused access to reg.example/team/app (401) with the identity token from auth file /run/auth.json"
        );
    }

    #[test]
    fn timeouts_and_rate_limits_read_as_one_line() {
        let e = RegistryError::NoAnswer {
            registry: "reg.example".into(),
            after: Duration::from_secs(30),
            connecting: false,
            token_server: false,
        };
        assert_eq!(e.to_string(), "no answer from reg.example within 30 s");
        let e = RegistryError::RateLimited {
            registry: "reg.example".into(),
            method: "HEAD".into(),
            path: "/v2/a/manifests/v1".into(),
            status: 429,
            attempts: 4,
            wait: Some(Duration::from_secs(3600)),
        };
        assert_eq!(
            e.to_string(),
            "registry reg.example is rate limiting: HEAD /v2/a/manifests/v1 answered 429 on all 4 attempts; it asked to wait 3600 s, more than the retry budget allows"
        );
    }
}
