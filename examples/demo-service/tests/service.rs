//! The demo service as a process, against the test PostgreSQL (`cargo xtask test` starts it
//! and hands its URL over in `COV_POSTGRES_URL`) and the rates service's routes served
//! in-process: every documented answer, the transactions' all-or-nothing, the refusals at
//! start, and, recorded, each request's statements and rates calls in its own trace.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cov_driver::{HttpClient, ServiceProcess};
use serde_json::Value;
use sqlx::AssertSqlSafe;

const WAIT: Duration = Duration::from_secs(60);

/// The rates service's routes on a loopback port, until dropped.
struct Rates {
    runtime: tokio::runtime::Runtime,
    address: SocketAddr,
}

impl Rates {
    fn start() -> Rates {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, rates_service::router()).await });
        Rates { runtime, address }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops the server and closes its connections.
    fn stop(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// A database of its own on the test server, dropped and created again.
fn fresh_database(name: &str) -> String {
    let admin = cov_testkit::postgres_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(&admin)
            .await
            .unwrap_or_else(|error| panic!("connecting to the test server at {admin}: {error}"));
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    });
    let base = admin.rsplit_once('/').expect("the URL names a database").0;
    format!("{base}/{name}")
}

/// The demo service started with `env` (and none of the Tusk variables of ours), in `dir`.
fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo-service"));
    command
        .args(["--port", "0"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for name in [
        "DATABASE_URL",
        "RATES_URL",
        "PORT",
        "HOST",
        "TUSK_DRIFT_MODE",
        "TUSK_COVERAGE",
        "TUSK_TRACES_DIR",
        "TUSK_MOCK_SOCKET",
        "TUSK_MOCK_HOST",
        "TUSK_MOCK_PORT",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// A running demo service and its client.
struct Demo {
    process: ServiceProcess,
    client: HttpClient,
}

impl Demo {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Demo {
        let mut process = ServiceProcess::spawn(&mut command(dir, env)).unwrap();
        let address = process.wait_for_address(WAIT).unwrap();
        Demo {
            process,
            client: HttpClient::new(address, WAIT),
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.client.get(path).unwrap();
        (status, parse(&body))
    }

    fn post(&self, path: &str, json: &str) -> (u16, Value) {
        let (status, body) = self.client.post(path, json).unwrap();
        (status, parse(&body))
    }

    fn stock(&self, product: u64) -> i64 {
        let (status, body) = self.get(&format!("/products/{product}"));
        assert_eq!(status, 200, "{body}");
        body["stock"].as_i64().unwrap()
    }

    /// `POST /shutdown`, then the exit, which must be a success.
    fn shut_down(mut self) {
        let (status, _) = self.client.post("/shutdown", "").unwrap();
        assert_eq!(status, 202);
        let exit = self.process.wait_for_exit(WAIT).unwrap();
        assert!(exit.is_some_and(|status| status.success()), "{exit:?}");
    }
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

#[test]
fn without_its_database_or_its_rates_service_it_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = format!("postgres://postgres@{closed}/shop");
    for (env, expected) in [
        (
            vec![("RATES_URL", "http://127.0.0.1:9")],
            "DATABASE_URL is not set",
        ),
        (
            vec![("DATABASE_URL", "postgres://db/shop")],
            "RATES_URL is not set",
        ),
        (
            vec![
                ("DATABASE_URL", "postgres://db/shop"),
                ("RATES_URL", "ftp://rates"),
            ],
            "must be an http:// or https:// base URL",
        ),
        (
            vec![
                ("DATABASE_URL", unreachable.as_str()),
                ("RATES_URL", "http://127.0.0.1:9"),
            ],
            "cannot connect to PostgreSQL at postgres://postgres@",
        ),
    ] {
        let output = command(dir.path(), &env)
            .env("RUST_BACKTRACE", "0")
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} started");
        assert!(output.stdout.is_empty(), "{env:?} printed a listening line");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
    }
}

#[test]
fn every_route_answers_as_documented() {
    let database = fresh_database("demo_service_routes");
    let rates = Rates::start();
    let rates_url = rates.url();
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(
        dir.path(),
        &[("DATABASE_URL", &database), ("RATES_URL", &rates_url)],
    );

    assert_eq!(demo.client.get("/health").unwrap(), (200, "ok".to_owned()));
    let (status, page) = demo.get("/products?category=Coffee&per_page=1");
    assert_eq!(status, 200);
    assert_eq!(
        (&page["total"], &page["has_more"], &page["items"][0]["id"]),
        (&Value::from(2), &Value::from(true), &Value::from(1))
    );
    let (status, page) = demo.get("/products?in_stock=true&page=2&per_page=2");
    assert_eq!((status, page["total"].as_i64()), (200, Some(4)));
    assert_eq!(page["items"][1]["name"], "Burr grinder");
    assert_eq!(page["has_more"], false);
    assert_eq!(
        demo.get("/products?page=9").1["items"],
        Value::Array(Vec::new())
    );
    assert_eq!(demo.get("/products?page=0").0, 422);
    assert_eq!(demo.get("/products?per_page=51").0, 422);
    assert_eq!(demo.get("/products/99").0, 404);

    // Prices in other currencies: from the rates service, or without a call for dollars.
    let (status, product) = demo.get("/products/1?currency=EUR");
    assert_eq!(status, 200);
    assert_eq!(product["price_cents"], 2450);
    assert_eq!(
        product["converted"],
        serde_json::json!({"currency": "EUR", "rate_micros": 920_000, "decimals": 2, "price_minor": 2254})
    );
    let (_, product) = demo.get("/products/1?currency=jpy");
    assert_eq!(
        (
            &product["converted"]["decimals"],
            &product["converted"]["price_minor"]
        ),
        (&Value::from(0), &Value::from(3706))
    );
    assert_eq!(
        demo.get("/products/2?currency=USD").1["converted"]["price_minor"],
        399
    );
    assert!(demo.get("/products/3").1.get("converted").is_none());
    assert_eq!(demo.get("/products/1?currency=XAU").0, 422);
    assert_eq!(demo.get("/products/1?currency=EURO").0, 422);
    assert_eq!(demo.get("/products/99?currency=EUR").0, 404);

    let (status, created) = demo.post(
        "/products",
        r#"{"name": "Gooseneck scale", "category": "Equipment", "price_cents": 3900, "stock": 3}"#,
    );
    assert_eq!((status, &created["id"]), (201, &Value::from(6)));
    assert_eq!(created["category"], "equipment");
    let duplicate = r#"{"name": "GOOSENECK scale", "category": "x", "price_cents": 1}"#;
    assert_eq!(demo.post("/products", duplicate).0, 409);
    for invalid in [
        r#"{"name": "  ", "category": "coffee", "price_cents": 100}"#,
        r#"{"name": "Tamper", "category": "a b", "price_cents": 100}"#,
        r#"{"name": "Tamper", "category": "coffee", "price_cents": 0}"#,
        r#"{"name": "Tamper", "category": "coffee", "price_cents": 100000001}"#,
    ] {
        assert_eq!(demo.post("/products", invalid).0, 422, "{invalid}");
    }
    assert_eq!(
        demo.post("/products/5/restock", r#"{"quantity": 12}"#).1["stock"],
        12
    );
    assert_eq!(
        demo.post("/products/5/restock", r#"{"quantity": 0}"#).0,
        422
    );
    assert_eq!(
        demo.post("/products/77/restock", r#"{"quantity": 1}"#).0,
        404
    );

    // Orders: every refusal leaves the stock as it was, even after lines were reserved.
    let (status, order) = demo.post(
        "/orders",
        r#"{"customer": "ada", "items": [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 12}], "discount_code": "save10"}"#,
    );
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["id"], 1);
    assert_eq!(order["quote"]["total_cents"], 6300);
    assert_eq!(
        order["quote"]["applied"],
        serde_json::json!(["bulk", "SAVE10"])
    );
    assert_eq!(demo.stock(2), 188);
    for (body, expected) in [
        (
            r#"{"customer": "bob", "items": [{"product_id": 4, "quantity": 3}]}"#,
            409,
        ),
        (
            r#"{"customer": "cy", "items": [{"product_id": 2, "quantity": 1}], "discount_code": "HALFOFF"}"#,
            422,
        ),
        (
            r#"{"customer": "dee", "items": [{"product_id": 2, "quantity": 1}, {"product_id": 42, "quantity": 1}]}"#,
            404,
        ),
        (
            r#"{"customer": " ", "items": [{"product_id": 2, "quantity": 1}]}"#,
            422,
        ),
        (r#"{"customer": "eve", "items": []}"#, 422),
    ] {
        assert_eq!(demo.post("/orders", body).0, expected, "{body}");
    }
    assert_eq!(demo.stock(2), 188);
    assert_eq!(demo.stock(4), 2);

    let (status, fetched) = demo.get("/orders/1");
    assert_eq!((status, &fetched), (200, &order));
    assert_eq!(demo.get("/orders/2").0, 404);
    let (status, quote) = demo.get("/orders/1/quote?currency=JPY");
    assert_eq!(status, 200, "{quote}");
    // 72.38 - 9.38 dollars at 151.25 yen: each part converted and rounded on its own.
    assert_eq!(
        quote,
        serde_json::json!({"order_id": 1, "currency": "JPY", "rate_micros": 151_250_000,
            "decimals": 0, "subtotal": 10947, "discount": 1419, "shipping": 0, "total": 9528,
            "applied": ["bulk", "SAVE10"]})
    );
    assert_eq!(demo.get("/orders/1/quote").0, 422);
    assert_eq!(demo.get("/orders/9/quote?currency=GBP").0, 404);

    let (status, cancelled) = demo.post("/orders/1/cancel", "");
    assert_eq!(
        (status, &cancelled["status"]),
        (200, &Value::from("cancelled"))
    );
    assert_eq!((demo.stock(1), demo.stock(2)), (40, 200));
    assert_eq!(demo.post("/orders/1/cancel", "").0, 409);
    assert_eq!(demo.post("/orders/9/cancel", "").0, 404);
    assert_eq!(demo.get("/orders/1/quote?currency=GBP").0, 409);

    // The rates service gone: a 502 that names the call, and the service keeps serving.
    rates.stop();
    let (status, error) = demo.get("/products/1?currency=EUR");
    assert_eq!(
        (status, &error["error"]),
        (502, &Value::from("upstream")),
        "{error}"
    );
    assert_eq!(demo.get("/products/1").0, 200);
    demo.shut_down();
}

/// Each trace file of `dir`, parsed with the CLI's rules.
fn traces(dir: &Path) -> Vec<Vec<cov_trace::read::Span>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .map(|path| cov_trace::read::parse_spans(&std::fs::read(&path).unwrap()).unwrap())
        .collect()
}

fn text(span: &cov_trace::read::Span) -> String {
    let input = span.input_value.as_ref().unwrap();
    match span.package_type {
        4 => format!(
            "{} {}",
            span.submodule_name,
            input["text"].as_str().unwrap()
        ),
        _ => format!("{} {}", span.submodule_name, input["url"].as_str().unwrap()),
    }
}

#[test]
fn recorded_each_request_s_statements_and_rates_calls_are_in_its_trace() {
    let database = fresh_database("demo_service_record");
    let rates = Rates::start();
    let rates_url = rates.url();
    let dir = tempfile::tempdir().unwrap();
    let traces_dir = dir.path().join("traces");
    let traces_text = traces_dir.display().to_string();
    let demo = Demo::start(
        dir.path(),
        &[
            ("DATABASE_URL", &database),
            ("RATES_URL", &rates_url),
            ("TUSK_DRIFT_MODE", "RECORD"),
            ("TUSK_TRACES_DIR", &traces_text),
        ],
    );
    let order = r#"{"customer": "ada", "items": [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 12}]}"#;
    let short = r#"{"customer": "bob", "items": [{"product_id": 4, "quantity": 3}]}"#;
    assert_eq!(demo.get("/products/3?currency=EUR").0, 200);
    assert_eq!(demo.post("/orders", order).0, 201);
    assert_eq!(demo.post("/orders", short).0, 409);
    assert_eq!(demo.get("/orders/1/quote?currency=XAU").0, 422);
    // Written whole when the service stops at the latest.
    demo.shut_down();
    rates.stop();

    let mut requests = BTreeMap::new();
    let mut pre_app_start = Vec::new();
    for spans in traces(&traces_dir) {
        let Some(root) = spans.iter().find(|span| span.is_root_span) else {
            pre_app_start.extend(spans.iter().map(text));
            assert!(spans.iter().all(|span| span.is_pre_app_start));
            continue;
        };
        for span in spans.iter().filter(|span| !span.is_root_span) {
            assert_eq!(span.trace_id, root.trace_id);
            assert_eq!(span.parent_span_id, root.span_id);
            assert_eq!((span.kind, span.is_pre_app_start), (3, false));
        }
        let test = cov_trace::read::replay_test(&spans).unwrap().unwrap();
        let target = format!("{} {} {}", test.method, test.path, test.status);
        let calls: Vec<String> = spans
            .iter()
            .filter(|span| !span.is_root_span && span.submodule_name != "describe")
            .map(text)
            .collect();
        requests.insert(target, calls);
    }
    assert!(
        pre_app_start
            .iter()
            .any(|text| text.starts_with("query CREATE TABLE products")),
        "{pre_app_start:?}"
    );
    let lookup = "query SELECT id, name, category, price_cents, stock FROM products WHERE id = $1";
    assert_eq!(
        requests["GET /products/3?currency=EUR 200"],
        [lookup.to_owned(), format!("GET {rates_url}/rates/USD/EUR")]
    );
    let placed = &requests["POST /orders 201"];
    assert!(
        placed.first().is_some_and(|first| first == "query BEGIN")
            && placed.last().is_some_and(|last| last == "query COMMIT")
            && placed
                .iter()
                .any(|call| call.starts_with("query INSERT INTO orders")),
        "{placed:?}"
    );
    let refused = &requests["POST /orders 409"];
    assert!(
        refused.first().is_some_and(|first| first == "query BEGIN")
            && refused.last().is_some_and(|last| last == "query ROLLBACK")
            && !refused.iter().any(|call| call.starts_with("query INSERT")),
        "{refused:?}"
    );
    let quote = &requests["GET /orders/1/quote?currency=XAU 422"];
    assert_eq!(
        quote.last().map(String::as_str),
        Some(format!("GET {rates_url}/rates/USD/XAU").as_str()),
        "the rates service's 404 is recorded too: {quote:?}"
    );
    assert_eq!(requests.len(), 4, "{requests:?}");
}
