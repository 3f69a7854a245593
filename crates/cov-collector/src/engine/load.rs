//! Loading function records: which functions llvm-cov keeps and with which counters
//! (`CoverageMapping::loadFunctionRecord`).
//!
//! Some of its rules are decided once, when the engine is built (records that disagree,
//! counters a record lacks, cyclic expressions, dedup by file set and name); the others
//! depend on the counts and are decided per evaluation ([`Engine::is_shown`]), because the
//! oracle's `llvm-profdata merge -sparse` drops every function name whose records are all
//! zero.

use std::ops::Range;

use foldhash::{HashSet, HashSetExt};

use super::evaluate::{OrderScratch, expression_order, max_used_counter};
use super::{Engine, FileId, range_since, slice, slice_str};
use crate::decode::mapping::{Counter, CoverageMapping, MappingRegion, RegionKind};
use crate::decode::profraw::FunctionCounters;

/// A function as llvm-cov keeps it after loading (a `FunctionRecord`); its ranges index
/// the engine's flat arrays.
///
/// Where its counts come from, and whether llvm-cov would see them: the oracle merges raw
/// profiles with `llvm-profdata merge -sparse`, which leaves out every function *name*
/// whose records are all zero. llvm-cov then treats such a function as unknown (all
/// counts zero, sized by its largest counter) instead of using its records, and a
/// function whose name is present but never with its hash as a hash mismatch (left out).
/// Whether a name is present depends on the counts, so it is decided per evaluation.
#[derive(Clone, Debug)]
pub(super) struct LoadedFunction {
    /// Name without a `file:` prefix (llvm-cov's `OrigFuncName`), in [`Engine::names`].
    pub(super) name: Range<u32>,
    /// The counter ranges of the records with the function's name ref and hash (their sum
    /// is its counts), in [`Engine::counter_ranges`].
    pub(super) bound: Range<u32>,
    /// The counter ranges of every record with the function's name ref, whatever its hash.
    pub(super) same_name: Range<u32>,
    /// Counter expressions, in [`Engine::expressions`].
    pub(super) expressions: Range<u32>,
    /// Expressions reachable from the regions, operands first (indices local to the
    /// function), in [`Engine::expression_order`].
    pub(super) expression_order: Range<u32>,
    /// Non-branch regions (llvm-cov's `CountedRegions`), in stored order.
    pub(super) regions: Range<u32>,
    /// Branch regions (llvm-cov's `CountedBranchRegions`), in stored order.
    pub(super) branch_regions: Range<u32>,
    /// Source file of each function-local file id, in [`Engine::function_files`].
    pub(super) files: Range<u32>,
    /// The first file id that no expansion expands to: where the function is defined.
    pub(super) main_file_id: Option<u32>,
    /// A single zero region: skipped whenever its first counter is non-zero.
    pub(super) zero_placeholder: bool,
    /// Whether llvm-cov can evaluate the regions with the bound records' counters.
    pub(super) valid_with_data: bool,
}

/// Scratch space reused while building the engine.
#[derive(Default)]
pub(super) struct BuildScratch {
    /// The counter ranges bound to the function being loaded.
    bound: Vec<Range<usize>>,
    /// Its expressions' evaluation order.
    order: OrderScratch,
    /// Memo of the largest counter each expression reaches.
    max_counter_memo: Vec<Option<Option<u32>>>,
    /// Which function-local file ids an expansion expands to.
    expanded: Vec<bool>,
    /// The files a function touches, deduplicated.
    pub(super) touched: Vec<FileId>,
}

/// Loads every function of `mapping`, binding it to `records`; the engine's file plans
/// are left empty.
pub(super) fn load(
    mapping: CoverageMapping,
    records: &[FunctionCounters],
    scratch: &mut BuildScratch,
) -> Engine {
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

    let mut functions: Vec<LoadedFunction> = Vec::with_capacity(parts.functions.len());
    let mut counter_ranges: Vec<Range<usize>> = Vec::new();
    let mut expression_orders: Vec<u32> = Vec::with_capacity(parts.expressions.len());
    let mut record_files: Vec<Vec<FileId>> = vec![Vec::new(); records.len()];
    let mut seen: HashSet<(&[u32], &str)> = HashSet::with_capacity(parts.functions.len());

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
        if !expression_order(function_expressions, function_regions, &mut scratch.order) {
            tracing::debug!(name = %rustc_demangle::demangle(name), "cyclic counter expressions; function skipped");
            continue;
        }
        let Some(max_used) = max_used_counter(
            function_expressions,
            function_regions,
            &mut scratch.max_counter_memo,
        ) else {
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
        let order_start = expression_orders.len();
        expression_orders.extend_from_slice(&scratch.order.order);
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
        functions.push(LoadedFunction {
            name: name_end - short_name.len() as u32..name_end,
            bound,
            same_name: same_name_ranges,
            expressions: function.expressions.clone(),
            expression_order: range_since(&expression_orders, order_start),
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

    Engine {
        files: parts.files,
        functions,
        names: parts.names,
        counter_ranges,
        expressions: parts.expressions,
        expression_order: expression_orders,
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
    }
}

impl Engine {
    /// Whether llvm-cov shows this function for these counters: the rules of loading that
    /// depend on which names `llvm-profdata merge -sparse` keeps.
    pub(super) fn is_shown(&self, function: &LoadedFunction, counters: &[u64]) -> bool {
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

    /// Whether `llvm-profdata merge -sparse` would keep the function's name: some record
    /// of that name has a non-zero counter.
    pub(super) fn name_present(&self, function: &LoadedFunction, counters: &[u64]) -> bool {
        slice(&self.counter_ranges, &function.same_name)
            .iter()
            .any(|range| {
                counters
                    .get(range.clone())
                    .is_some_and(|values| values.iter().any(|&value| value != 0))
            })
    }

    /// The value of counter `id` of the function: the sum over its bound records.
    pub(super) fn counter_value(
        &self,
        function: &LoadedFunction,
        counters: &[u64],
        id: u32,
    ) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_prefixes_are_removed_from_local_names() {
        assert_eq!(name_without_prefix("src/a.c:helper", "src/a.c"), "helper");
        assert_eq!(
            name_without_prefix("_RNvCs1_3app4main", "/src/main.rs"),
            "_RNvCs1_3app4main"
        );
    }
}
