//! The human summary printed at the end of a run.
//!
//! The first line is the Tusk CLI's: `Coverage: X% lines (c/t), Y% branches (c/t) across N
//! files`, percentages with one decimal, the branch part only when there are branches (as
//! the CLI prints it), and the CLI's warning when no baseline arrived. Then two aligned
//! tables: per file (lines and branches, each as percentage and `covered/total`), sorted by
//! path, and per test in run order (lines the test executed, their share of all coverable
//! lines, and files touched). Columns widen to their longest cell, so long paths never break
//! the alignment.
//!
//! Two choices differ from the CLI's console output on purpose: the per-test numbers count
//! only files of the (glob-filtered) aggregate, as the CLI's JSON export does, so the two
//! reports agree; and each table has a header row. As in the CLI, files without coverable
//! lines are left out of the per-file table.

use crate::aggregate::{CoverageView, Totals, percent};

/// Renders the summary; every line ends with `\n`.
pub fn render(view: &CoverageView) -> String {
    let totals = view.totals();
    let mut out = headline(&totals);
    if !view.has_baseline {
        out.push_str("  (no baseline: the denominator may be incomplete)");
    }
    out.push('\n');

    out.push_str("\n  Per-file:\n");
    let mut files = Table::new(["File", "Lines", "", "Branches", ""]);
    for (path, file) in &view.files {
        let file_totals = Totals::of_file(file);
        if file_totals.lines == 0 {
            continue;
        }
        let (branch_percent, branch_ratio) = if file_totals.branches == 0 {
            ("-".to_owned(), String::new())
        } else {
            (
                format!("{:.1}%", file_totals.branch_percent()),
                format!(
                    "({}/{})",
                    file_totals.covered_branches, file_totals.branches
                ),
            )
        };
        files.row([
            path.clone(),
            format!("{:.1}%", file_totals.line_percent()),
            format!("({}/{})", file_totals.covered_lines, file_totals.lines),
            branch_percent,
            branch_ratio,
        ]);
    }
    files.write(&mut out, &[false, true, false, true, false]);

    out.push_str("\n  Per-test:\n");
    let mut tests = Table::new(["Test", "Lines", "Share", "Files"]);
    for test in &view.tests {
        let covered_lines = test.covered_lines();
        tests.row([
            test.display_name().to_owned(),
            covered_lines.to_string(),
            format!("{:.1}%", percent(covered_lines as u64, totals.lines as u64)),
            test.files_touched().to_string(),
        ]);
    }
    tests.write(&mut out, &[false, true, true, true]);
    out
}

/// Writes the report to `writer`: the same text as [`render`].
pub fn write<W: std::io::Write + ?Sized>(
    view: &CoverageView,
    writer: &mut W,
) -> std::io::Result<()> {
    writer.write_all(render(view).as_bytes())
}

/// `Coverage: X% lines (c/t)[, Y% branches (c/t)] across N files`, without newline.
pub fn headline(totals: &Totals) -> String {
    let mut line = format!(
        "Coverage: {:.1}% lines ({}/{})",
        totals.line_percent(),
        totals.covered_lines,
        totals.lines
    );
    if totals.branches > 0 {
        line.push_str(&format!(
            ", {:.1}% branches ({}/{})",
            totals.branch_percent(),
            totals.covered_branches,
            totals.branches
        ));
    }
    line.push_str(&format!(" across {} files", totals.files));
    line
}

/// A text table whose columns are as wide as their widest cell.
struct Table<const N: usize> {
    header: [String; N],
    rows: Vec<[String; N]>,
}

impl<const N: usize> Table<N> {
    fn new(header: [&str; N]) -> Self {
        Self {
            header: header.map(str::to_owned),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: [String; N]) {
        self.rows.push(cells);
    }

    /// Writes header and rows indented by four spaces, columns two spaces apart,
    /// right-aligned where `right_aligned` says so, without trailing spaces.
    fn write(&self, out: &mut String, right_aligned: &[bool; N]) {
        if self.rows.is_empty() {
            out.push_str("    (none)\n");
            return;
        }
        let mut widths = [0usize; N];
        for cells in std::iter::once(&self.header).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for cells in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::from("   ");
            for ((cell, width), &right) in cells.iter().zip(widths).zip(right_aligned) {
                if width == 0 {
                    continue;
                }
                line.push(' ');
                let padding = width - cell.chars().count();
                if right {
                    line.extend(std::iter::repeat_n(' ', padding));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', padding));
                }
                line.push(' ');
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}
