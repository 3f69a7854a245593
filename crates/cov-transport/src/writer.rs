//! The single writer of a connection: frames never interleave, and every wait for the
//! peer to take bytes has a deadline.
//!
//! Both ends of the channel use it: the SDK side ([`crate::sdk`]) and the CLI side, which
//! lives in the `cov-driver` crate. [`FrameSender::spawn`] starts the writer task on the
//! current tokio runtime and returns a cloneable handle. A sender writes its frame itself,
//! on its own thread, when nobody else is writing and the connection takes the whole frame
//! at once (the common case: frames are small and the peer reads them as they come); the
//! task, which owns the deadline, writes the frames that find the connection busy and
//! finishes a frame the connection took only part of. Either way the bytes go through the
//! one buffer behind one lock, in order. A request handed to the SDK thread would cost a
//! thread wake-up per frame (the mock request of a replayed outbound call is on the
//! application's path). The task stops, closing the write half, when every handle is gone,
//! after a failed write, or when the reading side signals that the peer's stream ended.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use tokio::io::AsyncWrite;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio_util::codec::FramedWrite;

use crate::endpoint::Endpoint;
use crate::error::TransportError;
use crate::frame::{FrameCodec, check_frame_len, encode_message};

/// How many frames may wait for the writer task before senders wait too.
pub const WRITE_QUEUE_LEN: usize = 16;

/// The write half of a connection, boxed: a socket's or an in-memory stream's.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// The write half, its buffer, and whether it is still usable; behind the one lock.
struct Writer {
    frames: FramedWrite<BoxWrite, FrameCodec>,
    /// A write failed (a partly written frame cannot be taken back) or the writer task
    /// stopped: nothing more is written.
    closed: bool,
}

/// A frame for the writer task.
struct WriteRequest {
    /// The frame; `None` to finish writing the bytes a sender left in the buffer.
    payload: Option<Bytes>,
    done: oneshot::Sender<Result<(), TransportError>>,
}

/// What became of a sender's attempt to write its frame itself.
enum WrittenNow {
    /// The connection took the whole frame.
    Written,
    /// The frame is in the buffer, not all of it written yet: the task finishes it.
    Buffered,
    /// Someone else is writing, or the connection takes nothing now: the task writes it.
    Busy(Bytes),
    /// The connection is closed or broke.
    Failed(TransportError),
}

/// The cloneable handle of a connection's writer.
#[derive(Clone)]
pub struct FrameSender {
    queue: mpsc::Sender<WriteRequest>,
    writer: Arc<Mutex<Writer>>,
    endpoint: Endpoint,
    max_frame_len: usize,
}

impl std::fmt::Debug for FrameSender {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FrameSender")
            .field("endpoint", &self.endpoint)
            .field("max_frame_len", &self.max_frame_len)
            .finish_non_exhaustive()
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
        let writer = Arc::new(Mutex::new(Writer {
            frames: FramedWrite::new(write_half, codec),
            closed: false,
        }));
        tokio::spawn(run_writer(
            Arc::clone(&writer),
            requests,
            shutdown,
            endpoint.clone(),
            write_timeout,
        ));
        FrameSender {
            queue,
            writer,
            endpoint,
            max_frame_len,
        }
    }

    /// The peer.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Encodes `message`, refusing an oversized one at once, and waits until it is written
    /// (or failed to be).
    pub async fn send(&self, message: &impl cov_proto::Message) -> Result<(), TransportError> {
        let payload = encode_message(message, self.max_frame_len)
            .map_err(|source| TransportError::frame(&self.endpoint, source))?;
        self.send_payload(payload).await
    }

    /// Sends an already encoded payload as one frame, valid protobuf or not (hostile-peer
    /// tests use this); a payload over the maximum frame length is refused at once and the
    /// connection stays usable.
    pub async fn send_payload(&self, payload: Bytes) -> Result<(), TransportError> {
        // Refused here, not by the encoder: a refused frame must not close the connection.
        check_frame_len(payload.len(), self.max_frame_len)
            .map_err(|source| TransportError::frame(&self.endpoint, source))?;
        let payload = match self.write_now(payload) {
            WrittenNow::Written => return Ok(()),
            WrittenNow::Failed(error) => return Err(error),
            WrittenNow::Buffered => None,
            WrittenNow::Busy(payload) => Some(payload),
        };
        let (done, written) = oneshot::channel();
        self.queue
            .send(WriteRequest { payload, done })
            .await
            .map_err(|_| TransportError::closed(&self.endpoint))?;
        written
            .await
            .unwrap_or_else(|_| Err(TransportError::closed(&self.endpoint)))
    }

    /// Writes `payload` on the caller's thread if nobody else is writing, without waiting:
    /// the connection is polled once, with a waker that does nothing (the task, which
    /// waits with a deadline, takes over whatever the connection does not take now).
    fn write_now(&self, payload: Bytes) -> WrittenNow {
        let Ok(mut writer) = self.writer.try_lock() else {
            return WrittenNow::Busy(payload);
        };
        if writer.closed {
            return WrittenNow::Failed(TransportError::closed(&self.endpoint));
        }
        let mut context = Context::from_waker(Waker::noop());
        let mut frames = Pin::new(&mut writer.frames);
        let written = match frames.as_mut().poll_ready(&mut context) {
            Poll::Pending => return WrittenNow::Busy(payload),
            Poll::Ready(Ok(())) => frames
                .as_mut()
                .start_send(payload)
                .and_then(|()| match frames.poll_flush(&mut context) {
                    Poll::Ready(Ok(())) => Ok(WrittenNow::Written),
                    Poll::Ready(Err(error)) => Err(error),
                    Poll::Pending => Ok(WrittenNow::Buffered),
                }),
            Poll::Ready(Err(error)) => Err(error),
        };
        written.unwrap_or_else(|source| {
            let error = TransportError::frame(&self.endpoint, source);
            close_after(&mut writer, &error);
            // Wakes the task, which stops on a closed writer.
            let (done, _) = oneshot::channel();
            let _ = self.queue.try_send(WriteRequest {
                payload: None,
                done,
            });
            WrittenNow::Failed(error)
        })
    }

    /// Whether the writer has stopped.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// Marks `writer` unusable after `error`, which is logged.
fn close_after(writer: &mut Writer, error: &TransportError) {
    writer.closed = true;
    tracing::warn!(%error, "closing the coverage channel after a failed write");
}

async fn run_writer(
    writer: Arc<Mutex<Writer>>,
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
        let mut writer = writer.lock().await;
        if writer.closed {
            let _ = request.done.send(Err(TransportError::closed(&endpoint)));
            break;
        }
        let frames = &mut writer.frames;
        let writing = async {
            match request.payload {
                Some(payload) => frames.send(payload).await,
                None => frames.flush().await,
            }
        };
        let result = match tokio::time::timeout(write_timeout, writing).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(TransportError::frame(&endpoint, source)),
            Err(_elapsed) => Err(TransportError::WriteTimeout {
                endpoint: endpoint.clone(),
                timeout: write_timeout,
            }),
        };
        if let Err(error) = &result {
            close_after(&mut writer, error);
        }
        // The sender may have given up waiting; the result is then only logged above.
        let _ = request.done.send(result);
        if writer.closed {
            break;
        }
    }
    // Fail the frames still queued, refuse the senders' own writes, then tell the peer we
    // are done writing.
    drop(requests);
    let mut writer = writer.lock().await;
    writer.closed = true;
    let _ = tokio::time::timeout(write_timeout, writer.frames.close()).await;
}
