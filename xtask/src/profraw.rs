//! `cargo xtask profraw FILE [--header]`: a raw profile (versions 9 to 11) listed as
//! `llvm-profdata show --all-functions --counts` lists it (byte-identical on this
//! toolchain's profiles), with no LLVM tools; `--header` first prints the format version
//! and every header field. For when a profile "looks wrong". The same code as
//! `drift-cov profraw` ([`cov_cli::profile_listing`]); this task only parses its arguments.

/// Runs the task.
pub(crate) fn run(flags: &crate::flags::Profraw) -> anyhow::Result<()> {
    Ok(cov_cli::profile_listing(&flags.file, flags.header)?)
}
