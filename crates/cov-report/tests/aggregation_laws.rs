//! Property tests for the aggregation laws.
//!
//! Records are generated the way the SDK produces them: a file's per-line branch totals are
//! the same in every record (what [`BranchCache`] guarantees), and a record never claims
//! more covered outcomes than the line has. Under that condition merging is commutative
//! and associative, per-test counts add up to the whole run, and covered never exceeds
//! total; the last law is also checked for arbitrary, inconsistent test records.

use std::collections::{BTreeMap, BTreeSet};

use cov_core::{
    Branch, BranchCache, CoverageSnapshot, FileCoverage, LineBranches, SnapshotKind, WireFile,
    WireSnapshot,
};
use cov_report::Aggregate;
use cov_report::aggregate::merge_test;
use proptest::prelude::*;

/// Per file: coverable lines, and per branch line its number of outcomes.
#[derive(Clone, Debug)]
struct Structure {
    files: BTreeMap<String, (BTreeSet<u32>, BTreeMap<u32, u32>)>,
}

fn structure() -> impl Strategy<Value = Structure> {
    let file = (
        prop::collection::btree_set(1u32..40, 1..12),
        prop::collection::btree_map(1u32..40, 1u32..5, 0..5),
    );
    prop::collection::btree_map(
        prop::sample::select(vec!["src/a.rs", "src/b.rs", "src/c/d.rs", "src/e.rs"]),
        file,
        1..4,
    )
    .prop_map(|files| Structure {
        files: files
            .into_iter()
            .map(|(path, (mut lines, branches))| {
                lines.extend(branches.keys().copied());
                (path.to_owned(), (lines, branches))
            })
            .collect(),
    })
}

/// A baseline of the structure: every line, counts 0 or 1 (startup), no branch covered
/// beyond its total.
fn baseline(structure: &Structure) -> impl Strategy<Value = WireSnapshot> + use<> {
    let files: Vec<_> = structure.files.clone().into_iter().collect();
    let per_file: Vec<_> = files
        .into_iter()
        .map(|(path, (lines, branches))| {
            let counts = prop::collection::vec(0u64..2, lines.len());
            let covered: Vec<_> = branches.values().map(|&total| 0..=total).collect();
            (Just(path), Just(lines), Just(branches), counts, covered)
        })
        .collect();
    per_file.prop_map(|files| WireSnapshot {
        kind: SnapshotKind::Baseline,
        files: files
            .into_iter()
            .map(|(path, lines, branches, counts, covered)| {
                let record = WireFile {
                    lines: lines.into_iter().zip(counts).collect(),
                    branches: branches
                        .into_iter()
                        .zip(covered)
                        .map(|((line, total), covered)| (line, LineBranches { total, covered }))
                        .collect(),
                };
                (path, record)
            })
            .collect(),
    })
}

/// A test's delta against the structure: some files, some of their lines with counts,
/// every branch line of a touched file with the structure's total (as [`BranchCache`]
/// reports it) and some covered outcomes.
fn test_record(structure: &Structure) -> impl Strategy<Value = WireSnapshot> + use<> {
    let files: Vec<_> = structure.files.clone().into_iter().collect();
    let per_file: Vec<_> = files
        .into_iter()
        .map(|(path, (lines, branches))| {
            let counts = prop::collection::vec(prop_oneof![Just(0u64), 1u64..6], lines.len());
            let covered: Vec<_> = branches.values().map(|&total| 0..=total).collect();
            (
                any::<bool>(),
                Just(path),
                Just(lines),
                Just(branches),
                counts,
                covered,
            )
        })
        .collect();
    per_file.prop_map(|files| WireSnapshot {
        kind: SnapshotKind::Delta,
        files: files
            .into_iter()
            .filter(|(touched, ..)| *touched)
            .map(|(_, path, lines, branches, counts, covered)| {
                let record = WireFile {
                    lines: lines
                        .into_iter()
                        .zip(counts)
                        .filter(|(_, count)| *count > 0)
                        .collect(),
                    branches: branches
                        .into_iter()
                        .zip(covered)
                        .map(|((line, total), covered)| (line, LineBranches { total, covered }))
                        .collect(),
                };
                (path, record)
            })
            .collect(),
    })
}

/// A structure, a baseline and a few tests of it.
fn run() -> impl Strategy<Value = (WireSnapshot, Vec<WireSnapshot>)> {
    structure().prop_flat_map(|structure| {
        (
            baseline(&structure),
            prop::collection::vec(test_record(&structure), 0..6),
        )
    })
}

fn aggregate_of(baseline: Option<&WireSnapshot>, tests: &[(usize, WireSnapshot)]) -> Aggregate {
    let mut aggregate = Aggregate::new();
    if let Some(baseline) = baseline {
        aggregate.add_baseline(baseline.clone());
    }
    for (test_idx, record) in tests {
        aggregate.add_test(format!("t{test_idx}"), "", record.clone());
    }
    aggregate
}

/// Who covers what, with test ids instead of indices, as sets.
fn coverers(aggregate: &Aggregate) -> BTreeMap<(String, u32), BTreeSet<String>> {
    let view = aggregate.view();
    let mut map = BTreeMap::new();
    for (path, lines) in &view.covered_by {
        for (&line, tests) in lines {
            let ids = tests
                .iter()
                .map(|&idx| view.tests[idx].id.clone())
                .collect();
            map.insert((path.clone(), line), ids);
        }
    }
    map
}

fn zeroed(baseline: &WireSnapshot) -> WireSnapshot {
    let mut zeroed = baseline.clone();
    for file in zeroed.files.values_mut() {
        file.lines.values_mut().for_each(|count| *count = 0);
        file.branches
            .values_mut()
            .for_each(|branches| branches.covered = 0);
    }
    zeroed
}

proptest! {
    #[test]
    fn merging_tests_is_commutative((baseline, tests) in run(), seed in any::<u64>()) {
        let numbered: Vec<_> = tests.into_iter().enumerate().collect();
        let mut shuffled = numbered.clone();
        // A deterministic permutation from the seed.
        shuffled.sort_by_key(|(idx, _)| (*idx as u64).wrapping_mul(seed | 1).rotate_left(17));
        let in_order = aggregate_of(Some(&baseline), &numbered);
        let permuted = aggregate_of(Some(&baseline), &shuffled);
        prop_assert_eq!(in_order.view().files, permuted.view().files);
        prop_assert_eq!(coverers(&in_order), coverers(&permuted));
    }

    #[test]
    fn merging_tests_is_associative((baseline, tests) in run()) {
        prop_assume!(tests.len() >= 3);
        for path in baseline.files.keys() {
            let record = |test: &WireSnapshot| test.files.get(path).cloned().unwrap_or_default();
            let (a, b, c) = (record(&tests[0]), record(&tests[1]), record(&tests[2]));
            let mut left = a.clone();
            merge_test(&mut left, &b);
            merge_test(&mut left, &c);
            let mut right_tail = b.clone();
            merge_test(&mut right_tail, &c);
            let mut right = a.clone();
            merge_test(&mut right, &right_tail);
            prop_assert_eq!(left, right);
        }
    }

    #[test]
    fn merging_baselines_is_commutative_on_counts((first, _) in run(), (second, _) in run()) {
        // Restarted services report the same structure; their startup counts may differ.
        let mut one = Aggregate::new();
        one.add_baseline(first.clone());
        one.add_baseline(second.clone());
        let mut other = Aggregate::new();
        other.add_baseline(second);
        other.add_baseline(first);
        let covered = |aggregate: &Aggregate| -> BTreeMap<(String, u32), bool> {
            aggregate.view().files.iter().flat_map(|(path, file)| {
                file.lines.iter().map(move |(&line, &count)| ((path.clone(), line), count > 0))
            }).collect()
        };
        prop_assert_eq!(covered(&one), covered(&other));
    }

    #[test]
    fn per_test_counts_add_up_to_the_whole_run((baseline, tests) in run()) {
        let numbered: Vec<_> = tests.iter().cloned().enumerate().collect();
        let view = aggregate_of(Some(&zeroed(&baseline)), &numbered).view();
        // The whole run as one snapshot: every test's delta merged.
        let mut whole_run = WireSnapshot::new(SnapshotKind::Delta);
        for test in &tests {
            for (path, file) in &test.files {
                merge_test(whole_run.files.entry(path.clone()).or_default(), file);
            }
        }
        let as_one = aggregate_of(Some(&zeroed(&baseline)), &[(0, whole_run)]).view();
        prop_assert_eq!(&view.files, &as_one.files);

        for (path, file) in &view.files {
            for (&line, &count) in &file.lines {
                let per_test: u64 = tests
                    .iter()
                    .filter_map(|test| test.files.get(path)?.lines.get(&line))
                    .sum();
                prop_assert_eq!(count, per_test, "{}:{}", path, line);
                let executed_by: Vec<usize> = tests
                    .iter()
                    .enumerate()
                    .filter(|(_, test)| {
                        test.files.get(path).and_then(|f| f.lines.get(&line)).is_some_and(|&c| c > 0)
                    })
                    .map(|(idx, _)| idx)
                    .collect();
                let covered_by = view.covered_by.get(path).and_then(|lines| lines.get(&line));
                prop_assert_eq!(covered_by.cloned().unwrap_or_default(), executed_by);
            }
            for (&line, branches) in &file.branches {
                let per_test: u32 = tests
                    .iter()
                    .filter_map(|test| test.files.get(path)?.branches.get(&line))
                    .map(|b| b.covered)
                    .sum();
                prop_assert_eq!(branches.covered, per_test.min(branches.total));
            }
        }
        let per_test_lines: usize = view.tests.iter().map(|test| test.covered_lines()).sum();
        let covered_pairs: usize = view.covered_by.values().flat_map(|lines| lines.values()).map(Vec::len).sum();
        prop_assert_eq!(per_test_lines, covered_pairs);
    }

    #[test]
    fn covered_never_exceeds_total(
        (baseline, _) in run(),
        wild_tests in prop::collection::vec(
            prop::collection::btree_map(
                prop::sample::select(vec!["src/a.rs", "src/b.rs", "src/z.rs"]),
                (
                    prop::collection::btree_map(1u32..40, 0u64..4, 0..6),
                    prop::collection::btree_map(1u32..40, (0u32..6, 0u32..9), 0..4),
                ),
                0..3,
            ),
            0..5,
        ),
    ) {
        // Test records here are arbitrary: totals that disagree, covered above total.
        let tests: Vec<(usize, WireSnapshot)> = wild_tests
            .into_iter()
            .map(|files| WireSnapshot {
                kind: SnapshotKind::Delta,
                files: files
                    .into_iter()
                    .map(|(path, (lines, branches))| {
                        let branches = branches
                            .into_iter()
                            .map(|(line, (total, covered))| (line, LineBranches { total, covered }))
                            .collect();
                        (path.to_owned(), WireFile { lines, branches })
                    })
                    .collect(),
            })
            .enumerate()
            .collect();
        let view = aggregate_of(Some(&baseline), &tests).view();
        for file in view.files.values() {
            for branches in file.branches.values() {
                prop_assert!(branches.covered <= branches.total);
            }
            prop_assert!(file.covered_branches() <= file.total_branches());
            prop_assert!(file.covered_lines() <= file.coverable_lines());
        }
        let totals = view.totals();
        prop_assert!(totals.covered_lines <= totals.lines);
        prop_assert!(totals.covered_branches <= totals.branches);
        prop_assert!(totals.covered_files <= totals.files);
        for test in &view.tests {
            for file in test.files.values() {
                prop_assert!(file.covered_lines.len() <= file.coverable_lines);
            }
        }
    }

    #[test]
    fn branch_cache_reports_baseline_totals_in_every_delta(
        conditions in prop::collection::vec((1u32..30, 1u32..80, any::<bool>(), any::<bool>()), 1..10),
        deltas in prop::collection::vec(prop::collection::vec((any::<bool>(), 0u64..3, 0u64..3), 10), 1..5),
    ) {
        // Baseline: the full structure, outcome counts 0, some outcomes folded.
        let structure: Vec<Branch> = conditions
            .iter()
            .map(|&(line, column, true_folded, false_folded)| Branch {
                line,
                column,
                true_count: (!true_folded).then_some(0),
                false_count: (!false_folded).then_some(0),
            })
            .collect();
        let mut baseline = CoverageSnapshot::new(SnapshotKind::Baseline);
        baseline.files.insert(
            "src/a.rs".into(),
            FileCoverage { branches: structure.clone(), ..FileCoverage::default() },
        );
        let mut cache = BranchCache::new();
        let baseline_record = cache.to_wire(&baseline);
        let learned = &baseline_record.files["src/a.rs"].branches;

        for delta_choices in deltas {
            // A delta names only the outcomes that ran: a subset, non-zero counts.
            let ran: Vec<Branch> = structure
                .iter()
                .zip(&delta_choices)
                .filter(|(_, (named, ..))| *named)
                .map(|(branch, &(_, true_runs, false_runs))| Branch {
                    true_count: branch.true_count.and((true_runs > 0).then_some(true_runs)),
                    false_count: branch.false_count.and((false_runs > 0).then_some(false_runs)),
                    ..*branch
                })
                .collect();
            let mut delta = CoverageSnapshot::new(SnapshotKind::Delta);
            let file = FileCoverage {
                lines: ran.iter().map(|branch| (branch.line, 1)).collect(),
                branches: ran.clone(),
                ..FileCoverage::default()
            };
            let expected_covered = file.line_branches();
            delta.files.insert("src/a.rs".into(), file);
            let record = cache.to_wire(&delta);
            let reported = &record.files["src/a.rs"].branches;
            let totals = |map: &BTreeMap<u32, LineBranches>| -> BTreeMap<u32, u32> {
                map.iter().map(|(&line, b)| (line, b.total)).collect()
            };
            prop_assert_eq!(totals(reported), totals(learned));
            for (line, branches) in reported {
                let ran_here = expected_covered.get(line).map_or(0, |b| b.covered);
                prop_assert_eq!(branches.covered, ran_here);
                prop_assert!(branches.covered <= branches.total);
            }
        }
    }
}
