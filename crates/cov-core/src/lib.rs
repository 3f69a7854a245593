//! The pure layer of the coverage SDK: which files count, what coverage is, and what one
//! snapshot carries on the wire.
//!
//! Everything here is what a service that links the SDK needs, and nothing more: the
//! collector produces the [`model`], the SDK filters and shapes what it sends. Aggregation
//! of a run and the reports live in `cov-report`, on the CLI side, so an instrumented
//! service compiles neither them nor their dependencies. The crate's key design decision is
//! that it knows nothing of protobuf, sockets or LLVM and writes nothing: every function is
//! a transformation of values, tested with data alone. Its one read of the outside world is
//! [`filter::SourceFilter`] resolving symlinks (`std::fs::canonicalize`) and, when no root is
//! given, asking for the current directory: the compiler records paths as it saw them, and
//! only the file system can say that two spellings are the same file.
//!
//! The path of coverage through the crate:
//!
//! 1. [`filter::SourceFilter`] decides which source files are the application's own;
//! 2. the collector produces a [`CoverageSnapshot`] ([`model`]) of those files;
//! 3. [`BranchCache`] turns it into the [`WireSnapshot`] ([`wire`]) the channel carries, with the
//!    same per-line branch totals in every snapshot;
//! 4. the SDK converts that wire snapshot to protobuf; on the CLI side, `cov-report` merges
//!    the wire snapshots of a run and writes reports.
//!
//! The `serde` feature (off by default, turned on by `cov-report`) derives `Serialize` and
//! `Deserialize` for the model and the wire snapshot.
//!
//! # Example
//!
//! Filter, then record a baseline with stable branch totals:
//!
//! ```
//! use std::collections::BTreeMap;
//! use cov_core::filter::SourceFilter;
//! use cov_core::{Branch, BranchCache, CoverageSnapshot, FileCoverage, LineBranches, SnapshotKind};
//!
//! let filter = SourceFilter::builder().root("/srv/app").build()?;
//! let mut baseline = CoverageSnapshot::new(SnapshotKind::Baseline);
//! for path in ["/srv/app/src/main.rs", "/srv/app/target/debug/build/x/out/gen.rs"] {
//!     if filter.matches(path) {
//!         let file = FileCoverage {
//!             lines: BTreeMap::from([(1, 1), (2, 1), (3, 0)]),
//!             branches: vec![Branch { line: 2, column: 8, true_count: Some(0), false_count: Some(1) }],
//!             ..FileCoverage::default()
//!         };
//!         baseline.files.insert(path.to_owned(), file);
//!     }
//! }
//!
//! let wire = BranchCache::new().to_wire(&baseline);
//! let main = &wire.files["/srv/app/src/main.rs"];
//! assert_eq!(wire.files.len(), 1);
//! assert_eq!(main.branches[&2], LineBranches { total: 2, covered: 1 });
//! assert_eq!((main.coverable_lines(), main.covered_lines()), (3, 2));
//! # Ok::<(), cov_core::filter::FilterError>(())
//! ```

#![forbid(unsafe_code)]

pub mod branch_cache;
pub mod filter;
pub mod model;
pub mod wire;

pub use branch_cache::BranchCache;
pub use filter::{FilterError, PathPatterns, SourceFilter};
pub use model::{Branch, CoverageSnapshot, FileCoverage, Function, LineBranches, SnapshotKind};
pub use wire::{WireFile, WireSnapshot};

/// This crate's source directory, as cargo gave it when the crate was built: the SDK leaves
/// every file under it out of the application's coverage.
#[doc(hidden)]
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
