//! LCOV tracefile in the Tusk CLI's layout.
//!
//! Files sorted by path; per file `SF:`, one `DA:line,count` per coverable line, then per
//! branch line one `BRDA:line,0,i,taken` for each outcome slot `i < total`, where the first
//! `covered` slots are taken (1) and the rest not (0): the wire only carries how many
//! outcomes of a line were taken, not which. Then `LF`/`LH`, `BRF`/`BRH` only when the file
//! has branches, and `end_of_record`. No `TN:` line, as the CLI writes none.

use std::fmt::Write as _;

use crate::aggregate::CoverageView;

/// Renders the view's aggregate as an LCOV tracefile.
pub fn render(view: &CoverageView) -> String {
    let mut out = String::new();
    for (path, file) in &view.files {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "SF:{path}");
        for (line, count) in &file.lines {
            let _ = writeln!(out, "DA:{line},{count}");
        }
        let mut n_branches = 0u64;
        let mut n_branches_hit = 0u64;
        for (line, branches) in &file.branches {
            for slot_idx in 0..branches.total {
                let taken = u8::from(slot_idx < branches.covered);
                let _ = writeln!(out, "BRDA:{line},0,{slot_idx},{taken}");
                n_branches += 1;
                n_branches_hit += u64::from(taken);
            }
        }
        let _ = writeln!(out, "LF:{}", file.coverable_lines());
        let _ = writeln!(out, "LH:{}", file.covered_lines());
        if n_branches > 0 {
            let _ = writeln!(out, "BRF:{n_branches}");
            let _ = writeln!(out, "BRH:{n_branches_hit}");
        }
        out.push_str("end_of_record\n");
    }
    out
}

/// Writes the report to `writer`: the same text as [`render`].
pub fn write<W: std::io::Write + ?Sized>(
    view: &CoverageView,
    writer: &mut W,
) -> std::io::Result<()> {
    writer.write_all(render(view).as_bytes())
}
