//! "Is it a leak?" in real processes: retention and its purge, memory
//! outside the heap, and the time to the memory limit.

mod forecast;
mod outside_heap;
mod retention;
