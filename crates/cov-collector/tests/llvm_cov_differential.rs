//! Differential tests of the semantics engine against the real `llvm-cov` on hand-built
//! and random region lists.
//!
//! Each case is written in LLVM's coverage "testing format" (the covmap, covfun and names
//! data that would sit in an executable's sections) plus a text profile with the counts;
//! `llvm-profdata merge` and `llvm-cov export -format=lcov` turn them into the expected
//! LCOV, and our decoders and engine read the very same bytes. This exercises region
//! sorting and combining, the segment builder and the line statistics (gap and skipped
//! regions, nesting, zero-length regions, instantiations of one location) far beyond what
//! rustc emits for the workload fixture.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use cov_collector::decode::mapping::CoverageMapping;
use cov_collector::decode::profraw::FunctionCounters;
use cov_collector::decode::sections::CoverageSections;
use cov_collector::llvm_lcov::write_lcov;
use cov_collector::{Engine, Threads, llvm_lcov::LcovSummary};
use cov_core::model::{CoverageSnapshot, SnapshotKind};
use cov_testkit::{LcovTracefile, diff_lcov, llvm_tool, run_ok};
use proptest::prelude::*;

/// Region kinds the generator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Code,
    Gap,
    Skipped,
    Branch,
    /// Expands to the function-local file id in `counter`.
    Expansion,
}

/// A hand-built region: kind, start and end, and its counter(s) as counter ids (`None` is
/// the constant zero counter).
#[derive(Clone, Debug)]
struct Region {
    /// Function-local file id.
    file_id: u32,
    kind: Kind,
    start: (u32, u32),
    end: (u32, u32),
    counter: Option<u32>,
    false_counter: Option<u32>,
}

/// A hand-built function: its regions and the values of its counters.
#[derive(Clone, Debug)]
struct Function {
    /// Translation-unit filename index of each function-local file id (1 = `src/lib.rs`,
    /// 2 = `src/macros.rs`).
    files: Vec<u64>,
    regions: Vec<Region>,
    counts: Vec<u64>,
    /// Whether the profile records another hash than the mapping (a "hash mismatch").
    mismatched: bool,
}

fn uleb(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn md5_low64(bytes: &[u8]) -> u64 {
    use md5::{Digest, Md5};
    let digest = Md5::digest(bytes);
    u64::from_le_bytes(digest[..8].try_into().unwrap())
}

fn encode_counter(counter: Option<u32>) -> u64 {
    counter.map_or(0, |id| (u64::from(id) << 2) | 1)
}

/// Encodes one function's mapping data: its file ids, no expressions, and per file id
/// its regions sorted by start.
fn encode_mapping(function: &Function) -> Vec<u8> {
    let mut out = Vec::new();
    uleb(function.files.len() as u64, &mut out);
    for &file in &function.files {
        uleb(file, &mut out);
    }
    uleb(0, &mut out); // no expressions
    for file_id in 0..function.files.len() as u32 {
        let mut regions: Vec<&Region> = function
            .regions
            .iter()
            .filter(|region| region.file_id == file_id)
            .collect();
        regions.sort_by_key(|region| region.start);
        uleb(regions.len() as u64, &mut out);
        let mut previous_line = 0;
        for region in regions {
            match region.kind {
                Kind::Code | Kind::Gap => uleb(encode_counter(region.counter), &mut out),
                Kind::Skipped => uleb(2 << 3, &mut out),
                Kind::Branch => {
                    uleb(4 << 3, &mut out);
                    uleb(encode_counter(region.counter), &mut out);
                    uleb(encode_counter(region.false_counter), &mut out);
                }
                Kind::Expansion => {
                    let expanded = u64::from(region.counter.expect("expansions name a file"));
                    uleb((expanded << 3) | 0b100, &mut out);
                }
            }
            uleb(u64::from(region.start.0 - previous_line), &mut out);
            uleb(u64::from(region.start.1), &mut out);
            uleb(u64::from(region.end.0 - region.start.0), &mut out);
            let mut column_end = u64::from(region.end.1);
            if region.kind == Kind::Gap {
                column_end |= 1 << 31;
            }
            uleb(column_end, &mut out);
            previous_line = region.start.0;
        }
    }
    out
}

fn filenames_blob() -> Vec<u8> {
    let mut body = Vec::new();
    for name in ["/fixture", "src/lib.rs", "src/macros.rs"] {
        uleb(name.len() as u64, &mut body);
        body.extend_from_slice(name.as_bytes());
    }
    let mut blob = Vec::new();
    uleb(3, &mut blob);
    uleb(body.len() as u64, &mut blob);
    uleb(0, &mut blob);
    blob.extend(body);
    blob
}

fn function_name(index: usize) -> String {
    format!("function_{index}")
}

fn function_hash(index: usize) -> u64 {
    0x1000 + index as u64
}

/// The hash the profile records for a function: the mapping's, unless mismatched.
fn profile_hash(index: usize, function: &Function) -> u64 {
    function_hash(index) ^ u64::from(function.mismatched) << 40
}

/// The three sections' contents for `functions`.
fn sections(functions: &[Function]) -> CoverageSections {
    let blob = filenames_blob();
    let mut covmap = Vec::new();
    for field in [0_u32, blob.len() as u32, 0, 6] {
        covmap.extend_from_slice(&field.to_le_bytes());
    }
    covmap.extend_from_slice(&blob);
    while covmap.len() % 8 != 0 {
        covmap.push(0);
    }
    let filenames_ref = md5_low64(&blob);
    let mut covfun = Vec::new();
    for (index, function) in functions.iter().enumerate() {
        let mapping = encode_mapping(function);
        covfun.extend_from_slice(&md5_low64(function_name(index).as_bytes()).to_le_bytes());
        covfun.extend_from_slice(&(mapping.len() as u32).to_le_bytes());
        covfun.extend_from_slice(&function_hash(index).to_le_bytes());
        covfun.extend_from_slice(&filenames_ref.to_le_bytes());
        covfun.extend(mapping);
        while covfun.len() % 8 != 0 {
            covfun.push(0);
        }
    }
    let joined = (0..functions.len())
        .map(function_name)
        .collect::<Vec<_>>()
        .join("\u{1}");
    let mut names = Vec::new();
    uleb(joined.len() as u64, &mut names);
    uleb(0, &mut names);
    names.extend_from_slice(joined.as_bytes());
    CoverageSections {
        covmap,
        covfun,
        names,
    }
}

/// LLVM's coverage testing format (version 2) holding `sections`.
fn testing_format(sections: &CoverageSections) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x6d76_6f63_6d76_6c6c_u64.to_le_bytes()); // "llvmcovm"
    out.extend_from_slice(&1_u64.to_le_bytes()); // testing format Version2
    uleb(sections.names.len() as u64, &mut out);
    uleb(0, &mut out); // names address
    out.extend_from_slice(&sections.names);
    uleb(sections.covmap.len() as u64, &mut out);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&sections.covmap);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&sections.covfun);
    out
}

/// The text profile with every function's counts.
fn text_profile(functions: &[Function]) -> String {
    let mut text = String::new();
    for (index, function) in functions.iter().enumerate() {
        text.push_str(&format!(
            "{}\n{}\n{}\n",
            function_name(index),
            profile_hash(index, function),
            function.counts.len()
        ));
        for count in &function.counts {
            text.push_str(&format!("{count}\n"));
        }
        text.push('\n');
    }
    text
}

/// `llvm-cov export -format=lcov` for `functions`.
fn oracle(functions: &[Function], dir: &Path) -> String {
    let covmapping = dir.join("case.covmapping");
    let proftext = dir.join("case.proftext");
    let profdata = dir.join("case.profdata");
    std::fs::write(&covmapping, testing_format(&sections(functions))).unwrap();
    std::fs::write(&proftext, text_profile(functions)).unwrap();
    run_ok(
        Command::new(llvm_tool("llvm-profdata"))
            .args(["merge", "-sparse", "-o"])
            .arg(&profdata)
            .arg(&proftext),
    );
    run_ok(
        Command::new(llvm_tool("llvm-cov"))
            .args(["export", "-format=lcov", "-instr-profile"])
            .arg(&profdata)
            .arg(&covmapping),
    )
}

/// Our LCOV for `functions`, decoded from the same bytes.
fn ours(functions: &[Function]) -> String {
    let mapping = CoverageMapping::decode(&sections(functions)).expect("decoding our own encoding");
    let mut counters = Vec::new();
    let mut records = Vec::new();
    for (index, function) in functions.iter().enumerate() {
        let start = counters.len();
        counters.extend_from_slice(&function.counts);
        records.push(FunctionCounters {
            name_ref: md5_low64(function_name(index).as_bytes()),
            func_hash: profile_hash(index, function),
            counters: start..counters.len(),
        });
    }
    let engine = Engine::new(mapping, &records, Threads::One);
    let counts = engine.evaluate(&counters);
    let mut snapshot = CoverageSnapshot::new(SnapshotKind::Baseline);
    let mut summaries: BTreeMap<String, LcovSummary> = BTreeMap::new();
    for file in engine.covered_files() {
        if !engine.is_reported(file, &counts) {
            continue;
        }
        let path = engine.path(file).to_owned();
        snapshot
            .files
            .insert(path.clone(), engine.file_coverage(file, &counts));
        summaries.insert(path, engine.file_summary(file, &counts));
    }
    write_lcov(&snapshot, Some(&summaries))
}

fn assert_matches_llvm_cov(functions: &[Function]) {
    let dir = tempfile::tempdir().unwrap();
    let expected = oracle(functions, dir.path());
    let actual = ours(functions);
    let diff = diff_lcov(
        &LcovTracefile::parse(&expected),
        &LcovTracefile::parse(&actual),
    );
    assert!(
        diff.is_empty(),
        "engine differs from llvm-cov for {functions:#?}\n{diff}\nexpected:\n{expected}\nactual:\n{actual}"
    );
}

fn code(start: (u32, u32), end: (u32, u32), counter: u32) -> Region {
    Region {
        file_id: 0,
        kind: Kind::Code,
        start,
        end,
        counter: Some(counter),
        false_counter: None,
    }
}

fn gap(start: (u32, u32), end: (u32, u32), counter: u32) -> Region {
    Region {
        kind: Kind::Gap,
        ..code(start, end, counter)
    }
}

fn skipped(start: (u32, u32), end: (u32, u32)) -> Region {
    Region {
        kind: Kind::Skipped,
        counter: None,
        ..code(start, end, 0)
    }
}

fn branch(
    start: (u32, u32),
    end: (u32, u32),
    on_true: Option<u32>,
    on_false: Option<u32>,
) -> Region {
    Region {
        file_id: 0,
        kind: Kind::Branch,
        start,
        end,
        counter: on_true,
        false_counter: on_false,
    }
}

#[test]
fn nested_regions_with_a_gap_line() {
    // fn f() {            line 1..9
    //     if c {          line 2: condition, then-block 2:10..4:6
    //         a();
    //     }               gap 4:6..5:5 with the then-count
    //     b();
    // }
    assert_matches_llvm_cov(&[Function {
        files: vec![1],
        regions: vec![
            code((1, 1), (9, 2), 0),
            code((2, 10), (4, 6), 1),
            gap((4, 6), (5, 5), 1),
            code((5, 5), (8, 2), 2),
        ],
        counts: vec![5, 3, 5],
        mismatched: false,
    }]);
}

#[test]
fn skipped_region_and_zero_length_regions() {
    assert_matches_llvm_cov(&[Function {
        files: vec![1],
        regions: vec![
            code((1, 1), (10, 2), 0),
            skipped((3, 1), (5, 1)),
            code((6, 4), (6, 4), 1),
            code((7, 1), (7, 9), 1),
        ],
        counts: vec![2, 0],
        mismatched: false,
    }]);
}

#[test]
fn instantiations_of_one_location_are_summed() {
    let instance = |counts: Vec<u64>| Function {
        files: vec![1],
        regions: vec![
            code((1, 1), (6, 2), 0),
            code((3, 5), (4, 6), 1),
            branch((2, 8), (2, 14), Some(1), Some(2)),
        ],
        counts,
        mismatched: false,
    };
    assert_matches_llvm_cov(&[
        instance(vec![4, 1, 3]),
        instance(vec![0, 0, 0]),
        instance(vec![2, 2, 0]),
    ]);
}

#[test]
fn unexecuted_and_folded_branches() {
    assert_matches_llvm_cov(&[Function {
        files: vec![1],
        regions: vec![
            code((1, 1), (8, 2), 0),
            branch((2, 8), (2, 14), Some(1), Some(2)),
            branch((2, 18), (2, 24), Some(1), None),
            branch((5, 8), (5, 14), None, None),
            branch((6, 8), (6, 14), Some(3), Some(3)),
        ],
        counts: vec![1, 0, 0, 0],
        mismatched: false,
    }]);
}

/// A random region of file id `file_id` starting on one of `lines`, columns 1..=9.
fn region_strategy(
    num_counters: u32,
    file_id: u32,
    lines: std::ops::RangeInclusive<u32>,
) -> impl Strategy<Value = Region> {
    (
        0..10_u8,
        lines,
        1..=9_u32,
        0..=3_u32,
        1..=9_u32,
        0..num_counters,
        proptest::option::weighted(0.8, 0..num_counters),
    )
        .prop_map(
            move |(kind, line, column, lines, end_column, counter, false_counter)| {
                let kind = match kind {
                    0..=5 => Kind::Code,
                    6 | 7 => Kind::Gap,
                    8 => Kind::Skipped,
                    _ => Kind::Branch,
                };
                let start = (line, column);
                let mut end = (line + lines, end_column);
                if end < start {
                    end = start;
                }
                Region {
                    file_id,
                    kind,
                    start,
                    end,
                    counter: (kind != Kind::Skipped).then_some(counter),
                    false_counter: if kind == Kind::Branch {
                        false_counter
                    } else {
                        None
                    },
                }
            },
        )
}

fn function_strategy() -> impl Strategy<Value = Function> {
    (1..=4_u32).prop_flat_map(|num_counters| {
        (
            // The first region is the function body, like every compiler emits.
            proptest::collection::vec(region_strategy(num_counters, 0, 1..=12), 0..8),
            proptest::collection::vec(0..4_u64, num_counters as usize),
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(mut regions, counts, mismatched)| {
                regions.insert(0, code((1, 1), (14, 2), 0));
                Function {
                    files: vec![1],
                    regions,
                    counts,
                    mismatched,
                }
            })
    })
}

/// A function that expands a macro (file id 1) which may expand another (file id 2); each
/// macro lives in `src/lib.rs` or `src/macros.rs`.
fn macro_function_strategy() -> impl Strategy<Value = Function> {
    (1..=4_u32).prop_flat_map(|num_counters| {
        (
            proptest::collection::vec(region_strategy(num_counters, 0, 1..=12), 0..5),
            proptest::collection::vec(region_strategy(num_counters, 1, 20..=25), 0..5),
            proptest::collection::vec(region_strategy(num_counters, 2, 30..=33), 0..4),
            (2..=12_u32, 1..=6_u32, 20..=25_u32, 1..=6_u32),
            (1..=2_u64, 1..=2_u64, any::<bool>()),
            proptest::collection::vec(0..4_u64, num_counters as usize),
            0..num_counters,
        )
            .prop_map(
                |(
                    mut main,
                    mut first,
                    mut second,
                    sites,
                    (file1, file2, nested),
                    counts,
                    counter,
                )| {
                    let (site_line, site_column, nested_line, nested_column) = sites;
                    let mut regions = vec![code((1, 1), (14, 2), 0)];
                    regions.append(&mut main);
                    regions.push(Region {
                        file_id: 0,
                        kind: Kind::Expansion,
                        start: (site_line, site_column),
                        end: (site_line, site_column + 8),
                        counter: Some(1),
                        false_counter: None,
                    });
                    // The expanded file starts with a code region, as compilers emit.
                    regions.push(Region {
                        file_id: 1,
                        ..code((20, 1), (26, 2), counter)
                    });
                    regions.append(&mut first);
                    let mut files = vec![1, file1];
                    if nested {
                        regions.push(Region {
                            file_id: 1,
                            kind: Kind::Expansion,
                            start: (nested_line, nested_column),
                            end: (nested_line, nested_column + 5),
                            counter: Some(2),
                            false_counter: None,
                        });
                        regions.push(Region {
                            file_id: 2,
                            ..code((30, 1), (34, 2), counter)
                        });
                        regions.append(&mut second);
                        files.push(file2);
                    }
                    Function {
                        files,
                        regions,
                        counts,
                        mismatched: false,
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_region_lists_match_llvm_cov(functions in proptest::collection::vec(function_strategy(), 1..=3)) {
        assert_matches_llvm_cov(&functions);
    }

    #[test]
    fn random_macro_expansions_match_llvm_cov(
        functions in proptest::collection::vec(prop_oneof![function_strategy(), macro_function_strategy()], 1..=3)
    ) {
        assert_matches_llvm_cov(&functions);
    }
}

#[test]
fn a_false_counter_beyond_the_profile_drops_the_function_unless_it_has_no_data() {
    // The branch's false counter (2) does not exist in a two-counter profile record, so
    // llvm-cov cannot evaluate the function and leaves it out; with all counts zero the
    // record is dropped by `merge -sparse` and the function shows as unexecuted.
    let function = |counts: Vec<u64>| Function {
        files: vec![1],
        regions: vec![
            code((1, 1), (6, 2), 0),
            code((3, 5), (4, 6), 1),
            branch((2, 8), (2, 14), Some(1), Some(2)),
        ],
        counts,
        mismatched: false,
    };
    assert_matches_llvm_cov(&[function(vec![1, 0])]);
    assert_matches_llvm_cov(&[function(vec![0, 0])]);
    assert_matches_llvm_cov(&[function(vec![0, 0, 0]), function(vec![2, 1])]);
}

#[test]
fn hash_mismatches_hide_a_function_only_while_its_name_has_counts() {
    let function = |counts: Vec<u64>, mismatched: bool| Function {
        files: vec![1],
        regions: vec![code((1, 1), (4, 2), 0), code((2, 5), (3, 6), 1)],
        counts,
        mismatched,
    };
    assert_matches_llvm_cov(&[function(vec![3, 1], true), function(vec![1, 0], false)]);
    assert_matches_llvm_cov(&[function(vec![0, 0], true), function(vec![1, 0], false)]);
}
