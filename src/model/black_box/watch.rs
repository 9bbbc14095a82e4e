//! When a capture is taken on its own: a thread of memscope's reads the
//! nearest limit, the forecast and the cgroup's events every second and
//! asks each black box the layers were given whether one is due
//! (`Triggers`, plain state the tests drive by hand).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::capture::{self, nearest_limit};
use super::directory;
use super::reason::Reason;
use super::settings::{BlackBox, note_layer_limit};
use crate::model::over_time::{history, timeline};
use crate::model::process::cgroup;
use crate::model::process::resident_set_size;
use crate::model::verdict::{Limit, MIN_SNAPSHOTS, MIN_TIMELINE_POINTS, time_to_limit_now};
use crate::units::human_bytes;

/// How often the thread looks.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A black box a layer was given, with the layer's own limit.
struct Watched {
    black_box: BlackBox,
    builder_limit: Option<u64>,
    triggers: Triggers,
}

/// Every black box watched, and whether the thread runs.
static WATCHED: Mutex<(Vec<Watched>, bool)> = Mutex::new((Vec::new(), false));

/// Watches `black_box` against the limits (the cgroup's, and
/// `builder_limit`) from now on, for the life of the process; a black box
/// watched already is watched once.
pub(crate) fn watch(black_box: &BlackBox, builder_limit: Option<u64>) {
    // The directory is made now, and a problem with it told now: on the
    // overview and in `/metrics`, before a capture is due.
    if let Err(problem) = directory::ready(&black_box.dir) {
        super::reason::count_failed(format!(
            "captures cannot be written to {}: {problem}",
            black_box.dir.display()
        ));
    }
    if let Some(limit) = builder_limit {
        note_layer_limit(&black_box.dir, limit);
    }
    let mut watched = crate::sync::lock(&WATCHED);
    let known = watched
        .0
        .iter()
        .any(|known| known.black_box == *black_box && known.builder_limit == builder_limit);
    if !known {
        watched.0.push(Watched {
            black_box: black_box.clone(),
            builder_limit,
            triggers: Triggers::default(),
        });
    }
    if !watched.1 {
        watched.1 = std::thread::Builder::new()
            .name("memscope-black-box".to_owned())
            .spawn(run)
            .is_ok();
    }
}

fn run() {
    // memscope's own thread: the dump's and the file's work in memscope's
    // arena, given back after each capture.
    crate::model::allocator::bind_to_own_arena();
    loop {
        std::thread::sleep(CHECK_EVERY);
        let due: Vec<(BlackBox, Reason, String)> = {
            let mut watched = crate::sync::lock(&WATCHED);
            let now = Instant::now();
            watched
                .0
                .iter_mut()
                .filter_map(|known| {
                    let reading = Reading::now(known.builder_limit);
                    let (reason, detail) = known.triggers.due(&known.black_box, &reading, now)?;
                    Some((known.black_box.clone(), reason, detail))
                })
                .collect()
        };
        for (black_box, reason, detail) in due {
            // A failure is counted, and shown on the overview.
            let _ = capture::take(&black_box, reason, detail);
        }
        super::open::release_idle();
    }
}

/// Whether the verdict has what it needs (the timeline's points, the heap
/// history's snapshots where it runs): a forecast before that is a
/// process's start-up, and a capture then could name nothing.
fn verdict_can_speak() -> bool {
    let points = timeline::points().len();
    let snapshots = history::settings().map(|_| history::span().0);
    points >= MIN_TIMELINE_POINTS && snapshots.is_none_or(|snapshots| snapshots >= MIN_SNAPSHOTS)
}

/// What the triggers read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reading {
    /// The nearest limit, and what counts against it.
    pub(crate) limit: Option<Limit>,
    /// The low end of the forecast's time to the limit, in seconds.
    pub(crate) forecast_low_seconds: Option<u64>,
    /// The cgroup's `high` and `max` events so far.
    pub(crate) high_events: Option<u64>,
    pub(crate) max_events: Option<u64>,
}

impl Reading {
    fn now(builder_limit: Option<u64>) -> Self {
        let cgroup = cgroup::read();
        let limit = nearest_limit(builder_limit, resident_set_size(), cgroup.as_ref());
        Self {
            limit,
            forecast_low_seconds: limit
                .filter(|_| verdict_can_speak())
                .and_then(|_| time_to_limit_now(builder_limit, cgroup.as_ref()))
                .map(|forecast| forecast.seconds_low),
            high_events: cgroup.as_ref().and_then(|cgroup| cgroup.high_events),
            max_events: cgroup.as_ref().and_then(|cgroup| cgroup.max_events),
        }
    }
}

/// What a black box has seen so far, to tell when a capture is due.
#[derive(Debug, Default)]
pub(crate) struct Triggers {
    /// The step of the limit the last capture was taken at (0 for the
    /// first, at `capture_at_percent`); `None` while below it.
    captured_step: Option<u32>,
    /// Whether the forecast's low end was under the warning time.
    forecast_was_under: bool,
    high_seen: Option<u64>,
    max_seen: Option<u64>,
    last_taken: Option<Instant>,
    /// A capture due while the last was too recent, taken when allowed.
    pending: Option<(Reason, String)>,
}

impl Triggers {
    /// The capture due now, if one is, given `reading`: its reason and
    /// what it says.
    pub(crate) fn due(
        &mut self,
        black_box: &BlackBox,
        reading: &Reading,
        now: Instant,
    ) -> Option<(Reason, String)> {
        let step = self.limit_step(black_box, reading);
        let mut found: Vec<(Reason, String)> = Vec::new();
        if let (Some(step), Some(limit)) = (step, reading.limit)
            && self.captured_step.is_none_or(|captured| step > captured)
        {
            let percent = black_box.capture_at_percent + step * black_box.step_percent;
            found.push((
                Reason::Limit,
                format!(
                    "memory passed {percent} % of the {} limit ({}): {} counted against it",
                    human_bytes(limit.bytes),
                    limit.source.whose(),
                    human_bytes(limit.used)
                ),
            ));
        }
        let under = reading.forecast_low_seconds.filter(|&seconds| {
            !black_box.forecast_under.is_zero() && seconds < black_box.forecast_under.as_secs()
        });
        if let Some(seconds) = under
            && !self.forecast_was_under
        {
            found.push((
                Reason::Forecast,
                format!(
                    "the limit may be reached in {} s at the rate memory grows",
                    seconds
                ),
            ));
        }
        self.forecast_was_under = under.is_some();
        if new_events(&mut self.max_seen, reading.max_events) {
            found.push((
                Reason::CgroupMax,
                "the cgroup's usage reached memory.max".to_owned(),
            ));
        }
        if new_events(&mut self.high_seen, reading.high_events) {
            found.push((
                Reason::CgroupHigh,
                "the cgroup's usage passed memory.high and was throttled".to_owned(),
            ));
        }
        if let Some(most) = found
            .into_iter()
            .min_by_key(|(reason, _)| severity(*reason))
        {
            let replace = self
                .pending
                .as_ref()
                .is_none_or(|(pending, _)| severity(most.0) <= severity(*pending));
            if replace {
                self.pending = Some(most);
            }
        }
        if step.is_none() {
            self.captured_step = None;
        }
        let allowed = self
            .last_taken
            .is_none_or(|last| now.saturating_duration_since(last) >= black_box.at_most_every);
        if !allowed {
            return None;
        }
        let due = self.pending.take()?;
        self.last_taken = Some(now);
        if step.is_some() {
            self.captured_step = step;
        }
        Some(due)
    }

    /// The step of the limit memory is at: 0 from `capture_at_percent`, 1
    /// a step above, …; `None` below it.
    fn limit_step(&self, black_box: &BlackBox, reading: &Reading) -> Option<u32> {
        let percent = reading.limit?.share() * 100.0;
        let first = f64::from(black_box.capture_at_percent);
        (percent >= first)
            .then(|| ((percent - first) / f64::from(black_box.step_percent)).floor() as u32)
    }
}

/// Whether the cgroup counted events since `seen`, which is brought up to
/// date; the first reading only sets it (events before the process's
/// watch are not its).
fn new_events(seen: &mut Option<u64>, now: Option<u64>) -> bool {
    let Some(now) = now else {
        return false;
    };
    let grew = seen.is_some_and(|seen| now > seen);
    *seen = Some(now);
    grew
}

/// The reason a capture is taken for when several are due: the nearest to
/// a kill first.
fn severity(reason: Reason) -> u8 {
    match reason {
        Reason::CgroupMax => 0,
        Reason::Limit => 1,
        Reason::Forecast => 2,
        Reason::CgroupHigh => 3,
        Reason::Request | Reason::Hook => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::verdict::LimitSource;

    const MIB: u64 = 1 << 20;

    fn at(used_mib: u64) -> Reading {
        Reading {
            limit: Some(Limit {
                bytes: 200 * MIB,
                source: LimitSource::Builder,
                used: used_mib * MIB,
            }),
            ..Reading::default()
        }
    }

    #[test]
    fn a_capture_at_80_percent_and_at_each_5_percent_step_at_most_once_a_minute() {
        let black_box = BlackBox::new("/unused");
        let mut triggers = Triggers::default();
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(triggers.due(&black_box, &at(150), start), None, "75 %");
        let (reason, detail) = triggers.due(&black_box, &at(161), start).unwrap();
        assert_eq!(reason, Reason::Limit);
        assert!(detail.contains("80 %"), "{detail}");
        // The same step, later: nothing new.
        assert_eq!(triggers.due(&black_box, &at(165), start + minute), None);
        // 85 % within the minute: held, then taken once allowed.
        assert_eq!(triggers.due(&black_box, &at(171), start + minute / 2), None);
        let (_, detail) = triggers.due(&black_box, &at(171), start + minute).unwrap();
        assert!(detail.contains("85 %"), "{detail}");
        // Two steps at once make one capture, at the step reached.
        let (_, detail) = triggers
            .due(&black_box, &at(191), start + 2 * minute)
            .unwrap();
        assert!(detail.contains("95 %"), "{detail}");
        // Below 80 % again: the steps start over.
        assert_eq!(triggers.due(&black_box, &at(100), start + 3 * minute), None);
        assert!(
            triggers
                .due(&black_box, &at(161), start + 4 * minute)
                .is_some()
        );
    }

    #[test]
    fn the_forecast_and_the_cgroup_events_each_take_one_when_they_come() {
        let black_box = BlackBox::new("/unused");
        let mut triggers = Triggers::default();
        let mut now = Instant::now();
        let mut reading = Reading {
            high_events: Some(4),
            max_events: Some(1),
            forecast_low_seconds: Some(900),
            ..Reading::default()
        };
        // Events counted before the watch began are not new.
        assert_eq!(triggers.due(&black_box, &reading, now), None);
        reading.forecast_low_seconds = Some(240);
        let (reason, _) = triggers.due(&black_box, &reading, now).unwrap();
        assert_eq!(reason, Reason::Forecast);
        now += Duration::from_secs(61);
        assert_eq!(
            triggers.due(&black_box, &reading, now),
            None,
            "still under: no new capture"
        );
        reading.high_events = Some(5);
        reading.max_events = Some(2);
        let (reason, _) = triggers.due(&black_box, &reading, now).unwrap();
        assert_eq!(reason, Reason::CgroupMax, "the nearest to a kill first");
    }
}
