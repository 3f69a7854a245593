//! Function names: the `__llvm_prf_names` section (and the names of a raw profile).
//!
//! The data is a sequence of chunks `{ULEB uncompressed size, ULEB compressed size,
//! bytes}`; a compressed size of 0 means the bytes are stored raw, otherwise they are a
//! zlib stream. Inside a chunk, names are separated by `\x01`. Chunks may be followed by
//! zero padding. Records refer to a name by the low 64 bits of its MD5 (the "name ref").

use std::collections::{HashMap, HashSet};
use std::io::Read;

use crate::bytes::{Cursor, md5_low64};
use crate::decode_error::MappingError;

/// Every name of a names blob, keyed by its name ref.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameTable {
    by_ref: HashMap<u64, String>,
}

impl NameTable {
    /// Decodes a names blob.
    pub fn decode(data: &[u8]) -> Result<NameTable, MappingError> {
        let mut by_ref = HashMap::new();
        for_each_name(data, |name| {
            by_ref
                .entry(md5_low64(name.as_bytes()))
                .or_insert_with(|| name.to_owned());
            true
        })?;
        Ok(NameTable { by_ref })
    }

    /// Decodes a names blob for the name refs in `wanted` alone, and stops reading (and
    /// inflating) as soon as every one of them is found: hashing every name of a large
    /// program is most of the cost of a narrow selection. The first name of a ref wins,
    /// as in [`NameTable::decode`]; names after the last wanted one are not checked.
    pub fn decode_wanted(data: &[u8], wanted: &HashSet<u64>) -> Result<NameTable, MappingError> {
        let mut by_ref = HashMap::with_capacity(wanted.len());
        if wanted.is_empty() {
            return Ok(NameTable { by_ref });
        }
        for_each_name(data, |name| {
            let name_ref = md5_low64(name.as_bytes());
            if wanted.contains(&name_ref) {
                by_ref.entry(name_ref).or_insert_with(|| name.to_owned());
            }
            by_ref.len() < wanted.len()
        })?;
        Ok(NameTable { by_ref })
    }

    /// The name whose MD5 reference is `name_ref`.
    pub fn get(&self, name_ref: u64) -> Option<&str> {
        self.by_ref.get(&name_ref).map(String::as_str)
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.by_ref.len()
    }

    /// Whether there are no names.
    pub fn is_empty(&self) -> bool {
        self.by_ref.is_empty()
    }
}

/// Decodes a names blob into its names, in order.
pub fn decode_names(data: &[u8]) -> Result<Vec<String>, MappingError> {
    let mut names = Vec::new();
    for_each_name(data, |name| {
        names.push(name.to_owned());
        true
    })?;
    Ok(names)
}

/// Calls `visit` with every name of a names blob, in order, until it returns `false`.
fn for_each_name(data: &[u8], mut visit: impl FnMut(&str) -> bool) -> Result<(), MappingError> {
    const WHAT: &str = "profile names";
    let truncated = |offset| MappingError::Truncated { what: WHAT, offset };
    let mut cursor = Cursor::new(data);
    while !cursor.is_empty() {
        let uncompressed_size = cursor.uleb().map_err(|_| truncated(cursor.offset()))?;
        let compressed_size = cursor.uleb().map_err(|_| truncated(cursor.offset()))?;
        let inflated;
        let chunk: &[u8] = if compressed_size == 0 {
            let len = usize::try_from(uncompressed_size).map_err(|_| truncated(cursor.offset()))?;
            cursor.bytes(len).map_err(|_| truncated(cursor.offset()))?
        } else {
            let len = usize::try_from(compressed_size).map_err(|_| truncated(cursor.offset()))?;
            let compressed = cursor.bytes(len).map_err(|_| truncated(cursor.offset()))?;
            inflated = inflate(compressed, uncompressed_size, WHAT)?;
            &inflated
        };
        for name in chunk.split(|&byte| byte == 0x01) {
            let name = std::str::from_utf8(name).map_err(|_| MappingError::Malformed {
                what: WHAT,
                detail: "a name is not UTF-8".to_owned(),
            })?;
            if !visit(name) {
                return Ok(());
            }
        }
        // Chunks are followed by zero padding up to the section's alignment.
        while !cursor.is_empty() && data[cursor.offset()] == 0 {
            cursor.skip(1).map_err(|_| truncated(cursor.offset()))?;
        }
    }
    Ok(())
}

/// Inflates a zlib stream that must produce exactly `expected_len` bytes.
pub(crate) fn inflate(
    compressed: &[u8],
    expected_len: u64,
    what: &'static str,
) -> Result<Vec<u8>, MappingError> {
    let error = |detail: String| MappingError::Decompress { what, detail };
    // Never trust an announced size for the allocation: cap the reservation and the
    // output at the announced size plus one byte (to detect longer streams).
    let limit = expected_len.saturating_add(1);
    let mut output = Vec::with_capacity(usize::try_from(expected_len.min(1 << 20)).unwrap_or(0));
    flate2::read::ZlibDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut output)
        .map_err(|io_error| error(io_error.to_string()))?;
    if output.len() as u64 != expected_len {
        return Err(error(format!(
            "inflated to {} bytes, expected {expected_len}",
            output.len()
        )));
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::bytes::encode_uleb as uleb;

    #[test]
    fn decodes_raw_and_compressed_chunks_with_padding() {
        let names = b"main\x01_RNvCs1_3foo3bar";
        let mut blob = Vec::new();
        uleb(names.len() as u64, &mut blob);
        uleb(0, &mut blob);
        blob.extend_from_slice(names);
        blob.extend_from_slice(&[0, 0, 0]);
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(b"zed").unwrap();
        let compressed = encoder.finish().unwrap();
        uleb(3, &mut blob);
        uleb(compressed.len() as u64, &mut blob);
        blob.extend_from_slice(&compressed);

        let decoded = decode_names(&blob).unwrap();
        assert_eq!(decoded, vec!["main", "_RNvCs1_3foo3bar", "zed"]);
        let table = NameTable::decode(&blob).unwrap();
        assert_eq!(table.get(md5_low64(b"main")), Some("main"));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn wanted_names_stop_the_reading_once_all_are_found() {
        // "b" twice, then a chunk whose size is wrong: reading it would be an error.
        let names = b"a\x01b\x01b";
        let mut blob = Vec::new();
        uleb(names.len() as u64, &mut blob);
        uleb(0, &mut blob);
        blob.extend_from_slice(names);
        blob.extend_from_slice(&[10, 0, b'x']);
        assert!(NameTable::decode(&blob).is_err());

        let wanted: HashSet<u64> = [md5_low64(b"b")].into();
        let table = NameTable::decode_wanted(&blob, &wanted).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.get(md5_low64(b"b")), Some("b"));
        assert_eq!(table.get(md5_low64(b"a")), None);
        // A wanted name that is missing makes it read everything (and find the error).
        let wanted: HashSet<u64> = [md5_low64(b"b"), md5_low64(b"c")].into();
        assert!(NameTable::decode_wanted(&blob, &wanted).is_err());
        assert!(
            NameTable::decode_wanted(&blob, &HashSet::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn wrong_sizes_are_errors() {
        assert!(decode_names(&[10, 0, b'a']).is_err());
        assert!(decode_names(&[3, 2, 0x78, 0x9c]).is_err());
    }
}
