//! Test support for the coverage crates: instrumented fixture builds, the `llvm-cov`
//! oracle, an LCOV parser, a comparison that prints a readable diff, [`relayout`], an
//! encoder of the raw profile versions this machine's toolchain cannot write, and
//! [`PostgresServer`], a throwaway PostgreSQL for the tests. Services are launched and
//! spoken to with `cov-driver`, as the driver does.
//!
//! Key design decision: a missing tool is a test **failure**, never a skip. Every helper
//! here panics with a message that says what is missing and how to get it (run
//! `cargo xtask test`, which provisions `llvm-tools-preview`), so no test can pass
//! vacuously on a machine without the oracle.
//!
//! Typical use in an integration test:
//!
//! ```no_run
//! use cov_testkit::{BuildOptions, LcovTracefile, build_instrumented, oracle_lcov, run_instrumented};
//!
//! let binary = build_instrumented("workload", "workload", &BuildOptions::default());
//! let run = run_instrumented(&binary, &["all"]);
//! let expected = LcovTracefile::parse(&oracle_lcov(&binary, &[run.profraw()]));
//! # let ours = expected.clone();
//! cov_testkit::assert_lcov_eq(&expected, &ours);
//! ```

#![forbid(unsafe_code)]

mod build;
mod compare;
mod oracle;
mod postgres;
pub mod relayout;
mod tools;
mod tracefile;

pub use build::{
    BuildOptions, ProfileRun, build_instrumented, build_plain, cargo_build,
    clear_build_environment, run_instrumented, workspace_root,
};
pub use compare::{LcovDiff, assert_lcov_eq, diff_lcov};
pub use oracle::{oracle_lcov, oracle_lcov_of, oracle_profdata};
pub use postgres::{
    POSTGRES_URL_VAR, PostgresServer, fresh_database, postgres_bin_dir, postgres_url,
};
pub use tools::{debian_program, llvm_tool, llvm_tools_dir, run_ok};
pub use tracefile::{LcovFile, LcovFunction, LcovTracefile};
