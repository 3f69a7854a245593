//! Function names: the `__llvm_prf_names` section (and the names of a raw profile).
//!
//! The data is a sequence of chunks `{ULEB uncompressed size, ULEB compressed size,
//! bytes}`; a compressed size of 0 means the bytes are stored raw, otherwise they are a
//! zlib stream. Inside a chunk, names are separated by `\x01`. Chunks may be followed by
//! zero padding. Records refer to a name by the low 64 bits of its MD5 (the "name ref").

use std::collections::HashSet;
use std::io::Read;
use std::ops::Range;

use foldhash::{HashMap, HashMapExt};

use crate::bytes::{Cursor, md5_low64};
use crate::decode_error::MappingError;
use crate::parallel;

const WHAT: &str = "profile names";

/// Every name of a names blob, keyed by its name ref.
///
/// The names stay in the (inflated) chunks they came in; the table maps each name ref to
/// where its name is, so a program's tens of thousands of names cost a few allocations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameTable {
    chunks: Vec<String>,
    by_ref: HashMap<u64, (u32, Range<u32>)>,
}

impl NameTable {
    /// Decodes a names blob, inflating and hashing its chunks on several threads.
    pub fn decode(data: &[u8]) -> Result<NameTable, MappingError> {
        let chunks = split_chunks(data)?;
        let decoded = parallel::map(&chunks, 4, decode_chunk);
        let mut table = NameTable {
            chunks: Vec::with_capacity(decoded.len()),
            by_ref: HashMap::new(),
        };
        for chunk in decoded {
            let (text, names) = chunk?;
            let index = table.chunks.len() as u32;
            table.by_ref.reserve(names.len());
            for (name_ref, range) in names {
                // The first name of a ref wins.
                table.by_ref.entry(name_ref).or_insert((index, range));
            }
            table.chunks.push(text);
        }
        Ok(table)
    }

    /// Decodes a names blob for the name refs in `wanted` alone, and stops reading (and
    /// inflating) as soon as every one of them is found: hashing every name of a large
    /// program is most of the cost of a narrow selection. The first name of a ref wins,
    /// as in [`NameTable::decode`]; names after the last wanted one are not checked.
    pub fn decode_wanted(data: &[u8], wanted: &HashSet<u64>) -> Result<NameTable, MappingError> {
        let mut text = String::new();
        let mut by_ref = HashMap::with_capacity(wanted.len());
        if !wanted.is_empty() {
            for_each_name(data, |name| {
                let name_ref = md5_low64(name.as_bytes());
                if wanted.contains(&name_ref) {
                    by_ref.entry(name_ref).or_insert_with(|| {
                        let start = text.len() as u32;
                        text.push_str(name);
                        (0, start..text.len() as u32)
                    });
                }
                by_ref.len() < wanted.len()
            })?;
        }
        Ok(NameTable {
            chunks: vec![text],
            by_ref,
        })
    }

    /// The name whose MD5 reference is `name_ref`.
    pub fn get(&self, name_ref: u64) -> Option<&str> {
        let (chunk, range) = self.by_ref.get(&name_ref)?;
        self.chunks
            .get(*chunk as usize)?
            .get(range.start as usize..range.end as usize)
    }

    /// Number of distinct names (for the checks of the `decode` feature).
    #[cfg(feature = "decode")]
    pub fn len(&self) -> usize {
        self.by_ref.len()
    }

    /// Whether there are no names (for the checks of the `decode` feature).
    #[cfg(feature = "decode")]
    pub fn is_empty(&self) -> bool {
        self.by_ref.is_empty()
    }
}

/// One chunk of a names blob, not yet inflated.
enum Chunk<'a> {
    Raw(&'a [u8]),
    Compressed { bytes: &'a [u8], inflated_len: u64 },
}

/// Splits a names blob into its chunks, checking every size against the data.
fn split_chunks(data: &[u8]) -> Result<Vec<Chunk<'_>>, MappingError> {
    chunks(data).collect()
}

/// The chunks of a names blob, one at a time (reading stops where the caller stops).
fn chunks(data: &[u8]) -> impl Iterator<Item = Result<Chunk<'_>, MappingError>> {
    let mut cursor = Cursor::new(data);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || cursor.is_empty() {
            return None;
        }
        let chunk = next_chunk(&mut cursor).and_then(|chunk| {
            // Chunks are followed by zero padding up to the section's alignment.
            while !cursor.is_empty() && data[cursor.offset()] == 0 {
                cursor.skip(1).map_err(drop)?;
            }
            Ok(chunk)
        });
        failed = chunk.is_err();
        Some(chunk.map_err(|()| MappingError::Truncated {
            what: WHAT,
            offset: cursor.offset(),
        }))
    })
}

/// Reads one chunk header and takes its bytes.
fn next_chunk<'a>(cursor: &mut Cursor<'a>) -> Result<Chunk<'a>, ()> {
    let uncompressed_size = cursor.uleb().map_err(drop)?;
    let compressed_size = cursor.uleb().map_err(drop)?;
    if compressed_size == 0 {
        let len = usize::try_from(uncompressed_size).map_err(drop)?;
        Ok(Chunk::Raw(cursor.bytes(len).map_err(drop)?))
    } else {
        let len = usize::try_from(compressed_size).map_err(drop)?;
        Ok(Chunk::Compressed {
            bytes: cursor.bytes(len).map_err(drop)?,
            inflated_len: uncompressed_size,
        })
    }
}

/// A chunk's text and, for each of its names in order, its ref and place in the text.
type DecodedChunk = (String, Vec<(u64, Range<u32>)>);

fn decode_chunk(chunk: &Chunk<'_>) -> Result<DecodedChunk, MappingError> {
    let bytes = match *chunk {
        Chunk::Raw(bytes) => bytes.to_vec(),
        Chunk::Compressed {
            bytes,
            inflated_len,
        } => inflate(bytes, inflated_len, WHAT)?,
    };
    // The separator is ASCII, so the chunk is UTF-8 exactly when every name is.
    let text = String::from_utf8(bytes).map_err(|_| not_utf8())?;
    if u32::try_from(text.len()).is_err() {
        return Err(MappingError::Malformed {
            what: WHAT,
            detail: "a chunk of names is larger than 4 GiB".to_owned(),
        });
    }
    let mut names = Vec::new();
    let mut start = 0_usize;
    for name in text.split('\x01') {
        let end = start + name.len();
        names.push((md5_low64(name.as_bytes()), start as u32..end as u32));
        start = end + 1;
    }
    Ok((text, names))
}

fn not_utf8() -> MappingError {
    MappingError::Malformed {
        what: WHAT,
        detail: "a name is not UTF-8".to_owned(),
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
    for chunk in chunks(data) {
        let inflated;
        let bytes: &[u8] = match chunk? {
            Chunk::Raw(bytes) => bytes,
            Chunk::Compressed {
                bytes,
                inflated_len,
            } => {
                inflated = inflate(bytes, inflated_len, WHAT)?;
                &inflated
            }
        };
        for name in bytes.split(|&byte| byte == 0x01) {
            let name = std::str::from_utf8(name).map_err(|_| not_utf8())?;
            if !visit(name) {
                return Ok(());
            }
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
