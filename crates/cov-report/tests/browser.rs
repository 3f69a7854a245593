//! The HTML report in a real browser: every case under `tests/reports/` is written to a
//! temporary directory and each page is loaded from disk in headless Chromium (Debian's
//! `chromium`, installed by `cargo xtask test`). `--dump-dom` prints the document after its
//! scripts ran; on it we check that the report's script finished (it sets
//! `data-report-ready` on `<html>`), that a file page has a row for every line it should
//! show and, on every line some test executed, the list of those tests, and that nothing
//! was written to the console (Chromium logs console messages, uncaught errors included,
//! to stderr with `--enable-logging=stderr --v=0`).
//!
//! A missing `chromium` fails the test with a message saying to run `cargo xtask test`; it
//! is never skipped.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use cov_report::CoverageView;

/// What Chromium made of one page.
struct Loaded {
    /// The serialised DOM after the page's scripts ran.
    dom: String,
    /// The console messages it logged (each a line of Chromium's log).
    console: Vec<String>,
}

/// Loads `page` in headless Chromium with a fresh profile and no network activity of its
/// own, and returns the DOM after scripts ran and the console messages.
fn load(page: &Path) -> Loaded {
    let chromium = cov_testkit::debian_program("chromium", "chromium");
    let profile = tempfile::tempdir().expect("temp dir");
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", chromium.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chromium failed on {} with {}: {stderr}",
        page.display(),
        output.status
    );
    Loaded {
        dom: String::from_utf8(output.stdout).expect("chromium prints UTF-8"),
        console: stderr
            .lines()
            .filter(|line| line.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect(),
    }
}

/// Loads every page in `pages`, a few Chromiums at a time (most of a load is Chromium
/// starting), and returns what each made of its page, in order.
fn load_all(pages: &[PathBuf]) -> Vec<Loaded> {
    let next = AtomicUsize::new(0);
    let mut loaded: Vec<(usize, Loaded)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let page_idx = next.fetch_add(1, Ordering::Relaxed);
                        let Some(page) = pages.get(page_idx) else {
                            return mine;
                        };
                        mine.push((page_idx, load(page)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a loading thread panicked"))
            .collect()
    });
    loaded.sort_by_key(|&(page_idx, _)| page_idx);
    loaded.into_iter().map(|(_, loaded)| loaded).collect()
}

/// Writes the case's report into a fresh temporary directory.
fn write_report(case: &support::Case, case_dir: &Path) -> (tempfile::TempDir, Vec<String>) {
    let report_dir = tempfile::tempdir().expect("temp dir");
    let mut names = Vec::new();
    for (name, contents) in case.html(case_dir) {
        let path = report_dir.path().join(&name);
        std::fs::create_dir_all(path.parent().expect("in the report")).expect("mkdir");
        std::fs::write(&path, contents).expect("write the report");
        names.push(name);
    }
    (report_dir, names)
}

/// The rows of the source table in a dumped DOM: line number → the row's markup.
fn source_rows(dom: &str) -> Vec<(u32, &str)> {
    dom.split("<tr id=\"L")
        .skip(1)
        .map(|rest| {
            let number_end = rest.find('"').expect("the id attribute is closed");
            let line = rest[..number_end].parse().expect("row ids are L<number>");
            let row_end = rest.find("</tr>").expect("the row is closed");
            (line, &rest[..row_end])
        })
        .collect()
}

/// The lines a file page must show: every line of the source when there is one (and any
/// coverable line past its end), else the coverable lines only.
fn expected_lines(view: &CoverageView, path: &str, source: Option<&str>) -> BTreeSet<u32> {
    let file = &view.files[path];
    match source {
        Some(text) => {
            let last = file
                .lines
                .keys()
                .chain(file.branches.keys())
                .copied()
                .max()
                .unwrap_or(0)
                .max(u32::try_from(text.lines().count()).expect("a small file"));
            (1..=last).collect()
        }
        None => file.lines.keys().copied().collect(),
    }
}

#[test]
fn every_page_loads_in_chromium_with_its_lines_tests_and_no_script_error() {
    // Write every case's report, then load all their pages at once.
    let mut reports = Vec::new();
    let mut pages = Vec::new();
    for case_dir in support::case_dirs() {
        let case = support::Case::load(&case_dir.join("input.json"));
        let (report_dir, names) = write_report(&case, &case_dir);
        let html: Vec<String> = names
            .into_iter()
            .filter(|name| name.ends_with(".html"))
            .collect();
        pages.extend(html.iter().map(|name| report_dir.path().join(name)));
        reports.push((case_dir, case, report_dir, html));
    }
    let mut loaded = load_all(&pages).into_iter();

    let mut n_file_pages = 0;
    let mut n_lines_with_tests = 0;
    for (case_dir, case, _report_dir, html) in &reports {
        let view = case.aggregate().view();
        // `render` writes the index, then one page per file in the view's path order.
        let page_of_path: Vec<(&String, &String)> = view.files.keys().zip(&html[1..]).collect();
        for name in html {
            let loaded = loaded.next().expect("one load per page");
            let where_ = format!("{} {name}", case_dir.display());
            assert!(
                loaded.console.is_empty(),
                "{where_}: console messages:\n{}",
                loaded.console.join("\n")
            );
            assert!(
                loaded
                    .dom
                    .contains("<html lang=\"en\" data-report-ready=\"true\">"),
                "{where_}: the report's script did not finish:\n{}",
                loaded.dom
            );
            let Some((path, _)) = page_of_path.iter().find(|(_, page)| *page == name) else {
                continue;
            };
            n_file_pages += 1;
            let source = std::fs::read_to_string(case_dir.join("source").join(path)).ok();
            let rows = source_rows(&loaded.dom);
            let shown: BTreeSet<u32> = rows.iter().map(|&(line, _)| line).collect();
            assert_eq!(shown.len(), rows.len(), "{where_}: a line appears twice");
            assert_eq!(
                shown,
                expected_lines(&view, path, source.as_deref()),
                "{where_}: the page does not show the lines it should"
            );
            let covered_by = view.covered_by.get(path.as_str());
            for (line, row) in rows {
                let tests = covered_by.and_then(|lines| lines.get(&line));
                let tags: Vec<String> = row
                    .match_indices("<span class=\"tag\">T")
                    .map(|(at, _)| {
                        let rest = &row[at + "<span class=\"tag\">".len()..];
                        rest[..rest.find('<').expect("the tag is closed")].to_owned()
                    })
                    .collect();
                let expected: Vec<String> = tests
                    .into_iter()
                    .flatten()
                    .map(|test_idx| format!("T{}", test_idx + 1))
                    .collect();
                assert_eq!(tags, expected, "{where_}: the tests of line {line}");
                assert_eq!(
                    row.contains("<details>"),
                    tests.is_some(),
                    "{where_}: line {line} has a list of tests exactly when a test ran it"
                );
                n_lines_with_tests += usize::from(tests.is_some());
            }
        }
    }
    assert!(
        n_file_pages >= 10,
        "only {n_file_pages} file pages were checked"
    );
    assert!(
        n_lines_with_tests >= 10,
        "only {n_lines_with_tests} lines had tests"
    );
}

#[test]
fn a_link_to_a_line_opens_its_list_of_tests() {
    let case_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reports/shop");
    let case = support::Case::load(&case_dir.join("input.json"));
    let (report_dir, _) = write_report(&case, &case_dir);
    let page = report_dir.path().join("files/src_shop.rs.html");
    let rows_of = |dom: &str| -> Vec<(u32, bool)> {
        source_rows(dom)
            .into_iter()
            .map(|(line, row)| (line, row.contains("<details open=\"\">")))
            .collect()
    };
    let plain = load(&page);
    assert!(rows_of(&plain.dom).iter().all(|&(_, open)| !open));
    let linked = load(&page.with_file_name("src_shop.rs.html#L3"));
    let open: Vec<u32> = rows_of(&linked.dom)
        .into_iter()
        .filter_map(|(line, open)| open.then_some(line))
        .collect();
    assert_eq!(open, [3]);
}
