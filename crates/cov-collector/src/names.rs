//! Function names: the `__llvm_prf_names` section (and the names of a raw profile).
//!
//! The data is a sequence of chunks `{ULEB uncompressed size, ULEB compressed size,
//! bytes}`; a compressed size of 0 means the bytes are stored raw, otherwise they are a
//! zlib stream. Inside a chunk, names are separated by `\x01`. Chunks may be followed by
//! zero padding. Records refer to a name by the low 64 bits of its MD5 (the "name ref").

use std::collections::HashMap;
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
        NameTable::decode_wanted(data, |_| true)
    }

    /// Decodes a names blob, keeping only the names whose name ref `is_wanted` accepts
    /// (every name is still checked, so the errors are those of [`NameTable::decode`]).
    pub fn decode_wanted(
        data: &[u8],
        mut is_wanted: impl FnMut(u64) -> bool,
    ) -> Result<NameTable, MappingError> {
        let mut by_ref = HashMap::new();
        for_each_name(data, |name| {
            let name_ref = md5_low64(name.as_bytes());
            if is_wanted(name_ref) {
                by_ref.entry(name_ref).or_insert_with(|| name.to_owned());
            }
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
    for_each_name(data, |name| names.push(name.to_owned()))?;
    Ok(names)
}

/// Calls `visit` with every name of a names blob, in order.
fn for_each_name(data: &[u8], mut visit: impl FnMut(&str)) -> Result<(), MappingError> {
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
            visit(name);
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

    fn uleb(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

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
    fn wrong_sizes_are_errors() {
        assert!(decode_names(&[10, 0, b'a']).is_err());
        assert!(decode_names(&[3, 2, 0x78, 0x9c]).is_err());
    }
}
