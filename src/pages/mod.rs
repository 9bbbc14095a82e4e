//! The pages: each a model, its text table and its template.

pub(crate) mod diff;
pub(crate) mod heapdump;
pub(crate) mod overview;
pub(crate) mod profiling;
pub(crate) mod site;
