//! Per-statement latency of a direct connection, the recording proxy and the replay server
//! (answering from memory, without the mock round trip to the CLI), as p50 and p99 of a
//! prepared `SELECT` run sequentially. Needs a server: `COV_POSTGRES_URL=postgres://… cargo
//! run --release -p cov-postgres --example pg_latency`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cov_postgres::proxy::RecordingProxy;
use cov_postgres::record::{RecorderConfig, Statement, StatementSink};
use cov_postgres::replay::{Lookup, ReplayConfig, Unmatched};
use cov_postgres::server::{MockSource, ReplayServer};
use cov_postgres::url::{Upstream, local_url};

const RUNS: usize = 5000;

#[derive(Default)]
struct Keep(Mutex<Vec<Statement>>);

impl StatementSink for Keep {
    fn statement(&self, _: Option<u64>, statement: Statement) {
        self.0.lock().unwrap().push(statement);
    }
}

struct Answers(Vec<(serde_json::Value, serde_json::Value)>);

impl MockSource for Answers {
    async fn lookup(&self, _: Option<u64>, lookup: Lookup) -> Result<serde_json::Value, Unmatched> {
        let input = lookup.input_value();
        self.0
            .iter()
            .find(|(recorded, _)| *recorded == input)
            .map(|(_, output)| output.clone())
            .ok_or(Unmatched {
                reason: "no mock".into(),
            })
    }
}

async fn measure(url: &str) -> Vec<Duration> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let statement = client
        .prepare("SELECT $1::int4 AS n, 'some text' AS t")
        .await
        .unwrap();
    let mut times = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        let value = (i % 10) as i32;
        let started = Instant::now();
        let rows = client.query(&statement, &[&value]).await.unwrap();
        times.push(started.elapsed());
        assert_eq!(rows.len(), 1);
    }
    times.sort();
    times
}

fn report(name: &str, times: &[Duration]) {
    println!(
        "{name:<22} p50 {:>7.1} µs   p99 {:>7.1} µs",
        times[times.len() / 2].as_secs_f64() * 1e6,
        times[times.len() * 99 / 100].as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("COV_POSTGRES_URL").expect("set COV_POSTGRES_URL to a server's URL");
    let direct = measure(&url).await;
    let sink = Arc::new(Keep::default());
    let proxy = RecordingProxy::start(
        Upstream::from_url(&url).unwrap(),
        sink.clone(),
        RecorderConfig::default(),
    )
    .await
    .unwrap();
    let proxied = measure(&local_url(&url, proxy.local_addr()).unwrap()).await;
    proxy.wait_idle().await;
    let recorded: Vec<_> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|statement| {
            (
                statement.kind.input_value(),
                statement.kind.output_value().unwrap(),
            )
        })
        .collect();
    let server = ReplayServer::start(Arc::new(Answers(recorded)), ReplayConfig::default())
        .await
        .unwrap();
    let replayed = measure(&local_url(&url, server.local_addr()).unwrap()).await;
    report("direct", &direct);
    report("recording proxy", &proxied);
    report("replay (from memory)", &replayed);
    let added = proxied[RUNS / 2].saturating_sub(direct[RUNS / 2]);
    println!(
        "proxy adds {:.1} µs at p50 (target: at most 100 µs)",
        added.as_secs_f64() * 1e6
    );
}
