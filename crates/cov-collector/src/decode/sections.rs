//! Reading the coverage sections from an executable with the `object` crate.
//!
//! `__llvm_covmap` and `__llvm_covfun` are not loaded into memory (they are not
//! `SHF_ALLOC`), so even the in-process collector reads them from the executable file.
//! `__llvm_prf_names` is loaded, but reading it from the file as well keeps one code path.

use std::path::Path;

use object::{Object, ObjectSection};

use crate::decode_error::MappingError;

/// Name of the section holding the per-translation-unit filename tables.
pub const COVMAP_SECTION: &str = "__llvm_covmap";
/// Name of the section holding the per-function coverage records.
pub const COVFUN_SECTION: &str = "__llvm_covfun";
/// Name of the section holding the (compressed) function names.
pub const NAMES_SECTION: &str = "__llvm_prf_names";

/// The raw contents of the three coverage sections of one executable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageSections {
    /// `__llvm_covmap`.
    pub covmap: Vec<u8>,
    /// `__llvm_covfun`.
    pub covfun: Vec<u8>,
    /// `__llvm_prf_names`.
    pub names: Vec<u8>,
}

impl CoverageSections {
    /// Reads the sections from the executable at `path`.
    ///
    /// Only the headers and the three sections are read (through `object`'s `ReadCache`),
    /// not the whole executable, which can be hundreds of megabytes.
    pub fn read(path: &Path) -> Result<CoverageSections, MappingError> {
        let file = std::fs::File::open(path).map_err(|source| MappingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let cache = object::ReadCache::new(file);
        CoverageSections::from_object(&cache, path)
    }

    /// Reads only `__llvm_covmap` (the filename tables, a small section) from the executable
    /// at `path`.
    pub fn read_covmap(path: &Path) -> Result<Vec<u8>, MappingError> {
        let file = std::fs::File::open(path).map_err(|source| MappingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let cache = object::ReadCache::new(file);
        let object = object::File::parse(&cache).map_err(|error| MappingError::Object {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        section_of(&object, COVMAP_SECTION, path)
    }

    /// Extracts the sections from the bytes of an object file; `path` is only used in
    /// error messages.
    pub fn from_object_bytes(bytes: &[u8], path: &Path) -> Result<CoverageSections, MappingError> {
        CoverageSections::from_object(bytes, path)
    }

    fn from_object<'data, R: object::ReadRef<'data>>(
        data: R,
        path: &Path,
    ) -> Result<CoverageSections, MappingError> {
        let file = object::File::parse(data).map_err(|error| MappingError::Object {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        Ok(CoverageSections {
            covmap: section_of(&file, COVMAP_SECTION, path)?,
            covfun: section_of(&file, COVFUN_SECTION, path)?,
            names: section_of(&file, NAMES_SECTION, path)?,
        })
    }
}

/// The contents of section `name` of a parsed object file; an empty section is as good as
/// none (LLVM ignores an empty names section).
fn section_of<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
    name: &'static str,
    path: &Path,
) -> Result<Vec<u8>, MappingError> {
    let missing = || MappingError::MissingSection {
        path: path.to_path_buf(),
        section: name,
    };
    let section = file.section_by_name(name).ok_or_else(missing)?;
    let data = section.data().map_err(|error| MappingError::Object {
        path: path.to_path_buf(),
        reason: format!("section `{name}`: {error}"),
    })?;
    if data.is_empty() {
        return Err(missing());
    }
    Ok(data.to_vec())
}
