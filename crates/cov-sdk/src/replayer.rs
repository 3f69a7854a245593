//! `REPLAY` mode: the state the request path shares with the SDK thread.
//!
//! Every replayed inbound request becomes an inbound replay span, handed to the SDK thread
//! (which owns the connection to the CLI) through a bounded channel that never makes a
//! request wait: a span that does not fit is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};

use cov_trace::InboundSpan;
use tokio::sync::mpsc;

use crate::headers::HeaderRules;

/// How many inbound replay spans may wait for the SDK thread.
pub(crate) const SPAN_QUEUE: usize = 1024;

/// The replay side of one SDK instance.
#[derive(Debug)]
pub(crate) struct Replayer {
    spans: mpsc::Sender<InboundSpan>,
    /// Which headers a replay span holds (the same rules as a recorded trace).
    pub(crate) rules: HeaderRules,
    /// The largest body a replay span holds.
    pub(crate) max_body_bytes: usize,
    dropped: AtomicU64,
}

impl Replayer {
    /// A replayer handing spans to the SDK thread through `spans`.
    pub(crate) fn new(
        spans: mpsc::Sender<InboundSpan>,
        rules: HeaderRules,
        max_body_bytes: usize,
    ) -> Self {
        Self {
            spans,
            rules,
            max_body_bytes,
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
