//! Fuzz target: `cov_reliability::checks::covfun`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cov_reliability::checks::covfun(data));
