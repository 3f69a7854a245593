//! The CLI side of the channel: binding, the handshake, correlated requests over real unix
//! sockets and TCP, mock requests routed to the mock source, and hostile SDKs.

use std::time::Duration;

use bytes::Bytes;
use cov_driver::{ChannelError, CliListener, CliOptions, INVALID_CONNECT_REQUEST};
use cov_proto::{
    CliMessage, ConnectRequest, CoverageSnapshotResponse, FileCoverageData, MessageType,
    SdkMessage, SetTimeTravelRequest, SetTimeTravelResponse, cli_message, sdk_message,
};
use cov_transport::frame::SdkCodec;
use cov_transport::sdk::{self, SdkOptions};
use cov_transport::{Endpoint, TransportError};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Framed;

const TIMEOUT: Duration = Duration::from_secs(10);

fn connect_request() -> ConnectRequest {
    ConnectRequest {
        service_id: "svc".to_owned(),
        sdk_version: "0.1.0".to_owned(),
        ..Default::default()
    }
}

/// A well-behaved SDK: answers coverage snapshots (the coverage map holds one file named
/// after the request id, so replies can be told apart) and time-travel requests. It waits
/// until `n_requests` have arrived and answers them in the reverse order, so every reply
/// but the last arrives while other requests are still waiting for theirs.
async fn run_sdk(endpoint: Endpoint, n_requests: usize) -> Result<(), TransportError> {
    let connection = sdk::connect(&endpoint, connect_request(), &SdkOptions::default()).await?;
    let (sender, mut receiver) = connection.into_split();
    let mut received = Vec::new();
    while let Some(message) = receiver.recv().await? {
        received.push(message);
        if received.len() < n_requests {
            continue;
        }
        for message in received.drain(..).rev() {
            let reply = match message.payload {
                Some(cli_message::Payload::CoverageSnapshotRequest(request)) => SdkMessage {
                    r#type: MessageType::CoverageSnapshot as i32,
                    request_id: message.request_id.clone(),
                    payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
                        CoverageSnapshotResponse {
                            success: true,
                            error: String::new(),
                            coverage: [(
                                format!("/{}/{}", message.request_id, request.baseline),
                                FileCoverageData::default(),
                            )]
                            .into(),
                        },
                    )),
                },
                Some(cli_message::Payload::SetTimeTravelRequest(request)) => SdkMessage {
                    r#type: MessageType::SetTimeTravel as i32,
                    request_id: message.request_id.clone(),
                    payload: Some(sdk_message::Payload::SetTimeTravelResponse(
                        SetTimeTravelResponse {
                            success: true,
                            error: request.trace_id,
                        },
                    )),
                },
                _ => continue,
            };
            sender.send(reply).await?;
        }
    }
    Ok(())
}

async fn handshake_and_concurrent_requests(listener: CliListener) {
    let sdk_task = tokio::spawn(run_sdk(listener.local_endpoint().clone(), 12));
    let connection = listener.accept(TIMEOUT).await.unwrap();
    assert_eq!(connection.connect_request(), &connect_request());
    assert_eq!(connection.handshake_request_id().len(), 12);

    // Eight snapshots and four time-travel requests in flight at once; the SDK answers
    // them in the reverse order.
    let shared = &connection;
    let snapshots = futures_util::future::join_all((0..8).map(|snapshot_idx| async move {
        if snapshot_idx % 2 == 0 {
            shared.baseline(TIMEOUT).await
        } else {
            shared.delta(TIMEOUT).await
        }
    }));
    let time_travels = futures_util::future::join_all((0..4).map(|travel_idx| {
        let request = CliMessage {
            r#type: MessageType::SetTimeTravel as i32,
            request_id: format!("travel-{travel_idx}"),
            payload: Some(cli_message::Payload::SetTimeTravelRequest(
                SetTimeTravelRequest {
                    timestamp_seconds: 1.5,
                    trace_id: format!("trace-{travel_idx}"),
                    timestamp_source: "test".to_owned(),
                },
            )),
        };
        connection.request(request, TIMEOUT)
    }));
    let (snapshots, time_travels) = tokio::join!(snapshots, time_travels);
    let mut request_ids = Vec::new();
    for (snapshot_idx, snapshot) in snapshots.into_iter().enumerate() {
        let snapshot = snapshot.unwrap();
        assert!(snapshot.success);
        let path = snapshot.coverage.keys().next().unwrap().clone();
        // The reply belongs to this request: same baseline flag, a coverage-<nanos> id.
        let (request_id, baseline) = path[1..].split_once('/').unwrap();
        assert_eq!(baseline, (snapshot_idx % 2 == 0).to_string());
        let nanos = request_id.strip_prefix("coverage-").unwrap();
        assert!(nanos.parse::<u64>().unwrap() > 1_600_000_000_000_000_000);
        request_ids.push(request_id.to_owned());
    }
    request_ids.sort();
    request_ids.dedup();
    assert_eq!(request_ids.len(), 8, "snapshot request ids are unique");
    for (travel_idx, reply) in time_travels.into_iter().enumerate() {
        let reply = reply.unwrap();
        assert_eq!(reply.request_id, format!("travel-{travel_idx}"));
        assert_eq!(
            reply.payload,
            Some(sdk_message::Payload::SetTimeTravelResponse(
                SetTimeTravelResponse {
                    success: true,
                    error: format!("trace-{travel_idx}"),
                }
            ))
        );
    }

    // Dropping the CLI's connection ends the SDK's receive loop cleanly.
    drop(connection);
    tokio::time::timeout(TIMEOUT, sdk_task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_handshake_and_concurrent_requests() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tusk-connect.sock");
    let listener = CliListener::bind(&Endpoint::unix(&path)).await.unwrap();
    assert_eq!(listener.local_endpoint(), &Endpoint::unix(&path));
    handshake_and_concurrent_requests(listener).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_handshake_and_concurrent_requests() {
    let listener = CliListener::bind(&Endpoint::tcp("127.0.0.1", 0))
        .await
        .unwrap();
    match listener.local_endpoint() {
        Endpoint::Tcp { host, port } => {
            assert_eq!(host, "127.0.0.1");
            assert_ne!(*port, 0, "the real port is reported");
        }
        other => panic!("expected a TCP endpoint, got {other}"),
    }
    handshake_and_concurrent_requests(listener).await;
}

#[tokio::test]
async fn bind_replaces_a_stale_socket_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(
        path.exists(),
        "a dropped std listener leaves its socket file"
    );
    let listener = CliListener::bind(&Endpoint::unix(&path)).await.unwrap();
    // The new socket accepts connections.
    let _client = tokio::net::UnixStream::connect(&path).await.unwrap();
    drop(listener);
    assert!(
        !path.exists(),
        "the listener removes its socket file on drop"
    );
}

#[tokio::test]
async fn drop_leaves_a_socket_file_that_is_no_longer_its_own() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("replaced.sock");
    let listener = CliListener::bind(&Endpoint::unix(&path)).await.unwrap();
    // Another process removes the file and binds its own socket at the same path. The bound
    // listener still holds the old inode, so the new file cannot reuse its number.
    std::fs::remove_file(&path).unwrap();
    let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(listener);
    assert!(
        path.exists(),
        "the listener removed a socket file it did not create"
    );
    let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    drop(other);
}

#[tokio::test]
async fn bind_refuses_a_path_that_is_not_a_socket() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("regular-file");
    std::fs::write(&path, b"keep me").unwrap();
    let error = CliListener::bind(&Endpoint::unix(&path)).await.unwrap_err();
    assert!(
        matches!(&error, ChannelError::NotASocket { path: refused } if refused == &path),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("exists and is not a socket"),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[tokio::test]
async fn bind_refuses_a_live_socket() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("live.sock");
    let first = CliListener::bind(&Endpoint::unix(&path)).await.unwrap();
    let error = CliListener::bind(&Endpoint::unix(&path)).await.unwrap_err();
    assert!(
        matches!(error, ChannelError::SocketInUse { .. }),
        "{error:?}"
    );
    // The first listener still owns the path.
    let _client = tokio::net::UnixStream::connect(&path).await.unwrap();
    drop(first);
}

#[tokio::test]
async fn bind_creates_the_parent_directory() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("a/b/tusk.sock");
    let _listener = CliListener::bind(&Endpoint::unix(&path)).await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn bind_error_names_the_endpoint() {
    // Port 1 on an address this host does not have.
    let error = CliListener::bind(&Endpoint::tcp("192.0.2.1", 1))
        .await
        .unwrap_err();
    assert!(matches!(error, ChannelError::Bind { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot listen on tcp 192.0.2.1:1: "),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn accept_times_out_without_an_sdk() {
    let listener = CliListener::bind(&Endpoint::tcp("127.0.0.1", 0))
        .await
        .unwrap();
    let error = listener.accept(Duration::from_secs(10)).await.unwrap_err();
    assert!(
        matches!(error, ChannelError::AcceptTimeout { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("within 10s"), "{error}");
}

#[tokio::test]
async fn rejected_sdk_gets_the_cli_text() {
    let listener = CliListener::bind(&Endpoint::tcp("127.0.0.1", 0))
        .await
        .unwrap();
    let endpoint = listener.local_endpoint().clone();
    let text = "SDK version 0.0.1 is incompatible. CLI requires SDK version 0.1.0 or higher";
    let sdk_task = tokio::spawn(async move {
        sdk::connect(&endpoint, connect_request(), &SdkOptions::default()).await
    });
    let error = listener
        .accept_with(TIMEOUT, |request| {
            assert_eq!(request.service_id, "svc");
            Err(text.to_owned())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ChannelError::Transport(TransportError::Handshake { detail, .. }) if detail.contains(text)),
        "{error:?}"
    );
    let sdk_error = sdk_task.await.unwrap().unwrap_err();
    assert!(
        matches!(&sdk_error, TransportError::Rejected { message, .. } if message == text),
        "{sdk_error:?}"
    );
}

/// The SDK end of an in-memory connection whose CLI end is served by `cli::handshake`.
async fn scripted_sdk() -> (
    cov_driver::CliConnection,
    Framed<tokio::io::DuplexStream, SdkCodec>,
) {
    scripted_sdk_with(&CliOptions::default()).await
}

/// [`scripted_sdk`] with the CLI side's `options`.
async fn scripted_sdk_with(
    options: &CliOptions,
) -> (
    cov_driver::CliConnection,
    Framed<tokio::io::DuplexStream, SdkCodec>,
) {
    let (cli_end, sdk_end) = tokio::io::duplex(64 * 1024);
    let mut sdk = Framed::new(sdk_end, SdkCodec::default());
    sdk.send(SdkMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: "hello".to_owned(),
        payload: Some(sdk_message::Payload::ConnectRequest(connect_request())),
    })
    .await
    .unwrap();
    let connection = cov_driver::handshake(
        cli_end,
        Endpoint::unix("/test/sdk"),
        options,
        TIMEOUT,
        |_| Ok(()),
    )
    .await
    .unwrap();
    let answer = sdk.next().await.unwrap().unwrap();
    assert_eq!(answer.request_id, "hello");
    assert_eq!(answer.r#type, MessageType::SdkConnect as i32);
    (connection, sdk)
}

/// The payload of the next length-prefixed frame on the SDK's raw stream.
async fn read_frame(stream: &mut tokio::io::DuplexStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.unwrap();
    let mut payload = vec![0u8; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut payload).await.unwrap();
    payload
}

/// The SDK's successful (empty) answer to the snapshot request `request_id`.
fn snapshot_success(request_id: String) -> SdkMessage {
    SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id,
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
            CoverageSnapshotResponse {
                success: true,
                ..Default::default()
            },
        )),
    }
}

#[tokio::test]
async fn connect_without_a_connect_request_is_answered_like_the_cli() {
    let (cli_end, sdk_end) = tokio::io::duplex(4096);
    let mut sdk = Framed::new(sdk_end, SdkCodec::default());
    // A message before the handshake is ignored, as the CLI has nobody to route it to.
    sdk.send(SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "early".to_owned(),
        payload: None,
    })
    .await
    .unwrap();
    sdk.send(SdkMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: "hello".to_owned(),
        payload: None,
    })
    .await
    .unwrap();
    let error = cov_driver::handshake(
        cli_end,
        Endpoint::unix("/test/sdk"),
        &CliOptions::default(),
        TIMEOUT,
        |_| Ok(()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::Transport(TransportError::Handshake { .. })
        ),
        "{error:?}"
    );
    let answer = sdk.next().await.unwrap().unwrap();
    assert_eq!(answer.request_id, "hello");
    match answer.payload {
        Some(cli_message::Payload::ConnectResponse(response)) => {
            assert!(!response.success);
            assert_eq!(response.error, INVALID_CONNECT_REQUEST);
        }
        other => panic!("expected a ConnectResponse, got {other:?}"),
    }
    // Then the connection is closed.
    assert!(sdk.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn request_times_out_and_a_late_reply_is_dropped() {
    let (connection, mut sdk) = scripted_sdk().await;
    let request = CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "slow".to_owned(),
        payload: None,
    };
    let error = connection
        .request(request, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ChannelError::RequestTimeout { request_id, .. } if request_id == "slow"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no reply from unix socket /test/sdk to request \"slow\" within 60s"
    );
    // The late reply arrives with nobody waiting: it is dropped. Replies are routed in
    // arrival order, so once the reply to "next" is in, the late one has been handled.
    let message = |request_id: &str| CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: request_id.to_owned(),
        payload: None,
    };
    let reply = |request_id: String, error: &str| SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id,
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
            CoverageSnapshotResponse {
                error: error.to_owned(),
                ..Default::default()
            },
        )),
    };
    let late = sdk.next().await.unwrap().unwrap();
    assert_eq!(late.request_id, "slow");
    let answering = async {
        sdk.send(reply(late.request_id, "late")).await.unwrap();
        let next = sdk.next().await.unwrap().unwrap();
        sdk.send(reply(next.request_id, "next")).await.unwrap();
    };
    let (next, ()) = tokio::join!(connection.request(message("next"), TIMEOUT), answering);
    assert_eq!(next.unwrap(), reply("next".to_owned(), "next"));
    // The timed-out id is free again and gets its own, new reply.
    let answering = async {
        let again = sdk.next().await.unwrap().unwrap();
        sdk.send(reply(again.request_id, "again")).await.unwrap();
    };
    let (again, ()) = tokio::join!(connection.request(message("slow"), TIMEOUT), answering);
    assert_eq!(again.unwrap(), reply("slow".to_owned(), "again"));
}

#[tokio::test]
async fn request_ids_must_be_non_empty_and_unique_in_flight() {
    let (connection, _sdk) = scripted_sdk().await;
    let message = |request_id: &str| CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: request_id.to_owned(),
        payload: None,
    };
    let error = connection.request(message(""), TIMEOUT).await.unwrap_err();
    assert!(
        matches!(error, ChannelError::BadRequestId { .. }),
        "{error:?}"
    );
    let first = connection.request(message("same"), TIMEOUT);
    let second = async {
        tokio::task::yield_now().await;
        connection.request(message("same"), TIMEOUT).await
    };
    tokio::pin!(first);
    tokio::select! {
        _ = &mut first => panic!("nobody answers the first request"),
        second = second => {
            let error = second.unwrap_err();
            assert!(
                matches!(&error, ChannelError::BadRequestId { detail, .. } if detail.contains("in flight")),
                "{error:?}"
            );
        }
    }
}

#[tokio::test]
async fn snapshot_failure_carries_the_sdk_text() {
    let (connection, mut sdk) = scripted_sdk().await;
    let answering = async {
        let request = sdk.next().await.unwrap().unwrap();
        assert_eq!(request.r#type, MessageType::CoverageSnapshot as i32);
        assert!(request.request_id.starts_with("coverage-"));
        sdk.send(SdkMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: request.request_id,
            payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
                CoverageSnapshotResponse {
                    success: false,
                    error: "not instrumented".to_owned(),
                    coverage: Default::default(),
                },
            )),
        })
        .await
        .unwrap();
    };
    let (snapshot, ()) = tokio::join!(connection.delta(TIMEOUT), answering);
    let error = snapshot.unwrap_err();
    assert!(
        matches!(error, ChannelError::SnapshotFailed { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("SDK coverage snapshot failed: not instrumented"),
        "{error}"
    );
}

#[tokio::test]
async fn snapshot_reply_of_the_wrong_kind_is_an_error() {
    let (connection, mut sdk) = scripted_sdk().await;
    let answering = async {
        let request = sdk.next().await.unwrap().unwrap();
        sdk.send(SdkMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: request.request_id,
            payload: Some(sdk_message::Payload::SetTimeTravelResponse(
                SetTimeTravelResponse::default(),
            )),
        })
        .await
        .unwrap();
    };
    let (snapshot, ()) = tokio::join!(connection.baseline(TIMEOUT), answering);
    let error = snapshot.unwrap_err();
    assert!(
        matches!(error, ChannelError::UnexpectedReply { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn sdk_closing_mid_frame_fails_pending_requests_and_closes_the_connection() {
    let (connection, sdk) = scripted_sdk().await;
    let mut sdk_stream = sdk.into_inner();
    let hostile = async {
        // Wait for the request, then send half a frame and hang up the write side.
        read_frame(&mut sdk_stream).await;
        sdk_stream.write_all(&[0, 0, 1, 0, 7, 7]).await.unwrap();
        sdk_stream.shutdown().await.unwrap();
    };
    let (snapshot, ()) = tokio::join!(connection.baseline(TIMEOUT), hostile);
    let error = snapshot.unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::Transport(TransportError::Closed { .. })
        ),
        "{error:?}"
    );
    connection.closed().await;
    assert!(connection.is_closed());
    // The CLI side closed its end too: the SDK reads end of stream.
    let mut rest = Vec::new();
    sdk_stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    // New requests are refused at once.
    let error = connection.baseline(TIMEOUT).await.unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::Transport(TransportError::Closed { .. })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn garbage_unknown_ids_and_oversized_frames_from_the_sdk_are_skipped() {
    let (connection, sdk) = scripted_sdk().await;
    let mut sdk_stream = sdk.into_inner();
    let answering = async {
        let payload = read_frame(&mut sdk_stream).await;
        let request = <CliMessage as cov_proto::Message>::decode(payload.as_slice()).unwrap();
        let frame = |payload: &[u8]| {
            let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
            bytes.extend_from_slice(payload);
            bytes
        };
        let reply = |request_id: &str| {
            cov_proto::Message::encode_to_vec(&snapshot_success(request_id.to_owned()))
        };
        let mut bytes = frame(&[0x12, 0x05, b'a']);
        bytes.extend(frame(&reply("nobody-asked")));
        bytes.extend(frame(&vec![0u8; 11 * 1024 * 1024]));
        bytes.extend(frame(&reply(&request.request_id)));
        sdk_stream.write_all(&bytes).await.unwrap();
    };
    let (snapshot, ()) = tokio::join!(connection.baseline(TIMEOUT), answering);
    assert!(snapshot.unwrap().success);
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn send_frame_writes_raw_payloads_for_hostile_peer_tests() {
    let (connection, sdk) = scripted_sdk().await;
    let mut sdk_stream = sdk.into_inner();
    connection
        .send_frame(Bytes::from_static(b"\xFF\xFE not protobuf"))
        .await
        .unwrap();
    let mut received = vec![0u8; 4 + 15];
    sdk_stream.read_exact(&mut received).await.unwrap();
    assert_eq!(&received, b"\x00\x00\x00\x0F\xFF\xFE not protobuf");
}

#[tokio::test(start_paused = true)]
async fn write_times_out_when_the_sdk_never_reads() {
    let (cli_end, sdk_end) = tokio::io::duplex(256);
    let mut sdk = Framed::new(sdk_end, SdkCodec::default());
    sdk.send(SdkMessage {
        r#type: MessageType::SdkConnect as i32,
        request_id: "hello".to_owned(),
        payload: Some(sdk_message::Payload::ConnectRequest(connect_request())),
    })
    .await
    .unwrap();
    let mut options = CliOptions::default();
    options.write_timeout(Duration::from_secs(5));
    let connection = cov_driver::handshake(
        cli_end,
        Endpoint::unix("/test/sdk"),
        &options,
        TIMEOUT,
        |_| Ok(()),
    )
    .await
    .unwrap();
    // The SDK never reads again; a large request fills the 256-byte pipe.
    let request = CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "r".repeat(4096),
        payload: None,
    };
    let error = connection
        .request(request, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ChannelError::Transport(TransportError::WriteTimeout { timeout, .. }) if timeout == Duration::from_secs(5)),
        "{error:?}"
    );
    assert!(connection.is_closed());
    let error = connection.baseline(TIMEOUT).await.unwrap_err();
    assert!(
        matches!(
            error,
            ChannelError::Transport(TransportError::Closed { .. })
        ),
        "{error:?}"
    );
    drop(sdk);
}

/// A mock source for the routing tests: it answers the request with id `"first"` only
/// after the one with id `"second"` reached it, so the two can only both be answered if
/// they are handled concurrently; `"silent"` gets no answer, `"never"` is never finished.
/// Replies carry the id `"set by the source"`, which the connection must replace.
#[derive(Debug, Default)]
struct OrderedSource {
    second_arrived: std::sync::Arc<tokio::sync::Notify>,
    seen: std::sync::Mutex<Vec<String>>,
}

impl cov_driver::MockSource for OrderedSource {
    fn answer(&self, request: SdkMessage) -> cov_driver::MockReply {
        assert_eq!(request.r#type, MessageType::MockRequest as i32);
        self.seen.lock().unwrap().push(request.request_id.clone());
        let second_arrived = std::sync::Arc::clone(&self.second_arrived);
        let reply = CliMessage {
            r#type: MessageType::MockRequest as i32,
            request_id: "set by the source".to_owned(),
            payload: None,
        };
        Box::pin(async move {
            match request.request_id.as_str() {
                "first" => {
                    second_arrived.notified().await;
                    Some(reply)
                }
                "second" => {
                    // Stores a permit if "first" is not waiting yet.
                    second_arrived.notify_one();
                    Some(reply)
                }
                "silent" => None,
                "never" => std::future::pending().await,
                _ => Some(reply),
            }
        })
    }
}

/// A scripted SDK connected to a CLI side with `source` as its mock source.
async fn scripted_sdk_with_mocks(
    source: std::sync::Arc<OrderedSource>,
) -> (
    cov_driver::CliConnection,
    Framed<tokio::io::DuplexStream, SdkCodec>,
) {
    let mut options = CliOptions::default();
    options.mock_source(source);
    scripted_sdk_with(&options).await
}

fn mock_request(request_id: &str) -> SdkMessage {
    SdkMessage {
        r#type: MessageType::MockRequest as i32,
        request_id: request_id.to_owned(),
        payload: None,
    }
}

#[tokio::test]
async fn mock_requests_are_answered_concurrently_under_their_own_ids() {
    let source = std::sync::Arc::new(OrderedSource::default());
    let (connection, mut sdk) = scripted_sdk_with_mocks(std::sync::Arc::clone(&source)).await;
    // "first" cannot be answered before "second" has reached the source: handled one after
    // the other, neither would ever be answered.
    sdk.send(mock_request("first")).await.unwrap();
    sdk.send(mock_request("second")).await.unwrap();
    let mut replies = Vec::new();
    for _ in 0..2 {
        let reply = tokio::time::timeout(TIMEOUT, sdk.next())
            .await
            .expect("both mock requests are answered")
            .unwrap()
            .unwrap();
        assert_eq!(reply.r#type, MessageType::MockRequest as i32);
        replies.push(reply.request_id);
    }
    replies.sort();
    assert_eq!(replies, ["first", "second"]);
    assert_eq!(*source.seen.lock().unwrap(), ["first", "second"]);
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn a_pending_mock_request_holds_up_neither_snapshots_nor_other_mocks() {
    let source = std::sync::Arc::new(OrderedSource::default());
    let (connection, mut sdk) = scripted_sdk_with_mocks(std::sync::Arc::clone(&source)).await;
    sdk.send(mock_request("never")).await.unwrap();
    sdk.send(mock_request("silent")).await.unwrap();
    let answering = async {
        let request = sdk.next().await.unwrap().unwrap();
        assert_eq!(request.r#type, MessageType::CoverageSnapshot as i32);
        sdk.send(snapshot_success(request.request_id))
            .await
            .unwrap();
        sdk.send(mock_request("later")).await.unwrap();
        // The first frame after the snapshot request is the answer to "later": nothing was
        // sent for "never" (still pending) or "silent" (no answer).
        let reply = sdk.next().await.unwrap().unwrap();
        assert_eq!(reply.request_id, "later");
    };
    let (snapshot, ()) = tokio::join!(connection.delta(TIMEOUT), answering);
    assert!(snapshot.unwrap().success);
    assert_eq!(*source.seen.lock().unwrap(), ["never", "silent", "later"]);
}

#[tokio::test]
async fn without_a_mock_source_mock_requests_are_dropped_and_the_connection_goes_on() {
    let (connection, mut sdk) = scripted_sdk().await;
    sdk.send(mock_request("nobody-serves-mocks")).await.unwrap();
    let answering = async {
        let request = sdk.next().await.unwrap().unwrap();
        // The snapshot request is the first frame: the mock request got no reply.
        assert_eq!(request.r#type, MessageType::CoverageSnapshot as i32);
        sdk.send(snapshot_success(request.request_id))
            .await
            .unwrap();
    };
    let (snapshot, ()) = tokio::join!(connection.baseline(TIMEOUT), answering);
    assert!(snapshot.unwrap().success);
    assert!(!connection.is_closed());
}

#[tokio::test]
async fn dropping_the_connection_abandons_pending_mock_answers_and_closes_the_stream() {
    let source = std::sync::Arc::new(OrderedSource::default());
    let (connection, mut sdk) = scripted_sdk_with_mocks(std::sync::Arc::clone(&source)).await;
    sdk.send(mock_request("never")).await.unwrap();
    // Once a later request's answer arrives, "never" is in its task.
    sdk.send(mock_request("later")).await.unwrap();
    assert_eq!(sdk.next().await.unwrap().unwrap().request_id, "later");
    drop(connection);
    // The answer task held a handle of the writer; aborted with the connection, it lets
    // the writer close the stream.
    let end = tokio::time::timeout(TIMEOUT, sdk.next())
        .await
        .expect("the CLI side closes the stream");
    assert!(end.is_none(), "{end:?}");
}
