//! `drift-cov impact`: the tests a change affects, from coverage recorded before it.
//!
//! The coverage JSON was recorded at BASE; the diff goes from BASE to HEAD, and every line
//! number here is a line of BASE (the coverage's), except the `head_lines` of insertions.
//! The rule, per block of consecutive changed lines of a file the coverage lists (the old
//! path of a renamed file):
//!
//! 1. **Modified or deleted lines.** A block that modifies or deletes coverable lines (lines
//!    the coverage JSON lists for the file, executed or not) affects every test that
//!    executed one of them. Coverable lines of the block that no test executed are reported
//!    as changed lines no test executed.
//! 2. **Insertions.** A block that only inserts lines, or that changes only lines the
//!    coverage does not list (blank lines, comments, signatures, attributes), is placed by
//!    its **neighbours**: the nearest coverable line above the block and the nearest
//!    coverable line below it, in the same file (a block at the top or the bottom of a file
//!    has one). It affects every test that executed either neighbour. When no test executed
//!    either, its new lines are reported as changed lines no test executed.
//!
//! A changed file the coverage does not list (a new file, or one without code) affects no
//! test and is reported by name: nothing at BASE executed it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::coverage_json::CoverageView;
use crate::diff::{Change, FileChange};

/// What a change affects.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Impact {
    /// The affected tests, in run order.
    pub(crate) tests: Vec<AffectedTest>,
    /// Per file of the coverage (BASE path), the changed lines no test executed.
    pub(crate) unexecuted: Vec<UnexecutedChanges>,
    /// Changed files the coverage does not list.
    pub(crate) files_without_coverage: Vec<UncoveredFile>,
}

/// One affected test and why.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct AffectedTest {
    /// The test's trace id.
    pub(crate) trace_id: String,
    /// The test's name; empty when the coverage JSON has none.
    pub(crate) name: String,
    /// Per file, the modified or deleted lines the test executed.
    pub(crate) changed_lines: BTreeMap<String, Vec<u32>>,
    /// Per file, the neighbours of insertions the test executed.
    pub(crate) neighbour_lines: BTreeMap<String, Vec<u32>>,
}

/// The changed lines of one file that no test executed.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct UnexecutedChanges {
    /// The file's path at BASE.
    pub(crate) path: String,
    /// The file's path at HEAD; `None` when the change deletes it.
    pub(crate) head_path: Option<String>,
    /// Modified or deleted coverable lines no test executed.
    pub(crate) lines: Vec<u32>,
    /// Insertions whose neighbours no test executed.
    pub(crate) insertions: Vec<Insertion>,
}

/// Lines inserted at one place.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Insertion {
    /// The BASE line the new lines follow (0 at the top of the file).
    pub(crate) after_line: u32,
    /// The first and last new line at HEAD.
    pub(crate) head_lines: [u32; 2],
}

/// A changed file the coverage does not list.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub(crate) struct UncoveredFile {
    /// The path at HEAD, or at BASE for a deleted file.
    pub(crate) path: String,
    /// `added`, `deleted`, `renamed` or `modified`.
    pub(crate) status: &'static str,
}

/// Applies the rule of the module documentation to every file of the diff.
pub(crate) fn compute(view: &CoverageView, diff: &[FileChange]) -> Impact {
    // test index → (changed lines, neighbour lines), each file → lines.
    type Reasons = (
        BTreeMap<String, BTreeSet<u32>>,
        BTreeMap<String, BTreeSet<u32>>,
    );
    let mut reasons: BTreeMap<usize, Reasons> = BTreeMap::new();
    let mut impact = Impact::default();
    let no_tests = BTreeMap::new();

    for file in diff {
        let base = file
            .old_path
            .as_deref()
            .and_then(|path| view.files.get_key_value(path));
        let Some((path, record)) = base else {
            let path = file.new_path.as_ref().or(file.old_path.as_ref());
            if let Some(path) = path.filter(|_| !file.changes.is_empty()) {
                impact.files_without_coverage.push(UncoveredFile {
                    path: path.clone(),
                    status: file.status(),
                });
            }
            continue;
        };
        let covered_by = view.covered_by.get(path).unwrap_or(&no_tests);
        let mut unexecuted = UnexecutedChanges {
            path: path.clone(),
            head_path: file.new_path.clone(),
            lines: Vec::new(),
            insertions: Vec::new(),
        };
        for change in &file.changes {
            let coverable: Vec<u32> = record
                .lines
                .range(change.old_lines())
                .map(|(&line, _)| line)
                .collect();
            if !coverable.is_empty() {
                for line in coverable {
                    let tests = covered_by.get(&line).map_or(&[][..], Vec::as_slice);
                    if tests.is_empty() {
                        unexecuted.lines.push(line);
                    }
                    for &test_idx in tests {
                        let entry = reasons.entry(test_idx).or_default();
                        entry.0.entry(path.clone()).or_default().insert(line);
                    }
                }
                continue;
            }
            let mut executed = false;
            for line in neighbours(&record.lines, change) {
                for &test_idx in covered_by.get(&line).into_iter().flatten() {
                    executed = true;
                    let entry = reasons.entry(test_idx).or_default();
                    entry.1.entry(path.clone()).or_default().insert(line);
                }
            }
            if !executed && change.new_len > 0 {
                unexecuted.insertions.push(Insertion {
                    after_line: change.old_start.saturating_sub(1),
                    head_lines: [change.new_start, change.new_start + change.new_len - 1],
                });
            }
        }
        if !unexecuted.lines.is_empty() || !unexecuted.insertions.is_empty() {
            impact.unexecuted.push(unexecuted);
        }
    }

    let as_lists = |files: BTreeMap<String, BTreeSet<u32>>| {
        files
            .into_iter()
            .map(|(path, lines)| (path, lines.into_iter().collect()))
            .collect()
    };
    impact.tests = reasons
        .into_iter()
        .map(|(test_idx, (changed, neighbour))| AffectedTest {
            trace_id: view.tests[test_idx].id.clone(),
            name: view.tests[test_idx].name.clone(),
            changed_lines: as_lists(changed),
            neighbour_lines: as_lists(neighbour),
        })
        .collect();
    impact.unexecuted.sort_by(|a, b| a.path.cmp(&b.path));
    impact
        .files_without_coverage
        .sort_by(|a, b| a.path.cmp(&b.path));
    impact
}

/// The nearest coverable line above the block and the nearest one below it.
fn neighbours(lines: &BTreeMap<u32, u64>, change: &Change) -> impl Iterator<Item = u32> {
    let above = lines.range(..change.old_start).next_back();
    let below = lines.range(change.old_lines().end..).next();
    above.into_iter().chain(below).map(|(&line, _)| line)
}

impl Impact {
    /// The affected tests' trace ids, in run order.
    pub(crate) fn trace_ids(&self) -> impl Iterator<Item = &str> {
        self.tests.iter().map(|test| test.trace_id.as_str())
    }

    /// The value of `tusk drift run --filter` that selects exactly the affected tests
    /// (`id=^(a|b)$`, each id escaped as a Go regular expression); `None` when no test is
    /// affected.
    pub(crate) fn tusk_filter(&self) -> Option<String> {
        if self.tests.is_empty() {
            return None;
        }
        let ids: Vec<String> = self.trace_ids().map(quote_meta).collect();
        Some(format!("id=^({})$", ids.join("|")))
    }
}

/// Escapes the metacharacters of Go's `regexp` syntax, as `regexp.QuoteMeta` does.
fn quote_meta(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\.+*?()|[]{}^$".contains(character) {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage_json;

    /// One file `a.rs` with coverable lines 2..=4 and 10..=12 and 20; test `t1` ran 2..=4,
    /// `t2` ran 10..=12, nobody ran 20.
    fn view() -> CoverageView {
        coverage_json::parse(
            r#"{
              "summary": {"per_test": [
                {"test_id": "t1", "test_name": "GET /one", "covered_lines": 3, "files_touched": 1},
                {"test_id": "t2", "test_name": "GET /two", "covered_lines": 3, "files_touched": 1}
              ]},
              "aggregate": {"a.rs": {"lines": {"2": 1, "3": 1, "4": 1, "10": 1, "11": 1, "12": 1, "20": 0},
                                     "total_branches": 0, "covered_branches": 0}},
              "per_test": {
                "t1": {"a.rs": {"covered_lines": [2, 3, 4], "coverable_lines": 3, "covered_count": 3, "total_branches": 0, "covered_branches": 0}},
                "t2": {"a.rs": {"covered_lines": [10, 11, 12], "coverable_lines": 3, "covered_count": 3, "total_branches": 0, "covered_branches": 0}}
              }
            }"#,
        )
        .expect("parses")
    }

    fn file(changes: &[(u32, u32, u32, u32)]) -> FileChange {
        FileChange {
            old_path: Some("a.rs".into()),
            new_path: Some("a.rs".into()),
            changes: changes
                .iter()
                .map(|&(old_start, old_len, new_start, new_len)| Change {
                    old_start,
                    old_len,
                    new_start,
                    new_len,
                })
                .collect(),
        }
    }

    fn ids(impact: &Impact) -> Vec<&str> {
        impact.trace_ids().collect()
    }

    #[test]
    fn a_modified_line_selects_the_tests_that_ran_it() {
        let impact = compute(&view(), &[file(&[(3, 1, 3, 1)])]);
        assert_eq!(ids(&impact), ["t1"]);
        assert_eq!(impact.tests[0].changed_lines["a.rs"], [3]);
        assert!(impact.unexecuted.is_empty());
    }

    #[test]
    fn an_insertion_selects_the_tests_of_both_neighbours() {
        // Inserted between old lines 6 and 7: neighbours 4 (t1) and 10 (t2).
        let impact = compute(&view(), &[file(&[(7, 0, 7, 2)])]);
        assert_eq!(ids(&impact), ["t1", "t2"]);
        assert_eq!(impact.tests[0].neighbour_lines["a.rs"], [4]);
        assert_eq!(impact.tests[1].neighbour_lines["a.rs"], [10]);
        // A comment line (5, not coverable) replaced: the same neighbours.
        let impact = compute(&view(), &[file(&[(5, 1, 5, 1)])]);
        assert_eq!(ids(&impact), ["t1", "t2"]);
    }

    #[test]
    fn unexecuted_lines_and_insertions_are_reported() {
        // Line 20 (nobody ran it) modified; lines inserted at the end, after 20, below nothing.
        let impact = compute(&view(), &[file(&[(20, 1, 20, 1), (31, 0, 31, 3)])]);
        assert!(impact.tests.is_empty());
        assert_eq!(impact.tusk_filter(), None);
        assert_eq!(
            impact.unexecuted,
            [UnexecutedChanges {
                path: "a.rs".into(),
                head_path: Some("a.rs".into()),
                lines: vec![20],
                insertions: vec![Insertion {
                    after_line: 30,
                    head_lines: [31, 33]
                }],
            }]
        );
    }

    #[test]
    fn files_outside_the_coverage_are_listed_and_select_nothing() {
        let new_file = FileChange {
            old_path: None,
            new_path: Some("b.rs".into()),
            changes: vec![Change {
                old_start: 1,
                old_len: 0,
                new_start: 1,
                new_len: 4,
            }],
        };
        let impact = compute(&view(), &[new_file]);
        assert!(impact.tests.is_empty());
        assert_eq!(
            impact.files_without_coverage,
            [UncoveredFile {
                path: "b.rs".into(),
                status: "added"
            }]
        );
    }

    #[test]
    fn the_filter_escapes_ids_as_go_regexps() {
        let mut impact = compute(&view(), &[file(&[(3, 1, 3, 1), (11, 1, 11, 1)])]);
        assert_eq!(impact.tusk_filter().as_deref(), Some("id=^(t1|t2)$"));
        impact.tests[0].trace_id = "a.b(c)".into();
        assert_eq!(
            impact.tusk_filter().as_deref(),
            Some("id=^(a\\.b\\(c\\)|t2)$")
        );
    }
}
