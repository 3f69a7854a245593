//! The single writer of a connection: one task owns the write half, so frames never
//! interleave, and every write has a deadline.
//!
//! Both ends of the channel use it: the SDK side ([`crate::sdk`]) and the CLI side, which
//! lives in the `cov-driver` crate. [`FrameSender::spawn`] starts the task on the current
//! tokio runtime and returns a cloneable handle; the task stops, closing the write half,
//! when every handle is gone, after a failed write, or when the reading side signals that
//! the peer's stream ended.

use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::FramedWrite;

use crate::endpoint::Endpoint;
use crate::error::TransportError;
use crate::frame::{FrameCodec, check_frame_len, encode_message};

/// How many frames may wait for the writer before senders wait too.
pub const WRITE_QUEUE_LEN: usize = 16;

/// The write half of a connection, boxed: a socket's or an in-memory stream's.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

struct WriteRequest {
    payload: Bytes,
    done: oneshot::Sender<Result<(), TransportError>>,
}

/// The cloneable handle of a connection's writer task.
#[derive(Clone, Debug)]
pub struct FrameSender {
    queue: mpsc::Sender<WriteRequest>,
    endpoint: Endpoint,
    max_frame_len: usize,
}

impl std::fmt::Debug for WriteRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WriteRequest")
            .field("len", &self.payload.len())
            .finish()
    }
}

impl FrameSender {
    /// The largest payload this writer sends (capped at `u32::MAX` by the codec).
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Starts the writer task on the current tokio runtime. It stops, closing the write
    /// half, when every `FrameSender` is gone, after a failed write, or when `shutdown`
    /// becomes `true` (the reading side saw the connection end).
    pub fn spawn(
        write_half: BoxWrite,
        endpoint: Endpoint,
        max_frame_len: usize,
        write_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (queue, requests) = mpsc::channel(WRITE_QUEUE_LEN);
        let codec = FrameCodec::with_max_frame_len(max_frame_len);
        let max_frame_len = codec.max_frame_len();
        let sink = FramedWrite::new(write_half, codec);
        tokio::spawn(run_writer(
            sink,
            requests,
            shutdown,
            endpoint.clone(),
            write_timeout,
        ));
        FrameSender {
            queue,
            endpoint,
            max_frame_len,
        }
    }

    /// The peer.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Encodes `message`, refusing an oversized one at once, and waits until the writer
    /// has written it (or failed to).
    pub async fn send(&self, message: &impl cov_proto::Message) -> Result<(), TransportError> {
        let payload = encode_message(message, self.max_frame_len)
            .map_err(|source| TransportError::frame(&self.endpoint, source))?;
        self.send_payload(payload).await
    }

    /// Sends an already encoded payload as one frame, valid protobuf or not (hostile-peer
    /// tests use this); a payload over the maximum frame length is refused at once and the
    /// connection stays usable.
    pub async fn send_payload(&self, payload: Bytes) -> Result<(), TransportError> {
        // Refused here, not by the writer's encoder: a refused frame must not close the
        // connection.
        check_frame_len(payload.len(), self.max_frame_len)
            .map_err(|source| TransportError::frame(&self.endpoint, source))?;
        let (done, written) = oneshot::channel();
        self.queue
            .send(WriteRequest { payload, done })
            .await
            .map_err(|_| TransportError::closed(&self.endpoint))?;
        written
            .await
            .unwrap_or_else(|_| Err(TransportError::closed(&self.endpoint)))
    }

    /// Whether the writer task has stopped.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

async fn run_writer(
    mut sink: FramedWrite<BoxWrite, FrameCodec>,
    mut requests: mpsc::Receiver<WriteRequest>,
    mut shutdown: watch::Receiver<bool>,
    endpoint: Endpoint,
    write_timeout: Duration,
) {
    let shut_down = async move {
        // A dropped signal sender is no shutdown request: keep writing.
        if shutdown.wait_for(|shut_down| *shut_down).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(shut_down);
    loop {
        let request = tokio::select! {
            biased;
            () = &mut shut_down => break,
            request = requests.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        let result = match tokio::time::timeout(write_timeout, sink.send(request.payload)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(TransportError::frame(&endpoint, source)),
            Err(_elapsed) => Err(TransportError::WriteTimeout {
                endpoint: endpoint.clone(),
                timeout: write_timeout,
            }),
        };
        let failed = result.is_err();
        if let Err(error) = &result {
            tracing::warn!(%error, "closing the coverage channel after a failed write");
        }
        // The sender may have given up waiting; the result is then only logged above.
        let _ = request.done.send(result);
        if failed {
            // A partly written frame cannot be taken back: the stream is unusable.
            break;
        }
    }
    // Fail the frames still queued, then tell the peer we are done writing.
    drop(requests);
    let _ = tokio::time::timeout(write_timeout, sink.close()).await;
}
