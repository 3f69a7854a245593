//! Reading coverage off evaluated counts: a file's lines, branches and functions
//! (`CoverageMapping::getCoverageForFile` and the LCOV exporter's branch order), and
//! llvm-cov's summary lines, which it computes per function and instantiation group
//! (`FunctionCoverageSummary`, `InstantiationGroup`).

use std::collections::BTreeMap;

use cov_core::model::{Branch, FileCoverage, Function};

use super::evaluate::Counts;
use super::load::LoadedFunction;
use super::plan::FilePlan;
use super::{Engine, FileId, slice};
use crate::decode::mapping::{Counter, RegionKind};
use crate::llvm_lcov::LcovSummary;
use crate::segments::{
    CountedRegion, SegmentScratch, build_segments_with, count_mapped_lines, for_each_mapped_line,
};

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

/// Buffers reused while reading a file off the counts.
#[derive(Default)]
struct ReportScratch {
    regions: Vec<CountedRegion>,
    segments: SegmentScratch,
}

impl Engine {
    /// Whether llvm-cov lists `file` for these counts: some function in it is shown.
    ///
    /// [`Engine::covered_files`] is decided once; a file whose every function is left out
    /// for particular counts (hash mismatches, unevaluable records, placeholders) has
    /// empty coverage then, and llvm-cov does not list it.
    pub fn is_reported(&self, file: FileId, counts: &Counts) -> bool {
        self.plans.get(file.index()).is_some_and(|plan| {
            plan.functions
                .iter()
                .any(|&function_idx| counts.is_shown(function_idx))
        })
    }

    /// The names of the functions defined in `file` (as in [`FileCoverage::functions`]) in
    /// llvm-cov's load order, which is the order of its `FN` lines.
    pub fn function_order(&self, file: FileId, counts: &Counts) -> Vec<String> {
        self.plans
            .get(file.index())
            .map(|plan| {
                plan.defined_functions
                    .iter()
                    .filter(|&&function_idx| counts.is_shown(function_idx))
                    .map(|&function_idx| &self.functions[function_idx as usize])
                    .filter(|function| !function.regions.is_empty())
                    .map(|function| self.name(function).to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// llvm-cov's coverage of one file: mapped lines and their counts, branches
    /// (instantiations at one location summed, as `llvm-cov export` does by default), and
    /// the functions defined in the file with their entry counts. `counts` must include the
    /// file's functions ([`Engine::evaluate`], or [`Engine::evaluate_files`] with it).
    pub fn file_coverage(&self, file: FileId, counts: &Counts) -> FileCoverage {
        let Some(plan) = self.plans.get(file.index()) else {
            return FileCoverage::default();
        };
        self.coverage(plan, counts, &mut ReportScratch::default()).0
    }

    /// llvm-cov's summary lines for one file (`FNF`/`FNH`, `LF`/`LH`, `BRF`/`BRH`), which it
    /// computes per function and instantiation group rather than from the file's lines:
    /// each group counts the maximum of its instantiations, and the file sums its groups.
    pub fn file_summary(&self, file: FileId, counts: &Counts) -> LcovSummary {
        let Some(plan) = self.plans.get(file.index()) else {
            return LcovSummary::default();
        };
        self.summary(plan, counts, &mut ReportScratch::default())
    }

    /// Everything llvm-cov's LCOV export says about one file: its coverage, its summary
    /// and the order of its `FN` lines, sharing one set of buffers.
    pub fn file_report(&self, file: FileId, counts: &Counts) -> FileReport {
        let Some(plan) = self.plans.get(file.index()) else {
            return FileReport::default();
        };
        let mut scratch = ReportScratch::default();
        let (coverage, function_order) = self.coverage(plan, counts, &mut scratch);
        FileReport {
            coverage,
            summary: self.summary(plan, counts, &mut scratch),
            function_order,
        }
    }

    /// A file's coverage, and the order of its functions' `FN` lines (indices into the
    /// coverage's functions, in load order).
    fn coverage(
        &self,
        plan: &FilePlan,
        counts: &Counts,
        scratch: &mut ReportScratch,
    ) -> (FileCoverage, Vec<u32>) {
        // Lines: combine each group over the shown members, then segment.
        let combined = &mut scratch.regions;
        combined.clear();
        for group in &plan.groups {
            let mut first_kind = None;
            let mut count = 0_u64;
            for member in slice(&plan.members, &group.members) {
                if !counts.is_shown(member.function_idx) {
                    continue;
                }
                let kind = self.regions[member.region_idx as usize].kind;
                let value = counts.region(member.region_idx);
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

        // Branches: merge consecutive items reported at the same sites.
        let mut branches: Vec<Branch> = Vec::new();
        let mut previous_sites: Option<&[(u32, u32)]> = None;
        for item in &plan.branches {
            if !counts.is_shown(item.function_idx) {
                continue;
            }
            let region = &self.branch_regions[item.region_idx as usize];
            let (true_count, false_count) = counts.branch(item.region_idx);
            let true_outcome = (region.count != Counter::Zero).then_some(true_count);
            let false_outcome = (region.false_count != Counter::Zero).then_some(false_count);
            let sites = slice(&plan.branch_sites, &item.sites);
            if previous_sites == Some(sites)
                && let Some(last) = branches.last_mut()
            {
                last.true_count = merge_outcome(last.true_count, true_outcome, true_count);
                last.false_count = merge_outcome(last.false_count, false_outcome, false_count);
                continue;
            }
            previous_sites = Some(sites);
            let (line, column) = sites[0];
            branches.push(Branch {
                line,
                column,
                true_count: true_outcome,
                false_count: false_outcome,
            });
        }

        // Functions defined in this file, in load order, then sorted by (line, name).
        let mut functions: Vec<Function> = Vec::with_capacity(plan.defined_functions.len());
        for &function_idx in &plan.defined_functions {
            if !counts.is_shown(function_idx) {
                continue;
            }
            let function = &self.functions[function_idx as usize];
            if let Some(first) = slice(&self.regions, &function.regions).first() {
                functions.push(Function {
                    name: self.name(function).to_owned(),
                    line: first.line_start,
                    count: counts.region(function.regions.start),
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

    /// llvm-cov's summary lines of a file ([`Engine::file_summary`]).
    fn summary(
        &self,
        plan: &FilePlan,
        counts: &Counts,
        scratch: &mut ReportScratch,
    ) -> LcovSummary {
        let mut summary = LcovSummary::default();
        for group in &plan.instantiation_groups {
            let mut any = false;
            let mut execution_count = 0_u64;
            let (mut lines, mut lines_hit, mut branches, mut branches_hit) = (0, 0, 0, 0);
            for &function_idx in slice(&plan.instantiations, group) {
                if !counts.is_shown(function_idx) {
                    continue;
                }
                any = true;
                let function = &self.functions[function_idx as usize];
                let Some(main) = function.main_file_id else {
                    continue;
                };
                let region_counts = counts.regions_of(&function.regions);
                // llvm-cov's execution count is the first non-branch region's (0 without one).
                execution_count =
                    execution_count.wrapping_add(region_counts.first().copied().unwrap_or(0));
                scratch.regions.clear();
                scratch.regions.extend(
                    slice(&self.regions, &function.regions)
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
                let (found, hit) = self.function_branch_summary(function, counts, main, 0);
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
        function: &LoadedFunction,
        counts: &Counts,
        file_id: u32,
        depth: usize,
    ) -> (u64, u64) {
        let (mut found, mut hit) = (0, 0);
        for (region, &(true_count, false_count)) in
            slice(&self.branch_regions, &function.branch_regions)
                .iter()
                .zip(counts.branches_of(&function.branch_regions))
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
        if depth > function.files.len() {
            return (found, hit);
        }
        for region in slice(&self.regions, &function.regions)
            .iter()
            .filter(|region| region.kind == RegionKind::Expansion && region.file_id == file_id)
        {
            let (nested_found, nested_hit) =
                self.function_branch_summary(function, counts, region.expanded_file_id, depth + 1);
            found += nested_found;
            hit += nested_hit;
        }
        (found, hit)
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
