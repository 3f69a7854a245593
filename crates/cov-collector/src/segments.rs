//! llvm-cov's line semantics: sorting and combining regions, building coverage segments
//! (`SegmentBuilder` in LLVM's `CoverageMapping.cpp`) and deciding, per line, whether it is
//! mapped and its count (`LineCoverageStats`).
//!
//! Everything here is a pure function of a region list with counts, so it can be tested
//! on hand-built regions and reused for files, functions and expansions.

use crate::decode::mapping::RegionKind;

/// A region with its evaluated count, as the segment builder sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CountedRegion {
    /// Start `(line, column)`.
    pub start: (u32, u32),
    /// End `(line, column)`.
    pub end: (u32, u32),
    /// Kind (code, expansion, skipped or gap).
    pub kind: RegionKind,
    /// Execution count.
    pub count: u64,
}

/// A point where the count changes, as in LLVM's `CoverageSegment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Line where the segment starts.
    pub line: u32,
    /// Column where the segment starts.
    pub column: u32,
    /// The count (0 when `has_count` is false).
    pub count: u64,
    /// False for skipped code and for the space after the last region.
    pub has_count: bool,
    /// Whether a new region starts here (rather than an enclosing region resuming).
    pub is_region_entry: bool,
    /// Whether this segment starts a gap region.
    pub is_gap: bool,
}

/// The order llvm-cov sorts a file's regions in: by start, then the enclosing (longer)
/// region first, then by kind (code before expansion before skipped before gap).
pub(crate) fn region_order(a: &CountedRegion, b: &CountedRegion) -> std::cmp::Ordering {
    a.start
        .cmp(&b.start)
        .then_with(|| b.end.cmp(&a.end))
        .then_with(|| a.kind.cmp(&b.kind))
}

/// Sorts regions and combines those covering the same range: the first of a range stays,
/// and the counts of the following ones of the **same kind** are added to it.
pub(crate) fn sort_and_combine(regions: &mut Vec<CountedRegion>) {
    regions.sort_by(region_order);
    // `dedup_by` hands over each region with the last one kept before it.
    regions.dedup_by(|region, kept| {
        if kept.start != region.start || kept.end != region.end {
            return false;
        }
        if kept.kind == region.kind {
            kept.count = kept.count.wrapping_add(region.count);
        }
        true
    });
}

/// Buffers reused from one segment build to the next, so that evaluating thousands of
/// functions or files allocates once.
#[derive(Debug, Default)]
pub(crate) struct SegmentScratch {
    segments: Vec<Segment>,
    active: Vec<usize>,
    completed: Vec<usize>,
}

/// Builds segments from regions that are already sorted and combined
/// ([`sort_and_combine`]).
#[cfg(test)]
pub(crate) fn build_segments(regions: &[CountedRegion]) -> Vec<Segment> {
    let mut scratch = SegmentScratch::default();
    build_segments_with(regions, &mut scratch);
    scratch.segments
}

/// `build_segments` (the tests' form) into reused buffers; the segments are valid until the
/// next call.
pub(crate) fn build_segments_with<'s>(
    regions: &[CountedRegion],
    scratch: &'s mut SegmentScratch,
) -> &'s [Segment] {
    let mut builder = SegmentBuilder {
        regions,
        segments: std::mem::take(&mut scratch.segments),
        active: std::mem::take(&mut scratch.active),
        completed: std::mem::take(&mut scratch.completed),
    };
    builder.segments.clear();
    builder.active.clear();
    builder.completed.clear();
    builder.build();
    scratch.active = builder.active;
    scratch.completed = builder.completed;
    scratch.segments = builder.segments;
    &scratch.segments
}

struct SegmentBuilder<'a> {
    regions: &'a [CountedRegion],
    segments: Vec<Segment>,
    /// Indices of the active (not yet completed) regions.
    active: Vec<usize>,
    /// Scratch space for the stable partition of `active`.
    completed: Vec<usize>,
}

impl SegmentBuilder<'_> {
    fn start_segment(
        &mut self,
        region: usize,
        (line, column): (u32, u32),
        is_region_entry: bool,
        emit_skipped: bool,
    ) {
        let region = self.regions[region];
        let has_count = !emit_skipped && region.kind != RegionKind::Skipped;
        // A segment that would not change what is rendered is left out.
        if let Some(last) = self.segments.last()
            && !is_region_entry
            && !emit_skipped
            && last.has_count == has_count
            && last.count == region.count
            && !last.is_region_entry
        {
            return;
        }
        self.segments.push(if has_count {
            Segment {
                line,
                column,
                count: region.count,
                has_count: true,
                is_region_entry,
                is_gap: region.kind == RegionKind::Gap,
            }
        } else {
            Segment {
                line,
                column,
                count: 0,
                has_count: false,
                is_region_entry,
                is_gap: false,
            }
        });
    }

    /// Emits segments for the active regions from `first_completed` on, which end
    /// before `location` (the start of the next region, or `None` at the end).
    fn complete_regions_until(&mut self, location: Option<(u32, u32)>, first_completed: usize) {
        let regions = self.regions;
        self.active[first_completed..].sort_by_key(|&index| regions[index].end);
        for i in first_completed + 1..self.active.len() {
            let mut completed = self.active[i];
            let previous_end = regions[self.active[i - 1]].end;
            if location == Some(previous_end) {
                break;
            }
            if previous_end == regions[completed].end {
                continue;
            }
            // Use the count of the last completed region that ends at this location.
            for j in i + 1..self.active.len() {
                if regions[completed].end == regions[self.active[j]].end {
                    completed = self.active[j];
                }
            }
            self.start_segment(completed, previous_end, false, false);
        }
        let last = *self.active.last().expect("called with active regions");
        let last_end = regions[last].end;
        if first_completed != 0 && Some(last_end) != location {
            // Fill the gap after the last completed region with the enclosing region.
            self.start_segment(self.active[first_completed - 1], last_end, false, false);
        } else if first_completed == 0 && location != Some(last_end) {
            // Nothing is active any more: mark the space after it as not covered.
            self.start_segment(last, last_end, false, true);
        }
        self.active.truncate(first_completed);
    }

    fn build(&mut self) {
        let regions = self.regions;
        for (index, region) in regions.iter().enumerate() {
            let start = region.start;
            // Stable partition: still-active regions first, completed ones after.
            if self.active.iter().any(|&a| regions[a].end <= start) {
                self.completed.clear();
                let mut still_active = 0;
                for position in 0..self.active.len() {
                    let active = self.active[position];
                    if regions[active].end > start {
                        self.active[still_active] = active;
                        still_active += 1;
                    } else {
                        self.completed.push(active);
                    }
                }
                self.active.truncate(still_active);
                self.active.extend_from_slice(&self.completed);
                self.complete_regions_until(Some(start), still_active);
            }
            let is_gap = region.kind == RegionKind::Gap;
            if start == region.end {
                // Zero-length regions never become active.
                let skipped = index + 1 == regions.len() || region.kind == RegionKind::Skipped;
                let source = self.active.last().copied().unwrap_or(index);
                self.start_segment(source, start, !is_gap, skipped);
                if skipped && let Some(&enclosing) = self.active.last() {
                    self.start_segment(enclosing, start, false, false);
                }
                continue;
            }
            if index + 1 == regions.len() || start != regions[index + 1].start {
                self.start_segment(index, start, !is_gap, false);
            }
            self.active.push(index);
        }
        if !self.active.is_empty() {
            self.complete_regions_until(None, 0);
        }
    }
}

/// The longest run of lines without a segment that is visited line by line (see
/// [`for_each_mapped_line`]).
pub(crate) const MAX_LINES_WITHOUT_SEGMENT: u32 = 1 << 22;

/// Visits every line llvm-cov considers mapped, in order, with its count.
///
/// Lines run from 1 to the line of the last segment; a line is mapped when a counted,
/// non-gap region starts on it, or when a counted region wraps onto it from a previous
/// line (unless a skipped region starts it). Its count is the maximum of the wrapping
/// count and of the counts of the regions starting on it.
pub(crate) fn for_each_mapped_line(segments: &[Segment], mut visit: impl FnMut(u32, u64)) {
    let mut next = 0;
    let mut line: u32 = 1;
    let mut wrapped: Option<Segment> = None;
    let mut line_start = 0;
    let mut line_end = 0;
    while next < segments.len() {
        if line_end > line_start {
            wrapped = Some(segments[line_end - 1]);
        }
        line_start = next;
        // Segments before the current line (only possible for line 0) join it.
        while next < segments.len() && segments[next].line <= line {
            next += 1;
        }
        line_end = next;
        let on_line = &segments[line_start..line_end];
        if on_line.is_empty() {
            // Every line up to the next segment has the same stats: visit them in bulk.
            let next_line = segments[next].line;
            // Guard against corrupted mappings: no real source file has a region running
            // over millions of lines without another segment, and visiting them would
            // stall the host.
            if let Some(wrapped) = wrapped.filter(|segment| segment.has_count)
                && next_line - line <= MAX_LINES_WITHOUT_SEGMENT
            {
                for skipped_line in line..next_line {
                    visit(skipped_line, wrapped.count);
                }
            }
            line = next_line;
            continue;
        }
        if let Some(count) = line_stats(on_line, wrapped.as_ref()) {
            visit(line, count);
        }
        let Some(following) = line.checked_add(1) else {
            break;
        };
        line = following;
    }
}

/// llvm-cov's `LineCoverageStats`: `Some(count)` when the line is mapped.
pub(crate) fn line_stats(on_line: &[Segment], wrapped: Option<&Segment>) -> Option<u64> {
    let is_start_of_region =
        |segment: &Segment| !segment.is_gap && segment.has_count && segment.is_region_entry;
    let region_starts = on_line.iter().filter(|s| is_start_of_region(s)).count();
    let start_of_skipped = on_line
        .first()
        .is_some_and(|first| !first.has_count && first.is_region_entry);
    let mut mapped = !start_of_skipped
        && (wrapped.is_some_and(|wrapped| wrapped.has_count) || region_starts > 0);
    mapped |= on_line
        .iter()
        .any(|segment| segment.is_region_entry && segment.has_count);
    if !mapped {
        return None;
    }
    let mut count = wrapped.map_or(0, |wrapped| wrapped.count);
    if region_starts > 0 {
        for segment in on_line.iter().filter(|s| is_start_of_region(s)) {
            count = count.max(segment.count);
        }
    }
    Some(count)
}

/// Sorts, combines and segments `regions`, then returns the mapped lines with counts.
#[cfg(test)]
pub(crate) fn mapped_lines(regions: &mut Vec<CountedRegion>) -> Vec<(u32, u64)> {
    sort_and_combine(regions);
    let segments = build_segments(regions);
    let mut lines = Vec::new();
    for_each_mapped_line(&segments, |line, count| lines.push((line, count)));
    lines
}

/// How many lines `mapped_lines` (the tests' form) would return, and how many of them have a
/// non-zero count, without allocating (beyond growing `scratch`).
pub(crate) fn count_mapped_lines(
    regions: &mut Vec<CountedRegion>,
    scratch: &mut SegmentScratch,
) -> (u64, u64) {
    sort_and_combine(regions);
    let (mut found, mut hit) = (0_u64, 0_u64);
    for_each_mapped_line(build_segments_with(regions, scratch), |_, count| {
        found += 1;
        hit += u64::from(count > 0);
    });
    (found, hit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(kind: RegionKind, start: (u32, u32), end: (u32, u32), count: u64) -> CountedRegion {
        CountedRegion {
            start,
            end,
            kind,
            count,
        }
    }

    // The expected lines below are what `llvm-cov export -format=lcov` (LLVM 22) printed
    // for the same regions and counts (see `tests/llvm_cov_differential.rs`, which checks
    // this and random cases against the real tool).

    #[test]
    fn a_gap_after_a_nested_block_keeps_the_nested_count_on_its_line() {
        let mut regions = vec![
            region(RegionKind::Code, (1, 1), (9, 2), 5),
            region(RegionKind::Code, (2, 10), (4, 6), 3),
            region(RegionKind::Gap, (4, 6), (5, 5), 3),
            region(RegionKind::Code, (5, 5), (8, 2), 5),
        ];
        assert_eq!(
            mapped_lines(&mut regions),
            vec![
                (1, 5),
                (2, 5),
                (3, 3),
                (4, 3),
                (5, 5),
                (6, 5),
                (7, 5),
                (8, 5),
                (9, 5)
            ]
        );
    }

    #[test]
    fn skipped_lines_are_unmapped_and_zero_length_regions_take_the_enclosing_count() {
        let mut regions = vec![
            region(RegionKind::Code, (1, 1), (10, 2), 2),
            region(RegionKind::Skipped, (3, 1), (5, 1), 0),
            region(RegionKind::Code, (6, 4), (6, 4), 0),
            region(RegionKind::Code, (7, 1), (7, 9), 0),
        ];
        assert_eq!(
            mapped_lines(&mut regions),
            vec![(1, 2), (2, 2), (6, 2), (7, 2), (8, 2), (9, 2), (10, 2)]
        );
    }

    #[test]
    fn identical_ranges_add_only_counts_of_the_first_kind() {
        let mut regions = vec![
            region(RegionKind::Code, (1, 1), (2, 2), 4),
            region(RegionKind::Expansion, (1, 1), (2, 2), 100),
            region(RegionKind::Code, (1, 1), (2, 2), 3),
        ];
        sort_and_combine(&mut regions);
        assert_eq!(regions, vec![region(RegionKind::Code, (1, 1), (2, 2), 7)]);
    }

    #[test]
    fn segments_mark_entries_resumptions_and_the_end() {
        let regions = [
            region(RegionKind::Code, (1, 1), (5, 2), 1),
            region(RegionKind::Code, (2, 3), (3, 4), 0),
        ];
        let segments = build_segments(&regions);
        let summary: Vec<(u32, u32, u64, bool, bool)> = segments
            .iter()
            .map(|s| (s.line, s.column, s.count, s.has_count, s.is_region_entry))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 1, 1, true, true),
                (2, 3, 0, true, true),
                (3, 4, 1, true, false),
                (5, 2, 0, false, false),
            ]
        );
    }

    #[test]
    fn a_line_starting_with_a_skipped_region_is_not_mapped() {
        let skipped = Segment {
            line: 3,
            column: 1,
            count: 0,
            has_count: false,
            is_region_entry: true,
            is_gap: false,
        };
        let wrapped = Segment {
            line: 1,
            column: 1,
            count: 9,
            has_count: true,
            is_region_entry: true,
            is_gap: false,
        };
        assert_eq!(line_stats(&[skipped], Some(&wrapped)), None);
        assert_eq!(line_stats(&[], Some(&wrapped)), Some(9));
        let gap = Segment {
            is_gap: true,
            count: 4,
            ..wrapped
        };
        // A gap starting a line maps it, but its own count never counts: the line takes
        // the count wrapping onto it (zero when none).
        assert_eq!(line_stats(&[gap], None), Some(0));
        assert_eq!(line_stats(&[gap], Some(&wrapped)), Some(9));
    }
}
