//! The SDK's lifecycle against a real CLI side (cov-driver's) on a unix socket, in the
//! test process, which is not instrumented. The instrumented service is in
//! `tests/end_to_end.rs`.
//!
//! Each test starts its SDKs in a registry of its own (`Builder::init_in`), so the tests
//! run side by side although a process has one SDK.

use std::time::{Duration, Instant};

use cov_driver::{ChannelError, CliConnection, CliListener};
use cov_proto::{
    CliMessage, CoverageSnapshotRequest, MessageType, SdkMessage, SetTimeTravelRequest,
    cli_message, sdk_message,
};
use cov_transport::Endpoint;

use crate::env::{Environment, TUSK_COVERAGE, TUSK_DRIFT_MODE};
use crate::gate::COVERAGE_NOT_ENABLED;
use crate::instance::Registry;
use crate::serve::TIME_TRAVEL_UNSUPPORTED;
use crate::{Builder, Coverage};

const WAIT: Duration = Duration::from_secs(10);

fn environment(mode: Option<&str>, coverage: Option<&str>) -> Environment {
    Environment::from_lookup(|name| match name {
        TUSK_DRIFT_MODE => mode.map(str::to_owned),
        TUSK_COVERAGE => coverage.map(str::to_owned),
        _ => None,
    })
}

struct Cli {
    runtime: tokio::runtime::Runtime,
    listener: CliListener,
    /// The test's own "process": SDKs started here do not meet other tests' SDKs.
    registry: Registry,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn listen() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let endpoint = Endpoint::unix(dir.path().join("tusk.sock"));
        let listener = runtime.block_on(CliListener::bind(&endpoint)).unwrap();
        Cli {
            runtime,
            listener,
            registry: Registry::new(),
            _dir: dir,
        }
    }

    fn endpoint(&self) -> Endpoint {
        self.listener.local_endpoint().clone()
    }

    fn start(&self, environment: Environment) -> Coverage {
        Builder::new()
            .environment(environment)
            .endpoint(self.endpoint())
            .service_id("session-tests")
            .connect_timeout(Duration::from_secs(5))
            .init_in(&self.registry)
    }

    fn accept(&self, timeout: Duration) -> Result<CliConnection, ChannelError> {
        self.runtime.block_on(self.listener.accept(timeout))
    }

    fn request(&self, connection: &CliConnection, message: CliMessage) -> SdkMessage {
        self.runtime
            .block_on(connection.request(message, WAIT))
            .unwrap()
    }
}

fn snapshot_request(request_id: &str, baseline: bool) -> CliMessage {
    CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: request_id.to_owned(),
        payload: Some(cli_message::Payload::CoverageSnapshotRequest(
            CoverageSnapshotRequest { baseline },
        )),
    }
}

fn snapshot_error(reply: &SdkMessage) -> &str {
    assert_eq!(reply.r#type, MessageType::CoverageSnapshot as i32);
    match &reply.payload {
        Some(sdk_message::Payload::CoverageSnapshotResponse(response)) => {
            assert!(!response.success, "expected a failure, got {response:?}");
            assert!(response.coverage.is_empty());
            &response.error
        }
        other => panic!("expected a CoverageSnapshotResponse, got {other:?}"),
    }
}

fn wait_until_finished(coverage: &Coverage) {
    let started = Instant::now();
    while coverage.is_running() {
        assert!(
            started.elapsed() < WAIT,
            "the SDK thread did not finish in {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn record_and_disabled_modes_never_connect() {
    let cli = Cli::listen();
    for (mode, coverage) in [
        (Some("RECORD"), Some("true")),
        (Some("disabled"), Some("true")),
        (Some("RECORD"), None),
        (None, None),
        (Some(""), Some("")),
    ] {
        let handle = cli.start(environment(mode, coverage));
        assert!(!handle.is_running(), "{mode:?} {coverage:?}");
        // Only RECORD follows inbound traffic (into trace files, not a socket).
        assert_eq!(
            handle.traffic().is_active(),
            mode == Some("RECORD"),
            "{mode:?} {coverage:?}"
        );
        handle.shutdown();
    }
    let accepted = cli.accept(Duration::from_millis(500));
    assert!(
        matches!(accepted, Err(ChannelError::AcceptTimeout { .. })),
        "nothing may connect: {accepted:?}"
    );
}

#[test]
fn replay_without_coverage_connects_and_answers_every_request() {
    let cli = Cli::listen();
    let handle = cli.start(environment(Some("replay"), None));
    assert!(handle.is_running());
    let connection = cli.accept(WAIT).unwrap();

    let hello = connection.connect_request();
    assert_eq!(hello.service_id, "session-tests");
    assert_eq!(hello.sdk_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(hello.runtime, cov_proto::Runtime::Unspecified as i32);

    for baseline in [true, false] {
        let reply = cli.request(&connection, snapshot_request("coverage-1", baseline));
        assert_eq!(reply.request_id, "coverage-1");
        assert_eq!(snapshot_error(&reply), COVERAGE_NOT_ENABLED);
        assert!(COVERAGE_NOT_ENABLED.contains("coverage is not enabled"));
    }

    let time_travel = CliMessage {
        r#type: MessageType::SetTimeTravel as i32,
        request_id: "travel-1".to_owned(),
        payload: Some(cli_message::Payload::SetTimeTravelRequest(
            SetTimeTravelRequest {
                timestamp_seconds: 1.7e9,
                trace_id: "trace".to_owned(),
                timestamp_source: "span".to_owned(),
            },
        )),
    };
    let reply = cli.request(&connection, time_travel);
    assert_eq!(reply.r#type, MessageType::SetTimeTravel as i32);
    assert_eq!(reply.request_id, "travel-1");
    match reply.payload {
        Some(sdk_message::Payload::SetTimeTravelResponse(response)) => {
            assert!(!response.success);
            assert_eq!(response.error, TIME_TRAVEL_UNSUPPORTED);
        }
        other => panic!("expected a SetTimeTravelResponse, got {other:?}"),
    }

    // A snapshot request without its payload is still answered.
    let bare = CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "coverage-bare".to_owned(),
        payload: None,
    };
    let reply = cli.request(&connection, bare);
    assert!(snapshot_error(&reply).contains("without a CoverageSnapshotRequest"));

    // Unknown and unhandled types are ignored, and the SDK keeps serving.
    for r#type in [MessageType::MockRequest as i32, 99] {
        let ignored = CliMessage {
            r#type,
            request_id: format!("ignored-{type}"),
            payload: None,
        };
        let outcome = cli
            .runtime
            .block_on(connection.request(ignored, Duration::from_millis(300)));
        assert!(
            matches!(outcome, Err(ChannelError::RequestTimeout { .. })),
            "{outcome:?}"
        );
    }
    let reply = cli.request(&connection, snapshot_request("coverage-2", false));
    assert_eq!(reply.request_id, "coverage-2");

    // Shutting down closes the socket and ends the thread.
    let probe = handle.clone();
    handle.shutdown();
    assert!(!probe.is_running());
    cli.runtime
        .block_on(async { tokio::time::timeout(WAIT, connection.closed()).await })
        .expect("the SDK closes the connection on shutdown");
}

#[test]
fn coverage_in_an_uninstrumented_program_is_an_explained_failure() {
    let cli = Cli::listen();
    let handle = cli.start(environment(Some("REPLAY"), Some("true")));
    let connection = cli.accept(WAIT).unwrap();
    let reply = cli.request(&connection, snapshot_request("coverage-1", true));
    let error = snapshot_error(&reply);
    assert!(
        error.contains("not built with coverage instrumentation")
            && error.contains("-C instrument-coverage"),
        "{error}"
    );
    // Dropping the last handle stops the SDK and closes its socket.
    drop(handle);
    cli.runtime
        .block_on(async { tokio::time::timeout(WAIT, connection.closed()).await })
        .expect("the SDK closes the connection when its handle is dropped");
}

#[test]
fn a_panic_on_the_sdk_thread_never_reaches_the_application() {
    let cli = Cli::listen();
    let mut builder = Builder::new();
    builder
        .environment(environment(Some("REPLAY"), Some("true")))
        .endpoint(cli.endpoint());
    builder.panic_on_start = true;
    let handle = builder.init_in(&cli.registry);
    wait_until_finished(&handle);
    handle.shutdown();
    // The process and the SDK are usable afterwards.
    let handle = cli.start(environment(Some("REPLAY"), None));
    let connection = cli.accept(WAIT).unwrap();
    let reply = cli.request(&connection, snapshot_request("coverage-1", true));
    assert_eq!(snapshot_error(&reply), COVERAGE_NOT_ENABLED);
    handle.shutdown();
}

#[test]
fn a_second_init_returns_the_running_handle_and_starts_no_second_thread() {
    let cli = Cli::listen();
    let first = cli.start(environment(Some("REPLAY"), None));
    let connection = cli.accept(WAIT).unwrap();
    // The same instance, hence the same thread and connection: no second one exists.
    let second = cli.start(environment(Some("REPLAY"), None));
    assert!(second.same_as(&first));
    // Dropping one of the handles keeps the SDK running for the other.
    drop(first);
    assert!(second.is_running());
    let reply = cli.request(&connection, snapshot_request("coverage-1", true));
    assert_eq!(reply.request_id, "coverage-1");

    // Once stopped, a new init starts a new SDK.
    second.shutdown();
    let third = cli.start(environment(Some("REPLAY"), None));
    assert!(third.is_running());
    assert!(cli.accept(WAIT).is_ok());
    third.shutdown();
}

/// `init` returns while the CLI has not answered the handshake: the SDK thread waits for
/// it, not the caller.
#[test]
fn init_returns_before_the_cli_answers() {
    let cli = Cli::listen();
    let handle = cli.start(environment(Some("REPLAY"), Some("true")));
    // Nothing has been accepted yet, so the handshake cannot have completed; the SDK is
    // waiting for it on its own thread.
    assert!(handle.is_running());
    let connection = cli.accept(WAIT).unwrap();
    let reply = cli.request(&connection, snapshot_request("coverage-1", false));
    assert_eq!(reply.request_id, "coverage-1");
    handle.shutdown();
}

/// A CLI that is away leaves the caller untouched: the SDK retries on its own thread,
/// then gives up with one warning when its connect budget is spent.
#[test]
fn a_cli_that_is_away_is_retried_and_then_given_up() {
    use std::io::Read as _;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangs-up.sock");
    // A peer that accepts every connection and hangs up at once: each attempt fails, and
    // each is counted.
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (attempts_sender, attempts) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut hello = [0_u8; 4];
            let _ = stream.read_exact(&mut hello);
            drop(stream);
            if attempts_sender.send(()).is_err() {
                return;
            }
        }
    });
    let handle = Builder::new()
        .environment(environment(Some("REPLAY"), Some("true")))
        .endpoint(Endpoint::unix(&path))
        .connect_timeout(Duration::from_millis(400))
        .init_in(&Registry::new());
    // Retried: a second attempt follows the first.
    attempts.recv_timeout(WAIT).expect("a first attempt");
    attempts.recv_timeout(WAIT).expect("a second attempt");
    // Then given up: the thread ends by itself.
    wait_until_finished(&handle);
}

#[test]
fn the_sdk_stops_serving_when_the_cli_goes_away() {
    let cli = Cli::listen();
    let handle = cli.start(environment(Some("REPLAY"), None));
    let connection = cli.accept(WAIT).unwrap();
    drop(connection);
    wait_until_finished(&handle);
}

#[test]
fn init_inside_an_async_application_neither_blocks_nor_uses_its_runtime() {
    let cli = Cli::listen();
    let endpoint = cli.endpoint();
    // A current-thread runtime: if the SDK used or blocked it, nothing else would run.
    let application = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = application.block_on(async move {
        let handle = Builder::new()
            .environment(environment(Some("REPLAY"), None))
            .endpoint(endpoint)
            .init_in(&Registry::new());
        tokio::task::yield_now().await;
        handle
    });
    let connection = cli.accept(WAIT).unwrap();
    let reply = cli.request(&connection, snapshot_request("coverage-1", true));
    assert_eq!(reply.request_id, "coverage-1");
    // The application's runtime is gone; the SDK runs on regardless.
    drop(application);
    let reply = cli.request(&connection, snapshot_request("coverage-2", false));
    assert_eq!(reply.request_id, "coverage-2");
    handle.shutdown();
}

/// RECORD mode has one recorder per process: a second `init` shares it, and it ends when
/// the last handle (and layer) is gone.
#[test]
fn a_second_init_in_record_mode_shares_the_recorder() {
    let traces = tempfile::tempdir().unwrap();
    let dir = traces.path().display().to_string();
    let record = || {
        Environment::from_lookup(|name| match name {
            TUSK_DRIFT_MODE => Some("record".to_owned()),
            crate::env::TUSK_TRACES_DIR => Some(dir.clone()),
            _ => None,
        })
    };
    let registry = Registry::new();
    let first = Builder::new().environment(record()).init_in(&registry);
    let second = Builder::new().environment(record()).init_in(&registry);
    assert!(first.traffic().is_active());
    assert!(first.same_as(&second));
    drop((first, second));
    let third = Builder::new().environment(record()).init_in(&registry);
    assert!(third.traffic().is_active());
    assert!(
        !Builder::new()
            .environment(environment(None, None))
            .init()
            .same_as(&third)
    );
}

/// In REPLAY mode, with or without coverage, a request carrying `x-td-trace-id` through
/// the layer makes the SDK send the CLI an inbound replay span for that trace, which the
/// CLI acknowledges; a request without one sends nothing.
#[test]
fn replay_sends_the_inbound_span_of_each_replayed_request() {
    use tower_layer::Layer as _;
    use tower_service::Service as _;

    let cli = Cli::listen();
    let handle = cli.start(environment(Some("REPLAY"), None));
    let connection = cli.accept(WAIT).unwrap();
    let mut service = handle
        .layer()
        .layer(tower_service_fn(|_request: http::Request<_>| {
            http::Response::new(String::from("{\"ok\":true}"))
        }));
    for trace_id in ["trace-a", "trace-b"] {
        let request = http::Request::builder()
            .uri("/health")
            .header(crate::TRACE_ID_HEADER, trace_id)
            .body(String::new())
            .unwrap();
        let response = cli.runtime.block_on(service.call(request)).unwrap();
        // The span goes when the body ends.
        let body = cli.runtime.block_on(read_body(response.into_body()));
        assert_eq!(body, b"{\"ok\":true}");
        let span = cli
            .runtime
            .block_on(connection.inbound_span(trace_id, WAIT))
            .unwrap_or_else(|| panic!("no inbound span for {trace_id}"));
        assert_eq!(span.trace_id, trace_id);
        assert!(span.is_root_span);
        assert_eq!(span.kind, cov_proto::SpanKind::Server as i32);
    }
    let untraced = http::Request::builder()
        .uri("/health")
        .body(String::new())
        .unwrap();
    let response = cli.runtime.block_on(service.call(untraced)).unwrap();
    cli.runtime.block_on(read_body(response.into_body()));
    // Spans travel in order over one channel and one connection: once the span of a later
    // traced request is in, a span of the untraced one would have been too.
    let later = http::Request::builder()
        .uri("/health")
        .header(crate::TRACE_ID_HEADER, "trace-c")
        .body(String::new())
        .unwrap();
    let response = cli.runtime.block_on(service.call(later)).unwrap();
    cli.runtime.block_on(read_body(response.into_body()));
    assert!(
        cli.runtime
            .block_on(connection.inbound_span("trace-c", WAIT))
            .is_some()
    );
    assert!(
        cli.runtime
            .block_on(connection.inbound_span("", Duration::ZERO))
            .is_none()
    );
    // Coverage requests still get their answer on the same connection.
    let reply = cli.request(&connection, snapshot_request("after-spans", true));
    assert_eq!(snapshot_error(&reply), COVERAGE_NOT_ENABLED);
    handle.shutdown();
}

/// A tower service from a synchronous function (tower's `service_fn` without tower).
fn tower_service_fn<F, Request, Response>(
    handler: F,
) -> impl tower_service::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = std::future::Ready<Result<Response, std::convert::Infallible>>,
>
where
    F: FnMut(Request) -> Response,
{
    struct ServiceFn<F>(F);
    impl<F, Request, Response> tower_service::Service<Request> for ServiceFn<F>
    where
        F: FnMut(Request) -> Response,
    {
        type Response = Response;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Response, std::convert::Infallible>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request) -> Self::Future {
            std::future::ready(Ok((self.0)(request)))
        }
    }
    ServiceFn(handler)
}

async fn read_body<B: http_body::Body>(body: B) -> Vec<u8>
where
    B::Error: std::fmt::Debug,
{
    use bytes::Buf as _;
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        if let Ok(mut data) = frame.unwrap().into_data() {
            while data.has_remaining() {
                let chunk = data.chunk();
                bytes.extend_from_slice(chunk);
                let len = chunk.len();
                data.advance(len);
            }
        }
    }
    bytes
}
