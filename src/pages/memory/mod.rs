//! The pages under `/memory`: what grew since a baseline (`diff`, with
//! its flamegraph), what grows across the heap history (`growth`), and
//! the purge (`purge`).

pub(super) mod diff;
pub(super) mod growth;
pub(super) mod purge;
