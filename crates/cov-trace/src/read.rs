//! Reading a trace file with the Tusk CLI's rules.
//!
//! [`parse_spans`] reads every span of a file (the root span and the outbound spans the
//! matcher serves as mocks) into a [`Span`] holding what the CLI reads from the line;
//! [`replay_test`] derives the test of a file from its root span.
//!
//! Mirrors, at v0.2.15: `internal/utils/parse.go` (`ParseSpansFromFile`,
//! `ParseProtobufSpanFromJSON`, `mapToJsonSchema`, `maybeFixSpanKinds`),
//! `internal/runner/test_loading.go`
//! (`LoadTestFromTraceFile`, `spanToTest`), `executor.go` (how the request is sent) and
//! `value_decoder.go` (`DecodeValueBySchema`, `parseDecodedBytes`). Where the CLI is
//! lenient the reader is too: a field of the wrong JSON type reads as its zero value, an
//! enum written as a name reads as 0. Two deliberate differences, both stricter: strings
//! must be valid UTF-8 (Go replaces bad bytes), and base64 may not contain line breaks
//! (Go skips them); the recorder never writes either.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::BASE64;
use crate::body::DecodedType;
pub use crate::schema::Schema;
use crate::schema::go_int32;
use crate::span::{PACKAGE_TYPE_HTTP, SPAN_KIND_SERVER};

/// The longest line the CLI reads (`bufio.Scanner` buffer of 15 MiB); a longer one fails
/// the file.
pub const MAX_LINE_BYTES: usize = 15 * 1024 * 1024;

/// Upstream `PackageType.PACKAGE_TYPE_GRAPHQL`, replayed like HTTP.
const PACKAGE_TYPE_GRAPHQL: i32 = 2;
/// Upstream `SpanKind.SPAN_KIND_INTERNAL` and `SPAN_KIND_CLIENT`.
const SPAN_KIND_INTERNAL: i32 = 1;
const SPAN_KIND_CLIENT: i32 = 3;
/// Upstream `EncodingType.ENCODING_TYPE_BASE64`.
const ENCODING_BASE64: i32 = 1;

/// Why the CLI would refuse a trace file (and with it every trace of the run) or a test.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A line is not a JSON object: "malformed span in FILE at line N".
    #[error("malformed span at line {line}: {source}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What serde_json found.
        source: serde_json::Error,
    },
    /// A line is longer than [`MAX_LINE_BYTES`].
    #[error("line {line} is {len} bytes, over the CLI's {MAX_LINE_BYTES}-byte line limit")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// Its length.
        len: usize,
    },
    /// The request body cannot be decoded, which fails the test on replay.
    #[error("failed to decode request body: {0}")]
    RequestBody(String),
}

/// One span as the CLI sees it after parsing: what a replay and the mock matcher use.
/// Strings of the wrong JSON type read as "", numbers as 0, booleans as false, objects as
/// absent, as in `ParseProtobufSpanFromJSON`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    /// `traceId`.
    pub trace_id: String,
    /// `spanId`.
    pub span_id: String,
    /// `parentSpanId`.
    pub parent_span_id: String,
    /// `name`.
    pub name: String,
    /// `packageName`.
    pub package_name: String,
    /// `instrumentationName`.
    pub instrumentation_name: String,
    /// `submoduleName` (or legacy `submodule_name`).
    pub submodule_name: String,
    /// `packageType`.
    pub package_type: i32,
    /// `kind`, after the CLI's kind repair.
    pub kind: i32,
    /// `isRootSpan`.
    pub is_root_span: bool,
    /// `isPreAppStart`.
    pub is_pre_app_start: bool,
    /// `inputValue`, when an object.
    pub input_value: Option<Map<String, Value>>,
    /// `outputValue`, when an object.
    pub output_value: Option<Map<String, Value>>,
    /// `inputSchema`, when an object.
    pub input_schema: Option<Schema>,
    /// `outputSchema`, when an object.
    pub output_schema: Option<Schema>,
    /// `inputValueHash`.
    pub input_value_hash: String,
    /// `inputSchemaHash`.
    pub input_schema_hash: String,
    /// `outputValueHash`.
    pub output_value_hash: String,
    /// `outputSchemaHash`.
    pub output_schema_hash: String,
    /// `status.code`, when `status` is an object.
    pub status_code: Option<i32>,
    /// `status.message`, when `status` is an object.
    pub status_message: String,
    /// `timestamp` as `(seconds, nanos)`, when an object.
    pub timestamp: Option<(i64, i32)>,
    /// `duration` as `(seconds, nanos)`, when an object.
    pub duration: Option<(i64, i32)>,
    /// `environment`, when a non-empty string.
    pub environment: Option<String>,
}

/// Parses a whole trace file as `ParseSpansFromFile` does: lines split at `\n` (a
/// trailing `\r` dropped), blank lines skipped, every other line a JSON object, then the
/// kinds repaired.
pub fn parse_spans(text: &[u8]) -> Result<Vec<Span>, ParseError> {
    let mut spans = Vec::new();
    for (index, line) in text.split(|&byte| byte == b'\n').enumerate() {
        let line_number = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            return Err(ParseError::LineTooLong {
                line: line_number,
                len: line.len(),
            });
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        // `json.Unmarshal` into a map: an object, or `null` (a span of zero values).
        let object: Option<Map<String, Value>> =
            serde_json::from_slice(line).map_err(|source| ParseError::Malformed {
                line: line_number,
                source,
            })?;
        spans.push(span_from(&object.unwrap_or_default()));
    }
    fix_span_kinds(&mut spans);
    Ok(spans)
}

fn span_from(object: &Map<String, Value>) -> Span {
    let string = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |key: &str| object.get(key).and_then(Value::as_f64).map(go_int32);
    let submodule_name = match string("submoduleName") {
        name if name.is_empty() => string("submodule_name"),
        name => name,
    };
    let environment = Some(string("environment")).filter(|environment| !environment.is_empty());
    let boolean = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
    let status = object.get("status").and_then(Value::as_object);
    Span {
        trace_id: string("traceId"),
        span_id: string("spanId"),
        parent_span_id: string("parentSpanId"),
        name: string("name"),
        package_name: string("packageName"),
        instrumentation_name: string("instrumentationName"),
        submodule_name,
        package_type: number("packageType").unwrap_or(0),
        kind: number("kind").unwrap_or(0),
        is_root_span: boolean("isRootSpan"),
        is_pre_app_start: boolean("isPreAppStart"),
        input_value: object.get("inputValue").and_then(Value::as_object).cloned(),
        output_value: object
            .get("outputValue")
            .and_then(Value::as_object)
            .cloned(),
        input_schema: object
            .get("inputSchema")
            .and_then(Value::as_object)
            .map(Schema::from_file_json),
        output_schema: object
            .get("outputSchema")
            .and_then(Value::as_object)
            .map(Schema::from_file_json),
        input_value_hash: string("inputValueHash"),
        input_schema_hash: string("inputSchemaHash"),
        output_value_hash: string("outputValueHash"),
        output_schema_hash: string("outputSchemaHash"),
        status_code: status.map(|status| {
            status
                .get("code")
                .and_then(Value::as_f64)
                .map_or(0, go_int32)
        }),
        status_message: status
            .and_then(|status| status.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        timestamp: object.get("timestamp").and_then(seconds_nanos),
        duration: object.get("duration").and_then(seconds_nanos),
        environment,
    }
}

fn seconds_nanos(value: &Value) -> Option<(i64, i32)> {
    let object = value.as_object()?;
    let seconds = object.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
    let nanos = object
        .get("nanos")
        .and_then(Value::as_f64)
        .map_or(0, go_int32);
    // Go's float64 → int64 conversion truncates toward zero, as `as` does.
    Some((seconds as i64, nanos))
}

/// `maybeFixSpanKinds`: `ENV_VARS_SNAPSHOT` spans are INTERNAL; when any root span is not
/// SERVER, every kind is derived again (root → SERVER, others → CLIENT).
fn fix_span_kinds(spans: &mut [Span]) {
    for span in spans.iter_mut() {
        if span.name == "ENV_VARS_SNAPSHOT" {
            span.kind = SPAN_KIND_INTERNAL;
        }
    }
    let server = SPAN_KIND_SERVER as i32;
    if !spans
        .iter()
        .any(|span| span.is_root_span && span.kind != server)
    {
        return;
    }
    for span in spans.iter_mut() {
        span.kind = match () {
            () if span.name == "ENV_VARS_SNAPSHOT" => SPAN_KIND_INTERNAL,
            () if span.is_root_span => server,
            () => SPAN_KIND_CLIENT,
        };
    }
}

/// What the CLI replays for one trace file: the request it sends and what it expects.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayTest {
    /// The test id (the root span's `traceId`), sent as `x-td-trace-id`.
    pub trace_id: String,
    /// The HTTP method.
    pub method: String,
    /// Path and query, requested on the service's port.
    pub path: String,
    /// The headers the CLI sets (string, non-empty values only), after `x-td-trace-id`
    /// and, with a body, `Content-Type: application/json`.
    pub headers: BTreeMap<String, String>,
    /// The request body the CLI sends; `None` sends none.
    pub body: Option<Vec<u8>>,
    /// The expected status (a missing or zero status means 200).
    pub status: u16,
    /// The expected body, parsed as the CLI parses it; `None` when no body was recorded.
    pub expected_body: Option<Value>,
    /// The `decodedType` the CLI parses the actual body with.
    pub decoded_type: Option<DecodedType>,
    /// The environment the test runs in.
    pub environment: Option<String>,
}

impl ReplayTest {
    /// Whether `tusk drift run` replays this test locally: recorded statuses of 300 and
    /// above are skipped (`FilterLocalTestsForExecution`).
    pub fn is_replayed_locally(&self) -> bool {
        self.status < 300
    }
}

/// The test of a parsed trace file (`LoadTestFromTraceFile`): `None` without a root span.
pub fn replay_test(spans: &[Span]) -> Result<Option<ReplayTest>, ParseError> {
    let Some(root) = spans.iter().find(|span| span.is_root_span) else {
        return Ok(None);
    };
    let http =
        root.package_type == PACKAGE_TYPE_HTTP as i32 || root.package_type == PACKAGE_TYPE_GRAPHQL;
    let empty = Map::new();
    let input = root.input_value.as_ref().unwrap_or(&empty);
    let output = root.output_value.as_ref().unwrap_or(&empty);
    let non_empty_string = |map: &Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };

    let mut method = root.submodule_name.clone();
    let path = non_empty_string(input, "target").unwrap_or_default();
    let mut headers = BTreeMap::new();
    let mut body = None;
    let mut status = 200;
    let mut expected_body = None;
    let body_schema = |schema: &Option<Schema>| {
        schema
            .as_ref()
            .and_then(|schema| schema.properties.get("body"))
            .cloned()
    };
    let output_body_schema = body_schema(&root.output_schema);
    if http {
        if let Some(recorded) = non_empty_string(input, "method") {
            method = recorded;
        }
        if let Some(Value::Object(recorded)) = input.get("headers") {
            for (name, value) in recorded {
                if let Some(value) = value.as_str().filter(|value| !value.is_empty()) {
                    headers.insert(name.clone(), value.to_owned());
                }
            }
        }
        if let Some(recorded) = input.get("body") {
            let (bytes, _) = decode_value(recorded, body_schema(&root.input_schema).as_ref())
                .map_err(ParseError::RequestBody)?;
            body = Some(bytes);
        }
        if let Some(recorded) = output.get("statusCode").and_then(Value::as_f64)
            && recorded != 0.0
        {
            status = recorded as u16;
        }
        if let Some(recorded) = non_empty_string(output, "body") {
            let recorded = Value::String(recorded);
            expected_body = Some(match decode_value(&recorded, output_body_schema.as_ref()) {
                Ok((_, parsed)) => parsed,
                Err(_) => recorded,
            });
        }
    }
    Ok(Some(ReplayTest {
        trace_id: root.trace_id.clone(),
        method,
        path,
        headers,
        body,
        status,
        expected_body,
        decoded_type: output_body_schema
            .and_then(|schema| schema.decoded_type)
            .and_then(DecodedType::from_number),
        environment: root.environment.clone(),
    }))
}

/// `DecodeValueBySchema`: base64 (strict when the schema says BASE64 or gives no
/// encoding, else with a fall-back to the raw string), then parsed by `decodedType`.
fn decode_value(value: &Value, schema: Option<&Schema>) -> Result<(Vec<u8>, Value), String> {
    let Value::String(text) = value else {
        return Err(format!("expected value to be a string, got {value}"));
    };
    let strict = schema
        .and_then(|schema| schema.encoding)
        .is_none_or(|encoding| encoding == ENCODING_BASE64);
    let bytes = match BASE64.decode(text) {
        Ok(bytes) => bytes,
        Err(error) if strict => return Err(format!("failed to decode base64 value: {error}")),
        Err(_) => text.clone().into_bytes(),
    };
    let decoded_type = schema
        .and_then(|schema| schema.decoded_type)
        .and_then(DecodedType::from_number);
    let parsed = parse_body(&bytes, decoded_type);
    Ok((bytes, parsed))
}

/// `parseDecodedBytes`: how the CLI turns body bytes into the value it compares. JSON (and
/// an unspecified type) parses as JSON, falling back to a string; text types are strings;
/// binary types are their base64.
fn parse_body(bytes: &[u8], decoded_type: Option<DecodedType>) -> Value {
    let as_string = || Value::String(String::from_utf8_lossy(bytes).into_owned());
    match decoded_type {
        Some(kind) if kind.is_binary() => Value::String(BASE64.encode(bytes)),
        Some(DecodedType::Json) | None => {
            serde_json::from_slice(bytes).unwrap_or_else(|_| as_string())
        }
        Some(_) => as_string(),
    }
}
