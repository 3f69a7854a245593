//! The CLI's mock matcher on trace files written by our own recorder types.

use std::time::{Duration, UNIX_EPOCH};

use cov_trace::matching::{MatchScope, MatchType, Matcher, MockRequest, MockResponse, TraceFile};
use cov_trace::schema::{Merge, Merges, Schema};
use cov_trace::{HttpRequest, HttpResponse, InboundSpan, OutboundSpan, Payload, http, read};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TEST_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TEST_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// An HTTP call recorded as span `span_id` of trace `trace_id`, `at` seconds after the
/// epoch.
fn call(
    (trace_id, span_id, at): (&str, &str, u64),
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    answer: &[u8],
) -> OutboundSpan {
    let request = http::client_request(method, url, headers.iter().copied(), body).unwrap();
    let (output, status) =
        http::client_response(200, "OK", [("content-type", "application/json")], answer);
    OutboundSpan {
        trace_id: trace_id.to_owned(),
        span_id: span_id.to_owned(),
        parent_span_id: "root".to_owned(),
        output: Some(output),
        status,
        started: UNIX_EPOCH + Duration::from_secs(at),
        ..request.into_span()
    }
}

fn root(trace_id: &str) -> String {
    InboundSpan {
        trace_id: trace_id.to_owned(),
        span_id: "root".to_owned(),
        request: HttpRequest::new("GET", "http://localhost/x", "/x"),
        response: HttpResponse {
            status: 200,
            ..HttpResponse::default()
        },
        ..InboundSpan::default()
    }
    .to_json_line()
}

/// A trace file as the recorder writes it: outbound spans first, the root span last.
fn file(path: &str, spans: &[OutboundSpan], root_trace: Option<&str>) -> TraceFile {
    let mut text: String = spans
        .iter()
        .map(|span| span.to_json_line() + "\n")
        .collect();
    if let Some(trace_id) = root_trace {
        text.push_str(&root(trace_id));
    }
    TraceFile {
        path: path.to_owned(),
        spans: read::parse_spans(text.as_bytes()).unwrap(),
    }
}

/// The GetMockRequest our SDK would send for `span` in test `test_id`.
fn request_for(span: &OutboundSpan, test_id: &str) -> MockRequest {
    let hashes = span.input_hashes();
    MockRequest {
        test_id: test_id.to_owned(),
        operation: String::new(),
        package_name: span.package_name.clone(),
        submodule_name: span.submodule_name.clone(),
        name: span.name.clone(),
        input_value: Some(span.input.value.clone()),
        input_schema: Some(hashes.schema),
        input_value_hash: hashes.value_hash,
        input_schema_hash: hashes.schema_hash,
        is_pre_app_start: span.is_pre_app_start,
    }
}

fn served_body(response: &MockResponse) -> Value {
    response.response_data.as_ref().unwrap()["response"]["response"]["body"].clone()
}

fn served(response: &MockResponse) -> (&str, MatchType, MatchScope, &str) {
    assert!(response.found, "not found: {}", response.error);
    let level = response.match_level.as_ref().unwrap();
    (
        response.matched.as_ref().unwrap().1.as_str(),
        level.match_type,
        level.match_scope,
        level.description.as_str(),
    )
}

#[test]
fn identical_calls_are_served_in_recorded_order_then_reused() {
    let get = |span: &str, at, answer: &[u8]| {
        call(
            (TEST_A, span, at),
            "GET",
            "http://rates/v1/eur",
            &[],
            b"",
            answer,
        )
    };
    // Written out of order: the matcher orders by timestamp.
    let spans = [get("second", 20, b"2"), get("first", 10, b"1")];
    let matcher = Matcher::new(vec![file("a_trace_a.jsonl", &spans, Some(TEST_A))]);
    assert_eq!(matcher.test_ids().collect::<Vec<_>>(), [TEST_A]);
    matcher.start_test(TEST_A);
    let request = request_for(&spans[0], TEST_A);
    let answers: Vec<_> = (0..3).map(|_| matcher.find(&request)).collect();
    assert_eq!(
        served(&answers[0]),
        (
            "first",
            MatchType::InputValueHash,
            MatchScope::Trace,
            "Unused span by input value hash"
        )
    );
    assert_eq!(served(&answers[1]).0, "second");
    assert_eq!(
        served(&answers[2]),
        (
            "first",
            MatchType::InputValueHash,
            MatchScope::Trace,
            "Used span by input value hash"
        )
    );
    // The body served is the recorded outputValue, verbatim.
    assert_eq!(
        served_body(&answers[0]),
        Value::Object(spans[1].output.clone().unwrap().value)
    );
    // A finished test forgets its usage; started again, it starts over.
    matcher.finish_test(TEST_A);
    matcher.start_test(TEST_A);
    assert_eq!(served(&matcher.find(&request)).0, "first");
}

#[test]
fn the_response_data_is_the_clis_mock_interaction() {
    let mut span = call(
        (TEST_A, "s1", 0),
        "POST",
        "https://api.example.com/v1/items?x=1",
        &[("Content-Type", "application/json")],
        br#"{"a":1}"#,
        br#"{"id":7}"#,
    );
    span.started = UNIX_EPOCH + Duration::new(1_766_958_709, 925_000_000);
    let matcher = Matcher::new(vec![file("t_trace_a.jsonl", &[span.clone()], Some(TEST_A))]);
    matcher.start_test(TEST_A);
    let response = matcher.find(&request_for(&span, ""));
    let output = span.output.clone().unwrap().value;
    assert_eq!(
        Value::Object(response.response_data.unwrap()),
        json!({"response": {
            "service": "https",
            "request": {
                "method": "POST",
                "path": "",
                "headers": {"content-type": ["application/json"]},
                "body": span.input.value,
            },
            "response": {
                "status": 200,
                "headers": {"content-type": ["application/json"]},
                "body": output,
            },
            "order": 1,
            "timestamp": "2025-12-28T21:51:49.925Z",
        }})
    );
    assert!(response.error.is_empty());
}

#[test]
fn reduced_hashes_ignore_headers() {
    let recorded = call(
        (TEST_A, "s1", 1),
        "GET",
        "http://rates/v1/eur",
        &[("x-request-id", "1")],
        b"",
        b"1",
    );
    let matcher = Matcher::new(vec![file("t_trace_a.jsonl", &[recorded], Some(TEST_A))]);
    matcher.start_test(TEST_A);
    let replayed = call(
        (TEST_A, "r1", 9),
        "GET",
        "http://rates/v1/eur",
        &[("x-request-id", "2")],
        b"",
        b"",
    );
    assert_eq!(
        served(&matcher.find(&request_for(&replayed, TEST_A))),
        (
            "s1",
            MatchType::InputValueHashReducedSchema,
            MatchScope::Trace,
            "Unused span by input value hash with reduced schema"
        )
    );
}

#[test]
fn schema_matches_pass_the_http_shape_guard_and_rank_by_similarity() {
    let post = |span: &str, at, path: &str, body: &[u8]| {
        call(
            (TEST_A, span, at),
            "POST",
            &format!("http://shop{path}"),
            &[("content-type", "application/json")],
            body,
            span.as_bytes(),
        )
    };
    let spans = [
        post("far", 1, "/orders", br#"{"sku":"zzzzzzzzzz","qty":9}"#),
        post("near", 2, "/orders", br#"{"sku":"apple","qty":3}"#),
        post("other-path", 3, "/refunds", br#"{"sku":"apple","qty":4}"#),
    ];
    let matcher = Matcher::new(vec![file("t_trace_a.jsonl", &spans, Some(TEST_A))]);
    matcher.start_test(TEST_A);
    // Same shape, a new value: no hash matches; the schema hash does, on two paths.
    let replayed = post("r", 9, "/orders", br#"{"sku":"apples","qty":3}"#);
    let response = matcher.find(&request_for(&replayed, TEST_A));
    let (span, match_type, scope, description) = served(&response);
    assert_eq!(
        (span, match_type, scope),
        ("near", MatchType::InputSchemaHash, MatchScope::Trace)
    );
    assert!(
        description.starts_with("Unused span by input schema hash (similarity: "),
        "{description}"
    );
    let level = response.match_level.unwrap();
    assert!(level.similarity_score.unwrap() > level.top_candidates[0].1);
    assert_eq!(level.top_candidates.len(), 1);
    assert_eq!(level.top_candidates[0].0, "far");
    // A path that was never recorded is refused by the guard, whatever the schema says.
    let unseen = post("r2", 9, "/carts", br#"{"sku":"apple","qty":3}"#);
    let response = matcher.find(&request_for(&unseen, TEST_A));
    assert!(!response.found);
    assert_eq!(
        response.error,
        "no mock found for  POST /carts: no matching span found"
    );
    assert_eq!(response.match_level, None);
    assert_eq!(response.response_data, None);
}

/// A database call: a query and its parameters, no importance-0 field.
fn query(
    trace_id: &str,
    span_id: &str,
    package: &str,
    sql: &str,
    pre_app_start: bool,
) -> OutboundSpan {
    let mut value = Map::new();
    value.insert("query".to_owned(), sql.into());
    value.insert("parameters".to_owned(), json!([]));
    OutboundSpan {
        trace_id: trace_id.to_owned(),
        span_id: span_id.to_owned(),
        name: format!("{package}.query"),
        package_name: package.to_owned(),
        submodule_name: "query".to_owned(),
        package_type: cov_trace::PACKAGE_TYPE_PG,
        input: Payload {
            value,
            merges: Merges::new(),
        },
        output: Some(Payload {
            value: json!({"rows": [[1]]}).as_object().unwrap().clone(),
            merges: Merges::new(),
        }),
        is_pre_app_start: pre_app_start,
        ..OutboundSpan::default()
    }
}

#[test]
fn psycopg_queries_never_fall_back_to_schema_matching_and_other_packages_do() {
    for (package, guarded) in [("psycopg", true), ("psycopg2", true), ("postgres", false)] {
        let recorded = query(TEST_A, "q1", package, "SELECT 1", false);
        let matcher = Matcher::new(vec![file("t_trace_a.jsonl", &[recorded], Some(TEST_A))]);
        matcher.start_test(TEST_A);
        let other = query(TEST_A, "r", package, "SELECT 2", false);
        let response = matcher.find(&request_for(&other, TEST_A));
        assert_eq!(response.found, !guarded, "{package}");
        if guarded {
            assert_eq!(
                response.error,
                format!("no mock found for  {package}.query: no matching span found")
            );
        }
    }
}

#[test]
fn pre_app_start_calls_are_served_from_the_suite_without_being_used_up() {
    let startup = query(
        "cccccccccccccccccccccccccccccccc",
        "boot",
        "postgres",
        "SELECT version()",
        true,
    );
    let matcher = Matcher::new(vec![
        // A file of its own, without a root span: only a suite span.
        file("0_trace_c.jsonl", std::slice::from_ref(&startup), None),
        file("1_trace_a.jsonl", &[], Some(TEST_A)),
    ]);
    assert_eq!(matcher.test_ids().collect::<Vec<_>>(), [TEST_A]);
    assert_eq!(
        matcher.suite_len(),
        2,
        "the pre-app-start span and the root span"
    );
    // Before any test: no test id, pre-app-start.
    let request = request_for(&startup, "");
    for _ in 0..2 {
        assert_eq!(
            served(&matcher.find(&request)),
            (
                "boot",
                MatchType::InputValueHash,
                MatchScope::Global,
                "Suite unused span by input value hash"
            )
        );
    }
    // A pre-app-start query never recorded: the schema fallback over pre-app-start spans.
    let other = query("x", "r", "postgres", "SELECT now()", true);
    let response = matcher.find(&request_for(&other, ""));
    let (span, match_type, scope, description) = served(&response);
    assert_eq!(
        (span, match_type, scope),
        ("boot", MatchType::InputSchemaHash, MatchScope::Global)
    );
    assert!(description.starts_with("Suite unused span by input schema hash (similarity: "));
    // That one is marked used.
    let again = matcher.find(&request_for(&other, ""));
    let (_, _, _, description) = served(&again);
    assert!(
        description.starts_with("Suite used span by input schema hash"),
        "{description}"
    );
    // Not pre-app-start and no test: nothing, and Go's nil error in the text.
    let later = query("x", "r", "postgres", "SELECT now()", false);
    let response = matcher.find(&request_for(&later, ""));
    assert_eq!(response.error, "no mock found for  postgres.query: <nil>");
}

#[test]
fn another_tests_calls_are_found_suite_wide() {
    let only_in_a = call(
        (TEST_A, "a1", 1),
        "GET",
        "http://rates/v1/usd",
        &[],
        b"",
        b"1",
    );
    let matcher = Matcher::new(vec![
        file(
            "a_trace_a.jsonl",
            std::slice::from_ref(&only_in_a),
            Some(TEST_A),
        ),
        file("b_trace_b.jsonl", &[], Some(TEST_B)),
    ]);
    matcher.start_test(TEST_B);
    assert_eq!(
        served(&matcher.find(&request_for(&only_in_a, TEST_B))),
        (
            "a1",
            MatchType::InputValueHash,
            MatchScope::Global,
            "Suite unused span by input value hash"
        )
    );
}

#[test]
fn unknown_tests_and_files_in_subdirectories_follow_the_clis_loading() {
    let in_a = call(
        (TEST_A, "a1", 1),
        "GET",
        "http://rates/v1/usd",
        &[],
        b"",
        b"1",
    );
    let matcher = Matcher::new(vec![
        file(
            "nested/a_trace_a.jsonl",
            std::slice::from_ref(&in_a),
            Some(TEST_A),
        ),
        file("notes.txt", &[], Some(TEST_B)),
    ]);
    // Tests are found in subdirectories; only `.jsonl` files are tests.
    assert_eq!(matcher.test_ids().collect::<Vec<_>>(), [TEST_A]);
    // A test id never started is looked up among the top-level files only.
    let response = matcher.find(&request_for(&in_a, TEST_A));
    assert!(!response.found);
    assert_eq!(
        response.error,
        format!(
            "failed to load spans for trace {TEST_A}: no trace file found for trace ID {TEST_A}"
        )
    );
    // At the top level it is loaded on demand, from a file whose name has the id.
    let name = format!("2026-01-01T00-00-00-000000Z_trace_{TEST_A}.jsonl");
    let matcher = Matcher::new(vec![file(&name, std::slice::from_ref(&in_a), Some(TEST_A))]);
    assert_eq!(served(&matcher.find(&request_for(&in_a, TEST_A))).0, "a1");
}

#[test]
fn the_matcher_is_shared_between_threads() {
    let get = |span: &str, at| {
        call(
            (TEST_A, span, at),
            "GET",
            "http://rates/v1/eur",
            &[],
            b"",
            b"1",
        )
    };
    let spans: Vec<_> = (0..8).map(|i| get(&format!("s{i}"), i)).collect();
    let matcher = Matcher::new(vec![file("t_trace_a.jsonl", &spans, Some(TEST_A))]);
    matcher.start_test(TEST_A);
    let request = request_for(&spans[0], TEST_A);
    let mut served_ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| matcher.find(&request).matched.unwrap().1))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    served_ids.sort();
    // Every recorded call is served exactly once.
    let expected: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    assert_eq!(served_ids, expected);
}

fn flat_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        "[a-f]",
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            "[a-z<>&]{0,6}".prop_map(Value::from),
            Just(Value::Null),
            prop::collection::vec(any::<bool>().prop_map(Value::from), 0..3).prop_map(Value::Array),
        ],
        1..6,
    )
    .prop_map(|map| map.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The CLI's reduced value hash ignores exactly the importance-0 keys: changing the
    /// value of one of them never changes it, changing another key's value always does.
    #[test]
    fn the_reduced_hash_ignores_exactly_the_importance_0_keys(
        value in flat_object(),
        ignored in prop::collection::btree_set("[a-f]", 0..4),
        changed_key in "[a-f]",
        replacement in "[a-z]{7}",
    ) {
        prop_assume!(value.contains_key(&changed_key));
        let merges: Merges = ignored.iter().map(|key| (key.clone(), Merge::ignored())).collect();
        let schema = Schema::of(&Value::Object(value.clone()), &merges);
        let before = cov_trace::matching::reduced_value_hash(Some(&value), Some(&schema));
        let mut changed = value.clone();
        changed.insert(changed_key.clone(), Value::from(replacement));
        let after = cov_trace::matching::reduced_value_hash(Some(&changed), Some(&schema));
        if ignored.contains(&changed_key) {
            prop_assert_eq!(before, after);
        } else {
            prop_assert_ne!(before, after);
        }
    }
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("statusCode".to_owned()),
                    Just("headers".to_owned()),
                    Just("body".to_owned()),
                    Just("errorMessage".to_owned()),
                    "[a-z]{1,3}"
                ],
                inner,
                0..4
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A span line with arbitrary values under the keys the CLI reads.
fn any_span_line() -> impl Strategy<Value = String> {
    prop::collection::btree_map(
        prop_oneof![
            Just("traceId"),
            Just("spanId"),
            Just("packageName"),
            Just("name"),
            Just("isRootSpan"),
            Just("isPreAppStart"),
            Just("inputValue"),
            Just("inputSchema"),
            Just("inputValueHash"),
            Just("inputSchemaHash"),
            Just("outputValue"),
            Just("timestamp"),
        ],
        any_json(),
        0..10,
    )
    .prop_map(|map| {
        Value::Object(
            map.into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
        .to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A recorded output of any shape is read back or refused with an error, never a panic.
    #[test]
    fn any_recorded_output_reads_or_is_refused(output in any_json()) {
        let _ = http::recorded_outcome(&output);
    }

    /// Files of any span shapes load, and any request against them is answered (found or
    /// not) without a panic.
    #[test]
    fn any_files_and_requests_are_answered(
        lines in prop::collection::vec(any_span_line(), 0..6),
        request_line in any_span_line(),
        test_id in prop_oneof![Just(String::new()), "[a-z]{1,3}"],
    ) {
        let text = lines.join("\n");
        let spans = read::parse_spans(text.as_bytes()).unwrap();
        let test_ids: Vec<String> = spans.iter().filter(|span| span.is_root_span).map(|span| span.trace_id.clone()).collect();
        let matcher = Matcher::new(vec![TraceFile { path: "x_trace_y.jsonl".to_owned(), spans }]);
        if let Some(first) = test_ids.first() {
            matcher.start_test(first);
        }
        let request = read::parse_spans(request_line.as_bytes()).unwrap().remove(0);
        let response = matcher.find(&MockRequest {
            test_id,
            operation: String::new(),
            package_name: request.package_name,
            submodule_name: request.submodule_name,
            name: request.name,
            input_value: request.input_value,
            input_schema: request.input_schema,
            input_value_hash: request.input_value_hash,
            input_schema_hash: request.input_schema_hash,
            is_pre_app_start: request.is_pre_app_start,
        });
        prop_assert_eq!(response.found, response.response_data.is_some());
        prop_assert_eq!(response.found, response.error.is_empty());
    }
}
