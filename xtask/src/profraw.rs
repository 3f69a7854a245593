//! `cargo xtask profraw FILE [--header]`: a raw profile (versions 9 to 11) listed as
//! `llvm-profdata show --all-functions --counts` lists it (byte-identical on this
//! toolchain's profiles), with no LLVM tools; `--header` first prints the format version
//! and every header field. For when a profile "looks wrong". The listing itself is
//! cov-collector's (`cov_collector::offline::write_profile_listing`).

use anyhow::Context;
use cov_collector::offline::{write_profile_header, write_profile_listing};
use std::io::Write;

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Profraw) -> anyhow::Result<()> {
    let file = &flags.file;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if flags.header {
        write_profile_header(&bytes, &mut out)
            .with_context(|| format!("decoding {}", file.display()))?;
    }
    write_profile_listing(&bytes, &mut out)
        .with_context(|| format!("decoding {}", file.display()))?;
    out.flush().context("writing to standard output")?;
    Ok(())
}
