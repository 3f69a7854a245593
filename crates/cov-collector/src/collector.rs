//! [`Collector`]: baseline and delta snapshots of the running program's coverage.
//!
//! A collector is built once: it binds the profile runtime, checks the raw profile
//! version, decodes the coverage mapping of its own executable (once; it is never re-read)
//! and chooses the files to report. Each snapshot then reads the live counters, finds the
//! functions whose counters changed since the previous snapshot, re-evaluates only the
//! files those functions contribute to, and reports the difference against what it
//! reported before (see `difference.rs`). Counters are never reset.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use cov_core::{CoverageSnapshot, SnapshotKind};

use crate::difference::Reported;
use crate::error::CollectorError;
use crate::ffi;
use crate::live::LiveProfile;

/// Decides which source files a collector reports, by absolute path.
type FileFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Reads the coverage of the running program, in-process, as llvm-cov would report it.
///
/// Built with [`Collector::builder`]. [`Collector::baseline`] reports every coverable line
/// of the selected files with its count since the process started; [`Collector::delta`]
/// reports what ran since the previous snapshot. Snapshots are differences against the
/// previously reported cumulative coverage, never counter resets, so a baseline plus all
/// later deltas equals the coverage of the whole run, even while other threads run.
///
/// `Collector` is `Send + Sync`; concurrent snapshots are serialized.
///
/// While a collector exists the profile runtime does not write `default_*.profraw` at exit,
/// unless `LLVM_PROFILE_FILE` is set (then it writes where that says, as usual).
pub struct Collector {
    profile: LiveProfile,
    state: Mutex<SnapshotState>,
    _at_exit_write: AtExitWrite,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Collector")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// What the previous snapshot left behind.
#[derive(Debug, Default)]
#[allow(dead_code)] // Skeleton: `reported` is used once the mapping engine is integrated.
struct SnapshotState {
    /// Every counter as the previous snapshot read it.
    previous_counters: Vec<u64>,
    /// The cumulative coverage reported so far, per selected file.
    reported: BTreeMap<String, Reported>,
}

/// Builds a [`Collector`].
#[derive(Clone, Default)]
pub struct CollectorBuilder {
    file_filter: Option<FileFilter>,
}

impl std::fmt::Debug for CollectorBuilder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CollectorBuilder")
            .field("file_filter", &self.file_filter.as_ref().map(|_| "…"))
            .finish()
    }
}

impl CollectorBuilder {
    /// A builder that selects every file of the mapping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports only the source files for which `filter` returns true, given each file's
    /// absolute path as the coverage mapping records it. Default: every file.
    pub fn file_filter<F>(&mut self, filter: F) -> &mut Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.file_filter = Some(Arc::new(filter));
        self
    }

    /// Binds the profile runtime, checks its version and decodes the coverage mapping of
    /// the running executable.
    ///
    /// # Errors
    ///
    /// [`CollectorError::NotInstrumented`] when the program was not built with
    /// `-C instrument-coverage` (the message gives the RUSTFLAGS to use),
    /// [`CollectorError::UnsupportedPlatform`], [`CollectorError::UnsupportedProfileVersion`],
    /// and errors reading or decoding the executable's coverage mapping.
    pub fn build(&mut self) -> Result<Collector, CollectorError> {
        let runtime = ffi::runtime().map_err(runtime_error)?;
        let profile = LiveProfile::new(runtime)?;
        let _ = &self.file_filter;
        // INTEGRATION: decode the mapping of `/proc/self/exe` with the mapping helper's
        // decoder and select its files with `self.file_filter`.
        let at_exit_write = AtExitWrite::suppress_unless_requested(&profile);
        Ok(Collector {
            state: Mutex::new(SnapshotState {
                previous_counters: vec![0; profile.n_counters()],
                reported: BTreeMap::new(),
            }),
            profile,
            _at_exit_write: at_exit_write,
        })
    }
}

impl Collector {
    /// A builder with default settings.
    pub fn builder() -> CollectorBuilder {
        CollectorBuilder::new()
    }

    /// Every coverable line of the selected files with its count since the process
    /// started (0 where not executed), and the full branch structure.
    ///
    /// # Errors
    ///
    /// None today: reading live counters cannot fail once the collector is built. The
    /// `Result` leaves room for future checks.
    pub fn baseline(&self) -> Result<CoverageSnapshot, CollectorError> {
        self.snapshot(SnapshotKind::Baseline)
    }

    /// The lines, branch outcomes and function entries that executed since the previous
    /// snapshot (baseline or delta), with the number of executions in that interval; only
    /// non-zero differences. Before any baseline, the interval starts at process start.
    ///
    /// # Errors
    ///
    /// As for [`Collector::baseline`].
    pub fn delta(&self) -> Result<CoverageSnapshot, CollectorError> {
        self.snapshot(SnapshotKind::Delta)
    }

    fn snapshot(&self, kind: SnapshotKind) -> Result<CoverageSnapshot, CollectorError> {
        // A panic cannot leave the state half-updated in a way that matters more than
        // refusing all later snapshots would, so a poisoned lock is simply taken over.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut current = state.previous_counters.clone();
        let mut scratch = Vec::new();
        let mut changed_functions = BTreeSet::new();
        for (function_idx, function) in self.profile.functions().iter().enumerate() {
            let settled = self
                .profile
                .read_function(function, &mut current, &mut scratch);
            if !settled {
                tracing::debug!(
                    name_ref = format_args!("{:#018x}", function.name_ref),
                    "counters kept changing while read; using the last read"
                );
            }
            let range = function.counter_range();
            if current[range.clone()] != state.previous_counters[range] {
                changed_functions.insert(function_idx);
            }
        }
        // INTEGRATION: re-evaluate the files of `changed_functions` (all selected files for
        // a baseline) with the mapping helper's engine and advance `state.reported`.
        let _ = &changed_functions;
        state.previous_counters = current;
        Ok(CoverageSnapshot::new(kind))
    }
}

/// Maps a runtime binding failure to the public error.
fn runtime_error(error: ffi::RuntimeError) -> CollectorError {
    match error {
        ffi::RuntimeError::UnsupportedPlatform => CollectorError::UnsupportedPlatform {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        },
        ffi::RuntimeError::NotInstrumented => CollectorError::NotInstrumented,
        ffi::RuntimeError::Malformed { section, problem } => {
            CollectorError::MalformedProfile(format!("{section} {problem}"))
        }
    }
}

/// Keeps the runtime from writing `default_*.profraw` at exit while a collector exists.
#[derive(Debug)]
struct AtExitWrite;

impl AtExitWrite {
    /// Suppresses the at-exit write unless `LLVM_PROFILE_FILE` asks for one.
    fn suppress_unless_requested(profile: &LiveProfile) -> Self {
        let requested =
            std::env::var_os("LLVM_PROFILE_FILE").is_some_and(|value| !value.is_empty());
        if requested {
            tracing::debug!("LLVM_PROFILE_FILE is set: the runtime writes its profile at exit");
        } else {
            profile.runtime().set_dumped();
        }
        AtExitWrite
    }
}

/// Whether this program was built with `-C instrument-coverage` (on a supported platform),
/// so that a [`Collector`] can be built.
pub fn is_instrumented() -> bool {
    ffi::is_linked()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn collector_is_send_and_sync() {
        assert_send_sync::<Collector>();
        assert_send_sync::<CollectorBuilder>();
    }
}
