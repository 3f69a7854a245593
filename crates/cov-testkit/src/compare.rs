//! Comparing two LCOV tracefiles and printing what differs, line by line.

use std::collections::BTreeSet;
use std::fmt;

use crate::tracefile::{LcovFile, LcovTracefile};

/// What differs between an expected and an actual tracefile, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LcovDiff {
    /// Files present on one side only.
    pub files: Vec<String>,
    /// Differing `DA` lines (missing, extra, or another count).
    pub lines: Vec<String>,
    /// Differing `BRDA` outcomes.
    pub branches: Vec<String>,
    /// Differing `FN`/`FNDA` entries.
    pub functions: Vec<String>,
    /// Differing `LF`/`LH`/`BRF`/`BRH`/`FNF`/`FNH` summaries.
    pub summaries: Vec<String>,
}

impl LcovDiff {
    /// Whether the two tracefiles agree on files, lines and branches (functions and
    /// summaries aside).
    pub fn lines_and_branches_agree(&self) -> bool {
        self.files.is_empty() && self.lines.is_empty() && self.branches.is_empty()
    }

    /// Whether nothing at all differs.
    pub fn is_empty(&self) -> bool {
        self.lines_and_branches_agree() && self.functions.is_empty() && self.summaries.is_empty()
    }
}

impl fmt::Display for LcovDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 60;
        for (kind, entries) in [
            ("files", &self.files),
            ("DA lines", &self.lines),
            ("BRDA outcomes", &self.branches),
            ("functions", &self.functions),
            ("summaries", &self.summaries),
        ] {
            if entries.is_empty() {
                continue;
            }
            writeln!(
                f,
                "{} differing {kind} (expected vs actual):",
                entries.len()
            )?;
            for entry in entries.iter().take(SHOWN) {
                writeln!(f, "  {entry}")?;
            }
            if entries.len() > SHOWN {
                writeln!(f, "  … and {} more", entries.len() - SHOWN)?;
            }
        }
        Ok(())
    }
}

/// Compares `actual` with `expected` entry by entry.
pub fn diff_lcov(expected: &LcovTracefile, actual: &LcovTracefile) -> LcovDiff {
    let mut diff = LcovDiff::default();
    let paths: BTreeSet<&String> = expected.files.keys().chain(actual.files.keys()).collect();
    for path in paths {
        match (expected.files.get(path), actual.files.get(path)) {
            (Some(expected), Some(actual)) => diff_file(path, expected, actual, &mut diff),
            (Some(_), None) => diff.files.push(format!("{path}: missing")),
            (None, Some(_)) => diff.files.push(format!("{path}: unexpected")),
            (None, None) => unreachable!("the path came from one of the two maps"),
        }
    }
    diff
}

fn diff_file(path: &str, expected: &LcovFile, actual: &LcovFile, diff: &mut LcovDiff) {
    let show = |value: Option<String>| value.unwrap_or_else(|| "(none)".to_owned());
    let lines: BTreeSet<u32> = expected
        .lines
        .keys()
        .chain(actual.lines.keys())
        .copied()
        .collect();
    for line in lines {
        let (want, got) = (expected.lines.get(&line), actual.lines.get(&line));
        if want != got {
            diff.lines.push(format!(
                "{path}:{line}: DA {} vs {}",
                show(want.map(u64::to_string)),
                show(got.map(u64::to_string))
            ));
        }
    }
    let taken = |value: Option<&Option<u64>>| {
        value.map(|taken| taken.map_or_else(|| "-".to_owned(), |count| count.to_string()))
    };
    let branches: BTreeSet<&(u32, u32, u32)> = expected
        .branches
        .keys()
        .chain(actual.branches.keys())
        .collect();
    for key @ (line, block, branch) in branches {
        let (want, got) = (
            taken(expected.branches.get(key)),
            taken(actual.branches.get(key)),
        );
        if want != got {
            diff.branches.push(format!(
                "{path}:{line}: BRDA {block},{branch}: {} vs {}",
                show(want),
                show(got)
            ));
        }
    }
    let mut want_functions = expected.functions.clone();
    let mut got_functions = actual.functions.clone();
    want_functions.sort();
    got_functions.sort();
    if want_functions != got_functions {
        for function in want_functions.iter().filter(|f| !got_functions.contains(f)) {
            diff.functions
                .push(format!("{path}: expected {function:?} is missing"));
        }
        for function in got_functions.iter().filter(|f| !want_functions.contains(f)) {
            diff.functions
                .push(format!("{path}: unexpected {function:?}"));
        }
    }
    if expected.summaries != actual.summaries {
        diff.summaries.push(format!(
            "{path}: {:?} vs {:?}",
            expected.summaries, actual.summaries
        ));
    }
}

/// Asserts that two tracefiles are identical, printing a readable diff otherwise.
///
/// # Panics
///
/// When anything differs.
pub fn assert_lcov_eq(expected: &LcovTracefile, actual: &LcovTracefile) {
    let diff = diff_lcov(expected, actual);
    assert!(diff.is_empty(), "LCOV differs from the oracle:\n{diff}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_kind_of_difference() {
        let expected = LcovTracefile::parse(
            "SF:/a\nDA:1,1\nDA:2,0\nBRDA:1,0,0,1\nLF:2\nLH:1\nend_of_record\nSF:/b\nend_of_record\n",
        );
        let actual = LcovTracefile::parse(
            "SF:/a\nDA:1,2\nDA:3,0\nBRDA:1,0,0,-\nLF:2\nLH:1\nend_of_record\n",
        );
        let diff = diff_lcov(&expected, &actual);
        assert_eq!(diff.files, vec!["/b: missing"]);
        assert_eq!(diff.lines.len(), 3, "{diff}");
        assert_eq!(diff.branches, vec!["/a:1: BRDA 0,0: 1 vs -"]);
        assert!(diff.summaries.is_empty());
        assert!(!diff.is_empty());
        assert!(diff_lcov(&expected, &expected).is_empty());
    }
}
