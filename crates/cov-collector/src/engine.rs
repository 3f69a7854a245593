//! The semantics engine: llvm-cov's view of a program's coverage, built once from the
//! mapping and the data records, then queried with any counter array.
//!
//! [`Engine::new`] binds each function to its data records, prepares llvm-cov's
//! `loadFunctionRecord` rules (hash mismatches, functions without profile data, records
//! that cannot be evaluated, placeholders, dedup by file set and name), and precomputes
//! for every source file which regions and branches it is made of and in which order
//! llvm-cov sorts them. [`Engine::file_coverage`] then only does the work that depends on
//! counts: which functions llvm-cov would show, evaluating counters, combining, building
//! segments and reading off lines, branches and functions.
//!
//! Counter arrays are indexed like `__llvm_prf_cnts` (the live array, or a raw profile's);
//! each [`DataRecord`] says which slice belongs to which function.
//!
//! For a live collector: build the engine once; pick the files with
//! [`Engine::select_files`]; after reading the counters, use [`Engine::record_files`] to
//! find the files whose functions' counters changed and recompute only those with
//! [`Engine::file_coverage`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use cov_core::model::{Branch, FileCoverage, Function};

use crate::lcov::LcovSummary;
use crate::mapping::{
    Counter, CoverageMapping, Expression, ExpressionKind, MappingRegion, RegionKind,
};
use crate::profraw::DataRecord;
use crate::segments::{
    CountedRegion, build_segments, for_each_mapped_line, mapped_lines, region_order,
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

/// Where a function's counts come from, and whether llvm-cov would see them.
///
/// The oracle merges raw profiles with `llvm-profdata merge -sparse`, which leaves out every
/// function *name* whose records are all zero. llvm-cov then treats such a function as
/// unknown (all counts zero, sized by its largest counter) instead of using its records,
/// and a function whose name is present but never with its hash as a hash mismatch (left
/// out). Whether a name is present depends on the counts, so it is decided per query.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CounterSource {
    /// The records with the function's name ref and hash: their sum is its counts.
    bound: Vec<Range<usize>>,
    /// Every record with the function's name ref, whatever its hash.
    same_name: Vec<Range<usize>>,
}

impl CounterSource {
    /// Whether `llvm-profdata merge -sparse` would keep the function's name: some record
    /// of that name has a non-zero counter.
    fn name_present(&self, counters: &[u64]) -> bool {
        self.same_name.iter().any(|range| {
            counters
                .get(range.clone())
                .is_some_and(|values| values.iter().any(|&value| value != 0))
        })
    }

    /// The value of counter `id` of the function: the sum over its bound records.
    fn value(&self, counters: &[u64], id: u32) -> u64 {
        self.bound.iter().fold(0_u64, |sum, range| {
            let value = counters
                .get(range.start + id as usize)
                .copied()
                .unwrap_or(0);
            sum.wrapping_add(value)
        })
    }
}

/// A function as llvm-cov keeps it after loading (a `FunctionRecord`).
#[derive(Clone, Debug)]
struct EngineFunction {
    /// Name without a `file:` prefix (llvm-cov's `OrigFuncName`).
    name: String,
    source: CounterSource,
    expressions: Vec<Expression>,
    /// Expressions reachable from the regions, in an order where operands come first.
    expression_order: Vec<u32>,
    /// Non-branch regions (llvm-cov's `CountedRegions`), in stored order.
    regions: Vec<MappingRegion>,
    /// Branch regions (llvm-cov's `CountedBranchRegions`), in stored order.
    branch_regions: Vec<MappingRegion>,
    /// Source file of each function-local file id.
    files: Vec<FileId>,
    /// The first file id that no expansion expands to: where the function is defined.
    main_file_id: Option<u32>,
    /// A single zero region: skipped whenever its first counter is non-zero.
    zero_placeholder: bool,
    /// Whether llvm-cov can evaluate the regions with the bound records' counters.
    valid_with_data: bool,
}

impl EngineFunction {
    /// Whether llvm-cov would report this function for these counts.
    fn is_active(&self, counters: &[u64]) -> bool {
        if !self.source.name_present(counters) {
            // Unknown to the profile: all counts zero, always shown.
            return true;
        }
        if self.source.bound.is_empty() {
            // The name has data, but never with this hash: a hash mismatch.
            return false;
        }
        self.valid_with_data && !(self.zero_placeholder && self.source.value(counters, 0) > 0)
    }
}

/// A member of a combined region: `(function index, region index)`.
type RegionRef = (u32, u32);

/// One range of a file after sorting: the regions covering exactly that range.
#[derive(Clone, Debug)]
struct RegionGroup {
    start: (u32, u32),
    end: (u32, u32),
    members: Range<u32>,
}

/// A branch as llvm-cov's LCOV exporter orders it: by nesting path, then position.
#[derive(Clone, Debug)]
struct BranchItem {
    function: u32,
    region: u32,
    path: Vec<(u32, u32)>,
}

/// Everything about one source file that does not depend on counts.
#[derive(Clone, Debug, Default)]
struct FilePlan {
    /// Functions with any region in this file, in load order.
    functions: Vec<u32>,
    /// Regions in llvm-cov's sort order, grouped by identical range.
    groups: Vec<RegionGroup>,
    members: Vec<RegionRef>,
    /// Branches in the LCOV exporter's order; consecutive equal paths are merged.
    branches: Vec<BranchItem>,
    /// Functions whose first file is this one (llvm-cov's `FN` entries), in load order.
    defined_functions: Vec<u32>,
    /// Functions defined (main view) in this file, grouped by start location: llvm-cov's
    /// instantiation groups, in location order.
    instantiation_groups: Vec<Vec<u32>>,
}

/// llvm-cov's coverage semantics for one program, precomputed for fast queries.
///
/// Immutable after [`Engine::new`], and `Send + Sync`: build it once, share it, and call
/// [`Engine::file_coverage`] for any counter array.
#[derive(Clone, Debug)]
pub struct Engine {
    files: Vec<String>,
    functions: Vec<EngineFunction>,
    plans: Vec<FilePlan>,
    /// For each data record, the files its function contributes to.
    record_files: Vec<Vec<FileId>>,
    /// For each data record, its counter range.
    record_counters: Vec<Range<usize>>,
}

/// Scratch space reused while evaluating counters.
#[derive(Default)]
struct Scratch {
    expression_values: Vec<i64>,
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
        let mut by_name: HashMap<u64, Vec<usize>> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            by_name.entry(record.name_ref).or_default().push(index);
        }

        let files: Vec<String> = mapping.files.clone();
        let mut functions: Vec<EngineFunction> = Vec::new();
        let mut record_files: Vec<Vec<FileId>> = vec![Vec::new(); records.len()];
        let mut seen: HashSet<(Vec<u32>, String)> = HashSet::new();

        for function in &mapping.functions {
            let same_name: &[usize] = by_name.get(&function.name_ref).map_or(&[], Vec::as_slice);
            let bound: Vec<Range<usize>> = same_name
                .iter()
                .filter(|&&index| records[index].func_hash == function.func_hash)
                .map(|&index| records[index].counters.clone())
                .collect();
            // llvm-profdata refuses to merge records whose counter counts differ.
            if bound.iter().any(|range| range.len() != bound[0].len()) {
                tracing::warn!(name = %rustc_demangle::demangle(&function.name), "profile records disagree on the number of counters; function skipped");
                continue;
            }
            if function.regions.is_empty() {
                continue;
            }
            let Some(expression_order) = expression_order(&function.expressions, &function.regions)
            else {
                tracing::debug!(name = %rustc_demangle::demangle(&function.name), "cyclic counter expressions; function skipped");
                continue;
            };
            let Some(max_used) = max_used_counter(&function.expressions, &function.regions) else {
                continue;
            };
            // llvm-cov drops a function whose regions refer to counters its profile record
            // does not have. Without a record, llvm-cov 22 evaluates every counter as zero
            // and keeps the function (checked in `tests/llvm_cov_differential.rs`).
            let valid_with_data = bound
                .first()
                .is_some_and(|range| max_used.is_none_or(|max| (max as usize) < range.len()));

            let first_file = function
                .files
                .first()
                .map(|&file| files[file as usize].as_str())
                .unwrap_or("");
            let name = name_without_prefix(&function.name, first_file).to_owned();
            if !seen.insert((function.files.clone(), name.clone())) {
                continue;
            }
            let file_ids: Vec<FileId> = function.files.iter().map(|&file| FileId(file)).collect();
            let (branch_regions, regions): (Vec<MappingRegion>, Vec<MappingRegion>) = function
                .regions
                .iter()
                .filter(|region| region.kind != RegionKind::McdcDecision)
                .partition(|region| region.is_branch());
            let main_file_id = main_file_id(&regions, file_ids.len());
            // Any record of the name can change what the function shows.
            let mut touched: Vec<FileId> = file_ids.clone();
            touched.sort_unstable();
            touched.dedup();
            for &index in same_name {
                record_files[index].extend_from_slice(&touched);
                record_files[index].sort_unstable();
                record_files[index].dedup();
            }
            functions.push(EngineFunction {
                name,
                source: CounterSource {
                    bound,
                    same_name: same_name
                        .iter()
                        .map(|&index| records[index].counters.clone())
                        .collect(),
                },
                expressions: function.expressions.clone(),
                expression_order,
                zero_placeholder: function.is_zero_placeholder(),
                valid_with_data,
                regions,
                branch_regions,
                files: file_ids,
                main_file_id,
            });
        }

        let plans = build_plans(&files, &functions);
        Engine {
            files,
            functions,
            plans,
            record_files,
            record_counters: records
                .iter()
                .map(|record| record.counters.clone())
                .collect(),
        }
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
                .any(|&function| self.functions[function as usize].is_active(counters))
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
                    .filter(|function| function.is_active(counters) && !function.regions.is_empty())
                    .map(|function| function.name.clone())
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

    /// llvm-cov's coverage of one file for the counter array `counters` (indexed like
    /// `__llvm_prf_cnts`): mapped lines and their counts, branches (instantiations at one
    /// location summed, as `llvm-cov export` does by default), and the functions defined
    /// in the file with their entry counts.
    pub fn file_coverage(&self, file: FileId, counters: &[u64]) -> FileCoverage {
        let Some(plan) = self.plans.get(file.index()) else {
            return FileCoverage::default();
        };
        let mut scratch = Scratch::default();
        // Evaluate every contributing function once, into two flat buffers.
        let mut region_counts: Vec<u64> = Vec::new();
        let mut branch_counts: Vec<(u64, u64)> = Vec::new();
        let evaluated: Vec<Evaluated> = plan
            .functions
            .iter()
            .map(|&function| {
                let (region_start, branch_start) = (region_counts.len(), branch_counts.len());
                let active = self.evaluate_into(
                    function,
                    counters,
                    &mut scratch,
                    &mut region_counts,
                    &mut branch_counts,
                );
                Evaluated {
                    active,
                    region_start,
                    branch_start,
                }
            })
            .collect();
        // `plan.functions` is sorted, so a function's counts are found by binary search.
        let counts_of = |function: u32| -> FunctionView<'_> {
            let local = plan
                .functions
                .binary_search(&function)
                .expect("plan members refer to plan functions");
            let evaluated = &evaluated[local];
            FunctionView {
                active: evaluated.active,
                regions: &region_counts[evaluated.region_start.min(region_counts.len())..],
                branches: &branch_counts[evaluated.branch_start.min(branch_counts.len())..],
            }
        };

        // Lines: combine each group over the active members, then segment.
        let mut combined: Vec<CountedRegion> = Vec::with_capacity(plan.groups.len());
        for group in &plan.groups {
            let mut first_kind = None;
            let mut count = 0_u64;
            for &(function, region) in
                &plan.members[group.members.start as usize..group.members.end as usize]
            {
                let counts = counts_of(function);
                if !counts.active {
                    continue;
                }
                let kind = self.functions[function as usize].regions[region as usize].kind;
                match first_kind {
                    None => {
                        first_kind = Some(kind);
                        count = counts.regions[region as usize];
                    }
                    Some(first) if first == kind => {
                        count = count.wrapping_add(counts.regions[region as usize]);
                    }
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
        let segments = build_segments(&combined);
        let mut mapped = Vec::with_capacity(segments.len());
        for_each_mapped_line(&segments, |line, count| mapped.push((line, count)));
        // Lines arrive in order, which `BTreeMap` builds in bulk.
        let lines: BTreeMap<u32, u64> = mapped.into_iter().collect();

        // Branches: merge consecutive items with the same nesting path.
        let mut branches: Vec<Branch> = Vec::new();
        let mut previous_path: Option<&[(u32, u32)]> = None;
        for item in &plan.branches {
            let counts = counts_of(item.function);
            if !counts.active {
                continue;
            }
            let region =
                &self.functions[item.function as usize].branch_regions[item.region as usize];
            let (true_count, false_count) = counts.branches[item.region as usize];
            let true_outcome = (region.count != Counter::Zero).then_some(true_count);
            let false_outcome = (region.false_count != Counter::Zero).then_some(false_count);
            if previous_path == Some(item.path.as_slice())
                && let Some(last) = branches.last_mut()
            {
                last.true_count = merge_outcome(last.true_count, true_outcome, true_count);
                last.false_count = merge_outcome(last.false_count, false_outcome, false_count);
                continue;
            }
            previous_path = Some(item.path.as_slice());
            let (line, column) = item.path[0];
            branches.push(Branch {
                line,
                column,
                true_count: true_outcome,
                false_count: false_outcome,
            });
        }

        // Functions defined in this file.
        let mut functions: Vec<Function> = Vec::with_capacity(plan.defined_functions.len());
        for &function in &plan.defined_functions {
            let counts = counts_of(function);
            if !counts.active {
                continue;
            }
            let record = &self.functions[function as usize];
            if let Some(first) = record.regions.first() {
                functions.push(Function {
                    name: record.name.clone(),
                    line: first.line_start,
                    count: counts.regions[0],
                });
            }
        }
        functions.sort_by(|a, b| (a.line, &a.name).cmp(&(b.line, &b.name)));

        FileCoverage {
            lines,
            branches,
            functions,
        }
    }

    /// llvm-cov's summary lines for one file (`FNF`/`FNH`, `LF`/`LH`, `BRF`/`BRH`), which it
    /// computes per function and instantiation group rather than from the file's lines:
    /// each group counts the maximum of its instantiations, and the file sums its groups.
    pub fn file_summary(&self, file: FileId, counters: &[u64]) -> LcovSummary {
        let mut summary = LcovSummary::default();
        let Some(plan) = self.plans.get(file.index()) else {
            return summary;
        };
        let mut scratch = Scratch::default();
        for group in &plan.instantiation_groups {
            let mut any = false;
            let mut execution_count = 0_u64;
            let (mut lines, mut lines_hit, mut branches, mut branches_hit) = (0, 0, 0, 0);
            for &function in group {
                let counts = self.evaluate_function(function, counters, &mut scratch);
                if !counts.active {
                    continue;
                }
                any = true;
                let record = &self.functions[function as usize];
                let Some(main) = record.main_file_id else {
                    continue;
                };
                // llvm-cov's execution count is the first non-branch region's (0 without one).
                execution_count =
                    execution_count.wrapping_add(counts.regions.first().copied().unwrap_or(0));
                let mut regions: Vec<CountedRegion> = record
                    .regions
                    .iter()
                    .zip(&counts.regions)
                    .filter(|(region, _)| region.file_id == main)
                    .map(|(region, &count)| CountedRegion {
                        start: region.start(),
                        end: region.end(),
                        kind: region.kind,
                        count,
                    })
                    .collect();
                let (mut found, mut hit) = (0_u64, 0_u64);
                for (_, count) in mapped_lines(&mut regions) {
                    found += 1;
                    hit += u64::from(count > 0);
                }
                lines = lines.max(found);
                lines_hit = lines_hit.max(hit);
                let (found, hit) = self.function_branch_summary(record, &counts, main, 0);
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
        counts: &FunctionCounts,
        file_id: u32,
        depth: usize,
    ) -> (u64, u64) {
        let (mut found, mut hit) = (0, 0);
        for (region, &(true_count, false_count)) in
            record.branch_regions.iter().zip(&counts.branches)
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
        for region in record
            .regions
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

    /// Evaluates the regions of one function against `counters`.
    fn evaluate_function(
        &self,
        function: u32,
        counters: &[u64],
        scratch: &mut Scratch,
    ) -> FunctionCounts {
        let mut regions = Vec::new();
        let mut branches = Vec::new();
        let active = self.evaluate_into(function, counters, scratch, &mut regions, &mut branches);
        FunctionCounts {
            active,
            regions,
            branches,
        }
    }

    /// Appends the counts of one function's regions and branch regions to `regions` and
    /// `branches`; returns false (appending nothing) when llvm-cov would skip the function
    /// for these counts (a placeholder whose function ran).
    fn evaluate_into(
        &self,
        function: u32,
        counters: &[u64],
        scratch: &mut Scratch,
        regions: &mut Vec<u64>,
        branches: &mut Vec<(u64, u64)>,
    ) -> bool {
        let record = &self.functions[function as usize];
        if !record.is_active(counters) {
            return false;
        }
        // Without the name in the profile, llvm-cov's counts are all zero.
        let present = record.source.name_present(counters);
        let counter_value = |id: u32| -> u64 {
            if present {
                record.source.value(counters, id)
            } else {
                0
            }
        };
        scratch.expression_values.clear();
        scratch
            .expression_values
            .resize(record.expressions.len(), 0);
        for &index in &record.expression_order {
            let expression = record.expressions[index as usize];
            let value_of = |counter: Counter, values: &[i64]| -> i64 {
                match counter {
                    Counter::Zero => 0,
                    Counter::Counter(id) => counter_value(id) as i64,
                    Counter::Expression(id) => values[id as usize],
                }
            };
            let lhs = value_of(expression.lhs, &scratch.expression_values);
            let rhs = value_of(expression.rhs, &scratch.expression_values);
            scratch.expression_values[index as usize] = match expression.kind {
                ExpressionKind::Add => lhs.wrapping_add(rhs),
                ExpressionKind::Subtract => lhs.wrapping_sub(rhs),
            };
        }
        let evaluate = |counter: Counter| -> u64 {
            match counter {
                Counter::Zero => 0,
                Counter::Counter(id) => counter_value(id),
                Counter::Expression(id) => scratch.expression_values[id as usize] as u64,
            }
        };
        regions.extend(record.regions.iter().map(|region| evaluate(region.count)));
        branches.extend(
            record
                .branch_regions
                .iter()
                .map(|region| (evaluate(region.count), evaluate(region.false_count))),
        );
        true
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

/// Where one function's counts are in the flat buffers of a query.
struct Evaluated {
    active: bool,
    region_start: usize,
    branch_start: usize,
}

/// One function's counts within the flat buffers (slices starting at its first region and
/// its first branch region).
struct FunctionView<'a> {
    active: bool,
    regions: &'a [u64],
    branches: &'a [(u64, u64)],
}

/// The evaluated counts of one function.
struct FunctionCounts {
    /// False when llvm-cov would skip the function (a placeholder whose function ran).
    active: bool,
    /// Count of each non-branch region.
    regions: Vec<u64>,
    /// True and false counts of each branch region.
    branches: Vec<(u64, u64)>,
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
fn main_file_id(regions: &[MappingRegion], num_files: usize) -> Option<u32> {
    let mut expanded = vec![false; num_files];
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
fn expression_order(expressions: &[Expression], regions: &[MappingRegion]) -> Option<Vec<u32>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Visiting,
        Done,
    }
    let mut state = vec![State::New; expressions.len()];
    let mut order = Vec::new();
    for region in regions
        .iter()
        .filter(|region| region.kind != RegionKind::McdcDecision)
    {
        for root in [region.count, region.false_count] {
            let Counter::Expression(root) = root else {
                continue;
            };
            // Iterative depth-first post-order.
            let mut stack: Vec<(u32, bool)> = vec![(root, false)];
            while let Some((index, operands_done)) = stack.pop() {
                let slot = state.get(index as usize).copied()?;
                if operands_done {
                    state[index as usize] = State::Done;
                    order.push(index);
                    continue;
                }
                match slot {
                    State::Done => continue,
                    State::Visiting => return None,
                    State::New => {}
                }
                state[index as usize] = State::Visiting;
                stack.push((index, true));
                let expression = expressions[index as usize];
                for operand in [expression.rhs, expression.lhs] {
                    if let Counter::Expression(operand) = operand {
                        match state.get(operand as usize).copied()? {
                            State::Done => {}
                            State::Visiting => return None,
                            State::New => stack.push((operand, false)),
                        }
                    }
                }
            }
        }
    }
    Some(order)
}

/// The largest counter id the regions' true and false counters reach (what llvm-cov
/// evaluates), `Some(None)` when they use no counter, `None` on a cycle.
fn max_used_counter(expressions: &[Expression], regions: &[MappingRegion]) -> Option<Option<u32>> {
    let mut memo: Vec<Option<Option<u32>>> = vec![None; expressions.len()];
    let mut max: Option<u32> = None;
    for region in regions
        .iter()
        .filter(|region| region.kind != RegionKind::McdcDecision)
    {
        for counter in [region.count, region.false_count] {
            max = max.max(used_in(counter, expressions, &mut memo, 0)?);
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

/// Precomputes every file's region groups, branch order and defined functions.
fn build_plans(files: &[String], functions: &[EngineFunction]) -> Vec<FilePlan> {
    let mut plans: Vec<FilePlan> = vec![FilePlan::default(); files.len()];
    let mut regions_per_file: Vec<Vec<(CountedRegion, RegionRef)>> = vec![Vec::new(); files.len()];
    let mut groups_per_file: Vec<BTreeMap<(u32, u32), Vec<u32>>> =
        vec![BTreeMap::new(); files.len()];
    // Direct branches per file, with their position counter.
    let mut direct_branches: Vec<Vec<BranchItem>> = vec![Vec::new(); files.len()];
    let mut expansion_branches: Vec<Vec<BranchItem>> = vec![Vec::new(); files.len()];

    for (function_index, function) in functions.iter().enumerate() {
        let function_index = function_index as u32;
        let mut touched: Vec<FileId> = function.files.clone();
        touched.sort_unstable();
        touched.dedup();
        for &file in &touched {
            plans[file.index()].functions.push(function_index);
        }
        if let Some(&first) = function.files.first() {
            plans[first.index()].defined_functions.push(function_index);
        }
        for (region_index, region) in function.regions.iter().enumerate() {
            let Some(&file) = function.files.get(region.file_id as usize) else {
                continue;
            };
            regions_per_file[file.index()].push((
                CountedRegion {
                    start: region.start(),
                    end: region.end(),
                    kind: region.kind,
                    count: 0,
                },
                (function_index, region_index as u32),
            ));
        }
        for (region_index, region) in function.branch_regions.iter().enumerate() {
            let Some(&file) = function.files.get(region.file_id as usize) else {
                continue;
            };
            if region.count == Counter::Zero && region.false_count == Counter::Zero {
                continue;
            }
            direct_branches[file.index()].push(BranchItem {
                function: function_index,
                region: region_index as u32,
                path: vec![region.start()],
            });
        }
        if let Some(main) = function.main_file_id
            && let Some(first) = function
                .regions
                .iter()
                .find(|region| region.file_id == main)
        {
            let file = function.files[main as usize];
            groups_per_file[file.index()]
                .entry(first.start())
                .or_default()
                .push(function_index);
        }
        // Branches inside expansions, reported at the expansion site of the main file.
        if let Some(main) = function.main_file_id {
            let file = function.files[main as usize];
            let mut path = Vec::new();
            collect_expansion_branches(
                function,
                function_index,
                main,
                &mut path,
                &mut expansion_branches[file.index()],
                0,
            );
        }
    }

    for (file_index, plan) in plans.iter_mut().enumerate() {
        plan.instantiation_groups = std::mem::take(&mut groups_per_file[file_index])
            .into_values()
            .collect();
        let mut regions = std::mem::take(&mut regions_per_file[file_index]);
        regions.sort_by(|a, b| region_order(&a.0, &b.0));
        for (region, member) in regions {
            match plan.groups.last_mut() {
                Some(group) if group.start == region.start && group.end == region.end => {
                    group.members.end += 1;
                }
                _ => {
                    let at = plan.members.len() as u32;
                    plan.groups.push(RegionGroup {
                        start: region.start,
                        end: region.end,
                        members: at..at,
                    });
                    plan.groups.last_mut().expect("just pushed").members.end += 1;
                }
            }
            plan.members.push(member);
        }
        // Positions: direct branches and expansion branches are numbered separately.
        let mut items: Vec<(BranchItem, usize)> = Vec::new();
        items.extend(
            std::mem::take(&mut direct_branches[file_index])
                .into_iter()
                .enumerate()
                .map(|(position, item)| (item, position)),
        );
        items.extend(
            std::mem::take(&mut expansion_branches[file_index])
                .into_iter()
                .enumerate()
                .map(|(position, item)| (item, position)),
        );
        items.sort_by(|a, b| (&a.0.path, a.1).cmp(&(&b.0.path, b.1)));
        plan.branches = items.into_iter().map(|(item, _)| item).collect();
    }
    plans
}

/// llvm-cov's `collectNestedBranches` for one function: for every expansion region in
/// `file_id`, first the branches of nested expansions, then the branches of the expanded
/// file itself, each with the path of expansion sites leading to it.
fn collect_expansion_branches(
    function: &EngineFunction,
    function_index: u32,
    file_id: u32,
    path: &mut Vec<(u32, u32)>,
    out: &mut Vec<BranchItem>,
    depth: usize,
) {
    // Expansions can only nest as deep as there are files; deeper means a cycle.
    if depth > function.files.len() {
        return;
    }
    for region in function
        .regions
        .iter()
        .filter(|region| region.kind == RegionKind::Expansion && region.file_id == file_id)
    {
        let expanded = region.expanded_file_id;
        path.push(region.start());
        collect_expansion_branches(function, function_index, expanded, path, out, depth + 1);
        for (region_index, branch) in function.branch_regions.iter().enumerate() {
            if branch.file_id != expanded {
                continue;
            }
            if branch.count == Counter::Zero && branch.false_count == Counter::Zero {
                continue;
            }
            out.push(BranchItem {
                function: function_index,
                region: region_index as u32,
                path: path.clone(),
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
