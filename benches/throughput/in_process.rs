//! Nanoseconds a request in process: each variant's service called and its
//! future and body polled by hand, no sockets, no runtime. What is left is
//! the app's own work and the layer's, without the kernel's socket work
//! that makes up most of a loopback request and most of the load runs'
//! noise. Two runs of one build minutes apart agree on a variant's ratio
//! to the bare app within about 0.02 (10 ns here), but the ratios move as
//! the machine's speed does, and builds of different code differ in the
//! bare app's own code layout too: a change is best compared with the code
//! it replaces inside one build and one run (BENCHMARKS.md).
//!
//! Left out: the server's own work (hyper's parsing and writing) and what
//! it does to the caches, so these nanoseconds are not a server's.
//!
//! With `--threads 2`, each batch is served by two threads at once, each
//! with its own clone of the variant's service, as a runtime's worker
//! threads share one app: what the layer's shared state costs when threads
//! write to it at the same time. Times are the two threads' mean.

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http_body::Body as _;
use tower::Service;

use crate::load::median;
use crate::server::{self, App};

/// Requests a variant serves in one timed batch.
const BATCH: u32 = 2_000;
/// Batches each variant serves, interleaved with the others'.
const ROUNDS: usize = 400;

/// One clone of a variant's service, serving `count` requests.
type Serve = Box<dyn FnMut(u32) + Send>;
/// A variant: makes clones of its service, one for each thread.
type Variant = Box<dyn Fn() -> Serve>;

/// Runs every variant of `app`, or with `only` that one alone (for a
/// profiler: its samples then are that variant's), and prints the table.
pub fn report(threads: usize, only: Option<&str>, app: App) {
    let variants = match app {
        App::Hello => hello_variants(),
        App::Json => json_variants(),
    };
    let variants = match only {
        Some(name) => only_variant(variants, name),
        None => variants,
    };
    let mut serves: Vec<Vec<Serve>> = variants
        .iter()
        .map(|(_, variant)| (0..threads).map(|_| variant()).collect())
        .collect();
    for serve in serves.iter_mut().flatten() {
        // Warms caches, the layers' tables and the clock's calibration.
        serve(BATCH / 10);
    }
    let mut nanos = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for round in 0..ROUNDS {
        // Each round starts with another variant, so that none always
        // runs right after the same neighbour.
        for offset in 0..variants.len() {
            let index = (round + offset) % variants.len();
            nanos[index].push(serve_batch(&mut serves[index]));
        }
    }
    print_table(&variants, &nanos, threads);
}

fn json_variants() -> Vec<(&'static str, Variant)> {
    let app = || App::Json.router();
    vec![
        ("bare JSON app", serving(as_served(app()), App::Json)),
        (
            "JSON app, no-op layer wrapping the body",
            serving(as_served(server::body_wrapping_layer(app())), App::Json),
        ),
        (
            "JSON app, DebugLayer",
            serving(
                as_served(app().layer(memscope::DebugLayer::new())),
                App::Json,
            ),
        ),
        (
            "JSON app, wrap_router",
            serving(memscope::DebugLayer::new().wrap_router(app()), App::Json),
        ),
    ]
}

fn hello_variants() -> Vec<(&'static str, Variant)> {
    let hello = App::Hello;
    vec![
        ("bare app", serving(as_served(server::app()), hello)),
        (
            "no-op layer",
            serving(as_served(server::no_op_layer(server::app())), hello),
        ),
        (
            "no-op layer wrapping the body",
            serving(as_served(server::body_wrapping_layer(server::app())), hello),
        ),
        (
            "DebugLayer",
            serving(
                as_served(server::app().layer(memscope::DebugLayer::new())),
                hello,
            ),
        ),
        (
            "no-op around the router, body boxed again",
            serving(
                server::body_reboxing_wrapper(as_served(server::app())),
                hello,
            ),
        ),
        (
            "wrap_router",
            serving(
                memscope::DebugLayer::new().wrap_router(server::app()),
                hello,
            ),
        ),
    ]
}

/// Nanoseconds of CPU a request, for one batch on each of `serves`' threads
/// at once (the threads' mean); on the calling thread when there is one.
fn serve_batch(serves: &mut [Serve]) -> f64 {
    if let [serve] = serves {
        return time_batch(serve);
    }
    // Both threads start their batch together.
    let start = Barrier::new(serves.len());
    let times: Vec<f64> = std::thread::scope(|scope| {
        let threads: Vec<_> = serves
            .iter_mut()
            .map(|serve| {
                let start = &start;
                scope.spawn(move || {
                    // A new thread: its caches, its shard and its route
                    // cache warmed first.
                    serve(BATCH / 10);
                    start.wait();
                    time_batch(serve)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    times.iter().sum::<f64>() / times.len() as f64
}

fn time_batch(serve: &mut Serve) -> f64 {
    let started = thread_cpu_nanos();
    serve(BATCH);
    (thread_cpu_nanos() - started) as f64 / f64::from(BATCH)
}

/// The variant named `name`, alone.
fn only_variant<'a>(variants: Vec<(&'a str, Variant)>, name: &str) -> Vec<(&'a str, Variant)> {
    let names: Vec<&str> = variants.iter().map(|(known, _)| *known).collect();
    let chosen: Vec<_> = variants
        .into_iter()
        .filter(|(known, _)| *known == name)
        .collect();
    assert!(!chosen.is_empty(), "--only takes one of {names:?}");
    chosen
}

fn print_table(variants: &[(&str, Variant)], nanos: &[Vec<f64>], threads: usize) {
    // The first variant is the bare app, unless `--only` left one other.
    let first = variants[0].0;
    println!(
        "In process, {ROUNDS} rounds of {BATCH} requests a variant on each of {threads} \
         thread(s) at once, thread CPU time; ratios are each round's variant over its \
         {first}'s, median and middle half"
    );
    println!(
        "| variant | ns a request, median | time over the {first}'s: median (25 % .. 75 %) | ns over the {first} |"
    );
    println!("|---|---|---|---|");
    let bare = median(nanos[0].clone());
    for ((name, _), times) in variants.iter().zip(nanos) {
        let mut ratios: Vec<f64> = times.iter().zip(&nanos[0]).map(|(t, b)| t / b).collect();
        ratios.sort_by(f64::total_cmp);
        let quantile = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        println!(
            "| {name} | {:.0} | {:.3} ({:.3} .. {:.3}) | {:+.0} |",
            median(times.clone()),
            quantile(0.5),
            quantile(0.25),
            quantile(0.75),
            (quantile(0.5) - 1.0) * bare,
        );
    }
}

/// `router` as `axum::serve` runs it: `into_make_service` turns handlers
/// into routes and applies the router's layers once, where a router called
/// as built does both for every request (`wrap_router` does it itself).
fn as_served(router: Router) -> Router {
    router.with_state(())
}

/// Drives `service` by hand: `poll_ready`, `call` with `app`'s request,
/// the future polled once (both apps' handlers answer at once) and the body
/// polled until it ends, as hyper does, stopping once it says it has ended.
fn serving<S>(service: S, app: App) -> Variant
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
{
    Box::new(move || serving_clone(service.clone(), app))
}

fn serving_clone<S>(mut service: S, app: App) -> Serve
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
{
    Box::new(move |count| {
        let mut context = Context::from_waker(Waker::noop());
        for _ in 0..count {
            assert!(service.poll_ready(&mut context).is_ready());
            let request = Request::get(app.path()).body(Body::empty()).unwrap();
            let future = pin!(service.call(request));
            let Poll::Ready(Ok(response)) = future.poll(&mut context) else {
                panic!("the handler answers at its first poll")
            };
            let mut body = pin!(response.into_body());
            let mut length = 0;
            while !body.is_end_stream() {
                match body.as_mut().poll_frame(&mut context) {
                    Poll::Ready(Some(Ok(frame))) => {
                        length += frame.data_ref().map_or(0, bytes::Buf::remaining);
                    }
                    Poll::Ready(None) => break,
                    Poll::Ready(Some(Err(error))) => panic!("the body failed: {error}"),
                    Poll::Pending => panic!("the body is ready at once"),
                }
            }
            match app {
                App::Hello => assert_eq!(black_box(length), "Hello, World!".len()),
                App::Json => assert!(black_box(length) > 1_000, "{length} bytes of JSON"),
            }
        }
    })
}

/// This thread's CPU time: unlike the wall clock, it leaves out the time
/// the machine gives to other processes. It does not take out the
/// machine's changing speed (the same batch takes from 530 to 930 ns a
/// request here), hence the short interleaved batches and the ratios.
fn thread_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid `timespec` to write to.
    #[allow(unsafe_code)]
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
