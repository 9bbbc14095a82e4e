//! CPU captures: their pages and profiles, and what the profiler keeps.

mod memory;
mod profiles;
