//! The pure layer of the coverage SDK: which files count, what coverage is, and what to do
//! with it.
//!
//! Both ends of the Tusk coverage channel reuse this crate: the SDK inside the service (to
//! filter and shape what it sends) and a driver on the CLI side (to aggregate snapshots
//! and write reports). Its key design decision is that it does no I/O beyond what a caller
//! hands it and knows nothing of protobuf, sockets or LLVM: every function is a plain
//! transformation of values, so it is tested with data alone. (The one exception is
//! [`filter::SourceFilter`], which resolves symlinks with `std::fs::canonicalize`.)
//!
//! The path of coverage through the crate:
//!
//! 1. [`filter::SourceFilter`] decides which source files are the application's own;
//! 2. the collector produces a [`CoverageSnapshot`] ([`model`]) of those files;
//! 3. [`BranchCache`] turns it into the wire-level [`SnapshotRecord`] ([`record`]), with the
//!    same per-line branch totals in every snapshot;
//! 4. on the CLI side, [`Aggregate`] merges baselines and per-test records with the Tusk
//!    CLI's semantics into a [`CoverageView`] ([`aggregate`]), including who covers what;
//! 5. [`report`] writes LCOV, the CLI's JSON, Cobertura XML or a terminal summary.
//!
//! # Example
//!
//! Filter, record a baseline and one test, aggregate, and write LCOV:
//!
//! ```
//! use std::collections::BTreeMap;
//! use cov_core::filter::SourceFilter;
//! use cov_core::{report, Aggregate, Branch, BranchCache, CoverageSnapshot, FileCoverage, SnapshotKind};
//!
//! let filter = SourceFilter::builder().root("/srv/app").build()?;
//! let snapshot = |kind, lines: &[(u32, u64)], branch: Branch| {
//!     let mut snapshot = CoverageSnapshot::new(kind);
//!     for path in ["/srv/app/src/main.rs", "/srv/app/target/debug/build/x/out/gen.rs"] {
//!         if filter.matches(path) {
//!             let file = FileCoverage {
//!                 lines: lines.iter().copied().collect(),
//!                 branches: vec![branch],
//!                 ..FileCoverage::default()
//!             };
//!             snapshot.files.insert(path.to_owned(), file);
//!         }
//!     }
//!     snapshot
//! };
//! let branch = |true_count, false_count| Branch { line: 2, column: 8, true_count, false_count };
//! let baseline = snapshot(SnapshotKind::Baseline, &[(1, 1), (2, 1), (3, 0)], branch(Some(0), Some(1)));
//! let after_test = snapshot(SnapshotKind::Delta, &[(2, 1), (3, 1)], branch(Some(1), None));
//!
//! // In the service: stable branch totals. On the CLI side: Tusk's aggregation.
//! let mut cache = BranchCache::new();
//! let mut aggregate = Aggregate::new();
//! aggregate.add_baseline(cache.record(&baseline));
//! aggregate.add_test("trace-1", "GET /users", cache.record(&after_test));
//!
//! let lcov = report::lcov::render(&aggregate.view());
//! assert_eq!(lcov, "SF:/srv/app/src/main.rs\nDA:1,1\nDA:2,2\nDA:3,1\n\
//!                   BRDA:2,0,0,1\nBRDA:2,0,1,1\nLF:3\nLH:3\nBRF:2\nBRH:2\nend_of_record\n");
//! # Ok::<(), cov_core::filter::FilterError>(())
//! ```

#![forbid(unsafe_code)]

pub mod aggregate;
pub mod branch_cache;
pub mod filter;
pub mod model;
pub mod paths;
pub mod record;
pub mod report;

pub use aggregate::{Aggregate, CoverageView, TestCoverage, TestFileCoverage, TestRecord, Totals};
pub use branch_cache::BranchCache;
pub use filter::{FilterError, PathPatterns, SourceFilter};
pub use model::{Branch, CoverageSnapshot, FileCoverage, Function, LineBranches, SnapshotKind};
pub use paths::PathNormalizer;
pub use record::{FileRecord, SnapshotRecord};
