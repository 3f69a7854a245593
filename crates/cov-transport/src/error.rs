//! The errors of this crate: each names the endpoint and the cause.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::endpoint::Endpoint;

/// A framing error, found by [`FrameCodec`](crate::frame::FrameCodec) before any endpoint is
/// known. [`TransportError::Frame`] wraps it with the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reading or writing the underlying stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A frame to send is larger than the maximum frame length. The Tusk CLI silently
    /// drops such frames from an SDK, so they are refused here instead.
    #[error(
        "refusing to send a frame of {len} bytes: the maximum frame length is {max} bytes (the Tusk CLI drops larger frames)"
    )]
    TooLarge {
        /// Length of the encoded message.
        len: usize,
        /// The configured maximum frame length.
        max: usize,
    },
    /// The peer closed the stream in the middle of a frame.
    #[error(
        "the peer closed the connection in the middle of a frame ({})",
        describe_partial(*header_bytes, *expected_len, *received_len)
    )]
    ClosedMidFrame {
        /// How many of the 4 length bytes had arrived (4 once the length is known).
        header_bytes: usize,
        /// The announced payload length, once the 4 length bytes arrived.
        expected_len: Option<u64>,
        /// How many payload bytes had arrived.
        received_len: u64,
    },
}

fn describe_partial(header_bytes: usize, expected_len: Option<u64>, received_len: u64) -> String {
    match expected_len {
        Some(expected_len) => format!("{received_len} of {expected_len} payload bytes received"),
        None => format!("{header_bytes} of 4 length bytes received"),
    }
}

/// Everything that can go wrong on the coverage channel. Every variant names the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The Tusk environment variables do not describe an endpoint.
    #[error("invalid coverage channel endpoint: {detail}")]
    InvalidEndpoint {
        /// What is wrong.
        detail: String,
    },
    /// Connecting to the CLI failed.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// Where the SDK tried to connect.
        endpoint: Endpoint,
        /// The cause.
        source: io::Error,
    },
    /// Connecting to the CLI did not finish in time.
    #[error("timed out after {timeout:?} connecting to {endpoint}")]
    ConnectTimeout {
        /// Where the SDK tried to connect.
        endpoint: Endpoint,
        /// The connect timeout.
        timeout: Duration,
    },
    /// Listening on the endpoint failed.
    #[error("cannot listen on {endpoint}: {source}")]
    Bind {
        /// Where the CLI side tried to listen.
        endpoint: Endpoint,
        /// The cause.
        source: io::Error,
    },
    /// The unix socket path exists and is not a socket, so it is not replaced.
    #[error("cannot listen on unix socket {}: the path exists and is not a socket", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Another process is listening on the unix socket path, so it is not replaced.
    #[error("cannot listen on unix socket {}: another process is listening there", path.display())]
    SocketInUse {
        /// The path.
        path: PathBuf,
    },
    /// Accepting a connection failed.
    #[error("cannot accept a connection on {endpoint}: {source}")]
    Accept {
        /// Where the CLI side listens.
        endpoint: Endpoint,
        /// The cause.
        source: io::Error,
    },
    /// No SDK connected and completed the handshake in time (CLI side).
    #[error("no SDK connected to {endpoint} and completed the handshake within {timeout:?}")]
    AcceptTimeout {
        /// Where the CLI side listens.
        endpoint: Endpoint,
        /// The accept timeout.
        timeout: Duration,
    },
    /// The handshake did not complete in time.
    #[error("timed out after {timeout:?} waiting for the handshake on {endpoint}")]
    HandshakeTimeout {
        /// The peer.
        endpoint: Endpoint,
        /// The handshake timeout.
        timeout: Duration,
    },
    /// The CLI answered the handshake with `success = false`; `message` is its text.
    #[error("the CLI at {endpoint} rejected the connection: {message}")]
    Rejected {
        /// The CLI.
        endpoint: Endpoint,
        /// The CLI's `ConnectResponse.error`.
        message: String,
    },
    /// The peer sent something the handshake does not allow.
    #[error("handshake with {endpoint} failed: {detail}")]
    Handshake {
        /// The peer.
        endpoint: Endpoint,
        /// What was wrong.
        detail: String,
    },
    /// Reading or writing a frame failed, or the peer broke the framing.
    #[error("coverage channel to {endpoint}: {source}")]
    Frame {
        /// The peer.
        endpoint: Endpoint,
        /// The cause.
        source: FrameError,
    },
    /// The connection is closed (by the peer, or after an earlier write failure).
    #[error("the coverage channel to {endpoint} is closed")]
    Closed {
        /// The peer.
        endpoint: Endpoint,
    },
    /// A frame could not be written in time: the peer is not reading. The connection is
    /// closed afterwards, since a partly written frame cannot be taken back.
    #[error("timed out after {timeout:?} writing to {endpoint}: the peer is not reading")]
    WriteTimeout {
        /// The peer.
        endpoint: Endpoint,
        /// The write timeout.
        timeout: Duration,
    },
    /// No reply to a request arrived in time (CLI side).
    #[error("no reply from {endpoint} to request {request_id:?} within {timeout:?}")]
    RequestTimeout {
        /// The SDK.
        endpoint: Endpoint,
        /// The request's id.
        request_id: String,
        /// The request timeout.
        timeout: Duration,
    },
    /// A request's id is empty or already in flight (CLI side).
    #[error("cannot send request {request_id:?} to {endpoint}: {detail}")]
    BadRequestId {
        /// The SDK.
        endpoint: Endpoint,
        /// The offending id.
        request_id: String,
        /// Why it cannot be used.
        detail: &'static str,
    },
    /// The reply to a request is not of the expected kind (CLI side).
    #[error("unexpected reply from {endpoint} to request {request_id:?}: {detail}")]
    UnexpectedReply {
        /// The SDK.
        endpoint: Endpoint,
        /// The request's id.
        request_id: String,
        /// What was wrong.
        detail: String,
    },
    /// The SDK answered a coverage snapshot request with `success = false` (CLI side); the
    /// message reads like the Tusk CLI's log line.
    #[error("SDK coverage snapshot failed: {message} (from {endpoint})")]
    SnapshotFailed {
        /// The SDK.
        endpoint: Endpoint,
        /// The SDK's `CoverageSnapshotResponse.error`.
        message: String,
    },
}

impl TransportError {
    pub(crate) fn frame(endpoint: &Endpoint, source: FrameError) -> Self {
        TransportError::Frame {
            endpoint: endpoint.clone(),
            source,
        }
    }

    pub(crate) fn closed(endpoint: &Endpoint) -> Self {
        TransportError::Closed {
            endpoint: endpoint.clone(),
        }
    }
}
