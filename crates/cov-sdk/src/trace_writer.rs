//! Trace files, written off the request path.
//!
//! Requests hand finished traces to [`TraceWriter::submit`], which never blocks: a bounded
//! queue (by count and by bytes) feeds one thread that writes the files, and a trace that
//! does not fit is dropped and counted. Each trace is written to a hidden temporary file
//! in the traces directory (`.<name>.tmp`, which the CLI's `*.jsonl` walk ignores) and
//! renamed into place, so a reader only ever sees whole files: a process killed mid-write
//! leaves at most a temporary file, never a partial `.jsonl` (one malformed line makes the
//! CLI refuse every trace of the run). A directory that cannot be created or written, a
//! full disk: one warning, the trace dropped and counted, the service untouched.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cov_trace::{InboundSpan, OutboundSpan};

/// How many traces may wait for the writer.
pub(crate) const QUEUE_TRACES: usize = 256;
/// About how many bytes of traces may wait for the writer.
pub(crate) const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// How long dropping the last handle waits for queued traces to be written.
pub(crate) const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// One trace file to write: its spans, turned into text (schemas and hashes computed) on
/// the writer thread, off the request path.
#[derive(Debug)]
pub(crate) struct Trace {
    /// The file name (`…_trace_<id>.jsonl`).
    pub(crate) file_name: String,
    /// The outbound calls, first (in the order they ended).
    pub(crate) outbound: Vec<OutboundSpan>,
    /// The inbound request's root span, last; `None` for a file of pre-app-start spans.
    pub(crate) root: Option<InboundSpan>,
}

impl Trace {
    /// About how many bytes the file will hold: what the queue's byte budget counts.
    fn estimated_len(&self) -> usize {
        const PER_SPAN: usize = 1024;
        let outbound: usize = self
            .outbound
            .iter()
            .map(|span| {
                PER_SPAN
                    + span.input.value.len() * 32
                    + span
                        .output
                        .as_ref()
                        .map_or(0, |output| output.value.len() * 32)
                    + payload_bytes(&span.input.value)
                    + span
                        .output
                        .as_ref()
                        .map_or(0, |output| payload_bytes(&output.value))
            })
            .sum();
        let root = self.root.as_ref().map_or(0, |root| {
            PER_SPAN + (root.request.body.len() + root.response.body.len()) * 4 / 3
        });
        outbound + root
    }

    /// The file's text: one span per line, each ending in `\n`.
    fn text(&self) -> String {
        let mut text = String::new();
        for span in &self.outbound {
            text.push_str(&span.to_json_line());
            text.push('\n');
        }
        if let Some(root) = &self.root {
            text.push_str(&root.to_json_line());
            text.push('\n');
        }
        text
    }
}

/// The bytes of the strings in a payload (bodies dominate).
fn payload_bytes(value: &serde_json::Map<String, serde_json::Value>) -> usize {
    value
        .values()
        .map(|value| match value {
            serde_json::Value::String(text) => text.len(),
            other => other.to_string().len(),
        })
        .sum()
}

/// A trace in the queue, with the bytes it reserved of the queue's budget.
type Queued = (Box<Trace>, usize);

/// Counters of what happened to recorded traces.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    pub(crate) written: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) failed: AtomicU64,
    warned_queue_full: AtomicBool,
    warned_failed: AtomicBool,
}

/// The handle requests submit traces to; dropping the last one drains the queue (up to
/// [`FLUSH_WAIT`]) and stops the thread.
#[derive(Debug)]
pub(crate) struct TraceWriter {
    queue: Mutex<Option<SyncSender<Queued>>>,
    queued_bytes: Arc<AtomicUsize>,
    max_queued_bytes: usize,
    stats: Arc<WriterStats>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl TraceWriter {
    /// Starts the writer thread for `dir` (created when the first trace is written).
    pub(crate) fn start(
        dir: PathBuf,
        max_traces: usize,
        max_queued_bytes: usize,
    ) -> std::io::Result<Self> {
        let (queue, receiver) = std::sync::mpsc::sync_channel(max_traces);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(WriterStats::default());
        let thread = {
            let queued_bytes = Arc::clone(&queued_bytes);
            let stats = Arc::clone(&stats);
            std::thread::Builder::new()
                .name("cov-sdk-traces".to_owned())
                .spawn(move || {
                    // Nothing may unwind into the application (see `runner`).
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        write_loop(&dir, &receiver, &queued_bytes, &stats);
                    }));
                    if outcome.is_err() {
                        tracing::error!("the trace writer stopped after an internal panic");
                    }
                })?
        };
        Ok(Self {
            queue: Mutex::new(Some(queue)),
            queued_bytes,
            max_queued_bytes,
            stats,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `trace` for writing; never blocks. A trace that does not fit in the queue
    /// is dropped and counted (one warning per process).
    pub(crate) fn submit(&self, trace: Trace) {
        let len = trace.estimated_len();
        let reserved = self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len;
        let sent = if reserved > self.max_queued_bytes {
            false
        } else {
            let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            match queue
                .as_ref()
                .map(|queue| queue.try_send((Box::new(trace), len)))
            {
                Some(Ok(())) => true,
                Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
            }
        };
        if !sent {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.stats
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            if !self.stats.warned_queue_full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "Tusk recorder: the trace writer is behind; traces are being dropped \
                     (this is the only warning; the service is unaffected)"
                );
            }
        }
    }

    /// The counters.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Stops accepting traces and waits up to `wait` for the queued ones to be written.
    pub(crate) fn flush_and_stop(&self, wait: Duration) {
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(thread) = thread else { return };
        let deadline = Instant::now() + wait;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::debug!(?wait, "the trace writer is still busy; leaving it");
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        self.flush_and_stop(FLUSH_WAIT);
    }
}

fn write_loop(
    dir: &Path,
    receiver: &Receiver<Queued>,
    queued_bytes: &AtomicUsize,
    stats: &WriterStats,
) {
    let mut dir_ready = false;
    for (trace, len) in receiver {
        queued_bytes.fetch_sub(len, Ordering::AcqRel);
        let text = trace.text();
        let written = if dir_ready {
            write_atomically(dir, &trace.file_name, &text)
        } else {
            std::fs::create_dir_all(dir)
                .and_then(|()| write_atomically(dir, &trace.file_name, &text))
        };
        match written {
            Ok(()) => {
                dir_ready = true;
                stats.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                dir_ready = false;
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if !stats.warned_failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        dir = %dir.display(),
                        %error,
                        "Tusk recorder cannot write trace files; traces are being dropped \
                         (this is the only warning; the service is unaffected)"
                    );
                } else {
                    tracing::debug!(dir = %dir.display(), %error, "trace file not written");
                }
            }
        }
    }
}

/// Writes `text` to a temporary file in `dir` and renames it to `file_name`; on failure
/// the temporary file is removed and no `.jsonl` appears.
pub(crate) fn write_atomically(dir: &Path, file_name: &str, text: &str) -> std::io::Result<()> {
    let temporary = dir.join(format!(".{file_name}.tmp"));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&temporary, dir.join(file_name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace of one root span whose trace id is `trace_id`.
    fn trace(name: &str, trace_id: &str) -> Trace {
        Trace {
            file_name: name.to_owned(),
            outbound: Vec::new(),
            root: Some(InboundSpan {
                trace_id: trace_id.to_owned(),
                ..InboundSpan::default()
            }),
        }
    }

    #[test]
    fn traces_appear_whole_and_the_directory_is_created() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/traces");
        let writer = TraceWriter::start(dir.clone(), 8, 1 << 20).unwrap();
        writer.submit(trace("one.jsonl", "1"));
        let two = trace("two.jsonl", "2");
        let text = two.text();
        writer.submit(two);
        writer.flush_and_stop(Duration::from_secs(10));
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["one.jsonl", "two.jsonl"], "no temporary file left");
        assert_eq!(
            std::fs::read_to_string(dir.join("two.jsonl")).unwrap(),
            text
        );
        assert!(text.ends_with("}\n") && text.contains(r#""traceId":"2""#));
        assert_eq!(writer.stats().written.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn an_unwritable_directory_drops_traces_without_leaving_files() {
        let root = tempfile::tempdir().unwrap();
        // A regular file where the directory should be: every write fails (ENOTDIR), as
        // for a read-only or full disk, even for root.
        let blocker = root.path().join("traces");
        std::fs::write(&blocker, "not a directory").unwrap();
        let writer = TraceWriter::start(blocker.join("nested"), 8, 1 << 20).unwrap();
        for index in 0..3 {
            writer.submit(trace(&format!("{index}.jsonl"), "t"));
        }
        writer.flush_and_stop(Duration::from_secs(10));
        assert_eq!(writer.stats().failed.load(Ordering::Relaxed), 3);
        assert_eq!(writer.stats().written.load(Ordering::Relaxed), 0);
        assert!(writer.stats().warned_failed.load(Ordering::Relaxed));
        let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "only the blocking file");
    }

    #[test]
    fn a_directory_that_goes_away_is_recreated_for_later_traces() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("traces");
        std::fs::create_dir(&dir).unwrap();
        write_atomically(&dir, "first.jsonl", "{}\n").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let error = write_atomically(&dir, "second.jsonl", "{}\n").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        // The writer thread re-creates the directory after a failure.
        let writer = TraceWriter::start(dir.clone(), 8, 1 << 20).unwrap();
        writer.submit(trace("third.jsonl", "3"));
        writer.flush_and_stop(Duration::from_secs(10));
        assert!(dir.join("third.jsonl").is_file());
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("traces");
        // A byte budget smaller than one trace: every submission is dropped at once, so
        // the count is complete when the loop ends, before the writer ran at all.
        let writer = TraceWriter::start(dir.clone(), 8, 10).unwrap();
        for index in 0..100 {
            writer.submit(trace(&format!("{index}.jsonl"), "t"));
        }
        assert_eq!(
            writer.stats().dropped_queue_full.load(Ordering::Relaxed),
            100
        );
        writer.flush_and_stop(Duration::from_secs(10));
        assert_eq!(writer.queued_bytes.load(Ordering::Relaxed), 0);
        assert!(!dir.exists());
    }
}
