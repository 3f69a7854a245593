//! Errors of the offline decoders: the coverage mapping in the executable and raw profiles.
//!
//! (The collector's own error type lives in `error.rs`, next to the runtime binding.)

use std::path::PathBuf;

/// Why the coverage mapping of an executable could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The executable could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not an object file `object` can parse.
    #[error("cannot parse {} as an object file: {reason}", path.display())]
    Object {
        /// The file.
        path: PathBuf,
        /// What `object` reported.
        reason: String,
    },
    /// A required section is absent: the program was not instrumented or was stripped.
    #[error(
        "{} has no `{section}` section: build it with RUSTFLAGS=\"-C instrument-coverage\" \
         and do not strip it",
        path.display()
    )]
    MissingSection {
        /// The file.
        path: PathBuf,
        /// The missing section's name.
        section: &'static str,
    },
    /// The coverage mapping was written in a format version this reader does not know.
    #[error(
        "unsupported coverage mapping format version {encoded} (encoded); this reader \
         supports format Version7 (encoded 6), written by LLVM 18 to 23 (Rust 1.78 and \
         later)"
    )]
    UnsupportedVersion {
        /// The version number as stored in the covmap header (LLVM's value minus one).
        encoded: u32,
    },
    /// The data ends in the middle of a structure.
    #[error("truncated {what} at byte {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where, relative to the start of its section or blob.
        offset: usize,
    },
    /// The data is structurally invalid.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A zlib blob did not inflate to its announced size.
    #[error("cannot decompress {what} (zlib): {detail}")]
    Decompress {
        /// What was being inflated.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
}

/// Why a raw profile (`.profraw`) could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The magic number is not LLVM's little-endian 64-bit raw profile magic.
    #[error("not a little-endian 64-bit LLVM raw profile (magic {found:#018x})")]
    BadMagic {
        /// The first eight bytes, little-endian.
        found: u64,
    },
    /// The raw profile format version is not one this decoder reads.
    #[error(
        "raw profile version {version}: this SDK reads {}",
        crate::decode::profraw::SUPPORTED_VERSIONS
    )]
    UnsupportedVersion {
        /// The version found (low 32 bits of the version field).
        version: u64,
    },
    /// The profile uses a variant this decoder does not read.
    #[error("unsupported raw profile variant: {0}")]
    UnsupportedVariant(&'static str),
    /// The data ends in the middle of a structure.
    #[error("truncated raw profile: {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// The data is structurally invalid.
    #[error("malformed raw profile: {0}")]
    Malformed(String),
}
