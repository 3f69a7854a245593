//! The `__llvm_covfun` section: one coverage record per function.
//!
//! A record is `{u64 NameRef, u32 DataSize, u64 FuncHash, u64 FilenamesRef}` (28 bytes,
//! packed), `DataSize` bytes of mapping data, and padding to 8 bytes. The mapping data is
//! the function's file-id table (indices into its translation unit's filename table), its
//! counter expressions, and then, per file id, its regions. The decoding follows LLVM's
//! `RawCoverageMappingReader` step by step, including its validity checks, so anything
//! llvm-cov rejects is rejected here with an error, and nothing can panic.

use crate::bytes::Cursor;
use crate::decode::mapping::{Counter, Expression, ExpressionKind, MappingRegion, RegionKind};
use crate::decode_error::MappingError;

const WHAT: &str = "function coverage record";
const HEADER_SIZE: usize = 28;

/// The fixed part of a function record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionRecordHeader {
    /// MD5 reference of the function's name.
    pub name_ref: u64,
    /// The function's structural hash.
    pub func_hash: u64,
    /// MD5 reference of its translation unit's filenames blob.
    pub filenames_ref: u64,
}

/// Splits a covfun section into record headers and their mapping data.
pub fn decode_function_records(
    section: &[u8],
) -> Result<Vec<(FunctionRecordHeader, &[u8])>, MappingError> {
    let mut records = Vec::new();
    let mut cursor = Cursor::new(section);
    while !cursor.is_empty() {
        let offset = cursor.offset();
        let truncated = |_| MappingError::Truncated { what: WHAT, offset };
        if cursor.remaining() < HEADER_SIZE {
            // Trailing zero padding after the last record is not a record.
            if section[offset..].iter().all(|&byte| byte == 0) {
                break;
            }
            return Err(MappingError::Truncated { what: WHAT, offset });
        }
        let name_ref = cursor.u64().map_err(truncated)?;
        let data_size = cursor.u32().map_err(truncated)?;
        let func_hash = cursor.u64().map_err(truncated)?;
        let filenames_ref = cursor.u64().map_err(truncated)?;
        let data = cursor
            .bytes(data_size as usize)
            .map_err(|_| MappingError::Malformed {
                what: WHAT,
                detail: format!(
                    "record at byte {offset}: coverage mapping data is larger than the section"
                ),
            })?;
        records.push((
            FunctionRecordHeader {
                name_ref,
                func_hash,
                filenames_ref,
            },
            data,
        ));
        cursor.align_to(8);
    }
    Ok(records)
}

/// The decoded mapping data of one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodedMapping {
    /// For each function-local file id, the index into the translation unit's filenames.
    pub file_table: Vec<u32>,
    /// Counter expressions.
    pub expressions: Vec<Expression>,
    /// Regions in stored order (grouped by file id).
    pub regions: Vec<MappingRegion>,
}

struct MappingReader<'a> {
    cursor: Cursor<'a>,
}

impl MappingReader<'_> {
    fn truncated(&self) -> MappingError {
        MappingError::Truncated {
            what: WHAT,
            offset: self.cursor.offset(),
        }
    }

    fn malformed(detail: &str) -> MappingError {
        MappingError::Malformed {
            what: WHAT,
            detail: detail.to_owned(),
        }
    }

    fn uleb(&mut self) -> Result<u64, MappingError> {
        if self.cursor.is_empty() {
            return Err(self.truncated());
        }
        self.cursor
            .uleb()
            .map_err(|_| Self::malformed("the size of ULEB128 is too big"))
    }

    /// A ULEB value that must be below `max_plus_one`.
    fn int_max(&mut self, max_plus_one: u64) -> Result<u64, MappingError> {
        let value = self.uleb()?;
        if value >= max_plus_one {
            return Err(Self::malformed(
                "the value of ULEB128 is greater than or equal to MaxPlus1",
            ));
        }
        Ok(value)
    }

    /// A ULEB count that cannot exceed the bytes left.
    fn size(&mut self) -> Result<u64, MappingError> {
        let value = self.uleb()?;
        if value > self.cursor.remaining() as u64 {
            return Err(Self::malformed("the value of ULEB128 is too big"));
        }
        Ok(value)
    }

    /// Decodes an encoded counter; an expression reference also fixes the kind of the
    /// expression it refers to, as in LLVM.
    fn decode_counter(value: u64, expressions: &mut [Expression]) -> Result<Counter, MappingError> {
        match value & 0b11 {
            0 => Ok(Counter::Zero),
            1 => Ok(Counter::Counter((value >> 2) as u32)),
            tag => {
                let id = (value >> 2) as usize;
                let expression = expressions
                    .get_mut(id)
                    .ok_or_else(|| Self::malformed("counter expression is invalid"))?;
                expression.kind = if tag == 2 {
                    ExpressionKind::Subtract
                } else {
                    ExpressionKind::Add
                };
                Ok(Counter::Expression(id as u32))
            }
        }
    }

    fn counter(&mut self, expressions: &mut [Expression]) -> Result<Counter, MappingError> {
        let value = self.int_max(u64::from(u32::MAX))?;
        Self::decode_counter(value, expressions)
    }
}

/// Decodes a function's mapping data; `num_tu_files` is the size of its translation
/// unit's filename table. (The mapping decodes regions in place; this one-function entry
/// point is for the checks of the `decode` feature.)
#[cfg(feature = "decode")]
pub fn decode_regions(data: &[u8], num_tu_files: usize) -> Result<DecodedMapping, MappingError> {
    let mut decoded = DecodedMapping::default();
    decode_regions_into(data, num_tu_files, &mut decoded)?;
    Ok(decoded)
}

/// [`decode_regions`], appending the function's file table, expressions and regions to
/// those already in `out` (ids and indices in them stay local to the function), so that a
/// whole program decodes into three arrays. On an error, `out` holds part of the function.
pub fn decode_regions_into(
    data: &[u8],
    num_tu_files: usize,
    out: &mut DecodedMapping,
) -> Result<(), MappingError> {
    let mut reader = MappingReader {
        cursor: Cursor::new(data),
    };
    let num_files = reader.size()?;
    let files_start = out.file_table.len();
    for _ in 0..num_files {
        out.file_table
            .push(reader.int_max(num_tu_files as u64)? as u32);
    }
    let file_table = &out.file_table[files_start..];
    let num_expressions = reader.size()? as usize;
    let expressions_start = out.expressions.len();
    out.expressions.resize(
        expressions_start + num_expressions,
        Expression {
            kind: ExpressionKind::Subtract,
            lhs: Counter::Zero,
            rhs: Counter::Zero,
        },
    );
    let expressions = &mut out.expressions[expressions_start..];
    for index in 0..num_expressions {
        let lhs = reader.counter(expressions)?;
        let rhs = reader.counter(expressions)?;
        expressions[index].lhs = lhs;
        expressions[index].rhs = rhs;
    }

    let regions = &mut out.regions;
    let regions_start = regions.len();
    for file_id in 0..file_table.len() {
        let num_regions = reader.size()?;
        // Bounded by the bytes left (`size`), so never an absurd reservation.
        regions.reserve_exact(num_regions as usize);
        let mut line_start = 0_u32;
        for _ in 0..num_regions {
            let mut count = Counter::Zero;
            let mut false_count = Counter::Zero;
            let mut kind = RegionKind::Code;
            let mut expanded_file_id = 0_u32;
            let encoded = reader.int_max(u64::from(u32::MAX))?;
            if encoded & 0b11 != 0 {
                count = MappingReader::decode_counter(encoded, expressions)?;
            } else if encoded & 0b100 != 0 {
                kind = RegionKind::Expansion;
                let expanded = encoded >> 3;
                if expanded >= file_table.len() as u64 {
                    return Err(MappingReader::malformed("ExpandedFileID is invalid"));
                }
                expanded_file_id = expanded as u32;
            } else {
                match encoded >> 3 {
                    0 => {}
                    2 => kind = RegionKind::Skipped,
                    4 => {
                        kind = RegionKind::Branch;
                        count = reader.counter(expressions)?;
                        false_count = reader.counter(expressions)?;
                    }
                    6 => {
                        kind = RegionKind::McdcBranch;
                        count = reader.counter(expressions)?;
                        false_count = reader.counter(expressions)?;
                        let id = reader.int_max(i16::MAX as u64)?;
                        reader.int_max(i16::MAX as u64)?;
                        reader.int_max(i16::MAX as u64)?;
                        if id == 0 {
                            return Err(MappingReader::malformed(
                                "MCDCConditionID shouldn't be zero",
                            ));
                        }
                    }
                    5 => {
                        kind = RegionKind::McdcDecision;
                        reader.int_max(u64::from(u32::MAX))?;
                        reader.int_max(i16::MAX as u64)?;
                    }
                    _ => return Err(MappingReader::malformed("region kind is incorrect")),
                }
            }
            let line_start_delta = reader.int_max(u64::from(u32::MAX))? as u32;
            let column_start = reader.uleb()?;
            if column_start > u64::from(u32::MAX) {
                return Err(MappingReader::malformed("start column is too big"));
            }
            let mut column_start = column_start as u32;
            let num_lines = reader.int_max(u64::from(u32::MAX))? as u32;
            let mut column_end = reader.int_max(u64::from(u32::MAX))? as u32;
            line_start = line_start.wrapping_add(line_start_delta);
            if column_end & (1 << 31) != 0 {
                kind = RegionKind::Gap;
                column_end &= !(1 << 31);
            }
            if column_start == 0 && column_end == 0 {
                column_start = 1;
                column_end = u32::MAX;
            }
            let region = MappingRegion {
                kind,
                count,
                false_count,
                file_id: file_id as u32,
                expanded_file_id,
                line_start,
                column_start,
                line_end: line_start.wrapping_add(num_lines),
                column_end,
            };
            if region.start() > region.end() {
                return Err(MappingReader::malformed(
                    "counter mapping region locations are incorrect",
                ));
            }
            regions.push(region);
        }
    }
    propagate_expansion_counts(&mut regions[regions_start..], file_table.len());
    Ok(())
}

/// Whether a function's file-id table (the start of its mapping data) refers to a file
/// whose entry in `selected` (one per path of its translation unit's table) is true.
/// Reads only the table, with the same checks as [`decode_regions`].
pub fn touches_selected_file(data: &[u8], selected: &[bool]) -> Result<bool, MappingError> {
    let mut reader = MappingReader {
        cursor: Cursor::new(data),
    };
    let num_files = reader.size()?;
    let mut touches = false;
    for _ in 0..num_files {
        let index = reader.int_max(selected.len() as u64)? as usize;
        touches |= selected[index];
    }
    Ok(touches)
}

/// Gives every expansion region the counter of the first region of the file it expands
/// to, repeating until nothing changes so that nested expansions are resolved (LLVM's
/// reader does the same). Bounded, so malformed cyclic input cannot loop forever.
fn propagate_expansion_counts(regions: &mut [MappingRegion], num_files: usize) {
    if !regions
        .iter()
        .any(|region| region.kind == RegionKind::Expansion)
    {
        return;
    }
    let mut expansion_for_file: Vec<Option<usize>> = vec![None; num_files];
    for _ in 0..=regions.len() {
        for (index, region) in regions.iter().enumerate() {
            if region.kind == RegionKind::Expansion {
                expansion_for_file[region.expanded_file_id as usize] = Some(index);
            }
        }
        let mut changed = false;
        for index in 0..regions.len() {
            let file_id = regions[index].file_id as usize;
            if let Some(expansion) = expansion_for_file[file_id].take() {
                let count = regions[index].count;
                if regions[expansion].count != count {
                    regions[expansion].count = count;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Whether a record is a "dummy": hash 0 and a single zero region in a single file,
/// emitted for a function that was seen but not used in its translation unit.
pub fn is_dummy(func_hash: u64, data: &[u8]) -> Result<bool, MappingError> {
    if func_hash != 0 {
        return Ok(false);
    }
    let mut reader = MappingReader {
        cursor: Cursor::new(data),
    };
    if reader.size()? != 1 {
        return Ok(false);
    }
    reader.int_max(u64::from(u32::MAX))?;
    if reader.size()? != 0 {
        return Ok(false);
    }
    if reader.size()? != 1 {
        return Ok(false);
    }
    let encoded = reader.int_max(u64::from(u32::MAX))?;
    Ok(encoded & 0b11 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_files_expressions_and_every_region_kind() {
        // A reference to expression 2 when there are none is malformed, as in LLVM.
        assert!(decode_regions(&[1, 0, 0, 1, 0x0a, 1, 1, 0, 1], 1).is_err());

        let data = [
            2, 0, 1, // two file ids -> filenames 0 and 1
            1, 0x05, 0x00, // expression 0: counter 1 (0x05 = 1 << 2 | 1) and zero
            3,    // file 0: three regions
            0x03, 1, 2, 0, 9, // code, counter = expression 0 referenced with the Add tag
            0x0c, 1, 1, 0, 5, // expansion to file id 1
            0x20, 0x05, 0x01, 1, 2, 0, 7, // branch: counters 1 and 0
            1, // file 1: one region
            0x01, 4, 1, 0, 0x82, 0x80, 0x80, 0x80, 0x08, // gap: counter 0, 4:1 -> 4:2
        ];
        let decoded = decode_regions(&data, 2).unwrap();
        assert_eq!(decoded.file_table, vec![0, 1]);
        assert_eq!(
            decoded.expressions,
            vec![Expression {
                kind: ExpressionKind::Add,
                lhs: Counter::Counter(1),
                rhs: Counter::Zero
            }]
        );
        let kinds: Vec<RegionKind> = decoded.regions.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            vec![
                RegionKind::Code,
                RegionKind::Expansion,
                RegionKind::Branch,
                RegionKind::Gap
            ]
        );
        let code = decoded.regions[0];
        assert_eq!((code.start(), code.end()), ((1, 2), (1, 9)));
        // The expansion takes the counter of the first region of the file it expands to.
        assert_eq!(decoded.regions[1].count, Counter::Counter(0));
        assert_eq!(decoded.regions[1].expanded_file_id, 1);
        let branch = decoded.regions[2];
        assert_eq!(
            (branch.count, branch.false_count),
            (Counter::Counter(1), Counter::Counter(0))
        );
        assert_eq!(branch.start(), (3, 2));
        let gap = decoded.regions[3];
        assert_eq!((gap.file_id, gap.start(), gap.end()), (1, (4, 1), (4, 2)));
    }

    #[test]
    fn whole_line_regions_and_bad_locations() {
        // Columns 0 -> 0 mean "the whole line".
        let data = [1, 0, 0, 1, 0x05, 3, 0, 0, 0];
        let region = decode_regions(&data, 1).unwrap().regions[0];
        assert_eq!((region.start(), region.end()), ((3, 1), (3, u32::MAX)));
        // An end before the start is malformed.
        let data = [1, 0, 0, 1, 0x05, 3, 5, 0, 2];
        assert!(decode_regions(&data, 1).is_err());
        // A file index past the translation unit's table is malformed.
        assert!(decode_regions(&[1, 4, 0, 0], 2).is_err());
    }

    #[test]
    fn dummy_records_are_recognized() {
        // Hash 0, one file, no expressions, one region with a zero counter.
        let dummy = [1, 0, 0, 1, 0x00, 1, 1, 0, 1];
        assert!(is_dummy(0, &dummy).unwrap());
        assert!(!is_dummy(7, &dummy).unwrap());
        let real = [1, 0, 0, 1, 0x05, 1, 1, 0, 1];
        assert!(!is_dummy(0, &real).unwrap());
    }

    #[test]
    fn file_tables_are_checked_against_the_selection() {
        // File ids 0 and 2 of a three-file translation unit.
        let data = [2, 0, 2, 0];
        assert!(touches_selected_file(&data, &[false, false, true]).unwrap());
        assert!(touches_selected_file(&data, &[true, false, false]).unwrap());
        assert!(!touches_selected_file(&data, &[false, true, false]).unwrap());
        // An index past the table is malformed, as in `decode_regions`.
        assert!(touches_selected_file(&data, &[true, true]).is_err());
        assert!(touches_selected_file(&[], &[true]).is_err());
    }

    #[test]
    fn records_are_split_and_padded() {
        let mut section = Vec::new();
        for (name_ref, data) in [(1_u64, vec![9_u8, 9, 9]), (2, vec![])] {
            section.extend_from_slice(&name_ref.to_le_bytes());
            section.extend_from_slice(&(data.len() as u32).to_le_bytes());
            section.extend_from_slice(&5_u64.to_le_bytes());
            section.extend_from_slice(&6_u64.to_le_bytes());
            section.extend_from_slice(&data);
            while section.len() % 8 != 0 {
                section.push(0);
            }
        }
        let records = decode_function_records(&section).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0.name_ref, 1);
        assert_eq!(records[0].1, &[9, 9, 9]);
        assert_eq!(records[1].0.filenames_ref, 6);
        // A record whose data runs past the section is malformed.
        assert!(decode_function_records(&section[..30]).is_err());
    }
}
