//! Recording the demo service: its dependencies started for real (a throwaway PostgreSQL
//! and the rates service, uninstrumented), the service run with `TUSK_DRIFT_MODE=RECORD`
//! under the script, stopped with `POST /shutdown` (its SDK writes what it still holds),
//! and the dependencies stopped again, so that nothing answers at their addresses while the
//! traces are replayed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use cov_driver::replay::Test;
use cov_driver::{Launch, ServiceProcess};
use cov_testkit::PostgresServer;

use super::{service, shutdown_request, steps};

/// The uninstrumented dependency the demo service calls.
const RATES_PACKAGE: &str = "rates-service";

/// How long a dependency may take to start and to stop.
const WAIT: Duration = Duration::from_secs(60);

/// What the demo service depends on, running: a PostgreSQL database and the rates service.
pub(crate) struct Dependencies {
    /// The throwaway server, when the database is one of our own (not the tests' server).
    postgres: Option<PostgresServer>,
    database_url: String,
    rates: ServiceProcess,
    rates_url: String,
}

impl Dependencies {
    /// Starts a throwaway PostgreSQL server (its `postgres` database is the demo's) and the
    /// rates service built by [`build_rates`], its log in `out_dir`.
    pub(crate) fn start(rates_binary: &Path, out_dir: &Path) -> anyhow::Result<Dependencies> {
        let postgres = PostgresServer::try_start().map_err(anyhow::Error::msg)?;
        let database_url = postgres.url();
        let mut dependencies = Dependencies::with_database(database_url, rates_binary, out_dir)?;
        dependencies.postgres = Some(postgres);
        Ok(dependencies)
    }

    /// The rates service started in front of the database at `database_url`.
    pub(crate) fn with_database(
        database_url: String,
        rates_binary: &Path,
        out_dir: &Path,
    ) -> anyhow::Result<Dependencies> {
        let mut launch = Launch::new(rates_binary);
        launch
            .args(["--port", "0"])
            .env_remove("PORT")
            .log(out_dir.join("rates-service.log"));
        let mut rates = launch.start()?;
        let address = rates
            .wait_for_address(WAIT)
            .context("the rates service did not listen")?;
        Ok(Dependencies {
            postgres: None,
            database_url,
            rates,
            rates_url: format!("http://{address}"),
        })
    }

    /// The database's URL, as the demo service is given it.
    pub(crate) fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The rates service's base URL, as the demo service is given it.
    pub(crate) fn rates_url(&self) -> &str {
        &self.rates_url
    }

    /// Stops the rates service (`SIGTERM`, its exit waited for) and the throwaway PostgreSQL
    /// server (`pg_ctl stop`, its files removed); the tests' shared server is left running,
    /// without the database's content mattering any more.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        self.rates
            .terminate()
            .context("asking the rates service to stop")?;
        match self.rates.wait_for_exit(WAIT)? {
            Some(_) => {}
            None => {
                self.rates.kill()?;
                bail!("the rates service did not exit within {WAIT:?} of SIGTERM; killed it");
            }
        }
        if let Some(mut postgres) = self.postgres.take() {
            postgres.stop();
        }
        Ok(())
    }
}

/// Builds the rates service the usual way (it plays somebody else's service: it is not
/// instrumented and links no SDK) into `target/cov-demo/rates` and returns its executable.
pub(crate) fn build_rates(root: &Path) -> anyhow::Result<PathBuf> {
    let target_dir = root.join("target/cov-demo/rates");
    let mut command = cov_testkit::cargo_build(&target_dir);
    command.args([
        "--quiet",
        "--package",
        RATES_PACKAGE,
        "--bin",
        RATES_PACKAGE,
    ]);
    let output = command
        .output()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !output.status.success() {
        bail!(
            "building {RATES_PACKAGE} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let binary = target_dir
        .join("debug")
        .join(format!("{RATES_PACKAGE}{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        bail!(
            "cargo built {RATES_PACKAGE} but {} is missing",
            binary.display()
        );
    }
    Ok(binary)
}

/// A recording of the script: the traces and what the service was given.
#[derive(Clone, Debug)]
pub(crate) struct Recording {
    /// The trace files.
    pub(crate) traces_dir: PathBuf,
    /// The recorded tests in the CLI's order, every status, each named after its step of
    /// the script; their ids are the trace ids.
    pub(crate) tests: Vec<Test>,
    /// The database URL the service was recorded with (a replay gets the same string:
    /// nothing answers there then).
    pub(crate) database_url: String,
    /// The rates service's URL, likewise.
    pub(crate) rates_url: String,
}

impl Recording {
    /// The tests the real CLI replays: those recorded with a status below 300.
    pub(crate) fn replayable(&self) -> Vec<Test> {
        self.tests
            .iter()
            .filter(|test| test.expect_status < 300)
            .cloned()
            .collect()
    }
}

/// Records the demo service under the script with `dependencies` running, its traces into
/// `traces_dir` (emptied first), its log into `out_dir`. Fails unless every step answered
/// its status and the traces hold exactly the script's requests, in order.
pub(crate) fn record(
    root: &Path,
    binary: &Path,
    dependencies: &Dependencies,
    traces_dir: &Path,
    out_dir: &Path,
) -> anyhow::Result<Recording> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    if traces_dir.exists() {
        std::fs::remove_dir_all(traces_dir)
            .with_context(|| format!("cannot clear {}", traces_dir.display()))?;
    }
    let log = out_dir.join("record.log");
    let mut launch = service::launch(
        root,
        binary,
        &out_dir.join("record.profraw"),
        &log,
        dependencies.database_url(),
        dependencies.rates_url(),
    );
    // A recording's profile is of no interest: without `LLVM_PROFILE_FILE` the SDK stops
    // the instrumented program from writing one in RECORD mode.
    launch.env_remove("LLVM_PROFILE_FILE");
    let script = steps();
    let recording =
        cov_driver::record::record(&launch, traces_dir, &script, &shutdown_request())
            .with_context(|| format!("recording; the service's log is in {}", log.display()))?;
    if !recording.failures.is_empty() {
        bail!(
            "while recording, {} requests answered an unexpected status:\n  {}\nthe service's log is in {}",
            recording.failures.len(),
            recording.failures.join("\n  "),
            log.display()
        );
    }
    if recording.tests.len() != script.len() {
        bail!(
            "the recorder wrote {} traces for {} requests; the service's log is in {}",
            recording.tests.len(),
            script.len(),
            log.display()
        );
    }
    let mut tests = Vec::with_capacity(script.len());
    for (mut test, step) in recording.tests.into_iter().zip(&script) {
        if (&test.method, &test.target, &test.body, test.expect_status)
            != (&step.method, &step.target, &step.body, step.expect_status)
        {
            bail!(
                "the trace of {} holds {} {} answered {}: not the script's request",
                step.name,
                test.method,
                test.target,
                test.expect_status
            );
        }
        test.name.clone_from(&step.name);
        tests.push(test);
    }
    Ok(Recording {
        traces_dir: traces_dir.to_path_buf(),
        tests,
        database_url: dependencies.database_url().to_owned(),
        rates_url: dependencies.rates_url().to_owned(),
    })
}

/// What the trace files hold besides the requests: per trace id, the outbound spans of
/// each package (`postgres`, `http`); pre-app-start spans under the id `""`.
pub(crate) fn outbound_spans(traces_dir: &Path) -> anyhow::Result<OutboundSpans> {
    let mut spans = OutboundSpans::default();
    for path in cov_driver::traces::trace_files(traces_dir)? {
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let file = cov_trace::read::parse_spans(&text)
            .with_context(|| format!("{} is not a trace the CLI reads", path.display()))?;
        for span in file.iter().filter(|span| !span.is_root_span) {
            let trace = if span.is_pre_app_start {
                String::new()
            } else {
                span.trace_id.clone()
            };
            let entry = spans.by_trace.entry(trace).or_default();
            *entry.entry(span.package_name.clone()).or_default() += 1;
            if !span.is_pre_app_start
                && span.package_name == "postgres"
                && span.submodule_name == "describe"
            {
                spans.prepares += 1;
            }
            if span.package_name == "http" {
                spans.http_urls.push(
                    span.input_value
                        .as_ref()
                        .and_then(|value| value.get("url"))
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    }
    Ok(spans)
}

/// The outbound spans of a traces directory ([`outbound_spans`]).
#[derive(Debug, Default)]
pub(crate) struct OutboundSpans {
    /// Trace id (`""` for pre-app-start spans) → package name → spans.
    pub(crate) by_trace: BTreeMap<String, BTreeMap<String, usize>>,
    /// The URL of every recorded HTTP call.
    pub(crate) http_urls: Vec<String>,
    /// How many of the requests' `postgres` spans describe a statement the driver prepares
    /// (the rest run one).
    pub(crate) prepares: usize,
}

impl OutboundSpans {
    /// The spans of `package` in trace `trace_id` (`""`: pre-app-start).
    pub(crate) fn count(&self, trace_id: &str, package: &str) -> usize {
        self.by_trace
            .get(trace_id)
            .and_then(|packages| packages.get(package))
            .copied()
            .unwrap_or(0)
    }

    /// The spans of `package` in all traces of requests (pre-app-start ones left out).
    pub(crate) fn total(&self, package: &str) -> usize {
        self.by_trace
            .iter()
            .filter(|(trace, _)| !trace.is_empty())
            .map(|(trace, _)| self.count(trace, package))
            .sum()
    }

    /// One line: what the traces hold.
    pub(crate) fn summary(&self) -> String {
        let postgres = self.total("postgres");
        let prepares = self.prepares;
        format!(
            "{} statements run, {prepares} prepared and {} calls to the rates service in the \
             requests' traces, {} start-up statements as pre-app-start spans",
            postgres - prepares,
            self.total("http"),
            self.count("", "postgres"),
        )
    }
}

/// The recording a test replays: the script recorded against a database of its own on the
/// tests' PostgreSQL server (`database`, a fresh one) and the rates service, into
/// `out_dir/traces`; the rates service is stopped again before it returns.
#[cfg(test)]
pub(crate) fn record_for_tests(
    root: &Path,
    binary: &Path,
    database: &str,
    out_dir: &Path,
) -> Recording {
    let rates = cov_testkit::build_plain(RATES_PACKAGE, RATES_PACKAGE);
    std::fs::create_dir_all(out_dir).expect("creating the output directory");
    let dependencies =
        Dependencies::with_database(cov_testkit::fresh_database(database), &rates, out_dir)
            .expect("the rates service starts");
    let recording = record(
        root,
        binary,
        &dependencies,
        &out_dir.join("traces"),
        out_dir,
    );
    dependencies.stop().expect("the rates service stops");
    recording.unwrap_or_else(|error| panic!("{error:#}"))
}
