//! An LCOV writer that follows `llvm-cov export -format=lcov` (`CoverageExporterLcov.cpp`).
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
    write_lcov_in_order(snapshot, summaries, None)
}

/// [`write_lcov`], listing each file's `FN`/`FNDA` entries in the order of
/// `function_order` (by path: function names), as llvm-cov lists them in load order;
/// functions it does not name follow in snapshot order.
pub fn write_lcov_in_order(
    snapshot: &CoverageSnapshot,
    summaries: Option<&BTreeMap<String, LcovSummary>>,
    function_order: Option<&BTreeMap<String, Vec<String>>>,
) -> String {
    let mut out = String::new();
    for (path, file) in &snapshot.files {
        let summary = summaries
            .and_then(|summaries| summaries.get(path).copied())
            .unwrap_or_else(|| LcovSummary::from_file(file));
        let order = function_order.and_then(|orders| orders.get(path));
        write_file(&mut out, path, file, &summary, order.map(Vec::as_slice));
    }
    out
}

/// The functions of `file` in `order` (matched by name), then the rest.
fn ordered_functions<'a>(file: &'a FileCoverage, order: Option<&[String]>) -> Vec<&'a Function> {
    let mut remaining: Vec<Option<&Function>> = file.functions.iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(remaining.len());
    for name in order.unwrap_or_default() {
        let found = remaining
            .iter_mut()
            .find(|slot| slot.is_some_and(|function| &function.name == name));
        if let Some(slot) = found {
            ordered.extend(slot.take());
        }
    }
    ordered.extend(remaining.into_iter().flatten());
    ordered
}

fn write_file(
    out: &mut String,
    path: &str,
    file: &FileCoverage,
    summary: &LcovSummary,
    order: Option<&[String]>,
) {
    let functions = ordered_functions(file, order);
    // Writing to a String cannot fail.
    let _ = writeln!(out, "SF:{path}");
    for function in &functions {
        let _ = writeln!(out, "FN:{},{}", function.line, function.name);
    }
    for function in &functions {
        let _ = writeln!(out, "FNDA:{},{}", function.count, function.name);
    }
    let _ = writeln!(out, "FNF:{}", summary.functions_found);
    let _ = writeln!(out, "FNH:{}", summary.functions_hit);
    for (line, count) in &file.lines {
        let _ = writeln!(out, "DA:{line},{count}");
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
