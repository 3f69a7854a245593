//! PostgreSQL through the SDK with sqlx against the real server `cargo xtask test` starts:
//! in `RECORD` mode the statements of each request are spans of its trace, whatever the
//! connection they ran on; start-up statements are pre-app-start spans.

use std::path::Path;

use cov_trace::read;
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::Coverage;
use crate::instance::Registry;
use crate::test_support::{flush, recording, serve, traces};

/// A database of its own on the test server.
async fn fresh_database(name: &str) -> String {
    let admin = cov_testkit::postgres_url();
    let pool = PgPool::connect(&admin)
        .await
        .unwrap_or_else(|error| panic!("connecting to the test server at {admin}: {error}"));
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').expect("the URL names a database").0;
    format!("{base}/{name}")
}

/// A pool whose connections carry the request they are taken for: the marker when a
/// connection is opened for a request and when an idle one is handed to one, as
/// docs/sdk.md shows.
async fn pool(coverage: &Coverage, url: &str, connections: u32) -> PgPool {
    let (marking, marking_new) = (coverage.clone(), coverage.clone());
    PgPoolOptions::new()
        .max_connections(connections)
        .after_connect(move |connection, _meta| {
            let marker = marking_new.postgres_marker();
            Box::pin(async move {
                if let Some(marker) = marker {
                    sqlx::raw_sql(AssertSqlSafe(marker))
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        })
        .before_acquire(move |connection, _meta| {
            let marker = marking.postgres_marker();
            Box::pin(async move {
                if let Some(marker) = marker {
                    sqlx::raw_sql(AssertSqlSafe(marker))
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await
        .unwrap()
}

fn texts(spans: &[read::Span]) -> Vec<(String, String)> {
    spans
        .iter()
        .filter(|span| !span.is_root_span)
        .map(|span| {
            let text = span.input_value.as_ref().unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned();
            (span.submodule_name.clone(), text)
        })
        .collect()
}

fn root_target(spans: &[read::Span]) -> String {
    let root = spans.last().unwrap();
    assert!(root.is_root_span);
    root.input_value.as_ref().unwrap()["target"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn by_target(dir: &Path) -> std::collections::BTreeMap<String, Vec<read::Span>> {
    traces(dir)
        .into_values()
        .filter(|spans| spans.last().is_some_and(|span| span.is_root_span))
        .map(|spans| (root_target(&spans), spans))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_s_statements_are_spans_of_its_trace() {
    let real = fresh_database("sdk_record_statements").await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let url = coverage.postgres_url(&real).unwrap();
    assert_ne!(url, real, "the application talks to the SDK's proxy");
    assert_eq!(
        coverage.postgres_url(&real).unwrap(),
        url,
        "one proxy per URL"
    );
    let pool = pool(&coverage, &url, 2).await;
    // Start-up: the schema and the seed, before the application is ready.
    sqlx::raw_sql(
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO items VALUES (1, 'kettle'), (2, 'grinder')",
    )
    .execute(&pool)
    .await
    .unwrap();

    for id in [1, 2] {
        let pool = pool.clone();
        let body = serve(&coverage, &format!("/items/{id}"), move || async move {
            let name: String = sqlx::query_scalar("SELECT name FROM items WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            name
        })
        .await;
        assert_eq!(body, if id == 1 { "kettle" } else { "grinder" });
    }
    flush(&coverage);

    let requests = by_target(traces_dir.path());
    assert_eq!(requests.len(), 2, "{requests:?}");
    for (target, spans) in &requests {
        let root = spans.last().unwrap();
        let statements = texts(spans);
        // The prepare (a describe) and the execution, on whichever connection.
        assert!(
            statements.contains(&(
                "query".to_owned(),
                "SELECT name FROM items WHERE id = $1".to_owned()
            )),
            "{target}: {statements:?}"
        );
        for span in spans.iter().filter(|span| !span.is_root_span) {
            assert_eq!(span.trace_id, root.trace_id);
            assert_eq!(span.parent_span_id, root.span_id);
            assert_eq!((span.kind, span.package_type), (3, 4));
            assert_eq!(span.package_name, "postgres");
        }
        let execution = spans
            .iter()
            .find(|span| span.submodule_name == "query")
            .unwrap();
        let output = execution.output_value.as_ref().unwrap();
        assert_eq!(output["commandTag"], Value::from("SELECT 1"));
    }
    // The start-up statements are pre-app-start spans, in files of their own.
    let pre_app_start: Vec<read::Span> = traces(traces_dir.path())
        .into_values()
        .filter(|spans| spans.iter().all(|span| span.is_pre_app_start))
        .flatten()
        .collect();
    let texts = texts(&pre_app_start);
    assert!(
        texts
            .iter()
            .any(|(_, text)| text.starts_with("CREATE TABLE items")),
        "{texts:?}"
    );
}

/// A statement that fails is recorded in its request, error and transaction status with it:
/// the application sees the error only once the statement is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_statements_are_recorded_in_their_request() {
    let real = fresh_database("sdk_record_failures").await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let url = coverage.postgres_url(&real).unwrap();
    let pool = pool(&coverage, &url, 2).await;
    sqlx::raw_sql("CREATE TABLE names (name text PRIMARY KEY); INSERT INTO names VALUES ('taken')")
        .execute(&pool)
        .await
        .unwrap();
    let attempts = 20;
    for attempt in 0..attempts {
        let pool = pool.clone();
        let body = serve(
            &coverage,
            &format!("/names/{attempt}"),
            move || async move {
                let error = sqlx::query("INSERT INTO names VALUES ($1)")
                    .bind("taken")
                    .execute(&pool)
                    .await
                    .unwrap_err();
                error
                    .as_database_error()
                    .and_then(|error| error.code())
                    .unwrap_or_default()
                    .into_owned()
            },
        )
        .await;
        assert_eq!(body, "23505");
    }
    flush(&coverage);
    let requests = by_target(traces_dir.path());
    assert_eq!(requests.len(), attempts);
    for (target, spans) in &requests {
        let insert = spans
            .iter()
            .find(|span| span.submodule_name == "query")
            .unwrap_or_else(|| panic!("{target}: the failed INSERT is not recorded"));
        let output = insert.output_value.as_ref().unwrap();
        assert_eq!(output["error"]["C"], "23505", "{target}");
        assert_eq!(output["transactionStatus"], "I", "{target}");
        assert_eq!(insert.status_code, Some(2));
    }
}

/// What a handler of the record/replay test does with the database.
async fn lookup(pool: PgPool, id: i32) -> String {
    let found: Result<String, _> = sqlx::query_scalar("SELECT name FROM items WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await;
    let insert = sqlx::query("INSERT INTO items VALUES ($1, 'dup')")
        .bind(1)
        .execute(&pool)
        .await;
    let code = insert.err().and_then(|error| {
        error
            .as_database_error()
            .and_then(|error| error.code())
            .map(|code| code.into_owned())
    });
    format!("{found:?} {code:?}")
}

async fn start_up(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO items VALUES (1, 'kettle'), (2, 'grinder') ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Recorded against the real server, replayed with the database gone: the application
/// sees the same rows and the same errors, and a statement never recorded is an error
/// naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_statements_get_the_recorded_rows_and_errors_with_no_database() {
    let real = fresh_database("sdk_replay_statements").await;
    let traces_dir = tempfile::tempdir().unwrap();
    let recorded = {
        let coverage = recording(traces_dir.path()).init_in(&Registry::new());
        let pool = pool(&coverage, &coverage.postgres_url(&real).unwrap(), 2).await;
        start_up(&pool).await;
        let mut bodies = Vec::new();
        for id in [1, 2] {
            let pool = pool.clone();
            bodies.push(serve(&coverage, &format!("/items/{id}"), move || lookup(pool, id)).await);
        }
        flush(&coverage);
        pool.close().await;
        bodies
    };
    assert_eq!(recorded[0], r#"Ok("kettle") Some("23505")"#);
    // The database goes away: a statement that reached it would fail.
    let admin = PgPool::connect(&cov_testkit::postgres_url()).await.unwrap();
    sqlx::raw_sql("DROP DATABASE sdk_replay_statements WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();

    let cli = crate::test_support::ReplayCli::start(traces_dir.path(), |_| {}).await;
    let url = cli.coverage.postgres_url(&real).unwrap();
    let pool = pool(&cli.coverage, &url, 3).await;
    start_up(&pool).await;
    let requests = crate::test_support::recorded_requests(traces_dir.path());
    assert_eq!(requests.len(), 2);
    for ((target, trace_id), expected) in requests.iter().zip(&recorded) {
        let id: i32 = target.trim_start_matches("/items/").parse().unwrap();
        let pool = pool.clone();
        let body =
            crate::test_support::serve_test(&cli.coverage, target, Some(trace_id), move || {
                lookup(pool, id)
            })
            .await;
        assert_eq!(&body, expected, "{target}");
    }
    // A statement of the same shape with a value never recorded is not answered with
    // someone else's rows: it is an error naming it.
    let pool_again = pool.clone();
    let trace_id = requests[0].1.clone();
    let unseen = crate::test_support::serve_test(
        &cli.coverage,
        "/items/1",
        Some(&trace_id),
        move || async move {
            let error = sqlx::query_scalar::<_, String>("SELECT name FROM items WHERE id = $1")
                .bind(3)
                .fetch_one(&pool_again)
                .await
                .unwrap_err();
            let database = error.as_database_error().expect("a database error");
            format!("{:?} {}", database.code(), database.message())
        },
    )
    .await;
    assert!(unseen.starts_with(r#"Some("58000")"#), "{unseen}");
    assert!(
        unseen.contains("SELECT name FROM items WHERE id = $1"),
        "{unseen}"
    );
}

/// The CLI gone in the middle of a replay: the replay server stays, and every statement,
/// on a connection opened before or after, is an error naming it and why, never a closed
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cli_gone_statements_are_errors_naming_them() {
    use sqlx::Connection as _;

    let traces_dir = tempfile::tempdir().unwrap();
    let cli = crate::test_support::ReplayCli::start(traces_dir.path(), |_| {}).await;
    let url = cli
        .coverage
        .postgres_url("postgres://app@127.0.0.1:5432/shop")
        .unwrap();
    let mut before = sqlx::PgConnection::connect(&url).await.unwrap();
    let coverage = cli.leave();
    // Until the SDK sees the connection closed, a statement is lost with it; then the SDK
    // is no longer connected. Both are errors, and the second comes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let not_connected = "the SDK is not connected to the Tusk CLI";
    loop {
        let error = sqlx::query("SELECT 1")
            .execute(&mut before)
            .await
            .unwrap_err();
        let database = error
            .as_database_error()
            .unwrap_or_else(|| panic!("not an error of the server: {error}"));
        assert!(database.message().contains("SELECT 1"), "{database}");
        if database.message().contains(not_connected) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the SDK did not see the CLI leave: {database}"
        );
    }
    let mut after = sqlx::PgConnection::connect(&url)
        .await
        .expect("the replay server still accepts connections");
    let error = sqlx::query("SELECT 2")
        .execute(&mut after)
        .await
        .unwrap_err();
    let database = error
        .as_database_error()
        .unwrap_or_else(|| panic!("not an error of the server: {error}"));
    assert!(
        database.message().contains("SELECT 2") && database.message().contains(not_connected),
        "{database}"
    );
    drop(coverage);
}

/// N requests at once over a pool of fewer connections, each running statements of its
/// own: every statement is in the trace of the request that ran it (the marker sent when
/// the pool hands a connection out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_over_one_pool_each_record_their_own_statements() {
    let real = fresh_database("sdk_record_concurrent").await;
    let traces_dir = tempfile::tempdir().unwrap();
    let coverage = recording(traces_dir.path()).init_in(&Registry::new());
    let pool = pool(&coverage, &coverage.postgres_url(&real).unwrap(), 3).await;
    sqlx::raw_sql("CREATE TABLE hits (request int, step int)")
        .execute(&pool)
        .await
        .unwrap();
    let requests = 12;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests));
    let mut handles = Vec::new();
    for request in 0..requests {
        let (coverage, pool, barrier) = (coverage.clone(), pool.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            serve(&coverage, &format!("/hits/{request}"), move || async move {
                for step in 0..3 {
                    sqlx::query("INSERT INTO hits VALUES ($1, $2)")
                        .bind(request as i32)
                        .bind(step)
                        .execute(&pool)
                        .await
                        .unwrap();
                    if step == 0 {
                        // Every request holds its place until all have started.
                        barrier.wait().await;
                    }
                }
                String::new()
            })
            .await
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    flush(&coverage);
    let traces = by_target(traces_dir.path());
    assert_eq!(traces.len(), requests);
    for (target, spans) in &traces {
        let request: i64 = target.trim_start_matches("/hits/").parse().unwrap();
        let inserts: Vec<&read::Span> = spans
            .iter()
            .filter(|span| span.submodule_name == "query")
            .collect();
        assert_eq!(inserts.len(), 3, "{target}: {:?}", texts(spans));
        for insert in inserts {
            let first = &insert.input_value.as_ref().unwrap()["parameters"][0];
            // sqlx sends an int4 in binary: four big-endian bytes, base64.
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(first["base64"].as_str().unwrap())
                .unwrap();
            let value = i64::from(i32::from_be_bytes(bytes.try_into().unwrap()));
            assert_eq!(value, request, "{target} holds another request's statement");
        }
    }
}
