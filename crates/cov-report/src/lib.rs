//! Reports of a Tusk Drift replay run: aggregation with the Tusk CLI's semantics, path
//! normalisation, and the LCOV, JSON, Cobertura, terminal and HTML writers.
//!
//! This is the CLI side of the coverage channel. The SDK inside a service sends
//! [`WireSnapshot`](cov_core::WireSnapshot)s (what the channel carries); this crate merges a
//! run's baselines and per-test snapshots exactly as the Tusk CLI does and writes reports from the result. Its
//! key design decision is to live apart from cov-core: a service that links the SDK compiles
//! none of it, nor its dependencies (`serde_json`, `maud`). Like cov-core it does no I/O:
//! writers return a `String` or write to a `std::io::Write` the caller opened, and the HTML
//! report takes the source text through a lookup function.
//!
//! The path of a run through the crate:
//!
//! 1. [`PathNormalizer`] ([`paths`]) makes paths repo-relative, as the CLI does;
//! 2. [`Aggregate`] merges baselines and per-test snapshots into a [`CoverageView`]
//!    ([`aggregate`]), including who covers what;
//! 3. one module per format writes it:
//!    - [`lcov`]: LCOV tracefile in the Tusk CLI's layout (Codecov, Coveralls, genhtml, IDEs);
//!    - [`json`]: `{summary, aggregate, per_test}` in the Tusk CLI's exact shape;
//!    - [`cobertura`]: Cobertura XML (GitLab, Jenkins, Codecov), valid against
//!      `coverage-04.dtd`;
//!    - [`terminal`]: the human summary: totals, then per-file and per-test tables;
//!    - [`html`]: a self-contained HTML site (index, one page per file with who covers each
//!      line, one page per test); it needs the source text, so it takes a lookup function
//!      and returns the files to write.
//!
//! Each single-file format (`lcov`, `json`, `cobertura`, `terminal`) has a `render` function
//! that returns the report as a `String` and a `write` function that writes the same text to
//! any `std::io::Write`; `html` renders a site, so it returns the files to write. What they share
//! ([`percent`](aggregate::percent), [`Totals`]) lives in [`aggregate`].
//!
//! # Example
//!
//! Filter, record a baseline and one test in the service, aggregate and write LCOV on the
//! CLI side:
//!
//! ```
//! use cov_core::filter::SourceFilter;
//! use cov_core::{Branch, BranchCache, CoverageSnapshot, FileCoverage, SnapshotKind};
//! use cov_report::{Aggregate, lcov};
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
//! aggregate.add_baseline(cache.to_wire(&baseline));
//! aggregate.add_test("trace-1", "GET /users", cache.to_wire(&after_test));
//!
//! let lcov = lcov::render(&aggregate.view());
//! assert_eq!(lcov, "SF:/srv/app/src/main.rs\nDA:1,1\nDA:2,2\nDA:3,1\n\
//!                   BRDA:2,0,0,1\nBRDA:2,0,1,1\nLF:3\nLH:3\nBRF:2\nBRH:2\nend_of_record\n");
//! # Ok::<(), cov_core::filter::FilterError>(())
//! ```

#![forbid(unsafe_code)]

pub mod aggregate;
pub mod cobertura;
pub mod html;
pub mod json;
pub mod lcov;
pub mod paths;
pub mod terminal;

pub use aggregate::{
    Aggregate, CoverageView, TestCoverage, TestFileCoverage, TestSnapshot, Totals,
};
pub use paths::PathNormalizer;
