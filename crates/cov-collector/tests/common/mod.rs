//! Shared support for the in-process tests: running `fixtures/inprocess`, reading back the
//! snapshots it wrote, adding them up and comparing the sum with the `llvm-cov` oracle of
//! the same run.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different part.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cov_collector::CoverageMapping;
use cov_collector::decode::mapping::{Counter, Expression, ExpressionKind};

use cov_core::{Branch, CoverageSnapshot, FileCoverage, Function, SnapshotKind};
use cov_testkit::{BuildOptions, LcovTracefile, ProfileRun};

/// Builds `fixtures/inprocess` with instrumentation (shared between tests and runs).
pub fn inprocess_binary(options: &BuildOptions) -> PathBuf {
    cov_testkit::build_instrumented("inprocess", "inprocess", options)
}

/// Runs one scenario; the snapshots land in the run's directory.
pub fn run_scenario(binary: &Path, scenario: &str) -> (ProfileRun, Vec<CoverageSnapshot>) {
    let run = cov_testkit::run_instrumented(binary, &[scenario, "."]);
    let text = std::fs::read_to_string(run.dir().join("snapshots.txt"))
        .unwrap_or_else(|error| panic!("{scenario} wrote no snapshots: {error}\n{}", run.stderr()));
    let snapshots = parse_snapshots(&text);
    (run, snapshots)
}

/// Whether `path` is a source file of `fixtures/workload` (what the fixture selects).
pub fn is_workload_file(path: &str) -> bool {
    path.contains("/fixtures/workload/src/")
}

/// The oracle of a run, restricted to the workload's files.
pub fn workload_oracle(binary: &Path, run: &ProfileRun) -> LcovTracefile {
    let mut oracle = LcovTracefile::parse(&cov_testkit::oracle_lcov(binary, &[run.profraw()]));
    oracle.files.retain(|path, _| is_workload_file(path));
    assert!(
        oracle.files.len() >= 5,
        "the oracle should cover the workload's files, got {:?}",
        oracle.files.keys().collect::<Vec<_>>()
    );
    oracle
}

/// Parses the line format `fixtures/inprocess` writes.
pub fn parse_snapshots(text: &str) -> Vec<CoverageSnapshot> {
    let mut snapshots = Vec::new();
    let mut snapshot: Option<CoverageSnapshot> = None;
    let mut file: Option<(String, FileCoverage)> = None;
    for line in text.lines() {
        let numbers = |value: &str| -> Vec<u64> {
            value
                .split(',')
                .map(|field| {
                    field
                        .parse()
                        .unwrap_or_else(|_| panic!("bad number in `{line}`"))
                })
                .collect()
        };
        if let Some(kind) = line.strip_prefix("snapshot ") {
            let kind = match kind {
                "baseline" => SnapshotKind::Baseline,
                "delta" => SnapshotKind::Delta,
                other => panic!("unknown snapshot kind {other}"),
            };
            snapshot = Some(CoverageSnapshot::new(kind));
        } else if line == "end_of_snapshot" {
            snapshots.push(snapshot.take().expect("snapshot open"));
        } else if let Some(path) = line.strip_prefix("SF:") {
            file = Some((path.to_owned(), FileCoverage::default()));
        } else if line == "end_of_record" {
            let (path, coverage) = file.take().expect("record open");
            snapshot
                .as_mut()
                .expect("snapshot open")
                .files
                .insert(path, coverage);
        } else if let Some(value) = line.strip_prefix("DA:") {
            let fields = numbers(value);
            let coverage = &mut file.as_mut().expect("record open").1;
            coverage.lines.insert(fields[0] as u32, fields[1]);
        } else if let Some(value) = line.strip_prefix("BR:") {
            let fields: Vec<&str> = value.split(',').collect();
            let outcome = |field: &str| (field != "-").then(|| field.parse().expect("count"));
            let coverage = &mut file.as_mut().expect("record open").1;
            coverage.branches.push(Branch {
                line: fields[0].parse().expect("line"),
                column: fields[1].parse().expect("column"),
                true_count: outcome(fields[2]),
                false_count: outcome(fields[3]),
            });
        } else if let Some(value) = line.strip_prefix("FN:") {
            let mut fields = value.splitn(3, ',');
            let line_number = fields.next().expect("line").parse().expect("line");
            let count = fields.next().expect("count").parse().expect("count");
            let name = fields.next().expect("name").to_owned();
            let coverage = &mut file.as_mut().expect("record open").1;
            coverage.functions.push(Function {
                name,
                line: line_number,
                count,
            });
        } else {
            panic!("unexpected line `{line}`");
        }
    }
    snapshots
}

/// Adds a baseline and the deltas after it into one cumulative snapshot.
///
/// Checks the shape on the way: the first snapshot is the only baseline, every delta entry
/// is non-zero and refers to a line or branch the baseline listed.
pub fn sum_snapshots(snapshots: &[CoverageSnapshot]) -> CoverageSnapshot {
    let (baseline, deltas) = snapshots.split_first().expect("at least a baseline");
    assert_eq!(baseline.kind, SnapshotKind::Baseline);
    let mut total = baseline.clone();
    for file in total.files.values() {
        let mut locations: Vec<(u32, u32)> =
            file.branches.iter().map(|b| (b.line, b.column)).collect();
        let n_branches = locations.len();
        locations.dedup();
        assert_eq!(
            locations.len(),
            n_branches,
            "branch locations are unique per file"
        );
    }
    for delta in deltas {
        assert_eq!(delta.kind, SnapshotKind::Delta);
        for (path, file_delta) in &delta.files {
            let file = total
                .files
                .get_mut(path)
                .unwrap_or_else(|| panic!("delta names {path}, absent from the baseline"));
            for (line, count) in &file_delta.lines {
                assert!(
                    *count > 0,
                    "{path}:{line}: a delta lists only non-zero lines"
                );
                *file
                    .lines
                    .get_mut(line)
                    .unwrap_or_else(|| panic!("{path}:{line} is not coverable in the baseline")) +=
                    count;
            }
            for branch_delta in &file_delta.branches {
                assert!(
                    branch_delta.true_count.unwrap_or(0) + branch_delta.false_count.unwrap_or(0)
                        > 0,
                    "{path}: a delta lists only branches that were evaluated: {branch_delta:?}"
                );
                let branch = file
                    .branches
                    .iter_mut()
                    .find(|b| (b.line, b.column) == (branch_delta.line, branch_delta.column))
                    .unwrap_or_else(|| panic!("{path}: {branch_delta:?} absent from the baseline"));
                for (total_outcome, delta_outcome) in [
                    (&mut branch.true_count, branch_delta.true_count),
                    (&mut branch.false_count, branch_delta.false_count),
                ] {
                    match (total_outcome.as_mut(), delta_outcome) {
                        (Some(total), Some(delta)) => *total += delta,
                        (None, None) => {}
                        _ => panic!("{path}: folded outcomes differ: {branch_delta:?}"),
                    }
                }
            }
            for function_delta in &file_delta.functions {
                let function = file
                    .functions
                    .iter_mut()
                    .find(|f| f.name == function_delta.name && f.line == function_delta.line)
                    .unwrap_or_else(|| {
                        panic!("{path}: {function_delta:?} absent from the baseline")
                    });
                function.count += function_delta.count;
            }
        }
    }
    total
}

/// A cumulative snapshot as LCOV, written by the crate's llvm-cov-compatible writer
/// (its `BRDA` numbering is llvm-cov's, checked by the offline oracle tests).
pub fn to_lcov(snapshot: &CoverageSnapshot) -> LcovTracefile {
    LcovTracefile::parse(&cov_collector::llvm_lcov::write_lcov(snapshot, None))
}

/// Asserts that `snapshot` and the oracle agree on every file, `DA` line and `BRDA` outcome.
pub fn assert_matches_oracle(oracle: &LcovTracefile, snapshot: &CoverageSnapshot) {
    let ours = to_lcov(snapshot);
    let diff = cov_testkit::diff_lcov(oracle, &ours);
    assert!(
        diff.lines_and_branches_agree(),
        "baseline + deltas differ from llvm-cov:\n{diff}"
    );
}

/// The workload lines that some mapping region whose count involves a subtraction
/// overlaps: the lines whose llvm-cov count a thread *in flight* inside the function can
/// overstate at a snapshot (see "Threads in flight" in `docs/coverage.md`).
pub fn lines_exposed_to_subtraction(binary: &Path) -> BTreeSet<(String, u32)> {
    let mapping = CoverageMapping::from_executable(binary).expect("decoding the fixture's mapping");
    let mut exposed = BTreeSet::new();
    for function in mapping.functions() {
        for region in function.regions {
            let subtracts = [region.count, region.false_count]
                .into_iter()
                .any(|counter| involves_subtraction(counter, function.expressions, 0));
            let Some(&path_idx) = function.files.get(region.file_id as usize) else {
                continue;
            };
            let path = &mapping.files[path_idx as usize];
            if subtracts && is_workload_file(path) {
                for line in region.line_start..=region.line_end {
                    exposed.insert((path.clone(), line));
                }
            }
        }
    }
    exposed
}

fn involves_subtraction(counter: Counter, expressions: &[Expression], depth: usize) -> bool {
    let Counter::Expression(expression_idx) = counter else {
        return false;
    };
    let Some(expression) = expressions.get(expression_idx as usize) else {
        return false;
    };
    depth < 64
        && (expression.kind == ExpressionKind::Subtract
            || involves_subtraction(expression.lhs, expressions, depth + 1)
            || involves_subtraction(expression.rhs, expressions, depth + 1))
}
