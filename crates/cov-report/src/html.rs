//! A self-contained HTML report: an index with per-file percentages and per-test totals,
//! one page per file with its source, hit counts, branch outcomes and, for every line, the
//! tests that executed it, and one page per test with the lines it executed.
//!
//! The pages are plain HTML with one inline stylesheet: no script, no web font, nothing
//! fetched from elsewhere, so the report opens from disk, in CI artifacts and offline. The
//! expandable list of tests on each line is a `<details>` element (its summary also carries
//! the names as a hover title). Every piece of text that comes from outside (paths, source,
//! test names) goes through [`escape`]. The markup is well-formed XML as well as HTML, which
//! the tests use to read it back.
//!
//! Like every report in this crate, this one does no I/O: the caller hands in the source of
//! each file through a lookup function and writes the returned files where it wants.
//!
//! ```
//! use cov_core::{FileRecord, SnapshotKind, SnapshotRecord};
//! use cov_report::Aggregate;
//! use cov_report::html::HtmlReport;
//!
//! let mut baseline = SnapshotRecord::new(SnapshotKind::Baseline);
//! baseline.files.insert("src/lib.rs".into(), FileRecord {
//!     lines: [(1, 0), (2, 0)].into_iter().collect(),
//!     ..FileRecord::default()
//! });
//! let mut test = SnapshotRecord::new(SnapshotKind::Delta);
//! test.files.insert("src/lib.rs".into(), FileRecord {
//!     lines: [(1, 1)].into_iter().collect(),
//!     ..FileRecord::default()
//! });
//! let mut aggregate = Aggregate::new();
//! aggregate.add_baseline(baseline);
//! aggregate.add_test("trace-1", "GET /users", test);
//!
//! let files = HtmlReport::new().render(&aggregate.view(), |path| {
//!     (path == "src/lib.rs").then(|| "fn a() {}\nfn b() {}\n".to_owned())
//! });
//! assert_eq!(files[0].0, "index.html");
//! assert_eq!(files[1].0, "files/src_lib.rs.html");
//! assert!(files[1].1.contains("GET /users"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::aggregate::{CoverageView, Totals, percent};
use cov_core::model::LineBranches;
use cov_core::record::FileRecord;

/// Renders a [`CoverageView`] as a set of HTML pages. Built like tokio's builders:
/// [`HtmlReport::new`], setters taking `&mut self`, then [`HtmlReport::render`].
#[derive(Clone, Debug)]
pub struct HtmlReport {
    title: String,
}

impl Default for HtmlReport {
    fn default() -> Self {
        Self {
            title: "Coverage report".to_owned(),
        }
    }
}

impl HtmlReport {
    /// A report titled "Coverage report".
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the title shown at the top of every page.
    pub fn title(&mut self, title: impl Into<String>) -> &mut Self {
        self.title = title.into();
        self
    }

    /// Renders the report. `source` returns the text of a file given its path as the view
    /// names it, or `None` when it cannot be read (the page then lists the coverable lines
    /// without their text).
    ///
    /// Returns the files to write as `(path relative to the report directory, contents)`:
    /// `index.html` first, then one `files/<name>.html` per file of the view, in path order,
    /// then one `tests/t<n>.html` per test, in run order (`n` counts from 1).
    pub fn render(
        &self,
        view: &CoverageView,
        source: impl Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        let page_names = page_names(view.files.keys().map(String::as_str));
        let mut pages = Vec::with_capacity(view.files.len() + 1);
        pages.push(("index.html".to_owned(), self.index_page(view, &page_names)));
        for (path, file) in &view.files {
            let page_name = &page_names[path.as_str()];
            let contents = self.file_page(view, path, file, source(path).as_deref());
            pages.push((format!("files/{page_name}"), contents));
        }
        for test_idx in 0..view.tests.len() {
            pages.push((
                format!("tests/{}", test_page_name(test_idx)),
                self.test_page(view, test_idx, &page_names),
            ));
        }
        pages
    }

    fn index_page(&self, view: &CoverageView, page_names: &BTreeMap<&str, String>) -> String {
        let totals = view.totals();
        let mut html = String::new();
        page_start(&mut html, &self.title);
        let _ = write!(
            html,
            "<header class=\"top\"><h1>{}</h1><p class=\"subtitle\">{} across {} {} and {} {}</p></header>\n<main>\n",
            escape(&self.title),
            if view.has_baseline {
                "Baseline and per-test coverage"
            } else {
                "Per-test coverage (no baseline: only executed lines are counted)"
            },
            totals.files,
            plural(totals.files, "file", "files"),
            view.tests.len(),
            plural(view.tests.len(), "test", "tests"),
        );
        cards(
            &mut html,
            &totals,
            &[
                (
                    "Files",
                    format!("{}", totals.files),
                    format!("{} with covered lines", totals.covered_files),
                ),
                (
                    "Tests",
                    format!("{}", view.tests.len()),
                    "replayed and snapshotted".to_owned(),
                ),
            ],
        );

        html.push_str(
            "<h2>Files</h2>\n<table class=\"summary\">\n<thead><tr><th class=\"name\">File</th>\
             <th class=\"bar-col\">Lines</th><th class=\"pct\">%</th><th class=\"count\">Covered</th>\
             <th class=\"bar-col\">Branches</th><th class=\"pct\">%</th><th class=\"count\">Covered</th>\
             <th class=\"count\">Tests</th></tr></thead>\n<tbody>\n",
        );
        for (path, file) in &view.files {
            let file_totals = Totals::of_file(file);
            let n_tests = view
                .tests
                .iter()
                .filter(|test| test.files.contains_key(path))
                .count();
            let _ = write!(
                html,
                "<tr><td class=\"name\"><a href=\"files/{}\">{}</a></td>",
                escape(&page_names[path.as_str()]),
                escape(path),
            );
            ratio_cells(
                &mut html,
                file_totals.covered_lines as u64,
                file_totals.lines as u64,
            );
            ratio_cells(
                &mut html,
                file_totals.covered_branches,
                file_totals.branches,
            );
            let _ = writeln!(html, "<td class=\"count\">{n_tests}</td></tr>");
        }
        let _ = write!(html, "</tbody>\n<tfoot><tr><td class=\"name\">Total</td>");
        ratio_cells(&mut html, totals.covered_lines as u64, totals.lines as u64);
        ratio_cells(&mut html, totals.covered_branches, totals.branches);
        let _ = writeln!(
            html,
            "<td class=\"count\">{}</td></tr></tfoot>\n</table>",
            view.tests.len()
        );

        html.push_str(
            "<h2>Tests</h2>\n<table class=\"summary tests\">\n<thead><tr><th class=\"count\">#</th>\
             <th class=\"name\">Test</th><th class=\"count\">Lines</th><th class=\"count\">Branches</th>\
             <th class=\"count\">Files</th></tr></thead>\n<tbody>\n",
        );
        for (test_idx, test) in view.tests.iter().enumerate() {
            let covered_branches: u64 = test.files.values().map(|file| file.covered_branches).sum();
            let total_branches: u64 = test.files.values().map(|file| file.total_branches).sum();
            let _ = writeln!(
                html,
                "<tr><td class=\"count\"><span class=\"tag\">T{}</span></td><td class=\"name\"><a href=\"tests/{}\">{}</a></td>\
                 <td class=\"count\">{}</td><td class=\"count\">{covered_branches}/{total_branches}</td>\
                 <td class=\"count\">{}</td></tr>",
                test_idx + 1,
                test_page_name(test_idx),
                escape(test.display_name()),
                test.covered_lines(),
                test.files_touched(),
            );
        }
        if view.tests.is_empty() {
            html.push_str("<tr><td class=\"empty\" colspan=\"5\">No tests ran.</td></tr>\n");
        }
        html.push_str("</tbody>\n</table>\n");
        page_end(&mut html);
        html
    }

    fn file_page(
        &self,
        view: &CoverageView,
        path: &str,
        file: &FileRecord,
        source: Option<&str>,
    ) -> String {
        let totals = Totals::of_file(file);
        let covered_by = view.covered_by.get(path);
        let tests_here: BTreeSet<usize> = covered_by
            .into_iter()
            .flat_map(|lines| lines.values().flatten().copied())
            .collect();

        let mut html = String::new();
        page_start(&mut html, &format!("{path} · {}", self.title));
        let _ = write!(
            html,
            "<header class=\"top\"><p class=\"crumbs\"><a href=\"../index.html\">{}</a> /</p>\
             <h1 class=\"path\">{}</h1></header>\n<main>\n",
            escape(&self.title),
            escape(path),
        );
        cards(
            &mut html,
            &totals,
            &[(
                "Tests",
                format!("{}", tests_here.len()),
                format!("of {} executed this file", view.tests.len()),
            )],
        );

        if !tests_here.is_empty() {
            html.push_str("<ul class=\"test-list\">\n");
            for &test_idx in &tests_here {
                let test = &view.tests[test_idx];
                let n_lines = test
                    .files
                    .get(path)
                    .map_or(0, |file| file.covered_lines.len());
                let _ = writeln!(
                    html,
                    "<li><span class=\"tag\">T{}</span> <a href=\"../tests/{}\">{}</a> <span class=\"muted\">{} {}</span></li>",
                    test_idx + 1,
                    test_page_name(test_idx),
                    escape(test.display_name()),
                    n_lines,
                    plural(n_lines, "line", "lines"),
                );
            }
            html.push_str("</ul>\n");
        }

        html.push_str(
            "<p class=\"legend\"><span class=\"key covered\">covered</span>\
             <span class=\"key partial\">branch partly taken</span>\
             <span class=\"key uncovered\">not covered</span>\
             <span class=\"hint\">Branches: outcomes taken/total; <i>1–2/2</i> when the per-test \
             snapshots cannot tell which (the totals count the upper end, as the Tusk CLI does).</span></p>\n",
        );
        if source.is_none() {
            html.push_str(
                "<p class=\"note\">The source of this file could not be read; only its coverable lines are listed.</p>\n",
            );
        }

        html.push_str(
            "<table class=\"source\">\n<thead><tr><th class=\"num\">Line</th><th class=\"hits\">Hits</th>\
             <th class=\"br\">Branches</th><th class=\"tests\">Tests</th><th class=\"code\">Source</th></tr></thead>\n<tbody>\n",
        );
        let source_lines: Vec<&str> = source
            .map(|text| text.lines().collect())
            .unwrap_or_default();
        let last_line = file
            .lines
            .keys()
            .chain(file.branches.keys())
            .copied()
            .max()
            .unwrap_or(0)
            .max(u32::try_from(source_lines.len()).unwrap_or(u32::MAX));
        for line in 1..=last_line {
            let text = source_lines.get(line as usize - 1).copied();
            let count = file.lines.get(&line).copied();
            if source.is_none() && count.is_none() {
                continue;
            }
            let branches = file
                .branches
                .get(&line)
                .filter(|branches| branches.total > 0)
                .map(|&merged| BranchTally::of(view, path, line, merged));
            let status = LineStatus::of(count, branches);
            let _ = write!(
                html,
                "<tr id=\"L{line}\" class=\"{}\"><td class=\"num\"><a href=\"#L{line}\">{line}</a></td><td class=\"hits\">",
                status.class(),
            );
            if let Some(count) = count {
                let _ = write!(html, "{count}");
            }
            html.push_str("</td><td class=\"br\">");
            if let Some(tally) = branches {
                tally.write_cell(&mut html);
            }
            html.push_str("</td><td class=\"tests\">");
            if let Some(test_indices) = covered_by.and_then(|lines| lines.get(&line)) {
                tests_cell(&mut html, view, test_indices);
            }
            let _ = writeln!(
                html,
                "</td><td class=\"code\">{}</td></tr>",
                escape(text.unwrap_or(""))
            );
        }
        html.push_str("</tbody>\n</table>\n");
        page_end(&mut html);
        html
    }
}

impl HtmlReport {
    /// One test's page: what it executed, per file, as runs of consecutive coverable lines
    /// linked to the file pages.
    fn test_page(
        &self,
        view: &CoverageView,
        test_idx: usize,
        page_names: &BTreeMap<&str, String>,
    ) -> String {
        let test = &view.tests[test_idx];
        let mut html = String::new();
        page_start(
            &mut html,
            &format!("T{} {} · {}", test_idx + 1, test.display_name(), self.title),
        );
        let _ = write!(
            html,
            "<header class=\"top\"><p class=\"crumbs\"><a href=\"../index.html\">{}</a> / test</p>\
             <h1><span class=\"tag big\">T{}</span> {}</h1><p class=\"subtitle\">id <code>{}</code></p></header>\n<main>\n",
            escape(&self.title),
            test_idx + 1,
            escape(test.display_name()),
            escape(&test.id),
        );
        let n_lines = test.covered_lines();
        let coverable: usize = view.files.values().map(|file| file.lines.len()).sum();
        let covered_branches: u64 = test.files.values().map(|file| file.covered_branches).sum();
        let total_branches: u64 = test.files.values().map(|file| file.total_branches).sum();
        html.push_str("<section class=\"cards\">\n");
        for (label, value, detail) in [
            (
                "Lines",
                n_lines.to_string(),
                format!(
                    "{} of all {coverable} coverable",
                    format_percent(n_lines as u64, coverable as u64)
                ),
            ),
            (
                "Branches",
                format!("{covered_branches}/{total_branches}"),
                "outcomes taken in the files it touched".to_owned(),
            ),
            (
                "Files",
                test.files_touched().to_string(),
                format!("of {}", view.files.len()),
            ),
        ] {
            let _ = writeln!(
                html,
                "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{}</div>\
                 <div class=\"detail\">{}</div></div>",
                escape(&value),
                escape(&detail),
            );
        }
        html.push_str("</section>\n");

        html.push_str(
            "<h2>Lines it executed</h2>\n<table class=\"summary test-files\">\n<thead><tr><th class=\"name\">File</th>\
             <th class=\"count\">Lines</th><th class=\"count\">Branches</th><th class=\"ranges\">Where</th></tr></thead>\n<tbody>\n",
        );
        for (path, detail) in &test.files {
            let Some(page_name) = page_names.get(path.as_str()) else {
                continue;
            };
            let coverable_lines = view.files.get(path).map(|file| &file.lines);
            let ranges = covered_runs(&detail.covered_lines, coverable_lines);
            let _ = write!(
                html,
                "<tr><td class=\"name\"><a href=\"../files/{}\">{}</a></td><td class=\"count\">{}</td>\
                 <td class=\"count\">{}/{}</td><td class=\"ranges\">",
                escape(page_name),
                escape(path),
                detail.covered_lines.len(),
                detail.covered_branches,
                detail.total_branches,
            );
            for (run_idx, (first, last)) in ranges.iter().enumerate() {
                if run_idx > 0 {
                    html.push_str(", ");
                }
                let _ = write!(
                    html,
                    "<a href=\"../files/{}#L{first}\">{}</a>",
                    escape(page_name),
                    if first == last {
                        first.to_string()
                    } else {
                        format!("{first}–{last}")
                    },
                );
            }
            html.push_str("</td></tr>\n");
        }
        if test.files.is_empty() {
            html.push_str(
                "<tr><td class=\"empty\" colspan=\"4\">This test executed no line of the report's files.</td></tr>\n",
            );
        }
        html.push_str("</tbody>\n</table>\n");
        page_end(&mut html);
        html
    }
}

/// `t<n>.html` for the test at `test_idx` (`n` counts from 1, as the `T<n>` tags do).
fn test_page_name(test_idx: usize) -> String {
    format!("t{}.html", test_idx + 1)
}

/// The covered lines as runs `(first, last)`: a run goes on while the next *coverable* line
/// is covered too, so blank lines and comments between covered lines do not split it.
/// Without the file's coverable lines, only consecutive numbers make a run.
fn covered_runs(covered: &[u32], coverable: Option<&BTreeMap<u32, u64>>) -> Vec<(u32, u32)> {
    let covered_set: BTreeSet<u32> = covered.iter().copied().collect();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    let mut previous: Option<u32> = None;
    for &line in &covered_set {
        let continues = match (previous, coverable) {
            (Some(previous), Some(coverable)) => coverable
                .range(previous + 1..line)
                .all(|(between, _)| covered_set.contains(between)),
            (Some(previous), None) => line == previous + 1,
            (None, _) => false,
        };
        match runs.last_mut() {
            Some(run) if continues => run.1 = line,
            _ => runs.push((line, line)),
        }
        previous = Some(line);
    }
    runs
}

/// How a source line is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineStatus {
    /// Not a coverable line (comments, blank lines, signatures the mapping does not cover).
    NotCoverable,
    /// Coverable and never executed.
    Uncovered,
    /// Executed, but some of its branch outcomes were never taken.
    Partial,
    /// Executed, with every branch outcome on it taken.
    Covered,
}

impl LineStatus {
    fn of(count: Option<u64>, branches: Option<BranchTally>) -> Self {
        match count {
            None => LineStatus::NotCoverable,
            Some(0) => LineStatus::Uncovered,
            Some(_) if branches.is_some_and(|tally| tally.lower < tally.total) => {
                LineStatus::Partial
            }
            Some(_) => LineStatus::Covered,
        }
    }

    fn class(self) -> &'static str {
        match self {
            LineStatus::NotCoverable => "plain",
            LineStatus::Uncovered => "uncovered",
            LineStatus::Partial => "partial",
            LineStatus::Covered => "covered",
        }
    }
}

/// The branch outcomes of one line across the run, as far as the snapshots tell.
///
/// Snapshots carry per line only how many outcomes there are and how many were taken, not
/// which, so when several snapshots took some, the union is known only within bounds. The
/// Tusk CLI (and the aggregate, the other reports and the percentages here) counts the
/// upper bound, `min(sum, total)`; a line page shows the range, so a condition that every
/// test evaluated the same way is not shown as fully taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BranchTally {
    /// Outcomes on the line.
    total: u32,
    /// At least this many were taken: the most any single test took (or, when no test
    /// evaluated the condition, the merged count, which is then the baseline's alone).
    lower: u32,
    /// At most this many: the merged count, the Tusk CLI's figure.
    upper: u32,
}

impl BranchTally {
    fn of(view: &CoverageView, path: &str, line: u32, merged: LineBranches) -> Self {
        let most_by_one_test = view
            .tests
            .iter()
            .filter_map(|test| test.files.get(path)?.branches.get(&line))
            .map(|branches| branches.covered)
            .max();
        let upper = merged.covered.min(merged.total);
        let lower = most_by_one_test.map_or(upper, |covered| covered.min(upper));
        Self {
            total: merged.total,
            lower,
            upper,
        }
    }

    fn write_cell(self, html: &mut String) {
        let class = if self.lower >= self.total {
            "full"
        } else if self.upper == 0 {
            "none"
        } else {
            "some"
        };
        if self.lower == self.upper {
            let _ = write!(
                html,
                "<span class=\"brs {class}\" title=\"{} of {} branch outcomes taken\">{}/{}</span>",
                self.upper, self.total, self.upper, self.total,
            );
        } else {
            let _ = write!(
                html,
                "<span class=\"brs {class}\" title=\"between {} and {} of {} branch outcomes taken: \
                 the per-test snapshots do not say which (the Tusk CLI counts {})\">{}–{}/{}</span>",
                self.lower, self.upper, self.total, self.upper, self.lower, self.upper, self.total,
            );
        }
    }
}

/// The expandable list of tests that executed a line.
fn tests_cell(html: &mut String, view: &CoverageView, test_indices: &[usize]) {
    let names: Vec<&str> = test_indices
        .iter()
        .map(|&test_idx| view.tests[test_idx].display_name())
        .collect();
    let _ = write!(
        html,
        "<details><summary title=\"{}\">{} {}</summary><ol>",
        escape(&names.join("\n")),
        test_indices.len(),
        plural(test_indices.len(), "test", "tests"),
    );
    for (&test_idx, name) in test_indices.iter().zip(&names) {
        let _ = write!(
            html,
            "<li><span class=\"tag\">T{}</span> <a href=\"../tests/{}\">{}</a></li>",
            test_idx + 1,
            test_page_name(test_idx),
            escape(name)
        );
    }
    html.push_str("</ol></details>");
}

/// The summary cards: lines, branches, then `extra` as `(label, value, detail)`.
fn cards(html: &mut String, totals: &Totals, extra: &[(&str, String, String)]) {
    html.push_str("<section class=\"cards\">\n");
    for (label, covered, total) in [
        ("Lines", totals.covered_lines as u64, totals.lines as u64),
        ("Branches", totals.covered_branches, totals.branches),
    ] {
        let _ = writeln!(
            html,
            "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value {}\">{}</div>\
             <div class=\"detail\">{covered} of {total} covered</div>{}</div>",
            level(covered, total),
            format_percent(covered, total),
            bar(covered, total),
        );
    }
    for (label, value, detail) in extra {
        let _ = writeln!(
            html,
            "<div class=\"card\"><div class=\"label\">{}</div><div class=\"value\">{}</div>\
             <div class=\"detail\">{}</div></div>",
            escape(label),
            escape(value),
            escape(detail),
        );
    }
    html.push_str("</section>\n");
}

/// Three cells: a bar, the percentage and `covered/total`; dashes when there is nothing.
fn ratio_cells(html: &mut String, covered: u64, total: u64) {
    if total == 0 {
        html.push_str(
            "<td class=\"bar-col\"></td><td class=\"pct none\">–</td><td class=\"count\">–</td>",
        );
        return;
    }
    let _ = write!(
        html,
        "<td class=\"bar-col\">{}</td><td class=\"pct {}\">{}</td><td class=\"count\">{covered}/{total}</td>",
        bar(covered, total),
        level(covered, total),
        format_percent(covered, total),
    );
}

fn bar(covered: u64, total: u64) -> String {
    if total == 0 {
        return String::new();
    }
    format!(
        "<div class=\"bar\"><div class=\"fill {}\" style=\"width: {:.1}%\"></div></div>",
        level(covered, total),
        percent(covered, total),
    )
}

/// The colour class of a percentage: `high` from 80 %, `medium` from 50 %, else `low`.
fn level(covered: u64, total: u64) -> &'static str {
    if total == 0 {
        return "none";
    }
    let value = percent(covered, total);
    if value >= 80.0 {
        "high"
    } else if value >= 50.0 {
        "medium"
    } else {
        "low"
    }
}

fn format_percent(covered: u64, total: u64) -> String {
    if total == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", percent(covered, total))
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A unique, flat page name per path: `/` and every character other than ASCII letters,
/// digits, `.`, `-` and `_` become `_`; a name taken by an earlier path gets `-2`, `-3`…
fn page_names<'a>(paths: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, String> {
    let mut taken = BTreeSet::new();
    let mut names = BTreeMap::new();
    for path in paths {
        let stem: String = path
            .trim_start_matches('/')
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = format!("{stem}.html");
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{stem}-{n}.html");
            n += 1;
        }
        names.insert(path, name);
    }
    names
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

fn page_start(html: &mut String, title: &str) {
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
         <meta name=\"generator\" content=\"{GENERATOR}\" />\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(title)
    );
}

fn page_end(html: &mut String) {
    html.push_str("</main>\n</body>\n</html>\n");
}

/// The `generator` meta tag of every page, so a tool can tell a directory holds this report
/// before it replaces it.
pub const GENERATOR: &str = "cov-report html report";

/// The one stylesheet, inlined into every page.
const STYLE: &str = r#"
:root {
  --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --high: #1a7f37; --medium: #9a6700; --low: #cf222e;
  --covered-bg: #e6ffec; --covered-edge: #4ac26b;
  --partial-bg: #fff8c5; --partial-edge: #d4a72c;
  --uncovered-bg: #ffebe9; --uncovered-edge: #ff8182;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { padding: 20px 32px 16px; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top h1 { margin: 0; font-size: 22px; font-weight: 600; }
header.top h1.path { font-family: var(--mono); font-size: 18px; word-break: break-all; }
header.top .subtitle, header.top .crumbs { margin: 2px 0 0; color: var(--muted); }
header.top .crumbs { margin: 0 0 2px; }
main { padding: 20px 32px 40px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { flex: 0 1 220px; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; background: var(--bg); }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
.card .value { font-size: 26px; font-weight: 600; line-height: 1.3; }
.card .detail { color: var(--muted); font-size: 12px; }
.card .bar { margin-top: 8px; width: 100%; }
.high { color: var(--high); } .medium { color: var(--medium); } .low { color: var(--low); } .none { color: var(--muted); }
.bar { display: inline-block; vertical-align: middle; width: 120px; height: 8px; border-radius: 4px; background: #eaeef2; overflow: hidden; }
.bar .fill { height: 100%; border-radius: 4px; }
.fill.high { background: var(--high); } .fill.medium { background: #d4a72c; } .fill.low { background: var(--low); }
table { border-collapse: collapse; }
table.summary { width: 100%; border: 1px solid var(--line); border-radius: 8px; }
table.summary th, table.summary td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
table.summary thead th { background: var(--panel); font-size: 12px; color: var(--muted); font-weight: 600; }
table.summary tbody tr:hover { background: var(--panel); }
table.summary tfoot td { font-weight: 600; background: var(--panel); }
table.summary tfoot td.name { font-family: inherit; font-size: 14px; }
table.summary td.name { font-family: var(--mono); font-size: 13px; width: 100%; white-space: normal; word-break: break-all; }
table.tests td.name { font-family: inherit; font-size: 14px; }
table.summary .pct, table.summary .count { text-align: right; font-variant-numeric: tabular-nums; }
td.pct { font-weight: 600; }
td.empty { color: var(--muted); text-align: center; }
.tag.big { font-size: 15px; padding: 1px 10px; vertical-align: 3px; }
table.test-files td.name { width: auto; white-space: nowrap; }
table.summary td.ranges { width: 100%; font-family: var(--mono); font-size: 12px; white-space: normal; }
.tag { display: inline-block; min-width: 2.4em; padding: 0 6px; border-radius: 10px; background: #ddf4ff; color: #0550ae;
  font-size: 11px; font-weight: 600; text-align: center; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
p.legend .hint { margin-left: 8px; }
ul.test-list { list-style: none; padding: 0; margin: 16px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
p.legend { margin: 18px 0 8px; color: var(--muted); font-size: 12px; }
.key { display: inline-block; padding: 0 8px; margin-right: 8px; border-left: 4px solid; border-radius: 2px; }
.key.covered { background: var(--covered-bg); border-color: var(--covered-edge); }
.key.partial { background: var(--partial-bg); border-color: var(--partial-edge); }
.key.uncovered { background: var(--uncovered-bg); border-color: var(--uncovered-edge); }
p.note { padding: 8px 12px; border: 1px solid var(--partial-edge); background: var(--partial-bg); border-radius: 6px; }
table.source { width: 100%; border: 1px solid var(--line); font-family: var(--mono); font-size: 12.5px; line-height: 20px; }
table.source thead th { position: sticky; top: 0; z-index: 1; background: var(--panel); color: var(--muted);
  font: 600 12px/28px -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  text-align: left; padding: 0 8px; border-bottom: 1px solid var(--line); }
table.source td { padding: 0 8px; vertical-align: top; white-space: nowrap; }
table.source td.num { text-align: right; color: var(--muted); border-left: 4px solid transparent; user-select: none; }
table.source td.num a { color: inherit; }
table.source td.hits, table.source td.br { text-align: right; color: var(--muted); font-variant-numeric: tabular-nums; }
table.source td.tests { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; font-size: 12px; }
table.source td.code { white-space: pre; tab-size: 4; width: 100%; border-left: 1px solid var(--line); }
tr.covered td { background: var(--covered-bg); } tr.covered td.num { border-left-color: var(--covered-edge); }
tr.partial td { background: var(--partial-bg); } tr.partial td.num { border-left-color: var(--partial-edge); }
tr.uncovered td { background: var(--uncovered-bg); } tr.uncovered td.num { border-left-color: var(--uncovered-edge); }
tr.uncovered td.hits { color: var(--low); font-weight: 600; }
tr:target td { background: #ddf4ff; }
.brs { display: inline-block; padding: 0 5px; border-radius: 4px; font-size: 11px; line-height: 16px; font-weight: 600; }
.brs.full { background: #aceebb; color: #116329; } .brs.some { background: #f5e0a0; color: #7d4e00; } .brs.none { background: #ffcecb; color: #a40e26; }
details { position: relative; }
details summary { cursor: pointer; color: #0969da; white-space: nowrap; list-style: none; }
details summary::-webkit-details-marker { display: none; }
details summary::before { content: "▸ "; color: var(--muted); }
details[open] summary::before { content: "▾ "; }
details ol { position: absolute; z-index: 2; left: 0; top: 20px; margin: 0; padding: 6px 10px; min-width: 260px; list-style: none;
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; box-shadow: 0 8px 24px rgba(140,149,159,.3); }
details ol li { white-space: nowrap; line-height: 22px; }
"#;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use quick_xml::Reader;
    use quick_xml::events::Event;

    use super::*;
    use crate::aggregate::Aggregate;
    use cov_core::model::SnapshotKind;
    use cov_core::record::SnapshotRecord;

    /// `(path, [(line, count)], [(line, branch total, branch covered)])`.
    type FileSpec<'a> = (&'a str, &'a [(u32, u64)], &'a [(u32, u32, u32)]);

    fn record(kind: SnapshotKind, files: &[FileSpec<'_>]) -> SnapshotRecord {
        let mut record = SnapshotRecord::new(kind);
        for &(path, lines, branches) in files {
            record.files.insert(
                path.to_owned(),
                FileRecord {
                    lines: lines.iter().copied().collect(),
                    branches: branches
                        .iter()
                        .map(|&(line, total, covered)| (line, LineBranches { total, covered }))
                        .collect(),
                },
            );
        }
        record
    }

    /// A small run: `src/shop.rs` with an `if` on line 3 that both tests took one side of
    /// (the Tusk CLI's merge says 2/2, the page says 1–2/2), `src/a b.rs` and `src/a_b.rs`
    /// (whose page names collide) without source.
    fn sample_view() -> CoverageView {
        let mut aggregate = Aggregate::new();
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            &[
                (
                    "src/shop.rs",
                    &[(1, 1), (2, 0), (3, 0), (4, 0), (5, 0), (7, 0)],
                    &[(3, 2, 0)],
                ),
                ("src/a b.rs", &[(1, 0), (2, 0)], &[]),
                ("src/a_b.rs", &[(1, 0)], &[]),
            ],
        ));
        aggregate.add_test(
            "trace-1",
            "GET /price?<b>&\"x\"",
            record(
                SnapshotKind::Delta,
                &[("src/shop.rs", &[(2, 1), (3, 1), (4, 1)], &[(3, 2, 1)])],
            ),
        );
        aggregate.add_test(
            "trace-2",
            "",
            record(
                SnapshotKind::Delta,
                &[
                    ("src/shop.rs", &[(2, 2), (3, 2), (4, 2)], &[(3, 2, 1)]),
                    ("src/a b.rs", &[(1, 1)], &[]),
                ],
            ),
        );
        aggregate.view()
    }

    const SHOP_SOURCE: &str = "\
fn main() {
    let price = parse(\"<10>\");
    if price > 5 && 'x' != 'y' {
        expensive(&price);
    } else {
        cheap();
    }
}
";

    fn render() -> BTreeMap<String, String> {
        HtmlReport::new()
            .title("Shop <coverage>")
            .render(&sample_view(), |path| {
                (path == "src/shop.rs").then(|| SHOP_SOURCE.to_owned())
            })
            .into_iter()
            .collect()
    }

    /// Reads a page back as XML (failing on any unbalanced or malformed markup) and
    /// writes one line per table row of `table_class`: the row's id and class, then its
    /// cells' text separated by `|`. In a tests cell only the `T<n>` tags are kept.
    fn table_digest(page: &str, table_class: &str) -> String {
        let mut reader = Reader::from_str(page);
        let mut stack: Vec<(String, String)> = Vec::new();
        let mut digest = String::new();
        let mut in_table = false;
        let mut row: Option<(String, Vec<String>)> = None;
        loop {
            let event = reader.read_event().expect("the page is well-formed XML");
            match event {
                Event::Start(element) => {
                    let name = String::from_utf8_lossy(element.name().as_ref()).into_owned();
                    let attribute = |key: &str| {
                        element
                            .try_get_attribute(key)
                            .expect("attributes parse")
                            .map(|value| String::from_utf8_lossy(&value.value).into_owned())
                            .unwrap_or_default()
                    };
                    let class = attribute("class");
                    if name == "table" && class.split(' ').any(|part| part == table_class) {
                        in_table = true;
                    }
                    if in_table && name == "tr" && stack.iter().any(|(name, _)| name == "tbody") {
                        let id = attribute("id");
                        let head = if id.is_empty() {
                            class.clone()
                        } else {
                            format!("{id} {class}")
                        };
                        row = Some((head, Vec::new()));
                    }
                    if let Some((_, cells)) = row.as_mut().filter(|_| name == "td") {
                        cells.push(String::new());
                    }
                    stack.push((name, class));
                }
                Event::End(_) => {
                    let (name, _) = stack.pop().expect("balanced tags");
                    if name == "table" && in_table {
                        in_table = false;
                    }
                    if name == "tr"
                        && let Some((head, cells)) = row.take()
                    {
                        let _ = writeln!(digest, "{head}: {}", cells.join(" | ").trim_end());
                    }
                }
                Event::Text(_) | Event::GeneralRef(_) => {
                    let text = match &event {
                        Event::Text(text) => text.decode().expect("utf-8").into_owned(),
                        Event::GeneralRef(reference) => {
                            match reference.decode().expect("utf-8").as_ref() {
                                "amp" => "&".to_owned(),
                                "lt" => "<".to_owned(),
                                "gt" => ">".to_owned(),
                                "quot" => "\"".to_owned(),
                                "#39" => "'".to_owned(),
                                other => panic!("unexpected entity &{other};"),
                            }
                        }
                        _ => unreachable!(),
                    };
                    let in_tests_cell = stack
                        .iter()
                        .any(|(name, class)| name == "td" && class == "tests");
                    let in_tag = stack.last().is_some_and(|(_, class)| class == "tag");
                    if let Some((_, cells)) = row.as_mut() {
                        if in_tests_cell && !in_tag {
                            continue;
                        }
                        let cell = cells.last_mut().expect("text inside a cell");
                        if in_tests_cell && !cell.is_empty() {
                            cell.push(' ');
                        }
                        cell.push_str(&text);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(stack.is_empty(), "unclosed elements: {stack:?}");
        digest
    }

    #[test]
    fn index_lists_files_and_tests_with_percentages() {
        let pages = render();
        let names: Vec<&str> = pages.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "files/src_a_b.rs-2.html",
                "files/src_a_b.rs.html",
                "files/src_shop.rs.html",
                "index.html",
                "tests/t1.html",
                "tests/t2.html"
            ]
        );
        let index = &pages["index.html"];
        assert_eq!(
            table_digest(index, "summary"),
            "\
: src/a b.rs |  | 50.0% | 1/2 |  | – | – | 1
: src/a_b.rs |  | 0.0% | 0/1 |  | – | – | 0
: src/shop.rs |  | 66.7% | 4/6 |  | 100.0% | 2/2 | 2
: T1 | GET /price?<b>&\"x\" | 3 | 1/2 | 1
: T2 | trace-2 | 4 | 1/2 | 2
"
        );
        assert!(index.contains("<title>Shop &lt;coverage&gt;</title>"));
        assert!(index.contains("href=\"files/src_a_b.rs-2.html\">src/a_b.rs<"));
    }

    #[test]
    fn file_page_marks_lines_counts_branches_and_tests() {
        let pages = render();
        let page = &pages["files/src_shop.rs.html"];
        assert_eq!(
            table_digest(page, "source"),
            r#"L1 covered: 1 | 1 |  |  | fn main() {
L2 covered: 2 | 3 |  | T1 T2 |     let price = parse("<10>");
L3 partial: 3 | 3 | 1–2/2 | T1 T2 |     if price > 5 && 'x' != 'y' {
L4 covered: 4 | 3 |  | T1 T2 |         expensive(&price);
L5 uncovered: 5 | 0 |  |  |     } else {
L6 plain: 6 |  |  |  |         cheap();
L7 uncovered: 7 | 0 |  |  |     }
L8 plain: 8 |  |  |  | }
"#
        );
        assert!(page.contains("title=\"GET /price?&lt;b&gt;&amp;&quot;x&quot;\ntrace-2\""));
        assert!(page.contains("href=\"../index.html\""));
    }

    #[test]
    fn file_without_source_lists_only_its_coverable_lines() {
        let pages = render();
        // "src/a b.rs" sorts first and keeps the plain name; "src/a_b.rs" gets "-2".
        let page = &pages["files/src_a_b.rs.html"];
        assert!(page.contains("could not be read"));
        assert_eq!(
            table_digest(page, "source"),
            "L1 covered: 1 | 1 |  | T2 |\nL2 uncovered: 2 | 0 |  |  |\n"
        );
        assert_eq!(
            table_digest(&pages["files/src_a_b.rs-2.html"], "source"),
            "L1 uncovered: 1 | 0 |  |  |\n"
        );
    }

    #[test]
    fn branch_tally_is_exact_when_one_snapshot_took_the_outcomes() {
        let mut aggregate = Aggregate::new();
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            &[(
                "a.rs",
                &[(1, 1), (2, 0), (3, 0)],
                &[(1, 2, 1), (2, 2, 0), (3, 4, 0)],
            )],
        ));
        aggregate.add_test(
            "t1",
            "",
            record(
                SnapshotKind::Delta,
                &[("a.rs", &[(2, 1), (3, 1)], &[(2, 2, 1), (3, 4, 1)])],
            ),
        );
        aggregate.add_test(
            "t2",
            "",
            record(SnapshotKind::Delta, &[("a.rs", &[(3, 1)], &[(3, 4, 3)])]),
        );
        let view = aggregate.view();
        let tally =
            |line: u32| BranchTally::of(&view, "a.rs", line, view.files["a.rs"].branches[&line]);
        let bounds = |line: u32| {
            let tally = tally(line);
            (tally.lower, tally.upper, tally.total)
        };
        assert_eq!(bounds(1), (1, 1, 2), "only the baseline took it: exact");
        assert_eq!(bounds(2), (1, 1, 2), "one test took it: exact");
        assert_eq!(
            bounds(3),
            (3, 4, 4),
            "two tests: at least the larger, at most the sum"
        );
    }

    #[test]
    fn test_pages_list_what_each_test_executed() {
        let pages = render();
        assert_eq!(
            table_digest(&pages["tests/t2.html"], "test-files"),
            "\
: src/a b.rs | 1 | 0/0 | 1
: src/shop.rs | 3 | 1/2 | 2–4
"
        );
        let first = &pages["tests/t1.html"];
        assert!(first.contains("GET /price?&lt;b&gt;&amp;&quot;x&quot;"));
        assert!(first.contains("href=\"../files/src_shop.rs.html#L2\""));
        assert!(pages["index.html"].contains("href=\"tests/t2.html\">trace-2<"));
    }

    #[test]
    fn covered_runs_bridge_lines_that_are_not_coverable() {
        let coverable: BTreeMap<u32, u64> = [(1, 0), (2, 0), (5, 0), (6, 0), (7, 0), (9, 0)]
            .into_iter()
            .collect();
        // 2 and 5 are adjacent coverable lines; 6 is coverable and not covered.
        assert_eq!(
            covered_runs(&[1, 2, 5, 7, 9], Some(&coverable)),
            [(1, 5), (7, 9)]
        );
        assert_eq!(
            covered_runs(&[1, 2, 5, 7, 9], None),
            [(1, 2), (5, 5), (7, 7), (9, 9)]
        );
        assert_eq!(covered_runs(&[], Some(&coverable)), []);
    }

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain ü"), "plain ü");
    }

    #[test]
    fn page_names_are_flat_and_unique() {
        let names = page_names(["/abs/x.rs", "abs/x.rs", "a/../b.rs"].into_iter());
        assert_eq!(names["/abs/x.rs"], "abs_x.rs.html");
        assert_eq!(names["abs/x.rs"], "abs_x.rs-2.html");
        assert_eq!(names["a/../b.rs"], "a_.._b.rs.html");
    }
}
