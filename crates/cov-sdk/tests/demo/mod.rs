//! The demo service as the SDK's integration tests run it: its instrumented build, its
//! directory, its outside dependency (the rates service), and recordings of it made with
//! its dependencies up, for replays to be answered from once they are stopped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use cov_driver::replay::{Stop, Test};
use cov_driver::{Launch, ServiceProcess};
use cov_testkit::{BuildOptions, build_instrumented, build_plain, workspace_root};

const WAIT: Duration = Duration::from_secs(60);

/// The instrumented demo service, built once for all tests. It is the branch-coverage
/// build: its line coverage is what a stable build reports, plus branch regions, and the
/// demo's own test builds the same variant, so one instrumented build serves them all.
pub(crate) fn instrumented_service() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let options = BuildOptions {
            release: false,
            branch: true,
        };
        build_instrumented("demo-service", "demo-service", &options)
    })
}

/// The service's own directory: its working directory, so the SDK's default source root.
pub(crate) fn service_dir() -> PathBuf {
    workspace_root()
        .join("examples/demo-service")
        .canonicalize()
        .unwrap()
}

/// A recording of requests, made with the service's dependencies up, for a replay to be
/// answered from (they are stopped by then).
pub(crate) struct Recorded {
    /// The trace files.
    pub(crate) traces: PathBuf,
    /// The recorded tests, in the order sent: each request as the CLI sends it (with its
    /// `x-td-trace-id`) and its recorded status.
    pub(crate) tests: Vec<Test>,
    /// The URLs the service was recorded with, which a replay gives it again (nothing
    /// answers there by then).
    pub(crate) database_url: String,
    pub(crate) rates_url: String,
    _dir: tempfile::TempDir,
}

impl Recorded {
    /// The URLs of a service replayed from this recording: the database's, the rates
    /// service's.
    pub(crate) fn urls(&self) -> (&str, &str) {
        (&self.database_url, &self.rates_url)
    }
}

/// Records `script` (empty: only the service's start-up) with the instrumented service in
/// `RECORD` mode against a fresh database `database` on the tests' server and the rates
/// service, which is stopped again before this returns.
pub(crate) fn record(database: &str, script: &[Test]) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let database_url = cov_testkit::fresh_database(database);
    let (mut rates, rates_url) = start_rates();
    let mut launch = Launch::new(instrumented_service());
    launch
        .args(["--port", "0"])
        .current_dir(service_dir())
        .env_remove("PORT")
        .env_remove("HOST")
        .env("DATABASE_URL", &database_url)
        .env("RATES_URL", &rates_url)
        .env("LLVM_PROFILE_FILE", dir.path().join("record.profraw"))
        .log(dir.path().join("record.log"));
    let traces = dir.path().join("traces");
    let recording = cov_driver::record::record(
        &launch,
        &traces,
        script,
        &Stop::Request {
            method: "POST".to_owned(),
            path: "/shutdown".to_owned(),
            expect_status: 202,
        },
    )
    .unwrap_or_else(|error| panic!("recording {database}: {error}"));
    rates.kill().unwrap();
    assert!(recording.failures.is_empty(), "{:?}", recording.failures);
    assert_eq!(recording.tests.len(), script.len());
    for (test, step) in recording.tests.iter().zip(script) {
        assert_eq!(
            (&test.method, &test.target, &test.body, test.expect_status),
            (&step.method, &step.target, &step.body, step.expect_status)
        );
    }
    Recorded {
        traces,
        tests: recording.tests,
        database_url,
        rates_url,
        _dir: dir,
    }
}

/// The rates service (uninstrumented: the demo service's outside dependency) on a free
/// port, and its URL. Killed when dropped.
pub(crate) fn start_rates() -> (ServiceProcess, String) {
    let mut launch = Launch::new(build_plain("rates-service", "rates-service"));
    launch.args(["--port", "0"]).env_remove("PORT");
    let mut rates = launch.start().unwrap();
    let address = rates.wait_for_address(WAIT).unwrap();
    (rates, format!("http://{address}"))
}
