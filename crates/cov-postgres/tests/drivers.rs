//! Real drivers (sqlx, tokio-postgres) against the real server through the recording proxy,
//! then against the replay server, with no database behind it, answering from what was
//! recorded: what the application sees (rows and their bytes, column types, errors and
//! their fields, affected counts) must be the same.

mod support;

use std::sync::Arc;

use cov_postgres::proxy::RecordingProxy;
use cov_postgres::record::{RecorderConfig, Statement};
use cov_postgres::replay::{ReplayConfig, UNMATCHED_SQLSTATE};
use cov_postgres::server::ReplayServer;
use cov_postgres::sql::marker;
use cov_postgres::url::{Upstream, local_url};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Column, Either, Executor, Row, TypeInfo, ValueRef};
use support::{MemorySink, MemorySource, fresh_database, kinds};

tokio::task_local! {
    /// The request a task serves: the attribution key its connections are marked with.
    static REQUEST: u64;
}

/// What the application saw, line by line.
type Log = Vec<String>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sqlx_rows(rows: &[PgRow]) -> String {
    let mut out = String::new();
    for row in rows {
        out.push('[');
        for (i, column) in row.columns().iter().enumerate() {
            let value = row.try_get_raw(i).unwrap();
            let bytes = if value.is_null() {
                "NULL".to_owned()
            } else {
                hex(value.as_bytes().unwrap())
            };
            out.push_str(&format!(
                "{}:{}={bytes} ",
                column.name(),
                column.type_info().name()
            ));
        }
        out.push(']');
    }
    out
}

fn sqlx_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => format!(
            "error {}: {} ({:?})",
            db.code().unwrap_or_default(),
            db.message(),
            db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .map(|pg| (
                    pg.detail().map(str::to_owned),
                    pg.constraint().map(str::to_owned)
                ))
        ),
        other => format!("error: {other}"),
    }
}

fn note<T>(log: &mut Log, what: &str, result: Result<T, sqlx::Error>, show: impl Fn(T) -> String) {
    log.push(match result {
        Ok(value) => format!("{what}: {}", show(value)),
        Err(error) => format!("{what}: {}", sqlx_error(&error)),
    });
}

const WARM: &str = "SELECT name, score FROM users WHERE id = $1";

async fn sqlx_pool(url: &str, connections: u32) -> PgPool {
    // The SDK's hooks: a connection taken for a request is marked with its key; one opened
    // for a request too.
    PgPoolOptions::new()
        .max_connections(connections)
        .min_connections(0)
        .before_acquire(|conn, _| {
            Box::pin(async move {
                if let Ok(key) = REQUEST.try_with(|key| *key) {
                    conn.execute(sqlx::raw_sql(AssertSqlSafe(marker(key))))
                        .await?;
                }
                Ok(true)
            })
        })
        .after_connect(|conn, _| {
            Box::pin(async move {
                if let Ok(key) = REQUEST.try_with(|key| *key) {
                    conn.execute(sqlx::raw_sql(AssertSqlSafe(marker(key))))
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .unwrap_or_else(|error| panic!("connecting to {url}: {error}"))
}

/// Before the application is ready: every pooled connection prepares and runs `WARM`.
async fn warm_up(pool: &PgPool, connections: u32) -> Log {
    let mut log = Log::new();
    let mut held = Vec::new();
    for _ in 0..connections {
        held.push(pool.acquire().await.unwrap());
    }
    for conn in &mut held {
        let rows = sqlx::query(WARM).bind(1i32).fetch_all(&mut **conn).await;
        note(&mut log, "warm", rows, |rows| sqlx_rows(&rows));
    }
    log
}

/// One request of the application, under key `key`.
async fn sqlx_request(pool: &PgPool, key: u64) -> Log {
    let mut log = Log::new();
    let k = key as i32;
    // A statement prepared in warm-up, executed again with other parameters.
    let rows = sqlx::query(WARM).bind(k % 3 + 1).fetch_all(pool).await;
    note(&mut log, "warm again", rows, |rows| sqlx_rows(&rows));
    // Same shape, different parameters: each its own rows.
    let rows =
        sqlx::query("SELECT id, name, score, born, tags FROM users WHERE score > $1 ORDER BY id")
            .bind(k * 10)
            .fetch_all(pool)
            .await;
    note(&mut log, "above", rows, |rows| sqlx_rows(&rows));
    let rows =
        sqlx::query("INSERT INTO users (name, score, born) VALUES ($1, $2, $3::date) RETURNING id")
            .bind(format!("user-{key}"))
            .bind(k)
            .bind("2001-02-03")
            .fetch_all(pool)
            .await;
    note(&mut log, "insert", rows, |rows| sqlx_rows(&rows));
    let done = sqlx::query("UPDATE users SET score = score + 1 WHERE score < $1")
        .bind(k * 5)
        .execute(pool)
        .await;
    note(&mut log, "update", done, |done| {
        done.rows_affected().to_string()
    });
    // A transaction, committed or rolled back.
    let mut tx = pool.begin().await.unwrap();
    let done = sqlx::query("INSERT INTO events (user_name, what) VALUES ($1, 'visit')")
        .bind(format!("user-{key}"))
        .execute(&mut *tx)
        .await;
    note(&mut log, "event", done, |done| {
        done.rows_affected().to_string()
    });
    let rows = sqlx::query("SELECT count(*) FROM events")
        .fetch_all(&mut *tx)
        .await;
    note(&mut log, "events", rows, |rows| sqlx_rows(&rows));
    if key.is_multiple_of(2) {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
    // Errors: a unique violation, then a failed transaction.
    let done = sqlx::query("INSERT INTO users (name, score) VALUES ($1, 0)")
        .bind("alice")
        .execute(pool)
        .await;
    note(&mut log, "duplicate", done, |done| {
        done.rows_affected().to_string()
    });
    let mut tx = pool.begin().await.unwrap();
    let done = sqlx::query("INSERT INTO users (name, score) VALUES ($1, 0)")
        .bind("bob")
        .execute(&mut *tx)
        .await;
    note(&mut log, "duplicate in tx", done, |done| {
        done.rows_affected().to_string()
    });
    let rows = sqlx::query("SELECT 1").fetch_all(&mut *tx).await;
    note(&mut log, "after failure", rows, |rows| sqlx_rows(&rows));
    tx.rollback().await.unwrap();
    // A multi-statement simple query, failing at its last statement.
    let mut conn = pool.acquire().await.unwrap();
    let steps: Result<Vec<_>, _> = conn
        .fetch_many(sqlx::raw_sql(AssertSqlSafe(format!(
            "UPDATE users SET score = score WHERE id <= {k}; SELECT name, born FROM users WHERE id = 2; SELECT 1 / 0"
        ))))
        .try_collect()
        .await;
    note(&mut log, "many", steps, |steps| {
        steps
            .into_iter()
            .map(|step| match step {
                Either::Left(done) => format!("done {}", done.rows_affected()),
                Either::Right(row) => sqlx_rows(&[row]),
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    log
}

async fn sqlx_app(url: &str, connections: u32, requests: &[u64]) -> Log {
    let pool = sqlx_pool(url, connections).await;
    let mut log = warm_up(&pool, connections).await;
    for &key in requests {
        log.push(format!("request {key}"));
        log.extend(REQUEST.scope(key, sqlx_request(&pool, key)).await);
    }
    pool.close().await;
    log
}

const SCHEMA: &str = "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL UNIQUE, \
    score int, born date, tags text[]); \
    CREATE TABLE events (id serial PRIMARY KEY, user_name text NOT NULL, what text NOT NULL); \
    INSERT INTO users (name, score, born, tags) VALUES ('alice', 10, '1990-01-01', '{a,b}'), \
    ('bob', 20, NULL, '{}'), ('carol', 30, '1985-12-31', NULL)";

async fn recorded(proxy: &RecordingProxy, sink: &MemorySink) -> Vec<(Option<u64>, Statement)> {
    proxy.wait_idle().await;
    sink.take()
}

/// sqlx through a pool: recorded against a server of its own, which is then stopped;
/// replayed with fewer, as many and more connections, and with only some requests (so
/// statement names shift).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_replays_what_it_recorded_with_the_server_stopped() {
    let mut server = cov_testkit::PostgresServer::start();
    let url = server.url();
    {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(SCHEMA).await.unwrap();
    }
    let sink = Arc::new(MemorySink::default());
    let proxy = RecordingProxy::start(
        Upstream::from_url(&url).unwrap(),
        sink.clone(),
        RecorderConfig::default(),
    )
    .await
    .unwrap();
    let proxy_url = local_url(&url, proxy.local_addr()).unwrap();
    let requests = [1, 2, 3, 4];
    let record_log = sqlx_app(&proxy_url, 3, &requests).await;
    let statements = recorded(&proxy, &sink).await;
    drop(proxy);
    server.stop();
    // Sanity: the recording holds what the application did, errors included.
    assert!(
        record_log.iter().any(|line| line.contains("error 23505")),
        "{record_log:#?}"
    );
    assert!(
        record_log.iter().any(|line| line.contains("error 25P02")),
        "{record_log:#?}"
    );
    assert!(
        record_log.iter().any(|line| line.contains("error 22012")),
        "{record_log:#?}"
    );

    // Warm-up logs one line per connection; the requests must be the same.
    let requests_part = |log: &Log| -> Log {
        log.iter()
            .skip_while(|line| line.starts_with("warm:"))
            .cloned()
            .collect()
    };
    for connections in [1, 3, 5] {
        let source = MemorySource::new(&statements);
        let replay = ReplayServer::start(source, ReplayConfig::default())
            .await
            .unwrap();
        let replay_url = local_url(&url, replay.local_addr()).unwrap();
        let replay_log = sqlx_app(&replay_url, connections, &requests).await;
        assert_eq!(
            replay_log
                .iter()
                .filter(|line| line.starts_with("warm:"))
                .count(),
            connections as usize
        );
        assert!(
            replay_log
                .iter()
                .take(connections as usize)
                .all(|line| *line == record_log[0])
        );
        assert_eq!(
            requests_part(&record_log),
            requests_part(&replay_log),
            "replay with {connections} connections differs; recorded statements: {:#?}",
            kinds(&statements)
        );
    }
    // Only the last requests: the driver's statement names and connections differ.
    let source = MemorySource::new(&statements);
    let replay = ReplayServer::start(source, ReplayConfig::default())
        .await
        .unwrap();
    let replay_url = local_url(&url, replay.local_addr()).unwrap();
    let replay_log = sqlx_app(&replay_url, 2, &[3, 4]).await;
    let start = record_log
        .iter()
        .position(|line| line == "request 3")
        .unwrap();
    assert_eq!(&replay_log[..2], &record_log[..2]);
    assert_eq!(&replay_log[2..], &record_log[start..]);

    // A statement never recorded: an error naming it, then the connection goes on.
    let pool = sqlx_pool(&replay_url, 1).await;
    let error = REQUEST
        .scope(9, async {
            sqlx::query("SELECT 'never recorded'")
                .fetch_all(&pool)
                .await
        })
        .await
        .unwrap_err();
    let text = sqlx_error(&error);
    assert!(
        text.contains(UNMATCHED_SQLSTATE) && text.contains("never recorded"),
        "{text}"
    );
    let rows = REQUEST
        .scope(3, async {
            sqlx::query(WARM).bind(1i32).fetch_all(&pool).await
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

/// tokio-postgres on one client: statements prepared once and executed in later requests,
/// queries prepared per call (names shift), simple queries, pipelined queries, errors.
async fn tokio_postgres_app(url: &str, requests: &[u64]) -> Log {
    use tokio_postgres::SimpleQueryMessage;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut log = Log::new();
    let show = |rows: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>| match rows {
        Ok(rows) => rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let Raw(value) = row.get(i);
                        format!(
                            "{}:{}={}",
                            row.columns()[i].name(),
                            row.columns()[i].type_(),
                            value.map_or("NULL".to_owned(), |bytes| hex(&bytes))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" | "),
        Err(error) => format!(
            "error {:?}: {}",
            error.code().map(|code| code.code().to_owned()),
            error
                .as_db_error()
                .map_or(error.to_string(), |db| db.message().to_owned())
        ),
    };
    // Prepared before the application is ready.
    let by_id = client
        .prepare("SELECT id, name, born FROM users WHERE id = $1")
        .await
        .unwrap();
    log.push(show(client.query(&by_id, &[&1i32]).await));
    for &key in requests {
        client
            .batch_execute(&marker(key))
            .await
            .unwrap_or_else(|error| panic!("marking request {key} on {url}: {error:?}"));
        let k = key as i32;
        log.push(format!("request {key}"));
        log.push(show(client.query(&by_id, &[&(k % 3 + 1)]).await));
        log.push(show(
            client
                .query(
                    "SELECT $1::text || '!' AS shout, $2::int8 * 2 AS twice",
                    &[&format!("v{key}"), &(key as i64)],
                )
                .await,
        ));
        log.push(format!(
            "{:?}",
            client
                .execute("UPDATE users SET score = score WHERE id <= $1", &[&k])
                .await
                .map_err(|error| error.to_string())
        ));
        let simple = client
            .simple_query("SELECT 1 AS one; SELECT 'two' AS two, NULL AS three")
            .await;
        log.push(match simple {
            Ok(messages) => messages
                .iter()
                .map(|message| match message {
                    SimpleQueryMessage::Row(row) => {
                        format!(
                            "row {:?}",
                            (0..row.len()).map(|i| row.get(i)).collect::<Vec<_>>()
                        )
                    }
                    SimpleQueryMessage::CommandComplete(n) => format!("complete {n}"),
                    SimpleQueryMessage::RowDescription(columns) => {
                        format!(
                            "columns {:?}",
                            columns.iter().map(|c| c.name()).collect::<Vec<_>>()
                        )
                    }
                    _ => "other".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            Err(error) => error.to_string(),
        });
        log.push(show(client.query("SELECT * FROM no_such_table", &[]).await));
        // Pipelined: both requests are written before either answer is read.
        let two = 2i32;
        let first: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&two];
        let second: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&k];
        let (a, b) = tokio::join!(
            client.query(&by_id, &first),
            client.query("SELECT $1::int4 + 100", &second)
        );
        log.push(show(a));
        log.push(show(b));
    }
    drop(client);
    let _ = connection.await;
    log
}

struct Raw(Option<Vec<u8>>);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }

    fn from_sql_null(
        _: &tokio_postgres::types::Type,
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

/// The replay server is given no address of any database: what it answers can only come
/// from the recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_replays_what_it_recorded() {
    let url = fresh_database("drivers_tokio_postgres").await;
    {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(SCHEMA).await.unwrap();
    }
    let sink = Arc::new(MemorySink::default());
    let proxy = RecordingProxy::start(
        Upstream::from_url(&url).unwrap(),
        sink.clone(),
        RecorderConfig::default(),
    )
    .await
    .unwrap();
    let proxy_url = local_url(&url, proxy.local_addr()).unwrap();
    let record_log = tokio_postgres_app(&proxy_url, &[1, 2, 3]).await;
    let statements = recorded(&proxy, &sink).await;
    assert!(
        record_log.iter().any(|line| line.contains("42P01")),
        "{record_log:#?}"
    );
    // Statements before the first marker belong to no request.
    assert_eq!(statements[0].0, None);

    let source = MemorySource::new(&statements);
    let replay = ReplayServer::start(source, ReplayConfig::default())
        .await
        .unwrap();
    let replay_url = local_url(&url, replay.local_addr()).unwrap();
    assert_eq!(
        record_log,
        tokio_postgres_app(&replay_url, &[1, 2, 3]).await
    );
    // Requests in another order, one left out: tokio-postgres names its statements in the
    // order it prepares them, so every name differs from the recording's.
    let source = MemorySource::new(&statements);
    let replay = ReplayServer::start(source, ReplayConfig::default())
        .await
        .unwrap();
    let replay_url = local_url(&url, replay.local_addr()).unwrap();
    let replay_log = tokio_postgres_app(&replay_url, &[3, 1]).await;
    let request = |log: &Log, key: u64| -> Log {
        let start = log
            .iter()
            .position(|line| *line == format!("request {key}"))
            .unwrap();
        log[start..start + 8].to_vec()
    };
    assert_eq!(replay_log[0], record_log[0]);
    assert_eq!(request(&replay_log, 3), request(&record_log, 3));
    assert_eq!(request(&replay_log, 1), request(&record_log, 1));
}

/// N requests at once over one pool of few connections, each running statements of its
/// own: every statement is recorded under its request's key, and each request gets its own
/// rows back in replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_over_one_pool_are_attributed_to_their_own_request() {
    let url = fresh_database("drivers_concurrent").await;
    let sink = Arc::new(MemorySink::default());
    let proxy = RecordingProxy::start(
        Upstream::from_url(&url).unwrap(),
        sink.clone(),
        RecorderConfig::default(),
    )
    .await
    .unwrap();
    let proxy_url = local_url(&url, proxy.local_addr()).unwrap();
    const N: u64 = 16;
    async fn run(url: &str) -> Vec<Log> {
        let pool = sqlx_pool(url, 3).await;
        let tasks: Vec<_> = (1..=N)
            .map(|key| {
                let pool = pool.clone();
                tokio::spawn(REQUEST.scope(key, async move {
                    let mut log = Log::new();
                    for step in 0..3i64 {
                        let sql =
                            format!("SELECT $1::int8 * {step} AS product, 'request-{key}' AS tag");
                        let rows = sqlx::query(AssertSqlSafe(sql))
                            .bind(key as i64)
                            .fetch_all(&pool)
                            .await;
                        note(&mut log, "step", rows, |rows| sqlx_rows(&rows));
                    }
                    log
                }))
            })
            .collect();
        let mut logs = Vec::new();
        for task in tasks {
            logs.push(task.await.unwrap());
        }
        pool.close().await;
        logs
    }
    let record_logs = run(&proxy_url).await;
    let statements = recorded(&proxy, &sink).await;
    let mut seen = 0;
    for (key, _, text) in kinds(&statements) {
        if let Some(at) = text.find("'request-") {
            let owner: u64 = text[at + 9..].split('\'').next().unwrap().parse().unwrap();
            assert_eq!(key, Some(owner), "{text} recorded under {key:?}");
            seen += 1;
        }
    }
    // Each execution and at least one describe per request and step.
    assert!(seen >= (N * 3 * 2) as usize, "{seen} statements seen");
    let source = MemorySource::new(&statements);
    let replay = ReplayServer::start(source, ReplayConfig::default())
        .await
        .unwrap();
    let replay_url = local_url(&url, replay.local_addr()).unwrap();
    assert_eq!(record_logs, run(&replay_url).await);
}

/// libpq, through `psql` (the same library diesel links): start-up, simple queries, an
/// error, recorded and replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpq_replays_what_it_recorded() {
    let url = fresh_database("drivers_libpq").await;
    let psql = cov_testkit::postgres_bin_dir()
        .expect("PostgreSQL is installed: the test server runs")
        .join("psql");
    let run = |url: String| {
        let psql = psql.clone();
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(&psql)
                .arg("-X")
                .arg(&url)
                .args(["-c", &marker(5)])
                .args(["-c", "SELECT 1 AS one, 'two' AS two, NULL::int AS three"])
                .args(["-c", "SELECT generate_series(1, 3) AS n; SELECT 1 / 0"])
                .args(["-c", "SHOW server_encoding"])
                .output()
                .unwrap_or_else(|error| panic!("running {}: {error}", psql.display()));
            (
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        })
    };
    let sink = Arc::new(MemorySink::default());
    let proxy = RecordingProxy::start(
        Upstream::from_url(&url).unwrap(),
        sink.clone(),
        RecorderConfig::default(),
    )
    .await
    .unwrap();
    let recorded_output = run(local_url(&url, proxy.local_addr()).unwrap())
        .await
        .unwrap();
    let statements = recorded(&proxy, &sink).await;
    assert!(
        recorded_output.1.contains("division by zero"),
        "{recorded_output:?}"
    );
    assert!(
        statements.iter().all(|(key, _)| *key == Some(5)),
        "{:#?}",
        kinds(&statements)
    );
    let replay = ReplayServer::start(MemorySource::new(&statements), ReplayConfig::default())
        .await
        .unwrap();
    let replayed_output = run(local_url(&url, replay.local_addr()).unwrap())
        .await
        .unwrap();
    assert_eq!(recorded_output, replayed_output);
}
