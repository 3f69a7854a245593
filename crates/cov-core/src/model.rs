//! The coverage model: what one snapshot says about each source file.
//!
//! A [`CoverageSnapshot`] maps absolute file paths to [`FileCoverage`]: line execution
//! counts, branch conditions with the counts of their two outcomes, and function entry
//! counts. Counts are `u64`, as LLVM keeps them (cov-wire's `coverage` module saturates them to
//! the protocol's `int32`).

use std::collections::BTreeMap;

/// Which kind of snapshot a [`CoverageSnapshot`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SnapshotKind {
    /// Every coverable line of every selected file, with its count since the process
    /// started (0 where not executed), and the full branch structure.
    Baseline,
    /// Only what executed since the previous snapshot: lines and branch outcomes with a
    /// non-zero count in that interval.
    Delta,
}

/// Coverage of a set of files at one moment (a baseline) or over one interval (a delta).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageSnapshot {
    /// Baseline or delta.
    pub kind: SnapshotKind,
    /// Absolute file path to that file's coverage, in path order.
    pub files: BTreeMap<String, FileCoverage>,
}

impl CoverageSnapshot {
    /// An empty snapshot of the given kind.
    pub fn new(kind: SnapshotKind) -> Self {
        Self {
            kind,
            files: BTreeMap::new(),
        }
    }
}

/// Coverage of one source file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileCoverage {
    /// 1-based line number to execution count. A line absent from the map is not coverable
    /// (in a baseline) or did not execute (in a delta).
    pub lines: BTreeMap<u32, u64>,
    /// Branch conditions, sorted by `(line, column)`.
    pub branches: Vec<Branch>,
    /// Functions whose definition starts in this file, sorted by `(line, name)`.
    pub functions: Vec<Function>,
}

impl FileCoverage {
    /// Per line, how many branch outcomes there are and how many were taken, derived from
    /// [`FileCoverage::branches`]. Outcomes the compiler folded away are not counted.
    pub fn line_branches(&self) -> BTreeMap<u32, LineBranches> {
        let mut per_line: BTreeMap<u32, LineBranches> = BTreeMap::new();
        for branch in &self.branches {
            let entry = per_line.entry(branch.line).or_default();
            for count in [branch.true_count, branch.false_count]
                .into_iter()
                .flatten()
            {
                entry.total += 1;
                if count > 0 {
                    entry.covered += 1;
                }
            }
        }
        per_line.retain(|_, line| line.total > 0);
        per_line
    }

    /// Number of lines with a non-zero count.
    pub fn covered_lines(&self) -> usize {
        self.lines.values().filter(|&&count| count > 0).count()
    }
}

/// A branch condition and the counts of its two outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Branch {
    /// 1-based line where the condition starts.
    pub line: u32,
    /// 1-based column where the condition starts.
    pub column: u32,
    /// How often the condition was true; `None` when the compiler folded this outcome
    /// away because it can never happen (LLVM's "folded" branch).
    pub true_count: Option<u64>,
    /// How often the condition was false; `None` when folded away.
    pub false_count: Option<u64>,
}

/// A function and how often it was entered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    /// The function's name as the profile records it (mangled for Rust).
    pub name: String,
    /// 1-based line where the function's body starts.
    pub line: u32,
    /// How often the function was entered.
    pub count: u64,
}

/// Branch outcomes on one line: how many there are and how many were taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LineBranches {
    /// Number of branch outcomes on the line.
    pub total: u32,
    /// Number of those outcomes taken at least once; never more than `total`.
    pub covered: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_branches_count_outcomes_and_skip_folded_ones() {
        let file = FileCoverage {
            branches: vec![
                Branch {
                    line: 3,
                    column: 8,
                    true_count: Some(2),
                    false_count: Some(0),
                },
                Branch {
                    line: 3,
                    column: 20,
                    true_count: Some(1),
                    false_count: None,
                },
                Branch {
                    line: 9,
                    column: 4,
                    true_count: None,
                    false_count: None,
                },
            ],
            ..FileCoverage::default()
        };
        let per_line = file.line_branches();
        assert_eq!(
            per_line.len(),
            1,
            "a line whose outcomes are all folded has no branches"
        );
        assert_eq!(
            per_line[&3],
            LineBranches {
                total: 3,
                covered: 2
            }
        );
    }
}
