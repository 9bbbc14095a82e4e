//! As production runs: a binary replaced while it runs, no writable file
//! system, memscope's own arena, and the stack walker under stress.

mod deploy_in_place;
mod low_stack;
mod no_file_system;
mod own_arena;
mod walker_stress;
