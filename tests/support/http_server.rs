//! A loopback HTTP/1.1 server for `http` step tests: each path answers with
//! a configured status, headers, body and delay, and every request is kept.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

pub struct Server {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Vec<Reply>>>>,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Vec<Reply>>>> = Arc::default();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (r, q) = (routes.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, q) = (r.clone(), q.clone());
                std::thread::spawn(move || handle(stream, &r, &q));
            }
        });
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

fn handle(stream: TcpStream, routes: &Mutex<HashMap<String, Vec<Reply>>>, requests: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
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
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.lock().unwrap().push(Request {
            method,
            path: path.clone(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let reply = {
            let mut routes = routes.lock().unwrap();
            match routes.get_mut(&path) {
                Some(list) if list.len() > 1 => list.remove(0),
                Some(list) if !list.is_empty() => list[0].clone(),
                _ => Reply::text(404, "not found"),
            }
        };
        std::thread::sleep(reply.delay);
        let mut out = stream.try_clone().unwrap();
        let ct = reply.content_type.clone().unwrap_or_else(|| "text/plain".into());
        let head = format!("HTTP/1.1 {} X\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n", reply.status, reply.body.len());
        if out.write_all(head.as_bytes()).and_then(|()| out.write_all(reply.body.as_bytes())).is_err() {
            return;
        }
    }
}
