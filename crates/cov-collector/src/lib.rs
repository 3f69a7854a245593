//! In-process LLVM source-based coverage (`-C instrument-coverage`).
//!
//! Reads the running program's counters from memory and its coverage mapping from its own
//! executable, and turns them into per-file line and branch coverage identical to
//! `llvm-cov`, with no `llvm-profdata` or `llvm-cov` at run time. Its key design decision
//! is that snapshots are differences against a kept copy of the counters, never resets.

mod collector;
#[allow(dead_code)] // Skeleton: used once the mapping engine is integrated.
mod difference;
mod error;
mod ffi;
mod live;

pub use collector::{Collector, CollectorBuilder, is_instrumented};
pub use error::{CollectorError, INSTRUMENT_RUSTFLAGS};
