//! Bad input on either side: a clear error on that connection, other connections keep
//! working, nothing already recorded is lost.

mod support;

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use cov_postgres::message::{Backend, Framed, Framer, Frontend, MAX_MESSAGE_LEN};
use cov_postgres::proxy::RecordingProxy;
use cov_postgres::record::{RecorderConfig, StatementKind};
use cov_postgres::replay::{ReplayConfig, marker_answer};
use cov_postgres::server::ReplayServer;
use cov_postgres::sql::marker;
use cov_postgres::url::{Upstream, local_url};
use support::{MemorySink, MemorySource, RawClient, encode_all, fresh_database, kinds};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn error_code(messages: &[Backend]) -> Option<String> {
    messages.iter().find_map(|message| match message {
        Backend::ErrorResponse(fields) => fields
            .iter()
            .find(|(code, _)| *code == b'C')
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned()),
        _ => None,
    })
}

async fn proxy_for(url: &str, config: RecorderConfig) -> (RecordingProxy, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let proxy = RecordingProxy::start(Upstream::from_url(url).unwrap(), sink.clone(), config)
        .await
        .unwrap();
    (proxy, sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_client_message_ends_only_its_connection() {
    let url = fresh_database("bad_client").await;
    let (proxy, sink) = proxy_for(&url, RecorderConfig::default()).await;
    let mut good = RawClient::connect(proxy.local_addr(), "postgres", "bad_client").await;
    good.send(&[Frontend::Query(Bytes::from_static(b"SELECT 1"))])
        .await;
    good.until_ready(1).await;

    let mut bad = RawClient::connect(proxy.local_addr(), "postgres", "bad_client").await;
    bad.send(&[Frontend::Query(Bytes::from_static(b"SELECT 2"))])
        .await;
    bad.until_ready(1).await;
    // A Query whose length is below the minimum, then noise.
    bad.send_raw(b"Q\0\0\0\x02garbage").await;
    let rest = bad.read_to_end().await;
    let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
    framer.push(Bytes::from(rest));
    let Some(Framed::Message(frame)) = framer.next_frame().unwrap() else {
        panic!("no answer to the malformed message")
    };
    let answer = Backend::decode_frame(frame).unwrap();
    assert_eq!(error_code(&[answer]).as_deref(), Some("08P01"));

    good.send(&[Frontend::Query(Bytes::from_static(b"SELECT 3"))])
        .await;
    assert_eq!(error_code(&good.until_ready(1).await), None);
    drop(good);
    proxy.wait_idle().await;
    let texts: Vec<String> = kinds(&sink.take())
        .into_iter()
        .map(|(_, _, text)| text)
        .collect();
    for text in ["SELECT 1", "SELECT 2", "SELECT 3"] {
        assert!(
            texts.contains(&text.to_owned()),
            "{text} missing from {texts:?}"
        );
    }
}

/// A server speaking PostgreSQL just enough: start-up, then each `Query` answered with one
/// text row holding the query, or, for a query containing `garbage`, a malformed row.
/// It keeps every query it received.
async fn fake_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut framer = Framer::new(true, MAX_MESSAGE_LEN);
                let mut buf = BytesMut::new();
                loop {
                    if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    framer.push(buf.split().freeze());
                    while let Ok(Some(Framed::Message(frame))) = framer.next_frame() {
                        let mut out = BytesMut::new();
                        match Frontend::decode_frame(frame).unwrap() {
                            Frontend::Startup(_) => {
                                framer.set_untyped(false);
                                Backend::Authentication(cov_postgres::message::Authentication::Ok)
                                    .encode(&mut out)
                                    .unwrap();
                                Backend::ReadyForQuery(b'I').encode(&mut out).unwrap();
                            }
                            Frontend::Query(query) => {
                                let text = String::from_utf8_lossy(&query).into_owned();
                                seen.lock().unwrap().push(text.clone());
                                Backend::RowDescription(vec![
                                    cov_postgres::message::FieldDescription {
                                        name: Bytes::from_static(b"text"),
                                        table_oid: 0,
                                        column: 0,
                                        type_oid: 25,
                                        type_size: -1,
                                        type_modifier: -1,
                                        format: 0,
                                    },
                                ])
                                .encode(&mut out)
                                .unwrap();
                                if text.contains("garbage") {
                                    // A DataRow claiming a column longer than itself.
                                    out.extend_from_slice(b"D\0\0\0\x0a\0\x01\0\0\0\x09");
                                } else {
                                    Backend::DataRow(
                                        cov_postgres::message::DataRow::new(&[Some(
                                            text.as_bytes(),
                                        )])
                                        .unwrap(),
                                    )
                                    .encode(&mut out)
                                    .unwrap();
                                    Backend::CommandComplete(Bytes::from_static(b"SELECT 1"))
                                        .encode(&mut out)
                                        .unwrap();
                                }
                                Backend::ReadyForQuery(b'I').encode(&mut out).unwrap();
                            }
                            _ => {}
                        }
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_never_reaches_the_server_when_the_connection_is_idle() {
    let (addr, received) = fake_server().await;
    let url = format!("postgres://app@{addr}/app");
    let (proxy, sink) = proxy_for(&url, RecorderConfig::default()).await;
    let mut client = RawClient::connect(proxy.local_addr(), "app", "app").await;
    client
        .send(&[Frontend::Query(Bytes::from(marker(7)))])
        .await;
    let answer = encode_all(&client.until_ready(1).await);
    let mut expected = BytesMut::new();
    marker_answer(b'I', &mut expected);
    assert_eq!(answer, expected.to_vec());
    client
        .send(&[Frontend::Query(Bytes::from_static(b"SELECT 'a'"))])
        .await;
    client.until_ready(1).await;
    // Pipelined behind a query, the marker goes to the server (which answers it) and
    // still changes the attribution.
    client
        .send(&[
            Frontend::Query(Bytes::from_static(b"SELECT 'b'")),
            Frontend::Query(Bytes::from(marker(8))),
            Frontend::Query(Bytes::from_static(b"SELECT 'c'")),
        ])
        .await;
    client.until_ready(3).await;
    drop(client);
    proxy.wait_idle().await;
    assert_eq!(
        *received.lock().unwrap(),
        vec![
            "SELECT 'a'".to_owned(),
            "SELECT 'b'".into(),
            marker(8),
            "SELECT 'c'".into()
        ]
    );
    let keys: Vec<(Option<u64>, String)> = kinds(&sink.take())
        .into_iter()
        .map(|(key, _, text)| (key, text))
        .collect();
    assert_eq!(
        keys,
        vec![
            (Some(7), "SELECT 'a'".to_owned()),
            (Some(7), "SELECT 'b'".to_owned()),
            (Some(8), "SELECT 'c'".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_server_message_reaches_the_client_and_stops_only_that_recording() {
    let (addr, _) = fake_server().await;
    let url = format!("postgres://app@{addr}/app");
    let (proxy, sink) = proxy_for(&url, RecorderConfig::default()).await;
    let proxy_url = local_url(&url, proxy.local_addr()).unwrap();
    let (broken, connection) = tokio_postgres::connect(&proxy_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let broken_connection = tokio::spawn(connection);
    let (fine, connection) = tokio_postgres::connect(&proxy_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    fine.simple_query("SELECT 'before'").await.unwrap();
    // The driver reports the malformed row as an error.
    let error = broken.simple_query("SELECT 'garbage'").await;
    assert!(error.is_err(), "{error:?}");
    fine.simple_query("SELECT 'after'").await.unwrap();
    drop(fine);
    drop(broken);
    let _ = broken_connection.await;
    proxy.wait_idle().await;
    let texts: Vec<String> = kinds(&sink.take())
        .into_iter()
        .map(|(_, _, text)| text)
        .collect();
    assert_eq!(
        texts,
        vec!["SELECT 'before'".to_owned(), "SELECT 'after'".into()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_query_and_an_oversized_row_lose_nothing_recorded() {
    let url = fresh_database("bad_oversized").await;
    let (proxy, sink) = proxy_for(
        &url,
        RecorderConfig {
            max_statement_bytes: 64 * 1024,
        },
    )
    .await;
    let mut client = RawClient::connect(proxy.local_addr(), "postgres", "bad_oversized").await;
    client
        .send(&[Frontend::Query(Bytes::from_static(b"SELECT 'small'"))])
        .await;
    client.until_ready(1).await;
    // A row of 1 MiB: the application gets it whole, the recording does not keep it.
    client
        .send(&[Frontend::Query(Bytes::from_static(
            b"SELECT repeat('x', 1048576) AS big",
        ))])
        .await;
    let answer = client.until_ready(1).await;
    let Backend::DataRow(row) = &answer[1] else {
        panic!("{:?}", &answer[..1])
    };
    assert_eq!(row.columns().next().unwrap().unwrap().len(), 1 << 20);
    client
        .send(&[Frontend::Query(Bytes::from_static(b"SELECT 'after'"))])
        .await;
    client.until_ready(1).await;
    // Gone in the middle of a long result.
    client
        .send(&[Frontend::Query(Bytes::from_static(
            b"SELECT generate_series(1, 200000)",
        ))])
        .await;
    drop(client);
    let mut other = RawClient::connect(proxy.local_addr(), "postgres", "bad_oversized").await;
    other
        .send(&[Frontend::Query(Bytes::from_static(b"SELECT 'other'"))])
        .await;
    assert_eq!(error_code(&other.until_ready(1).await), None);
    drop(other);
    proxy.wait_idle().await;
    let statements = sink.take();
    let texts: Vec<String> = kinds(&statements)
        .into_iter()
        .map(|(_, _, text)| text)
        .collect();
    assert_eq!(
        texts,
        vec![
            "SELECT 'small'".to_owned(),
            "SELECT 'after'".into(),
            "SELECT 'other'".into()
        ]
    );

    // In replay the big statement is unmatched: an error, never a cut row.
    let server = ReplayServer::start(MemorySource::new(&statements), ReplayConfig::default())
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr(), "postgres", "bad_oversized").await;
    client
        .send(&[Frontend::Query(Bytes::from_static(
            b"SELECT repeat('x', 1048576) AS big",
        ))])
        .await;
    assert_eq!(
        error_code(&client.until_ready(1).await).as_deref(),
        Some("58000")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_while_recording() {
    let mut server = cov_testkit::PostgresServer::start();
    let url = server.url();
    let (proxy, sink) = proxy_for(&url, RecorderConfig::default()).await;
    let mut client = RawClient::connect(proxy.local_addr(), "postgres", "postgres").await;
    client
        .send(&[Frontend::Query(Bytes::from_static(b"SELECT 'kept'"))])
        .await;
    client.until_ready(1).await;
    server.stop();
    // The server's own FATAL reaches the client, and the connection ends.
    client
        .send(&[Frontend::Query(Bytes::from_static(b"SELECT 'late'"))])
        .await;
    let answer = client.until_ready(1).await;
    assert!(
        matches!(error_code(&answer).as_deref(), Some("57P01" | "08006")),
        "{answer:?}"
    );
    drop(client);
    // New connections get a clear error naming the database that cannot be reached.
    let mut refused = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .unwrap();
    let mut startup = BytesMut::new();
    Frontend::Startup(cov_postgres::message::Startup {
        version: cov_postgres::message::PROTOCOL_VERSION_3_0,
        params: vec![(Bytes::from_static(b"user"), Bytes::from_static(b"postgres"))],
    })
    .encode(&mut startup)
    .unwrap();
    refused.write_all(&startup).await.unwrap();
    let mut answer = Vec::new();
    refused.read_to_end(&mut answer).await.unwrap();
    let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
    framer.push(Bytes::from(answer));
    let Some(Framed::Message(frame)) = framer.next_frame().unwrap() else {
        panic!("no answer")
    };
    let Backend::ErrorResponse(fields) = Backend::decode_frame(frame).unwrap() else {
        panic!("not an error")
    };
    let message = fields.iter().find(|(code, _)| *code == b'M').unwrap();
    assert!(String::from_utf8_lossy(&message.1).contains("cannot reach the database"));
    proxy.wait_idle().await;
    let statements = sink.take();
    assert!(
        statements
            .iter()
            .any(|(_, statement)| matches!(&statement.kind,
        StatementKind::Execute { input, .. } if input.text == "SELECT 'kept'"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_server_refuses_a_malformed_message_and_serves_others() {
    let server = ReplayServer::start(MemorySource::new(&[]), ReplayConfig::default())
        .await
        .unwrap();
    let mut bad = RawClient::connect(server.local_addr(), "app", "app").await;
    let mut good = RawClient::connect(server.local_addr(), "app", "app").await;
    // A Bind with more parameter formats than parameters.
    bad.send_raw(b"B\0\0\0\x10\0\0\0\x02\0\0\0\0\0\0\0\0").await;
    let rest = bad.read_to_end().await;
    let mut framer = Framer::new(false, MAX_MESSAGE_LEN);
    framer.push(Bytes::from(rest));
    let Some(Framed::Message(frame)) = framer.next_frame().unwrap() else {
        panic!("no answer")
    };
    assert_eq!(
        error_code(&[Backend::decode_frame(frame).unwrap()]).as_deref(),
        Some("08P01")
    );
    good.send(&[Frontend::Query(Bytes::from(marker(3)))]).await;
    assert_eq!(error_code(&good.until_ready(1).await), None);
}
