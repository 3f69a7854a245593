//! Corrupted inputs give errors and never panic: property tests over every decoder, fed
//! with random bytes and with real sections of the workload fixture that are truncated,
//! bit-flipped or carry wrong versions; plus a stripped and an uninstrumented binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cov_collector::decode::covfun::{decode_function_records, decode_regions};
use cov_collector::decode::covmap::decode_covmap;
use cov_collector::decode::mapping::{
    Counter, CoverageMapping, Expression, ExpressionKind, FunctionMapping, MappingRegion,
    RegionKind,
};
use cov_collector::decode::names::decode_names;
use cov_collector::decode::profraw::{
    CounterArray, DataRecord, LAYOUTS, RawProfile, SUPPORTED_VERSIONS, decode_data_records,
};
use cov_collector::decode::sections::CoverageSections;
use cov_collector::{Engine, MappingError, ProfileError, Threads};
use cov_testkit::relayout::{Relayout, relayout_profile};
use cov_testkit::{BuildOptions, build_instrumented, llvm_tool, run_instrumented};
use proptest::prelude::*;

/// The workload fixture's binary, its sections and one profile of it, built once.
struct Fixture {
    binary: PathBuf,
    sections: CoverageSections,
    profraw: Vec<u8>,
    /// The same profile re-laid as every supported version, with non-zero padding and
    /// (version 11) uniform counters.
    every_version: Vec<Vec<u8>>,
    _run: cov_testkit::ProfileRun,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let binary = build_instrumented(
            "workload",
            "workload",
            &BuildOptions {
                release: false,
                branch: true,
            },
        );
        let sections = CoverageSections::read(&binary).expect("fixture sections");
        let run = run_instrumented(&binary, &["all"]);
        let profraw = std::fs::read(run.profraw()).expect("reading the fixture profile");
        let every_version = LAYOUTS
            .iter()
            .map(|layout| relayout_profile(&profraw, &Relayout::padded(layout.version)))
            .collect();
        Fixture {
            binary,
            sections,
            profraw,
            every_version,
            _run: run,
        }
    })
}

/// Decodes a mapping and, when that works, builds the engine and computes every file:
/// the whole offline pipeline must survive whatever the decoders accept.
fn decode_everything(sections: &CoverageSections, profraw: &[u8]) {
    let Ok(mapping) = CoverageMapping::decode(sections) else {
        return;
    };
    let (records, counters) = match RawProfile::decode(profraw) {
        Ok(profile) => (profile.records, profile.counters),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let engine = Engine::new(mapping, &records, Threads::One);
    let counts = engine.evaluate(&counters);
    for file in engine.covered_files() {
        let _ = engine.file_coverage(file, &counts);
        let _ = engine.file_summary(file, &counts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_covmap(&bytes);
        let _ = decode_names(&bytes);
        let _ = RawProfile::decode(&bytes);
        let _ = decode_regions(&bytes, 3);
        if let Ok(records) = decode_function_records(&bytes) {
            for (_, data) in records {
                let _ = decode_regions(data, 2);
            }
        }
        let _ = CoverageSections::from_object_bytes(&bytes, Path::new("random"));
        for layout in &LAYOUTS {
            let counters = CounterArray { address: 0x2000, len: 16 };
            let uniform = CounterArray { address: 0x3000, len: 16 };
            let _ = decode_data_records(&layout.record, &bytes, 0x1000, counters, Some(uniform));
            let _ = decode_data_records(&layout.record, &bytes, 0x1000, counters, None);
        }
    }

    #[test]
    fn truncated_covfun_is_an_error_or_a_prefix(cut in 0_usize..1_000_000) {
        let fixture = fixture();
        let mut sections = fixture.sections.clone();
        let cut = cut % sections.covfun.len();
        sections.covfun.truncate(cut);
        match CoverageMapping::decode(&sections) {
            Ok(mapping) => {
                // Only a cut between records can decode, and then to fewer functions.
                let full = CoverageMapping::decode(&fixture.sections).unwrap();
                prop_assert!(mapping.num_functions() < full.num_functions() || cut == 0);
            }
            Err(error) => {
                let is_expected = matches!(error, MappingError::Truncated { .. } | MappingError::Malformed { .. });
                prop_assert!(is_expected, "{}", error);
            }
        }
        decode_everything(&sections, &fixture.profraw);
    }

    #[test]
    fn flipped_bytes_never_panic(
        section in 0_usize..4,
        version_idx in 0_usize..LAYOUTS.len(),
        flips in proptest::collection::vec((0_usize..1_000_000, any::<u8>()), 1..8),
    ) {
        let fixture = fixture();
        let mut sections = fixture.sections.clone();
        let mut profraw = fixture.every_version[version_idx].clone();
        let target: &mut Vec<u8> = match section {
            0 => &mut sections.covmap,
            1 => &mut sections.covfun,
            2 => &mut sections.names,
            _ => &mut profraw,
        };
        for (at, value) in flips {
            let len = target.len();
            target[at % len] ^= value | 1;
        }
        decode_everything(&sections, &profraw);
    }

    #[test]
    fn unknown_covmap_versions_are_named(version in any::<u32>().prop_filter("not Version7", |v| *v != 6)) {
        let mut sections = fixture().sections.clone();
        sections.covmap[12..16].copy_from_slice(&version.to_le_bytes());
        match CoverageMapping::decode(&sections) {
            Err(MappingError::UnsupportedVersion { encoded }) => prop_assert_eq!(encoded, version),
            other => prop_assert!(false, "expected an unsupported version error, got {:?}", other),
        }
        let message = CoverageMapping::decode(&sections).unwrap_err().to_string();
        prop_assert!(message.contains(&version.to_string()), "{}", message);
    }

    #[test]
    fn unknown_raw_profile_versions_are_named_with_the_supported_range(
        version in any::<u32>().prop_filter("not 9 to 11", |v| !(9..=11).contains(v)),
        version_idx in 0_usize..LAYOUTS.len(),
    ) {
        let mut profraw = fixture().every_version[version_idx].clone();
        profraw[8..12].copy_from_slice(&version.to_le_bytes());
        let error = RawProfile::decode(&profraw).expect_err("an unknown version");
        prop_assert!(
            matches!(error, ProfileError::UnsupportedVersion { version: found } if found == u64::from(version)),
            "expected an unsupported version error, got {:?}", error
        );
        prop_assert_eq!(
            error.to_string(),
            format!("raw profile version {version}: this SDK reads {SUPPORTED_VERSIONS}")
        );
    }

    #[test]
    fn truncated_profiles_are_errors(cut in 0_usize..1_000_000, version_idx in 0_usize..LAYOUTS.len()) {
        let profraw = &fixture().every_version[version_idx];
        // Everything up to the end of the names is needed; padding after it is not.
        let profile = RawProfile::decode(profraw).unwrap();
        let (header, layout) = (profile.header, profile.layout().unwrap());
        let needed = layout.header_size() as u64
            + header.binary_ids_size
            + header.num_data * layout.record.size as u64
            + header.padding_before_counters
            + header.num_counters * 8
            + header.padding_after_counters
            + header.num_bitmap_bytes
            + header.padding_after_bitmap
            + header.num_uniform_counters * 8
            + header.padding_after_uniform_counters
            + header.names_size;
        let cut = cut % needed as usize;
        prop_assert!(RawProfile::decode(&profraw[..cut]).is_err());
    }

    #[test]
    fn every_version_decodes_to_the_same_records_and_counters(version_idx in 0_usize..LAYOUTS.len()) {
        let fixture = fixture();
        let original = RawProfile::decode(&fixture.profraw).unwrap();
        let relaid = RawProfile::decode(&fixture.every_version[version_idx]).unwrap();
        prop_assert_eq!(relaid.header.format_version(), LAYOUTS[version_idx].version);
        prop_assert_eq!(relaid.records, original.records);
        prop_assert_eq!(relaid.counters, original.counters);
    }
}

#[test]
fn the_fixture_profile_decodes_and_binds_every_record() {
    let fixture = fixture();
    let profile = RawProfile::decode(&fixture.profraw).expect("decoding the fixture profile");
    assert!(!profile.records.is_empty());
    let mapping = CoverageMapping::decode(&fixture.sections).unwrap();
    for record in &profile.records {
        assert!(
            mapping
                .functions()
                .any(|function| function.name_ref == record.name_ref
                    && function.func_hash == record.func_hash),
            "record {record:?} has no mapping"
        );
        assert!(record.counters.end <= profile.counters.len());
    }
    let names = profile.names().expect("decoding the profile's names");
    assert!(names.iter().any(|name| name.contains("workload")));
}

#[test]
fn a_stripped_binary_names_the_missing_section() {
    let fixture = fixture();
    let dir = tempfile::tempdir().unwrap();
    let stripped = dir.path().join("stripped");
    let status = Command::new(llvm_tool("llvm-strip"))
        .arg("-o")
        .arg(&stripped)
        .arg(&fixture.binary)
        .status()
        .expect("running llvm-strip");
    assert!(status.success());
    let error = CoverageMapping::from_executable(&stripped).unwrap_err();
    assert!(
        matches!(
            error,
            MappingError::MissingSection {
                section: "__llvm_covmap",
                ..
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("__llvm_covmap") && message.contains("-C instrument-coverage"),
        "{message}"
    );
}

#[test]
fn an_uninstrumented_binary_names_the_missing_section() {
    // This test's own executable is built without instrumentation.
    let me = std::env::current_exe().unwrap();
    let error = CoverageMapping::from_executable(&me).unwrap_err();
    assert!(
        matches!(error, MappingError::MissingSection { .. }),
        "{error}"
    );
}

#[test]
fn not_an_object_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text");
    std::fs::write(&path, "hello").unwrap();
    assert!(matches!(
        CoverageMapping::from_executable(&path),
        Err(MappingError::Object { .. })
    ));
    assert!(matches!(
        CoverageMapping::from_executable(Path::new("/nonexistent/binary")),
        Err(MappingError::Io { .. })
    ));
}

#[test]
fn data_records_bind_only_matching_hashes() {
    // A record with the right name but another hash is a "hash mismatch": llvm-cov leaves
    // the function out entirely rather than showing it as unexecuted.
    let fixture = fixture();
    let mapping = CoverageMapping::decode(&fixture.sections).unwrap();
    let profile = RawProfile::decode(&fixture.profraw).unwrap();
    // A record that ran: with all-zero counters `llvm-profdata merge -sparse` would drop
    // the name and llvm-cov would show the function as unexecuted instead.
    let target = profile
        .records
        .iter()
        .find(|record| {
            profile.counters[record.counters.clone()]
                .iter()
                .any(|&c| c > 0)
        })
        .expect("some function ran");
    let records: Vec<DataRecord> = profile
        .records
        .iter()
        .map(|record| DataRecord {
            func_hash: if record == target {
                record.func_hash ^ 1
            } else {
                record.func_hash
            },
            ..record.clone()
        })
        .collect();
    let full = Engine::new(mapping.clone(), &profile.records, Threads::One);
    let mismatched = Engine::new(mapping.clone(), &records, Threads::One);
    let name = mapping
        .functions()
        .find(|function| function.name_ref == target.name_ref)
        .unwrap()
        .name;
    let has_function = |engine: &Engine| {
        let counts = engine.evaluate(&profile.counters);
        engine.covered_files().into_iter().any(|file| {
            engine
                .file_coverage(file, &counts)
                .functions
                .iter()
                .any(|function| function.name == name)
        })
    };
    assert!(has_function(&full));
    assert!(!has_function(&mismatched));
}

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
        let records: Vec<DataRecord> = records
            .into_iter()
            .map(|(name_ref, func_hash, start, len)| DataRecord {
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
