//! The inbound replay span: what the SDK tells the CLI after answering a replayed request.
//!
//! The CLI (`internal/runner/server.go`, `handleInboundReplaySpanProtobuf`) stores the span
//! under its `trace_id`, acknowledges it with `CLIMessage{type: INBOUND_SPAN,
//! send_inbound_span_for_replay_response{success: true}}`, and, when run with
//! `TUSK_REQUIRE_INBOUND_REPLAY_SPAN=1`, fails a test whose span has not arrived 3 s after
//! the response. It reads nothing else from it for a local run; the other fields are the
//! same values a recorded trace holds, for display and upload.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use cov_proto::prost_types::{self, ListValue, Struct, value::Kind};
use cov_proto::{
    MessageType, PackageType, SdkMessage, SendInboundSpanForReplayRequest, Span, SpanKind,
    SpanStatus, StatusCode, sdk_message,
};
use cov_trace::InboundSpan;

/// The `SDKMessage` carrying `span` to the CLI.
pub(crate) fn message(span: &InboundSpan) -> SdkMessage {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let request_id = format!("inbound-span-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    SdkMessage {
        r#type: MessageType::InboundSpan as i32,
        request_id,
        payload: Some(sdk_message::Payload::SendInboundSpanForReplayRequest(
            SendInboundSpanForReplayRequest {
                span: Some(to_proto(span)),
            },
        )),
    }
}

fn to_proto(span: &InboundSpan) -> Span {
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
    }
}

fn to_struct(map: serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .into_iter()
            .map(|(key, value)| (key, to_value(value)))
            .collect(),
    }
}

fn to_value(value: serde_json::Value) -> prost_types::Value {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cov_trace::{HttpRequest, HttpResponse};

    use super::*;

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
        let message = message(&span);
        assert_eq!(message.r#type, MessageType::InboundSpan as i32);
        let Some(sdk_message::Payload::SendInboundSpanForReplayRequest(request)) = message.payload
        else {
            panic!("not an inbound span request");
        };
        let proto = request.span.unwrap();
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
