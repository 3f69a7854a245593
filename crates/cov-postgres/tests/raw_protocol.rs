//! The protocol by hand against the real server: the proxy records, the replay server
//! answers, and the bytes a client receives are the same in both (start-up aside).

mod support;

use std::sync::Arc;

use bytes::Bytes;
use cov_postgres::message::{Backend, Bind, Frontend, Parse, Target};
use cov_postgres::proxy::RecordingProxy;
use cov_postgres::record::{RecorderConfig, StatementKind};
use cov_postgres::replay::{ReplayConfig, UNMATCHED_SQLSTATE, marker_answer};
use cov_postgres::server::ReplayServer;
use cov_postgres::sql::marker;
use cov_postgres::url::Upstream;
use support::{MemorySink, MemorySource, RawClient, encode_all, fresh_database, kinds};

fn b(text: &str) -> Bytes {
    Bytes::from(text.to_owned())
}

fn parse(name: &str, query: &str, types: &[u32]) -> Frontend {
    Frontend::Parse(Parse {
        name: b(name),
        query: b(query),
        param_types: types.to_vec(),
    })
}

fn bind(
    portal: &str,
    statement: &str,
    formats: &[i16],
    params: &[Option<&[u8]>],
    results: &[i16],
) -> Frontend {
    Frontend::Bind(Bind {
        portal: b(portal),
        statement: b(statement),
        param_formats: formats.to_vec(),
        params: params
            .iter()
            .map(|p| p.map(Bytes::copy_from_slice))
            .collect(),
        result_formats: results.to_vec(),
    })
}

fn execute(portal: &str, max_rows: i32) -> Frontend {
    Frontend::Execute {
        portal: b(portal),
        max_rows,
    }
}

fn query(text: &str) -> Frontend {
    Frontend::Query(b(text))
}

/// The exchanges of the script: what is sent, and how many `ReadyForQuery` end its answer.
fn script() -> Vec<(Vec<Frontend>, usize)> {
    vec![
        (vec![query(&marker(1))], 1),
        (
            vec![query(
                "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text); \
                 INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, NULL) ON CONFLICT DO NOTHING",
            )],
            1,
        ),
        // Pipelined: two statements, one named and described, one unnamed through a named
        // portal described, executed before a single Sync.
        (
            vec![
                parse("s1", "SELECT $1::int4 + 1 AS next", &[23]),
                parse("", "SELECT name FROM items WHERE id = $1", &[0]),
                Frontend::Describe {
                    target: Target::Statement,
                    name: b("s1"),
                },
                bind("", "s1", &[1], &[Some(&41i32.to_be_bytes())], &[1]),
                execute("", 0),
                bind("p2", "", &[0], &[Some(b"2")], &[]),
                Frontend::Describe {
                    target: Target::Portal,
                    name: b("p2"),
                },
                execute("p2", 0),
                Frontend::Sync,
            ],
            1,
        ),
        (vec![query(&marker(2))], 1),
        // The statement prepared under request 1, executed under request 2 with other
        // parameters; then an error mid-pipeline: the server skips to Sync.
        (
            vec![
                bind("", "s1", &[1], &[Some(&7i32.to_be_bytes())], &[1]),
                execute("", 0),
                parse("", "SELECT 1 / $1::int4", &[]),
                bind("", "", &[], &[Some(b"0")], &[]),
                execute("", 0),
                bind("", "s1", &[1], &[Some(&8i32.to_be_bytes())], &[1]),
                execute("", 0),
                Frontend::Sync,
            ],
            1,
        ),
        // A portal read in pieces inside a transaction, then a failed transaction.
        (
            vec![
                query("BEGIN"),
                parse("series", "SELECT generate_series(1, 5) AS n", &[]),
                bind("cursor", "series", &[], &[], &[1]),
                execute("cursor", 2),
                execute("cursor", 2),
                execute("cursor", 2),
                Frontend::Sync,
                query("SELECT name FROM items WHERE id = 3; SELECT nope FROM items"),
                query("SELECT 1"),
                query("ROLLBACK"),
            ],
            5,
        ),
        // Multi-statement simple query, an empty query, NULL parameters, Close.
        (
            vec![
                query(
                    "SELECT 1 AS a; SELECT 'x' AS b, NULL AS c; UPDATE items SET name = name WHERE id < 3",
                ),
                query(" -- nothing\n"),
                parse("", "SELECT $1::text IS NULL", &[25]),
                bind("", "", &[], &[None], &[]),
                execute("", 0),
                Frontend::Sync,
                Frontend::Close {
                    target: Target::Statement,
                    name: b("s1"),
                },
                Frontend::Sync,
            ],
            4,
        ),
        // A statement that does not parse.
        (
            vec![
                parse("bad", "SELEC 1", &[]),
                Frontend::Describe {
                    target: Target::Statement,
                    name: b("bad"),
                },
                Frontend::Sync,
            ],
            1,
        ),
    ]
}

const PARSE_ERROR_EXCHANGE: usize = 7;

async fn run(addr: std::net::SocketAddr, database: &str) -> Vec<Vec<u8>> {
    let mut client = RawClient::connect(addr, "postgres", database).await;
    let mut answers = Vec::new();
    for (messages, ready) in script() {
        client.send(&messages).await;
        let answer = client.until_ready(ready).await;
        answers.push(encode_all(&answer));
    }
    client.send(&[Frontend::Terminate]).await;
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_protocol_replays_byte_for_byte() {
    let url = fresh_database("raw_protocol").await;
    let sink = Arc::new(MemorySink::default());
    let proxy = RecordingProxy::start(
        Upstream::from_url(&url).unwrap(),
        sink.clone(),
        RecorderConfig::default(),
    )
    .await
    .unwrap();
    let recorded = run(proxy.local_addr(), "raw_protocol").await;
    proxy.wait_idle().await;
    let statements = sink.take();
    let listed = kinds(&statements);
    let source = MemorySource::new(&statements);
    let server = ReplayServer::start(source.clone(), ReplayConfig::default())
        .await
        .unwrap();
    let replayed = run(server.local_addr(), "raw_protocol").await;
    for (i, (recorded, replayed)) in recorded.iter().zip(&replayed).enumerate() {
        if i == PARSE_ERROR_EXCHANGE {
            // A statement that failed to parse: the replay answers ParseComplete and then
            // the recorded error at the describe; the driver sees the same error.
            let replayed: Vec<Backend> = decode_all(replayed)
                .into_iter()
                .filter(|message| *message != Backend::ParseComplete)
                .collect();
            assert_eq!(decode_all(recorded), replayed, "exchange {i}");
            continue;
        }
        if recorded != replayed {
            panic!(
                "exchange {i} differs\nrecorded: {:#?}\nreplayed: {:#?}\nrecorded statements: {listed:#?}",
                decode_all(recorded),
                decode_all(replayed)
            );
        }
    }
    assert_eq!(recorded.len(), replayed.len());

    // Attribution: request 1's statements, then request 2's.
    let key_of = |text: &str| {
        listed
            .iter()
            .filter(|(_, kind, t)| *kind == "query" && t == text)
            .map(|(key, _, _)| *key)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        key_of("SELECT $1::int4 + 1 AS next"),
        vec![Some(1), Some(2)]
    );
    assert_eq!(key_of("SELECT 1 / $1::int4"), vec![Some(2)]);
    // The statement described under request 1 is described again for request 2.
    let describes: Vec<_> = listed
        .iter()
        .filter(|(_, kind, t)| *kind == "describe" && t == "SELECT $1::int4 + 1 AS next")
        .map(|(key, _, _)| *key)
        .collect();
    assert_eq!(describes, vec![Some(1), Some(2)]);
    // The statement skipped after the error was not executed, so not recorded.
    assert!(!statements.iter().any(|(_, s)| matches!(&s.kind,
        StatementKind::Execute { input, .. } if input.params.first().and_then(|p| p.value.as_deref()) == Some(&8i32.to_be_bytes()[..]))));
    // The marker is no statement.
    assert!(
        !listed
            .iter()
            .any(|(_, _, text)| text.contains("tusk-drift"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_is_answered_as_the_server_answers_it() {
    let url = fresh_database("marker_bytes").await;
    let Upstream::Tcp { host, port } = Upstream::from_url(&url).unwrap() else {
        panic!("a TCP test server")
    };
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap();
    let mut client = RawClient::connect(addr, "postgres", "marker_bytes").await;
    for (setup, status) in [
        (None, b'I'),
        (Some("BEGIN"), b'T'),
        (Some("SELECT 1/0"), b'E'),
    ] {
        if let Some(setup) = setup {
            client.send(&[query(setup)]).await;
            client.until_ready(1).await;
        }
        client.send(&[query(&marker(42))]).await;
        let answer = encode_all(&client.until_ready(1).await);
        let mut ours = bytes::BytesMut::new();
        marker_answer(status, &mut ours);
        if status == b'E' {
            // The server's error carries its source position; compare what a driver reads.
            let ours_messages = decode_all(&ours);
            let theirs = decode_all(&answer);
            assert_eq!(error_code(&theirs[0]), error_code(&ours_messages[0]));
            assert_eq!(theirs[1], ours_messages[1]);
        } else {
            assert_eq!(answer, ours.to_vec(), "status {}", status as char);
        }
    }
}

fn decode_all(bytes: &[u8]) -> Vec<Backend> {
    let mut framer =
        cov_postgres::message::Framer::new(false, cov_postgres::message::MAX_MESSAGE_LEN);
    framer.push(Bytes::copy_from_slice(bytes));
    let mut out = Vec::new();
    while let Some(cov_postgres::message::Framed::Message(frame)) = framer.next_frame().unwrap() {
        out.push(Backend::decode_frame(frame).unwrap());
    }
    out
}

fn error_code(message: &Backend) -> Option<Bytes> {
    match message {
        Backend::ErrorResponse(fields) => fields
            .iter()
            .find(|(c, _)| *c == b'C')
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_statement_is_an_error_naming_it_and_the_connection_goes_on() {
    let source = MemorySource::new(&[]);
    let server = ReplayServer::start(source, ReplayConfig::default())
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr(), "app", "app").await;
    client
        .send(&[
            parse("", "SELECT secret FROM vault WHERE id = $1", &[]),
            bind("", "", &[], &[Some(b"7")], &[]),
            execute("", 0),
            parse("", "SELECT 2", &[]),
            bind("", "", &[], &[], &[]),
            execute("", 0),
            Frontend::Sync,
        ])
        .await;
    let answer = client.until_ready(1).await;
    // The execution is looked up at its Bind, which fails.
    let Backend::ErrorResponse(fields) = &answer[1] else {
        panic!("{answer:?}")
    };
    let message = fields.iter().find(|(c, _)| *c == b'M').unwrap().1.clone();
    let message = String::from_utf8(message.to_vec()).unwrap();
    assert!(
        message.contains("SELECT secret FROM vault WHERE id = $1"),
        "{message}"
    );
    assert!(message.contains("\"value\":\"7\""), "{message}");
    assert_eq!(
        error_code(&answer[1]).unwrap(),
        UNMATCHED_SQLSTATE.as_bytes()
    );
    // Skipped to Sync: nothing between the error and ReadyForQuery.
    assert_eq!(answer.len(), 3, "{answer:?}");
    assert_eq!(answer[2], Backend::ReadyForQuery(b'I'));
    // The connection still answers; a plain SET is answered locally when unrecorded.
    client
        .send(&[query("SET statement_timeout = 0; SELECT 3")])
        .await;
    let answer = client.until_ready(1).await;
    assert_eq!(answer[0], Backend::CommandComplete(b("SET")));
    assert!(matches!(answer[1], Backend::ErrorResponse(_)), "{answer:?}");
}
