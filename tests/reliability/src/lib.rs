//! Reliability checks for the coverage SDK, kept apart from the crates they check.
//!
//! [`checks`] holds one invariant per decoder (mapping, profile, framing, messages) over
//! arbitrary bytes; the cargo-fuzz targets in `fuzz/` and this crate's property tests call
//! the very same functions, so the long fuzzing run (`cargo xtask fuzz`) and the short one
//! inside `cargo xtask test` differ only in time and input generation. [`seeds`] turns a
//! real instrumented build into seed inputs. [`service`] and [`peer`] run an instrumented
//! service that links the SDK, play a (hostile) CLI against it and load it (over
//! cov-testkit's HTTP client). The key design decision: every check compares against a
//! reference (a model of the framing, prost itself, the decoders' own validity
//! rules) instead of only waiting for a panic.

#![forbid(unsafe_code)]

pub mod checks;
pub mod peer;
pub mod seeds;
pub mod service;
