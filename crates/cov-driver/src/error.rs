//! The errors of the CLI side of the channel: each names the endpoint and the cause.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use cov_transport::{Endpoint, TransportError};

/// Everything that can go wrong on the CLI side of the coverage channel: what either end
/// can meet ([`TransportError`]: the handshake, framing, writing, a closed connection) and
/// what only a listener can (binding, accepting, correlating replies with requests).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The handshake, the framing or a write failed, or the connection is closed.
    #[error(transparent)]
    Transport(#[from] TransportError),
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
    /// No SDK connected and completed the handshake in time.
    #[error("no SDK connected to {endpoint} and completed the handshake within {timeout:?}")]
    AcceptTimeout {
        /// Where the CLI side listens.
        endpoint: Endpoint,
        /// The accept timeout.
        timeout: Duration,
    },
    /// No reply to a request arrived in time.
    #[error("no reply from {endpoint} to request {request_id:?} within {timeout:?}")]
    RequestTimeout {
        /// The SDK.
        endpoint: Endpoint,
        /// The request's id.
        request_id: String,
        /// The request timeout.
        timeout: Duration,
    },
    /// A request's id is empty or already in flight.
    #[error("cannot send request {request_id:?} to {endpoint}: {detail}")]
    BadRequestId {
        /// The SDK.
        endpoint: Endpoint,
        /// The offending id.
        request_id: String,
        /// Why it cannot be used.
        detail: &'static str,
    },
    /// The reply to a request is not of the expected kind.
    #[error("unexpected reply from {endpoint} to request {request_id:?}: {detail}")]
    UnexpectedReply {
        /// The SDK.
        endpoint: Endpoint,
        /// The request's id.
        request_id: String,
        /// What was wrong.
        detail: String,
    },
    /// The SDK answered a coverage snapshot request with `success = false`; the message
    /// reads like the Tusk CLI's log line.
    #[error("SDK coverage snapshot failed: {message} (from {endpoint})")]
    SnapshotFailed {
        /// The SDK.
        endpoint: Endpoint,
        /// The SDK's `CoverageSnapshotResponse.error`.
        message: String,
    },
}

impl ChannelError {
    pub(crate) fn closed(endpoint: &Endpoint) -> Self {
        ChannelError::Transport(TransportError::closed(endpoint))
    }
}
