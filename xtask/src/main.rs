//! Project tasks, run as `cargo xtask <task>`.
//!
//! Every task a contributor or CI needs is here, in Rust, so that a fresh machine needs
//! nothing but `cargo`: `demo` shows the whole system on an instrumented axum service,
//! `proto` regenerates the committed wire types, `test` provisions what the tests need and
//! runs them all.

#![forbid(unsafe_code)]

mod bench;
mod demo;
mod fuzz;
mod lcov;
mod profraw;
mod proto;
mod provision;
mod soak;
mod test;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  demo [--tcp] [--out DIR] [--build-only]
                    build the instrumented demo service, replay scripted tests against
                    it as the Tusk CLI does, and write per-test coverage reports
  fuzz [--seconds N] [--target NAME]...
                    run the cargo-fuzz targets over the decoders (mapping, profile,
                    framing, messages), N seconds each (60 by default)
  lcov --binary BIN --profraw FILE [-o OUT]
                    LCOV for one run of an instrumented program, computed offline by
                    cov-collector (as `llvm-cov export -format=lcov` writes it)
  profraw FILE [--header]
                    list a raw profile (versions 9 to 11) as `llvm-profdata show
                    --all-functions --counts` does; --header adds its version and header
  proto [--check]   regenerate crates/cov-proto/src/generated.rs from the .proto files;
                    with --check, fail if the committed file is stale instead
  bench [--json FILE]
                    build the demo service instrumented and measure the collector and the
                    SDK against llvm-profdata + llvm-cov on identical inputs (minutes)
  soak [--seconds N] [--flood N]
                    the demo service under 8 clients for N seconds (20 by default) with a
                    snapshot every 10 ms; baseline + deltas must never fall below llvm-cov
                    and equal it on every line no in-flight request can overstate;
                    with --flood, also a flood of N real snapshot requests
  test              provision what the tests need, check generated code, run every test
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("lcov") => lcov::run(&args[1..]),
        Some("profraw") => profraw::run(&args[1..]),
        Some("proto") => proto::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no task given\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the value that follows option `flag` on a task's command line; the errors name
/// the option and the value.
pub(crate) fn option_value<T>(
    flag: &str,
    args: &mut std::slice::Iter<'_, String>,
) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let value = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|error| anyhow::anyhow!("{flag} {value:?}: {error}"))
}

/// The workspace root, found from this crate's manifest directory.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
