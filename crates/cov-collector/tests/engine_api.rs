//! The engine's contract with the live collector, on the workload fixture: a change in one
//! data record's counters changes only the files [`Engine::record_files`] names, file
//! selection happens once, counter ranges are the records', and counts evaluated for some
//! files answer for those files (and for others without failing).

use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::decode::profraw::RawProfile;
use cov_collector::decode::sections::CoverageSections;
use cov_collector::{Engine, Threads};
use cov_testkit::{BuildOptions, build_instrumented, run_instrumented};

/// The engine of the workload fixture (branch coverage build) and the profile of one run
/// of `workload`.
fn workload_engine(workload: &str) -> (Engine, RawProfile) {
    let binary = build_instrumented(
        "workload",
        "workload",
        &BuildOptions {
            release: false,
            branch: true,
        },
    );
    let run = run_instrumented(&binary, &[workload]);
    let mapping = CoverageMapping::decode(&CoverageSections::read(&binary).unwrap()).unwrap();
    let profile = RawProfile::read(run.profraw()).unwrap();
    (
        Engine::new(mapping, &profile.records, Threads::One),
        profile,
    )
}

#[test]
fn a_record_changes_only_the_files_it_names() {
    let (engine, profile) = workload_engine("a");
    assert_eq!(engine.num_records(), profile.records.len());

    let files = engine.covered_files();
    let counts = engine.evaluate(&profile.counters);
    let before: Vec<_> = files
        .iter()
        .map(|&file| engine.file_coverage(file, &counts))
        .collect();
    let mut checked = 0;
    for record in 0..engine.num_records() {
        assert_eq!(
            engine.record_counters(record),
            profile.records[record].counters
        );
        let mut counters = profile.counters.clone();
        for counter in &mut counters[engine.record_counters(record)] {
            *counter += 3;
        }
        let named = engine.record_files(record);
        let counts = engine.evaluate(&counters);
        for (&file, old) in files.iter().zip(&before) {
            let new = engine.file_coverage(file, &counts);
            if &new != old {
                assert!(
                    named.contains(&file),
                    "record {record} changed {} but names only {:?}",
                    engine.path(file),
                    named.iter().map(|&f| engine.path(f)).collect::<Vec<_>>()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "no record changed anything: the test would prove nothing"
    );
}

#[test]
fn file_selection_uses_the_filter_once_per_file() {
    let binary = build_instrumented("workload", "workload", &BuildOptions::default());
    let mapping = CoverageMapping::from_executable(&binary).unwrap();
    let engine = Engine::new(mapping, &[], Threads::One);
    let calls = std::cell::Cell::new(0);
    let selected = engine.select_files(|path| {
        calls.set(calls.get() + 1);
        path.ends_with("/parsing.rs") || path.ends_with("/shapes.rs")
    });
    assert_eq!(calls.get(), engine.covered_files().len());
    let names: Vec<&str> = selected.iter().map(|&file| engine.path(file)).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|path| path.starts_with('/')));
    // Without any profile data every function is unexecuted, yet every line is mapped.
    let counts = engine.evaluate(&[]);
    for &file in &selected {
        let coverage = engine.file_coverage(file, &counts);
        assert!(!coverage.lines.is_empty());
        assert!(coverage.lines.values().all(|&count| count == 0));
    }
}

#[test]
fn counts_that_leave_a_file_out_read_as_nothing_rather_than_fail() {
    let (engine, profile) = workload_engine("all");
    let files = engine.covered_files();
    let (first, rest) = files.split_first().expect("the workload has files");

    // Counts of the other files answer for those files exactly, and for the left-out one
    // without panicking.
    let counts = engine.evaluate_files(rest, &profile.counters);
    let all_counts = engine.evaluate(&profile.counters);
    for &file in rest {
        assert_eq!(
            engine.file_coverage(file, &counts),
            engine.file_coverage(file, &all_counts)
        );
    }
    let _ = engine.file_coverage(*first, &counts);
    let _ = engine.file_report(*first, &counts);
    // No files: no counts, and still no panic.
    let nothing = engine.evaluate_files(&[], &profile.counters);
    let coverage = engine.file_coverage(*first, &nothing);
    assert!(coverage.lines.is_empty() && coverage.functions.is_empty());
}
