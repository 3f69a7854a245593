//! End to end: the demo service (`examples/demo-service`, axum on PostgreSQL, calling the
//! rates service, `cov_sdk::init()` in `main`) built with `-C instrument-coverage`, started
//! as a child process with the variables the Tusk CLI sets, and driven by cov-driver (the
//! CLI side, and the launch) over a unix socket and over TCP, exactly as
//! `tusk drift run --coverage` drives a service: handshake, baseline, one HTTP request per
//! test with a snapshot after each.
//!
//! A replay needs a recording: each test first records its requests with the service in
//! `RECORD` mode against a database of its own on the tests' PostgreSQL server
//! (`COV_POSTGRES_URL`, which `cargo xtask test` sets) and the rates service, stops the
//! rates service, and replays with the CLI side answering every statement and call from
//! the trace files as the Tusk CLI matches them (cov-driver's `TraceMocks`), each request
//! carrying its trace id as the CLI sends it.
//!
//! The reference is `llvm-cov` itself: the service writes its whole-run profile at exit
//! (`LLVM_PROFILE_FILE` set by the test), and baseline plus every per-test snapshot must
//! equal `llvm-cov export` of that profile, line by line, for every file of the service.
//! The one thing no snapshot can see is what runs after the last one (the `POST
//! /shutdown` handler and the end of `main`), so a second run measures that tail alone
//! (baseline, then shutdown): whole run = baseline + per-test snapshots + tail, exactly.

mod demo;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cov_core::{SnapshotKind, WireSnapshot};
use cov_driver::replay::Test;
use cov_driver::{ChannelError, CliConnection, CliListener, CliOptions, TraceMocks};
use cov_driver::{HttpClient, Launch, ServiceProcess};
use cov_proto::{CoverageSnapshotResponse, Message, MessageType, SdkMessage, sdk_message};
use cov_testkit::{LcovTracefile, build_plain, oracle_lcov_of};
use cov_transport::Endpoint;
use cov_wire::coverage as wire;
use demo::{Recorded, instrumented_service, record, service_dir, start_rates};

const WAIT: Duration = Duration::from_secs(60);

/// The demo service built the usual way, without instrumentation.
fn plain_service() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build_plain("demo-service", "demo-service"))
}

/// The CLI side, on a unix socket or a TCP port.
struct Cli {
    runtime: tokio::runtime::Runtime,
    listener: Arc<CliListener>,
    _dir: tempfile::TempDir,
}

impl Cli {
    /// On a unix socket, answering mock requests from `recorded`'s traces if given.
    fn unix(recorded: Option<&Recorded>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::unix(dir.path().join("tusk-connect.sock"));
        Self::bind(dir, endpoint, recorded)
    }

    fn tcp(recorded: &Recorded) -> Self {
        Self::bind(
            tempfile::tempdir().unwrap(),
            Endpoint::tcp("127.0.0.1", 0),
            Some(recorded),
        )
    }

    fn bind(dir: tempfile::TempDir, endpoint: Endpoint, recorded: Option<&Recorded>) -> Self {
        // The connection's tasks, mock answers included, run on the worker thread while
        // the test's thread waits for an HTTP response.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut options = CliOptions::default();
        if let Some(recorded) = recorded {
            options.mock_source(Arc::new(
                TraceMocks::load(&recorded.traces).expect("the recorded traces load"),
            ));
        }
        let listener = runtime
            .block_on(CliListener::bind_with(&endpoint, options))
            .unwrap();
        Cli {
            runtime,
            listener: Arc::new(listener),
            _dir: dir,
        }
    }

    /// Where the service's SDK must connect.
    fn endpoint(&self) -> &Endpoint {
        self.listener.local_endpoint()
    }

    fn accept(&self, timeout: Duration) -> Result<CliConnection, ChannelError> {
        self.runtime.block_on(self.listener.accept(timeout))
    }

    /// Starts `binary` (built already: the accept's clock starts here) pointed at this CLI
    /// side, as [`Service::start`] does, while accepting its SDK's connection: a replayed
    /// service's start-up statements are answered over that connection before it listens,
    /// so the CLI side must accept before it waits for the service's address.
    fn start_and_accept(
        &self,
        binary: &Path,
        variables: &[(&str, &str)],
        urls: (&str, &str),
    ) -> (Service, CliConnection) {
        let listener = Arc::clone(&self.listener);
        let accepting = self
            .runtime
            .spawn(async move { listener.accept(WAIT).await });
        let service = Service::start(binary, self.endpoint(), variables, urls);
        let connection = self
            .runtime
            .block_on(accepting)
            .expect("the accepting task")
            .unwrap_or_else(|error| panic!("no SDK connected: {error}"));
        (service, connection)
    }

    /// A snapshot request as the CLI sends it; the raw reply, checked against upstream.
    fn snapshot(&self, connection: &CliConnection, baseline: bool) -> CoverageSnapshotResponse {
        let request_id = format!("coverage-{}", next_request_number());
        let request = cov_proto::CliMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: request_id.clone(),
            payload: Some(cov_proto::cli_message::Payload::CoverageSnapshotRequest(
                cov_proto::CoverageSnapshotRequest { baseline },
            )),
        };
        let reply = self
            .runtime
            .block_on(connection.request(request, WAIT))
            .unwrap();
        assert_eq!(reply.request_id, request_id);
        assert_eq!(reply.r#type, MessageType::CoverageSnapshot as i32);
        assert_upstream_decodes(&reply);
        match reply.payload {
            Some(sdk_message::Payload::CoverageSnapshotResponse(response)) => response,
            other => panic!("expected a CoverageSnapshotResponse, got {other:?}"),
        }
    }

    /// A successful snapshot as a record.
    fn record(&self, connection: &CliConnection, baseline: bool) -> WireSnapshot {
        let kind = if baseline {
            SnapshotKind::Baseline
        } else {
            SnapshotKind::Delta
        };
        wire::from_response(&self.snapshot(connection, baseline), kind)
            .unwrap_or_else(|error| panic!("{error}"))
    }
}

fn next_request_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The real Tusk types read every reply to the same values ours do.
fn assert_upstream_decodes(reply: &SdkMessage) {
    use tusk_drift_schemas::tusk::drift::core::v1 as upstream;

    let bytes = reply.encode_to_vec();
    let theirs = upstream::SdkMessage::decode(bytes.as_slice())
        .unwrap_or_else(|error| panic!("upstream cannot decode our reply: {error}"));
    assert_eq!(theirs.r#type, reply.r#type);
    assert_eq!(theirs.request_id, reply.request_id);
    let Some(sdk_message::Payload::CoverageSnapshotResponse(ours)) = &reply.payload else {
        return;
    };
    let Some(upstream::sdk_message::Payload::CoverageSnapshotResponse(theirs)) = theirs.payload
    else {
        panic!("upstream sees no CoverageSnapshotResponse in {reply:?}");
    };
    assert_eq!(theirs.success, ours.success);
    assert_eq!(theirs.error, ours.error);
    assert_eq!(theirs.coverage.len(), ours.coverage.len());
    for (path, file) in &ours.coverage {
        let their_file = &theirs.coverage[path];
        assert_eq!(
            their_file.lines.iter().collect::<BTreeMap<_, _>>(),
            file.lines.iter().collect::<BTreeMap<_, _>>()
        );
        assert_eq!(their_file.total_branches, file.total_branches);
        assert_eq!(their_file.covered_branches, file.covered_branches);
        let theirs: BTreeMap<_, _> = their_file
            .branches
            .iter()
            .map(|(line, info)| (line.clone(), (info.total, info.covered)))
            .collect();
        let ours: BTreeMap<_, _> = file
            .branches
            .iter()
            .map(|(line, info)| (line.clone(), (info.total, info.covered)))
            .collect();
        assert_eq!(theirs, ours);
    }
}

/// A running service.
struct Service {
    process: ServiceProcess,
    address: SocketAddr,
    profraw: PathBuf,
    _profile_dir: tempfile::TempDir,
}

impl Service {
    /// Starts `binary` in the service's directory, pointed at `endpoint`, with the Tusk
    /// variables `variables` (and no other) and the URLs `recorded` was made with (or, in
    /// `RECORD` mode, `urls`: the database's and the rates service's), and waits until it
    /// listens.
    fn start(
        binary: &Path,
        endpoint: &Endpoint,
        variables: &[(&str, &str)],
        urls: (&str, &str),
    ) -> Self {
        let profile_dir = tempfile::tempdir().unwrap();
        let profraw = profile_dir.path().join("service.profraw");
        let mut launch = Launch::new(binary);
        launch
            .args(["--port", "0"])
            .current_dir(service_dir())
            .env_remove("PORT")
            .env_remove("HOST")
            .env("LLVM_PROFILE_FILE", &profraw)
            .env("TUSK_COVERAGE_LOG", "cov_sdk=debug,info")
            .env("DATABASE_URL", urls.0)
            .env("RATES_URL", urls.1)
            .channel(endpoint);
        for (name, value) in variables {
            launch.env(name, value);
        }
        let mut process = launch.start().unwrap_or_else(|error| panic!("{error}"));
        let address = process
            .wait_for_address(WAIT)
            .unwrap_or_else(|error| panic!("the service did not listen: {error}"));
        Service {
            process,
            address,
            profraw,
            _profile_dir: profile_dir,
        }
    }

    /// One HTTP request on a fresh connection; the status code and body.
    fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        HttpClient::new(self.address, WAIT)
            .request(method, path, body)
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// A recorded test's request, as the CLI sends it; the status code and body.
    fn send(&self, test: &Test) -> (u16, String) {
        test.send(&HttpClient::new(self.address, WAIT))
            .unwrap_or_else(|error| panic!("{} {}: {error}", test.method, test.target))
    }

    /// Stops the service gracefully (`POST /shutdown`) and returns its profile.
    fn stop(mut self) -> (PathBuf, tempfile::TempDir) {
        let (status, _) = self.http("POST", "/shutdown", None);
        assert_eq!(status, 202);
        let exit = self
            .process
            .wait_for_exit(WAIT)
            .unwrap()
            .expect("the service did not stop");
        assert!(exit.success(), "the service exited with {exit}");
        assert!(
            self.profraw.is_file(),
            "the service wrote no profile at {}",
            self.profraw.display()
        );
        let profraw = std::mem::take(&mut self.profraw);
        let dir = std::mem::replace(&mut self._profile_dir, tempfile::tempdir().unwrap());
        (profraw, dir)
    }
}

/// The variables the Tusk CLI sets for `tusk drift run --coverage`, besides the endpoint.
const REPLAY_WITH_COVERAGE: &[(&str, &str)] =
    &[("TUSK_DRIFT_MODE", "REPLAY"), ("TUSK_COVERAGE", "true")];

/// A test of the replay: one request, and the handler it must reach.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    status: u16,
    /// `(file relative to the service directory, function name)` of the handler.
    handler: (&'static str, &'static str),
}

impl Case {
    /// The request as a test of the script to record.
    fn test(&self) -> Test {
        Test {
            id: format!("{} {}", self.method, self.path),
            name: format!("{} {}", self.method, self.path),
            method: self.method.to_owned(),
            target: self.path.to_owned(),
            headers: match self.body {
                Some(_) => vec![("content-type".to_owned(), "application/json".to_owned())],
                None => Vec::new(),
            },
            body: self.body.map(|body| body.as_bytes().to_vec()),
            expect_status: self.status,
        }
    }
}

/// The cases as a script to record.
fn cases() -> Vec<Test> {
    CASES.iter().map(Case::test).collect()
}

const CASES: [Case; 5] = [
    Case {
        method: "GET",
        path: "/health",
        body: None,
        status: 200,
        handler: ("src/routes.rs", "health"),
    },
    Case {
        method: "GET",
        path: "/products?category=coffee&page=1&per_page=10",
        body: None,
        status: 200,
        handler: ("src/inventory.rs", "list"),
    },
    Case {
        method: "GET",
        path: "/products/3",
        body: None,
        status: 200,
        handler: ("src/inventory.rs", "get"),
    },
    Case {
        method: "POST",
        path: "/orders",
        body: Some(
            r#"{"customer":"ada","items":[{"product_id":1,"quantity":2}],"discount_code":"SAVE10"}"#,
        ),
        status: 201,
        handler: ("src/orders.rs", "place"),
    },
    Case {
        method: "GET",
        path: "/orders/9999",
        body: None,
        status: 404,
        handler: ("src/orders.rs", "get"),
    },
];

/// The lines of a top-level `fn name` in `file`: from its `fn` line to the first line
/// that is a lone `}` (rustfmt closes top-level items that way).
fn function_lines(file: &Path, name: &str) -> std::ops::RangeInclusive<u32> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|line| !line.starts_with(' ') && line.contains(&format!("fn {name}(")))
        .unwrap_or_else(|| panic!("no top-level fn {name} in {}", file.display()));
    let end = lines[start..]
        .iter()
        .position(|line| *line == "}")
        .map(|offset| start + offset)
        .unwrap_or_else(|| panic!("fn {name} in {} does not end", file.display()));
    (start as u32 + 1)..=(end as u32 + 1)
}

/// `llvm-cov`'s LCOV of the service's own files for the run that wrote `profraw`: only
/// they are exported, as only they are compared.
fn oracle_of(binary: &Path, profraw: &Path) -> LcovTracefile {
    LcovTracefile::parse(&oracle_lcov_of(
        binary,
        &[profraw],
        &[&service_dir().join("src")],
    ))
}

/// The service's files in an LCOV report, with their line counts.
fn service_lines(lcov: &LcovTracefile) -> BTreeMap<String, BTreeMap<u32, u64>> {
    let root = service_dir();
    lcov.files
        .iter()
        .filter(|(path, _)| Path::new(path).starts_with(&root))
        .map(|(path, file)| (path.clone(), file.lines.clone()))
        .collect()
}

/// `left + right`, line by line.
fn add(
    left: &mut BTreeMap<String, BTreeMap<u32, u64>>,
    right: &BTreeMap<String, BTreeMap<u32, u64>>,
) {
    for (path, lines) in right {
        let file = left.entry(path.clone()).or_default();
        for (line, count) in lines {
            *file.entry(*line).or_default() += count;
        }
    }
}

fn lines_of(record: &WireSnapshot) -> BTreeMap<String, BTreeMap<u32, u64>> {
    record
        .files
        .iter()
        .map(|(path, file)| (path.clone(), file.lines.clone()))
        .collect()
}

/// Every line where `expected` and `actual` differ, for a readable failure.
fn differences(
    expected: &BTreeMap<String, BTreeMap<u32, u64>>,
    actual: &BTreeMap<String, BTreeMap<u32, u64>>,
) -> Vec<String> {
    let paths: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    let mut differences = Vec::new();
    for path in paths {
        let empty = BTreeMap::new();
        let expected = expected.get(path).unwrap_or(&empty);
        let actual = actual.get(path).unwrap_or(&empty);
        let lines: BTreeSet<&u32> = expected.keys().chain(actual.keys()).collect();
        for line in lines {
            let (want, got) = (expected.get(line), actual.get(line));
            if want != got {
                differences.push(format!("{path}:{line}: llvm-cov {want:?}, SDK {got:?}"));
            }
        }
    }
    differences
}

/// Baseline, then each recorded case with a snapshot after it; returns baseline and
/// per-test records.
fn replay(
    cli: &Cli,
    connection: &CliConnection,
    service: &Service,
    recorded: &Recorded,
) -> (WireSnapshot, Vec<WireSnapshot>) {
    let baseline = cli.record(connection, true);
    let per_test = recorded
        .tests
        .iter()
        .map(|test| {
            let (status, body) = service.send(test);
            assert_eq!(
                status, test.expect_status,
                "{} {}: {body}",
                test.method, test.target
            );
            cli.record(connection, false)
        })
        .collect();
    (baseline, per_test)
}

/// What the assertions on one replay have in common, over either transport.
fn check_replay(baseline: &WireSnapshot, per_test: &[WireSnapshot]) {
    let root = service_dir();

    // Only the service's own files, all of them with coverable lines.
    assert!(!baseline.files.is_empty());
    for path in baseline.files.keys() {
        assert!(
            Path::new(path).is_absolute() && Path::new(path).starts_with(root.join("src")),
            "the baseline lists a file that is not the service's own: {path}"
        );
    }
    for file in [
        "main.rs",
        "routes.rs",
        "inventory.rs",
        "orders.rs",
        "pricing.rs",
    ] {
        let path = root.join("src").join(file).display().to_string();
        assert!(
            baseline.files.contains_key(&path),
            "{path} missing from the baseline"
        );
    }
    // Unexecuted lines are there, with 0.
    let inventory = &baseline.files[&root.join("src/inventory.rs").display().to_string()];
    let restock = function_lines(&root.join("src/inventory.rs"), "restock");
    assert!(
        restock
            .clone()
            .any(|line| inventory.lines.get(&line) == Some(&0)),
        "the baseline has no 0-count line in the never-called restock handler"
    );

    // Each test reaches its handler and no other test's handler.
    for (index, (case, record)) in CASES.iter().zip(per_test).enumerate() {
        for (other_index, other) in CASES.iter().enumerate() {
            let path = root.join(other.handler.0);
            let handler = function_lines(&path, other.handler.1);
            let executed: Vec<u32> = record
                .files
                .get(&path.display().to_string())
                .map(|file| {
                    file.lines
                        .iter()
                        .filter(|(line, count)| handler.contains(line) && **count > 0)
                        .map(|(line, _)| *line)
                        .collect()
                })
                .unwrap_or_default();
            if index == other_index {
                assert!(
                    !executed.is_empty(),
                    "{} {}: no line of {}::{} in its snapshot",
                    case.method,
                    case.path,
                    other.handler.0,
                    other.handler.1
                );
            } else {
                assert!(
                    executed.is_empty(),
                    "{} {}: its snapshot has lines {executed:?} of {}::{}, another test's handler",
                    case.method,
                    case.path,
                    other.handler.0,
                    other.handler.1
                );
            }
        }
        for file in record.files.values() {
            assert!(
                file.lines.values().all(|&count| count > 0),
                "a per-test snapshot lists only executed lines"
            );
        }
    }
}

#[test]
fn over_a_unix_socket_snapshots_add_up_to_llvm_cov() {
    let binary = instrumented_service();
    let recorded = record("cov_sdk_end_to_end_unix", &cases());

    // The run measured by the tests.
    let cli = Cli::unix(Some(&recorded));
    let (service, connection) = cli.start_and_accept(binary, REPLAY_WITH_COVERAGE, recorded.urls());
    let hello = connection.connect_request();
    assert_eq!(hello.runtime, cov_proto::Runtime::Unspecified as i32);
    assert_eq!(hello.sdk_version, env!("CARGO_PKG_VERSION"));
    // The service id comes from the service's `.tusk/config.yaml`.
    assert_eq!(hello.service_id, "demo-service");
    let metadata = hello.metadata.as_ref().unwrap();
    let text = |key: &str| match &metadata.fields[key].kind {
        Some(cov_proto::prost_types::value::Kind::StringValue(text)) => text.clone(),
        other => panic!("metadata {key} is {other:?}"),
    };
    assert_eq!(text("language"), "rust");
    assert_eq!(text("pid"), service.process.id().to_string());
    assert!(text("rustc_version").starts_with("1."));
    let (baseline, per_test) = replay(&cli, &connection, &service, &recorded);
    check_replay(&baseline, &per_test);
    let (profraw, _profile) = service.stop();
    let oracle = oracle_of(binary, &profraw);
    let oracle_lines = service_lines(&oracle);

    // The baseline has exactly llvm-cov's files and coverable lines.
    let coverable =
        |lines: &BTreeMap<String, BTreeMap<u32, u64>>| -> BTreeMap<String, BTreeSet<u32>> {
            lines
                .iter()
                .map(|(path, lines)| (path.clone(), lines.keys().copied().collect()))
                .collect()
        };
    assert_eq!(coverable(&lines_of(&baseline)), coverable(&oracle_lines));

    // The tail after the last snapshot, measured alone in a second run.
    let tail_cli = Cli::unix(Some(&recorded));
    let (tail_service, tail_connection) =
        tail_cli.start_and_accept(binary, REPLAY_WITH_COVERAGE, recorded.urls());
    let tail_baseline = tail_cli.record(&tail_connection, true);
    let (tail_profraw, _tail_profile) = tail_service.stop();
    let tail_oracle = service_lines(&oracle_of(binary, &tail_profraw));
    let mut tail = BTreeMap::new();
    for (path, lines) in &tail_oracle {
        let before = &tail_baseline.files[path].lines;
        let file: BTreeMap<u32, u64> = lines
            .iter()
            .filter_map(|(line, count)| {
                let after_baseline = count - before[line];
                (after_baseline > 0).then_some((*line, after_baseline))
            })
            .collect();
        if !file.is_empty() {
            tail.insert(path.clone(), file);
        }
    }
    // The tail is the shutdown path only: no handler of the tests is in it.
    let root = service_dir();
    for case in &CASES {
        let path = root.join(case.handler.0).display().to_string();
        let handler = function_lines(Path::new(&path), case.handler.1);
        let in_handler: Vec<_> = tail
            .get(&path)
            .map(|lines| lines.keys().filter(|line| handler.contains(line)).collect())
            .unwrap_or_default();
        assert!(
            in_handler.is_empty(),
            "the shutdown tail runs {path} lines {in_handler:?}"
        );
    }
    assert!(
        tail.contains_key(&root.join("src/routes.rs").display().to_string()),
        "the shutdown tail must contain the shutdown handler: {tail:?}"
    );

    let mut total = lines_of(&baseline);
    for record in &per_test {
        add(&mut total, &lines_of(record));
    }
    add(&mut total, &tail);
    let differences = differences(&oracle_lines, &total);
    assert!(
        differences.is_empty(),
        "baseline + per-test snapshots + shutdown tail differ from llvm-cov on {} lines:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn over_tcp_each_test_sees_only_its_own_handler() {
    let binary = instrumented_service();
    let recorded = record("cov_sdk_end_to_end_tcp", &cases());
    let cli = Cli::tcp(&recorded);
    let (service, connection) = cli.start_and_accept(binary, REPLAY_WITH_COVERAGE, recorded.urls());
    assert!(matches!(connection.endpoint(), Endpoint::Tcp { .. }));
    let (baseline, per_test) = replay(&cli, &connection, &service, &recorded);
    check_replay(&baseline, &per_test);
    // A snapshot with nothing run in between is empty.
    let idle = cli.record(&connection, false);
    assert!(idle.files.is_empty(), "{idle:?}");
    service.stop();
}

#[test]
fn record_mode_records_and_never_connects() {
    let cli = Cli::unix(None);
    let traces = tempfile::tempdir().unwrap();
    let traces_dir = traces.path().display().to_string();
    let variables = [
        ("TUSK_DRIFT_MODE", "RECORD"),
        ("TUSK_COVERAGE", "true"),
        ("TUSK_TRACES_DIR", traces_dir.as_str()),
    ];
    let database_url = cov_testkit::fresh_database("cov_sdk_end_to_end_record_mode");
    let (mut rates, rates_url) = start_rates();
    let service = Service::start(
        instrumented_service(),
        cli.endpoint(),
        &variables,
        (&database_url, &rates_url),
    );
    let (status, _) = service.http("GET", "/health", None);
    assert_eq!(status, 200);
    service.stop();
    rates.kill().unwrap();
    // The service has exited: a connection it made would be waiting in the listener's
    // queue, accepted at once (and ended by the handshake); none is there.
    let accepted = cli.accept(Duration::from_secs(2));
    assert!(
        matches!(accepted, Err(ChannelError::AcceptTimeout { .. })),
        "a service in RECORD mode connected: {accepted:?}"
    );
    // The request was recorded as one trace the CLI replays (written before exit); the
    // service's start-up statements (its schema and seed) are pre-app-start spans, in files
    // of their own that hold no request.
    let tests = cov_driver::traces::recorded(traces.path()).unwrap();
    assert_eq!(tests.len(), 1, "{tests:?}");
    assert_eq!(
        (
            tests[0].method.as_str(),
            tests[0].target.as_str(),
            tests[0].expect_status
        ),
        ("GET", "/health", 200)
    );
    let mut pre_app_start = 0;
    for path in cov_driver::traces::trace_files(traces.path()).unwrap() {
        let spans = cov_trace::read::parse_spans(&std::fs::read(&path).unwrap()).unwrap();
        if spans.iter().any(|span| span.is_root_span) {
            // `GET /health` reads no database and calls nothing.
            assert_eq!(spans.len(), 1, "{}: {spans:?}", path.display());
        } else {
            assert!(
                spans
                    .iter()
                    .all(|span| span.is_pre_app_start && span.package_name == "postgres"),
                "{}: {spans:?}",
                path.display()
            );
            pre_app_start += spans.len();
        }
    }
    assert!(
        pre_app_start > 0,
        "the start-up statements were not recorded"
    );
}

#[test]
fn replay_without_coverage_connects_and_says_coverage_is_not_enabled() {
    // The service's start-up alone, recorded: its statements are answered from there.
    let recorded = record("cov_sdk_end_to_end_no_coverage", &[]);
    let cli = Cli::unix(Some(&recorded));
    let (service, connection) = cli.start_and_accept(
        instrumented_service(),
        &[("TUSK_DRIFT_MODE", "REPLAY")],
        recorded.urls(),
    );
    for baseline in [true, false] {
        let response = cli.snapshot(&connection, baseline);
        assert!(!response.success);
        assert!(
            response.error.contains("coverage is not enabled"),
            "{}",
            response.error
        );
    }
    service.stop();
}

#[test]
fn an_uninstrumented_build_connects_and_explains_how_to_build_it() {
    let recorded = record("cov_sdk_end_to_end_uninstrumented", &[CASES[2].test()]);
    let cli = Cli::unix(Some(&recorded));
    let (service, connection) =
        cli.start_and_accept(plain_service(), REPLAY_WITH_COVERAGE, recorded.urls());
    for baseline in [true, false] {
        let response = cli.snapshot(&connection, baseline);
        assert!(!response.success);
        assert!(
            response
                .error
                .contains("not built with coverage instrumentation")
                && response
                    .error
                    .contains("RUSTFLAGS=\"-C instrument-coverage\""),
            "{}",
            response.error
        );
    }
    // The service itself is untouched: a replayed request is answered as recorded.
    let (status, body) = service.send(&recorded.tests[0]);
    assert_eq!(status, 200, "{body}");
    let mut child = service;
    let (status, _) = child.http("POST", "/shutdown", None);
    assert_eq!(status, 202);
    let exit = child.process.wait().unwrap();
    assert!(exit.success());
}

/// Per line, `(outcomes, outcomes taken)` from an LCOV file's `BRDA` entries.
fn lcov_branches(lcov: &LcovTracefile) -> BTreeMap<String, BTreeMap<u32, (u32, u32)>> {
    let root = service_dir();
    lcov.files
        .iter()
        .filter(|(path, _)| Path::new(path).starts_with(&root))
        .map(|(path, file)| {
            let mut per_line: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
            for (&(line, _, _), count) in &file.branches {
                let entry = per_line.entry(line).or_default();
                entry.0 += 1;
                if count.is_some_and(|count| count > 0) {
                    entry.1 += 1;
                }
            }
            (path.clone(), per_line)
        })
        .filter(|(_, per_line)| !per_line.is_empty())
        .collect()
}

/// Per line, `(total, covered)` from a record.
fn record_branches(record: &WireSnapshot) -> BTreeMap<String, BTreeMap<u32, (u32, u32)>> {
    record
        .files
        .iter()
        .map(|(path, file)| {
            let per_line = file
                .branches
                .iter()
                .map(|(&line, branches)| (line, (branches.total, branches.covered)))
                .collect::<BTreeMap<_, _>>();
            (path.clone(), per_line)
        })
        .filter(|(_, per_line)| !per_line.is_empty())
        .collect()
}

#[test]
fn with_branch_coverage_the_branches_on_the_wire_match_llvm_cov() {
    let binary = instrumented_service();
    let recorded = record("cov_sdk_end_to_end_branches", &cases());

    // The tail after the last snapshot, alone: its lines and branch lines are compared
    // only as far as the tail cannot touch them.
    let tail_cli = Cli::unix(Some(&recorded));
    let (tail_service, tail_connection) =
        tail_cli.start_and_accept(binary, REPLAY_WITH_COVERAGE, recorded.urls());
    let tail_baseline = tail_cli.record(&tail_connection, true);
    let (tail_profraw, _tail_profile) = tail_service.stop();
    let tail_oracle = oracle_of(binary, &tail_profraw);
    let tail_lines = service_lines(&tail_oracle);
    let touched_by_tail: BTreeSet<(String, u32)> = tail_lines
        .iter()
        .flat_map(|(path, lines)| {
            let before = &tail_baseline.files[path].lines;
            lines
                .iter()
                .filter(|(line, count)| **count != before[line])
                .map(|(line, _)| (path.clone(), *line))
                .collect::<Vec<_>>()
        })
        .collect();

    let cli = Cli::unix(Some(&recorded));
    let (service, connection) = cli.start_and_accept(binary, REPLAY_WITH_COVERAGE, recorded.urls());
    let (baseline, per_test) = replay(&cli, &connection, &service, &recorded);
    check_replay(&baseline, &per_test);
    // Asked again at the end, a baseline is cumulative: everything since start.
    let cumulative = cli.record(&connection, true);
    let (profraw, _profile) = service.stop();
    let oracle = oracle_of(binary, &profraw);
    let oracle_branches = lcov_branches(&oracle);
    assert!(
        !oracle_branches.is_empty(),
        "a branch build of the demo service has branches"
    );

    // The structure: every branch line of llvm-cov, with as many outcomes, in the
    // baseline; per-test snapshots keep those totals.
    let structure = |branches: &BTreeMap<String, BTreeMap<u32, (u32, u32)>>| {
        branches
            .iter()
            .map(|(path, lines)| {
                let totals: BTreeMap<u32, u32> = lines
                    .iter()
                    .map(|(line, (total, _))| (*line, *total))
                    .collect();
                (path.clone(), totals)
            })
            .collect::<BTreeMap<_, _>>()
    };
    let baseline_structure = structure(&record_branches(&baseline));
    assert_eq!(baseline_structure, structure(&oracle_branches));
    for record in &per_test {
        for (path, lines) in structure(&record_branches(record)) {
            for (line, total) in lines {
                assert_eq!(
                    Some(&total),
                    baseline_structure[&path].get(&line),
                    "{path}:{line}: a per-test snapshot changed the branch total"
                );
            }
        }
    }

    // The counts: the cumulative snapshot agrees with llvm-cov on every line and branch
    // line the shutdown tail does not run.
    let mut differences = Vec::new();
    let cumulative_lines = lines_of(&cumulative);
    for (path, lines) in service_lines(&oracle) {
        for (line, count) in lines {
            if touched_by_tail.contains(&(path.clone(), line)) {
                continue;
            }
            let ours = cumulative_lines
                .get(&path)
                .and_then(|lines| lines.get(&line));
            if ours != Some(&count) {
                differences.push(format!("{path}:{line}: llvm-cov DA {count}, SDK {ours:?}"));
            }
        }
    }
    let oracle_lines = service_lines(&oracle);
    for (path, lines) in &cumulative_lines {
        for line in lines.keys() {
            if !oracle_lines
                .get(path)
                .is_some_and(|lines| lines.contains_key(line))
            {
                differences.push(format!("{path}:{line}: not a line llvm-cov reports"));
            }
        }
    }
    let cumulative_branches = record_branches(&cumulative);
    for (path, lines) in &oracle_branches {
        for (line, outcomes) in lines {
            if touched_by_tail.contains(&(path.clone(), *line)) {
                continue;
            }
            let ours = cumulative_branches
                .get(path)
                .and_then(|lines| lines.get(line));
            if ours != Some(outcomes) {
                differences.push(format!(
                    "{path}:{line}: llvm-cov (outcomes, taken) {outcomes:?}, SDK {ours:?}"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} differences from llvm-cov:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
