//! The SDK's active mode, with the state the application's request path shares with it:
//! the [`Recorder`] in `RECORD` mode, the [`Replayer`] in `REPLAY` mode. Every layer and
//! handle of one SDK instance holds the same `Arc<Mode>`; outside record and replay there is
//! none, and every layer is a pass-through that costs one branch.

use crate::headers::HeaderRules;
use crate::recorder::Recorder;
use crate::replayer::Replayer;

/// What the SDK does with the application's traffic.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Record it as trace files.
    Record(Recorder),
    /// Announce replayed requests to the CLI (and, for outbound calls, ask it for mocks).
    Replay(Replayer),
}

impl Mode {
    /// The header rules of this mode.
    pub(crate) fn header_rules(&self) -> &HeaderRules {
        match self {
            Mode::Record(recorder) => &recorder.rules,
            Mode::Replay(replayer) => &replayer.rules,
        }
    }

    /// The body limit of this mode.
    pub(crate) fn max_body_bytes(&self) -> usize {
        match self {
            Mode::Record(recorder) => recorder.max_body_bytes,
            Mode::Replay(replayer) => replayer.max_body_bytes,
        }
    }
}
