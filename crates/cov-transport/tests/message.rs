//! The typed codecs: unknown fields, payloads and message types, undecodable frames, and
//! property-based round trips, including through the upstream `tusk-drift-schemas` types.

use bytes::{BufMut, BytesMut};
use cov_proto::{
    BranchInfo, CliMessage, ConnectRequest, ConnectResponse, CoverageSnapshotRequest,
    CoverageSnapshotResponse, FileCoverageData, Message, SdkMessage, SetTimeTravelRequest,
    SetTimeTravelResponse, cli_message, prost_types, sdk_message,
};
use cov_transport::frame::{CliCodec, SdkCodec};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};
use tusk_drift_schemas::tusk::drift::core::v1 as upstream;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

fn decode_all<D: Decoder>(codec: &mut D, bytes: &[u8]) -> Vec<D::Item>
where
    D::Error: std::fmt::Debug,
{
    let mut buffer = BytesMut::from(bytes);
    let mut items = Vec::new();
    while let Some(item) = codec.decode_eof(&mut buffer).unwrap() {
        items.push(item);
    }
    items
}

#[test]
fn unknown_payload_is_skipped_keeping_type_and_request_id() {
    // A CLI env-var response (payload tag 6), which this project does not model.
    let env_vars = upstream::CliMessage {
        r#type: upstream::MessageType::EnvVarRequest as i32,
        request_id: "env-1".to_owned(),
        payload: Some(upstream::cli_message::Payload::EnvVarResponse(
            upstream::EnvVarResponse {
                env_vars: [("PATH".to_owned(), "/bin".to_owned())].into(),
            },
        )),
    };
    let mut codec = SdkCodec::default();
    let messages = decode_all(&mut codec, &frame(&env_vars.encode_to_vec()));
    assert_eq!(
        messages,
        [CliMessage {
            r#type: cov_proto::MessageType::EnvVarRequest as i32,
            request_id: "env-1".to_owned(),
            payload: None,
        }]
    );
    assert_eq!(codec.skipped_undecodable(), 0);
}

#[test]
fn unknown_fields_are_skipped() {
    let known = CliMessage {
        r#type: cov_proto::MessageType::CoverageSnapshot as i32,
        request_id: "coverage-1".to_owned(),
        payload: Some(cli_message::Payload::CoverageSnapshotRequest(
            CoverageSnapshotRequest { baseline: true },
        )),
    };
    let mut payload = BytesMut::from(&known.encode_to_vec()[..]);
    // Field 99, varint 7; field 100, length-delimited "future"; field 101, fixed64.
    payload.put_slice(&[0x98, 0x06, 0x07]);
    payload.put_slice(&[0xA2, 0x06, 6]);
    payload.put_slice(b"future");
    payload.put_slice(&[0xA9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    let messages = decode_all(&mut SdkCodec::default(), &frame(&payload));
    assert_eq!(messages, [known]);
}

#[test]
fn unknown_message_type_is_kept_as_its_number() {
    let message = CliMessage {
        r#type: 42,
        request_id: "x".to_owned(),
        payload: None,
    };
    let messages = decode_all(&mut SdkCodec::default(), &frame(&message.encode_to_vec()));
    assert_eq!(messages, [message]);
}

#[test]
fn undecodable_frame_is_skipped_and_the_next_one_arrives() {
    let good = SdkMessage {
        r#type: cov_proto::MessageType::CoverageSnapshot as i32,
        request_id: "coverage-2".to_owned(),
        payload: None,
    };
    // Field 2 announces 5 bytes of string but the frame ends after 1: invalid protobuf.
    let bad = [0x12, 0x05, b'a'];
    // A field number of 0 is invalid too.
    let also_bad = [0x00, 0x01];
    let bytes = [frame(&bad), frame(&also_bad), frame(&good.encode_to_vec())].concat();
    let mut codec = CliCodec::default();
    let messages = decode_all(&mut codec, &bytes);
    assert_eq!(messages, [good]);
    assert_eq!(codec.skipped_undecodable(), 2);
}

#[test]
fn empty_frame_is_an_empty_message() {
    // Protobuf's empty encoding: every field at its default, type UNSPECIFIED. The Tusk
    // CLI treats it as an unknown message type; so does a receiver that dispatches on type.
    let messages = decode_all(&mut SdkCodec::default(), &frame(&[]));
    assert_eq!(messages, [CliMessage::default()]);
}

#[test]
fn oversized_message_is_refused_by_the_encoder() {
    let message = SdkMessage {
        r#type: cov_proto::MessageType::CoverageSnapshot as i32,
        request_id: "x".repeat(100),
        payload: None,
    };
    let mut codec = SdkCodec::with_max_frame_len(64);
    let mut out = BytesMut::new();
    let error = codec.encode(message, &mut out).unwrap_err();
    assert!(
        matches!(error, cov_transport::FrameError::TooLarge { max: 64, .. }),
        "{error:?}"
    );
    assert!(out.is_empty());
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/._ -]{0,24}"
}

fn metadata() -> impl Strategy<Value = Option<prost_types::Struct>> {
    proptest::option::of(
        proptest::collection::btree_map(text(), text(), 0..4).prop_map(|fields| {
            prost_types::Struct {
                fields: fields
                    .into_iter()
                    .map(|(key, value)| {
                        let value = prost_types::Value {
                            kind: Some(prost_types::value::Kind::StringValue(value)),
                        };
                        (key, value)
                    })
                    .collect(),
            }
        }),
    )
}

fn file_coverage() -> impl Strategy<Value = FileCoverageData> {
    (
        proptest::collection::hash_map("[1-9][0-9]{0,4}", any::<i32>(), 0..20),
        any::<i32>(),
        any::<i32>(),
        proptest::collection::hash_map(
            "[1-9][0-9]{0,4}",
            (any::<i32>(), any::<i32>()).prop_map(|(total, covered)| BranchInfo { total, covered }),
            0..8,
        ),
    )
        .prop_map(
            |(lines, total_branches, covered_branches, branches)| FileCoverageData {
                lines,
                total_branches,
                covered_branches,
                branches,
            },
        )
}

fn sdk_message() -> impl Strategy<Value = SdkMessage> {
    let payload = prop_oneof![
        Just(None),
        (text(), text(), text(), metadata(), 0..3i32).prop_map(
            |(service_id, sdk_version, min_cli_version, metadata, runtime)| {
                Some(sdk_message::Payload::ConnectRequest(ConnectRequest {
                    service_id,
                    sdk_version,
                    min_cli_version,
                    metadata,
                    runtime,
                }))
            }
        ),
        (any::<bool>(), text()).prop_map(|(success, error)| Some(
            sdk_message::Payload::SetTimeTravelResponse(SetTimeTravelResponse { success, error })
        )),
        (
            any::<bool>(),
            text(),
            proptest::collection::hash_map("/[a-z/]{1,20}\\.rs", file_coverage(), 0..4)
        )
            .prop_map(|(success, error, coverage)| Some(
                sdk_message::Payload::CoverageSnapshotResponse(CoverageSnapshotResponse {
                    success,
                    error,
                    coverage,
                })
            )),
    ];
    (0..8i32, text(), payload).prop_map(|(r#type, request_id, payload)| SdkMessage {
        r#type,
        request_id,
        payload,
    })
}

fn cli_message() -> impl Strategy<Value = CliMessage> {
    let payload = prop_oneof![
        Just(None),
        (any::<bool>(), text()).prop_map(|(success, error)| Some(
            cli_message::Payload::ConnectResponse(ConnectResponse { success, error })
        )),
        (-1e12f64..1e12, text(), text()).prop_map(
            |(timestamp_seconds, trace_id, timestamp_source)| Some(
                cli_message::Payload::SetTimeTravelRequest(SetTimeTravelRequest {
                    timestamp_seconds,
                    trace_id,
                    timestamp_source,
                })
            )
        ),
        any::<bool>().prop_map(
            |baseline| Some(cli_message::Payload::CoverageSnapshotRequest(
                CoverageSnapshotRequest { baseline }
            ))
        ),
    ];
    (0..8i32, text(), payload).prop_map(|(r#type, request_id, payload)| CliMessage {
        r#type,
        request_id,
        payload,
    })
}

proptest! {
    #[test]
    fn sdk_messages_round_trip(messages in proptest::collection::vec(sdk_message(), 0..6)) {
        // Written by the SDK side's codec, read by the CLI side's codec.
        let mut writer = SdkCodec::default();
        let mut wire = BytesMut::new();
        for message in &messages {
            writer.encode(message.clone(), &mut wire).unwrap();
        }
        prop_assert_eq!(decode_all(&mut CliCodec::default(), &wire), messages);
    }

    #[test]
    fn cli_messages_round_trip(messages in proptest::collection::vec(cli_message(), 0..6)) {
        let mut writer = CliCodec::default();
        let mut wire = BytesMut::new();
        for message in &messages {
            writer.encode(message.clone(), &mut wire).unwrap();
        }
        prop_assert_eq!(decode_all(&mut SdkCodec::default(), &wire), messages);
    }

    #[test]
    fn sdk_messages_survive_the_upstream_types(message in sdk_message()) {
        // Our SDK frame payload decodes with the real schema and loses nothing: encoding
        // the upstream value again gives back the same message here.
        let upstream_message = upstream::SdkMessage::decode(message.encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(upstream_message.r#type, message.r#type);
        prop_assert_eq!(&upstream_message.request_id, &message.request_id);
        prop_assert_eq!(upstream_message.payload.is_some(), message.payload.is_some());
        let back = SdkMessage::decode(upstream_message.encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(back, message);
    }

    #[test]
    fn cli_messages_from_the_upstream_types_decode(message in cli_message()) {
        // What the real CLI would encode for the same content decodes to the same message.
        let upstream_message = upstream::CliMessage::decode(message.encode_to_vec().as_slice()).unwrap();
        let mut codec = SdkCodec::default();
        let decoded = decode_all(&mut codec, &frame(&upstream_message.encode_to_vec()));
        prop_assert_eq!(decoded, vec![message]);
    }
}
