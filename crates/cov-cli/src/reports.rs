//! Writes the reports of `drift-cov report`: the terminal summary, HTML, LCOV and Cobertura,
//! with cov-report's writers put on disk by cov-driver's `reports` (one rule for what an
//! HTML directory may hold before it is replaced, the driver's report directory's too).
//!
//! This module and [`crate::coverage_json`] are the only ones that know cov-report's report
//! and aggregate types; here the writers get the view, the source text and the files to
//! write to, and their errors become this crate's.

use std::path::Path;

use cov_driver::reports::{self, ReportError};
use cov_report::html::HtmlReport;
use cov_report::{json, terminal};

use crate::Error;
use crate::coverage_json::CoverageView;

pub(crate) use cov_driver::reports::HtmlSite;

/// The terminal summary: totals, then per-file and per-test tables.
pub(crate) fn summary(view: &CoverageView) -> String {
    terminal::render(view)
}

/// The Tusk CLI's coverage JSON of the view, with `timestamp` as `summary.timestamp`.
pub(crate) fn json(view: &CoverageView, timestamp: &str) -> String {
    json::render(view, timestamp)
}

/// Writes `contents` to `path` (creating its directory), as every report file is written.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), Error> {
    Ok(reports::write_file(path, contents)?)
}

/// Writes the LCOV tracefile of the aggregate.
pub(crate) fn write_lcov(view: &CoverageView, path: &Path) -> Result<(), Error> {
    Ok(reports::write_lcov(view, path)?)
}

/// Writes the Cobertura XML of the aggregate; `source_root` becomes its `source` element,
/// against which GitLab and Jenkins resolve the repo-relative file names.
pub(crate) fn write_cobertura(
    view: &CoverageView,
    path: &Path,
    source_root: &Path,
) -> Result<(), Error> {
    Ok(reports::write_cobertura(view, path, source_root)?)
}

/// Writes the HTML site into `dir`, reading each file's source at `source_root/<path>`.
///
/// `dir` must be absent, empty, or hold an earlier report of ours, whose entries are
/// replaced; a directory of anything else is never written into.
pub(crate) fn write_html(
    view: &CoverageView,
    dir: &Path,
    source_root: &Path,
) -> Result<HtmlSite, Error> {
    Ok(reports::write_html(
        view,
        dir,
        &HtmlReport::new(),
        source_root,
    )?)
}

impl From<ReportError> for Error {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Read { path, source } => Error::Read { path, source },
            ReportError::Write { path, source } => Error::Write { path, source },
            ReportError::ForeignHtmlDir(path) => Error::ForeignHtmlDir(path),
        }
    }
}
