//! Live counters: the running program's `__llvm_prf_data` records and `__llvm_prf_cnts`
//! counters, read from memory.
//!
//! Instrumented code keeps incrementing the counters while they are read, so a function's
//! counters are read twice and accepted only when both reads agree: counters never
//! decrease, so two equal reads describe one instant (the end of the first read) exactly.
//! A function that never settles within [`MAX_READ_ATTEMPTS`] is taken from its last read;
//! the collector compensates for that (see `collector.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::CollectorError;
use crate::ffi::ProfileRuntime;

/// The raw profile version this crate reads (LLVM 19 to 22).
pub(crate) const SUPPORTED_PROFILE_VERSION: u32 = 10;

/// How many double reads of one function's counters are tried before its last read is
/// used as it is.
pub(crate) const MAX_READ_ATTEMPTS: usize = 8;

/// Size of one `__llvm_prf_data` record in raw profile version 10.
const DATA_RECORD_SIZE: usize = 64;

/// Checks the value of `__llvm_profile_get_version()`: the raw profile version is its low
/// 32 bits (the high bits are variant flags) and must be [`SUPPORTED_PROFILE_VERSION`].
pub(crate) fn check_profile_version(raw: u64) -> Result<(), CollectorError> {
    let version = (raw & 0xffff_ffff) as u32;
    if version == SUPPORTED_PROFILE_VERSION {
        Ok(())
    } else {
        Err(CollectorError::UnsupportedProfileVersion {
            version,
            raw,
            supported: SUPPORTED_PROFILE_VERSION,
        })
    }
}

/// One instrumented function of the running program and where its counters are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LiveFunction {
    /// Low 8 bytes of the MD5 of the function's (mangled) name, as the data record has it.
    pub(crate) name_ref: u64,
    /// The function's structural hash; must equal the mapping record's.
    pub(crate) func_hash: u64,
    /// Index of the function's first counter in `__llvm_prf_cnts`.
    pub(crate) first_counter: usize,
    /// Number of counters.
    pub(crate) n_counters: usize,
}

impl LiveFunction {
    /// The function's counters within the whole counter array.
    pub(crate) fn counter_range(&self) -> std::ops::Range<usize> {
        self.first_counter..self.first_counter + self.n_counters
    }
}

/// The running program's profile: its functions and live access to their counters.
#[derive(Debug)]
pub(crate) struct LiveProfile {
    runtime: ProfileRuntime,
    functions: Vec<LiveFunction>,
}

impl LiveProfile {
    /// Decodes the data records of the running program, after checking the profile version.
    pub(crate) fn new(runtime: ProfileRuntime) -> Result<Self, CollectorError> {
        check_profile_version(runtime.version)?;
        let functions = decode_data_records(
            runtime.data,
            runtime.data_address,
            runtime.counters_address,
            runtime.counters.len(),
        )?;
        Ok(Self { runtime, functions })
    }

    /// The runtime this profile reads.
    pub(crate) fn runtime(&self) -> &ProfileRuntime {
        &self.runtime
    }

    /// Every instrumented function, in data-record order.
    pub(crate) fn functions(&self) -> &[LiveFunction] {
        &self.functions
    }

    /// Number of counters in the whole program.
    pub(crate) fn n_counters(&self) -> usize {
        self.runtime.counters.len()
    }

    /// Reads one function's counters into `into` (the whole counter array's shape) and
    /// returns whether the read is a consistent instant: two successive reads agreed.
    /// `scratch` must be at least as long as the function's counters.
    pub(crate) fn read_function(
        &self,
        function: &LiveFunction,
        into: &mut [u64],
        scratch: &mut Vec<u64>,
    ) -> bool {
        let live = &self.runtime.counters[function.counter_range()];
        let target = &mut into[function.counter_range()];
        load_all(live, target);
        for _ in 1..MAX_READ_ATTEMPTS {
            scratch.clear();
            scratch.extend(live.iter().map(|counter| counter.load(Ordering::Acquire)));
            if scratch.as_slice() == target {
                return true;
            }
            target.copy_from_slice(scratch);
        }
        false
    }
}

/// Loads every counter with an acquire load, in order: no later load of the same reader
/// can be observed before an earlier one, which is what makes two equal passes one instant.
fn load_all(live: &[AtomicU64], into: &mut [u64]) {
    for (value, counter) in into.iter_mut().zip(live) {
        *value = counter.load(Ordering::Acquire);
    }
}

/// Decodes the `__llvm_prf_data` records found at `data_address` and locates each one's
/// counters in the counter array at `counters_address`.
///
/// A version-10 record is 64 bytes: NameRef u64, FuncHash u64, CounterPtr i64 (relative
/// to the record's own address), BitmapPtr, FunctionPointer, Values, NumCounters u32,
/// NumValueSites u16×3, NumBitmapBytes u32 (native-endian in memory).
pub(crate) fn decode_data_records(
    data: &[u8],
    data_address: u64,
    counters_address: u64,
    n_counters: usize,
) -> Result<Vec<LiveFunction>, CollectorError> {
    if !data.len().is_multiple_of(DATA_RECORD_SIZE) {
        return Err(CollectorError::MalformedProfile(format!(
            "__llvm_prf_data is {} bytes, not a whole number of {DATA_RECORD_SIZE}-byte records",
            data.len()
        )));
    }
    let counters_end = counters_address + 8 * n_counters as u64;
    data.chunks_exact(DATA_RECORD_SIZE)
        .enumerate()
        .map(|(record_idx, record)| {
            let u64_at = |offset: usize| {
                u64::from_ne_bytes(record[offset..offset + 8].try_into().expect("8 bytes"))
            };
            let name_ref = u64_at(0);
            let func_hash = u64_at(8);
            let counter_offset = u64_at(16) as i64;
            let n_counters_of_function =
                u32::from_ne_bytes(record[48..52].try_into().expect("4 bytes")) as usize;
            let record_address = data_address + (record_idx * DATA_RECORD_SIZE) as u64;
            let first_address = record_address.wrapping_add_signed(counter_offset);
            let end_address = first_address.checked_add(8 * n_counters_of_function as u64);
            let in_bounds = first_address >= counters_address
                && (first_address - counters_address).is_multiple_of(8)
                && end_address.is_some_and(|end| end <= counters_end);
            if !in_bounds {
                return Err(CollectorError::MalformedProfile(format!(
                    "data record {record_idx} (name hash {name_ref:#018x}) points at \
                     {n_counters_of_function} counters at {first_address:#x}, outside \
                     __llvm_prf_cnts ({counters_address:#x}..{counters_end:#x})"
                )));
            }
            Ok(LiveFunction {
                name_ref,
                func_hash,
                first_counter: ((first_address - counters_address) / 8) as usize,
                n_counters: n_counters_of_function,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name_ref: u64, func_hash: u64, counter_offset: i64, n_counters: u32) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(DATA_RECORD_SIZE);
        bytes.extend(name_ref.to_ne_bytes());
        bytes.extend(func_hash.to_ne_bytes());
        bytes.extend(counter_offset.to_ne_bytes());
        bytes.extend([0u8; 24]);
        bytes.extend(n_counters.to_ne_bytes());
        bytes.extend([0u8; 12]);
        bytes
    }

    #[test]
    fn version_10_is_accepted_with_variant_flags() {
        assert!(check_profile_version(10).is_ok());
        assert!(check_profile_version(0xff00_0000_0000_000a).is_ok());
    }

    #[test]
    fn other_versions_are_refused_by_name() {
        for raw in [9u64, 11, 0x0100_0000_0000_000b] {
            let error = check_profile_version(raw).expect_err("only 10 is supported");
            let message = error.to_string();
            let version = raw & 0xffff_ffff;
            assert!(message.contains(&format!("version {version}")), "{message}");
        }
    }

    #[test]
    fn counter_pointers_are_relative_to_each_record() {
        // Two records at 0x1000 and 0x1040; counters at 0x2000, 5 of them.
        let mut data = record(1, 11, 0x2000 - 0x1000, 2);
        data.extend(record(2, 22, 0x2010 - 0x1040, 3));
        let functions = decode_data_records(&data, 0x1000, 0x2000, 5).expect("valid");
        assert_eq!(
            functions,
            vec![
                LiveFunction {
                    name_ref: 1,
                    func_hash: 11,
                    first_counter: 0,
                    n_counters: 2
                },
                LiveFunction {
                    name_ref: 2,
                    func_hash: 22,
                    first_counter: 2,
                    n_counters: 3
                },
            ]
        );
    }

    #[test]
    fn counters_outside_the_section_are_an_error() {
        let data = record(1, 11, 0x2000 - 0x1000, 6);
        assert!(decode_data_records(&data, 0x1000, 0x2000, 5).is_err());
        let data = record(1, 11, -0x10, 1);
        assert!(decode_data_records(&data, 0x1000, 0x2000, 5).is_err());
        assert!(decode_data_records(&[0u8; 63], 0x1000, 0x2000, 5).is_err());
    }
}
