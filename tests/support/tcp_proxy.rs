//! A loopback TCP forwarder in front of a server (moto), that a test can
//! cut as if the server had stopped: the port closes (new connections are
//! refused, as by a host whose server is down) and open connections are
//! shut. `restore` listens on the same port again.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Forwards to `upstream` (`http://host:port`, or `host:port`).
    pub fn new(upstream: &str) -> Proxy {
        let hostport = upstream.trim_start_matches("http://").trim_end_matches('/');
        let upstream: SocketAddr = hostport.parse().expect("upstream host:port");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut p = Proxy { addr, upstream, up: Arc::default(), open: Arc::default(), accepting: None };
        p.start(listener);
        p
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn start(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, open, upstream) = (self.up.clone(), self.open.clone(), self.upstream);
        self.accepting = Some(std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(upstream) else { continue };
                        {
                            let mut open = open.lock().unwrap();
                            open.push(client.try_clone().unwrap());
                            open.push(server.try_clone().unwrap());
                        }
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener drops here: the port is closed.
        }));
    }

    /// The server "stops": the port closes and open connections are cut.
    pub fn cut(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(t) = self.accepting.take() {
            t.join().unwrap();
        }
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// The server is back, on the same port.
    pub fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr).expect("the same port again");
        self.start(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
