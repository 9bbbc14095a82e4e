//! The wrapper's samples as a heap profile: what the heap pages read from
//! jemalloc's dump, made from the table instead.

use super::{TABLE, lg_sample};
use crate::model::allocator::raw_profile::{
    AddressNumbers, Counts, RawProfile, RawStack, take_tag,
};
use crate::model::process::mapped_files;
use crate::record::as_sampler;

/// The live samples now, by stack, with the mappings of files to resolve
/// them against. Stacks with nothing live and nothing allocated are left
/// out. The table is copied under its lock, as the sampler, so that
/// allocations meanwhile wait for a copy, not for the pages.
pub(crate) fn raw_profile() -> RawProfile {
    let sample_interval = 1u64 << lg_sample();
    let copied = as_sampler(|| {
        let table = TABLE.lock();
        table
            .stacks
            .iter()
            .filter(|entry| entry.live_objects > 0 || entry.allocated_objects > 0)
            .map(|entry| {
                (
                    entry.frames.to_vec(),
                    (entry.live_objects, entry.live_bytes),
                    (entry.allocated_objects, entry.allocated_bytes),
                )
            })
            .collect::<Vec<_>>()
    })
    // Only the sampler itself could ask from inside the sampler.
    .unwrap_or_default();
    let mut numbers = AddressNumbers::default();
    let stacks = copied
        .into_iter()
        .map(
            |(mut addresses, (live_objects, live_bytes), (objects, bytes))| {
                let tag = take_tag(&mut addresses);
                RawStack {
                    frames: numbers.frames(&addresses),
                    tag,
                    live: Counts::of(live_objects, live_bytes, sample_interval),
                    allocated: Counts::of(objects, bytes, sample_interval),
                }
            },
        )
        .collect();
    RawProfile {
        sample_interval,
        addresses: numbers.into_addresses(),
        stacks,
        mappings: mapped_files(),
    }
}
