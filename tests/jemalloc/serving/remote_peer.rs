//! A peer that is not on loopback, over a real network: a veth pair into a
//! network namespace made for the test. Under the default policy the pages
//! answer it 403 while the app's routes answer as always. Needs root and
//! iproute2's `ip` (CI has both); elsewhere the test says why it skipped.

use crate::common::own_process::{NO_PROFILING, in_own_process};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

/// A namespace and a veth pair, removed when dropped.
struct Namespace {
    name: String,
    host_side: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("`ip` could not run: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Namespace {
    /// The host side gets `10.213.<n>.1`, the namespace's side `.2`.
    fn create() -> Result<Self, String> {
        let n = std::process::id() % 250;
        let namespace = Self {
            name: format!("memscope-test-{}", std::process::id()),
            host_side: format!("msv{n}h"),
        };
        let peer_side = format!("msv{n}p");
        let subnet = format!("10.213.{n}");
        ip(&["netns", "add", &namespace.name])?;
        ip(&[
            "link",
            "add",
            &namespace.host_side,
            "type",
            "veth",
            "peer",
            "name",
            &peer_side,
        ])?;
        ip(&["link", "set", &peer_side, "netns", &namespace.name])?;
        ip(&[
            "addr",
            "add",
            &format!("{subnet}.1/24"),
            "dev",
            &namespace.host_side,
        ])?;
        ip(&["link", "set", &namespace.host_side, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &namespace.name, "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&["addr", "add", &format!("{subnet}.2/24"), "dev", &peer_side])?;
        inside(&["link", "set", &peer_side, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    fn host_address(&self) -> std::net::IpAddr {
        format!("10.213.{}.1", std::process::id() % 250)
            .parse()
            .unwrap()
    }

    /// Sends `raw` from inside the namespace, on a thread that joins it.
    fn request_from_inside(&self, to: SocketAddr, raw: String) -> String {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let namespace = std::fs::File::open(&path).unwrap();
            // SAFETY: moves only this thread into the namespace; the file
            // descriptor is open for the call.
            let joined = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
            let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            stream.write_all(raw.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        })
        .join()
        .unwrap()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_side]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_on_another_network_is_refused_the_pages_not_the_app() {
    if in_own_process(NO_PROFILING) {
        return;
    }
    let namespace = match Namespace::create() {
        Ok(namespace) => namespace,
        Err(why) => {
            // On the process's stderr: the harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED a_peer_on_another_network_is_refused_the_pages_not_the_app: {why}"
            );
            return;
        }
    };
    let app = Router::new()
        .route("/", get(|| async { "app" }))
        .layer(memscope::DebugLayer::new());
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(namespace.host_address(), 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let ask =
        |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let pages = tokio::task::spawn_blocking({
        let (raw_pages, raw_app) = (ask("/_debug/"), ask("/"));
        move || {
            let pages = namespace.request_from_inside(addr, raw_pages);
            let app = namespace.request_from_inside(addr, raw_app);
            (pages, app)
        }
    })
    .await
    .unwrap();
    let (pages, app) = pages;
    assert!(pages.starts_with("HTTP/1.1 403"), "{pages}");
    assert!(
        pages.contains("AccessPolicy"),
        "the refusal says how to choose: {pages}"
    );
    assert!(app.starts_with("HTTP/1.1 200"), "{app}");
    assert!(app.ends_with("app"), "{app}");
}
