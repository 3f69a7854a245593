//! A self-contained HTML report: an index with per-file percentages and per-test totals,
//! one page per file with its source, hit counts, branch outcomes and, for every line, the
//! tests that executed it, and one page per test with the lines it executed.
//!
//! The report is a directory of static pages, one stylesheet (`report.css`) and one small
//! script (`report.js`): no web font, nothing fetched from elsewhere, so it opens from disk,
//! in CI artifacts and offline. The expandable list of tests on each line is a `<details>`
//! element (its summary also carries the names as a hover title), so every page is
//! complete without the script, which only adds sortable tables and the `n`/`p` keys that
//! jump between lines not fully covered.
//!
//! The pages are written with [`maud`]'s `html!` templates, which are checked when this
//! crate compiles and escape every interpolated value unless it is explicitly marked
//! pre-escaped (here: nothing but the doctype). Paths, source text and test names therefore
//! cannot inject markup, however they are spelt. We chose maud over askama because the
//! templates stay Rust code next to the data they show: no template files to keep in sync
//! with the structs that fill them, and no second syntax. The stylesheet and the script are
//! files of their own (`html/report.css`, `html/report.js`), compiled in with
//! `include_str!`.
//!
//! The file is over 800 lines only with its unit tests (about 90 lines); the templates of
//! the three kinds of page share their helpers, so they stay in one module.
//!
//! Like every report in this crate, this one does no I/O: the caller hands in the source of
//! each file through a lookup function and writes the returned files where it wants.
//!
//! ```
//! use cov_core::{WireFile, SnapshotKind, WireSnapshot};
//! use cov_report::Aggregate;
//! use cov_report::html::HtmlReport;
//!
//! let mut baseline = WireSnapshot::new(SnapshotKind::Baseline);
//! baseline.files.insert("src/lib.rs".into(), WireFile {
//!     lines: [(1, 0), (2, 0)].into_iter().collect(),
//!     ..WireFile::default()
//! });
//! let mut test = WireSnapshot::new(SnapshotKind::Delta);
//! test.files.insert("src/lib.rs".into(), WireFile {
//!     lines: [(1, 1)].into_iter().collect(),
//!     ..WireFile::default()
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
//! assert_eq!(files.last().unwrap().0, "report.js");
//! ```

use std::collections::{BTreeMap, BTreeSet};

use cov_core::model::LineBranches;
use cov_core::wire::WireFile;
use maud::{DOCTYPE, Markup, html};

use crate::aggregate::{CoverageView, Totals, percent};

/// The `generator` meta tag of every page, so a tool can tell a directory holds this report
/// before it replaces it.
pub const GENERATOR: &str = "cov-report html report";

/// The stylesheet every page links, written as `report.css` at the top of the report.
const STYLESHEET: &str = include_str!("html/report.css");

/// The script every page loads, written as `report.js` at the top of the report.
const SCRIPT: &str = include_str!("html/report.js");

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

/// Where a page lives: the index at the top of the report, the others one directory down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Depth {
    Top,
    Nested,
}

impl Depth {
    /// The relative path from a page at this depth to the top of the report.
    fn to_top(self) -> &'static str {
        match self {
            Depth::Top => "",
            Depth::Nested => "../",
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
    /// names it, or `None` when it cannot be read (the page then says so and lists the
    /// coverable lines without their text).
    ///
    /// Returns the files to write as `(path relative to the report directory, contents)`:
    /// `index.html` first, then one `files/<name>.html` per file of the view, in path order,
    /// then one `tests/t<n>.html` per test, in run order (`n` counts from 1), then the
    /// shared `report.css` and `report.js`.
    pub fn render(
        &self,
        view: &CoverageView,
        source: impl Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        let page_names = page_names(view.files.keys().map(String::as_str));
        let mut files = Vec::with_capacity(view.files.len() + view.tests.len() + 3);
        files.push(("index.html".to_owned(), self.index_page(view, &page_names)));
        for (path, file) in &view.files {
            let page_name = &page_names[path.as_str()];
            let contents = self.file_page(view, path, file, source(path).as_deref());
            files.push((format!("files/{page_name}"), contents));
        }
        for test_idx in 0..view.tests.len() {
            files.push((
                format!("tests/{}", test_page_name(test_idx)),
                self.test_page(view, test_idx, &page_names),
            ));
        }
        files.push(("report.css".to_owned(), STYLESHEET.to_owned()));
        files.push(("report.js".to_owned(), SCRIPT.to_owned()));
        files
    }

    /// The frame every page shares: head, the header band and `main`.
    fn page(&self, depth: Depth, title: &str, header: Markup, main: Markup) -> String {
        let to_top = depth.to_top();
        html! {
            (DOCTYPE) "\n"
            html lang="en" {
                "\n"
                head {
                    "\n"
                    meta charset="utf-8"; "\n"
                    meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
                    meta name="generator" content=(GENERATOR); "\n"
                    title { (title) } "\n"
                    link rel="stylesheet" href={ (to_top) "report.css" }; "\n"
                    script src={ (to_top) "report.js" } defer {} "\n"
                }
                "\n"
                body {
                    "\n"
                    header.top { (header) } "\n"
                    main { "\n" (main) } "\n"
                }
                "\n"
            }
            "\n"
        }
        .into_string()
    }

    fn index_page(&self, view: &CoverageView, page_names: &BTreeMap<&str, String>) -> String {
        let totals = view.totals();
        let header = html! {
            h1 { (self.title) }
            p.subtitle {
                @if view.has_baseline {
                    "Baseline and per-test coverage"
                } @else {
                    "Per-test coverage (no baseline: only executed lines are counted)"
                }
                " across " (totals.files) " " (plural(totals.files, "file", "files"))
                " and " (view.tests.len()) " " (plural(view.tests.len(), "test", "tests"))
            }
        };
        let main = html! {
            (cards(&totals, &[
                ("Files", totals.files.to_string(), format!("{} with covered lines", totals.covered_files)),
                ("Tests", view.tests.len().to_string(), "replayed and snapshotted".to_owned()),
            ]))
            h2 { "Files" } "\n"
            table.summary {
                thead {
                    tr {
                        th.name { "File" }
                        th.bar-col { "Lines" } th.pct { "%" } th.count { "Covered" }
                        th.bar-col { "Branches" } th.pct { "%" } th.count { "Covered" }
                        th.count { "Tests" }
                    }
                }
                "\n"
                tbody {
                    "\n"
                    @for (path, file) in &view.files {
                        @let file_totals = Totals::of_file(file);
                        @let n_tests = view.tests.iter().filter(|test| test.files.contains_key(path)).count();
                        tr {
                            td.name { a href={ "files/" (page_names[path.as_str()]) } { (path) } }
                            (ratio_cells(file_totals.covered_lines as u64, file_totals.lines as u64))
                            (ratio_cells(file_totals.covered_branches, file_totals.branches))
                            td.count data-sort=(n_tests) { (n_tests) }
                        }
                        "\n"
                    }
                }
                "\n"
                tfoot {
                    tr {
                        td.name { "Total" }
                        (ratio_cells(totals.covered_lines as u64, totals.lines as u64))
                        (ratio_cells(totals.covered_branches, totals.branches))
                        td.count { (view.tests.len()) }
                    }
                }
            }
            "\n"
            h2 { "Tests" } "\n"
            table.summary.tests {
                thead {
                    tr {
                        th.count { "#" } th.name { "Test" } th.count { "Lines" }
                        th.count { "Branches" } th.count { "Files" }
                    }
                }
                "\n"
                tbody {
                    "\n"
                    @for (test_idx, test) in view.tests.iter().enumerate() {
                        @let covered_branches: u64 = test.files.values().map(|file| file.covered_branches).sum();
                        @let total_branches: u64 = test.files.values().map(|file| file.total_branches).sum();
                        tr {
                            td.count data-sort=(test_idx + 1) { (test_tag(test_idx)) }
                            td.name { a href={ "tests/" (test_page_name(test_idx)) } { (test.display_name()) } }
                            td.count data-sort=(test.covered_lines()) { (test.covered_lines()) }
                            td.count data-sort=(covered_branches) { (covered_branches) "/" (total_branches) }
                            td.count data-sort=(test.files_touched()) { (test.files_touched()) }
                        }
                        "\n"
                    }
                    @if view.tests.is_empty() {
                        tr { td.empty colspan="5" { "No tests ran." } } "\n"
                    }
                }
            }
            "\n"
        };
        self.page(Depth::Top, &self.title, header, main)
    }

    fn file_page(
        &self,
        view: &CoverageView,
        path: &str,
        file: &WireFile,
        source: Option<&str>,
    ) -> String {
        let totals = Totals::of_file(file);
        let covered_by = view.covered_by.get(path);
        let tests_here: BTreeSet<usize> = covered_by
            .into_iter()
            .flat_map(|lines| lines.values().flatten().copied())
            .collect();
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

        let header = html! {
            p.crumbs { a href="../index.html" { (self.title) } " /" }
            h1.path { (path) }
        };
        let main = html! {
            (cards(&totals, &[(
                "Tests",
                tests_here.len().to_string(),
                format!("of {} executed this file", view.tests.len()),
            )]))
            @if !tests_here.is_empty() {
                ul.test-list {
                    "\n"
                    @for &test_idx in &tests_here {
                        @let test = &view.tests[test_idx];
                        @let n_lines = test.files.get(path).map_or(0, |file| file.covered_lines.len());
                        li {
                            (test_tag(test_idx)) " "
                            a href={ "../tests/" (test_page_name(test_idx)) } { (test.display_name()) } " "
                            span.muted { (n_lines) " " (plural(n_lines, "line", "lines")) }
                        }
                        "\n"
                    }
                }
                "\n"
            }
            p.legend {
                span.key.covered { "covered" }
                span.key.partial { "branch partly taken" }
                span.key.uncovered { "not covered" }
                span.hint {
                    "Branches: outcomes taken/total; " i { "1–2/2" } " when the per-test snapshots "
                    "cannot tell which (the totals count the upper end, as the Tusk CLI does). "
                    kbd { "n" } " / " kbd { "p" } ": next / previous line not fully covered."
                }
            }
            "\n"
            @if source.is_none() {
                p.note { "The source of this file could not be read; only its coverable lines are listed." }
                "\n"
            }
            table.source {
                thead {
                    tr {
                        th.num { "Line" } th.hits { "Hits" } th.br { "Branches" }
                        th.tests { "Tests" } th.code { "Source" }
                    }
                }
                "\n"
                tbody {
                    "\n"
                    @for line in 1..=last_line {
                        @let count = file.lines.get(&line).copied();
                        @if source.is_some() || count.is_some() {
                            @let branches = file
                                .branches
                                .get(&line)
                                .filter(|branches| branches.total > 0)
                                .map(|&merged| BranchTally::of(view, path, line, merged));
                            @let text = source_lines.get(line as usize - 1).copied().unwrap_or("");
                            tr id={ "L" (line) } class=(LineStatus::of(count, branches).class()) {
                                td.num { a href={ "#L" (line) } { (line) } }
                                td.hits { @if let Some(count) = count { (count) } }
                                td.br { @if let Some(tally) = branches { (tally.cell()) } }
                                td.tests {
                                    @if let Some(test_indices) = covered_by.and_then(|lines| lines.get(&line)) {
                                        (tests_cell(view, test_indices))
                                    }
                                }
                                td.code { (text) }
                            }
                            "\n"
                        }
                    }
                }
            }
            "\n"
        };
        self.page(
            Depth::Nested,
            &format!("{path} · {}", self.title),
            header,
            main,
        )
    }

    /// One test's page: what it executed, per file, as runs of consecutive coverable lines
    /// linked to the file pages.
    fn test_page(
        &self,
        view: &CoverageView,
        test_idx: usize,
        page_names: &BTreeMap<&str, String>,
    ) -> String {
        let test = &view.tests[test_idx];
        let n_lines = test.covered_lines();
        let coverable: usize = view.files.values().map(|file| file.lines.len()).sum();
        let covered_branches: u64 = test.files.values().map(|file| file.covered_branches).sum();
        let total_branches: u64 = test.files.values().map(|file| file.total_branches).sum();
        let header = html! {
            p.crumbs { a href="../index.html" { (self.title) } " / test" }
            h1 { span.tag.big { "T" (test_idx + 1) } " " (test.display_name()) }
            p.subtitle { "id " code { (test.id) } }
        };
        let main = html! {
            section.cards {
                "\n"
                (card("Lines", &n_lines.to_string(), &format!(
                    "{} of all {coverable} coverable",
                    format_percent(n_lines as u64, coverable as u64)
                )))
                (card("Branches", &format!("{covered_branches}/{total_branches}"), "outcomes taken in the files it touched"))
                (card("Files", &test.files_touched().to_string(), &format!("of {}", view.files.len())))
            }
            "\n"
            h2 { "Lines it executed" } "\n"
            table.summary.test-files {
                thead {
                    tr {
                        th.name { "File" } th.count { "Lines" } th.count { "Branches" } th.ranges { "Where" }
                    }
                }
                "\n"
                tbody {
                    "\n"
                    @for (path, detail) in &test.files {
                        @if let Some(page_name) = page_names.get(path.as_str()) {
                            @let coverable_lines = view.files.get(path).map(|file| &file.lines);
                            tr {
                                td.name { a href={ "../files/" (page_name) } { (path) } }
                                td.count data-sort=(detail.covered_lines.len()) { (detail.covered_lines.len()) }
                                td.count data-sort=(detail.covered_branches) {
                                    (detail.covered_branches) "/" (detail.total_branches)
                                }
                                td.ranges {
                                    @for (run_idx, (first, last)) in covered_runs(&detail.covered_lines, coverable_lines).into_iter().enumerate() {
                                        @if run_idx > 0 { ", " }
                                        a href={ "../files/" (page_name) "#L" (first) } {
                                            (first) @if first != last { "–" (last) }
                                        }
                                    }
                                }
                            }
                            "\n"
                        }
                    }
                    @if test.files.is_empty() {
                        tr { td.empty colspan="4" { "This test executed no line of the report's files." } } "\n"
                    }
                }
            }
            "\n"
        };
        self.page(
            Depth::Nested,
            &format!("T{} {} · {}", test_idx + 1, test.display_name(), self.title),
            header,
            main,
        )
    }
}

/// `t<n>.html` for the test at `test_idx` (`n` counts from 1, as the `T<n>` tags do).
fn test_page_name(test_idx: usize) -> String {
    format!("t{}.html", test_idx + 1)
}

/// The `T<n>` tag that names a test on every page.
fn test_tag(test_idx: usize) -> Markup {
    html! { span.tag { "T" (test_idx + 1) } }
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

    /// The branch cell: `taken/total`, or `lower–upper/total` when the snapshots leave a
    /// range, with the explanation as a hover title.
    fn cell(self) -> Markup {
        let class = if self.lower >= self.total {
            "full"
        } else if self.upper == 0 {
            "none"
        } else {
            "some"
        };
        if self.lower == self.upper {
            html! {
                span class={ "brs " (class) } title={ (self.upper) " of " (self.total) " branch outcomes taken" } {
                    (self.upper) "/" (self.total)
                }
            }
        } else {
            html! {
                span class={ "brs " (class) }
                    title={
                        "between " (self.lower) " and " (self.upper) " of " (self.total)
                        " branch outcomes taken: the per-test snapshots do not say which (the Tusk CLI counts "
                        (self.upper) ")"
                    } {
                    (self.lower) "–" (self.upper) "/" (self.total)
                }
            }
        }
    }
}

/// The expandable list of tests that executed a line.
fn tests_cell(view: &CoverageView, test_indices: &[usize]) -> Markup {
    let names: Vec<&str> = test_indices
        .iter()
        .map(|&test_idx| view.tests[test_idx].display_name())
        .collect();
    html! {
        details {
            summary title=(names.join("\n")) {
                (test_indices.len()) " " (plural(test_indices.len(), "test", "tests"))
            }
            ol {
                @for (&test_idx, name) in test_indices.iter().zip(&names) {
                    li { (test_tag(test_idx)) " " a href={ "../tests/" (test_page_name(test_idx)) } { (name) } }
                }
            }
        }
    }
}

/// The summary cards: lines, branches, then `extra` as `(label, value, detail)`.
fn cards(totals: &Totals, extra: &[(&str, String, String)]) -> Markup {
    html! {
        section.cards {
            "\n"
            @for (label, covered, total) in [
                ("Lines", totals.covered_lines as u64, totals.lines as u64),
                ("Branches", totals.covered_branches, totals.branches),
            ] {
                div.card {
                    div.label { (label) }
                    div class={ "value " (level(covered, total)) } { (format_percent(covered, total)) }
                    div.detail { (covered) " of " (total) " covered" }
                    (bar(covered, total))
                }
                "\n"
            }
            @for (label, value, detail) in extra {
                (card(label, value, detail))
            }
        }
        "\n"
    }
}

/// One card without a percentage: a label, a value and a line of detail.
fn card(label: &str, value: &str, detail: &str) -> Markup {
    html! {
        div.card { div.label { (label) } div.value { (value) } div.detail { (detail) } }
        "\n"
    }
}

/// Three cells: a bar, the percentage and `covered/total`; dashes when there is nothing.
/// The percentage and count cells carry the percentage as their sort key (-1 for none).
fn ratio_cells(covered: u64, total: u64) -> Markup {
    if total == 0 {
        return html! {
            td.bar-col {} td.pct.none data-sort="-1" { "–" } td.count data-sort="-1" { "–" }
        };
    }
    let sort_key = format!("{:.4}", percent(covered, total));
    html! {
        td.bar-col { (bar(covered, total)) }
        td class={ "pct " (level(covered, total)) } data-sort=(sort_key) { (format_percent(covered, total)) }
        td.count data-sort=(sort_key) { (covered) "/" (total) }
    }
}

fn bar(covered: u64, total: u64) -> Markup {
    if total == 0 {
        return html! {};
    }
    html! {
        div.bar {
            div class={ "fill " (level(covered, total)) }
                style={ "width: " (format!("{:.1}", percent(covered, total))) "%" } {}
        }
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aggregate::Aggregate;
    use cov_core::model::SnapshotKind;
    use cov_core::wire::WireSnapshot;

    /// `(path, [(line, count)], [(line, branch total, branch covered)])`.
    type FileSpec<'a> = (&'a str, &'a [(u32, u64)], &'a [(u32, u32, u32)]);

    fn record(kind: SnapshotKind, files: &[FileSpec<'_>]) -> WireSnapshot {
        let mut record = WireSnapshot::new(kind);
        for &(path, lines, branches) in files {
            record.files.insert(
                path.to_owned(),
                WireFile {
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
    fn page_names_are_flat_and_unique() {
        let names = page_names(["/abs/x.rs", "abs/x.rs", "a/../b.rs"].into_iter());
        assert_eq!(names["/abs/x.rs"], "abs_x.rs.html");
        assert_eq!(names["abs/x.rs"], "abs_x.rs-2.html");
        assert_eq!(names["a/../b.rs"], "a_.._b.rs.html");
    }
}
