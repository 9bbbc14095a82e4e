use std::sync::Arc;

use super::*;

fn frame(function: &str, kind: FrameKind) -> Frame {
    Frame {
        function: Arc::from(function),
        file: None,
        line: None,
        kind,
    }
}

fn folded(frames: &[Frame], frameworks: &Frameworks) -> Vec<String> {
    let frames: Vec<&Frame> = frames.iter().collect();
    let mut labels = RunLabels::default();
    frameworks
        .fold(&frames, &mut labels)
        .iter()
        .map(|label| labels.shown(label).unwrap_or_else(|| label.to_string()))
        .collect()
}

/// A worker thread's stack down to the app's handler, outermost first.
fn served_request() -> Vec<Frame> {
    use FrameKind::{Allocator, App, Library, Memscope};
    vec![
        frame("clone3", Library),
        frame("start_thread", Library),
        frame(
            "std::sys::thread::unix::Thread::new::thread_start",
            Allocator,
        ),
        frame("tokio::runtime::blocking::pool::Inner::run", Library),
        frame("tokio::runtime::task::harness::Harness<T,S>::poll", Library),
        frame(
            "<core::pin::Pin<P> as core::future::future::Future>::poll",
            Allocator,
        ),
        frame(
            "hyper::proto::h1::dispatch::Dispatcher<D,Bs,I,T>::poll_catch",
            Library,
        ),
        frame(
            "<axum::routing::Router as tower_service::Service<_>>::call",
            Library,
        ),
        frame(
            "<memscope::layer::future::ResponseFuture<F> as core::future::future::Future>::poll",
            Memscope,
        ),
        frame(
            "<tower_http::trace::future::ResponseFuture<F> as core::future::future::Future>::poll",
            Library,
        ),
        frame("app::handlers::json::{async_fn#0}", App),
        frame("app::cache::store", App),
    ]
}

#[test]
fn a_run_of_framework_frames_is_one_frame_naming_what_it_folds() {
    let labels = folded(&served_request(), &Frameworks::default());
    assert_eq!(
        labels,
        [
            "C runtime, tokio, hyper, axum, …: 10 frames",
            "app::handlers::json::{async_fn#0}",
            "app::cache::store",
        ]
    );
}

#[test]
fn a_run_that_ends_the_stack_keeps_its_innermost_frame() {
    use FrameKind::{App, Library};
    let frames = [
        frame("app::main", App),
        frame("tokio::runtime::park::Inner::park", Library),
        frame("tokio::runtime::driver::Driver::park", Library),
        frame("mio::poll::Poll::poll", Library),
        frame("tokio::io::driver::Driver::turn", Library),
        frame("epoll_wait", Library),
    ];
    // mio is not a framework crate: it is drawn between two runs of
    // tokio's, one frame for both.
    assert_eq!(
        folded(&frames, &Frameworks::default()),
        [
            "app::main",
            "tokio: 1–2 frames",
            "mio::poll::Poll::poll",
            "tokio: 1–2 frames",
            "epoll_wait",
        ]
    );
    let with_mio = Frameworks::with(["mio"]);
    assert_eq!(
        folded(&frames, &with_mio),
        ["app::main", "tokio, mio: 4 frames", "epoll_wait"]
    );
}

#[test]
fn glue_alone_is_drawn_as_it_is_and_a_framework_s_one_frame_is_folded() {
    use FrameKind::{Allocator, App, Library};
    let frames = [
        frame("app::a", App),
        frame("core::ops::function::FnOnce::call_once", Allocator),
        frame("std::panicking::try", Allocator),
        frame("std::panic::catch_unwind", Allocator),
        frame("app::b", App),
        frame("tokio::task::spawn", Library),
        frame("app::c", App),
    ];
    let labels = folded(&frames, &Frameworks::default());
    assert_eq!(
        labels,
        [
            "app::a",
            "core::ops::function::FnOnce::call_once",
            "std::panicking::try",
            "std::panic::catch_unwind",
            "app::b",
            "tokio: 1 frame",
            "app::c",
        ]
    );
}

#[test]
fn a_trait_method_on_a_bare_type_belongs_to_its_trait_s_crate() {
    assert_eq!(
        owning_crate("<&mut F as core::future::TryFuture>::try_poll"),
        "core"
    );
    assert_eq!(
        owning_crate("<F as futures_util::fns::FnOnce1<A>>::call_once"),
        "futures_util"
    );
    assert_eq!(
        owning_crate(
            "<tokio::runtime::blocking::task::BlockingTask<T> as core::future::future::Future>::poll"
        ),
        "tokio"
    );
    assert_eq!(owning_crate("<dyn core::any::Any>::is"), "core");
    assert_eq!(owning_crate("hyper::proto::h1::role::encode"), "hyper");
    assert_eq!(owning_crate("__libc_start_main"), "__libc_start_main");
}

#[test]
fn runs_through_the_same_frameworks_are_one_frame_whatever_their_length() {
    use FrameKind::{App, Library};
    let short = [
        frame("tokio::a", Library),
        frame("tokio::b", Library),
        frame("hyper::c", Library),
        frame("app::handler", App),
    ];
    let long = [
        frame("tokio::a", Library),
        frame("tokio::b", Library),
        frame("tokio::d", Library),
        frame("hyper::c", Library),
        frame("hyper::e", Library),
        frame("app::handler", App),
    ];
    let frameworks = Frameworks::default();
    let mut labels = RunLabels::default();
    let short: Vec<&Frame> = short.iter().collect();
    let long: Vec<&Frame> = long.iter().collect();
    let first = frameworks.fold(&short, &mut labels);
    let second = frameworks.fold(&long, &mut labels);
    assert_eq!(first, second);
    assert_eq!(
        labels.shown(&first[0]).as_deref(),
        Some("tokio, hyper: 3–5 frames")
    );
    assert_eq!(labels.shown("app::handler"), None);
}
