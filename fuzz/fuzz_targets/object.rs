//! Fuzz target: `cov_reliability::checks::object`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cov_reliability::checks::object(data));
