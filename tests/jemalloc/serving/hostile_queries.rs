//! Hostile query strings on every page: a generated corpus of parameter
//! names and values (encodings broken and not, huge numbers, control
//! characters, markup, repeats, very long values) sent to every page and
//! action. Every answer is one of the documented statuses, never a 5xx;
//! a query with a parameter the page does not take is a 400 that names
//! it; an error is never a 200; and the app answers as before afterwards.

use crate::common::own_process::{in_own_process, profiling};
use crate::common::{get as http_get, send};
use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};

/// Pages and actions, with the parameters each takes. Parameters that
/// start work lasting seconds (`seconds=` on the diff and CPU captures)
/// are given only values that cannot be valid.
const PAGES: &[(Method, &str, &[&str])] = &[
    (Method::GET, "/", &["format"]),
    (
        Method::GET,
        "/heapdump",
        &["format", "group", "filter", "limit"],
    ),
    (Method::GET, "/heapdump/0123456789abcdef", &["format"]),
    (
        Method::GET,
        "/heapdump/flamegraph.svg",
        &["filter", "frames"],
    ),
    (
        Method::GET,
        "/memory/diff",
        &["format", "group", "filter", "limit", "since"],
    ),
    (
        Method::GET,
        "/memory/diff/flamegraph.svg",
        &["filter", "frames"],
    ),
    (
        Method::GET,
        "/memory/growth",
        &["format", "window", "limit", "filter"],
    ),
    (
        Method::GET,
        "/profiles",
        &["format", "sort", "filter", "limit"],
    ),
    (Method::GET, "/profiles/1", &["format"]),
    (Method::GET, "/profiles/cpu/1", &["format"]),
    (Method::GET, "/timeline", &["format", "limit"]),
    (Method::GET, "/tasks", &["format", "limit"]),
    (Method::GET, "/pprof/heap", &[]),
    (Method::GET, "/pprof/allocs", &[]),
    (Method::GET, "/metrics", &[]),
    (Method::POST, "/memory/diff/baseline", &["format"]),
    (Method::POST, "/profiling", &["active", "format"]),
    (Method::POST, "/memory/purge", &["format"]),
];

/// Values that no page takes as valid where a number, a duration or a
/// choice is asked for, and some that are valid where any text is.
const VALUES: &[&str] = &[
    "",
    "%",
    "%zz",
    "%00",
    "%0d%0aSet-Cookie:%20x=1",
    "%FF%FE%FD",
    "%EF%BB%BF",
    "-1",
    "0",
    "1e9",
    "18446744073709551616",
    "99999999999999999999999999999",
    "NaN",
    "inf",
    "0x10",
    "1.5",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "%3Cimg%20src%3Dx%3E",
    "%27%22%60;--",
    "%F0%9F%92%A5",
    "true%00",
    "10m10m",
    "-5s",
    "1h%20",
    "a=b=c",
    "html,json",
];

/// A small generator, so that the corpus is the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }

    /// A value of random bytes, percent-encoded where they must be.
    fn bytes(&mut self) -> String {
        let length = (self.next() % 40) as usize;
        (0..length)
            .map(|_| {
                let byte = (self.next() % 256) as u8;
                if byte.is_ascii_alphanumeric() {
                    (byte as char).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect()
    }
}

/// Queries sent to each page.
const ROUNDS: usize = 60;

const STATUSES: &[StatusCode] = &[
    StatusCode::OK,
    StatusCode::BAD_REQUEST,
    StatusCode::NOT_FOUND,
    StatusCode::METHOD_NOT_ALLOWED,
    StatusCode::CONFLICT,
    StatusCode::SERVICE_UNAVAILABLE,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_survives_a_hostile_corpus() {
    if in_own_process(&profiling(19)) {
        return;
    }
    let app = Router::new()
        .route("/", get(|| async { "app" }))
        .layer(memscope::DebugLayer::new());
    let addr = crate::common::serve(app).await;
    let mut random = XorShift(0x5eed_1234_abcd_9876);
    let mut sent = 0;
    let long = "a".repeat(20_000);
    for (method, path, parameters) in PAGES {
        for round in 0..ROUNDS {
            let query = match round {
                // An unknown parameter, alone or beside a known one.
                0 => "nonsense=1".to_owned(),
                1 => format!("{}=html&zzz=1", parameters.first().unwrap_or(&"format")),
                // A parameter given twice.
                2 => format!("{0}=json&{0}=text", parameters.first().unwrap_or(&"format")),
                // A very long value.
                3 => format!("{}={long}", parameters.first().unwrap_or(&"filter")),
                // Broken encodings in the name.
                4 => "%ZZ=1&%=2".to_owned(),
                _ => {
                    let mut pairs = Vec::new();
                    for _ in 0..1 + random.next() % 3 {
                        let name = if parameters.is_empty() || random.next().is_multiple_of(5) {
                            random.pick(&["format", "limit", "x", "%00", "seconds"])
                        } else {
                            random.pick(parameters)
                        };
                        let value = if random.next().is_multiple_of(3) {
                            random.bytes()
                        } else {
                            random.pick(VALUES).to_owned()
                        };
                        pairs.push(format!("{name}={value}"));
                    }
                    pairs.join("&")
                }
            };
            let uri = format!("/_debug{path}?{query}");
            let answer = send(addr, method.clone(), &uri, &[]).await;
            sent += 1;
            assert!(
                STATUSES.contains(&answer.status),
                "{method} {uri}: {} {}",
                answer.status,
                answer.body
            );
            if round <= 1 {
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{method} {uri}");
                assert!(
                    answer.body.contains("zzz") || answer.body.contains("nonsense"),
                    "{uri}: {}",
                    answer.body
                );
            }
            if answer.status != StatusCode::OK {
                assert!(!answer.body.is_empty(), "{method} {uri}: an empty error");
            }
            // No value is echoed as markup into a page.
            if answer.header("content-type").starts_with("text/html") {
                assert!(
                    !answer.body.contains("<script>alert"),
                    "{uri}: {}",
                    answer.body
                );
            }
            assert!(answer.headers.get("set-cookie").is_none(), "{uri}");
        }
    }
    assert_eq!(sent, PAGES.len() * ROUNDS);
    // The app is untouched.
    let app = http_get(addr, "/").await;
    assert_eq!((app.status, app.body.as_str()), (StatusCode::OK, "app"));
}
