//! The wire snapshot: what one coverage snapshot carries per file.
//!
//! A [`WireSnapshot`] is the shape of a `CoverageSnapshotResponse` without protobuf: per
//! file, line → execution count and, per line, the branch outcomes ([`LineBranches`]). The
//! file-level branch totals the wire also carries are *derived* from the per-line map
//! ([`WireFile::total_branches`], [`WireFile::covered_branches`]), exactly as the Tusk
//! CLI recomputes them, so a wire snapshot can never disagree with itself.
//!
//! Counts stay `u64` here; the wire's `int32` is reached by saturating at the protobuf
//! boundary (cov-wire's `coverage` module), never in this crate.

use std::collections::BTreeMap;

use crate::model::{LineBranches, SnapshotKind};

/// One snapshot as it travels between the SDK and the CLI: absolute (or, after
/// cov-report's `PathNormalizer`, repo-relative) file path → [`WireFile`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WireSnapshot {
    /// Baseline (every coverable line) or delta (what ran since the previous snapshot).
    pub kind: SnapshotKind,
    /// File path to what the wire carries for that file, in path order.
    pub files: BTreeMap<String, WireFile>,
}

impl WireSnapshot {
    /// An empty wire snapshot of the given kind.
    pub fn new(kind: SnapshotKind) -> Self {
        Self {
            kind,
            files: BTreeMap::new(),
        }
    }

    /// Rewrites every path with `rename`, keeping the rest. When two paths map to the same
    /// new path, the later one (in the old path order) wins, as a Go map assignment in the
    /// Tusk CLI's path normalisation does.
    pub fn map_paths(self, mut rename: impl FnMut(&str) -> String) -> Self {
        let files = self
            .files
            .into_iter()
            .map(|(path, file)| (rename(&path), file))
            .collect();
        Self {
            kind: self.kind,
            files,
        }
    }
}

/// What the wire carries for one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WireFile {
    /// 1-based line number → execution count. In a baseline every coverable line is present
    /// (0 where not executed); in a delta only lines that executed.
    #[cfg_attr(feature = "serde", serde(default))]
    pub lines: BTreeMap<u32, u64>,
    /// 1-based line number → branch outcomes on that line. Lines without branches are absent.
    #[cfg_attr(feature = "serde", serde(default))]
    pub branches: BTreeMap<u32, LineBranches>,
}

impl WireFile {
    /// Number of lines present in [`WireFile::lines`] (the coverable lines, in a baseline).
    pub fn coverable_lines(&self) -> usize {
        self.lines.len()
    }

    /// Number of lines with a non-zero count.
    pub fn covered_lines(&self) -> usize {
        self.lines.values().filter(|&&count| count > 0).count()
    }

    /// Sum of the per-line branch totals: the wire's `total_branches`.
    pub fn total_branches(&self) -> u64 {
        self.branches
            .values()
            .map(|line| u64::from(line.total))
            .sum()
    }

    /// Sum of the per-line covered outcomes: the wire's `covered_branches`.
    pub fn covered_branches(&self) -> u64 {
        self.branches
            .values()
            .map(|line| u64::from(line.covered))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_totals_are_derived_from_the_per_line_map() {
        let file = WireFile {
            lines: BTreeMap::from([(1, 0), (2, 3), (5, 1)]),
            branches: BTreeMap::from([
                (
                    2,
                    LineBranches {
                        total: 2,
                        covered: 1,
                    },
                ),
                (
                    5,
                    LineBranches {
                        total: 4,
                        covered: 4,
                    },
                ),
            ]),
        };
        assert_eq!(file.coverable_lines(), 3);
        assert_eq!(file.covered_lines(), 2);
        assert_eq!(file.total_branches(), 6);
        assert_eq!(file.covered_branches(), 5);
    }

    #[test]
    fn map_paths_lets_the_later_path_win_a_collision() {
        let mut snapshot = WireSnapshot::new(SnapshotKind::Delta);
        snapshot.files.insert(
            "/app/a.rs".into(),
            WireFile {
                lines: BTreeMap::from([(1, 1)]),
                ..WireFile::default()
            },
        );
        snapshot.files.insert(
            "/app/b.rs".into(),
            WireFile {
                lines: BTreeMap::from([(2, 2)]),
                ..WireFile::default()
            },
        );
        let renamed = snapshot.map_paths(|_| "same.rs".into());
        assert_eq!(renamed.files.len(), 1);
        assert_eq!(renamed.files["same.rs"].lines, BTreeMap::from([(2, 2)]));
    }
}
