//! The LCOV report is accepted by a real consumer: `genhtml` (Debian package `lcov`,
//! installed by `cargo xtask test`) turns it into HTML without error, and its own summary
//! counts the same lines and branches as the aggregate. A missing genhtml is a failure.

mod support;

use std::path::Path;
use std::process::Command;

use cov_core::WireFile;
use cov_report::CoverageView;
use cov_report::lcov;

/// Runs a program from the `lcov` package; a missing program fails the test.
fn run_lcov_tool(program: &str, args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(cov_testkit::debian_program(program, "lcov"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

/// The view with every file moved under `dir`, where a source file with enough lines is
/// written for it (genhtml reads the sources it renders).
fn with_sources_in(view: &CoverageView, dir: &Path) -> CoverageView {
    let mut moved = view.clone();
    moved.files = view
        .files
        .iter()
        .map(|(path, file)| {
            let relative = path.trim_start_matches('/');
            let source = dir.join(relative);
            std::fs::create_dir_all(source.parent().expect("has a parent")).expect("mkdir");
            let n_lines = last_line(file);
            let text: String = (1..=n_lines)
                .map(|line| format!("// line {line}\n"))
                .collect();
            std::fs::write(&source, text).expect("write source");
            (
                source.to_str().expect("UTF-8 path").to_owned(),
                file.clone(),
            )
        })
        .collect();
    moved
}

fn last_line(file: &WireFile) -> u32 {
    let last_counted = file.lines.keys().next_back().copied().unwrap_or(1);
    let last_branch = file.branches.keys().next_back().copied().unwrap_or(1);
    last_counted.max(last_branch)
}

/// The summary line of genhtml's output that starts with `label` (e.g. `lines......:`).
fn summary_line<'a>(output: &'a str, label: &str) -> &'a str {
    output
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in genhtml's output:\n{output}"))
}

#[test]
fn genhtml_accepts_the_report_and_counts_what_the_aggregate_counts() {
    let input =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reports/restart_and_tests/input.json");
    let case = support::Case::load(&input);
    let dir = tempfile::tempdir().expect("temp dir");
    let view = with_sources_in(&case.aggregate().view(), dir.path());
    let totals = view.totals();
    assert!(totals.branches > 0, "the case must exercise branches");
    std::fs::write(dir.path().join("coverage.lcov"), lcov::render(&view)).expect("write lcov");

    let output = run_lcov_tool(
        "genhtml",
        &[
            "--branch-coverage",
            "--output-directory",
            "html",
            "coverage.lcov",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "genhtml rejected the report:\n{stdout}\n{stderr}"
    );
    assert!(
        dir.path().join("html/index.html").is_file(),
        "no index.html"
    );

    let lines = summary_line(&stdout, "lines......:");
    let expected_lines = format!("({} of {} lines)", totals.covered_lines, totals.lines);
    assert!(
        lines.contains(&expected_lines),
        "{lines} vs {expected_lines}"
    );
    let branches = summary_line(&stdout, "branches...:");
    let expected_branches = format!(
        "({} of {} branches)",
        totals.covered_branches, totals.branches
    );
    assert!(
        branches.contains(&expected_branches),
        "{branches} vs {expected_branches}"
    );
}

#[test]
fn genhtml_rejects_a_broken_tracefile() {
    // Proves the acceptance check above can fail: a record without `end_of_record` and
    // with a malformed DA line is an error for genhtml.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.rs"), "fn main() {}\n").expect("write source");
    std::fs::write(dir.path().join("broken.lcov"), "SF:a.rs\nDA:x,y\n").expect("write lcov");
    let output = run_lcov_tool(
        "genhtml",
        &["--output-directory", "html", "broken.lcov"],
        dir.path(),
    );
    assert!(
        !output.status.success(),
        "genhtml accepted a broken tracefile:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
