//! Throughput of a hello-world axum app: bare, with memscope's layer, and
//! with the layer and heap profiling active (lg_sample 19), under wrk over
//! loopback. `bash benches/throughput.sh` installs wrk and runs this.
//!
//! Each variant is a child process (this binary with `--serve VARIANT`)
//! with one tokio worker, so that wrk has the other core. Variants take
//! turns over five rounds of bounded 8-second runs, and the median of each
//! is compared: the machine is noisy, ratios within one run are what count.

#[global_allocator]
static ALLOC: memscope::Jemalloc = memscope::Jemalloc;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::routing::get;

const ROUNDS: usize = 5;
const SECONDS: u64 = 8;
const CONNECTIONS: u32 = 32;

/// What wraps the app.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wrapping {
    Bare,
    /// A layer that does nothing: what `Router::layer` costs by itself.
    NoOpLayer,
    DebugLayer,
}

impl Wrapping {
    fn arg(self) -> &'static str {
        match self {
            Wrapping::Bare => "bare",
            Wrapping::NoOpLayer => "noop",
            Wrapping::DebugLayer => "layer",
        }
    }
}

struct Variant {
    name: &'static str,
    wrapping: Wrapping,
    /// jemalloc's start-up configuration for the child.
    malloc_conf: Option<&'static str>,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        name: "bare app",
        wrapping: Wrapping::Bare,
        malloc_conf: None,
    },
    Variant {
        name: "with a no-op layer",
        wrapping: Wrapping::NoOpLayer,
        malloc_conf: None,
    },
    Variant {
        name: "with DebugLayer",
        wrapping: Wrapping::DebugLayer,
        malloc_conf: None,
    },
    Variant {
        name: "with DebugLayer, heap profiling active",
        wrapping: Wrapping::DebugLayer,
        malloc_conf: Some("prof:true,prof_active:true,lg_prof_sample:19"),
    },
];

fn serve(wrapping: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut app = Router::new()
            .route("/", get(|| async { "Hello, World!" }))
            // Lets the instruction count end the server cleanly, so that
            // callgrind writes its totals.
            .route(
                "/exit",
                get(|| async {
                    std::process::exit(0);
                    #[allow(unreachable_code)]
                    ""
                }),
            );
        match wrapping {
            "layer" => app = app.layer(memscope::DebugLayer::new()),
            "noop" => {
                app = app.layer(tower::util::MapRequestLayer::new(
                    |request: axum::extract::Request| request,
                ))
            }
            _ => {}
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

/// What one load run measured.
struct Run {
    requests_per_second: f64,
    requests: u64,
}

/// Runs wrk against `addr`.
fn load(addr: &str, seconds: u64) -> Run {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("wrk is not installed: run `bash benches/throughput.sh`, which installs it");
    let text = String::from_utf8_lossy(&output.stdout);
    let requests_per_second = text
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    // "  734201 requests in 8.00s, 91.02MB read"
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    Run {
        requests_per_second,
        requests,
    }
}

/// CPU time the process `pid` has used, user and system, in microseconds.
/// Time stolen by other tenants of the machine is not charged to it, so
/// CPU per request is steadier than requests per second here.
fn cpu_micros(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in USER_HZ, 100 ticks a second.
    ticks * 10_000
}

/// Requests per second, and the server's CPU microseconds per request.
fn measure(variant: &Variant) -> (f64, f64) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--serve", variant.wrapping.arg()])
        .stdout(Stdio::piped())
        .env_remove("_RJEM_MALLOC_CONF");
    if let Some(conf) = variant.malloc_conf {
        command.env("_RJEM_MALLOC_CONF", conf);
    }
    let mut child = command.spawn().unwrap();
    let mut addr = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut addr)
        .unwrap();
    let addr = addr.trim().to_owned();
    if variant.wrapping == Wrapping::DebugLayer {
        // Check that the child runs as the variant says, from its own page.
        let overview = http_get(&addr, "/_debug/?format=json");
        let active = overview.contains("\"active\": true");
        assert_eq!(
            active,
            variant.malloc_conf.is_some(),
            "{}: {overview}",
            variant.name
        );
    }
    load(&addr, 2); // warm-up
    let cpu_before = cpu_micros(child.id());
    let run = load(&addr, SECONDS);
    let cpu = cpu_micros(child.id()) - cpu_before;
    let _ = child.kill();
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(500));
    (run.requests_per_second, cpu as f64 / run.requests as f64)
}

/// A bare HTTP/1.0 GET, enough to read one page.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Sends `count` GETs of `/` over one kept-alive connection.
fn send_requests(addr: &str, count: usize) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    // One write per request, sent at once: several small writes would wait
    // on Nagle's algorithm and the server's delayed ACKs, 40 ms each.
    stream.set_nodelay(true).unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut buffer = vec![0u8; 4096];
    for _ in 0..count {
        stream.write_all(request.as_bytes()).unwrap();
        let mut received = Vec::new();
        // "Hello, World!" is the last thing of every answer.
        while !received.ends_with(b"Hello, World!") {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "the server closed the connection");
            received.extend_from_slice(&buffer[..read]);
        }
    }
}

/// Instructions the server executes for `requests` requests, start-up and
/// shut-down included, counted by callgrind.
fn instructions(variant: &Variant, requests: usize) -> u64 {
    let mut command = Command::new("valgrind");
    command
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(std::env::current_exe().unwrap())
        .args(["--serve", variant.wrapping.arg()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("_RJEM_MALLOC_CONF");
    if let Some(conf) = variant.malloc_conf {
        command.env("_RJEM_MALLOC_CONF", conf);
    }
    let mut child = command
        .spawn()
        .expect("valgrind is not installed: apt-get install valgrind");
    let mut addr = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut addr)
        .unwrap();
    let addr = addr.trim().to_owned();
    send_requests(&addr, requests);
    let _ = http_get_ignoring_errors(&addr, "/exit");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .find_map(|line| line.split("Collected : ").nth(1))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no instruction count from callgrind:\n{stderr}"))
}

fn http_get_ignoring_errors(addr: &str, path: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n")?;
    let mut ignored = Vec::new();
    let _ = stream.read_to_end(&mut ignored);
    Ok(())
}

/// Instructions per request: the difference between two runs of different
/// lengths, so that start-up and shut-down cancel out.
fn instructions_per_request() {
    const FEW: usize = 2_000;
    const MANY: usize = 12_000;
    println!("instructions per request under callgrind ({MANY} − {FEW} requests, one connection):");
    let mut bare = 0.0;
    for variant in &VARIANTS {
        let per_request =
            (instructions(variant, MANY) - instructions(variant, FEW)) as f64 / (MANY - FEW) as f64;
        if variant.wrapping == Wrapping::Bare {
            bare = per_request;
        }
        println!(
            "{:<40} {per_request:>10.0} instructions/request  ratio (bare/it) {:.3}",
            variant.name,
            bare / per_request
        );
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|arg| arg == "--serve") {
        serve(args.get(position + 1).map_or("bare", String::as_str));
        return;
    }
    if args.iter().any(|arg| arg == "--instructions") {
        instructions_per_request();
        return;
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut costs: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    for round in 1..=ROUNDS {
        for (index, variant) in VARIANTS.iter().enumerate() {
            let (rate, cost) = measure(variant);
            println!(
                "round {round}: {:<40} {rate:>8.0} requests/s {cost:>6.2} µs CPU/request",
                variant.name
            );
            rates[index].push(rate);
            costs[index].push(cost);
        }
    }
    let rates: Vec<f64> = rates.into_iter().map(median).collect();
    let costs: Vec<f64> = costs.into_iter().map(median).collect();
    println!(
        "\nmedians of {ROUNDS} runs of {SECONDS} s, wrk -t1 -c{CONNECTIONS}, one server worker:"
    );
    println!(
        "{:<40} {:>12} {:>9} {:>14} {:>16}",
        "", "requests/s", "ratio", "µs CPU/req", "ratio (bare/it)"
    );
    for (index, variant) in VARIANTS.iter().enumerate() {
        println!(
            "{:<40} {:>12.0} {:>9.3} {:>14.2} {:>16.3}",
            variant.name,
            rates[index],
            rates[index] / rates[0],
            costs[index],
            costs[0] / costs[index]
        );
    }
}
