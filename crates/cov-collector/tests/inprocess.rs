//! The collector inside a running, instrumented program (`fixtures/inprocess`), compared
//! with the `llvm-cov` oracle of the very same run (its `LLVM_PROFILE_FILE` profile).

mod common;

use std::collections::BTreeSet;

use common::{
    assert_matches_oracle, inprocess_binary, run_scenario, sum_snapshots, workload_oracle,
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

/// Eight threads run the workload while deltas are taken repeatedly; a final delta after
/// joining them: baseline + all deltas equal the oracle of the whole run exactly.
#[test]
fn eight_threads_baseline_plus_deltas_equal_the_oracle() {
    let binary = inprocess_binary(&BuildOptions::default());
    let (run, snapshots) = run_scenario(&binary, "threads");
    assert!(
        snapshots.len() >= 3,
        "deltas should be taken while the threads run: {} snapshots",
        snapshots.len()
    );
    let oracle = workload_oracle(&binary, &run);
    assert_matches_oracle(&oracle, &sum_snapshots(&snapshots));
}
