//! `cargo xtask soak [--seconds N]`: the long conservation run of `tests/reliability`
//! (`tests/soak.rs`): the demo service under 8 concurrent clients for N seconds (20 by
//! default) while the driver snapshots every 10 ms, then baseline + deltas compared with
//! the `llvm-cov` oracle of the whole run, line by line. `cargo xtask test` runs the same
//! test for 3 s.

use std::process::Command;

use anyhow::{Context, bail};

use crate::provision;

/// Seconds of load when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 20;

/// Runs the task.
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--seconds {value:?} is not a number"))?;
            }
            other => bail!("unknown option {other:?} (soak [--seconds N])"),
        }
    }
    let llvm_tools = provision::ensure_llvm_tools()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    provision::run(
        Command::new(cargo)
            .current_dir(crate::workspace_root())
            .args([
                "test",
                "--locked",
                "-p",
                "cov-reliability",
                "--test",
                "soak",
                "--",
                "--nocapture",
            ])
            .env("COV_SOAK_SECONDS", seconds.to_string())
            .env("COV_LLVM_TOOLS", &llvm_tools),
    )
}
