//! Writes the reports of `drift-cov report`: the terminal summary, HTML, LCOV and Cobertura,
//! with cov-core's writers.
//!
//! This module and [`crate::coverage_json`] are the only ones that know cov-core's report
//! and aggregate types; here the writers get the view, the source text and the files to
//! write to.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cov_report::{cobertura, html, json, lcov, terminal};

use crate::Error;
use crate::coverage_json::CoverageView;

/// The terminal summary: totals, then per-file and per-test tables.
pub(crate) fn summary(view: &CoverageView) -> String {
    terminal::render(view)
}

/// The Tusk CLI's coverage JSON of the view, with `timestamp` as `summary.timestamp`.
pub(crate) fn json(view: &CoverageView, timestamp: &str) -> String {
    json::render(view, timestamp)
}

/// Writes the LCOV tracefile of the aggregate.
pub(crate) fn write_lcov(view: &CoverageView, path: &Path) -> Result<(), Error> {
    write_file(path, &lcov::render(view))
}

/// Writes the Cobertura XML of the aggregate; `source_root` becomes its `source` element,
/// against which GitLab and Jenkins resolve the repo-relative file names.
pub(crate) fn write_cobertura(
    view: &CoverageView,
    path: &Path,
    source_root: &Path,
) -> Result<(), Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let root = source_root
        .canonicalize()
        .unwrap_or_else(|_| source_root.to_owned());
    let options = cobertura::CoberturaOptions {
        timestamp_millis: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
        sources: vec![root.display().to_string()],
    };
    write_file(path, &cobertura::render(view, &options))
}

/// What [`write_html`] wrote.
#[derive(Debug)]
pub(crate) struct HtmlSite {
    /// The index page.
    pub(crate) index: PathBuf,
    /// Number of pages written.
    pub(crate) pages: usize,
    /// Files of the report whose source could not be read under the source root; their
    /// pages say so and list the coverable lines without text.
    pub(crate) missing_sources: Vec<String>,
}

/// Writes the HTML site into `dir`, reading each file's source at `source_root/<path>`.
///
/// `dir` must be absent, empty, or hold an earlier report of ours (its index names our
/// generator): the earlier report's pages are removed first, so no page of a file that is
/// gone stays behind, and a directory of anything else is never written into.
pub(crate) fn write_html(
    view: &CoverageView,
    dir: &Path,
    source_root: &Path,
) -> Result<HtmlSite, Error> {
    prepare_html_dir(dir)?;
    let missing = std::cell::RefCell::new(Vec::new());
    let pages =
        html::HtmlReport::new().render(view, |path| match std::fs::read(source_root.join(path)) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => {
                missing.borrow_mut().push(path.to_owned());
                None
            }
        });
    for (relative, contents) in &pages {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        write_file(&path, contents)?;
    }
    Ok(HtmlSite {
        index: dir.join("index.html"),
        // The stylesheet and the script are files of the site, not pages.
        pages: pages
            .iter()
            .filter(|(relative, _)| relative.ends_with(".html"))
            .count(),
        missing_sources: missing.into_inner(),
    })
}

fn prepare_html_dir(dir: &Path) -> Result<(), Error> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_owned(),
                source,
            });
        }
    };
    if entries.next().is_none() {
        return Ok(());
    }
    let marker = format!("content=\"{}\"", html::GENERATOR);
    let holds_our_report =
        std::fs::read_to_string(dir.join("index.html")).is_ok_and(|index| index.contains(&marker));
    if !holds_our_report {
        return Err(Error::ForeignHtmlDir(dir.to_owned()));
    }
    for old in ["files", "tests"] {
        let path = dir.join(old);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|source| Error::Write { path, source })?;
        }
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes `contents` to `path`, creating its directory.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), Error> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        create_dir(parent)?;
    }
    std::fs::write(path, contents).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}
