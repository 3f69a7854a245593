//! The semantics engine: llvm-cov's view of a program's coverage, built once from the
//! mapping and the data records, then queried with evaluated counts.
//!
//! It follows llvm-cov's own stages, one file each:
//! - `load.rs`: binding each function to its data records with `loadFunctionRecord`'s
//!   rules (hash mismatches, functions without profile data, records that cannot be
//!   evaluated, placeholders, dedup by file set and name);
//! - `evaluate.rs`: the order in which a function's counter expressions are evaluated,
//!   fixed when loading, and [`Engine::evaluate`], which turns a counter array into
//!   [`Counts`] (every region's and branch's count, and which functions llvm-cov shows);
//! - `plan.rs`: for every source file, which regions and branches it is made of and in which
//!   order llvm-cov sorts them, everything that does not depend on counts;
//! - `report.rs`: reading a file's coverage and llvm-cov's summaries off the counts
//!   (combining regions, building segments, lines, branches and functions).
//!
//! Counter arrays are indexed like `__llvm_prf_cnts` (the live array, or a raw profile's);
//! each [`FunctionCounters`] says which slice belongs to which function.
//!
//! For a live collector: build the engine once; pick the files with
//! [`Engine::select_files`]; after reading the counters, use [`Engine::record_files`] to
//! find the files whose functions' counters changed, evaluate only those with
//! [`Engine::evaluate_files`] and read them off with [`Engine::file_coverage`]. For a whole
//! program: [`Engine::evaluate`] every function once and read each file off the result
//! with [`Engine::file_report`] (from any number of threads: the engine and the counts are
//! shared read-only).
//!
//! Layout: the regions, expressions and files of all functions live in a few flat arrays,
//! and a function holds ranges into them, because a program has one function for every
//! generic instantiation it uses and an allocation per function and per field would cost
//! more than the work done with them.

mod evaluate;
mod load;
mod plan;
mod report;

use std::ops::Range;

pub use self::evaluate::Counts;
use self::load::{BuildScratch, LoadedFunction};
use self::plan::FilePlan;
pub use self::report::FileReport;
use crate::decode::mapping::{CoverageMapping, Expression, MappingRegion};
use crate::decode::profraw::FunctionCounters;
pub use crate::parallel::Threads;

/// Index of a source file in [`Engine::files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(u32);

impl FileId {
    /// The index into [`Engine::files`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// llvm-cov's coverage semantics for one program, precomputed for fast queries.
///
/// Immutable after [`Engine::new`], and `Send + Sync`: build it once, share it, and query
/// it with counts evaluated from any counter array.
#[derive(Clone, Debug)]
pub struct Engine {
    files: Vec<String>,
    functions: Vec<LoadedFunction>,
    names: String,
    counter_ranges: Vec<Range<usize>>,
    expressions: Vec<Expression>,
    expression_order: Vec<u32>,
    regions: Vec<MappingRegion>,
    branch_regions: Vec<MappingRegion>,
    function_files: Vec<FileId>,
    plans: Vec<FilePlan>,
    /// For each data record, the files its function contributes to.
    record_files: Vec<Vec<FileId>>,
    /// For each data record, its counter range.
    record_counters: Vec<Range<usize>>,
}

impl Engine {
    /// Builds the engine from a decoded mapping, taken over (its arrays become the
    /// engine's, without a copy), and the data records of the program (from memory or from
    /// a raw profile).
    ///
    /// Functions are bound to records by name ref and function hash. As in llvm-cov, a
    /// function whose name has records but none with its hash is dropped ("hash
    /// mismatch"), a function without any record counts as all zeros, a function whose
    /// regions refer to counters it does not have is dropped, and only the first function
    /// of a given name and file set is kept.
    ///
    /// `threads` says whether the per-file work may spread over the cores: the live
    /// collector builds its narrow engine with [`Threads::One`], on its own thread, and
    /// starts no others inside the application; a whole program offline uses
    /// [`Threads::All`].
    pub fn new(mapping: CoverageMapping, records: &[FunctionCounters], threads: Threads) -> Engine {
        let mut scratch = BuildScratch::default();
        let mut engine = load::load(mapping, records, &mut scratch);
        engine.plans = plan::build_plans(&engine, &mut scratch, threads);
        engine
    }

    /// Every source path the mapping mentions (absolute), indexed by [`FileId`].
    ///
    /// Files without any function left after loading have empty coverage; use
    /// [`Engine::covered_files`] for llvm-cov's list of source files.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The path of a file.
    pub fn path(&self, file: FileId) -> &str {
        &self.files[file.index()]
    }

    /// The source files llvm-cov reports (those with at least one loaded function), in
    /// path order.
    pub fn covered_files(&self) -> Vec<FileId> {
        let mut ids: Vec<FileId> = (0..self.files.len())
            .filter(|&index| !self.plans[index].functions.is_empty())
            .map(|index| FileId(index as u32))
            .collect();
        ids.sort_by(|a, b| self.files[a.index()].cmp(&self.files[b.index()]));
        ids
    }

    /// The reported files that `filter` selects, in path order. Call it once and keep the
    /// result: filtering then costs nothing per snapshot.
    pub fn select_files(&self, filter: impl Fn(&str) -> bool) -> Vec<FileId> {
        self.covered_files()
            .into_iter()
            .filter(|&file| filter(self.path(file)))
            .collect()
    }

    /// Number of data records the engine was built with.
    pub fn num_records(&self) -> usize {
        self.record_counters.len()
    }

    /// The files the function of data record `record` contributes regions to (empty
    /// when no loaded function uses the record), so a delta can recompute only those.
    pub fn record_files(&self, record: usize) -> &[FileId] {
        self.record_files.get(record).map_or(&[], Vec::as_slice)
    }

    /// The counter index range of data record `record`.
    pub fn record_counters(&self, record: usize) -> Range<usize> {
        self.record_counters.get(record).cloned().unwrap_or(0..0)
    }

    /// The function's name (without a `file:` prefix).
    fn name(&self, function: &LoadedFunction) -> &str {
        slice_str(&self.names, &function.name)
    }
}

/// `&items[range]` for the `u32` ranges the engine stores.
fn slice<'a, T>(items: &'a [T], range: &Range<u32>) -> &'a [T] {
    &items[range.start as usize..range.end as usize]
}

/// `&text[range]` for the `u32` ranges the engine stores.
fn slice_str<'a>(text: &'a str, range: &Range<u32>) -> &'a str {
    &text[range.start as usize..range.end as usize]
}

/// The `u32` range of the items pushed to `items` since it had `start` of them.
fn range_since<T>(items: &[T], start: usize) -> Range<u32> {
    start as u32..items.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
        assert_send_sync::<Counts>();
    }
}
