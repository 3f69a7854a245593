//! The collector links into, and fails cleanly in, a program built without
//! `-C instrument-coverage`: this very test binary (`cargo test` does not instrument it).

use cov_collector::{Collector, CollectorError, is_instrumented};

#[test]
fn this_test_binary_is_not_instrumented() {
    assert!(
        !is_instrumented(),
        "the cov-collector tests must run without -C instrument-coverage (as `cargo test` and \
         `cargo xtask test` run them)"
    );
}

#[test]
fn building_a_collector_says_which_rustflags_to_use() {
    let error = Collector::builder()
        .file_filter(|_| true)
        .build()
        .expect_err("an uninstrumented program has no coverage to collect");
    assert!(
        matches!(error, CollectorError::NotInstrumented),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("RUSTFLAGS=\"-C instrument-coverage\""),
        "the error must give the RUSTFLAGS to use: {message}"
    );
}
