//! `cargo xtask test`: the project's one test command.
//!
//! It provisions what the tests need (the `llvm-cov` oracle, a real LCOV consumer, an
//! XML validator, a headless browser, a PostgreSQL server: a throwaway cluster started
//! before the tests, its URL handed to them in `COV_POSTGRES_URL`, stopped and removed
//! after),
//! checks that the committed generated code is fresh, then runs every test in the
//! workspace. Tests that need a tool fail when it is missing; none is skipped.

use std::process::Command;

use crate::provision;

/// Runs the task; its arguments are passed on to `cargo test`.
pub(crate) fn run(flags: &crate::flags::Test) -> anyhow::Result<()> {
    let llvm_tools = provision::ensure_llvm_tools()?;
    provision::ensure_debian_programs(&[
        ("genhtml", "lcov"),
        ("xmllint", "libxml2-utils"),
        // The broken-binary tests of tests/reliability strip and edit copies.
        ("objcopy", "binutils"),
        ("strip", "binutils"),
        // cov-report's browser test loads the HTML report in headless Chromium.
        ("chromium", "chromium"),
    ])?;

    provision::ensure_postgres()?;

    let root = crate::workspace_root();
    crate::proto::check_fresh(&root)?;
    println!("proto: generated code is fresh");

    // cov-postgres records against a real server; it lives as long as this value.
    let postgres = cov_testkit::PostgresServer::try_start().map_err(anyhow::Error::msg)?;
    println!("postgres: test server at {}", postgres.url());

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    provision::run(
        Command::new(cargo)
            .current_dir(&root)
            .args(["test", "--workspace", "--locked"])
            .args(flags.cargo_test_command_line())
            .env("COV_LLVM_TOOLS", &llvm_tools)
            .env(cov_testkit::POSTGRES_URL_VAR, postgres.url()),
    )
}
