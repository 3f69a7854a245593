//! An outbound call recorded, then replayed through the mock messages: the SDK's request,
//! our driver's matcher and answer, the SDK reading the recorded response back. Both
//! messages also cross the real upstream types (`tusk-drift-schemas`), as they would to and
//! from the real CLI.

use std::time::{Duration, UNIX_EPOCH};

use cov_proto::prost_types::{Struct, Value as ProtoValue, value::Kind};
use cov_proto::{GetMockRequest, GetMockResponse, Message};
use cov_trace::matching::{MatchScope, MatchType, Matcher, TraceFile};
use cov_trace::schema::{Merge, Merges, Schema};
use cov_trace::{HttpRequest, HttpResponse, InboundSpan, OutboundSpan, http, read};
use cov_wire::span::{
    MockReplyError, MockRequestError, get_mock_request, json_schema, mock_output, mock_request,
    mock_response, schema_from_proto, to_struct,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tusk_drift_schemas::tusk::drift::core::v1 as upstream;

const TEST: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn recorded_call() -> OutboundSpan {
    let request = http::client_request(
        "POST",
        "https://api.example.com/v1/items?x=1",
        [
            ("content-type", "application/json"),
            ("x-request-id", "rec"),
        ],
        br#"{"sku":"apple"}"#,
    )
    .unwrap();
    let (output, status) = http::client_response(
        201,
        "Created",
        [("content-type", "application/json")],
        br#"{"id":7}"#,
    );
    OutboundSpan {
        trace_id: TEST.to_owned(),
        span_id: "00f067aa0ba902b7".to_owned(),
        parent_span_id: "root".to_owned(),
        output: Some(output),
        status,
        started: UNIX_EPOCH + Duration::from_secs(1_766_958_709),
        duration: Duration::from_millis(12),
        ..request.into_span()
    }
}

fn trace_file() -> TraceFile {
    let root = InboundSpan {
        trace_id: TEST.to_owned(),
        span_id: "root".to_owned(),
        request: HttpRequest::new("GET", "http://localhost/orders", "/orders"),
        response: HttpResponse {
            status: 200,
            ..HttpResponse::default()
        },
        ..InboundSpan::default()
    };
    let text = format!(
        "{}\n{}\n",
        recorded_call().to_json_line(),
        root.to_json_line()
    );
    TraceFile {
        path: format!("2026-01-01T00-00-00-000000Z_trace_{TEST}.jsonl"),
        spans: read::parse_spans(text.as_bytes()).unwrap(),
    }
}

/// Through the real upstream types and back, as the bytes go to and from the real CLI.
fn via_upstream<T: Message + Default, U: Message + Default>(value: &T) -> T {
    let upstream = U::decode(value.encode_to_vec().as_slice()).unwrap();
    T::decode(upstream.encode_to_vec().as_slice()).unwrap()
}

#[test]
fn a_replayed_call_gets_its_recorded_response() {
    let matcher = Matcher::new(vec![trace_file()]);
    matcher.start_test(TEST);
    // In replay the same call is made again, with a fresh header value and new ids.
    let request = http::client_request(
        "POST",
        "https://api.example.com/v1/items?x=1",
        [
            ("content-type", "application/json"),
            ("x-request-id", "replay"),
        ],
        br#"{"sku":"apple"}"#,
    )
    .unwrap();
    let replayed = OutboundSpan {
        trace_id: "ffffffffffffffffffffffffffffffff".to_owned(),
        span_id: "1111111111111111".to_owned(),
        ..request.into_span()
    };
    let message = get_mock_request("req-1", TEST, &replayed);
    let span = message.outbound_span.as_ref().unwrap();
    assert_eq!(span.kind, cov_proto::SpanKind::Client as i32);
    assert!(span.output_value.is_none() && span.output_schema.is_none());
    assert!(span.output_value_hash.is_empty());
    let message = via_upstream::<GetMockRequest, upstream::GetMockRequest>(&message);

    let response = matcher.find(&mock_request(&message).unwrap());
    let level = response.match_level.clone().unwrap();
    assert_eq!(
        (level.match_type, level.match_scope),
        (MatchType::InputValueHashReducedSchema, MatchScope::Trace)
    );
    let reply = mock_response(response, "req-1");
    assert_eq!(reply.request_id, "req-1");
    assert_eq!(reply.match_level.as_ref().unwrap().match_type, 2);
    let reply = via_upstream::<GetMockResponse, upstream::GetMockResponse>(&reply);

    let output = mock_output(&reply).unwrap().expect("a recorded output");
    let http::RecordedOutcome::Response(served) =
        http::recorded_outcome(&Value::Object(output)).unwrap()
    else {
        panic!("a response")
    };
    assert_eq!(served.status, 201);
    assert_eq!(served.status_message, "Created");
    assert_eq!(served.body, br#"{"id":7}"#);
    assert_eq!(
        served.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
}

#[test]
fn the_same_call_hashes_the_same_in_the_request_and_in_the_file() {
    let call = recorded_call();
    let message = get_mock_request("r", TEST, &call);
    let span = message.outbound_span.unwrap();
    let recorded = &trace_file().spans[0];
    assert_eq!(span.input_value_hash, recorded.input_value_hash);
    assert_eq!(span.input_schema_hash, recorded.input_schema_hash);
    // The schema sent is the schema written, field for field.
    assert_eq!(
        schema_from_proto(span.input_schema.as_ref().unwrap()),
        *recorded.input_schema.as_ref().unwrap()
    );
    // And the matcher's reduced hashes agree on both forms.
    let request = mock_request(&get_mock_request("r", TEST, &call)).unwrap();
    assert_eq!(
        cov_trace::matching::reduced_schema_hash(request.input_schema.as_ref()),
        cov_trace::matching::reduced_schema_hash(recorded.input_schema.as_ref())
    );
    assert_eq!(
        cov_trace::matching::reduced_value_hash(
            request.input_value.as_ref(),
            request.input_schema.as_ref()
        ),
        cov_trace::matching::reduced_value_hash(
            recorded.input_value.as_ref(),
            recorded.input_schema.as_ref()
        )
    );
}

#[test]
fn misses_and_malformed_replies_are_clear_errors() {
    let matcher = Matcher::new(vec![trace_file()]);
    matcher.start_test(TEST);
    let unseen = http::client_request("GET", "https://api.example.com/v2/other", [], b"")
        .unwrap()
        .into_span();
    let reply = mock_response(
        matcher.find(&mock_request(&get_mock_request("r", TEST, &unseen)).unwrap()),
        "r",
    );
    assert_eq!(
        mock_output(&reply),
        Err(MockReplyError::NotFound(
            "no mock found for  GET /v2/other: no matching span found".to_owned()
        ))
    );
    assert_eq!(
        mock_request(&GetMockRequest::default()),
        Err(MockRequestError::NoSpan)
    );
    let found = |data: Option<Struct>| GetMockResponse {
        found: true,
        response_data: data,
        ..GetMockResponse::default()
    };
    assert_eq!(
        mock_output(&found(None)),
        Err(MockReplyError::NoResponseData)
    );
    let data = |value: Value| Some(to_struct(value.as_object().unwrap().clone()));
    assert_eq!(
        mock_output(&found(data(json!({"response": "x"})))),
        Err(MockReplyError::NotAnInteraction)
    );
    assert_eq!(
        mock_output(&found(data(
            json!({"response": {"response": {"body": [1]}}})
        ))),
        Err(MockReplyError::OutputNotAnObject)
    );
    assert_eq!(
        mock_output(&found(data(
            json!({"response": {"response": {"status": 200}}})
        ))),
        Ok(None),
        "a span without an outputValue"
    );
    // A value without a kind decodes as null: no output.
    let mut odd = to_struct(
        json!({"response": {"response": {}}})
            .as_object()
            .unwrap()
            .clone(),
    );
    if let Some(Kind::StructValue(interaction)) = odd
        .fields
        .get_mut("response")
        .and_then(|value| value.kind.as_mut())
        && let Some(Kind::StructValue(served)) = interaction
            .fields
            .get_mut("response")
            .and_then(|value| value.kind.as_mut())
    {
        served
            .fields
            .insert("body".to_owned(), ProtoValue { kind: None });
    }
    assert_eq!(mock_output(&found(Some(odd))), Ok(None));
}

#[test]
fn merges_survive_into_the_request_schema() {
    let value = json!({"headers": {"a": "b"}, "body": "e30="});
    let merges: Merges = [
        ("headers".to_owned(), Merge::ignored()),
        (
            "body".to_owned(),
            Merge::base64(Some(cov_trace::DecodedType::Json)),
        ),
    ]
    .into();
    let proto = json_schema(&Schema::of(&value, &merges));
    assert_eq!(proto.properties["headers"].match_importance, Some(0.0));
    assert_eq!(proto.properties["body"].encoding, Some(1));
    assert_eq!(proto.properties["body"].decoded_type, Some(1));
}

fn schema() -> impl Strategy<Value = Schema> {
    let leaf = (
        0..10_i32,
        prop::option::of(0..2_i32),
        prop::option::of(0..25_i32),
        prop::option::of(prop_oneof![Just(0.0), Just(1.0), -1.0..2.0_f64]),
    )
        .prop_map(
            |(r#type, encoding, decoded_type, match_importance)| Schema {
                r#type,
                encoding,
                decoded_type,
                match_importance,
                ..Schema::default()
            },
        );
    leaf.prop_recursive(3, 32, 4, |inner| {
        (
            inner.clone(),
            prop::collection::btree_map("[a-d]", inner.clone(), 0..4),
            prop::option::of(inner),
        )
            .prop_map(|(mut node, properties, items)| {
                node.properties = properties;
                node.items = items.map(Box::new);
                node
            })
    })
}

proptest! {
    /// Every schema crosses the protobuf form unchanged, and hashes the same after.
    #[test]
    fn schemas_survive_the_protobuf_form(schema in schema()) {
        let back = schema_from_proto(&json_schema(&schema));
        prop_assert_eq!(back.hash(), schema.hash());
        prop_assert_eq!(
            cov_trace::matching::reduced_schema_hash(Some(&back)),
            cov_trace::matching::reduced_schema_hash(Some(&schema))
        );
        prop_assert_eq!(back, schema);
    }
}
