//! Decoder invariants over arbitrary bytes, one function per decoder.
//!
//! Each function takes any input, runs one decoder of the project on it and panics only
//! when an invariant is broken (the decoder panicked, accepted something it must refuse,
//! or disagreed with a reference model). Errors returned by the decoders are the expected
//! outcome for most inputs and are not failures. The cargo-fuzz targets in `fuzz/` and the
//! property tests in `tests/decoders.rs` call the same functions, so a long fuzzing run and
//! a short `cargo xtask test` check exactly the same things.
//!
//! Some checks take a structured input instead ([`covfun_prefix`], [`profile_prefix`],
//! [`unknown_mapping_version`], [`unknown_profile_version`]): properties of an input that
//! decodes, under one edit. The property tests call them with the edit proptest picks;
//! [`offline`] and [`profraw`] call them on every input that decodes, with an edit derived
//! from its bytes, so the fuzz targets check them too.

use std::path::Path;

use bytes::BytesMut;
use cov_collector::decode::covfun::{decode_function_records, decode_regions, is_dummy};
use cov_collector::decode::covmap::{decode_covmap, decode_filenames};
use cov_collector::decode::mapping::Counter;
use cov_collector::decode::names::{NameTable, decode_names};
use cov_collector::decode::profraw::{
    CounterArray, LAYOUTS, SUPPORTED_VERSIONS, decode_function_counters,
};
use cov_collector::decode::sections::CoverageSections;
use cov_collector::offline::{OfflineCoverage, write_profile_listing};
use cov_collector::{CoverageMapping, MappingError, ProfileError, RawProfile};
use cov_proto::{CliMessage, Message, SdkMessage};
use cov_transport::frame::{FrameCodec, HEADER_LEN, MessageCodec};
use tokio_util::codec::{Decoder, Encoder};

/// The filename decoders: a whole covmap section, and the same bytes as one blob.
pub fn covmap(data: &[u8]) {
    if let Ok(tables) = decode_covmap(data) {
        for table in tables.values().flatten() {
            assert!(
                !table.is_empty(),
                "a filename table always holds the compilation directory"
            );
        }
    }
    let _ = decode_filenames(data);
}

/// The function-record decoders. The first byte is the size of the translation unit's
/// filename table, the rest is a covfun section.
pub fn covfun(data: &[u8]) {
    let Some((&num_tu_files, section)) = data.split_first() else {
        return;
    };
    let num_tu_files = usize::from(num_tu_files);
    // The same bytes as one record's mapping data, then as a whole section.
    check_regions(section, num_tu_files);
    if let Ok(records) = decode_function_records(section) {
        for (header, record_data) in records {
            assert!(
                record_data.len() <= section.len(),
                "a record's data cannot be larger than its section"
            );
            let _ = is_dummy(header.func_hash, record_data);
            check_regions(record_data, num_tu_files);
        }
    }
}

fn check_regions(data: &[u8], num_tu_files: usize) {
    let Ok(decoded) = decode_regions(data, num_tu_files) else {
        return;
    };
    let num_expressions = decoded.expressions.len();
    let in_range = |counter: Counter| match counter {
        Counter::Expression(index) => (index as usize) < num_expressions,
        Counter::Zero | Counter::Counter(_) => true,
    };
    for &file in &decoded.file_table {
        assert!(
            (file as usize) < num_tu_files,
            "file index {file} accepted for a table of {num_tu_files} names"
        );
    }
    for expression in &decoded.expressions {
        assert!(
            in_range(expression.lhs) && in_range(expression.rhs),
            "an expression refers to an expression that does not exist: {expression:?}"
        );
    }
    for region in &decoded.regions {
        assert!(
            (region.file_id as usize) < decoded.file_table.len(),
            "region in file id {} of {}",
            region.file_id,
            decoded.file_table.len()
        );
        assert!(
            region.start() <= region.end(),
            "region accepted with its start after its end: {region:?}"
        );
        assert!(
            in_range(region.count) && in_range(region.false_count),
            "a region refers to an expression that does not exist: {region:?}"
        );
    }
}

/// The `__llvm_prf_names` decoders: the list and the table agree, and every name is
/// found by its MD5 reference (the low 8 bytes, little-endian, as LLVM computes it).
pub fn names(data: &[u8]) {
    use md5::{Digest, Md5};
    match (decode_names(data), NameTable::decode(data)) {
        (Ok(names), Ok(table)) => {
            assert!(table.len() <= names.len(), "more table entries than names");
            for name in &names {
                let digest = Md5::digest(name.as_bytes());
                let mut low = [0_u8; 8];
                low.copy_from_slice(&digest[..8]);
                assert!(
                    table.get(u64::from_le_bytes(low)).is_some(),
                    "name {name:?} missing from the table"
                );
            }
        }
        (Err(_), Err(_)) => {}
        (list, table) => panic!(
            "the list and the table disagree: {:?} vs {:?}",
            list.map(|names| names.len()),
            table.map(|table| table.len())
        ),
    }
}

/// The raw profile decoder (versions 9 to 11), its listing, and the data-record decoder of
/// every version as the live collector runs it; a profile that decodes also goes through
/// [`profile_prefix`] and [`unknown_profile_version`], with an edit derived from its bytes.
pub fn profraw(data: &[u8]) {
    if let Ok(profile) = RawProfile::decode(data) {
        let edit = fnv1a(data);
        cut_profile(data, &profile, edit as usize);
        patch_profile_version(data, (edit >> 32) as u32);
        assert!(
            LAYOUTS
                .iter()
                .any(|layout| layout.version == profile.header.format_version()),
            "a profile of version {} accepted",
            profile.header.format_version()
        );
        for record in &profile.functions {
            assert!(
                record.counters.start < record.counters.end
                    && record.counters.end <= profile.counters.len(),
                "record {record:?} accepted with counters outside the {} counters",
                profile.counters.len()
            );
        }
        // The listing fails only when the names do not decode (llvm-profdata too refuses
        // a profile whose names it cannot read).
        let mut listing = Vec::new();
        match write_profile_listing(data, &mut listing) {
            Ok(()) => {
                let text = String::from_utf8(listing).expect("the listing is UTF-8");
                assert_eq!(
                    text.matches("\n    Hash: ").count(),
                    profile.functions.len(),
                    "one listing entry per record"
                );
            }
            Err(error) => assert!(
                NameTable::decode(&profile.names_blob).is_err(),
                "the listing of a profile with readable names failed: {error}"
            ),
        }
    }
    // The same bytes as live memory: records of each layout at an address, with counters
    // 64 bytes past them (and, for version 11, uniform counters elsewhere).
    for layout in &LAYOUTS {
        let counters = CounterArray {
            address: 0x1000 + data.len() as u64 + 64,
            len: 64,
        };
        let uniform = CounterArray {
            address: 0x9000_0000,
            len: 16,
        };
        for uniform in [None, Some(uniform)] {
            if let Ok(records) =
                decode_function_counters(&layout.record, data, 0x1000, counters, uniform)
            {
                assert_eq!(records.len() * layout.record.size, data.len());
                assert!(
                    records
                        .iter()
                        .all(|record| record.counters.end <= counters.len
                            && !record.counters.is_empty()),
                    "version {}: a record outside its counters",
                    layout.version
                );
            }
        }
    }
}

/// Splits `data` into the three coverage sections and a raw profile: three little-endian
/// `u32` lengths (covmap, covfun, names), those sections, and the profile as the rest.
/// Lengths past the end are clamped, so every input means something.
pub fn split_offline(data: &[u8]) -> (CoverageSections, &[u8]) {
    let mut rest = data;
    let take_len = |rest: &mut &[u8]| -> usize {
        if rest.len() < 4 {
            let len = rest.len();
            *rest = &rest[len..];
            return 0;
        }
        let (head, tail) = rest.split_at(4);
        *rest = tail;
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize
    };
    let lengths = [
        take_len(&mut rest),
        take_len(&mut rest),
        take_len(&mut rest),
    ];
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(3);
    for len in lengths {
        let len = len.min(rest.len());
        let (part, tail) = rest.split_at(len);
        parts.push(part.to_vec());
        rest = tail;
    }
    let names = parts.pop().unwrap_or_default();
    let covfun = parts.pop().unwrap_or_default();
    let covmap = parts.pop().unwrap_or_default();
    (
        CoverageSections {
            covmap,
            covfun,
            names,
        },
        rest,
    )
}

/// Packs sections and a profile in the layout [`split_offline`] reads.
pub fn pack_offline(sections: &CoverageSections, profraw: &[u8]) -> Vec<u8> {
    let mut packed = Vec::new();
    for part in [&sections.covmap, &sections.covfun, &sections.names] {
        let len = u32::try_from(part.len()).expect("a section below 4 GiB");
        packed.extend_from_slice(&len.to_le_bytes());
    }
    for part in [&sections.covmap, &sections.covfun, &sections.names] {
        packed.extend_from_slice(part);
    }
    packed.extend_from_slice(profraw);
    packed
}

/// The whole offline pipeline: mapping decoder, profile decoder, the llvm-cov semantics
/// engine and the LCOV writer, on inputs in [`split_offline`]'s layout. An input whose
/// mapping or profile decodes also goes through the structured checks, with an edit
/// derived from its bytes.
pub fn offline(data: &[u8]) {
    let (sections, profraw) = split_offline(data);
    let edit = fnv1a(data);
    let Ok(mapping) = check_mapping(&sections) else {
        return;
    };
    cut_covfun(&sections, &mapping, edit as usize);
    patch_mapping_version(&sections, (edit >> 32) as u32);
    let Ok(profile) = RawProfile::decode(profraw) else {
        return;
    };
    cut_profile(profraw, &profile, (edit >> 16) as usize);
    patch_profile_version(profraw, (edit >> 40) as u32);
    let coverage = OfflineCoverage::from_parts(mapping, profile);
    let lcov = coverage.to_lcov();
    assert!(
        lcov.is_empty() || lcov.ends_with("end_of_record\n"),
        "LCOV output does not end with a record"
    );
}

/// Decodes a mapping and checks that every function names files of the mapping.
fn check_mapping(sections: &CoverageSections) -> Result<CoverageMapping, MappingError> {
    let mapping = CoverageMapping::decode(sections)?;
    for function in mapping.functions() {
        for &file in function.files {
            assert!(
                (file as usize) < mapping.files.len(),
                "function {} refers to file {file} of {}",
                function.name,
                mapping.files.len()
            );
        }
    }
    Ok(mapping)
}

/// The section reader on the bytes of an object file: it finds all three coverage sections
/// (none of them empty: LLVM ignores an empty names section) or says which is missing or
/// why the file is not an object, and what it found goes through the mapping decoder.
pub fn object(data: &[u8]) {
    match CoverageSections::from_object_bytes(data, Path::new("input")) {
        Ok(sections) => {
            assert!(
                !sections.covmap.is_empty()
                    && !sections.covfun.is_empty()
                    && !sections.names.is_empty(),
                "an empty coverage section accepted"
            );
            let _ = check_mapping(&sections);
        }
        Err(MappingError::Object { .. } | MappingError::MissingSection { .. }) => {}
        Err(other) => panic!("the section reader failed with {other:?}"),
    }
}

/// `__llvm_covfun` cut at `cut` (modulo its length) in sections that decode: the mapping
/// either decodes to no more functions than the whole section's (a cut between records), or
/// fails as truncated or malformed, never otherwise.
pub fn covfun_prefix(sections: &CoverageSections, cut: usize) {
    if let Ok(whole) = CoverageMapping::decode(sections) {
        cut_covfun(sections, &whole, cut);
    }
}

/// [`covfun_prefix`] of sections already decoded to `whole`.
fn cut_covfun(sections: &CoverageSections, whole: &CoverageMapping, cut: usize) {
    if sections.covfun.is_empty() {
        return;
    }
    let mut cut_sections = sections.clone();
    cut_sections.covfun.truncate(cut % sections.covfun.len());
    match check_mapping(&cut_sections) {
        Ok(prefix) => assert!(
            prefix.num_functions() <= whole.num_functions(),
            "{} functions in a prefix of a section of {}",
            prefix.num_functions(),
            whole.num_functions()
        ),
        Err(MappingError::Truncated { .. } | MappingError::Malformed { .. }) => {}
        Err(other) => panic!("a cut covfun section failed with {other:?}"),
    }
}

/// The mapping version of the first translation unit set to `version` in sections that
/// decode: refused by name unless it is the one supported version (Version7, encoded 6).
pub fn unknown_mapping_version(sections: &CoverageSections, version: u32) {
    if CoverageMapping::decode(sections).is_ok() {
        patch_mapping_version(sections, version);
    }
}

/// [`unknown_mapping_version`] of sections known to decode.
fn patch_mapping_version(sections: &CoverageSections, version: u32) {
    if version == 6 || sections.covmap.len() < 16 {
        return;
    }
    let mut patched = sections.clone();
    patched.covmap[12..16].copy_from_slice(&version.to_le_bytes());
    match CoverageMapping::decode(&patched) {
        Err(error @ MappingError::UnsupportedVersion { encoded }) => {
            assert_eq!(encoded, version);
            let message = error.to_string();
            assert!(message.contains(&version.to_string()), "{message}");
        }
        other => panic!("mapping version {version} gave {other:?}"),
    }
}

/// A raw profile that decodes, cut at `cut` modulo the bytes it needs (everything up to the
/// end of its names, as its header lays them out): always an error.
pub fn profile_prefix(profraw: &[u8], cut: usize) {
    if let Ok(profile) = RawProfile::decode(profraw) {
        cut_profile(profraw, &profile, cut);
    }
}

/// [`profile_prefix`] of a profile already decoded to `profile`.
fn cut_profile(profraw: &[u8], profile: &RawProfile, cut: usize) {
    let (header, layout) = (
        &profile.header,
        profile.layout().expect("a decoded profile has a layout"),
    );
    // In u128, so that no header, however large its counts, overflows the sum.
    let needed: u128 = [
        layout.header_size() as u128,
        u128::from(header.binary_ids_size),
        u128::from(header.num_data) * layout.record.size as u128,
        u128::from(header.padding_before_counters),
        u128::from(header.num_counters) * 8,
        u128::from(header.padding_after_counters),
        u128::from(header.num_bitmap_bytes),
        u128::from(header.padding_after_bitmap),
        u128::from(header.num_uniform_counters) * 8,
        u128::from(header.padding_after_uniform_counters),
        u128::from(header.names_size),
    ]
    .iter()
    .sum();
    assert!(
        needed <= profraw.len() as u128,
        "a profile of {} bytes accepted, its header lays out {needed}",
        profraw.len()
    );
    let cut = cut % needed as usize;
    assert!(
        RawProfile::decode(&profraw[..cut]).is_err(),
        "a profile cut at byte {cut} of the {needed} it needs decoded"
    );
}

/// The version of a raw profile that decodes set to `version` (its flags kept): refused by
/// name, with the versions this SDK reads, unless it is one of them.
pub fn unknown_profile_version(profraw: &[u8], version: u32) {
    if RawProfile::decode(profraw).is_ok() {
        patch_profile_version(profraw, version);
    }
}

/// [`unknown_profile_version`] of a profile known to decode.
fn patch_profile_version(profraw: &[u8], version: u32) {
    if LAYOUTS.iter().any(|layout| layout.version == version) {
        return;
    }
    let mut patched = profraw.to_vec();
    patched[8..12].copy_from_slice(&version.to_le_bytes());
    match RawProfile::decode(&patched) {
        Err(error @ ProfileError::UnsupportedVersion { version: found }) => {
            assert_eq!(found, u64::from(version));
            assert_eq!(
                error.to_string(),
                format!("raw profile version {version}: this SDK reads {SUPPORTED_VERSIONS}")
            );
        }
        other => panic!("raw profile version {version} gave {other:?}"),
    }
}

/// FNV-1a over `data`: the edit [`offline`] and [`profraw`] apply, the same for the same
/// input.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a correct framing decoder yields for a whole stream: the payloads, in order, of
/// frames no longer than `max_frame_len` (longer ones are skipped), and whether the stream
/// ends in the middle of a frame.
pub fn reference_frames(stream: &[u8], max_frame_len: usize) -> (Vec<Vec<u8>>, bool) {
    let mut frames = Vec::new();
    let mut position = 0_usize;
    loop {
        let rest = &stream[position..];
        if rest.is_empty() {
            return (frames, false);
        }
        if rest.len() < HEADER_LEN {
            return (frames, true);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() - HEADER_LEN < len {
            return (frames, true);
        }
        if len <= max_frame_len {
            frames.push(rest[HEADER_LEN..HEADER_LEN + len].to_vec());
        }
        position += HEADER_LEN + len;
    }
}

/// Reads the framing parameters from the front of `data`: a maximum frame length (0 to
/// 1023 bytes, so that oversized frames are common) and a chunk size for feeding the
/// decoder (1 to 64 bytes). Returns them and the stream.
fn framing_parameters(data: &[u8]) -> Option<(usize, usize, &[u8])> {
    let (head, stream) = data.split_at_checked(3)?;
    let max_frame_len = usize::from(u16::from_le_bytes([head[0], head[1]]) & 0x3ff);
    let chunk_size = usize::from(head[2] & 0x3f) + 1;
    Some((max_frame_len, chunk_size, stream))
}

/// The frame decoder, fed in chunks, against [`reference_frames`]; the bytes it holds
/// stay bounded by one frame and one chunk however large the announced lengths.
pub fn frames(data: &[u8]) {
    let Some((max_frame_len, chunk_size, stream)) = framing_parameters(data) else {
        return;
    };
    let (expected, expected_mid_frame) = reference_frames(stream, max_frame_len);
    let mut codec = FrameCodec::with_max_frame_len(max_frame_len);
    let mut buffer = BytesMut::new();
    let mut decoded = Vec::new();
    for chunk in stream.chunks(chunk_size) {
        buffer.extend_from_slice(chunk);
        while let Some(frame) = codec
            .decode(&mut buffer)
            .expect("decode never fails mid-stream")
        {
            assert!(frame.len() <= max_frame_len, "frame over the maximum");
            decoded.push(frame.to_vec());
        }
        assert!(
            buffer.len() <= HEADER_LEN + max_frame_len + chunk_size,
            "the decoder holds {} bytes with a maximum frame of {max_frame_len}",
            buffer.len()
        );
    }
    let mid_frame = loop {
        match codec.decode_eof(&mut buffer) {
            Ok(Some(frame)) => decoded.push(frame.to_vec()),
            Ok(None) => break false,
            Err(cov_transport::FrameError::ClosedMidFrame { .. }) => break true,
            Err(other) => panic!("unexpected error at end of stream: {other}"),
        }
    };
    assert_eq!(
        decoded, expected,
        "decoded frames differ from the reference"
    );
    assert_eq!(
        mid_frame, expected_mid_frame,
        "end-of-stream verdict differs from the reference"
    );
}

/// The message decoders of both sides, fed in chunks, against prost on the reference
/// frames; every decoded message survives an encode/decode round trip.
pub fn messages(data: &[u8]) {
    let Some((max_frame_len, chunk_size, stream)) = framing_parameters(data) else {
        return;
    };
    messages_of::<CliMessage, SdkMessage>(stream, max_frame_len, chunk_size);
    messages_of::<SdkMessage, CliMessage>(stream, max_frame_len, chunk_size);
    // A payload on its own, as prost sees it.
    if let Ok(message) = CliMessage::decode(stream) {
        round_trip(&message);
    }
    if let Ok(message) = SdkMessage::decode(stream) {
        round_trip(&message);
    }
}

fn messages_of<In, Out>(stream: &[u8], max_frame_len: usize, chunk_size: usize)
where
    In: Message + Default + Clone + PartialEq + std::fmt::Debug,
{
    let (frames, _) = reference_frames(stream, max_frame_len);
    let expected: Vec<In> = frames
        .iter()
        .filter_map(|frame| In::decode(frame.as_slice()).ok())
        .collect();
    let mut codec = MessageCodec::<In, Out>::with_max_frame_len(max_frame_len);
    let mut buffer = BytesMut::new();
    let mut decoded = Vec::new();
    for chunk in stream.chunks(chunk_size) {
        buffer.extend_from_slice(chunk);
        while let Ok(Some(message)) = codec.decode(&mut buffer) {
            decoded.push(message);
        }
    }
    while let Ok(Some(message)) = codec.decode_eof(&mut buffer) {
        decoded.push(message);
    }
    assert_eq!(
        decoded.len(),
        expected.len(),
        "decoded messages differ from prost's"
    );
    for (message, reference) in decoded.iter().zip(&expected) {
        assert!(
            same_message(message, reference),
            "decoded message differs from prost's: {message:?} vs {reference:?}"
        );
    }
    for message in decoded {
        round_trip(&message);
        // Through the codec's own encoder and decoder as well, when it fits a frame.
        let mut echo = MessageCodec::<In, In>::with_max_frame_len(max_frame_len);
        let mut framed = BytesMut::new();
        if echo.encode(message.clone(), &mut framed).is_ok() {
            let again = echo
                .decode(&mut framed)
                .ok()
                .flatten()
                .expect("a message the codec encoded decodes");
            assert!(
                same_message(&again, &message),
                "codec round trip changed the message: {again:?} vs {message:?}"
            );
        }
    }
}

/// Equality of decoded messages. A message holding a NaN (a time-travel timestamp, a
/// number in the connect metadata) is not equal to itself, and its maps encode in hash
/// order, so for such a message equal encoded lengths are the best available evidence.
fn same_message<M: Message + PartialEq>(a: &M, b: &M) -> bool {
    #[allow(clippy::eq_op)] // Deliberate: a NaN makes a message unequal to itself.
    let holds_nan = a != a;
    a == b || (holds_nan && a.encoded_len() == b.encoded_len())
}

/// Decoding what was encoded gives the same message again.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M) {
    let encoded = message.encode_to_vec();
    assert_eq!(encoded.len(), message.encoded_len(), "encoded_len is wrong");
    let again = M::decode(encoded.as_slice()).expect("prost decodes what it encoded");
    assert!(
        same_message(&again, message),
        "encode/decode round trip changed the message: {again:?} vs {message:?}"
    );
}
