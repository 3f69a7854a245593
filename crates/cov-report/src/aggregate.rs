//! Aggregation of a replay run with the Tusk CLI's semantics, plus who covers what.
//!
//! [`Aggregate`] collects what the CLI collects during `tusk drift run --show-coverage`: one
//! baseline per service start and one snapshot per test. [`Aggregate::view`] then computes,
//! as the CLI does at the end of a run:
//!
//! - **baselines merged across service restarts**: a line keeps its first non-zero count
//!   (a later baseline only fills lines that are missing or still at 0), and per line the
//!   branch entry with the larger total wins;
//! - **per-test snapshots merged into that baseline**: line counts summed; per branch line,
//!   total = max of the totals, covered = min(sum of covered, total); file totals recomputed
//!   from the per-line map;
//! - include/exclude globs ([`PathPatterns`]) applied to the merged files;
//! - **per-test detail** (the CLI's `CoverageFileDiff`: covered lines, coverable lines,
//!   branch totals) restricted to the files of the filtered aggregate;
//! - and what no Tusk SDK offers: for every line, the tests that executed it
//!   ([`CoverageView::covered_by`]).
//!
//! The two merge rules are `merge_baseline` (private: only [`Aggregate`] merges baselines)
//! and [`merge_test`] (public: the aggregation laws test it directly).
//! The CLI's suite-status filter (draft tests left out of the aggregate) has no counterpart:
//! a driver adds only the tests it wants counted.
//!
//! Paths are normalised once, when a snapshot comes in ([`PathNormalizer`]), exactly where the
//! CLI normalises them. Snapshots are kept as received and merged on demand, so a baseline
//! that arrives after some tests (a service restart) is merged in the CLI's order: all
//! baselines first, then all tests.

use std::collections::BTreeMap;

use crate::paths::PathNormalizer;
use cov_core::filter::PathPatterns;
use cov_core::model::LineBranches;
use cov_core::wire::{WireFile, WireSnapshot};

/// One test's coverage as received: the delta snapshot taken right after the test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSnapshot {
    /// The test's identifier (the CLI uses the trace id).
    pub id: String,
    /// The test's display name; may be empty.
    pub name: String,
    /// What ran during the test, paths already normalised.
    pub coverage: WireSnapshot,
}

/// Everything a replay run reported, ready to be merged into a [`CoverageView`].
///
/// ```
/// use std::collections::BTreeMap;
/// use cov_core::{WireFile, SnapshotKind, WireSnapshot};
/// use cov_report::Aggregate;
///
/// let file = |lines: &[(u32, u64)]| WireFile { lines: lines.iter().copied().collect(), ..WireFile::default() };
/// let mut baseline = WireSnapshot::new(SnapshotKind::Baseline);
/// baseline.files.insert("src/lib.rs".into(), file(&[(1, 1), (2, 0), (3, 0)]));
/// let mut test = WireSnapshot::new(SnapshotKind::Delta);
/// test.files.insert("src/lib.rs".into(), file(&[(2, 5)]));
///
/// let mut aggregate = Aggregate::new();
/// aggregate.add_baseline(baseline);
/// aggregate.add_test("trace-1", "GET /users", test);
/// let view = aggregate.view();
/// assert_eq!(view.files["src/lib.rs"].lines, BTreeMap::from([(1, 1), (2, 5), (3, 0)]));
/// assert_eq!(view.covered_by["src/lib.rs"][&2], vec![0]);
/// assert_eq!(view.totals().covered_lines, 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Aggregate {
    baseline: Option<BTreeMap<String, WireFile>>,
    tests: Vec<TestSnapshot>,
    normalizer: PathNormalizer,
    patterns: PathPatterns,
}

impl Aggregate {
    /// An empty aggregate that keeps paths as received and filters nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Normalises the paths of every snapshot added from now on (the CLI's
    /// `strip_path_prefix` and git-root-relative paths).
    pub fn set_path_normalizer(&mut self, normalizer: PathNormalizer) -> &mut Self {
        self.normalizer = normalizer;
        self
    }

    /// Include/exclude globs applied to the merged files (the CLI's `coverage.include` and
    /// `coverage.exclude`), matched against the normalised paths.
    pub fn set_patterns(&mut self, patterns: PathPatterns) -> &mut Self {
        self.patterns = patterns;
        self
    }

    /// Merges a baseline into the baselines received so far (one per service start).
    pub fn add_baseline(&mut self, snapshot: WireSnapshot) {
        let snapshot = self.normalize(snapshot);
        let merged = self.baseline.get_or_insert_with(BTreeMap::new);
        for (path, file) in snapshot.files {
            merge_baseline(merged.entry(path).or_default(), &file);
        }
    }

    /// Records one test's delta snapshot, in run order.
    pub fn add_test(
        &mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        snapshot: WireSnapshot,
    ) {
        let coverage = self.normalize(snapshot);
        self.tests.push(TestSnapshot {
            id: id.into(),
            name: name.into(),
            coverage,
        });
    }

    /// The merged baselines, or `None` when no baseline arrived (the CLI then warns that
    /// the denominator may be incomplete).
    pub fn baseline(&self) -> Option<&BTreeMap<String, WireFile>> {
        self.baseline.as_ref()
    }

    /// The tests' snapshots, in run order.
    pub fn tests(&self) -> &[TestSnapshot] {
        &self.tests
    }

    /// Merges everything into the view reports are written from.
    pub fn view(&self) -> CoverageView {
        let mut files = self.baseline.clone().unwrap_or_default();
        for test in &self.tests {
            for (path, file) in &test.coverage.files {
                merge_test(files.entry(path.clone()).or_default(), file);
            }
        }
        if !self.patterns.is_empty() {
            files.retain(|path, _| self.patterns.allows(path));
        }

        let tests = self
            .tests
            .iter()
            .map(|test| TestCoverage {
                id: test.id.clone(),
                name: test.name.clone(),
                files: test
                    .coverage
                    .files
                    .iter()
                    .filter(|(path, _)| files.contains_key(*path))
                    .filter_map(|(path, file)| {
                        TestFileCoverage::from_wire(file).map(|detail| (path.clone(), detail))
                    })
                    .collect(),
            })
            .collect();
        CoverageView::new(files, tests, self.baseline.is_some())
    }

    fn normalize(&self, snapshot: WireSnapshot) -> WireSnapshot {
        if self.normalizer == PathNormalizer::default() {
            return snapshot;
        }
        snapshot.map_paths(|path| self.normalizer.normalize(path))
    }
}

/// Merges another **baseline** of the same file into `merged`, as the Tusk CLI merges the
/// baselines of successive service starts: a line takes the other count only when it is
/// missing here or still 0; a branch line takes the other entry only when it is missing
/// here or the other has more outcomes.
fn merge_baseline(merged: &mut WireFile, other: &WireFile) {
    for (&line, &count) in &other.lines {
        let slot = merged.lines.entry(line).or_insert(count);
        if *slot == 0 {
            *slot = count;
        }
    }
    for (&line, &branches) in &other.branches {
        let slot = merged.branches.entry(line).or_insert(branches);
        if branches.total > slot.total {
            *slot = branches;
        }
    }
}

/// Adds one **test's** snapshot of the same file to `merged`, as the Tusk CLI adds per-test
/// snapshots to the baseline: line counts summed (saturating); per branch line the total is
/// the larger one and covered the sum, clamped to that total.
pub fn merge_test(merged: &mut WireFile, other: &WireFile) {
    for (&line, &count) in &other.lines {
        let slot = merged.lines.entry(line).or_default();
        *slot = slot.saturating_add(count);
    }
    for (&line, branches) in &other.branches {
        let slot = merged.branches.entry(line).or_default();
        slot.total = slot.total.max(branches.total);
        slot.covered = slot
            .covered
            .saturating_add(branches.covered)
            .min(slot.total);
    }
}

/// The merged result of a run: what every report is written from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageView {
    /// The aggregate: merged baseline and tests, after include/exclude, in path order.
    pub files: BTreeMap<String, WireFile>,
    /// Per test, in run order, its coverage of the aggregate's files.
    pub tests: Vec<TestCoverage>,
    /// Who covers what: file → line → indices into [`CoverageView::tests`] of the tests
    /// that executed the line, ascending. Lines no test executed are absent.
    pub covered_by: BTreeMap<String, BTreeMap<u32, Vec<usize>>>,
    /// Whether any baseline arrived; without one the denominator only holds lines some test
    /// executed.
    pub has_baseline: bool,
}

impl CoverageView {
    /// The view of `files` and the `tests` run on them (in run order, each with its coverage
    /// of those files), with who covers what derived from the tests' covered lines.
    pub fn new(
        files: BTreeMap<String, WireFile>,
        tests: Vec<TestCoverage>,
        has_baseline: bool,
    ) -> Self {
        let mut covered_by: BTreeMap<String, BTreeMap<u32, Vec<usize>>> = BTreeMap::new();
        for (test_idx, test) in tests.iter().enumerate() {
            for (path, file) in &test.files {
                let lines = covered_by.entry(path.clone()).or_default();
                for &line in &file.covered_lines {
                    lines.entry(line).or_default().push(test_idx);
                }
            }
        }
        Self {
            files,
            tests,
            covered_by,
            has_baseline,
        }
    }

    /// Totals over every file of the aggregate.
    pub fn totals(&self) -> Totals {
        self.files
            .values()
            .fold(Totals::default(), |mut totals, file| {
                totals.add_file(file);
                totals
            })
    }

    /// The tests that executed `line` of `path`, in run order.
    pub fn tests_covering(&self, path: &str, line: u32) -> impl Iterator<Item = &TestCoverage> {
        self.covered_by
            .get(path)
            .and_then(|lines| lines.get(&line))
            .into_iter()
            .flatten()
            .map(|&test_idx| &self.tests[test_idx])
    }
}

/// Line and branch counts of a set of files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Number of files.
    pub files: usize,
    /// Number of files with at least one covered line.
    pub covered_files: usize,
    /// Number of coverable lines.
    pub lines: usize,
    /// Number of lines with a non-zero count.
    pub covered_lines: usize,
    /// Number of branch outcomes.
    pub branches: u64,
    /// Number of branch outcomes taken.
    pub covered_branches: u64,
}

impl Totals {
    /// The totals of a single file.
    pub fn of_file(file: &WireFile) -> Self {
        let mut totals = Self::default();
        totals.add_file(file);
        totals
    }

    /// Adds one file.
    pub fn add_file(&mut self, file: &WireFile) {
        let covered_lines = file.covered_lines();
        self.files += 1;
        self.covered_files += usize::from(covered_lines > 0);
        self.lines += file.coverable_lines();
        self.covered_lines += covered_lines;
        self.branches += file.total_branches();
        self.covered_branches += file.covered_branches();
    }

    /// Covered lines in percent of coverable lines; 0 when there are none (as the CLI).
    pub fn line_percent(&self) -> f64 {
        percent(self.covered_lines as u64, self.lines as u64)
    }

    /// Covered branch outcomes in percent of all; 0 when there are none (as the CLI).
    pub fn branch_percent(&self) -> f64 {
        percent(self.covered_branches, self.branches)
    }
}

/// `part / whole * 100`, computed as the CLI computes it; 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

/// One test's coverage of the aggregate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestCoverage {
    /// The test's identifier.
    pub id: String,
    /// The test's display name; may be empty.
    pub name: String,
    /// Files of the aggregate in which the test executed at least one line.
    pub files: BTreeMap<String, TestFileCoverage>,
}

impl TestCoverage {
    /// The name, or the id when the name is empty (as the CLI prints it).
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// Lines the test executed, summed over files.
    pub fn covered_lines(&self) -> usize {
        self.files
            .values()
            .map(|file| file.covered_lines.len())
            .sum()
    }

    /// Number of files in which the test executed a line.
    pub fn files_touched(&self) -> usize {
        self.files.len()
    }
}

/// One test's coverage of one file (the CLI's `CoverageFileDiff`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestFileCoverage {
    /// Lines with a non-zero count, ascending.
    pub covered_lines: Vec<u32>,
    /// Lines the test's snapshot listed for the file (executed lines, for a delta).
    pub coverable_lines: usize,
    /// The snapshot's branch outcomes in the file.
    pub total_branches: u64,
    /// The snapshot's branch outcomes taken in the file.
    pub covered_branches: u64,
    /// The snapshot's per-line branches.
    pub branches: BTreeMap<u32, LineBranches>,
}

impl TestFileCoverage {
    /// The detail of one file of a test's snapshot; `None` when it executed no line.
    pub fn from_wire(file: &WireFile) -> Option<Self> {
        let covered_lines: Vec<u32> = file
            .lines
            .iter()
            .filter(|&(&line, &count)| line > 0 && count > 0)
            .map(|(&line, _)| line)
            .collect();
        if covered_lines.is_empty() {
            return None;
        }
        Some(Self {
            covered_lines,
            coverable_lines: file.lines.len(),
            total_branches: file.total_branches(),
            covered_branches: file.covered_branches(),
            branches: file.branches.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cov_core::model::SnapshotKind;

    fn lb(total: u32, covered: u32) -> LineBranches {
        LineBranches { total, covered }
    }

    fn record(kind: SnapshotKind, files: &[(&str, WireFile)]) -> WireSnapshot {
        WireSnapshot {
            kind,
            files: files
                .iter()
                .map(|(path, file)| ((*path).to_owned(), file.clone()))
                .collect(),
        }
    }

    fn file(lines: &[(u32, u64)], branches: &[(u32, LineBranches)]) -> WireFile {
        WireFile {
            lines: lines.iter().copied().collect(),
            branches: branches.iter().copied().collect(),
        }
    }

    #[test]
    fn baselines_keep_non_zero_counts_and_the_larger_branch_total() {
        let mut aggregate = Aggregate::new();
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            &[("a.rs", file(&[(1, 3), (2, 0)], &[(2, lb(2, 1))]))],
        ));
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            &[(
                "a.rs",
                file(&[(1, 9), (2, 4), (3, 0)], &[(2, lb(4, 0)), (3, lb(2, 2))]),
            )],
        ));
        let baseline = aggregate.baseline().expect("baseline");
        assert_eq!(
            baseline["a.rs"],
            file(&[(1, 3), (2, 4), (3, 0)], &[(2, lb(4, 0)), (3, lb(2, 2))])
        );
    }

    #[test]
    fn tests_are_summed_into_the_baseline_with_clamped_branch_unions() {
        let mut aggregate = Aggregate::new();
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            &[("a.rs", file(&[(1, 1), (2, 0), (3, 0)], &[(2, lb(2, 0))]))],
        ));
        aggregate.add_test(
            "t1",
            "first",
            record(
                SnapshotKind::Delta,
                &[("a.rs", file(&[(2, 2)], &[(2, lb(2, 1))]))],
            ),
        );
        aggregate.add_test(
            "t2",
            "",
            record(
                SnapshotKind::Delta,
                &[
                    ("a.rs", file(&[(2, 1), (3, 1)], &[(2, lb(2, 2))])),
                    ("new.rs", file(&[(5, 1)], &[])),
                ],
            ),
        );
        let view = aggregate.view();
        assert_eq!(
            view.files["a.rs"],
            file(&[(1, 1), (2, 3), (3, 1)], &[(2, lb(2, 2))])
        );
        assert_eq!(view.files["new.rs"], file(&[(5, 1)], &[]));
        assert_eq!(view.covered_by["a.rs"][&2], vec![0, 1]);
        assert_eq!(view.covered_by["a.rs"][&3], vec![1]);
        assert!(
            !view.covered_by["a.rs"].contains_key(&1),
            "startup lines have no test"
        );
        assert_eq!(view.tests[1].display_name(), "t2");
        assert_eq!(view.tests[1].covered_lines(), 3);
        assert_eq!(view.tests[1].files_touched(), 2);
        let names: Vec<&str> = view
            .tests_covering("a.rs", 2)
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(names, ["t1", "t2"]);
        let totals = view.totals();
        assert_eq!((totals.covered_lines, totals.lines), (4, 4));
        assert_eq!((totals.covered_branches, totals.branches), (2, 2));
    }

    #[test]
    fn a_baseline_after_tests_is_merged_before_them() {
        let mut aggregate = Aggregate::new();
        aggregate.add_test(
            "t1",
            "",
            record(SnapshotKind::Delta, &[("a.rs", file(&[(1, 2)], &[]))]),
        );
        aggregate.add_baseline(record(
            SnapshotKind::Baseline,
            &[("a.rs", file(&[(1, 0), (2, 0)], &[]))],
        ));
        assert_eq!(aggregate.view().files["a.rs"], file(&[(1, 2), (2, 0)], &[]));
    }

    #[test]
    fn patterns_filter_the_aggregate_and_the_per_test_detail() {
        let mut aggregate = Aggregate::new();
        let mut normalizer = PathNormalizer::new();
        normalizer.strip_prefix("/app");
        aggregate
            .set_path_normalizer(normalizer)
            .set_patterns(PathPatterns::new(["src/**"], ["**/gen/**"]).expect("globs"));
        aggregate.add_test(
            "t1",
            "",
            record(
                SnapshotKind::Delta,
                &[
                    ("/app/src/a.rs", file(&[(1, 1)], &[])),
                    ("/app/src/gen/b.rs", file(&[(1, 1)], &[])),
                    ("/app/build.rs", file(&[(1, 1)], &[])),
                ],
            ),
        );
        let view = aggregate.view();
        assert_eq!(view.files.keys().collect::<Vec<_>>(), ["src/a.rs"]);
        assert_eq!(view.tests[0].files.keys().collect::<Vec<_>>(), ["src/a.rs"]);
        assert!(!view.has_baseline);
    }
}
