//! What the benches share: a JSON GET timed, the process's memory, the
//! heap history thread's CPU time.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;

/// A client for loopback, kept alive across requests.
pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// GETs `url` and reads its JSON, with the time the answer took.
pub async fn fetch(client: &HttpClient, url: &str) -> (Duration, serde_json::Value) {
    let start = Instant::now();
    let response = client.get(url.parse().unwrap()).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let took = start.elapsed();
    (took, serde_json::from_slice(&body).unwrap())
}

/// The note in which the page accounts for its dump and symbolize times.
pub fn timing(page: &serde_json::Value) -> String {
    page["notes"][1].as_str().unwrap_or("").to_owned()
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's resident set size now.
pub fn rss() -> u64 {
    status_bytes("VmRSS:")
}

pub fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// A figure of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
pub fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The CPU time the thread whose name starts with `name` has used, to the
/// nanosecond (the scheduler's own count, `/proc/self/task/*/schedstat`).
pub fn thread_cpu(name: &str) -> Duration {
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        if !comm.starts_with(name) {
            continue;
        }
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).unwrap();
        let nanos: u64 = schedstat.split(' ').next().unwrap().parse().unwrap();
        return Duration::from_nanos(nanos);
    }
    Duration::ZERO
}

/// The CPU time the heap history's thread has used.
pub fn history_thread_cpu() -> Duration {
    let ticks_per_second = 100.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if !stat.contains("(memscope-histor") {
            continue;
        }
        // After the name's closing parenthesis: utime and stime are the
        // 12th and 13th fields.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        return Duration::from_secs_f64(ticks / ticks_per_second);
    }
    Duration::ZERO
}
