//! The engine answers every query, whatever mapping it is given: random mappings (cyclic
//! expressions and expansions, counters a record does not have, branch-only functions,
//! records that disagree) never make it panic, and its whole-program, per-file and batch
//! evaluations agree. The decoders' robustness checks live in `tests/reliability`; this
//! property is the engine's, over structured mappings rather than bytes.

use cov_collector::decode::mapping::{
    Counter, CoverageMapping, Expression, ExpressionKind, FunctionMapping, MappingRegion,
    RegionKind,
};
use cov_collector::decode::profraw::FunctionCounters;
use cov_collector::{Engine, Threads};
use proptest::prelude::*;

/// A random counter: zero, a counter id or an expression id, possibly out of range.
fn counter_strategy() -> impl Strategy<Value = Counter> {
    prop_oneof![
        Just(Counter::Zero),
        (0_u32..6).prop_map(Counter::Counter),
        (0_u32..4).prop_map(Counter::Expression),
    ]
}

fn region_strategy() -> impl Strategy<Value = MappingRegion> {
    (
        prop_oneof![
            Just(RegionKind::Code),
            Just(RegionKind::Expansion),
            Just(RegionKind::Skipped),
            Just(RegionKind::Gap),
            Just(RegionKind::Branch),
            Just(RegionKind::McdcDecision),
            Just(RegionKind::McdcBranch),
        ],
        counter_strategy(),
        counter_strategy(),
        (0_u32..3, 0_u32..3),
        (0_u32..20, 0_u32..12, 0_u32..4, 0_u32..12),
    )
        .prop_map(
            |(
                kind,
                count,
                false_count,
                (file_id, expanded_file_id),
                (line, column, lines, end_column),
            )| {
                MappingRegion {
                    kind,
                    count,
                    false_count,
                    file_id,
                    expanded_file_id,
                    line_start: line,
                    column_start: column,
                    line_end: line + lines,
                    column_end: if lines == 0 {
                        column.max(end_column)
                    } else {
                        end_column
                    },
                }
            },
        )
}

/// A function's mapping, owned (a [`FunctionMapping`] borrows from its mapping).
#[derive(Clone, Debug)]
struct OwnedFunction {
    name: String,
    name_ref: u64,
    func_hash: u64,
    files: Vec<u32>,
    expressions: Vec<Expression>,
    regions: Vec<MappingRegion>,
}

impl OwnedFunction {
    fn view(&self) -> FunctionMapping<'_> {
        FunctionMapping {
            name: &self.name,
            name_ref: self.name_ref,
            func_hash: self.func_hash,
            files: &self.files,
            expressions: &self.expressions,
            regions: &self.regions,
        }
    }
}

fn function_mapping_strategy(index: u64) -> impl Strategy<Value = OwnedFunction> {
    (
        proptest::collection::vec(0_u32..3, 0..3),
        proptest::collection::vec(
            (any::<bool>(), counter_strategy(), counter_strategy()).prop_map(|(add, lhs, rhs)| {
                Expression {
                    kind: if add {
                        ExpressionKind::Add
                    } else {
                        ExpressionKind::Subtract
                    },
                    lhs,
                    rhs,
                }
            }),
            0..4,
        ),
        proptest::collection::vec(region_strategy(), 0..10),
        0_u64..3,
    )
        .prop_map(move |(files, expressions, regions, hash)| {
            let num_files = files.len() as u32;
            OwnedFunction {
                name: format!("f{index}"),
                name_ref: index,
                func_hash: hash,
                files,
                expressions,
                // Decoded regions always name existing file ids.
                regions: regions
                    .into_iter()
                    .filter(|region| {
                        region.file_id < num_files && region.expanded_file_id < num_files
                    })
                    .collect(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever a mapping decodes to (cyclic expressions or expansions, counters a record
    /// does not have, branch-only functions, records that disagree), the engine answers
    /// every query without panicking.
    #[test]
    fn the_engine_never_panics_on_strange_mappings(
        functions in (0_u64..4).prop_flat_map(|n| {
            (0..n).map(function_mapping_strategy).collect::<Vec<_>>()
        }),
        records in proptest::collection::vec((0_u64..5, 0_u64..3, 0_usize..12, 1_usize..5), 0..6),
        counters in proptest::collection::vec(0_u64..3, 0..16),
    ) {
        let mut mapping = CoverageMapping::default();
        mapping.files = vec!["/a.rs".to_owned(), "/b.rs".to_owned(), "/c.rs".to_owned()];
        for function in &functions {
            mapping.push_function(function.view());
        }
        let records: Vec<FunctionCounters> = records
            .into_iter()
            .map(|(name_ref, func_hash, start, len)| FunctionCounters {
                name_ref,
                func_hash,
                counters: start..start + len,
            })
            .collect();
        let engine = Engine::new(mapping.clone(), &records, Threads::One);
        // The whole-program engine (work spread over threads) and the evaluate-once
        // queries agree with the ones of each file evaluated on its own.
        let whole = Engine::new(mapping, &records, Threads::All);
        let counts = whole.evaluate(&counters);
        let file_counts = |file| engine.evaluate_files(&[file], &counters);
        // A snapshot's batch evaluation of some files agrees as well.
        let some_files: Vec<_> = engine.covered_files().into_iter().step_by(2).collect();
        let some_counts = engine.evaluate_files(&some_files, &counters);
        for &file in &some_files {
            prop_assert_eq!(
                engine.file_coverage(file, &some_counts),
                engine.file_coverage(file, &file_counts(file))
            );
        }
        prop_assert_eq!(whole.covered_files(), engine.covered_files());
        for file in engine.covered_files() {
            let own_counts = file_counts(file);
            let coverage = engine.file_coverage(file, &own_counts);
            let summary = engine.file_summary(file, &own_counts);
            let order = engine.function_order(file, &own_counts);
            let reported = engine.is_reported(file, &own_counts);
            prop_assert!(coverage.lines.keys().all(|&line| line <= 24));
            prop_assert_eq!(whole.is_reported(file, &counts), reported);
            let report = whole.file_report(file, &counts);
            prop_assert_eq!(&report.coverage, &coverage);
            prop_assert_eq!(report.summary, summary);
            let names: Vec<&str> = report
                .function_order
                .iter()
                .map(|&index| coverage.functions[index as usize].name.as_str())
                .collect();
            prop_assert_eq!(names, order.iter().map(String::as_str).collect::<Vec<_>>());
        }
        // A record names only files llvm-cov lists, and nothing past the last record.
        let covered = engine.covered_files();
        for record in 0..records.len() {
            prop_assert!(engine.record_files(record).iter().all(|file| covered.contains(file)));
        }
        prop_assert!(engine.record_files(records.len()).is_empty());
    }
}
