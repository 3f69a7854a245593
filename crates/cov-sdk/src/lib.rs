//! Per-test coverage of a Rust service replayed by Tusk Drift.
//!
//! Add `let _coverage = cov_sdk::init();` to `main`; under the Tusk CLI in replay mode the
//! SDK connects to the CLI and answers its coverage snapshot requests.

#![forbid(unsafe_code)]
