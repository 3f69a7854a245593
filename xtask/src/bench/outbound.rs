//! Outbound calls through the SDK against the same calls made directly (issues #20 and
//! #21): `bench-outbound` (optimized, uninstrumented) is the application, run three times:
//! with the SDK off, recording (into a trace directory), and replaying those traces with
//! `bench-outbound mock-cli` playing the Tusk CLI (cov-driver's listener and `TraceMocks`)
//! over a unix socket. Each run times every call, directly and through the SDK, side by
//! side; the PostgreSQL statements go to the real server of `COV_POSTGRES_URL`, or else to a
//! throwaway cov-testkit `PostgresServer`.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use cov_driver::ServiceProcess;

use super::results::OutboundFigures;
use super::stats::Comparison;
use super::{capture_json, floats, integer};
use crate::provision;

/// How many more calls are made with the SDK off than recording or replaying: the
/// pass-through target (1 %) is a fraction of a microsecond on a loopback call, and those
/// calls leave no files. Each comparison with the SDK off is a run of its own, its two
/// calls alternating: a third call in the same run that shares one side's code (the second
/// plain hyper-util client shares the first's) keeps that side's code and branch history
/// twice as warm as the other's, which put the tower layer at +1.3 to +2.2 % where it
/// measures +0.4 to +0.7 % on its own (docs/performance.md).
const OFF_FACTOR: usize = 10;

/// Measures the calls; `calls` per series recording and replaying.
pub(super) fn measure(binary: &Path, work: &Path, calls: usize) -> anyhow::Result<OutboundFigures> {
    let mut figures = OutboundFigures {
        calls: calls as u64,
        calls_off: (calls * OFF_FACTOR) as u64,
        ..OutboundFigures::default()
    };
    let database = match Database::start() {
        Ok(database) => {
            figures.postgres = database.describe();
            Some(database)
        }
        Err(error) => {
            eprintln!("bench: PostgreSQL statements not measured: {error:#}");
            figures.postgres = format!("none ({error:#})");
            None
        }
    };
    let postgres_url = database.as_ref().map(Database::url);

    eprintln!("bench: outbound calls, SDK off");
    let off = |measured: &str, against: &str| -> anyhow::Result<Option<Comparison>> {
        let samples = Samples::of(&capture_json(application(binary, work).args([
            "calls",
            "off",
            &(calls * OFF_FACTOR).to_string(),
            "--series",
            &format!("{measured},{against}"),
        ]))?)?;
        Ok(samples.compare(measured, against))
    };
    figures.passthrough_reqwest = off("reqwest_sdk", "reqwest_direct")?;
    figures.reqwest_middleware_alone = off("reqwest_chain", "reqwest_direct")?;
    figures.passthrough_reqwest_middleware = off("reqwest_sdk", "reqwest_chain")?;
    figures.passthrough_tower = off("tower_sdk", "tower_direct")?;
    figures.tower_again = off("tower_again", "tower_direct")?;

    eprintln!("bench: outbound calls, recording");
    let traces = work.join("outbound-traces");
    let mut record = application(binary, work);
    record
        .args(["calls", "record", &calls.to_string()])
        .env("TUSK_DRIFT_MODE", "RECORD")
        .env("TUSK_TRACES_DIR", &traces);
    if let Some(url) = &postgres_url {
        record.args(["--postgres", url]);
    }
    let answer = capture_json(&mut record)?;
    figures.requests_recorded = integer(&answer["served"])?;
    let recorded = Samples::of(&answer)?;
    let upstream_port = integer(&answer["upstream_port"])?;
    figures.record_reqwest = recorded.compare("reqwest_sdk", "reqwest_direct");
    figures.record_tower = recorded.compare("tower_sdk", "tower_direct");
    figures.pg_record = recorded.compare("pg_sdk", "pg_direct");
    figures.tests_recorded = cov_driver::traces::replayable(&traces)?.len() as u64;

    eprintln!(
        "bench: outbound calls, replaying {} tests",
        figures.tests_recorded
    );
    let socket = work.join("outbound-cli.sock");
    let cli = MockCli::start(binary, &traces, &socket)?;
    figures.mock_cli_load_ms = cli.load_ms;
    let mut replay = application(binary, work);
    replay
        .args(["calls", "replay", "0", "--tests"])
        .arg(&traces)
        // The calls go to the URLs they went to when recorded, as a service's do: each
        // matches its recording by its exact value hash, the CLI's first priority.
        .args(["--upstream-port", &upstream_port.to_string()])
        .env("TUSK_DRIFT_MODE", "REPLAY")
        .env("TUSK_MOCK_SOCKET", &socket);
    if let Some(url) = &postgres_url {
        replay.args(["--postgres", url]);
    }
    let replayed = Samples::of(&capture_json(&mut replay)?)?;
    let matched = cli.finish()?;
    figures.mocks_exact = integer(&matched["exact"])?;
    figures.mocks_other = integer(&matched["approximate"])? + integer(&matched["not_found"])?;
    figures.replay_reqwest = replayed.compare("reqwest_sdk", "reqwest_direct");
    figures.replay_tower = replayed.compare("tower_sdk", "tower_direct");
    figures.pg_replay = replayed.compare("pg_sdk", "pg_direct");
    // The traces are thousands of small files: gone now rather than with the run.
    let _ = std::fs::remove_dir_all(&traces);
    drop(database);
    Ok(figures)
}

/// `bench-outbound` in `work`, with none of the caller's Tusk variables: the SDK's mode is
/// exactly what the run sets.
fn application(binary: &Path, work: &Path) -> Command {
    let mut command = Command::new(binary);
    command.current_dir(work);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TUSK_") {
            command.env_remove(name);
        }
    }
    command
}

/// The samples of one run of `bench-outbound calls`, by series.
#[derive(Debug)]
struct Samples(BTreeMap<String, Vec<f64>>);

impl Samples {
    /// Reads a run's answer; a run in which a call failed is an error naming the first.
    fn of(answer: &serde_json::Value) -> anyhow::Result<Samples> {
        let errors = integer(&answer["errors"])?;
        if errors > 0 {
            bail!(
                "{errors} requests failed, the first: {}",
                answer["first_error"]
            );
        }
        let series = answer["samples_us"]
            .as_object()
            .with_context(|| format!("no samples in {answer}"))?;
        let mut samples = BTreeMap::new();
        for (name, values) in series {
            samples.insert(name.clone(), floats(values)?);
        }
        Ok(Samples(samples))
    }

    /// Series `sdk` against series `direct`, if both were taken.
    fn compare(&self, sdk: &str, direct: &str) -> Option<Comparison> {
        Comparison::of(self.0.get(sdk)?, self.0.get(direct)?)
    }
}

/// `bench-outbound mock-cli`: the CLI's side of the replay, until [`MockCli::finish`].
/// Killed when dropped before.
struct MockCli {
    process: ServiceProcess,
    stdout: BufReader<std::process::ChildStdout>,
    load_ms: f64,
}

impl MockCli {
    /// Starts it and waits until it listens on `socket`.
    fn start(binary: &Path, traces: &Path, socket: &Path) -> anyhow::Result<MockCli> {
        let mut process = ServiceProcess::spawn(
            Command::new(binary)
                .arg("mock-cli")
                .arg(traces)
                .arg(socket)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        )
        .context("starting bench-outbound mock-cli")?;
        let stdout = process.child_mut().stdout.take().context("no stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let Some(ready) = line.strip_prefix("ready ") else {
            bail!("bench-outbound mock-cli did not start: {line:?}");
        };
        let ready: serde_json::Value = serde_json::from_str(ready)?;
        let load_ms = super::float(&ready["traces_load_ms"])?;
        Ok(MockCli {
            process,
            stdout,
            load_ms,
        })
    }

    /// Closes its standard input (its signal to stop), waits for it and returns how its
    /// answers were matched: `{"exact", "approximate", "not_found"}`.
    fn finish(mut self) -> anyhow::Result<serde_json::Value> {
        drop(self.process.child_mut().stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let status = self.process.wait()?;
        anyhow::ensure!(
            status.success(),
            "bench-outbound mock-cli exited with {status}"
        );
        let done = line
            .strip_prefix("done ")
            .with_context(|| format!("bench-outbound mock-cli did not finish: {line:?}"))?;
        Ok(serde_json::from_str(done)?)
    }
}

/// The PostgreSQL server the statements go to.
enum Database {
    /// `COV_POSTGRES_URL`, the caller's.
    Given(String),
    /// A throwaway server of our own, stopped and removed when dropped.
    Own(cov_testkit::PostgresServer),
}

impl Database {
    fn start() -> anyhow::Result<Database> {
        match std::env::var(cov_testkit::POSTGRES_URL_VAR) {
            Ok(url) if !url.is_empty() => Ok(Database::Given(url)),
            _ => {
                provision::ensure_postgres()?;
                cov_testkit::PostgresServer::try_start()
                    .map(Database::Own)
                    .map_err(anyhow::Error::msg)
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Database::Given(url) => url.clone(),
            Database::Own(server) => server.url(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Database::Given(_) => format!("{} (COV_POSTGRES_URL)", self.url()),
            Database::Own(_) => format!("{} (a throwaway server of our own)", self.url()),
        }
    }
}

/// The release build of `bench-outbound` into `target_dir`.
pub(super) fn build(target_dir: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("bench: building bench-outbound (release)");
    provision::run(super::cargo_build(target_dir).args(["--package", "bench-outbound"]))?;
    super::release_binary(target_dir, "bench-outbound")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_by_series_and_a_failed_run_is_an_error() {
        let answer = serde_json::json!({
            "requests": 10,
            "errors": 0,
            "first_error": null,
            "samples_us": {
                "tower_direct": [10.0, 10.0, 10.0, 10.0, 10.0],
                "tower_sdk": [12.0, 12.0, 12.0, 12.0, 12.0],
            },
        });
        let samples = Samples::of(&answer).unwrap();
        let comparison = samples.compare("tower_sdk", "tower_direct").unwrap();
        assert_eq!(comparison.added_us, 2.0);
        assert_eq!(samples.compare("pg_sdk", "pg_direct"), None);

        let failed = serde_json::json!({
            "errors": 3,
            "first_error": "/pg/1: no mock",
            "samples_us": {},
        });
        let error = Samples::of(&failed).unwrap_err().to_string();
        assert!(
            error.contains("3 requests failed") && error.contains("/pg/1: no mock"),
            "{error}"
        );
    }
}
