//! The decoded coverage mapping of one executable: for every instrumented function, its
//! source files, counter expressions and regions.
//!
//! [`CoverageMapping::from_executable`] reads the three sections, decodes them, and
//! applies the rules of llvm-cov's reader (`CoverageMappingReader.cpp`): one record per
//! function name (the first one wins, except that a real record replaces a "dummy"
//! placeholder emitted for a function unused in its translation unit).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::covfun::{
    FunctionRecordHeader, decode_function_records, decode_regions, is_dummy, touches_selected_file,
};
use crate::covmap::decode_covmap;
use crate::decode_error::MappingError;
use crate::names::NameTable;
use crate::sections::CoverageSections;

/// A counter: a constant zero, a profile counter, or a counter expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Always zero.
    Zero,
    /// The profile counter with this index (within the function).
    Counter(u32),
    /// The expression with this index (within the function).
    Expression(u32),
}

/// Whether an expression adds or subtracts its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExpressionKind {
    /// `lhs - rhs`.
    Subtract,
    /// `lhs + rhs`.
    Add,
}

/// A counter expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expression {
    /// Add or subtract.
    pub kind: ExpressionKind,
    /// Left operand.
    pub lhs: Counter,
    /// Right operand.
    pub rhs: Counter,
}

/// The kind of a mapping region, in LLVM's numbering (the order matters when sorting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionKind {
    /// Code with a counter.
    Code,
    /// A range that expands to another (virtual) file, such as a macro body.
    Expansion,
    /// Code that was skipped (for example by conditional compilation).
    Skipped,
    /// A gap between code, whose count only counts when it is alone on a line.
    Gap,
    /// A branch condition with a true and a false counter.
    Branch,
    /// An MC/DC decision (not emitted by rustc; decoded and ignored).
    McdcDecision,
    /// An MC/DC branch (not emitted by rustc; treated as a branch).
    McdcBranch,
}

/// One mapping region of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MappingRegion {
    /// Its kind.
    pub kind: RegionKind,
    /// Its counter (for branches, the true counter).
    pub count: Counter,
    /// The false counter of a branch; [`Counter::Zero`] otherwise.
    pub false_count: Counter,
    /// The function-local file id the region is in.
    pub file_id: u32,
    /// For expansions, the function-local file id it expands to.
    pub expanded_file_id: u32,
    /// 1-based start line.
    pub line_start: u32,
    /// 1-based start column.
    pub column_start: u32,
    /// 1-based end line.
    pub line_end: u32,
    /// 1-based end column (exclusive); `u32::MAX` for "end of line".
    pub column_end: u32,
}

impl MappingRegion {
    /// Start as `(line, column)`.
    pub fn start(&self) -> (u32, u32) {
        (self.line_start, self.column_start)
    }

    /// End as `(line, column)`.
    pub fn end(&self) -> (u32, u32) {
        (self.line_end, self.column_end)
    }

    /// Whether this is a branch region (plain or MC/DC).
    pub fn is_branch(&self) -> bool {
        matches!(self.kind, RegionKind::Branch | RegionKind::McdcBranch)
    }
}

/// The mapping of one function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionMapping {
    /// The function's name as the profile records it (mangled).
    pub name: String,
    /// Low 64 bits of the MD5 of `name`.
    pub name_ref: u64,
    /// The structural hash the profile data must match.
    pub func_hash: u64,
    /// For each function-local file id, the index of its path in
    /// [`CoverageMapping::files`].
    pub files: Vec<u32>,
    /// Counter expressions.
    pub expressions: Vec<Expression>,
    /// Regions, grouped by file id in file-id order, as stored.
    pub regions: Vec<MappingRegion>,
}

impl FunctionMapping {
    /// Whether this is a placeholder record: a single region whose counter is zero.
    pub fn is_zero_placeholder(&self) -> bool {
        self.regions.len() == 1 && self.regions[0].count == Counter::Zero
    }
}

/// The decoded coverage mapping of an executable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageMapping {
    /// Every distinct source path (absolute, normalized), in first-seen order.
    pub files: Vec<String>,
    /// One record per function name, in section order.
    pub functions: Vec<FunctionMapping>,
}

impl CoverageMapping {
    /// Reads and decodes the coverage mapping of the executable at `path`.
    pub fn from_executable(path: &Path) -> Result<CoverageMapping, MappingError> {
        let sections = CoverageSections::read(path)?;
        CoverageMapping::decode(&sections)
    }

    /// Reads the coverage mapping of the executable at `path`, keeping only the functions
    /// with a region in a file `is_selected` accepts (see [`CoverageMapping::decode_selected`]).
    pub fn from_executable_selected(
        path: &Path,
        is_selected: &mut dyn FnMut(&str) -> bool,
    ) -> Result<CoverageMapping, MappingError> {
        let sections = CoverageSections::read(path)?;
        CoverageMapping::decode_selected(&sections, is_selected)
    }

    /// Decodes the coverage mapping from the raw section contents.
    pub fn decode(sections: &CoverageSections) -> Result<CoverageMapping, MappingError> {
        CoverageMapping::decode_filtered(sections, &mut |_| true, true)
    }

    /// Decodes the coverage mapping, keeping only the functions whose file-id table refers
    /// to at least one file `is_selected` accepts (asked once per path).
    ///
    /// llvm-cov's record rules (one record per name ref, a real record replacing a dummy
    /// one) are applied to every record first, from the record headers alone, so the
    /// result is exactly the full mapping narrowed to those functions. The regions and
    /// expressions of the other records are never decoded (their `DataSize` skips them),
    /// which makes a narrow selection cheap; with every file selected this is the full,
    /// fully validated decode. The names section is read only up to the last name a kept
    /// function needs ([`NameTable::decode_wanted`]).
    pub fn decode_selected(
        sections: &CoverageSections,
        is_selected: &mut dyn FnMut(&str) -> bool,
    ) -> Result<CoverageMapping, MappingError> {
        CoverageMapping::decode_filtered(sections, is_selected, false)
    }

    /// [`CoverageMapping::decode_selected`]; with `every_name`, every name is decoded and
    /// checked, as llvm-cov does.
    fn decode_filtered(
        sections: &CoverageSections,
        is_selected: &mut dyn FnMut(&str) -> bool,
        every_name: bool,
    ) -> Result<CoverageMapping, MappingError> {
        let tables = decode_covmap(&sections.covmap)?;
        let headers = decode_function_records(&sections.covfun)?;

        // llvm-cov's reader keeps one record per name ref; a later real record replaces
        // an earlier dummy one.
        let mut chosen: Vec<(FunctionRecordHeader, &[u8])> = Vec::with_capacity(headers.len());
        let mut by_name_ref: HashMap<u64, usize> = HashMap::with_capacity(headers.len());
        for (header, data) in headers {
            match by_name_ref.get(&header.name_ref) {
                None => {
                    by_name_ref.insert(header.name_ref, chosen.len());
                    chosen.push((header, data));
                }
                Some(&index) => {
                    let (old_header, old_data) = chosen[index];
                    if is_dummy(old_header.func_hash, old_data)?
                        && !is_dummy(header.func_hash, data)?
                    {
                        chosen[index] = (header, data);
                    }
                }
            }
        }
        drop(by_name_ref);

        // Whether each path of each translation unit's table is selected, computed on
        // first use; the filter sees every distinct path once.
        let mut selected_by_path: HashMap<&str, bool> = HashMap::new();
        let mut selected_by_table: HashMap<u64, Vec<bool>> = HashMap::new();
        let mut kept: Vec<(FunctionRecordHeader, &[u8], &[String])> = Vec::new();
        for (header, data) in chosen {
            let Some(table) = tables.get(&header.filenames_ref) else {
                return Err(MappingError::Malformed {
                    what: "function record",
                    detail: format!("no filename table with hash {:#018x}", header.filenames_ref),
                });
            };
            let Some(table) = table else {
                // Two different filename tables share this hash: llvm-cov skips the
                // records that refer to it.
                continue;
            };
            let table_selected = selected_by_table
                .entry(header.filenames_ref)
                .or_insert_with(|| {
                    table
                        .iter()
                        .map(|path| {
                            *selected_by_path
                                .entry(path.as_str())
                                .or_insert_with(|| is_selected(path))
                        })
                        .collect()
                });
            // The regions of a record that touches no selected file are never decoded.
            // With the whole table selected, the record is decoded (and checked) as is.
            let keep = if table_selected.iter().all(|&selected| selected) {
                true
            } else {
                table_selected.iter().any(|&selected| selected)
                    && touches_selected_file(data, table_selected)?
            };
            if keep {
                kept.push((header, data, table));
            }
        }
        drop(selected_by_table);

        // Only the names of the kept functions are needed (a name ref is the MD5 of its
        // name, so finding them means hashing names until all are found).
        let names = if every_name {
            NameTable::decode(&sections.names)?
        } else {
            let wanted: HashSet<u64> = kept.iter().map(|(header, ..)| header.name_ref).collect();
            NameTable::decode_wanted(&sections.names, &wanted)?
        };

        let mut files: Vec<String> = Vec::new();
        let mut file_index: HashMap<&str, u32> = HashMap::new();
        let mut functions = Vec::with_capacity(kept.len());
        for (header, data, table) in kept {
            let Some(name) = names.get(header.name_ref) else {
                tracing::warn!(
                    name_ref = format_args!("{:#018x}", header.name_ref),
                    "coverage record without a function name; skipped"
                );
                continue;
            };
            let decoded = decode_regions(data, table.len())?;
            let mut local_files = Vec::with_capacity(decoded.file_table.len());
            for filename_index in decoded.file_table {
                let path = table[filename_index as usize].as_str();
                let next = u32::try_from(files.len()).unwrap_or(u32::MAX);
                let index = *file_index.entry(path).or_insert_with(|| {
                    files.push(path.to_owned());
                    next
                });
                local_files.push(index);
            }
            functions.push(FunctionMapping {
                name: name.to_owned(),
                name_ref: header.name_ref,
                func_hash: header.func_hash,
                files: local_files,
                expressions: decoded.expressions,
                regions: decoded.regions,
            });
        }
        Ok(CoverageMapping { files, functions })
    }
}
