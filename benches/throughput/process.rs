//! A variant's server as a child process of its own, and the plain HTTP
//! requests that wait for it and ask it for its figures.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use crate::server::{BASELINE_BENCH, Variant};

/// A variant's server process, killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    /// Starts `variant` as `launcher` (e.g. `taskset -c 0`, or valgrind)
    /// running this binary (or the baseline's) with `--serve`.
    pub fn start(variant: &Variant, launcher: &[&str]) -> Self {
        let binary = if variant.baseline {
            std::env::var_os(BASELINE_BENCH)
                .unwrap_or_else(|| panic!("{BASELINE_BENCH} names no binary"))
                .into()
        } else {
            std::env::current_exe().unwrap()
        };
        let mut command = Command::new(launcher[0]);
        command
            .args(&launcher[1..])
            .arg(binary)
            .args(["--serve", variant.wrapping, "--app", variant.app.name()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("_RJEM_MALLOC_CONF")
            .env(
                crate::allocator::VARIABLE.to_str().unwrap(),
                variant.allocator,
            );
        if let Some(conf) = variant.malloc_conf {
            command.env("_RJEM_MALLOC_CONF", conf);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("{}: {error}", launcher[0]));
        let mut addr = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut addr)
            .unwrap();
        let server = Self {
            child,
            addr: addr.trim().to_owned(),
        };
        if !matches!(variant.wrapping, "bare" | "noop" | "bodywrap") {
            // The child runs as the variant says: its own overview tells.
            let overview = http_get(&server.addr, "/_debug/?format=json");
            let active = overview.contains("\"active\": true");
            assert_eq!(
                active,
                variant.malloc_conf.is_some() || crate::allocator::samples(variant.allocator),
                "{}: {overview}",
                variant.name
            );
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server to exit and returns what it wrote to stderr.
    pub fn exit(mut self) -> String {
        let _ = http_get_ignoring_errors(&self.addr, "/exit");
        let mut stderr = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr);
        let _ = self.child.wait();
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.0 GET, enough to read one page.
pub fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn http_get_ignoring_errors(addr: &str, path: &str) -> std::io::Result<()> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n")?;
    let mut ignored = Vec::new();
    let _ = stream.read_to_end(&mut ignored);
    Ok(())
}
