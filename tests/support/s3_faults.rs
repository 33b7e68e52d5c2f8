//! An HTTP forwarder in front of moto that answers chosen S3 requests with
//! what real S3 sends under contention, and forwards the rest as they are.
//!
//! S3 answers a conditional write that races another conditional write to
//! the same key with `409 ConditionalRequestConflict` ("A conflicting
//! operation occurred. If using PutObject you can retry the request.",
//! docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html, and the
//! conditional writes guide: "you receive a 409 Conflict ... retry the
//! request"). moto never does, so the fault is injected here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::http_server::{Request, Response, serve};

pub struct S3Faults {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

/// S3's error document for a conflicting conditional write.
const CONFLICT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ConditionalRequestConflict</Code><Message>A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";

impl S3Faults {
    /// Forwards to `moto` (`http://host:port`); the first `conflicts`
    /// conditional PutObjects whose key contains `key_part` get a 409.
    pub fn new(moto: &str, key_part: &'static str, conflicts: usize) -> S3Faults {
        let upstream = moto.trim_start_matches("http://").trim_end_matches('/').to_string();
        let left = Arc::new(AtomicUsize::new(conflicts));
        let (port, requests) = serve(Arc::new(move |req: &Request| {
            let conditional = req.header("if-none-match").is_some() || req.header("if-match").is_some();
            if req.method == "PUT"
                && conditional
                && req.route().contains(key_part)
                && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
            {
                return Response::new(409).header("Content-Type", "application/xml").body(CONFLICT);
            }
            forward(&upstream, req)
        }));
        S3Faults { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The PUTs whose key contains `key_part`, as they arrived.
    pub fn puts(&self, key_part: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r.method == "PUT" && r.route().contains(key_part)).count()
    }
}

/// One request to moto on its own connection, the answer read to its end.
fn forward(upstream: &str, req: &Request) -> Response {
    let mut conn = TcpStream::connect(upstream).expect("moto");
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
    for (k, v) in &req.headers {
        if k != "connection" && k != "content-length" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", req.body.len()));
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(req.body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(502);
    let mut response = Response::new(status).body(body);
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim();
            if !["content-length", "transfer-encoding", "connection"].contains(&k.to_ascii_lowercase().as_str()) {
                response = response.header(k, v.trim());
            }
        }
    }
    response
}
