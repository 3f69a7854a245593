//! `REPLAY` mode: the state the request path shares with the SDK thread.
//!
//! Every replayed inbound request becomes an inbound replay span, handed to the SDK thread
//! (which owns the connection to the CLI) through a bounded channel that never makes a
//! request wait: a span that does not fit is dropped and counted. Outbound calls ask the
//! CLI for their mocks through the same thread ([`MockClient`]).

use std::sync::atomic::{AtomicU64, Ordering};

use cov_trace::InboundSpan;
use tokio::sync::mpsc;

use crate::mocks::MockClient;

/// How many inbound replay spans may wait for the SDK thread.
pub(crate) const SPAN_QUEUE: usize = 1024;

/// The replay side of one SDK instance.
#[derive(Debug)]
pub(crate) struct Replayer {
    spans: mpsc::Sender<InboundSpan>,
    /// Asks the CLI for the mocks of outbound calls.
    pub(crate) mocks: MockClient,
    dropped: AtomicU64,
}

impl Replayer {
    /// A replayer handing spans to the SDK thread through `spans`.
    pub(crate) fn new(spans: mpsc::Sender<InboundSpan>, mocks: MockClient) -> Self {
        Self {
            spans,
            mocks,
            dropped: AtomicU64::new(0),
        }
    }

    /// Hands `span` to the SDK thread; never blocks. A full channel drops it.
    pub(crate) fn send_inbound_span(&self, span: InboundSpan) {
        if let Err(error) = self.spans.try_send(span) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(dropped, %error, "inbound replay span not sent");
        }
    }
}
