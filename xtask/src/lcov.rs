//! `cargo xtask lcov --binary BIN --profraw FILE [-o OUT]`: LCOV for one run of an
//! instrumented program, computed offline by cov-collector's engine (no `llvm-profdata`,
//! no `llvm-cov`), in the form `llvm-cov export -format=lcov` writes. The same code as
//! `drift-cov lcov` ([`cov_cli::offline_lcov`]); this task only parses its arguments.

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Lcov) -> anyhow::Result<()> {
    Ok(cov_cli::offline_lcov(
        &flags.binary,
        &flags.profraw,
        flags.output.as_deref(),
    )?)
}
