//! `cargo xtask soak [--seconds N] [--flood N]`: the long runs of `tests/reliability`.
//!
//! The conservation run (`tests/soak.rs`): the demo service under 8 concurrent clients for
//! N seconds (20 by default) while the driver snapshots every 10 ms, then baseline +
//! deltas compared with the `llvm-cov` oracle of the whole run, line by line. With
//! `--flood N`, also the hostile flood of N real snapshot requests (`tests/hostile.rs`;
//! 100,000 is the full flood). `cargo xtask test` runs both short: 3 s and 2,000 requests.
//!
//! The demo service's requests are recorded against a database first (then replayed from
//! the recording): like `cargo xtask test`, this task starts a throwaway PostgreSQL and
//! hands its URL to the tests in `COV_POSTGRES_URL`.

use std::process::Command;

use crate::provision;

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Soak) -> anyhow::Result<()> {
    let crate::flags::Soak { seconds, flood } = *flags;
    let llvm_tools = provision::ensure_llvm_tools()?;
    provision::ensure_postgres()?;
    // Lives until both runs are over.
    let postgres = cov_testkit::PostgresServer::try_start().map_err(anyhow::Error::msg)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = crate::workspace_root();
    let reliability_test = |test: &str, filter: Option<&str>| {
        let mut command = Command::new(&cargo);
        command
            .current_dir(&root)
            .args([
                "test",
                "--locked",
                "-p",
                "cov-reliability",
                "--test",
                test,
                "--",
            ])
            .args(filter)
            .arg("--nocapture")
            .env("COV_SOAK_SECONDS", seconds.to_string())
            .env("COV_LLVM_TOOLS", &llvm_tools)
            .env(cov_testkit::POSTGRES_URL_VAR, postgres.url());
        if let Some(flood) = flood {
            command.env("COV_FLOOD_SNAPSHOTS", flood.to_string());
        }
        command
    };
    // Both runs, whatever the first one's outcome; the first failure is returned.
    let soak = provision::run(&mut reliability_test("soak", None));
    let flooded = match flood {
        Some(_) => provision::run(&mut reliability_test(
            "hostile",
            Some("a_flood_of_real_snapshot_requests"),
        )),
        None => Ok(()),
    };
    soak.and(flooded)
}
