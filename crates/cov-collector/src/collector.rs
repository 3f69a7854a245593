//! [`Collector`]: baseline and delta snapshots of the running program's coverage.
//!
//! A collector is built once: it binds the profile runtime, checks the raw profile
//! version, decodes the coverage mapping of its own executable (once; it is never re-read)
//! and chooses the files to report. Each snapshot then reads the live counters, finds the
//! functions whose counters changed since the previous snapshot, re-evaluates only the
//! files those functions contribute to, and reports the difference against what it
//! reported before (see `difference.rs`). Counters are never reset.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use cov_core::{CoverageSnapshot, FileCoverage, SnapshotKind};

use crate::decode::covmap::decode_covmap;
use crate::decode::mapping::CoverageMapping;
use crate::decode::sections::CoverageSections;
use crate::difference::Reported;
use crate::engine::{Engine, FileId, Threads};
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
/// previously reported cumulative coverage, never counter resets: nothing that runs between
/// or during snapshots is lost or counted twice, and a baseline plus all later deltas equals
/// llvm-cov's coverage of the whole run when the snapshots are taken while no thread is
/// inside the selected code (threads caught in flight can make a delta overstate a line
/// whose count is a subtraction; see `docs/coverage.md`).
///
/// `Collector` is `Send + Sync`; concurrent snapshots are serialized.
///
/// Once a collector has been built the profile runtime no longer writes `default_*.profraw`
/// at exit, unless `LLVM_PROFILE_FILE` is set (then it writes where that says, as usual).
///
/// ```no_run
/// use cov_collector::{Collector, CollectorError};
///
/// fn collect() -> Result<(), CollectorError> {
///     // Fails with `NotInstrumented` (and the RUSTFLAGS to use) in a normal build.
///     let collector = Collector::builder()
///         .file_filter(|path| path.contains("/src/") && !path.contains("/.cargo/"))
///         .build()?;
///     let baseline = collector.baseline()?; // every coverable line, 0 where not run
///     // ... run one test against the service ...
///     let delta = collector.delta()?; // only what ran since the baseline
///     for (path, file) in &delta.files {
///         println!("{path}: {} lines ran", file.lines.len());
///     }
///     # let _ = baseline;
///     Ok(())
/// }
/// ```
pub struct Collector {
    profile: LiveProfile,
    engine: Engine,
    /// The selected files, in path order.
    selected: Vec<FileId>,
    state: Mutex<SnapshotState>,
    _at_exit_write: AtExitWrite,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Collector")
            .field("runtime", self.profile.runtime())
            .field("n_records", &self.profile.functions().len())
            .field("n_selected_files", &self.selected.len())
            .finish_non_exhaustive()
    }
}

/// What the previous snapshot left behind.
#[derive(Debug)]
struct SnapshotState {
    /// Every counter as the previous snapshot read it (zeros before the first).
    previous_counters: Vec<u64>,
    /// Per file index: the cumulative coverage reported so far (selected files only).
    reported: Vec<Reported>,
    /// Reused buffer for the current reading of every counter.
    current_counters: Vec<u64>,
    /// Reused buffer for double reads.
    scratch: Vec<u64>,
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
        // Only functions with regions in a selected file contribute to its lines, branches
        // and function entries, so only those are decoded and given to the engine: the
        // rest of the program (mostly its dependencies) is skipped record by record.
        let mapping = match &self.file_filter {
            Some(filter) => read_own_mapping(&mut |path| filter(path))?,
            None => read_own_mapping(&mut |_| true)?,
        };
        let engine = Engine::new(mapping, profile.functions(), Threads::One);
        let selected = match &self.file_filter {
            Some(filter) => engine.select_files(|path| filter(path)),
            None => engine.covered_files(),
        };
        tracing::debug!(
            n_records = profile.functions().len(),
            n_counters = profile.n_counters(),
            n_files = engine.files().len(),
            n_selected_files = selected.len(),
            "coverage collector ready"
        );
        let at_exit_write = AtExitWrite::suppress_unless_requested(&profile);
        Ok(Collector {
            state: Mutex::new(SnapshotState {
                previous_counters: vec![0; profile.n_counters()],
                reported: vec![Reported::default(); engine.files().len()],
                current_counters: vec![0; profile.n_counters()],
                scratch: Vec::new(),
            }),
            profile,
            engine,
            selected,
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
    /// Only [`CollectorError::Internal`], should the snapshot hit a bug (a panic inside is
    /// caught and reported; the collector stays usable). Reading live counters cannot
    /// otherwise fail once the collector is built.
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
        // The host must never see a panic from here. Should one happen anyway (a bug), the
        // state stays usable: `reported` only ever advances per file, and stale previous
        // counters merely make the next delta re-evaluate more files. So the panic becomes
        // an error and a poisoned lock is simply taken over.
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *guard;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.snapshot_locked(kind, state)
        }))
        .map_err(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|message| (*message).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            CollectorError::Internal(message)
        })
    }

    fn snapshot_locked(&self, kind: SnapshotKind, state: &mut SnapshotState) -> CoverageSnapshot {
        let mut changed_files = vec![false; self.engine.files().len()];
        let mut n_unsettled = 0_usize;
        // One pass over every counter first. Counters only grow, so a function whose
        // counters all equal the previous (consistent) reading did not run in between:
        // that is an instant already, and only the functions that changed are read again
        // until two reads agree. (The loops here are themselves instrumented in a covered
        // program, each iteration an atomic increment: one pass instead of two matters.)
        self.profile.read_all(&mut state.current_counters);
        for (record_idx, record) in self.profile.functions().iter().enumerate() {
            let range = record.counters.clone();
            if state.current_counters[range.clone()] == state.previous_counters[range.clone()] {
                continue;
            }
            let settled =
                self.profile
                    .read_function(record, &mut state.current_counters, &mut state.scratch);
            if !settled {
                // A torn read could overstate an expression; the previous reading is an
                // instant. The function's recent activity goes to a later snapshot.
                n_unsettled += 1;
                state.current_counters[range.clone()]
                    .copy_from_slice(&state.previous_counters[range.clone()]);
            }
            if state.current_counters[range.clone()] != state.previous_counters[range] {
                for file in self.engine.record_files(record_idx) {
                    changed_files[file.index()] = true;
                }
            }
        }
        if n_unsettled > 0 {
            tracing::debug!(
                n_unsettled,
                "counters of some functions kept changing while read; deferred to a later snapshot"
            );
        }
        // The files to recompute, evaluated together: each function once, one set of
        // buffers for the whole snapshot.
        let files: Vec<FileId> = self
            .selected
            .iter()
            .copied()
            .filter(|file| kind == SnapshotKind::Baseline || changed_files[file.index()])
            .collect();
        let counts = self.engine.evaluate_files(&files, &state.current_counters);
        let mut snapshot = CoverageSnapshot::new(kind);
        for file in files {
            let cumulative = self.engine.file_coverage(file, &counts);
            let reported = &mut state.reported[file.index()];
            let coverage = match kind {
                SnapshotKind::Baseline => reported.rebase(&cumulative),
                SnapshotKind::Delta => {
                    let delta = reported.advance(&cumulative);
                    if is_empty(&delta) {
                        continue;
                    }
                    delta
                }
            };
            snapshot
                .files
                .insert(self.engine.path(file).to_owned(), coverage);
        }
        std::mem::swap(&mut state.previous_counters, &mut state.current_counters);
        snapshot
    }
}

/// Whether a delta says nothing.
fn is_empty(delta: &FileCoverage) -> bool {
    delta.lines.is_empty() && delta.branches.is_empty() && delta.functions.is_empty()
}

/// Decodes the coverage mapping of the running executable, read through `/proc/self/exe`
/// (which still works when the file was replaced or deleted since the process started).
fn read_own_mapping(
    is_selected: &mut dyn FnMut(&str) -> bool,
) -> Result<CoverageMapping, CollectorError> {
    let path = Path::new("/proc/self/exe");
    let mapping = match CoverageMapping::from_executable_selected(path, is_selected) {
        Ok(mapping) => mapping,
        Err(proc_error) => {
            let Ok(current_exe) = std::env::current_exe() else {
                return Err(proc_error.into());
            };
            CoverageMapping::from_executable_selected(&current_exe, is_selected)
                .map_err(|_| proc_error)?
        }
    };
    Ok(mapping)
}

/// The compilation units of the running program's coverage mapping: where each was
/// compiled and the files it names (`__llvm_covmap` only, read from the executable; the
/// function records are not decoded). The source filter finds the program's own root in
/// them when the program runs away from where it was built.
///
/// # Errors
///
/// Reading the executable, a missing `__llvm_covmap` (not an instrumented build) or a
/// malformed filename table.
pub fn compilation_units() -> Result<Vec<cov_core::filter::CompilationUnit>, CollectorError> {
    let proc_self = Path::new("/proc/self/exe");
    let covmap = match CoverageSections::read_covmap(proc_self) {
        Ok(covmap) => covmap,
        Err(proc_error) => {
            let Ok(current_exe) = std::env::current_exe() else {
                return Err(proc_error.into());
            };
            CoverageSections::read_covmap(&current_exe).map_err(|_| proc_error)?
        }
    };
    units_of(&covmap)
}

/// The compilation units of a covmap section, in path order (tables whose hash two
/// different tables share, which llvm-cov ignores, are left out).
fn units_of(covmap: &[u8]) -> Result<Vec<cov_core::filter::CompilationUnit>, CollectorError> {
    let mut units: Vec<cov_core::filter::CompilationUnit> = decode_covmap(covmap)?
        .into_values()
        .flatten()
        .filter_map(|mut names| {
            if names.is_empty() {
                return None;
            }
            let directory = names.remove(0);
            Some(cov_core::filter::CompilationUnit {
                directory,
                files: names,
            })
        })
        .collect();
    units.sort_by(|left, right| {
        (&left.directory, &left.files).cmp(&(&right.directory, &right.files))
    });
    Ok(units)
}

/// What [`suppress_profile_write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileWrite {
    /// The runtime will not write a profile at exit.
    Suppressed,
    /// `LLVM_PROFILE_FILE` is set: the runtime writes its profile there at exit, as asked.
    Requested,
    /// No profile runtime is linked (not an instrumented build, or an unsupported
    /// platform): there is nothing to write.
    NoRuntime,
}

/// Stops the LLVM profile runtime from writing `default_*.profraw` when the program exits,
/// unless `LLVM_PROFILE_FILE` asks for a profile. A service that only records traffic
/// (the SDK's `RECORD` mode) calls this so it leaves no profile in its directory; building
/// a [`Collector`] does the same. Process-wide and permanent.
pub fn suppress_profile_write() -> ProfileWrite {
    match ffi::runtime() {
        Ok(runtime) => {
            if profile_file_requested() {
                ProfileWrite::Requested
            } else {
                runtime.set_dumped();
                ProfileWrite::Suppressed
            }
        }
        Err(_) => ProfileWrite::NoRuntime,
    }
}

/// Whether `LLVM_PROFILE_FILE` asks for a profile (a non-empty value; the runtime treats an
/// empty one as unset).
fn profile_file_requested() -> bool {
    std::env::var_os("LLVM_PROFILE_FILE").is_some_and(|value| !value.is_empty())
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

/// The runtime's at-exit profile write, suppressed from the first collector on.
///
/// The flag is process-wide and stays set when the collector is dropped: an application
/// (or the SDK, when the CLI disconnects) may drop its collector long before exit, and the
/// point is that an application collecting coverage in-process does not litter its
/// working directory with `default_*.profraw`.
#[derive(Debug)]
struct AtExitWrite;

impl AtExitWrite {
    /// Suppresses the at-exit write unless `LLVM_PROFILE_FILE` asks for one (a non-empty
    /// value; the runtime treats an empty one as unset).
    fn suppress_unless_requested(profile: &LiveProfile) -> Self {
        if profile_file_requested() {
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
    fn binding_failures_become_precise_errors() {
        let unsupported = runtime_error(ffi::RuntimeError::UnsupportedPlatform).to_string();
        assert!(
            unsupported.contains("not supported on this platform")
                && unsupported.contains(std::env::consts::ARCH),
            "{unsupported}"
        );
        let not_instrumented = runtime_error(ffi::RuntimeError::NotInstrumented).to_string();
        assert!(
            not_instrumented.contains("RUSTFLAGS=\"-C instrument-coverage\""),
            "{not_instrumented}"
        );
        let malformed = runtime_error(ffi::RuntimeError::Malformed {
            section: "__llvm_prf_cnts",
            problem: "is misaligned",
        })
        .to_string();
        assert!(
            malformed.contains("__llvm_prf_cnts is misaligned"),
            "{malformed}"
        );
    }

    #[test]
    fn compilation_units_come_from_the_filename_tables() {
        let mut section = Vec::new();
        for names in [
            &["/work/app", "src/main.rs", "/rustc/abc/lib.rs"][..],
            &["/dep", "src/lib.rs"],
        ] {
            let mut body = Vec::new();
            for name in names {
                crate::bytes::encode_uleb(name.len() as u64, &mut body);
                body.extend_from_slice(name.as_bytes());
            }
            let mut blob = Vec::new();
            crate::bytes::encode_uleb(names.len() as u64, &mut blob);
            crate::bytes::encode_uleb(body.len() as u64, &mut blob);
            crate::bytes::encode_uleb(0, &mut blob);
            blob.extend(body);
            for field in [0_u32, blob.len() as u32, 0, 6] {
                section.extend_from_slice(&field.to_le_bytes());
            }
            section.extend_from_slice(&blob);
            while section.len() % 8 != 0 {
                section.push(0);
            }
        }
        let units = units_of(&section).expect("decodes");
        assert_eq!(
            units,
            [
                cov_core::filter::CompilationUnit {
                    directory: "/dep".into(),
                    files: vec!["/dep/src/lib.rs".into()],
                },
                cov_core::filter::CompilationUnit {
                    directory: "/work/app".into(),
                    files: vec!["/work/app/src/main.rs".into(), "/rustc/abc/lib.rs".into()],
                },
            ]
        );
    }

    #[test]
    fn collector_is_send_and_sync() {
        assert_send_sync::<Collector>();
        assert_send_sync::<CollectorBuilder>();
    }
}
