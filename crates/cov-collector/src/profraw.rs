//! Raw profiles (`.profraw`, format version 10, LLVM 19 to 22) and the data records that
//! bind functions to their counters.
//!
//! Layout: a header of 16 little-endian `u64` (magic, version, binary-ids size, number of
//! data records, padding before counters, number of counters, padding after counters,
//! bitmap bytes, padding after bitmap, names size, counters delta, bitmap delta, names
//! delta, number of vtables, vtable names size, last value kind), then the binary ids,
//! the data records, the counters, the bitmap and the names.
//!
//! A data record is 64 bytes: name ref, function hash, `CounterPtr`, bitmap pointer,
//! function pointer, values pointer, number of counters (`u32`), value sites and bitmap
//! size. `CounterPtr` is an offset **relative to the record's own address**, so the same
//! decoder ([`decode_data_records`]) serves a file (where addresses are offsets in the
//! file's data) and live memory (where they are real addresses).

use std::ops::Range;
use std::path::Path;

use crate::bytes::Cursor;
use crate::decode_error::ProfileError;
use crate::names::decode_names;

/// LLVM's raw profile magic for 64-bit little-endian profiles (`\xffprofr\x81`).
pub const RAW_PROFILE_MAGIC: u64 = 0xff6c_7072_6f66_7281;
/// The only raw profile format version this crate reads.
pub const RAW_PROFILE_VERSION: u64 = 10;
/// Size in bytes of one data record.
pub const DATA_RECORD_SIZE: usize = 64;

/// Version-field flag: counters are single bytes (`-pgo-function-entry-coverage`).
const VARIANT_MASK_BYTE_COVERAGE: u64 = 1 << 60;
/// Version-field flag: data and names live in debug info, not in the profile.
const VARIANT_MASK_DBG_CORRELATE: u64 = 1 << 59;

/// One instrumented function as the profile runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataRecord {
    /// Low 64 bits of the MD5 of the function's (mangled) name.
    pub name_ref: u64,
    /// Hash of the function's control flow; must equal the mapping's.
    pub func_hash: u64,
    /// Index range of this function's counters in the program's counter array
    /// (`__llvm_prf_cnts`).
    pub counters: Range<usize>,
}

/// Decodes consecutive 64-byte data records.
///
/// `data` holds the records, the first at address `data_address`; the counter array
/// starts at `counters_address` and holds `num_counters` counters. Addresses may be real
/// (live memory) or any consistent frame of reference (file offsets). Every record's
/// counter range is checked to lie inside the counter array.
pub fn decode_data_records(
    data: &[u8],
    data_address: u64,
    counters_address: u64,
    num_counters: usize,
) -> Result<Vec<DataRecord>, ProfileError> {
    if !data.len().is_multiple_of(DATA_RECORD_SIZE) {
        return Err(ProfileError::Malformed(format!(
            "data section of {} bytes is not a whole number of {DATA_RECORD_SIZE}-byte records",
            data.len()
        )));
    }
    let mut records = Vec::with_capacity(data.len() / DATA_RECORD_SIZE);
    for (index, chunk) in data.chunks_exact(DATA_RECORD_SIZE).enumerate() {
        let truncated = |_| ProfileError::Truncated {
            what: "data record",
        };
        let mut cursor = Cursor::new(chunk);
        let name_ref = cursor.u64().map_err(truncated)?;
        let func_hash = cursor.u64().map_err(truncated)?;
        let counter_ptr = cursor.u64().map_err(truncated)?;
        cursor.skip(24).map_err(truncated)?;
        let function_counters = cursor.u32().map_err(truncated)? as usize;

        let record_address = data_address.wrapping_add((index * DATA_RECORD_SIZE) as u64);
        let first_counter = record_address.wrapping_add(counter_ptr);
        let byte_offset = first_counter.wrapping_sub(counters_address);
        let malformed = |why: &str| {
            ProfileError::Malformed(format!(
                "data record {index} (name ref {name_ref:#018x}): {why}"
            ))
        };
        if (byte_offset as i64) < 0 {
            return Err(malformed("counters start before the counter array"));
        }
        if !byte_offset.is_multiple_of(8) {
            return Err(malformed("counter pointer is not 8-byte aligned"));
        }
        if function_counters == 0 {
            return Err(malformed("number of counters is zero"));
        }
        let start = usize::try_from(byte_offset / 8)
            .map_err(|_| malformed("counter offset out of range"))?;
        let end = start
            .checked_add(function_counters)
            .filter(|&end| end <= num_counters)
            .ok_or_else(|| malformed("counters extend past the counter array"))?;
        records.push(DataRecord {
            name_ref,
            func_hash,
            counters: start..end,
        });
    }
    Ok(records)
}

/// The header of a raw profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawProfileHeader {
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
    /// Size of the names blob.
    pub names_size: u64,
    /// Address of the counters minus the address of the data records, at write time.
    pub counters_delta: u64,
    /// Address of the bitmap minus the address of the data records, at write time.
    pub bitmap_delta: u64,
    /// Address of the names at write time.
    pub names_delta: u64,
    /// Number of vtable records.
    pub num_vtables: u64,
    /// Size of the vtable names.
    pub vnames_size: u64,
    /// The last value-profiling kind.
    pub value_kind_last: u64,
}

/// A decoded raw profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawProfile {
    /// The header.
    pub header: RawProfileHeader,
    /// Build ids of the binaries that wrote the profile.
    pub binary_ids: Vec<Vec<u8>>,
    /// The data records, one per instrumented function.
    pub records: Vec<DataRecord>,
    /// The counter array the records index into.
    pub counters: Vec<u64>,
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

    /// Decodes a raw profile from its bytes.
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
        let version = header_field(&mut cursor)?;
        let format_version = version & 0xffff_ffff;
        if format_version != RAW_PROFILE_VERSION {
            return Err(ProfileError::UnsupportedVersion {
                version: format_version,
            });
        }
        if version & VARIANT_MASK_BYTE_COVERAGE != 0 {
            return Err(ProfileError::UnsupportedVariant(
                "single-byte counters (function entry coverage)",
            ));
        }
        if version & VARIANT_MASK_DBG_CORRELATE != 0 {
            return Err(ProfileError::UnsupportedVariant(
                "debug-info correlation (no data records in the profile)",
            ));
        }
        let mut fields = [0_u64; 14];
        for field in &mut fields {
            *field = header_field(&mut cursor)?;
        }
        let [
            binary_ids_size,
            num_data,
            padding_before_counters,
            num_counters,
            padding_after_counters,
            num_bitmap_bytes,
            padding_after_bitmap,
            names_size,
            counters_delta,
            bitmap_delta,
            names_delta,
            num_vtables,
            vnames_size,
            value_kind_last,
        ] = fields;
        let header = RawProfileHeader {
            version,
            binary_ids_size,
            num_data,
            padding_before_counters,
            num_counters,
            padding_after_counters,
            num_bitmap_bytes,
            padding_after_bitmap,
            names_size,
            counters_delta,
            bitmap_delta,
            names_delta,
            num_vtables,
            vnames_size,
            value_kind_last,
        };

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

        let binary_ids = decode_binary_ids(&take(&mut cursor, binary_ids_size, "binary ids")?)?;
        let data_len =
            num_data
                .checked_mul(DATA_RECORD_SIZE as u64)
                .ok_or(ProfileError::Truncated {
                    what: "data records",
                })?;
        let data = take(&mut cursor, data_len, "data records")?;
        take(
            &mut cursor,
            padding_before_counters,
            "padding before counters",
        )?;
        let counters_len = num_counters
            .checked_mul(8)
            .ok_or(ProfileError::Truncated { what: "counters" })?;
        let counter_bytes = take(&mut cursor, counters_len, "counters")?;
        take(
            &mut cursor,
            padding_after_counters,
            "padding after counters",
        )?;
        take(&mut cursor, num_bitmap_bytes, "bitmap")?;
        take(&mut cursor, padding_after_bitmap, "padding after bitmap")?;
        let names_blob = take(&mut cursor, names_size, "names")?;

        let counters: Vec<u64> = counter_bytes
            .chunks_exact(8)
            .map(|chunk| {
                let mut word = [0_u8; 8];
                word.copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        // In the file, the data records sit at offset 0 of our frame of reference and
        // the counters `counters_delta` bytes after them, as they did in memory.
        let records = decode_data_records(&data, 0, counters_delta, counters.len())?;
        Ok(RawProfile {
            header,
            binary_ids,
            records,
            counters,
            names_blob,
        })
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

    fn record(name_ref: u64, counter_ptr: i64, num_counters: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&name_ref.to_le_bytes());
        bytes.extend_from_slice(&7_u64.to_le_bytes());
        bytes.extend_from_slice(&counter_ptr.to_le_bytes());
        bytes.extend_from_slice(&[0; 24]);
        bytes.extend_from_slice(&num_counters.to_le_bytes());
        bytes.extend_from_slice(&[0; 12]);
        bytes
    }

    #[test]
    fn counter_pointers_are_relative_to_each_record() {
        // Two records at 0x1000 and 0x1040; counters at 0x2000.
        let mut data = record(1, 0x2000 - 0x1000, 2);
        data.extend(record(2, 0x2010 - 0x1040, 3));
        let records = decode_data_records(&data, 0x1000, 0x2000, 5).unwrap();
        assert_eq!(records[0].counters, 0..2);
        assert_eq!(records[1].counters, 2..5);
        assert_eq!(records[1].name_ref, 2);
        assert_eq!(records[1].func_hash, 7);
    }

    #[test]
    fn out_of_range_counters_are_errors() {
        let data = record(1, 0x1000, 6);
        assert!(decode_data_records(&data, 0x1000, 0x2000, 5).is_err());
        let data = record(1, 0x0ff8, 1);
        assert!(decode_data_records(&data, 0x1000, 0x2000, 5).is_err());
        let data = record(1, 0x1004, 1);
        assert!(decode_data_records(&data, 0x1000, 0x2000, 5).is_err());
        assert!(decode_data_records(&data[..10], 0x1000, 0x2000, 5).is_err());
    }

    #[test]
    fn versions_other_than_10_are_named_in_the_error() {
        let mut bytes = RAW_PROFILE_MAGIC.to_le_bytes().to_vec();
        bytes.extend_from_slice(&11_u64.to_le_bytes());
        bytes.extend_from_slice(&[0; 14 * 8]);
        let error = RawProfile::decode(&bytes).unwrap_err();
        assert!(error.to_string().contains("version 11"), "{error}");
        let error = RawProfile::decode(&[1, 2, 3]).unwrap_err();
        assert!(matches!(error, ProfileError::Truncated { .. }), "{error}");
    }
}
