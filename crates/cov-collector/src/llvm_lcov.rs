//! An LCOV writer that follows `llvm-cov export -format=lcov` (`CoverageExporterLcov.cpp`):
//! the layout of LLVM's own tool, which the offline path reproduces byte for byte; the
//! reports' LCOV, in the Tusk CLI's layout, is cov-report's `lcov`.
//!
//! Per file: `SF`, `FN`/`FNDA` for the functions defined there, `FNF`/`FNH`, `DA` for
//! every mapped line, `BRDA` for every branch (both outcomes; `-` for both when the
//! condition never ran; outcome counts truncated to 32 bits as llvm-cov does),
//! `BRF`/`BRH`, `LF`/`LH` and `end_of_record`.
//!
//! llvm-cov computes the summary lines per function and instantiation group, so they
//! need not agree with the `DA`/`BRDA` lines (a line shared by a function and a closure
//! counts twice in `LF`). [`crate::engine::Engine::file_summary`] computes them that way;
//! without it the writer derives them from the snapshot.

use std::collections::BTreeMap;
use std::fmt::Write;

use cov_core::model::{CoverageSnapshot, FileCoverage, Function};

/// The summary lines of one LCOV record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LcovSummary {
    /// `FNF`: functions (instantiation groups) found.
    pub functions_found: u64,
    /// `FNH`: functions entered at least once.
    pub functions_hit: u64,
    /// `LF`: lines found.
    pub lines_found: u64,
    /// `LH`: lines executed.
    pub lines_hit: u64,
    /// `BRF`: branch outcomes found.
    pub branches_found: u64,
    /// `BRH`: branch outcomes taken.
    pub branches_hit: u64,
}

impl LcovSummary {
    /// A summary derived from the snapshot of one file alone.
    pub fn from_file(file: &FileCoverage) -> LcovSummary {
        let mut function_lines: Vec<(u32, bool)> = Vec::new();
        for function in &file.functions {
            match function_lines
                .iter_mut()
                .find(|(line, _)| *line == function.line)
            {
                Some((_, hit)) => *hit |= function.count > 0,
                None => function_lines.push((function.line, function.count > 0)),
            }
        }
        let per_line = file.line_branches();
        LcovSummary {
            functions_found: function_lines.len() as u64,
            functions_hit: function_lines.iter().filter(|(_, hit)| *hit).count() as u64,
            lines_found: file.lines.len() as u64,
            lines_hit: file.covered_lines() as u64,
            branches_found: per_line.values().map(|line| u64::from(line.total)).sum(),
            branches_hit: per_line.values().map(|line| u64::from(line.covered)).sum(),
        }
    }
}

/// Writes `snapshot` as LCOV. `summaries` (by path) supplies llvm-cov's summary lines;
/// files without one get [`LcovSummary::from_file`].
pub fn write_lcov(
    snapshot: &CoverageSnapshot,
    summaries: Option<&BTreeMap<String, LcovSummary>>,
) -> String {
    let mut out = String::new();
    for (path, file) in &snapshot.files {
        let summary = summaries
            .and_then(|summaries| summaries.get(path).copied())
            .unwrap_or_else(|| LcovSummary::from_file(file));
        write_file_record(&mut out, path, file, &summary, None);
    }
    out
}

/// Appends the LCOV record of one file. `function_order` lists the `FN` lines in
/// llvm-cov's load order as indices into `file.functions` (as
/// [`crate::engine::FileReport`] gives them); without it they follow the snapshot order.
pub fn write_file_record(
    out: &mut String,
    path: &str,
    file: &FileCoverage,
    summary: &LcovSummary,
    function_order: Option<&[u32]>,
) {
    let functions: Vec<&Function> = match function_order {
        Some(order) => order
            .iter()
            .filter_map(|&index| file.functions.get(index as usize))
            .collect(),
        None => file.functions.iter().collect(),
    };
    write_file(out, path, file, summary, &functions);
}

fn write_file(
    out: &mut String,
    path: &str,
    file: &FileCoverage,
    summary: &LcovSummary,
    functions: &[&Function],
) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "SF:{path}");
    // The bulk of a large report: numbers formatted with `itoa` rather than `fmt`.
    let (mut number, mut other) = (itoa::Buffer::new(), itoa::Buffer::new());
    for function in functions {
        push_line(out, "FN:", number.format(function.line), &function.name);
    }
    for function in functions {
        push_line(out, "FNDA:", number.format(function.count), &function.name);
    }
    let _ = writeln!(out, "FNF:{}", summary.functions_found);
    let _ = writeln!(out, "FNH:{}", summary.functions_hit);
    for (&line, &count) in &file.lines {
        push_line(out, "DA:", number.format(line), other.format(count));
    }
    let mut branches = file.branches.iter().peekable();
    while let Some(first) = branches.peek().copied() {
        let line = first.line;
        let mut pair_index = 0;
        let mut branch_index = 0;
        while let Some(branch) = branches.next_if(|branch| branch.line == line) {
            if branch.true_count.is_none() && branch.false_count.is_none() {
                continue;
            }
            // llvm-cov holds these counts in `unsigned`.
            let true_count = branch.true_count.unwrap_or(0) as u32;
            let false_count = branch.false_count.unwrap_or(0) as u32;
            let not_executed = true_count == 0 && false_count == 0;
            for count in [true_count, false_count] {
                if not_executed {
                    let _ = writeln!(out, "BRDA:{line},{pair_index},{branch_index},-");
                } else {
                    let _ = writeln!(out, "BRDA:{line},{pair_index},{branch_index},{count}");
                }
                branch_index += 1;
            }
            pair_index += 1;
        }
    }
    let _ = writeln!(out, "BRF:{}", summary.branches_found);
    let _ = writeln!(out, "BRH:{}", summary.branches_hit);
    let _ = writeln!(out, "LF:{}", summary.lines_found);
    let _ = writeln!(out, "LH:{}", summary.lines_hit);
    out.push_str("end_of_record\n");
}

/// Appends `{tag}{first},{second}\n`.
fn push_line(out: &mut String, tag: &str, first: &str, second: &str) {
    out.push_str(tag);
    out.push_str(first);
    out.push(',');
    out.push_str(second);
    out.push('\n');
}
