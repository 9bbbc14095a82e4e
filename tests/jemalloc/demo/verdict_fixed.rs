//! The demo's fix holds, as the overview's verdict says: in fixed mode,
//! driven as `demo_verdict_leaky` drives the leak, nothing grows and the
//! verdict is steady.

use crate::common::own_process::{in_own_process, profiling};
use std::time::Duration;

use crate::leaky_cache::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixed_demo_is_called_steady() {
    if in_own_process(&profiling(14)) {
        return;
    }
    let layer = crate::common::fast_verdict_layer();
    let addr = crate::leaky_cache::start_with(Mode::Fixed, "127.0.0.1:0".parse().unwrap(), layer)
        .await
        .unwrap();
    let overview =
        crate::common::overview_after_steady_traffic(addr, "/json", 3_000, Duration::from_secs(4))
            .await;
    let verdict = &overview["verdict"];
    assert_eq!(verdict["kind"], "steady", "{overview:#}");
    assert!(
        verdict["evidence"]["suspects"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{verdict:#}"
    );
    assert!(overview["time_to_limit"].is_null(), "{overview:#}");
    println!("{}", verdict["summary"]);
}
