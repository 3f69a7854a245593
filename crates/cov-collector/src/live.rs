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

/// Variant flag (`InstrProfData.inc`): counters are single bytes, not `u64`.
const VARIANT_MASK_BYTE_COVERAGE: u64 = 1 << 60;
/// Variant flag: profile data and names live in debug info instead of the sections.
const VARIANT_MASK_DBG_CORRELATE: u64 = 1 << 59;

/// Checks the value of `__llvm_profile_get_version()`: the raw profile version is its low
/// 32 bits and must be [`SUPPORTED_PROFILE_VERSION`]; of the variant flags above them, those
/// that change the layout this crate reads (byte counters, debug-info correlation) are
/// refused as well. rustc sets neither.
pub(crate) fn check_profile_version(raw: u64) -> Result<(), CollectorError> {
    let version = (raw & 0xffff_ffff) as u32;
    if version != SUPPORTED_PROFILE_VERSION {
        return Err(CollectorError::UnsupportedProfileVersion {
            version,
            raw,
            supported: SUPPORTED_PROFILE_VERSION,
        });
    }
    if raw & VARIANT_MASK_BYTE_COVERAGE != 0 {
        return Err(CollectorError::UnsupportedProfileVariant(
            "single-byte counters (function entry coverage)",
        ));
    }
    if raw & VARIANT_MASK_DBG_CORRELATE != 0 {
        return Err(CollectorError::UnsupportedProfileVariant(
            "debug-info correlation (no data records in memory)",
        ));
    }
    Ok(())
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

    /// Reads every counter of the program into `into` in one acquire pass (not an instant
    /// for functions running meanwhile: see [`LiveProfile::read_function`]).
    pub(crate) fn read_all(&self, into: &mut [u64]) {
        load_all(self.runtime.counters, into);
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
        read_consistent(
            &self.runtime.counters[record.counters.clone()],
            &mut into[record.counters.clone()],
            scratch,
        )
    }
}

/// Reads `live` into `target` until two successive passes agree (at most
/// [`MAX_READ_ATTEMPTS`] double reads) and returns whether they did. When they never do,
/// `target` holds the last pass.
fn read_consistent(live: &[AtomicU64], target: &mut [u64], scratch: &mut Vec<u64>) -> bool {
    load_all(live, target);
    for _ in 1..=MAX_READ_ATTEMPTS {
        scratch.clear();
        scratch.extend(live.iter().map(|counter| counter.load(Ordering::Acquire)));
        if scratch.as_slice() == target {
            return true;
        }
        target.copy_from_slice(scratch);
    }
    false
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
    fn settled_reads_are_consistent_instants_while_a_writer_runs() {
        // The writer increments the counters in order, round after round (with pauses), so at every
        // instant they are non-increasing and the first exceeds the last by at most one.
        // A read that is not one instant can break that (it sees later counters after
        // more rounds than earlier ones); an accepted double read never may.
        const N_COUNTERS: usize = 64;
        let counters: &'static [AtomicU64] =
            Box::leak((0..N_COUNTERS).map(|_| AtomicU64::new(0)).collect());
        let stop: &'static std::sync::atomic::AtomicBool =
            Box::leak(Box::new(std::sync::atomic::AtomicBool::new(false)));
        let writer = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for counter in counters {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                // Pauses let reads settle; rounds make torn reads possible.
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        });
        let is_an_instant = |values: &[u64]| {
            values.windows(2).all(|pair| pair[0] >= pair[1])
                && values[0] - values[N_COUNTERS - 1] <= 1
        };
        let (mut target, mut scratch) = (vec![0; N_COUNTERS], Vec::new());
        let (mut n_settled, mut n_unsettled) = (0, 0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < deadline {
            if read_consistent(counters, &mut target, &mut scratch) {
                n_settled += 1;
                assert!(
                    is_an_instant(&target),
                    "a settled read is not an instant: {target:?}"
                );
            } else {
                n_unsettled += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer thread");
        assert!(n_settled > 0, "no read settled ({n_unsettled} did not)");
        assert!(
            read_consistent(counters, &mut target, &mut scratch),
            "a quiescent read settles at once"
        );
        assert!(is_an_instant(&target));
    }

    #[test]
    fn version_10_is_accepted_with_harmless_variant_flags() {
        assert!(check_profile_version(10).is_ok());
        // IR-level instrumentation (bit 56), as rustc sets it, and context-sensitive IR.
        assert!(check_profile_version((1 << 56) | (1 << 57) | 10).is_ok());
    }

    #[test]
    fn layout_changing_variants_are_refused() {
        for raw in [(1_u64 << 60) | 10, (1_u64 << 59) | 10] {
            let error = check_profile_version(raw).expect_err("refused");
            assert!(
                matches!(error, CollectorError::UnsupportedProfileVariant(_)),
                "{error:?}"
            );
        }
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
