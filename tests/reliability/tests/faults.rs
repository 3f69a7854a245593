//! Faults around the SDK: the CLI killed in the middle of a snapshot, closing right after
//! the handshake, restarted on a new socket, not listening yet when the service starts,
//! and an application handler that panics. In every case the service keeps answering
//! HTTP, nothing panics out of the SDK, and the log says what happened.
//!
//! A CLI "killed" is its socket closing without a word: that is all the SDK can see of a
//! killed process (the kernel closes its descriptors), so the tests close the raw peer's
//! socket at the chosen moment.

use std::time::{Duration, Instant};

use cov_driver::Launch;
use cov_reliability::peer::{RawListener, snapshot_request};
use cov_reliability::service::{Service, host_binary, replay_launch};
use cov_testkit::workspace_root;

fn launch(socket: &std::path::Path) -> Launch {
    let mut launch = replay_launch(&host_binary(), socket);
    launch
        .env("HOST_WRITE_TIMEOUT_MS", "2000")
        .current_dir(workspace_root().join("fixtures/host"));
    launch
}

fn assert_healthy(service: &mut Service) {
    assert!(
        service.is_running(),
        "the service exited:\n{}",
        service.log()
    );
    assert_eq!(service.get_ok("/work/6"), "8");
    service.assert_no_panic_except(&[]);
}

#[test]
fn cli_killed_in_the_middle_of_a_snapshot() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("tusk.sock");
    let listener = RawListener::bind(&socket);
    let mut service = Service::start(&launch(&socket));
    let mut peer = listener.accept(Duration::from_secs(30));
    // A baseline is the longest snapshot; the CLI dies once the SDK has started it.
    peer.write_message(&snapshot_request("killed", true));
    service.wait_for_log("coverage snapshot requested", Duration::from_secs(30));
    drop(peer);
    service.wait_for_log("coverage SDK stopped", Duration::from_secs(30));
    let log = service.log();
    assert!(
        log.contains("coverage channel lost") || log.contains("closed the coverage channel"),
        "the log does not say the channel went away:\n{log}"
    );
    assert_healthy(&mut service);
    println!("CLI killed mid-snapshot: SDK stopped with a clear log, service serving");
}

#[test]
fn cli_closing_right_after_the_handshake() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("tusk.sock");
    let listener = RawListener::bind(&socket);
    let mut service = Service::start(&launch(&socket));
    let peer = listener.accept(Duration::from_secs(30));
    drop(peer);
    service.wait_for_log(
        "the Tusk CLI closed the coverage channel; coverage SDK stopped",
        Duration::from_secs(10),
    );
    assert_healthy(&mut service);
    println!("CLI closed after the handshake: logged, service serving");
}

#[test]
fn cli_restarted_on_a_new_socket() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let first_socket = dir.path().join("first.sock");
    let listener = RawListener::bind(&first_socket);
    let mut service = Service::start(&launch(&first_socket));
    let mut peer = listener.accept(Duration::from_secs(30));
    let reply = peer.snapshot("baseline", true, Duration::from_secs(30));
    assert!(reply.success, "{}", reply.error);
    // The CLI dies and a new one listens elsewhere. The running service's SDK was told
    // the old endpoint; it logs the loss and leaves the service alone (the Tusk CLI starts
    // a fresh service for a fresh run).
    drop(peer);
    drop(listener);
    let second_socket = dir.path().join("second.sock");
    let second = RawListener::bind(&second_socket);
    service.wait_for_log("coverage SDK stopped", Duration::from_secs(10));
    assert_healthy(&mut service);

    // A service started for the new CLI works as usual.
    let mut fresh = Service::start(&launch(&second_socket));
    let mut peer = second.accept(Duration::from_secs(30));
    let reply = peer.snapshot("baseline-2", true, Duration::from_secs(30));
    assert!(reply.success, "{}", reply.error);
    fresh.get_ok("/work/6");
    let reply = peer.snapshot("delta-2", false, Duration::from_secs(30));
    assert!(reply.success, "{}", reply.error);
    assert!(
        !reply.coverage.is_empty(),
        "the delta after GET /work/6 is empty"
    );
    assert_healthy(&mut fresh);
    assert_healthy(&mut service);
    println!(
        "CLI restarted on a new socket: old service logged the loss and serves on; a new one connects"
    );
}

#[test]
fn sdk_started_before_the_cli_listens_retries_then_connects() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("late.sock");
    let mut service = Service::start(launch(&socket).env("HOST_CONNECT_TIMEOUT_MS", "10000"));
    // The service works while the SDK waits for the CLI, which listens only once the SDK
    // has failed twice.
    service.get_ok("/health");
    service.wait_for_log(
        "cannot reach the Tusk CLI yet (attempt 2)",
        Duration::from_secs(10),
    );
    service.get_ok("/health");
    let listener = RawListener::bind(&socket);
    let mut peer = listener.accept(Duration::from_secs(15));
    let reply = peer.snapshot("late-baseline", true, Duration::from_secs(30));
    assert!(reply.success, "{}", reply.error);
    // The SDK's thread is seen while it serves (what the test below waits to see gone).
    let threads = service.sdk_threads();
    assert!(threads.iter().any(|name| name == "cov-sdk"), "{threads:?}");
    let log = service.log();
    assert!(
        log.contains("cannot reach the Tusk CLI yet (attempt 1)"),
        "no retry logged:\n{log}"
    );
    assert!(
        !log.contains("gave up"),
        "gave up although the CLI came:\n{log}"
    );
    assert_healthy(&mut service);
    let attempts = log.matches("cannot reach the Tusk CLI yet").count();
    println!("CLI late: connected after {attempts} failed attempt(s)");
}

#[test]
fn sdk_with_no_cli_gives_up_after_a_bounded_retry_with_one_warning() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("never.sock");
    let mut service = Service::start(launch(&socket).env("HOST_CONNECT_TIMEOUT_MS", "2000"));
    // The service answers all along while the SDK retries, until it gives up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut served = 0;
    while !service.log().contains("gave up reaching the Tusk CLI") {
        assert!(
            Instant::now() < deadline,
            "the SDK did not give up within 30 s of a 2 s budget; its log:\n{}",
            service.log()
        );
        service.get_ok("/health");
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once the SDK's threads are gone nothing of it runs: no later warning can come.
    service.wait_until_the_sdk_has_stopped(Duration::from_secs(30));
    let log = service.log();
    let warnings = log
        .lines()
        .filter(|line| line.contains("WARN"))
        .collect::<Vec<_>>();
    assert_eq!(warnings.len(), 1, "expected exactly one warning:\n{log}");
    assert!(warnings[0].contains("the service runs on without coverage"));
    assert_healthy(&mut service);
    println!(
        "no CLI: {served} requests served during a 2 s bounded retry, then one warning: {}",
        warnings[0].trim()
    );
}

#[test]
fn a_panicking_handler_leaves_the_sdk_and_the_service_running() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join("tusk.sock");
    let listener = RawListener::bind(&socket);
    let mut service = Service::start(&launch(&socket));
    let mut peer = listener.accept(Duration::from_secs(30));
    let reply = peer.snapshot("baseline", true, Duration::from_secs(30));
    assert!(reply.success, "{}", reply.error);
    for _ in 0..3 {
        // The handler's panic closes that connection without a response.
        assert!(service.client().get("/panic").is_err());
    }
    service.wait_for_log("panics on purpose", Duration::from_secs(5));
    assert_eq!(service.get_ok("/work/6"), "8");
    let reply = peer.snapshot("after-panic", false, Duration::from_secs(30));
    assert!(reply.success, "{}", reply.error);
    // The panicking handler's lines were counted: three calls.
    let file = reply
        .coverage
        .iter()
        .find(|(path, _)| path.ends_with("fixtures/host/src/main.rs"))
        .map(|(_, file)| file)
        .expect("the host's main.rs in the delta");
    assert!(
        file.lines.values().any(|&count| count == 3),
        "no line ran three times in {:?}",
        file.lines
    );
    assert!(service.is_running());
    service.assert_no_panic_except(&["fixtures/host/src/main.rs"]);
    println!("panicking handler: 3 panics, service and SDK running, delta counted them");
}
