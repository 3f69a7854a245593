//! What we write, read back with the Tusk CLI's parse rules.

use std::time::{Duration, UNIX_EPOCH};

use cov_trace::read::{self, ParseError, ReplayTest};
use cov_trace::{DecodedType, Headers, HttpRequest, HttpResponse, InboundSpan};
use proptest::prelude::*;
use serde_json::{Value, json};

fn order_span() -> InboundSpan {
    let mut request = HttpRequest::new(
        "POST",
        "http://localhost:3000/orders?dry_run=1",
        "/orders?dry_run=1",
    );
    request.headers = Headers::from([
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-empty".to_owned(), String::new()),
    ]);
    request.body = br#"{"sku":"apple","quantity":3}"#.to_vec();
    request.body_type = Some(DecodedType::Json);
    InboundSpan {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        span_id: "00f067aa0ba902b7".to_owned(),
        request,
        response: HttpResponse {
            status: 201,
            status_message: "Created".to_owned(),
            headers: Headers::from([("content-type".to_owned(), "application/json".to_owned())]),
            body: br#"{"id":7,"total_cents":297}"#.to_vec(),
            body_type: Some(DecodedType::Json),
        },
        started: UNIX_EPOCH + Duration::new(1_766_958_709, 920_014_197),
        duration: Duration::new(0, 2_507_104),
        environment: Some("ci".to_owned()),
        ..InboundSpan::default()
    }
}

fn test_of(line: &str) -> ReplayTest {
    let spans = read::parse_spans(line.as_bytes()).expect("parses");
    read::replay_test(&spans)
        .expect("decodes")
        .expect("has a root span")
}

#[test]
fn the_line_has_the_shape_the_cli_parser_reads() {
    let line = order_span().to_json_line();
    assert!(!line.contains('\n') && !line.contains('\r'));
    let value: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["packageType"], 1);
    assert_eq!(value["kind"], 2);
    assert_eq!(value["isRootSpan"], true);
    assert_eq!(
        value["timestamp"],
        json!({"seconds": 1_766_958_709, "nanos": 920_014_197})
    );
    assert_eq!(value["duration"], json!({"seconds": 0, "nanos": 2_507_104}));
    assert_eq!(value["status"], json!({"code": 1, "message": ""}));
    assert_eq!(value["name"], "POST /orders");
    assert_eq!(value["submoduleName"], "POST");
    assert_eq!(
        value["outputSchema"]["properties"]["body"],
        json!({"type": 2, "properties": {}, "encoding": 1, "decodedType": 1})
    );
    assert_eq!(value["inputValue"]["target"], "/orders?dry_run=1");
    assert_eq!(value["outputValue"]["statusMessage"], "Created");
    // Bodies are standard padded base64.
    assert_eq!(
        value["outputValue"]["body"],
        "eyJpZCI6NywidG90YWxfY2VudHMiOjI5N30="
    );
}

#[test]
fn the_cli_replays_what_was_recorded() {
    let span = order_span();
    let test = test_of(&span.to_json_line());
    assert_eq!(test.trace_id, span.trace_id);
    assert_eq!(test.method, "POST");
    assert_eq!(test.path, "/orders?dry_run=1");
    assert_eq!(test.body.as_deref(), Some(span.request.body.as_slice()));
    assert_eq!(test.status, 201);
    assert!(test.is_replayed_locally());
    let mut redirected = span.clone();
    redirected.response.status = 302;
    assert!(
        !test_of(&redirected.to_json_line()).is_replayed_locally(),
        "the CLI skips recorded statuses >= 300"
    );
    assert_eq!(
        test.expected_body,
        Some(json!({"id": 7, "total_cents": 297}))
    );
    assert_eq!(test.decoded_type, Some(DecodedType::Json));
    assert_eq!(test.environment.as_deref(), Some("ci"));
    // Empty header values are not sent.
    assert_eq!(
        test.headers.keys().collect::<Vec<_>>(),
        ["content-type"],
        "{:?}",
        test.headers
    );
}

#[test]
fn an_empty_request_body_is_left_out_so_the_cli_sends_none() {
    let mut span = order_span();
    span.request.body.clear();
    span.response.body.clear();
    span.response.status = 200;
    let line = span.to_json_line();
    let value: Value = serde_json::from_str(&line).unwrap();
    assert!(value["inputValue"].get("body").is_none());
    assert!(value.get("inputSchema").is_none());
    let test = test_of(&line);
    assert_eq!(test.body, None);
    assert_eq!(test.expected_body, None);
    assert!(test.is_replayed_locally());
}

#[test]
fn text_and_untyped_bodies_parse_as_the_cli_parses_them() {
    let mut span = order_span();
    span.response.body = b"hello".to_vec();
    span.response.body_type = Some(DecodedType::PlainText);
    assert_eq!(
        test_of(&span.to_json_line()).expected_body,
        Some(json!("hello"))
    );
    // Without a type the CLI tries JSON first.
    span.response.body = b"[1,2]".to_vec();
    span.response.body_type = None;
    let line = span.to_json_line();
    let value: Value = serde_json::from_str(&line).unwrap();
    assert!(
        value["outputSchema"]["properties"]["body"]
            .get("decodedType")
            .is_none()
    );
    assert_eq!(test_of(&line).expected_body, Some(json!([1, 2])));
    // JSON that is not JSON falls back to the string.
    span.response.body = b"{oops".to_vec();
    span.response.body_type = Some(DecodedType::Json);
    assert_eq!(
        test_of(&span.to_json_line()).expected_body,
        Some(json!("{oops"))
    );
}

#[test]
fn one_malformed_line_fails_the_whole_file_and_blank_lines_do_not() {
    let line = order_span().to_json_line();
    let file = format!("\n{line}\r\n   \n{line}\n");
    assert_eq!(read::parse_spans(file.as_bytes()).unwrap().len(), 2);

    let truncated = &line[..line.len() / 2];
    let file = format!("{line}\n{truncated}");
    match read::parse_spans(file.as_bytes()) {
        Err(ParseError::Malformed { line: 2, .. }) => {}
        other => panic!("expected a malformed line 2, got {other:?}"),
    }
    assert!(matches!(
        read::parse_spans(b"[1, 2]\n"),
        Err(ParseError::Malformed { line: 1, .. })
    ));
    // `null` unmarshals into a Go map: a span of zero values, not an error.
    assert_eq!(read::parse_spans(b"null").unwrap().len(), 1);
}

#[test]
fn lines_over_the_cli_buffer_fail_the_file() {
    let long = format!("{{\"name\":\"{}\"}}", "x".repeat(read::MAX_LINE_BYTES));
    assert!(matches!(
        read::parse_spans(long.as_bytes()),
        Err(ParseError::LineTooLong { line: 1, .. })
    ));
}

#[test]
fn enum_names_and_wrong_types_read_as_zero_and_kinds_are_repaired() {
    let line = r#"{"traceId":"t","isRootSpan":true,"kind":"SPAN_KIND_SERVER","packageType":"PACKAGE_TYPE_HTTP","submoduleName":"GET","inputValue":{"method":"POST","target":"/x"},"outputValue":{"statusCode":404}}"#;
    let spans = read::parse_spans(line.as_bytes()).unwrap();
    assert_eq!(spans[0].package_type, 0);
    assert_eq!(
        spans[0].kind, 2,
        "a root span not SERVER makes the CLI derive kinds"
    );
    let test = read::replay_test(&spans).unwrap().unwrap();
    // Without packageType HTTP the CLI ignores the recorded method, body and status.
    assert_eq!((test.method.as_str(), test.status), ("GET", 200));
    assert_eq!(test.path, "/x", "the target is read for every package type");
}

#[test]
fn a_file_without_a_root_span_is_no_test_and_a_bad_request_body_fails_the_test() {
    let spans = read::parse_spans(br#"{"traceId":"t","kind":3}"#).unwrap();
    assert_eq!(read::replay_test(&spans).unwrap(), None);
    let line = r#"{"traceId":"t","isRootSpan":true,"kind":2,"packageType":1,"inputValue":{"method":"POST","target":"/","body":"not base64!"}}"#;
    let spans = read::parse_spans(line.as_bytes()).unwrap();
    assert!(matches!(
        read::replay_test(&spans),
        Err(ParseError::RequestBody(_))
    ));
}

fn header_map() -> impl Strategy<Value = Headers> {
    proptest::collection::btree_map("[a-z][a-z0-9-]{0,12}", "\\PC{0,20}", 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any method, target, headers and bodies make one line that parses back to the same
    /// request and response.
    #[test]
    fn every_written_span_is_one_line_the_cli_reads_back(
        target in "/[ -~]{0,40}",
        headers in header_map(),
        request_body in proptest::collection::vec(any::<u8>(), 0..200),
        response_body in "\\PC{0,200}",
        status in 100_u16..600,
    ) {
        let mut span = order_span();
        span.request.target = target.clone();
        span.request.headers = headers.clone();
        span.request.body = request_body.clone();
        span.request.body_type = None;
        span.response.status = status;
        span.response.body = response_body.clone().into_bytes();
        span.response.body_type = Some(DecodedType::PlainText);
        let line = span.to_json_line();
        prop_assert!(!line.contains('\n'));
        let test = test_of(&line);
        prop_assert_eq!(&test.path, &target);
        prop_assert_eq!(test.status, status);
        let sent: Headers = headers.into_iter().filter(|(_, value)| !value.is_empty()).collect();
        prop_assert_eq!(&test.headers, &sent);
        prop_assert_eq!(test.body, (!request_body.is_empty()).then_some(request_body));
        let expected = (!response_body.is_empty()).then_some(Value::String(response_body));
        prop_assert_eq!(test.expected_body, expected);
    }
}
