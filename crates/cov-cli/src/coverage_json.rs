//! The Tusk CLI's coverage JSON (`tusk drift run --coverage-output x.json`) read back into
//! the aggregate model the reports are written from.
//!
//! The file is `{summary, aggregate, per_test}` (`CoverageExport` in the CLI's
//! `internal/runner/coverage.go`, written by cov-core's `report::json` byte for byte too):
//!
//! - `aggregate`: path → `{lines: {"<line>": count}, total_branches, covered_branches,
//!   branches?: {"<line>": {total, covered}}}`, the run's merged coverage;
//! - `per_test`: trace id → path → `{covered_lines: [..], coverable_lines, covered_count,
//!   total_branches, covered_branches, branches?}`, each test's lines;
//! - `summary.per_test`: `[{test_id, test_name, covered_lines, files_touched}]` in run
//!   order, or `null` when no test ran; the only place the tests' names are.
//!
//! The paths are whatever the CLI wrote: repo-relative after its normalisation. Fields this
//! command does not need (the summary's totals, `covered_count`, the file-level branch
//! totals of the aggregate) are ignored, because they are derived from the others. A field
//! that is missing or has the wrong type is an error naming it by its path in the document
//! (`aggregate.src/main.rs.lines.12: invalid type: string "x", expected u64`).
//!
//! This module and [`crate::reports`] are the only ones that know cov-core's aggregate and
//! report types; the rest of the command works on the [`CoverageView`] this module returns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cov_core::{LineBranches, WireFile};
pub(crate) use cov_report::aggregate::CoverageView;
use cov_report::aggregate::{TestCoverage, TestFileCoverage};
use serde::Deserialize;

use crate::Error;

/// Reads and parses the coverage JSON at `path`.
pub(crate) fn read(path: &Path) -> Result<CoverageView, Error> {
    read_with_timestamp(path).map(|(view, _)| view)
}

/// Reads and parses the coverage JSON at `path`, with its `summary.timestamp` (empty when
/// the file has none).
pub(crate) fn read_with_timestamp(path: &Path) -> Result<(CoverageView, String), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let error = |message| Error::CoverageJson {
        path: path.to_owned(),
        message,
    };
    let view = parse(&text).map_err(error)?;
    let timestamp = serde_json::from_str::<Timestamped>(&text)
        .map(|export| export.summary.timestamp)
        .unwrap_or_default();
    Ok((view, timestamp))
}

/// The whole run of an instrumented Rust service, from its raw profile: the service's
/// files (under `source_root`, with the SDK's default omissions and the globs), with paths
/// relative to `source_root` and every line and branch outcome as llvm-cov counts them. No
/// tests: this is the true aggregate, which the CLI's per-test merge approximates.
pub(crate) fn from_profile(
    binary: &Path,
    profraw: &Path,
    source_root: &Path,
    include: &[String],
    exclude: &[String],
) -> Result<CoverageView, Error> {
    let offline = crate::load_offline(binary, profraw)?;
    let mut filter = cov_core::filter::SourceFilter::builder();
    filter.root(source_root);
    for glob in include {
        filter.include(glob);
    }
    for glob in exclude {
        filter.exclude(glob);
    }
    let filter = filter
        .build()
        .map_err(|error| Error::Glob(error.to_string()))?;
    let mut snapshot = cov_core::CoverageSnapshot::new(cov_core::SnapshotKind::Baseline);
    for (path, file) in &offline.snapshot().files {
        if !filter.matches(path) {
            continue;
        }
        let absolute = Path::new(path);
        let resolved = absolute
            .canonicalize()
            .unwrap_or_else(|_| absolute.to_owned());
        let relative = resolved
            .strip_prefix(filter.root())
            .map(|relative| relative.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| path.clone());
        snapshot.files.insert(relative, file.clone());
    }
    let record = cov_core::BranchCache::new().to_wire(&snapshot);
    Ok(CoverageView::new(record.files, Vec::new(), true))
}

#[derive(Deserialize)]
struct Timestamped {
    summary: TimestampSummary,
}

#[derive(Deserialize)]
struct TimestampSummary {
    #[serde(default)]
    timestamp: String,
}

/// Parses the coverage JSON into the view the reports are written from.
///
/// The tests are those of `summary.per_test`, in run order, one per trace id (a repeated id
/// keeps its first place: the CLI kept only its last detail anyway), followed by any test
/// that only `per_test` lists. Whether a baseline arrived is not recorded in the file; a
/// baseline lists every coverable line, executed or not, so the view says it had one when
/// some line of the aggregate has a count of 0.
pub(crate) fn parse(text: &str) -> Result<CoverageView, String> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let export: Export = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        if path == "." {
            error.inner().to_string()
        } else {
            format!("{path}: {}", error.inner())
        }
    })?;

    let files: BTreeMap<String, WireFile> = export
        .aggregate
        .into_iter()
        .map(|(path, file)| {
            let record = WireFile {
                lines: file.lines,
                branches: file.branches,
            };
            (path, record)
        })
        .collect();

    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let listed = export.summary.per_test.into_iter().flatten();
    let unlisted = export.per_test.keys().map(|id| TestSummary {
        test_id: id.clone(),
        test_name: String::new(),
    });
    for test in listed.chain(unlisted) {
        if seen.insert(test.test_id.clone()) {
            order.push((test.test_id, test.test_name));
        }
    }

    let mut per_test = export.per_test;
    let tests = order
        .into_iter()
        .map(|(id, name)| TestCoverage {
            files: per_test
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter(|(path, _)| files.contains_key(path))
                .map(|(path, diff)| (path, diff.into_detail()))
                .collect(),
            id,
            name,
        })
        .collect();

    let has_baseline = files
        .values()
        .any(|file| file.lines.values().any(|&count| count == 0));
    Ok(CoverageView::new(files, tests, has_baseline))
}

/// Several runs' views merged into one, as the Tusk CLI merges the tests of one run (the
/// shards of a suite replayed in parallel): per line the counts are summed; per branch line
/// the total is the larger one and covered the sum, clamped to that total (the CLI's rule,
/// which can overstate: docs/reports.md says how); tests in the order of the views, a trace
/// id seen in an earlier view kept from there. Also returns the trace ids left out.
pub(crate) fn merge(views: Vec<CoverageView>) -> (CoverageView, Vec<String>) {
    let mut files: BTreeMap<String, WireFile> = BTreeMap::new();
    let mut tests: Vec<TestCoverage> = Vec::new();
    let mut duplicates = Vec::new();
    for view in views {
        for (path, record) in &view.files {
            cov_report::aggregate::merge_test(files.entry(path.clone()).or_default(), record);
        }
        for test in view.tests {
            if tests.iter().any(|kept| kept.id == test.id) {
                duplicates.push(test.id);
            } else {
                tests.push(test);
            }
        }
    }
    let has_baseline = files
        .values()
        .any(|file| file.lines.values().any(|&count| count == 0));
    (CoverageView::new(files, tests, has_baseline), duplicates)
}

#[derive(Deserialize)]
struct Export {
    summary: Summary,
    aggregate: BTreeMap<String, AggregateFile>,
    // `null` in files written by hand or by older tools; the CLI writes `{}`.
    #[serde(default, deserialize_with = "null_as_empty")]
    per_test: BTreeMap<String, BTreeMap<String, FileDiff>>,
}

#[derive(Deserialize)]
struct Summary {
    per_test: Option<Vec<TestSummary>>,
}

#[derive(Deserialize)]
struct TestSummary {
    test_id: String,
    #[serde(default)]
    test_name: String,
}

#[derive(Deserialize)]
struct AggregateFile {
    lines: BTreeMap<u32, u64>,
    #[serde(default)]
    branches: BTreeMap<u32, LineBranches>,
}

#[derive(Deserialize)]
struct FileDiff {
    covered_lines: Vec<u32>,
    coverable_lines: usize,
    total_branches: u64,
    covered_branches: u64,
    #[serde(default)]
    branches: BTreeMap<u32, LineBranches>,
}

impl FileDiff {
    fn into_detail(self) -> TestFileCoverage {
        let mut covered_lines = self.covered_lines;
        covered_lines.sort_unstable();
        covered_lines.dedup();
        TestFileCoverage {
            covered_lines,
            coverable_lines: self.coverable_lines,
            total_branches: self.total_branches,
            covered_branches: self.covered_branches,
            branches: self.branches,
        }
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_by_its_path() {
        let bad_count = r#"{"summary": {"per_test": null}, "per_test": {},
            "aggregate": {"src/a.rs": {"lines": {"1": "many"}}}}"#;
        let error = parse(bad_count).expect_err("a string count");
        assert!(
            error.starts_with("aggregate.src/a.rs.lines.1: invalid type: string"),
            "{error}"
        );

        let bad_line = r#"{"summary": {"per_test": null}, "per_test": {},
            "aggregate": {"src/a.rs": {"lines": {"one": 1}}}}"#;
        let error = parse(bad_line).expect_err("a line that is not a number");
        assert!(error.starts_with("aggregate.src/a.rs.lines"), "{error}");

        let missing = r#"{"summary": {"per_test": null}, "aggregate": {}, "per_test":
            {"t1": {"src/a.rs": {"coverable_lines": 1, "total_branches": 0, "covered_branches": 0}}}}"#;
        let error = parse(missing).expect_err("no covered_lines");
        assert!(
            error.starts_with("per_test.t1.src/a.rs: missing field `covered_lines` at line 2"),
            "{error}"
        );

        let error = parse("42").expect_err("not an object");
        assert!(error.starts_with("invalid type: integer `42`"), "{error}");
    }

    #[test]
    fn the_json_writer_output_reads_back_as_the_view_it_was_written_from() {
        use cov_core::{SnapshotKind, WireSnapshot};
        use cov_report::Aggregate;
        let file = |lines: &[(u32, u64)], branches: &[(u32, u32, u32)]| WireFile {
            lines: lines.iter().copied().collect(),
            branches: branches
                .iter()
                .map(|&(line, total, covered)| (line, LineBranches { total, covered }))
                .collect(),
        };
        let record = |kind, files: Vec<(&str, WireFile)>| {
            let mut record = WireSnapshot::new(kind);
            for (path, file) in files {
                record.files.insert(path.to_owned(), file);
            }
            record
        };
        let mut aggregate = Aggregate::new();
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            vec![
                (
                    "src/a.rs",
                    file(&[(1, 1), (2, 0), (3, 0), (10, 0)], &[(2, 2, 0)]),
                ),
                ("src/b <&>.rs", file(&[(5, 0)], &[])),
            ],
        ));
        aggregate.add_test(
            "trace-2",
            "POST /orders <bulk> & more",
            record(
                SnapshotKind::Delta,
                vec![("src/a.rs", file(&[(2, 3), (10, 1)], &[(2, 2, 1)]))],
            ),
        );
        aggregate.add_test("trace-1", "", record(SnapshotKind::Delta, vec![]));
        aggregate.add_test(
            "trace-3",
            "GET /b",
            record(
                SnapshotKind::Delta,
                vec![
                    ("src/a.rs", file(&[(2, 1)], &[(2, 2, 2)])),
                    ("src/b <&>.rs", file(&[(5, 7)], &[])),
                ],
            ),
        );
        let view = aggregate.view();
        let text = cov_report::json::render(&view, "2026-12-01T12:00:00Z");
        assert_eq!(parse(&text).expect("reads back"), view);
    }

    #[test]
    fn names_come_from_the_summary_and_order_is_run_order() {
        let text = r#"{
          "summary": {"per_test": [
            {"test_id": "zz", "test_name": "GET /b", "covered_lines": 1, "files_touched": 1},
            {"test_id": "aa", "test_name": "GET /a", "covered_lines": 1, "files_touched": 1},
            {"test_id": "zz", "test_name": "GET /b", "covered_lines": 1, "files_touched": 1}
          ]},
          "aggregate": {"a.rs": {"lines": {"1": 2, "2": 0}, "total_branches": 0, "covered_branches": 0}},
          "per_test": {
            "aa": {"a.rs": {"covered_lines": [1], "coverable_lines": 1, "covered_count": 1, "total_branches": 0, "covered_branches": 0}},
            "zz": {"a.rs": {"covered_lines": [1], "coverable_lines": 1, "covered_count": 1, "total_branches": 0, "covered_branches": 0},
                   "gone.rs": {"covered_lines": [3], "coverable_lines": 1, "covered_count": 1, "total_branches": 0, "covered_branches": 0}},
            "only-here": {"a.rs": {"covered_lines": [1], "coverable_lines": 1, "covered_count": 1, "total_branches": 0, "covered_branches": 0}}
          }
        }"#;
        let view = parse(text).expect("parses");
        let tests: Vec<(&str, &str)> = view
            .tests
            .iter()
            .map(|test| (test.id.as_str(), test.name.as_str()))
            .collect();
        assert_eq!(
            tests,
            [("zz", "GET /b"), ("aa", "GET /a"), ("only-here", "")]
        );
        assert_eq!(view.covered_by["a.rs"][&1], [0, 1, 2]);
        assert!(
            !view.covered_by.contains_key("gone.rs"),
            "per-test files outside the aggregate are left out, as the CLI does"
        );
        assert!(view.has_baseline, "line 2 has a count of 0");
    }
}
