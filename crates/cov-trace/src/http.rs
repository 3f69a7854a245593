//! HTTP client calls as outbound spans, in the shape of the Python SDK's requests/httpx
//! instrumentation (`drift/instrumentation/{requests,httpx}/instrumentation.py`), and a
//! recorded response back from a mock.
//!
//! - `inputValue`: `{method, url, protocol, hostname, port?, path, query, headers, body?,
//!   bodySize?}`: the method upper-cased, `url` as given, `protocol` its scheme, `port` only
//!   when the URL names one, `path` without the query (`/` when empty), `query` the URL's
//!   query decoded as a form (a repeated key becomes a list), `headers` with lowercased
//!   names (repeated ones joined with `", "`), `body` standard padded base64 and `bodySize`
//!   its byte count, both only for a non-empty body. Merges: `headers` ignored by reduced
//!   matching, `body` base64 with the [`decoded_type`] of the request's content type.
//! - `outputValue`: `{statusCode, statusMessage, headers, body?, bodySize}`, merges alike;
//!   span status ERROR `HTTP <code>` from 400 on.
//! - A transport error: `{errorName, errorMessage}`, status ERROR with the message.
//!
//! The span is named `METHOD /path`, its package is the URL's scheme (`http`/`https`, which
//! the CLI's HTTP shape guard keys on), its submodule the method.
//!
//! Header masking and body limits are the SDK's; this module only makes the value
//! deterministic, so the same call hashes the same in recording and in replay.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::BASE64;
use crate::body::DecodedType;
use crate::outbound::{OutboundSpan, PACKAGE_TYPE_HTTP, Payload, Status};
use crate::schema::{Merge, Merges};

/// The `instrumentationName` of the Rust SDK's HTTP client spans.
pub const INSTRUMENTATION_NAME: &str = "RustHttpClientInstrumentation";

/// Why a URL cannot be recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// No `scheme://`.
    #[error("URL {0:?} has no scheme")]
    NoScheme(String),
    /// No host after the scheme.
    #[error("URL {0:?} has no host")]
    NoHost(String),
    /// A port that is not a number from 0 to 65535.
    #[error("URL {0:?} has an invalid port")]
    InvalidPort(String),
}

/// The parts of an absolute URL an HTTP span records.
#[derive(Clone, Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: String,
    hostname: String,
    port: Option<u16>,
    path: &'a str,
    query: &'a str,
}

fn split_url(url: &str) -> Result<UrlParts<'_>, UrlError> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .ok_or_else(|| UrlError::NoScheme(url.to_owned()))?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| UrlError::NoHost(url.to_owned()))?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost(url.to_owned()));
    }
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(
            port.parse::<u16>()
                .map_err(|_| UrlError::InvalidPort(url.to_owned()))?,
        ),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Ok(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        hostname: host.to_ascii_lowercase(),
        port,
        path,
        query,
    })
}

/// The `decodedType` of a body with this `Content-Type`, by the Node SDK's table
/// (`src/instrumentation/libraries/http/utils/httpBodyEncoder.ts`, `getDecodedType`): the
/// media type before `;`, trimmed and lowercased, looked up exactly; otherwise JSON when it
/// contains `json`; otherwise none.
pub fn decoded_type(content_type: &str) -> Option<DecodedType> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    let decoded = match media_type.as_str() {
        "application/json" => DecodedType::Json,
        "text/html" => DecodedType::Html,
        "text/css" => DecodedType::Css,
        "text/javascript" | "application/javascript" | "application/x-javascript" => {
            DecodedType::Javascript
        }
        "text/xml" | "application/xml" => DecodedType::Xml,
        "image/svg+xml" => DecodedType::Svg,
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
            DecodedType::Yaml
        }
        "text/plain" => DecodedType::PlainText,
        "text/markdown" | "text/x-markdown" => DecodedType::Markdown,
        "text/csv" | "application/csv" => DecodedType::Csv,
        "application/sql" | "text/sql" => DecodedType::Sql,
        "application/graphql" => DecodedType::Graphql,
        "application/x-www-form-urlencoded" => DecodedType::FormData,
        "multipart/form-data" => DecodedType::MultipartForm,
        "application/pdf" => DecodedType::Pdf,
        "image/jpeg" | "image/jpg" | "image/bmp" | "image/tiff" => DecodedType::Jpeg,
        "image/png" | "image/ico" => DecodedType::Png,
        "image/gif" => DecodedType::Gif,
        "image/webp" => DecodedType::Webp,
        "audio/mpeg" | "audio/mp3" | "audio/wav" | "audio/ogg" | "audio/webm" => DecodedType::Audio,
        "video/mp4" | "video/webm" | "video/ogg" | "video/avi" | "video/mov" => DecodedType::Video,
        "application/zip" => DecodedType::Zip,
        "application/gzip" | "application/x-gzip" => DecodedType::Gzip,
        "application/octet-stream" | "application/tar" | "application/rar" | "application/7z" => {
            DecodedType::Binary
        }
        other if other.contains("json") => DecodedType::Json,
        _ => return None,
    };
    Some(decoded)
}

/// Lowercased names, sorted; repeated names joined with `", "` in the order given.
fn headers_object<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Map<String, Value> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        joined
            .entry(name.to_ascii_lowercase())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    joined
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect()
}

fn content_type(headers: &Map<String, Value>) -> Option<DecodedType> {
    headers
        .get("content-type")
        .and_then(Value::as_str)
        .and_then(decoded_type)
}

/// Adds `body`/`bodySize` and the headers and body merges.
fn add_body(value: &mut Map<String, Value>, merges: &mut Merges, body: &[u8]) {
    merges.insert("headers".to_owned(), Merge::ignored());
    if !body.is_empty() {
        let body_type = value
            .get("headers")
            .and_then(Value::as_object)
            .and_then(content_type);
        value.insert("body".to_owned(), BASE64.encode(body).into());
        merges.insert("body".to_owned(), Merge::base64(body_type));
    }
}

/// The request half of an HTTP client call: what the span is called and its input.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientRequest {
    /// `METHOD /path`.
    pub name: String,
    /// The URL's scheme, lowercased.
    pub package_name: String,
    /// The method, upper-cased.
    pub submodule_name: String,
    /// `inputValue` and its merges.
    pub input: Payload,
}

impl ClientRequest {
    /// An [`OutboundSpan`] of this request, named, typed and with its input; the caller
    /// sets ids, times, the output and the status.
    pub fn into_span(self) -> OutboundSpan {
        OutboundSpan {
            name: self.name,
            package_name: self.package_name,
            instrumentation_name: INSTRUMENTATION_NAME.to_owned(),
            submodule_name: self.submodule_name,
            package_type: PACKAGE_TYPE_HTTP,
            input: self.input,
            ..OutboundSpan::default()
        }
    }
}

/// The request of a call to `url` (absolute) with these headers and body.
pub fn client_request<'a>(
    method: &str,
    url: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> Result<ClientRequest, UrlError> {
    let parts = split_url(url)?;
    let method = method.to_ascii_uppercase();
    let path = if parts.path.is_empty() {
        "/"
    } else {
        parts.path
    };
    let mut query: Map<String, Value> = Map::new();
    for (key, value) in form_urlencoded::parse(parts.query.as_bytes()) {
        let value = Value::String(value.into_owned());
        match query.get_mut(key.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                query.insert(key.into_owned(), value);
            }
        }
    }
    let mut value = Map::new();
    value.insert("method".to_owned(), method.clone().into());
    value.insert("url".to_owned(), url.into());
    value.insert("protocol".to_owned(), parts.scheme.clone().into());
    value.insert("hostname".to_owned(), parts.hostname.into());
    if let Some(port) = parts.port {
        value.insert("port".to_owned(), port.into());
    }
    value.insert("path".to_owned(), path.into());
    value.insert("query".to_owned(), Value::Object(query));
    value.insert("headers".to_owned(), Value::Object(headers_object(headers)));
    let mut merges = Merges::new();
    add_body(&mut value, &mut merges, body);
    if !body.is_empty() {
        value.insert("bodySize".to_owned(), body.len().into());
    }
    Ok(ClientRequest {
        name: format!("{method} {path}"),
        package_name: parts.scheme,
        submodule_name: method,
        input: Payload { value, merges },
    })
}

/// The output and status of a response: `statusCode`, `statusMessage` (the reason
/// phrase), `headers`, `body` (the bytes the client delivered) and `bodySize`.
pub fn client_response<'a>(
    status: u16,
    reason: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> (Payload, Status) {
    let mut value = Map::new();
    value.insert("statusCode".to_owned(), status.into());
    value.insert("statusMessage".to_owned(), reason.into());
    value.insert("headers".to_owned(), Value::Object(headers_object(headers)));
    let mut merges = Merges::new();
    add_body(&mut value, &mut merges, body);
    value.insert("bodySize".to_owned(), body.len().into());
    let status = if status >= 400 {
        Status::Error(format!("HTTP {status}"))
    } else {
        Status::Ok
    };
    (Payload { value, merges }, status)
}

/// The field of a response's output saying that the application stopped reading the body
/// before its end: `body` holds what it read, and a replay must not pass that off as the
/// whole body. Ours, not the Tusk SDKs' (which read bodies whole); the CLI hands outputs
/// back as recorded.
pub const BODY_INCOMPLETE: &str = "bodyIncomplete";

/// Marks the output of [`client_response`] as holding only the part of the body the
/// application read ([`BODY_INCOMPLETE`]).
pub fn mark_body_incomplete(output: &mut Payload) {
    output
        .value
        .insert(BODY_INCOMPLETE.to_owned(), Value::Bool(true));
}

/// The output and status of a call that got no response: `{errorName, errorMessage}`.
pub fn transport_error(error_name: &str, error_message: &str) -> (Payload, Status) {
    let mut value = Map::new();
    value.insert("errorName".to_owned(), error_name.into());
    value.insert("errorMessage".to_owned(), error_message.into());
    (
        Payload {
            value,
            merges: Merges::new(),
        },
        Status::Error(error_message.to_owned()),
    )
}

/// What a recorded HTTP call returned, read back from its `outputValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordedOutcome {
    /// A response.
    Response(RecordedResponse),
    /// No response: the call failed in transport.
    TransportError {
        /// `errorName` ("" when absent).
        name: String,
        /// `errorMessage`.
        message: String,
    },
}

/// A recorded HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedResponse {
    /// `statusCode`, 100 to 999.
    pub status: u16,
    /// `statusMessage` ("" when absent).
    pub status_message: String,
    /// `headers` as recorded, one entry per value.
    pub headers: Vec<(String, String)>,
    /// The body bytes (`body` decoded from base64; empty when absent).
    pub body: Vec<u8>,
    /// Whether `body` is the whole body; `false` when the application stopped reading it
    /// before its end ([`BODY_INCOMPLETE`]).
    pub body_complete: bool,
}

impl RecordedResponse {
    /// The headers to replay with the decoded body: without `content-encoding`,
    /// `transfer-encoding` and `content-length`, which described the bytes on the wire, not
    /// the body the client delivered and the recording holds (the Python SDK drops the
    /// first two).
    pub fn replay_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(name, _)| {
                !["content-encoding", "transfer-encoding", "content-length"]
                    .iter()
                    .any(|dropped| name.eq_ignore_ascii_case(dropped))
            })
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// Why a recorded `outputValue` is not an HTTP response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordedShapeError {
    /// The output is not a JSON object.
    #[error("the recorded output is not a JSON object but {0}")]
    NotAnObject(String),
    /// Neither `statusCode` nor `errorMessage`.
    #[error("the recorded output has no statusCode")]
    StatusMissing,
    /// `statusCode` is not an integer from 100 to 999.
    #[error("the recorded statusCode {0} is not an HTTP status")]
    InvalidStatus(String),
    /// A field has the wrong JSON type.
    #[error("the recorded {field} is not {expected}")]
    WrongType {
        /// The field (`statusMessage`, `headers`, `headers.x`, `body`, `errorMessage`).
        field: String,
        /// What it should be.
        expected: &'static str,
    },
    /// `body` is not standard padded base64.
    #[error("the recorded body is not valid base64: {0}")]
    BodyNotBase64(String),
}

/// Reads a recorded `outputValue` (as served verbatim in
/// `GetMockResponse.response_data.response.response.body`) back into what the call returned.
pub fn recorded_outcome(output: &Value) -> Result<RecordedOutcome, RecordedShapeError> {
    let Value::Object(output) = output else {
        return Err(RecordedShapeError::NotAnObject(
            json_kind(output).to_owned(),
        ));
    };
    let string = |field: &str| -> Result<String, RecordedShapeError> {
        match output.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(RecordedShapeError::WrongType {
                field: field.to_owned(),
                expected: "a string",
            }),
        }
    };
    let Some(status) = output.get("statusCode") else {
        if output.contains_key("errorMessage") || output.contains_key("errorName") {
            return Ok(RecordedOutcome::TransportError {
                name: string("errorName")?,
                message: string("errorMessage")?,
            });
        }
        return Err(RecordedShapeError::StatusMissing);
    };
    let status = status
        .as_f64()
        .filter(|code| code.fract() == 0.0 && (100.0..=999.0).contains(code))
        .map(|code| code as u16)
        .ok_or_else(|| RecordedShapeError::InvalidStatus(status.to_string()))?;
    let mut headers = Vec::new();
    match output.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(recorded)) => {
            for (name, value) in recorded {
                let wrong = || RecordedShapeError::WrongType {
                    field: format!("headers.{name}"),
                    expected: "a string or a list of strings",
                };
                match value {
                    Value::String(text) => headers.push((name.clone(), text.clone())),
                    Value::Array(values) => {
                        for value in values {
                            let text = value.as_str().ok_or_else(wrong)?;
                            headers.push((name.clone(), text.to_owned()));
                        }
                    }
                    _ => return Err(wrong()),
                }
            }
        }
        Some(_) => {
            return Err(RecordedShapeError::WrongType {
                field: "headers".to_owned(),
                expected: "an object",
            });
        }
    }
    let body = BASE64
        .decode(string("body")?)
        .map_err(|error| RecordedShapeError::BodyNotBase64(error.to_string()))?;
    let body_complete = match output.get(BODY_INCOMPLETE) {
        None | Some(Value::Null | Value::Bool(false)) => true,
        Some(Value::Bool(true)) => false,
        Some(_) => {
            return Err(RecordedShapeError::WrongType {
                field: BODY_INCOMPLETE.to_owned(),
                expected: "a boolean",
            });
        }
    };
    Ok(RecordedOutcome::Response(RecordedResponse {
        status,
        status_message: string("statusMessage")?,
        headers,
        body,
        body_complete,
    }))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn urls_split_into_what_the_span_records() {
        let parts =
            split_url("HTTPS://user:pw@API.Example.com:8443/v1/items?x=1&y=2#frag").unwrap();
        assert_eq!(parts.scheme, "https");
        assert_eq!(parts.hostname, "api.example.com");
        assert_eq!(parts.port, Some(8443));
        assert_eq!((parts.path, parts.query), ("/v1/items", "x=1&y=2"));
        let ipv6 = split_url("http://[::1]:3000").unwrap();
        assert_eq!(
            (ipv6.hostname.as_str(), ipv6.port, ipv6.path),
            ("::1", Some(3000), "")
        );
        assert_eq!(
            split_url("localhost:3000/x"),
            Err(UrlError::NoScheme("localhost:3000/x".to_owned()))
        );
        assert!(matches!(split_url("http:///x"), Err(UrlError::NoHost(_))));
        assert!(matches!(
            split_url("http://h:99999/"),
            Err(UrlError::InvalidPort(_))
        ));
        assert!(matches!(
            split_url("http://h:x/"),
            Err(UrlError::InvalidPort(_))
        ));
        assert!(matches!(
            split_url("http://[::1/"),
            Err(UrlError::NoHost(_))
        ));
    }

    #[test]
    fn content_types_follow_the_node_sdk_table() {
        let cases = [
            ("application/json; charset=utf-8", Some(DecodedType::Json)),
            ("Application/Problem+JSON", Some(DecodedType::Json)),
            ("application/x-ndjson", Some(DecodedType::Json)),
            ("text/plain", Some(DecodedType::PlainText)),
            ("text/event-stream", None),
            ("image/bmp", Some(DecodedType::Jpeg)),
            ("image/ico", Some(DecodedType::Png)),
            ("image/x-icon", None),
            ("audio/mpeg", Some(DecodedType::Audio)),
            ("audio/flac", None),
            ("application/7z", Some(DecodedType::Binary)),
            ("image/svg+xml", Some(DecodedType::Svg)),
            ("", None),
        ];
        for (content_type, expected) in cases {
            assert_eq!(decoded_type(content_type), expected, "{content_type}");
        }
    }

    #[test]
    fn a_request_has_the_python_sdk_shape_and_is_deterministic() {
        let request = client_request(
            "post",
            "https://api.example.com/v1/items?x=1&tag=a&tag=b+c&empty=",
            [
                ("Content-Type", "application/json"),
                ("X-Trace", "1"),
                ("x-trace", "2"),
                ("Accept", "*/*"),
            ],
            br#"{"a":1}"#,
        )
        .unwrap();
        assert_eq!(request.name, "POST /v1/items");
        assert_eq!(request.package_name, "https");
        assert_eq!(request.submodule_name, "POST");
        assert_eq!(
            Value::Object(request.input.value.clone()),
            json!({
                "method": "POST",
                "url": "https://api.example.com/v1/items?x=1&tag=a&tag=b+c&empty=",
                "protocol": "https",
                "hostname": "api.example.com",
                "path": "/v1/items",
                "query": {"x": "1", "tag": ["a", "b c"], "empty": ""},
                "headers": {"accept": "*/*", "content-type": "application/json", "x-trace": "1, 2"},
                "body": "eyJhIjoxfQ==",
                "bodySize": 7,
            })
        );
        assert_eq!(request.input.merges["headers"], Merge::ignored());
        assert_eq!(
            request.input.merges["body"],
            Merge::base64(Some(DecodedType::Json))
        );
        // The same call with headers in another order hashes the same.
        let again = client_request(
            "POST",
            "https://api.example.com/v1/items?x=1&tag=a&tag=b+c&empty=",
            [
                ("accept", "*/*"),
                ("x-trace", "1"),
                ("content-type", "application/json"),
                ("X-TRACE", "2"),
            ],
            br#"{"a":1}"#,
        )
        .unwrap();
        assert_eq!(again.input.hashes(), request.input.hashes());
        // A bodiless GET: no body keys, no body merge, path "/" for an empty one.
        let get = client_request("GET", "http://localhost:8080", [], b"").unwrap();
        assert_eq!(get.name, "GET /");
        assert_eq!(get.input.value["port"], 8080);
        assert!(!get.input.value.contains_key("body"));
        assert!(!get.input.value.contains_key("bodySize"));
        assert!(!get.input.merges.contains_key("body"));
        let span = get.into_span();
        assert_eq!(span.package_type, PACKAGE_TYPE_HTTP);
        assert_eq!(span.instrumentation_name, INSTRUMENTATION_NAME);
    }

    #[test]
    fn responses_and_transport_errors_have_their_shapes_and_statuses() {
        let (output, status) = client_response(
            201,
            "Created",
            [("Content-Type", "application/json")],
            br#"{"id":7}"#,
        );
        assert_eq!(status, Status::Ok);
        assert_eq!(
            Value::Object(output.value.clone()),
            json!({"statusCode": 201, "statusMessage": "Created",
                   "headers": {"content-type": "application/json"},
                   "body": "eyJpZCI6N30=", "bodySize": 8})
        );
        let (empty, status) = client_response(404, "Not Found", [], b"");
        assert_eq!(status, Status::Error("HTTP 404".to_owned()));
        assert_eq!(empty.value["bodySize"], 0);
        assert!(!empty.value.contains_key("body"));
        let (error, status) = transport_error("ConnectError", "connection refused");
        assert_eq!(
            Value::Object(error.value),
            json!({"errorName": "ConnectError", "errorMessage": "connection refused"})
        );
        assert_eq!(status, Status::Error("connection refused".to_owned()));
    }

    #[test]
    fn recorded_outputs_read_back_to_what_the_call_returned() {
        let (output, _) = client_response(
            200,
            "OK",
            [("content-type", "text/plain"), ("content-encoding", "gzip")],
            b"hello",
        );
        let RecordedOutcome::Response(response) =
            recorded_outcome(&Value::Object(output.value)).unwrap()
        else {
            panic!("a response")
        };
        assert_eq!(response.status, 200);
        assert_eq!(response.status_message, "OK");
        assert_eq!(response.body, b"hello");
        assert_eq!(
            response.replay_headers().collect::<Vec<_>>(),
            [("content-type", "text/plain")]
        );
        let (error, _) = transport_error("Timeout", "timed out");
        assert_eq!(
            recorded_outcome(&Value::Object(error.value)).unwrap(),
            RecordedOutcome::TransportError {
                name: "Timeout".to_owned(),
                message: "timed out".to_owned()
            }
        );
        // Headers recorded as lists (one entry per value) and a float status of integer
        // value (what a protobuf Struct makes of every number) are accepted.
        let listed = json!({"statusCode": 302.0, "headers": {"set-cookie": ["a=1", "b=2"]}});
        let RecordedOutcome::Response(response) = recorded_outcome(&listed).unwrap() else {
            panic!("a response")
        };
        assert_eq!(response.status, 302);
        assert_eq!(response.headers.len(), 2);
        assert!(response.body.is_empty());
        assert!(response.body_complete);
        // A body the application stopped reading: what it read, marked as such.
        let (mut partial, _) = client_response(200, "OK", [], b"hel");
        mark_body_incomplete(&mut partial);
        let RecordedOutcome::Response(response) =
            recorded_outcome(&Value::Object(partial.value)).unwrap()
        else {
            panic!("a response")
        };
        assert_eq!(
            (response.body.as_slice(), response.body_complete),
            (&b"hel"[..], false)
        );
    }

    #[test]
    fn malformed_outputs_are_clear_errors() {
        let cases: [(Value, RecordedShapeError); 11] = [
            (
                json!([1]),
                RecordedShapeError::NotAnObject("a list".to_owned()),
            ),
            (
                json!("x"),
                RecordedShapeError::NotAnObject("a string".to_owned()),
            ),
            (json!({}), RecordedShapeError::StatusMissing),
            (
                json!({"statusCode": "200"}),
                RecordedShapeError::InvalidStatus("\"200\"".to_owned()),
            ),
            (
                json!({"statusCode": 99}),
                RecordedShapeError::InvalidStatus("99".to_owned()),
            ),
            (
                json!({"statusCode": 1000}),
                RecordedShapeError::InvalidStatus("1000".to_owned()),
            ),
            (
                json!({"statusCode": 200.5}),
                RecordedShapeError::InvalidStatus("200.5".to_owned()),
            ),
            (
                json!({"statusCode": 200, "headers": {"a": 1}}),
                RecordedShapeError::WrongType {
                    field: "headers.a".to_owned(),
                    expected: "a string or a list of strings",
                },
            ),
            (
                json!({"statusCode": 200, "headers": "a: b"}),
                RecordedShapeError::WrongType {
                    field: "headers".to_owned(),
                    expected: "an object",
                },
            ),
            (
                json!({"statusCode": 200, "body": 5}),
                RecordedShapeError::WrongType {
                    field: "body".to_owned(),
                    expected: "a string",
                },
            ),
            (
                json!({"statusCode": 200, "bodyIncomplete": "yes"}),
                RecordedShapeError::WrongType {
                    field: "bodyIncomplete".to_owned(),
                    expected: "a boolean",
                },
            ),
        ];
        for (output, expected) in cases {
            assert_eq!(recorded_outcome(&output), Err(expected), "{output}");
        }
        assert!(matches!(
            recorded_outcome(&json!({"statusCode": 200, "body": "not base64!"})),
            Err(RecordedShapeError::BodyNotBase64(_))
        ));
        assert!(matches!(
            recorded_outcome(&json!({"errorMessage": 3})),
            Err(RecordedShapeError::WrongType { .. })
        ));
    }
}
