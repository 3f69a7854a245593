//! The command line itself: `--help` on every subcommand with the exit codes, clap's usage
//! errors (exit 2), and `drift-cov lcov` and `drift-cov profraw` against the real
//! `llvm-cov` and `llvm-profdata` on an instrumented fixture.

mod support;

use cov_testkit::{BuildOptions, build_instrumented, llvm_tool, oracle_lcov, run_instrumented};
use support::{drift_cov, expect_exit};

#[test]
fn every_subcommand_has_help_with_the_exit_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    for subcommand in [
        "", "report", "impact", "patch", "lcov", "profraw", "build", "init", "check", "merge",
    ] {
        let args: Vec<&str> = [subcommand, "--help"]
            .into_iter()
            .filter(|arg| !arg.is_empty())
            .collect();
        let help = expect_exit(&drift_cov(dir.path(), &args), 0);
        let usage = format!("Usage: drift-cov {subcommand}")
            .trim_end()
            .to_owned();
        assert!(help.contains(&usage), "{subcommand}:\n{help}");
        assert!(
            help.contains("Exit codes:\n  0  success\n  1  the check failed"),
            "{subcommand}:\n{help}"
        );
    }
}

#[test]
fn usage_errors_exit_with_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["report"][..],
        &["impact", "--from", "c.json"],
        &[
            "impact", "--from", "c.json", "--diff", "a..b", "--patch", "p.diff",
        ],
        &[
            "impact", "--from", "c.json", "--diff", "a..b", "--json", "--format", "ids",
        ],
        &[
            "patch",
            "--from",
            "c.json",
            "--diff",
            "a..b",
            "--fail-under",
            "many",
        ],
        &["frobnicate"],
    ] {
        let output = drift_cov(dir.path(), args);
        expect_exit(&output, 2);
        assert!(
            String::from_utf8_lossy(&output.stderr).starts_with("error: "),
            "{args:?}: {output:?}"
        );
    }
}

#[test]
fn lcov_is_llvm_covs_output_for_the_same_run() {
    let binary = build_instrumented("workload", "workload", &BuildOptions::default());
    let run = run_instrumented(&binary, &["all"]);
    let expected = oracle_lcov(&binary, &[run.profraw()]);
    let dir = tempfile::tempdir().expect("temp dir");
    let binary_arg = binary.display().to_string();
    let profraw_arg = run.profraw().display().to_string();
    let args = ["lcov", "--binary", &binary_arg, "--profraw", &profraw_arg];

    let stdout = expect_exit(&drift_cov(dir.path(), &args), 0);
    assert!(
        stdout == expected,
        "drift-cov lcov differs from llvm-cov export"
    );
    expect_exit(
        &drift_cov(dir.path(), &[&args[..], &["-o", "run.lcov"]].concat()),
        0,
    );
    let written = std::fs::read_to_string(dir.path().join("run.lcov")).expect("-o writes");
    assert!(
        written == expected,
        "drift-cov lcov -o differs from llvm-cov export"
    );

    // A program built without instrumentation: a precise error, exit 2.
    let plain = env!("CARGO_BIN_EXE_drift-cov");
    let output = drift_cov(
        dir.path(),
        &["lcov", "--binary", plain, "--profraw", &profraw_arg],
    );
    expect_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "drift-cov: error: cannot compute the coverage of {plain} from "
        )),
        "{stderr}"
    );
}

#[test]
fn profraw_is_llvm_profdatas_listing_of_the_same_profile() {
    let binary = build_instrumented("workload", "workload", &BuildOptions::default());
    let run = run_instrumented(&binary, &["all"]);
    let output = std::process::Command::new(llvm_tool("llvm-profdata"))
        .args(["show", "--all-functions", "--counts"])
        .arg(run.profraw())
        .output()
        .expect("llvm-profdata runs");
    assert!(output.status.success(), "{output:?}");
    let expected = String::from_utf8(output.stdout).expect("UTF-8");
    let dir = tempfile::tempdir().expect("temp dir");
    let profraw_arg = run.profraw().display().to_string();

    let listing = expect_exit(&drift_cov(dir.path(), &["profraw", &profraw_arg]), 0);
    assert!(
        listing == expected,
        "drift-cov profraw differs from llvm-profdata show:\n{listing}"
    );
    let with_header = expect_exit(
        &drift_cov(dir.path(), &["profraw", "--header", &profraw_arg]),
        0,
    );
    assert!(
        with_header.starts_with("Raw profile version 10"),
        "{with_header}"
    );
    assert!(with_header.ends_with(&expected));

    // Not a raw profile: a precise error, exit 2.
    let output = drift_cov(dir.path(), &["profraw", env!("CARGO_BIN_EXE_drift-cov")]);
    expect_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("drift-cov: error: cannot list "),
        "{stderr}"
    );
}
