//! A real Prometheus server (Debian's, unpacked by scripts/prometheus.sh)
//! scraping a small exporter whose request counts the test controls: each
//! scrape, `http_requests_total{code="200"}` grows by `ok` and
//! `{code="500"}` by `errors`. `GET /set?ok=N&errors=M` (from a test, or a
//! runbook step with curl) changes them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http_server::{Response, serve};

pub struct Exporter {
    pub port: u16,
    pub rates: Arc<Mutex<(u64, u64)>>,
}

impl Exporter {
    pub fn start(ok: u64, errors: u64) -> Exporter {
        let rates = Arc::new(Mutex::new((ok, errors)));
        let totals = Arc::new(Mutex::new((0u64, 0u64)));
        let r = rates.clone();
        let (port, _) = serve(Arc::new(move |req| match req.route() {
            "/metrics" => {
                let (ok, errors) = *r.lock().unwrap();
                let mut t = totals.lock().unwrap();
                t.0 += ok;
                t.1 += errors;
                // The text exposition format (prometheus.io/docs/instrumenting/exposition_formats/).
                Response::new(200).header("Content-Type", "text/plain; version=0.0.4").body(format!(
                    "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {}\nhttp_requests_total{{code=\"500\"}} {}\n",
                    t.0, t.1
                ))
            }
            "/set" => {
                let n = |k| req.query(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                *r.lock().unwrap() = (n("ok"), n("errors"));
                Response::text(200, "set")
            }
            _ => Response::text(404, "not found"),
        }));
        Exporter { port, rates }
    }

    pub fn set(&self, ok: u64, errors: u64) {
        *self.rates.lock().unwrap() = (ok, errors);
    }

    pub fn set_url(&self, ok: u64, errors: u64) -> String {
        format!("http://127.0.0.1:{}/set?ok={ok}&errors={errors}", self.port)
    }
}

/// A Prometheus server of its own, scraping `exporter` every second.
pub struct Prometheus {
    pub url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(exporter: &Exporter) -> Prometheus {
        let bin = std::env::var("RELCTL_TEST_PROMETHEUS")
            .expect("RELCTL_TEST_PROMETHEUS (scripts/test.sh installs Prometheus through scripts/prometheus.sh)");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
                exporter.port
            ),
        )
        .unwrap();
        let port = free_port();
        let child = std::process::Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { url: format!("http://127.0.0.1:{port}"), child, _dir: dir };
        p.wait_for_samples(3);
        p
    }

    /// Waits until the exporter has been scraped `n` times (enough for a rate).
    pub fn wait_for_samples(&self, n: usize) {
        let start = Instant::now();
        loop {
            if self.query("count_over_time(up[1m])").is_some_and(|v| v >= n as f64) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "Prometheus at {} never scraped the exporter", self.url);
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// An instant query's single value, as the test sees it (curl, not relctl).
    pub fn query(&self, q: &str) -> Option<f64> {
        let out = std::process::Command::new("curl")
            .args(["-fsS", &format!("{}/api/v1/query", self.url), "--data-urlencode", &format!("query={q}")])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
