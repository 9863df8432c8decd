//! Bearer tokens from a registry's token server (the distribution token spec): which realm
//! may be asked, how, and what is accepted back.
//!
//! - A password (or no credential) asks with `GET realm?service=..&scope=..`, Basic attached.
//! - An identity token uses the OAuth2 refresh-token grant (distribution's `oauth.md`, what
//!   docker and go-containerregistry send): `POST realm` with the form `grant_type=refresh_token`,
//!   `refresh_token`, `service`, `scope`, `client_id=pinsign`. A token server without it
//!   (404 or 405 to the POST) is asked anonymously with GET, as go-containerregistry does. A
//!   `refresh_token` in the reply replaces the identity token for the rest of the process.
//! - A plain-HTTP realm is asked only when the registry itself is reached over plain HTTP, or
//!   the realm's host is allowed plain HTTP (loopback, `insecure` entry, the flag): a TLS
//!   registry naming `http://` elsewhere is refused before anything is sent.
//! - The reply is read up to [`MAX_TOKEN_BYTES`]; a longer one is refused.
//! - A batch over many repositories of one registry asks for up to [`MAX_SCOPES`] of them in
//!   one request (several `scope` parameters, as the spec allows; one space-separated `scope`
//!   in the refresh-token grant), and uses the token for every repository it grants.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use zeroize::Zeroizing;

use super::auth::{Challenge, SecretKind};
use super::client::{key, lock, origin, read_limited, Access, Limited, Token};
use super::error::{ErrorBody, RegistryError};
use super::{Registry, Scheme};
use crate::reference::Repository;

/// The largest token-server reply read (a JWT with a long `x5c` chain is a few KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The OAuth2 `client_id` pinsign names itself with.
const CLIENT_ID: &str = "pinsign";

/// The most repositories one token request asks for: each adds a `scope` to the request and
/// an entry to the token, which travels in every request's `Authorization` header (proxies
/// commonly refuse headers over 8 KiB).
pub const MAX_SCOPES: usize = 16;

/// The repositories (path, access) a JWT's `access` claim grants, read without checking the
/// signature (the registry checks it; this only decides which repositories to offer it to).
/// `None` when the token is not a JWT with such a claim: it is then kept for the repository it
/// was asked for alone.
fn granted_repositories(token: &str) -> Option<Vec<(String, Access)>> {
    use base64::Engine as _;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Claims {
        access: Option<Vec<Entry>>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "type")]
        kind: String,
        name: String,
        #[serde(default)]
        actions: Vec<String>,
    }
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    Some(
        claims
            .access?
            .into_iter()
            .filter(|e| e.kind == "repository")
            .filter_map(|e| {
                let has = |a: &str| e.actions.iter().any(|x| x == a || x == "*");
                let access = match (has("pull"), has("push"), has("delete")) {
                    (true, true, true) => Access::Delete,
                    (true, true, false) => Access::Push,
                    (true, false, _) => Access::Pull,
                    _ => return None,
                };
                Some((e.name, access))
            })
            .collect(),
    )
}

impl Registry {
    /// Fetch (once per scope, shared by concurrent jobs) a bearer token for `repo`. The request
    /// also asks for the next repositories of the same registry this process announced
    /// ([`Registry::will_pull`], [`Registry::will_push`]) that have no token yet, up to
    /// [`MAX_SCOPES`] (the distribution token spec allows several `scope` parameters); the
    /// token is kept for each of them the token server granted (by the token's `access` claim).
    /// A token server that refuses the combined request is asked for `repo` alone.
    pub(super) async fn fetch_token(
        &self,
        repo: &Repository,
        access: Access,
    ) -> Result<Zeroizing<String>, RegistryError> {
        let _guard = self.token_fetch.lock().await;
        if let Some(t) = lock(&self.tokens).get(&key(repo)) {
            if t.access >= access {
                return Ok(t.value.clone());
            }
        }
        let registry = repo.registry().to_string();
        // A repository this process will push to gets push rights with its first token.
        let access = if lock(&self.push_repos).contains(&key(repo)) {
            access.max(Access::Push)
        } else {
            access
        };
        let mut wanted = vec![(repo.path().to_string(), access)];
        wanted.extend(self.also_wanted(repo));
        let value = if wanted.len() > 1 {
            match self.request_token(repo, &wanted).await {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::info!(
                        "token request for {} repositories of {registry} failed ({e}); asking for {repo} alone",
                        wanted.len()
                    );
                    None
                }
            }
        } else {
            None
        };
        let value = match value {
            Some(v) => v,
            None => {
                wanted.truncate(1);
                self.request_token(repo, &wanted).await?
            }
        };
        let granted = granted_repositories(&value);
        let mut tokens = lock(&self.tokens);
        for (i, (path, access)) in wanted.iter().enumerate() {
            let covered = i == 0
                || granted
                    .as_ref()
                    .is_some_and(|g| g.iter().any(|(p, a)| p == path && *a >= *access));
            if covered {
                tokens.insert(
                    (registry.clone(), path.clone()),
                    Token {
                        value: value.clone(),
                        access: *access,
                    },
                );
            }
        }
        Ok(value)
    }

    /// The announced repositories of `repo`'s registry, other than `repo`, that have no token
    /// with the rights they need yet: at most [`MAX_SCOPES`] - 1, in the order announced.
    fn also_wanted(&self, repo: &Repository) -> Vec<(String, Access)> {
        let registry = repo.registry().to_string();
        let paths = lock(&self.announced)
            .get(&registry)
            .cloned()
            .unwrap_or_default();
        let push = lock(&self.push_repos).clone();
        let tokens = lock(&self.tokens);
        paths
            .into_iter()
            .filter(|p| p != repo.path())
            .map(|p| {
                let k = (registry.clone(), p);
                let access = if push.contains(&k) {
                    Access::Push
                } else {
                    Access::Pull
                };
                (k, access)
            })
            .filter(|(k, access)| tokens.get(k).is_none_or(|t| t.access < *access))
            .map(|((_, p), access)| (p, access))
            .take(MAX_SCOPES - 1)
            .collect()
    }

    /// One token request for `wanted` (repository path, access), the first being `repo`.
    async fn request_token(
        &self,
        repo: &Repository,
        wanted: &[(String, Access)],
    ) -> Result<Zeroizing<String>, RegistryError> {
        let registry = repo.registry().to_string();
        let Some(Challenge::Bearer { realm, service, .. }) =
            lock(&self.challenges).get(&registry).cloned()
        else {
            return Err(RegistryError::Protocol {
                registry,
                detail: "asked for a bearer token without a challenge".into(),
            });
        };
        let url = self.check_realm(repo, &realm)?;
        let realm_host = origin(&url);
        let client = self.client(&realm_host, &self.policy(&realm_host)?)?;
        let access = wanted.first().map_or(Access::Pull, |(_, a)| *a);
        let actions = access.actions();
        let scopes: Vec<String> = wanted
            .iter()
            .map(|(path, a)| format!("repository:{path}:{}", a.actions()))
            .collect();
        let creds = self.credentials(repo).await?;
        let send_error = |e: reqwest::Error| {
            let mut err = self.map_send_error(&registry, &e, true);
            if let RegistryError::Connect { detail, .. } = &mut err {
                *detail = format!("token server {realm}: {detail}");
            }
            err
        };
        let refresh = creds
            .as_ref()
            .filter(|c| c.kind() == SecretKind::IdentityToken)
            .map(|c| {
                lock(&self.rotated)
                    .get(&registry)
                    .cloned()
                    .unwrap_or_else(|| Zeroizing::new(c.password().to_string()))
            });
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &service {
            query.push(("service", s.clone()));
        }
        for scope in &scopes {
            query.push(("scope", scope.clone()));
        }
        let mut resp = None;
        if let Some(refresh_token) = &refresh {
            // OAuth2: one space-separated `scope`.
            let scope = scopes.join(" ");
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.as_str()),
                ("scope", scope.as_str()),
                ("client_id", CLIENT_ID),
            ];
            if let Some(s) = &service {
                form.push(("service", s.as_str()));
            }
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let r = client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form_encode(&form).to_string())
                .send()
                .await
                .map_err(send_error)?;
            tracing::debug!(
                "POST {realm} (token, refresh-token grant, {actions}, {} scope(s)) -> {}",
                scopes.len(),
                r.status().as_u16()
            );
            if matches!(
                r.status(),
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) {
                tracing::info!(
                    "token server {realm} does not take the OAuth2 refresh-token grant ({}); asking it anonymously",
                    r.status().as_u16()
                );
            } else {
                resp = Some(r);
            }
        }
        let resp = match resp {
            Some(r) => r,
            None => {
                let mut req = client.get(url.clone()).query(&query);
                if let Some(c) = creds.as_ref().filter(|c| c.kind() == SecretKind::Password) {
                    req = req.header(AUTHORIZATION, c.basic_header().as_str());
                }
                self.requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let r = req.send().await.map_err(send_error)?;
                tracing::debug!(
                    "GET {realm} (token, {actions}, {} scope(s)) -> {}",
                    scopes.len(),
                    r.status().as_u16()
                );
                r
            }
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized(repo, status, access).await);
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                registry,
                method: if refresh.is_some() { "POST" } else { "GET" }.into(),
                path: format!("{realm} (token)"),
                status: status.as_u16(),
                body: ErrorBody::default(),
            });
        }
        let bytes = read_limited(resp, MAX_TOKEN_BYTES)
            .await
            .map_err(|e| match e {
                Limited::TooBig => RegistryError::Protocol {
                    registry: registry.clone(),
                    detail: format!(
                        "token server {realm} sent a reply larger than {} KiB; refusing it",
                        MAX_TOKEN_BYTES / 1024
                    ),
                },
                Limited::Failed(e) => send_error(e),
            })?;
        let bytes = Zeroizing::new(bytes);
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
            refresh_token: Option<String>,
        }
        let reply: TokenReply =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                registry: registry.clone(),
                detail: format!("token server {realm} sent an unreadable reply: {e}"),
            })?;
        if let Some(rotated) = reply.refresh_token.filter(|t| !t.is_empty()) {
            if refresh.is_some() {
                lock(&self.rotated).insert(registry.clone(), Zeroizing::new(rotated));
            }
        }
        let Some(value) = reply
            .token
            .filter(|t| !t.is_empty())
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
        else {
            return Err(RegistryError::Protocol {
                registry,
                detail: format!("token server {realm} sent no token"),
            });
        };
        Ok(Zeroizing::new(value))
    }

    /// The realm as a URL, if pinsign may ask it: HTTPS; or plain HTTP when the registry
    /// itself is reached over plain HTTP, or the realm's host is allowed plain HTTP.
    fn check_realm(&self, repo: &Repository, realm: &str) -> Result<reqwest::Url, RegistryError> {
        let registry = repo.registry();
        let url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            detail: format!("its token realm {realm:?} is not a URL: {e}"),
        })?;
        match url.scheme() {
            "https" => Ok(url),
            "http" => {
                let registry_plain =
                    self.opts.allow_http || self.opts.schemes.get(registry) == Some(Scheme::Http);
                if registry_plain || self.policy(&origin(&url))?.http_fallback {
                    Ok(url)
                } else {
                    Err(RegistryError::InsecureRealm {
                        registry: registry.to_string(),
                        realm: realm.to_string(),
                    })
                }
            }
            other => Err(RegistryError::Protocol {
                registry: registry.to_string(),
                detail: format!("its token realm {realm} has the scheme {other:?}, not https"),
            }),
        }
    }
}

/// `application/x-www-form-urlencoded`: unreserved bytes as they are, space as `+`, the
/// rest `%XX`. Kept in a zeroizing string: it holds the refresh token.
fn form_encode(pairs: &[(&str, &str)]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        for (j, part) in [k, v].into_iter().enumerate() {
            if j == 1 {
                out.push('=');
            }
            for b in part.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                        out.push(b as char)
                    }
                    b' ' => out.push('+'),
                    b => out.push_str(&format!("%{b:02X}")),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_access_claim_says_which_repositories_it_serves() {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let jwt = format!(
            "{}.{}.sig",
            b64(serde_json::json!({"alg": "ES256"})),
            b64(serde_json::json!({"access": [
                {"type": "repository", "name": "a/app", "actions": ["pull", "push"]},
                {"type": "repository", "name": "b/app", "actions": ["pull"]},
                {"type": "repository", "name": "c/app", "actions": []},
                {"type": "registry", "name": "catalog", "actions": ["*"]},
            ]}))
        );
        assert_eq!(
            granted_repositories(&jwt).unwrap(),
            vec![
                ("a/app".to_string(), Access::Push),
                ("b/app".to_string(), Access::Pull)
            ]
        );
        assert_eq!(granted_repositories("opaque-token"), None);
        let no_claim = format!(
            "{}.{}.s",
            b64(serde_json::json!({})),
            b64(serde_json::json!({"sub": "x"}))
        );
        assert_eq!(granted_repositories(&no_claim), None);
    }

    #[test]
    fn form_encoding() {
        let body = form_encode(&[
            ("grant_type", "refresh_token"),
            ("scope", "repository:a/b:pull,push"),
            ("x", "a b&c=d"),
        ]);
        assert_eq!(
            body.as_str(),
            "grant_type=refresh_token&scope=repository%3Aa%2Fb%3Apull%2Cpush&x=a+b%26c%3Dd"
        );
    }
}
