//! Fuzz target: `cov_reliability::checks::profraw`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cov_reliability::checks::profraw(data));
