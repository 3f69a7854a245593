//! In-process LLVM source-based coverage (`-C instrument-coverage`).
//!
//! Reads the running program's counters from memory and its coverage mapping from its own
//! executable, and turns them into per-file line and branch coverage identical to
//! `llvm-cov`, with no `llvm-profdata` or `llvm-cov` at run time. Its key design decision
//! is that snapshots are differences against a kept copy of the counters, never resets.
//!
//! The offline half, safe code only:
//! - `decode` reads `__llvm_covmap`, `__llvm_covfun` and `__llvm_prf_names` from an
//!   executable, decodes them and applies llvm-cov's reader rules into one
//!   [`CoverageMapping`]; it also decodes raw profiles (versions 9 to 11, LLVM 18 to 23,
//!   from one table of layouts) and their data records ([`FunctionCounters`]), from a file
//!   or from live memory. The types the rest of the API takes are re-exported here; the
//!   stages themselves are public only with the `decode` feature, which the fuzz targets,
//!   the benches and the robustness tests turn on to check each stage on its own;
//! - [`engine`] is llvm-cov's semantics (regions → segments → lines, branches, functions),
//!   built once, then queried with the counts it evaluates from any counter array;
//!   `segments.rs` holds its pure core;
//! - [`llvm_lcov`] writes LCOV as `llvm-cov export -format=lcov` does, and [`offline`] ties it
//!   together for an executable and a `.profraw` file, spreading the whole-program work
//!   over the cores (`parallel.rs`; the live half never starts threads); it also lists a
//!   raw profile as `llvm-profdata show` does (`listing.rs`).
//!
//! The live half:
//! - [`Collector`] (`collector.rs`) takes baseline and delta snapshots of the running
//!   program: it decodes the mapping once, reads the live counters (`live.rs`, through the
//!   profile runtime binding in `ffi.rs`, the crate's only `unsafe`), re-evaluates only the
//!   files of functions whose counters changed, and reports differences of llvm-cov's
//!   cumulative counts (`difference.rs`). [`is_instrumented`] says whether it can work.

mod bytes;
mod collector;
#[cfg(feature = "decode")]
pub mod decode;
// Without the feature the stages are the crate's own; their items stay `pub` for it.
#[cfg(not(feature = "decode"))]
#[allow(unreachable_pub)]
mod decode;
pub mod decode_error;
mod difference;
pub mod engine;
mod error;
mod ffi;
mod listing;
mod live;
pub mod llvm_lcov;
pub mod offline;
mod parallel;
mod segments;

pub use collector::{
    Collector, CollectorBuilder, ProfileWrite, compilation_units, is_instrumented,
    suppress_profile_write,
};
pub use decode::mapping::CoverageMapping;
pub use decode::profraw::{FunctionCounters, RawProfile, decode_function_counters};
pub use decode_error::{MappingError, ProfileError};
pub use engine::{Engine, FileId, Threads};
pub use error::{CollectorError, INSTRUMENT_RUSTFLAGS};

/// This crate's source directory, as cargo gave it when the crate was built: the SDK leaves
/// every file under it out of the application's coverage.
#[doc(hidden)]
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
