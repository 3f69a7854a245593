//! The semantics engine: llvm-cov's view of a program's coverage, built once from the
//! mapping and the data records, then queried with any counter array.
//!
//! [`Engine::new`] binds each function to its data records, prepares llvm-cov's
//! `loadFunctionRecord` rules (hash mismatches, functions without profile data, records
//! that cannot be evaluated, placeholders, dedup by file set and name), and precomputes
//! for every source file which regions and branches it is made of and in which order
//! llvm-cov sorts them. Queries then only do the work that depends on counts: which
//! functions llvm-cov would show, evaluating counters ([`Engine::evaluate`]), combining,
//! building segments and reading off lines, branches and functions.
//!
//! Counter arrays are indexed like `__llvm_prf_cnts` (the live array, or a raw profile's);
//! each [`DataRecord`] says which slice belongs to which function.
//!
//! For a live collector: build the engine once; pick the files with
//! [`Engine::select_files`]; after reading the counters, use [`Engine::record_files`] to
//! find the files whose functions' counters changed and recompute only those with
//! [`Engine::file_coverage`]. For a whole program: [`Engine::evaluate`] every function
//! once and read each file off the result with [`Engine::file_report`] (from any number of
//! threads: the engine and the counts are shared read-only).
//!
//! Layout: the regions, expressions and files of all functions live in a few flat arrays,
//! and a function holds ranges into them. A large program has tens of thousands of
//! functions; one allocation per function and per field was most of the build time.

use std::collections::BTreeMap;
use std::ops::Range;

use cov_core::model::{Branch, FileCoverage, Function};
use foldhash::{HashSet, HashSetExt};

use crate::lcov::LcovSummary;
use crate::mapping::{
    Counter, CoverageMapping, Expression, ExpressionKind, MappingRegion, RegionKind,
};
use crate::parallel::{self, Threads};
use crate::profraw::DataRecord;
use crate::segments::{
    CountedRegion, SegmentScratch, build_segments_with, count_mapped_lines, for_each_mapped_line,
};

/// Index of a source file in [`Engine::files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(u32);

impl FileId {
    /// The index into [`Engine::files`].
    pub fn index(self) -> usize {
        self.0 as usize
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

/// A function as llvm-cov keeps it after loading (a `FunctionRecord`); its ranges index
/// the engine's flat arrays.
///
/// Where its counts come from, and whether llvm-cov would see them: the oracle merges raw
/// profiles with `llvm-profdata merge -sparse`, which leaves out every function *name*
/// whose records are all zero. llvm-cov then treats such a function as unknown (all
/// counts zero, sized by its largest counter) instead of using its records, and a
/// function whose name is present but never with its hash as a hash mismatch (left out).
/// Whether a name is present depends on the counts, so it is decided per query.
#[derive(Clone, Debug)]
struct EngineFunction {
    /// Name without a `file:` prefix (llvm-cov's `OrigFuncName`), in [`Engine::names`].
    name: Range<u32>,
    /// The counter ranges of the records with the function's name ref and hash (their sum
    /// is its counts), in [`Engine::counter_ranges`].
    bound: Range<u32>,
    /// The counter ranges of every record with the function's name ref, whatever its hash.
    same_name: Range<u32>,
    /// Counter expressions, in [`Engine::expressions`].
    expressions: Range<u32>,
    /// Expressions reachable from the regions, operands first (indices local to the
    /// function), in [`Engine::expression_order`].
    expression_order: Range<u32>,
    /// Non-branch regions (llvm-cov's `CountedRegions`), in stored order.
    regions: Range<u32>,
    /// Branch regions (llvm-cov's `CountedBranchRegions`), in stored order.
    branch_regions: Range<u32>,
    /// Source file of each function-local file id, in [`Engine::function_files`].
    files: Range<u32>,
    /// The first file id that no expansion expands to: where the function is defined.
    main_file_id: Option<u32>,
    /// A single zero region: skipped whenever its first counter is non-zero.
    zero_placeholder: bool,
    /// Whether llvm-cov can evaluate the regions with the bound records' counters.
    valid_with_data: bool,
}

/// A branch as llvm-cov's LCOV exporter orders it: by nesting path, then position.
#[derive(Clone, Debug)]
struct BranchItem {
    function: u32,
    /// Index in [`Engine::branch_regions`].
    region: u32,
    /// The expansion sites leading to it (or its own start), in [`FilePlan::paths`].
    path: Range<u32>,
}

/// One range of a file after sorting: the regions covering exactly that range.
#[derive(Clone, Debug)]
struct RegionGroup {
    start: (u32, u32),
    end: (u32, u32),
    /// In [`FilePlan::members`].
    members: Range<u32>,
}

/// A member of a combined region: its function and its index in [`Engine::regions`].
#[derive(Clone, Copy, Debug)]
struct Member {
    function: u32,
    region: u32,
}

/// Everything about one source file that does not depend on counts.
#[derive(Clone, Debug, Default)]
struct FilePlan {
    /// Functions with any region in this file, in load order.
    functions: Vec<u32>,
    /// Regions in llvm-cov's sort order, grouped by identical range.
    groups: Vec<RegionGroup>,
    members: Vec<Member>,
    /// Branches in the LCOV exporter's order; consecutive equal paths are merged.
    branches: Vec<BranchItem>,
    paths: Vec<(u32, u32)>,
    /// Functions whose first file is this one (llvm-cov's `FN` entries), in load order.
    defined_functions: Vec<u32>,
    /// Functions defined (main view) in this file, grouped by start location: llvm-cov's
    /// instantiation groups, in location order (ranges of `instantiations`).
    instantiation_groups: Vec<Range<u32>>,
    instantiations: Vec<u32>,
}

/// llvm-cov's coverage semantics for one program, precomputed for fast queries.
///
/// Immutable after [`Engine::new`], and `Send + Sync`: build it once, share it, and query
/// it with any counter array.
#[derive(Clone, Debug)]
pub struct Engine {
    files: Vec<String>,
    functions: Vec<EngineFunction>,
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

/// Every function's evaluated counts for one counter array ([`Engine::evaluate`]):
/// indexed like the engine's functions, regions and branch regions.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// False when llvm-cov would leave the function out for these counts.
    active: Vec<bool>,
    regions: Vec<u64>,
    branches: Vec<(u64, u64)>,
}

impl Counts {
    /// Whether the function was evaluated and llvm-cov shows it for these counts. Counts
    /// that do not include a function (see [`Engine::evaluate_files`]) leave it out rather
    /// than fail.
    fn is_active(&self, function: u32) -> bool {
        self.active.get(function as usize).copied().unwrap_or(false)
    }

    /// The count of region `region` (0 when not evaluated).
    fn region(&self, region: u32) -> u64 {
        self.regions.get(region as usize).copied().unwrap_or(0)
    }

    /// The true and false counts of branch region `region` ((0, 0) when not evaluated).
    fn branch(&self, region: u32) -> (u64, u64) {
        self.branches
            .get(region as usize)
            .copied()
            .unwrap_or((0, 0))
    }

    /// The counts of a function's regions (empty when not evaluated).
    fn regions_of(&self, range: &Range<u32>) -> &[u64] {
        self.regions
            .get(range.start as usize..range.end as usize)
            .unwrap_or(&[])
    }

    /// The counts of a function's branch regions (empty when not evaluated).
    fn branches_of(&self, range: &Range<u32>) -> &[(u64, u64)] {
        self.branches
            .get(range.start as usize..range.end as usize)
            .unwrap_or(&[])
    }
}

/// One file's coverage with llvm-cov's LCOV details ([`Engine::file_report`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Lines, branches and functions, as [`Engine::file_coverage`] returns them.
    pub coverage: FileCoverage,
    /// llvm-cov's summary lines ([`Engine::file_summary`]).
    pub summary: LcovSummary,
    /// The order of the `FN` lines: indices into `coverage.functions`, in llvm-cov's load
    /// order.
    pub function_order: Vec<u32>,
}

/// Scratch space reused while evaluating and summarizing.
#[derive(Default)]
struct Scratch {
    expression_values: Vec<i64>,
    regions: Vec<CountedRegion>,
    segments: SegmentScratch,
}

/// Scratch space reused while building the engine.
#[derive(Default)]
struct BuildScratch {
    /// The counter ranges bound to the function being loaded.
    bound: Vec<Range<usize>>,
    /// Its expressions' evaluation order.
    order: Vec<u32>,
    states: Vec<VisitState>,
    stack: Vec<(u32, bool)>,
    memo: Vec<Option<Option<u32>>>,
    expanded: Vec<bool>,
    touched: Vec<FileId>,
}

#[derive(Clone, Copy, PartialEq)]
enum VisitState {
    New,
    Visiting,
    Done,
}

impl Engine {
    /// Builds the engine from a decoded mapping and the data records of the program
    /// (from memory or from a raw profile).
    ///
    /// Functions are bound to records by name ref and function hash. As in llvm-cov, a
    /// function whose name has records but none with its hash is dropped ("hash
    /// mismatch"), a function without any record counts as all zeros, a function whose
    /// regions refer to counters it does not have is dropped, and only the first function
    /// of a given name and file set is kept.
    pub fn new(mapping: &CoverageMapping, records: &[DataRecord]) -> Engine {
        Engine::build(mapping.clone(), records, Threads::One)
    }

    /// [`Engine::new`] for a whole program, taking the mapping over (its arrays become the
    /// engine's, without a copy) and spreading the per-file work over the cores. The live
    /// collector builds its narrow engine on its own thread and starts no others inside the
    /// application.
    pub fn whole_program(mapping: CoverageMapping, records: &[DataRecord]) -> Engine {
        Engine::build(mapping, records, Threads::All)
    }

    /// [`Engine::new`] from an owned mapping, on the calling thread.
    pub(crate) fn from_mapping(mapping: CoverageMapping, records: &[DataRecord]) -> Engine {
        Engine::build(mapping, records, Threads::One)
    }

    fn build(mapping: CoverageMapping, records: &[DataRecord], threads: Threads) -> Engine {
        let parts = mapping.into_parts();
        // Record indices sorted by name ref: the records of a name are a sorted run.
        let mut by_name: Vec<(u64, u32)> = records
            .iter()
            .enumerate()
            .map(|(index, record)| (record.name_ref, index as u32))
            .collect();
        by_name.sort_unstable();

        // Without branch (or MC/DC) regions, the mapping's region array is the engine's as
        // it is; otherwise each function's regions are split into the two kinds.
        let split_regions = parts
            .regions
            .iter()
            .any(|region| region.is_branch() || region.kind == RegionKind::McdcDecision);
        let mut regions: Vec<MappingRegion> = Vec::new();
        let mut branch_regions: Vec<MappingRegion> = Vec::new();
        if split_regions {
            regions.reserve(parts.regions.len());
        }

        let mut functions: Vec<EngineFunction> = Vec::with_capacity(parts.functions.len());
        let mut counter_ranges: Vec<Range<usize>> = Vec::new();
        let mut expression_order: Vec<u32> = Vec::with_capacity(parts.expressions.len());
        let mut record_files: Vec<Vec<FileId>> = vec![Vec::new(); records.len()];
        let mut seen: HashSet<(&[u32], &str)> = HashSet::with_capacity(parts.functions.len());
        let mut scratch = BuildScratch::default();

        for function in &parts.functions {
            let name = slice_str(&parts.names, &function.name);
            let files = slice(&parts.function_files, &function.files);
            let function_expressions = slice(&parts.expressions, &function.expressions);
            let function_regions = slice(&parts.regions, &function.regions);

            let first = by_name.partition_point(|&(name_ref, _)| name_ref < function.name_ref);
            let same_name = by_name[first..]
                .iter()
                .take_while(|&&(name_ref, _)| name_ref == function.name_ref)
                .map(|&(_, index)| index as usize);
            // Everything is checked on scratch space first; only a function that is kept
            // adds to the engine's arrays.
            scratch.bound.clear();
            scratch.bound.extend(
                same_name
                    .clone()
                    .filter(|&index| records[index].func_hash == function.func_hash)
                    .map(|index| records[index].counters.clone()),
            );
            let bound = &scratch.bound;
            // llvm-profdata refuses to merge records whose counter counts differ.
            if bound.iter().any(|range| range.len() != bound[0].len()) {
                tracing::warn!(name = %rustc_demangle::demangle(name), "profile records disagree on the number of counters; function skipped");
                continue;
            }
            if function_regions.is_empty() {
                continue;
            }
            if !expression_order_into(function_expressions, function_regions, &mut scratch) {
                tracing::debug!(name = %rustc_demangle::demangle(name), "cyclic counter expressions; function skipped");
                continue;
            }
            let Some(max_used) =
                max_used_counter_with(function_expressions, function_regions, &mut scratch.memo)
            else {
                continue;
            };
            // llvm-cov drops a function whose regions refer to counters its profile record
            // does not have. Without a record, llvm-cov 22 evaluates every counter as zero
            // and keeps the function (checked in `tests/llvm_cov_differential.rs`).
            let valid_with_data = scratch
                .bound
                .first()
                .is_some_and(|range| max_used.is_none_or(|max| (max as usize) < range.len()));

            let first_file = files
                .first()
                .map(|&file| parts.files[file as usize].as_str())
                .unwrap_or("");
            let short_name = name_without_prefix(name, first_file);
            if !seen.insert((files, short_name)) {
                continue;
            }
            let bound_start = counter_ranges.len();
            counter_ranges.extend_from_slice(&scratch.bound);
            let bound = range_since(&counter_ranges, bound_start);
            let order_start = expression_order.len();
            expression_order.extend_from_slice(&scratch.order);
            let same_name_start = counter_ranges.len();
            counter_ranges.extend(
                same_name
                    .clone()
                    .map(|index| records[index].counters.clone()),
            );
            let same_name_ranges = range_since(&counter_ranges, same_name_start);

            let (function_regions_range, branch_range) = if split_regions {
                let regions_start = regions.len();
                let branches_start = branch_regions.len();
                for region in function_regions {
                    if region.kind == RegionKind::McdcDecision {
                        continue;
                    }
                    if region.is_branch() {
                        branch_regions.push(*region);
                    } else {
                        regions.push(*region);
                    }
                }
                (
                    range_since(&regions, regions_start),
                    range_since(&branch_regions, branches_start),
                )
            } else {
                (function.regions.clone(), 0..0)
            };
            let main_file_id = main_file_id(
                if split_regions {
                    slice(&regions, &function_regions_range)
                } else {
                    function_regions
                },
                files.len(),
                &mut scratch.expanded,
            );
            // Any record of the name can change what the function shows.
            scratch.touched.clear();
            scratch
                .touched
                .extend(files.iter().map(|&file| FileId(file)));
            scratch.touched.sort_unstable();
            scratch.touched.dedup();
            for index in same_name {
                let files = &mut record_files[index];
                files.extend_from_slice(&scratch.touched);
                files.sort_unstable();
                files.dedup();
            }
            // The short name is the end of the full one.
            let name_end = function.name.end;
            functions.push(EngineFunction {
                name: name_end - short_name.len() as u32..name_end,
                bound,
                same_name: same_name_ranges,
                expressions: function.expressions.clone(),
                expression_order: range_since(&expression_order, order_start),
                regions: function_regions_range,
                branch_regions: branch_range,
                files: function.files.clone(),
                main_file_id,
                zero_placeholder: function_regions.len() == 1
                    && function_regions[0].count == Counter::Zero,
                valid_with_data,
            });
        }
        drop(seen);

        let mut engine = Engine {
            files: parts.files,
            functions,
            names: parts.names,
            counter_ranges,
            expressions: parts.expressions,
            expression_order,
            regions: if split_regions {
                regions
            } else {
                parts.regions
            },
            branch_regions,
            // Same layout: collected in place.
            function_files: parts.function_files.into_iter().map(FileId).collect(),
            plans: Vec::new(),
            record_files,
            record_counters: records
                .iter()
                .map(|record| record.counters.clone())
                .collect(),
        };
        engine.plans = build_plans(&engine, &mut scratch, threads);
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

    /// Whether llvm-cov lists `file` for these counts: some function in it is loaded.
    ///
    /// [`Engine::covered_files`] is decided once; a file whose every function is left out
    /// for particular counts (hash mismatches, unevaluable records, placeholders) has
    /// empty coverage then, and llvm-cov does not list it.
    pub fn is_reported(&self, file: FileId, counters: &[u64]) -> bool {
        self.plans.get(file.index()).is_some_and(|plan| {
            plan.functions
                .iter()
                .any(|&function| self.is_active(&self.functions[function as usize], counters))
        })
    }

    /// [`Engine::is_reported`] for evaluated counts.
    pub fn is_reported_in(&self, file: FileId, counts: &Counts) -> bool {
        self.plans.get(file.index()).is_some_and(|plan| {
            plan.functions
                .iter()
                .any(|&function| counts.is_active(function))
        })
    }

    /// The names of the functions defined in `file` (as in [`FileCoverage::functions`]) in
    /// llvm-cov's load order, which is the order of its `FN` lines.
    pub fn function_order(&self, file: FileId, counters: &[u64]) -> Vec<String> {
        self.plans
            .get(file.index())
            .map(|plan| {
                plan.defined_functions
                    .iter()
                    .map(|&function| &self.functions[function as usize])
                    .filter(|function| {
                        self.is_active(function, counters) && !function.regions.is_empty()
                    })
                    .map(|function| self.name(function).to_owned())
                    .collect()
            })
            .unwrap_or_default()
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

    /// Evaluates every function against `counters` (indexed like `__llvm_prf_cnts`), for
    /// reading any number of files off the result.
    pub fn evaluate(&self, counters: &[u64]) -> Counts {
        let mut counts = self.empty_counts();
        let mut scratch = Scratch::default();
        for function in 0..self.functions.len() as u32 {
            self.evaluate_into(function, counters, &mut scratch, &mut counts);
        }
        counts
    }

    /// Evaluates the functions of `files` only (each once), for reading those files off
    /// the result with [`Engine::file_coverage_in`]: what a snapshot of a few files needs,
    /// with one set of buffers for all of them.
    pub fn evaluate_files(&self, files: &[FileId], counters: &[u64]) -> Counts {
        if files.is_empty() {
            // Nothing to read off: no buffers either (an idle snapshot's common case).
            return Counts::default();
        }
        let mut counts = self.empty_counts();
        let mut evaluated = vec![false; self.functions.len()];
        let mut scratch = Scratch::default();
        for plan in files.iter().filter_map(|file| self.plans.get(file.index())) {
            for &function in &plan.functions {
                if !std::mem::replace(&mut evaluated[function as usize], true) {
                    self.evaluate_into(function, counters, &mut scratch, &mut counts);
                }
            }
        }
        counts
    }

    /// [`Engine::file_coverage`] from counts that include the file's functions
    /// ([`Engine::evaluate`] or [`Engine::evaluate_files`]).
    pub fn file_coverage_in(&self, file: FileId, counts: &Counts) -> FileCoverage {
        let Some(plan) = self.plans.get(file.index()) else {
            return FileCoverage::default();
        };
        self.coverage_with(plan, counts, &mut Scratch::default()).0
    }

    /// Counts with room for every function and nothing evaluated.
    fn empty_counts(&self) -> Counts {
        Counts {
            active: vec![false; self.functions.len()],
            regions: vec![0; self.regions.len()],
            branches: vec![(0, 0); self.branch_regions.len()],
        }
    }

    /// llvm-cov's coverage of one file for the counter array `counters` (indexed like
    /// `__llvm_prf_cnts`): mapped lines and their counts, branches (instantiations at one
    /// location summed, as `llvm-cov export` does by default), and the functions defined
    /// in the file with their entry counts.
    pub fn file_coverage(&self, file: FileId, counters: &[u64]) -> FileCoverage {
        let Some(plan) = self.plans.get(file.index()) else {
            return FileCoverage::default();
        };
        let counts = self.evaluate_files(&[file], counters);
        self.coverage_with(plan, &counts, &mut Scratch::default()).0
    }

    /// llvm-cov's summary lines for one file (`FNF`/`FNH`, `LF`/`LH`, `BRF`/`BRH`), which it
    /// computes per function and instantiation group rather than from the file's lines:
    /// each group counts the maximum of its instantiations, and the file sums its groups.
    pub fn file_summary(&self, file: FileId, counters: &[u64]) -> LcovSummary {
        let Some(plan) = self.plans.get(file.index()) else {
            return LcovSummary::default();
        };
        let counts = self.evaluate_files(&[file], counters);
        self.summary_with(plan, &counts, &mut Scratch::default())
    }

    /// Everything llvm-cov's LCOV export says about one file, read off evaluated counts
    /// ([`Engine::evaluate`]).
    pub fn file_report(&self, file: FileId, counts: &Counts) -> FileReport {
        let Some(plan) = self.plans.get(file.index()) else {
            return FileReport::default();
        };
        let mut scratch = Scratch::default();
        let (coverage, function_order) = self.coverage_with(plan, counts, &mut scratch);
        FileReport {
            coverage,
            summary: self.summary_with(plan, counts, &mut scratch),
            function_order,
        }
    }

    /// A file's coverage from evaluated counts, and the order of its functions' `FN` lines
    /// (indices into the coverage's functions, in load order).
    fn coverage_with(
        &self,
        plan: &FilePlan,
        counts: &Counts,
        scratch: &mut Scratch,
    ) -> (FileCoverage, Vec<u32>) {
        // Lines: combine each group over the active members, then segment.
        let combined = &mut scratch.regions;
        combined.clear();
        for group in &plan.groups {
            let mut first_kind = None;
            let mut count = 0_u64;
            for member in slice(&plan.members, &group.members) {
                if !counts.is_active(member.function) {
                    continue;
                }
                let kind = self.regions[member.region as usize].kind;
                let value = counts.region(member.region);
                match first_kind {
                    None => {
                        first_kind = Some(kind);
                        count = value;
                    }
                    Some(first) if first == kind => count = count.wrapping_add(value),
                    Some(_) => {}
                }
            }
            if let Some(kind) = first_kind {
                combined.push(CountedRegion {
                    start: group.start,
                    end: group.end,
                    kind,
                    count,
                });
            }
        }
        let segments = build_segments_with(combined, &mut scratch.segments);
        let mut mapped = Vec::with_capacity(segments.len());
        for_each_mapped_line(segments, |line, count| mapped.push((line, count)));
        // Lines arrive in order, which `BTreeMap` builds in bulk.
        let lines: BTreeMap<u32, u64> = mapped.into_iter().collect();

        // Branches: merge consecutive items with the same nesting path.
        let mut branches: Vec<Branch> = Vec::new();
        let mut previous_path: Option<&[(u32, u32)]> = None;
        for item in &plan.branches {
            if !counts.is_active(item.function) {
                continue;
            }
            let region = &self.branch_regions[item.region as usize];
            let (true_count, false_count) = counts.branch(item.region);
            let true_outcome = (region.count != Counter::Zero).then_some(true_count);
            let false_outcome = (region.false_count != Counter::Zero).then_some(false_count);
            let path = slice(&plan.paths, &item.path);
            if previous_path == Some(path)
                && let Some(last) = branches.last_mut()
            {
                last.true_count = merge_outcome(last.true_count, true_outcome, true_count);
                last.false_count = merge_outcome(last.false_count, false_outcome, false_count);
                continue;
            }
            previous_path = Some(path);
            let (line, column) = path[0];
            branches.push(Branch {
                line,
                column,
                true_count: true_outcome,
                false_count: false_outcome,
            });
        }

        // Functions defined in this file, in load order, then sorted by (line, name).
        let mut functions: Vec<Function> = Vec::with_capacity(plan.defined_functions.len());
        for &function in &plan.defined_functions {
            if !counts.is_active(function) {
                continue;
            }
            let record = &self.functions[function as usize];
            if let Some(first) = slice(&self.regions, &record.regions).first() {
                functions.push(Function {
                    name: self.name(record).to_owned(),
                    line: first.line_start,
                    count: counts.region(record.regions.start),
                });
            }
        }
        let mut sorted: Vec<u32> = (0..functions.len() as u32).collect();
        sorted.sort_by(|&a, &b| {
            let (a, b) = (&functions[a as usize], &functions[b as usize]);
            (a.line, &a.name).cmp(&(b.line, &b.name))
        });
        // `sorted[p]` is the load position of the p-th sorted function; the `FN` order
        // lists, for each load position, where that function went.
        let mut function_order = vec![0_u32; functions.len()];
        for (position, &loaded) in sorted.iter().enumerate() {
            function_order[loaded as usize] = position as u32;
        }
        let mut slots: Vec<Option<Function>> = functions.into_iter().map(Some).collect();
        let functions = sorted
            .iter()
            .filter_map(|&loaded| slots[loaded as usize].take())
            .collect();

        (
            FileCoverage {
                lines,
                branches,
                functions,
            },
            function_order,
        )
    }

    /// [`Engine::file_summary`] from evaluated counts.
    fn summary_with(&self, plan: &FilePlan, counts: &Counts, scratch: &mut Scratch) -> LcovSummary {
        let mut summary = LcovSummary::default();
        for group in &plan.instantiation_groups {
            let mut any = false;
            let mut execution_count = 0_u64;
            let (mut lines, mut lines_hit, mut branches, mut branches_hit) = (0, 0, 0, 0);
            for &function in slice(&plan.instantiations, group) {
                if !counts.is_active(function) {
                    continue;
                }
                any = true;
                let record = &self.functions[function as usize];
                let Some(main) = record.main_file_id else {
                    continue;
                };
                let region_counts = counts.regions_of(&record.regions);
                // llvm-cov's execution count is the first non-branch region's (0 without one).
                execution_count =
                    execution_count.wrapping_add(region_counts.first().copied().unwrap_or(0));
                scratch.regions.clear();
                scratch.regions.extend(
                    slice(&self.regions, &record.regions)
                        .iter()
                        .zip(region_counts)
                        .filter(|(region, _)| region.file_id == main)
                        .map(|(region, &count)| CountedRegion {
                            start: region.start(),
                            end: region.end(),
                            kind: region.kind,
                            count,
                        }),
                );
                let (found, hit) = count_mapped_lines(&mut scratch.regions, &mut scratch.segments);
                lines = lines.max(found);
                lines_hit = lines_hit.max(hit);
                let (found, hit) = self.function_branch_summary(record, counts, main, 0);
                branches = branches.max(found);
                branches_hit = branches_hit.max(hit);
            }
            if !any {
                continue;
            }
            summary.functions_found += 1;
            summary.functions_hit += u64::from(execution_count > 0);
            summary.lines_found += lines;
            summary.lines_hit += lines_hit;
            summary.branches_found += branches;
            summary.branches_hit += branches_hit;
        }
        summary
    }

    /// Branch outcomes (found, hit) of one function in `file_id` and, recursively, in the
    /// files its expansions there expand to (llvm-cov's `sumBranches` and
    /// `sumBranchExpansions`).
    fn function_branch_summary(
        &self,
        record: &EngineFunction,
        counts: &Counts,
        file_id: u32,
        depth: usize,
    ) -> (u64, u64) {
        let (mut found, mut hit) = (0, 0);
        for (region, &(true_count, false_count)) in
            slice(&self.branch_regions, &record.branch_regions)
                .iter()
                .zip(counts.branches_of(&record.branch_regions))
        {
            if region.file_id != file_id {
                continue;
            }
            if region.count != Counter::Zero {
                found += 1;
                hit += u64::from(true_count > 0);
            }
            if region.false_count != Counter::Zero {
                found += 1;
                hit += u64::from(false_count > 0);
            }
        }
        // Expansions nest at most as deep as there are files; deeper means a cycle.
        if depth > record.files.len() {
            return (found, hit);
        }
        for region in slice(&self.regions, &record.regions)
            .iter()
            .filter(|region| region.kind == RegionKind::Expansion && region.file_id == file_id)
        {
            let (nested_found, nested_hit) =
                self.function_branch_summary(record, counts, region.expanded_file_id, depth + 1);
            found += nested_found;
            hit += nested_hit;
        }
        (found, hit)
    }

    /// The function's name (without a `file:` prefix).
    fn name(&self, function: &EngineFunction) -> &str {
        slice_str(&self.names, &function.name)
    }

    /// Whether `llvm-profdata merge -sparse` would keep the function's name: some record
    /// of that name has a non-zero counter.
    fn name_present(&self, function: &EngineFunction, counters: &[u64]) -> bool {
        slice(&self.counter_ranges, &function.same_name)
            .iter()
            .any(|range| {
                counters
                    .get(range.clone())
                    .is_some_and(|values| values.iter().any(|&value| value != 0))
            })
    }

    /// Whether llvm-cov would report this function for these counts.
    fn is_active(&self, function: &EngineFunction, counters: &[u64]) -> bool {
        if !self.name_present(function, counters) {
            // Unknown to the profile: all counts zero, always shown.
            return true;
        }
        if function.bound.is_empty() {
            // The name has data, but never with this hash: a hash mismatch.
            return false;
        }
        function.valid_with_data
            && !(function.zero_placeholder && self.counter_value(function, counters, 0) > 0)
    }

    /// The value of counter `id` of the function: the sum over its bound records.
    fn counter_value(&self, function: &EngineFunction, counters: &[u64], id: u32) -> u64 {
        slice(&self.counter_ranges, &function.bound)
            .iter()
            .fold(0_u64, |sum, range| {
                let value = counters
                    .get(range.start + id as usize)
                    .copied()
                    .unwrap_or(0);
                sum.wrapping_add(value)
            })
    }

    /// Evaluates one function's regions and branch regions into `counts`, and whether
    /// llvm-cov shows it for these counts (a placeholder whose function ran is skipped).
    fn evaluate_into(
        &self,
        function: u32,
        counters: &[u64],
        scratch: &mut Scratch,
        counts: &mut Counts,
    ) {
        let record = &self.functions[function as usize];
        let active = self.is_active(record, counters);
        counts.active[function as usize] = active;
        if !active {
            return;
        }
        // Without the name in the profile, llvm-cov's counts are all zero.
        let present = self.name_present(record, counters);
        let counter_value = |id: u32| -> u64 {
            if present {
                self.counter_value(record, counters, id)
            } else {
                0
            }
        };
        let expressions = slice(&self.expressions, &record.expressions);
        let values = &mut scratch.expression_values;
        values.clear();
        values.resize(expressions.len(), 0);
        for &index in slice(&self.expression_order, &record.expression_order) {
            let expression = expressions[index as usize];
            let value_of = |counter: Counter, values: &[i64]| -> i64 {
                match counter {
                    Counter::Zero => 0,
                    Counter::Counter(id) => counter_value(id) as i64,
                    Counter::Expression(id) => values[id as usize],
                }
            };
            let lhs = value_of(expression.lhs, values);
            let rhs = value_of(expression.rhs, values);
            values[index as usize] = match expression.kind {
                ExpressionKind::Add => lhs.wrapping_add(rhs),
                ExpressionKind::Subtract => lhs.wrapping_sub(rhs),
            };
        }
        let evaluate = |counter: Counter| -> u64 {
            match counter {
                Counter::Zero => 0,
                Counter::Counter(id) => counter_value(id),
                Counter::Expression(id) => values[id as usize] as u64,
            }
        };
        for (slot, region) in counts.regions
            [record.regions.start as usize..record.regions.end as usize]
            .iter_mut()
            .zip(slice(&self.regions, &record.regions))
        {
            *slot = evaluate(region.count);
        }
        for (slot, region) in counts.branches
            [record.branch_regions.start as usize..record.branch_regions.end as usize]
            .iter_mut()
            .zip(slice(&self.branch_regions, &record.branch_regions))
        {
            *slot = (evaluate(region.count), evaluate(region.false_count));
        }
    }
}

/// Merges one more instantiation's outcome into a summed branch outcome: it stays folded
/// (`None`) only while every instantiation folds it.
fn merge_outcome(sum: Option<u64>, outcome: Option<u64>, count: u64) -> Option<u64> {
    match (sum, outcome) {
        (None, None) => None,
        (sum, _) => Some(sum.unwrap_or(0).wrapping_add(count)),
    }
}

/// llvm-cov's `getFuncNameWithoutPrefix`: a name starting with the function's first file
/// name loses it and the separator after it (`:` or `;` for local symbols).
fn name_without_prefix<'a>(name: &'a str, file: &str) -> &'a str {
    if file.is_empty() {
        return name;
    }
    match name.strip_prefix(file) {
        Some(rest) => {
            let mut chars = rest.chars();
            chars.next();
            chars.as_str()
        }
        None => name,
    }
}

/// The first file id that no expansion region expands to.
fn main_file_id(
    regions: &[MappingRegion],
    num_files: usize,
    expanded: &mut Vec<bool>,
) -> Option<u32> {
    expanded.clear();
    expanded.resize(num_files, false);
    for region in regions {
        if region.kind == RegionKind::Expansion
            && let Some(slot) = expanded.get_mut(region.expanded_file_id as usize)
        {
            *slot = true;
        }
    }
    expanded
        .iter()
        .position(|&is_expanded| !is_expanded)
        .map(|id| id as u32)
}

/// An evaluation order for the expressions reachable from the regions' counters, with
/// operands before the expressions using them; `None` when expressions form a cycle, which
/// llvm-cov cannot evaluate either.
#[cfg(test)]
fn expression_order(expressions: &[Expression], regions: &[MappingRegion]) -> Option<Vec<u32>> {
    let mut scratch = BuildScratch::default();
    expression_order_into(expressions, regions, &mut scratch).then_some(scratch.order)
}

/// [`expression_order`] into `scratch.order`; false on a cycle.
fn expression_order_into(
    expressions: &[Expression],
    regions: &[MappingRegion],
    scratch: &mut BuildScratch,
) -> bool {
    let BuildScratch {
        states: state,
        stack,
        order,
        ..
    } = scratch;
    order.clear();
    state.clear();
    state.resize(expressions.len(), VisitState::New);
    for region in regions
        .iter()
        .filter(|region| region.kind != RegionKind::McdcDecision)
    {
        for root in [region.count, region.false_count] {
            let Counter::Expression(root) = root else {
                continue;
            };
            // Iterative depth-first post-order.
            stack.clear();
            stack.push((root, false));
            while let Some((index, operands_done)) = stack.pop() {
                let Some(&slot) = state.get(index as usize) else {
                    return false;
                };
                if operands_done {
                    state[index as usize] = VisitState::Done;
                    order.push(index);
                    continue;
                }
                match slot {
                    VisitState::Done => continue,
                    VisitState::Visiting => return false,
                    VisitState::New => {}
                }
                state[index as usize] = VisitState::Visiting;
                stack.push((index, true));
                let expression = expressions[index as usize];
                for operand in [expression.rhs, expression.lhs] {
                    if let Counter::Expression(operand) = operand {
                        match state.get(operand as usize) {
                            None | Some(VisitState::Visiting) => return false,
                            Some(VisitState::Done) => {}
                            Some(VisitState::New) => stack.push((operand, false)),
                        }
                    }
                }
            }
        }
    }
    true
}

/// The largest counter id the regions' true and false counters reach (what llvm-cov
/// evaluates), `Some(None)` when they use no counter, `None` on a cycle.
#[cfg(test)]
fn max_used_counter(expressions: &[Expression], regions: &[MappingRegion]) -> Option<Option<u32>> {
    max_used_counter_with(expressions, regions, &mut Vec::new())
}

/// [`max_used_counter`] with a reused memo.
fn max_used_counter_with(
    expressions: &[Expression],
    regions: &[MappingRegion],
    memo: &mut Vec<Option<Option<u32>>>,
) -> Option<Option<u32>> {
    memo.clear();
    memo.resize(expressions.len(), None);
    let mut max: Option<u32> = None;
    for region in regions
        .iter()
        .filter(|region| region.kind != RegionKind::McdcDecision)
    {
        for counter in [region.count, region.false_count] {
            max = max.max(used_in(counter, expressions, memo, 0)?);
        }
    }
    Some(max)
}

fn used_in(
    counter: Counter,
    expressions: &[Expression],
    memo: &mut [Option<Option<u32>>],
    depth: usize,
) -> Option<Option<u32>> {
    match counter {
        Counter::Zero => Some(None),
        Counter::Counter(id) => Some(Some(id)),
        Counter::Expression(id) => {
            let expression = expressions.get(id as usize)?;
            if let Some(known) = memo[id as usize] {
                return Some(known);
            }
            // Deeper than the number of expressions means a cycle.
            if depth > expressions.len() {
                return None;
            }
            let value = used_in(expression.lhs, expressions, memo, depth + 1)?.max(used_in(
                expression.rhs,
                expressions,
                memo,
                depth + 1,
            )?);
            memo[id as usize] = Some(value);
            Some(value)
        }
    }
}

/// A region of a file, as the plan sorts it: its range and kind, and which it is (28
/// bytes: a large program sorts a quarter of a million of them).
#[derive(Clone, Copy, Default)]
struct PlanRegion {
    start: (u32, u32),
    end: (u32, u32),
    function: u32,
    region: u32,
    kind: u8,
}

impl PlanRegion {
    /// llvm-cov's order ([`region_order`]): by start, the enclosing (longer) region first,
    /// then by kind.
    fn order(&self, other: &PlanRegion) -> std::cmp::Ordering {
        (self.start, std::cmp::Reverse(self.end), self.kind).cmp(&(
            other.start,
            std::cmp::Reverse(other.end),
            other.kind,
        ))
    }
}

/// Precomputes every file's region groups, branch order and defined functions.
fn build_plans(engine: &Engine, scratch: &mut BuildScratch, threads: Threads) -> Vec<FilePlan> {
    let num_files = engine.files.len();
    let mut plans: Vec<FilePlan> = vec![FilePlan::default(); num_files];

    // Every region's file, counted first so each file's regions land in one slice of a
    // single array (a counting sort by file) instead of 700 growing vectors.
    let region_file = |function: &EngineFunction, region: &MappingRegion| -> Option<FileId> {
        slice(&engine.function_files, &function.files)
            .get(region.file_id as usize)
            .copied()
    };
    let mut file_starts = vec![0_usize; num_files + 1];
    for function in &engine.functions {
        for region in slice(&engine.regions, &function.regions) {
            if let Some(file) = region_file(function, region) {
                file_starts[file.index() + 1] += 1;
            }
        }
    }
    for index in 0..num_files {
        file_starts[index + 1] += file_starts[index];
    }
    let mut sorted = vec![PlanRegion::default(); file_starts[num_files]];
    let mut next = file_starts.clone();
    // Instantiation groups: (file, start, function) for every function's main view.
    let mut instantiations: Vec<(FileId, (u32, u32), u32)> = Vec::new();
    // Branches per file, direct ones and those inside expansions, each in load order.
    let mut direct_branches: Vec<Vec<BranchItem>> = vec![Vec::new(); num_files];
    let mut expansion_branches: Vec<Vec<BranchItem>> = vec![Vec::new(); num_files];
    let mut path_arenas: Vec<Vec<(u32, u32)>> = vec![Vec::new(); num_files];

    for (function_index, function) in engine.functions.iter().enumerate() {
        let function_index = function_index as u32;
        let files = slice(&engine.function_files, &function.files);
        scratch.touched.clear();
        scratch.touched.extend_from_slice(files);
        scratch.touched.sort_unstable();
        scratch.touched.dedup();
        for &file in &scratch.touched {
            plans[file.index()].functions.push(function_index);
        }
        if let Some(&first) = files.first() {
            plans[first.index()].defined_functions.push(function_index);
        }
        let regions = slice(&engine.regions, &function.regions);
        for (offset, region) in regions.iter().enumerate() {
            let Some(file) = region_file(function, region) else {
                continue;
            };
            let slot = &mut next[file.index()];
            sorted[*slot] = PlanRegion {
                start: region.start(),
                end: region.end(),
                function: function_index,
                region: function.regions.start + offset as u32,
                kind: region.kind as u8,
            };
            *slot += 1;
        }
        let branch_regions = slice(&engine.branch_regions, &function.branch_regions);
        for (offset, region) in branch_regions.iter().enumerate() {
            let Some(&file) = files.get(region.file_id as usize) else {
                continue;
            };
            if region.count == Counter::Zero && region.false_count == Counter::Zero {
                continue;
            }
            let paths = &mut path_arenas[file.index()];
            let path_start = paths.len();
            paths.push(region.start());
            direct_branches[file.index()].push(BranchItem {
                function: function_index,
                region: function.branch_regions.start + offset as u32,
                path: range_since(paths, path_start),
            });
        }
        if let Some(main) = function.main_file_id {
            let file = files[main as usize];
            if let Some(first) = regions.iter().find(|region| region.file_id == main) {
                instantiations.push((file, first.start(), function_index));
            }
            // Branches inside expansions, reported at the expansion site of the main file.
            let mut path = Vec::new();
            collect_expansion_branches(
                engine,
                function,
                function_index,
                main,
                &mut path,
                &mut expansion_branches[file.index()],
                &mut path_arenas[file.index()],
                0,
            );
        }
    }

    // Sorted by location, each group's functions in load order.
    instantiations.sort_unstable();
    let mut previous: Option<(FileId, (u32, u32))> = None;
    for (file, start, function) in instantiations {
        let plan = &mut plans[file.index()];
        let at = plan.instantiations.len() as u32;
        plan.instantiations.push(function);
        match plan.instantiation_groups.last_mut() {
            Some(group) if previous == Some((file, start)) => group.end = at + 1,
            _ => plan.instantiation_groups.push(at..at + 1),
        }
        previous = Some((file, start));
    }

    // Each file's regions in llvm-cov's order, grouped by range: independent per file.
    let mut work: Vec<(&mut FilePlan, &mut [PlanRegion])> = Vec::with_capacity(num_files);
    let mut rest: &mut [PlanRegion] = &mut sorted;
    for (file_index, plan) in plans.iter_mut().enumerate() {
        let (regions, after) = std::mem::take(&mut rest)
            .split_at_mut(file_starts[file_index + 1] - file_starts[file_index]);
        rest = after;
        work.push((plan, regions));
    }
    let group_file = |(plan, regions): &mut (&mut FilePlan, &mut [PlanRegion])| {
        // Regions of the same range and kind are added up, so their order among
        // themselves does not matter and an unstable sort will do.
        regions.sort_unstable_by(PlanRegion::order);
        plan.members.reserve_exact(regions.len());
        for region in regions.iter() {
            match plan.groups.last_mut() {
                Some(group) if group.start == region.start && group.end == region.end => {
                    group.members.end += 1;
                }
                _ => {
                    let at = plan.members.len() as u32;
                    plan.groups.push(RegionGroup {
                        start: region.start,
                        end: region.end,
                        members: at..at + 1,
                    });
                }
            }
            plan.members.push(Member {
                function: region.function,
                region: region.region,
            });
        }
    };
    match threads {
        Threads::All => parallel::for_each_mut(&mut work, 16, group_file),
        Threads::One => work.iter_mut().for_each(group_file),
    }
    drop(work);
    for (file_index, plan) in plans.iter_mut().enumerate() {
        // Positions: direct branches and expansion branches are numbered separately; at
        // equal path and position, direct ones come first.
        let direct = std::mem::take(&mut direct_branches[file_index]);
        let expansion = std::mem::take(&mut expansion_branches[file_index]);
        if direct.is_empty() && expansion.is_empty() {
            continue;
        }
        let paths = std::mem::take(&mut path_arenas[file_index]);
        let mut items: Vec<(BranchItem, usize, bool)> = direct
            .into_iter()
            .enumerate()
            .map(|(position, item)| (item, position, false))
            .chain(
                expansion
                    .into_iter()
                    .enumerate()
                    .map(|(position, item)| (item, position, true)),
            )
            .collect();
        items.sort_by(|a, b| {
            (slice(&paths, &a.0.path), a.1, a.2).cmp(&(slice(&paths, &b.0.path), b.1, b.2))
        });
        plan.branches = items.into_iter().map(|(item, ..)| item).collect();
        plan.paths = paths;
    }
    plans
}

/// llvm-cov's `collectNestedBranches` for one function: for every expansion region in
/// `file_id`, first the branches of nested expansions, then the branches of the expanded
/// file itself, each with the path of expansion sites leading to it.
#[allow(clippy::too_many_arguments)]
fn collect_expansion_branches(
    engine: &Engine,
    function: &EngineFunction,
    function_index: u32,
    file_id: u32,
    path: &mut Vec<(u32, u32)>,
    out: &mut Vec<BranchItem>,
    paths: &mut Vec<(u32, u32)>,
    depth: usize,
) {
    // Expansions can only nest as deep as there are files; deeper means a cycle.
    if depth > function.files.len() {
        return;
    }
    for region in slice(&engine.regions, &function.regions)
        .iter()
        .filter(|region| region.kind == RegionKind::Expansion && region.file_id == file_id)
    {
        let expanded = region.expanded_file_id;
        path.push(region.start());
        collect_expansion_branches(
            engine,
            function,
            function_index,
            expanded,
            path,
            out,
            paths,
            depth + 1,
        );
        let branch_regions = slice(&engine.branch_regions, &function.branch_regions);
        for (offset, branch) in branch_regions.iter().enumerate() {
            if branch.file_id != expanded {
                continue;
            }
            if branch.count == Counter::Zero && branch.false_count == Counter::Zero {
                continue;
            }
            let path_start = paths.len();
            paths.extend_from_slice(path);
            out.push(BranchItem {
                function: function_index,
                region: function.branch_regions.start + offset as u32,
                path: range_since(paths, path_start),
            });
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_region(count: Counter) -> MappingRegion {
        MappingRegion {
            kind: RegionKind::Code,
            count,
            false_count: Counter::Zero,
            file_id: 0,
            expanded_file_id: 0,
            line_start: 1,
            column_start: 1,
            line_end: 2,
            column_end: 2,
        }
    }

    fn expression(kind: ExpressionKind, lhs: Counter, rhs: Counter) -> Expression {
        Expression { kind, lhs, rhs }
    }

    #[test]
    fn the_engine_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Engine>();
    }

    #[test]
    fn expressions_are_ordered_operands_first() {
        let expressions = vec![
            expression(
                ExpressionKind::Subtract,
                Counter::Expression(1),
                Counter::Counter(1),
            ),
            expression(
                ExpressionKind::Add,
                Counter::Counter(0),
                Counter::Counter(2),
            ),
        ];
        let regions = [code_region(Counter::Expression(0))];
        assert_eq!(expression_order(&expressions, &regions), Some(vec![1, 0]));
        assert_eq!(max_used_counter(&expressions, &regions), Some(Some(2)));
        assert_eq!(
            max_used_counter(&expressions, &[code_region(Counter::Zero)]),
            Some(None)
        );
    }

    #[test]
    fn cyclic_expressions_cannot_be_evaluated() {
        let expressions = vec![
            expression(
                ExpressionKind::Add,
                Counter::Expression(1),
                Counter::Counter(0),
            ),
            expression(
                ExpressionKind::Add,
                Counter::Expression(0),
                Counter::Counter(0),
            ),
        ];
        let regions = [code_region(Counter::Expression(0))];
        assert_eq!(expression_order(&expressions, &regions), None);
        assert_eq!(max_used_counter(&expressions, &regions), None);
    }

    #[test]
    fn file_prefixes_are_removed_from_local_names() {
        assert_eq!(name_without_prefix("src/a.c:helper", "src/a.c"), "helper");
        assert_eq!(
            name_without_prefix("_RNvCs1_3app4main", "/src/main.rs"),
            "_RNvCs1_3app4main"
        );
    }
}
