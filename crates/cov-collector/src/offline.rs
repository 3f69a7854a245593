//! Offline coverage: an instrumented executable plus a raw profile it wrote, decoded with
//! the same engine the live collector uses.

use std::collections::BTreeMap;
use std::path::Path;

use cov_core::model::{CoverageSnapshot, SnapshotKind};

use crate::decode_error::{MappingError, ProfileError};
use crate::engine::Engine;
use crate::lcov::write_lcov_in_order;
use crate::mapping::CoverageMapping;
use crate::profraw::RawProfile;

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
}

/// The coverage of one run: the engine, the run's counters, and the resulting snapshot.
#[derive(Debug)]
pub struct OfflineCoverage {
    engine: Engine,
    counters: Vec<u64>,
    snapshot: CoverageSnapshot,
}

impl OfflineCoverage {
    /// Decodes `binary`'s mapping and `profraw`'s counters and computes every file.
    pub fn load(binary: &Path, profraw: &Path) -> Result<OfflineCoverage, OfflineError> {
        let mapping = CoverageMapping::from_executable(binary)?;
        let profile = RawProfile::read(profraw)?;
        Ok(OfflineCoverage::from_parts(&mapping, profile))
    }

    /// Computes every file from an already decoded mapping and profile.
    pub fn from_parts(mapping: &CoverageMapping, profile: RawProfile) -> OfflineCoverage {
        let engine = Engine::new(mapping, &profile.records);
        let mut snapshot = CoverageSnapshot::new(SnapshotKind::Baseline);
        for file in engine.covered_files() {
            if !engine.is_reported(file, &profile.counters) {
                continue;
            }
            snapshot.files.insert(
                engine.path(file).to_owned(),
                engine.file_coverage(file, &profile.counters),
            );
        }
        OfflineCoverage {
            engine,
            counters: profile.counters,
            snapshot,
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
        let mut summaries = BTreeMap::new();
        let mut orders = BTreeMap::new();
        for file in self.engine.covered_files() {
            if !self.engine.is_reported(file, &self.counters) {
                continue;
            }
            let path = self.engine.path(file).to_owned();
            summaries.insert(path.clone(), self.engine.file_summary(file, &self.counters));
            orders.insert(path, self.engine.function_order(file, &self.counters));
        }
        write_lcov_in_order(&self.snapshot, Some(&summaries), Some(&orders))
    }
}

/// Decodes `binary` and `profraw` into a baseline snapshot of every file.
pub fn load(binary: &Path, profraw: &Path) -> Result<CoverageSnapshot, OfflineError> {
    Ok(OfflineCoverage::load(binary, profraw)?.snapshot)
}
