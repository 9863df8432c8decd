//! A counting HTTP reverse proxy in front of a plain-http registry: every request is recorded by method
//! and path, then forwarded. Client connections are kept alive (each gets its own upstream
//! connection), so counts match what a connection-reusing client really sends. `Host` is passed
//! unchanged, so the registry's `Location` URLs point back at the proxy.
//!
//! It can also inject faults ([`CountingProxy::fail`]): answer a status such as 500 or 503 itself,
//! without forwarding, to the next N requests matching a method and a path fragment; and drop
//! response headers ([`CountingProxy::strip_headers`]), as a registry or proxy that omits them.
//!
//! And it can be slow on purpose: [`CountingProxy::delay`] holds every matching request back a
//! random time in a range before forwarding it (a distant registry: 50-150 ms per round trip),
//! [`CountingProxy::hold`] holds the next N matching requests back a fixed time (one signer whose
//! `.sig` write lands seconds late). Only the connection of that request waits.

use super::client::Endpoint;
use super::httpd::{header, read_body, read_head, read_request, Request, Server};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    log: Mutex<Vec<(String, String)>>,
    /// The `Authorization` header of every request (`None`: none sent), in order.
    authorizations: Mutex<Vec<Option<String>>>,
    connections: AtomicUsize,
    faults: Mutex<Vec<Fault>>,
    injected: Mutex<Vec<(String, String, u16)>>,
    strips: Mutex<Vec<Strip>>,
    delays: Mutex<Vec<Delay>>,
    /// `(method, target, held for)` of every request a delay or hold applied to, in order.
    delayed: Mutex<Vec<(String, String, Duration)>>,
    /// Requests being held or forwarded right now, and the most there ever were at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// Hold matching requests back before forwarding them: `min..=max` (random in between), for the
/// next `remaining` matching requests (`usize::MAX`: all of them).
struct Delay {
    method: String,
    fragment: String,
    min: Duration,
    max: Duration,
    remaining: usize,
}

/// Drop the response headers `names` for the next `remaining` requests with `method` whose
/// target contains `fragment`.
struct Strip {
    method: String,
    fragment: String,
    names: Vec<String>,
    remaining: usize,
}

/// Answer `status` to the next `remaining` requests with `method` (`"*"`: any) whose target
/// contains `fragment`.
struct Fault {
    method: String,
    fragment: String,
    status: u16,
    /// A JSON body to send with the status (a registry's `{"errors":[...]}`), or empty.
    body: String,
    /// Matching requests still to forward before the fault starts (a registry that starts
    /// failing midway).
    skip: usize,
    /// Extra response headers (`Retry-After`, ...).
    headers: Vec<(String, String)>,
    /// Answer with `Location: {redirect}{target}` (a redirect to storage).
    redirect: Option<String>,
    remaining: usize,
}

/// An injected answer.
struct Answer {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
}

impl Fault {
    fn new(method: &str, fragment: &str, status: u16, times: usize) -> Fault {
        Fault {
            method: method.to_string(),
            fragment: fragment.to_string(),
            status,
            body: String::new(),
            skip: 0,
            headers: Vec::new(),
            redirect: None,
            remaining: times,
        }
    }
}

impl State {
    /// How long to hold this request back (uses a matching hold up once).
    fn take_delay(&self, request: &Request) -> Option<Duration> {
        let mut delays = self.delays.lock().unwrap();
        let delay = delays.iter_mut().find(|d| {
            d.remaining > 0
                && (d.method == "*" || d.method == request.method)
                && request.target.contains(&d.fragment)
        })?;
        delay.remaining = delay
            .remaining
            .saturating_sub(usize::from(delay.remaining != usize::MAX));
        let span = delay.max.saturating_sub(delay.min).as_micros() as u64;
        let wait =
            delay.min + Duration::from_micros(if span == 0 { 0 } else { random() % (span + 1) });
        self.delayed
            .lock()
            .unwrap()
            .push((request.method.clone(), request.target.clone(), wait));
        Some(wait)
    }

    /// The response headers to drop for this request (uses a matching strip up once).
    fn take_strip(&self, request: &Request) -> Vec<String> {
        let mut strips = self.strips.lock().unwrap();
        let Some(strip) = strips.iter_mut().find(|s| {
            s.remaining > 0 && s.method == request.method && request.target.contains(&s.fragment)
        }) else {
            return Vec::new();
        };
        strip.remaining -= 1;
        strip.names.clone()
    }

    /// The status to answer instead of forwarding, if a fault matches (and uses it up once).
    fn take_fault(&self, request: &Request) -> Option<Answer> {
        let mut faults = self.faults.lock().unwrap();
        let fault = faults.iter_mut().find(|f| {
            f.remaining > 0
                && (f.method == "*" || f.method == request.method)
                && request.target.contains(&f.fragment)
        })?;
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        fault.remaining -= 1;
        let status = fault.status;
        let body = fault.body.clone();
        let mut headers = fault.headers.clone();
        if let Some(base) = &fault.redirect {
            headers.push(("Location".into(), format!("{base}{}", request.target)));
        }
        self.injected.lock().unwrap().push((
            request.method.clone(),
            request.target.clone(),
            status,
        ));
        Some(Answer {
            status,
            body,
            headers,
        })
    }
}

pub struct CountingProxy {
    server: Server,
    state: Arc<State>,
    upstream: Endpoint,
}

impl CountingProxy {
    /// Proxies to `upstream` (must be plain http: `Registry::http()`, `Registry::token_http()`,
    /// `Ferro`, `LyingRegistry`). Credentials of `upstream` are kept on [`CountingProxy::endpoint`].
    pub fn start(upstream: &Endpoint) -> CountingProxy {
        assert!(
            !upstream.tls,
            "CountingProxy forwards plain http only; start the registry without TLS"
        );
        let addr: SocketAddr = upstream.host.parse().expect("upstream host is IP:PORT");
        let state = Arc::new(State::default());
        let conn_state = state.clone();
        let server = Server::start_with(move |client| proxy_connection(client, addr, &conn_state));
        CountingProxy {
            server,
            state,
            upstream: upstream.clone(),
        }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        self.server.host()
    }

    pub fn image(&self, repo_and_ref: &str) -> String {
        format!("{}/{repo_and_ref}", self.host())
    }

    /// The upstream endpoint with the proxy's address.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.host(),
            ..self.upstream.clone()
        }
    }

    /// `(method, target)` of every request, in order (target includes the query).
    pub fn log(&self) -> Vec<(String, String)> {
        self.state.log.lock().unwrap().clone()
    }

    /// Requests counted by `(method, path without query)`.
    pub fn counts(&self) -> BTreeMap<(String, String), usize> {
        let mut counts = BTreeMap::new();
        for (method, target) in self.log() {
            let path = target.split('?').next().unwrap_or("").to_string();
            *counts.entry((method, path)).or_insert(0) += 1;
        }
        counts
    }

    /// All requests so far.
    pub fn total(&self) -> usize {
        self.state.log.lock().unwrap().len()
    }

    /// Requests with this method (`"*"` for any) whose path contains `fragment`.
    pub fn count(&self, method: &str, fragment: &str) -> usize {
        self.log()
            .iter()
            .filter(|(m, t)| (method == "*" || m == method) && t.contains(fragment))
            .count()
    }

    /// The most requests that were held or forwarded at the same time (those answered with an
    /// injected fault do not count).
    pub fn most_in_flight(&self) -> usize {
        self.state.most_in_flight.load(Ordering::SeqCst)
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Forgets the requests recorded so far (and the most in flight).
    pub fn reset(&self) {
        self.state.log.lock().unwrap().clear();
        self.state.authorizations.lock().unwrap().clear();
        self.state.most_in_flight.store(0, Ordering::SeqCst);
    }

    /// From now on, answer `status` (e.g. 500, 503) without forwarding to the next `times`
    /// requests with `method` (`"*"` for any) whose target contains `fragment`. Such requests
    /// are still counted. Faults added earlier are matched first.
    pub fn fail(&self, method: &str, fragment: &str, status: u16, times: usize) {
        self.fail_with(method, fragment, status, "", times);
    }

    /// Like [`CountingProxy::fail`], with a JSON body, e.g. a registry's
    /// `{"errors":[{"code":"MANIFEST_INVALID",...}]}`.
    pub fn fail_with(&self, method: &str, fragment: &str, status: u16, body: &str, times: usize) {
        self.push_fault(Fault {
            body: body.to_string(),
            ..Fault::new(method, fragment, status, times)
        });
    }

    /// Like [`CountingProxy::fail`], with response headers: `429` with `Retry-After: 1` is a
    /// registry rate limiting.
    pub fn fail_with_headers(
        &self,
        method: &str,
        fragment: &str,
        status: u16,
        headers: &[(&str, &str)],
        times: usize,
    ) {
        self.push_fault(Fault {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Fault::new(method, fragment, status, times)
        });
    }

    /// Answer the next `times` matching requests with `307` to `{base}{target}`, as a registry
    /// sends blob downloads to its storage (`base`: `http://127.0.0.1:PORT` of another server).
    pub fn redirect(&self, method: &str, fragment: &str, base: &str, times: usize) {
        self.push_fault(Fault {
            redirect: Some(base.to_string()),
            ..Fault::new(method, fragment, 307, times)
        });
    }

    /// Like [`CountingProxy::fail`], but only after forwarding the first `after` matching
    /// requests: a registry that starts failing midway through a batch.
    pub fn fail_after(
        &self,
        method: &str,
        fragment: &str,
        status: u16,
        after: usize,
        times: usize,
    ) {
        self.push_fault(Fault {
            skip: after,
            ..Fault::new(method, fragment, status, times)
        });
    }

    fn push_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }

    /// The `Authorization` header of every request so far (`None`: the request had none).
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.state.authorizations.lock().unwrap().clone()
    }

    /// Drop the response headers `names` (e.g. `Content-Length`, `Content-Type` of a HEAD) for
    /// the next `times` requests with `method` whose target contains `fragment`.
    pub fn strip_headers(&self, method: &str, fragment: &str, names: &[&str], times: usize) {
        self.state.strips.lock().unwrap().push(Strip {
            method: method.to_string(),
            fragment: fragment.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            remaining: times,
        });
    }

    /// Forgets all faults, delays and holds not yet used up.
    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
        self.state.delays.lock().unwrap().clear();
    }

    /// From now on, hold every request with `method` (`"*"`: any) whose target contains
    /// `fragment` back for a random time in `min..=max` before forwarding it: a registry far
    /// away. Only that request's connection waits.
    pub fn delay(&self, method: &str, fragment: &str, min: Duration, max: Duration) {
        self.push_delay(method, fragment, min, max, usize::MAX);
    }

    /// Hold the next `times` requests with `method` whose target contains `fragment` back for
    /// `wait` before forwarding them: a write that lands late.
    pub fn hold(&self, method: &str, fragment: &str, wait: Duration, times: usize) {
        self.push_delay(method, fragment, wait, wait, times);
    }

    fn push_delay(&self, method: &str, fragment: &str, min: Duration, max: Duration, n: usize) {
        self.state.delays.lock().unwrap().push(Delay {
            method: method.to_string(),
            fragment: fragment.to_string(),
            min,
            max: max.max(min),
            remaining: n,
        });
    }

    /// `(method, target, held for)` of every request [`CountingProxy::delay`] or
    /// [`CountingProxy::hold`] applied to, in order.
    pub fn delayed(&self) -> Vec<(String, String, Duration)> {
        self.state.delayed.lock().unwrap().clone()
    }

    /// `(method, target, status)` of every request answered with an injected fault, in order.
    pub fn injected(&self) -> Vec<(String, String, u16)> {
        self.state.injected.lock().unwrap().clone()
    }

    /// A human-readable table of [`CountingProxy::counts`], for messages and benchmarks.
    pub fn report(&self) -> String {
        let mut out = format!("{} requests\n", self.total());
        for ((method, path), n) in self.counts() {
            out.push_str(&format!("{n:>5} {method} {path}\n"));
        }
        out
    }
}

struct Upstream {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn connect(addr: SocketAddr) -> std::io::Result<Upstream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_nodelay(true)?;
    Ok(Upstream {
        reader: BufReader::new(stream.try_clone()?),
        writer: stream,
    })
}

fn proxy_connection(client: TcpStream, upstream: SocketAddr, state: &State) {
    state.connections.fetch_add(1, Ordering::SeqCst);
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = client.set_nodelay(true);
    let Ok(mut to_client) = client.try_clone() else {
        return;
    };
    let mut from_client = BufReader::new(client);
    let mut up: Option<Upstream> = None;
    while let Ok(Some(request)) = read_request(&mut from_client, &mut to_client) {
        state
            .log
            .lock()
            .unwrap()
            .push((request.method.clone(), request.target.clone()));
        state
            .authorizations
            .lock()
            .unwrap()
            .push(request.header("authorization").map(str::to_string));
        if let Some(Answer {
            status,
            body,
            headers,
        }) = state.take_fault(&request)
        {
            let extra: String = headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}\r\n"))
                .collect();
            let answer = format!(
                "HTTP/1.1 {status} Injected Fault\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if to_client
                .write_all(answer.as_bytes())
                .and_then(|_| to_client.flush())
                .is_err()
            {
                return;
            }
            if header(&request.headers, "connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            {
                return;
            }
            continue;
        }
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Some(wait) = state.take_delay(&request) {
            std::thread::sleep(wait);
        }
        // A kept-alive upstream connection may have been closed meanwhile: reconnect once.
        let strip = state.take_strip(&request);
        let mut result = forward(&mut up, upstream, &request, &strip);
        if result.is_err() {
            up = None;
            result = forward(&mut up, upstream, &request, &strip);
        }
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        let Ok((head, close)) = result else {
            let _ = to_client.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        };
        if close {
            up = None;
        }
        if to_client
            .write_all(&head)
            .and_then(|_| to_client.flush())
            .is_err()
        {
            return;
        }
        if header(&request.headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            return;
        }
    }
}

/// Sends `request` upstream and returns the response to relay (re-framed with `Content-Length`) and
/// whether the upstream connection must be dropped.
fn forward(
    up: &mut Option<Upstream>,
    addr: SocketAddr,
    request: &Request,
    strip: &[String],
) -> std::io::Result<(Vec<u8>, bool)> {
    if up.is_none() {
        *up = Some(connect(addr)?);
    }
    let conn = up.as_mut().expect("connected");
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        if !is_framing(name) && !name.eq_ignore_ascii_case("expect") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let had_length = header(&request.headers, "content-length").is_some()
        || header(&request.headers, "transfer-encoding").is_some();
    if had_length || !request.body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    conn.writer.write_all(head.as_bytes())?;
    conn.writer.write_all(&request.body)?;
    conn.writer.flush()?;

    let (start, headers) = loop {
        let (start, headers) = read_head(&mut conn.reader)?.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "upstream closed")
        })?;
        // Skip interim responses.
        if !start
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s.starts_with('1'))
        {
            break (start, headers);
        }
    };
    let status: u16 = start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let bodiless = request.method == "HEAD" || status == 204 || status == 304;
    let has_framing = header(&headers, "content-length").is_some()
        || header(&headers, "transfer-encoding").is_some();
    let body = if bodiless {
        Vec::new()
    } else {
        read_body(&mut conn.reader, &headers, true)?
    };
    let close = header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
        || (!bodiless && !has_framing);

    let mut out = format!("{start}\r\n");
    for (name, value) in &headers {
        let keep_head_length = bodiless && name.eq_ignore_ascii_case("content-length");
        let stripped = strip.iter().any(|s| s.eq_ignore_ascii_case(name));
        if (!is_framing(name) || keep_head_length) && !stripped {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !bodiless {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Ok((bytes, close))
}

/// A pseudo-random number (splitmix64 over a process-wide counter and the clock): the
/// delays only have to differ between requests.
fn random() -> u64 {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos
        ^ (COUNTER.fetch_add(1, Ordering::Relaxed) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn is_framing(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}
