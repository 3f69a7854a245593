//! Seed inputs taken from a real instrumented build, for the fuzzers and the property
//! tests: random bytes rarely get past a decoder's first check, real sections with a few
//! mutations reach every branch.

use std::path::Path;
use std::process::Command;

use cov_collector::decode::profraw::LAYOUTS;
use cov_collector::decode::sections::{
    COVFUN_SECTION, COVMAP_SECTION, CoverageSections, NAMES_SECTION,
};
use cov_proto::{
    CliMessage, ConnectRequest, ConnectResponse, CoverageSnapshotRequest, CoverageSnapshotResponse,
    FileCoverageData, Message, MessageType, SdkMessage, SetTimeTravelRequest, cli_message,
    sdk_message,
};
use cov_testkit::relayout::{Relayout, relayout_profile};
use cov_testkit::{BuildOptions, build_instrumented, llvm_tool, run_instrumented, run_ok};

use crate::checks::pack_offline;

/// The decoders with a check in [`crate::checks`], by the name of their fuzz target.
pub const TARGETS: [&str; 8] = [
    "object", "covmap", "covfun", "names", "profraw", "offline", "frames", "messages",
];

/// The real material the seeds are made of.
#[derive(Clone, Debug)]
pub struct Material {
    /// The coverage sections of the instrumented `workload` fixture.
    pub sections: CoverageSections,
    /// A raw profile written by one run of it.
    pub profraw: Vec<u8>,
}

impl Material {
    /// Builds the `workload` fixture instrumented (the same build the oracle tests use),
    /// runs workload A, and reads its sections and profile.
    pub fn from_workload() -> Material {
        let binary = build_instrumented("workload", "workload", &BuildOptions::default());
        let run = run_instrumented(&binary, &["a"]);
        Material::from_files(&binary, run.profraw())
    }

    /// Reads the sections of `binary` and the profile at `profraw`.
    pub fn from_files(binary: &Path, profraw: &Path) -> Material {
        let sections = CoverageSections::read(binary)
            .unwrap_or_else(|error| panic!("reading {}: {error}", binary.display()));
        let profraw = std::fs::read(profraw)
            .unwrap_or_else(|error| panic!("reading {}: {error}", profraw.display()));
        Material { sections, profraw }
    }

    /// The profile as written (version 10) and re-laid as every other supported version
    /// (9 and 11, with non-zero padding and uniform counters), the toolchains this machine
    /// cannot run.
    pub fn profiles_of_every_version(&self) -> Vec<Vec<u8>> {
        LAYOUTS
            .iter()
            .map(|layout| match layout.version {
                10 => self.profraw.clone(),
                version => relayout_profile(&self.profraw, &Relayout::padded(version)),
            })
            .collect()
    }

    /// The seeds of one target (see [`TARGETS`]).
    pub fn seeds(&self, target: &str) -> Vec<Vec<u8>> {
        match target {
            "object" => vec![object_file(&self.sections)],
            "covmap" => vec![self.sections.covmap.clone()],
            "covfun" => {
                // The first byte is the size of the filename table the records use.
                let mut seeds = Vec::new();
                for num_files in [1_u8, 8, 64] {
                    let mut seed = vec![num_files];
                    seed.extend_from_slice(&self.sections.covfun);
                    seeds.push(seed);
                }
                seeds
            }
            "names" => vec![self.sections.names.clone()],
            "profraw" => self.profiles_of_every_version(),
            "offline" => self
                .profiles_of_every_version()
                .iter()
                .map(|profraw| pack_offline(&self.sections, profraw))
                .collect(),
            "frames" | "messages" => message_streams(),
            other => panic!("no fuzz target named {other}"),
        }
    }
}

/// A small ELF object holding only `sections`, under their names (the instrumented binary
/// itself is megabytes of code no mutation of which reaches the section reader), written by
/// `llvm-objcopy` from an empty input.
fn object_file(sections: &CoverageSections) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(llvm_tool("llvm-objcopy"));
    command.args(["-I", "binary", "-O", "elf64-x86-64"]);
    for (name, contents) in [
        (COVMAP_SECTION, &sections.covmap),
        (COVFUN_SECTION, &sections.covfun),
        (NAMES_SECTION, &sections.names),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("writing a section");
        command.arg(format!("--add-section={name}={}", path.display()));
    }
    // `-I binary` makes a `.data` section of the (empty) input and symbols for it.
    let (empty, object) = (dir.path().join("empty"), dir.path().join("sections.o"));
    std::fs::write(&empty, b"").expect("writing an empty input");
    run_ok(
        command
            .args(["--remove-section=.data", "--strip-all"])
            .arg(&empty)
            .arg(&object),
    );
    std::fs::read(&object).expect("reading the object llvm-objcopy wrote")
}

/// Byte streams of real protocol traffic, in [`crate::checks::frames`]'s layout: two
/// bytes of maximum frame length, one byte of chunk size, then length-prefixed frames.
fn message_streams() -> Vec<Vec<u8>> {
    let cli_messages = [
        CliMessage {
            r#type: MessageType::SdkConnect as i32,
            request_id: "connect-1".to_owned(),
            payload: Some(cli_message::Payload::ConnectResponse(ConnectResponse {
                success: true,
                error: String::new(),
            })),
        },
        CliMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: "coverage-1732612345000000000".to_owned(),
            payload: Some(cli_message::Payload::CoverageSnapshotRequest(
                CoverageSnapshotRequest { baseline: true },
            )),
        },
        CliMessage {
            r#type: MessageType::SetTimeTravel as i32,
            request_id: "time-1".to_owned(),
            payload: Some(cli_message::Payload::SetTimeTravelRequest(
                SetTimeTravelRequest {
                    timestamp_seconds: 1.5e9,
                    trace_id: "trace".to_owned(),
                    timestamp_source: "test".to_owned(),
                },
            )),
        },
    ];
    let sdk_messages = [
        SdkMessage {
            r#type: MessageType::SdkConnect as i32,
            request_id: "connect-1".to_owned(),
            payload: Some(sdk_message::Payload::ConnectRequest(ConnectRequest {
                service_id: "demo".to_owned(),
                sdk_version: "0.1.0".to_owned(),
                min_cli_version: "0.1.0".to_owned(),
                metadata: None,
                runtime: 0,
            })),
        },
        SdkMessage {
            r#type: MessageType::CoverageSnapshot as i32,
            request_id: "coverage-1".to_owned(),
            payload: Some(sdk_message::Payload::CoverageSnapshotResponse(
                CoverageSnapshotResponse {
                    success: true,
                    error: String::new(),
                    coverage: [(
                        "/src/main.rs".to_owned(),
                        FileCoverageData {
                            lines: [("1".to_owned(), 3), ("2".to_owned(), 0)].into(),
                            total_branches: 2,
                            covered_branches: 1,
                            branches: Default::default(),
                        },
                    )]
                    .into(),
                },
            )),
        },
    ];
    let mut frames: Vec<Vec<u8>> = Vec::new();
    frames.extend(cli_messages.iter().map(Message::encode_to_vec));
    frames.extend(sdk_messages.iter().map(Message::encode_to_vec));

    let mut streams = Vec::new();
    for (max_frame_len, chunk_size) in [(1023_u16, 63_u8), (40, 0), (200, 7)] {
        let mut stream = max_frame_len.to_le_bytes().to_vec();
        stream.push(chunk_size);
        for frame in &frames {
            let len = u32::try_from(frame.len()).expect("small frames");
            stream.extend_from_slice(&len.to_be_bytes());
            stream.extend_from_slice(frame);
        }
        streams.push(stream);
    }
    streams
}
