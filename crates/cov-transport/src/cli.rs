//! The CLI side, for drivers, tests and the demo: listen, accept an SDK, complete the
//! handshake, then send requests and await their replies, correlated by `request_id`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cov_proto::{
    CliMessage, ConnectRequest, ConnectResponse, CoverageSnapshotRequest, CoverageSnapshotResponse,
    MessageType, SdkMessage, SendInboundSpanForReplayResponse, Span, cli_message, sdk_message,
};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use crate::endpoint::Endpoint;
use crate::error::TransportError;
use crate::frame::{CliCodec, DEFAULT_MAX_FRAME_LEN};
use crate::sdk::describe_type;
use crate::writer::FrameSender;

/// The CLI's text for an `SDK_CONNECT` message without a `ConnectRequest`.
pub const INVALID_CONNECT_REQUEST: &str = "Invalid connect request format";

/// Timeouts and limits of the CLI side. Build with [`CliOptions::default`] and the setters.
#[derive(Clone, Debug)]
pub struct CliOptions {
    write_timeout: Duration,
    max_frame_len: usize,
}

impl Default for CliOptions {
    /// Writes within 10 s, frames up to 10 MiB (the CLI's limit).
    fn default() -> Self {
        CliOptions {
            write_timeout: Duration::from_secs(10),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

impl CliOptions {
    /// How long writing one frame may take before the connection is given up.
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.write_timeout = timeout;
        self
    }

    /// The largest frame payload sent or received (default 10 MiB).
    pub fn max_frame_len(&mut self, max_frame_len: usize) -> &mut Self {
        self.max_frame_len = max_frame_len;
        self
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A listening socket of the CLI side. A unix socket file it created is removed on drop.
pub struct CliListener {
    listener: Listener,
    endpoint: Endpoint,
    options: CliOptions,
    /// The socket file this listener created, removed on drop if it is still that file.
    socket_file: Option<SocketFile>,
}

/// A socket file by path and identity: device and inode, so that dropping the listener
/// removes only the file it created, not one another process bound at the same path since.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl SocketFile {
    /// The file now at `path`, if there is one.
    fn at(path: &Path) -> Option<SocketFile> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::symlink_metadata(path).ok()?;
        Some(SocketFile {
            path: path.to_path_buf(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// Removes the file if the path still names it.
    fn remove_if_unchanged(&self) {
        let now = SocketFile::at(&self.path);
        if now.is_some_and(|now| now.device == self.device && now.inode == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl std::fmt::Debug for CliListener {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CliListener")
            .field("endpoint", &self.endpoint)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl CliListener {
    /// Listens on `endpoint` with [`CliOptions::default`]; see [`CliListener::bind_with`].
    pub async fn bind(endpoint: &Endpoint) -> Result<Self, TransportError> {
        Self::bind_with(endpoint, CliOptions::default()).await
    }

    /// Listens on `endpoint`.
    ///
    /// Unix: the parent directory is created if missing (as the CLI does); an existing
    /// socket file nobody listens on (stale) is replaced; a live one is
    /// [`TransportError::SocketInUse`]; a path that exists and is not a socket is
    /// [`TransportError::NotASocket`]. TCP: port 0 lets the system choose; see
    /// [`CliListener::local_endpoint`].
    pub async fn bind_with(
        endpoint: &Endpoint,
        options: CliOptions,
    ) -> Result<Self, TransportError> {
        let bind_error = |source| TransportError::Bind {
            endpoint: endpoint.clone(),
            source,
        };
        match endpoint {
            Endpoint::Unix(path) => {
                prepare_socket_path(path).map_err(|error| match error {
                    PrepareError::Io(source) => bind_error(source),
                    PrepareError::Refused(error) => error,
                })?;
                let listener = UnixListener::bind(path).map_err(bind_error)?;
                let socket_file = SocketFile::at(path);
                tracing::debug!(%endpoint, "listening");
                Ok(CliListener {
                    listener: Listener::Unix(listener),
                    endpoint: endpoint.clone(),
                    options,
                    socket_file,
                })
            }
            Endpoint::Tcp { host, port } => {
                let listener = TcpListener::bind((host.as_str(), *port))
                    .await
                    .map_err(bind_error)?;
                let local_port = listener.local_addr().map_err(bind_error)?.port();
                let endpoint = Endpoint::Tcp {
                    host: host.clone(),
                    port: local_port,
                };
                tracing::debug!(%endpoint, "listening");
                Ok(CliListener {
                    listener: Listener::Tcp(listener),
                    endpoint,
                    options,
                    socket_file: None,
                })
            }
        }
    }

    /// Where SDKs can connect: the bound endpoint, with the real port for TCP port 0.
    pub fn local_endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Accepts the next SDK and completes the handshake, all within `timeout`, accepting
    /// every `ConnectRequest`.
    pub async fn accept(&self, timeout: Duration) -> Result<CliConnection, TransportError> {
        self.accept_with(timeout, |_| Ok(())).await
    }

    /// Like [`CliListener::accept`], but `verdict` decides on the SDK's `ConnectRequest`:
    /// `Err(text)` answers `success = false` with `text` (as the CLI does for an
    /// incompatible version) and returns [`TransportError::Handshake`].
    ///
    /// The first connection decides: its failed handshake is returned, not skipped.
    pub async fn accept_with(
        &self,
        timeout: Duration,
        verdict: impl FnOnce(&ConnectRequest) -> Result<(), String>,
    ) -> Result<CliConnection, TransportError> {
        let accepting = async {
            match &self.listener {
                Listener::Unix(listener) => {
                    let (stream, _) = listener
                        .accept()
                        .await
                        .map_err(|source| self.accept_error(source))?;
                    serve_handshake(stream, self.endpoint.clone(), &self.options, verdict).await
                }
                Listener::Tcp(listener) => {
                    let (stream, peer) = listener
                        .accept()
                        .await
                        .map_err(|source| self.accept_error(source))?;
                    let _ = stream.set_nodelay(true);
                    let peer = Endpoint::Tcp {
                        host: peer.ip().to_string(),
                        port: peer.port(),
                    };
                    serve_handshake(stream, peer, &self.options, verdict).await
                }
            }
        };
        tokio::time::timeout(timeout, accepting)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(TransportError::AcceptTimeout {
                    endpoint: self.endpoint.clone(),
                    timeout,
                })
            })
    }

    fn accept_error(&self, source: std::io::Error) -> TransportError {
        TransportError::Accept {
            endpoint: self.endpoint.clone(),
            source,
        }
    }
}

impl Drop for CliListener {
    fn drop(&mut self) {
        if let Some(socket_file) = &self.socket_file {
            socket_file.remove_if_unchanged();
        }
    }
}

enum PrepareError {
    Io(std::io::Error),
    Refused(TransportError),
}

/// Makes `path` free for a new socket: creates the parent directory, removes a stale socket
/// file, refuses a live socket or anything that is not a socket.
fn prepare_socket_path(path: &Path) -> Result<(), PrepareError> {
    use std::os::unix::fs::FileTypeExt;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(PrepareError::Io)?;
    }
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(PrepareError::Io(error)),
    };
    if !metadata.file_type().is_socket() {
        return Err(PrepareError::Refused(TransportError::NotASocket {
            path: path.to_owned(),
        }));
    }
    // A socket file nobody accepts on refuses connections: it is stale.
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_live) => Err(PrepareError::Refused(TransportError::SocketInUse {
            path: path.to_owned(),
        })),
        Err(_stale) => {
            tracing::debug!(path = %path.display(), "replacing a stale socket file");
            std::fs::remove_file(path).map_err(PrepareError::Io)
        }
    }
}

/// Completes the CLI side of the handshake over an already connected `stream`, within
/// `timeout`, accepting every `ConnectRequest` that `verdict` accepts.
///
/// [`CliListener::accept_with`] uses this after accepting; tests can call it with any
/// byte stream (`endpoint` only names the peer in errors).
pub async fn handshake<S>(
    stream: S,
    endpoint: Endpoint,
    options: &CliOptions,
    timeout: Duration,
    verdict: impl FnOnce(&ConnectRequest) -> Result<(), String>,
) -> Result<CliConnection, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let serving = serve_handshake(stream, endpoint.clone(), options, verdict);
    tokio::time::timeout(timeout, serving)
        .await
        .unwrap_or_else(|_elapsed| Err(TransportError::HandshakeTimeout { endpoint, timeout }))
}

async fn serve_handshake<S>(
    stream: S,
    endpoint: Endpoint,
    options: &CliOptions,
    verdict: impl FnOnce(&ConnectRequest) -> Result<(), String>,
) -> Result<CliConnection, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let (closed_sender, closed) = watch::channel(false);
    let frames = FrameSender::spawn(
        Box::new(write_half),
        endpoint.clone(),
        options.max_frame_len,
        options.write_timeout,
        closed.clone(),
    );
    let mut incoming: Incoming = FramedRead::new(
        Box::new(read_half),
        CliCodec::with_max_frame_len(options.max_frame_len),
    );
    // Like the CLI, wait for SDK_CONNECT; messages before it have nobody to answer them.
    let hello = loop {
        match incoming.next().await {
            Some(Ok(message)) if message.r#type == MessageType::SdkConnect as i32 => break message,
            Some(Ok(message)) => tracing::debug!(
                r#type = %describe_type(message.r#type),
                "ignoring a message that arrived before the handshake"
            ),
            Some(Err(source)) => return Err(TransportError::frame(&endpoint, source)),
            None => return Err(TransportError::closed(&endpoint)),
        }
    };
    let answer = |success: bool, error: String| CliMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: hello.request_id.clone(),
        payload: Some(cli_message::Payload::ConnectResponse(ConnectResponse {
            success,
            error,
        })),
    };
    let Some(sdk_message::Payload::ConnectRequest(connect_request)) = hello.payload.clone() else {
        frames
            .send(&answer(false, INVALID_CONNECT_REQUEST.to_owned()))
            .await?;
        return Err(TransportError::Handshake {
            endpoint,
            detail: "SDK_CONNECT without a ConnectRequest".to_owned(),
        });
    };
    if let Err(text) = verdict(&connect_request) {
        frames.send(&answer(false, text.clone())).await?;
        return Err(TransportError::Handshake {
            endpoint,
            detail: format!("rejected the SDK: {text}"),
        });
    }
    frames.send(&answer(true, String::new())).await?;
    tracing::debug!(
        %endpoint,
        service_id = %connect_request.service_id,
        sdk_version = %connect_request.sdk_version,
        "SDK connected"
    );

    let pending = Arc::new(Mutex::new(Some(HashMap::new())));
    let inbound_spans = Arc::new(InboundSpans::default());
    let reader = tokio::spawn(route_replies(
        incoming,
        Arc::clone(&pending),
        Arc::clone(&inbound_spans),
        frames.clone(),
        closed_sender,
        endpoint.clone(),
    ));
    Ok(CliConnection {
        frames,
        connect_request,
        handshake_request_id: hello.request_id,
        pending,
        inbound_spans,
        closed,
        reader,
    })
}

type Incoming = FramedRead<Box<dyn AsyncRead + Send + Unpin>, CliCodec>;

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

async fn route_replies(
    mut incoming: Incoming,
    pending: Pending,
    inbound_spans: Arc<InboundSpans>,
    frames: FrameSender,
    closed: watch::Sender<bool>,
    endpoint: Endpoint,
) {
    loop {
        match incoming.next().await {
            Some(Ok(message)) if message.r#type == MessageType::InboundSpan as i32 => {
                keep_inbound_span(message, &inbound_spans, &frames).await;
            }
            Some(Ok(message)) => {
                let waiter = lock(&pending)
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
    // read.
    lock(&pending).take();
    closed.send_replace(true);
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
    /// The id must be non-empty and not already in flight ([`TransportError::BadRequestId`]).
    /// SDK messages whose id nobody awaits are dropped, as the Tusk CLI does.
    pub async fn request(
        &self,
        message: CliMessage,
        timeout: Duration,
    ) -> Result<SdkMessage, TransportError> {
        let endpoint = self.endpoint();
        let request_id = message.request_id.clone();
        let bad_id = |detail| TransportError::BadRequestId {
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
                .ok_or_else(|| TransportError::closed(endpoint))?;
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
                .map_err(|_closed| TransportError::closed(endpoint))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_elapsed| {
                Err(TransportError::RequestTimeout {
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
    /// ([`TransportError::UnexpectedReply`] otherwise); `success = false` is
    /// [`TransportError::SnapshotFailed`] with the SDK's text.
    pub async fn baseline(
        &self,
        timeout: Duration,
    ) -> Result<CoverageSnapshotResponse, TransportError> {
        self.snapshot(true, timeout).await
    }

    /// Asks the SDK for what ran since the previous snapshot, as the Tusk CLI does after
    /// each test: [`CliConnection::baseline`] with `CoverageSnapshotRequest { baseline:
    /// false }`, the same replies and errors.
    pub async fn delta(
        &self,
        timeout: Duration,
    ) -> Result<CoverageSnapshotResponse, TransportError> {
        self.snapshot(false, timeout).await
    }

    /// The request behind [`CliConnection::baseline`] and [`CliConnection::delta`].
    async fn snapshot(
        &self,
        baseline: bool,
        timeout: Duration,
    ) -> Result<CoverageSnapshotResponse, TransportError> {
        let request_id = coverage_request_id();
        let request = CliMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: request_id.clone(),
            payload: Some(cli_message::Payload::CoverageSnapshotRequest(
                CoverageSnapshotRequest { baseline },
            )),
        };
        let reply = self.request(request, timeout).await?;
        let unexpected = |detail: String| TransportError::UnexpectedReply {
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
            return Err(TransportError::SnapshotFailed {
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
    pub async fn send(&self, message: CliMessage) -> Result<(), TransportError> {
        self.frames.send(&message).await
    }

    /// Sends `payload` as one frame as it is, valid protobuf or not: for hostile-peer
    /// tests. The frame length limit still applies.
    pub async fn send_frame(&self, payload: Bytes) -> Result<(), TransportError> {
        self.frames.send_payload(payload).await
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
