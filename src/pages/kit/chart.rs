//! The memory-over-time chart, drawn on the server as SVG: no JavaScript,
//! no external asset. It holds numbers only, so it is safe to inline.

use std::fmt::Write;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::over_time::history;
use crate::model::over_time::timeline::TimelinePoint;
use crate::pages::Mount;
use crate::units::{duration_text, human_bytes};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 26.0;
/// More points than pixels add nothing but bytes.
const MAX_DRAWN: usize = 900;

struct Series {
    name: &'static str,
    color: &'static str,
    dashed: bool,
    value: fn(&TimelinePoint) -> Option<u64>,
}

const SERIES: [Series; 3] = [
    Series {
        name: "allocated",
        color: "#0b5cad",
        dashed: false,
        value: |p| Some(p.allocated),
    },
    Series {
        name: "resident",
        color: "#d9822b",
        dashed: false,
        value: |p| Some(p.resident),
    },
    Series {
        name: "RSS",
        color: "#7a8793",
        dashed: true,
        value: |p| p.rss,
    },
];

/// A moment the chart marks with a vertical line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChartMark {
    /// A snapshot of the heap history, at this Unix millisecond.
    Snapshot(u64),
    /// The diff page's baseline.
    Baseline(u64),
}

/// The heap history's snapshots and the mount's baseline, as marks.
pub(crate) fn chart_marks(mount: &Mount) -> Vec<ChartMark> {
    let unix_ms = |at: SystemTime| {
        at.duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    };
    let mut marks: Vec<ChartMark> = history::points()
        .iter()
        .map(|point| ChartMark::Snapshot(unix_ms(point.moment.taken_at)))
        .collect();
    if let Some(baseline) = mount.baseline.get() {
        marks.push(ChartMark::Baseline(unix_ms(
            baseline.snapshot.moment.taken_at,
        )));
    }
    marks
}

/// The chart of `points` (oldest first) with `marks` on it; `None` with
/// fewer than two points.
pub(crate) fn memory_chart(points: &[TimelinePoint], marks: &[ChartMark]) -> Option<String> {
    if points.len() < 2 {
        return None;
    }
    let stride = points.len().div_ceil(MAX_DRAWN);
    let drawn: Vec<&TimelinePoint> = points.iter().step_by(stride).chain(points.last()).collect();
    let scale = Scale::of(&drawn);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="memory over time" font-family="system-ui, sans-serif" font-size="11">"##
    );
    let _ = write!(
        svg,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>"##
    );
    draw_axes(&mut svg, &scale);
    draw_marks(&mut svg, &scale, marks);
    draw_series(&mut svg, &scale, &drawn);
    svg.push_str("</svg>");
    Some(svg)
}

/// Where times and bytes fall on the chart.
struct Scale {
    first_ms: u64,
    last_ms: u64,
    /// The value at the top of the chart: the largest drawn, and a little.
    top_value: f64,
}

impl Scale {
    fn of(drawn: &[&TimelinePoint]) -> Self {
        let top_value = drawn
            .iter()
            .flat_map(|p| SERIES.iter().filter_map(|s| (s.value)(p)))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.05;
        Self {
            first_ms: drawn[0].unix_ms,
            last_ms: drawn[drawn.len() - 1].unix_ms,
            top_value,
        }
    }

    fn x(&self, ms: u64) -> f64 {
        let span = (self.last_ms - self.first_ms).max(1) as f64;
        LEFT + (ms - self.first_ms) as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, bytes: u64) -> f64 {
        TOP + (1.0 - bytes as f64 / self.top_value) * (HEIGHT - TOP - BOTTOM)
    }
}

/// Grid lines with their sizes, and the time span below.
fn draw_axes(svg: &mut String, scale: &Scale) {
    for step in 0..=4 {
        let value = (scale.top_value * f64::from(step) / 4.0) as u64;
        let line_y = scale.y(value);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{line_y:.1}" y2="{line_y:.1}" stroke="#e4e8ee"/><text x="{}" y="{:.1}" text-anchor="end" fill="#5b6472">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            line_y + 4.0,
            human_bytes(value)
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{}" fill="#5b6472">{} ago</text><text x="{}" y="{}" text-anchor="end" fill="#5b6472">now</text>"##,
        HEIGHT - 8.0,
        duration_text((scale.last_ms - scale.first_ms) / 1000),
        WIDTH - RIGHT,
        HEIGHT - 8.0
    );
}

/// Ticks for the heap snapshots and a dashed line for the baseline, where
/// they fall inside the chart's span.
fn draw_marks(svg: &mut String, scale: &Scale, marks: &[ChartMark]) {
    for mark in marks {
        let (ChartMark::Snapshot(ms) | ChartMark::Baseline(ms)) = *mark;
        if !(scale.first_ms..=scale.last_ms).contains(&ms) {
            continue;
        }
        let mark_x = scale.x(ms);
        match mark {
            ChartMark::Snapshot(_) => {
                let _ = write!(
                    svg,
                    r##"<line class="snapshot" x1="{mark_x:.1}" x2="{mark_x:.1}" y1="{}" y2="{}" stroke="#9aa5b1"><title>heap snapshot</title></line>"##,
                    HEIGHT - BOTTOM - 6.0,
                    HEIGHT - BOTTOM
                );
            }
            ChartMark::Baseline(_) => {
                let _ = write!(
                    svg,
                    r##"<line class="baseline" x1="{mark_x:.1}" x2="{mark_x:.1}" y1="{TOP}" y2="{}" stroke="#b3261e" stroke-dasharray="3 3"/><text x="{:.1}" y="{}" fill="#b3261e">baseline</text>"##,
                    HEIGHT - BOTTOM,
                    mark_x + 3.0,
                    TOP + 10.0
                );
            }
        }
    }
}

/// A line for each series with values, and its legend.
fn draw_series(svg: &mut String, scale: &Scale, drawn: &[&TimelinePoint]) {
    let mut legend_x = LEFT;
    for series in &SERIES {
        let coordinates: Vec<String> = drawn
            .iter()
            .filter_map(|p| {
                (series.value)(p).map(|v| format!("{:.1},{:.1}", scale.x(p.unix_ms), scale.y(v)))
            })
            .collect();
        if coordinates.len() < 2 {
            continue;
        }
        let dash = if series.dashed {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{}" stroke-width="1.6"{dash} points="{}"/><rect x="{legend_x}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" fill="#1d2430">{}</text>"##,
            series.color,
            coordinates.join(" "),
            series.color,
            legend_x + 14.0,
            series.name
        );
        legend_x += 90.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(second: u64, allocated: u64) -> TimelinePoint {
        TimelinePoint {
            unix_ms: second * 1000,
            allocated,
            resident: allocated * 2,
            rss: Some(allocated * 3),
            requests: second,
            ..TimelinePoint::default()
        }
    }

    #[test]
    fn draws_three_series_within_the_frame() {
        assert!(memory_chart(&[point(0, 10)], &[]).is_none());
        let points: Vec<TimelinePoint> = (0..5000).map(|s| point(s, 1024 * (s + 1))).collect();
        let marks = [
            ChartMark::Snapshot(60_000),
            ChartMark::Snapshot(120_000),
            ChartMark::Baseline(90_000),
            // Outside the chart: left out.
            ChartMark::Snapshot(9_000_000),
        ];
        let svg = memory_chart(&points, &marks).unwrap();
        assert_eq!(svg.matches(r#"class="snapshot""#).count(), 2);
        assert_eq!(svg.matches(r#"class="baseline""#).count(), 1);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("83 min ago"));
        assert!(!svg.contains("<script"));
        // Every coordinate lies inside the view box.
        for pair in svg
            .split("points=\"")
            .skip(1)
            .flat_map(|s| s.split('"').next().unwrap().split(' '))
        {
            let (px, py) = pair.split_once(',').unwrap();
            let (px, py): (f64, f64) = (px.parse().unwrap(), py.parse().unwrap());
            assert!(
                (0.0..=WIDTH).contains(&px) && (0.0..=HEIGHT).contains(&py),
                "{pair}"
            );
        }
    }
}
