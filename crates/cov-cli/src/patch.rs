//! `drift-cov patch`: how much of a change the tests executed.
//!
//! The coverage JSON was recorded at HEAD, the diff goes from BASE to HEAD. The lines of
//! the patch are HEAD's added and modified lines (the `+` lines of the diff, at their HEAD
//! path); those the coverage lists for the file are the patch's coverable lines, and those
//! with a non-zero count are covered. Patch coverage is covered / coverable; a patch with no
//! coverable line has no percentage and never fails the threshold.

use std::collections::BTreeMap;

use crate::coverage_json::CoverageView;
use crate::diff::FileChange;

/// The patch's coverable lines, per HEAD path.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PatchCoverage {
    /// HEAD path → coverable changed lines, each with whether a test executed it.
    pub(crate) files: BTreeMap<String, Vec<(u32, bool)>>,
    /// Added or modified lines the coverage does not list (not code, or a file it lacks).
    pub(crate) not_coverable: usize,
}

impl PatchCoverage {
    /// `(covered, coverable)` over the whole patch.
    pub(crate) fn totals(&self) -> (usize, usize) {
        let lines = self.files.values().flatten();
        let covered = lines.clone().filter(|(_, covered)| *covered).count();
        (covered, lines.count())
    }

    /// Covered lines in percent of coverable ones; `None` without coverable lines.
    pub(crate) fn percent(&self) -> Option<f64> {
        let (covered, coverable) = self.totals();
        (coverable > 0).then(|| covered as f64 / coverable as f64 * 100.0)
    }
}

/// Applies the rule of the module documentation.
pub(crate) fn compute(view: &CoverageView, diff: &[FileChange]) -> PatchCoverage {
    let mut patch = PatchCoverage::default();
    for file in diff {
        let Some(path) = &file.new_path else {
            continue;
        };
        let record = view.files.get(path);
        for change in &file.changes {
            for line in change.new_lines() {
                match record.and_then(|record| record.lines.get(&line)) {
                    Some(&count) => patch
                        .files
                        .entry(path.clone())
                        .or_default()
                        .push((line, count > 0)),
                    None => patch.not_coverable += 1,
                }
            }
        }
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage_json;
    use crate::diff::Change;

    #[test]
    fn only_coverable_new_lines_count() {
        let view = coverage_json::parse(
            r#"{"summary": {"per_test": null}, "per_test": {},
                "aggregate": {"a.rs": {"lines": {"1": 1, "2": 0, "3": 4}, "total_branches": 0, "covered_branches": 0}}}"#,
        )
        .expect("parses");
        let diff = [
            FileChange {
                old_path: Some("old.rs".into()),
                new_path: Some("a.rs".into()),
                // Lines 2..=4 new (4 is not coverable); a deletion adds nothing.
                changes: vec![
                    Change {
                        old_start: 2,
                        old_len: 1,
                        new_start: 2,
                        new_len: 3,
                    },
                    Change {
                        old_start: 9,
                        old_len: 2,
                        new_start: 11,
                        new_len: 0,
                    },
                ],
            },
            FileChange {
                old_path: Some("gone.rs".into()),
                new_path: None,
                changes: vec![Change {
                    old_start: 1,
                    old_len: 5,
                    new_start: 1,
                    new_len: 0,
                }],
            },
        ];
        let patch = compute(&view, &diff);
        assert_eq!(patch.files["a.rs"], [(2, false), (3, true)]);
        assert_eq!(patch.not_coverable, 1);
        assert_eq!(patch.totals(), (1, 2));
        assert_eq!(patch.percent(), Some(50.0));
        assert_eq!(PatchCoverage::default().percent(), None);
    }
}
