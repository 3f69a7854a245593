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
use crate::profraw::{DataRecord, decode_data_records};

/// The raw profile version this crate reads (LLVM 19 to 22).
pub(crate) const SUPPORTED_PROFILE_VERSION: u32 = 10;

/// How many double reads of one function's counters are tried before its last read is
/// used as it is.
pub(crate) const MAX_READ_ATTEMPTS: usize = 8;

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

/// The running program's profile: its functions and live access to their counters.
#[derive(Debug)]
pub(crate) struct LiveProfile {
    runtime: ProfileRuntime,
    records: Vec<DataRecord>,
}

impl LiveProfile {
    /// Decodes the data records of the running program (with the offline decoder, given
    /// the records' real addresses), after checking the profile version.
    pub(crate) fn new(runtime: ProfileRuntime) -> Result<Self, CollectorError> {
        check_profile_version(runtime.version)?;
        let records = decode_data_records(
            runtime.data,
            runtime.data_address,
            runtime.counters_address,
            runtime.counters.len(),
        )
        .map_err(|error| CollectorError::MalformedProfile(error.to_string()))?;
        Ok(Self { runtime, records })
    }

    /// The runtime this profile reads.
    pub(crate) fn runtime(&self) -> &ProfileRuntime {
        &self.runtime
    }

    /// Every instrumented function's data record, in section order.
    pub(crate) fn records(&self) -> &[DataRecord] {
        &self.records
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
        record: &DataRecord,
        into: &mut [u64],
        scratch: &mut Vec<u64>,
    ) -> bool {
        let live = &self.runtime.counters[record.counters.clone()];
        let target = &mut into[record.counters.clone()];
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
