//! The SDK side against a scripted CLI on the other end of an in-memory duplex stream.

use std::time::Duration;

use cov_proto::{
    CliMessage, ConnectRequest, ConnectResponse, CoverageSnapshotRequest, CoverageSnapshotResponse,
    FileCoverageData, Message, MessageType, SdkMessage, cli_message, sdk_message,
};
use cov_transport::frame::CliCodec;
use cov_transport::sdk::{self, SdkConnection, SdkOptions, SkippedFrames};
use cov_transport::{Endpoint, FrameError, TransportError};
use futures_util::{FutureExt as _, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::codec::Framed;
use tusk_drift_schemas::tusk::drift::core::v1 as upstream;

fn endpoint() -> Endpoint {
    Endpoint::unix("/test/scripted-cli.sock")
}

fn connect_request() -> ConnectRequest {
    ConnectRequest {
        service_id: "svc".to_owned(),
        sdk_version: "0.1.0".to_owned(),
        min_cli_version: "0.1.0".to_owned(),
        ..Default::default()
    }
}

fn connect_response(request_id: &str, success: bool, error: &str) -> CliMessage {
    CliMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: request_id.to_owned(),
        payload: Some(cli_message::Payload::ConnectResponse(ConnectResponse {
            success,
            error: error.to_owned(),
        })),
    }
}

fn snapshot_request(request_id: &str, baseline: bool) -> CliMessage {
    CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: request_id.to_owned(),
        payload: Some(cli_message::Payload::CoverageSnapshotRequest(
            CoverageSnapshotRequest { baseline },
        )),
    }
}

fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

type ScriptedCli = Framed<DuplexStream, CliCodec>;

/// Runs the SDK handshake against a scripted CLI that answers with `success = true`.
async fn connected(options: &SdkOptions, buffer: usize) -> (SdkConnection, ScriptedCli) {
    let (sdk_end, cli_end) = tokio::io::duplex(buffer);
    let mut cli = Framed::new(cli_end, CliCodec::default());
    let cli_side = async {
        let hello = cli.next().await.unwrap().unwrap();
        cli.send(connect_response(&hello.request_id, true, ""))
            .await
            .unwrap();
        hello
    };
    let (connection, hello) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), connect_request(), options),
        cli_side
    );
    assert_eq!(hello.r#type, MessageType::SdkConnect as i32);
    (connection.unwrap(), cli)
}

#[tokio::test]
async fn handshake_sends_sdk_connect_with_the_request() {
    let (sdk_end, cli_end) = tokio::io::duplex(4096);
    let mut cli = Framed::new(cli_end, CliCodec::default());
    let cli_side = async {
        let hello = cli.next().await.unwrap().unwrap();
        cli.send(connect_response(&hello.request_id, true, ""))
            .await
            .unwrap();
        hello
    };
    let options = SdkOptions::default();
    let (connection, hello) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), connect_request(), &options),
        cli_side
    );
    let connection = connection.unwrap();
    assert!(connection.connect_response().success);
    assert_eq!(connection.endpoint(), &endpoint());
    assert_eq!(hello.r#type, MessageType::SdkConnect as i32);
    assert_eq!(
        hello.payload,
        Some(sdk_message::Payload::ConnectRequest(connect_request()))
    );
    // 12 hex digits, like the Python SDK's request ids.
    assert_eq!(hello.request_id.len(), 12, "{}", hello.request_id);
    assert!(
        hello
            .request_id
            .chars()
            .all(|digit| digit.is_ascii_hexdigit())
    );
}

#[tokio::test]
async fn handshake_rejected_carries_the_cli_text() {
    let (sdk_end, cli_end) = tokio::io::duplex(4096);
    let mut cli = Framed::new(cli_end, CliCodec::default());
    let text = "CLI version 0.1.0 is incompatible. SDK requires CLI version 9.0.0 or higher";
    let cli_side = async {
        let hello = cli.next().await.unwrap().unwrap();
        cli.send(connect_response(&hello.request_id, false, text))
            .await
            .unwrap();
    };
    let options = SdkOptions::default();
    let (connection, ()) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), connect_request(), &options),
        cli_side
    );
    let error = connection.unwrap_err();
    assert!(
        matches!(&error, TransportError::Rejected { message, .. } if message == text),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("the CLI at unix socket /test/scripted-cli.sock rejected the connection: {text}")
    );
    // The SDK closed the connection after the rejection.
    assert!(cli.next().await.is_none());
}

#[tokio::test]
async fn handshake_rejected_without_text_says_unknown_error() {
    let (sdk_end, cli_end) = tokio::io::duplex(4096);
    let mut cli = Framed::new(cli_end, CliCodec::default());
    let cli_side = async {
        let hello = cli.next().await.unwrap().unwrap();
        cli.send(connect_response(&hello.request_id, false, ""))
            .await
            .unwrap();
    };
    let options = SdkOptions::default();
    let (connection, ()) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), connect_request(), &options),
        cli_side
    );
    let error = connection.unwrap_err();
    assert!(
        matches!(&error, TransportError::Rejected { message, .. } if message == "Unknown error"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn handshake_timeout_when_the_cli_never_answers() {
    let (sdk_end, _cli_end) = tokio::io::duplex(4096);
    let mut options = SdkOptions::default();
    options.handshake_timeout(Duration::from_secs(3));
    let error = sdk::handshake(sdk_end, endpoint(), connect_request(), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::HandshakeTimeout { timeout, .. } if timeout == Duration::from_secs(3)),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("/test/scripted-cli.sock"),
        "{error}"
    );
}

#[tokio::test]
async fn handshake_fails_when_the_first_message_is_not_a_connect_response() {
    let (sdk_end, cli_end) = tokio::io::duplex(4096);
    let mut cli = Framed::new(cli_end, CliCodec::default());
    let cli_side = async {
        let _hello = cli.next().await.unwrap().unwrap();
        cli.send(snapshot_request("coverage-1", true))
            .await
            .unwrap();
    };
    let options = SdkOptions::default();
    let (connection, ()) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), connect_request(), &options),
        cli_side
    );
    let error = connection.unwrap_err();
    assert!(
        matches!(&error, TransportError::Handshake { detail, .. } if detail.contains("MESSAGE_TYPE_COVERAGE_SNAPSHOT")),
        "{error:?}"
    );
}

#[tokio::test]
async fn handshake_fails_when_the_cli_closes() {
    let (sdk_end, cli_end) = tokio::io::duplex(4096);
    let mut cli = Framed::new(cli_end, CliCodec::default());
    let cli_side = async {
        let _hello = cli.next().await.unwrap().unwrap();
        drop(cli);
    };
    let options = SdkOptions::default();
    let (connection, ()) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), connect_request(), &options),
        cli_side
    );
    let error = connection.unwrap_err();
    assert!(matches!(error, TransportError::Closed { .. }), "{error:?}");
}

#[tokio::test]
async fn connect_to_missing_socket_names_endpoint_and_cause() {
    let directory = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::unix(directory.path().join("absent.sock"));
    let error = sdk::connect(&endpoint, connect_request(), &SdkOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::Connect { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.starts_with("cannot connect to unix socket "), "{text}");
    assert!(text.contains("absent.sock"), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
}

#[tokio::test]
async fn connect_to_closed_tcp_port_names_endpoint_and_cause() {
    // Bind then drop a listener: the port is (almost certainly) closed right after.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = Endpoint::tcp("127.0.0.1", port);
    let error = sdk::connect(&endpoint, connect_request(), &SdkOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TransportError::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot connect to tcp 127.0.0.1:{port}: ")),
        "{error}"
    );
}

#[tokio::test]
async fn connect_timeout_names_endpoint() {
    // A listener with a backlog of 0 whose queue is full: Linux drops further SYNs (with
    // the default tcp_abort_on_overflow = 0), so the next connect hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(stream) => queued.push(stream),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    assert!(full, "could not fill the listen backlog of {address}");
    let endpoint = Endpoint::tcp("127.0.0.1", address.port());
    let mut options = SdkOptions::default();
    options.connect_timeout(Duration::from_millis(300));
    let error = sdk::connect(&endpoint, connect_request(), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::ConnectTimeout { timeout, .. } if timeout == Duration::from_millis(300)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "timed out after 300ms connecting to tcp 127.0.0.1:{}",
            address.port()
        )
    );
}

#[tokio::test]
async fn receives_requests_and_sends_replies() {
    let (mut connection, mut cli) = connected(&SdkOptions::default(), 4096).await;
    cli.send(snapshot_request("coverage-7", false))
        .await
        .unwrap();
    let request = connection.recv().await.unwrap().unwrap();
    assert_eq!(request, snapshot_request("coverage-7", false));
    let reply = SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: request.request_id,
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
            CoverageSnapshotResponse {
                success: true,
                ..Default::default()
            },
        )),
    };
    connection.sender().send(reply.clone()).await.unwrap();
    assert_eq!(cli.next().await.unwrap().unwrap(), reply);
}

#[tokio::test]
async fn receiver_skips_garbage_and_oversized_frames() {
    let mut options = SdkOptions::default();
    options.max_frame_len(1024);
    let (connection, cli) = connected(&options, 64 * 1024).await;
    let (_sender, mut receiver) = connection.into_split();
    let mut cli_stream = cli.into_inner();
    // An undecodable frame, an oversized frame, an unknown payload, then a real request.
    let mut bytes = raw_frame(&[0x12, 0x05, b'a']);
    bytes.extend(raw_frame(&vec![0u8; 2000]));
    let env_vars = upstream::CliMessage {
        r#type: upstream::MessageType::EnvVarRequest as i32,
        request_id: "env".to_owned(),
        payload: Some(upstream::cli_message::Payload::EnvVarResponse(
            upstream::EnvVarResponse::default(),
        )),
    };
    bytes.extend(raw_frame(&env_vars.encode_to_vec()));
    bytes.extend(raw_frame(
        &snapshot_request("coverage-9", true).encode_to_vec(),
    ));
    cli_stream.write_all(&bytes).await.unwrap();
    let unknown = receiver.recv().await.unwrap().unwrap();
    assert_eq!(unknown.request_id, "env");
    assert_eq!(unknown.payload, None);
    let request = receiver.recv().await.unwrap().unwrap();
    assert_eq!(request, snapshot_request("coverage-9", true));
    assert_eq!(
        receiver.skipped_frames(),
        SkippedFrames {
            oversized: 1,
            undecodable: 1
        }
    );
}

#[tokio::test]
async fn cli_closing_mid_frame_is_an_error_and_closes_the_connection() {
    let (connection, cli) = connected(&SdkOptions::default(), 4096).await;
    let (sender, mut receiver) = connection.into_split();
    let mut cli_stream = cli.into_inner();
    cli_stream.write_all(&[0, 0, 0, 10, 1, 2, 3]).await.unwrap();
    cli_stream.shutdown().await.unwrap();
    let error = receiver.recv().await.unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::Frame {
                source: FrameError::ClosedMidFrame {
                    expected_len: Some(10),
                    received_len: 3,
                    ..
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(receiver.recv().await.unwrap().is_none());
    // The writer stopped: the CLI reads end of stream, later sends are refused.
    let mut rest = Vec::new();
    cli_stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    let error = sender.send(SdkMessage::default()).await.unwrap_err();
    assert!(matches!(error, TransportError::Closed { .. }), "{error:?}");
}

#[tokio::test]
async fn receiver_as_a_stream_ends_with_the_error() {
    let (connection, cli) = connected(&SdkOptions::default(), 4096).await;
    let (_sender, receiver) = connection.into_split();
    let mut cli_stream = cli.into_inner();
    let mut bytes = raw_frame(&snapshot_request("coverage-1", true).encode_to_vec());
    bytes.extend(raw_frame(
        &snapshot_request("coverage-2", false).encode_to_vec(),
    ));
    bytes.extend([0, 0]);
    cli_stream.write_all(&bytes).await.unwrap();
    cli_stream.shutdown().await.unwrap();
    let items: Vec<_> = receiver.into_stream().collect().await;
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0].as_ref().unwrap(),
        &snapshot_request("coverage-1", true)
    );
    assert_eq!(
        items[1].as_ref().unwrap(),
        &snapshot_request("coverage-2", false)
    );
    assert!(
        matches!(
            items[2],
            Err(TransportError::Frame {
                source: FrameError::ClosedMidFrame {
                    header_bytes: 2,
                    ..
                },
                ..
            })
        ),
        "{:?}",
        items[2]
    );
}

#[tokio::test]
async fn cli_closing_cleanly_ends_the_receiver() {
    let (mut connection, cli) = connected(&SdkOptions::default(), 4096).await;
    drop(cli);
    assert!(connection.recv().await.unwrap().is_none());
    assert!(connection.recv().await.unwrap().is_none());
}

#[tokio::test]
async fn oversized_send_is_refused_and_the_connection_stays_usable() {
    let mut options = SdkOptions::default();
    options.max_frame_len(256);
    let (connection, mut cli) = connected(&options, 4096).await;
    let mut coverage = std::collections::HashMap::new();
    coverage.insert(
        "/src/main.rs".to_owned(),
        FileCoverageData {
            lines: (1..100).map(|line| (line.to_string(), 1)).collect(),
            ..Default::default()
        },
    );
    let too_big = SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "coverage-1".to_owned(),
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
            CoverageSnapshotResponse {
                success: true,
                error: String::new(),
                coverage,
            },
        )),
    };
    let error = connection.sender().send(too_big).await.unwrap_err();
    assert!(
        matches!(
            &error,
            TransportError::Frame {
                source: FrameError::TooLarge { max: 256, .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("maximum frame length is 256 bytes"),
        "{error}"
    );
    let small = SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "coverage-1".to_owned(),
        payload: None,
    };
    connection.sender().send(small.clone()).await.unwrap();
    assert_eq!(cli.next().await.unwrap().unwrap(), small);
}

#[tokio::test(start_paused = true)]
async fn write_times_out_when_the_cli_never_reads() {
    let mut options = SdkOptions::default();
    options.write_timeout(Duration::from_secs(2));
    // The duplex buffer holds 256 bytes; the CLI side stops reading after the handshake.
    let (connection, _cli) = connected(&options, 256).await;
    let big = SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "r".repeat(4096),
        payload: None,
    };
    let started = tokio::time::Instant::now();
    let error = connection.sender().send(big).await.unwrap_err();
    assert!(
        matches!(error, TransportError::WriteTimeout { timeout, .. } if timeout == Duration::from_secs(2)),
        "{error:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        error.to_string().contains("the peer is not reading"),
        "{error}"
    );
    // A partly written frame cannot be taken back: the connection is closed.
    let error = connection
        .sender()
        .send(SdkMessage::default())
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::Closed { .. }), "{error:?}");
    assert!(connection.sender().is_closed());
}

#[tokio::test]
async fn a_frame_the_connection_takes_at_once_is_written_by_its_sender() {
    let (connection, mut cli) = connected(&SdkOptions::default(), 4096).await;
    let message = SdkMessage {
        r#type: MessageType::MockRequest as i32,
        request_id: "mock-1".to_owned(),
        payload: None,
    };
    // Done at the first poll, in this task, while the writer task (on this same thread)
    // cannot run: no hand-over to another task, no wake-up.
    let sent = connection.sender().send(message.clone()).now_or_never();
    assert!(matches!(sent, Some(Ok(()))), "{sent:?}");
    assert_eq!(cli.next().await.unwrap().unwrap(), message);
}

#[tokio::test]
async fn the_writer_task_finishes_a_frame_taken_in_part_and_the_next_frames_follow_it() {
    // The duplex buffer holds 256 bytes: the big frame goes in part at once.
    let (connection, mut cli) = connected(&SdkOptions::default(), 256).await;
    let big = SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "b".repeat(4096),
        payload: None,
    };
    let small = SdkMessage {
        r#type: MessageType::MockRequest as i32,
        request_id: "small".to_owned(),
        payload: None,
    };
    let sender = connection.sender().clone();
    let sending_big = tokio::spawn({
        let sender = sender.clone();
        let big = big.clone();
        async move { sender.send(big).await }
    });
    tokio::task::yield_now().await;
    assert!(!sending_big.is_finished(), "the CLI has read nothing yet");
    let sending_small = tokio::spawn({
        let small = small.clone();
        async move { sender.send(small).await }
    });
    assert_eq!(cli.next().await.unwrap().unwrap(), big);
    assert_eq!(cli.next().await.unwrap().unwrap(), small);
    sending_big.await.unwrap().unwrap();
    sending_small.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_never_interleave_frames() {
    let (connection, mut cli) = connected(&SdkOptions::default(), 1024).await;
    let n_tasks = 16;
    let n_per_task = 20;
    let mut tasks = Vec::new();
    for task_idx in 0..n_tasks {
        let sender = connection.sender().clone();
        tasks.push(tokio::spawn(async move {
            for message_idx in 0..n_per_task {
                // Sizes vary so that partial writes of different frames would show.
                let request_id =
                    format!("{task_idx}-{message_idx}-{}", "x".repeat(message_idx * 37));
                let message = SdkMessage {
                    r#type: MessageType::CoverageSnapshot as i32,
                    request_id,
                    payload: None,
                };
                sender.send(message).await.unwrap();
            }
        }));
    }
    let mut received = Vec::new();
    for _ in 0..n_tasks * n_per_task {
        received.push(cli.next().await.unwrap().unwrap().request_id);
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Each task waits for a send to finish before the next, so its messages arrive in order.
    for task_idx in 0..n_tasks {
        let prefix = format!("{task_idx}-");
        let order: Vec<usize> = received
            .iter()
            .filter(|request_id| request_id.starts_with(&prefix))
            .map(|request_id| request_id.split('-').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(order, (0..n_per_task).collect::<Vec<_>>());
    }
    received.sort();
    let mut expected: Vec<String> = (0..n_tasks)
        .flat_map(|task_idx| {
            (0..n_per_task).map(move |message_idx| {
                format!("{task_idx}-{message_idx}-{}", "x".repeat(message_idx * 37))
            })
        })
        .collect();
    expected.sort();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn dropping_the_connection_closes_it_for_the_cli() {
    let (connection, mut cli) = connected(&SdkOptions::default(), 4096).await;
    drop(connection);
    assert!(cli.next().await.is_none());
}

#[tokio::test]
async fn upstream_schema_decodes_every_frame_the_sdk_writes() {
    // Capture every frame of a session: the handshake and replies of each kind.
    let (sdk_end, mut cli_end) = tokio::io::duplex(64 * 1024);
    let request = ConnectRequest {
        service_id: "svc".to_owned(),
        sdk_version: "0.1.0".to_owned(),
        min_cli_version: "0.1.0".to_owned(),
        metadata: Some(cov_proto::prost_types::Struct {
            fields: [(
                "language".to_owned(),
                cov_proto::prost_types::Value {
                    kind: Some(cov_proto::prost_types::value::Kind::StringValue(
                        "rust".to_owned(),
                    )),
                },
            )]
            .into(),
        }),
        runtime: cov_proto::Runtime::Unspecified as i32,
    };
    let cli_side = async {
        let mut header = [0u8; 4];
        cli_end.read_exact(&mut header).await.unwrap();
        let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
        cli_end.read_exact(&mut payload).await.unwrap();
        let hello = upstream::SdkMessage::decode(payload.as_slice()).unwrap();
        let answer = upstream::CliMessage {
            r#type: upstream::MessageType::SdkConnect as i32,
            request_id: hello.request_id.clone(),
            payload: Some(upstream::cli_message::Payload::ConnectResponse(
                upstream::ConnectResponse {
                    success: true,
                    error: String::new(),
                },
            )),
        };
        cli_end
            .write_all(&raw_frame(&answer.encode_to_vec()))
            .await
            .unwrap();
        hello
    };
    let options = SdkOptions::default();
    let (connection, hello) = tokio::join!(
        sdk::handshake(sdk_end, endpoint(), request.clone(), &options),
        cli_side
    );
    let connection = connection.unwrap();
    assert_eq!(hello.r#type, upstream::MessageType::SdkConnect as i32);
    match hello.payload {
        Some(upstream::sdk_message::Payload::ConnectRequest(upstream_request)) => {
            assert_eq!(upstream_request.service_id, "svc");
            assert_eq!(upstream_request.sdk_version, "0.1.0");
            assert_eq!(upstream_request.min_cli_version, "0.1.0");
            assert_eq!(
                upstream_request.runtime,
                upstream::Runtime::Unspecified as i32
            );
            assert_eq!(upstream_request.metadata, request.metadata);
        }
        other => panic!("expected a ConnectRequest, got {other:?}"),
    }

    let mut coverage = std::collections::HashMap::new();
    coverage.insert(
        "/work/src/lib.rs".to_owned(),
        FileCoverageData {
            lines: [("1".to_owned(), 3), ("2".to_owned(), 0)].into(),
            total_branches: 2,
            covered_branches: 1,
            branches: [(
                "2".to_owned(),
                cov_proto::BranchInfo {
                    total: 2,
                    covered: 1,
                },
            )]
            .into(),
        },
    );
    let replies = [
        SdkMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: "coverage-1764000000000000000".to_owned(),
            payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
                CoverageSnapshotResponse {
                    success: true,
                    error: String::new(),
                    coverage,
                },
            )),
        },
        SdkMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: "coverage-2".to_owned(),
            payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
                CoverageSnapshotResponse {
                    success: false,
                    error: "not instrumented".to_owned(),
                    coverage: Default::default(),
                },
            )),
        },
        SdkMessage {
            r#type: MessageType::SetTimeTravel as i32,
            request_id: "tt-1".to_owned(),
            payload: Some(sdk_message::Payload::SetTimeTravelResponse(
                cov_proto::SetTimeTravelResponse {
                    success: false,
                    error: "unsupported".to_owned(),
                },
            )),
        },
    ];
    for reply in &replies {
        connection.sender().send(reply.clone()).await.unwrap();
    }
    drop(connection);
    let mut rest = Vec::new();
    cli_end.read_to_end(&mut rest).await.unwrap();
    let mut frames = Vec::new();
    let mut offset = 0;
    while offset < rest.len() {
        let len = u32::from_be_bytes(rest[offset..offset + 4].try_into().unwrap()) as usize;
        frames.push(&rest[offset + 4..offset + 4 + len]);
        offset += 4 + len;
    }
    assert_eq!(offset, rest.len(), "the stream ends at a frame boundary");
    assert_eq!(frames.len(), replies.len());
    for (frame, reply) in frames.iter().zip(&replies) {
        let decoded = upstream::SdkMessage::decode(*frame).unwrap();
        assert_eq!(decoded.r#type, reply.r#type);
        assert_eq!(decoded.request_id, reply.request_id);
        match (&decoded.payload, &reply.payload) {
            (
                Some(upstream::sdk_message::Payload::CoverageSnapshotResponse(theirs)),
                Some(sdk_message::Payload::CoverageSnapshotResponse(ours)),
            ) => {
                assert_eq!(theirs.success, ours.success);
                assert_eq!(theirs.error, ours.error);
                assert_eq!(theirs.coverage.len(), ours.coverage.len());
                for (path, ours) in &ours.coverage {
                    let theirs = &theirs.coverage[path];
                    assert_eq!(theirs.lines, ours.lines);
                    assert_eq!(theirs.total_branches, ours.total_branches);
                    assert_eq!(theirs.covered_branches, ours.covered_branches);
                    assert_eq!(theirs.branches.len(), ours.branches.len());
                    for (line, branch) in &ours.branches {
                        assert_eq!(theirs.branches[line].total, branch.total);
                        assert_eq!(theirs.branches[line].covered, branch.covered);
                    }
                }
            }
            (
                Some(upstream::sdk_message::Payload::SetTimeTravelResponse(theirs)),
                Some(sdk_message::Payload::SetTimeTravelResponse(ours)),
            ) => {
                assert_eq!(theirs.success, ours.success);
                assert_eq!(theirs.error, ours.error);
            }
            (theirs, ours) => panic!("payload mismatch: {theirs:?} vs {ours:?}"),
        }
    }
}
