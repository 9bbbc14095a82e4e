//! Memory over time, kept by background threads of the process's own
//! (`recorder`: each runs at the shortest interval and keeps the most
//! points any layer asks for): the `timeline` of the allocator's figures
//! and the RSS, and the heap `history` of raw heap profiles; a figure's
//! course over a window (`trend`), the sites that grow across the history
//! with the route that explains each (`growth`), what each route's
//! requests keep (`route_heap`), and what the pages ask of the history
//! (`read`).

pub(crate) mod growth;
pub(crate) mod history;
pub(crate) mod read;
mod recorder;
pub(crate) mod route_heap;
pub(crate) mod timeline;
pub(crate) mod trend;
