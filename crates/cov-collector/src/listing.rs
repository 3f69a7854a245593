//! A raw profile as `llvm-profdata show --all-functions --counts` prints it: for each data
//! record, in order, its name (from the profile's names section), hash and counters, then
//! llvm-profdata's summary. On this toolchain's profiles the text is byte-identical to
//! llvm-profdata's (a test compares them); for versions 9 and 11 it is what llvm-profdata 18
//! or 23 would print. Callers: `cargo xtask profraw` (and a future `drift-cov profraw`).

use std::io::Write;

use crate::decode::names::NameTable;
use crate::decode::profraw::{HeaderField, RawProfile};
use crate::decode_error::ProfileError;
use crate::offline::OfflineError;

/// Version-field flag (`VARIANT_MASK_IR_PROF`): IR-level instrumentation. llvm-profdata
/// then shows every counter as a block count, not the first as the entry count.
const VARIANT_MASK_IR_PROF: u64 = 1 << 56;
/// Version-field flag (`VARIANT_MASK_INSTR_ENTRY`): the entry block is counted first.
const VARIANT_MASK_INSTR_ENTRY: u64 = 1 << 58;
/// Version-field flag (`VARIANT_MASK_INSTR_LOOP_ENTRIES`).
const VARIANT_MASK_INSTR_LOOP_ENTRIES: u64 = 1 << 55;

/// Writes the listing of the raw profile `profraw` (any supported version) to `out`, in
/// the shape of `llvm-profdata show --all-functions --counts`.
///
/// A function whose name the names section lacks is shown by its name ref
/// (`0x…`), where llvm-profdata would show an empty name.
pub fn write_profile_listing(profraw: &[u8], out: &mut impl Write) -> Result<(), OfflineError> {
    let profile = RawProfile::decode(profraw)?;
    let names = NameTable::decode(&profile.names_blob)
        .map_err(|error| ProfileError::Malformed(format!("names: {error}")))?;
    let ir_level = profile.header.version & VARIANT_MASK_IR_PROF != 0;
    // llvm-profdata's summary (`InstrProfSummaryBuilder::addRecord`): the first counter is
    // the entry count, the others internal counts.
    let (mut max_function_count, mut max_block_count) = (0_u64, 0_u64);
    let (mut n_blocks, mut total_count) = (0_u64, 0_u64);
    for (index, record) in profile.functions.iter().enumerate() {
        let counts = &profile.counters[record.counters.clone()];
        if index == 0 {
            writeln!(out, "Counters:")?;
        }
        match names.get(record.name_ref) {
            Some(name) => writeln!(out, "  {name}:")?,
            None => writeln!(out, "  {:#018x}:", record.name_ref)?,
        }
        writeln!(out, "    Hash: {:#018x}", record.func_hash)?;
        writeln!(out, "    Counters: {}", counts.len())?;
        writeln!(out, "    Function count: {}", counts[0])?;
        write!(out, "    Block counts: [")?;
        let first_block = if ir_level { 0 } else { 1 };
        for (position, count) in counts[first_block..].iter().enumerate() {
            let separator = if position == 0 { "" } else { ", " };
            write!(out, "{separator}{count}")?;
        }
        writeln!(out, "]")?;
        max_function_count = max_function_count.max(counts[0]);
        max_block_count = max_block_count.max(counts[1..].iter().copied().max().unwrap_or(0));
        n_blocks += counts.len() as u64;
        total_count = counts
            .iter()
            .fold(total_count, |sum, &count| sum.wrapping_add(count));
    }
    let version = profile.header.version;
    if ir_level {
        writeln!(
            out,
            "Instrumentation level: IR  entry_first = {}  instrument_loop_entries = {}",
            u8::from(version & VARIANT_MASK_INSTR_ENTRY != 0),
            u8::from(version & VARIANT_MASK_INSTR_LOOP_ENTRIES != 0),
        )?;
    } else {
        writeln!(out, "Instrumentation level: Front-end")?;
    }
    let n_functions = profile.functions.len();
    writeln!(out, "Functions shown: {n_functions}")?;
    writeln!(out, "Total functions: {n_functions}")?;
    writeln!(out, "Maximum function count: {max_function_count}")?;
    writeln!(out, "Maximum internal block count: {max_block_count}")?;
    writeln!(out, "Total number of blocks: {n_blocks}")?;
    writeln!(out, "Total count: {total_count}")?;
    Ok(())
}

/// Writes the raw profile's format version (with the LLVM and Rust releases that write it)
/// and every field of its header, one per line.
pub fn write_profile_header(profraw: &[u8], out: &mut impl Write) -> Result<(), OfflineError> {
    let profile = RawProfile::decode(profraw)?;
    let layout = profile.layout()?;
    writeln!(
        out,
        "Raw profile version {} (LLVM {}, Rust {}), variant flags {:#x}",
        layout.version,
        layout.llvm,
        layout.rust,
        profile.header.version & !0xffff_ffff
    )?;
    writeln!(out, "Header:")?;
    for field in layout.header_fields() {
        let value = profile.header.get(field);
        // Magic, version and addresses read best in hex; sizes and counts in decimal.
        let name = format!("{field:?}");
        if matches!(field, HeaderField::Magic | HeaderField::Version) || name.ends_with("Delta") {
            writeln!(out, "  {name}: {value:#x}")?;
        } else {
            writeln!(out, "  {name}: {value}")?;
        }
    }
    Ok(())
}
