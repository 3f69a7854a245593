//! The results of a run: every figure as JSON (`--json FILE`) and as the table printed at
//! the end, each figure next to what it is compared with and its target.

use std::fmt::Write as _;

use serde::Serialize;

use super::stats::ratio;

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
}

/// The results as pretty JSON (NaN, which JSON lacks, becomes `null`).
pub(super) fn to_json(results: &BenchResults) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(results)? + "\n")
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
    if r.sdk_only {
        // Only the SDK's cost was measured: no row for the collector and the llvm pipeline
        // rather than zeros marked "MISSED".
        rows.clear();
    }
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
    }
}
