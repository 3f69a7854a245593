//! Stable per-line branch totals across snapshots.
//!
//! A delta snapshot only names the branch outcomes that ran in its interval, so the number
//! of outcomes it sees on a line varies from test to test. The CLI, however, takes the
//! per-line `total` it receives at face value (the maximum wins when merging), and a test
//! that took one arm of an `if` must report `1 of 2`, not `1 of 1`. [`BranchCache`] keeps
//! the per-line totals learned from the baseline (and, for a file first seen later, from the
//! first snapshot that names it) and reports every later snapshot against them, as the
//! Python SDK does.

use std::collections::{BTreeMap, HashMap};

use crate::model::{CoverageSnapshot, FileCoverage, LineBranches, SnapshotKind};
use crate::wire::{WireFile, WireSnapshot};

/// Turns [`CoverageSnapshot`]s into [`WireSnapshot`]s with stable per-line branch totals.
///
/// - A **baseline** teaches the cache the branch structure of every file it lists (replacing
///   what was known of those files) and is reported with exactly that structure.
/// - A **delta** is reported, for every file it lists, with that file's whole known
///   structure: each branch line of the file appears with its learned `total` and the
///   outcomes taken in the interval as `covered` (never more than `total`). A file the cache
///   has not seen is learned from the delta; a branch line unknown so far is added with
///   the outcomes seen, and a larger number of outcomes than known raises the line's total.
///
/// ```
/// use std::collections::BTreeMap;
/// use cov_core::{Branch, BranchCache, CoverageSnapshot, FileCoverage, LineBranches, SnapshotKind};
///
/// let branch = |true_count, false_count| Branch { line: 3, column: 8, true_count, false_count };
/// let mut baseline = CoverageSnapshot::new(SnapshotKind::Baseline);
/// baseline.files.insert("/app/src/lib.rs".into(), FileCoverage {
///     lines: BTreeMap::from([(3, 0)]),
///     branches: vec![branch(Some(0), Some(0))],
///     ..FileCoverage::default()
/// });
/// let mut delta = CoverageSnapshot::new(SnapshotKind::Delta);
/// delta.files.insert("/app/src/lib.rs".into(), FileCoverage {
///     lines: BTreeMap::from([(3, 1)]),
///     branches: vec![branch(Some(1), None)], // only the taken outcome ran
///     ..FileCoverage::default()
/// });
///
/// let mut cache = BranchCache::new();
/// cache.to_wire(&baseline);
/// let record = cache.to_wire(&delta);
/// assert_eq!(record.files["/app/src/lib.rs"].branches[&3], LineBranches { total: 2, covered: 1 });
/// ```
#[derive(Clone, Debug, Default)]
pub struct BranchCache {
    /// File path → line → number of branch outcomes on that line.
    totals: HashMap<String, BTreeMap<u32, u32>>,
}

impl BranchCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the cache knows the branch structure of `path` (for this module's tests).
    #[cfg(test)]
    fn knows(&self, path: &str) -> bool {
        self.totals.contains_key(path)
    }

    /// Converts `snapshot` to its [`WireSnapshot`], learning structure as described on
    /// [`BranchCache`].
    pub fn to_wire(&mut self, snapshot: &CoverageSnapshot) -> WireSnapshot {
        let mut record = WireSnapshot::new(snapshot.kind);
        for (path, file) in &snapshot.files {
            let seen = file.line_branches();
            let known = match snapshot.kind {
                SnapshotKind::Baseline => {
                    let learned = seen.iter().map(|(&line, b)| (line, b.total)).collect();
                    self.totals.insert(path.clone(), learned);
                    &self.totals[path]
                }
                SnapshotKind::Delta => {
                    let known = self.totals.entry(path.clone()).or_default();
                    for (&line, branches) in &seen {
                        let total = known.entry(line).or_default();
                        *total = (*total).max(branches.total);
                    }
                    &*known
                }
            };
            record
                .files
                .insert(path.clone(), wire_file(file, known, &seen));
        }
        record
    }
}

/// What the wire carries of one file: its lines as they are, its branches against the known
/// totals.
fn wire_file(
    file: &FileCoverage,
    known: &BTreeMap<u32, u32>,
    seen: &BTreeMap<u32, LineBranches>,
) -> WireFile {
    let branches = known
        .iter()
        .map(|(&line, &total)| {
            let covered = seen.get(&line).map_or(0, |b| b.covered).min(total);
            (line, LineBranches { total, covered })
        })
        .collect();
    WireFile {
        lines: file.lines.clone(),
        branches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Branch;

    fn branch(line: u32, true_count: Option<u64>, false_count: Option<u64>) -> Branch {
        Branch {
            line,
            column: 1,
            true_count,
            false_count,
        }
    }

    fn snapshot(kind: SnapshotKind, path: &str, file: FileCoverage) -> CoverageSnapshot {
        let mut snapshot = CoverageSnapshot::new(kind);
        snapshot.files.insert(path.into(), file);
        snapshot
    }

    #[test]
    fn every_delta_reports_the_baseline_totals_of_the_files_it_touches() {
        let mut cache = BranchCache::new();
        let baseline = cache.to_wire(&snapshot(
            SnapshotKind::Baseline,
            "a.rs",
            FileCoverage {
                lines: BTreeMap::from([(1, 1), (2, 0), (7, 0)]),
                branches: vec![
                    branch(2, Some(0), Some(0)),
                    branch(7, Some(0), Some(0)),
                    branch(7, Some(0), None),
                ],
                ..FileCoverage::default()
            },
        ));
        let lb = |total, covered| LineBranches { total, covered };
        assert_eq!(
            baseline.files["a.rs"].branches,
            BTreeMap::from([(2, lb(2, 0)), (7, lb(3, 0))])
        );

        let delta = cache.to_wire(&snapshot(
            SnapshotKind::Delta,
            "a.rs",
            FileCoverage {
                lines: BTreeMap::from([(2, 4)]),
                branches: vec![branch(2, Some(4), None)],
                ..FileCoverage::default()
            },
        ));
        assert_eq!(delta.files["a.rs"].lines, BTreeMap::from([(2, 4)]));
        assert_eq!(
            delta.files["a.rs"].branches,
            BTreeMap::from([(2, lb(2, 1)), (7, lb(3, 0))])
        );
    }

    #[test]
    fn a_file_first_seen_in_a_delta_is_learned_and_kept() {
        let mut cache = BranchCache::new();
        cache.to_wire(&CoverageSnapshot::new(SnapshotKind::Baseline));
        let first = cache.to_wire(&snapshot(
            SnapshotKind::Delta,
            "late.rs",
            FileCoverage {
                lines: BTreeMap::from([(4, 1)]),
                branches: vec![branch(4, Some(1), Some(1))],
                ..FileCoverage::default()
            },
        ));
        assert_eq!(first.files["late.rs"].branches[&4].total, 2);
        assert!(cache.knows("late.rs"));
        let second = cache.to_wire(&snapshot(
            SnapshotKind::Delta,
            "late.rs",
            FileCoverage {
                lines: BTreeMap::from([(4, 1)]),
                branches: vec![branch(4, Some(1), None)],
                ..FileCoverage::default()
            },
        ));
        assert_eq!(
            second.files["late.rs"].branches[&4],
            LineBranches {
                total: 2,
                covered: 1
            }
        );
    }

    #[test]
    fn files_absent_from_a_delta_are_absent_from_its_wire_snapshot() {
        let mut cache = BranchCache::new();
        cache.to_wire(&snapshot(
            SnapshotKind::Baseline,
            "a.rs",
            FileCoverage {
                branches: vec![branch(1, Some(0), Some(0))],
                ..FileCoverage::default()
            },
        ));
        let delta = cache.to_wire(&CoverageSnapshot::new(SnapshotKind::Delta));
        assert!(delta.files.is_empty());
    }
}
