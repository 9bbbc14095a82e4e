//! The demo's leak, as the overview's verdict calls it: in leaky mode,
//! driven at a steady pace over a kept-alive connection, it is a leak, with
//! the caching code as its site and `/json` as its route. (The fix is
//! `demo::verdict_fixed`, in a process of its own: the verdict reads the
//! process's memory.)

use crate::common::own_process::{in_own_process, profiling};
use std::time::Duration;

use crate::leaky_cache::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaky_demo_is_called_a_leak_with_its_site_and_route() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let layer = crate::common::fast_verdict_layer();
    let addr = crate::leaky_cache::start_with(Mode::Leaky, "127.0.0.1:0".parse().unwrap(), layer)
        .await
        .unwrap();
    let overview =
        crate::common::overview_after_steady_traffic(addr, "/json", 3_000, Duration::from_secs(4))
            .await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "leak", "{overview:#}");
    let site = verdict["evidence"]["suspects"][0]["name"].as_str().unwrap();
    assert!(site.contains("leaky_cache::cache::"), "{verdict:#}");
    assert_eq!(verdict["evidence"]["routes"][0], "/json", "{verdict:#}");
    println!("{}", verdict["summary"]);
}
