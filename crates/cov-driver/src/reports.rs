//! Writing reports to files: cov-report's writers return text, this module puts it on
//! disk, for `drift-cov report` and for the driver's report directory alike.
//!
//! One rule decides what may be replaced. A report file (`coverage.lcov`, `cobertura.xml`,
//! ...) is overwritten. An HTML report is a directory, which must be absent, empty, or hold
//! an earlier report of ours (its `index.html` names cov-report's generator); the entries a
//! report of ours writes at its top ([`HTML_ENTRIES`]) are removed before the new one is
//! written, so no page of a file or test that is gone stays behind, and nothing else in the
//! directory is touched. A directory holding anything else is refused, untouched.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cov_report::html::{self, HtmlReport};
use cov_report::{CoverageView, cobertura, json, lcov};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file or directory could not be written or removed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTML report's directory is not empty and holds no report of ours.
    #[error("{} is not empty and holds no report of ours", .0.display())]
    ForeignHtmlDir(PathBuf),
}

/// What an HTML report of ours writes at the top of its directory: the index, the shared
/// stylesheet and script, and the directories of the file and test pages.
pub const HTML_ENTRIES: &[&str] = &["index.html", "report.css", "report.js", "files", "tests"];

/// What [`write_html`] wrote.
#[derive(Debug)]
pub struct HtmlSite {
    /// The index page.
    pub index: PathBuf,
    /// Number of pages written.
    pub pages: usize,
    /// Files of the report whose source could not be read under the source root; their
    /// pages say so and list the coverable lines without text.
    pub missing_sources: Vec<String>,
}

/// Writes `contents` to `path`, creating its directory.
pub fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        create_dir(parent)?;
    }
    std::fs::write(path, contents).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes the LCOV tracefile of `view`, in the Tusk CLI's layout.
pub fn write_lcov(view: &CoverageView, path: &Path) -> Result<(), ReportError> {
    write_file(path, &lcov::render(view))
}

/// Writes the coverage JSON of `view`, in the Tusk CLI's shape, stamped with the time now.
pub fn write_json(view: &CoverageView, path: &Path) -> Result<(), ReportError> {
    let timestamp = cov_trace::rfc3339_utc(SystemTime::now());
    write_file(path, &json::render(view, &timestamp))
}

/// Writes the Cobertura XML of `view`; `source_root` (canonicalized when it can be) becomes
/// its `source` element, against which GitLab and Jenkins resolve the repo-relative file
/// names.
pub fn write_cobertura(
    view: &CoverageView,
    path: &Path,
    source_root: &Path,
) -> Result<(), ReportError> {
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

/// Writes the HTML report of `view` into `dir`, reading each file's source at
/// `source_root/<path>`, after removing an earlier report of ours there (see the module
/// documentation for what may be replaced).
pub fn write_html(
    view: &CoverageView,
    dir: &Path,
    report: &HtmlReport,
    source_root: &Path,
) -> Result<HtmlSite, ReportError> {
    prepare_html_dir(dir)?;
    let missing = std::cell::RefCell::new(Vec::new());
    let pages = report.render(view, |path| match std::fs::read(source_root.join(path)) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => {
            missing.borrow_mut().push(path.to_owned());
            None
        }
    });
    for (relative, contents) in &pages {
        write_file(&dir.join(relative), contents)?;
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

/// Makes `dir` ready for an HTML report: absent or empty as it is, an earlier report of
/// ours emptied of its entries, anything else refused.
fn prepare_html_dir(dir: &Path) -> Result<(), ReportError> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ReportError::Read {
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
        return Err(ReportError::ForeignHtmlDir(dir.to_owned()));
    }
    for entry in HTML_ENTRIES {
        let path = dir.join(entry);
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => Err(error),
        };
        removed.map_err(|source| ReportError::Write { path, source })?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(path).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The reports of a report directory, as [`write_report_dir`] wrote them.
#[derive(Debug)]
pub struct ReportDir {
    /// `coverage.lcov`: the aggregate in the Tusk CLI's LCOV layout.
    pub lcov: PathBuf,
    /// `coverage.json`: the Tusk CLI's coverage JSON.
    pub json: PathBuf,
    /// `cobertura.xml`.
    pub cobertura: PathBuf,
    /// `html/`: the HTML report.
    pub html: HtmlSite,
}

impl ReportDir {
    /// The reports in the order they are listed to a user: LCOV, JSON, Cobertura, then the
    /// HTML report by its index.
    pub fn paths(&self) -> [&Path; 4] {
        [&self.lcov, &self.json, &self.cobertura, &self.html.index]
    }
}

/// Writes the four reports of `view` into `dir` (created if missing): `coverage.lcov`,
/// `coverage.json`, `cobertura.xml` and the HTML report in `html/`, whose pages read the
/// sources under `source_root`.
pub fn write_report_dir(
    view: &CoverageView,
    dir: &Path,
    report: &HtmlReport,
    source_root: &Path,
) -> Result<ReportDir, ReportError> {
    create_dir(dir)?;
    let written = ReportDir {
        lcov: dir.join("coverage.lcov"),
        json: dir.join("coverage.json"),
        cobertura: dir.join("cobertura.xml"),
        html: write_html(view, &dir.join("html"), report, source_root)?,
    };
    write_lcov(view, &written.lcov)?;
    write_json(view, &written.json)?;
    write_cobertura(view, &written.cobertura, source_root)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cov_core::{SnapshotKind, WireFile, WireSnapshot};
    use cov_report::Aggregate;

    use super::*;

    /// A view of two files, one test covering a line of each.
    fn view() -> CoverageView {
        let file = |lines: &[(u32, u64)]| WireFile {
            lines: lines.iter().copied().collect(),
            branches: BTreeMap::new(),
        };
        let mut baseline = WireSnapshot::new(SnapshotKind::Baseline);
        baseline
            .files
            .insert("src/a.rs".into(), file(&[(1, 0), (2, 0)]));
        baseline.files.insert("src/b.rs".into(), file(&[(1, 0)]));
        let mut test = WireSnapshot::new(SnapshotKind::Delta);
        test.files.insert("src/a.rs".into(), file(&[(2, 1)]));
        test.files.insert("src/b.rs".into(), file(&[(1, 3)]));
        let mut aggregate = Aggregate::new();
        aggregate.add_baseline(baseline);
        aggregate.add_test("t1", "GET /", test);
        aggregate.view()
    }

    #[test]
    fn every_entry_a_report_writes_is_one_the_rule_removes() {
        for (relative, _) in HtmlReport::new().render(&view(), |_| None) {
            let top = relative.split('/').next().unwrap_or_default();
            assert!(
                HTML_ENTRIES.contains(&top),
                "{relative} is not in HTML_ENTRIES"
            );
        }
    }

    #[test]
    fn an_earlier_report_is_replaced_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("html");
        let sources = dir.path().join("sources");
        write_file(&sources.join("src/a.rs"), "fn a() {}\nfn b() {}\n").unwrap();

        let first = write_html(&view(), &html, &HtmlReport::new(), &sources).unwrap();
        assert_eq!(first.missing_sources, ["src/b.rs"]);
        // index, two file pages, one test page.
        assert_eq!(first.pages, 4);
        // A page of a file that is gone, and a file of the user's next to the report.
        let stale = html.join("files/gone.rs.html");
        write_file(&stale, "old page").unwrap();
        write_file(&html.join("notes.txt"), "mine").unwrap();

        let second = write_html(&view(), &html, &HtmlReport::new(), &sources).unwrap();
        assert_eq!(second.pages, 4);
        assert!(!stale.exists(), "a page of an earlier report stayed behind");
        assert_eq!(
            std::fs::read_to_string(html.join("notes.txt")).unwrap(),
            "mine"
        );
        assert!(second.index.is_file());
    }

    #[test]
    fn a_directory_without_our_report_is_refused_untouched_and_an_empty_one_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("foreign");
        write_file(&foreign.join("index.html"), "<p>someone else's</p>").unwrap();
        write_file(&foreign.join("files/keep.html"), "keep").unwrap();
        let error = write_html(&view(), &foreign, &HtmlReport::new(), dir.path()).unwrap_err();
        assert!(
            matches!(&error, ReportError::ForeignHtmlDir(path) if path == &foreign),
            "{error:?}"
        );
        assert_eq!(
            std::fs::read_to_string(foreign.join("files/keep.html")).unwrap(),
            "keep"
        );
        assert_eq!(
            std::fs::read_to_string(foreign.join("index.html")).unwrap(),
            "<p>someone else's</p>"
        );

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        write_html(&view(), &empty, &HtmlReport::new(), dir.path()).unwrap();
        assert!(empty.join("index.html").is_file());
    }

    #[test]
    fn a_report_dir_is_written_where_nothing_exists_yet() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("not/yet/there");
        let written =
            write_report_dir(&view(), &out, HtmlReport::new().title("t"), dir.path()).unwrap();
        for path in written.paths() {
            assert!(path.is_file(), "{}", path.display());
            assert!(path.starts_with(&out));
        }
        let lcov = std::fs::read_to_string(&written.lcov).unwrap();
        assert!(lcov.starts_with("SF:src/a.rs\n"), "{lcov}");
        let json = std::fs::read_to_string(&written.json).unwrap();
        assert!(json.contains("\"per_test\""), "{json}");
        // Written again over itself: the same reports, no error.
        write_report_dir(&view(), &out, &HtmlReport::new(), dir.path()).unwrap();
    }
}
