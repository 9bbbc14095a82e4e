//! How long the process has run: from its start time in `/proc/self/stat`
//! (clock ticks after boot) and the time since boot in `/proc/uptime`.

#![allow(unsafe_code)]

use std::time::Duration;

/// The time since the process started; `None` where `/proc` cannot say.
pub(crate) fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    age_of(&stat, &uptime, clock_ticks_per_second()?)
}

fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

/// From `/proc/self/stat` (its 22nd field, after the command's
/// parenthesised name, which may hold spaces) and `/proc/uptime`.
fn age_of(stat: &str, uptime: &str, ticks_per_second: f64) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    // The fields after the name start at the 3rd: the start time is the
    // 22nd, the 20th after it.
    let started_ticks: f64 = after_name.split(' ').nth(19)?.parse().ok()?;
    let since_boot: f64 = uptime.split(' ').next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (since_boot - started_ticks / ticks_per_second).max(0.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_start_after_a_name_with_spaces() {
        let stat =
            "4242 (my app) S 1 4242 4242 0 -1 4194560 300 0 0 0 5 2 0 0 20 0 3 0 1000 123456 789";
        let age = age_of(stat, "60.50 100.00\n", 100.0).unwrap();
        assert_eq!(age, Duration::from_millis(50_500));
        assert!(process_age().is_some_and(|age| age < Duration::from_secs(86_400 * 365)));
    }
}
