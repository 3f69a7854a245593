//! Spans on the wire: a trace file's span values as the protobuf `Span` the CLI reads, the
//! mock request and response of an outbound call, and JSON values as
//! `google.protobuf.Struct` and back.
//!
//! Outbound calls in REPLAY: the SDK sends [`get_mock_request`] (the call's [`outbound_span`]
//! with its input value, input schema and the two input hashes, as at record time) and reads
//! the answer with [`mock_output`]; our driver, playing the CLI, reads the request with
//! [`mock_request`], asks cov-trace's matcher, and answers with [`mock_response`].
//!
//! The inbound replay span is what the SDK tells the CLI after answering a replayed request.
//! The CLI (`internal/runner/server.go`, `handleInboundReplaySpanProtobuf`) stores it under
//! its `trace_id`, acknowledges it with `CLIMessage{type: INBOUND_SPAN,
//! send_inbound_span_for_replay_response{success: true}}`, and, when run with
//! `TUSK_REQUIRE_INBOUND_REPLAY_SPAN=1`, fails a test whose span has not arrived 3 s after
//! the response. It reads nothing else from it for a local run; the other fields are the
//! same values a recorded trace holds, for display and upload.

use std::time::UNIX_EPOCH;

use cov_proto::prost_types::{self, ListValue, Struct, value::Kind};
use cov_proto::{
    GetMockRequest, GetMockResponse, JsonSchema, PackageType, SimilarityCandidate, Span, SpanKind,
    SpanStatus, StatusCode,
};
use cov_trace::matching::{MatchLevel, MockRequest, MockResponse};
use cov_trace::schema::Schema;
use cov_trace::{InboundSpan, OutboundSpan};

/// The inbound replay span of `span`: a server root span with its request and response.
pub fn inbound_span(span: &InboundSpan) -> Span {
    let started = span.started.duration_since(UNIX_EPOCH).unwrap_or_default();
    let status = if span.response.status >= 500 {
        StatusCode::Error
    } else {
        StatusCode::Ok
    };
    Span {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        parent_span_id: String::new(),
        name: span.name(),
        package_name: span.package_name.clone(),
        instrumentation_name: span.instrumentation_name.clone(),
        submodule_name: span.request.method.clone(),
        package_type: PackageType::Http as i32,
        input_value: Some(to_struct(span.input_value())),
        output_value: Some(to_struct(span.output_value())),
        kind: SpanKind::Server as i32,
        status: Some(SpanStatus {
            code: status as i32,
            message: String::new(),
        }),
        is_pre_app_start: false,
        timestamp: Some(prost_types::Timestamp {
            seconds: i64::try_from(started.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(started.subsec_nanos()).unwrap_or_default(),
        }),
        duration: Some(prost_types::Duration {
            seconds: i64::try_from(span.duration.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(span.duration.subsec_nanos()).unwrap_or_default(),
        }),
        is_root_span: true,
        metadata: None,
        environment: span.environment.clone(),
        ..Span::default()
    }
}

/// The outbound span of a `GetMockRequest`: the call's ids, names, kind CLIENT, its input
/// value and schema and the two input hashes (computed here with cov-trace's algorithm,
/// the same as in the recorded line), its status, pre-app-start flag, start and duration.
/// The output fields stay empty, as the official SDKs leave them.
pub fn outbound_span(span: &OutboundSpan) -> Span {
    let input = span.input_hashes();
    let (seconds, nanos) = span.timestamp();
    let (duration_seconds, duration_nanos) = span.duration_parts();
    let (code, message) = span.status.code_and_message();
    Span {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        parent_span_id: span.parent_span_id.clone(),
        name: span.name.clone(),
        package_name: span.package_name.clone(),
        instrumentation_name: span.instrumentation_name.clone(),
        submodule_name: span.submodule_name.clone(),
        package_type: span.package_type,
        input_value: Some(to_struct(span.input.value.clone())),
        input_schema: Some(json_schema(&input.schema)),
        input_schema_hash: input.schema_hash,
        input_value_hash: input.value_hash,
        kind: SpanKind::Client as i32,
        status: Some(SpanStatus {
            code,
            message: message.to_owned(),
        }),
        is_pre_app_start: span.is_pre_app_start,
        timestamp: Some(prost_types::Timestamp { seconds, nanos }),
        duration: Some(prost_types::Duration {
            seconds: duration_seconds,
            nanos: duration_nanos,
        }),
        is_root_span: false,
        environment: span.environment.clone(),
        ..Span::default()
    }
}

/// The `GetMockRequest` for `span`: `request_id` is also the envelope's (the CLI answers
/// with the envelope's), `test_id` the replayed request's `x-td-trace-id` ("" outside one).
pub fn get_mock_request(request_id: &str, test_id: &str, span: &OutboundSpan) -> GetMockRequest {
    GetMockRequest {
        request_id: request_id.to_owned(),
        test_id: test_id.to_owned(),
        outbound_span: Some(outbound_span(span)),
        ..GetMockRequest::default()
    }
}

/// A schema as the protobuf `JsonSchema` (every field, presence kept).
pub fn json_schema(schema: &Schema) -> JsonSchema {
    JsonSchema {
        r#type: schema.r#type,
        properties: schema
            .properties
            .iter()
            .map(|(key, child)| (key.clone(), json_schema(child)))
            .collect(),
        items: schema
            .items
            .as_deref()
            .map(|items| Box::new(json_schema(items))),
        encoding: schema.encoding,
        decoded_type: schema.decoded_type,
        match_importance: schema.match_importance,
    }
}

/// A protobuf `JsonSchema` as a schema: [`json_schema`]'s inverse.
pub fn schema_from_proto(schema: &JsonSchema) -> Schema {
    Schema {
        r#type: schema.r#type,
        properties: schema
            .properties
            .iter()
            .map(|(key, child)| (key.clone(), schema_from_proto(child)))
            .collect(),
        items: schema
            .items
            .as_deref()
            .map(|items| Box::new(schema_from_proto(items))),
        encoding: schema.encoding,
        decoded_type: schema.decoded_type,
        match_importance: schema.match_importance,
    }
}

/// Why a `GetMockRequest` cannot be matched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MockRequestError {
    /// No `outbound_span` (the real CLI would dereference nil and crash).
    #[error("the mock request has no outbound span")]
    NoSpan,
}

/// What cov-trace's matcher reads from a `GetMockRequest` (the driver's side).
pub fn mock_request(request: &GetMockRequest) -> Result<MockRequest, MockRequestError> {
    let span = request
        .outbound_span
        .as_ref()
        .ok_or(MockRequestError::NoSpan)?;
    Ok(MockRequest {
        test_id: request.test_id.clone(),
        operation: request.operation.clone(),
        package_name: span.package_name.clone(),
        submodule_name: span.submodule_name.clone(),
        name: span.name.clone(),
        input_value: span.input_value.as_ref().map(from_struct),
        input_schema: span.input_schema.as_ref().map(schema_from_proto),
        input_value_hash: span.input_value_hash.clone(),
        input_schema_hash: span.input_schema_hash.clone(),
        is_pre_app_start: span.is_pre_app_start,
    })
}

/// The `GetMockResponse` of the matcher's answer (the driver's side); `request_id` is the
/// envelope's, as the CLI copies it.
pub fn mock_response(response: MockResponse, request_id: &str) -> GetMockResponse {
    GetMockResponse {
        request_id: request_id.to_owned(),
        found: response.found,
        match_level: response.match_level.as_ref().map(match_level),
        response_data: response.response_data.map(to_struct),
        error: response.error,
        ..GetMockResponse::default()
    }
}

fn match_level(level: &MatchLevel) -> cov_proto::MatchLevel {
    cov_proto::MatchLevel {
        match_type: level.match_type as i32,
        match_scope: level.match_scope as i32,
        match_description: level.description.clone(),
        similarity_score: level.similarity_score,
        top_candidates: level
            .top_candidates
            .iter()
            .map(|(span_id, score)| SimilarityCandidate {
                span_id: span_id.clone(),
                score: *score,
            })
            .collect(),
    }
}

/// Why a `GetMockResponse` holds no recorded output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MockReplyError {
    /// `found` is false; the CLI's reason.
    #[error("no mock: {0}")]
    NotFound(String),
    /// `found` but no `response_data`.
    #[error("the mock response has no response_data")]
    NoResponseData,
    /// `response_data` lacks the `response.response` object of a MockInteraction.
    #[error("the mock response_data has no response.response object")]
    NotAnInteraction,
    /// The recorded output (`response.response.body`) is not an object.
    #[error("the recorded output is not a JSON object")]
    OutputNotAnObject,
}

/// The recorded `outputValue` a `GetMockResponse` serves (`response_data.response.response.body`,
/// the SDK's side); `None` when the recorded span had none.
pub fn mock_output(
    response: &GetMockResponse,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, MockReplyError> {
    if !response.found {
        return Err(MockReplyError::NotFound(response.error.clone()));
    }
    let data = response
        .response_data
        .as_ref()
        .ok_or(MockReplyError::NoResponseData)?;
    let served = data
        .fields
        .get("response")
        .and_then(|interaction| match &interaction.kind {
            Some(Kind::StructValue(interaction)) => interaction.fields.get("response"),
            _ => None,
        })
        .and_then(|response| match &response.kind {
            Some(Kind::StructValue(response)) => Some(response),
            _ => None,
        })
        .ok_or(MockReplyError::NotAnInteraction)?;
    match served.fields.get("body").map(from_value) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(output)) => Ok(Some(output)),
        Some(_) => Err(MockReplyError::OutputNotAnObject),
    }
}

/// A JSON object as a protobuf `Struct`. Numbers become `f64`, as protobuf has no other.
pub fn to_struct(map: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .into_iter()
            .map(|(key, value)| (key, to_value(value)))
            .collect(),
    }
}

/// A JSON value as a protobuf `Value`.
pub fn to_value(value: serde_json::Value) -> prost_types::Value {
    use serde_json::Value as Json;
    let kind = match value {
        Json::Null => Kind::NullValue(prost_types::NullValue::NullValue as i32),
        Json::Bool(value) => Kind::BoolValue(value),
        Json::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        Json::String(text) => Kind::StringValue(text),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A protobuf `Struct` back to a JSON object: [`to_struct`]'s inverse on every value a
/// `Struct` can carry. A number with no fractional part within ±2^53 comes back as an
/// integer (`3.0` → `3`), as the Tusk CLI's Go JSON encoder prints it; other numbers stay
/// floats, and a non-finite number (which JSON cannot hold) becomes `null`.
pub fn from_struct(value: &Struct) -> serde_json::Map<String, serde_json::Value> {
    value
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), from_value(value)))
        .collect()
}

/// A protobuf `Value` back to JSON; see [`from_struct`]. A `Value` without a kind is `null`.
pub fn from_value(value: &prost_types::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(value)) => Json::Bool(*value),
        Some(Kind::NumberValue(number)) => json_number(*number),
        Some(Kind::StringValue(text)) => Json::String(text.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(map)) => Json::Object(from_struct(map)),
    }
}

/// The largest integer every `f64` below it represents exactly.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

fn json_number(number: f64) -> serde_json::Value {
    if number.fract() == 0.0 && number.abs() <= EXACT_INTEGERS {
        // Exact: the magnitude is at most 2^53 and there is no fraction.
        #[allow(clippy::cast_possible_truncation)]
        return serde_json::Value::from(number as i64);
    }
    serde_json::Number::from_f64(number).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cov_trace::{HttpRequest, HttpResponse};

    use super::*;

    #[test]
    fn json_survives_a_struct_round_trip() {
        let value = serde_json::json!({
            "text": "SELECT 1", "count": 3, "ratio": 0.5, "none": null, "flag": true,
            "list": [1, "two", [3.25], {"four": -4}], "big": 9_007_199_254_740_992_u64,
        });
        let serde_json::Value::Object(map) = value.clone() else {
            unreachable!()
        };
        assert_eq!(
            serde_json::Value::Object(from_struct(&to_struct(map))),
            value
        );
        assert_eq!(json_number(f64::NAN), serde_json::Value::Null);
        assert_eq!(json_number(1e300), serde_json::json!(1e300));
    }

    #[test]
    fn the_span_carries_the_replayed_trace_id_as_a_server_root_span() {
        let span = InboundSpan {
            trace_id: "recorded-trace".to_owned(),
            span_id: "00f067aa0ba902b7".to_owned(),
            request: HttpRequest::new("GET", "http://localhost/health", "/health?x=1"),
            response: HttpResponse {
                status: 200,
                body: b"ok".to_vec(),
                ..HttpResponse::default()
            },
            started: UNIX_EPOCH + Duration::new(5, 6),
            duration: Duration::from_millis(3),
            ..InboundSpan::default()
        };
        let proto = inbound_span(&span);
        assert_eq!(proto.trace_id, "recorded-trace");
        assert!(proto.is_root_span);
        assert_eq!(proto.kind, SpanKind::Server as i32);
        assert_eq!(proto.package_type, PackageType::Http as i32);
        assert_eq!(proto.name, "GET /health");
        assert_eq!(
            proto.timestamp,
            Some(prost_types::Timestamp {
                seconds: 5,
                nanos: 6
            })
        );
        let output = proto.output_value.unwrap();
        assert_eq!(
            output.fields["statusCode"].kind,
            Some(Kind::NumberValue(200.0))
        );
        assert_eq!(
            output.fields["body"].kind,
            Some(Kind::StringValue("b2s=".to_owned()))
        );
        let input = proto.input_value.unwrap();
        assert_eq!(
            input.fields["target"].kind,
            Some(Kind::StringValue("/health?x=1".to_owned()))
        );
    }
}
