//! Outbound spans: the line we write, read back with the Tusk CLI's parse rules, and the
//! hash functions on arbitrary input.

use std::time::{Duration, UNIX_EPOCH};

use cov_trace::schema::{self, Merge, Merges, Schema};
use cov_trace::{OutboundSpan, SPAN_KIND_CLIENT, Status, http, read};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn http_span() -> OutboundSpan {
    let request = http::client_request(
        "POST",
        "https://api.example.com/v1/items?x=1",
        [("content-type", "application/json")],
        br#"{"a":1}"#,
    )
    .unwrap();
    let (output, status) = http::client_response(
        201,
        "Created",
        [("content-type", "application/json")],
        br#"{"id":7}"#,
    );
    OutboundSpan {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        span_id: "00f067aa0ba902b7".to_owned(),
        parent_span_id: "53995c3f42cd8ad8".to_owned(),
        output: Some(output),
        status,
        started: UNIX_EPOCH + Duration::new(1_766_958_709, 925_000_000),
        duration: Duration::new(0, 41_234_567),
        environment: Some("development".to_owned()),
        ..request.into_span()
    }
}

#[test]
fn the_line_reads_back_with_every_field_the_matcher_uses() {
    let span = http_span();
    let line = span.to_json_line();
    assert!(!line.contains('\n'));
    let spans = read::parse_spans(line.as_bytes()).unwrap();
    let [recorded] = spans.as_slice() else {
        panic!("one span")
    };
    let input = span.input_hashes();
    assert_eq!(recorded.trace_id, span.trace_id);
    assert_eq!(recorded.span_id, span.span_id);
    assert_eq!(recorded.parent_span_id, span.parent_span_id);
    assert_eq!(recorded.name, "POST /v1/items");
    assert_eq!(recorded.package_name, "https");
    assert_eq!(recorded.submodule_name, "POST");
    assert_eq!(recorded.instrumentation_name, http::INSTRUMENTATION_NAME);
    assert_eq!(recorded.package_type, 1);
    assert_eq!(recorded.kind, SPAN_KIND_CLIENT);
    assert!(!recorded.is_root_span && !recorded.is_pre_app_start);
    assert_eq!(recorded.input_value.as_ref(), Some(&span.input.value));
    assert_eq!(recorded.input_schema.as_ref(), Some(&input.schema));
    assert_eq!(recorded.input_value_hash, input.value_hash);
    assert_eq!(recorded.input_schema_hash, input.schema_hash);
    let output = span.output.as_ref().unwrap();
    assert_eq!(recorded.output_value.as_ref(), Some(&output.value));
    assert_eq!(recorded.output_value_hash, output.value_hash());
    assert_eq!(recorded.status_code, Some(1));
    assert_eq!(recorded.timestamp, Some((1_766_958_709, 925_000_000)));
    assert_eq!(recorded.duration, Some((0, 41_234_567)));
    assert_eq!(recorded.environment.as_deref(), Some("development"));
    // A file of outbound spans alone is no test.
    assert_eq!(read::replay_test(&spans).unwrap(), None);
    // The schemas carry what the CLI reads: headers ignored, the body base64 JSON.
    let schema = recorded.input_schema.as_ref().unwrap();
    assert!(schema.properties["headers"].is_ignored());
    assert_eq!(schema.properties["body"].encoding, Some(1));
    assert_eq!(schema.properties["body"].decoded_type, Some(1));
    assert_eq!(
        schema.properties["body"].properties["a"].r#type,
        schema::schema_type::NUMBER
    );
    // The recorded output reads back to the response.
    let http::RecordedOutcome::Response(response) =
        http::recorded_outcome(&Value::Object(recorded.output_value.clone().unwrap())).unwrap()
    else {
        panic!("a response")
    };
    assert_eq!(
        (response.status, response.body.as_slice()),
        (201, &br#"{"id":7}"#[..])
    );
}

#[test]
fn errors_and_pre_app_start_calls_are_recorded_as_such() {
    let (output, status) = http::transport_error("ConnectError", "connection refused");
    let span = OutboundSpan {
        output: Some(output),
        status,
        is_pre_app_start: true,
        ..http_span()
    };
    let value: Value = serde_json::from_str(&span.to_json_line()).unwrap();
    assert_eq!(
        value["status"],
        json!({"code": 2, "message": "connection refused"})
    );
    assert_eq!(value["isPreAppStart"], true);
    let running = OutboundSpan {
        output: None,
        status: Status::Ok,
        ..http_span()
    };
    let value: Value = serde_json::from_str(&running.to_json_line()).unwrap();
    assert!(value.get("outputValue").is_none() && value.get("outputValueHash").is_none());
    assert!(value.get("environment").is_some());
}

/// Any JSON value, nested a few levels, numbers of every kind.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        // Base64 of JSON and of bytes, for the decoded keys.
        "[A-Za-z0-9+/]{0,12}={0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn merges() -> impl Strategy<Value = Merges> {
    let merge = (
        prop::option::of(0..3_i32),
        prop::option::of(0..3_i32),
        prop::option::of(prop_oneof![Just(0.0), Just(1.0), any::<f64>()]),
    )
        .prop_map(|(encoding, decoded_type, match_importance)| Merge {
            encoding,
            decoded_type,
            match_importance,
        });
    prop::collection::btree_map("[a-c]{1,2}", merge, 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The hash functions take any JSON and any merges without panicking, agree with each
    /// other, and give 64 lowercase hex digits.
    #[test]
    fn hashing_never_panics_and_is_consistent(value in json_value(), merges in merges()) {
        let hashes = schema::hashes(&value, &merges);
        prop_assert_eq!(&hashes.value_hash, &schema::value_hash(&value, &merges));
        prop_assert_eq!(&hashes.schema_hash, &hashes.schema.hash());
        prop_assert_eq!(hashes.schema.clone(), Schema::of(&value, &merges));
        for hash in [&hashes.value_hash, &hashes.schema_hash] {
            prop_assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        if let Value::Object(map) = &value {
            prop_assert_eq!(schema::object_hashes(map, &merges), hashes.clone());
            prop_assert_eq!(schema::object_value_hash(map, &merges), hashes.value_hash.clone());
        }
        // The file form reads back to the same schema wherever JSON can hold the importance.
        if let Value::Object(file) = hashes.schema.to_file_json() {
            prop_assert_eq!(Schema::from_file_json(&file), hashes.schema);
        }
    }

    /// Key order never changes a hash.
    #[test]
    fn key_order_does_not_change_the_hash(pairs in prop::collection::vec(("[a-z]{1,3}", json_value()), 0..6)) {
        let forward: Map<String, Value> = pairs.iter().cloned().collect();
        let mut reversed = Map::new();
        for (key, value) in pairs.iter().rev() {
            if forward.get(key) == Some(value) && !reversed.contains_key(key) {
                reversed.insert(key.clone(), value.clone());
            }
        }
        prop_assume!(reversed == forward);
        prop_assert_eq!(
            schema::object_value_hash(&forward, &Merges::new()),
            schema::object_value_hash(&reversed, &Merges::new())
        );
    }
}
