//! The token server behind a token-auth [`Registry`](super::Registry): plain HTTP on 127.0.0.1,
//! run by the test process, issuing ES256 JWTs that Distribution 2.8 accepts.
//!
//! Distribution (`registry/auth/token/token.go`) checks: `iss` among its configured issuers, `aud`
//! (a single string in 2.8) equal to its `service`, `exp`/`nbf` with 60 s leeway, then the signing key:
//! the `x5c` header (standard base64 DER, leaf first) must chain to a cert of `rootcertbundle`; the
//! signature is raw `r||s` (64 bytes, base64url) over `header.claims`, algorithm `ES256`.
//!
//! Policy: `GET /token?service=..&scope=..` with Basic credentials. `writer` gets every action it asks
//! for; `reader` gets only `pull`; anonymous requests get a token with no access at all (so the registry
//! answers 401 `insufficient_scope`); wrong credentials get 401. `service` must match.
//!
//! It also takes the OAuth2 refresh-token grant of the distribution token spec (`oauth.md`), what
//! `docker login` sets up for Azure and OIDC-backed registries: `POST /token` with the form
//! `grant_type=refresh_token&refresh_token=..&service=..&scope=..&client_id=..`. The refresh
//! tokens [`WRITER_IDENTITY_TOKEN`] and [`READER_IDENTITY_TOKEN`] stand for `writer` and `reader`;
//! another one gets 401, a missing `client_id` or another grant 400. The reply is
//! `{"access_token", "scope", "expires_in"}`, as the spec has it.

use super::httpd::{Request, Response, Server};
use super::pki::{pem_cert_der, Ca};
use super::User;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// `service` (the JWT audience) the test registries are configured with.
pub const SERVICE: &str = "pinsign-test-registry";
/// `issuer` the test registries trust.
pub const ISSUER: &str = "pinsign-test-token-issuer";

/// The identity (refresh) token that stands for `writer` in the refresh-token grant.
pub const WRITER_IDENTITY_TOKEN: &str = "writer-identity-token-7f3a";
/// The identity token that stands for `reader`.
pub const READER_IDENTITY_TOKEN: &str = "reader-identity-token-91c2";

/// One request the token server answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// `GET` (Basic or anonymous) or `POST` (refresh-token grant).
    pub method: String,
    /// The user the credentials stand for, `None` if anonymous.
    pub user: Option<String>,
    /// The `scope` parameters as sent (percent-decoded).
    pub scopes: Vec<String>,
    /// `grant_type` of a POST.
    pub grant: Option<String>,
    /// `client_id` of a POST.
    pub client_id: Option<String>,
    /// The `Authorization` header as received.
    pub authorization: Option<String>,
}

struct State {
    users: Vec<User>,
    key: SigningKey,
    x5c: Vec<String>,
    count: AtomicUsize,
    log: Mutex<Vec<TokenRequest>>,
    issued: Mutex<Vec<String>>,
}

/// A running token server; stopped on `Drop`.
pub struct TokenServer {
    server: Server,
    state: Arc<State>,
}

impl TokenServer {
    /// Issues a signing certificate from `ca` (whose cert goes into the registry's `rootcertbundle`)
    /// and starts serving `users`.
    pub fn start(ca: &Ca, users: &[User]) -> TokenServer {
        let signer = ca.issue_token_signer();
        let pem = std::fs::read_to_string(&signer.key).expect("read token signer key");
        let key = SigningKey::from_pkcs8_pem(&pem).expect("token signer key is PKCS#8 P-256");
        let leaf = base64::engine::general_purpose::STANDARD.encode(pem_cert_der(&signer.cert));
        let state = Arc::new(State {
            users: users.to_vec(),
            key,
            x5c: vec![leaf],
            count: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
            issued: Mutex::new(Vec::new()),
        });
        let handler_state = state.clone();
        let server = Server::start(Arc::new(move |req: &Request| handle(&handler_state, req)));
        TokenServer { server, state }
    }

    /// `http://127.0.0.1:PORT/token`, the realm in the registry's challenge.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.host())
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.server
            .host()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("127.0.0.1:PORT")
    }

    /// How many requests reached the token endpoint (any outcome).
    pub fn requests(&self) -> usize {
        self.state.count.load(Ordering::SeqCst)
    }

    /// Every request answered so far, in order.
    pub fn log(&self) -> Vec<TokenRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// Every token issued so far, in order (the secrets a client must never print).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().clone()
    }
}

fn handle(state: &State, req: &Request) -> Response {
    state.count.fetch_add(1, Ordering::SeqCst);
    let params = if req.method == "POST" {
        form(&req.body)
    } else {
        req.query()
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string))
        .filter(|s| !s.is_empty())
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (response, user) = answer(state, req, &params, &scopes);
    state.log.lock().unwrap().push(TokenRequest {
        method: req.method.clone(),
        user,
        scopes,
        grant: get("grant_type"),
        client_id: get("client_id"),
        authorization: req.header("authorization").map(str::to_string),
    });
    response
}

/// An `application/x-www-form-urlencoded` body, percent-decoded.
fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                super::httpd::percent_decode(k),
                super::httpd::percent_decode(v),
            )
        })
        .collect()
}

fn answer(
    state: &State,
    req: &Request,
    params: &[(String, String)],
    scopes: &[String],
) -> (Response, Option<String>) {
    let error = |status: u16, message: &str, user: Option<String>| {
        let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]});
        (Response::new(status).json(&body), user)
    };
    if req.path() != "/token" || !(req.method == "GET" || req.method == "POST") {
        return error(404, "only GET and POST /token are served", None);
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("service").is_some_and(|s| s != SERVICE) {
        return error(400, "unknown service", None);
    }
    let user = if req.method == "POST" {
        if get("grant_type") != Some("refresh_token") {
            return error(400, "only grant_type=refresh_token is served", None);
        }
        if get("client_id").is_none_or(str::is_empty) {
            return error(400, "client_id is required", None);
        }
        match get("refresh_token") {
            Some(WRITER_IDENTITY_TOKEN) => Some("writer".to_string()),
            Some(READER_IDENTITY_TOKEN) => Some("reader".to_string()),
            _ => return error(401, "invalid refresh token", None),
        }
    } else {
        match basic_credentials(req) {
            None => None,
            Some((name, password)) => match state.users.iter().find(|u| u.name == name) {
                Some(u) if u.password == password => Some(u.name.to_string()),
                _ => return error(401, "invalid username or password", Some(name)),
            },
        }
    };
    let access: Vec<(String, String, Vec<String>)> = scopes
        .iter()
        .filter_map(|scope| grant(user.as_deref(), scope))
        .collect();
    let token = mint(state, user.as_deref(), &access);
    state.issued.lock().unwrap().push(token.clone());
    let body = if req.method == "POST" {
        serde_json::json!({"access_token": token, "scope": scopes.join(" "), "expires_in": 300})
    } else {
        serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
    };
    (Response::new(200).json(&body), user)
}

/// What `user` gets for one scope `type:name:actions` (the name may contain `:` for a port).
fn grant(user: Option<&str>, scope: &str) -> Option<(String, String, Vec<String>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let asked = actions.split(',').filter(|a| !a.is_empty());
    let granted: Vec<String> = match user {
        Some("writer") => asked.map(str::to_string).collect(),
        Some("reader") => asked.filter(|a| *a == "pull").map(str::to_string).collect(),
        _ => Vec::new(),
    };
    (!granted.is_empty()).then(|| (kind.to_string(), name.to_string(), granted))
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.header("authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
}

fn mint(state: &State, user: Option<&str>, access: &[(String, String, Vec<String>)]) -> String {
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let jti = state.count.load(Ordering::SeqCst);
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": state.x5c});
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.unwrap_or(""),
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("pinsign-test-{now}-{jti}"),
        "access": access
            .iter()
            .map(|(kind, name, actions)| serde_json::json!({"type": kind, "name": name, "actions": actions}))
            .collect::<Vec<_>>(),
    });
    let signing_input = format!(
        "{}.{}",
        b64url.encode(serde_json::to_vec(&header).expect("header JSON")),
        b64url.encode(serde_json::to_vec(&claims).expect("claims JSON"))
    );
    let signature: Signature = state.key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url.encode(signature.to_bytes()))
}
