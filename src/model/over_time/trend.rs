//! A figure's course over a window of samples: where it started and ended,
//! and the straight line through it (its rate, with the error the
//! residuals leave). What the growth suspects, the verdict and the time to
//! the limit rest on.

use serde::Serialize;

use crate::model::heap::table::Z_INTERVAL;

/// A figure's course over a window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) struct Trend {
    /// At the window's start and end: each the mean of the first (last)
    /// few samples, so that one sample's jitter does not make a growth.
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) growth: i64,
    /// The least-squares slope.
    pub(crate) bytes_per_minute: f64,
    /// Three standard errors of the slope, from the residuals; 0 with
    /// fewer than three samples.
    pub(crate) bytes_per_minute_error: f64,
    /// The window cut in up to six parts: the share of parts whose mean is
    /// above the part's before, from 0 to 1. A leak rises in every part, a
    /// step in one.
    pub(crate) steadiness: f64,
}

/// Samples averaged at each end of a window for its first and last value.
const END_SAMPLES: usize = 3;
/// Parts a window is cut in for its steadiness.
const PARTS: usize = 6;
/// The share of parts that must rise for growth to be steady.
const STEADY: f64 = 0.75;

impl Trend {
    /// The course of `values`, taken at `minutes` (the same length, at
    /// least one).
    pub(crate) fn of(minutes: &[f64], values: &[f64]) -> Self {
        let ends = END_SAMPLES.min(values.len().div_ceil(3)).max(1);
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        let first = mean(&values[..ends]);
        let last = mean(&values[values.len() - ends..]);
        let (slope, error) = fit_line(minutes, values);
        Self {
            first: first.max(0.0).round() as u64,
            last: last.max(0.0).round() as u64,
            growth: (last - first).round() as i64,
            bytes_per_minute: slope,
            bytes_per_minute_error: Z_INTERVAL * error,
            steadiness: steadiness(values),
        }
    }

    /// Grew by more than `noise` from start to end, at a rate above its
    /// error: a step up counts (memory that rose and stayed), a swing that
    /// came back does not.
    pub(crate) fn grew_beyond(&self, noise: u64) -> bool {
        self.growth > noise as i64 && self.bytes_per_minute > self.bytes_per_minute_error
    }

    /// Grows all along the window, beyond `noise`: as a leak does, and a
    /// step (a cache filled once) does not.
    pub(crate) fn grows_steadily(&self, noise: u64) -> bool {
        self.grew_beyond(noise) && self.steadiness >= STEADY
    }
}

/// The share of the window's parts whose mean rose over the part before.
fn steadiness(values: &[f64]) -> f64 {
    let parts = PARTS.min(values.len());
    if parts < 2 {
        return 0.0;
    }
    let means: Vec<f64> = (0..parts)
        .map(|part| {
            let part = &values[part * values.len() / parts..(part + 1) * values.len() / parts];
            part.iter().sum::<f64>() / part.len() as f64
        })
        .collect();
    let rose = means.windows(2).filter(|pair| pair[1] > pair[0]).count();
    rose as f64 / (parts - 1) as f64
}

/// The least-squares slope of `y` over `x`, and its standard error (0 with
/// fewer than three points).
pub(crate) fn fit_line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|x| (x - mean_x).powi(2)).sum();
    if sxx <= 0.0 {
        return (0.0, 0.0);
    }
    let sxy: f64 = x
        .iter()
        .zip(y)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let slope = sxy / sxx;
    if x.len() < 3 {
        return (slope, 0.0);
    }
    let intercept = mean_y - slope * mean_x;
    let residuals: f64 = x
        .iter()
        .zip(y)
        .map(|(x, y)| (y - intercept - slope * x).powi(2))
        .sum();
    (slope, (residuals / (n - 2.0) / sxx).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_line_with_its_error() {
        let (slope, error) = fit_line(&[0.0, 1.0, 2.0, 3.0], &[1.0, 3.0, 5.0, 7.0]);
        assert!((slope - 2.0).abs() < 1e-12 && error < 1e-9);
        let (slope, error) = fit_line(&[0.0, 1.0, 2.0, 3.0], &[0.0, 2.0, 0.0, 2.0]);
        assert!(
            (slope - 0.4).abs() < 1e-12 && error > 0.3,
            "{slope} {error}"
        );
    }

    #[test]
    fn tells_a_line_from_a_step_and_a_swing() {
        let minutes: Vec<f64> = (0..12).map(f64::from).collect();
        let line: Vec<f64> = minutes.iter().map(|m| 100.0 + 10.0 * m).collect();
        let step: Vec<f64> = minutes
            .iter()
            .map(|&m| if m < 6.0 { 100.0 } else { 200.0 })
            .collect();
        let swing: Vec<f64> = minutes
            .iter()
            .map(|&m| {
                if (4.0..8.0).contains(&m) {
                    200.0
                } else {
                    100.0
                }
            })
            .collect();
        let line = Trend::of(&minutes, &line);
        assert_eq!((line.first, line.last), (110, 200));
        assert!(line.grows_steadily(10), "{line:?}");
        let step = Trend::of(&minutes, &step);
        assert!(step.grew_beyond(10), "{step:?}");
        assert!(!step.grows_steadily(10), "{step:?}");
        let swing = Trend::of(&minutes, &swing);
        assert!(!swing.grew_beyond(10), "{swing:?}");
        assert!(!line.grew_beyond(100), "growth within the noise");
    }
}
