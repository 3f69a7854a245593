//! The oracle: LLVM's own `llvm-profdata merge -sparse` and `llvm-cov export -format=lcov`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{llvm_tool, run_ok};

/// Merges raw profiles into `out` with `llvm-profdata merge -sparse`.
///
/// # Panics
///
/// When the tool is missing or fails.
pub fn oracle_profdata(profraws: &[&Path], out: &Path) {
    let mut command = Command::new(llvm_tool("llvm-profdata"));
    command
        .args(["merge", "-sparse"])
        .args(profraws)
        .arg("-o")
        .arg(out);
    run_ok(&mut command);
}

/// The LCOV that `llvm-cov export -format=lcov` writes for `binary` and the merged
/// `profraws`: the reference our results are compared with.
///
/// # Panics
///
/// When a tool is missing or fails.
pub fn oracle_lcov(binary: &Path, profraws: &[&Path]) -> String {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let profdata: PathBuf = dir.path().join("merged.profdata");
    oracle_profdata(profraws, &profdata);
    let mut command = Command::new(llvm_tool("llvm-cov"));
    command
        .args(["export", "-format=lcov", "-instr-profile"])
        .arg(&profdata)
        .arg(binary);
    run_ok(&mut command)
}
