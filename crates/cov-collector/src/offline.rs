//! Offline coverage: an instrumented executable plus a raw profile it wrote, decoded with
//! the same engine the live collector uses; and a raw profile's listing in
//! `llvm-profdata show`'s shape ([`write_profile_listing`]).

use std::io::Write;
use std::path::Path;

use cov_core::model::{CoverageSnapshot, SnapshotKind};

use crate::decode::mapping::CoverageMapping;
use crate::decode::profraw::RawProfile;
use crate::decode_error::{MappingError, ProfileError};
use crate::engine::{Engine, FileId, Threads};
pub use crate::listing::{write_profile_header, write_profile_listing};
use crate::llvm_lcov::{LcovSummary, write_file_record};
use crate::parallel;

/// Whether the executable at `path` carries a coverage mapping (`__llvm_covmap`): `Ok` for
/// an instrumented build, the reason otherwise. Only the small filename-table section is
/// read.
///
/// # Errors
///
/// The file cannot be read, is not an object file, or has no coverage mapping.
pub fn check_instrumented(path: &Path) -> Result<(), MappingError> {
    crate::decode::sections::CoverageSections::read_covmap(path).map(drop)
}

/// Why offline coverage could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// The executable's coverage mapping could not be read.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The raw profile could not be read.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A listing or report could not be written.
    #[error("cannot write the output: {0}")]
    Write(#[from] std::io::Error),
}

/// The coverage of one run: the engine, the run's counters, and the resulting snapshot.
#[derive(Debug)]
pub struct OfflineCoverage {
    engine: Engine,
    snapshot: CoverageSnapshot,
    /// For each file of the snapshot, in its (path) order: llvm-cov's summary lines and
    /// the load order of its `FN` lines.
    lcov_details: Vec<(LcovSummary, Vec<u32>)>,
}

impl OfflineCoverage {
    /// Decodes `binary`'s mapping and `profraw`'s counters and computes every file.
    pub fn load(binary: &Path, profraw: &Path) -> Result<OfflineCoverage, OfflineError> {
        let mapping = CoverageMapping::from_executable(binary)?;
        let profile = RawProfile::read(profraw)?;
        Ok(OfflineCoverage::from_parts(mapping, profile))
    }

    /// Computes every file from an already decoded mapping and profile.
    pub fn from_parts(mapping: CoverageMapping, profile: RawProfile) -> OfflineCoverage {
        let engine = Engine::new(mapping, &profile.functions, Threads::All);
        // Every function is evaluated once; each file is then read off the counts.
        let counts = engine.evaluate(&profile.counters);
        let files: Vec<FileId> = engine
            .covered_files()
            .into_iter()
            .filter(|&file| engine.is_reported(file, &counts))
            .collect();
        let reports = parallel::map(&files, 8, |&file| engine.file_report(file, &counts));
        let mut snapshot = CoverageSnapshot::new(SnapshotKind::Baseline);
        let mut lcov_details = Vec::with_capacity(reports.len());
        for (file, report) in files.into_iter().zip(reports) {
            snapshot
                .files
                .insert(engine.path(file).to_owned(), report.coverage);
            lcov_details.push((report.summary, report.function_order));
        }
        OfflineCoverage {
            engine,
            snapshot,
            lcov_details,
        }
    }

    /// The coverage of every file, as a baseline snapshot.
    pub fn snapshot(&self) -> &CoverageSnapshot {
        &self.snapshot
    }

    /// The engine built for this run.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// LCOV as `llvm-cov export -format=lcov` writes it: llvm-cov's per-function
    /// summaries (`LF`/`LH`, `BRF`/`BRH`, `FNF`/`FNH`) and its order of `FN` lines.
    pub fn to_lcov(&self) -> String {
        let mut out = Vec::new();
        // Writing to a `Vec` cannot fail, and the records are UTF-8.
        let _ = self.write_lcov(&mut out);
        String::from_utf8(out)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }

    /// [`OfflineCoverage::to_lcov`], written to `out` as it is formatted (a large program's
    /// report is several megabytes): files are formatted a batch at a time on every core,
    /// and written in order.
    pub fn write_lcov(&self, out: &mut impl Write) -> std::io::Result<()> {
        // `covered_files` is in path order, as the snapshot's map is.
        let records: Vec<_> = self.snapshot.files.iter().zip(&self.lcov_details).collect();
        for batch in records.chunks(LCOV_BATCH) {
            let texts = parallel::map(batch, 8, |((path, file), (summary, order))| {
                let mut text = String::new();
                write_file_record(&mut text, path, file, summary, Some(order));
                text
            });
            for text in texts {
                out.write_all(text.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Files formatted per batch by [`OfflineCoverage::write_lcov`]: enough to keep every
/// core busy, few enough that the text in flight stays small.
const LCOV_BATCH: usize = 128;
