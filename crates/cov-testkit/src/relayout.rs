//! A raw profile encoder for the tests: re-lays a real version-10 profile (what this
//! machine's rustc 1.95, LLVM 22, writes) as version 9 (LLVM 18) or version 11 (LLVM 23),
//! the toolchains that cannot be installed here.
//!
//! Written from LLVM's `InstrProfData.inc` (`INSTR_PROF_RAW_HEADER`, `INSTR_PROF_DATA`,
//! `VALUE_PROF_KIND`) at release/18.x, release/22.x and the LLVM 23 sources, and from the
//! writer (`compiler-rt/lib/profile/InstrProfilingWriter.c`, `lprofWriteDataImpl`): header,
//! binary ids, data records, padding, counters, padding, bitmap, padding, (11: uniform
//! counters, padding,) names, padding to 8, (10 and 11: vtables, vtable names,) value data.
//! It is deliberately independent of cov-collector's layout table, so that the decoder is
//! checked against a second reading of the LLVM source rather than against itself.
//!
//! The re-laid profile describes the same run as if the other runtime had written it: the
//! counter array keeps its address relative to the end of the data records, every
//! relative `CounterPtr` is recomputed for the new record size, and the padding fields can
//! be made non-zero (filled with garbage bytes a reader must skip, not read).

/// How to re-lay a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relayout {
    /// The target format version: 9, 10 or 11.
    pub version: u32,
    /// `PaddingBytesBeforeCounters`, `PaddingBytesAfterCounters`,
    /// `PaddingBytesAfterBitmapBytes` and (11) `PaddingBytesAfterUniformCounters`, added to
    /// what the original has.
    pub extra_padding: [u64; 4],
    /// Version 11: give every third function as many uniform counters as it has counters
    /// (as a GPU offload build would), with values coverage must never read.
    pub uniform_counters: bool,
}

impl Relayout {
    /// `version` with no extra padding and no uniform counters.
    pub fn plain(version: u32) -> Relayout {
        Relayout {
            version,
            extra_padding: [0; 4],
            uniform_counters: false,
        }
    }

    /// `version` with non-zero padding everywhere and, for 11, uniform counters.
    pub fn padded(version: u32) -> Relayout {
        Relayout {
            version,
            extra_padding: [24, 8, 16, 40],
            uniform_counters: version >= 11,
        }
    }
}

/// The byte the extra padding is filled with.
const PADDING_FILL: u8 = 0xa5;
/// Size of a version-10 data record.
const V10_RECORD: usize = 64;

/// The fields of one data record, any version (version-11 extras zero when absent).
#[derive(Clone, Copy, Debug, Default)]
struct Record {
    name_ref: u64,
    func_hash: u64,
    counter_ptr: u64,
    uniform_counter_ptr: u64,
    bitmap_ptr: u64,
    function_pointer: u64,
    values: u64,
    num_counters: u32,
    num_value_sites: [u16; 3],
    offload_device_wave_size: u16,
    num_bitmap_bytes: u32,
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes(bytes[offset..offset + 2].try_into().expect("2 bytes"))
}

/// Reads a version-10 record (`NumValueSites[3]` at 52, `NumBitmapBytes` at 60).
fn read_v10_record(bytes: &[u8]) -> Record {
    Record {
        name_ref: u64_at(bytes, 0),
        func_hash: u64_at(bytes, 8),
        counter_ptr: u64_at(bytes, 16),
        uniform_counter_ptr: 0,
        bitmap_ptr: u64_at(bytes, 24),
        function_pointer: u64_at(bytes, 32),
        values: u64_at(bytes, 40),
        num_counters: u32_at(bytes, 48),
        num_value_sites: [u16_at(bytes, 52), u16_at(bytes, 54), u16_at(bytes, 56)],
        offload_device_wave_size: 0,
        num_bitmap_bytes: u32_at(bytes, 60),
    }
}

/// `sizeof(__llvm_profile_data)` on a 64-bit target.
fn record_size(version: u32) -> usize {
    match version {
        9 | 10 => 64,
        11 => 72,
        other => panic!("cannot encode raw profile version {other}"),
    }
}

/// Writes `record` as `version` lays it out.
fn write_record(record: &Record, version: u32, out: &mut Vec<u8>) {
    let start = out.len();
    let mut u64s = vec![record.name_ref, record.func_hash, record.counter_ptr];
    if version >= 11 {
        u64s.push(record.uniform_counter_ptr);
    }
    u64s.extend([record.bitmap_ptr, record.function_pointer, record.values]);
    for value in u64s {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&record.num_counters.to_le_bytes());
    // LLVM 18's IPVK_Last is IPVK_MemOPSize (two value kinds); LLVM 19 added
    // IPVK_VTableTarget.
    let n_value_kinds = if version == 9 { 2 } else { 3 };
    if version == 9 {
        assert_eq!(
            record.num_value_sites[2], 0,
            "a vtable value site in version 9"
        );
    }
    for sites in &record.num_value_sites[..n_value_kinds] {
        out.extend_from_slice(&sites.to_le_bytes());
    }
    if version >= 11 {
        out.extend_from_slice(&record.offload_device_wave_size.to_le_bytes());
    }
    // `NumBitmapBytes` is a u32: aligned to 4.
    while !(out.len() - start).is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(&record.num_bitmap_bytes.to_le_bytes());
    // The struct is 8-aligned.
    while !(out.len() - start).is_multiple_of(8) {
        out.push(0);
    }
    assert_eq!(out.len() - start, record_size(version));
}

/// A version-10 profile, cut into its parts.
struct V10<'a> {
    header: [u64; 16],
    binary_ids: &'a [u8],
    records: Vec<Record>,
    counters: &'a [u8],
    bitmap: &'a [u8],
    names: &'a [u8],
    /// Vtables, vtable names and value data: everything after the names' padding.
    tail: &'a [u8],
}

// Version-10 header indices (`INSTR_PROF_RAW_HEADER` at release/22.x).
const MAGIC: usize = 0;
const VERSION: usize = 1;
const BINARY_IDS_SIZE: usize = 2;
const NUM_DATA: usize = 3;
const PADDING_BEFORE_COUNTERS: usize = 4;
const NUM_COUNTERS: usize = 5;
const PADDING_AFTER_COUNTERS: usize = 6;
const NUM_BITMAP_BYTES: usize = 7;
const PADDING_AFTER_BITMAP: usize = 8;
const NAMES_SIZE: usize = 9;
const COUNTERS_DELTA: usize = 10;
const BITMAP_DELTA: usize = 11;
const NAMES_DELTA: usize = 12;
const NUM_VTABLES: usize = 13;
const VNAMES_SIZE: usize = 14;

fn split_v10(bytes: &[u8]) -> V10<'_> {
    let mut header = [0_u64; 16];
    for (index, field) in header.iter_mut().enumerate() {
        *field = u64_at(bytes, index * 8);
    }
    assert_eq!(
        header[VERSION] & 0xffff_ffff,
        10,
        "not a version-10 profile"
    );
    let mut offset = 16 * 8;
    let mut take = |len: u64| {
        let len = len as usize;
        let part = &bytes[offset..offset + len];
        offset += len;
        part
    };
    let binary_ids = take(header[BINARY_IDS_SIZE]);
    let data = take(header[NUM_DATA] * V10_RECORD as u64);
    take(header[PADDING_BEFORE_COUNTERS]);
    let counters = take(header[NUM_COUNTERS] * 8);
    take(header[PADDING_AFTER_COUNTERS]);
    let bitmap = take(header[NUM_BITMAP_BYTES]);
    take(header[PADDING_AFTER_BITMAP]);
    let names = take(header[NAMES_SIZE]);
    take(padding_to_8(header[NAMES_SIZE]));
    let tail = &bytes[offset..];
    V10 {
        header,
        binary_ids,
        records: data.chunks_exact(V10_RECORD).map(read_v10_record).collect(),
        counters,
        bitmap,
        names,
        tail,
    }
}

/// LLVM's `__llvm_profile_get_num_padding_bytes`: bytes to the next multiple of 8.
fn padding_to_8(len: u64) -> u64 {
    7 & (8 - len % 8)
}

/// The uniform counters given to the record at `index` (every third one), if any.
fn has_uniform_counters(index: usize) -> bool {
    index % 3 == 1
}

/// Re-lays the version-10 profile `v10` as `options` says.
///
/// Panics when `v10` is not a well-formed version-10 profile (this is test support).
pub fn relayout_profile(v10: &[u8], options: &Relayout) -> Vec<u8> {
    let profile = split_v10(v10);
    let version = options.version;
    let size = record_size(version) as u64;
    let n_data = profile.records.len() as u64;
    if version == 9 {
        assert!(
            profile.header[NUM_VTABLES] == 0 && profile.header[VNAMES_SIZE] == 0,
            "version 9 has no vtable sections"
        );
    }
    // The counters and bitmap keep their distance from the end of the data records.
    let growth = (size - V10_RECORD as u64) * n_data;
    let counters_delta = profile.header[COUNTERS_DELTA].wrapping_add(growth);
    let bitmap_delta = profile.header[BITMAP_DELTA].wrapping_add(growth);
    // Uniform counters live in a section of their own, somewhere else in memory.
    let uniform_counters_delta = counters_delta.wrapping_add(0x10_0000);
    let mut uniform_counters: Vec<u64> = Vec::new();

    let relocate = |pointer: u64, old_delta: u64, new_delta: u64, index: u64| -> u64 {
        // Offset of the target in its section, then relative to the new record's address.
        let offset = pointer
            .wrapping_add(index * V10_RECORD as u64)
            .wrapping_sub(old_delta);
        new_delta.wrapping_add(offset).wrapping_sub(index * size)
    };
    let mut data = Vec::with_capacity((size * n_data) as usize);
    for (index, original) in profile.records.iter().enumerate() {
        let position = index as u64;
        let mut record = *original;
        record.counter_ptr = relocate(
            original.counter_ptr,
            profile.header[COUNTERS_DELTA],
            counters_delta,
            position,
        );
        if original.bitmap_ptr != 0 {
            record.bitmap_ptr = relocate(
                original.bitmap_ptr,
                profile.header[BITMAP_DELTA],
                bitmap_delta,
                position,
            );
        }
        if version >= 11 && options.uniform_counters && has_uniform_counters(index) {
            let offset = uniform_counters.len() as u64 * 8;
            record.uniform_counter_ptr = uniform_counters_delta
                .wrapping_add(offset)
                .wrapping_sub(position * size);
            record.offload_device_wave_size = 64;
            uniform_counters
                .extend((0..u64::from(record.num_counters)).map(|counter| 0x5eed_0000 + counter));
        }
        write_record(&record, version, &mut data);
    }

    let [
        extra_before,
        extra_after_counters,
        extra_after_bitmap,
        extra_after_uniform,
    ] = options.extra_padding;
    let padding_before_counters = profile.header[PADDING_BEFORE_COUNTERS] + extra_before;
    let padding_after_counters = profile.header[PADDING_AFTER_COUNTERS] + extra_after_counters;
    let padding_after_bitmap = profile.header[PADDING_AFTER_BITMAP] + extra_after_bitmap;
    let uniform_bytes = uniform_counters.len() as u64 * 8;
    let padding_after_uniform = if version >= 11 {
        padding_to_8(uniform_bytes) + extra_after_uniform
    } else {
        0
    };
    let version_field = (profile.header[VERSION] & !0xffff_ffff) | u64::from(version);
    // `ValueKindLast` is `IPVK_Last`: 1 in LLVM 18, 2 since.
    let value_kind_last = if version == 9 { 1 } else { 2 };

    let mut header = vec![
        profile.header[MAGIC],
        version_field,
        profile.header[BINARY_IDS_SIZE],
        n_data,
        padding_before_counters,
        profile.header[NUM_COUNTERS],
        padding_after_counters,
        profile.header[NUM_BITMAP_BYTES],
        padding_after_bitmap,
    ];
    if version >= 11 {
        header.extend([
            uniform_counters.len() as u64,
            padding_after_uniform,
            uniform_counters_delta,
        ]);
    }
    header.extend([
        profile.header[NAMES_SIZE],
        counters_delta,
        bitmap_delta,
        profile.header[NAMES_DELTA],
    ]);
    if version >= 10 {
        header.extend([profile.header[NUM_VTABLES], profile.header[VNAMES_SIZE]]);
    }
    header.push(value_kind_last);

    let mut out = Vec::with_capacity(v10.len() + data.len());
    for field in header {
        out.extend_from_slice(&field.to_le_bytes());
    }
    let pad = |out: &mut Vec<u8>, original: u64, total: u64| {
        // The original's own padding bytes are zeros; what this encoder adds is garbage.
        out.extend(std::iter::repeat_n(0, original as usize));
        out.extend(std::iter::repeat_n(
            PADDING_FILL,
            (total - original) as usize,
        ));
    };
    out.extend_from_slice(profile.binary_ids);
    out.extend_from_slice(&data);
    pad(
        &mut out,
        profile.header[PADDING_BEFORE_COUNTERS],
        padding_before_counters,
    );
    out.extend_from_slice(profile.counters);
    pad(
        &mut out,
        profile.header[PADDING_AFTER_COUNTERS],
        padding_after_counters,
    );
    out.extend_from_slice(profile.bitmap);
    pad(
        &mut out,
        profile.header[PADDING_AFTER_BITMAP],
        padding_after_bitmap,
    );
    if version >= 11 {
        for counter in &uniform_counters {
            out.extend_from_slice(&counter.to_le_bytes());
        }
        pad(&mut out, padding_to_8(uniform_bytes), padding_after_uniform);
    }
    out.extend_from_slice(profile.names);
    pad(
        &mut out,
        padding_to_8(profile.header[NAMES_SIZE]),
        padding_to_8(profile.header[NAMES_SIZE]),
    );
    out.extend_from_slice(profile.tail);
    out
}

/// Re-lays the live data records of a version-10 program, `data` at `data_address` with
/// its counters at `counters_address`, as `version`'s records placed at
/// `new_data_address` (pointing at the same counters), as the other runtime would have
/// laid them out in memory.
pub fn relayout_live_records(
    data: &[u8],
    data_address: u64,
    new_data_address: u64,
    version: u32,
) -> Vec<u8> {
    let size = record_size(version) as u64;
    let mut out = Vec::with_capacity(data.len() / V10_RECORD * size as usize);
    for (index, chunk) in data.chunks_exact(V10_RECORD).enumerate() {
        let mut record = read_v10_record(chunk);
        let old_address = data_address + index as u64 * V10_RECORD as u64;
        let new_address = new_data_address + index as u64 * size;
        let target = old_address.wrapping_add(record.counter_ptr);
        record.counter_ptr = target.wrapping_sub(new_address);
        write_record(&record, version, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_llvm_sizes_and_field_offsets() {
        let record = Record {
            name_ref: 1,
            func_hash: 2,
            counter_ptr: 3,
            uniform_counter_ptr: 4,
            num_counters: 5,
            num_value_sites: [6, 7, 0],
            offload_device_wave_size: 8,
            num_bitmap_bytes: 9,
            ..Record::default()
        };
        let mut v9 = Vec::new();
        write_record(&record, 9, &mut v9);
        assert_eq!(
            (v9.len(), u32_at(&v9, 48), u16_at(&v9, 54), u32_at(&v9, 56)),
            (64, 5, 7, 9)
        );
        let mut v11 = Vec::new();
        write_record(&record, 11, &mut v11);
        assert_eq!(
            (
                v11.len(),
                u64_at(&v11, 24),
                u32_at(&v11, 56),
                u16_at(&v11, 66),
                u32_at(&v11, 68)
            ),
            (72, 4, 5, 8, 9)
        );
        let mut v10 = Vec::new();
        write_record(&record, 10, &mut v10);
        assert_eq!((v10.len(), u32_at(&v10, 60)), (64, 9));
    }
}
