//! Live counters: the running program's `__llvm_prf_data` records and `__llvm_prf_cnts`
//! counters, read from memory.
//!
//! Instrumented code keeps incrementing the counters while they are read, so a function's
//! counters are read twice and accepted only when both reads agree: counters never
//! decrease, so two equal reads describe one instant (the end of the first read) exactly.
//! A function that never settles within [`MAX_READ_ATTEMPTS`] is taken from its last read;
//! the collector compensates for that (see `collector.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::decode::profraw::{
    CounterArray, FunctionCounters, Layout, decode_function_counters, layout_for,
};
use crate::decode_error::ProfileError;
use crate::error::CollectorError;
use crate::ffi::ProfileRuntime;

/// How many double reads of one function's counters are tried before its last read is
/// used as it is.
pub(crate) const MAX_READ_ATTEMPTS: usize = 8;

/// The layout of the running program's profile data, from the value of
/// `__llvm_profile_get_version()`: the raw profile version is its low 32 bits and must be
/// one of [`LAYOUTS`](crate::decode::profraw::LAYOUTS) (the same table the file decoder reads);
/// of the variant flags above them, those that change the layout this crate reads (byte
/// counters, debug-info correlation) are refused as well. rustc sets neither.
pub(crate) fn check_profile_version(raw: u64) -> Result<&'static Layout, CollectorError> {
    layout_for(raw).map_err(|error| match error {
        ProfileError::UnsupportedVariant(variant) => {
            CollectorError::UnsupportedProfileVariant(variant)
        }
        _ => CollectorError::UnsupportedProfileVersion {
            version: (raw & 0xffff_ffff) as u32,
            raw,
        },
    })
}

/// Decodes the data records of a program's memory: `data` at `data_address`, laid out as
/// the runtime's version field `raw_version` says, with `n_counters` counters at
/// `counters_address`. (The runtime exposes no bounds of the uniform counters of version
/// 11, which coverage does not read, so those pointers are not checked.)
pub(crate) fn decode_live_records(
    raw_version: u64,
    data: &[u8],
    data_address: u64,
    counters_address: u64,
    n_counters: usize,
) -> Result<Vec<FunctionCounters>, CollectorError> {
    let layout = check_profile_version(raw_version)?;
    tracing::debug!(
        version = layout.version,
        record_size = layout.record.size,
        "decoding the running program's data records"
    );
    decode_function_counters(
        &layout.record,
        data,
        data_address,
        CounterArray {
            address: counters_address,
            len: n_counters,
        },
        None,
    )
    .map_err(|error| CollectorError::MalformedProfile(error.to_string()))
}

/// The running program's profile: its functions and live access to their counters.
#[derive(Debug)]
pub(crate) struct LiveProfile {
    runtime: ProfileRuntime,
    functions: Vec<FunctionCounters>,
}

impl LiveProfile {
    /// Decodes the data records of the running program (with the offline decoder and the
    /// layout of the runtime's version, given the records' real addresses).
    pub(crate) fn new(runtime: ProfileRuntime) -> Result<Self, CollectorError> {
        let records = decode_live_records(
            runtime.version,
            runtime.data,
            runtime.data_address,
            runtime.counters_address,
            runtime.counters.len(),
        )?;
        Ok(Self {
            runtime,
            functions: records,
        })
    }

    /// The runtime this profile reads.
    pub(crate) fn runtime(&self) -> &ProfileRuntime {
        &self.runtime
    }

    /// Every instrumented function's data record, in section order.
    pub(crate) fn functions(&self) -> &[FunctionCounters] {
        &self.functions
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
        record: &FunctionCounters,
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
    fn live_records_of_every_version_bind_the_same_counters() {
        // A program's memory as LLVM 19-22 lays it out: version-10 records (here on the
        // heap, at real addresses) whose `CounterPtr`s point into a real counter array,
        // re-laid by the test encoder as LLVM 18 and LLVM 23 would have laid them out.
        let counters: Vec<AtomicU64> = (0..12).map(AtomicU64::new).collect();
        let counters_address = counters.as_ptr() as u64;
        let mut v10 = Vec::new();
        let data_address_hint = 0x7f00_0000_0000_u64;
        for (index, (first, len)) in [(0_u64, 3_u32), (3, 1), (4, 8)].into_iter().enumerate() {
            let record_address = data_address_hint + index as u64 * 64;
            let mut record = [0_u8; 64];
            record[..8].copy_from_slice(&(index as u64 + 0xabc).to_le_bytes());
            record[8..16].copy_from_slice(&(index as u64 * 7).to_le_bytes());
            let counter_ptr = (counters_address + first * 8).wrapping_sub(record_address);
            record[16..24].copy_from_slice(&counter_ptr.to_le_bytes());
            record[48..52].copy_from_slice(&len.to_le_bytes());
            v10.extend_from_slice(&record);
        }
        let expected = decode_live_records(10, &v10, data_address_hint, counters_address, 12)
            .expect("version 10 decodes");
        assert_eq!(
            expected
                .iter()
                .map(|record| record.counters.clone())
                .collect::<Vec<_>>(),
            [0..3, 3..4, 4..12]
        );
        for version in [9_u32, 10, 11] {
            // Lay the records out where a buffer really is, so the addresses are real.
            let mut buffer = vec![0_u8; v10.len() / 64 * 72];
            let address = buffer.as_ptr() as u64;
            let relaid = cov_testkit::relayout::relayout_live_records(
                &v10,
                data_address_hint,
                address,
                version,
            );
            buffer[..relaid.len()].copy_from_slice(&relaid);
            let records = decode_live_records(
                u64::from(version) | (1 << 56),
                &buffer[..relaid.len()],
                address,
                counters_address,
                counters.len(),
            )
            .unwrap_or_else(|error| panic!("version {version}: {error}"));
            assert_eq!(records, expected, "version {version}");
        }
    }

    #[test]
    fn versions_9_to_11_are_accepted_with_harmless_variant_flags() {
        for version in [9_u64, 10, 11] {
            assert_eq!(
                check_profile_version(version).unwrap().version as u64,
                version
            );
            // IR-level instrumentation (bit 56), as rustc sets it, and context-sensitive IR.
            assert!(check_profile_version((1 << 56) | (1 << 57) | version).is_ok());
        }
    }

    #[test]
    fn layout_changing_variants_are_refused() {
        for raw in [(1_u64 << 60) | 10, (1_u64 << 59) | 11, (1_u64 << 60) | 9] {
            let error = check_profile_version(raw).expect_err("refused");
            assert!(
                matches!(error, CollectorError::UnsupportedProfileVariant(_)),
                "{error:?}"
            );
        }
    }

    #[test]
    fn other_versions_are_refused_with_the_supported_range() {
        for raw in [8u64, 12, 0x0100_0000_0000_000c] {
            let error = check_profile_version(raw).expect_err("only 9 to 11 are supported");
            let message = error.to_string();
            let version = raw & 0xffff_ffff;
            assert!(
                message.contains(&format!("raw profile version {version}")),
                "{message}"
            );
            assert!(
                message.contains(crate::decode::profraw::SUPPORTED_VERSIONS),
                "{message}"
            );
        }
    }
}
