//! Per-file plans: everything about one source file that does not depend on counts,
//! computed once when the engine is built. Which functions touch the file, its regions in
//! llvm-cov's sort order grouped by range (what `CoverageMapping::getCoverageForFile`
//! combines), its branches in the LCOV exporter's order with the expansion sites they are
//! reported at (`collectNestedBranches`), and its functions grouped into llvm-cov's
//! instantiation groups.

use std::ops::Range;

use super::load::{BuildScratch, LoadedFunction};
use super::{Engine, FileId, range_since, slice};
use crate::decode::mapping::{Counter, MappingRegion, RegionKind};
use crate::parallel::{self, Threads};

/// A branch as llvm-cov's LCOV exporter orders it: by the sites it is reported at, then
/// position.
#[derive(Clone, Debug)]
pub(super) struct BranchItem {
    pub(super) function_idx: u32,
    /// Index in [`Engine::branch_regions`].
    pub(super) region_idx: u32,
    /// Where the branch is reported, in [`FilePlan::branch_sites`]: the expansion sites
    /// leading to it, outermost first, or for a branch written in the file itself its own
    /// start.
    pub(super) sites: Range<u32>,
}

/// One range of a file after sorting: the regions covering exactly that range.
#[derive(Clone, Debug)]
pub(super) struct RegionGroup {
    pub(super) start: (u32, u32),
    pub(super) end: (u32, u32),
    /// In [`FilePlan::members`].
    pub(super) members: Range<u32>,
}

/// A member of a combined region: its function and its index in [`Engine::regions`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Member {
    pub(super) function_idx: u32,
    pub(super) region_idx: u32,
}

/// Everything about one source file that does not depend on counts.
#[derive(Clone, Debug, Default)]
pub(super) struct FilePlan {
    /// Functions with any region in this file, in load order.
    pub(super) functions: Vec<u32>,
    /// Regions in llvm-cov's sort order, grouped by identical range.
    pub(super) groups: Vec<RegionGroup>,
    pub(super) members: Vec<Member>,
    /// Branches in the LCOV exporter's order; consecutive ones reported at the same sites
    /// are merged.
    pub(super) branches: Vec<BranchItem>,
    /// The sites of every branch ([`BranchItem::sites`]), as (line, column).
    pub(super) branch_sites: Vec<(u32, u32)>,
    /// Functions whose first file is this one (llvm-cov's `FN` entries), in load order.
    pub(super) defined_functions: Vec<u32>,
    /// Functions defined (main view) in this file, grouped by start location: llvm-cov's
    /// instantiation groups, in location order (ranges of `instantiations`).
    pub(super) instantiation_groups: Vec<Range<u32>>,
    pub(super) instantiations: Vec<u32>,
}

/// A region of a file, as the plan sorts it: its range and kind, and which it is. Kept
/// small because every region of the program is sorted once and the sort moves them.
#[derive(Clone, Copy, Default)]
struct PlanRegion {
    start: (u32, u32),
    end: (u32, u32),
    function_idx: u32,
    region_idx: u32,
    kind: u8,
}

impl PlanRegion {
    /// llvm-cov's order ([`crate::segments::region_order`]): by start, the enclosing
    /// (longer) region first, then by kind.
    fn order(&self, other: &PlanRegion) -> std::cmp::Ordering {
        (self.start, std::cmp::Reverse(self.end), self.kind).cmp(&(
            other.start,
            std::cmp::Reverse(other.end),
            other.kind,
        ))
    }
}

/// Precomputes every file's region groups, branch order and defined functions.
pub(super) fn build_plans(
    engine: &Engine,
    scratch: &mut BuildScratch,
    threads: Threads,
) -> Vec<FilePlan> {
    let num_files = engine.files.len();
    let mut plans: Vec<FilePlan> = vec![FilePlan::default(); num_files];

    // Every region's file, counted first so each file's regions land in one slice of a
    // single array (a counting sort by file) instead of one growing vector per file.
    let region_file = |function: &LoadedFunction, region: &MappingRegion| -> Option<FileId> {
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
    let mut site_arenas: Vec<Vec<(u32, u32)>> = vec![Vec::new(); num_files];

    for (function_idx, function) in engine.functions.iter().enumerate() {
        let function_idx = function_idx as u32;
        let files = slice(&engine.function_files, &function.files);
        scratch.touched.clear();
        scratch.touched.extend_from_slice(files);
        scratch.touched.sort_unstable();
        scratch.touched.dedup();
        for &file in &scratch.touched {
            plans[file.index()].functions.push(function_idx);
        }
        if let Some(&first) = files.first() {
            plans[first.index()].defined_functions.push(function_idx);
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
                function_idx,
                region_idx: function.regions.start + offset as u32,
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
            let sites = &mut site_arenas[file.index()];
            let sites_start = sites.len();
            sites.push(region.start());
            direct_branches[file.index()].push(BranchItem {
                function_idx,
                region_idx: function.branch_regions.start + offset as u32,
                sites: range_since(sites, sites_start),
            });
        }
        if let Some(main) = function.main_file_id {
            let file = files[main as usize];
            if let Some(first) = regions.iter().find(|region| region.file_id == main) {
                instantiations.push((file, first.start(), function_idx));
            }
            // Branches inside expansions, reported at the expansion site of the main file.
            let mut expansion = Expansion {
                engine,
                function,
                function_idx,
                sites: Vec::new(),
                out: &mut expansion_branches[file.index()],
                site_arena: &mut site_arenas[file.index()],
            };
            expansion.collect_branches(main, 0);
        }
    }

    // Sorted by location, each group's functions in load order.
    instantiations.sort_unstable();
    let mut previous: Option<(FileId, (u32, u32))> = None;
    for (file, start, function_idx) in instantiations {
        let plan = &mut plans[file.index()];
        let at = plan.instantiations.len() as u32;
        plan.instantiations.push(function_idx);
        match plan.instantiation_groups.last_mut() {
            Some(group) if previous == Some((file, start)) => group.end = at + 1,
            _ => plan.instantiation_groups.push(at..at + 1),
        }
        previous = Some((file, start));
    }

    // Each file's regions in llvm-cov's order, grouped by range: independent per file.
    let mut work: Vec<(&mut FilePlan, &mut [PlanRegion])> = Vec::with_capacity(num_files);
    let mut rest: &mut [PlanRegion] = &mut sorted;
    for (file_idx, plan) in plans.iter_mut().enumerate() {
        let (regions, after) = std::mem::take(&mut rest)
            .split_at_mut(file_starts[file_idx + 1] - file_starts[file_idx]);
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
                function_idx: region.function_idx,
                region_idx: region.region_idx,
            });
        }
    };
    match threads {
        Threads::All => parallel::for_each_mut(&mut work, 16, group_file),
        Threads::One => work.iter_mut().for_each(group_file),
    }
    drop(work);
    for (file_idx, plan) in plans.iter_mut().enumerate() {
        // Positions: direct branches and expansion branches are numbered separately; at
        // equal sites and position, direct ones come first.
        let direct = std::mem::take(&mut direct_branches[file_idx]);
        let expansion = std::mem::take(&mut expansion_branches[file_idx]);
        if direct.is_empty() && expansion.is_empty() {
            continue;
        }
        let sites = std::mem::take(&mut site_arenas[file_idx]);
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
            (slice(&sites, &a.0.sites), a.1, a.2).cmp(&(slice(&sites, &b.0.sites), b.1, b.2))
        });
        plan.branches = items.into_iter().map(|(item, ..)| item).collect();
        plan.branch_sites = sites;
    }
    plans
}

/// One function's walk through its expansions (llvm-cov's `collectNestedBranches`).
struct Expansion<'a> {
    engine: &'a Engine,
    function: &'a LoadedFunction,
    function_idx: u32,
    /// The expansion sites from the main file down to the current expansion.
    sites: Vec<(u32, u32)>,
    /// The branches found, in the exporter's order.
    out: &'a mut Vec<BranchItem>,
    /// The file's arena that [`BranchItem::sites`] ranges index.
    site_arena: &'a mut Vec<(u32, u32)>,
}

impl Expansion<'_> {
    /// For every expansion region in `file_id`: first the branches of nested expansions,
    /// then the branches of the expanded file itself, each with the expansion sites
    /// leading to it.
    fn collect_branches(&mut self, file_id: u32, depth: usize) {
        let function = self.function;
        // Expansions can only nest as deep as there are files; deeper means a cycle.
        if depth > function.files.len() {
            return;
        }
        let regions = slice(&self.engine.regions, &function.regions);
        let branch_regions = slice(&self.engine.branch_regions, &function.branch_regions);
        for region in regions
            .iter()
            .filter(|region| region.kind == RegionKind::Expansion && region.file_id == file_id)
        {
            let expanded = region.expanded_file_id;
            self.sites.push(region.start());
            self.collect_branches(expanded, depth + 1);
            for (offset, branch) in branch_regions.iter().enumerate() {
                if branch.file_id != expanded {
                    continue;
                }
                if branch.count == Counter::Zero && branch.false_count == Counter::Zero {
                    continue;
                }
                let sites_start = self.site_arena.len();
                self.site_arena.extend_from_slice(&self.sites);
                self.out.push(BranchItem {
                    function_idx: self.function_idx,
                    region_idx: function.branch_regions.start + offset as u32,
                    sites: range_since(self.site_arena, sites_start),
                });
            }
            self.sites.pop();
        }
    }
}
