//! Cobertura XML, the coverage format GitLab, Jenkins and Codecov ingest.
//!
//! The document validates against Cobertura's `coverage-04.dtd` (named in its `DOCTYPE`):
//! `coverage` with totals, `sources`, then one `package` per directory (named like
//! coverage.py names them: the directory with `/` turned into `.`, `.` for the top level),
//! one `class` per file (`name` = file name, `filename` = path as the view holds it, which
//! GitLab resolves against the `source` elements), and one `line` per coverable line. A line
//! with branch outcomes has `branch="true"` and `condition-coverage="P% (covered/total)"`
//! (P rounded down, as Cobertura and coverage.py write it). Rates are ratios in `[0, 1]`
//! with up to four significant digits; a file or package without lines has rate 1, as in
//! coverage.py. The wire carries no functions, so `methods` is empty, and no complexity, so
//! complexity is 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::aggregate::{CoverageView, Totals};
use cov_core::wire::WireFile;

/// What the XML needs beyond the view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoberturaOptions {
    /// `coverage/@timestamp`: milliseconds since the Unix epoch (Cobertura's unit). The
    /// caller supplies it, which keeps rendering pure and reproducible.
    pub timestamp_millis: u64,
    /// `sources/source` entries: directories the `filename`s are relative to (typically the
    /// repository root when the paths were made repo-relative).
    pub sources: Vec<String>,
}

/// Renders the view as a Cobertura XML document (ends with a newline).
pub fn render(view: &CoverageView, options: &CoberturaOptions) -> String {
    let mut packages: BTreeMap<String, Vec<(&str, &WireFile)>> = BTreeMap::new();
    for (path, file) in &view.files {
        let (directory, _) = split_path(path);
        packages
            .entry(package_name(directory))
            .or_default()
            .push((path, file));
    }

    let totals = view.totals();
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" ?>\n");
    out.push_str(
        "<!DOCTYPE coverage SYSTEM \"http://cobertura.sourceforge.net/xml/coverage-04.dtd\">\n",
    );
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "<coverage line-rate=\"{}\" branch-rate=\"{}\" lines-covered=\"{}\" lines-valid=\"{}\" \
         branches-covered=\"{}\" branches-valid=\"{}\" complexity=\"0\" version=\"{}\" \
         timestamp=\"{}\">",
        line_rate(&totals),
        branch_rate(&totals),
        totals.covered_lines,
        totals.lines,
        totals.covered_branches,
        totals.branches,
        escape(concat!("cov-report ", env!("CARGO_PKG_VERSION"))),
        options.timestamp_millis,
    );
    out.push_str("  <sources>\n");
    for source in &options.sources {
        let _ = writeln!(out, "    <source>{}</source>", escape(source));
    }
    out.push_str("  </sources>\n  <packages>\n");
    for (name, files) in &packages {
        let package_totals = files.iter().fold(Totals::default(), |mut sum, (_, file)| {
            sum.add_file(file);
            sum
        });
        let _ = writeln!(
            out,
            "    <package name=\"{}\" line-rate=\"{}\" branch-rate=\"{}\" complexity=\"0\">",
            escape(name),
            line_rate(&package_totals),
            branch_rate(&package_totals),
        );
        out.push_str("      <classes>\n");
        for (path, file) in files {
            write_class(&mut out, path, file);
        }
        out.push_str("      </classes>\n    </package>\n");
    }
    out.push_str("  </packages>\n</coverage>\n");
    out
}

/// Writes the report to `writer`: the same text as [`render`].
pub fn write<W: std::io::Write + ?Sized>(
    view: &CoverageView,
    options: &CoberturaOptions,
    writer: &mut W,
) -> std::io::Result<()> {
    writer.write_all(render(view, options).as_bytes())
}

fn write_class(out: &mut String, path: &str, file: &WireFile) {
    let totals = Totals::of_file(file);
    let (_, file_name) = split_path(path);
    let _ = writeln!(
        out,
        "        <class name=\"{}\" filename=\"{}\" line-rate=\"{}\" branch-rate=\"{}\" complexity=\"0\">",
        escape(file_name),
        escape(path),
        line_rate(&totals),
        branch_rate(&totals),
    );
    out.push_str("          <methods/>\n          <lines>\n");
    for (line, count) in &file.lines {
        match file
            .branches
            .get(line)
            .filter(|branches| branches.total > 0)
        {
            Some(branches) => {
                let _ = writeln!(
                    out,
                    "            <line number=\"{line}\" hits=\"{count}\" branch=\"true\" \
                     condition-coverage=\"{}% ({}/{})\"/>",
                    u64::from(branches.covered) * 100 / u64::from(branches.total),
                    branches.covered,
                    branches.total,
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "            <line number=\"{line}\" hits=\"{count}\" branch=\"false\"/>"
                );
            }
        }
    }
    out.push_str("          </lines>\n        </class>\n");
}

/// Splits `a/b/c.rs` into `("a/b", "c.rs")`; a bare file name has directory `""`.
fn split_path(path: &str) -> (&str, &str) {
    match path.rfind(['/', '\\']) {
        Some(idx) => (&path[..idx], &path[idx + 1..]),
        None => ("", path),
    }
}

/// `a/b` → `a.b`, the top level → `.`.
fn package_name(directory: &str) -> String {
    let name = directory.trim_start_matches('/').replace(['/', '\\'], ".");
    if name.is_empty() {
        ".".to_owned()
    } else {
        name
    }
}

fn line_rate(totals: &Totals) -> String {
    rate(totals.covered_lines as u64, totals.lines as u64)
}

fn branch_rate(totals: &Totals) -> String {
    rate(totals.covered_branches, totals.branches)
}

/// `covered / total` with up to four significant digits, trailing zeros dropped; `1` when
/// there is nothing to cover.
fn rate(covered: u64, total: u64) -> String {
    if total == 0 {
        return "1".to_owned();
    }
    if covered == 0 {
        return "0".to_owned();
    }
    let ratio = covered as f64 / total as f64;
    let leading_zeros = (-ratio.log10().floor()).max(0.0) as usize;
    let formatted = format!("{ratio:.prec$}", prec = 3 + leading_zeros);
    let trimmed = formatted.trim_end_matches('0').trim_end_matches('.');
    trimmed.to_owned()
}

/// Escapes text for XML attribute values and character data.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_four_significant_digits() {
        assert_eq!(rate(0, 0), "1");
        assert_eq!(rate(0, 7), "0");
        assert_eq!(rate(7, 7), "1");
        assert_eq!(rate(55, 64), "0.8594");
        assert_eq!(rate(1, 2), "0.5");
        assert_eq!(rate(1, 3000), "0.0003333");
        assert_eq!(rate(99_999, 100_000), "1");
    }

    #[test]
    fn packages_are_directories() {
        assert_eq!(
            package_name(split_path("src/handlers/user.rs").0),
            "src.handlers"
        );
        assert_eq!(package_name(split_path("main.rs").0), ".");
        assert_eq!(package_name(split_path("/abs/x.rs").0), "abs");
    }
}
