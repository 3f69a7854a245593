//! The `__llvm_covmap` section: one header and filename table per translation unit.
//!
//! Each entry is `{u32 NRecords = 0, u32 FilenamesSize, u32 CoverageSize = 0, u32
//! Version}` followed by the filenames blob and padding to 8 bytes. The blob is `ULEB
//! count, ULEB uncompressed size, ULEB compressed size` (0 = stored raw) and then the
//! (zlib-compressed) ULEB-length-prefixed names. Entry 0 is the compilation directory;
//! relative names are joined to it and `.`/`..` are removed, as llvm-cov does.
//! Function records find their table by the MD5 of the blob (the "filenames ref").

use std::collections::HashMap;

use crate::bytes::{Cursor, md5_low64};
use crate::decode::names::inflate;
use crate::decode_error::MappingError;

/// The covmap format version stored in headers for LLVM's `Version7`: headers store the
/// version minus one. `Version7` ("Branch regions extended and Decision Regions added for
/// MC/DC") is `CovMapVersion::CurrentVersion` (`INSTR_PROF_COVMAP_VERSION` 6) in LLVM's
/// `CoverageMapping.h`/`InstrProfData.inc` from LLVM 18, which introduced it, through
/// LLVM 23: every rustc from 1.78 on (LLVM 18 and later) writes exactly this version.
pub const COVMAP_VERSION_7_ENCODED: u32 = 6;

/// Filename tables by filenames ref. `None` marks a hash shared by two different tables,
/// whose records llvm-cov ignores.
pub type FilenameTables = HashMap<u64, Option<Vec<String>>>;

/// Decodes every translation unit's filename table in a covmap section.
pub fn decode_covmap(section: &[u8]) -> Result<FilenameTables, MappingError> {
    const WHAT: &str = "coverage map header";
    let mut tables: FilenameTables = HashMap::new();
    let mut cursor = Cursor::new(section);
    while !cursor.is_empty() {
        let offset = cursor.offset();
        let truncated = |_| MappingError::Truncated { what: WHAT, offset };
        let num_records = cursor.u32().map_err(truncated)?;
        let filenames_size = cursor.u32().map_err(truncated)?;
        let coverage_size = cursor.u32().map_err(truncated)?;
        let version = cursor.u32().map_err(truncated)?;
        if version != COVMAP_VERSION_7_ENCODED {
            return Err(MappingError::UnsupportedVersion { encoded: version });
        }
        if num_records != 0 || coverage_size != 0 {
            return Err(MappingError::Malformed {
                what: WHAT,
                detail: format!(
                    "records ({num_records}) or coverage size ({coverage_size}) in a \
                     Version7 header, which keeps them in __llvm_covfun"
                ),
            });
        }
        let blob = cursor
            .bytes(filenames_size as usize)
            .map_err(|_| MappingError::Truncated {
                what: "filenames",
                offset: cursor.offset(),
            })?;
        let filenames = decode_filenames(blob)?;
        match tables.entry(md5_low64(blob)) {
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(Some(filenames));
            }
            std::collections::hash_map::Entry::Occupied(mut entry) => {
                if entry.get().as_ref() != Some(&filenames) {
                    entry.insert(None);
                }
            }
        }
        cursor.align_to(8);
    }
    Ok(tables)
}

/// Decodes one filenames blob into absolute, normalized paths (entry 0 stays the
/// compilation directory).
pub fn decode_filenames(blob: &[u8]) -> Result<Vec<String>, MappingError> {
    const WHAT: &str = "filenames";
    let malformed = |detail: &str| MappingError::Malformed {
        what: WHAT,
        detail: detail.to_owned(),
    };
    let mut cursor = Cursor::new(blob);
    let truncated = |cursor: &Cursor<'_>| MappingError::Truncated {
        what: WHAT,
        offset: cursor.offset(),
    };
    let count = cursor.uleb().map_err(|_| truncated(&cursor))?;
    if count > cursor.remaining() as u64 {
        return Err(malformed("more filenames than bytes"));
    }
    if count == 0 {
        return Err(malformed("number of filenames is zero"));
    }
    let uncompressed_size = cursor.uleb().map_err(|_| truncated(&cursor))?;
    let compressed_size = cursor.uleb().map_err(|_| truncated(&cursor))?;
    if compressed_size > cursor.remaining() as u64 {
        return Err(malformed("compressed size larger than the blob"));
    }
    let inflated;
    let mut names = if compressed_size > 0 {
        let compressed = cursor
            .bytes(compressed_size as usize)
            .map_err(|_| truncated(&cursor))?;
        inflated = inflate(compressed, uncompressed_size, WHAT)?;
        Cursor::new(&inflated)
    } else {
        cursor
    };
    let read_name = |names: &mut Cursor<'_>| -> Result<String, MappingError> {
        let len = names.uleb().map_err(|_| truncated(names))?;
        if len > names.remaining() as u64 {
            return Err(malformed("a filename is longer than the blob"));
        }
        let bytes = names.bytes(len as usize).map_err(|_| truncated(names))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a filename is not UTF-8"))
    };
    let compilation_dir = read_name(&mut names)?;
    let mut filenames = Vec::with_capacity(count as usize);
    filenames.push(compilation_dir.clone());
    for _ in 1..count {
        let name = read_name(&mut names)?;
        filenames.push(if is_absolute(&name) {
            name
        } else {
            join_and_remove_dots(&compilation_dir, &name)
        });
    }
    Ok(filenames)
}

fn is_absolute(path: &str) -> bool {
    path.starts_with('/')
}

/// Joins `name` to `base` and removes `.` and `..` components, like LLVM's
/// `sys::path::append` followed by `remove_dots(.., /*remove_dot_dot=*/true)` on POSIX.
pub fn join_and_remove_dots(base: &str, name: &str) -> String {
    let joined = if base.is_empty() {
        name.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    };
    let absolute = joined.starts_with('/');
    let mut components: Vec<&str> = Vec::new();
    for component in joined.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if components.last().is_some_and(|last| *last != "..") {
                    components.pop();
                } else if !absolute {
                    components.push("..");
                }
            }
            other => components.push(other),
        }
    }
    let body = components.join("/");
    if absolute { format!("/{body}") } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::bytes::encode_uleb as uleb;

    fn raw_blob(names: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        for name in names {
            uleb(name.len() as u64, &mut body);
            body.extend_from_slice(name.as_bytes());
        }
        let mut blob = Vec::new();
        uleb(names.len() as u64, &mut blob);
        uleb(body.len() as u64, &mut blob);
        uleb(0, &mut blob);
        blob.extend(body);
        blob
    }

    #[test]
    fn relative_names_are_joined_to_the_compilation_directory() {
        let blob = raw_blob(&[
            "/work/app",
            "src/../src/./main.rs",
            "/rustc/abc/library/core/src/lib.rs",
        ]);
        assert_eq!(
            decode_filenames(&blob).unwrap(),
            vec![
                "/work/app",
                "/work/app/src/main.rs",
                "/rustc/abc/library/core/src/lib.rs"
            ]
        );
    }

    #[test]
    fn remove_dots_matches_llvm() {
        assert_eq!(join_and_remove_dots("/a/b", "../../../c"), "/c");
        assert_eq!(join_and_remove_dots("a", "../../c"), "../c");
        assert_eq!(join_and_remove_dots("/a//b/", "./c"), "/a/b/c");
    }

    #[test]
    fn unknown_versions_are_named() {
        let blob = raw_blob(&["/w", "a.rs"]);
        let mut section = Vec::new();
        for field in [0_u32, blob.len() as u32, 0, 7] {
            section.extend_from_slice(&field.to_le_bytes());
        }
        section.extend_from_slice(&blob);
        let error = decode_covmap(&section).unwrap_err();
        assert!(error.to_string().contains("version 7"), "{error}");
    }
}
