//! The decoded coverage mapping of one executable: for every instrumented function, its
//! source files, counter expressions and regions.
//!
//! [`CoverageMapping::from_executable`] reads the three sections, decodes them, and
//! applies the rules of llvm-cov's reader (`CoverageMappingReader.cpp`): one record per
//! function name (the first one wins, except that a real record replaces a "dummy"
//! placeholder emitted for a function unused in its translation unit).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use foldhash::HashMapExt;

use crate::decode::covfun::{
    DecodedMapping, FunctionRecordHeader, decode_function_records, decode_regions_into, is_dummy,
    touches_selected_file,
};
use crate::decode::covmap::{FilenameTables, decode_covmap};
use crate::decode::names::NameTable;
use crate::decode::sections::CoverageSections;
use crate::decode_error::MappingError;
use crate::parallel::join;

/// A counter: a constant zero, a profile counter, or a counter expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
// LLVM's own kinds (`Counter::Zero`, `Counter::CounterValueReference`, `Counter::Expression`).
#[allow(clippy::enum_variant_names)]
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

/// The mapping of one function, borrowed from its [`CoverageMapping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionMapping<'a> {
    /// The function's name as the profile records it (mangled).
    pub name: &'a str,
    /// Low 64 bits of the MD5 of `name`.
    pub name_ref: u64,
    /// The structural hash the profile data must match.
    pub func_hash: u64,
    /// For each function-local file id, the index of its path in
    /// [`CoverageMapping::files`].
    pub files: &'a [u32],
    /// Counter expressions.
    pub expressions: &'a [Expression],
    /// Regions, grouped by file id in file-id order, as stored.
    pub regions: &'a [MappingRegion],
}

impl FunctionMapping<'_> {
    /// Whether this is a placeholder record: a single region whose counter is zero.
    pub fn is_zero_placeholder(&self) -> bool {
        self.regions.len() == 1 && self.regions[0].count == Counter::Zero
    }
}

/// Where one function's parts are in the mapping's arrays.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FunctionEntry {
    name_ref: u64,
    func_hash: u64,
    name: Range<u32>,
    files: Range<u32>,
    expressions: Range<u32>,
    regions: Range<u32>,
}

/// The decoded coverage mapping of an executable.
///
/// The names, file tables, expressions and regions of all functions are stored in one
/// array each (a large program has tens of thousands of functions, and one allocation per
/// function and part was a large share of the decoding time);
/// [`CoverageMapping::functions`] hands out each function's slices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageMapping {
    /// Every distinct source path (absolute, normalized), in first-seen order.
    pub files: Vec<String>,
    functions: Vec<FunctionEntry>,
    names: String,
    function_files: Vec<u32>,
    expressions: Vec<Expression>,
    regions: Vec<MappingRegion>,
}

impl CoverageMapping {
    /// The functions, one record per function name, in section order.
    pub fn functions(&self) -> impl ExactSizeIterator<Item = FunctionMapping<'_>> + '_ {
        self.functions.iter().map(|entry| self.view(entry))
    }

    /// The function at `index` (in [`CoverageMapping::functions`] order).
    pub fn function(&self, index: usize) -> Option<FunctionMapping<'_>> {
        self.functions.get(index).map(|entry| self.view(entry))
    }

    /// Number of functions.
    pub fn num_functions(&self) -> usize {
        self.functions.len()
    }

    /// Number of regions of all functions.
    pub fn num_regions(&self) -> usize {
        self.regions.len()
    }

    /// Number of counter expressions of all functions.
    pub fn num_expressions(&self) -> usize {
        self.expressions.len()
    }

    /// Appends a function (for mappings built by hand, as tests do). Its `files` must be
    /// indices into [`CoverageMapping::files`].
    pub fn push_function(&mut self, function: FunctionMapping<'_>) {
        let name = append(&mut self.names, function.name);
        let files = extend(&mut self.function_files, function.files);
        let expressions = extend(&mut self.expressions, function.expressions);
        let regions = extend(&mut self.regions, function.regions);
        self.functions.push(FunctionEntry {
            name_ref: function.name_ref,
            func_hash: function.func_hash,
            name,
            files,
            expressions,
            regions,
        });
    }

    /// The parts of the mapping's arrays an engine takes over: names, function files,
    /// expressions and regions, with each function's ranges into them.
    pub(crate) fn into_parts(self) -> MappingParts {
        MappingParts {
            files: self.files,
            functions: self
                .functions
                .into_iter()
                .map(|entry| PartRanges {
                    name_ref: entry.name_ref,
                    func_hash: entry.func_hash,
                    name: entry.name,
                    files: entry.files,
                    expressions: entry.expressions,
                    regions: entry.regions,
                })
                .collect(),
            names: self.names,
            function_files: self.function_files,
            expressions: self.expressions,
            regions: self.regions,
        }
    }

    fn view(&self, entry: &FunctionEntry) -> FunctionMapping<'_> {
        let range = |range: &Range<u32>| range.start as usize..range.end as usize;
        FunctionMapping {
            name: &self.names[range(&entry.name)],
            name_ref: entry.name_ref,
            func_hash: entry.func_hash,
            files: &self.function_files[range(&entry.files)],
            expressions: &self.expressions[range(&entry.expressions)],
            regions: &self.regions[range(&entry.regions)],
        }
    }
}

/// A [`CoverageMapping`] taken apart (see [`CoverageMapping::into_parts`]).
pub(crate) struct MappingParts {
    pub(crate) files: Vec<String>,
    pub(crate) functions: Vec<PartRanges>,
    pub(crate) names: String,
    pub(crate) function_files: Vec<u32>,
    pub(crate) expressions: Vec<Expression>,
    pub(crate) regions: Vec<MappingRegion>,
}

/// One function of [`MappingParts`]: its ranges in the arrays.
pub(crate) struct PartRanges {
    pub(crate) name_ref: u64,
    pub(crate) func_hash: u64,
    pub(crate) name: Range<u32>,
    pub(crate) files: Range<u32>,
    pub(crate) expressions: Range<u32>,
    pub(crate) regions: Range<u32>,
}

/// Appends `text` to `names`, returning where it went.
fn append(names: &mut String, text: &str) -> Range<u32> {
    let start = names.len() as u32;
    names.push_str(text);
    start..names.len() as u32
}

/// Appends `items` to `all`, returning where they went.
fn extend<T: Clone>(all: &mut Vec<T>, items: &[T]) -> Range<u32> {
    let start = all.len() as u32;
    all.extend_from_slice(items);
    start..all.len() as u32
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
    /// function needs (`NameTable::decode_wanted`).
    pub fn decode_selected(
        sections: &CoverageSections,
        is_selected: &mut dyn FnMut(&str) -> bool,
    ) -> Result<CoverageMapping, MappingError> {
        CoverageMapping::decode_filtered(sections, is_selected, false)
    }

    /// [`CoverageMapping::decode_selected`]; with `every_name`, every name is decoded and
    /// checked, as llvm-cov does, on a thread of its own while the records are decoded
    /// (the whole-program, offline path).
    fn decode_filtered(
        sections: &CoverageSections,
        is_selected: &mut dyn FnMut(&str) -> bool,
        every_name: bool,
    ) -> Result<CoverageMapping, MappingError> {
        if !every_name {
            let tables = decode_covmap(&sections.covmap)?;
            let kept = select_records(sections, &tables, is_selected)?;
            let decoded = decode_records(&kept);
            // Only the names of the kept functions are needed (a name ref is the MD5 of
            // its name, so finding them means hashing names until all are found).
            let wanted: HashSet<u64> = kept.iter().map(|(header, ..)| header.name_ref).collect();
            let names = NameTable::decode_wanted(&sections.names, &wanted)?;
            return assemble(&kept, decoded, &names);
        }
        // The names are inflated while the records are read. The decode joins the thread
        // it started on every path: a thread the scope only waits for implicitly may still
        // be running its thread-local destructors after the decode has returned
        // (LeakSanitizer reported their 32-byte registration under the fuzzer when the
        // covmap failed after the spawn).
        std::thread::scope(|scope| {
            let names = scope.spawn(|| NameTable::decode(&sections.names));
            let tables = match decode_covmap(&sections.covmap) {
                Ok(tables) => tables,
                Err(error) => {
                    let _ = join(names);
                    return Err(error);
                }
            };
            let records = select_records(sections, &tables, is_selected).map(|kept| {
                let decoded = decode_records(&kept);
                (kept, decoded)
            });
            let names = join(names);
            let (kept, decoded) = records?;
            assemble(&kept, decoded, &names?)
        })
    }
}

/// A covfun record chosen for decoding: its header, its mapping data, and its translation
/// unit's filename table.
type KeptRecord<'a> = (FunctionRecordHeader, &'a [u8], &'a [String]);

/// Applies llvm-cov's record rules and the file selection to the records of the covfun
/// section, without decoding their regions.
fn select_records<'a>(
    sections: &'a CoverageSections,
    tables: &'a FilenameTables,
    is_selected: &mut dyn FnMut(&str) -> bool,
) -> Result<Vec<KeptRecord<'a>>, MappingError> {
    let headers = decode_function_records(&sections.covfun)?;

    // llvm-cov's reader keeps one record per name ref; a later real record replaces an
    // earlier dummy one.
    let mut chosen: Vec<(FunctionRecordHeader, &[u8])> = Vec::with_capacity(headers.len());
    let mut by_name_ref: foldhash::HashMap<u64, usize> =
        foldhash::HashMap::with_capacity(headers.len());
    for (header, data) in headers {
        match by_name_ref.get(&header.name_ref) {
            None => {
                by_name_ref.insert(header.name_ref, chosen.len());
                chosen.push((header, data));
            }
            Some(&index) => {
                let (old_header, old_data) = chosen[index];
                if is_dummy(old_header.func_hash, old_data)? && !is_dummy(header.func_hash, data)? {
                    chosen[index] = (header, data);
                }
            }
        }
    }
    drop(by_name_ref);

    // Whether each path of each translation unit's table is selected, computed on first
    // use; the filter sees every distinct path once.
    let mut selected_by_path: HashMap<&str, bool> = HashMap::new();
    let mut selected_by_table: HashMap<u64, Vec<bool>> = HashMap::new();
    let mut kept: Vec<KeptRecord<'a>> = Vec::new();
    for (header, data) in chosen {
        let Some(table) = tables.get(&header.filenames_ref) else {
            return Err(MappingError::Malformed {
                what: "function record",
                detail: format!("no filename table with hash {:#018x}", header.filenames_ref),
            });
        };
        let Some(table) = table else {
            // Two different filename tables share this hash: llvm-cov skips the records
            // that refer to it.
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
        // The regions of a record that touches no selected file are never decoded. With
        // the whole table selected, the record is decoded (and checked) as is.
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
    Ok(kept)
}

/// The kept records' regions, decoded into three arrays, and for each record where its
/// parts are (or why it could not be decoded).
struct DecodedRecords {
    arrays: DecodedMapping,
    records: Vec<Result<RecordParts, MappingError>>,
}

/// Where one record's file table, expressions and regions are in [`DecodedRecords`].
struct RecordParts {
    files: Range<u32>,
    expressions: Range<u32>,
    regions: Range<u32>,
}

/// Decodes the regions of every kept record (before the names are known, so that the
/// names can be decoded at the same time).
fn decode_records(kept: &[KeptRecord<'_>]) -> DecodedRecords {
    // Every region takes at least five bytes of mapping data and every expression two,
    // which bounds the arrays: reserving that much up front spares the copies of growing
    // them (pages never written are never touched).
    let data_bytes: usize = kept.iter().map(|(_, data, _)| data.len()).sum();
    let mut arrays = DecodedMapping {
        file_table: Vec::with_capacity(kept.len() * 2),
        expressions: Vec::with_capacity(data_bytes / 2),
        regions: Vec::with_capacity(data_bytes / 5),
    };
    let records = kept
        .iter()
        .map(|(_, data, table)| {
            let files_start = arrays.file_table.len();
            let expressions_start = arrays.expressions.len();
            let regions_start = arrays.regions.len();
            decode_regions_into(data, table.len(), &mut arrays)?;
            Ok(RecordParts {
                files: range_from(files_start, arrays.file_table.len()),
                expressions: range_from(expressions_start, arrays.expressions.len()),
                regions: range_from(regions_start, arrays.regions.len()),
            })
        })
        .collect();
    DecodedRecords { arrays, records }
}

/// The mapping of the kept records that have a name: llvm-cov skips a record without one
/// (whether or not its regions could be decoded), and any other record that could not be
/// decoded is an error.
fn assemble(
    kept: &[KeptRecord<'_>],
    decoded: DecodedRecords,
    names: &NameTable,
) -> Result<CoverageMapping, MappingError> {
    let DecodedRecords {
        mut arrays,
        records,
    } = decoded;
    // The global index of each path of each filename table, found on first use.
    let mut files: Vec<String> = Vec::new();
    let mut file_index: HashMap<&str, u32> = HashMap::new();
    let mut global_by_table: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut mapping = CoverageMapping::default();
    mapping.functions.reserve_exact(kept.len());
    for ((header, _, table), parts) in kept.iter().zip(records) {
        let Some(name) = names.get(header.name_ref) else {
            tracing::warn!(
                name_ref = format_args!("{:#018x}", header.name_ref),
                "coverage record without a function name; skipped"
            );
            continue;
        };
        let parts = parts?;
        let global = global_by_table
            .entry(header.filenames_ref)
            .or_insert_with(|| {
                table
                    .iter()
                    .map(|path| {
                        let next = u32::try_from(files.len()).unwrap_or(u32::MAX);
                        *file_index.entry(path.as_str()).or_insert_with(|| {
                            files.push(path.clone());
                            next
                        })
                    })
                    .collect()
            });
        // The file table holds indices into the translation unit's table; the mapping
        // keeps indices into its own list of paths.
        for index in &mut arrays.file_table[parts.files.start as usize..parts.files.end as usize] {
            *index = global[*index as usize];
        }
        let name = append(&mut mapping.names, name);
        mapping.functions.push(FunctionEntry {
            name_ref: header.name_ref,
            func_hash: header.func_hash,
            name,
            files: parts.files,
            expressions: parts.expressions,
            regions: parts.regions,
        });
    }
    mapping.files = files;
    mapping.function_files = arrays.file_table;
    mapping.expressions = arrays.expressions;
    mapping.regions = arrays.regions;
    Ok(mapping)
}

/// `start..end` as the `u32` range the mapping stores. A mapping section is far smaller
/// than 4 GiB items.
fn range_from(start: usize, end: usize) -> Range<u32> {
    start as u32..end as u32
}
