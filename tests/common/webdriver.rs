//! Just enough of the W3C WebDriver protocol to drive Debian's Chromium
//! through its chromedriver: open a page, find elements, click, type, run
//! a script, take a screenshot. Plain HTTP/1.1 over loopback, so that the
//! browser test needs no client crate of its own.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver and one browser session, ended when dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

/// An element of the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts `chromedriver` and a headless `chromium` session.
    pub fn launch(chromedriver: &str, chromium: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{chromedriver}: {error}"));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while browser.call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--window-size=1280,1600",
                    ],
                },
            }},
        });
        let created = browser
            .call("POST", "/session", Some(capabilities))
            .expect("no browser session");
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id: {created}"))
            .to_owned();
        browser
    }

    /// One WebDriver call: its `value`, or the error it answered.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut stream = TcpStream::connect(self.addr).map_err(|error| error.to_string())?;
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .map_err(|error| error.to_string())?;
        // chromedriver keeps the connection open after its answer, whatever
        // `Connection` says: the answer ends where its length says.
        let mut answer = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        let (head, body_start, length) = loop {
            let read = stream
                .read(&mut buffer)
                .map_err(|error| error.to_string())?;
            if read == 0 {
                return Err("chromedriver closed the connection".to_owned());
            }
            answer.extend_from_slice(&buffer[..read]);
            if let Some(end) = answer.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                break (head, end + 4, length);
            }
        };
        while answer.len() < body_start + length {
            let read = stream
                .read(&mut buffer)
                .map_err(|error| error.to_string())?;
            if read == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..read]);
        }
        let body = String::from_utf8_lossy(&answer[body_start..]).into_owned();
        let json: Value =
            serde_json::from_str(&body).map_err(|error| format!("{error}: {body}"))?;
        if head.starts_with("HTTP/1.1 200") {
            Ok(json["value"].clone())
        } else {
            Err(json["value"].to_string())
        }
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn navigate(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|error| panic!("opening {url}: {error}"));
    }

    pub fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn title(&self) -> String {
        self.session_call("GET", "/title", None)
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The first element `selector` picks, waited for up to 15 s.
    pub fn wait_for(&self, selector: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.session_call(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": selector })),
            );
            if let Ok(element) = found
                && let Some(id) = element[ELEMENT].as_str()
            {
                return Element(id.to_owned());
            }
            assert!(
                Instant::now() < deadline,
                "no `{selector}` on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn text(&self, element: &Element) -> String {
        self.session_call("GET", &format!("/element/{}/text", element.0), None)
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn click(&self, element: &Element) {
        self.session_call(
            "POST",
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .unwrap();
    }

    pub fn type_into(&self, element: &Element, text: &str) {
        self.session_call(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        )
        .unwrap();
    }

    /// Runs `script` with `args` (elements passed as such) and returns its
    /// value.
    pub fn execute(&self, script: &str, args: &[&Element]) -> Value {
        let args: Vec<Value> = args
            .iter()
            .map(|element| json!({ ELEMENT: element.0 }))
            .collect();
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap()
    }

    /// Makes the window `width` × `height` pixels.
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .unwrap_or_else(|error| panic!("resizing the window: {error}"));
    }

    /// The page as a PNG, base64 as WebDriver sends it.
    pub fn screenshot_base64(&self) -> String {
        self.session_call("GET", "/screenshot", None)
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
