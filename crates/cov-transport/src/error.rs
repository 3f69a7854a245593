//! The errors of this crate: each names the endpoint and the cause.

use std::io;
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

/// Everything that can go wrong on the coverage channel, on either end: connecting, the
/// handshake, framing, writing. Every variant but [`TransportError::InvalidEndpoint`] names
/// the endpoint. What only the CLI side can meet (binding, accepting, correlating replies) is
/// `cov-driver`'s `ChannelError`, which wraps this type.
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
}

impl TransportError {
    /// [`TransportError::Frame`] with `endpoint`.
    pub fn frame(endpoint: &Endpoint, source: FrameError) -> Self {
        TransportError::Frame {
            endpoint: endpoint.clone(),
            source,
        }
    }

    /// [`TransportError::Closed`] with `endpoint`.
    pub fn closed(endpoint: &Endpoint) -> Self {
        TransportError::Closed {
            endpoint: endpoint.clone(),
        }
    }
}
