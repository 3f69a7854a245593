//! The SDK's active mode, with the state the application's request path shares with it:
//! the [`Recorder`] in `RECORD` mode, the [`Replayer`] in `REPLAY` mode, and what both
//! need (the header rules, the body limit, whether the application is ready). Every layer
//! and handle of one SDK instance holds the same `Arc<Mode>`; outside record and replay
//! there is none, and every layer is a pass-through that costs one branch.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::headers::HeaderRules;
use crate::recorder::Recorder;
use crate::replayer::Replayer;

/// What the SDK does with the application's traffic, and the state it does it with.
#[derive(Debug)]
pub(crate) struct Mode {
    /// Record, or replay.
    pub(crate) role: Role,
    /// Which headers a span holds.
    pub(crate) rules: HeaderRules,
    /// The largest body a span holds.
    pub(crate) max_body_bytes: usize,
    /// Whether the application is serving (see [`Mode::mark_ready`]).
    ready: AtomicBool,
    /// The application's PostgreSQL connections.
    #[cfg(feature = "postgres")]
    pub(crate) postgres: crate::postgres::Postgres,
}

/// Record or replay.
#[derive(Debug)]
pub(crate) enum Role {
    /// Record traffic as trace files.
    Record(Recorder),
    /// Announce replayed requests to the CLI and ask it for the mocks of outbound calls.
    Replay(Replayer),
}

impl Mode {
    /// A mode that starts before the application is ready.
    pub(crate) fn new(role: Role, rules: HeaderRules, max_body_bytes: usize) -> Self {
        Self {
            role,
            rules,
            max_body_bytes,
            ready: AtomicBool::new(false),
            #[cfg(feature = "postgres")]
            postgres: crate::postgres::Postgres::default(),
        }
    }

    /// The application is ready: it serves requests. Outbound calls made before are
    /// pre-app-start calls (the Tusk SDKs' `markAppAsReady`); this happens at the latest
    /// when the first inbound request reaches the layer.
    pub(crate) fn mark_ready(&self) {
        if !self.ready.load(Ordering::Relaxed) && !self.ready.swap(true, Ordering::AcqRel) {
            tracing::debug!("the application is ready: later outbound calls belong to requests");
        }
    }

    /// Whether the application is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}
