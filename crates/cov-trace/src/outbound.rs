//! Outbound CLIENT spans: one type for every kind of call (HTTP now, PostgreSQL next), and
//! its JSON line in the Tusk CLI's dialect.
//!
//! A call's span carries its input and (once it ended) its output as [`Payload`]s: a JSON
//! object and the SDK's [`Merges`] for its top-level keys. The hashes are computed from
//! them with drift-core's algorithm ([`crate::schema`]) only when asked: the recorder calls
//! [`OutboundSpan::to_json_line`] on its writer thread, off the caller's path, and a
//! replayed call needs only [`OutboundSpan::input_hashes`] (or just the value hash,
//! [`Payload::value_hash`]) to ask the CLI for its mock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::schema::{self, Hashes, Merges};

/// Upstream `PackageType.PACKAGE_TYPE_HTTP`.
pub const PACKAGE_TYPE_HTTP: i32 = 1;
/// Upstream `PackageType.PACKAGE_TYPE_PG`.
pub const PACKAGE_TYPE_PG: i32 = 4;
/// Upstream `SpanKind.SPAN_KIND_CLIENT`: the kind of every outbound span.
pub const SPAN_KIND_CLIENT: i32 = 3;

/// Upstream `StatusCode` numbers.
const STATUS_CODE_OK: i32 = 1;
const STATUS_CODE_ERROR: i32 = 2;

/// An `inputValue` or `outputValue` and what the SDK says about its top-level keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Payload {
    /// The value as it goes into the trace file and the `GetMockRequest` (bodies in base64).
    pub value: Map<String, Value>,
    /// How merged keys decode and which ones reduced matching ignores.
    pub merges: Merges,
}

impl Payload {
    /// The value hash, schema and schema hash ([`schema::object_hashes`]).
    pub fn hashes(&self) -> Hashes {
        schema::object_hashes(&self.value, &self.merges)
    }

    /// The value hash alone, without building the schema.
    pub fn value_hash(&self) -> String {
        schema::object_value_hash(&self.value, &self.merges)
    }
}

/// How a span ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// `{"code": 1, "message": ""}`.
    #[default]
    Ok,
    /// `{"code": 2, "message": <message>}`.
    Error(String),
}

impl Status {
    /// Upstream `StatusCode` number and message.
    pub fn code_and_message(&self) -> (i32, &str) {
        match self {
            Status::Ok => (STATUS_CODE_OK, ""),
            Status::Error(message) => (STATUS_CODE_ERROR, message),
        }
    }
}

/// One outbound call as a CLIENT span (`kind` 3, never a root span).
#[derive(Clone, Debug, PartialEq)]
pub struct OutboundSpan {
    /// The trace's id: the inbound request's (32 lowercase hex digits).
    pub trace_id: String,
    /// This span's id (16 hex digits), unique in the trace: the CLI tracks which recorded
    /// spans it served by trace and span id.
    pub span_id: String,
    /// The enclosing span's id (the inbound root span for a handler's direct calls).
    pub parent_span_id: String,
    /// Display name (`GET /v1/items`, `postgres.query`).
    pub name: String,
    /// Used in matching (`http`/`https`, `postgres`): schema-hash fallbacks only consider
    /// recorded spans of the same package, and `http`/`https` get the CLI's HTTP shape guard.
    pub package_name: String,
    /// The instrumentation that recorded it, for display.
    pub instrumentation_name: String,
    /// The operation (`GET`, `query`).
    pub submodule_name: String,
    /// Upstream `PackageType` number ([`PACKAGE_TYPE_HTTP`], [`PACKAGE_TYPE_PG`]).
    pub package_type: i32,
    /// What the call sent.
    pub input: Payload,
    /// What it returned; `None` while the call runs, and for calls that produced nothing to
    /// record (no `outputValue` is written then, and the CLI serves no body for it).
    pub output: Option<Payload>,
    /// How it ended.
    pub status: Status,
    /// Whether the call happened before the application was ready.
    pub is_pre_app_start: bool,
    /// When the call started (the CLI serves repeated identical calls oldest first).
    pub started: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The environment the CLI groups tests by.
    pub environment: Option<String>,
}

impl Default for OutboundSpan {
    fn default() -> Self {
        Self {
            trace_id: String::new(),
            span_id: String::new(),
            parent_span_id: String::new(),
            name: String::new(),
            package_name: String::new(),
            instrumentation_name: String::new(),
            submodule_name: String::new(),
            package_type: 0,
            input: Payload::default(),
            output: None,
            status: Status::Ok,
            is_pre_app_start: false,
            started: UNIX_EPOCH,
            duration: Duration::ZERO,
            environment: None,
        }
    }
}

impl OutboundSpan {
    /// The input's value hash, schema and schema hash: what a `GetMockRequest` carries.
    pub fn input_hashes(&self) -> Hashes {
        self.input.hashes()
    }

    /// `timestamp` as `(seconds, nanos)` since the Unix epoch (0 before it).
    pub fn timestamp(&self) -> (i64, i32) {
        seconds_nanos(self.started.duration_since(UNIX_EPOCH).unwrap_or_default())
    }

    /// `duration` as `(seconds, nanos)`.
    pub fn duration_parts(&self) -> (i64, i32) {
        seconds_nanos(self.duration)
    }

    /// The span as one line of a trace file, without the line break, every schema and hash
    /// computed: the keys `internal/utils/parse.go` reads, enums as numbers, schemas in
    /// the camelCase file form, `timestamp`/`duration` as `{seconds, nanos}`. serde_json
    /// escapes control characters, so the line never contains a line break.
    pub fn to_json_line(&self) -> String {
        let (code, message) = self.status.code_and_message();
        let (seconds, nanos) = self.timestamp();
        let (duration_seconds, duration_nanos) = self.duration_parts();
        let input = self.input_hashes();
        let mut line = json!({
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "parentSpanId": self.parent_span_id,
            "name": self.name,
            "packageName": self.package_name,
            "instrumentationName": self.instrumentation_name,
            "submoduleName": self.submodule_name,
            "packageType": self.package_type,
            "kind": SPAN_KIND_CLIENT,
            "status": {"code": code, "message": message},
            "isPreAppStart": self.is_pre_app_start,
            "isRootSpan": false,
            "inputValue": self.input.value,
            "inputSchema": input.schema.to_file_json(),
            "inputValueHash": input.value_hash,
            "inputSchemaHash": input.schema_hash,
            "timestamp": {"seconds": seconds, "nanos": nanos},
            "duration": {"seconds": duration_seconds, "nanos": duration_nanos},
        });
        if let Some(output) = &self.output {
            let hashes = output.hashes();
            line["outputValue"] = Value::Object(output.value.clone());
            line["outputSchema"] = hashes.schema.to_file_json();
            line["outputValueHash"] = hashes.value_hash.into();
            line["outputSchemaHash"] = hashes.schema_hash.into();
        }
        if let Some(environment) = &self.environment {
            line["environment"] = environment.clone().into();
        }
        line.to_string()
    }
}

fn seconds_nanos(duration: Duration) -> (i64, i32) {
    (
        i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        // Always below 10^9.
        i32::try_from(duration.subsec_nanos()).unwrap_or_default(),
    )
}
