// The demo service, shared by the three demo binaries: `leaky_cache`
// (jemalloc), `leaky_cache_system` and `leaky_cache_mimalloc` (memscope's
// sampling allocator over the system allocator and over mimalloc). Each
// sets its global allocator and includes this file; the tests mount it as
// a module.
//
// The requests-cache leak, in Rust.
//
// A small service whose `/json` handler fetches a ~429-byte JSON document
// from an upstream (started here, on loopback) with a unique query per
// call, plus a metadata document that is the same every time. In the
// default, leaky mode both go through `CachedSession`, an HTTP client
// wrapped in a cache that keeps every response forever, exactly the
// mistake of the blog post: every request leaves one more document behind.
//
// `--fixed` removes the client-side cache and puts a bounded TTL cache
// (moka: at most 1,000 entries, 60 s) around the one call that deserves
// caching, the metadata lookup.
//
//     cargo run --example leaky_cache                  # leaky, on 127.0.0.1:3000
//     cargo run --example leaky_cache -- --fixed       # the fix
//     cargo run --example leaky_cache -- --port 8080
//     cargo run --example leaky_cache_system           # on the system allocator
//     cargo run --example leaky_cache_mimalloc         # on mimalloc

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

/// Which version of the service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every upstream response cached forever.
    Leaky,
    /// No client cache; a bounded TTL cache around the metadata lookup.
    Fixed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Leaky => "leaky",
            Mode::Fixed => "fixed",
        }
    }
}

/// The upstream: what httpbin's `/json` was in the story, on loopback.
pub mod upstream {
    use axum::Router;
    use axum::extract::Query;
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde::Deserialize;
    use std::net::SocketAddr;
    use tokio::net::TcpListener;

    #[derive(Deserialize)]
    struct DocumentQuery {
        request: Option<u64>,
    }

    /// The slideshow document, 429 bytes for a request number of up to 4
    /// digits, as httpbin served it.
    pub fn document(request: u64) -> String {
        format!(
            "{{\n  \"slideshow\": {{\n    \"author\": \"Yours Truly\",\n    \"date\": \"date of publication\",\n    \"request\": {request:>4},\n    \"slides\": [\n      {{\n        \"title\": \"Wake up to WonderWidgets!\",\n        \"type\": \"all\"\n      }},\n      {{\n        \"items\": [\n          \"Why <em>WonderWidgets</em> are great\",\n          \"Who <em>buys</em> WonderWidgets\"\n        ],\n        \"title\": \"Overview\",\n        \"type\": \"all\"\n      }}\n    ],\n    \"title\": \"Sample Slide Show\"\n  }}\n}}\n"
        )
    }

    async fn json(Query(query): Query<DocumentQuery>) -> impl IntoResponse {
        (
            [(header::CONTENT_TYPE, "application/json")],
            document(query.request.unwrap_or(0)),
        )
    }

    async fn metadata() -> impl IntoResponse {
        (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"measurement\": \"slides\", \"retention\": \"30d\"}",
        )
    }

    /// Starts the upstream on an ephemeral loopback port.
    pub async fn start() -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/json", get(json))
            .route("/metadata", get(metadata));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(addr)
    }
}

/// The leak: an HTTP client wrapped in a cache that keeps every response,
/// whatever the query, whatever the size, forever.
pub mod cache {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A response as the cache stores it: copied out of the connection's
    /// buffers, headers and all, like requests-cache's serialized responses.
    pub struct CachedResponse {
        pub status: u16,
        pub headers: Vec<(String, Vec<u8>)>,
        pub body: Vec<u8>,
    }

    impl CachedResponse {
        fn size(&self, url: &str) -> usize {
            url.len()
                + self.body.len()
                + self
                    .headers
                    .iter()
                    .map(|(name, value)| name.len() + value.len())
                    .sum::<usize>()
        }
    }

    /// An HTTP client that fetches through an optional cache.
    pub struct CachedSession {
        client: Client<HttpConnector, Empty<Bytes>>,
        /// `None`: no cache at all. `Some`: every response, forever.
        responses: Option<Mutex<HashMap<String, CachedResponse>>>,
    }

    impl CachedSession {
        /// A session that caches every response forever (the leak).
        pub fn caching_everything() -> Self {
            Self {
                client: Client::builder(TokioExecutor::new()).build_http(),
                responses: Some(Mutex::new(HashMap::new())),
            }
        }

        /// A plain client, no cache.
        pub fn uncached() -> Self {
            Self {
                client: Client::builder(TokioExecutor::new()).build_http(),
                responses: None,
            }
        }

        /// GETs `url`, from the cache when it holds it.
        pub async fn get(&self, url: &str) -> Result<Bytes, String> {
            if let Some(responses) = &self.responses
                && let Some(hit) = responses.lock().unwrap().get(url)
            {
                return Ok(Bytes::copy_from_slice(&hit.body));
            }
            let uri = url.parse().map_err(|e| format!("bad url {url}: {e}"))?;
            let response = self.client.get(uri).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            if let Some(responses) = &self.responses {
                store_response(responses, url, parts.status.as_u16(), &parts.headers, &body);
            }
            Ok(body)
        }

        /// Items and bytes held by the cache.
        pub fn cache_size(&self) -> (usize, usize) {
            match &self.responses {
                None => (0, 0),
                Some(responses) => {
                    let responses = responses.lock().unwrap();
                    let bytes = responses
                        .iter()
                        .map(|(url, response)| response.size(url))
                        .sum();
                    (responses.len(), bytes)
                }
            }
        }
    }

    /// Keeps a copy of the response under its URL. Nothing ever removes it.
    #[inline(never)]
    pub fn store_response(
        responses: &Mutex<HashMap<String, CachedResponse>>,
        url: &str,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
    ) {
        let cached = CachedResponse {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body: body.to_vec(),
        };
        responses.lock().unwrap().insert(url.to_owned(), cached);
    }
}

/// The shared state of the demo service.
pub struct AppState {
    mode: Mode,
    upstream: SocketAddr,
    session: cache::CachedSession,
    /// The fix: only the metadata, which is the same for every request, is
    /// cached, bounded in count and in time.
    metadata: moka::sync::Cache<&'static str, bytes::Bytes>,
    next_request: AtomicU64,
}

impl AppState {
    fn new(mode: Mode, upstream: SocketAddr) -> Self {
        let session = match mode {
            Mode::Leaky => cache::CachedSession::caching_everything(),
            Mode::Fixed => cache::CachedSession::uncached(),
        };
        Self {
            mode,
            upstream,
            session,
            metadata: moka::sync::Cache::builder()
                .max_capacity(1_000)
                .time_to_live(std::time::Duration::from_secs(60))
                .build(),
            next_request: AtomicU64::new(1),
        }
    }

    async fn metadata(&self) -> Result<bytes::Bytes, String> {
        let url = format!("http://{}/metadata", self.upstream);
        match self.mode {
            Mode::Leaky => self.session.get(&url).await,
            Mode::Fixed => {
                if let Some(hit) = self.metadata.get("metadata") {
                    return Ok(hit);
                }
                let fresh = self.session.get(&url).await?;
                self.metadata.insert("metadata", fresh.clone());
                Ok(fresh)
            }
        }
    }
}

async fn json(State(app): State<Arc<AppState>>) -> Response {
    let request = app.next_request.fetch_add(1, Ordering::Relaxed);
    let url = format!("http://{}/json?request={request}", app.upstream);
    let fetched = async {
        let document = app.session.get(&url).await?;
        app.metadata().await?;
        Ok::<_, String>(document)
    };
    match fetched.await {
        Ok(document) => ([(header::CONTENT_TYPE, "application/json")], document).into_response(),
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            format!("upstream failed: {error}\n"),
        )
            .into_response(),
    }
}

async fn info(State(app): State<Arc<AppState>>) -> Response {
    let (items, bytes) = match app.mode {
        Mode::Leaky => app.session.cache_size(),
        Mode::Fixed => {
            app.metadata.run_pending_tasks();
            let items = app.metadata.entry_count() as usize;
            let bytes = app
                .metadata
                .iter()
                .map(|(key, value)| key.len() + value.len())
                .sum();
            (items, bytes)
        }
    };
    axum::Json(serde_json::json!({
        "mode": app.mode.name(),
        "cache_items": items,
        "cache_bytes": bytes,
    }))
    .into_response()
}

/// memscope as the demo mounts it: a heap snapshot every 10 s (an hour of
/// them), rather than every minute, so that the overview's verdict comes
/// within half a minute of starting.
pub fn demo_layer() -> memscope::DebugLayer {
    memscope::DebugLayer::new().heap_history(std::time::Duration::from_secs(10), 360)
}

/// The demo service, with the tower-http layers a service would have and
/// memscope around them, so that it measures all they do.
pub fn app(mode: Mode, upstream: SocketAddr) -> Router {
    app_with(mode, upstream, demo_layer())
}

/// The demo service with memscope as `layer` configures it.
pub fn app_with(mode: Mode, upstream: SocketAddr, layer: memscope::DebugLayer) -> Router {
    Router::new()
        .route("/json", get(json))
        .route("/info", get(info))
        .with_state(Arc::new(AppState::new(mode, upstream)))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            http::StatusCode::GATEWAY_TIMEOUT,
            std::time::Duration::from_secs(10),
        ))
        .layer(layer)
}

/// Starts the upstream and the demo service on `addr` (port 0 for an
/// ephemeral one) and returns the address the service listens on.
pub async fn start(mode: Mode, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    start_with(mode, addr, demo_layer()).await
}

/// As [`start`], with memscope as `layer` configures it.
pub async fn start_with(
    mode: Mode,
    addr: SocketAddr,
    layer: memscope::DebugLayer,
) -> std::io::Result<SocketAddr> {
    let upstream = upstream::start().await?;
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let service =
        app_with(mode, upstream, layer).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok(local)
}

struct Args {
    mode: Mode,
    port: u16,
    /// The memory limit to act out: memscope forecasts against it, and the
    /// demo kills itself with SIGKILL when its RSS reaches it, as the
    /// kernel's OOM killer kills a container that reaches its own.
    limit_mib: Option<u64>,
    /// Where memscope's black box keeps its captures.
    black_box: Option<std::path::PathBuf>,
    /// Whether the demo sends itself traffic, so that it leaks unattended.
    load: bool,
}

const USAGE: &str =
    "usage: leaky_cache [--fixed] [--port N] [--limit-mib N] [--black-box DIR] [--load]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: Mode::Leaky,
        port: 3000,
        limit_mib: None,
        black_box: None,
        load: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--fixed" => args.mode = Mode::Fixed,
            "--port" => {
                let value = given.next().ok_or("--port needs a number")?;
                args.port = value
                    .parse()
                    .map_err(|_| format!("--port needs a number from 0 to 65535, not `{value}`"))?;
            }
            "--limit-mib" => {
                let value = given.next().ok_or("--limit-mib needs a number of MiB")?;
                let mib: u64 = value.parse().ok().filter(|mib| *mib > 0).ok_or_else(|| {
                    format!("--limit-mib needs a number of MiB above 0, not `{value}`")
                })?;
                args.limit_mib = Some(mib);
            }
            "--black-box" => {
                let dir = given.next().ok_or("--black-box needs a directory")?;
                args.black_box = Some(dir.into());
            }
            "--load" => args.load = true,
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`; {USAGE}")),
        }
    }
    Ok(args)
}

/// The layer as the arguments ask: the demo's, with the limit and the
/// black box given.
fn layer_for(args: &Args) -> memscope::DebugLayer {
    let mut layer = demo_layer();
    if let Some(mib) = args.limit_mib {
        layer = layer.memory_limit(mib << 20);
    }
    if let Some(dir) = &args.black_box {
        // A capture at most every 15 s rather than every minute: the demo
        // leaks toward its limit in a minute or two.
        let black_box =
            memscope::BlackBox::new(dir).at_most_every(std::time::Duration::from_secs(15));
        // A panic takes a capture too, before the process goes.
        let on_panic = black_box.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = on_panic.capture("panic");
            previous(info);
        }));
        layer = layer.black_box(black_box);
    }
    layer
}

/// Kills the process with SIGKILL once its RSS reaches `limit` bytes, as
/// the kernel's OOM killer kills a container at its memory limit: no
/// destructor runs, nothing is flushed.
fn kill_at_limit(limit: u64) {
    std::thread::spawn(move || {
        let page = 4096;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let rss = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map_or(0, |pages| pages * page);
            if rss >= limit {
                eprintln!(
                    "RSS {} MiB reached the {} MiB limit: killed, as the OOM killer would (SIGKILL)",
                    rss >> 20,
                    limit >> 20
                );
                // SAFETY: a signal to this process; it does not return.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
        }
    });
}

/// Sends the demo at `addr` about 1,000 `/json` requests a second from a
/// few connections, kept alive, until the process ends: a leak a minute
/// or two from a 200 MiB limit.
fn send_load(addr: SocketAddr) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, http_body_util::Empty<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    for _ in 0..4 {
        let client = client.clone();
        tokio::spawn(async move {
            let uri: http::Uri = format!("http://{addr}/json").parse().expect("a valid URI");
            let mut pace = tokio::time::interval(std::time::Duration::from_millis(4));
            loop {
                pace.tick().await;
                if let Ok(response) = client.get(uri.clone()).await {
                    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                }
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let local = match start_with(args.mode, addr, layer_for(&args)).await {
        Ok(local) => local,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            std::process::exit(1);
        }
    };
    let port = local.port();
    match args.mode {
        Mode::Leaky => {
            println!("memscope demo, leaky mode: every upstream response is cached forever.")
        }
        Mode::Fixed => {
            println!("memscope demo, fixed mode: no client cache, metadata in a bounded TTL cache.")
        }
    }
    println!(
        "\n  the app      http://{local}/json\n  cache size   http://{local}/info\n  memscope     http://{local}/_debug/\n\n\
         Make it leak, then look:\n  \
         for i in $(seq 2000); do curl -s http://127.0.0.1:{port}/json > /dev/null; done\n  \
         http :{port}/info\n  \
         http :{port}/_debug/              # the verdict: a leak, or not?\n  \
         http :{port}/_debug/heapdump group==size\n"
    );
    if let Some(dir) = &args.black_box {
        println!(
            "  black box    {} (after a restart: http :{port}/_debug/memory/postmortem)\n",
            dir.display()
        );
    }
    if let Some(mib) = args.limit_mib {
        println!(
            "  limit        {mib} MiB: the demo is killed with SIGKILL when its RSS reaches it\n"
        );
        kill_at_limit(mib << 20);
    }
    if args.load {
        println!("  load         sending itself /json requests until it ends\n");
        send_load(local);
    }
    // Runs until interrupted.
    std::future::pending::<()>().await;
}
