//! Wire compatibility with the real Tusk Drift types (`tusk-drift-schemas` 0.1.36).
//!
//! Every message we model (the coverage channel, the inbound replay span, and mocks: the
//! full `Span` with its `JsonSchema`s, `GetMockRequest`, `GetMockResponse`, `MatchLevel`) is
//! encoded with the upstream types and decoded with ours, and the reverse, then compared
//! field by field by the `assert_same_*` functions below (never by re-encoded bytes: map
//! order is not deterministic). Each kind has a hand-built value with a non-default value in
//! every field, and proptest generates many more, including unknown enum numbers, NaN
//! doubles and floats, deep `google.protobuf.Struct` values, deep schemas and maps with many
//! entries. Frames carrying payloads we do not model (alerts, environment variables) must
//! decode with an empty payload and an intact envelope.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;

use cov_proto::prost_types::{self, ListValue, Struct, Value, value::Kind};
use cov_proto::{self as ours, Message};
use proptest::prelude::*;
use tusk_drift_schemas::tusk::drift::core::v1 as upstream;

// ---------------------------------------------------------------------------------------
// Moving bytes between the two type families.
// ---------------------------------------------------------------------------------------

/// Encodes `value` and decodes the bytes as `To`, checking that nothing was dropped on the
/// way: the decoded value re-encodes to as many bytes as it was decoded from.
fn transcode<From: Message, To: Message + Default>(value: &From) -> To {
    let bytes = value.encode_to_vec();
    let decoded = To::decode(bytes.as_slice()).unwrap_or_else(|error| {
        panic!(
            "decoding {} bytes as {}: {error}",
            bytes.len(),
            std::any::type_name::<To>()
        )
    });
    assert_eq!(
        decoded.encoded_len(),
        bytes.len(),
        "decoding as {} lost or invented bytes",
        std::any::type_name::<To>()
    );
    decoded
}

/// Checks one value of ours in both directions: ours → upstream, and the upstream
/// rendering of the same value → ours, comparing field by field each time.
fn check_both_directions<Ours, Upstream>(
    value: &Ours,
    to_upstream: fn(&Ours) -> Upstream,
    assert_same: fn(&Ours, &Upstream),
) where
    Ours: Message + Default,
    Upstream: Message + Default,
{
    let decoded_upstream: Upstream = transcode(value);
    assert_same(value, &decoded_upstream);

    let upstream_value = to_upstream(value);
    assert_same(value, &upstream_value);
    let decoded_ours: Ours = transcode(&upstream_value);
    assert_same(&decoded_ours, &upstream_value);
}

/// Checks one hand-built upstream value in both directions: upstream → ours, then ours →
/// upstream again, comparing field by field each time.
fn check_from_upstream<Ours, Upstream>(value: &Upstream, assert_same: fn(&Ours, &Upstream)) -> Ours
where
    Ours: Message + Default,
    Upstream: Message + Default,
{
    let decoded_ours: Ours = transcode(value);
    assert_same(&decoded_ours, value);
    let decoded_upstream: Upstream = transcode(&decoded_ours);
    assert_same(&decoded_ours, &decoded_upstream);
    decoded_ours
}

// ---------------------------------------------------------------------------------------
// Field-by-field comparison.
// ---------------------------------------------------------------------------------------

/// Doubles are compared by bits: the wire carries all 64 of them, NaN payloads included.
fn assert_same_f64(ours: f64, upstream: f64, what: &str) {
    assert_eq!(
        ours.to_bits(),
        upstream.to_bits(),
        "{what}: {ours} vs {upstream}"
    );
}

/// A double field without explicit presence: prost, like every proto3 encoder that tests
/// `value != 0.0`, leaves -0.0 off the wire, so it decodes as +0.0 on either side. Every
/// other value, NaN payloads included, must keep all its bits.
fn assert_same_implicit_f64(ours: f64, upstream: f64, what: &str) {
    let canonical = |value: f64| if value == 0.0 { 0.0 } else { value };
    assert_same_f64(canonical(ours), canonical(upstream), what);
}

/// A float field without explicit presence (`SimilarityCandidate.score`): as for doubles,
/// -0.0 is left off the wire; every other value keeps all its bits.
fn assert_same_implicit_f32(ours: f32, upstream: f32, what: &str) {
    let canonical = |value: f32| if value == 0.0 { 0.0 } else { value };
    assert_eq!(
        canonical(ours).to_bits(),
        canonical(upstream).to_bits(),
        "{what}: {ours} vs {upstream}"
    );
}

/// Compares two maps key by key, with a field comparison for the values.
fn assert_same_map<O, U>(
    ours: &HashMap<String, O>,
    upstream: &HashMap<String, U>,
    what: &str,
    assert_same_value: impl Fn(&O, &U, &str),
) {
    let our_keys: BTreeSet<&String> = ours.keys().collect();
    let upstream_keys: BTreeSet<&String> = upstream.keys().collect();
    assert_eq!(our_keys, upstream_keys, "{what}: keys differ");
    for (key, our_value) in ours {
        assert_same_value(our_value, &upstream[key], &format!("{what}[{key:?}]"));
    }
}

fn assert_same_struct(ours: &Struct, upstream: &Struct, what: &str) {
    let our_keys: Vec<&String> = ours.fields.keys().collect();
    let upstream_keys: Vec<&String> = upstream.fields.keys().collect();
    assert_eq!(our_keys, upstream_keys, "{what}: struct keys differ");
    for (key, our_value) in &ours.fields {
        assert_same_value(our_value, &upstream.fields[key], &format!("{what}.{key}"));
    }
}

fn assert_same_value(ours: &Value, upstream: &Value, what: &str) {
    match (&ours.kind, &upstream.kind) {
        (None, None) => {}
        (Some(Kind::NullValue(a)), Some(Kind::NullValue(b))) => assert_eq!(a, b, "{what}"),
        (Some(Kind::NumberValue(a)), Some(Kind::NumberValue(b))) => assert_same_f64(*a, *b, what),
        (Some(Kind::StringValue(a)), Some(Kind::StringValue(b))) => assert_eq!(a, b, "{what}"),
        (Some(Kind::BoolValue(a)), Some(Kind::BoolValue(b))) => assert_eq!(a, b, "{what}"),
        (Some(Kind::StructValue(a)), Some(Kind::StructValue(b))) => assert_same_struct(a, b, what),
        (Some(Kind::ListValue(a)), Some(Kind::ListValue(b))) => {
            assert_eq!(
                a.values.len(),
                b.values.len(),
                "{what}: list lengths differ"
            );
            for (index, (a, b)) in a.values.iter().zip(&b.values).enumerate() {
                assert_same_value(a, b, &format!("{what}[{index}]"));
            }
        }
        (a, b) => panic!("{what}: value kinds differ: {a:?} vs {b:?}"),
    }
}

fn assert_same_optional<O: Debug, U: Debug>(
    ours: Option<&O>,
    upstream: Option<&U>,
    what: &str,
    assert_same: impl Fn(&O, &U, &str),
) {
    match (ours, upstream) {
        (None, None) => {}
        (Some(ours), Some(upstream)) => assert_same(ours, upstream, what),
        (ours, upstream) => panic!("{what}: presence differs: {ours:?} vs {upstream:?}"),
    }
}

fn assert_same_connect_request(ours: &ours::ConnectRequest, upstream: &upstream::ConnectRequest) {
    assert_eq!(ours.service_id, upstream.service_id, "service_id");
    assert_eq!(ours.sdk_version, upstream.sdk_version, "sdk_version");
    assert_eq!(
        ours.min_cli_version, upstream.min_cli_version,
        "min_cli_version"
    );
    assert_same_optional(
        ours.metadata.as_ref(),
        upstream.metadata.as_ref(),
        "metadata",
        assert_same_struct,
    );
    assert_eq!(ours.runtime, upstream.runtime, "runtime");
}

fn assert_same_connect_response(
    ours: &ours::ConnectResponse,
    upstream: &upstream::ConnectResponse,
) {
    assert_eq!(ours.success, upstream.success, "success");
    assert_eq!(ours.error, upstream.error, "error");
}

fn assert_same_set_time_travel_request(
    ours: &ours::SetTimeTravelRequest,
    upstream: &upstream::SetTimeTravelRequest,
) {
    assert_same_implicit_f64(
        ours.timestamp_seconds,
        upstream.timestamp_seconds,
        "timestamp_seconds",
    );
    assert_eq!(ours.trace_id, upstream.trace_id, "trace_id");
    assert_eq!(
        ours.timestamp_source, upstream.timestamp_source,
        "timestamp_source"
    );
}

fn assert_same_set_time_travel_response(
    ours: &ours::SetTimeTravelResponse,
    upstream: &upstream::SetTimeTravelResponse,
) {
    assert_eq!(ours.success, upstream.success, "success");
    assert_eq!(ours.error, upstream.error, "error");
}

fn assert_same_coverage_snapshot_request(
    ours: &ours::CoverageSnapshotRequest,
    upstream: &upstream::CoverageSnapshotRequest,
) {
    assert_eq!(ours.baseline, upstream.baseline, "baseline");
}

fn assert_same_coverage_snapshot_response(
    ours: &ours::CoverageSnapshotResponse,
    upstream: &upstream::CoverageSnapshotResponse,
) {
    assert_eq!(ours.success, upstream.success, "success");
    assert_eq!(ours.error, upstream.error, "error");
    assert_same_map(
        &ours.coverage,
        &upstream.coverage,
        "coverage",
        assert_same_file_coverage_at,
    );
}

fn assert_same_file_coverage(ours: &ours::FileCoverageData, upstream: &upstream::FileCoverageData) {
    assert_same_file_coverage_at(ours, upstream, "file");
}

fn assert_same_file_coverage_at(
    ours: &ours::FileCoverageData,
    upstream: &upstream::FileCoverageData,
    what: &str,
) {
    assert_same_map(
        &ours.lines,
        &upstream.lines,
        &format!("{what}.lines"),
        |a, b, what| assert_eq!(a, b, "{what}"),
    );
    assert_eq!(
        ours.total_branches, upstream.total_branches,
        "{what}.total_branches"
    );
    assert_eq!(
        ours.covered_branches, upstream.covered_branches,
        "{what}.covered_branches"
    );
    assert_same_map(
        &ours.branches,
        &upstream.branches,
        &format!("{what}.branches"),
        assert_same_branch_info_at,
    );
}

fn assert_same_branch_info(ours: &ours::BranchInfo, upstream: &upstream::BranchInfo) {
    assert_same_branch_info_at(ours, upstream, "branch");
}

fn assert_same_branch_info_at(
    ours: &ours::BranchInfo,
    upstream: &upstream::BranchInfo,
    what: &str,
) {
    assert_eq!(ours.total, upstream.total, "{what}.total");
    assert_eq!(ours.covered, upstream.covered, "{what}.covered");
}

fn assert_same_span(ours: &ours::Span, upstream: &upstream::Span) {
    assert_eq!(ours.trace_id, upstream.trace_id, "span.trace_id");
    assert_eq!(ours.span_id, upstream.span_id, "span.span_id");
    assert_eq!(
        ours.parent_span_id, upstream.parent_span_id,
        "span.parent_span_id"
    );
    assert_eq!(ours.name, upstream.name, "span.name");
    assert_eq!(
        ours.package_name, upstream.package_name,
        "span.package_name"
    );
    assert_eq!(
        ours.instrumentation_name, upstream.instrumentation_name,
        "span.instrumentation_name"
    );
    assert_eq!(
        ours.submodule_name, upstream.submodule_name,
        "span.submodule_name"
    );
    assert_eq!(
        ours.package_type, upstream.package_type,
        "span.package_type"
    );
    assert_same_optional(
        ours.input_value.as_ref(),
        upstream.input_value.as_ref(),
        "span.input_value",
        assert_same_struct,
    );
    assert_same_optional(
        ours.output_value.as_ref(),
        upstream.output_value.as_ref(),
        "span.output_value",
        assert_same_struct,
    );
    assert_same_optional(
        ours.input_schema.as_ref(),
        upstream.input_schema.as_ref(),
        "span.input_schema",
        assert_same_json_schema,
    );
    assert_same_optional(
        ours.output_schema.as_ref(),
        upstream.output_schema.as_ref(),
        "span.output_schema",
        assert_same_json_schema,
    );
    assert_eq!(
        ours.input_schema_hash, upstream.input_schema_hash,
        "span.input_schema_hash"
    );
    assert_eq!(
        ours.output_schema_hash, upstream.output_schema_hash,
        "span.output_schema_hash"
    );
    assert_eq!(
        ours.input_value_hash, upstream.input_value_hash,
        "span.input_value_hash"
    );
    assert_eq!(
        ours.output_value_hash, upstream.output_value_hash,
        "span.output_value_hash"
    );
    assert_eq!(ours.kind, upstream.kind, "span.kind");
    assert_eq!(
        ours.status
            .as_ref()
            .map(|status| (status.code, status.message.as_str())),
        upstream
            .status
            .as_ref()
            .map(|status| (status.code, status.message.as_str())),
        "span.status"
    );
    assert_eq!(
        ours.is_pre_app_start, upstream.is_pre_app_start,
        "span.is_pre_app_start"
    );
    assert_eq!(ours.timestamp, upstream.timestamp, "span.timestamp");
    assert_eq!(ours.duration, upstream.duration, "span.duration");
    assert_eq!(
        ours.is_root_span, upstream.is_root_span,
        "span.is_root_span"
    );
    assert_same_optional(
        ours.metadata.as_ref(),
        upstream.metadata.as_ref(),
        "span.metadata",
        assert_same_struct,
    );
    assert_eq!(ours.environment, upstream.environment, "span.environment");
    assert_eq!(ours.id, upstream.id, "span.id");
}

fn assert_same_json_schema(ours: &ours::JsonSchema, upstream: &upstream::JsonSchema, what: &str) {
    assert_eq!(ours.r#type, upstream.r#type, "{what}.type");
    assert_same_map(
        &ours.properties,
        &upstream.properties,
        &format!("{what}.properties"),
        assert_same_json_schema,
    );
    assert_same_optional(
        ours.items.as_deref(),
        upstream.items.as_deref(),
        &format!("{what}.items"),
        assert_same_json_schema,
    );
    assert_eq!(ours.encoding, upstream.encoding, "{what}.encoding");
    assert_eq!(
        ours.decoded_type, upstream.decoded_type,
        "{what}.decoded_type"
    );
    // Explicit presence: every bit of a set value crosses, -0.0 and NaN payloads included.
    assert_eq!(
        ours.match_importance.map(f64::to_bits),
        upstream.match_importance.map(f64::to_bits),
        "{what}.match_importance"
    );
}

fn assert_same_match_level(ours: &ours::MatchLevel, upstream: &upstream::MatchLevel, what: &str) {
    assert_eq!(ours.match_type, upstream.match_type, "{what}.match_type");
    assert_eq!(ours.match_scope, upstream.match_scope, "{what}.match_scope");
    assert_eq!(
        ours.match_description, upstream.match_description,
        "{what}.match_description"
    );
    assert_eq!(
        ours.similarity_score.map(f32::to_bits),
        upstream.similarity_score.map(f32::to_bits),
        "{what}.similarity_score"
    );
    assert_eq!(
        ours.top_candidates.len(),
        upstream.top_candidates.len(),
        "{what}.top_candidates"
    );
    for (index, (a, b)) in ours
        .top_candidates
        .iter()
        .zip(&upstream.top_candidates)
        .enumerate()
    {
        assert_eq!(
            a.span_id, b.span_id,
            "{what}.top_candidates[{index}].span_id"
        );
        assert_same_implicit_f32(
            a.score,
            b.score,
            &format!("{what}.top_candidates[{index}].score"),
        );
    }
}

fn assert_same_get_mock_request(ours: &ours::GetMockRequest, upstream: &upstream::GetMockRequest) {
    assert_eq!(ours.request_id, upstream.request_id, "request_id");
    assert_eq!(ours.test_id, upstream.test_id, "test_id");
    assert_same_optional(
        ours.outbound_span.as_ref(),
        upstream.outbound_span.as_ref(),
        "outbound_span",
        |a, b, _| assert_same_span(a, b),
    );
    assert_eq!(ours.stack_trace, upstream.stack_trace, "stack_trace");
    assert_eq!(ours.operation, upstream.operation, "operation");
    assert_eq!(ours.tags, upstream.tags, "tags");
    assert_eq!(ours.requested_at, upstream.requested_at, "requested_at");
}

fn assert_same_get_mock_response(
    ours: &ours::GetMockResponse,
    upstream: &upstream::GetMockResponse,
) {
    assert_eq!(ours.request_id, upstream.request_id, "request_id");
    assert_eq!(ours.found, upstream.found, "found");
    assert_same_optional(
        ours.response_data.as_ref(),
        upstream.response_data.as_ref(),
        "response_data",
        assert_same_struct,
    );
    assert_same_optional(
        ours.metadata.as_ref(),
        upstream.metadata.as_ref(),
        "metadata",
        assert_same_struct,
    );
    assert_eq!(ours.error, upstream.error, "error");
    assert_eq!(ours.error_code, upstream.error_code, "error_code");
    assert_eq!(
        ours.matched_span_id, upstream.matched_span_id,
        "matched_span_id"
    );
    assert_eq!(ours.matched_at, upstream.matched_at, "matched_at");
    assert_same_optional(
        ours.match_level.as_ref(),
        upstream.match_level.as_ref(),
        "match_level",
        assert_same_match_level,
    );
}

fn assert_same_inbound_span_request(
    ours: &ours::SendInboundSpanForReplayRequest,
    upstream: &upstream::SendInboundSpanForReplayRequest,
) {
    match (&ours.span, &upstream.span) {
        (None, None) => {}
        (Some(a), Some(b)) => assert_same_span(a, b),
        (a, b) => panic!("span presence differs: {a:?} vs {b:?}"),
    }
}

fn assert_same_inbound_span_response(
    ours: &ours::SendInboundSpanForReplayResponse,
    upstream: &upstream::SendInboundSpanForReplayResponse,
) {
    assert_eq!(ours.success, upstream.success, "success");
}

fn assert_same_sdk_message(ours: &ours::SdkMessage, upstream: &upstream::SdkMessage) {
    use ours::sdk_message::Payload as O;
    use upstream::sdk_message::Payload as U;
    assert_eq!(ours.r#type, upstream.r#type, "type");
    assert_eq!(ours.request_id, upstream.request_id, "request_id");
    match (&ours.payload, &upstream.payload) {
        (None, None) => {}
        (Some(O::ConnectRequest(a)), Some(U::ConnectRequest(b))) => {
            assert_same_connect_request(a, b);
        }
        (Some(O::GetMockRequest(a)), Some(U::GetMockRequest(b))) => {
            assert_same_get_mock_request(a, b);
        }
        (Some(O::SetTimeTravelResponse(a)), Some(U::SetTimeTravelResponse(b))) => {
            assert_same_set_time_travel_response(a, b);
        }
        (
            Some(O::SendInboundSpanForReplayRequest(a)),
            Some(U::SendInboundSpanForReplayRequest(b)),
        ) => assert_same_inbound_span_request(a, b),
        (Some(O::CoverageSnapshotResponse(a)), Some(U::CoverageSnapshotResponse(b))) => {
            assert_same_coverage_snapshot_response(a, b);
        }
        (a, b) => panic!("payloads differ: {a:?} vs {b:?}"),
    }
}

fn assert_same_cli_message(ours: &ours::CliMessage, upstream: &upstream::CliMessage) {
    use ours::cli_message::Payload as O;
    use upstream::cli_message::Payload as U;
    assert_eq!(ours.r#type, upstream.r#type, "type");
    assert_eq!(ours.request_id, upstream.request_id, "request_id");
    match (&ours.payload, &upstream.payload) {
        (None, None) => {}
        (Some(O::ConnectResponse(a)), Some(U::ConnectResponse(b))) => {
            assert_same_connect_response(a, b);
        }
        (Some(O::GetMockResponse(a)), Some(U::GetMockResponse(b))) => {
            assert_same_get_mock_response(a, b);
        }
        (Some(O::SetTimeTravelRequest(a)), Some(U::SetTimeTravelRequest(b))) => {
            assert_same_set_time_travel_request(a, b);
        }
        (
            Some(O::SendInboundSpanForReplayResponse(a)),
            Some(U::SendInboundSpanForReplayResponse(b)),
        ) => assert_same_inbound_span_response(a, b),
        (Some(O::CoverageSnapshotRequest(a)), Some(U::CoverageSnapshotRequest(b))) => {
            assert_same_coverage_snapshot_request(a, b);
        }
        (a, b) => panic!("payloads differ: {a:?} vs {b:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Rendering a value of ours with the upstream types, so that generated values can be
// checked in the upstream → ours direction too. `Struct` is the same `prost_types` type on
// both sides.
// ---------------------------------------------------------------------------------------

fn connect_request_to_upstream(value: &ours::ConnectRequest) -> upstream::ConnectRequest {
    upstream::ConnectRequest {
        service_id: value.service_id.clone(),
        sdk_version: value.sdk_version.clone(),
        min_cli_version: value.min_cli_version.clone(),
        metadata: value.metadata.clone(),
        runtime: value.runtime,
    }
}

fn connect_response_to_upstream(value: &ours::ConnectResponse) -> upstream::ConnectResponse {
    upstream::ConnectResponse {
        success: value.success,
        error: value.error.clone(),
    }
}

fn set_time_travel_request_to_upstream(
    value: &ours::SetTimeTravelRequest,
) -> upstream::SetTimeTravelRequest {
    upstream::SetTimeTravelRequest {
        timestamp_seconds: value.timestamp_seconds,
        trace_id: value.trace_id.clone(),
        timestamp_source: value.timestamp_source.clone(),
    }
}

fn set_time_travel_response_to_upstream(
    value: &ours::SetTimeTravelResponse,
) -> upstream::SetTimeTravelResponse {
    upstream::SetTimeTravelResponse {
        success: value.success,
        error: value.error.clone(),
    }
}

fn coverage_snapshot_request_to_upstream(
    value: &ours::CoverageSnapshotRequest,
) -> upstream::CoverageSnapshotRequest {
    upstream::CoverageSnapshotRequest {
        baseline: value.baseline,
    }
}

fn coverage_snapshot_response_to_upstream(
    value: &ours::CoverageSnapshotResponse,
) -> upstream::CoverageSnapshotResponse {
    upstream::CoverageSnapshotResponse {
        success: value.success,
        error: value.error.clone(),
        coverage: value
            .coverage
            .iter()
            .map(|(path, file)| (path.clone(), file_coverage_to_upstream(file)))
            .collect(),
    }
}

fn file_coverage_to_upstream(value: &ours::FileCoverageData) -> upstream::FileCoverageData {
    upstream::FileCoverageData {
        lines: value.lines.clone(),
        total_branches: value.total_branches,
        covered_branches: value.covered_branches,
        branches: value
            .branches
            .iter()
            .map(|(line, branch)| (line.clone(), branch_info_to_upstream(branch)))
            .collect(),
    }
}

fn branch_info_to_upstream(value: &ours::BranchInfo) -> upstream::BranchInfo {
    upstream::BranchInfo {
        total: value.total,
        covered: value.covered,
    }
}

fn span_to_upstream(value: &ours::Span) -> upstream::Span {
    upstream::Span {
        trace_id: value.trace_id.clone(),
        span_id: value.span_id.clone(),
        parent_span_id: value.parent_span_id.clone(),
        name: value.name.clone(),
        package_name: value.package_name.clone(),
        instrumentation_name: value.instrumentation_name.clone(),
        submodule_name: value.submodule_name.clone(),
        package_type: value.package_type,
        input_value: value.input_value.clone(),
        output_value: value.output_value.clone(),
        input_schema: value.input_schema.as_ref().map(json_schema_to_upstream),
        output_schema: value.output_schema.as_ref().map(json_schema_to_upstream),
        input_schema_hash: value.input_schema_hash.clone(),
        output_schema_hash: value.output_schema_hash.clone(),
        input_value_hash: value.input_value_hash.clone(),
        output_value_hash: value.output_value_hash.clone(),
        kind: value.kind,
        status: value.status.as_ref().map(|status| upstream::SpanStatus {
            code: status.code,
            message: status.message.clone(),
        }),
        is_pre_app_start: value.is_pre_app_start,
        timestamp: value.timestamp,
        duration: value.duration,
        is_root_span: value.is_root_span,
        metadata: value.metadata.clone(),
        environment: value.environment.clone(),
        id: value.id.clone(),
    }
}

fn json_schema_to_upstream(value: &ours::JsonSchema) -> upstream::JsonSchema {
    upstream::JsonSchema {
        r#type: value.r#type,
        properties: value
            .properties
            .iter()
            .map(|(key, schema)| (key.clone(), json_schema_to_upstream(schema)))
            .collect(),
        items: value
            .items
            .as_deref()
            .map(|items| Box::new(json_schema_to_upstream(items))),
        encoding: value.encoding,
        decoded_type: value.decoded_type,
        match_importance: value.match_importance,
    }
}

fn match_level_to_upstream(value: &ours::MatchLevel) -> upstream::MatchLevel {
    upstream::MatchLevel {
        match_type: value.match_type,
        match_scope: value.match_scope,
        match_description: value.match_description.clone(),
        similarity_score: value.similarity_score,
        top_candidates: value
            .top_candidates
            .iter()
            .map(|candidate| upstream::SimilarityCandidate {
                span_id: candidate.span_id.clone(),
                score: candidate.score,
            })
            .collect(),
    }
}

fn get_mock_request_to_upstream(value: &ours::GetMockRequest) -> upstream::GetMockRequest {
    upstream::GetMockRequest {
        request_id: value.request_id.clone(),
        test_id: value.test_id.clone(),
        outbound_span: value.outbound_span.as_ref().map(span_to_upstream),
        stack_trace: value.stack_trace.clone(),
        operation: value.operation.clone(),
        tags: value.tags.clone(),
        requested_at: value.requested_at,
    }
}

fn get_mock_response_to_upstream(value: &ours::GetMockResponse) -> upstream::GetMockResponse {
    upstream::GetMockResponse {
        request_id: value.request_id.clone(),
        found: value.found,
        response_data: value.response_data.clone(),
        metadata: value.metadata.clone(),
        error: value.error.clone(),
        error_code: value.error_code.clone(),
        matched_span_id: value.matched_span_id.clone(),
        matched_at: value.matched_at,
        match_level: value.match_level.as_ref().map(match_level_to_upstream),
    }
}

fn inbound_span_request_to_upstream(
    value: &ours::SendInboundSpanForReplayRequest,
) -> upstream::SendInboundSpanForReplayRequest {
    upstream::SendInboundSpanForReplayRequest {
        span: value.span.as_ref().map(span_to_upstream),
    }
}

fn inbound_span_response_to_upstream(
    value: &ours::SendInboundSpanForReplayResponse,
) -> upstream::SendInboundSpanForReplayResponse {
    upstream::SendInboundSpanForReplayResponse {
        success: value.success,
    }
}

fn sdk_message_to_upstream(value: &ours::SdkMessage) -> upstream::SdkMessage {
    use ours::sdk_message::Payload as O;
    use upstream::sdk_message::Payload as U;
    upstream::SdkMessage {
        r#type: value.r#type,
        request_id: value.request_id.clone(),
        payload: value.payload.as_ref().map(|payload| match payload {
            O::ConnectRequest(inner) => U::ConnectRequest(connect_request_to_upstream(inner)),
            O::GetMockRequest(inner) => U::GetMockRequest(get_mock_request_to_upstream(inner)),
            O::SetTimeTravelResponse(inner) => {
                U::SetTimeTravelResponse(set_time_travel_response_to_upstream(inner))
            }
            O::SendInboundSpanForReplayRequest(inner) => {
                U::SendInboundSpanForReplayRequest(inbound_span_request_to_upstream(inner))
            }
            O::CoverageSnapshotResponse(inner) => {
                U::CoverageSnapshotResponse(coverage_snapshot_response_to_upstream(inner))
            }
        }),
    }
}

fn cli_message_to_upstream(value: &ours::CliMessage) -> upstream::CliMessage {
    use ours::cli_message::Payload as O;
    use upstream::cli_message::Payload as U;
    upstream::CliMessage {
        r#type: value.r#type,
        request_id: value.request_id.clone(),
        payload: value.payload.as_ref().map(|payload| match payload {
            O::ConnectResponse(inner) => U::ConnectResponse(connect_response_to_upstream(inner)),
            O::GetMockResponse(inner) => U::GetMockResponse(get_mock_response_to_upstream(inner)),
            O::SetTimeTravelRequest(inner) => {
                U::SetTimeTravelRequest(set_time_travel_request_to_upstream(inner))
            }
            O::SendInboundSpanForReplayResponse(inner) => {
                U::SendInboundSpanForReplayResponse(inbound_span_response_to_upstream(inner))
            }
            O::CoverageSnapshotRequest(inner) => {
                U::CoverageSnapshotRequest(coverage_snapshot_request_to_upstream(inner))
            }
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Enumerations: every value, both ways.
// ---------------------------------------------------------------------------------------

#[test]
fn every_message_type_value_matches_upstream() {
    let mut known = 0;
    // Upstream defines 0..=7; the range around it shows neither side knows more.
    for number in -2..=12 {
        let our_value = ours::MessageType::try_from(number).ok();
        let upstream_value = upstream::MessageType::try_from(number).ok();
        assert_eq!(
            our_value.map(|value| value.as_str_name()),
            upstream_value.map(|value| value.as_str_name()),
            "MessageType {number}"
        );
        if let (Some(our_value), Some(upstream_value)) = (our_value, upstream_value) {
            known += 1;
            assert_eq!(our_value as i32, upstream_value as i32);
            assert_eq!(
                ours::MessageType::from_str_name(upstream_value.as_str_name()),
                Some(our_value)
            );
        }
    }
    assert_eq!(
        known, 8,
        "MESSAGE_TYPE_UNSPECIFIED ..= MESSAGE_TYPE_COVERAGE_SNAPSHOT"
    );
}

/// Every number in `range` names the same value (or none) on both sides; returns how
/// many are known.
fn same_enum_values(
    range: std::ops::RangeInclusive<i32>,
    ours_name: fn(i32) -> Option<&'static str>,
    upstream_name: fn(i32) -> Option<&'static str>,
    what: &str,
) -> usize {
    let mut known = 0;
    for number in range {
        assert_eq!(ours_name(number), upstream_name(number), "{what} {number}");
        known += usize::from(ours_name(number).is_some());
    }
    known
}

#[test]
fn every_span_enum_value_matches_upstream() {
    let known = same_enum_values(
        -2..=16,
        |n| ours::PackageType::try_from(n).ok().map(|v| v.as_str_name()),
        |n| {
            upstream::PackageType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "PackageType",
    );
    assert_eq!(
        known, 12,
        "PACKAGE_TYPE_UNSPECIFIED ..= PACKAGE_TYPE_PRISMA"
    );
    let known = same_enum_values(
        -2..=10,
        |n| ours::SpanKind::try_from(n).ok().map(|v| v.as_str_name()),
        |n| {
            upstream::SpanKind::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "SpanKind",
    );
    assert_eq!(known, 6, "SPAN_KIND_UNSPECIFIED ..= SPAN_KIND_CONSUMER");
    let known = same_enum_values(
        -2..=8,
        |n| ours::StatusCode::try_from(n).ok().map(|v| v.as_str_name()),
        |n| {
            upstream::StatusCode::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "StatusCode",
    );
    assert_eq!(known, 3, "STATUS_CODE_UNSPECIFIED ..= STATUS_CODE_ERROR");
}

#[test]
fn every_schema_and_match_enum_value_matches_upstream() {
    let known = same_enum_values(
        -2..=14,
        |n| {
            ours::JsonSchemaType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        |n| {
            upstream::JsonSchemaType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "JsonSchemaType",
    );
    assert_eq!(
        known, 10,
        "JSON_SCHEMA_TYPE_UNSPECIFIED ..= JSON_SCHEMA_TYPE_FUNCTION"
    );
    let known = same_enum_values(
        -2..=6,
        |n| {
            ours::EncodingType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        |n| {
            upstream::EncodingType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "EncodingType",
    );
    assert_eq!(known, 2, "ENCODING_TYPE_UNSPECIFIED, ENCODING_TYPE_BASE64");
    let known = same_enum_values(
        -2..=30,
        |n| ours::DecodedType::try_from(n).ok().map(|v| v.as_str_name()),
        |n| {
            upstream::DecodedType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "DecodedType",
    );
    assert_eq!(known, 25, "DECODED_TYPE_UNSPECIFIED ..= DECODED_TYPE_ZIP");
    let known = same_enum_values(
        -2..=10,
        |n| ours::MatchType::try_from(n).ok().map(|v| v.as_str_name()),
        |n| {
            upstream::MatchType::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "MatchType",
    );
    assert_eq!(known, 7, "MATCH_TYPE_UNSPECIFIED ..= MATCH_TYPE_FALLBACK");
    let known = same_enum_values(
        -2..=6,
        |n| ours::MatchScope::try_from(n).ok().map(|v| v.as_str_name()),
        |n| {
            upstream::MatchScope::try_from(n)
                .ok()
                .map(|v| v.as_str_name())
        },
        "MatchScope",
    );
    assert_eq!(known, 3, "MATCH_SCOPE_UNSPECIFIED ..= MATCH_SCOPE_GLOBAL");
}

#[test]
fn every_runtime_value_matches_upstream() {
    let mut known = 0;
    for number in -2..=8 {
        let our_value = ours::Runtime::try_from(number).ok();
        let upstream_value = upstream::Runtime::try_from(number).ok();
        assert_eq!(
            our_value.map(|value| value.as_str_name()),
            upstream_value.map(|value| value.as_str_name()),
            "Runtime {number}"
        );
        if let (Some(our_value), Some(upstream_value)) = (our_value, upstream_value) {
            known += 1;
            assert_eq!(our_value as i32, upstream_value as i32);
            assert_eq!(
                ours::Runtime::from_str_name(upstream_value.as_str_name()),
                Some(our_value)
            );
        }
    }
    assert_eq!(
        known, 3,
        "RUNTIME_UNSPECIFIED, RUNTIME_NODE, RUNTIME_PYTHON"
    );
}

#[test]
fn every_message_type_crosses_the_wire_in_both_envelopes() {
    for number in 0..=7 {
        let sdk = upstream::SdkMessage {
            r#type: number,
            request_id: format!("request-{number}"),
            payload: None,
        };
        let decoded: ours::SdkMessage = check_from_upstream(&sdk, assert_same_sdk_message);
        assert_eq!(
            decoded.r#type(),
            ours::MessageType::try_from(number).unwrap()
        );

        let cli = upstream::CliMessage {
            r#type: number,
            request_id: format!("request-{number}"),
            payload: None,
        };
        let decoded: ours::CliMessage = check_from_upstream(&cli, assert_same_cli_message);
        assert_eq!(
            decoded.r#type(),
            ours::MessageType::try_from(number).unwrap()
        );
    }
}

#[test]
fn every_runtime_crosses_the_wire_in_a_connect_request() {
    for runtime in [
        upstream::Runtime::Unspecified,
        upstream::Runtime::Node,
        upstream::Runtime::Python,
    ] {
        let request = upstream::ConnectRequest {
            service_id: "svc".to_owned(),
            runtime: runtime as i32,
            ..Default::default()
        };
        let decoded: ours::ConnectRequest =
            check_from_upstream(&request, assert_same_connect_request);
        assert_eq!(decoded.runtime().as_str_name(), runtime.as_str_name());
    }
}

// ---------------------------------------------------------------------------------------
// Hand-built values with every field set.
// ---------------------------------------------------------------------------------------

fn number(value: f64) -> Value {
    Value {
        kind: Some(Kind::NumberValue(value)),
    }
}

fn string(value: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(value.to_owned())),
    }
}

fn boolean(value: bool) -> Value {
    Value {
        kind: Some(Kind::BoolValue(value)),
    }
}

fn null() -> Value {
    Value {
        kind: Some(Kind::NullValue(prost_types::NullValue::NullValue as i32)),
    }
}

fn list(values: Vec<Value>) -> Value {
    Value {
        kind: Some(Kind::ListValue(ListValue { values })),
    }
}

fn object(fields: Vec<(&str, Value)>) -> Struct {
    Struct {
        fields: fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    }
}

fn nested(fields: Vec<(&str, Value)>) -> Value {
    Value {
        kind: Some(Kind::StructValue(object(fields))),
    }
}

/// Connect metadata with every kind of `google.protobuf.Value`, nested.
fn rich_metadata() -> Struct {
    object(vec![
        ("language", string("rust")),
        ("pid", number(4242.0)),
        ("ratio", number(-0.125)),
        ("huge", number(f64::MAX)),
        ("tiny", number(f64::MIN_POSITIVE)),
        ("infinite", number(f64::NEG_INFINITY)),
        ("coverage", boolean(true)),
        ("replay", boolean(false)),
        ("parent", null()),
        ("empty_list", list(vec![])),
        ("empty_struct", nested(vec![])),
        (
            "features",
            list(vec![
                string("coverage"),
                number(7.0),
                boolean(true),
                null(),
                list(vec![string("deep"), list(vec![number(1.5)])]),
                nested(vec![("inside_list", string("yes"))]),
            ]),
        ),
        (
            "build",
            nested(vec![
                ("profile", string("release")),
                ("opt_level", number(3.0)),
                ("instrumented", boolean(true)),
                ("target_dir", null()),
                (
                    "rustc",
                    nested(vec![
                        ("version", string("1.95.0")),
                        (
                            "flags",
                            list(vec![string("-C"), string("instrument-coverage")]),
                        ),
                        ("llvm", nested(vec![("major", number(22.0))])),
                    ]),
                ),
            ]),
        ),
        ("unicode ключ ✓", string("значение \u{1F980}")),
    ])
}

fn full_connect_request() -> upstream::ConnectRequest {
    upstream::ConnectRequest {
        service_id: "orders-service".to_owned(),
        sdk_version: "0.1.0".to_owned(),
        min_cli_version: "0.1.22".to_owned(),
        metadata: Some(rich_metadata()),
        runtime: upstream::Runtime::Node as i32,
    }
}

fn full_connect_response() -> upstream::ConnectResponse {
    upstream::ConnectResponse {
        success: true,
        error: "not an error, just a non-empty string".to_owned(),
    }
}

fn full_set_time_travel_request() -> upstream::SetTimeTravelRequest {
    upstream::SetTimeTravelRequest {
        timestamp_seconds: 1_764_143_999.123_456,
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        timestamp_source: "span".to_owned(),
    }
}

fn full_set_time_travel_response() -> upstream::SetTimeTravelResponse {
    upstream::SetTimeTravelResponse {
        success: true,
        error: "clock already frozen".to_owned(),
    }
}

fn full_branch_info(line: i32) -> upstream::BranchInfo {
    upstream::BranchInfo {
        total: 2 + line % 5,
        covered: 1 + line % 2,
    }
}

/// One file's coverage with `n_lines` lines, a branch on every third line, and counts that
/// exercise every varint width, negative numbers and the `int32` extremes.
fn full_file_coverage(file_idx: usize, n_lines: i32) -> upstream::FileCoverageData {
    let counts = [1, 127, 128, 16_383, 16_384, i32::MAX, -1, i32::MIN];
    let lines = (1..=n_lines)
        .map(|line| {
            let count = counts[(line as usize + file_idx) % counts.len()];
            (line.to_string(), count)
        })
        .collect();
    let branches: HashMap<String, upstream::BranchInfo> = (1..=n_lines)
        .filter(|line| line % 3 == 0)
        .map(|line| (line.to_string(), full_branch_info(line)))
        .collect();
    upstream::FileCoverageData {
        lines,
        total_branches: branches.values().map(|branch| branch.total).sum(),
        covered_branches: branches.values().map(|branch| branch.covered).sum(),
        branches,
    }
}

fn full_coverage_snapshot_response(
    n_files: usize,
    n_lines: i32,
) -> upstream::CoverageSnapshotResponse {
    upstream::CoverageSnapshotResponse {
        success: true,
        error: "partial: 1 file unreadable".to_owned(),
        coverage: (0..n_files)
            .map(|file_idx| {
                (
                    format!("/srv/app/src/module_{file_idx}/handler.rs"),
                    full_file_coverage(file_idx, n_lines),
                )
            })
            .collect(),
    }
}

#[test]
fn connect_request_with_rich_metadata_crosses_both_ways() {
    let decoded: ours::ConnectRequest =
        check_from_upstream(&full_connect_request(), assert_same_connect_request);
    assert_eq!(decoded.runtime(), ours::Runtime::Node);
    assert_eq!(decoded.metadata.as_ref().unwrap().fields.len(), 14);
}

#[test]
fn connect_response_crosses_both_ways() {
    check_from_upstream(&full_connect_response(), assert_same_connect_response);
}

#[test]
fn set_time_travel_request_crosses_both_ways() {
    check_from_upstream(
        &full_set_time_travel_request(),
        assert_same_set_time_travel_request,
    );
}

#[test]
fn set_time_travel_response_crosses_both_ways() {
    check_from_upstream(
        &full_set_time_travel_response(),
        assert_same_set_time_travel_response,
    );
}

#[test]
fn coverage_snapshot_request_crosses_both_ways() {
    let baseline: ours::CoverageSnapshotRequest = check_from_upstream(
        &upstream::CoverageSnapshotRequest { baseline: true },
        assert_same_coverage_snapshot_request,
    );
    assert!(baseline.baseline);
    let delta: ours::CoverageSnapshotRequest = check_from_upstream(
        &upstream::CoverageSnapshotRequest { baseline: false },
        assert_same_coverage_snapshot_request,
    );
    assert!(!delta.baseline);
}

#[test]
fn branch_info_crosses_both_ways() {
    check_from_upstream(
        &upstream::BranchInfo {
            total: 4,
            covered: 3,
        },
        assert_same_branch_info,
    );
    check_from_upstream(
        &upstream::BranchInfo {
            total: i32::MAX,
            covered: i32::MIN,
        },
        assert_same_branch_info,
    );
}

#[test]
fn file_coverage_data_crosses_both_ways() {
    let decoded: ours::FileCoverageData =
        check_from_upstream(&full_file_coverage(0, 600), assert_same_file_coverage);
    assert_eq!(decoded.lines.len(), 600);
    assert_eq!(decoded.branches.len(), 200);
}

/// A baseline of a large service: 400 files of 250 lines, about 2 MB on the wire.
#[test]
fn coverage_snapshot_response_with_many_files_crosses_both_ways() {
    let response = full_coverage_snapshot_response(400, 250);
    let decoded: ours::CoverageSnapshotResponse =
        check_from_upstream(&response, assert_same_coverage_snapshot_response);
    assert_eq!(decoded.coverage.len(), 400);
    let total_lines: usize = decoded.coverage.values().map(|file| file.lines.len()).sum();
    assert_eq!(total_lines, 400 * 250);
}

#[test]
fn every_sdk_envelope_crosses_both_ways() {
    use upstream::sdk_message::Payload;
    let envelopes = [
        (
            upstream::MessageType::SdkConnect,
            Payload::ConnectRequest(full_connect_request()),
        ),
        (
            upstream::MessageType::SetTimeTravel,
            Payload::SetTimeTravelResponse(full_set_time_travel_response()),
        ),
        (
            upstream::MessageType::MockRequest,
            Payload::GetMockRequest(full_get_mock_request()),
        ),
        (
            upstream::MessageType::CoverageSnapshot,
            Payload::CoverageSnapshotResponse(full_coverage_snapshot_response(12, 40)),
        ),
    ];
    for (message_type, payload) in envelopes {
        let message = upstream::SdkMessage {
            r#type: message_type as i32,
            request_id: format!("coverage-{}", 1_764_143_999_123_456_789_u64),
            payload: Some(payload),
        };
        let decoded: ours::SdkMessage = check_from_upstream(&message, assert_same_sdk_message);
        assert!(decoded.payload.is_some());
    }
}

#[test]
fn every_cli_envelope_crosses_both_ways() {
    use upstream::cli_message::Payload;
    let envelopes = [
        (
            upstream::MessageType::SdkConnect,
            Payload::ConnectResponse(full_connect_response()),
        ),
        (
            upstream::MessageType::SetTimeTravel,
            Payload::SetTimeTravelRequest(full_set_time_travel_request()),
        ),
        (
            upstream::MessageType::MockRequest,
            Payload::GetMockResponse(full_get_mock_response()),
        ),
        (
            upstream::MessageType::CoverageSnapshot,
            Payload::CoverageSnapshotRequest(upstream::CoverageSnapshotRequest { baseline: true }),
        ),
    ];
    for (message_type, payload) in envelopes {
        let message = upstream::CliMessage {
            r#type: message_type as i32,
            request_id: "coverage-1764143999123456789".to_owned(),
            payload: Some(payload),
        };
        let decoded: ours::CliMessage = check_from_upstream(&message, assert_same_cli_message);
        assert!(decoded.payload.is_some());
    }
}

// ---------------------------------------------------------------------------------------
// Mocks: the full span, its schemas, the request and the response.
// ---------------------------------------------------------------------------------------

fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds,
        nanos: 123_456_789,
    }
}

fn outbound_span() -> upstream::Span {
    upstream::Span {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        span_id: "00f067aa0ba902b7".to_owned(),
        parent_span_id: "53995c3f42cd8ad8".to_owned(),
        name: "GET /orders/{id}".to_owned(),
        package_name: "http".to_owned(),
        instrumentation_name: "HttpInstrumentation".to_owned(),
        submodule_name: "request".to_owned(),
        package_type: upstream::PackageType::Http as i32,
        input_value: Some(rich_metadata()),
        output_value: Some(object(vec![("status", number(200.0))])),
        input_schema: Some(full_json_schema()),
        output_schema: Some(upstream::JsonSchema {
            r#type: upstream::JsonSchemaType::Object as i32,
            properties: HashMap::from([(
                "status".to_owned(),
                upstream::JsonSchema {
                    r#type: upstream::JsonSchemaType::Number as i32,
                    ..Default::default()
                },
            )]),
            ..Default::default()
        }),
        input_schema_hash: "in-schema".to_owned(),
        output_schema_hash: "out-schema".to_owned(),
        input_value_hash: "in-value".to_owned(),
        output_value_hash: "out-value".to_owned(),
        kind: upstream::SpanKind::Client as i32,
        status: Some(upstream::SpanStatus {
            code: upstream::StatusCode::Ok as i32,
            message: "ok".to_owned(),
        }),
        is_pre_app_start: true,
        timestamp: Some(timestamp(1_764_143_999)),
        duration: Some(prost_types::Duration {
            seconds: 1,
            nanos: 5,
        }),
        is_root_span: true,
        metadata: Some(object(vec![("retry", boolean(true))])),
        environment: Some("staging".to_owned()),
        id: Some("span-row-17".to_owned()),
    }
}

/// A schema with every field set, on nested nodes too: properties, items, a -0.0 importance
/// (explicit presence keeps it) and an encoding number upstream does not know.
fn full_json_schema() -> upstream::JsonSchema {
    let string = |extra: fn(&mut upstream::JsonSchema)| {
        let mut node = upstream::JsonSchema {
            r#type: upstream::JsonSchemaType::String as i32,
            ..Default::default()
        };
        extra(&mut node);
        node
    };
    upstream::JsonSchema {
        r#type: upstream::JsonSchemaType::Object as i32,
        properties: HashMap::from([
            (
                "body".to_owned(),
                string(|node| {
                    node.encoding = Some(upstream::EncodingType::Base64 as i32);
                    node.decoded_type = Some(upstream::DecodedType::Json as i32);
                    node.match_importance = Some(1.0);
                }),
            ),
            (
                "headers".to_owned(),
                upstream::JsonSchema {
                    r#type: upstream::JsonSchemaType::Object as i32,
                    properties: HashMap::from([("accept".to_owned(), string(|_| {}))]),
                    match_importance: Some(0.0),
                    ..Default::default()
                },
            ),
            (
                "values".to_owned(),
                upstream::JsonSchema {
                    r#type: upstream::JsonSchemaType::OrderedList as i32,
                    items: Some(Box::new(string(|node| {
                        node.match_importance = Some(-0.0);
                        node.encoding = Some(7);
                    }))),
                    ..Default::default()
                },
            ),
        ]),
        items: None,
        encoding: Some(upstream::EncodingType::Unspecified as i32),
        decoded_type: Some(upstream::DecodedType::Zip as i32),
        match_importance: Some(0.5),
    }
}

fn full_get_mock_request() -> upstream::GetMockRequest {
    upstream::GetMockRequest {
        request_id: "mock-42".to_owned(),
        test_id: "test-9".to_owned(),
        outbound_span: Some(outbound_span()),
        stack_trace: "at orders::handler (src/orders.rs:42)".to_owned(),
        operation: "GET".to_owned(),
        tags: HashMap::from([("db".to_owned(), "orders".to_owned())]),
        requested_at: Some(timestamp(1_764_143_998)),
    }
}

fn full_get_mock_response() -> upstream::GetMockResponse {
    upstream::GetMockResponse {
        request_id: "mock-42".to_owned(),
        found: true,
        response_data: Some(rich_metadata()),
        metadata: Some(object(vec![("source", string("recording"))])),
        error: "none".to_owned(),
        error_code: "E0".to_owned(),
        matched_span_id: "00f067aa0ba902b7".to_owned(),
        matched_at: Some(timestamp(1_764_144_000)),
        match_level: Some(upstream::MatchLevel {
            match_type: upstream::MatchType::Fuzzy as i32,
            match_scope: upstream::MatchScope::Trace as i32,
            match_description: "closest body".to_owned(),
            similarity_score: Some(0.93),
            top_candidates: vec![
                upstream::SimilarityCandidate {
                    span_id: "b7ad6b7169203331".to_owned(),
                    score: 0.81,
                },
                upstream::SimilarityCandidate {
                    span_id: "c7ad6b7169203332".to_owned(),
                    score: f32::NAN,
                },
            ],
        }),
    }
}

#[test]
fn cli_mock_response_crosses_both_ways() {
    let message = upstream::CliMessage {
        r#type: upstream::MessageType::MockRequest as i32,
        request_id: "mock-42".to_owned(),
        payload: Some(upstream::cli_message::Payload::GetMockResponse(
            full_get_mock_response(),
        )),
    };
    let decoded: ours::CliMessage = check_from_upstream(&message, assert_same_cli_message);
    assert!(matches!(
        decoded.payload,
        Some(ours::cli_message::Payload::GetMockResponse(_))
    ));
    // A miss: found = false with the CLI's error text, no match level.
    let miss = upstream::CliMessage {
        r#type: upstream::MessageType::MockRequest as i32,
        request_id: "mock-43".to_owned(),
        payload: Some(upstream::cli_message::Payload::GetMockResponse(
            upstream::GetMockResponse {
                error: "no mock found for  GET /x: no matching span found".to_owned(),
                ..Default::default()
            },
        )),
    };
    check_from_upstream::<ours::CliMessage, _>(&miss, assert_same_cli_message);
}

#[test]
fn sdk_mock_request_crosses_both_ways() {
    let message = upstream::SdkMessage {
        r#type: upstream::MessageType::MockRequest as i32,
        request_id: "mock-42".to_owned(),
        payload: Some(upstream::sdk_message::Payload::GetMockRequest(
            full_get_mock_request(),
        )),
    };
    let decoded: ours::SdkMessage = check_from_upstream(&message, assert_same_sdk_message);
    let Some(ours::sdk_message::Payload::GetMockRequest(request)) = decoded.payload else {
        panic!("expected a GetMockRequest");
    };
    let span = request.outbound_span.expect("the span crossed");
    assert_eq!(span.input_value_hash, "in-value");
    let schema = span.input_schema.expect("the schema crossed");
    assert_eq!(
        schema.properties["values"]
            .items
            .as_ref()
            .and_then(|items| items.match_importance)
            .map(f64::to_bits),
        Some((-0.0_f64).to_bits())
    );
}

// ---------------------------------------------------------------------------------------
// Payloads outside what we model are skipped, never an error.
// ---------------------------------------------------------------------------------------

/// Decodes an upstream CLI frame with ours and checks that the envelope survived and the
/// payload was skipped; re-encoding what we decoded gives upstream an envelope without it.
fn assert_cli_payload_skipped(message: &upstream::CliMessage) {
    assert!(message.payload.is_some());
    let bytes = message.encode_to_vec();
    let decoded = ours::CliMessage::decode(bytes.as_slice())
        .expect("an unmodelled CLI payload must not be a decoding error");
    assert_eq!(decoded.r#type, message.r#type);
    assert_eq!(decoded.request_id, message.request_id);
    assert_eq!(decoded.payload, None);

    let back = upstream::CliMessage::decode(decoded.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back.r#type, message.r#type);
    assert_eq!(back.request_id, message.request_id);
    assert_eq!(back.payload, None);
}

fn assert_sdk_payload_skipped(message: &upstream::SdkMessage) {
    assert!(message.payload.is_some());
    let bytes = message.encode_to_vec();
    let decoded = ours::SdkMessage::decode(bytes.as_slice())
        .expect("an unmodelled SDK payload must not be a decoding error");
    assert_eq!(decoded.r#type, message.r#type);
    assert_eq!(decoded.request_id, message.request_id);
    assert_eq!(decoded.payload, None);

    let back = upstream::SdkMessage::decode(decoded.encode_to_vec().as_slice()).unwrap();
    assert_eq!(back.r#type, message.r#type);
    assert_eq!(back.request_id, message.request_id);
    assert_eq!(back.payload, None);
}

#[test]
fn cli_inbound_span_response_crosses_both_ways() {
    let message = upstream::CliMessage {
        r#type: upstream::MessageType::InboundSpan as i32,
        request_id: "span-7".to_owned(),
        payload: Some(
            upstream::cli_message::Payload::SendInboundSpanForReplayResponse(
                upstream::SendInboundSpanForReplayResponse { success: true },
            ),
        ),
    };
    let decoded: ours::CliMessage = check_from_upstream(&message, assert_same_cli_message);
    assert!(decoded.payload.is_some());
}

#[test]
fn cli_env_var_response_is_skipped() {
    assert_cli_payload_skipped(&upstream::CliMessage {
        r#type: upstream::MessageType::EnvVarRequest as i32,
        request_id: "env-3".to_owned(),
        payload: Some(upstream::cli_message::Payload::EnvVarResponse(
            upstream::EnvVarResponse {
                env_vars: HashMap::from([
                    ("DATABASE_URL".to_owned(), "postgres://replay".to_owned()),
                    ("TZ".to_owned(), "UTC".to_owned()),
                ]),
            },
        )),
    });
}

#[test]
fn sdk_alerts_are_skipped() {
    use upstream::send_alert_request::Alert;
    let alerts = [
        Alert::VersionMismatch(upstream::InstrumentationVersionMismatchAlert {
            module_name: "reqwest".to_owned(),
            requested_version: "0.13.0".to_owned(),
            supported_versions: vec!["0.11".to_owned(), "0.12".to_owned()],
            sdk_version: "0.1.0".to_owned(),
        }),
        Alert::UnpatchedDependency(upstream::UnpatchedDependencyAlert {
            stack_trace: "at main (src/main.rs:1)".to_owned(),
            trace_test_server_span_id: "00f067aa0ba902b7".to_owned(),
            sdk_version: "0.1.0".to_owned(),
        }),
    ];
    for alert in alerts {
        assert_sdk_payload_skipped(&upstream::SdkMessage {
            r#type: upstream::MessageType::Alert as i32,
            request_id: "alert-1".to_owned(),
            payload: Some(upstream::sdk_message::Payload::SendAlertRequest(
                upstream::SendAlertRequest { alert: Some(alert) },
            )),
        });
    }
}

#[test]
fn sdk_inbound_span_request_crosses_both_ways() {
    let message = upstream::SdkMessage {
        r#type: upstream::MessageType::InboundSpan as i32,
        request_id: "span-7".to_owned(),
        payload: Some(
            upstream::sdk_message::Payload::SendInboundSpanForReplayRequest(
                upstream::SendInboundSpanForReplayRequest {
                    span: Some(outbound_span()),
                },
            ),
        ),
    };
    let decoded: ours::SdkMessage = check_from_upstream(&message, assert_same_sdk_message);
    assert!(decoded.payload.is_some());
}

#[test]
fn sdk_env_var_request_is_skipped() {
    assert_sdk_payload_skipped(&upstream::SdkMessage {
        r#type: upstream::MessageType::EnvVarRequest as i32,
        request_id: "env-3".to_owned(),
        payload: Some(upstream::sdk_message::Payload::EnvVarRequest(
            upstream::EnvVarRequest {
                trace_test_server_span_id: "00f067aa0ba902b7".to_owned(),
            },
        )),
    });
}

// ---------------------------------------------------------------------------------------
// Generated values.
// ---------------------------------------------------------------------------------------

/// A known enum number most of the time, any `int32` otherwise: proto3 enums are open, so
/// unknown numbers must cross the wire unchanged.
fn enum_number(known: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = i32> {
    prop_oneof![4 => known, 1 => any::<i32>()]
}

fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

/// Any `google.protobuf.Value`, nested up to four levels, doubles of every class.
fn metadata_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value { kind: None }),
        Just(null()),
        any::<f64>().prop_map(number),
        text().prop_map(|value| string(&value)),
        any::<bool>().prop_map(boolean),
    ];
    leaf.prop_recursive(4, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(list),
            prop::collection::btree_map(text(), inner, 0..8).prop_map(|fields| Value {
                kind: Some(Kind::StructValue(Struct { fields })),
            }),
        ]
    })
}

fn metadata() -> impl Strategy<Value = Struct> {
    prop::collection::btree_map(text(), metadata_value(), 0..12)
        .prop_map(|fields: BTreeMap<String, Value>| Struct { fields })
}

fn connect_request() -> impl Strategy<Value = ours::ConnectRequest> {
    (
        text(),
        text(),
        text(),
        prop::option::of(metadata()),
        enum_number(0..=2),
    )
        .prop_map(
            |(service_id, sdk_version, min_cli_version, metadata, runtime)| ours::ConnectRequest {
                service_id,
                sdk_version,
                min_cli_version,
                metadata,
                runtime,
            },
        )
}

fn connect_response() -> impl Strategy<Value = ours::ConnectResponse> {
    (any::<bool>(), text()).prop_map(|(success, error)| ours::ConnectResponse { success, error })
}

fn set_time_travel_request() -> impl Strategy<Value = ours::SetTimeTravelRequest> {
    (any::<f64>(), text(), text()).prop_map(|(timestamp_seconds, trace_id, timestamp_source)| {
        ours::SetTimeTravelRequest {
            timestamp_seconds,
            trace_id,
            timestamp_source,
        }
    })
}

fn set_time_travel_response() -> impl Strategy<Value = ours::SetTimeTravelResponse> {
    (any::<bool>(), text())
        .prop_map(|(success, error)| ours::SetTimeTravelResponse { success, error })
}

fn coverage_snapshot_request() -> impl Strategy<Value = ours::CoverageSnapshotRequest> {
    any::<bool>().prop_map(|baseline| ours::CoverageSnapshotRequest { baseline })
}

fn branch_info() -> impl Strategy<Value = ours::BranchInfo> {
    (any::<i32>(), any::<i32>()).prop_map(|(total, covered)| ours::BranchInfo { total, covered })
}

fn line_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1_u32..200_000).prop_map(|line| line.to_string()),
        1 => text(),
    ]
}

fn file_coverage() -> impl Strategy<Value = ours::FileCoverageData> {
    (
        prop::collection::hash_map(line_key(), any::<i32>(), 0..96),
        any::<i32>(),
        any::<i32>(),
        prop::collection::hash_map(line_key(), branch_info(), 0..32),
    )
        .prop_map(|(lines, total_branches, covered_branches, branches)| {
            ours::FileCoverageData {
                lines,
                total_branches,
                covered_branches,
                branches,
            }
        })
}

fn coverage_snapshot_response() -> impl Strategy<Value = ours::CoverageSnapshotResponse> {
    (
        any::<bool>(),
        text(),
        prop::collection::hash_map(text(), file_coverage(), 0..12),
    )
        .prop_map(
            |(success, error, coverage)| ours::CoverageSnapshotResponse {
                success,
                error,
                coverage,
            },
        )
}

fn seconds_nanos() -> impl Strategy<Value = (i64, i32)> {
    (any::<i64>(), any::<i32>())
}

/// Any schema, nested up to four levels through properties and items, with importances
/// of every float class and enum numbers upstream does not know.
fn json_schema() -> impl Strategy<Value = ours::JsonSchema> {
    fn node() -> impl Strategy<Value = (i32, Option<i32>, Option<i32>, Option<f64>)> {
        (
            enum_number(0..=9),
            prop::option::of(enum_number(0..=1)),
            prop::option::of(enum_number(0..=24)),
            prop::option::of(any::<f64>()),
        )
    }
    let leaf =
        node().prop_map(
            |(r#type, encoding, decoded_type, match_importance)| ours::JsonSchema {
                r#type,
                encoding,
                decoded_type,
                match_importance,
                ..Default::default()
            },
        );
    leaf.prop_recursive(4, 64, 6, |inner| {
        (
            node(),
            prop::collection::hash_map(text(), inner.clone(), 0..6),
            prop::option::of(inner),
        )
            .prop_map(
                |((r#type, encoding, decoded_type, match_importance), properties, items)| {
                    ours::JsonSchema {
                        r#type,
                        properties,
                        items: items.map(Box::new),
                        encoding,
                        decoded_type,
                        match_importance,
                    }
                },
            )
    })
}

fn span() -> impl Strategy<Value = ours::Span> {
    let names = (text(), text(), text(), text(), text(), text(), text());
    let values = (
        prop::option::of(metadata()),
        prop::option::of(metadata()),
        prop::option::of(metadata()),
    );
    let schemas = (
        prop::option::of(json_schema()),
        prop::option::of(json_schema()),
        (text(), text(), text(), text()),
        prop::option::of(text()),
    );
    let flags = (
        enum_number(0..=11),
        enum_number(0..=5),
        prop::option::of((enum_number(0..=2), text())),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(seconds_nanos()),
        prop::option::of(seconds_nanos()),
        prop::option::of(text()),
    );
    (names, values, flags, schemas).prop_map(
        |(
            (
                trace_id,
                span_id,
                parent_span_id,
                name,
                package_name,
                instrumentation_name,
                submodule_name,
            ),
            (input_value, output_value, metadata),
            (
                package_type,
                kind,
                status,
                is_pre_app_start,
                is_root_span,
                timestamp,
                duration,
                environment,
            ),
            (
                input_schema,
                output_schema,
                (input_schema_hash, output_schema_hash, input_value_hash, output_value_hash),
                id,
            ),
        )| ours::Span {
            trace_id,
            span_id,
            parent_span_id,
            name,
            package_name,
            instrumentation_name,
            submodule_name,
            package_type,
            input_value,
            output_value,
            input_schema,
            output_schema,
            input_schema_hash,
            output_schema_hash,
            input_value_hash,
            output_value_hash,
            kind,
            status: status.map(|(code, message)| ours::SpanStatus { code, message }),
            is_pre_app_start,
            timestamp: timestamp.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
            duration: duration.map(|(seconds, nanos)| prost_types::Duration { seconds, nanos }),
            is_root_span,
            metadata,
            environment,
            id,
        },
    )
}

fn timestamp_value() -> impl Strategy<Value = prost_types::Timestamp> {
    seconds_nanos().prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos })
}

fn get_mock_request() -> impl Strategy<Value = ours::GetMockRequest> {
    (
        (text(), text(), text(), text()),
        prop::option::of(span()),
        prop::collection::hash_map(text(), text(), 0..6),
        prop::option::of(timestamp_value()),
    )
        .prop_map(
            |((request_id, test_id, stack_trace, operation), outbound_span, tags, requested_at)| {
                ours::GetMockRequest {
                    request_id,
                    test_id,
                    outbound_span,
                    stack_trace,
                    operation,
                    tags,
                    requested_at,
                }
            },
        )
}

fn match_level() -> impl Strategy<Value = ours::MatchLevel> {
    (
        enum_number(0..=6),
        enum_number(0..=2),
        text(),
        prop::option::of(any::<f32>()),
        prop::collection::vec((text(), any::<f32>()), 0..6),
    )
        .prop_map(
            |(match_type, match_scope, match_description, similarity_score, candidates)| {
                ours::MatchLevel {
                    match_type,
                    match_scope,
                    match_description,
                    similarity_score,
                    top_candidates: candidates
                        .into_iter()
                        .map(|(span_id, score)| ours::SimilarityCandidate { span_id, score })
                        .collect(),
                }
            },
        )
}

fn get_mock_response() -> impl Strategy<Value = ours::GetMockResponse> {
    (
        (text(), any::<bool>(), text(), text(), text()),
        (prop::option::of(metadata()), prop::option::of(metadata())),
        prop::option::of(timestamp_value()),
        prop::option::of(match_level()),
    )
        .prop_map(
            |(
                (request_id, found, error, error_code, matched_span_id),
                (response_data, metadata),
                matched_at,
                match_level,
            )| ours::GetMockResponse {
                request_id,
                found,
                response_data,
                metadata,
                error,
                error_code,
                matched_span_id,
                matched_at,
                match_level,
            },
        )
}

fn sdk_message() -> impl Strategy<Value = ours::SdkMessage> {
    use ours::sdk_message::Payload;
    let payload = prop::option::of(prop_oneof![
        connect_request().prop_map(Payload::ConnectRequest),
        get_mock_request().prop_map(Payload::GetMockRequest),
        set_time_travel_response().prop_map(Payload::SetTimeTravelResponse),
        prop::option::of(span()).prop_map(|span| {
            Payload::SendInboundSpanForReplayRequest(ours::SendInboundSpanForReplayRequest { span })
        }),
        coverage_snapshot_response().prop_map(Payload::CoverageSnapshotResponse),
    ]);
    (enum_number(0..=7), text(), payload).prop_map(|(r#type, request_id, payload)| {
        ours::SdkMessage {
            r#type,
            request_id,
            payload,
        }
    })
}

fn cli_message() -> impl Strategy<Value = ours::CliMessage> {
    use ours::cli_message::Payload;
    let payload = prop::option::of(prop_oneof![
        connect_response().prop_map(Payload::ConnectResponse),
        get_mock_response().prop_map(Payload::GetMockResponse),
        set_time_travel_request().prop_map(Payload::SetTimeTravelRequest),
        any::<bool>().prop_map(|success| {
            Payload::SendInboundSpanForReplayResponse(ours::SendInboundSpanForReplayResponse {
                success,
            })
        }),
        coverage_snapshot_request().prop_map(Payload::CoverageSnapshotRequest),
    ]);
    (enum_number(0..=7), text(), payload).prop_map(|(r#type, request_id, payload)| {
        ours::CliMessage {
            r#type,
            request_id,
            payload,
        }
    })
}

proptest! {
    #[test]
    fn generated_connect_requests_cross_both_ways(value in connect_request()) {
        check_both_directions(&value, connect_request_to_upstream, assert_same_connect_request);
    }

    #[test]
    fn generated_connect_responses_cross_both_ways(value in connect_response()) {
        check_both_directions(&value, connect_response_to_upstream, assert_same_connect_response);
    }

    #[test]
    fn generated_set_time_travel_requests_cross_both_ways(value in set_time_travel_request()) {
        check_both_directions(
            &value,
            set_time_travel_request_to_upstream,
            assert_same_set_time_travel_request,
        );
    }

    #[test]
    fn generated_set_time_travel_responses_cross_both_ways(value in set_time_travel_response()) {
        check_both_directions(
            &value,
            set_time_travel_response_to_upstream,
            assert_same_set_time_travel_response,
        );
    }

    #[test]
    fn generated_coverage_snapshot_requests_cross_both_ways(
        value in coverage_snapshot_request(),
    ) {
        check_both_directions(
            &value,
            coverage_snapshot_request_to_upstream,
            assert_same_coverage_snapshot_request,
        );
    }

    #[test]
    fn generated_coverage_snapshot_responses_cross_both_ways(
        value in coverage_snapshot_response(),
    ) {
        check_both_directions(
            &value,
            coverage_snapshot_response_to_upstream,
            assert_same_coverage_snapshot_response,
        );
    }

    #[test]
    fn generated_file_coverage_crosses_both_ways(value in file_coverage()) {
        check_both_directions(&value, file_coverage_to_upstream, assert_same_file_coverage);
    }

    #[test]
    fn generated_branch_info_crosses_both_ways(value in branch_info()) {
        check_both_directions(&value, branch_info_to_upstream, assert_same_branch_info);
    }

    #[test]
    fn generated_spans_cross_both_ways(value in span()) {
        check_both_directions(&value, span_to_upstream, assert_same_span);
    }

    #[test]
    fn generated_json_schemas_cross_both_ways(value in json_schema()) {
        check_both_directions(&value, json_schema_to_upstream, |a, b| {
            assert_same_json_schema(a, b, "schema");
        });
    }

    #[test]
    fn generated_match_levels_cross_both_ways(value in match_level()) {
        check_both_directions(&value, match_level_to_upstream, |a, b| {
            assert_same_match_level(a, b, "match_level");
        });
    }

    #[test]
    fn generated_mock_requests_cross_both_ways(value in get_mock_request()) {
        check_both_directions(&value, get_mock_request_to_upstream, assert_same_get_mock_request);
    }

    #[test]
    fn generated_mock_responses_cross_both_ways(value in get_mock_response()) {
        check_both_directions(
            &value,
            get_mock_response_to_upstream,
            assert_same_get_mock_response,
        );
    }

    #[test]
    fn generated_sdk_messages_cross_both_ways(value in sdk_message()) {
        check_both_directions(&value, sdk_message_to_upstream, assert_same_sdk_message);
    }

    #[test]
    fn generated_cli_messages_cross_both_ways(value in cli_message()) {
        check_both_directions(&value, cli_message_to_upstream, assert_same_cli_message);
    }
}
