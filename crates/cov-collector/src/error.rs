//! The collector's error type.

/// The `RUSTFLAGS` that build a program the collector can read.
pub const INSTRUMENT_RUSTFLAGS: &str = "-C instrument-coverage";

/// Why a [`Collector`](crate::Collector) could not be built or could not take a snapshot.
///
/// Every failure is reported as a value: the collector never panics into its host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectorError {
    /// This target has no binding to the profile runtime (only x86_64 and aarch64 Linux
    /// have one).
    #[error(
        "in-process coverage is not supported on this platform ({os}/{arch}); \
         supported: x86_64 and aarch64 Linux"
    )]
    UnsupportedPlatform {
        /// `std::env::consts::OS`.
        os: &'static str,
        /// `std::env::consts::ARCH`.
        arch: &'static str,
    },
    /// The program was not built with coverage instrumentation.
    #[error(
        "this program was not built with coverage instrumentation: the LLVM profile runtime \
         is not linked; rebuild it with RUSTFLAGS=\"{INSTRUMENT_RUSTFLAGS}\" \
         (for example `RUSTFLAGS=\"{INSTRUMENT_RUSTFLAGS}\" cargo build`)"
    )]
    NotInstrumented,
    /// The linked profile runtime writes a raw profile version this crate does not read.
    #[error(
        "raw profile version {version} (the LLVM profile runtime reports {raw:#x}): \
         this SDK reads {}",
        crate::decode::profraw::SUPPORTED_VERSIONS
    )]
    UnsupportedProfileVersion {
        /// The version: the low 32 bits of `__llvm_profile_get_version()`.
        version: u32,
        /// The whole value, variant flags included.
        raw: u64,
    },
    /// The linked profile runtime uses a variant whose in-memory layout this crate does not
    /// read (rustc never builds one).
    #[error("unsupported LLVM profile variant: {0}")]
    UnsupportedProfileVariant(&'static str),
    /// The profile runtime's in-memory data is inconsistent.
    #[error("malformed profile data in memory: {0}")]
    MalformedProfile(String),
    /// A snapshot failed on a bug in this crate (a caught panic, with its message).
    #[error("internal error in the coverage collector (please report it): {0}")]
    Internal(String),
    /// The coverage mapping of the running executable could not be read or decoded.
    #[error(transparent)]
    Mapping(#[from] crate::decode_error::MappingError),
}
