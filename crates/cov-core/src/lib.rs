//! The pure layer of the coverage SDK: which files count, what coverage is, and what to do
//! with it.
//!
//! Both ends of the Tusk coverage channel reuse this crate: the SDK inside the service (to
//! filter and shape what it sends) and a driver on the CLI side (to aggregate snapshots
//! and write reports). Its key design decision is that it does no I/O beyond what a caller
//! hands it and knows nothing of protobuf, sockets or LLVM: every function is a plain
//! transformation of values, so it is tested with data alone.

#![forbid(unsafe_code)]

pub mod model;

pub use model::{Branch, CoverageSnapshot, FileCoverage, Function, LineBranches, SnapshotKind};
