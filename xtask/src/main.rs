//! Project tasks, run as `cargo xtask <task>`.
//!
//! Every task a contributor or CI needs is here, in Rust, so that a fresh machine needs
//! nothing but `cargo`: `test` provisions what the tests need and runs them all, `proto`
//! regenerates the committed wire types, `demo` shows the whole system on an instrumented
//! axum service, `lcov` computes one run's LCOV offline with cov-collector, `bench`
//! measures the collector and the SDK against the llvm tools, `soak` and `fuzz` run the
//! long reliability checks. Each task's options are declared in [`flags`]; `cargo xtask
//! <task> --help` prints them.

#![forbid(unsafe_code)]

mod bench;
mod demo;
mod flags;
mod fuzz;
mod lcov;
mod proto;
mod provision;
mod soak;
mod test;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::Parser as _;

use crate::flags::Task;

fn main() -> ExitCode {
    // Prints the usage text or the error and exits on `--help` and on a bad command line.
    let flags::Xtask { task } = flags::Xtask::parse();
    let result = match task {
        Task::Demo(options) => demo::run(&options),
        Task::Fuzz(options) => fuzz::run(&options),
        Task::Lcov(options) => lcov::run(&options),
        Task::Proto(options) => proto::run(&options),
        Task::Soak(options) => soak::run(&options),
        Task::Test(options) => test::run(&options),
        Task::Bench(options) => bench::run(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found from this crate's manifest directory.
pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
