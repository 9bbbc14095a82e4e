//! The pages under `/memory`: what grew since a baseline (`diff`, with
//! its flamegraph), what grows across the heap history (`growth`), the
//! purge (`purge`), and the black box's captures of earlier processes
//! (`postmortem`).

pub(super) mod diff;
pub(super) mod growth;
pub(super) mod postmortem;
pub(super) mod purge;
