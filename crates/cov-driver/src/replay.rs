//! Replaying tests against a service with coverage on, as `tusk drift run --show-coverage`
//! does: listen, start the service with the replay variables, accept its SDK's handshake,
//! wait until it is ready, take the baseline, then for each test send its HTTP request,
//! check its inbound replay span if asked, and take a snapshot; stop the service and
//! aggregate what the SDK sent with cov-report.
//!
//! The driver's thread sends the HTTP requests with a blocking client; the connection's
//! tasks (its reader, its writer, and the mock answers of a [`MockSource`]) run meanwhile on
//! the one worker thread of the replay's own runtime. That is what lets a service ask for
//! mocks while it handles a replayed request: with a runtime that ran only inside the
//! driver's calls, a mock request would wait for the HTTP response that waits for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cov_core::{SnapshotKind, WireSnapshot};
use cov_report::{Aggregate, CoverageView, PathNormalizer};
use cov_transport::Endpoint;
use cov_wire::coverage::WireError;

use crate::connection::CliConnection;
use crate::error::ChannelError;
use crate::http::HttpClient;
use crate::launch::{Launch, LaunchError, ServiceProcess};
use crate::listener::{CliListener, CliOptions};
use crate::mock::MockSource;

/// One replayed test: a single HTTP request and the status it must answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    /// The test's id: the trace id when the test comes from a recorded trace.
    pub id: String,
    /// The display name.
    pub name: String,
    /// The HTTP method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers sent with the request, in order.
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
    /// The status the service must answer.
    pub expect_status: u16,
}

impl Test {
    /// Sends this test's request, with its headers and body as recorded, and returns the
    /// status and the body.
    pub fn send(&self, client: &HttpClient) -> std::io::Result<(u16, String)> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        client.send(&self.method, &self.target, &headers, self.body.as_deref())
    }
}

/// Where the driver listens for the service's SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A fresh unix socket in the temporary directory (the Tusk CLI's default).
    Unix,
    /// TCP on `127.0.0.1`, a port the system picks.
    Tcp,
}

/// How the replay stops the service after the last snapshot; what runs then is in no
/// snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// An HTTP request that must answer `expect_status`, such as the demo's
    /// `POST /shutdown`.
    Request {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The status it answers.
        expect_status: u16,
    },
    /// `SIGTERM`, as the Tusk CLI stops a service.
    Signal,
}

/// Why a replay could not run to its end. A test answering an unexpected status is not an
/// error: it is listed in [`ReplayOutcome::failures`].
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The replay's runtime could not be started.
    #[error("cannot start a tokio runtime: {0}")]
    Runtime(std::io::Error),
    /// The driver could not listen.
    #[error("cannot listen for the SDK: {0}")]
    Listen(ChannelError),
    /// The service could not be started.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The service exited before the replay was done with it.
    #[error("the service exited ({status}) {when}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// At which stage.
        when: &'static str,
    },
    /// No SDK connected and completed the handshake.
    #[error("no SDK handshake (is cov_sdk::init() in main?): {0}")]
    NoHandshake(ChannelError),
    /// The service did not print `listening on ADDR`.
    #[error("the service did not print `listening on ADDR`: {0}")]
    NoAddress(std::io::Error),
    /// The readiness check never answered 200.
    #[error("the service was not ready within {timeout:?}: GET {path}: {last}")]
    NotReady {
        /// The readiness check's path.
        path: String,
        /// How long the driver waited.
        timeout: Duration,
        /// The last answer or error.
        last: String,
    },
    /// A request could not be sent or got no answer.
    #[error("{request}: {source}")]
    Http {
        /// The request, `METHOD target`.
        request: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A snapshot request failed.
    #[error("the {which} snapshot failed: {source}")]
    Snapshot {
        /// `baseline` or `per-test`.
        which: &'static str,
        /// The cause.
        source: ChannelError,
    },
    /// A snapshot is not valid coverage.
    #[error("the SDK's snapshot is not valid coverage: {0}")]
    InvalidSnapshot(#[from] WireError),
    /// The stop request did not answer the expected status.
    #[error("{request} answered {status}, not {expected}")]
    StopRefused {
        /// The request, `METHOD path`.
        request: String,
        /// What it answered.
        status: u16,
        /// What it had to answer.
        expected: u16,
    },
    /// `SIGTERM` could not be sent.
    #[error("cannot ask the service to stop: {0}")]
    Terminate(std::io::Error),
    /// The service did not exit after it was asked to stop; it was killed.
    #[error("the service did not exit within {0:?} of being asked to stop; killed it")]
    NoExit(Duration),
    /// Waiting for the service's exit failed.
    #[error("cannot wait for the service's exit: {0}")]
    Wait(std::io::Error),
}

/// What a replay produced.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// Everything the SDK reported, as the Tusk CLI collects it.
    pub aggregate: Aggregate,
    /// The merged result, from which reports are written.
    pub view: CoverageView,
    /// Tests whose status was not the expected one, or whose inbound replay span did not
    /// come, with what came back.
    pub failures: Vec<String>,
    /// The service's HTTP address.
    pub address: SocketAddr,
    /// How the service exited.
    pub exit: ExitStatus,
}

/// Where a replay's progress lines go.
type Progress = Box<dyn Fn(&str)>;

/// A replay: the service to start, the tests to send, how to stop it. Build with
/// [`Replay::new`] and the setters, then [`Replay::run`].
pub struct Replay {
    launch: Launch,
    tests: Vec<Test>,
    listen: Listen,
    stop: Stop,
    readiness_path: Option<String>,
    require_inbound_spans: bool,
    relative_to: Option<PathBuf>,
    mock_source: Option<Arc<dyn MockSource>>,
    progress: Option<Progress>,
    handshake_timeout: Duration,
    snapshot_timeout: Duration,
    inbound_span_timeout: Duration,
    request_timeout: Duration,
    exit_timeout: Duration,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Replay")
            .field("launch", &self.launch)
            .field("tests", &self.tests.len())
            .field("listen", &self.listen)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// Replays `tests` against the service `launch` starts (with `TUSK_DRIFT_MODE=REPLAY`,
    /// `TUSK_COVERAGE=true` and the channel's variables added): over a unix socket, no
    /// readiness check, stopped with `SIGTERM`, inbound replay spans not required, paths as
    /// the SDK sent them. The timeouts are the Tusk CLI's where it has one: 60 s per
    /// snapshot, 3 s for an inbound replay span; the handshake and readiness may take 30 s
    /// (an instrumented debug build on a loaded machine starts slowly), a request 10 s, the
    /// exit 30 s.
    pub fn new(launch: Launch, tests: Vec<Test>) -> Replay {
        Replay {
            launch,
            tests,
            listen: Listen::Unix,
            stop: Stop::Signal,
            readiness_path: None,
            require_inbound_spans: false,
            relative_to: None,
            mock_source: None,
            progress: None,
            handshake_timeout: Duration::from_secs(30),
            snapshot_timeout: Duration::from_secs(60),
            inbound_span_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            exit_timeout: Duration::from_secs(30),
        }
    }

    /// Where the driver listens.
    pub fn listen(&mut self, listen: Listen) -> &mut Self {
        self.listen = listen;
        self
    }

    /// How the service is stopped after the last snapshot.
    pub fn stop(&mut self, stop: Stop) -> &mut Self {
        self.stop = stop;
        self
    }

    /// `GET path` must answer 200 before the baseline, as the Tusk CLI runs the service's
    /// readiness check first. Once a request has been served, the start-up work the server
    /// spawned has run, so it lands in the baseline and not in the first test.
    pub fn readiness_path(&mut self, path: impl Into<String>) -> &mut Self {
        self.readiness_path = Some(path.into());
        self
    }

    /// Fails a test whose trace id (its id) gets no inbound replay span from the SDK, as the
    /// CLI does under `TUSK_REQUIRE_INBOUND_REPLAY_SPAN=1`.
    pub fn require_inbound_spans(&mut self, required: bool) -> &mut Self {
        self.require_inbound_spans = required;
        self
    }

    /// Makes the reported paths relative to `root` (canonicalized), as the Tusk CLI makes
    /// them relative to the git root.
    pub fn relative_to(&mut self, root: impl Into<PathBuf>) -> &mut Self {
        self.relative_to = Some(root.into());
        self
    }

    /// What answers the SDK's mock requests (see [`MockSource`]).
    pub fn mock_source(&mut self, source: Arc<dyn MockSource>) -> &mut Self {
        self.mock_source = Some(source);
        self
    }

    /// Receives a line of progress per stage and per test.
    pub fn progress(&mut self, progress: impl Fn(&str) + 'static) -> &mut Self {
        self.progress = Some(Box::new(progress));
        self
    }

    fn report(&self, text: &str) {
        if let Some(progress) = &self.progress {
            progress(text);
        }
    }

    /// Runs the replay to its end and returns what the SDK reported.
    pub fn run(&self) -> Result<ReplayOutcome, ReplayError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cov-driver")
            .enable_all()
            .build()
            .map_err(ReplayError::Runtime)?;
        let endpoint = match self.listen {
            Listen::Unix => Endpoint::unix(socket_path()),
            Listen::Tcp => Endpoint::tcp("127.0.0.1", 0),
        };
        let mut options = CliOptions::default();
        if let Some(source) = &self.mock_source {
            options.mock_source(Arc::clone(source));
        }
        let listener = runtime
            .block_on(CliListener::bind_with(&endpoint, options))
            .map_err(ReplayError::Listen)?;
        let mut launch = self.launch.clone();
        launch
            .env("TUSK_DRIFT_MODE", "REPLAY")
            .env("TUSK_COVERAGE", "true")
            .channel(listener.local_endpoint());
        self.report(&format!(
            "listening on {}; starting the service with {}",
            listener.local_endpoint(),
            launch
                .variables()
                .filter_map(|(name, value)| {
                    let name = name.to_string_lossy();
                    let value = value?.to_string_lossy();
                    name.starts_with("TUSK_").then(|| format!("{name}={value}"))
                })
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let mut service = launch.start()?;
        let connection = runtime.block_on(accept_while_running(
            &listener,
            &mut service,
            self.handshake_timeout,
        ))?;
        let request = connection.connect_request();
        self.report(&format!(
            "handshake from service `{}`, SDK {}",
            request.service_id, request.sdk_version
        ));
        let address = service
            .wait_for_address(self.handshake_timeout)
            .map_err(|error| match service.try_exit_status() {
                Some(status) => ReplayError::Exited {
                    status,
                    when: "before it listened",
                },
                None => ReplayError::NoAddress(error),
            })?;
        let client = HttpClient::new(address, self.request_timeout);
        if let Some(path) = &self.readiness_path {
            wait_until_ready(&client, path, &mut service, self.handshake_timeout)?;
        }

        let mut aggregate = Aggregate::new();
        if let Some(root) = &self.relative_to {
            let mut normalizer = PathNormalizer::new();
            let root = root.canonicalize().unwrap_or_else(|_| root.clone());
            normalizer.relative_to(root.display().to_string());
            aggregate.set_path_normalizer(normalizer);
        }
        let snapshot = |kind| self.snapshot(&runtime, &connection, kind);

        let baseline = snapshot(SnapshotKind::Baseline)?;
        self.report(&format!(
            "baseline: {} coverable lines in {} files of {address}",
            baseline
                .files
                .values()
                .map(|file| file.lines.len())
                .sum::<usize>(),
            baseline.files.len(),
        ));
        aggregate.add_baseline(baseline);

        let mut failures = Vec::new();
        let width = self.tests.len().to_string().len();
        for (test_idx, test) in self.tests.iter().enumerate() {
            if let Some(source) = &self.mock_source {
                source.test_started(&test.id);
            }
            let sent = test.send(&client);
            if let Some(source) = &self.mock_source {
                source.test_finished(&test.id);
            }
            let (status, body) = sent.map_err(|source| ReplayError::Http {
                request: format!("{} {}", test.method, test.target),
                source,
            })?;
            if self.require_inbound_spans
                && runtime
                    .block_on(connection.inbound_span(&test.id, self.inbound_span_timeout))
                    .is_none()
            {
                failures.push(format!(
                    "{}: the SDK sent no inbound replay span for trace {}",
                    test.name, test.id
                ));
            }
            let delta = snapshot(SnapshotKind::Delta)?;
            let n_lines: usize = delta
                .files
                .values()
                .map(|file| file.lines.values().filter(|&&count| count > 0).count())
                .sum();
            let verdict = if status == test.expect_status {
                "ok"
            } else {
                failures.push(format!(
                    "{}: expected {}, got {status}: {body}",
                    test.name, test.expect_status
                ));
                "UNEXPECTED"
            };
            self.report(&format!(
                "[{:>width$}/{}] {:<44} {status} {verdict:<3} {n_lines:>4} lines",
                test_idx + 1,
                self.tests.len(),
                test.name,
            ));
            aggregate.add_test(&test.id, &test.name, delta);
        }

        match &self.stop {
            Stop::Request {
                method,
                path,
                expect_status,
            } => {
                self.report(&format!("stopping the service ({method} {path})"));
                let request = format!("{method} {path}");
                let (status, _) =
                    client
                        .send(method, path, &[], None)
                        .map_err(|source| ReplayError::Http {
                            request: request.clone(),
                            source,
                        })?;
                if status != *expect_status {
                    return Err(ReplayError::StopRefused {
                        request,
                        status,
                        expected: *expect_status,
                    });
                }
            }
            Stop::Signal => {
                self.report("stopping the service (SIGTERM)");
                service.terminate().map_err(ReplayError::Terminate)?;
            }
        }
        drop(connection);
        let exit = match service
            .wait_for_exit(self.exit_timeout)
            .map_err(ReplayError::Wait)?
        {
            Some(status) => status,
            None => {
                service.kill().map_err(ReplayError::Wait)?;
                return Err(ReplayError::NoExit(self.exit_timeout));
            }
        };
        let view = aggregate.view();
        Ok(ReplayOutcome {
            aggregate,
            view,
            failures,
            address,
            exit,
        })
    }

    /// Asks for a snapshot and converts the reply to a cov-core record.
    fn snapshot(
        &self,
        runtime: &tokio::runtime::Runtime,
        connection: &CliConnection,
        kind: SnapshotKind,
    ) -> Result<WireSnapshot, ReplayError> {
        let (which, request) = match kind {
            SnapshotKind::Baseline => (
                "baseline",
                runtime.block_on(connection.baseline(self.snapshot_timeout)),
            ),
            SnapshotKind::Delta => (
                "per-test",
                runtime.block_on(connection.delta(self.snapshot_timeout)),
            ),
        };
        let response = request.map_err(|source| ReplayError::Snapshot { which, source })?;
        Ok(cov_wire::coverage::from_response(&response, kind)?)
    }
}

/// Accepts the SDK's connection and handshake, failing early when the service exits first.
async fn accept_while_running(
    listener: &CliListener,
    service: &mut ServiceProcess,
    timeout: Duration,
) -> Result<CliConnection, ReplayError> {
    let accept = listener.accept(timeout);
    tokio::pin!(accept);
    let mut exit_checks = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            accepted = &mut accept => return accepted.map_err(ReplayError::NoHandshake),
            _ = exit_checks.tick() => {
                if let Some(status) = service.try_exit_status() {
                    return Err(ReplayError::Exited { status, when: "before the SDK's handshake" });
                }
            }
        }
    }
}

/// Asks `GET path` until it answers 200, the service exits, or `timeout` passes.
fn wait_until_ready(
    client: &HttpClient,
    path: &str,
    service: &mut ServiceProcess,
    timeout: Duration,
) -> Result<(), ReplayError> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match client.get(path) {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => format!("{status} {body}"),
            Err(error) => error.to_string(),
        };
        if let Some(status) = service.try_exit_status() {
            return Err(ReplayError::Exited {
                status,
                when: "before it was ready",
            });
        }
        if Instant::now() >= deadline {
            return Err(ReplayError::NotReady {
                path: path.to_owned(),
                timeout,
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh unix socket path under the temporary directory (short enough for `sun_path`).
fn socket_path() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "cov-driver-{}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}
