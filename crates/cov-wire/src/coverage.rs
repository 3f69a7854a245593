//! Coverage on the wire: cov-core's wire snapshots to and from `CoverageSnapshotResponse`.
//!
//! The SDK uses the wire snapshot → protobuf direction to answer the CLI; a driver playing the
//! CLI (the demo's `cargo xtask demo`, the end-to-end tests) uses the protobuf → wire snapshot
//! direction to feed cov-report's `Aggregate`. The two are inverse on every value the wire
//! can carry.
//!
//! The mapping, as the Tusk CLI reads it:
//!
//! | [`WireFile`]                    | [`FileCoverageData`]                                   |
//! |-----------------------------------|--------------------------------------------------------|
//! | `lines: line → u64`               | `lines: "line" → int32`, line as a decimal string, count saturated at `i32::MAX` |
//! | `branches: line → LineBranches`   | `branches: "line" → BranchInfo { total, covered }`     |
//! | derived `total_branches()`        | `total_branches` (saturated)                           |
//! | derived `covered_branches()`      | `covered_branches` (saturated)                         |
//!
//! Paths are the wire snapshot's keys, unchanged: absolute paths in what the SDK sends. Going
//! back, the file-level `total_branches`/`covered_branches` are not read: the CLI
//! recomputes them from the per-line map, and so does [`WireFile`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use cov_core::{WireFile, LineBranches, SnapshotKind, WireSnapshot};
//! use cov_wire::coverage as wire;
//!
//! let mut record = WireSnapshot::new(SnapshotKind::Delta);
//! record.files.insert("/srv/app/src/main.rs".into(), WireFile {
//!     lines: BTreeMap::from([(3, 2), (4, 5_000_000_000)]),
//!     branches: BTreeMap::from([(3, LineBranches { total: 2, covered: 1 })]),
//! });
//! let response = wire::to_response(&record);
//! let file = &response.coverage["/srv/app/src/main.rs"];
//! assert_eq!(file.lines["4"], i32::MAX); // saturated, never wrapped
//! assert_eq!((file.total_branches, file.covered_branches), (2, 1));
//!
//! let back = wire::from_response(&response, SnapshotKind::Delta)?;
//! assert_eq!(back.files["/srv/app/src/main.rs"].lines[&3], 2);
//! # Ok::<(), wire::WireError>(())
//! ```

use std::collections::BTreeMap;

use cov_core::{LineBranches, SnapshotKind, WireFile, WireSnapshot};
use cov_proto::{BranchInfo, CoverageSnapshotResponse, FileCoverageData};

/// A protobuf coverage message that does not describe valid coverage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The SDK answered `success = false`; the text is its error.
    #[error("SDK coverage snapshot failed: {0}")]
    Failed(String),
    /// A line key is not a decimal line number of at least 1.
    #[error("{path}: line key {key:?} is not a line number")]
    LineKey {
        /// The file.
        path: String,
        /// The offending key.
        key: String,
    },
    /// A count is negative.
    #[error("{path}: line {line} has a negative count {count}")]
    NegativeCount {
        /// The file.
        path: String,
        /// The line.
        line: u32,
        /// The count.
        count: i32,
    },
    /// A branch entry is negative or has more covered outcomes than it has outcomes.
    #[error("{path}: line {line} has invalid branch counts (total {total}, covered {covered})")]
    BranchCounts {
        /// The file.
        path: String,
        /// The line.
        line: u32,
        /// `BranchInfo.total`.
        total: i32,
        /// `BranchInfo.covered`.
        covered: i32,
    },
}

/// One file as the wire carries it.
pub fn to_file_data(file: &WireFile) -> FileCoverageData {
    FileCoverageData {
        lines: file
            .lines
            .iter()
            .map(|(&line, &count)| (line.to_string(), saturating_i32(count)))
            .collect(),
        total_branches: saturating_i32(file.total_branches()),
        covered_branches: saturating_i32(file.covered_branches()),
        branches: file
            .branches
            .iter()
            .map(|(&line, branches)| {
                let info = BranchInfo {
                    total: saturating_i32(u64::from(branches.total)),
                    covered: saturating_i32(u64::from(branches.covered)),
                };
                (line.to_string(), info)
            })
            .collect(),
    }
}

/// A successful `CoverageSnapshotResponse` carrying `snapshot`.
pub fn to_response(snapshot: &WireSnapshot) -> CoverageSnapshotResponse {
    CoverageSnapshotResponse {
        success: true,
        error: String::new(),
        coverage: snapshot
            .files
            .iter()
            .map(|(path, file)| (path.clone(), to_file_data(file)))
            .collect(),
    }
}

/// A failed `CoverageSnapshotResponse` with `error` as its text.
pub fn failure(error: impl Into<String>) -> CoverageSnapshotResponse {
    CoverageSnapshotResponse {
        success: false,
        error: error.into(),
        coverage: Default::default(),
    }
}

/// One file of a response, back to a [`WireFile`].
///
/// # Errors
///
/// A line key that is not a number ≥ 1, a negative count, or a branch entry with
/// negative values or more covered outcomes than outcomes; `path` names the file.
pub fn from_file_data(path: &str, file: &FileCoverageData) -> Result<WireFile, WireError> {
    let mut record = WireFile::default();
    for (key, &count) in &file.lines {
        let line = line_number(path, key)?;
        let count = u64::try_from(count).map_err(|_| WireError::NegativeCount {
            path: path.to_owned(),
            line,
            count,
        })?;
        record.lines.insert(line, count);
    }
    for (key, info) in &file.branches {
        let line = line_number(path, key)?;
        let invalid = || WireError::BranchCounts {
            path: path.to_owned(),
            line,
            total: info.total,
            covered: info.covered,
        };
        let total = u32::try_from(info.total).map_err(|_| invalid())?;
        let covered = u32::try_from(info.covered).map_err(|_| invalid())?;
        if covered > total {
            return Err(invalid());
        }
        if total > 0 {
            record
                .branches
                .insert(line, LineBranches { total, covered });
        }
    }
    Ok(record)
}

/// A response back to a [`WireSnapshot`] of `kind` (the response does not say which kind it is:
/// the request did).
///
/// # Errors
///
/// [`WireError::Failed`] for `success = false`; otherwise as [`from_file_data`].
pub fn from_response(
    response: &CoverageSnapshotResponse,
    kind: SnapshotKind,
) -> Result<WireSnapshot, WireError> {
    if !response.success {
        return Err(WireError::Failed(response.error.clone()));
    }
    let files = response
        .coverage
        .iter()
        .map(|(path, file)| Ok((path.clone(), from_file_data(path, file)?)))
        .collect::<Result<BTreeMap<_, _>, WireError>>()?;
    Ok(WireSnapshot { kind, files })
}

fn line_number(path: &str, key: &str) -> Result<u32, WireError> {
    // Only plain decimal digits: `u32::from_str` would also take a leading `+`.
    key.bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| key.parse::<u32>().ok())
        .flatten()
        .filter(|&line| line >= 1)
        .ok_or_else(|| WireError::LineKey {
            path: path.to_owned(),
            key: key.to_owned(),
        })
}

/// Converts a count to the wire's `int32`, saturating at `i32::MAX`: never wrapping,
/// never negative.
fn saturating_i32(count: u64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn saturating_i32_never_wraps_or_goes_negative() {
        assert_eq!(saturating_i32(0), 0);
        assert_eq!(saturating_i32(7), 7);
        assert_eq!(saturating_i32(i32::MAX as u64), i32::MAX);
        assert_eq!(saturating_i32(i32::MAX as u64 + 1), i32::MAX);
        assert_eq!(saturating_i32(u64::MAX), i32::MAX);
    }

    fn file(lines: &[(u32, u64)], branches: &[(u32, u32, u32)]) -> WireFile {
        WireFile {
            lines: lines.iter().copied().collect(),
            branches: branches
                .iter()
                .map(|&(line, total, covered)| (line, LineBranches { total, covered }))
                .collect(),
        }
    }

    #[test]
    fn lines_become_decimal_keys_and_totals_are_derived() {
        let data = to_file_data(&file(&[(1, 0), (12, 3)], &[(12, 2, 1), (30, 4, 4)]));
        assert_eq!(data.lines.len(), 2);
        assert_eq!(data.lines["1"], 0);
        assert_eq!(data.lines["12"], 3);
        assert_eq!(data.total_branches, 6);
        assert_eq!(data.covered_branches, 5);
        assert_eq!(
            data.branches["30"],
            BranchInfo {
                total: 4,
                covered: 4
            }
        );
    }

    #[test]
    fn counts_saturate_and_never_go_negative() {
        let data = to_file_data(&file(
            &[(1, u64::MAX), (2, 1 << 31), (3, (1 << 31) - 1)],
            &[],
        ));
        assert_eq!(data.lines["1"], i32::MAX);
        assert_eq!(data.lines["2"], i32::MAX);
        assert_eq!(data.lines["3"], i32::MAX);
        let data = to_file_data(&file(&[], &[(1, u32::MAX, u32::MAX)]));
        assert_eq!(data.branches["1"].total, i32::MAX);
        assert_eq!(data.total_branches, i32::MAX);
    }

    #[test]
    fn failures_carry_their_text_and_no_coverage() {
        let response = failure("coverage is not enabled");
        assert!(!response.success);
        assert!(response.coverage.is_empty());
        assert_eq!(
            from_response(&response, SnapshotKind::Baseline),
            Err(WireError::Failed("coverage is not enabled".into()))
        );
    }

    #[test]
    fn malformed_wire_data_is_a_precise_error() {
        let with_line = |key: &str, count: i32| FileCoverageData {
            lines: [(key.to_owned(), count)].into(),
            ..FileCoverageData::default()
        };
        for key in ["", "0", "-1", "+3", "1.0", "x", " 2", "4294967296"] {
            assert_eq!(
                from_file_data("/a.rs", &with_line(key, 1)),
                Err(WireError::LineKey {
                    path: "/a.rs".into(),
                    key: key.into()
                }),
                "{key:?}"
            );
        }
        assert_eq!(
            from_file_data("/a.rs", &with_line("7", -1)),
            Err(WireError::NegativeCount {
                path: "/a.rs".into(),
                line: 7,
                count: -1
            })
        );
        let with_branch = |total, covered| FileCoverageData {
            branches: [("5".to_owned(), BranchInfo { total, covered })].into(),
            ..FileCoverageData::default()
        };
        assert!(from_file_data("/a.rs", &with_branch(2, 3)).is_err());
        assert!(from_file_data("/a.rs", &with_branch(-1, 0)).is_err());
        assert_eq!(
            from_file_data("/a.rs", &with_branch(0, 0)).unwrap(),
            WireFile::default()
        );
    }

    fn arbitrary_file() -> impl Strategy<Value = WireFile> {
        let lines = proptest::collection::btree_map(1u32..=u32::MAX, 0u64..=i32::MAX as u64, 0..40);
        let branches = proptest::collection::btree_map(
            1u32..=u32::MAX,
            (1u32..=1000).prop_flat_map(|total| (Just(total), 0..=total)),
            0..10,
        );
        (lines, branches).prop_map(|(lines, branches)| WireFile {
            lines,
            branches: branches
                .into_iter()
                .map(|(line, (total, covered))| (line, LineBranches { total, covered }))
                .collect(),
        })
    }

    proptest! {
        #[test]
        fn records_survive_the_wire_and_upstream_decoding(
            files in proptest::collection::btree_map("/[a-z]{1,8}/[a-z]{1,8}\\.rs", arbitrary_file(), 0..6),
        ) {
            use cov_proto::Message as _;
            use tusk_drift_schemas::tusk::drift::core::v1 as upstream;

            let record = WireSnapshot { kind: SnapshotKind::Baseline, files };
            let response = to_response(&record);
            prop_assert_eq!(from_response(&response, SnapshotKind::Baseline).unwrap(), record.clone());

            // The real Tusk types read the same bytes to the same numbers.
            let bytes = response.encode_to_vec();
            let theirs = upstream::CoverageSnapshotResponse::decode(bytes.as_slice()).unwrap();
            prop_assert!(theirs.success);
            prop_assert_eq!(theirs.coverage.len(), record.files.len());
            for (path, file) in &record.files {
                let data = &theirs.coverage[path];
                prop_assert_eq!(data.lines.len(), file.lines.len());
                for (line, count) in &file.lines {
                    prop_assert_eq!(i64::from(data.lines[&line.to_string()]), *count as i64);
                }
                prop_assert_eq!(i64::from(data.total_branches), file.total_branches() as i64);
                prop_assert_eq!(i64::from(data.covered_branches), file.covered_branches() as i64);
                for (line, branches) in &file.branches {
                    let info = &data.branches[&line.to_string()];
                    prop_assert_eq!((info.total as u32, info.covered as u32), (branches.total, branches.covered));
                }
            }
        }
    }
}
