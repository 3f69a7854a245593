//! Turning cumulative coverage into differences between snapshots.
//!
//! llvm-cov's line counts are not linear in the counters (a line's count is a maximum over
//! the segments on it), so a delta cannot be computed by subtracting counters and
//! evaluating the difference. Instead every snapshot evaluates the *cumulative* coverage of
//! a file and subtracts the cumulative values reported before: the differences telescope,
//! so a baseline plus every later delta equals the coverage of the whole run exactly.
//!
//! [`Reported`] keeps, per file, the cumulative values reported so far. A value that reads
//! lower than what was reported (possible only when a hot function's counters never
//! settled during a read, see `live.rs`) gives a difference of 0 and leaves the reported
//! value alone, so nothing is ever counted twice and later snapshots catch up.

use std::collections::BTreeMap;

use cov_core::{Branch, FileCoverage, Function};

/// The cumulative coverage reported so far for one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reported {
    coverage: FileCoverage,
}

impl Reported {
    /// Takes in a new cumulative reading and returns what it adds to what was reported:
    /// lines, branches and functions with a non-zero difference only.
    pub(crate) fn advance(&mut self, cumulative: &FileCoverage) -> FileCoverage {
        let mut delta = FileCoverage::default();
        for (&line, &count) in &cumulative.lines {
            let reported = self.coverage.lines.entry(line).or_insert(0);
            if count > *reported {
                delta.lines.insert(line, count - *reported);
                *reported = count;
            }
        }
        self.advance_branches(&cumulative.branches, &mut delta.branches);
        self.advance_functions(&cumulative.functions, &mut delta.functions);
        delta
    }

    /// Takes in a new cumulative reading and returns the cumulative coverage reported from
    /// now on: the reading, raised wherever less was reported before.
    pub(crate) fn rebase(&mut self, cumulative: &FileCoverage) -> FileCoverage {
        self.advance(cumulative);
        let mut full = cumulative.clone();
        for (line, count) in &mut full.lines {
            *count = self.coverage.lines[line];
        }
        full.branches.clone_from(&self.coverage.branches);
        full.functions.clone_from(&self.coverage.functions);
        full
    }

    fn advance_branches(&mut self, cumulative: &[Branch], delta: &mut Vec<Branch>) {
        let same_structure = self.coverage.branches.len() == cumulative.len()
            && self
                .coverage
                .branches
                .iter()
                .zip(cumulative)
                .all(|(reported, now)| same_branch(reported, now));
        if !same_structure {
            // The first reading (or, defensively, a changed structure): start from zero
            // counts with this reading's shape.
            self.coverage.branches = cumulative
                .iter()
                .map(|branch| Branch {
                    true_count: branch.true_count.map(|_| 0),
                    false_count: branch.false_count.map(|_| 0),
                    ..*branch
                })
                .collect();
        }
        for (reported, now) in self.coverage.branches.iter_mut().zip(cumulative) {
            let true_difference = advance_outcome(&mut reported.true_count, now.true_count);
            let false_difference = advance_outcome(&mut reported.false_count, now.false_count);
            if true_difference.unwrap_or(0) > 0 || false_difference.unwrap_or(0) > 0 {
                delta.push(Branch {
                    true_count: true_difference,
                    false_count: false_difference,
                    ..*now
                });
            }
        }
    }

    fn advance_functions(&mut self, cumulative: &[Function], delta: &mut Vec<Function>) {
        let mut reported_by_key: BTreeMap<(u32, &str), u64> = BTreeMap::new();
        for function in &self.coverage.functions {
            reported_by_key.insert((function.line, &function.name), function.count);
        }
        let mut reported = Vec::with_capacity(cumulative.len());
        for function in cumulative {
            let before = reported_by_key
                .get(&(function.line, function.name.as_str()))
                .copied()
                .unwrap_or(0);
            if function.count > before {
                delta.push(Function {
                    count: function.count - before,
                    ..function.clone()
                });
            }
            reported.push(Function {
                count: function.count.max(before),
                ..function.clone()
            });
        }
        self.coverage.functions = reported;
    }
}

/// Whether two branches are the same condition (their counts aside).
fn same_branch(left: &Branch, right: &Branch) -> bool {
    left.line == right.line
        && left.column == right.column
        && left.true_count.is_some() == right.true_count.is_some()
        && left.false_count.is_some() == right.false_count.is_some()
}

/// Advances one branch outcome and returns its difference (`None` for a folded outcome).
fn advance_outcome(reported: &mut Option<u64>, now: Option<u64>) -> Option<u64> {
    match (reported.as_mut(), now) {
        (Some(reported), Some(now)) if now > *reported => {
            let difference = now - *reported;
            *reported = now;
            Some(difference)
        }
        (Some(_), Some(_)) => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage(
        lines: &[(u32, u64)],
        branches: &[(u32, u32, Option<u64>, Option<u64>)],
    ) -> FileCoverage {
        FileCoverage {
            lines: lines.iter().copied().collect(),
            branches: branches
                .iter()
                .map(|&(line, column, true_count, false_count)| Branch {
                    line,
                    column,
                    true_count,
                    false_count,
                })
                .collect(),
            functions: Vec::new(),
        }
    }

    #[test]
    fn deltas_telescope_to_the_last_reading() {
        let mut reported = Reported::default();
        let first = reported.rebase(&coverage(
            &[(1, 1), (2, 0), (3, 4)],
            &[(2, 5, Some(1), Some(0))],
        ));
        assert_eq!(
            first,
            coverage(&[(1, 1), (2, 0), (3, 4)], &[(2, 5, Some(1), Some(0))])
        );
        let delta = reported.advance(&coverage(
            &[(1, 1), (2, 3), (3, 9)],
            &[(2, 5, Some(1), Some(2))],
        ));
        assert_eq!(
            delta,
            coverage(&[(2, 3), (3, 5)], &[(2, 5, Some(0), Some(2))])
        );
        let delta = reported.advance(&coverage(
            &[(1, 1), (2, 3), (3, 9)],
            &[(2, 5, Some(1), Some(2))],
        ));
        assert_eq!(
            delta,
            FileCoverage::default(),
            "nothing ran: an empty delta"
        );
    }

    #[test]
    fn a_lower_reading_is_clamped_and_caught_up_later() {
        let mut reported = Reported::default();
        reported.rebase(&coverage(&[(1, 5)], &[]));
        // A torn read that under-reads line 1: no negative difference, nothing reported.
        assert_eq!(
            reported.advance(&coverage(&[(1, 3)], &[])),
            FileCoverage::default()
        );
        // The next consistent reading reports only what exceeds the earlier report.
        assert_eq!(
            reported.advance(&coverage(&[(1, 7)], &[])),
            coverage(&[(1, 2)], &[])
        );
    }

    #[test]
    fn folded_outcomes_stay_folded() {
        let mut reported = Reported::default();
        reported.rebase(&coverage(&[], &[(4, 1, Some(0), None)]));
        let delta = reported.advance(&coverage(&[], &[(4, 1, Some(6), None)]));
        assert_eq!(delta, coverage(&[], &[(4, 1, Some(6), None)]));
    }

    #[test]
    fn functions_report_their_entry_differences() {
        let function = |count| Function {
            name: "f".to_owned(),
            line: 3,
            count,
        };
        let mut reported = Reported::default();
        let baseline = reported.rebase(&FileCoverage {
            functions: vec![function(2)],
            ..FileCoverage::default()
        });
        assert_eq!(baseline.functions, vec![function(2)]);
        let delta = reported.advance(&FileCoverage {
            functions: vec![function(5)],
            ..FileCoverage::default()
        });
        assert_eq!(delta.functions, vec![function(3)]);
    }
}
