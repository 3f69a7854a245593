//! `RECORD` mode: the state the SDK records with, shared by every layer and handle.
//!
//! Sampling decides per inbound request; the header rules and the body limit shape what a
//! trace holds; finished traces go to the [`TraceWriter`] thread, which never makes a
//! request wait. What cannot be recorded is counted, with one warning per kind of reason
//! per process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::body_capture::Refusal;
use crate::config::Config;
use crate::trace_writer::{self, Trace, TraceWriter};

/// The recorder of one SDK instance.
#[derive(Debug)]
pub(crate) struct Recorder {
    writer: TraceWriter,
    sampling_rate: f64,
    skipped: AtomicU64,
    warned_too_large: AtomicBool,
    warned_unrecordable: AtomicBool,
    skipped_calls: AtomicU64,
    warned_call: AtomicBool,
}

impl Recorder {
    /// Starts the writer thread for `config`'s traces directory; `None` (with a warning)
    /// when the thread cannot start.
    pub(crate) fn start(config: &Config) -> Option<Self> {
        let writer = match TraceWriter::start(
            config.traces_dir.clone(),
            trace_writer::QUEUE_TRACES,
            trace_writer::QUEUE_BYTES,
        ) {
            Ok(writer) => writer,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "Tusk recorder not started: cannot spawn its writer thread"
                );
                return None;
            }
        };
        tracing::info!(
            dir = %config.traces_dir.display(),
            sampling_rate = config.sampling_rate,
            "Tusk recorder writing traces"
        );
        Some(Self {
            writer,
            sampling_rate: config.sampling_rate,
            skipped: AtomicU64::new(0),
            warned_too_large: AtomicBool::new(false),
            warned_unrecordable: AtomicBool::new(false),
            skipped_calls: AtomicU64::new(0),
            warned_call: AtomicBool::new(false),
        })
    }

    /// Whether to record one more inbound request.
    pub(crate) fn sampled(&self) -> bool {
        let rate = self.sampling_rate;
        rate >= 1.0 || (rate > 0.0 && fastrand::f64() < rate)
    }

    /// Queues a finished trace for writing; never blocks.
    pub(crate) fn write(&self, trace: Trace) {
        self.writer.submit(trace);
    }

    /// Counts a trace named `name` that is not recorded; one warning per kind of reason
    /// per process (`max_body_bytes` is the limit a body went over).
    pub(crate) fn skip(&self, name: &str, refusal: &Refusal, max_body_bytes: usize) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        let (warned, reason) = match refusal {
            Refusal::TooLarge => (
                &self.warned_too_large,
                format!("a body is over the {max_body_bytes}-byte limit"),
            ),
            Refusal::Unrecordable(why) => (&self.warned_unrecordable, why.to_string()),
            Refusal::Fragmented => (
                &self.warned_unrecordable,
                "a body came in non-contiguous buffers".to_owned(),
            ),
            Refusal::RequestNotRead => {
                tracing::debug!(request = %name, "not recorded: the request body was not read to its end");
                return;
            }
        };
        if warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(request = %name, %reason, "not recorded");
        } else {
            tracing::warn!(
                request = %name,
                %reason,
                "Tusk recorder skips requests it cannot replay (this is the only warning of \
                 this kind; the service is unaffected)"
            );
        }
    }

    /// Counts an outbound call named `name` that is not recorded (its replay will find no
    /// mock); one warning per process.
    pub(crate) fn skip_call(&self, name: &str, reason: &str) {
        self.skipped_calls.fetch_add(1, Ordering::Relaxed);
        if self.warned_call.swap(true, Ordering::Relaxed) {
            tracing::debug!(call = %name, %reason, "outbound call not recorded");
        } else {
            tracing::warn!(
                call = %name,
                %reason,
                "Tusk recorder skips outbound calls it cannot record; their replay will find                  no mock (this is the only warning of this kind; the service is unaffected)"
            );
        }
    }

    /// The writer's counters and the number of skipped traces (tests).
    #[cfg(test)]
    pub(crate) fn stats(&self) -> (&trace_writer::WriterStats, u64) {
        (self.writer.stats(), self.skipped.load(Ordering::Relaxed))
    }

    /// Stops the writer after writing what is queued (tests).
    #[cfg(test)]
    pub(crate) fn flush(&self) {
        self.writer
            .flush_and_stop(std::time::Duration::from_secs(10));
    }
}
