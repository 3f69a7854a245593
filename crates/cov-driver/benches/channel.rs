//! What the channel costs for a realistic coverage reply: encoding and framing it, decoding
//! it, and a whole snapshot round trip over a real unix socket.
//!
//! The reply models a mid-sized service: 200 files of 400 lines, a branch on every tenth
//! line, about 0.75 MB on the wire. The round trip includes building the reply on the SDK
//! side, as a real snapshot would.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use cov_driver::CliListener;
use cov_proto::{
    BranchInfo, CliMessage, ConnectRequest, CoverageSnapshotResponse, FileCoverageData,
    MessageType, SdkMessage, SetTimeTravelRequest, SetTimeTravelResponse, cli_message, sdk_message,
};
use cov_transport::Endpoint;
use cov_transport::frame::{CliCodec, DEFAULT_MAX_FRAME_LEN, SdkCodec, encode_message};
use cov_transport::sdk::{self, SdkOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::{Decoder, Encoder};

const N_FILES: u32 = 200;
const N_LINES: u32 = 400;

fn coverage_reply(request_id: String) -> SdkMessage {
    let coverage: HashMap<String, FileCoverageData> = (0..N_FILES)
        .map(|file_idx| {
            let lines = (1..=N_LINES)
                .map(|line| (line.to_string(), i32::try_from(line % 7).unwrap()))
                .collect();
            let branches: HashMap<String, BranchInfo> = (1..=N_LINES)
                .step_by(10)
                .map(|line| {
                    (
                        line.to_string(),
                        BranchInfo {
                            total: 2,
                            covered: 1,
                        },
                    )
                })
                .collect();
            let file = FileCoverageData {
                lines,
                total_branches: i32::try_from(branches.len() * 2).unwrap(),
                covered_branches: i32::try_from(branches.len()).unwrap(),
                branches,
            };
            (format!("/work/service/src/module_{file_idx}/mod.rs"), file)
        })
        .collect();
    SdkMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id,
        payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
            CoverageSnapshotResponse {
                success: true,
                error: String::new(),
                coverage,
            },
        )),
    }
}

fn codec(criterion: &mut Criterion) {
    let reply = coverage_reply("coverage-1".to_owned());
    let mut wire = BytesMut::new();
    SdkCodec::default()
        .encode(reply.clone(), &mut wire)
        .unwrap();
    let mut group = criterion.benchmark_group("codec");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("encode_coverage_reply", |bench| {
        bench.iter(|| encode_message(&reply, DEFAULT_MAX_FRAME_LEN).unwrap());
    });
    group.bench_function("decode_coverage_reply", |bench| {
        let mut codec = CliCodec::default();
        bench.iter(|| {
            let mut input = wire.clone();
            codec.decode(&mut input).unwrap().unwrap()
        });
    });
    group.finish();
}

fn unix_socket_round_trip(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::unix(directory.path().join("bench.sock"));
    let listener = runtime.block_on(CliListener::bind(&endpoint)).unwrap();
    let sdk_endpoint = endpoint.clone();
    runtime.spawn(async move {
        let mut connection = sdk::connect(
            &sdk_endpoint,
            ConnectRequest::default(),
            &SdkOptions::default(),
        )
        .await
        .unwrap();
        while let Ok(Some(message)) = connection.recv().await {
            let reply = match message.payload {
                Some(cli_message::Payload::CoverageSnapshotRequest(_)) => {
                    coverage_reply(message.request_id)
                }
                Some(cli_message::Payload::SetTimeTravelRequest(_)) => SdkMessage {
                    r#type: MessageType::SetTimeTravel as i32,
                    request_id: message.request_id,
                    payload: Some(sdk_message::Payload::SetTimeTravelResponse(
                        SetTimeTravelResponse::default(),
                    )),
                },
                _ => continue,
            };
            connection.sender().send(reply).await.unwrap();
        }
    });
    let connection = runtime
        .block_on(listener.accept(Duration::from_secs(10)))
        .unwrap();
    let mut group = criterion.benchmark_group("unix_socket");
    group.bench_function("snapshot_round_trip_0_75_mb", |bench| {
        bench.iter(|| {
            runtime
                .block_on(connection.delta(Duration::from_secs(10)))
                .unwrap()
        });
    });
    let mut request_idx = 0u64;
    group.bench_function("small_request_round_trip", |bench| {
        bench.iter(|| {
            request_idx += 1;
            let request = CliMessage {
                r#type: MessageType::SetTimeTravel as i32,
                request_id: format!("travel-{request_idx}"),
                payload: Some(cli_message::Payload::SetTimeTravelRequest(
                    SetTimeTravelRequest::default(),
                )),
            };
            runtime
                .block_on(connection.request(request, Duration::from_secs(10)))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = codec, unix_socket_round_trip
}
criterion_main!(benches);
