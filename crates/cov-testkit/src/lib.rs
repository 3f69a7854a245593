//! Test support for the coverage crates: instrumented fixture builds, the `llvm-cov`
//! oracle, a guard for the service processes tests and tasks start and an HTTP client of
//! them, an LCOV parser, a
//! comparison that prints a readable diff, and [`relayout`], an encoder of the raw profile
//! versions this machine's toolchain cannot write.
//!
//! Key design decision: a missing tool is a test **failure**, never a skip. Every helper
//! here panics with a message that says what is missing and how to get it (run
//! `cargo xtask test`, which provisions `llvm-tools-preview`), so no test can pass
//! vacuously on a machine without the oracle.
//!
//! Typical use in an integration test:
//!
//! ```no_run
//! use cov_testkit::{BuildOptions, Lcov, build_instrumented, oracle_lcov, run_instrumented};
//!
//! let binary = build_instrumented("workload", "workload", &BuildOptions::default());
//! let run = run_instrumented(&binary, &["all"]);
//! let expected = Lcov::parse(&oracle_lcov(&binary, &[run.profraw()]));
//! # let ours = expected.clone();
//! cov_testkit::assert_lcov_eq(&expected, &ours);
//! ```

#![forbid(unsafe_code)]

mod build;
mod compare;
mod http;
mod lcov;
mod oracle;
mod process;
pub mod relayout;
mod tools;

pub use build::{
    BuildOptions, ProfileRun, build_instrumented, cargo_build, clear_build_environment,
    run_instrumented, workspace_root,
};
pub use compare::{LcovDiff, assert_lcov_eq, diff_lcov};
pub use http::HttpClient;
pub use lcov::{Lcov, LcovFile, LcovFunction};
pub use oracle::{oracle_lcov, oracle_profdata};
pub use process::{ServiceProcess, parse_listening_line};
pub use tools::{debian_program, llvm_tool, llvm_tools_dir, run_ok};
