//! Paired load runs: the bare app and a variant served at the same time,
//! both on one core, each under its own wrk on the other core.
//!
//! The machine is shared: runs a few seconds apart differ by up to ±20 %
//! in requests per second, far more than the few percent being measured.
//! Two servers that share one core at the same moment see the same machine;
//! the scheduler gives each half of the core, so each serves requests in
//! inverse proportion to what one request costs it, and the ratio of their
//! counts is the ratio of their throughputs on a core of their own. A bare
//! app paired with itself shows what is left of the noise.
//!
//! Every round starts both servers afresh. Rounds of one pair of processes
//! agree closely, but the same variant measured again with new processes
//! moved by 2 to 4 % (BENCHMARKS.md, runs 7 and 8; why is not established:
//! where each process's data fall in the caches is one candidate), so a
//! run that kept one pair per variant compared pairs as much as code, and
//! its confidence interval did not show it. With fresh processes each
//! round is an independent sample of that too.

use std::process::{Child, Command, Stdio};

use crate::process::Server;
use crate::server::{
    ALLOCATOR_VARIANTS, App, BASELINE_BENCH, BASELINE_COMPARISON, JSON_VARIANTS, VARIANTS, Variant,
    bare,
};

/// Rounds a variant, unless `THROUGHPUT_ROUNDS` says otherwise.
const ROUNDS: usize = 12;
const SECONDS: u64 = 5;
/// Load before each round's measurement, so that both servers have their
/// connections open and their caches and allocator warm.
const WARM_UP_SECONDS: u64 = 1;
/// Connections per wrk: enough that each server always has a request
/// waiting, so that it is never idle while the other runs.
const CONNECTIONS: u32 = 32;
const SERVER_CPU: &str = "0";
const LOAD_CPU: &str = "1";

/// Starts wrk on the load core against `path` at `addr`.
fn start_wrk(addr: &str, path: &str, seconds: u64) -> Child {
    Command::new("taskset")
        .args(["-c", LOAD_CPU, "wrk", "-t1"])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{seconds}s"))
        .arg(format!("http://{addr}{path}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taskset (util-linux) is missing")
}

/// The requests wrk completed.
fn finish_wrk(wrk: Child) -> u64 {
    let output = wrk.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk failed (`bash benches/throughput.sh` installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "  734201 requests in 8.00s, 91.02MB read"
    text.lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"))
}

/// CPU time the process `pid` has used, user and system, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in USER_HZ, 100 ticks a second.
    ticks as f64 / 100.0
}

/// Requests served and CPU seconds used by each of two servers loaded at
/// the same time for `seconds`.
fn load_both(servers: [&Server; 2], path: &str, seconds: u64) -> [(u64, f64); 2] {
    let cpu_before = servers.map(|server| cpu_seconds(server.pid()));
    let wrks = servers.map(|server| start_wrk(&server.addr, path, seconds));
    let requests = wrks.map(finish_wrk);
    let cpu_after = servers.map(|server| cpu_seconds(server.pid()));
    [0, 1].map(|i| (requests[i], cpu_after[i] - cpu_before[i]))
}

/// One variant against the bare app, over all rounds.
struct Comparison {
    /// The variant's requests over the bare app's, per round.
    ratios: Vec<f64>,
    /// The same per CPU second each used: below 1 when the variant's
    /// requests cost more CPU.
    cpu_ratios: Vec<f64>,
    /// The variant's requests per second, on half a core.
    rates: Vec<f64>,
    /// Share of the server core both used, per round: near 1 when neither
    /// server waited on its load.
    core_busy: Vec<f64>,
}

/// Rounds a variant: `THROUGHPUT_ROUNDS`, else [`ROUNDS`].
fn rounds() -> usize {
    std::env::var("THROUGHPUT_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .filter(|rounds| (2..=1_000).contains(rounds))
        .unwrap_or(ROUNDS)
}

fn compare(variant: &Variant) -> Comparison {
    let launcher = ["taskset", "-c", SERVER_CPU];
    let mut comparison = Comparison {
        ratios: Vec::new(),
        cpu_ratios: Vec::new(),
        rates: Vec::new(),
        core_busy: Vec::new(),
    };
    let path = variant.app.path();
    for round in 0..rounds() {
        let bare = Server::start(&bare(variant), &launcher);
        let other = Server::start(variant, &launcher);
        load_both([&bare, &other], path, WARM_UP_SECONDS);
        // Each starts its load first in half the rounds.
        let [(bare_requests, bare_cpu), (requests, cpu)] = if round % 2 == 0 {
            load_both([&bare, &other], path, SECONDS)
        } else {
            let [other, bare] = load_both([&other, &bare], path, SECONDS);
            [bare, other]
        };
        let ratio = requests as f64 / bare_requests as f64;
        let cpu_ratio = (requests as f64 / cpu) / (bare_requests as f64 / bare_cpu);
        println!(
            "round {}: {:<48} {requests:>8} requests, bare app {bare_requests:>8}: \
             ratio {ratio:.3}, per CPU second {cpu_ratio:.3}",
            round + 1,
            variant.name,
        );
        comparison.ratios.push(ratio);
        comparison.cpu_ratios.push(cpu_ratio);
        comparison.rates.push(requests as f64 / SECONDS as f64);
        comparison.core_busy.push((cpu + bare_cpu) / SECONDS as f64);
    }
    comparison
}

/// What a load run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// Every table.
    All,
    /// One app's variants on jemalloc.
    App(App),
    /// The JSON app over the other allocators.
    Allocators,
}

/// Runs every variant of the tables asked for against its bare app and
/// prints a table each; with `BASELINE_BENCH` set, compares this build
/// with the baseline instead.
pub fn report(tables: Tables) {
    if std::env::var_os(BASELINE_BENCH).is_some() {
        report_variants(&BASELINE_COMPARISON);
        return;
    }
    for (app, variants) in [(App::Hello, &VARIANTS[..]), (App::Json, &JSON_VARIANTS[..])] {
        if matches!(tables, Tables::All) || tables == Tables::App(app) {
            report_variants(variants);
        }
    }
    if matches!(tables, Tables::All | Tables::Allocators) {
        report_variants(&ALLOCATOR_VARIANTS);
    }
}

fn report_variants(variants: &[Variant]) {
    let comparisons: Vec<Comparison> = variants.iter().map(compare).collect();
    println!(
        "\n{} app, {} rounds of {SECONDS} s per variant, each served at the same time as \
         the bare app on core {SERVER_CPU}, each under wrk -t1 -c{CONNECTIONS} on core {LOAD_CPU}, \
         both servers started afresh every round, load on {}:",
        variants[0].app.name(),
        rounds(),
        variants[0].app.path()
    );
    println!(
        "{:<48} {:>11} {:>14} {:>18} {:>16} {:>14} {:>10}",
        "",
        "requests/s",
        "ratio: median",
        "mean ± 95 %",
        "min .. max",
        "per CPU second",
        "core busy"
    );
    for (variant, comparison) in variants.iter().zip(comparisons) {
        let lowest = comparison
            .ratios
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let highest = comparison.ratios.iter().copied().fold(0.0, f64::max);
        let (mean, margin) = mean_with_margin(&comparison.ratios);
        println!(
            "{:<48} {:>11.0} {:>14.3} {:>18} {:>16} {:>14.3} {:>9.0}%",
            match (
                variant.wrapping,
                variant.allocator == variant.bare_allocator
            ) {
                ("bare", true) => match (variant.app, variant.allocator) {
                    (App::Hello, _) => "bare app (against itself)",
                    (App::Json, "jemalloc") => "bare JSON app (against itself)",
                    (App::Json, _) => variant.name,
                },
                _ => variant.name,
            },
            median(comparison.rates),
            median(comparison.ratios),
            format!("{mean:.3} ± {margin:.3}"),
            format!("{lowest:.3} .. {highest:.3}"),
            median(comparison.cpu_ratios),
            median(comparison.core_busy) * 100.0,
        );
    }
}

/// The mean of `values` and the half-width of its 95 % confidence interval
/// (Student's t, as the rounds are few).
fn mean_with_margin(values: &[f64]) -> (f64, f64) {
    // t(0.975) for 1 to 20 degrees of freedom.
    const T: [f64; 20] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    ];
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (count - 1.0);
    let t = T[(values.len() - 2).min(T.len() - 1)];
    (mean, t * (variance / count).sqrt())
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}
