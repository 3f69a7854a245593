//! Running the built `drift-cov` in temporary directories, real git repositories, and
//! coverage JSON written by cov-core's writer (the Tusk CLI's format, byte for byte).

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different part.

use std::path::Path;
use std::process::{Command, Output};

use cov_core::{LineBranches, SnapshotKind, WireFile, WireSnapshot};
use cov_report::{Aggregate, CoverageView};
use cov_testkit::run_ok;

/// Runs `drift-cov` with `args` in `dir`.
pub fn drift_cov(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drift-cov"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("drift-cov starts")
}

/// Standard output of a run that must exit with `code`; the message shows both streams.
pub fn expect_exit(output: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

/// Runs git in `dir`; panics with git's output when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args),
    )
}

/// Writes files (path, text) under `dir`, creating directories.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

/// A file record: coverable lines with their counts, and per-line branches
/// `(line, total, covered)`.
pub fn file(lines: &[(u32, u64)], branches: &[(u32, u32, u32)]) -> WireFile {
    WireFile {
        lines: lines.iter().copied().collect(),
        branches: branches
            .iter()
            .map(|&(line, total, covered)| (line, LineBranches { total, covered }))
            .collect(),
    }
}

/// One snapshot record of `files`.
pub fn record(kind: SnapshotKind, files: &[(&str, WireFile)]) -> WireSnapshot {
    let mut record = WireSnapshot::new(kind);
    for (path, file) in files {
        record.files.insert((*path).to_owned(), file.clone());
    }
    record
}

/// A file's path and some of its lines.
pub type FileLines<'a> = (&'a str, &'a [u32]);

/// A test's trace id, name, and the lines it executed.
pub type TestLines<'a> = (&'a str, &'a str, &'a [FileLines<'a>]);

/// A run: a baseline with every line at 0, and tests `(trace id, name, path, lines)`
/// executing lines once each.
pub fn run(baseline: &[FileLines<'_>], tests: &[TestLines<'_>]) -> CoverageView {
    let mut aggregate = Aggregate::new();
    let baseline: Vec<(&str, WireFile)> = baseline
        .iter()
        .map(|&(path, lines)| {
            let counts: Vec<(u32, u64)> = lines.iter().map(|&line| (line, 0)).collect();
            (path, file(&counts, &[]))
        })
        .collect();
    aggregate.add_baseline(record(SnapshotKind::Baseline, &baseline));
    for &(id, name, files) in tests {
        let files: Vec<(&str, WireFile)> = files
            .iter()
            .map(|&(path, lines)| {
                let counts: Vec<(u32, u64)> = lines.iter().map(|&line| (line, 1)).collect();
                (path, file(&counts, &[]))
            })
            .collect();
        aggregate.add_test(id, name, record(SnapshotKind::Delta, &files));
    }
    aggregate.view()
}

/// Writes `view` as the Tusk CLI's coverage JSON to `path`.
pub fn write_coverage_json(path: &Path, view: &CoverageView) {
    let text = cov_report::json::render(view, "2026-12-01T12:00:00Z");
    std::fs::write(path, text).expect("write the coverage JSON");
}
