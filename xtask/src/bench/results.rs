//! The results of a run: every figure as JSON (`--json FILE`) and as the table printed at
//! the end, each figure next to what it is compared with and its target.

use std::fmt::Write as _;

use serde::Serialize;

use super::stats::{BLOCKS, Comparison, ratio};

/// Every figure of a run. The fields named in the issue come first; the rest break them
/// down.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(super) struct BenchResults {
    pub(super) mapping_load_ms: f64,
    pub(super) mapping_bytes: u64,
    pub(super) mapping_sections_bytes: u64,
    pub(super) baseline_ms: f64,
    pub(super) delta_p50_ms: f64,
    pub(super) delta_p99_ms: f64,
    pub(super) delta_under_load_p50_ms: f64,
    pub(super) pipeline_ms: f64,
    pub(super) pipeline_ratio: f64,
    pub(super) offline_ms: f64,
    pub(super) offline_llvm_ms: f64,
    pub(super) offline_ratio: f64,
    pub(super) offline_identical: bool,
    /// `None` when the SDK could not be measured (the reason is in `sdk_note`).
    pub(super) overhead_idle_pct: Option<f64>,
    pub(super) overhead_snapshots_pct: Option<f64>,
    pub(super) functions: u64,
    pub(super) counters: u64,

    pub(super) files_selected: u64,
    pub(super) mapping_allocated_bytes: u64,
    pub(super) baseline_p99_ms: f64,
    pub(super) delta_samples: u64,
    pub(super) delta_under_load_p99_ms: f64,
    pub(super) delta_under_load_mean_files: f64,
    pub(super) dump_ms: f64,
    /// The mapping load of the whole program (no file filter), uninstrumented, step by step.
    pub(super) whole_read_ms: f64,
    pub(super) whole_decode_ms: f64,
    pub(super) whole_engine_ms: f64,
    pub(super) whole_mapping_bytes: u64,
    pub(super) whole_engine_bytes: u64,
    pub(super) mapped_functions: u64,
    pub(super) regions: u64,
    pub(super) profdata_merge_ms: f64,
    pub(super) llvm_cov_export_ms: f64,
    pub(super) throughput_off_rps: Option<f64>,
    pub(super) throughput_idle_rps: Option<f64>,
    pub(super) throughput_snapshots_rps: Option<f64>,
    pub(super) sdk_snapshot_p50_ms: Option<f64>,
    /// Every trial's requests per second: off, idle, snapshots (in round order).
    pub(super) throughput_trials_rps: Option<[Vec<f64>; 3]>,
    /// The service's CPU time per request (median over rounds): off, idle, snapshots. On a
    /// shared machine this resolves the SDK's cost far better than throughput.
    pub(super) cpu_us_per_request: Option<[f64; 3]>,
    pub(super) overhead_idle_cpu_pct: Option<f64>,
    pub(super) overhead_snapshots_cpu_pct: Option<f64>,
    /// CPU time of the SDK's own threads per request, as a percentage of the service's CPU
    /// time per request without the SDK: idle, and with a snapshot every 100 ms.
    pub(super) sdk_threads_idle_pct: Option<f64>,
    pub(super) sdk_threads_snapshots_pct: Option<f64>,
    pub(super) sdk_note: Option<String>,
    pub(super) machine: String,
    /// Only the SDK's cost to the service was measured (`--sdk-only`).
    pub(super) sdk_only: bool,
    /// Outbound calls through the SDK against the same calls made directly; `None` when
    /// they were not measured (the reason is in `outbound_note`).
    pub(super) outbound: Option<OutboundFigures>,
    pub(super) outbound_note: Option<String>,
    /// Only outbound calls were measured (`--outbound-only`).
    pub(super) outbound_only: bool,
}

/// Outbound calls (`bench-outbound`): per call, through the SDK against the same call made
/// directly in the same run. Each is `None` when its part could not run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(super) struct OutboundFigures {
    /// Calls per series recording and replaying.
    pub(super) calls: u64,
    /// Calls per series with the SDK off.
    pub(super) calls_off: u64,
    /// SDK off: reqwest through reqwest-middleware and the SDK's middleware, against plain
    /// reqwest.
    pub(super) passthrough_reqwest: Option<Comparison>,
    /// reqwest-middleware without any middleware, against plain reqwest.
    pub(super) reqwest_middleware_alone: Option<Comparison>,
    /// SDK off: with the SDK's middleware, against reqwest-middleware without it.
    pub(super) passthrough_reqwest_middleware: Option<Comparison>,
    /// SDK off: hyper-util's client under the SDK's tower layer, against the plain client.
    pub(super) passthrough_tower: Option<Comparison>,
    /// A second plain hyper-util client against the first: the noise floor of the
    /// pass-through figures.
    pub(super) tower_again: Option<Comparison>,
    pub(super) record_reqwest: Option<Comparison>,
    pub(super) record_tower: Option<Comparison>,
    pub(super) replay_reqwest: Option<Comparison>,
    pub(super) replay_tower: Option<Comparison>,
    /// A statement through the recording proxy, against a direct connection.
    pub(super) pg_record: Option<Comparison>,
    /// A statement answered by the replay server, against a direct connection.
    pub(super) pg_replay: Option<Comparison>,
    /// Where the PostgreSQL server came from, or why there was none.
    pub(super) postgres: String,
    /// Requests served while recording (each one trace), and the tests the trace writer
    /// wrote of them (it drops what does not fit its queue), which the replay replays.
    pub(super) requests_recorded: u64,
    pub(super) tests_recorded: u64,
    /// How long the mock CLI took to load the traces and their tests.
    pub(super) mock_cli_load_ms: f64,
    /// The mock requests the mock CLI answered by the recorded call's exact value hash (the
    /// CLI's first priority), and the others (another priority, or none).
    pub(super) mocks_exact: u64,
    pub(super) mocks_other: u64,
}

/// The collector's and the pipeline's figures, which `--sdk-only` and `--outbound-only` do
/// not measure.
const COLLECTOR_FIELDS: &[&str] = &[
    "mapping_load_ms",
    "mapping_bytes",
    "mapping_sections_bytes",
    "baseline_ms",
    "delta_p50_ms",
    "delta_p99_ms",
    "delta_under_load_p50_ms",
    "pipeline_ms",
    "pipeline_ratio",
    "offline_ms",
    "offline_llvm_ms",
    "offline_ratio",
    "offline_identical",
    "functions",
    "counters",
    "files_selected",
    "mapping_allocated_bytes",
    "baseline_p99_ms",
    "delta_samples",
    "delta_under_load_p99_ms",
    "delta_under_load_mean_files",
    "dump_ms",
    "whole_read_ms",
    "whole_decode_ms",
    "whole_engine_ms",
    "whole_mapping_bytes",
    "whole_engine_bytes",
    "mapped_functions",
    "regions",
    "profdata_merge_ms",
    "llvm_cov_export_ms",
];

/// The results as pretty JSON. What was not measured is `null`, never a zero that reads as
/// a figure: the collector's fields in an `--sdk-only` or `--outbound-only` run, any `None`,
/// and NaN (which JSON lacks).
pub(super) fn to_json(results: &BenchResults) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(results)?;
    if (results.sdk_only || results.outbound_only)
        && let serde_json::Value::Object(object) = &mut value
    {
        for field in COLLECTOR_FIELDS {
            object.insert((*field).to_owned(), serde_json::Value::Null);
        }
    }
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// One row of the table.
struct Row {
    measure: String,
    ours: String,
    alternative: String,
    ratio: String,
    target: &'static str,
    met: Option<bool>,
}

/// The readable table: each figure, what it is compared with, the ratio, the target and
/// whether it is met.
pub(super) fn render_table(results: &BenchResults) -> String {
    let r = results;
    let ms = |value: f64| format!("{value:.3} ms");
    let times = |value: f64| format!("{value:.1}×");
    let mib = |bytes: u64| format!("{:.2} MiB", bytes as f64 / 1024.0 / 1024.0);
    let memory_ratio = ratio(r.mapping_bytes as f64, r.mapping_sections_bytes as f64);
    let mut rows = vec![
        Row {
            measure: "mapping load (Collector::build)".into(),
            ours: ms(r.mapping_load_ms),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 200 ms",
            met: Some(r.mapping_load_ms <= 200.0),
        },
        Row {
            measure: "mapping memory vs covmap+covfun".into(),
            ours: mib(r.mapping_bytes),
            alternative: mib(r.mapping_sections_bytes),
            ratio: times(memory_ratio),
            target: "≤ 3×",
            met: Some(memory_ratio <= 3.0),
        },
        Row {
            measure: "whole program: read+decode+engine".into(),
            ours: format!(
                "{} ({:.0}+{:.0}+{:.0})",
                ms(r.whole_read_ms + r.whole_decode_ms + r.whole_engine_ms),
                r.whole_read_ms,
                r.whole_decode_ms,
                r.whole_engine_ms
            ),
            alternative: format!(
                "{} + {} held",
                mib(r.whole_mapping_bytes),
                mib(r.whole_engine_bytes)
            ),
            ratio: String::new(),
            target: "(no filter)",
            met: None,
        },
        Row {
            measure: "baseline() p50 / p99".into(),
            ours: format!("{} / {}", ms(r.baseline_ms), ms(r.baseline_p99_ms)),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 50 ms",
            met: Some(r.baseline_ms <= 50.0),
        },
        Row {
            measure: format!("delta() idle p50 / p99 ({} snapshots)", r.delta_samples),
            ours: format!("{} / {}", ms(r.delta_p50_ms), ms(r.delta_p99_ms)),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 1 / 5 ms",
            met: Some(r.delta_p50_ms <= 1.0 && r.delta_p99_ms <= 5.0),
        },
        Row {
            measure: "delta() under load p50 / p99".into(),
            ours: format!(
                "{} / {}",
                ms(r.delta_under_load_p50_ms),
                ms(r.delta_under_load_p99_ms)
            ),
            alternative: String::new(),
            ratio: String::new(),
            target: "≤ 1 / 5 ms",
            met: Some(r.delta_under_load_p50_ms <= 1.0 && r.delta_under_load_p99_ms <= 5.0),
        },
        Row {
            measure: "per-test snapshot vs dump+merge+export".into(),
            ours: ms(r.delta_under_load_p50_ms),
            alternative: format!(
                "{} ({:.1}+{:.1}+{:.1})",
                ms(r.pipeline_ms),
                r.dump_ms,
                r.profdata_merge_ms,
                r.llvm_cov_export_ms
            ),
            ratio: times(r.pipeline_ratio),
            target: "≥ 100×",
            met: Some(r.pipeline_ratio >= 100.0),
        },
        Row {
            measure: "offline LCOV vs llvm-profdata+llvm-cov".into(),
            ours: ms(r.offline_ms),
            alternative: ms(r.offline_llvm_ms),
            ratio: times(r.offline_ratio),
            target: "≥ 10×",
            met: Some(r.offline_ratio >= 10.0),
        },
        Row {
            measure: "offline LCOV identical (DA, BRDA)".into(),
            ours: if r.offline_identical { "yes" } else { "NO" }.into(),
            alternative: String::new(),
            ratio: String::new(),
            target: "identical",
            met: Some(r.offline_identical),
        },
    ];
    if r.sdk_only || r.outbound_only {
        // Only the SDK's cost or the outbound calls were measured: no row for the collector
        // and the llvm pipeline rather than zeros marked "MISSED".
        rows.clear();
    }
    if !r.outbound_only {
        sdk_cost_rows(r, &mut rows);
    }
    if !r.sdk_only {
        outbound_rows(r.outbound.as_ref(), &mut rows);
    }
    render(r, rows)
}

/// The rows of the SDK's cost to the service.
fn sdk_cost_rows(r: &BenchResults, rows: &mut Vec<Row>) {
    let ms = |value: f64| format!("{value:.3} ms");
    let rps =
        |value: Option<f64>| value.map_or("-".to_owned(), |value| format!("{value:.0} req/s"));
    let pct = |value: Option<f64>| {
        value.map_or("not measured".to_owned(), |value| format!("{value:+.1} %"))
    };
    rows.push(Row {
        measure: "SDK overhead, idle".into(),
        ours: pct(r.overhead_idle_pct),
        alternative: format!(
            "{} vs off {}",
            rps(r.throughput_idle_rps),
            rps(r.throughput_off_rps)
        ),
        ratio: String::new(),
        target: "≤ 1 %",
        met: r.overhead_idle_pct.map(|value| value <= 1.0),
    });
    rows.push(Row {
        measure: "SDK overhead, snapshot every 100 ms".into(),
        ours: pct(r.overhead_snapshots_pct),
        alternative: format!(
            "{} (snapshot p50 {})",
            rps(r.throughput_snapshots_rps),
            r.sdk_snapshot_p50_ms.map_or("-".to_owned(), ms)
        ),
        ratio: String::new(),
        target: "≤ 5 %",
        met: r.overhead_snapshots_pct.map(|value| value <= 5.0),
    });

    let cpu = |value: Option<[f64; 3]>, idx: usize| {
        value.map_or("-".to_owned(), |values| {
            format!("{:.1} µs/req", values[idx])
        })
    };
    rows.push(Row {
        measure: "SDK CPU per request, idle".into(),
        ours: pct(r.overhead_idle_cpu_pct),
        alternative: format!(
            "{} vs off {}",
            cpu(r.cpu_us_per_request, 1),
            cpu(r.cpu_us_per_request, 0)
        ),
        ratio: String::new(),
        target: "≤ 1 %",
        met: r.overhead_idle_cpu_pct.map(|value| value <= 1.0),
    });
    rows.push(Row {
        measure: "SDK CPU per request, snapshot every 100 ms".into(),
        ours: pct(r.overhead_snapshots_cpu_pct),
        alternative: cpu(r.cpu_us_per_request, 2),
        ratio: String::new(),
        target: "≤ 5 %",
        met: r.overhead_snapshots_cpu_pct.map(|value| value <= 5.0),
    });
    let share = |value: Option<f64>| {
        value.map_or("not measured".to_owned(), |value| format!("{value:.2} %"))
    };
    rows.push(Row {
        measure: "SDK threads' own CPU, idle".into(),
        ours: share(r.sdk_threads_idle_pct),
        alternative: "of the CPU per request without the SDK".into(),
        ratio: String::new(),
        target: "≤ 1 %",
        met: r.sdk_threads_idle_pct.map(|value| value <= 1.0),
    });
    rows.push(Row {
        measure: "SDK threads' own CPU, snapshot every 100 ms".into(),
        ours: share(r.sdk_threads_snapshots_pct),
        alternative: "of the CPU per request without the SDK".into(),
        ratio: String::new(),
        target: "≤ 5 %",
        met: r.sdk_threads_snapshots_pct.map(|value| value <= 5.0),
    });
}

/// The rows of outbound calls: each figure is the p50 over the run, and in brackets its
/// least and greatest over the run's consecutive blocks.
fn outbound_rows(figures: Option<&OutboundFigures>, rows: &mut Vec<Row>) {
    let us = |value: f64| format!("{value:.1} µs");
    let ms = |value: f64| format!("{:.3} ms", value / 1e3);
    let times = |value: f64| format!("{value:.2}×");
    let not_measured = |measure: &str, target: &'static str| Row {
        measure: measure.to_owned(),
        ours: "not measured".into(),
        alternative: String::new(),
        ratio: String::new(),
        target,
        met: None,
    };
    let get = |pick: fn(&OutboundFigures) -> Option<Comparison>| figures.and_then(pick);

    let pass_through =
        |measure: &str, comparison: Option<Comparison>, against: &str| match comparison {
            None => not_measured(measure, "≤ 1 %"),
            Some(c) => {
                let (pct, least, most) = c.added_pct();
                Row {
                    measure: measure.to_owned(),
                    ours: format!("{pct:+.1} % [{least:+.1}..{most:+.1}]"),
                    alternative: format!("{} vs {against} {}", us(c.p50_us), us(c.direct_p50_us)),
                    ratio: times(ratio(c.p50_us, c.direct_p50_us)),
                    target: "≤ 1 %",
                    met: Some(pct <= 1.0),
                }
            }
        };
    rows.push(pass_through(
        "HTTP pass-through (SDK off), reqwest",
        get(|o| o.passthrough_reqwest),
        "plain reqwest",
    ));
    let mut alone = pass_through(
        "  of it reqwest-middleware, no middleware",
        get(|o| o.reqwest_middleware_alone),
        "plain reqwest",
    );
    alone.target = "(not ours)";
    alone.met = None;
    rows.push(alone);
    rows.push(pass_through(
        "  of it the SDK's middleware",
        get(|o| o.passthrough_reqwest_middleware),
        "no middleware",
    ));
    rows.push(pass_through(
        "HTTP pass-through (SDK off), tower layer",
        get(|o| o.passthrough_tower),
        "plain client",
    ));
    let mut again = pass_through(
        "  A/A: another plain client, no SDK",
        get(|o| o.tower_again),
        "plain client",
    );
    again.target = "(noise)";
    again.met = None;
    rows.push(again);

    let added = |measure: &str, comparison: Option<Comparison>, limit_us: f64, target, in_ms| {
        let show = |value: f64| if in_ms { ms(value) } else { us(value) };
        let bound = |value: f64| {
            if in_ms {
                format!("{:+.3}", value / 1e3)
            } else {
                format!("{value:+.1}")
            }
        };
        match comparison {
            None => not_measured(measure, target),
            Some(c) => Row {
                measure: measure.to_owned(),
                ours: format!(
                    "{}{} [{}..{}]",
                    if c.added_us < 0.0 { "" } else { "+" },
                    show(c.added_us),
                    bound(c.added_min_us),
                    bound(c.added_max_us)
                ),
                alternative: format!("{} vs direct {}", show(c.p50_us), show(c.direct_p50_us)),
                ratio: times(ratio(c.p50_us, c.direct_p50_us)),
                target,
                met: Some(c.added_us <= limit_us),
            },
        }
    };
    rows.push(added(
        "HTTP recording adds per call, reqwest",
        get(|o| o.record_reqwest),
        50.0,
        "≤ 50 µs",
        false,
    ));
    rows.push(added(
        "HTTP recording adds per call, tower layer",
        get(|o| o.record_tower),
        50.0,
        "≤ 50 µs",
        false,
    ));

    let absolute =
        |measure: &str, comparison: Option<Comparison>, limit_us: f64, target| match comparison {
            None => not_measured(measure, target),
            Some(c) => Row {
                measure: measure.to_owned(),
                ours: format!(
                    "{} / {} [{:.3}..{:.3}]",
                    ms(c.p50_us),
                    ms(c.p99_us),
                    c.p50_min_us / 1e3,
                    c.p50_max_us / 1e3
                ),
                alternative: format!("direct {} / {}", ms(c.direct_p50_us), ms(c.direct_p99_us)),
                ratio: times(ratio(c.p50_us, c.direct_p50_us)),
                target,
                met: Some(c.p50_us <= limit_us),
            },
        };
    rows.push(absolute(
        "HTTP replayed call p50 / p99, reqwest",
        get(|o| o.replay_reqwest),
        200.0,
        "≤ 0.2 ms",
    ));
    rows.push(absolute(
        "HTTP replayed call p50 / p99, tower layer",
        get(|o| o.replay_tower),
        200.0,
        "≤ 0.2 ms",
    ));
    rows.push(added(
        "PostgreSQL: record proxy adds per statement",
        get(|o| o.pg_record),
        100.0,
        "≤ 0.1 ms",
        true,
    ));
    rows.push(absolute(
        "PostgreSQL: replayed statement p50 / p99",
        get(|o| o.pg_replay),
        300.0,
        "≤ 0.3 ms",
    ));
}

/// The table of `rows`, under a line saying what was measured on what, over notes.
fn render(r: &BenchResults, rows: Vec<Row>) -> String {
    let headers = ["measure", "ours", "alternative", "ratio", "target", ""];
    let cells: Vec<[String; 6]> = rows
        .into_iter()
        .map(|row| {
            let verdict = match row.met {
                Some(true) => "ok",
                Some(false) => "MISSED",
                None => "-",
            };
            [
                row.measure,
                row.ours,
                row.alternative,
                row.ratio,
                row.target.into(),
                verdict.into(),
            ]
        })
        .collect();
    let mut widths = headers.map(|header| header.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    if r.sdk_only {
        let _ = writeln!(out, "SDK overhead only; {}", r.machine);
    } else if r.outbound_only {
        let _ = writeln!(out, "Outbound calls only; {}", r.machine);
    } else {
        let _ = writeln!(
            out,
            "{} functions with counters ({} mapped, {} regions), {} counters, {} service files selected; {}",
            r.functions, r.mapped_functions, r.regions, r.counters, r.files_selected, r.machine
        );
    }
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            let pad = width - cell.chars().count();
            text.push_str(cell);
            text.push_str(&" ".repeat(pad + 2));
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&headers.map(str::to_owned));
    line(&widths.map(|width| "-".repeat(width)));
    for row in &cells {
        line(row);
    }
    if let Some(note) = &r.sdk_note {
        let _ = writeln!(out, "SDK overhead not measured: {note}");
    }
    if let Some(outbound) = &r.outbound {
        let _ = writeln!(
            out,
            "Outbound: p50 over {} calls per series ({} with the SDK off, each comparison in a \
             run of its own), [least..greatest] \
             over {BLOCKS} consecutive blocks; {} of {} requests recorded as tests and \
             replayed (mock CLI loaded in {:.0} ms; {} of {} mock requests matched by exact \
             value hash); PostgreSQL: {}",
            outbound.calls,
            outbound.calls_off,
            outbound.tests_recorded,
            outbound.requests_recorded,
            outbound.mock_cli_load_ms,
            outbound.mocks_exact,
            outbound.mocks_exact + outbound.mocks_other,
            outbound.postgres
        );
    }
    if let Some(note) = &r.outbound_note {
        let _ = writeln!(out, "Outbound calls not measured: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BenchResults {
        BenchResults {
            mapping_load_ms: 40.0,
            mapping_bytes: 6 * 1024 * 1024,
            mapping_sections_bytes: 4 * 1024 * 1024,
            baseline_ms: 3.0,
            delta_p50_ms: 0.2,
            delta_p99_ms: 0.9,
            delta_under_load_p50_ms: 0.5,
            delta_under_load_p99_ms: 7.0,
            pipeline_ms: 500.0,
            pipeline_ratio: 1000.0,
            offline_ms: 50.0,
            offline_llvm_ms: 400.0,
            offline_ratio: 8.0,
            offline_identical: true,
            overhead_idle_pct: Some(0.4),
            sdk_threads_snapshots_pct: Some(0.8125),
            overhead_snapshots_pct: None,
            functions: 12_000,
            counters: 40_000,
            delta_samples: 1000,
            sdk_note: Some("no SDK".into()),
            machine: "test CPU, 2 cores, 4.0 GiB RAM".into(),
            ..BenchResults::default()
        }
    }

    /// The fields the issue asks for, as `--json` writes them.
    const ISSUE_FIELDS: [&str; 17] = [
        "mapping_load_ms",
        "mapping_bytes",
        "mapping_sections_bytes",
        "baseline_ms",
        "delta_p50_ms",
        "delta_p99_ms",
        "delta_under_load_p50_ms",
        "pipeline_ms",
        "pipeline_ratio",
        "offline_ms",
        "offline_llvm_ms",
        "offline_ratio",
        "offline_identical",
        "overhead_idle_pct",
        "overhead_snapshots_pct",
        "functions",
        "counters",
    ];

    fn json_object(results: &BenchResults) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&to_json(results).unwrap()).unwrap() {
            serde_json::Value::Object(object) => object,
            other => panic!("the results are not a JSON object: {other}"),
        }
    }

    #[test]
    fn json_has_every_field_the_issue_names_with_its_value() {
        let results = BenchResults {
            overhead_snapshots_pct: Some(2.5),
            ..sample()
        };
        let object = json_object(&results);
        for field in ISSUE_FIELDS {
            let value = object
                .get(field)
                .unwrap_or_else(|| panic!("{field} is missing from {object:?}"));
            assert!(
                value.is_number() || value.is_boolean(),
                "{field} is {value}, not a figure"
            );
        }
        assert_eq!(object["mapping_load_ms"], 40.0);
        assert_eq!(object["mapping_bytes"], 6 * 1024 * 1024);
        assert_eq!(object["offline_identical"], true);
        assert_eq!(object["overhead_idle_pct"], 0.4);
        assert_eq!(object["overhead_snapshots_pct"], 2.5);
        assert_eq!(object["counters"], 40_000);
    }

    #[test]
    fn json_writes_what_was_not_measured_as_null() {
        // Not measured (`None`) and not a number (a ratio over nothing) are both `null`,
        // and the key is still there.
        let object = json_object(&BenchResults {
            offline_ratio: f64::NAN,
            ..sample()
        });
        assert_eq!(
            object.get("overhead_snapshots_pct"),
            Some(&serde_json::Value::Null)
        );
        assert_eq!(object.get("offline_ratio"), Some(&serde_json::Value::Null));
    }

    #[test]
    fn json_writes_the_collector_figures_of_a_partial_run_as_null() {
        for partial in [
            BenchResults {
                sdk_only: true,
                ..sample()
            },
            BenchResults {
                outbound_only: true,
                ..sample()
            },
        ] {
            let object = json_object(&partial);
            for field in COLLECTOR_FIELDS {
                assert_eq!(
                    object.get(*field),
                    Some(&serde_json::Value::Null),
                    "{field}"
                );
            }
            assert_eq!(object["machine"], sample().machine.as_str());
        }
        let full = json_object(&sample());
        for field in COLLECTOR_FIELDS {
            let value = full
                .get(*field)
                .unwrap_or_else(|| panic!("{field} is no field"));
            assert!(!value.is_null(), "{field} of a full run is null");
        }
    }

    #[test]
    fn table_shows_ratios_targets_and_misses() {
        let table = render_table(&sample());
        assert!(
            table
                .starts_with("12000 functions with counters (0 mapped, 0 regions), 40000 counters"),
            "{table}"
        );
        let row = |measure: &str| {
            table
                .lines()
                .find(|line| line.starts_with(measure))
                .unwrap_or_else(|| panic!("no row {measure} in\n{table}"))
                .to_owned()
        };
        let memory = row("mapping memory");
        assert!(
            memory.contains("6.00 MiB") && memory.contains("4.00 MiB"),
            "{memory}"
        );
        assert!(
            memory.contains("1.5×") && memory.ends_with("ok"),
            "{memory}"
        );
        // p99 under load is above 5 ms: missed.
        assert!(row("delta() under load").ends_with("MISSED"), "{table}");
        assert!(row("per-test snapshot").contains("1000.0×"), "{table}");
        let offline = row("offline LCOV vs");
        assert!(
            offline.contains("8.0×") && offline.ends_with("MISSED"),
            "{offline}"
        );
        assert!(row("SDK overhead, idle").contains("+0.4 %"), "{table}");
        let own = row("SDK threads' own CPU, snapshot");
        assert!(own.contains("0.81 %") && own.ends_with("ok"), "{own}");
        assert!(
            row("SDK threads' own CPU, idle").contains("not measured"),
            "{table}"
        );
        assert!(
            row("SDK overhead, snapshot").contains("not measured"),
            "{table}"
        );
        assert!(
            table.contains("SDK overhead not measured: no SDK"),
            "{table}"
        );
        assert_columns_line_up(&table);
    }

    /// Every row starts each column that is never empty (the measure, our figure, the
    /// target, the verdict) at the character where the header starts it, after a space,
    /// whatever the width in bytes of `×`, `µ` and `≤`.
    fn assert_columns_line_up(table: &str) {
        let lines: Vec<&str> = table.lines().collect();
        let header_idx = lines
            .iter()
            .position(|line| line.starts_with("measure"))
            .expect("a header line");
        let header: Vec<char> = lines[header_idx].chars().collect();
        let starts: Vec<usize> = (0..header.len())
            .filter(|&at| header[at] != ' ' && (at == 0 || header[at - 1] == ' '))
            .collect();
        assert_eq!(
            starts.len(),
            5,
            "measure, ours, alternative, ratio, target: {table}"
        );
        let (ours, target) = (starts[1], starts[4]);
        // The rows lie between the dashes under the header and the closing note.
        let rows: Vec<&str> = lines[header_idx + 2..]
            .iter()
            .copied()
            .take_while(|line| !line.starts_with("SDK overhead not measured"))
            .collect();
        assert!(rows.len() > 10, "{table}");
        for row in rows {
            let chars: Vec<char> = row.chars().collect();
            for column in [ours, target] {
                assert!(
                    chars.get(column).is_some_and(|&c| c != ' ') && chars[column - 1] == ' ',
                    "the column at {column} does not line up in {row:?}:\n{table}"
                );
            }
        }
    }

    /// A comparison whose SDK series is `sdk` µs and direct series `direct` µs throughout.
    fn flat(sdk: f64, direct: f64) -> Option<Comparison> {
        Comparison::of(&[sdk; 10], &[direct; 10])
    }

    #[test]
    fn outbound_rows_show_each_figure_beside_its_target() {
        let results = BenchResults {
            outbound: Some(OutboundFigures {
                calls: 2000,
                calls_off: 20_000,
                // 0.5 % over 40 µs: met; 2 % over 40 µs: missed.
                passthrough_reqwest: flat(40.8, 40.0),
                reqwest_middleware_alone: flat(40.6, 40.0),
                passthrough_reqwest_middleware: flat(40.8, 40.6),
                passthrough_tower: flat(40.2, 40.0),
                tower_again: flat(40.1, 40.0),
                record_reqwest: flat(52.0, 40.0),
                record_tower: flat(95.0, 40.0),
                replay_reqwest: flat(150.0, 40.0),
                replay_tower: flat(250.0, 40.0),
                pg_record: flat(180.0, 120.0),
                pg_replay: None,
                postgres: "postgres://x (COV_POSTGRES_URL)".into(),
                requests_recorded: 4400,
                tests_recorded: 4000,
                mock_cli_load_ms: 321.0,
                mocks_exact: 11_000,
                mocks_other: 0,
            }),
            ..sample()
        };
        let table = render_table(&results);
        let row = |measure: &str| {
            table
                .lines()
                .find(|line| line.trim_start().starts_with(measure))
                .unwrap_or_else(|| panic!("no row {measure} in\n{table}"))
                .to_owned()
        };
        let reqwest = row("HTTP pass-through (SDK off), reqwest");
        assert!(
            reqwest.contains("+2.0 % [+2.0..+2.0]")
                && reqwest.contains("40.8 µs vs plain reqwest 40.0 µs")
                && reqwest.ends_with("MISSED"),
            "{reqwest}"
        );
        let alone = row("of it reqwest-middleware");
        assert!(
            alone.contains("(not ours)") && alone.ends_with('-'),
            "{alone}"
        );
        assert!(row("of it the SDK's middleware").ends_with("ok"), "{table}");
        assert!(
            row("HTTP pass-through (SDK off), tower").contains("+0.5 %"),
            "{table}"
        );
        let record = row("HTTP recording adds per call, reqwest");
        assert!(
            record.contains("+12.0 µs [+12.0..+12.0]") && record.ends_with("ok"),
            "{record}"
        );
        assert!(
            row("HTTP recording adds per call, tower").ends_with("MISSED"),
            "{table}"
        );
        let replay = row("HTTP replayed call p50 / p99, reqwest");
        assert!(
            replay.contains("0.150 ms / 0.150 ms [0.150..0.150]")
                && replay.contains("3.75×")
                && replay.ends_with("ok"),
            "{replay}"
        );
        assert!(
            row("HTTP replayed call p50 / p99, tower").ends_with("MISSED"),
            "{table}"
        );
        let proxy = row("PostgreSQL: record proxy adds");
        assert!(
            proxy.contains("+0.060 ms [+0.060..+0.060]")
                && proxy.contains("0.180 ms vs direct 0.120 ms"),
            "{proxy}"
        );
        assert!(proxy.ends_with("ok"), "{proxy}");
        let pg_replay = row("PostgreSQL: replayed statement");
        assert!(
            pg_replay.contains("not measured") && pg_replay.ends_with("-"),
            "{table}"
        );
        assert!(
            table.contains(
                "Outbound: p50 over 2000 calls per series (20000 with the SDK off, each \
                 comparison in a run of its own)"
            ) && table.contains("4000 of 4400 requests recorded as tests")
                && table.contains("11000 of 11000 mock requests matched by exact value hash")
                && table.contains("PostgreSQL: postgres://x (COV_POSTGRES_URL)"),
            "{table}"
        );
        assert_columns_line_up(&table);
    }

    #[test]
    fn an_outbound_only_table_has_only_the_outbound_rows() {
        let table = render_table(&BenchResults {
            outbound_only: true,
            outbound_note: Some("no bench-outbound".into()),
            ..sample()
        });
        assert!(table.starts_with("Outbound calls only; "), "{table}");
        assert!(!table.contains("mapping load"), "{table}");
        assert!(!table.contains("SDK overhead, idle"), "{table}");
        assert!(table.contains("HTTP replayed call"), "{table}");
        assert!(
            table.contains("Outbound calls not measured: no bench-outbound"),
            "{table}"
        );
    }

    #[test]
    fn an_sdk_only_table_has_no_rows_for_the_parts_that_did_not_run() {
        let table = render_table(&BenchResults {
            sdk_only: true,
            ..sample()
        });
        assert!(table.starts_with("SDK overhead only; "), "{table}");
        assert!(!table.contains("mapping load"), "{table}");
        assert!(!table.contains("offline LCOV"), "{table}");
        assert!(table.contains("SDK overhead, idle"), "{table}");
        assert!(!table.contains("HTTP pass-through"), "{table}");
    }
}
