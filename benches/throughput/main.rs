//! Throughput of a hello-world axum app: bare; with a no-op layer and a
//! no-op layer that wraps the body (what axum's `Router::layer` costs any
//! layer); with memscope's `DebugLayer` on the router's routes
//! (`Router::layer`) and around the whole router (`wrap_router`), each also
//! with heap profiling active (lg_sample 19). Then the same for an app
//! that does the work of a typical JSON endpoint (`json_app.rs`).
//! `bash benches/throughput.sh` installs wrk and runs this; `-- --app json`
//! runs the JSON app's variants only, `-- --app hello` the hello-world's,
//! `-- --allocators` the JSON app's over the system allocator and mimalloc,
//! bare and under memscope's sampling allocator.
//!
//! - default: paired wrk runs over loopback (see `load.rs`);
//! - `-- --instructions`: instructions per request under callgrind;
//! - `-- --in-process`: nanoseconds per request with no sockets (see
//!   `in_process.rs`), for differences too small for the load runs; with
//!   `--threads 2`, on two threads at once; with `--only NAME`, that
//!   variant alone (to run under a profiler).
//!
//! Each server is this binary run with `--serve VARIANT`.

// jemalloc unless the parent chose another for a server (`allocator.rs`).
#[global_allocator]
static ALLOC: allocator::Chosen = allocator::Chosen;

mod allocator;
mod in_process;
mod instructions;
mod json_app;
mod load;
mod process;
mod server;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let app = args.iter().position(|arg| arg == "--app").map(|position| {
        args.get(position + 1)
            .and_then(|name| server::App::from_name(name))
            .expect("--app takes hello or json")
    });
    if let Some(position) = args.iter().position(|arg| arg == "--serve") {
        server::serve(
            args.get(position + 1).map_or("bare", String::as_str),
            app.unwrap_or(server::App::Hello),
        );
    } else if args.iter().any(|arg| arg == "--in-process") {
        let threads = match args.iter().position(|arg| arg == "--threads") {
            Some(position) => args
                .get(position + 1)
                .and_then(|count| count.parse().ok())
                .filter(|count| (1..=64).contains(count))
                .expect("--threads takes a count from 1 to 64"),
            None => 1,
        };
        let only = args.iter().position(|arg| arg == "--only").map(|position| {
            args.get(position + 1)
                .expect("--only takes a variant's name")
        });
        in_process::report(
            threads,
            only.map(String::as_str),
            app.unwrap_or(server::App::Hello),
        );
    } else if args.iter().any(|arg| arg == "--instructions") {
        instructions::report();
    } else if args.iter().any(|arg| arg == "--allocators") {
        load::report(load::Tables::Allocators);
    } else {
        load::report(app.map_or(load::Tables::All, load::Tables::App));
    }
}
