//! `cargo xtask lcov --binary BIN --profraw FILE [-o OUT]`: LCOV for one run of an
//! instrumented program, computed offline by cov-collector's engine (no `llvm-profdata`,
//! no `llvm-cov`), in the form `llvm-cov export -format=lcov` writes. The same code as
//! `drift-cov lcov` ([`cov_cli::offline_lcov`]); this task only parses its arguments.

use std::path::PathBuf;

use anyhow::{Context, bail};

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
    Ok(cov_cli::offline_lcov(&binary, &profraw, output.as_deref())?)
}
