//! The engine's contract with the live collector, on the workload fixture: a change in one
//! data record's counters changes only the files [`Engine::record_files`] names, file
//! selection happens once, counter ranges are the records', and counts evaluated for some
//! files answer for those files (and for others without failing); a record binds to its
//! mapping only with the same hash, as llvm-cov's does.

use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::decode::profraw::{FunctionCounters, RawProfile};
use cov_collector::decode::sections::CoverageSections;
use cov_collector::{Engine, Threads};
use cov_testkit::{BuildOptions, build_instrumented, run_instrumented};

/// The mapping of the workload fixture (branch coverage build) and the profile of one run
/// of `workload`.
fn workload_run(workload: &str) -> (CoverageMapping, RawProfile) {
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
    (mapping, profile)
}

/// The engine of [`workload_run`]'s mapping, and the profile.
fn workload_engine(workload: &str) -> (Engine, RawProfile) {
    let (mapping, profile) = workload_run(workload);
    (
        Engine::new(mapping, &profile.functions, Threads::One),
        profile,
    )
}

#[test]
fn a_record_changes_only_the_files_it_names() {
    let (engine, profile) = workload_engine("a");
    assert_eq!(engine.num_records(), profile.functions.len());

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
            profile.functions[record].counters
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

#[test]
fn data_records_bind_only_matching_hashes() {
    // A record with the right name but another hash is a "hash mismatch": llvm-cov leaves
    // the function out entirely rather than showing it as unexecuted.
    let (mapping, profile) = workload_run("all");
    // A record that ran: with all-zero counters `llvm-profdata merge -sparse` would drop
    // the name and llvm-cov would show the function as unexecuted instead.
    let target = profile
        .functions
        .iter()
        .find(|record| {
            profile.counters[record.counters.clone()]
                .iter()
                .any(|&c| c > 0)
        })
        .expect("some function ran");
    let records: Vec<FunctionCounters> = profile
        .functions
        .iter()
        .map(|record| FunctionCounters {
            func_hash: if record == target {
                record.func_hash ^ 1
            } else {
                record.func_hash
            },
            ..record.clone()
        })
        .collect();
    let full = Engine::new(mapping.clone(), &profile.functions, Threads::One);
    let mismatched = Engine::new(mapping.clone(), &records, Threads::One);
    let name = mapping
        .functions()
        .find(|function| function.name_ref == target.name_ref)
        .unwrap()
        .name;
    let has_function = |engine: &Engine| {
        let counts = engine.evaluate(&profile.counters);
        engine.covered_files().into_iter().any(|file| {
            engine
                .file_coverage(file, &counts)
                .functions
                .iter()
                .any(|function| function.name == name)
        })
    };
    assert!(has_function(&full));
    assert!(!has_function(&mismatched));
}
