//! Memory over time, kept by background threads of the process's own
//! (`recorder`: each runs at the shortest interval and keeps the most
//! points any layer asks for): the `timeline` of what memory looks like
//! (each point a `reading`: the allocator's figures, the RSS and what its
//! parts are reckoned from, the threads, the live tasks), and the heap
//! `history` of raw heap profiles; a figure's course over a window
//! (`trend`), a row's course across the history (`series`), the sites
//! that grow across it with the route that explains each (`growth`), the
//! spawn sites whose live tasks grow (`tasks`), what each route's requests
//! keep (`route_heap`), and what the pages ask of the history (`read`).

pub(crate) mod growth;
pub(crate) mod history;
pub(crate) mod read;
pub(crate) mod reading;
mod recorder;
pub(crate) mod route_heap;
mod series;
pub(crate) mod tasks;
pub(crate) mod timeline;
pub(crate) mod trend;
