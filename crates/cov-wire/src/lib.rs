//! Conversions between the project's values and the protobuf messages of the Tusk Drift
//! channel, used by both of its ends.
//!
//! The SDK converts what it has (wire snapshots of coverage, spans) into messages for the CLI; our
//! driver, playing the CLI, converts them back. Keeping both directions in one small crate
//! means they are written once and tested as inverses of each other, and neither end reaches
//! into the other for them (the driver never depends on the SDK, and the SDK never on the
//! driver).
//!
//! - [`coverage`]: cov-core's `WireSnapshot` ↔ `CoverageSnapshotResponse`.
//! - [`span`]: cov-trace's spans → the protobuf `Span` (the inbound replay span, the
//!   outbound span of a `GetMockRequest`), the mock messages both ways (`GetMockRequest` →
//!   cov-trace's matcher request, its answer → `GetMockResponse` → the recorded output), and
//!   JSON values ↔ `google.protobuf.Struct`.
//!
//! The key design decision is that this crate holds conversions only: no I/O, no state, no
//! protocol logic (who sends what when is cov-sdk's and the driver's business).

#![forbid(unsafe_code)]

pub mod coverage;
pub mod span;

/// This crate's source directory, as cargo gave it when the crate was built: the SDK leaves
/// every file under it out of the application's coverage.
#[doc(hidden)]
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
