//! Large-count property tests over every decoder: the short variant of `cargo xtask fuzz`,
//! run by `cargo xtask test`.
//!
//! Each decoder gets two kinds of input: arbitrary bytes, and real seeds (sections and a
//! profile of the instrumented `workload` fixture, real protocol frames) with a few
//! mutations (flipped bytes, truncation, inserted bytes, interesting 32-bit values written
//! over lengths and counts). The checks themselves live in `cov_reliability::checks`,
//! shared with the fuzz targets: besides the checks over bytes, real sections and profiles
//! of every version cut at any byte or carrying any other version number.
//! `PROPTEST_CASES` scales every test.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use cov_collector::decode::profraw::LAYOUTS;
use cov_collector::decode::sections::CoverageSections;
use cov_reliability::checks;
use cov_reliability::seeds::Material;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per test for arbitrary bytes; cheap, so many.
const RANDOM_CASES: u32 = 4096;
/// Cases per test for mutated real seeds (each decodes a whole real section).
const SEED_CASES: u32 = 2048;

/// Proptest's settings: `cases` per test, failures kept next to this file (the default
/// location needs a `lib.rs` beside the test).
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/decoders.proptest-regressions",
        ))),
        ..Config::default()
    }
}

fn material() -> &'static Material {
    static MATERIAL: OnceLock<Material> = OnceLock::new();
    MATERIAL.get_or_init(Material::from_workload)
}

/// One edit of a seed.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        bits: u8,
    },
    Truncate {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Remove {
        at: usize,
        len: usize,
    },
    /// Overwrites four bytes with a value that often breaks length and count checks.
    Interesting {
        at: usize,
        value: u32,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Positions are fractions of the length, so they fit any seed.
    let at = any::<usize>();
    prop_oneof![
        4 => (at, 1_u8..).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        1 => (at, vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at, 1_usize..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        2 => (
            at,
            prop::sample::select(vec![
                0_u32,
                1,
                0x7f,
                0x80,
                0xff,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                0xffff_fff0,
            ])
        )
            .prop_map(|(at, value)| Mutation::Interesting { at, value }),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for mutation in mutations {
        if data.is_empty() {
            break;
        }
        let position = |at: usize| at % data.len();
        match mutation {
            Mutation::Flip { at, bits } => {
                let at = position(*at);
                data[at] ^= bits;
            }
            Mutation::Truncate { at } => data.truncate(position(*at)),
            Mutation::Insert { at, bytes } => {
                let at = position(*at);
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Remove { at, len } => {
                let at = position(*at);
                let end = (at + len).min(data.len());
                data.drain(at..end);
            }
            Mutation::Interesting { at, value } => {
                let at = position(*at);
                let end = (at + 4).min(data.len());
                data[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
        }
    }
    data
}

/// The seeds of every target, made once (some take a re-layout or an `llvm-objcopy` run).
fn seeds(target: &str) -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<HashMap<&str, Vec<Vec<u8>>>> = OnceLock::new();
    let seeds = SEEDS.get_or_init(|| {
        cov_reliability::seeds::TARGETS
            .into_iter()
            .map(|target| (target, material().seeds(target)))
            .collect()
    });
    &seeds[target]
}

/// A seed of `target` (picked by `pick`) with `mutations` applied.
fn mutated(target: &str, pick: usize, mutations: &[Mutation]) -> Vec<u8> {
    let seeds = seeds(target);
    apply(&seeds[pick % seeds.len()], mutations)
}

#[test]
fn unmutated_seeds_decode() {
    // The seeds must be valid, or the mutations would only ever test error paths.
    let material = material();
    let mapping = cov_collector::CoverageMapping::decode(&material.sections)
        .expect("the workload's mapping decodes");
    assert!(mapping.num_functions() > 10, "a real mapping has functions");
    let profile = cov_collector::RawProfile::decode(&material.profraw)
        .expect("the workload's profile decodes");
    assert!(!profile.functions.is_empty());
    let versions: Vec<u32> = profiles()
        .iter()
        .map(|profraw| {
            let relaid = cov_collector::RawProfile::decode(profraw)
                .expect("every version of the workload's profile decodes");
            assert_eq!(relaid.functions, profile.functions);
            assert_eq!(relaid.counters, profile.counters);
            relaid.header.format_version()
        })
        .collect();
    assert_eq!(versions, [9, 10, 11], "seeds of every supported version");
    // Every record of the profile has the mapping of the same name and hash.
    for record in &profile.functions {
        assert!(
            mapping
                .functions()
                .any(|function| function.name_ref == record.name_ref
                    && function.func_hash == record.func_hash),
            "record {record:?} has no mapping"
        );
    }
    let names = profile.names().expect("the profile's names decode");
    assert!(names.iter().any(|name| name.contains("workload")));
    let object = &seeds("object")[0];
    assert_eq!(
        CoverageSections::from_object_bytes(object, Path::new("seed"))
            .expect("the object seed has the three sections"),
        material.sections,
        "the object seed holds the workload's sections"
    );
    for target in cov_reliability::seeds::TARGETS {
        for seed in seeds(target) {
            match target {
                "object" => checks::object(seed),
                "covmap" => checks::covmap(seed),
                "covfun" => checks::covfun(seed),
                "names" => checks::names(seed),
                "profraw" => checks::profraw(seed),
                "offline" => checks::offline(seed),
                "frames" => checks::frames(seed),
                "messages" => checks::messages(seed),
                other => panic!("a seed for an unknown target {other}"),
            }
        }
    }
    let (frames, mid_frame) = checks::reference_frames(&seeds("frames")[0][3..], 1023);
    assert_eq!(frames.len(), 5, "the seed stream holds five frames");
    assert!(!mid_frame);
}

/// Every check over bytes is a fuzz target of `fuzz/`, calling that check and nothing else.
#[test]
fn every_check_is_a_fuzz_target() {
    let fuzz = cov_testkit::workspace_root().join("fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    assert_eq!(
        manifest.matches("[[bin]]").count(),
        cov_reliability::seeds::TARGETS.len(),
        "one fuzz target per check"
    );
    for target in cov_reliability::seeds::TARGETS {
        assert!(
            manifest.contains(&format!(
                "name = \"{target}\"\npath = \"fuzz_targets/{target}.rs\""
            )),
            "no [[bin]] for {target} in fuzz/Cargo.toml"
        );
        let source = std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{target}.rs")))
            .unwrap_or_else(|error| panic!("fuzz_targets/{target}.rs: {error}"));
        assert!(
            source.contains(&format!(
                "|data: &[u8]| cov_reliability::checks::{target}(data)"
            )),
            "fuzz_targets/{target}.rs does not call checks::{target}"
        );
    }
}

/// The workload's profile in every supported version.
fn profiles() -> &'static [Vec<u8>] {
    // The profraw target's seeds are exactly those.
    seeds("profraw")
}

/// A version number other than `supported` (LLVM's encodings the decoders know), often a
/// near one.
fn other_version(supported: Vec<u32>) -> impl Strategy<Value = u32> {
    prop_oneof![0_u32..16, any::<u32>()].prop_filter("a supported version", move |version| {
        !supported.contains(version)
    })
}

proptest! {
    #![proptest_config(config(SEED_CASES))]

    /// The workload's `__llvm_covfun` cut at any byte.
    #[test]
    fn covfun_cut_anywhere(cut in any::<usize>()) {
        checks::covfun_prefix(&material().sections, cut);
    }

    /// Any mapping version but Version7 (encoded 6), in the workload's sections.
    #[test]
    fn mapping_versions_other_than_7(version in other_version(vec![6])) {
        checks::unknown_mapping_version(&material().sections, version);
    }

    /// A profile of every supported version cut at any byte before the end of its names.
    #[test]
    fn profiles_cut_anywhere(pick in any::<usize>(), cut in any::<usize>()) {
        checks::profile_prefix(&profiles()[pick % profiles().len()], cut);
    }

    /// A profile of every supported version announcing any other version.
    #[test]
    fn profile_versions_other_than_9_to_11(
        pick in any::<usize>(),
        version in other_version(LAYOUTS.iter().map(|layout| layout.version).collect()),
    ) {
        checks::unknown_profile_version(&profiles()[pick % profiles().len()], version);
    }
}

proptest! {
    #![proptest_config(config(RANDOM_CASES))]

    #[test]
    fn object_any_bytes(data in vec(any::<u8>(), 0..512)) {
        checks::object(&data);
    }

    #[test]
    fn covmap_any_bytes(data in vec(any::<u8>(), 0..512)) {
        checks::covmap(&data);
    }

    #[test]
    fn covfun_any_bytes(data in vec(any::<u8>(), 0..512)) {
        checks::covfun(&data);
    }

    #[test]
    fn names_any_bytes(data in vec(any::<u8>(), 0..512)) {
        checks::names(&data);
    }

    #[test]
    fn profraw_any_bytes(data in vec(any::<u8>(), 0..1024)) {
        checks::profraw(&data);
    }

    #[test]
    fn offline_any_bytes(data in vec(any::<u8>(), 0..1024)) {
        checks::offline(&data);
    }

    #[test]
    fn frames_any_bytes(data in vec(any::<u8>(), 0..2048)) {
        checks::frames(&data);
    }

    #[test]
    fn messages_any_bytes(data in vec(any::<u8>(), 0..2048)) {
        checks::messages(&data);
    }

    /// Streams made of well-formed frames (some oversized) with protobuf-looking payloads,
    /// so the framing reaches every state far more often than with random bytes.
    #[test]
    fn frames_of_arbitrary_lengths(
        max_frame_len in 0_u16..1024,
        chunk_size in 0_u8..64,
        payloads in vec(vec(any::<u8>(), 0..1500), 0..8),
        cut in any::<usize>(),
        cut_it in any::<bool>(),
    ) {
        let mut data = max_frame_len.to_le_bytes().to_vec();
        data.push(chunk_size);
        for payload in &payloads {
            data.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            data.extend_from_slice(payload);
        }
        if cut_it && data.len() > 3 {
            data.truncate(3 + cut % (data.len() - 3));
        }
        checks::frames(&data);
        checks::messages(&data);
    }
}

proptest! {
    #![proptest_config(config(SEED_CASES))]

    #[test]
    fn object_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        checks::object(&mutated("object", pick, &mutations));
    }

    #[test]
    fn covmap_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        checks::covmap(&mutated("covmap", pick, &mutations));
    }

    #[test]
    fn covfun_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        checks::covfun(&mutated("covfun", pick, &mutations));
    }

    #[test]
    fn names_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        checks::names(&mutated("names", pick, &mutations));
    }

    #[test]
    fn profraw_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        checks::profraw(&mutated("profraw", pick, &mutations));
    }

    #[test]
    fn offline_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        checks::offline(&mutated("offline", pick, &mutations));
    }

    #[test]
    fn messages_mutated(pick in any::<usize>(), mutations in vec(mutation(), 1..4)) {
        let data = mutated("messages", pick, &mutations);
        checks::frames(&data);
        checks::messages(&data);
    }
}
