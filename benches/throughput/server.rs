//! The app under load, in its variants, each served by a child process.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;

/// Which app a variant serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// `GET /` answers "Hello, World!": what memscope adds to a request
    /// that does nothing.
    Hello,
    /// A typical JSON endpoint (`json_app.rs`): what memscope adds to a
    /// request that does work.
    Json,
}

impl App {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Json => "json",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Hello, Self::Json]
            .into_iter()
            .find(|app| app.name() == name)
    }

    /// The request the load sends.
    pub fn path(self) -> &'static str {
        match self {
            Self::Hello => "/",
            Self::Json => crate::json_app::PATH,
        }
    }

    /// The app's router, with the `/exit` route the servers stop by.
    pub fn router(self) -> Router {
        let router = match self {
            Self::Hello => Router::new().route("/", get(|| async { "Hello, World!" })),
            Self::Json => crate::json_app::app(),
        };
        // Lets the instruction count end the server cleanly, so that
        // callgrind writes its totals.
        router.route(
            "/exit",
            get(|| async {
                std::process::exit(0);
                #[allow(unreachable_code)]
                ""
            }),
        )
    }
}

/// One way of running an app.
#[derive(Clone, Copy)]
pub struct Variant {
    pub name: &'static str,
    pub app: App,
    /// The argument `--serve` takes.
    pub wrapping: &'static str,
    /// jemalloc's start-up configuration for the child.
    pub malloc_conf: Option<&'static str>,
    /// Served by the binary `BASELINE_BENCH` names (this bench built from
    /// other code) rather than by this one.
    pub baseline: bool,
    /// The global allocator it runs on (`allocator.rs`).
    pub allocator: &'static str,
    /// The allocator of the bare app it is paired with.
    pub bare_allocator: &'static str,
}

/// The variable naming the baseline build's bench binary.
pub const BASELINE_BENCH: &str = "BASELINE_BENCH";

const HEAP_PROFILING: &str = "prof:true,prof_active:true,lg_prof_sample:19";

pub const BARE: Variant = variant("bare app", "bare", None, false);
pub const BARE_JSON: Variant = json(variant("bare JSON app", "bare", None, false));
const LAYER: Variant = variant("DebugLayer", "layer", None, false);
const LAYER_PROFILING: Variant = variant(
    "DebugLayer, heap profiling active",
    "layer",
    Some(HEAP_PROFILING),
    false,
);
const WRAPPED: Variant = variant("wrap_router", "wrapped", None, false);
const WRAPPED_PROFILING: Variant = variant(
    "wrap_router, heap profiling active",
    "wrapped",
    Some(HEAP_PROFILING),
    false,
);

/// The bare app first; the others are each compared with it.
pub const VARIANTS: [Variant; 8] = [
    BARE,
    variant("no-op layer", "noop", None, false),
    variant("no-op layer wrapping the body", "bodywrap", None, false),
    LAYER,
    LAYER_PROFILING,
    variant(
        "DebugLayer, heap profiling, jemalloc's unwinder",
        "layer-jemalloc-unwinder",
        Some(HEAP_PROFILING),
        false,
    ),
    WRAPPED,
    WRAPPED_PROFILING,
];

/// The JSON app: bare first, then memscope in both placements, with and
/// without heap profiling.
pub const JSON_VARIANTS: [Variant; 6] = [
    BARE_JSON,
    json(variant(
        "JSON app, no-op layer wrapping the body",
        "bodywrap",
        None,
        false,
    )),
    json(variant("JSON app, DebugLayer", "layer", None, false)),
    json(variant(
        "JSON app, DebugLayer, heap profiling active",
        "layer",
        Some(HEAP_PROFILING),
        false,
    )),
    json(variant("JSON app, wrap_router", "wrapped", None, false)),
    json(variant(
        "JSON app, wrap_router, heap profiling active",
        "wrapped",
        Some(HEAP_PROFILING),
        false,
    )),
];

/// The JSON app over the other allocators: memscope's sampling allocator
/// (heap profiling active from the start, one sample per 512 KiB) alone
/// and under the layer, over the system allocator and over mimalloc, each
/// against the bare app on the system allocator, and over mimalloc against
/// the bare app on mimalloc; jemalloc with heap profiling, the default
/// choice, beside them.
pub const ALLOCATOR_VARIANTS: [Variant; 7] = [
    json_on(
        "bare JSON app, system (against itself)",
        "bare",
        "system",
        "system",
    ),
    json_on(
        "bare app, Sampled<System>; vs system",
        "bare",
        "sampled-system",
        "system",
    ),
    json_on(
        "DebugLayer, Sampled<System>; vs system",
        "layer",
        "sampled-system",
        "system",
    ),
    json_on(
        "bare app, mimalloc; vs system",
        "bare",
        "mimalloc",
        "system",
    ),
    json_on(
        "DebugLayer, Sampled<MiMalloc>; vs system",
        "layer",
        "sampled-mimalloc",
        "system",
    ),
    json_on(
        "DebugLayer, Sampled<MiMalloc>; vs mimalloc",
        "layer",
        "sampled-mimalloc",
        "mimalloc",
    ),
    Variant {
        malloc_conf: Some(HEAP_PROFILING),
        ..json_on(
            "DebugLayer, jemalloc profiling; vs system",
            "layer",
            "jemalloc",
            "system",
        )
    },
];

/// With `BASELINE_BENCH` set: memscope in both placements, with and
/// without heap profiling, built from this code and from the baseline's,
/// each against this build's bare app, so that two builds are compared
/// inside one run.
pub const BASELINE_COMPARISON: [Variant; 9] = [
    BARE,
    LAYER,
    variant("DebugLayer, baseline build", "layer", None, true),
    LAYER_PROFILING,
    variant(
        "DebugLayer, heap profiling, baseline build",
        "layer",
        Some(HEAP_PROFILING),
        true,
    ),
    WRAPPED,
    variant("wrap_router, baseline build", "wrapped", None, true),
    WRAPPED_PROFILING,
    variant(
        "wrap_router, heap profiling, baseline build",
        "wrapped",
        Some(HEAP_PROFILING),
        true,
    ),
];

/// A variant, as the lists above name them.
const fn variant(
    name: &'static str,
    wrapping: &'static str,
    malloc_conf: Option<&'static str>,
    baseline: bool,
) -> Variant {
    Variant {
        name,
        app: App::Hello,
        wrapping,
        malloc_conf,
        baseline,
        allocator: "jemalloc",
        bare_allocator: "jemalloc",
    }
}

/// The JSON app wrapped as `wrapping` on `allocator`, paired with the bare
/// JSON app on `bare_allocator`.
const fn json_on(
    name: &'static str,
    wrapping: &'static str,
    allocator: &'static str,
    bare_allocator: &'static str,
) -> Variant {
    Variant {
        allocator,
        bare_allocator,
        ..json(variant(name, wrapping, None, false))
    }
}

/// `variant` serving the JSON app.
const fn json(variant: Variant) -> Variant {
    Variant {
        app: App::Json,
        ..variant
    }
}

/// The bare variant of `variant`'s app on its `bare_allocator`, which it
/// is compared with.
pub fn bare(variant: &Variant) -> Variant {
    let bare = match variant.app {
        App::Hello => BARE,
        App::Json => BARE_JSON,
    };
    Variant {
        allocator: variant.bare_allocator,
        ..bare
    }
}

/// The hello-world app.
pub fn app() -> Router {
    App::Hello.router()
}

/// What axum's `Router::layer` costs for any layer.
pub fn no_op_layer(app: Router) -> Router {
    app.layer(tower::util::MapRequestLayer::new(
        |request: axum::extract::Request| request,
    ))
}

/// What axum's `Router::layer` costs any layer that wraps the response
/// body, as memscope's must to measure it: axum boxes the new body type.
/// `MapErr` passes the body's length on, as memscope's wrapper does, so
/// that the answer keeps its `content-length`.
pub fn body_wrapping_layer(app: Router) -> Router {
    app.layer(tower::util::MapResponseLayer::new(
        |response: axum::response::Response| {
            use http_body_util::BodyExt;
            response.map(|body| body.map_err(|error| error))
        },
    ))
}

/// What wrapping the whole router costs any wrapper that wraps the
/// response body, as `wrap_router` does: the body is boxed again, into the
/// `Body` that `axum::serve` takes.
pub fn body_reboxing_wrapper(
    app: Router,
) -> tower::util::MapResponse<Router, fn(axum::response::Response) -> axum::response::Response> {
    tower::util::MapResponse::new(app, |response| {
        use http_body_util::BodyExt;
        response.map(|body| axum::body::Body::new(body.map_err(|error| error)))
    })
}

/// Serves `app`, wrapped as `wrapping` says, on one tokio worker; prints
/// the address it listens on.
pub fn serve(wrapping: &str, app: App) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let app = app.router();
        // Bound first: the parent reads the address and may connect before
        // the server runs; the connection waits in the listen backlog.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        if wrapping == "wrapped" {
            // memscope around the router rather than on each route.
            let app = memscope::DebugLayer::new().wrap_router(app);
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, service).await.unwrap();
            return;
        }
        let app = match wrapping {
            "bare" => app,
            "layer" => app.layer(memscope::DebugLayer::new()),
            // Sampled stacks unwound by jemalloc (libgcc), not memscope.
            "layer-jemalloc-unwinder" => {
                app.layer(memscope::DebugLayer::new().keep_jemalloc_unwinder())
            }
            "noop" => no_op_layer(app),
            "bodywrap" => body_wrapping_layer(app),
            other => panic!("no variant {other:?}"),
        };
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}
