//! One SDK's connection, after the handshake: requests correlated with their replies by
//! `request_id`, the SDK's inbound replay spans kept and acknowledged, and its mock requests
//! handed to the [`MockSource`](crate::MockSource).
//!
//! One reader task routes every SDK message by its type, as the Tusk CLI does:
//!
//! | SDK message type  | goes to                                                        |
//! |-------------------|----------------------------------------------------------------|
//! | `INBOUND_SPAN`    | kept by trace id and acknowledged ([`CliConnection::inbound_span`]) |
//! | `MOCK_REQUEST`    | the mock source, in a task of its own; its reply is sent back  |
//! | anything else     | the request waiting for that `request_id`, or dropped          |
//!
//! Frames are written by the connection's single writer task (cov-transport's
//! [`FrameSender`]), so replies from concurrent mock tasks never interleave with requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cov_proto::{
    CliMessage, ConnectRequest, CoverageSnapshotRequest, CoverageSnapshotResponse, MessageType,
    SdkMessage, SendInboundSpanForReplayResponse, Span, cli_message, sdk_message,
};
use cov_transport::Endpoint;
use cov_transport::frame::{CliCodec, describe_type};
use cov_transport::writer::FrameSender;
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::codec::FramedRead;

use crate::error::ChannelError;
use crate::mock::MockSource;

/// The SDK's messages, read from the connection's read half.
pub(crate) type Incoming = FramedRead<Box<dyn AsyncRead + Send + Unpin>, CliCodec>;

/// Replies awaited by request id; `None` once the connection closed.
type Pending = Arc<Mutex<Option<HashMap<String, oneshot::Sender<SdkMessage>>>>>;

fn lock(
    pending: &Pending,
) -> std::sync::MutexGuard<'_, Option<HashMap<String, oneshot::Sender<SdkMessage>>>> {
    // The map stays consistent even if a holder panicked: every change is one call.
    pending
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The inbound replay spans the SDK sent, by trace id, as the Tusk CLI keeps them.
#[derive(Debug, Default)]
struct InboundSpans {
    spans: Mutex<HashMap<String, Span>>,
    arrived: Notify,
}

/// Keeps an inbound replay span and acknowledges it as the Tusk CLI does
/// (`handleInboundReplaySpanProtobuf`: stored under its trace id, answered with
/// `INBOUND_SPAN` and `success: true`); a message without a span is dropped.
async fn keep_inbound_span(message: SdkMessage, spans: &InboundSpans, frames: &FrameSender) {
    let Some(sdk_message::Payload::SendInboundSpanForReplayRequest(request)) = message.payload
    else {
        tracing::debug!(request_id = %message.request_id, "INBOUND_SPAN without a span");
        return;
    };
    let Some(span) = request.span else {
        tracing::debug!(request_id = %message.request_id, "INBOUND_SPAN without a span");
        return;
    };
    spans
        .spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(span.trace_id.clone(), span);
    spans.arrived.notify_waiters();
    let ack = CliMessage {
        r#type: MessageType::InboundSpan as i32,
        request_id: message.request_id,
        payload: Some(cli_message::Payload::SendInboundSpanForReplayResponse(
            SendInboundSpanForReplayResponse { success: true },
        )),
    };
    if let Err(error) = frames.send(&ack).await {
        tracing::debug!(%error, "cannot acknowledge an inbound replay span");
    }
}

/// Answers one `MOCK_REQUEST` with `source`'s reply, under the request's id.
async fn answer_mock(source: Arc<dyn MockSource>, request: SdkMessage, frames: FrameSender) {
    let request_id = request.request_id.clone();
    let Some(mut reply) = source.answer(request).await else {
        tracing::debug!(%request_id, "the mock source has no answer to a mock request");
        return;
    };
    reply.request_id = request_id;
    if let Err(error) = frames.send(&reply).await {
        tracing::debug!(%error, request_id = %reply.request_id, "cannot answer a mock request");
    }
}

/// Where the reader task sends what it reads.
struct Routes {
    pending: Pending,
    inbound_spans: Arc<InboundSpans>,
    mock_source: Option<Arc<dyn MockSource>>,
    frames: FrameSender,
}

async fn route_messages(
    mut incoming: Incoming,
    routes: Routes,
    closed: watch::Sender<bool>,
    endpoint: Endpoint,
) {
    // The mock answers in flight. They belong to this task: when the connection is dropped
    // and this task aborted, the set is dropped and aborts them too.
    let mut mock_answers = JoinSet::new();
    loop {
        while mock_answers.try_join_next().is_some() {}
        match incoming.next().await {
            Some(Ok(message)) if message.r#type == MessageType::InboundSpan as i32 => {
                keep_inbound_span(message, &routes.inbound_spans, &routes.frames).await;
            }
            Some(Ok(message)) if message.r#type == MessageType::MockRequest as i32 => {
                match &routes.mock_source {
                    Some(source) => {
                        mock_answers.spawn(answer_mock(
                            Arc::clone(source),
                            message,
                            routes.frames.clone(),
                        ));
                    }
                    None => tracing::debug!(
                        request_id = %message.request_id,
                        "dropping a mock request: this connection has no mock source"
                    ),
                }
            }
            Some(Ok(message)) => {
                let waiter = lock(&routes.pending)
                    .as_mut()
                    .and_then(|waiters| waiters.remove(&message.request_id));
                match waiter {
                    // The requester may have timed out meanwhile; then nobody wants it.
                    Some(waiter) => drop(waiter.send(message)),
                    None => tracing::debug!(
                        request_id = %message.request_id,
                        r#type = %describe_type(message.r#type),
                        "dropping an SDK message nobody is waiting for"
                    ),
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%endpoint, %error, "closing the coverage channel");
                break;
            }
            None => {
                tracing::debug!(%endpoint, "the SDK closed the connection");
                break;
            }
        }
    }
    // Waiters see their sender dropped, i.e. `Closed`; later requests are refused; the
    // writer stops and closes the socket, as the Tusk CLI closes a connection it cannot
    // read. Mock answers still in flight have nobody to go to.
    lock(&routes.pending).take();
    closed.send_replace(true);
    mock_answers.abort_all();
}

/// An SDK connection whose handshake succeeded. Dropping it closes the connection.
pub struct CliConnection {
    frames: FrameSender,
    connect_request: ConnectRequest,
    handshake_request_id: String,
    pending: Pending,
    inbound_spans: Arc<InboundSpans>,
    closed: watch::Receiver<bool>,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for CliConnection {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CliConnection")
            .field("endpoint", self.frames.endpoint())
            .field("connect_request", &self.connect_request)
            .finish_non_exhaustive()
    }
}

impl Drop for CliConnection {
    fn drop(&mut self) {
        // Dropping the reader drops the read half; the writer task closes the write half
        // once `frames` is gone, so the SDK sees the connection end.
        self.reader.abort();
    }
}

/// Removes a request's waiter when its future ends, however it ends.
struct PendingGuard<'a> {
    pending: &'a Pending,
    request_id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Some(waiters) = lock(self.pending).as_mut() {
            waiters.remove(self.request_id);
        }
    }
}

impl CliConnection {
    /// Starts routing `incoming` after a successful handshake.
    pub(crate) fn start(
        incoming: Incoming,
        frames: FrameSender,
        closed: watch::Receiver<bool>,
        closed_sender: watch::Sender<bool>,
        connect_request: ConnectRequest,
        handshake_request_id: String,
        mock_source: Option<Arc<dyn MockSource>>,
    ) -> CliConnection {
        let pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let inbound_spans = Arc::new(InboundSpans::default());
        let routes = Routes {
            pending: Arc::clone(&pending),
            inbound_spans: Arc::clone(&inbound_spans),
            mock_source,
            frames: frames.clone(),
        };
        let endpoint = frames.endpoint().clone();
        let reader = tokio::spawn(route_messages(incoming, routes, closed_sender, endpoint));
        CliConnection {
            frames,
            connect_request,
            handshake_request_id,
            pending,
            inbound_spans,
            closed,
            reader,
        }
    }

    /// The SDK (for TCP, its address and port).
    pub fn endpoint(&self) -> &Endpoint {
        self.frames.endpoint()
    }

    /// The `ConnectRequest` the SDK sent.
    pub fn connect_request(&self) -> &ConnectRequest {
        &self.connect_request
    }

    /// The `request_id` of the SDK's `SDK_CONNECT` message.
    pub fn handshake_request_id(&self) -> &str {
        &self.handshake_request_id
    }

    /// Sends `message` and waits for the SDK message with the same `request_id`, all
    /// within `timeout`. Several requests may be in flight at once.
    ///
    /// The id must be non-empty and not already in flight ([`ChannelError::BadRequestId`]).
    /// SDK messages whose id nobody awaits are dropped, as the Tusk CLI does.
    pub async fn request(
        &self,
        message: CliMessage,
        timeout: Duration,
    ) -> Result<SdkMessage, ChannelError> {
        let endpoint = self.endpoint();
        let request_id = message.request_id.clone();
        let bad_id = |detail| ChannelError::BadRequestId {
            endpoint: endpoint.clone(),
            request_id: request_id.clone(),
            detail,
        };
        if request_id.is_empty() {
            return Err(bad_id("the request id is empty"));
        }
        let (waiter, reply) = oneshot::channel();
        {
            let mut waiters = lock(&self.pending);
            let waiters = waiters
                .as_mut()
                .ok_or_else(|| ChannelError::closed(endpoint))?;
            if waiters.contains_key(&request_id) {
                return Err(bad_id("a request with this id is already in flight"));
            }
            waiters.insert(request_id.clone(), waiter);
        }
        let _guard = PendingGuard {
            pending: &self.pending,
            request_id: &request_id,
        };
        let exchange = async {
            self.frames.send(&message).await?;
            reply
                .await
                .map_err(|_closed| ChannelError::closed(endpoint))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(ChannelError::RequestTimeout {
                    endpoint: endpoint.clone(),
                    request_id: request_id.clone(),
                    timeout,
                })
            })
    }

    /// Asks the SDK for the baseline (every coverable line, counts since start), as the
    /// Tusk CLI does once: `COVERAGE_SNAPSHOT` with request id `coverage-<unix nanos>` and
    /// `CoverageSnapshotRequest { baseline: true }`.
    ///
    /// The reply must be a `COVERAGE_SNAPSHOT` message with a `CoverageSnapshotResponse`
    /// ([`ChannelError::UnexpectedReply`] otherwise); `success = false` is
    /// [`ChannelError::SnapshotFailed`] with the SDK's text.
    pub async fn baseline(
        &self,
        timeout: Duration,
    ) -> Result<CoverageSnapshotResponse, ChannelError> {
        self.snapshot(true, timeout).await
    }

    /// Asks the SDK for what ran since the previous snapshot, as the Tusk CLI does after
    /// each test: [`CliConnection::baseline`] with `CoverageSnapshotRequest { baseline:
    /// false }`, the same replies and errors.
    pub async fn delta(&self, timeout: Duration) -> Result<CoverageSnapshotResponse, ChannelError> {
        self.snapshot(false, timeout).await
    }

    /// The request behind [`CliConnection::baseline`] and [`CliConnection::delta`].
    async fn snapshot(
        &self,
        baseline: bool,
        timeout: Duration,
    ) -> Result<CoverageSnapshotResponse, ChannelError> {
        let request_id = coverage_request_id();
        let request = CliMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: request_id.clone(),
            payload: Some(cli_message::Payload::CoverageSnapshotRequest(
                CoverageSnapshotRequest { baseline },
            )),
        };
        let reply = self.request(request, timeout).await?;
        let unexpected = |detail: String| ChannelError::UnexpectedReply {
            endpoint: self.endpoint().clone(),
            request_id: request_id.clone(),
            detail,
        };
        if reply.r#type != MessageType::CoverageSnapshot as i32 {
            return Err(unexpected(format!(
                "expected type MESSAGE_TYPE_COVERAGE_SNAPSHOT, got {}",
                describe_type(reply.r#type)
            )));
        }
        let Some(sdk_message::Payload::CoverageSnapshotResponse(response)) = reply.payload else {
            return Err(unexpected(
                "unexpected response type for coverage snapshot: no CoverageSnapshotResponse"
                    .to_owned(),
            ));
        };
        if !response.success {
            return Err(ChannelError::SnapshotFailed {
                endpoint: self.endpoint().clone(),
                message: response.error,
            });
        }
        Ok(response)
    }

    /// The inbound replay span the SDK sent for `trace_id`, waiting up to `timeout` for it
    /// (the Tusk CLI waits 3 s when `TUSK_REQUIRE_INBOUND_REPLAY_SPAN` is set). Spans are
    /// acknowledged as they arrive, as the CLI does.
    pub async fn inbound_span(&self, trace_id: &str, timeout: Duration) -> Option<Span> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inbound_spans.arrived.notified();
            if let Some(span) = self
                .inbound_spans
                .spans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(trace_id)
            {
                return Some(span.clone());
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// Sends `message` without waiting for a reply.
    pub async fn send(&self, message: CliMessage) -> Result<(), ChannelError> {
        Ok(self.frames.send(&message).await?)
    }

    /// Sends `payload` as one frame as it is, valid protobuf or not: for hostile-peer
    /// tests. The frame length limit still applies.
    pub async fn send_frame(&self, payload: Bytes) -> Result<(), ChannelError> {
        Ok(self.frames.send_payload(payload).await?)
    }

    /// Whether the connection is closed: the SDK closed it, its stream broke, or a write
    /// failed (a write timeout closes the connection).
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow() || self.frames.is_closed()
    }

    /// Waits until the SDK closes the connection (or its stream breaks).
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        // An error means the reader is gone, so the connection is closed too.
        let _ = closed.wait_for(|closed| *closed).await;
    }
}

/// `coverage-<unix nanos>`, strictly increasing within this process so that concurrent
/// snapshots never share an id.
fn coverage_request_id() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(0);
    format!("coverage-{}", now.max(previous.saturating_add(1)))
}
