//! `cargo xtask lcov --binary BIN --profraw FILE [-o OUT]`: LCOV for one run of an
//! instrumented program, computed offline by cov-collector's engine (no `llvm-profdata`,
//! no `llvm-cov`), in the form `llvm-cov export -format=lcov` writes.

use std::io::Write;

use anyhow::Context;
use cov_collector::offline::OfflineCoverage;

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Lcov) -> anyhow::Result<()> {
    let (binary, profraw) = (&flags.binary, &flags.profraw);
    let coverage = OfflineCoverage::load(binary, profraw).with_context(|| {
        format!(
            "computing coverage of {} from {}",
            binary.display(),
            profraw.display()
        )
    })?;
    match &flags.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            coverage
                .write_lcov(&mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            coverage
                .write_lcov(&mut out)
                .and_then(|()| out.flush())
                .context("writing LCOV to standard output")?;
        }
    }
    Ok(())
}
