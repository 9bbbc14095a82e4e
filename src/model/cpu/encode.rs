//! A capture's samples resolved and drawn: the count, the flamegraph and
//! the gzipped pprof protobuf, symbolized as the heap pages are.

use std::time::UNIX_EPOCH;

use pprof::protos::{Label, Profile, Sample};

use super::backend::failed;
use super::samples::{CpuSamples, FREQUENCY_HZ, SampledStack};
use crate::model::ModelError;
use crate::model::pprof::{ProfileBuilder, gzipped};
use crate::model::process::mapped_files;
use crate::model::symbols::{AddressFrames, Frame, Frameworks, RunLabels, SYMBOLIZER};

/// A capture drawn and encoded.
pub(super) struct Encoded {
    pub(super) samples: u64,
    /// The flamegraph with the frameworks' runs of frames folded.
    pub(super) flamegraph: Vec<u8>,
    /// The flamegraph with every frame.
    pub(super) all_frames: Vec<u8>,
    pub(super) pprof_gzip: Vec<u8>,
}

/// The samples counted, the flamegraphs and the gzipped pprof protobuf,
/// symbolized as the heap pages are (full names in release builds).
pub(super) fn encode(
    captured: &CpuSamples,
    seconds: u64,
    frameworks: &Frameworks,
) -> Result<Encoded, ModelError> {
    let stacks = &captured.stacks;
    let resolved = SYMBOLIZER.resolve_stacks(stacks.iter().map(|stack| &stack.addresses[..]));
    let samples: u64 = stacks.iter().map(|stack| stack.count).sum();

    // The frames of each stack from the interrupted code on: pprof's
    // stacks begin with its signal handler's own and the trampoline after
    // it (memscope's sampler walks from the interrupted registers).
    let sampled: Vec<(&SampledStack, &[AddressFrames], &[u64])> = stacks
        .iter()
        .zip(&resolved)
        .map(|(stack, frames)| {
            let handler = frames.iter().position(|frames| {
                frames
                    .iter()
                    .any(|frame| frame.function.ends_with("perf_signal_handler"))
            });
            let first = handler.map_or(0, |handler| (handler + 2).min(frames.len()));
            (stack, &frames[first..], &stack.addresses[first..])
        })
        .collect();

    let (flamegraph, all_frames) = if samples == 0 {
        (no_samples_svg(seconds), no_samples_svg(seconds))
    } else {
        (
            self::flamegraph(&sampled, Some(frameworks))?,
            self::flamegraph(&sampled, None)?,
        )
    };
    let profile = cpu_profile(captured, &sampled);
    Ok(Encoded {
        samples,
        flamegraph,
        all_frames,
        pprof_gzip: gzipped(&profile)?,
    })
}

/// Folded stacks, the thread at the root, drawn by inferno; runs of the
/// frameworks' frames folded into one where `fold` is given.
fn flamegraph(
    sampled: &[(&SampledStack, &[AddressFrames], &[u64])],
    fold: Option<&Frameworks>,
) -> Result<Vec<u8>, ModelError> {
    let mut labels = RunLabels::default();
    let stacks: Vec<(&SampledStack, Vec<std::sync::Arc<str>>)> = sampled
        .iter()
        .map(|(stack, frames, _)| {
            let frames: Vec<&Frame> = frames
                .iter()
                .rev()
                .flat_map(|frames| frames.iter().rev())
                .collect();
            let names = match fold {
                Some(frameworks) => frameworks.fold(&frames, &mut labels),
                None => frames.iter().map(|frame| frame.function.clone()).collect(),
            };
            (*stack, names)
        })
        .collect();
    // Folded runs' counts are known once every stack is in.
    let lines: Vec<String> = stacks
        .iter()
        .map(|(stack, names)| {
            let mut line = stack.thread.replace(';', ":");
            for name in names {
                line.push(';');
                match labels.shown(name) {
                    Some(label) => line.push_str(&label),
                    None => line.push_str(&name.replace(';', ":")),
                }
            }
            format!("{line} {}", stack.count)
        })
        .collect();
    let mut options = inferno::flamegraph::Options::default();
    options.title = "CPU".to_owned();
    options.count_name = "samples".to_owned();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
        .map_err(failed)?;
    Ok(svg)
}

/// The capture as pprof's CPU profile: `samples/count` and
/// `cpu/nanoseconds`, the period one sample's worth of time.
fn cpu_profile(
    captured: &CpuSamples,
    sampled: &[(&SampledStack, &[AddressFrames], &[u64])],
) -> Profile {
    let mappings = mapped_files();
    let mut builder = ProfileBuilder::new(&mappings);
    let period = 1_000_000_000 / i64::from(FREQUENCY_HZ);
    builder.profile.sample_type = vec![
        builder.value_type(("samples", "count")),
        builder.value_type(("cpu", "nanoseconds")),
    ];
    builder.profile.period_type = Some(builder.value_type(("cpu", "nanoseconds")));
    builder.profile.period = period;
    builder.profile.time_nanos = captured
        .started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i64);
    builder.profile.duration_nanos = captured.duration.as_nanos() as i64;
    let thread_key = builder.string("thread");
    for (stack, frames, addresses) in sampled {
        let location_id = addresses
            .iter()
            .zip(frames.iter())
            .map(|(&address, frames)| builder.location(address, frames))
            .collect();
        let thread = builder.string(&stack.thread);
        builder.profile.sample.push(Sample {
            location_id,
            value: vec![stack.count as i64, stack.count as i64 * period],
            label: vec![Label {
                key: thread_key,
                str: thread,
                ..Label::default()
            }],
        });
    }
    builder.finish()
}

/// The flamegraph of a capture with no samples: inferno writes nothing for
/// it, and an empty file shows as a broken image.
fn no_samples_svg(seconds: u64) -> Vec<u8> {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="60" viewBox="0 0 1200 60"><text x="600" y="35" font-family="sans-serif" font-size="16" text-anchor="middle">No samples: the process used no CPU time in these {seconds} s.</text></svg>"#
    )
    .into_bytes()
}
