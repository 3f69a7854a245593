//! Serving the CLI once connected (see [`session`](crate::session) for the set-up):
//! answer every request, and send the inbound replay spans the recorder hands over.
//!
//! Every `COVERAGE_SNAPSHOT` request gets exactly one reply with its `request_id` and
//! type: coverage, or `success=false` with the reason (a [`ServeError`]: coverage not
//! enabled, not an instrumented build, a decoding error, a reply over the frame limit).
//! `SET_TIME_TRAVEL` gets `success=false`; a `MOCK_REQUEST` answer goes to the outbound
//! call waiting for it ([`Pending`]); other types are logged at debug level and ignored, as
//! the Tusk SDKs ignore what they do not handle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cov_collector::CollectorError;
use cov_core::filter::FilterError;
use cov_core::{BranchCache, CoverageSnapshot};
use cov_proto::{
    CliMessage, CoverageSnapshotResponse, Message, MessageType, SdkMessage,
    SendInboundSpanForReplayRequest, SetTimeTravelResponse, cli_message, sdk_message,
};
use cov_trace::InboundSpan;
use cov_transport::sdk::SdkConnection;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::gate::COVERAGE_NOT_ENABLED;
use crate::mocks::Pending;
use crate::runner::SdkLog;
use cov_wire::coverage as wire;

/// The answer to every time-travel request: the CLI sends them only to Python SDKs, and
/// a Rust service has no clock to move.
pub(crate) const TIME_TRAVEL_UNSUPPORTED: &str = "time travel is not supported by the Rust SDK";

/// Why a coverage snapshot request is answered with `success=false`; its text is the
/// reply's `error`. Cheap to clone: a session that cannot collect coverage gives every
/// request the same reason.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// `TUSK_COVERAGE` is not set.
    #[error("{COVERAGE_NOT_ENABLED}")]
    NotEnabled,
    /// The builder's root or globs do not make a source filter.
    #[error("invalid source filter: {0}")]
    Filter(Arc<FilterError>),
    /// No file of the program is selected: the message names the source root, the
    /// current directory and where the program's files are.
    #[error(transparent)]
    NoSourceFiles(Arc<cov_core::filter::NoSourceFiles>),
    /// The collector could not be built (for example, not an instrumented build).
    #[error(transparent)]
    Collector(Arc<CollectorError>),
    /// The blocking task building the collector did not finish (it panicked or was
    /// cancelled).
    #[error("the coverage collector could not be created: {0}")]
    CollectorTask(String),
    /// The collector is still being built (never answered: the request waits for it).
    #[error("the coverage collector is still being created")]
    CollectorPending,
    /// Reading the snapshot failed.
    #[error(transparent)]
    Snapshot(Arc<dyn std::error::Error + Send + Sync>),
    /// The blocking task reading the snapshot did not finish.
    #[error("coverage snapshot failed: {0}")]
    SnapshotTask(String),
    /// The request carried no `CoverageSnapshotRequest`.
    #[error("COVERAGE_SNAPSHOT message without a CoverageSnapshotRequest payload")]
    MissingRequest,
    /// The reply would not fit in one frame of the CLI.
    #[error(
        "the coverage snapshot of {files} files and {lines} lines encodes to {encoded_len} \
         bytes, over the {max_frame_len}-byte frame limit of the Tusk CLI; select fewer files \
         with the SDK's include/exclude globs"
    )]
    OverFrameLimit {
        /// Files in the snapshot.
        files: usize,
        /// Lines in the snapshot.
        lines: usize,
        /// The encoded reply's length in bytes.
        encoded_len: usize,
        /// The CLI's frame limit in bytes.
        max_frame_len: usize,
    },
    /// The reply was refused before anything was written.
    #[error(transparent)]
    Send(Arc<cov_transport::TransportError>),
}

/// The error a snapshot reader returns.
pub(crate) type SnapshotError = Box<dyn std::error::Error + Send + Sync>;

/// What a snapshot is read from: the collector, or a stand-in in tests.
pub(crate) trait Snapshots: Send + Sync + 'static {
    /// Every coverable line of the selected files, counts since start.
    fn baseline(&self) -> Result<CoverageSnapshot, SnapshotError>;
    /// What ran since the previous snapshot.
    fn delta(&self) -> Result<CoverageSnapshot, SnapshotError>;
}

impl Snapshots for cov_collector::Collector {
    fn baseline(&self) -> Result<CoverageSnapshot, SnapshotError> {
        Ok(cov_collector::Collector::baseline(self)?)
    }

    fn delta(&self) -> Result<CoverageSnapshot, SnapshotError> {
        Ok(cov_collector::Collector::delta(self)?)
    }
}

/// Where snapshots come from in this session.
pub(crate) enum Source {
    /// `TUSK_COVERAGE` is not set: every snapshot request fails with
    /// [`ServeError::NotEnabled`].
    NotEnabled,
    /// The collector is being built on the blocking thread.
    Pending(JoinHandle<Result<Arc<dyn Snapshots>, ServeError>>),
    /// Ready to read.
    Ready(Arc<dyn Snapshots>),
    /// Coverage cannot be collected in this process; every request gets this reason.
    Unavailable(ServeError),
}

impl Source {
    /// The snapshot reader, waiting for the collector when it is still being built.
    async fn get(&mut self) -> Result<Arc<dyn Snapshots>, ServeError> {
        if let Source::Pending(task) = self {
            *self = match task.await {
                Ok(Ok(snapshots)) => Source::Ready(snapshots),
                Ok(Err(error)) => Source::Unavailable(error),
                Err(join_error) => {
                    Source::Unavailable(ServeError::CollectorTask(join_error.to_string()))
                }
            };
        }
        match self {
            Source::NotEnabled => Err(ServeError::NotEnabled),
            Source::Ready(snapshots) => Ok(Arc::clone(snapshots)),
            Source::Unavailable(error) => Err(error.clone()),
            // Resolved just above; answered rather than asserted, so no path can panic.
            Source::Pending(_) => Err(ServeError::CollectorPending),
        }
    }
}

/// Answers the CLI's requests, and sends it the inbound replay spans the service's
/// requests hand over, until it closes the connection.
pub(crate) async fn serve(
    mut connection: SdkConnection,
    mut source: Source,
    max_frame_len: usize,
    mut spans: mpsc::Receiver<InboundSpan>,
    mocks: &Pending,
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
                    tracing::warn!(%error, "coverage channel lost; coverage SDK stopped");
                    return;
                }
            },
            span = spans.recv(), if spans_open => {
                match span {
                    Some(span) => {
                        tracing::debug!(trace_id = %span.trace_id, "sending the inbound replay span");
                        if let Err(error) = connection.sender().send(inbound_span_message(&span)).await {
                            if connection.sender().is_closed() {
                                tracing::warn!(%error, "coverage channel lost; coverage SDK stopped");
                                return;
                            }
                            tracing::debug!(trace_id = %span.trace_id, %error, "inbound replay span not sent");
                        }
                    }
                    // Every layer and handle is gone; coverage requests go on.
                    None => spans_open = false,
                }
                continue;
            }
        };
        let Some(reply) = reply_to(message, &mut source, &cache, max_frame_len, mocks).await else {
            continue;
        };
        let request_id = reply.request_id.clone();
        if let Err(error) = connection.sender().send(reply).await {
            if connection.sender().is_closed() {
                tracing::warn!(%error, "coverage channel lost; coverage SDK stopped");
                return;
            }
            // Refused before anything was written (for example over the frame limit
            // after all): the CLI still gets an answer.
            let fallback = failure_reply(request_id, &ServeError::Send(Arc::new(error)));
            if let Err(error) = connection.sender().send(fallback).await {
                tracing::warn!(%error, "coverage channel lost; coverage SDK stopped");
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
    mocks: &Pending,
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
                _ => failure_reply(message.request_id, &ServeError::MissingRequest),
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
        Ok(MessageType::MockRequest) => {
            match message.payload {
                Some(cli_message::Payload::GetMockResponse(response)) => {
                    mocks.answer(&message.request_id, response);
                }
                _ => tracing::debug!(
                    request_id = %message.request_id,
                    "ignoring a MOCK_REQUEST message without a GetMockResponse"
                ),
            }
            None
        }
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
        Err(error) => return failure_reply(request_id, &error),
    };
    let cache = Arc::clone(cache);
    let log = SdkLog::current();
    let failed_id = request_id.clone();
    let task = tokio::task::spawn_blocking(move || {
        log.scope(|| respond(&*snapshots, baseline, &cache, request_id, max_frame_len))
    });
    match task.await {
        Ok(reply) => reply,
        Err(join_error) => {
            failure_reply(failed_id, &ServeError::SnapshotTask(join_error.to_string()))
        }
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
        Err(error) => return failure_reply(request_id, &ServeError::Snapshot(Arc::from(error))),
    };
    let record = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .to_wire(&snapshot);
    let reply = snapshot_reply(request_id, wire::to_response(&record));
    let encoded_len = reply.encoded_len();
    if encoded_len > max_frame_len {
        let error = ServeError::OverFrameLimit {
            files: record.files.len(),
            lines: record.files.values().map(|file| file.lines.len()).sum(),
            encoded_len,
            max_frame_len,
        };
        return failure_reply(reply.request_id, &error);
    }
    reply
}

/// The `success=false` reply to `request_id`, with `error`'s text.
fn failure_reply(request_id: String, error: &ServeError) -> SdkMessage {
    snapshot_reply(request_id, wire::failure(error.to_string()))
}

/// Wraps a snapshot response in its envelope, answering `request_id`.
fn snapshot_reply(request_id: String, response: CoverageSnapshotResponse) -> SdkMessage {
    SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id,
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(response)),
    }
}

/// The `SDKMessage` carrying the inbound replay span of `span` to the CLI.
fn inbound_span_message(span: &InboundSpan) -> SdkMessage {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let request_id = format!("inbound-span-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    SdkMessage {
        r#type: MessageType::InboundSpan as i32,
        request_id,
        payload: Some(sdk_message::Payload::SendInboundSpanForReplayRequest(
            SendInboundSpanForReplayRequest {
                span: Some(cov_wire::span::inbound_span(span)),
            },
        )),
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
        fn baseline(&self) -> Result<CoverageSnapshot, SnapshotError> {
            match self.error {
                Some(error) => Err(error.into()),
                None => Ok(self.file(SnapshotKind::Baseline)),
            }
        }

        fn delta(&self) -> Result<CoverageSnapshot, SnapshotError> {
            match self.error {
                Some(error) => Err(error.into()),
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

    fn response_is_success(reply: SdkMessage) -> bool {
        response(reply).success
    }
}
