//! How long until the memory limit: the RSS's fitted growth rate, with its
//! error, carried to a limit (the container's, or one the user set).

use serde::Serialize;

use crate::model::over_time::trend::Trend;
use crate::model::process::cgroup::CgroupMemory;

/// Whose limit it is (`limit_source` in JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LimitSource {
    /// The container's: its cgroup's `memory.max` (or v1's limit).
    Cgroup,
    /// The one set with `DebugLayer::memory_limit`.
    Builder,
}

impl LimitSource {
    /// Whose limit it is, in words: `the cgroup's`, `set on the layer`.
    pub(crate) fn whose(self) -> &'static str {
        match self {
            LimitSource::Cgroup => "the cgroup's",
            LimitSource::Builder => "set on the layer",
        }
    }
}

/// A limit and what counts against it now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limit {
    pub(crate) bytes: u64,
    pub(crate) source: LimitSource,
    pub(crate) used: u64,
}

impl Limit {
    /// What counts against it, as a share of it.
    pub(crate) fn share(&self) -> f64 {
        self.used as f64 / self.bytes.max(1) as f64
    }

    /// The limits that apply: the one set on the builder, against the RSS;
    /// the cgroup's, against its usage less the page cache the kernel
    /// reclaims before an OOM kill.
    pub(crate) fn all(
        builder: Option<u64>,
        rss: Option<u64>,
        cgroup: Option<&CgroupMemory>,
    ) -> Vec<Self> {
        let mut limits = Vec::new();
        if let (Some(bytes), Some(rss)) = (builder, rss) {
            limits.push(Limit {
                bytes,
                source: LimitSource::Builder,
                used: rss,
            });
        }
        if let Some(cgroup) = cgroup
            && let Some(bytes) = cgroup.limit
        {
            limits.push(Limit {
                bytes,
                source: LimitSource::Cgroup,
                used: cgroup
                    .usage
                    .saturating_sub(cgroup.file.unwrap_or(0))
                    .max(rss.unwrap_or(0)),
            });
        }
        limits
    }
}

/// When memory reaches the limit at the rate it grows.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TimeToLimit {
    pub(crate) limit: u64,
    pub(crate) limit_source: LimitSource,
    /// What counts against the limit now.
    pub(crate) used: u64,
    /// The RSS's fitted growth, and three standard errors of it.
    pub(crate) bytes_per_minute: f64,
    pub(crate) bytes_per_minute_error: f64,
    /// At that rate; at the rate plus its error; at the rate less its
    /// error (`null` where that rate is not growth).
    pub(crate) seconds: u64,
    pub(crate) seconds_low: u64,
    pub(crate) seconds_high: Option<u64>,
}

/// The time to the nearest of `limits` at the rate `rss` grows, where it
/// grows beyond `noise`.
pub(crate) fn time_to_limit(rss: &Trend, noise: u64, limits: &[Limit]) -> Option<TimeToLimit> {
    if !rss.grew_beyond(noise) || rss.bytes_per_minute <= 0.0 {
        return None;
    }
    let rate = rss.bytes_per_minute;
    let error = rss.bytes_per_minute_error.min(rate);
    let seconds_at = |rate: f64, left: u64| (left as f64 / rate * 60.0).round() as u64;
    limits
        .iter()
        .map(|limit| {
            let left = limit.bytes.saturating_sub(limit.used);
            let seconds = seconds_at(rate, left);
            let seconds_low = seconds_at(rate + error, left);
            let seconds_high = (rate - error > 0.0).then(|| seconds_at(rate - error, left));
            TimeToLimit {
                limit: limit.bytes,
                limit_source: limit.source,
                used: limit.used,
                bytes_per_minute: rate,
                bytes_per_minute_error: error,
                seconds,
                seconds_low,
                seconds_high,
            }
        })
        .min_by_key(|forecast| forecast.seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn growing(per_minute: f64, noise_each: f64) -> Trend {
        let minutes: Vec<f64> = (0..30).map(f64::from).collect();
        let values: Vec<f64> = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let wobble = if i % 2 == 0 { noise_each } else { -noise_each };
                (100 << 20) as f64 + per_minute * m + wobble
            })
            .collect();
        Trend::of(&minutes, &values)
    }

    #[test]
    fn carries_the_rate_to_the_nearest_limit_with_its_range() {
        let rss = growing((1 << 20) as f64, (256 << 10) as f64);
        let limits = [
            Limit {
                bytes: 512 << 20,
                source: LimitSource::Cgroup,
                used: 200 << 20,
            },
            Limit {
                bytes: 400 << 20,
                source: LimitSource::Builder,
                used: 130 << 20,
            },
        ];
        let forecast = time_to_limit(&rss, 4 << 20, &limits).unwrap();
        // 270 MiB left at 1 MiB/min before the cgroup's 312 MiB.
        assert_eq!(forecast.limit_source, LimitSource::Builder);
        assert!(
            (forecast.bytes_per_minute - (1 << 20) as f64).abs() < 1e4,
            "{forecast:?}"
        );
        assert!(
            (forecast.seconds as f64 - 270.0 * 60.0).abs() < 60.0,
            "{forecast:?}"
        );
        let high = forecast.seconds_high.unwrap();
        assert!(forecast.seconds_low < forecast.seconds && forecast.seconds < high);
        assert_eq!(forecast.limit, 400 << 20);
    }

    #[test]
    fn no_forecast_without_growth_or_limit() {
        let flat = growing(0.0, (256 << 10) as f64);
        let limit = [Limit {
            bytes: 1 << 30,
            source: LimitSource::Builder,
            used: 100 << 20,
        }];
        assert!(time_to_limit(&flat, 4 << 20, &limit).is_none());
        let rising = growing((1 << 20) as f64, 0.0);
        assert!(time_to_limit(&rising, 4 << 20, &[]).is_none());
        assert!(Limit::all(None, Some(1), None).is_empty());
    }
}
