//! `--serve-load URL`: drives a running `polyclip serve` from this machine with N concurrent clients for a
//! bounded time and a bounded number of requests (loopback only), and prints throughput and p50/p99 latency for
//! text search and for image search, the failures (there should be none), and the server's resident memory
//! before and after when `--server-pid` is given.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What to send.
pub struct LoadPlan<'a> {
    pub url: &'a str,
    pub clients: usize,
    pub seconds: f64,
    pub max_requests: usize,
    pub texts: &'a [String],
    pub picture: &'a [u8],
    pub server_pid: Option<u32>,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One request on a new connection; whether the answer was a 200.
fn request(addr: &str, head: &str, body: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut bytes = head.as_bytes().to_vec();
    bytes.extend_from_slice(body);
    if stream.write_all(&bytes).is_err() {
        return false;
    }
    let mut response = Vec::new();
    if stream.read_to_end(&mut response).is_err() {
        return false;
    }
    response.starts_with(b"HTTP/1.1 200")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn measure_serve_load(plan: &LoadPlan<'_>) -> crate::BenchResult {
    let addr = plan
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    if !(addr.starts_with("127.") || addr.starts_with("localhost") || addr.starts_with("[::1]")) {
        return Err(format!(
            "--serve-load drives a server on this machine only (loopback), not {addr}"
        )
        .into());
    }
    let rss_before = plan.server_pid.and_then(rss_kib);
    for kind in ["text", "image"] {
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(plan.seconds);
        let per_client = plan.max_requests.div_ceil(plan.clients.max(1));
        let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..plan.clients.max(1))
                .map(|client| {
                    let addr = addr.clone();
                    scope.spawn(move || {
                        let mut latencies = Vec::new();
                        let mut failures = 0;
                        for i in 0..per_client {
                            if Instant::now() >= deadline {
                                break;
                            }
                            let sent = Instant::now();
                            let ok = if kind == "text" {
                                let text = &plan.texts[(client * 31 + i) % plan.texts.len()];
                                let head = format!(
                                    "GET /api/search?k=10&q={} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n",
                                    encode(text)
                                );
                                request(&addr, &head, &[])
                            } else {
                                let head = format!(
                                    "POST /api/search/image?k=10 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                                    plan.picture.len()
                                );
                                request(&addr, &head, plan.picture)
                            };
                            if ok {
                                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                            } else {
                                failures += 1;
                            }
                        }
                        (latencies, failures)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let elapsed = started.elapsed().as_secs_f64();
        let failures: usize = results.iter().map(|(_, f)| f).sum();
        let mut latencies: Vec<f64> = results.into_iter().flat_map(|(l, _)| l).collect();
        latencies.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "bench": "serve-load",
                "search": kind,
                "clients": plan.clients,
                "requests": latencies.len() + failures,
                "failures": failures,
                "seconds": elapsed,
                "requests_per_s": latencies.len() as f64 / elapsed,
                "p50_ms": percentile(&latencies, 50.0),
                "p99_ms": percentile(&latencies, 99.0),
            })
        );
    }
    // How many model passes answered how many queries (the worker batches queries that arrive together).
    if let Ok(mut stream) = TcpStream::connect(&addr) {
        let _ =
            stream.write_all(b"GET /api/info HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        if let Some(info) = response
            .split("\r\n\r\n")
            .nth(1)
            .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        {
            let queries = info["worker"]["queries"].as_f64().unwrap_or(0.0);
            let passes = info["worker"]["forward_passes"].as_f64().unwrap_or(0.0);
            println!(
                "{}",
                serde_json::json!({"bench": "serve-load", "model_queries": queries, "forward_passes": passes,
                    "queries_per_pass": queries / passes.max(1.0)})
            );
        }
    }
    let rss_after = plan.server_pid.and_then(rss_kib);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "{}",
            serde_json::json!({"bench": "serve-load", "server_rss_mib_before": before / 1024, "server_rss_mib_after": after / 1024})
        );
    }
    Ok(())
}
