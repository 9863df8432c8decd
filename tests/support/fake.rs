//! Fake servers for the failures a real registry rarely shows on demand, each on
//! `127.0.0.1:<free port>`, plain HTTP, stopped on `Drop`:
//!
//! - [`HangingServer`]: accepts connections and never answers (a hung registry or proxy);
//! - [`TokenBomb`]: a registry whose every request gets `401` with a Bearer challenge naming
//!   its own `/token`, which answers `200` with a huge body (500 MB by default), with or
//!   without `Content-Length`; it counts the bytes it managed to send before the client gave up;
//! - [`Recorder`]: answers every request with one fixed status and records what it got
//!   (method, target, `Authorization`), e.g. the storage a registry redirects blob downloads to;
//! - [`Trickle`]: answers at once, then sends a manifest body one byte every 50 ms, forever.

use super::httpd::{read_request, Request, Response, Server};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accepts and never answers. Connections are held until the server is dropped (at most 10 min).
pub struct HangingServer {
    server: Server,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
}

impl HangingServer {
    pub fn start() -> HangingServer {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        let server = Server::start_with(move |stream: TcpStream| {
            a.fetch_add(1, Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(stream);
        });
        HangingServer {
            server,
            stop,
            accepted,
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Connections accepted so far (each attempt of the client is one).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A registry whose token server answers with an endless body.
pub struct TokenBomb {
    server: Server,
    sent: Arc<AtomicU64>,
}

impl TokenBomb {
    /// `size` bytes of token reply; `with_length`: announce them in `Content-Length` (else the
    /// body is chunked, with no length up front).
    pub fn start(size: u64, with_length: bool) -> TokenBomb {
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let host = Arc::new(Mutex::new(String::new()));
        let host_for_conn = host.clone();
        let server = Server::start_with(move |stream: TcpStream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let Ok(mut writer) = stream.try_clone() else {
                return;
            };
            let mut reader = std::io::BufReader::new(stream);
            while let Ok(Some(request)) = read_request(&mut reader, &mut writer) {
                let me = host_for_conn.lock().unwrap().clone();
                if request.path() == "/token" {
                    bomb(&mut writer, size, with_length, &counter);
                    return;
                }
                let challenge = format!(
                    "Bearer realm=\"http://{me}/token\",service=\"bomb\",scope=\"repository:x:pull\""
                );
                let answer = Response::new(401)
                    .header("WWW-Authenticate", challenge)
                    .json(&serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "token needed"}]}));
                if write_response(&mut writer, &answer, &request).is_err() {
                    return;
                }
            }
        });
        *host.lock().unwrap() = server.host();
        TokenBomb { server, sent }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Body bytes written before the client stopped reading (what a bounded reader leaves at
    /// its limit plus the socket buffers).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

fn bomb(out: &mut TcpStream, size: u64, with_length: bool, sent: &AtomicU64) {
    let _ = out.set_write_timeout(Some(Duration::from_secs(10)));
    let head = if with_length {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
    } else {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_string()
    };
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    // A JSON string that never ends: `{"token":"AAAA...`.
    let chunk = vec![b'A'; 64 * 1024];
    let mut written: u64 = 0;
    let mut first = true;
    while written < size {
        let n = (size - written).min(chunk.len() as u64) as usize;
        let mut piece = chunk[..n].to_vec();
        if first {
            piece[..10].copy_from_slice(b"{\"token\":\"");
            first = false;
        }
        let result = if with_length {
            out.write_all(&piece)
        } else {
            out.write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|_| out.write_all(&piece))
                .and_then(|_| out.write_all(b"\r\n"))
        };
        if result.is_err() {
            return;
        }
        written += n as u64;
        sent.store(written, Ordering::SeqCst);
    }
}

fn write_response(
    out: &mut TcpStream,
    response: &Response,
    request: &Request,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} X\r\n", response.status);
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
    out.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        out.write_all(&response.body)?;
    }
    out.flush()
}

/// One request a [`Recorder`] got.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
}

/// Answers every request with one status (a `WWW-Authenticate: Basic` goes with a 401) and
/// records what it got.
pub struct Recorder {
    server: Server,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub fn start(status: u16) -> Recorder {
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let server = Server::start(Arc::new(move |req: &Request| {
            seen.lock().unwrap().push(Recorded {
                method: req.method.clone(),
                target: req.target.clone(),
                authorization: req.header("authorization").map(str::to_string),
            });
            let mut answer = Response::new(status).json(
                &serde_json::json!({"errors": [{"code": "DENIED", "message": "storage says no"}]}),
            );
            if status == 401 {
                answer = answer.header("WWW-Authenticate", "Basic realm=\"storage\"");
            }
            answer
        }));
        Recorder { server, log }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.server.host())
    }

    pub fn log(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

/// A registry that answers at once, then trickles: `HEAD` of a manifest gets `200` without
/// `Docker-Content-Digest` (so the client must GET it), and the `GET` a chunked body of one
/// byte every 50 ms that never ends. No single read waits long; only an overall deadline stops it.
pub struct Trickle {
    server: Server,
    stop: Arc<AtomicBool>,
}

impl Trickle {
    pub fn start() -> Trickle {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let server = Server::start_with(move |stream: TcpStream| {
            let Ok(mut writer) = stream.try_clone() else {
                return;
            };
            let mut reader = std::io::BufReader::new(stream);
            while let Ok(Some(request)) = read_request(&mut reader, &mut writer) {
                if request.method == "HEAD" {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 2\r\n\r\n";
                    if writer.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    continue;
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let until = Instant::now() + Duration::from_secs(600);
                while !s.load(Ordering::SeqCst) && Instant::now() < until {
                    if writer
                        .write_all(b"1\r\n \r\n")
                        .and_then(|_| writer.flush())
                        .is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
        });
        Trickle { server, stop }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.server.host()
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
