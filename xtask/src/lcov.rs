//! `cargo xtask lcov --binary BIN --profraw FILE [-o OUT]`: LCOV for one run of an
//! instrumented program, computed offline by cov-collector's engine (no `llvm-profdata`,
//! no `llvm-cov`), in the form `llvm-cov export -format=lcov` writes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use cov_collector::offline::OfflineCoverage;

/// Runs the task with its command-line arguments.
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut binary: Option<PathBuf> = None;
    let mut profraw: Option<PathBuf> = None;
    let mut output: Option<PathBuf> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--binary" => binary = Some(value("--binary")?),
            "--profraw" => profraw = Some(value("--profraw")?),
            "-o" | "--output" => output = Some(value("-o")?),
            other => bail!("unknown option `{other}` for lcov"),
        }
    }
    let (Some(binary), Some(profraw)) = (binary, profraw) else {
        bail!("usage: cargo xtask lcov --binary BIN --profraw FILE [-o OUT]");
    };
    let coverage = OfflineCoverage::load(&binary, &profraw).with_context(|| {
        format!(
            "computing coverage of {} from {}",
            binary.display(),
            profraw.display()
        )
    })?;
    match output {
        Some(path) => {
            let file = std::fs::File::create(&path)
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
