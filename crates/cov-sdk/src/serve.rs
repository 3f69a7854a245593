//! The session with the CLI: connect (with a bounded retry), then answer every request.
//!
//! Every `COVERAGE_SNAPSHOT` request gets exactly one reply with its `request_id` and
//! type: coverage, or `success=false` with the reason (coverage not enabled, not an
//! instrumented build, a decoding error, a reply over the frame limit). `SET_TIME_TRAVEL`
//! gets `success=false`; other types are logged at debug level and ignored, as the Tusk
//! SDKs ignore what they do not handle.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cov_core::filter::SourceFilter;
use cov_core::{BranchCache, CoverageSnapshot};
use cov_proto::{
    CliMessage, CoverageSnapshotResponse, Message, MessageType, SdkMessage, SetTimeTravelResponse,
    cli_message, sdk_message,
};
use cov_trace::InboundSpan;
use cov_transport::sdk::{SdkConnection, SdkOptions};
use cov_transport::{Endpoint, TransportError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::builder::Builder;
use crate::env::Environment;
use crate::gate::COVERAGE_NOT_ENABLED;
use crate::handshake::{self, Toolchain, UNKNOWN_SERVICE};
use crate::record::replay;
use crate::runner::SdkLog;
use crate::{tusk_config, wire};

/// The answer to every time-travel request: the CLI sends them only to Python SDKs, and
/// a Rust service has no clock to move.
pub(crate) const TIME_TRAVEL_UNSUPPORTED: &str = "time travel is not supported by the Rust SDK";

/// What a snapshot is read from: the collector, or a stand-in in tests.
pub(crate) trait Snapshots: Send + Sync + 'static {
    /// Every coverable line of the selected files, counts since start.
    fn baseline(&self) -> Result<CoverageSnapshot, String>;
    /// What ran since the previous snapshot.
    fn delta(&self) -> Result<CoverageSnapshot, String>;
}

impl Snapshots for cov_collector::Collector {
    fn baseline(&self) -> Result<CoverageSnapshot, String> {
        cov_collector::Collector::baseline(self).map_err(|error| error.to_string())
    }

    fn delta(&self) -> Result<CoverageSnapshot, String> {
        cov_collector::Collector::delta(self).map_err(|error| error.to_string())
    }
}

/// Where snapshots come from in this session.
enum Source {
    /// `TUSK_COVERAGE` is not set: every snapshot request fails with [`COVERAGE_NOT_ENABLED`].
    NotEnabled,
    /// The collector is being built on the blocking thread.
    Pending(JoinHandle<Result<Arc<dyn Snapshots>, String>>),
    /// Ready to read.
    Ready(Arc<dyn Snapshots>),
    /// Coverage cannot be collected in this process; every request gets this text.
    Unavailable(String),
}

impl Source {
    /// The snapshot reader, waiting for the collector when it is still being built.
    async fn get(&mut self) -> Result<Arc<dyn Snapshots>, String> {
        if let Source::Pending(task) = self {
            *self = match task.await {
                Ok(Ok(snapshots)) => Source::Ready(snapshots),
                Ok(Err(error)) => Source::Unavailable(error),
                Err(join_error) => Source::Unavailable(format!(
                    "the coverage collector could not be created: {join_error}"
                )),
            };
        }
        match self {
            Source::NotEnabled => Err(COVERAGE_NOT_ENABLED.to_owned()),
            Source::Ready(snapshots) => Ok(Arc::clone(snapshots)),
            Source::Unavailable(error) => Err(error.clone()),
            // Resolved just above; answered rather than asserted, so no path can panic.
            Source::Pending(_) => Err("the coverage collector is still being created".to_owned()),
        }
    }
}

/// Builds the collector for the files `filter` selects, on the blocking thread.
fn start_collector(filter: SourceFilter) -> Source {
    let log = SdkLog::current();
    Source::Pending(tokio::task::spawn_blocking(move || {
        log.scope(|| {
            let started = std::time::Instant::now();
            let built = cov_collector::Collector::builder()
                .file_filter(move |path: &str| filter.matches(path))
                .build();
            match built {
                Ok(collector) => {
                    tracing::debug!(elapsed = ?started.elapsed(), "coverage collector ready");
                    Ok(Arc::new(collector) as Arc<dyn Snapshots>)
                }
                Err(error) => {
                    tracing::warn!("coverage is enabled but cannot be collected: {error}");
                    Err(error.to_string())
                }
            }
        })
    }))
}

/// The SDK thread's whole life: set up, connect, serve until the CLI leaves or a stop is
/// requested.
pub(crate) async fn session(
    builder: Builder,
    environment: Environment,
    collect: bool,
    spans: mpsc::Receiver<InboundSpan>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(test)]
    if builder.panic_on_start {
        panic!("injected by a test");
    }
    let endpoint = match &builder.endpoint {
        Some(endpoint) => endpoint.clone(),
        None => match Endpoint::from_lookup(environment.lookup()) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                tracing::warn!("coverage SDK not connecting to the Tusk CLI: {error}");
                return;
            }
        },
    };
    // The collector (decoding the mapping can take seconds) is built on the blocking
    // thread while the handshake proceeds; the first snapshot request waits for it.
    let source = if collect {
        match source_filter(&builder, &environment) {
            Ok(filter) => start_collector(filter),
            Err(error) => {
                tracing::warn!("coverage is enabled but cannot be collected: {error}");
                Source::Unavailable(error)
            }
        }
    } else {
        Source::NotEnabled
    };
    let service_id = service_id(&builder);
    let request = handshake::connect_request(&service_id, &Toolchain::of_current_exe());
    let mut options = SdkOptions::default();
    options
        .handshake_timeout(builder.handshake_timeout)
        .write_timeout(builder.write_timeout);

    let connection = tokio::select! {
        connection = connect_with_retry(&endpoint, request, &mut options, builder.connect_timeout) => connection,
        _ = stop.wait_for(|&stopping| stopping) => return,
    };
    let Some(connection) = connection else { return };
    tracing::info!(
        %endpoint,
        service_id,
        coverage = collect,
        "coverage SDK connected to the Tusk CLI"
    );
    let max_frame_len = options.get_max_frame_len();
    tokio::select! {
        () = serve(connection, source, max_frame_len, spans) => {}
        _ = stop.wait_for(|&stopping| stopping) => {
            tracing::debug!("coverage SDK stopping on request");
        }
    }
}

/// The service id: the builder's, else `.tusk/config.yaml`'s (found from the current
/// directory), else `"unknown"`.
fn service_id(builder: &Builder) -> String {
    let directory = std::env::current_dir();
    resolve_service_id(builder.service_id.as_deref(), directory.as_deref().ok())
}

fn resolve_service_id(configured: Option<&str>, directory: Option<&std::path::Path>) -> String {
    if let Some(service_id) = configured {
        return service_id.to_owned();
    }
    let Some(directory) = directory else {
        tracing::debug!("no service id: the current directory cannot be read");
        return UNKNOWN_SERVICE.to_owned();
    };
    match tusk_config::service_id_from(directory) {
        Ok(Some(service_id)) => service_id,
        Ok(None) => UNKNOWN_SERVICE.to_owned(),
        Err(reason) => {
            tracing::debug!("no service id from {}: {reason}", tusk_config::CONFIG_FILE);
            UNKNOWN_SERVICE.to_owned()
        }
    }
}

/// The filter of the service's own files: the builder's root and globs, cargo's home from
/// `CARGO_HOME` or `HOME`.
fn source_filter(builder: &Builder, environment: &Environment) -> Result<SourceFilter, String> {
    let mut filter = SourceFilter::builder();
    if let Some(root) = &builder.source_root {
        filter.root(root);
    }
    if let Some(cargo_home) = environment.cargo_home() {
        filter.cargo_home(cargo_home);
    }
    for pattern in &builder.include {
        filter.include(pattern);
    }
    for pattern in &builder.exclude {
        filter.exclude(pattern);
    }
    filter
        .build()
        .map_err(|error| format!("invalid source filter: {error}"))
}

/// Connects within `budget`, retrying with a growing pause; one warning when it gives up.
/// A rejection by the CLI is final at once: retrying would be rejected again.
async fn connect_with_retry(
    endpoint: &Endpoint,
    request: cov_proto::ConnectRequest,
    options: &mut SdkOptions,
    budget: Duration,
) -> Option<SdkConnection> {
    let deadline = tokio::time::Instant::now() + budget;
    let mut pause = Duration::from_millis(50);
    let mut attempts = 0_u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        options.connect_timeout(remaining.max(Duration::from_millis(100)));
        let error = match cov_transport::sdk::connect(endpoint, request.clone(), options).await {
            Ok(connection) => return Some(connection),
            Err(error) => error,
        };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if matches!(error, TransportError::Rejected { .. }) || remaining.is_zero() {
            tracing::warn!(
                "coverage SDK gave up reaching the Tusk CLI after {attempts} attempt(s) in \
                 {budget:?}: {error}; the service runs on without coverage"
            );
            return None;
        }
        tracing::debug!("coverage SDK cannot reach the Tusk CLI yet (attempt {attempts}): {error}");
        tokio::time::sleep(pause.min(remaining)).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Answers the CLI's requests, and sends it the inbound replay spans the service's
/// requests hand over, until it closes the connection.
async fn serve(
    mut connection: SdkConnection,
    mut source: Source,
    max_frame_len: usize,
    mut spans: mpsc::Receiver<InboundSpan>,
) {
    let cache = Arc::new(Mutex::new(BranchCache::new()));
    let mut spans_open = true;
    loop {
        let message = tokio::select! {
            received = connection.recv() => match received {
                Ok(Some(message)) => message,
                Ok(None) => {
                    tracing::info!("the Tusk CLI closed the coverage channel; coverage SDK stopped");
                    return;
                }
                Err(error) => {
                    tracing::warn!("coverage channel lost ({error}); coverage SDK stopped");
                    return;
                }
            },
            span = spans.recv(), if spans_open => {
                match span {
                    Some(span) => {
                        tracing::debug!(trace_id = %span.trace_id, "sending the inbound replay span");
                        if let Err(error) = connection.sender().send(replay::message(&span)).await {
                            if connection.sender().is_closed() {
                                tracing::warn!("coverage channel lost ({error}); coverage SDK stopped");
                                return;
                            }
                            tracing::debug!(trace_id = %span.trace_id, "inbound replay span not sent: {error}");
                        }
                    }
                    // Every layer and handle is gone; coverage requests go on.
                    None => spans_open = false,
                }
                continue;
            }
        };
        let Some(reply) = reply_to(message, &mut source, &cache, max_frame_len).await else {
            continue;
        };
        let request_id = reply.request_id.clone();
        if let Err(error) = connection.sender().send(reply).await {
            if connection.sender().is_closed() {
                tracing::warn!("coverage channel lost ({error}); coverage SDK stopped");
                return;
            }
            // Refused before anything was written (for example over the frame limit
            // after all): the CLI still gets an answer.
            let fallback = snapshot_reply(request_id, wire::failure(error.to_string()));
            if let Err(error) = connection.sender().send(fallback).await {
                tracing::warn!("coverage channel lost ({error}); coverage SDK stopped");
                return;
            }
        }
    }
}

/// The reply to one CLI message, `None` for types the SDK does not handle.
async fn reply_to(
    message: CliMessage,
    source: &mut Source,
    cache: &Arc<Mutex<BranchCache>>,
    max_frame_len: usize,
) -> Option<SdkMessage> {
    match MessageType::try_from(message.r#type) {
        Ok(MessageType::CoverageSnapshot) => {
            let reply = match message.payload {
                Some(cli_message::Payload::CoverageSnapshotRequest(request)) => {
                    tracing::debug!(request_id = %message.request_id, baseline = request.baseline, "coverage snapshot requested");
                    snapshot(
                        message.request_id,
                        request.baseline,
                        source,
                        cache,
                        max_frame_len,
                    )
                    .await
                }
                _ => snapshot_reply(
                    message.request_id,
                    wire::failure(
                        "COVERAGE_SNAPSHOT message without a CoverageSnapshotRequest payload",
                    ),
                ),
            };
            if let Some(sdk_message::Payload::CoverageSnapshotResponse(response)) = &reply.payload
                && !response.success
            {
                tracing::debug!(request_id = %reply.request_id, error = %response.error, "coverage snapshot failed");
            }
            Some(reply)
        }
        Ok(MessageType::SetTimeTravel) => Some(SdkMessage {
            r#type: MessageType::SetTimeTravel as i32,
            request_id: message.request_id,
            payload: Some(sdk_message::Payload::SetTimeTravelResponse(
                SetTimeTravelResponse {
                    success: false,
                    error: TIME_TRAVEL_UNSUPPORTED.to_owned(),
                },
            )),
        }),
        Ok(MessageType::InboundSpan) => {
            tracing::trace!(request_id = %message.request_id, "the CLI acknowledged an inbound replay span");
            None
        }
        _ => {
            tracing::debug!(
                message_type = message.r#type,
                request_id = %message.request_id,
                "ignoring a CLI message the coverage SDK does not handle"
            );
            None
        }
    }
}

/// Takes one snapshot on the blocking thread and wraps it in the reply to `request_id`.
async fn snapshot(
    request_id: String,
    baseline: bool,
    source: &mut Source,
    cache: &Arc<Mutex<BranchCache>>,
    max_frame_len: usize,
) -> SdkMessage {
    let snapshots = match source.get().await {
        Ok(snapshots) => snapshots,
        Err(error) => return snapshot_reply(request_id, wire::failure(error)),
    };
    let cache = Arc::clone(cache);
    let log = SdkLog::current();
    let failed_id = request_id.clone();
    let task = tokio::task::spawn_blocking(move || {
        log.scope(|| respond(&*snapshots, baseline, &cache, request_id, max_frame_len))
    });
    match task.await {
        Ok(reply) => reply,
        Err(join_error) => snapshot_reply(
            failed_id,
            wire::failure(format!("coverage snapshot failed: {join_error}")),
        ),
    }
}

/// Reads a snapshot, records it through the branch cache and wraps it in the reply to
/// `request_id`, or in a failure when the reply would not fit in one frame.
pub(crate) fn respond(
    snapshots: &dyn Snapshots,
    baseline: bool,
    cache: &Mutex<BranchCache>,
    request_id: String,
    max_frame_len: usize,
) -> SdkMessage {
    let taken = if baseline {
        snapshots.baseline()
    } else {
        snapshots.delta()
    };
    let snapshot = match taken {
        Ok(snapshot) => snapshot,
        Err(error) => return snapshot_reply(request_id, wire::failure(error)),
    };
    let record = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .record(&snapshot);
    let reply = snapshot_reply(request_id, wire::to_response(&record));
    let encoded_len = reply.encoded_len();
    if encoded_len > max_frame_len {
        let lines: usize = record.files.values().map(|file| file.lines.len()).sum();
        let error = format!(
            "the coverage snapshot of {} files and {lines} lines encodes to {encoded_len} bytes, \
             over the {max_frame_len}-byte frame limit of the Tusk CLI; select fewer files \
             with the SDK's include/exclude globs",
            record.files.len()
        );
        return snapshot_reply(reply.request_id, wire::failure(error));
    }
    reply
}

/// Wraps a snapshot response in its envelope, answering `request_id`.
fn snapshot_reply(request_id: String, response: CoverageSnapshotResponse) -> SdkMessage {
    SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id,
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(response)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cov_core::{Branch, FileCoverage, LineBranches, SnapshotKind};

    use super::*;

    /// A baseline with one file, then deltas that ran line 3 and the true arm of its
    /// branch; or a fixed error.
    struct Scripted {
        error: Option<&'static str>,
        lines: u32,
    }

    impl Scripted {
        fn file(&self, kind: SnapshotKind) -> CoverageSnapshot {
            let mut snapshot = CoverageSnapshot::new(kind);
            let (lines, branch) = match kind {
                SnapshotKind::Baseline => (
                    (1..=self.lines).map(|line| (line, 0)).collect(),
                    Branch {
                        line: 3,
                        column: 8,
                        true_count: Some(0),
                        false_count: Some(0),
                    },
                ),
                SnapshotKind::Delta => (
                    BTreeMap::from([(3, 7)]),
                    Branch {
                        line: 3,
                        column: 8,
                        true_count: Some(7),
                        false_count: None,
                    },
                ),
            };
            snapshot.files.insert(
                "/srv/app/src/main.rs".to_owned(),
                FileCoverage {
                    lines,
                    branches: vec![branch],
                    functions: Vec::new(),
                },
            );
            snapshot
        }
    }

    impl Snapshots for Scripted {
        fn baseline(&self) -> Result<CoverageSnapshot, String> {
            match self.error {
                Some(error) => Err(error.to_owned()),
                None => Ok(self.file(SnapshotKind::Baseline)),
            }
        }

        fn delta(&self) -> Result<CoverageSnapshot, String> {
            match self.error {
                Some(error) => Err(error.to_owned()),
                None => Ok(self.file(SnapshotKind::Delta)),
            }
        }
    }

    fn response(reply: SdkMessage) -> CoverageSnapshotResponse {
        assert_eq!(reply.r#type, MessageType::CoverageSnapshot as i32);
        match reply.payload {
            Some(sdk_message::Payload::CoverageSnapshotResponse(response)) => response,
            other => panic!("not a snapshot response: {other:?}"),
        }
    }

    #[test]
    fn deltas_keep_the_branch_totals_learned_at_baseline() {
        let snapshots = Scripted {
            error: None,
            lines: 5,
        };
        let cache = Mutex::new(BranchCache::new());
        let baseline = respond(&snapshots, true, &cache, "b".into(), usize::MAX);
        assert_eq!(baseline.request_id, "b");
        let baseline = response(baseline);
        assert!(baseline.success);
        let file = &baseline.coverage["/srv/app/src/main.rs"];
        assert_eq!(file.lines.len(), 5);
        assert!(file.lines.values().all(|&count| count == 0));
        assert_eq!(
            (file.branches["3"].total, file.branches["3"].covered),
            (2, 0)
        );

        let delta = response(respond(&snapshots, false, &cache, "d".into(), usize::MAX));
        let file = &delta.coverage["/srv/app/src/main.rs"];
        assert_eq!(file.lines, [("3".to_owned(), 7)].into());
        let expected = LineBranches {
            total: 2,
            covered: 1,
        };
        assert_eq!(
            (file.branches["3"].total, file.branches["3"].covered),
            (expected.total as i32, expected.covered as i32)
        );
        assert_eq!((file.total_branches, file.covered_branches), (2, 1));
    }

    #[test]
    fn collector_errors_become_failed_replies() {
        let snapshots = Scripted {
            error: Some("cannot decode the coverage mapping of /srv/app: truncated"),
            lines: 1,
        };
        let cache = Mutex::new(BranchCache::new());
        for baseline in [true, false] {
            let reply = respond(&snapshots, baseline, &cache, "r".into(), usize::MAX);
            assert_eq!(reply.request_id, "r");
            let response = response(reply);
            assert!(!response.success);
            assert_eq!(
                response.error,
                "cannot decode the coverage mapping of /srv/app: truncated"
            );
        }
    }

    #[test]
    fn a_reply_over_the_frame_limit_becomes_a_failure_that_fits() {
        let snapshots = Scripted {
            error: None,
            lines: 5000,
        };
        let cache = Mutex::new(BranchCache::new());
        let fits = respond(&snapshots, true, &cache, "big".into(), usize::MAX);
        let limit = fits.encoded_len() - 1;
        let reply = respond(&snapshots, true, &cache, "big".into(), limit);
        assert!(reply.encoded_len() <= limit);
        assert_eq!(reply.request_id, "big");
        let response = response(reply);
        assert!(!response.success);
        assert!(
            response.error.contains("1 files and 5000 lines")
                && response
                    .error
                    .contains(&format!("{limit}-byte frame limit")),
            "{}",
            response.error
        );
        // Exactly at the limit, it is sent.
        let reply = respond(&snapshots, true, &cache, "big".into(), limit + 1);
        assert!(response_is_success(reply));
    }

    #[test]
    fn the_service_id_comes_from_the_builder_then_the_project_file_then_unknown() {
        let project = tempfile::tempdir().unwrap();
        let nested = project.path().join("src");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(resolve_service_id(None, Some(&nested)), "unknown");
        assert_eq!(resolve_service_id(None, None), "unknown");

        std::fs::create_dir_all(project.path().join(".tusk")).unwrap();
        std::fs::write(
            project.path().join(".tusk/config.yaml"),
            "service:\n  id: from-file\n",
        )
        .unwrap();
        assert_eq!(resolve_service_id(None, Some(&nested)), "from-file");
        assert_eq!(resolve_service_id(Some("built"), Some(&nested)), "built");

        std::fs::write(project.path().join(".tusk/config.yaml"), "service: [").unwrap();
        assert_eq!(resolve_service_id(None, Some(&nested)), "unknown");
    }

    fn response_is_success(reply: SdkMessage) -> bool {
        response(reply).success
    }
}
