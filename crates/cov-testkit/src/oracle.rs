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
    oracle_lcov_of(binary, profraws, &[])
}

/// [`oracle_lcov`] for the source files `sources` only, files or directories (each
/// directory standing for every file under it): `llvm-cov export`'s own filter, which
/// leaves out the files it is not given and those that do not exist on disk. No sources:
/// every file.
///
/// For tests that compare a program's own files: the export names only those, and skips
/// the dependencies' thousands of functions. (It first served to step around a crash:
/// from LLVM 21.1.4 on, `llvm-cov export` of a branch-coverage build crashes, SIGSEGV in
/// `CoverageMapping::getInstantiationGroups`, on some `async_trait` code, which the SDK's
/// reqwest middleware was until it was written out by hand, rust-lang/rust#157358.)
///
/// # Panics
///
/// When a tool is missing or fails.
pub fn oracle_lcov_of(binary: &Path, profraws: &[&Path], sources: &[&Path]) -> String {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let profdata: PathBuf = dir.path().join("merged.profdata");
    oracle_profdata(profraws, &profdata);
    let mut command = Command::new(llvm_tool("llvm-cov"));
    command
        .args(["export", "-format=lcov", "-instr-profile"])
        .arg(&profdata)
        .arg(binary)
        .args(sources);
    run_ok(&mut command)
}
