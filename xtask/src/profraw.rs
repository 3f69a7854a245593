//! `cargo xtask profraw FILE [--header]`: a raw profile (versions 9 to 11) listed as
//! `llvm-profdata show --all-functions --counts` lists it (byte-identical on this
//! toolchain's profiles), with no LLVM tools; `--header` first prints the format version
//! and every header field. For when a profile "looks wrong". The listing itself is
//! cov-collector's (`cov_collector::offline::write_profile_listing`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use cov_collector::offline::{write_profile_header, write_profile_listing};

/// Runs the task with its command-line arguments.
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut file: Option<PathBuf> = None;
    let mut header = false;
    for arg in args {
        match arg.as_str() {
            "--header" => header = true,
            option if option.starts_with('-') => bail!("unknown option `{option}` for profraw"),
            path if file.is_none() => file = Some(PathBuf::from(path)),
            extra => bail!("unexpected argument `{extra}`: profraw reads one file"),
        }
    }
    let Some(file) = file else {
        bail!("usage: cargo xtask profraw FILE [--header]");
    };
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if header {
        write_profile_header(&bytes, &mut out)
            .with_context(|| format!("decoding {}", file.display()))?;
    }
    write_profile_listing(&bytes, &mut out)
        .with_context(|| format!("decoding {}", file.display()))?;
    out.flush().context("writing to standard output")?;
    Ok(())
}
