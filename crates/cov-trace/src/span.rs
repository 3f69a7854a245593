//! The root span of an inbound HTTP request, and its JSON line.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::BASE64;
use crate::body::DecodedType;

/// Header name → value. Names are kept as given (the CLI sets them through Go's
/// `Header.Set`, which canonicalizes them); repeated headers are joined with `", "` by
/// whoever builds the map, since the CLI reads one string per name.
pub type Headers = BTreeMap<String, String>;

/// The request half of an inbound HTTP exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URL, for display (`http://host/path?query`); the CLI does not use it.
    pub url: String,
    /// Path and query: what the CLI requests on replay.
    pub target: String,
    /// `1.1`, `2`, ...
    pub http_version: String,
    /// The recorded request headers (the recorder has already dropped and masked some).
    pub headers: Headers,
    /// The whole request body.
    pub body: Vec<u8>,
    /// How the request body reads; see [`crate::classify_body`].
    pub body_type: Option<DecodedType>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: &str, url: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            target: target.to_owned(),
            http_version: "1.1".to_owned(),
            ..Self::default()
        }
    }
}

/// The response half of an inbound HTTP exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code the CLI compares.
    pub status: u16,
    /// The reason phrase (`OK`), for display.
    pub status_message: String,
    /// The response headers, for display: the CLI does not compare them.
    pub headers: Headers,
    /// The whole response body.
    pub body: Vec<u8>,
    /// How the CLI should parse the body before comparing; `None` lets it try JSON, else
    /// a string.
    pub body_type: Option<DecodedType>,
}

/// The root span of one inbound HTTP request: everything `tusk drift run` needs to
/// replay it as a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSpan {
    /// 32 lowercase hex digits; the test id.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The library that served the request (`packageName`), for display.
    pub package_name: String,
    /// The instrumentation that recorded it (`instrumentationName`), for display.
    pub instrumentation_name: String,
    /// The request.
    pub request: HttpRequest,
    /// The response.
    pub response: HttpResponse,
    /// When the request arrived.
    pub started: SystemTime,
    /// How long it took until the response body ended.
    pub duration: Duration,
    /// The environment the CLI groups tests by (one service start per environment).
    pub environment: Option<String>,
}

impl Default for InboundSpan {
    fn default() -> Self {
        Self {
            trace_id: String::new(),
            span_id: String::new(),
            package_name: "http".to_owned(),
            instrumentation_name: "RustTowerInstrumentation".to_owned(),
            request: HttpRequest::default(),
            response: HttpResponse::default(),
            started: UNIX_EPOCH,
            duration: Duration::ZERO,
            environment: None,
        }
    }
}

/// Upstream `PackageType.PACKAGE_TYPE_HTTP`: without it the CLI ignores headers, body and
/// status.
pub(crate) const PACKAGE_TYPE_HTTP: i64 = 1;
/// Upstream `SpanKind.SPAN_KIND_SERVER`.
pub(crate) const SPAN_KIND_SERVER: i64 = 2;
/// Upstream `StatusCode.STATUS_CODE_OK` and `STATUS_CODE_ERROR`.
const STATUS_CODE_OK: i64 = 1;
const STATUS_CODE_ERROR: i64 = 2;
/// Upstream `JsonSchemaType.JSON_SCHEMA_TYPE_STRING` and `..._OBJECT`.
const SCHEMA_TYPE_STRING: i64 = 2;
const SCHEMA_TYPE_OBJECT: i64 = 6;
/// Upstream `EncodingType.ENCODING_TYPE_BASE64`.
const ENCODING_BASE64: i64 = 1;

impl InboundSpan {
    /// `inputValue`: `{method, url, target, headers, httpVersion, body?, bodySize?}`, the
    /// body in base64 and left out when empty (an empty string would make the CLI send a
    /// JSON content type).
    pub fn input_value(&self) -> Map<String, Value> {
        let request = &self.request;
        let mut value = Map::new();
        value.insert("method".into(), request.method.clone().into());
        value.insert("url".into(), request.url.clone().into());
        value.insert("target".into(), request.target.clone().into());
        value.insert("headers".into(), headers_value(&request.headers));
        value.insert("httpVersion".into(), request.http_version.clone().into());
        if !request.body.is_empty() {
            value.insert("body".into(), BASE64.encode(&request.body).into());
            value.insert("bodySize".into(), request.body.len().into());
        }
        value
    }

    /// `outputValue`: `{statusCode, statusMessage, headers, body?, bodySize}`.
    pub fn output_value(&self) -> Map<String, Value> {
        let response = &self.response;
        let mut value = Map::new();
        value.insert("statusCode".into(), response.status.into());
        value.insert(
            "statusMessage".into(),
            response.status_message.clone().into(),
        );
        value.insert("headers".into(), headers_value(&response.headers));
        if !response.body.is_empty() {
            value.insert("body".into(), BASE64.encode(&response.body).into());
        }
        value.insert("bodySize".into(), response.body.len().into());
        value
    }

    /// The span's name, `GET /path` (the target without its query).
    pub fn name(&self) -> String {
        let path = self.request.target.split('?').next().unwrap_or_default();
        format!("{} {path}", self.request.method)
    }

    /// The span as one line of a trace file, without the line break. serde_json escapes
    /// every control character inside strings, so the line never contains one.
    pub fn to_json_line(&self) -> String {
        let started = self.started.duration_since(UNIX_EPOCH).unwrap_or_default();
        let status_code = if self.response.status >= 500 {
            STATUS_CODE_ERROR
        } else {
            STATUS_CODE_OK
        };
        let mut span = json!({
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "parentSpanId": "",
            "name": self.name(),
            "packageName": self.package_name,
            "instrumentationName": self.instrumentation_name,
            "submoduleName": self.request.method,
            "packageType": PACKAGE_TYPE_HTTP,
            "kind": SPAN_KIND_SERVER,
            "isRootSpan": true,
            "isPreAppStart": false,
            "inputValue": self.input_value(),
            "outputValue": self.output_value(),
            "outputSchema": body_schema(self.response.body_type),
            "status": {"code": status_code, "message": ""},
            "timestamp": {"seconds": started.as_secs(), "nanos": started.subsec_nanos()},
            "duration": {"seconds": self.duration.as_secs(), "nanos": self.duration.subsec_nanos()},
        });
        if !self.request.body.is_empty() {
            span["inputSchema"] = body_schema(self.request.body_type);
        }
        if let Some(environment) = &self.environment {
            span["environment"] = environment.clone().into();
        }
        span.to_string()
    }
}

fn headers_value(headers: &Headers) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::from(value.clone())))
            .collect(),
    )
}

/// `{"type": OBJECT, "properties": {"body": {"type": STRING, "encoding": BASE64,
/// "decodedType": N}}}`: how the CLI decodes a body.
fn body_schema(body_type: Option<DecodedType>) -> Value {
    let mut body =
        json!({"type": SCHEMA_TYPE_STRING, "properties": {}, "encoding": ENCODING_BASE64});
    if let Some(body_type) = body_type {
        body["decodedType"] = body_type.number().into();
    }
    json!({"type": SCHEMA_TYPE_OBJECT, "properties": {"body": body}})
}
