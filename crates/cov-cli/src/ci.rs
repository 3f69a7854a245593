//! `drift-cov check` and `drift-cov merge`: the CI steps around `tusk drift run`, whose exit
//! code says nothing about coverage (it exits 0 when none could be taken).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::coverage_json::{self, CoverageView};

/// Why a coverage output fails `drift-cov check`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// The file does not exist.
    Missing,
    /// The file is empty.
    Empty,
    /// It lists no source file.
    NoFiles,
    /// It lists files, but no line was executed.
    NothingExecuted { files: usize, lines: usize },
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Missing => formatter.write_str(
                "it does not exist: the Tusk CLI wrote no coverage (was it run with --coverage-output, and did the service start?)",
            ),
            Unusable::Empty => formatter.write_str("it is empty"),
            Unusable::NoFiles => formatter.write_str(
                "it lists no source file: the SDK selected none of the service's files (its log names the source root and where the files are: run the CLI with --enable-service-logs and read .tusk/logs), or no baseline or test reached the CLI",
            ),
            Unusable::NothingExecuted { files, lines } => write!(
                formatter,
                "no line of its {files} files ({lines} coverable lines) was executed: no test ran, or every test was skipped"
            ),
        }
    }
}

/// What a usable coverage output holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Usable {
    pub(crate) files: usize,
    pub(crate) lines: usize,
    pub(crate) covered_lines: usize,
    /// Tests listed (JSON only; LCOV has none).
    pub(crate) tests: Option<usize>,
}

/// Checks one coverage output of `tusk drift run --coverage-output`: the CLI's JSON (when it
/// starts with `{`) or LCOV.
pub(crate) fn check(path: &Path) -> Result<Result<Usable, Unusable>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err(Unusable::Missing));
        }
        Err(source) => {
            return Err(Error::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Err(Unusable::Empty));
    }
    let usable = if trimmed.starts_with('{') {
        let view = coverage_json::parse(&text).map_err(|message| Error::CoverageJson {
            path: path.to_owned(),
            message,
        })?;
        let totals = view.totals();
        Usable {
            files: totals.files,
            lines: totals.lines,
            covered_lines: totals.covered_lines,
            tests: Some(view.tests.len()),
        }
    } else {
        lcov_totals(&text)
    };
    Ok(if usable.files == 0 {
        Err(Unusable::NoFiles)
    } else if usable.covered_lines == 0 {
        Err(Unusable::NothingExecuted {
            files: usable.files,
            lines: usable.lines,
        })
    } else {
        Ok(usable)
    })
}

/// Files, coverable lines and executed lines of an LCOV tracefile (`SF:` and `DA:` records;
/// a line listed twice counts once, executed if any record says so).
fn lcov_totals(text: &str) -> Usable {
    let mut files: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if let Some(path) = line.strip_prefix("SF:") {
            current = Some(path);
            files.entry(path).or_default();
        } else if let (Some(path), Some(record)) = (current, line.strip_prefix("DA:")) {
            let mut fields = record.split(',');
            let (Some(number), Some(count)) = (fields.next(), fields.next()) else {
                continue;
            };
            let executed = count.trim().parse::<u64>().is_ok_and(|count| count > 0);
            let slot = files.entry(path).or_default().entry(number).or_default();
            *slot |= executed;
        } else if line == "end_of_record" {
            current = None;
        }
    }
    Usable {
        files: files.len(),
        lines: files.values().map(BTreeMap::len).sum(),
        covered_lines: files
            .values()
            .map(|lines| lines.values().filter(|executed| **executed).count())
            .sum(),
        tests: None,
    }
}

/// The coverage outputs of several replay shards merged into one
/// ([`coverage_json::merge`]); with the newest timestamp of the inputs and the trace ids
/// left out as duplicates.
pub(crate) fn merge(inputs: &[PathBuf]) -> Result<(CoverageView, String, Vec<String>), Error> {
    let mut views = Vec::new();
    let mut newest = String::new();
    for path in inputs {
        let (view, timestamp) = coverage_json::read_with_timestamp(path)?;
        newest = newest.max(timestamp);
        views.push(view);
    }
    let (view, duplicates) = coverage_json::merge(views);
    Ok((view, newest, duplicates))
}

/// The one-line verdict of a usable output.
pub(crate) fn describe(path: &Path, usable: &Usable) -> String {
    let mut out = format!(
        "{}: {} files, {} of {} coverable lines executed",
        path.display(),
        usable.files,
        usable.covered_lines,
        usable.lines
    );
    if let Some(tests) = usable.tests {
        let _ = write!(out, ", {tests} tests");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcov_counts_files_and_executed_lines() {
        let text = "TN:\nSF:src/a.rs\nDA:1,0\nDA:2,3\nDA:2,0\nend_of_record\nSF:src/b.rs\nDA:7,0\nend_of_record\n";
        assert_eq!(
            lcov_totals(text),
            Usable {
                files: 2,
                lines: 3,
                covered_lines: 1,
                tests: None
            }
        );
    }
}
