//! The collector inside a running, instrumented program (`fixtures/inprocess`), compared
//! with the `llvm-cov` oracle of the very same run (its `LLVM_PROFILE_FILE` profile).

mod common;

use std::collections::BTreeSet;

use common::{
    assert_matches_oracle, inprocess_binary, lines_exposed_to_subtraction, run_scenario,
    sum_snapshots, workload_oracle,
};
use cov_core::SnapshotKind;
use cov_testkit::BuildOptions;

/// baseline → workload A → delta → workload B → delta: the deltas separate the two
/// workloads, and baseline + deltas equal the oracle line by line, branch by branch.
fn check_sequence(options: &BuildOptions) {
    let binary = inprocess_binary(options);
    let (run, snapshots) = run_scenario(&binary, "sequence");
    let kinds: Vec<SnapshotKind> = snapshots.iter().map(|snapshot| snapshot.kind).collect();
    assert_eq!(
        kinds,
        [
            SnapshotKind::Baseline,
            SnapshotKind::Delta,
            SnapshotKind::Delta
        ]
    );
    let oracle = workload_oracle(&binary, &run);
    assert_matches_oracle(&oracle, &sum_snapshots(&snapshots));

    // Lines only workload A runs, from the oracle of runs of A alone and B alone.
    let covered = |scenario: &str| -> BTreeSet<(String, u32)> {
        let run = cov_testkit::run_instrumented(&binary, &[scenario, "."]);
        workload_oracle(&binary, &run)
            .files
            .into_iter()
            .flat_map(|(path, file)| {
                file.lines
                    .into_iter()
                    .filter(|&(_, count)| count > 0)
                    .map(move |(line, _)| (path.clone(), line))
            })
            .collect()
    };
    let only_a: BTreeSet<_> = covered("run-a")
        .difference(&covered("run-b"))
        .cloned()
        .collect();
    assert!(
        only_a.len() >= 20,
        "workload A should have code of its own: {only_a:?}"
    );
    let lines_of = |snapshot_idx: usize| -> BTreeSet<(String, u32)> {
        snapshots[snapshot_idx]
            .files
            .iter()
            .flat_map(|(path, file)| file.lines.keys().map(move |&line| (path.clone(), line)))
            .collect()
    };
    let (delta_a, delta_b) = (lines_of(1), lines_of(2));
    let missing_from_a: Vec<_> = only_a.difference(&delta_a).collect();
    assert!(
        missing_from_a.is_empty(),
        "delta A lacks lines only A runs: {missing_from_a:?}"
    );
    let leaked_into_b: Vec<_> = only_a.intersection(&delta_b).collect();
    assert!(
        leaked_into_b.is_empty(),
        "delta B contains lines only A runs: {leaked_into_b:?}"
    );
}

#[test]
fn sequence_deltas_separate_workloads_and_sum_to_the_oracle() {
    check_sequence(&BuildOptions::default());
}

#[test]
fn sequence_with_branch_coverage_sums_to_the_oracle() {
    check_sequence(&BuildOptions {
        branch: true,
        ..BuildOptions::default()
    });
}

#[test]
fn sequence_in_a_release_build_sums_to_the_oracle() {
    check_sequence(&BuildOptions {
        release: true,
        ..BuildOptions::default()
    });
}

/// A delta taken before any baseline covers everything since the process started: exactly
/// the executed lines of the whole-run oracle, with their counts.
#[test]
fn a_delta_before_any_baseline_covers_the_run_since_start() {
    let binary = inprocess_binary(&BuildOptions::default());
    let (run, snapshots) = run_scenario(&binary, "quiet");
    let [delta] = snapshots.as_slice() else {
        panic!("one delta expected, got {}", snapshots.len());
    };
    assert_eq!(delta.kind, SnapshotKind::Delta);
    let oracle = workload_oracle(&binary, &run);
    for (path, oracle_file) in &oracle.files {
        let executed: Vec<(u32, u64)> = oracle_file
            .lines
            .iter()
            .filter(|&(_, &count)| count > 0)
            .map(|(&line, &count)| (line, count))
            .collect();
        let reported: Vec<(u32, u64)> = delta
            .files
            .get(path)
            .map(|file| {
                file.lines
                    .iter()
                    .map(|(&line, &count)| (line, count))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(reported, executed, "{path}");
    }
    assert!(
        delta
            .files
            .keys()
            .all(|path| oracle.files.contains_key(path))
    );
}

/// Eight threads run the workload and, after each round, the thread a barrier elects takes
/// a delta while the others wait outside the workload; a final delta after joining:
/// baseline + all deltas equal the oracle of the whole run exactly, every line.
#[test]
fn eight_threads_deltas_at_quiescent_points_equal_the_oracle() {
    let binary = inprocess_binary(&BuildOptions::default());
    let (run, snapshots) = run_scenario(&binary, "threads-quiescent");
    assert_eq!(
        snapshots.len(),
        1 + 40 + 1,
        "baseline, one delta per round, final delta"
    );
    let oracle = workload_oracle(&binary, &run);
    assert_matches_oracle(&oracle, &sum_snapshots(&snapshots));
}

/// Eight threads run the workload while two threads take deltas concurrently, as fast as
/// they can (the collector serializes them); a final delta after joining. Nothing is lost: every line's sum is at least the oracle's.
/// Lines that no subtraction-expression region touches are exact; the others may be
/// overstated by threads caught in flight (see `docs/coverage.md`), never understated.
#[test]
fn eight_threads_concurrent_deltas_lose_nothing_and_are_exact_outside_subtractions() {
    let binary = inprocess_binary(&BuildOptions::default());
    let (run, snapshots) = run_scenario(&binary, "threads");
    let intermediate = &snapshots[1..snapshots.len() - 1];
    let n_nonempty = intermediate
        .iter()
        .filter(|snapshot| !snapshot.files.is_empty())
        .count();
    assert!(
        n_nonempty >= 2,
        "at least two deltas should catch the threads at work: {n_nonempty} of {}",
        intermediate.len()
    );
    let oracle = workload_oracle(&binary, &run);
    let total = sum_snapshots(&snapshots);
    let exposed = lines_exposed_to_subtraction(&binary);
    let mut n_exact_checked = 0;
    let mut overstated = Vec::new();
    for (path, oracle_file) in &oracle.files {
        let ours = &total
            .files
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .lines;
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            oracle_file.lines.keys().collect::<Vec<_>>(),
            "{path}: the same coverable lines"
        );
        for (line, &expected) in &oracle_file.lines {
            let actual = ours[line];
            if exposed.contains(&(path.clone(), *line)) {
                assert!(
                    actual >= expected,
                    "{path}:{line}: lost counts: {actual} < {expected}"
                );
                if actual > expected {
                    overstated.push(format!("{path}:{line}: {actual} vs {expected}"));
                }
            } else {
                n_exact_checked += 1;
                assert_eq!(
                    actual, expected,
                    "{path}:{line}: not exposed, must be exact"
                );
            }
        }
    }
    assert!(
        n_exact_checked >= 50,
        "too few lines checked exactly ({n_exact_checked}); the test would prove little"
    );
    eprintln!(
        "{n_exact_checked} lines exact; {} exposed lines overstated by threads in flight: {overstated:?}",
        overstated.len()
    );
}
