//! Offline results against the oracle (`llvm-profdata merge -sparse` + `llvm-cov export
//! -format=lcov`) on the workload fixture, built in every variant: zero differing `DA`
//! lines, zero differing `BRDA` outcomes, the same files, and byte-identical LCOV.

use cov_collector::offline::OfflineCoverage;
use cov_testkit::{
    BuildOptions, LcovTracefile, build_instrumented, diff_lcov, oracle_lcov, run_instrumented,
};

fn check_variant(options: BuildOptions, workload: &str) {
    let binary = build_instrumented("workload", "workload", &options);
    let run = run_instrumented(&binary, &[workload]);
    let expected_text = oracle_lcov(&binary, &[run.profraw()]);
    let expected = LcovTracefile::parse(&expected_text);
    let coverage = OfflineCoverage::load(&binary, run.profraw())
        .unwrap_or_else(|error| panic!("offline decoding failed: {error}"));
    let ours_text = coverage.to_lcov();
    let ours = LcovTracefile::parse(&ours_text);
    assert!(
        !expected.files.is_empty(),
        "the oracle reported no files for {}",
        options.variant()
    );
    let diff = diff_lcov(&expected, &ours);
    assert!(
        diff.is_empty(),
        "{} / workload {workload}: ours differs from llvm-cov:\n{diff}",
        options.variant()
    );
    assert_eq!(
        expected_text,
        ours_text,
        "{} / workload {workload}: not byte-identical to llvm-cov",
        options.variant()
    );
}

#[test]
fn debug_build_matches_llvm_cov() {
    check_variant(BuildOptions::default(), "all");
}

#[test]
fn debug_build_of_one_workload_matches_llvm_cov() {
    check_variant(BuildOptions::default(), "a");
}

#[test]
fn release_build_matches_llvm_cov() {
    check_variant(
        BuildOptions {
            release: true,
            branch: false,
        },
        "all",
    );
}

#[test]
fn branch_coverage_build_matches_llvm_cov() {
    check_variant(
        BuildOptions {
            release: false,
            branch: true,
        },
        "all",
    );
}

#[test]
fn branch_coverage_release_build_matches_llvm_cov() {
    check_variant(
        BuildOptions {
            release: true,
            branch: true,
        },
        "b",
    );
}
