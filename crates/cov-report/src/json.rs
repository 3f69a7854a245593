//! JSON export in the Tusk CLI's exact shape: `{summary, aggregate, per_test}`.
//!
//! Field names and order are the CLI's (`CoverageExport`, `CoverageSummary`,
//! `CoverageAggregate`, `CoverageFileSummary`, `CoverageTestSummary`, `FileCoverageData`,
//! `CoverageFileDiff` in `internal/runner/coverage.go`), and so is the encoding of Go's
//! `json.MarshalIndent(export, "", "  ")`:
//!
//! - object keys of maps sorted as strings (so line `"10"` comes before line `"2"`);
//! - floats in Go's shortest form (`100`, not `100.0`; `85.9375`);
//! - `<`, `>`, `&`, U+2028 and U+2029 in strings escaped as `\u003c` and so on;
//! - empty `branches` maps omitted (`omitempty`), an empty test list as `null` (a nil slice);
//! - no trailing newline.
//!
//! As in the CLI, `per_test` holds only tests that executed a line of a file in the
//! aggregate, keyed by test id (a later test with the same id replaces an earlier one), and
//! the summary is computed from that same filtered data. The timestamp is supplied by the
//! caller (the CLI uses the current time in RFC 3339), which keeps rendering pure.

use std::collections::BTreeMap;
use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use crate::aggregate::{CoverageView, TestCoverage, TestFileCoverage, Totals, percent};
use cov_core::model::LineBranches;
use cov_core::wire::WireFile;

/// Renders the view as the CLI's JSON export; `timestamp` fills `summary.timestamp`
/// (RFC 3339, e.g. `2026-01-02T15:04:05Z`).
pub fn render(view: &CoverageView, timestamp: &str) -> String {
    let export = Export::new(view, timestamp);
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, GoFormatter(PrettyFormatter::new()));
    // Serialising plain structs and string-keyed maps into a Vec cannot fail.
    export
        .serialize(&mut serializer)
        .expect("the JSON export serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes the report to `writer`: the same text as [`render`].
pub fn write<W: std::io::Write + ?Sized>(
    view: &CoverageView,
    timestamp: &str,
    writer: &mut W,
) -> std::io::Result<()> {
    writer.write_all(render(view, timestamp).as_bytes())
}

#[derive(Serialize)]
struct Export<'a> {
    summary: Summary<'a>,
    aggregate: BTreeMap<&'a str, AggregateFile>,
    per_test: BTreeMap<&'a str, BTreeMap<&'a str, FileDiff>>,
}

#[derive(Serialize)]
struct Summary<'a> {
    timestamp: &'a str,
    aggregate: SummaryAggregate,
    per_file: BTreeMap<&'a str, FileSummary>,
    per_test: Option<Vec<TestSummary<'a>>>,
}

#[derive(Serialize)]
struct SummaryAggregate {
    total_coverable_lines: usize,
    total_covered_lines: usize,
    coverage_pct: f64,
    total_files: usize,
    covered_files: usize,
    total_branches: u64,
    covered_branches: u64,
    branch_coverage_pct: f64,
}

#[derive(Serialize)]
struct FileSummary {
    covered_lines: usize,
    coverable_lines: usize,
    coverage_pct: f64,
    total_branches: u64,
    covered_branches: u64,
}

#[derive(Serialize)]
struct TestSummary<'a> {
    test_id: &'a str,
    test_name: &'a str,
    covered_lines: usize,
    files_touched: usize,
}

#[derive(Serialize)]
struct AggregateFile {
    lines: BTreeMap<String, u64>,
    total_branches: u64,
    covered_branches: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    branches: BTreeMap<String, LineBranches>,
}

#[derive(Serialize)]
struct FileDiff {
    covered_lines: Vec<u32>,
    coverable_lines: usize,
    covered_count: usize,
    total_branches: u64,
    covered_branches: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    branches: BTreeMap<String, LineBranches>,
}

impl<'a> Export<'a> {
    fn new(view: &'a CoverageView, timestamp: &'a str) -> Self {
        // The CLI keys per-test detail by test id; a repeated id keeps the last detail.
        let mut detail_by_id: BTreeMap<&str, &TestCoverage> = BTreeMap::new();
        for test in &view.tests {
            detail_by_id.insert(&test.id, test);
        }
        let per_test = detail_by_id
            .iter()
            .filter(|(_, test)| !test.files.is_empty())
            .map(|(&id, test)| {
                let files = test
                    .files
                    .iter()
                    .map(|(path, file)| (path.as_str(), FileDiff::new(file)))
                    .collect();
                (id, files)
            })
            .collect();
        let tests = (!view.tests.is_empty()).then(|| {
            view.tests
                .iter()
                .map(|test| {
                    let detail = detail_by_id[test.id.as_str()];
                    TestSummary {
                        test_id: &test.id,
                        test_name: &test.name,
                        covered_lines: detail.covered_lines(),
                        files_touched: detail.files_touched(),
                    }
                })
                .collect()
        });
        let totals = view.totals();
        Self {
            summary: Summary {
                timestamp,
                aggregate: SummaryAggregate {
                    total_coverable_lines: totals.lines,
                    total_covered_lines: totals.covered_lines,
                    coverage_pct: totals.line_percent(),
                    total_files: totals.files,
                    covered_files: totals.covered_files,
                    total_branches: totals.branches,
                    covered_branches: totals.covered_branches,
                    branch_coverage_pct: totals.branch_percent(),
                },
                per_file: view
                    .files
                    .iter()
                    .map(|(path, file)| (path.as_str(), FileSummary::new(file)))
                    .collect(),
                per_test: tests,
            },
            aggregate: view
                .files
                .iter()
                .map(|(path, file)| (path.as_str(), AggregateFile::new(file)))
                .collect(),
            per_test,
        }
    }
}

impl FileSummary {
    fn new(file: &WireFile) -> Self {
        let totals = Totals::of_file(file);
        Self {
            covered_lines: totals.covered_lines,
            coverable_lines: totals.lines,
            coverage_pct: percent(totals.covered_lines as u64, totals.lines as u64),
            total_branches: totals.branches,
            covered_branches: totals.covered_branches,
        }
    }
}

impl AggregateFile {
    fn new(file: &WireFile) -> Self {
        Self {
            lines: file
                .lines
                .iter()
                .map(|(line, &count)| (line.to_string(), count))
                .collect(),
            total_branches: file.total_branches(),
            covered_branches: file.covered_branches(),
            branches: string_keys(&file.branches),
        }
    }
}

impl FileDiff {
    fn new(file: &TestFileCoverage) -> Self {
        Self {
            covered_lines: file.covered_lines.clone(),
            coverable_lines: file.coverable_lines,
            covered_count: file.covered_lines.len(),
            total_branches: file.total_branches,
            covered_branches: file.covered_branches,
            branches: string_keys(&file.branches),
        }
    }
}

fn string_keys(branches: &BTreeMap<u32, LineBranches>) -> BTreeMap<String, LineBranches> {
    branches
        .iter()
        .map(|(line, &branches)| (line.to_string(), branches))
        .collect()
}

/// serde_json's pretty printer (two-space indent, as `MarshalIndent(v, "", "  ")`) with Go's
/// float format and Go's HTML-safe string escaping.
struct GoFormatter<'a>(PrettyFormatter<'a>);

impl Formatter for GoFormatter<'_> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(go_float(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (idx, character) in fragment.char_indices() {
            let escape = match character {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..idx])?;
            writer.write_all(escape.as_bytes())?;
            start = idx + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// A float as Go's `encoding/json` writes it: the shortest decimal that reads back as the
/// same value, without exponent for magnitudes in `[1e-6, 1e21)` and with Go's exponent
/// form (`1e-07`, `1e+21`) outside it. Non-finite values cannot occur (percentages of
/// finite counts) and are written as `0`.
fn go_float(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_owned();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-6..1e21).contains(&magnitude) {
        // Rust's `Display` for f64 is the shortest round-trip form without exponent.
        return format!("{value}");
    }
    // Rust writes `1e-7`; Go writes at least two exponent digits: `1e-07`.
    let formatted = format!("{value:e}");
    let (mantissa, exponent) = formatted
        .split_once('e')
        .expect("the `e` format has an exponent");
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_look_like_go_floats() {
        assert_eq!(go_float(100.0), "100");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(85.9375), "85.9375");
        assert_eq!(go_float(100.0 / 3.0), "33.333333333333336");
        assert_eq!(go_float(1e-7), "1e-07");
        assert_eq!(go_float(1.5e22), "1.5e+22");
    }
}
