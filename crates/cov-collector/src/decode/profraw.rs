//! Raw profiles (`.profraw`) of format versions 9, 10 and 11 (LLVM 18 to 23) and the data
//! records that bind functions to their counters.
//!
//! Each version is described once, in [`LAYOUTS`]: which of LLVM 23's header fields
//! ([`HEADER_FIELDS`], in order) it lacks, and where a data record keeps the fields this
//! crate reads. The file decoder
//! ([`RawProfile::decode`]) and the live collector (which decodes the running program's
//! `__llvm_prf_data` with [`decode_function_counters`]) both read through that table, so a
//! version is never described twice.
//!
//! # The layouts, as LLVM writes them
//!
//! Read from LLVM's `llvm/include/llvm/ProfileData/InstrProfData.inc` (and its copy in
//! `compiler-rt/include/profile/`), macros `INSTR_PROF_RAW_VERSION`, `INSTR_PROF_RAW_HEADER`,
//! `INSTR_PROF_DATA` and `VALUE_PROF_KIND`: at release/18.x (`INSTR_PROF_RAW_VERSION 9`,
//! `IPVK_Last = IPVK_MemOPSize`) and release/22.x (version 10, `IPVK_VTableTarget` added); for
//! LLVM 23 (version 11), the `__llvm_profile_header`/`__llvm_profile_data` structures the
//! runtime is built from, `RawInstrProfReader` in `InstrProfReader.h` (which keeps
//! `UniformCountersDelta` beside `CountersDelta` and decrements both per record in
//! `advanceData`) and compiler-rt's offload writer (which places the uniform counters after
//! the bitmap's padding). The unit tests pin every size and offset to those sources.
//!
//! | version | LLVM | Rust | header (`u64`s) | data record |
//! |---|---|---|---|---|
//! | 9  | 18    | 1.78 to 1.81 | 14: no `NumVTables`, `VNamesSize` | 64 bytes: `NumValueSites[2]` (`IPVK_Last` is `MemOPSize`), `NumBitmapBytes` at 56, 4 bytes of tail padding |
//! | 10 | 19–22 | 1.82 to 1.98 | 16: adds `NumVTables`, `VNamesSize` before `ValueKindLast` | 64 bytes: `NumValueSites[3]` (`VTableTarget` added), 2 bytes of padding, `NumBitmapBytes` at 60 |
//! | 11 | 23    | 1.99 and later | 19: adds `NumUniformCounters`, `PaddingBytesAfterUniformCounters`, `UniformCountersDelta` after `PaddingBytesAfterBitmapBytes` | 72 bytes: `UniformCounterPtr` after `CounterPtr`, `OffloadDeviceWaveSize` (`u16`) after `NumValueSites[3]`, `NumBitmapBytes` at 68 |
//!
//! Every record starts `NameRef`, `FuncHash`, `CounterPtr` (`u64` each); `NumCounters`
//! (`u32`) follows the pointer-sized fields (at 48, or 56 in version 11).
//!
//! The file is over 800 lines only with its unit tests, which pin every offset and size of
//! the three layouts to LLVM's constants; they stay beside the one table they check.
//!
//! The body after the header is, in every version: binary ids, data records,
//! `PaddingBytesBeforeCounters`, counters, `PaddingBytesAfterCounters`, the bitmap,
//! `PaddingBytesAfterBitmapBytes`, then (version 11) the uniform counters and
//! `PaddingBytesAfterUniformCounters`, then the names. The reader honours every padding
//! field as written (LLVM's runtime may page-align in continuous mode), which is why
//! versions 9 and 10 read as version 11 with no uniform counters.
//!
//! `CounterPtr` (and `UniformCounterPtr`) is an offset **relative to the record's own
//! address**: LLVM's `RawInstrProfReader` starts from `CountersDelta` (address of the
//! counters minus address of the data, at write time) and subtracts the record size for
//! each record it advances (`advanceData`, which does the same for `UniformCountersDelta`
//! in version 11). So the same decoder serves a file (where addresses are offsets from the
//! first record) and live memory (where they are real addresses), for any record size.
//! Uniform counters (GPU offload; a CPU program such as a Rust service has none) take no
//! part in coverage: they are checked to lie in their section and otherwise kept aside.
//!
//! The version field's upper 32 bits are variant flags (`VARIANT_MASK_*`); those that
//! change the layout this crate reads (single-byte counters, debug-info correlation) are
//! refused by name. rustc sets none of them (rustc 1.95's runtime reports a bare `0xa`).

use std::ops::Range;
use std::path::Path;

use crate::bytes::Cursor;
use crate::decode::names::decode_names;
use crate::decode_error::ProfileError;

/// LLVM's raw profile magic for 64-bit little-endian profiles (`\xfflprofr\x81`).
pub const RAW_PROFILE_MAGIC: u64 = 0xff6c_7072_6f66_7281;

/// What the supported versions are and who writes them, for error messages (kept equal to
/// [`LAYOUTS`] by a test).
pub const SUPPORTED_VERSIONS: &str =
    "versions 9–11, written by Rust 1.78 and later (LLVM 18 to 23)";

/// Version-field flag (`VARIANT_MASK_BYTE_COVERAGE`): counters are single bytes.
const VARIANT_MASK_BYTE_COVERAGE: u64 = 1 << 60;
/// Version-field flag (`VARIANT_MASK_DBG_CORRELATE`): data and names live in debug info.
const VARIANT_MASK_DBG_CORRELATE: u64 = 1 << 59;

/// A field of the raw profile header, named as in LLVM's `INSTR_PROF_RAW_HEADER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // The names are LLVM's; see the module documentation.
pub enum HeaderField {
    Magic,
    Version,
    BinaryIdsSize,
    NumData,
    PaddingBytesBeforeCounters,
    NumCounters,
    PaddingBytesAfterCounters,
    NumBitmapBytes,
    PaddingBytesAfterBitmapBytes,
    NumUniformCounters,
    PaddingBytesAfterUniformCounters,
    UniformCountersDelta,
    NamesSize,
    CountersDelta,
    BitmapDelta,
    NamesDelta,
    NumVTables,
    VNamesSize,
    ValueKindLast,
}

/// Where a data record keeps what this crate reads. `NameRef` and `FuncHash` are the first
/// two `u64` of every version, `CounterPtr` the third.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLayout {
    /// Size of one record (`sizeof(__llvm_profile_data)` on a 64-bit target).
    pub size: usize,
    /// Offset of `UniformCounterPtr`, where the version has it.
    pub uniform_counter_ptr: Option<usize>,
    /// Offset of `NumCounters` (`u32`).
    pub num_counters: usize,
}

/// Offset of `NameRef` in every version's data record.
pub const RECORD_NAME_REF: usize = 0;
/// Offset of `FuncHash` in every version's data record.
pub const RECORD_FUNC_HASH: usize = 8;
/// Offset of `CounterPtr` in every version's data record.
pub const RECORD_COUNTER_PTR: usize = 16;

/// Every header field of every version, in the order LLVM 23 writes them (version 11).
/// Older versions write the same order without the fields they lack.
pub const HEADER_FIELDS: [HeaderField; 19] = [
    H::Magic,
    H::Version,
    H::BinaryIdsSize,
    H::NumData,
    H::PaddingBytesBeforeCounters,
    H::NumCounters,
    H::PaddingBytesAfterCounters,
    H::NumBitmapBytes,
    H::PaddingBytesAfterBitmapBytes,
    H::NumUniformCounters,
    H::PaddingBytesAfterUniformCounters,
    H::UniformCountersDelta,
    H::NamesSize,
    H::CountersDelta,
    H::BitmapDelta,
    H::NamesDelta,
    H::NumVTables,
    H::VNamesSize,
    H::ValueKindLast,
];

/// One raw profile format version: its header and data record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The format version (`INSTR_PROF_RAW_VERSION`).
    pub version: u32,
    /// The LLVM releases that write it.
    pub llvm: &'static str,
    /// The Rust releases whose LLVM writes it.
    pub rust: &'static str,
    /// The fields of [`HEADER_FIELDS`] this version's header does not have.
    pub absent_header_fields: &'static [HeaderField],
    /// The data record.
    pub record: RecordLayout,
}

impl Layout {
    /// The header's `u64` fields, in order.
    pub fn header_fields(&self) -> impl Iterator<Item = HeaderField> + '_ {
        HEADER_FIELDS
            .into_iter()
            .filter(|field| !self.absent_header_fields.contains(field))
    }

    /// Size of the header in bytes.
    pub fn header_size(&self) -> usize {
        (HEADER_FIELDS.len() - self.absent_header_fields.len()) * 8
    }
}

use HeaderField as H;

/// The uniform-counter fields LLVM 23 added to the header.
const UNIFORM_COUNTER_FIELDS: [HeaderField; 3] = [
    H::NumUniformCounters,
    H::PaddingBytesAfterUniformCounters,
    H::UniformCountersDelta,
];

/// Every raw profile version this crate reads, oldest first.
pub const LAYOUTS: [Layout; 3] = [
    Layout {
        version: 9,
        llvm: "18",
        rust: "1.78 to 1.81",
        absent_header_fields: &[
            H::NumUniformCounters,
            H::PaddingBytesAfterUniformCounters,
            H::UniformCountersDelta,
            H::NumVTables,
            H::VNamesSize,
        ],
        record: RecordLayout {
            size: 64,
            uniform_counter_ptr: None,
            num_counters: 48,
        },
    },
    Layout {
        version: 10,
        llvm: "19 to 22",
        rust: "1.82 to 1.98",
        absent_header_fields: &UNIFORM_COUNTER_FIELDS,
        record: RecordLayout {
            size: 64,
            uniform_counter_ptr: None,
            num_counters: 48,
        },
    },
    Layout {
        version: 11,
        llvm: "23",
        rust: "1.99 and later",
        absent_header_fields: &[],
        record: RecordLayout {
            size: 72,
            uniform_counter_ptr: Some(24),
            num_counters: 56,
        },
    },
];

/// The layout of a version field (format version in the low 32 bits, variant flags above),
/// or the precise reason it cannot be read.
pub fn layout_for(version_field: u64) -> Result<&'static Layout, ProfileError> {
    let version = version_field & 0xffff_ffff;
    let layout = LAYOUTS
        .iter()
        .find(|layout| u64::from(layout.version) == version)
        .ok_or(ProfileError::UnsupportedVersion { version })?;
    if version_field & VARIANT_MASK_BYTE_COVERAGE != 0 {
        return Err(ProfileError::UnsupportedVariant(
            "single-byte counters (VARIANT_MASK_BYTE_COVERAGE, function entry coverage)",
        ));
    }
    if version_field & VARIANT_MASK_DBG_CORRELATE != 0 {
        return Err(ProfileError::UnsupportedVariant(
            "debug-info correlation (VARIANT_MASK_DBG_CORRELATE, no data records in the \
             profile)",
        ));
    }
    Ok(layout)
}

/// One instrumented function as the profile runtime sees it: which function (its name's
/// hash and its control flow's hash) owns which counters. LLVM calls it a *data record*
/// (`__llvm_profile_data`, one per function in `__llvm_prf_data`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionCounters {
    /// Low 64 bits of the MD5 of the function's (mangled) name.
    pub name_ref: u64,
    /// Hash of the function's control flow; must equal the mapping's.
    pub func_hash: u64,
    /// Index range of this function's counters in the program's counter array
    /// (`__llvm_prf_cnts`).
    pub counters: Range<usize>,
}

/// Where a program's counters (or uniform counters) are: the address of the first and how
/// many there are. Addresses may be real (live memory) or any consistent frame of
/// reference (file offsets from the first data record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterArray {
    /// Address of the first counter.
    pub address: u64,
    /// Number of `u64` counters.
    pub len: usize,
}

/// Decodes consecutive data records laid out as `record` says.
///
/// `data` holds the records, the first at address `data_address`; `counters` is the
/// program's counter array, every record's counter range is checked to lie inside it.
/// `uniform_counters`, when given (a file), is the uniform counter array a non-zero
/// `UniformCounterPtr` must point into; live memory has no such bound to check, and
/// uniform counters take no part in coverage.
pub fn decode_function_counters(
    record: &RecordLayout,
    data: &[u8],
    data_address: u64,
    counters: CounterArray,
    uniform_counters: Option<CounterArray>,
) -> Result<Vec<FunctionCounters>, ProfileError> {
    let size = record.size;
    if !data.len().is_multiple_of(size) {
        return Err(ProfileError::Malformed(format!(
            "data section of {} bytes is not a whole number of {size}-byte records",
            data.len()
        )));
    }
    let mut records = Vec::with_capacity(data.len() / size);
    for (index, chunk) in data.chunks_exact(size).enumerate() {
        let u64_at = |offset: usize| {
            let mut cursor = Cursor::new(chunk);
            cursor.skip(offset).and_then(|()| cursor.u64())
        };
        let truncated = |_| ProfileError::Truncated {
            what: "data record",
        };
        let name_ref = u64_at(RECORD_NAME_REF).map_err(truncated)?;
        let func_hash = u64_at(RECORD_FUNC_HASH).map_err(truncated)?;
        let counter_ptr = u64_at(RECORD_COUNTER_PTR).map_err(truncated)?;
        let mut cursor = Cursor::new(chunk);
        cursor.skip(record.num_counters).map_err(truncated)?;
        let function_counters = cursor.u32().map_err(truncated)? as usize;

        let record_address = data_address.wrapping_add((index * size) as u64);
        let malformed = |why: &str| {
            ProfileError::Malformed(format!(
                "data record {index} (name ref {name_ref:#018x}): {why}"
            ))
        };
        if function_counters == 0 {
            return Err(malformed("number of counters is zero"));
        }
        let range = |pointer: u64, array: CounterArray, what: &str| {
            let byte_offset = record_address
                .wrapping_add(pointer)
                .wrapping_sub(array.address);
            if (byte_offset as i64) < 0 {
                return Err(malformed(&format!("{what} start before their array")));
            }
            if !byte_offset.is_multiple_of(8) {
                return Err(malformed(&format!("{what} pointer is not 8-byte aligned")));
            }
            let start = usize::try_from(byte_offset / 8)
                .map_err(|_| malformed(&format!("{what} offset out of range")))?;
            let end = start
                .checked_add(function_counters)
                .filter(|&end| end <= array.len)
                .ok_or_else(|| malformed(&format!("{what} extend past their array")))?;
            Ok(start..end)
        };
        let counter_range = range(counter_ptr, counters, "counters")?;
        if let (Some(offset), Some(array)) = (record.uniform_counter_ptr, uniform_counters) {
            let uniform_ptr = u64_at(offset).map_err(truncated)?;
            if uniform_ptr != 0 {
                range(uniform_ptr, array, "uniform counters")?;
            }
        }
        records.push(FunctionCounters {
            name_ref,
            func_hash,
            counters: counter_range,
        });
    }
    Ok(records)
}

/// The header of a raw profile: every field of every version, those its version lacks at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawProfileHeader {
    /// The magic number ([`RAW_PROFILE_MAGIC`]).
    pub magic: u64,
    /// The full version field (format version in the low 32 bits, variant flags above).
    pub version: u64,
    /// Size in bytes of the binary-ids area.
    pub binary_ids_size: u64,
    /// Number of data records.
    pub num_data: u64,
    /// Padding between the data records and the counters.
    pub padding_before_counters: u64,
    /// Number of counters.
    pub num_counters: u64,
    /// Padding after the counters.
    pub padding_after_counters: u64,
    /// Size of the MC/DC bitmap.
    pub num_bitmap_bytes: u64,
    /// Padding after the bitmap.
    pub padding_after_bitmap: u64,
    /// Number of uniform counters (version 11).
    pub num_uniform_counters: u64,
    /// Padding after the uniform counters (version 11).
    pub padding_after_uniform_counters: u64,
    /// Address of the uniform counters minus the address of the data records, at write
    /// time (version 11).
    pub uniform_counters_delta: u64,
    /// Size of the names blob.
    pub names_size: u64,
    /// Address of the counters minus the address of the data records, at write time.
    pub counters_delta: u64,
    /// Address of the bitmap minus the address of the data records, at write time.
    pub bitmap_delta: u64,
    /// Address of the names at write time.
    pub names_delta: u64,
    /// Number of vtable records (versions 10 and 11).
    pub num_vtables: u64,
    /// Size of the vtable names (versions 10 and 11).
    pub vnames_size: u64,
    /// The last value-profiling kind.
    pub value_kind_last: u64,
}

impl RawProfileHeader {
    /// The value of one field (0 for a field the profile's version does not have).
    pub fn get(&self, field: HeaderField) -> u64 {
        let mut copy = *self;
        *copy.slot(field)
    }

    fn slot(&mut self, field: HeaderField) -> &mut u64 {
        match field {
            H::Magic => &mut self.magic,
            H::Version => &mut self.version,
            H::BinaryIdsSize => &mut self.binary_ids_size,
            H::NumData => &mut self.num_data,
            H::PaddingBytesBeforeCounters => &mut self.padding_before_counters,
            H::NumCounters => &mut self.num_counters,
            H::PaddingBytesAfterCounters => &mut self.padding_after_counters,
            H::NumBitmapBytes => &mut self.num_bitmap_bytes,
            H::PaddingBytesAfterBitmapBytes => &mut self.padding_after_bitmap,
            H::NumUniformCounters => &mut self.num_uniform_counters,
            H::PaddingBytesAfterUniformCounters => &mut self.padding_after_uniform_counters,
            H::UniformCountersDelta => &mut self.uniform_counters_delta,
            H::NamesSize => &mut self.names_size,
            H::CountersDelta => &mut self.counters_delta,
            H::BitmapDelta => &mut self.bitmap_delta,
            H::NamesDelta => &mut self.names_delta,
            H::NumVTables => &mut self.num_vtables,
            H::VNamesSize => &mut self.vnames_size,
            H::ValueKindLast => &mut self.value_kind_last,
        }
    }

    /// The format version (the low 32 bits of the version field).
    pub fn format_version(&self) -> u32 {
        (self.version & 0xffff_ffff) as u32
    }
}

/// A decoded raw profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawProfile {
    /// The header.
    pub header: RawProfileHeader,
    /// Build ids of the binaries that wrote the profile.
    pub binary_ids: Vec<Vec<u8>>,
    /// The data records, one per instrumented function: which counters are whose.
    pub functions: Vec<FunctionCounters>,
    /// The counter array the records index into.
    pub counters: Vec<u64>,
    /// The uniform counters (version 11; GPU offload), kept apart: coverage never reads
    /// them.
    pub uniform_counters: Vec<u64>,
    /// The names section as stored (compressed chunks); [`RawProfile::names`] decodes it.
    /// The coverage computation never needs it (the executable's mapping names every
    /// function), so it is not decoded up front.
    pub names_blob: Vec<u8>,
}

impl RawProfile {
    /// Reads and decodes a `.profraw` file.
    pub fn read(path: &Path) -> Result<RawProfile, ProfileError> {
        let bytes = std::fs::read(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        RawProfile::decode(&bytes)
    }

    /// Decodes a raw profile of any version in `LAYOUTS` (versions 9 to 11) from its bytes.
    pub fn decode(bytes: &[u8]) -> Result<RawProfile, ProfileError> {
        let mut cursor = Cursor::new(bytes);
        let header_field = |cursor: &mut Cursor<'_>| {
            cursor
                .u64()
                .map_err(|_| ProfileError::Truncated { what: "header" })
        };
        let magic = header_field(&mut cursor)?;
        if magic != RAW_PROFILE_MAGIC {
            return Err(ProfileError::BadMagic { found: magic });
        }
        let layout = layout_for(header_field(&mut cursor)?)?;
        let mut header = RawProfileHeader::default();
        let mut cursor = Cursor::new(bytes);
        for field in layout.header_fields() {
            *header.slot(field) = header_field(&mut cursor)?;
        }

        let size = |value: u64, what: &'static str| {
            usize::try_from(value).map_err(|_| ProfileError::Truncated { what })
        };
        let take = |cursor: &mut Cursor<'_>,
                    len: u64,
                    what: &'static str|
         -> Result<Vec<u8>, ProfileError> {
            let len = size(len, what)?;
            cursor
                .bytes(len)
                .map(<[u8]>::to_vec)
                .map_err(|_| ProfileError::Truncated { what })
        };
        let words = |bytes: Vec<u8>| -> Vec<u64> {
            bytes
                .chunks_exact(8)
                .map(|chunk| {
                    let mut word = [0_u8; 8];
                    word.copy_from_slice(chunk);
                    u64::from_le_bytes(word)
                })
                .collect()
        };
        let array_len = |count: u64, element: u64, what: &'static str| {
            count
                .checked_mul(element)
                .ok_or(ProfileError::Truncated { what })
        };

        let binary_ids =
            decode_binary_ids(&take(&mut cursor, header.binary_ids_size, "binary ids")?)?;
        let data_len = array_len(header.num_data, layout.record.size as u64, "data records")?;
        let data = take(&mut cursor, data_len, "data records")?;
        take(
            &mut cursor,
            header.padding_before_counters,
            "padding before counters",
        )?;
        // A `u64` array and the padding after it (the counters, and version 11's uniform
        // counters).
        let counter_array = |cursor: &mut Cursor<'_>,
                             count: u64,
                             padding: u64,
                             what: [&'static str; 2]|
         -> Result<Vec<u64>, ProfileError> {
            let array = words(take(cursor, array_len(count, 8, what[0])?, what[0])?);
            take(cursor, padding, what[1])?;
            Ok(array)
        };
        let counters = counter_array(
            &mut cursor,
            header.num_counters,
            header.padding_after_counters,
            ["counters", "padding after counters"],
        )?;
        take(&mut cursor, header.num_bitmap_bytes, "bitmap")?;
        take(
            &mut cursor,
            header.padding_after_bitmap,
            "padding after bitmap",
        )?;
        let uniform_counters = counter_array(
            &mut cursor,
            header.num_uniform_counters,
            header.padding_after_uniform_counters,
            ["uniform counters", "padding after uniform counters"],
        )?;
        let names_blob = take(&mut cursor, header.names_size, "names")?;

        // In the file, the data records sit at offset 0 of our frame of reference and the
        // counters `counters_delta` bytes after them, as they did in memory.
        let functions = decode_function_counters(
            &layout.record,
            &data,
            0,
            CounterArray {
                address: header.counters_delta,
                len: counters.len(),
            },
            Some(CounterArray {
                address: header.uniform_counters_delta,
                len: uniform_counters.len(),
            }),
        )?;
        Ok(RawProfile {
            header,
            binary_ids,
            functions,
            counters,
            uniform_counters,
            names_blob,
        })
    }

    /// The layout of the profile's version (an error only for a profile not made by
    /// [`RawProfile::decode`] with an unknown version).
    pub fn layout(&self) -> Result<&'static Layout, ProfileError> {
        layout_for(self.header.version)
    }

    /// The function names the profile carries, in order.
    pub fn names(&self) -> Result<Vec<String>, ProfileError> {
        decode_names(&self.names_blob)
            .map_err(|error| ProfileError::Malformed(format!("names: {error}")))
    }
}

/// Binary ids: `{u64 length, bytes, padding to 8}` repeated.
fn decode_binary_ids(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ProfileError> {
    let mut cursor = Cursor::new(bytes);
    let mut ids = Vec::new();
    let truncated = |_| ProfileError::Truncated { what: "binary id" };
    while !cursor.is_empty() {
        let len = cursor.u64().map_err(truncated)?;
        let len =
            usize::try_from(len).map_err(|_| ProfileError::Truncated { what: "binary id" })?;
        ids.push(cursor.bytes(len).map_err(truncated)?.to_vec());
        cursor.align_to(8);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(version: u32) -> &'static Layout {
        layout_for(u64::from(version)).unwrap()
    }

    /// A record of `layout` with the given fields and the others zero.
    fn record(layout: &Layout, name_ref: u64, counter_ptr: i64, num_counters: u32) -> Vec<u8> {
        let mut bytes = vec![0; layout.record.size];
        bytes[RECORD_NAME_REF..][..8].copy_from_slice(&name_ref.to_le_bytes());
        bytes[RECORD_FUNC_HASH..][..8].copy_from_slice(&7_u64.to_le_bytes());
        bytes[RECORD_COUNTER_PTR..][..8].copy_from_slice(&counter_ptr.to_le_bytes());
        bytes[layout.record.num_counters..][..4].copy_from_slice(&num_counters.to_le_bytes());
        bytes
    }

    fn counters(address: u64, len: usize) -> CounterArray {
        CounterArray { address, len }
    }

    #[test]
    fn layouts_match_llvm_instr_prof_data() {
        // sizeof(__llvm_profile_data) on 64-bit targets: 6 pointer-sized fields + u32
        // NumCounters + u16 NumValueSites[IPVK_Last + 1] + u32 NumBitmapBytes, aligned
        // to 8 (LLVM 18: IPVK_Last = 1; LLVM 19+: 2; LLVM 23 adds a 7th pointer and a u16
        // OffloadDeviceWaveSize).
        let c_layout = |pointers: usize, value_sites: usize, extra_u16: usize| {
            let num_counters = pointers * 8;
            let after_sites = num_counters + 4 + 2 * value_sites + 2 * extra_u16;
            let num_bitmap_bytes = after_sites.next_multiple_of(4);
            ((num_bitmap_bytes + 4).next_multiple_of(8), num_counters)
        };
        let expected = [
            (9, c_layout(6, 2, 0), 14),
            (10, c_layout(6, 3, 0), 16),
            (11, c_layout(7, 3, 1), 19),
        ];
        for (version, (size, num_counters), header_fields) in expected {
            let layout = layout(version);
            assert_eq!(layout.record.size, size, "version {version}");
            assert_eq!(
                layout.record.num_counters, num_counters,
                "version {version}"
            );
            assert_eq!(
                layout.header_fields().count(),
                header_fields,
                "version {version}"
            );
            assert_eq!(layout.header_size(), header_fields * 8, "version {version}");
        }
        assert_eq!(layout(9).record.size, 64);
        assert_eq!(layout(10).record.size, 64);
        assert_eq!(layout(11).record.size, 72);
        assert_eq!(layout(11).record.uniform_counter_ptr, Some(24));
        // The headers as INSTR_PROF_RAW_HEADER lists them at each release.
        let v9: Vec<_> = layout(9).header_fields().collect();
        let v10: Vec<_> = layout(10).header_fields().collect();
        let v11: Vec<_> = layout(11).header_fields().collect();
        assert_eq!(
            v9,
            [
                H::Magic,
                H::Version,
                H::BinaryIdsSize,
                H::NumData,
                H::PaddingBytesBeforeCounters,
                H::NumCounters,
                H::PaddingBytesAfterCounters,
                H::NumBitmapBytes,
                H::PaddingBytesAfterBitmapBytes,
                H::NamesSize,
                H::CountersDelta,
                H::BitmapDelta,
                H::NamesDelta,
                H::ValueKindLast,
            ]
        );
        // Version 10 adds the two vtable fields before ValueKindLast; version 11 the three
        // uniform-counter fields after the bitmap's padding.
        assert_eq!(&v10[..13], &v9[..13]);
        assert_eq!(
            &v10[13..],
            &[H::NumVTables, H::VNamesSize, H::ValueKindLast]
        );
        assert_eq!(&v11[..9], &v10[..9]);
        assert_eq!(&v11[9..12], &UNIFORM_COUNTER_FIELDS);
        assert_eq!(&v11[12..], &v10[9..]);
    }

    #[test]
    fn supported_versions_text_names_every_layout() {
        let first = LAYOUTS.first().unwrap();
        let last = LAYOUTS.last().unwrap();
        let range = format!("versions {}–{}", first.version, last.version);
        assert!(SUPPORTED_VERSIONS.contains(&range), "{SUPPORTED_VERSIONS}");
        assert!(SUPPORTED_VERSIONS.contains("Rust 1.78"));
        assert!(first.rust.starts_with("1.78") && first.llvm == "18");
        assert!(SUPPORTED_VERSIONS.contains(&format!("LLVM {} to {}", first.llvm, last.llvm)));
        assert!(
            LAYOUTS
                .windows(2)
                .all(|pair| pair[1].version == pair[0].version + 1)
        );
    }

    #[test]
    fn counter_pointers_are_relative_to_each_record_in_every_layout() {
        for layout in &LAYOUTS {
            let size = layout.record.size as i64;
            // Two records at 0x1000 and 0x1000 + size; counters at 0x2000.
            let mut data = record(layout, 1, 0x2000 - 0x1000, 2);
            data.extend(record(layout, 2, 0x2010 - (0x1000 + size), 3));
            let records =
                decode_function_counters(&layout.record, &data, 0x1000, counters(0x2000, 5), None)
                    .unwrap();
            assert_eq!(records[0].counters, 0..2);
            assert_eq!(records[1].counters, 2..5);
            assert_eq!(records[1].name_ref, 2);
            assert_eq!(records[1].func_hash, 7);
        }
    }

    #[test]
    fn out_of_range_counters_are_errors() {
        for layout in &LAYOUTS {
            let decode = |data: &[u8]| {
                decode_function_counters(&layout.record, data, 0x1000, counters(0x2000, 5), None)
            };
            assert!(decode(&record(layout, 1, 0x1000, 6)).is_err());
            assert!(decode(&record(layout, 1, 0x0ff8, 1)).is_err());
            assert!(decode(&record(layout, 1, 0x1004, 1)).is_err());
            assert!(decode(&record(layout, 1, 0x1000, 0)).is_err());
            assert!(decode(&record(layout, 1, 0x1000, 1)[..10]).is_err());
        }
    }

    #[test]
    fn uniform_counter_pointers_are_checked_against_their_array() {
        let layout = layout(11);
        let offset = layout.record.uniform_counter_ptr.unwrap();
        let mut data = record(layout, 1, 0x1000, 2);
        // Uniform counters at 0x3000, two of them.
        data[offset..offset + 8].copy_from_slice(&0x2000_u64.to_le_bytes());
        let decode = |data: &[u8], len| {
            decode_function_counters(
                &layout.record,
                data,
                0x1000,
                counters(0x2000, 5),
                Some(counters(0x3000, len)),
            )
        };
        assert_eq!(decode(&data, 2).unwrap()[0].counters, 0..2);
        assert!(decode(&data, 1).is_err());
        // A null pointer means no uniform counters.
        data[offset..offset + 8].fill(0);
        assert!(decode(&data, 0).is_ok());
    }

    #[test]
    fn unknown_versions_name_the_supported_range_and_rust_versions() {
        for version in [0_u64, 8, 12, 0x0100_0000_0000_000c] {
            let mut bytes = RAW_PROFILE_MAGIC.to_le_bytes().to_vec();
            bytes.extend_from_slice(&version.to_le_bytes());
            bytes.extend_from_slice(&[0; 17 * 8]);
            let error = RawProfile::decode(&bytes).unwrap_err();
            let found = version & 0xffff_ffff;
            assert_eq!(
                error.to_string(),
                format!(
                    "raw profile version {found}: this SDK reads versions 9–11, written by \
                     Rust 1.78 and later (LLVM 18 to 23)"
                )
            );
        }
        let error = RawProfile::decode(&[1, 2, 3]).unwrap_err();
        assert!(matches!(error, ProfileError::Truncated { .. }), "{error}");
    }

    #[test]
    fn layout_changing_variants_are_refused_by_name() {
        for version in [9_u64, 10, 11] {
            let error = layout_for((1 << 60) | version).unwrap_err();
            assert!(
                error.to_string().contains("single-byte counters"),
                "{error}"
            );
            let error = layout_for((1 << 59) | version).unwrap_err();
            assert!(
                error.to_string().contains("debug-info correlation"),
                "{error}"
            );
            // IR-level instrumentation (bit 56), as rustc sets it, and context-sensitive IR.
            assert_eq!(
                layout_for((1 << 56) | (1 << 57) | version).unwrap().version as u64,
                version
            );
        }
    }

    #[test]
    fn header_fields_round_trip_through_get() {
        let mut header = RawProfileHeader::default();
        for (value, field) in HEADER_FIELDS.into_iter().enumerate() {
            *header.slot(field) = value as u64 + 100;
        }
        for (value, field) in HEADER_FIELDS.into_iter().enumerate() {
            assert_eq!(header.get(field), value as u64 + 100, "{field:?}");
        }
    }
}
