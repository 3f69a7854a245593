//! Fuzz-style properties of the message layer and the state machines: every message a
//! well-behaved peer can send survives encoding, chunking and decoding unchanged, and
//! nothing (codec, recorder, replay session, span reader, SQL splitter) panics on noise.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use cov_postgres::message::{
    Authentication, Backend, Bind, CopyResponse, DataRow, FieldDescription, Framed, Framer,
    Frontend, MAX_MESSAGE_LEN, PROTOCOL_VERSION_3_0, Parse, Startup, Target,
};
use cov_postgres::record::{Recorder, RecorderConfig};
use cov_postgres::replay::{Poll, ReplayConfig, ReplaySession, Unmatched};
use cov_postgres::span::{DescribeOutput, ExecuteOutput};
use cov_postgres::sql;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(1u8..=255, 0..24).prop_map(Bytes::from)
}

fn nonempty_text() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(1u8..=255, 1..24).prop_map(Bytes::from)
}

fn raw() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from)
}

fn value() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(raw())
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![Just(Target::Statement), Just(Target::Portal)]
}

fn bind() -> impl Strategy<Value = Bind> {
    (
        text(),
        text(),
        proptest::collection::vec(value(), 0..5),
        any::<bool>(),
        proptest::collection::vec(any::<i16>(), 0..4),
    )
        .prop_flat_map(|(portal, statement, params, one_format, result_formats)| {
            let n = if one_format {
                params.len().min(1)
            } else {
                params.len()
            };
            proptest::collection::vec(any::<i16>(), n).prop_map(move |param_formats| Bind {
                portal: portal.clone(),
                statement: statement.clone(),
                param_formats,
                params: params.clone(),
                result_formats: result_formats.clone(),
            })
        })
}

fn frontend() -> impl Strategy<Value = Frontend> {
    prop_oneof![
        raw().prop_map(Frontend::Password),
        text().prop_map(Frontend::Query),
        (
            text(),
            text(),
            proptest::collection::vec(any::<u32>(), 0..4)
        )
            .prop_map(|(name, query, param_types)| {
                Frontend::Parse(Parse {
                    name,
                    query,
                    param_types,
                })
            }),
        bind().prop_map(Frontend::Bind),
        (target(), text()).prop_map(|(target, name)| Frontend::Describe { target, name }),
        (target(), text()).prop_map(|(target, name)| Frontend::Close { target, name }),
        (text(), any::<i32>())
            .prop_map(|(portal, max_rows)| Frontend::Execute { portal, max_rows }),
        Just(Frontend::Sync),
        Just(Frontend::Flush),
        Just(Frontend::Terminate),
        raw().prop_map(Frontend::CopyData),
        Just(Frontend::CopyDone),
        text().prop_map(Frontend::CopyFail),
    ]
}

fn field() -> impl Strategy<Value = FieldDescription> {
    (
        text(),
        any::<u32>(),
        any::<i16>(),
        any::<u32>(),
        any::<i16>(),
        any::<i32>(),
        any::<i16>(),
    )
        .prop_map(
            |(name, table_oid, column, type_oid, type_size, type_modifier, format)| {
                FieldDescription {
                    name,
                    table_oid,
                    column,
                    type_oid,
                    type_size,
                    type_modifier,
                    format,
                }
            },
        )
}

fn error_fields() -> impl Strategy<Value = Vec<(u8, Bytes)>> {
    proptest::collection::vec((1u8..=255, text()), 0..6)
}

fn backend() -> impl Strategy<Value = Backend> {
    prop_oneof![
        Just(Backend::Authentication(Authentication::Ok)),
        any::<[u8; 4]>()
            .prop_map(|salt| Backend::Authentication(Authentication::Md5Password { salt })),
        proptest::collection::vec(nonempty_text(), 0..3)
            .prop_map(|mechanisms| Backend::Authentication(Authentication::Sasl { mechanisms })),
        raw().prop_map(|data| Backend::Authentication(Authentication::SaslContinue(data))),
        (text(), text()).prop_map(|(name, value)| Backend::ParameterStatus { name, value }),
        (any::<i32>(), nonempty_text()).prop_map(|(process_id, secret_key)| {
            Backend::BackendKeyData {
                process_id,
                secret_key,
            }
        }),
        Just(Backend::ParseComplete),
        Just(Backend::BindComplete),
        Just(Backend::CloseComplete),
        Just(Backend::PortalSuspended),
        Just(Backend::NoData),
        Just(Backend::EmptyQueryResponse),
        text().prop_map(Backend::CommandComplete),
        prop_oneof![Just(b'I'), Just(b'T'), Just(b'E')].prop_map(Backend::ReadyForQuery),
        error_fields().prop_map(Backend::ErrorResponse),
        error_fields().prop_map(Backend::NoticeResponse),
        (any::<i32>(), text(), text()).prop_map(|(process_id, channel, payload)| {
            Backend::NotificationResponse {
                process_id,
                channel,
                payload,
            }
        }),
        proptest::collection::vec(any::<u32>(), 0..5).prop_map(Backend::ParameterDescription),
        proptest::collection::vec(field(), 0..4).prop_map(Backend::RowDescription),
        proptest::collection::vec(value(), 0..5).prop_map(|columns| {
            let borrowed: Vec<Option<&[u8]>> = columns.iter().map(Option::as_deref).collect();
            Backend::DataRow(DataRow::new(&borrowed).unwrap())
        }),
        value().prop_map(Backend::FunctionCallResponse),
        (any::<i8>(), proptest::collection::vec(any::<i16>(), 0..4)).prop_map(
            |(format, column_formats)| Backend::CopyOutResponse(CopyResponse {
                format,
                column_formats
            })
        ),
        raw().prop_map(Backend::CopyData),
        Just(Backend::CopyDone),
    ]
}

/// Cuts `bytes` at the given points (taken modulo its length).
fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| Bytes::copy_from_slice(&bytes[w[0]..w[1]]))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn client_messages_survive_encoding_and_any_chunking(
        messages in proptest::collection::vec(frontend(), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut out = BytesMut::new();
        Frontend::Startup(Startup {
            version: PROTOCOL_VERSION_3_0,
            params: vec![(Bytes::from_static(b"user"), Bytes::from_static(b"u"))],
        })
        .encode(&mut out)
        .unwrap();
        for message in &messages {
            message.encode(&mut out).unwrap();
        }
        let mut framer = Framer::new(true, MAX_MESSAGE_LEN);
        let mut decoded = Vec::new();
        for chunk in chunks(&out, &cuts) {
            framer.push(chunk);
            while let Some(Framed::Message(frame)) = framer.next_frame().unwrap() {
                let message = Frontend::decode_frame(frame).unwrap();
                if matches!(message, Frontend::Startup(_)) {
                    framer.set_untyped(false);
                    continue;
                }
                decoded.push(message);
            }
        }
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn server_messages_survive_encoding_and_any_chunking(
        messages in proptest::collection::vec(backend(), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut out = BytesMut::new();
        for message in &messages {
            message.encode(&mut out).unwrap();
        }
        let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
        let mut decoded = Vec::new();
        for chunk in chunks(&out, &cuts) {
            framer.push(chunk);
            while let Some(Framed::Message(frame)) = framer.next_frame().unwrap() {
                decoded.push(Backend::decode_frame(frame).unwrap());
            }
        }
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn noise_is_an_error_or_a_message_never_a_panic(
        tag in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        stream in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = Frontend::decode(tag, Bytes::from(body.clone()));
        let _ = Backend::decode(tag, Bytes::from(body.clone()));
        let _ = Frontend::decode_startup(Bytes::from(body));
        for untyped in [true, false] {
            let mut framer = Framer::new(untyped, 1 << 16);
            framer.push(Bytes::from(stream.clone()));
            while let Ok(Some(framed)) = framer.next_frame() {
                if let Framed::Message(frame) = framed {
                    let _ = Frontend::decode_frame(frame.clone());
                    let _ = Backend::decode_frame(frame);
                }
            }
        }
    }

    #[test]
    fn the_recorder_survives_any_conversation(
        client in proptest::collection::vec(frontend(), 0..10),
        server in proptest::collection::vec(backend(), 0..10),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
        interleave in proptest::collection::vec(any::<bool>(), 0..20),
    ) {
        let mut recorder = Recorder::new(RecorderConfig::default());
        let mut out = Vec::new();
        let now = SystemTime::UNIX_EPOCH;
        let mut startup = BytesMut::new();
        Frontend::Startup(Startup { version: PROTOCOL_VERSION_3_0, params: vec![] }).encode(&mut startup).unwrap();
        let _ = recorder.client_bytes(startup.freeze(), now, &mut out);
        let (mut c, mut s) = (client.iter(), server.iter());
        for from_client in interleave {
            let mut bytes = BytesMut::new();
            if from_client {
                if let Some(message) = c.next() { message.encode(&mut bytes).unwrap(); }
                let _ = recorder.client_bytes(bytes.freeze(), now, &mut out);
            } else {
                if let Some(message) = s.next() { message.encode(&mut bytes).unwrap(); }
                let _ = recorder.server_bytes(bytes.freeze(), now, &mut out);
            }
        }
        let _ = recorder.server_bytes(Bytes::from(noise.clone()), now, &mut out);
        let _ = recorder.client_bytes(Bytes::from(noise), now, &mut out);
        for (_, statement) in out {
            let _ = statement.kind.output_value();
        }
    }

    #[test]
    fn the_replay_session_survives_any_client_and_any_recording(
        messages in proptest::collection::vec(frontend(), 0..10),
        answers in proptest::collection::vec(arbitrary_json(), 0..10),
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut session = ReplaySession::new(Arc::new(ReplayConfig::default()), 1);
        let mut out = BytesMut::new();
        let mut input = BytesMut::new();
        Frontend::Startup(Startup { version: PROTOCOL_VERSION_3_0, params: vec![] }).encode(&mut input).unwrap();
        for message in &messages {
            message.encode(&mut input).unwrap();
        }
        input.extend_from_slice(&noise);
        session.client_bytes(input.freeze());
        let mut answers = answers.into_iter();
        for _ in 0..64 {
            match session.poll(&mut out) {
                Poll::Lookup { lookup, .. } => {
                    let answer = answers.next().ok_or(Unmatched { reason: "none".into() });
                    session.resume(&lookup, answer, &mut out);
                }
                Poll::NeedInput | Poll::Close => break,
            }
        }
        // Whatever it wrote is a well-formed stream of server messages.
        let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
        framer.push(out.freeze());
        while let Some(framed) = framer.next_frame().unwrap() {
            let Framed::Message(frame) = framed else { panic!("oversized") };
            Backend::decode_frame(frame).unwrap();
        }
    }

    #[test]
    fn span_values_read_back_or_fail_clearly(value in arbitrary_json()) {
        let _ = ExecuteOutput::from_value(&value);
        let _ = DescribeOutput::from_value(&value);
    }

    #[test]
    fn statements_are_pieces_of_the_query(query in ".{0,80}") {
        for statement in sql::split_statements(&query) {
            prop_assert!(query.contains(statement));
            prop_assert!(!statement.is_empty());
        }
        let _ = sql::plain_set(&query);
        let _ = sql::parse_marker(query.as_bytes());
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "[A-Za-z0-9+/=]{0,12}".prop_map(Value::String),
        prop_oneof![Just("I"), Just("T"), Just("X")].prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("fields".to_owned()),
                    Just("rows".to_owned()),
                    Just("commandTag".to_owned()),
                    Just("error".to_owned()),
                    Just("bindError".to_owned()),
                    Just("transactionStatus".to_owned()),
                    Just("parameterTypes".to_owned()),
                    Just("name".to_owned()),
                    Just("M".to_owned()),
                    "[a-z]{1,3}",
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}
