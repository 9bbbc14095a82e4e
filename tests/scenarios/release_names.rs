//! Sites named in full as a release build with line tables names them:
//! this test's own code is built so (`[profile.test]`), inlining included.
//! A buffer kept by an async handler and one kept by a generic function
//! are named with their crate and module, in JSON and in text; the text
//! table gives their file:line.

use std::sync::Mutex;

use axum::Router;
use axum::routing::MethodRouter;

use crate::common::{get as http_get, serve};

/// The handlers are the test's own, in its module (`handlers::upload`, an
/// async handler that keeps a buffer a request, and `store::keep`, which
/// calls a generic function that keeps what it is given, into `kept`);
/// `module` is that module's path and `file` its file's name.
pub async fn async_handlers_and_generic_functions_are_named_in_full(
    upload: MethodRouter,
    keep: fn([u8; 4096]),
    (module, file): (&str, &str),
    kept: &Mutex<Vec<Vec<u8>>>,
) {
    let app = Router::new()
        .route("/upload", upload)
        .layer(memscope::DebugLayer::new());
    let addr = serve(app).await;
    for _ in 0..300 {
        assert_eq!(http_get(addr, "/upload").await.body, "kept");
    }
    for index in 0..300u32 {
        keep(std::hint::black_box([index as u8; 4096]));
    }

    let json = http_get(addr, "/_debug/heapdump?format=json&limit=50")
        .await
        .json();
    let rows = json["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    let find = |wanted: &str| {
        rows.iter()
            .find(|row| row["name"].as_str().unwrap().starts_with(wanted))
            .unwrap_or_else(|| panic!("no row named {wanted}: {names:#?}"))
    };
    let upload_name = format!("{module}::handlers::upload");
    let keep_name = format!("{module}::store::keep");
    let upload = find(&upload_name);
    let keep = find(&keep_name);
    for row in [upload, keep] {
        assert!(row["location"].as_str().unwrap().contains(file), "{row}");
        assert!(row["bytes"].as_u64().unwrap() > 600 * 1024, "{row}");
        // The frames keep the full names, generic arguments and all.
        assert!(
            row["frames"]
                .as_array()
                .unwrap()
                .iter()
                .all(|frame| !frame["function"].as_str().unwrap().is_empty()),
            "{row}"
        );
    }
    assert!(
        names
            .iter()
            .all(|name| !name.starts_with('{') && !name.contains(" via {")),
        "an anonymous site: {names:#?}"
    );

    let text = http_get(addr, "/_debug/heapdump?limit=50").await.body;
    for wanted in [&upload_name, &keep_name] {
        let line = text
            .lines()
            .find(|line| line.starts_with(wanted))
            .unwrap_or_else(|| panic!("no {wanted} line:\n{text}"));
        assert!(line.contains(file), "{line}");
    }
    kept.lock().unwrap().clear();
}
