//! Hostile or broken CLI peers against the real SDK in a real service.
//!
//! Each test starts the instrumented `reliability-host` (axum, the SDK linked through
//! `cov_sdk::Builder`) in Tusk replay mode with coverage on, plays the CLI side over a
//! unix socket with raw bytes, and checks three things: the service keeps answering HTTP
//! quickly throughout, its memory stays bounded (resident set from `/proc`), and its log
//! says what happened, with no panic. Each test prints its figures (`--nocapture`).

use std::io::Write;
use std::time::{Duration, Instant};

use cov_proto::{CliMessage, Message, MessageType, SdkMessage, sdk_message};
use cov_reliability::peer::{RawListener, RawPeer, frame, snapshot_request};
use cov_reliability::service::{Service, host_binary, replay_launch};
use cov_testkit::workspace_root;

/// The timeouts the host's SDK runs with: short, so a stuck peer is given up quickly.
const WRITE_TIMEOUT_MS: &str = "2000";

struct Session {
    service: Service,
    peer: RawPeer,
    _dir: tempfile::TempDir,
}

/// Starts the host connected to a raw peer that completed the handshake, with coverage
/// on (`coverage`) or off, and waits until the collector is built (its decoded mapping is
/// the SDK's one large allocation, made once; memory is measured after it).
fn session_with(coverage: bool) -> Session {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("tusk.sock");
    let listener = RawListener::bind(&socket);
    let mut launch = replay_launch(&host_binary(), &socket);
    launch
        .env("HOST_WRITE_TIMEOUT_MS", WRITE_TIMEOUT_MS)
        .current_dir(workspace_root().join("fixtures/host"));
    if !coverage {
        // Empty counts as unset: the SDK serves but answers every snapshot with
        // success=false, at once.
        launch.env("TUSK_COVERAGE", "");
    }
    let service = Service::start(&launch);
    let peer = listener.accept(Duration::from_secs(30));
    service.wait_for_log("coverage SDK connected", Duration::from_secs(10));
    if coverage {
        service.wait_for_log("coverage collector ready", Duration::from_secs(60));
    }
    service.get_ok("/health");
    Session {
        service,
        peer,
        _dir: dir,
    }
}

fn session() -> Session {
    session_with(true)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The service still works: HTTP answers and a snapshot on `peer` succeeds.
fn assert_serving(session: &mut Session, request_id: &str) {
    assert_eq!(session.service.get_ok("/work/27"), "111");
    let reply = session
        .peer
        .snapshot(request_id, false, Duration::from_secs(30));
    assert!(reply.success, "snapshot failed: {}", reply.error);
}

#[test]
fn garbage_frames_are_skipped_and_the_session_goes_on() {
    let mut session = session();
    let garbage: [&[u8]; 5] = [
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"not protobuf at all",
        &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        &[],
        // Valid protobuf, but a message type the SDK does not handle.
        &CliMessage {
            r#type: MessageType::Alert as i32,
            request_id: "alert".to_owned(),
            payload: None,
        }
        .encode_to_vec(),
    ];
    for payload in garbage {
        session.peer.write_raw(&frame(payload)).expect("writing");
    }
    // A COVERAGE_SNAPSHOT without its payload gets a failure, not silence.
    session.peer.write_message(&CliMessage {
        r#type: MessageType::CoverageSnapshot as i32,
        request_id: "no-payload".to_owned(),
        payload: None,
    });
    let reply = session.peer.reply_to("no-payload", Duration::from_secs(30));
    assert!(!reply.success);
    assert!(
        reply.error.contains("without a CoverageSnapshotRequest"),
        "{}",
        reply.error
    );
    assert_serving(&mut session, "after-garbage");
    session
        .service
        .wait_for_log("not a valid protobuf message", Duration::from_secs(5));
    session.service.wait_for_log(
        "ignoring a CLI message the coverage SDK does not handle",
        Duration::from_secs(5),
    );
    session.service.assert_no_panic_except(&[]);
    println!("garbage frames: 5 skipped, 1 failure reply, session kept");
}

#[test]
fn a_frame_truncated_by_a_closing_peer_ends_the_session_cleanly() {
    for (case, bytes) in [
        ("mid-header", vec![0_u8, 0]),
        ("mid-payload", {
            let mut bytes = 100_u32.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0x08; 10]);
            bytes
        }),
    ] {
        let mut session = session();
        session.peer.write_raw(&bytes).expect("writing");
        session.peer.stream().flush().expect("flushing");
        drop(session.peer);
        session
            .service
            .wait_for_log("in the middle of a frame", Duration::from_secs(10));
        session
            .service
            .wait_for_log("coverage SDK stopped", Duration::from_secs(10));
        session.service.get_ok("/health");
        assert!(session.service.is_running());
        session.service.assert_no_panic_except(&[]);
        println!("truncated frame ({case}): channel closed with a clear log, service serving");
    }
}

#[test]
fn a_4_gib_length_prefix_is_skipped_without_buffering() {
    let mut session = session();
    let before = session.service.rss_kib();
    let mut bytes = u32::MAX.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0xab; 64 * 1024]);
    session.peer.write_raw(&bytes).expect("writing the header");
    let chunk = vec![0xcd_u8; 1024 * 1024];
    let mut peak = before;
    let sent_mib = 256;
    for _ in 0..sent_mib {
        session.peer.write_raw(&chunk).expect("writing the payload");
        peak = peak.max(session.service.rss_kib());
    }
    session.service.get_ok("/health");
    session.service.wait_for_log(
        "skipping an incoming frame larger than the maximum frame length",
        Duration::from_secs(10),
    );
    let growth = peak.saturating_sub(before);
    println!(
        "4 GiB length prefix: {sent_mib} MiB of its payload sent, RSS {:.1} MiB -> peak {:.1} MiB (+{:.1} MiB)",
        mib(before),
        mib(peak),
        mib(growth)
    );
    assert!(
        growth < 16 * 1024,
        "the SDK buffered an oversized frame: RSS grew by {:.1} MiB",
        mib(growth)
    );
    session.service.assert_no_panic_except(&[]);
}

/// How many real snapshot requests the coverage-on flood sends: each delta of this debug
/// build takes milliseconds, so `cargo xtask test` sends 2,000 and `cargo xtask soak
/// --flood 100000` the full 100,000.
fn flood_snapshots() -> usize {
    match std::env::var("COV_FLOOD_SNAPSHOTS") {
        Ok(value) if !value.is_empty() => value
            .parse()
            .unwrap_or_else(|_| panic!("COV_FLOOD_SNAPSHOTS={value:?} is not a number")),
        _ => 2_000,
    }
}

/// Writes `requests` delta requests as fast as the socket takes them while reading the
/// replies, checking order, HTTP latency and memory meanwhile.
fn flood(session: &mut Session, requests: usize, expect_success: bool) {
    let before = session.service.rss_kib();
    let mut writer = session
        .peer
        .stream()
        .try_clone()
        .expect("cloning the socket");
    let flood = std::thread::spawn(move || {
        let mut batch = Vec::new();
        for index in 0..requests {
            batch.extend_from_slice(&frame(
                &snapshot_request(&format!("flood-{index}"), false).encode_to_vec(),
            ));
            if batch.len() > 64 * 1024 {
                writer.write_all(&batch).expect("writing the flood");
                batch.clear();
            }
        }
        writer.write_all(&batch).expect("writing the flood");
    });

    let started = Instant::now();
    let mut peak = before;
    let mut slowest_http = Duration::ZERO;
    let mut http_checks = 0_u32;
    let mut last_check = Instant::now();
    for index in 0..requests {
        let reply: SdkMessage = session
            .peer
            .read_message()
            .unwrap_or_else(|| panic!("the SDK stopped answering after {index} replies"));
        assert_eq!(
            reply.request_id,
            format!("flood-{index}"),
            "replies out of order"
        );
        let Some(sdk_message::Payload::CoverageSnapshotResponse(response)) = reply.payload else {
            panic!("reply {index} is not a snapshot response");
        };
        assert_eq!(
            response.success, expect_success,
            "reply {index}: {}",
            response.error
        );
        if last_check.elapsed() > Duration::from_millis(250) {
            let http = Instant::now();
            session.service.get_ok("/health");
            slowest_http = slowest_http.max(http.elapsed());
            http_checks += 1;
            peak = peak.max(session.service.rss_kib());
            last_check = Instant::now();
        }
    }
    flood.join().expect("the flood writer");
    let elapsed = started.elapsed();
    peak = peak.max(session.service.rss_kib());
    let growth = peak.saturating_sub(before);
    println!(
        "flood (coverage {}): {requests} snapshot requests answered in order in {elapsed:.1?} \
         ({:.0}/s); {http_checks} HTTP checks meanwhile, slowest {slowest_http:?}; \
         RSS {:.1} MiB -> peak {:.1} MiB (+{:.1} MiB)",
        if expect_success { "on" } else { "off" },
        requests as f64 / elapsed.as_secs_f64(),
        mib(before),
        mib(peak),
        mib(growth)
    );
    assert!(
        growth < 16 * 1024,
        "memory grew by {:.1} MiB under the flood",
        mib(growth)
    );
}

#[test]
fn a_flood_of_100_000_snapshot_requests_is_answered_in_order_with_bounded_memory() {
    // Coverage off: every request is answered at once, so the flood measures the SDK's
    // protocol loop (read, reply, next) at full volume.
    let mut session = session_with(false);
    flood(&mut session, 100_000, false);
    session.service.get_ok("/health");
    session.service.assert_no_panic_except(&[]);
}

#[test]
fn a_flood_of_real_snapshot_requests_is_answered_in_order_with_bounded_memory() {
    let mut session = session();
    // The baseline first, as the CLI does.
    let reply = session
        .peer
        .snapshot("baseline", true, Duration::from_secs(60));
    assert!(reply.success, "{}", reply.error);
    flood(&mut session, flood_snapshots(), true);
    assert_serving(&mut session, "after-flood");
    session.service.assert_no_panic_except(&[]);
}

#[test]
fn a_1_mib_request_id_is_echoed_and_an_11_mib_one_is_skipped() {
    let mut session = session();
    let reply = session
        .peer
        .snapshot("first", true, Duration::from_secs(60));
    assert!(reply.success, "{}", reply.error);
    let before = session.service.rss_kib();
    let long_id = "x".repeat(1024 * 1024);
    let reply = session
        .peer
        .snapshot(&long_id, true, Duration::from_secs(60));
    assert!(reply.success, "{}", reply.error);
    // Over the 10 MiB frame limit: skipped with a warning, the session goes on.
    let too_long = "y".repeat(11 * 1024 * 1024);
    session
        .peer
        .write_message(&snapshot_request(&too_long, false));
    session.service.wait_for_log(
        "skipping an incoming frame larger than the maximum frame length",
        Duration::from_secs(10),
    );
    assert_serving(&mut session, "after-long-ids");
    let growth = session.service.rss_kib().saturating_sub(before);
    println!(
        "1 MiB request id echoed; 11 MiB one skipped; RSS +{:.1} MiB",
        mib(growth)
    );
    assert!(growth < 16 * 1024, "RSS grew by {:.1} MiB", mib(growth));
    session.service.assert_no_panic_except(&[]);
}

#[test]
fn a_peer_that_never_reads_is_given_up_after_the_write_timeout() {
    let mut session = session();
    let reply = session
        .peer
        .snapshot("first", true, Duration::from_secs(60));
    assert!(reply.success, "{}", reply.error);
    let before = session.service.rss_kib();
    // Baseline replies are the largest; ask for many and read none.
    let mut requests = Vec::new();
    for index in 0..2_000 {
        requests.extend_from_slice(&frame(
            &snapshot_request(&format!("unread-{index}"), true).encode_to_vec(),
        ));
    }
    let mut writer = session
        .peer
        .stream()
        .try_clone()
        .expect("cloning the socket");
    writer
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("a write timeout");
    // The SDK stops reading once its replies back up, so this write may not finish.
    let _ = writer.write_all(&requests);
    let started = Instant::now();
    let mut slowest_http = Duration::ZERO;
    let mut peak = before;
    while !session.service.log().contains("coverage SDK stopped") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the SDK never gave up the peer; its log:\n{}",
            session.service.log()
        );
        let http = Instant::now();
        session.service.get_ok("/health");
        slowest_http = slowest_http.max(http.elapsed());
        peak = peak.max(session.service.rss_kib());
        std::thread::sleep(Duration::from_millis(100));
    }
    session
        .service
        .wait_for_log("coverage channel lost", Duration::from_secs(1));
    let growth = peak.saturating_sub(before);
    println!(
        "peer that never reads: given up after {:.1?} (write timeout {WRITE_TIMEOUT_MS} ms); \
         slowest HTTP meanwhile {slowest_http:?}; RSS +{:.1} MiB",
        started.elapsed(),
        mib(growth)
    );
    assert!(growth < 16 * 1024, "RSS grew by {:.1} MiB", mib(growth));
    session.service.get_ok("/health");
    session.service.assert_no_panic_except(&[]);
    drop(writer);
}
