//! The pages: each a model, its text table and its template.

pub(crate) mod chart;
pub(crate) mod cpu;
pub(crate) mod diff;
pub(crate) mod heapdump;
pub(crate) mod overview;
pub(crate) mod profiles;
pub(crate) mod profiling;
pub(crate) mod request;
pub(crate) mod site;
pub(crate) mod timeline;
