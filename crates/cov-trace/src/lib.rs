//! Tusk Drift trace files: inbound and outbound spans as the JSON lines the Tusk CLI
//! replays, drift-core's schemas and hashes, a reader with the CLI's parse rules, and the
//! CLI's mock matcher.
//!
//! `tusk drift run` replays a directory of trace files: one file per trace
//! (`<time>_trace_<traceId>.jsonl`, [`file_name`]), one span per line. The CLI parses the
//! lines with a hand-written reader (`internal/utils/parse.go`), not with protobuf's JSON
//! mapping, so the dialect is its own: camelCase keys, enums as JSON numbers (a name
//! silently becomes 0), `timestamp` and `duration` as `{"seconds", "nanos"}` objects, and
//! bodies as standard padded base64 whose meaning `outputSchema.properties.body`
//! (`encoding`, `decodedType`) describes.
//!
//! - [`InboundSpan::to_json_line`] writes the root span of an inbound HTTP request
//!   (`packageType: 1`, `kind: 2`, `isRootSpan: true`), the one span the CLI needs to
//!   replay it as a test.
//! - [`OutboundSpan`] is one outbound call (HTTP, PostgreSQL, ...) as a CLIENT span:
//!   [`Payload`]s for its input and output, written with their schemas and hashes by
//!   [`OutboundSpan::to_json_line`]; [`http`] builds the payloads of an HTTP client call in
//!   the Python SDK's shape and reads a recorded response back.
//! - [`schema`] is drift-core's schema and hash algorithm, the one both recording and
//!   replay use: the CLI matches a replayed call to its recording by these hashes.
//! - [`read`] goes the other way with the CLI's rules (`parse.go`, `test_loading.go`,
//!   `value_decoder.go`): every span of a file with what the matcher uses, and from the root
//!   span the test (blank lines skipped, one malformed line fails the whole file, a zero
//!   status means 200, bodies decoded by their schema). Our tests run it on everything the
//!   recorder writes.
//! - [`matching`] is the CLI's mock matcher (`mock_matcher.go`, `server.go`'s `findMock`)
//!   over the loaded files: which recorded span answers a `GetMockRequest`, and the answer,
//!   so our driver serves mocks exactly as the real CLI does.
//!
//! The key design decision is that this crate does no I/O and knows nothing of HTTP
//! libraries, sockets or protobuf: values in, text out, and text in, values out. The SDK's
//! recorder owns the files, the threads and the framework glue; cov-wire converts to and
//! from the protobuf messages. Where the CLI's code and our reading of it could differ, the
//! code wins: [`read`] and [`matching`] mirror it function by function, cited.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use cov_trace::{DecodedType, HttpRequest, HttpResponse, InboundSpan, read};
//!
//! let span = InboundSpan {
//!     trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
//!     span_id: "00f067aa0ba902b7".to_owned(),
//!     request: HttpRequest::new("GET", "http://localhost:3000/health", "/health"),
//!     response: HttpResponse {
//!         status: 200,
//!         body: br#"{"status":"ok"}"#.to_vec(),
//!         body_type: Some(DecodedType::Json),
//!         ..HttpResponse::default()
//!     },
//!     started: UNIX_EPOCH + Duration::from_secs(1_766_958_709),
//!     duration: Duration::from_millis(3),
//!     ..InboundSpan::default()
//! };
//! let line = span.to_json_line();
//! let test = read::replay_test(&read::parse_spans(line.as_bytes())?)?.expect("a root span");
//! assert_eq!((test.method.as_str(), test.path.as_str(), test.status), ("GET", "/health", 200));
//! assert_eq!(test.expected_body, Some(serde_json::json!({"status": "ok"})));
//! # Ok::<(), cov_trace::read::ParseError>(())
//! ```

#![forbid(unsafe_code)]

mod body;
mod gojson;
pub mod http;
pub mod matching;
mod name;
mod outbound;
pub mod read;
pub mod schema;
mod span;

pub use body::{DecodedType, Unrecordable, classify_body};
pub use name::{TRACE_FILE_SUFFIX, file_name, rfc3339_utc};
pub use outbound::{
    OutboundSpan, PACKAGE_TYPE_HTTP, PACKAGE_TYPE_PG, Payload, SPAN_KIND_CLIENT, Status,
};
pub use span::{Headers, HttpRequest, HttpResponse, InboundSpan};

/// The base64 engine of trace bodies: standard alphabet, padded, as Go's
/// `base64.StdEncoding` writes and reads it (which also accepts non-zero trailing bits).
pub(crate) const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// This crate's source directory, as cargo gave it when the crate was built: the SDK leaves
/// every file under it out of the application's coverage.
#[doc(hidden)]
pub const SOURCE_DIR: &str = env!("CARGO_MANIFEST_DIR");
