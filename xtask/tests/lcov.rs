//! `cargo xtask lcov` on the workload fixture's profile writes the same LCOV as
//! `llvm-profdata merge -sparse` + `llvm-cov export -format=lcov`.

use std::process::Command;

use cov_testkit::{
    BuildOptions, LcovTracefile, build_instrumented, diff_lcov, oracle_lcov, run_instrumented,
};

#[test]
fn xtask_lcov_equals_the_oracle() {
    let options = BuildOptions {
        release: false,
        branch: true,
    };
    let binary = build_instrumented("workload", "workload", &options);
    let run = run_instrumented(&binary, &["a"]);
    let out = run.dir().join("ours.lcov");
    let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("lcov")
        .arg("--binary")
        .arg(&binary)
        .arg("--profraw")
        .arg(run.profraw())
        .arg("-o")
        .arg(&out)
        .status()
        .expect("running xtask lcov");
    assert!(status.success(), "xtask lcov failed with {status}");
    let ours_text = std::fs::read_to_string(&out).expect("reading our LCOV");
    let oracle_text = oracle_lcov(&binary, &[run.profraw()]);
    let diff = diff_lcov(
        &LcovTracefile::parse(&oracle_text),
        &LcovTracefile::parse(&ours_text),
    );
    assert!(diff.is_empty(), "xtask lcov differs from llvm-cov:\n{diff}");
    // Beyond the parsed comparison: byte for byte the same file.
    assert_eq!(
        oracle_text, ours_text,
        "xtask lcov is not byte-identical to llvm-cov"
    );
}

#[test]
fn xtask_lcov_reports_a_missing_profile_clearly() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "lcov",
            "--binary",
            "/nonexistent/bin",
            "--profraw",
            "/nonexistent/p",
        ])
        .output()
        .expect("running xtask lcov");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/bin"), "{stderr}");
}
