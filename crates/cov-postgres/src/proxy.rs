//! The recording proxy's I/O: a loopback listener in front of the real server.
//!
//! Each accepted connection gets a connection to the real server and two tasks: one
//! forwarding client bytes to the server, one forwarding server bytes to the client. They
//! write every byte on as soon as it is read, unchanged and in order; before writing a
//! chunk on, each feeds it (by reference, `Bytes`, no copy) to the connection's recorder,
//! which parses it and hands the statements it completes to the [`StatementSink`]. So the
//! recorder sees a request before the answer it causes, and a statement is in the sink
//! before the application reads the `ReadyForQuery` that ends it: a request whose handler
//! has its result cannot finish before its statements are recorded. Feeding costs a parse
//! of the chunk under a lock the two directions share; the sink must not block.
//!
//! Two things are not forwarded:
//! - TLS: the proxy answers `SSLRequest` and `GSSENCRequest` with `N` (the application goes
//!   on in the clear on loopback) and connects to the real server without TLS. A real server
//!   that demands TLS therefore refuses the proxy; record against one that allows plain
//!   connections from the machine the service runs on.
//! - The attribution marker, when the connection is idle (every request answered by a
//!   `ReadyForQuery`) and not in a failed transaction: the proxy answers it with exactly the
//!   bytes PostgreSQL would (a row description of no field, `SELECT 0`, `ReadyForQuery` with
//!   the unchanged status), written by the server-to-client task at a message boundary, and
//!   the server never sees it. Otherwise it is forwarded like any statement, and still
//!   recognized.
//!
//! A malformed message from either side is forwarded as it is (the other end reports it
//! as PostgreSQL would); recording stops on that connection with a warning, and what was
//! recorded before stays recorded. When the real server goes away, the client's connection
//! is closed, after a `FATAL` error if a request was outstanding.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::message::{Backend, Framed, Framer, Frontend, MAX_STARTUP_LEN};
use crate::record::{Recorder, RecorderConfig, StatementSink};
use crate::sql;
use crate::url::Upstream;

const READ_SIZE: usize = 16 * 1024;

/// The recording proxy, listening on `127.0.0.1` on a port of its own. Dropping it stops
/// accepting; connections already open run until either end closes them.
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    active: Arc<Active>,
}

/// The connections being proxied, to wait until all have ended.
#[derive(Debug, Default)]
struct Active {
    count: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl RecordingProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `upstream`, recording its
    /// statements into `sink`. Must be called within a tokio runtime.
    pub async fn start(
        upstream: Upstream,
        sink: Arc<dyn StatementSink>,
        config: RecorderConfig,
    ) -> std::io::Result<RecordingProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let upstream = Arc::new(upstream);
        let active = Arc::new(Active::default());
        let counted = Arc::clone(&active);
        let accept = tokio::spawn(async move {
            let active = counted;
            loop {
                let (client, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "postgres proxy: accept failed");
                        continue;
                    }
                };
                let _ = client.set_nodelay(true);
                let upstream = Arc::clone(&upstream);
                let sink = Arc::clone(&sink);
                let config = config.clone();
                active.count.fetch_add(1, Ordering::AcqRel);
                let active = Arc::clone(&active);
                tokio::spawn(async move {
                    if let Err(error) = proxy_connection(client, &upstream, sink, config).await {
                        tracing::debug!(%peer, %error, "postgres proxy: connection ended");
                    }
                    active.count.fetch_sub(1, Ordering::AcqRel);
                    active.changed.notify_waiters();
                });
            }
        });
        Ok(RecordingProxy {
            addr,
            accept,
            active,
        })
    }

    /// Connections open now (their recording included).
    pub fn active_connections(&self) -> usize {
        self.active.count.load(Ordering::Acquire)
    }

    /// Waits until every connection has ended and its statements are in the sink.
    pub async fn wait_idle(&self) {
        loop {
            let changed = self.active.changed.notified();
            if self.active_connections() == 0 {
                return;
            }
            changed.await;
        }
    }

    /// The address the application connects to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What the connection's recorder is told.
enum Event {
    Client(Bytes, SystemTime),
    Server(Bytes, SystemTime),
    Marker(u64),
}

/// The recorder of one connection, fed by both forwarding directions.
struct Recording {
    state: std::sync::Mutex<RecordingState>,
    sink: Arc<dyn StatementSink>,
}

struct RecordingState {
    recorder: Recorder,
    finished: Vec<(Option<u64>, crate::record::Statement)>,
    /// Recording stopped after an error, which was reported.
    reported: bool,
}

impl Recording {
    fn new(sink: Arc<dyn StatementSink>, config: RecorderConfig) -> Self {
        Self {
            state: std::sync::Mutex::new(RecordingState {
                recorder: Recorder::new(config),
                finished: Vec::new(),
                reported: false,
            }),
            sink,
        }
    }

    /// Feeds one event and hands the statements it completes to the sink (outside the
    /// lock).
    fn feed(&self, event: Event) {
        let finished = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let state = &mut *state;
            let result = match event {
                Event::Client(chunk, at) => {
                    state.recorder.client_bytes(chunk, at, &mut state.finished)
                }
                Event::Server(chunk, at) => {
                    state.recorder.server_bytes(chunk, at, &mut state.finished)
                }
                Event::Marker(key) => {
                    state.recorder.marker(key);
                    Ok(())
                }
            };
            if let Err(error) = result
                && !state.reported
            {
                state.reported = true;
                tracing::warn!(%error, "postgres proxy: recording stopped on this connection");
            }
            std::mem::take(&mut state.finished)
        };
        for (key, statement) in finished {
            self.sink.statement(key, statement);
        }
    }
}

/// What the two forwarding directions share: how far the server has answered.
#[derive(Default)]
struct Shared {
    /// `Query`, `Sync` and `FunctionCall` messages forwarded to the server.
    requests: AtomicU64,
    /// `ReadyForQuery` messages forwarded to the client.
    ready: AtomicU64,
    /// The last transaction status.
    status: AtomicU8,
}

async fn connect(upstream: &Upstream) -> std::io::Result<Box<dyn Stream>> {
    Ok(match upstream {
        Upstream::Tcp { host, port } => {
            let stream = TcpStream::connect((host.as_str(), *port)).await?;
            let _ = stream.set_nodelay(true);
            Box::new(stream)
        }
        Upstream::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
    })
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

async fn proxy_connection(
    mut client: TcpStream,
    upstream: &Upstream,
    sink: Arc<dyn StatementSink>,
    config: RecorderConfig,
) -> std::io::Result<()> {
    // The start-up phase: answer TLS requests ourselves, then forward the start-up message.
    let mut framer = Framer::new(true, MAX_STARTUP_LEN);
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let (first, rest) = loop {
        if client.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        framer.push(buf.split().freeze());
        let mut found = None;
        loop {
            match framer.next_frame() {
                Ok(Some(Framed::Message(frame))) => {
                    let body = frame.body.clone();
                    match Frontend::decode_startup(body) {
                        Ok(Frontend::SslRequest | Frontend::GssEncRequest) => {
                            client.write_all(b"N").await?;
                        }
                        Ok(message) => {
                            found = Some((message, frame.body));
                            break;
                        }
                        Err(error) => {
                            return refuse(
                                &mut client,
                                "08P01",
                                &format!("invalid start-up message: {error}"),
                            )
                            .await;
                        }
                    }
                }
                Ok(Some(Framed::Oversized { .. })) => {
                    return refuse(&mut client, "08P01", "start-up message too long").await;
                }
                Ok(None) => break,
                Err(error) => {
                    return refuse(
                        &mut client,
                        "08P01",
                        &format!("invalid start-up message: {error}"),
                    )
                    .await;
                }
            }
        }
        if let Some((message, body)) = found {
            // Whatever followed the start-up message in the same read is forwarded after it.
            break ((message, body), framer.take_remaining());
        }
    };
    let (message, body) = first;
    let mut startup_bytes = BytesMut::with_capacity(body.len() + 4);
    startup_bytes.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    startup_bytes.extend_from_slice(&body);
    let startup_bytes = startup_bytes.freeze();

    let mut server = match connect(upstream).await {
        Ok(server) => server,
        Err(error) => {
            let message =
                format!("tusk drift proxy: cannot reach the database at {upstream:?}: {error}");
            tracing::warn!(%message);
            return refuse(&mut client, "08001", &message).await;
        }
    };
    if let Frontend::CancelRequest { .. } = message {
        server.write_all(&startup_bytes).await?;
        let _ = server.shutdown().await;
        return Ok(());
    }

    let recording = Arc::new(Recording::new(sink, config));
    let now = SystemTime::now();
    recording.feed(Event::Client(startup_bytes.clone(), now));
    server.write_all(&startup_bytes).await?;
    if !rest.is_empty() {
        recording.feed(Event::Client(rest.clone(), now));
        server.write_all(&rest).await?;
    }

    // The start-up message is answered by a ReadyForQuery too.
    let shared = Arc::new(Shared {
        requests: AtomicU64::new(1),
        ready: AtomicU64::new(0),
        status: AtomicU8::new(b'I'),
    });
    let (inject_tx, inject_rx) = mpsc::unbounded_channel::<Bytes>();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = tokio::io::split(server);
    let upward = tokio::spawn(client_to_server(
        client_read,
        server_write,
        Arc::clone(&recording),
        Arc::clone(&shared),
        inject_tx,
    ));
    let downward = server_to_client(
        server_read,
        client_write,
        recording,
        Arc::clone(&shared),
        inject_rx,
    )
    .await;
    upward.abort();
    downward
}

async fn refuse(client: &mut TcpStream, code: &str, message: &str) -> std::io::Result<()> {
    client.write_all(&fatal(code, message)).await?;
    client.shutdown().await
}

/// A `FATAL` `ErrorResponse` of the proxy's own.
fn fatal(code: &str, message: &str) -> Bytes {
    let mut out = BytesMut::new();
    let fields = vec![
        (b'S', Bytes::from_static(b"FATAL")),
        (b'V', Bytes::from_static(b"FATAL")),
        (b'C', Bytes::copy_from_slice(code.as_bytes())),
        (b'M', Bytes::copy_from_slice(message.as_bytes())),
    ];
    let _ = Backend::ErrorResponse(fields).encode(&mut out);
    out.freeze()
}

/// Where the client's stream stands, as far as the forwarding task must know: message
/// boundaries, to find the marker and count requests.
struct ClientScan {
    /// Bytes of a message header not complete yet (held back: at most 4 bytes, until the
    /// rest of the header arrives).
    header: BytesMut,
    /// Body bytes of the current message still to come.
    body_left: usize,
    /// A short `Query` held whole until it is known whether it is the marker.
    held: Option<BytesMut>,
    /// Extended-protocol messages were sent since the last `Sync`.
    unsynced: bool,
    /// The stream's framing is lost (a bad length): forward blindly from now on.
    blind: bool,
    /// Set when it was just lost: the length found.
    lost_at: Option<i32>,
}

enum Piece {
    Forward(Bytes),
    Marker(u64),
}

impl ClientScan {
    fn new() -> ClientScan {
        ClientScan {
            header: BytesMut::with_capacity(5),
            body_left: 0,
            held: None,
            unsynced: false,
            blind: false,
            lost_at: None,
        }
    }

    /// Cuts a chunk into what to forward and markers, counting requests into `shared`.
    fn scan(&mut self, chunk: Bytes, shared: &Shared, pieces: &mut Vec<Piece>) {
        if self.blind {
            pieces.push(Piece::Forward(chunk));
            return;
        }
        let mut forward_from = 0;
        let mut i = 0;
        while i < chunk.len() {
            if self.body_left > 0 {
                let n = self.body_left.min(chunk.len() - i);
                if let Some(held) = &mut self.held {
                    held.extend_from_slice(&chunk[i..i + n]);
                }
                i += n;
                self.body_left -= n;
                if self.body_left == 0
                    && let Some(held) = self.held.take()
                {
                    let held = held.freeze();
                    forward_from = i;
                    let is_idle = !self.unsynced
                        && shared.requests.load(Ordering::Acquire)
                            == shared.ready.load(Ordering::Acquire)
                        && shared.status.load(Ordering::Acquire) != b'E';
                    match sql::parse_marker(strip_nul(&held[5..])) {
                        Some(key) if is_idle => pieces.push(Piece::Marker(key)),
                        _ => {
                            shared.requests.fetch_add(1, Ordering::AcqRel);
                            pieces.push(Piece::Forward(held));
                        }
                    }
                }
                continue;
            }
            // A header: tag and length.
            let header_start = i;
            let had = self.header.len();
            let n = (5 - had).min(chunk.len() - i);
            self.header.extend_from_slice(&chunk[i..i + n]);
            i += n;
            if self.header.len() < 5 {
                // Forward up to the header; hold its first bytes for the next chunk.
                if header_start > forward_from {
                    pieces.push(Piece::Forward(chunk.slice(forward_from..header_start)));
                }
                forward_from = chunk.len();
                break;
            }
            let header = self.header.split().freeze();
            let tag = header[0];
            let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            if length < 4 {
                // The server will refuse this stream; stop looking into it.
                self.blind = true;
                self.lost_at = Some(length);
                if had > 0 {
                    pieces.push(Piece::Forward(header.slice(..had)));
                }
                pieces.push(Piece::Forward(
                    chunk.slice(forward_from.min(header_start)..),
                ));
                return;
            }
            self.body_left = length as usize - 4;
            match tag {
                b'S' => {
                    self.unsynced = false;
                    shared.requests.fetch_add(1, Ordering::AcqRel);
                }
                b'F' => {
                    shared.requests.fetch_add(1, Ordering::AcqRel);
                }
                b'Q' if self.body_left <= sql::MARKER_MAX_LEN + 1 => {
                    // Hold it whole: forward what came before, then decide at its end.
                    if header_start > forward_from {
                        pieces.push(Piece::Forward(chunk.slice(forward_from..header_start)));
                    }
                    let mut held = BytesMut::with_capacity(5 + self.body_left);
                    held.extend_from_slice(&header);
                    self.held = Some(held);
                    forward_from = i;
                    if self.body_left == 0 {
                        // An empty body cannot be a marker.
                        let held = self.held.take().map(BytesMut::freeze).unwrap_or_default();
                        shared.requests.fetch_add(1, Ordering::AcqRel);
                        pieces.push(Piece::Forward(held));
                    }
                    continue;
                }
                b'Q' => {
                    shared.requests.fetch_add(1, Ordering::AcqRel);
                }
                b'P' | b'B' | b'D' | b'E' | b'C' | b'H' => self.unsynced = true,
                _ => {}
            }
            if had > 0 {
                // The header began in the previous chunk: its first bytes go out now.
                pieces.push(Piece::Forward(header.slice(..had)));
            }
        }
        if self.held.is_none() && forward_from < chunk.len() {
            pieces.push(Piece::Forward(chunk.slice(forward_from..)));
        }
    }
}

fn strip_nul(body: &[u8]) -> &[u8] {
    body.strip_suffix(&[0]).unwrap_or(body)
}

async fn client_to_server(
    mut client: tokio::net::tcp::OwnedReadHalf,
    mut server: tokio::io::WriteHalf<Box<dyn Stream>>,
    recording: Arc<Recording>,
    shared: Arc<Shared>,
    inject: mpsc::UnboundedSender<Bytes>,
) -> std::io::Result<()> {
    let result = forward_client(&mut client, &mut server, &recording, &shared, &inject).await;
    // The server sees the client leave, however it left.
    let _ = server.shutdown().await;
    result
}

async fn forward_client(
    client: &mut tokio::net::tcp::OwnedReadHalf,
    server: &mut tokio::io::WriteHalf<Box<dyn Stream>>,
    recording: &Recording,
    shared: &Shared,
    inject: &mpsc::UnboundedSender<Bytes>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut scan = ClientScan::new();
    let mut pieces = Vec::new();
    loop {
        buf.reserve(READ_SIZE);
        if client.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        let chunk = buf.split().freeze();
        let now = SystemTime::now();
        scan.scan(chunk, shared, &mut pieces);
        if let Some(length) = scan.lost_at.take() {
            // PostgreSQL closes such a connection without a word; say why first.
            tracing::warn!(
                length,
                "postgres proxy: the client sent a message with an invalid length"
            );
            let _ = inject.send(fatal(
                "08P01",
                &format!(
                    "tusk drift proxy: the client sent a message with an invalid length ({length})"
                ),
            ));
        }
        for piece in pieces.drain(..) {
            match piece {
                Piece::Forward(bytes) => {
                    // To the recorder first: it must see the request before the answer.
                    recording.feed(Event::Client(bytes.clone(), now));
                    server.write_all(&bytes).await?;
                }
                Piece::Marker(key) => {
                    recording.feed(Event::Marker(key));
                    let mut answer = BytesMut::new();
                    crate::replay::marker_answer(
                        shared.status.load(Ordering::Acquire),
                        &mut answer,
                    );
                    let _ = inject.send(answer.freeze());
                }
            }
        }
    }
}

/// Where the server's stream stands: message boundaries (to inject the marker's answer
/// between messages) and `ReadyForQuery` statuses.
struct ServerScan {
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
    /// Inside a `ReadyForQuery` body: its status byte is next.
    in_ready: bool,
    /// An `ErrorResponse` came since the last `ReadyForQuery`: the statement it ends is
    /// complete only at the next `ReadyForQuery`, which gives its transaction status.
    error_open: bool,
    blind: bool,
}

impl ServerScan {
    /// Scans a chunk; returns the offset of the first message boundary at or after which
    /// an injection may go (`None`: the chunk ends inside a message).
    fn scan(&mut self, chunk: &[u8], shared: &Shared) -> Option<usize> {
        let mut last_boundary = if self.at_boundary() { Some(0) } else { None };
        let mut first_boundary = last_boundary;
        let mut i = 0;
        while i < chunk.len() && !self.blind {
            if self.body_left > 0 {
                if self.in_ready {
                    shared.status.store(chunk[i], Ordering::Release);
                    shared.ready.fetch_add(1, Ordering::AcqRel);
                    self.in_ready = false;
                }
                let n = self.body_left.min(chunk.len() - i);
                i += n;
                self.body_left -= n;
                if self.body_left == 0 {
                    last_boundary = Some(i);
                    first_boundary.get_or_insert(i);
                }
                continue;
            }
            let n = (5 - self.header_len).min(chunk.len() - i);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&chunk[i..i + n]);
            self.header_len += n;
            i += n;
            if self.header_len < 5 {
                break;
            }
            self.header_len = 0;
            let length = i32::from_be_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]);
            if length < 4 {
                self.blind = true;
                break;
            }
            self.body_left = length as usize - 4;
            self.in_ready = self.header[0] == b'Z' && self.body_left == 1;
            match self.header[0] {
                b'E' => self.error_open = true,
                b'Z' => self.error_open = false,
                _ => {}
            }
            if self.body_left == 0 {
                last_boundary = Some(i);
                first_boundary.get_or_insert(i);
            }
        }
        let _ = last_boundary;
        first_boundary
    }

    fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.body_left == 0 && !self.blind
    }
}

async fn server_to_client(
    mut server: tokio::io::ReadHalf<Box<dyn Stream>>,
    mut client: tokio::net::tcp::OwnedWriteHalf,
    recording: Arc<Recording>,
    shared: Arc<Shared>,
    mut inject: mpsc::UnboundedReceiver<Bytes>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut scan = ServerScan {
        header: [0; 5],
        header_len: 0,
        body_left: 0,
        in_ready: false,
        error_open: false,
        blind: false,
    };
    let mut waiting: Vec<Bytes> = Vec::new();
    // Server bytes held back from the client: an error whose `ReadyForQuery` has not come.
    let mut held = BytesMut::new();
    let mut inject_open = true;
    loop {
        tokio::select! {
            biased;
            answer = inject.recv(), if inject_open => {
                let Some(answer) = answer else {
                    inject_open = false;
                    continue;
                };
                if scan.at_boundary() {
                    client.write_all(&answer).await?;
                } else {
                    waiting.push(answer);
                }
            }
            read = server.read_buf(&mut buf) => {
                let n = match read {
                    Ok(n) => n,
                    Err(error) => {
                        let _ = client.write_all(&held).await;
                        server_gone(&mut client, &scan, &shared).await;
                        return Err(error);
                    }
                };
                if n == 0 {
                    let _ = client.write_all(&held).await;
                    server_gone(&mut client, &scan, &shared).await;
                    return Ok(());
                }
                let chunk = buf.split().freeze();
                // Recorded before the client gets it: its statements are in the sink first.
                recording.feed(Event::Server(chunk.clone(), SystemTime::now()));
                let boundary = scan.scan(&chunk, &shared);
                // An error answers a request whose `Sync` (or `Query`) the server has already
                // read; its `ReadyForQuery` follows at once. The client gets the error with
                // it, so that the failed statement is recorded, status and all, before the
                // application can see the error and end its request. Without a `Sync`
                // outstanding the error goes on at once (the client may wait for it before
                // it sends one).
                let outstanding = shared.requests.load(Ordering::Acquire)
                    > shared.ready.load(Ordering::Acquire);
                if scan.error_open && outstanding {
                    held.extend_from_slice(&chunk);
                    buf.reserve(READ_SIZE);
                    continue;
                }
                if !held.is_empty() {
                    client.write_all(&held).await?;
                    held.clear();
                }
                match (waiting.is_empty(), boundary) {
                    (false, Some(at)) => {
                        client.write_all(&chunk[..at]).await?;
                        for answer in waiting.drain(..) {
                            client.write_all(&answer).await?;
                        }
                        client.write_all(&chunk[at..]).await?;
                    }
                    _ => client.write_all(&chunk).await?,
                }
                buf.reserve(READ_SIZE);
            }
        }
    }
}

/// The real server closed the connection: tell the client if it was waiting for an answer.
async fn server_gone(
    client: &mut tokio::net::tcp::OwnedWriteHalf,
    scan: &ServerScan,
    shared: &Shared,
) {
    let outstanding =
        shared.requests.load(Ordering::Acquire) != shared.ready.load(Ordering::Acquire);
    if outstanding && scan.at_boundary() {
        let _ = client
            .write_all(&fatal(
                "08006",
                "tusk drift proxy: the database closed the connection",
            ))
            .await;
    }
    let _ = client.shutdown().await;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What the scan makes of a stream: the bytes forwarded and, at their offsets, the
    /// markers answered locally.
    fn scan_all(chunks: &[Bytes]) -> (Vec<u8>, Vec<(usize, u64)>) {
        let shared = Shared {
            requests: AtomicU64::new(1),
            ready: AtomicU64::new(1),
            status: AtomicU8::new(b'I'),
        };
        let mut scan = ClientScan::new();
        let mut forwarded = Vec::new();
        let mut markers = Vec::new();
        let mut pieces = Vec::new();
        for chunk in chunks {
            scan.scan(chunk.clone(), &shared, &mut pieces);
            for piece in pieces.drain(..) {
                match piece {
                    Piece::Forward(bytes) => forwarded.extend_from_slice(&bytes),
                    Piece::Marker(key) => markers.push((forwarded.len(), key)),
                }
            }
        }
        (forwarded, markers)
    }

    fn message() -> impl Strategy<Value = Frontend> {
        prop_oneof![
            any::<u64>().prop_map(|key| Frontend::Query(Bytes::from(sql::marker(key)))),
            "[a-z ]{0,10}".prop_map(|text| Frontend::Query(Bytes::from(text))),
            "[a-z ]{200,300}".prop_map(|text| Frontend::Query(Bytes::from(text))),
            Just(Frontend::Sync),
            Just(Frontend::Flush),
        ]
    }

    proptest! {
        #[test]
        fn markers_are_found_whatever_the_chunking(
            messages in proptest::collection::vec(message(), 0..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut stream = BytesMut::new();
            for message in &messages {
                message.encode(&mut stream).unwrap();
            }
            let stream = stream.freeze();
            let whole = scan_all(std::slice::from_ref(&stream));
            let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (stream.len() + 1)).collect();
            points.extend([0, stream.len()]);
            points.sort_unstable();
            points.dedup();
            let chunks: Vec<Bytes> = points.windows(2).map(|w| stream.slice(w[0]..w[1])).collect();
            prop_assert_eq!(scan_all(&chunks), whole.clone());
            // Only a leading run of markers, while idle, is answered locally; the rest is
            // forwarded byte for byte.
            let local: Vec<u64> = messages
                .iter()
                .map_while(|message| match message {
                    Frontend::Query(query) => sql::parse_marker(query),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(whole.1.iter().map(|(_, key)| *key).collect::<Vec<_>>(), local.clone());
            let mut expected = BytesMut::new();
            for message in &messages[local.len()..] {
                message.encode(&mut expected).unwrap();
            }
            prop_assert_eq!(whole.0, expected.to_vec());
        }
    }
}
