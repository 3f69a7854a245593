//! The SDK side: connect to the CLI, complete the handshake, then receive [`CliMessage`]s
//! and send [`SdkMessage`]s.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use cov_proto::{
    CliMessage, ConnectRequest, ConnectResponse, MessageType, SdkMessage, cli_message, sdk_message,
};
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_util::codec::FramedRead;

use crate::endpoint::Endpoint;
use crate::error::TransportError;
use crate::frame::{DEFAULT_MAX_FRAME_LEN, SdkCodec, describe_type};
use crate::writer::{BoxWrite, FrameSender};

/// Timeouts and limits of the SDK side. Build with [`SdkOptions::default`] and the setters.
#[derive(Clone, Debug)]
pub struct SdkOptions {
    connect_timeout: Duration,
    handshake_timeout: Duration,
    write_timeout: Duration,
    max_frame_len: usize,
}

impl Default for SdkOptions {
    /// Connect within 5 s (the Python SDK's default), handshake within 10 s (the CLI's
    /// own wait), writes within 10 s, frames up to 10 MiB.
    fn default() -> Self {
        SdkOptions {
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

impl SdkOptions {
    /// How long opening the socket may take.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long sending the `ConnectRequest` and receiving the `ConnectResponse` may take.
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long writing one frame may take before the connection is given up.
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.write_timeout = timeout;
        self
    }

    /// The largest frame payload sent or received (default 10 MiB, the CLI's limit).
    pub fn max_frame_len(&mut self, max_frame_len: usize) -> &mut Self {
        self.max_frame_len = max_frame_len;
        self
    }
}

/// Connects to the CLI at `endpoint` and completes the handshake.
///
/// Sends `SDKMessage { type: SDK_CONNECT, request_id, connect_request: request }` and waits
/// for the CLI's `ConnectResponse`; `success = false` is [`TransportError::Rejected`] with
/// the CLI's text. The first frame the CLI sends must carry the `ConnectResponse`, as in
/// the Python SDK. Must be called inside a tokio runtime (the writer is a task on it).
pub async fn connect(
    endpoint: &Endpoint,
    request: ConnectRequest,
    options: &SdkOptions,
) -> Result<SdkConnection, TransportError> {
    match endpoint {
        Endpoint::Unix(path) => {
            let connecting = tokio::net::UnixStream::connect(path);
            let stream = within_connect_timeout(endpoint, options, connecting).await?;
            let (read_half, write_half) = stream.into_split();
            let (read_half, write_half) = (Box::new(read_half), Box::new(write_half));
            handshake_halves(read_half, write_half, endpoint.clone(), request, options).await
        }
        Endpoint::Tcp { host, port } => {
            let connecting = tokio::net::TcpStream::connect((host.as_str(), *port));
            let stream = within_connect_timeout(endpoint, options, connecting).await?;
            // Frames are small request/reply pairs: do not wait to coalesce them.
            let _ = stream.set_nodelay(true);
            let (read_half, write_half) = stream.into_split();
            let (read_half, write_half) = (Box::new(read_half), Box::new(write_half));
            handshake_halves(read_half, write_half, endpoint.clone(), request, options).await
        }
    }
}

async fn within_connect_timeout<S>(
    endpoint: &Endpoint,
    options: &SdkOptions,
    connecting: impl Future<Output = std::io::Result<S>>,
) -> Result<S, TransportError> {
    let timeout = options.connect_timeout;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(source)) => Err(TransportError::Connect {
            endpoint: endpoint.clone(),
            source,
        }),
        Err(_elapsed) => Err(TransportError::ConnectTimeout {
            endpoint: endpoint.clone(),
            timeout,
        }),
    }
}

/// Completes the SDK side of the handshake over an already connected `stream`.
///
/// [`connect`] uses this after opening the socket; tests and unusual transports can call
/// it with any byte stream (`endpoint` only names the peer in errors).
pub async fn handshake<S>(
    stream: S,
    endpoint: Endpoint,
    request: ConnectRequest,
    options: &SdkOptions,
) -> Result<SdkConnection, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    handshake_halves(
        Box::new(read_half),
        Box::new(write_half),
        endpoint,
        request,
        options,
    )
    .await
}

/// [`handshake`] over the two halves of a connection: a socket's own halves, which the
/// reader and the senders use without sharing a lock.
async fn handshake_halves(
    read_half: Box<dyn AsyncRead + Send + Unpin>,
    write_half: BoxWrite,
    endpoint: Endpoint,
    request: ConnectRequest,
    options: &SdkOptions,
) -> Result<SdkConnection, TransportError> {
    let (ended, shutdown) = watch::channel(false);
    let sender = SdkSender {
        frames: FrameSender::spawn(
            write_half,
            endpoint.clone(),
            options.max_frame_len,
            options.write_timeout,
            shutdown,
        ),
    };
    let mut receiver = CliReceiver {
        frames: FramedRead::new(
            read_half,
            SdkCodec::with_max_frame_len(options.max_frame_len),
        ),
        endpoint: endpoint.clone(),
        ended,
    };
    let request_id = new_request_id();
    let hello = SdkMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: request_id.clone(),
        payload: Some(sdk_message::Payload::ConnectRequest(request)),
    };
    let timeout = options.handshake_timeout;
    let exchange = async {
        sender.send(hello).await?;
        receiver.recv().await
    };
    let reply = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(Some(reply))) => reply,
        Ok(Ok(None)) => return Err(TransportError::closed(&endpoint)),
        Ok(Err(error)) => return Err(error),
        Err(_elapsed) => return Err(TransportError::HandshakeTimeout { endpoint, timeout }),
    };
    let response = match reply.payload {
        Some(cli_message::Payload::ConnectResponse(response)) => response,
        _ => {
            return Err(TransportError::Handshake {
                endpoint,
                detail: format!(
                    "expected a ConnectResponse, got a message of type {} without one",
                    describe_type(reply.r#type)
                ),
            });
        }
    };
    if reply.request_id != request_id {
        // The Python SDK does not check it either; the CLI always echoes it.
        tracing::debug!(
            sent = %request_id,
            received = %reply.request_id,
            "the CLI answered the handshake with another request id"
        );
    }
    if !response.success {
        let message = if response.error.is_empty() {
            "Unknown error".to_owned()
        } else {
            response.error.clone()
        };
        return Err(TransportError::Rejected { endpoint, message });
    }
    tracing::debug!(%endpoint, "connected to the Tusk CLI");
    Ok(SdkConnection {
        sender,
        receiver,
        response,
    })
}

/// A connection to the CLI whose handshake succeeded.
#[derive(Debug)]
pub struct SdkConnection {
    sender: SdkSender,
    receiver: CliReceiver,
    response: ConnectResponse,
}

impl SdkConnection {
    /// The CLI.
    pub fn endpoint(&self) -> &Endpoint {
        self.sender.endpoint()
    }

    /// The largest frame payload this connection sends: the options' `max_frame_len`,
    /// capped at `u32::MAX`. A reply longer than this is refused by the sender.
    pub fn max_frame_len(&self) -> usize {
        self.sender.frames.max_frame_len()
    }

    /// The CLI's answer to the handshake (always `success = true` here).
    pub fn connect_response(&self) -> &ConnectResponse {
        &self.response
    }

    /// A sender of [`SdkMessage`]s; clone it freely.
    pub fn sender(&self) -> &SdkSender {
        &self.sender
    }

    /// Receives the next message from the CLI; see [`CliReceiver::recv`].
    pub async fn recv(&mut self) -> Result<Option<CliMessage>, TransportError> {
        self.receiver.recv().await
    }

    /// The two directions, to be used from different tasks.
    pub fn into_split(self) -> (SdkSender, CliReceiver) {
        (self.sender, self.receiver)
    }
}

/// Sends [`SdkMessage`]s to the CLI through the connection's single writer task.
///
/// Clones share the writer, so frames never interleave. The connection's write half is
/// closed (the CLI sees end of stream) when the last clone and the [`SdkConnection`] are
/// dropped, or after a failed write.
#[derive(Clone, Debug)]
pub struct SdkSender {
    frames: FrameSender,
}

impl SdkSender {
    /// Sends `message` and waits until it is written.
    ///
    /// A message longer than the maximum frame length is refused at once with
    /// [`FrameError::TooLarge`](crate::FrameError::TooLarge) (the CLI would silently drop
    /// it) and the connection stays usable. A write that does not finish within the write
    /// timeout is [`TransportError::WriteTimeout`] and closes the connection; later sends
    /// are [`TransportError::Closed`].
    pub async fn send(&self, message: SdkMessage) -> Result<(), TransportError> {
        self.frames.send(&message).await
    }

    /// The CLI.
    pub fn endpoint(&self) -> &Endpoint {
        self.frames.endpoint()
    }

    /// Whether the writer has stopped: after a failed write, or once the receiver saw the
    /// CLI's stream end. Sends then fail with [`TransportError::Closed`]; the SDK should
    /// drop the connection and, if it wants, connect again.
    pub fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }
}

/// Receives [`CliMessage`]s from the CLI.
pub struct CliReceiver {
    frames: FramedRead<Box<dyn AsyncRead + Send + Unpin>, SdkCodec>,
    endpoint: Endpoint,
    /// Set when the CLI's stream ended or broke: the writer then closes the connection.
    ended: watch::Sender<bool>,
}

impl std::fmt::Debug for CliReceiver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CliReceiver")
            .field("endpoint", &self.endpoint)
            .field("codec", self.frames.decoder())
            .finish_non_exhaustive()
    }
}

impl CliReceiver {
    /// The next message from the CLI; `Ok(None)` when the CLI closed the connection at a
    /// frame boundary.
    ///
    /// Frames that do not decode and frames over the maximum length are skipped, as the
    /// Tusk CLI does; messages of unknown type are returned as they are (dispatch on
    /// `type`/`payload` and ignore what you do not handle). A close in the middle of a
    /// frame and I/O errors are errors, after which the receiver returns `Ok(None)`.
    /// Once the stream ended or broke, the connection's writer stops too and the socket is
    /// closed, as the Tusk CLI closes a connection it cannot read; sends then fail with
    /// [`TransportError::Closed`].
    /// Cancel-safe: usable in `tokio::select!` without losing messages.
    pub async fn recv(&mut self) -> Result<Option<CliMessage>, TransportError> {
        if *self.ended.borrow() {
            return Ok(None);
        }
        let next = self.frames.next().await;
        if !matches!(next, Some(Ok(_))) {
            self.ended.send_replace(true);
        }
        match next {
            Some(Ok(message)) => Ok(Some(message)),
            Some(Err(source)) => Err(TransportError::frame(&self.endpoint, source)),
            None => Ok(None),
        }
    }

    /// The CLI.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The messages as a [`Stream`](futures_util::Stream): each [`CliReceiver::recv`]
    /// result until the connection ends (`Ok(None)`), an error being the last item.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<CliMessage, TransportError>> + Send {
        futures_util::stream::unfold(Some(self), |receiver| async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Ok(Some(message)) => Some((Ok(message), Some(receiver))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }

    /// How many incoming frames were skipped, and why.
    pub fn skipped_frames(&self) -> SkippedFrames {
        let codec = self.frames.decoder();
        SkippedFrames {
            oversized: codec.frames().skipped_oversized(),
            undecodable: codec.skipped_undecodable(),
        }
    }
}

/// The incoming frames a receiver skipped, as the Tusk CLI skips them: the connection stays
/// open and the next frame is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkippedFrames {
    /// Frames announcing more than the maximum frame length (their bytes were dropped as
    /// they arrived).
    pub oversized: u64,
    /// Frames that were not a valid `CLIMessage`.
    pub undecodable: u64,
}

/// A fresh request id: 12 hex digits, like the Python SDK's `secrets.token_hex(6)`.
pub(crate) fn new_request_id() -> String {
    // `RandomState` is seeded randomly per instance, so hashing nothing yields a random u64.
    let random = RandomState::new().hash_one(std::process::id());
    format!("{:012x}", random & 0xffff_ffff_ffff)
}
