//! Loopback HTTP/1.1 for tests: [`serve`] answers every request with a
//! handler and keeps every request, so the protocol fakes (Jenkins, Slack)
//! share one wire implementation; [`Server`] is the simple per-path one that
//! `http` step tests use.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    pub content_type: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply { status, body: body.into(), delay: Duration::ZERO, content_type: Some("application/json".into()) }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, body: body.into(), delay: Duration::ZERO, content_type: Some("text/plain".into()) }
    }

    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent: path and query.
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    /// When it arrived, for asserting on waits (Retry-After).
    pub at: Instant,
}

impl Request {
    /// The path without the query.
    pub fn route(&self) -> &str {
        self.path.split_once('?').map_or(self.path.as_str(), |(p, _)| p)
    }

    /// A query parameter, undecoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, q) = self.path.split_once('?')?;
        q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// What a handler answers.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status).header("Content-Type", "application/json;charset=utf-8").body(value.to_string())
    }

    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status).header("Content-Type", "text/plain;charset=utf-8").body(text)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }
}

/// Response header a handler sets to have the connection dropped after
/// that many body bytes (the header itself is not sent).
pub const DROP_AFTER: &str = "X-Test-Drop-After";

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Starts a loopback server answering with `handler`, one thread per
/// connection (keep-alive honoured); returns its port and the request log.
pub fn serve(handler: Handler) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
    let log = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (handler, log) = (handler.clone(), log.clone());
            std::thread::spawn(move || connection(stream, &*handler, &log));
        }
    });
    (port, requests)
}

fn connection(stream: TcpStream, handler: &(dyn Fn(&Request) -> Response + Send + Sync), log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    while let Some(request) = read_request(&mut reader) {
        log.lock().unwrap().push(request.clone());
        let mut response = handler(&request);
        // A fake may cut an answer short (a dropped connection) with this header.
        let drop_after = response.headers.iter().find(|(k, _)| k == DROP_AFTER).and_then(|(_, v)| v.parse::<usize>().ok());
        response.headers.retain(|(k, _)| k != DROP_AFTER);
        let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
        for (k, v) in &response.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !response.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            head.push_str("Content-Type: text/plain\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
        if let Some(n) = drop_after {
            let _ = out.write_all(head.as_bytes()).and_then(|()| out.write_all(&response.body[..n.min(response.body.len())]));
            let _ = out.flush();
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
        if out.write_all(head.as_bytes()).and_then(|()| out.write_all(&response.body)).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned(), at })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        303 => "See Other",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Each path answers with configured replies, in order; the last one repeats.
pub struct Server {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Vec<Reply>>>>,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start() -> Server {
        let routes: Arc<Mutex<HashMap<String, Vec<Reply>>>> = Arc::default();
        let r = routes.clone();
        let (port, requests) = serve(Arc::new(move |request: &Request| {
            let reply = {
                let mut routes = r.lock().unwrap();
                match routes.get_mut(&request.path) {
                    Some(list) if list.len() > 1 => list.remove(0),
                    Some(list) if !list.is_empty() => list[0].clone(),
                    _ => Reply::text(404, "not found"),
                }
            };
            std::thread::sleep(reply.delay);
            let ct = reply.content_type.clone().unwrap_or_else(|| "text/plain".into());
            Response::new(reply.status).header("content-type", ct).body(reply.body)
        }));
        Server { port, routes, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Replies for `path`, used in order; the last one repeats.
    pub fn route(&self, path: &str, replies: Vec<Reply>) {
        self.routes.lock().unwrap().insert(path.to_string(), replies);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r.path == path).count()
    }
}

/// `%XX` escapes decoded (a path segment, or a form value once `+` is a space).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) =
                bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
