//! `cargo xtask profraw` against `llvm-profdata show --all-functions --counts` on this
//! toolchain's profiles (byte for byte), and `cargo xtask profraw` and `cargo xtask lcov`
//! on the same run re-laid as raw profile versions 9 and 11 (LLVM 18 and 23, which cannot
//! be installed here): the same listing, and LCOV byte-identical to `llvm-cov`'s oracle of
//! the version-10 original.

use std::path::Path;
use std::process::Command;

use cov_testkit::relayout::{Relayout, relayout_profile};
use cov_testkit::{
    BuildOptions, build_instrumented, llvm_tool, oracle_lcov, run_instrumented, run_ok,
};

/// Runs `cargo xtask ARGS` and returns its standard output.
fn xtask(args: &[&std::ffi::OsStr]) -> String {
    run_ok(Command::new(env!("CARGO_BIN_EXE_xtask")).args(args))
}

fn xtask_profraw(profraw: &Path) -> String {
    xtask(&["profraw".as_ref(), profraw.as_os_str()])
}

fn llvm_profdata_show(profraw: &Path) -> String {
    run_ok(
        Command::new(llvm_tool("llvm-profdata"))
            .args(["show", "--all-functions", "--counts"])
            .arg(profraw),
    )
}

#[test]
fn xtask_profraw_equals_llvm_profdata_show() {
    for (options, workload) in [
        (BuildOptions::default(), "all"),
        (
            BuildOptions {
                release: true,
                branch: false,
            },
            "a",
        ),
        (
            BuildOptions {
                release: false,
                branch: true,
            },
            "b",
        ),
    ] {
        let binary = build_instrumented("workload", "workload", &options);
        let run = run_instrumented(&binary, &[workload]);
        let theirs = llvm_profdata_show(run.profraw());
        assert!(theirs.contains("Block counts: ["), "{theirs}");
        assert_eq!(
            xtask_profraw(run.profraw()),
            theirs,
            "{} / {workload}: not byte-identical to llvm-profdata show",
            options.variant()
        );
    }
}

#[test]
fn every_version_of_one_run_lists_and_reports_the_same() {
    let options = BuildOptions {
        release: false,
        branch: true,
    };
    let binary = build_instrumented("workload", "workload", &options);
    let run = run_instrumented(&binary, &["all"]);
    let original = std::fs::read(run.profraw()).expect("reading the profile");
    let listing = llvm_profdata_show(run.profraw());
    let oracle = oracle_lcov(&binary, &[run.profraw()]);
    for version in [9, 10, 11] {
        let profraw = run.dir().join(format!("v{version}.profraw"));
        std::fs::write(
            &profraw,
            relayout_profile(&original, &Relayout::padded(version)),
        )
        .expect("writing the re-laid profile");
        assert_eq!(xtask_profraw(&profraw), listing, "version {version}");
        let header = xtask(&["profraw".as_ref(), "--header".as_ref(), profraw.as_os_str()]);
        assert!(
            header.starts_with(&format!("Raw profile version {version} (LLVM ")),
            "{header}"
        );
        let lcov = xtask(&[
            "lcov".as_ref(),
            "--binary".as_ref(),
            binary.as_os_str(),
            "--profraw".as_ref(),
            profraw.as_os_str(),
        ]);
        assert_eq!(
            lcov, oracle,
            "version {version}: xtask lcov is not llvm-cov's output"
        );
    }
}

#[test]
fn xtask_profraw_names_an_unsupported_version() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let profraw = dir.path().join("v12.profraw");
    let mut bytes = 0xff6c_7072_6f66_7281_u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&12_u64.to_le_bytes());
    bytes.extend_from_slice(&[0; 17 * 8]);
    std::fs::write(&profraw, bytes).expect("writing the profile");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("profraw")
        .arg(&profraw)
        .output()
        .expect("running xtask");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "raw profile version 12: this SDK reads versions 9–11, written by Rust 1.78 and \
             later (LLVM 18 to 23)"
        ),
        "{stderr}"
    );
}
