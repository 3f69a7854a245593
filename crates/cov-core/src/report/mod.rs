//! Reports written from a [`CoverageView`](crate::aggregate::CoverageView).
//!
//! One submodule per format, each with a `render` function that returns the report as a
//! `String` and a `write` function that writes the same text to any `std::io::Write` (the
//! caller opens files; this crate never does):
//!
//! - [`lcov`]: LCOV tracefile in the Tusk CLI's layout (Codecov, Coveralls, genhtml, IDEs);
//! - [`json`]: `{summary, aggregate, per_test}` in the Tusk CLI's exact shape;
//! - [`cobertura`]: Cobertura XML (GitLab, Jenkins, Codecov), valid against
//!   `coverage-04.dtd`;
//! - [`terminal`]: the human summary: totals, then per-file and per-test tables;
//! - [`html`]: a self-contained HTML site (index and one page per file, with who covers
//!   each line); it needs the source text, so it takes a lookup function and returns the
//!   files to write.
//!
//! Paths appear as the view holds them: make them repo-relative when the records come in
//! ([`Aggregate::set_path_normalizer`](crate::aggregate::Aggregate::set_path_normalizer)),
//! as the CLI does. A new format is a new submodule with its own `render`; what they share
//! ([`percent`], [`Totals`](crate::aggregate::Totals)) lives in
//! [`aggregate`](crate::aggregate).
//!
//! [`percent`]: crate::aggregate::percent

pub mod cobertura;
pub mod html;
pub mod json;
pub mod lcov;
pub mod terminal;
