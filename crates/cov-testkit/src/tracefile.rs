//! A parser for LCOV tracefiles ([`LcovTracefile`]): the oracle's (`llvm-cov export
//! -format=lcov`) and the reports', read back by the tests to compare them.

use std::collections::BTreeMap;

/// A parsed LCOV tracefile: one record per source file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LcovTracefile {
    /// Source path (`SF:`) to that file's record.
    pub files: BTreeMap<String, LcovFile>,
}

/// One `SF:` … `end_of_record` record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LcovFile {
    /// `FN:` lines in file order, with their `FNDA:` counts where given.
    pub functions: Vec<LcovFunction>,
    /// `DA:` line number to execution count.
    pub lines: BTreeMap<u32, u64>,
    /// `BRDA:` `(line, block, branch)` to the taken count; `None` for `-` (never
    /// evaluated).
    pub branches: BTreeMap<(u32, u32, u32), Option<u64>>,
    /// `FNF`, `FNH`, `LF`, `LH`, `BRF`, `BRH` as written.
    pub summaries: BTreeMap<String, u64>,
}

/// An `FN:` entry and its `FNDA:` count.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LcovFunction {
    /// The function's name as written.
    pub name: String,
    /// The line where it starts.
    pub line: u32,
    /// Its `FNDA:` execution count, if one was written.
    pub count: Option<u64>,
}

impl LcovTracefile {
    /// Parses an LCOV tracefile.
    ///
    /// # Panics
    ///
    /// On malformed input, with the offending line; use [`LcovTracefile::try_parse`] to get an
    /// error instead.
    pub fn parse(text: &str) -> LcovTracefile {
        LcovTracefile::try_parse(text).unwrap_or_else(|error| panic!("invalid LCOV: {error}"))
    }

    /// Parses an LCOV tracefile, or says which line is malformed.
    pub fn try_parse(text: &str) -> Result<LcovTracefile, String> {
        let mut lcov = LcovTracefile::default();
        let mut current: Option<(String, LcovFile)> = None;
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let bad = |why: &str| format!("line {line_number} `{line}`: {why}");
            let line = line.trim_end();
            if line.is_empty() || line.starts_with("TN:") {
                continue;
            }
            if line == "end_of_record" {
                let (path, file) = current.take().ok_or_else(|| bad("no open record"))?;
                lcov.files.insert(path, file);
                continue;
            }
            let (tag, value) = line.split_once(':').ok_or_else(|| bad("no `:`"))?;
            if tag == "SF" {
                if current.is_some() {
                    return Err(bad("SF inside an open record"));
                }
                current = Some((value.to_owned(), LcovFile::default()));
                continue;
            }
            let (_, file) = current.as_mut().ok_or_else(|| bad("outside a record"))?;
            let number = |text: &str| text.parse::<u64>().map_err(|_| bad("not a number"));
            let line_no = |text: &str| text.parse::<u32>().map_err(|_| bad("not a line number"));
            match tag {
                "FN" => {
                    let (start, name) = value.split_once(',').ok_or_else(|| bad("no `,`"))?;
                    file.functions.push(LcovFunction {
                        name: name.to_owned(),
                        line: line_no(start)?,
                        count: None,
                    });
                }
                "FNDA" => {
                    let (count, name) = value.split_once(',').ok_or_else(|| bad("no `,`"))?;
                    let count = number(count)?;
                    let function = file
                        .functions
                        .iter_mut()
                        .find(|function| function.name == name && function.count.is_none())
                        .ok_or_else(|| bad("FNDA without FN"))?;
                    function.count = Some(count);
                }
                "DA" => {
                    let mut fields = value.split(',');
                    let line = line_no(fields.next().unwrap_or_default())?;
                    let count = number(fields.next().ok_or_else(|| bad("no count"))?)?;
                    if file.lines.insert(line, count).is_some() {
                        return Err(bad("duplicate DA line"));
                    }
                }
                "BRDA" => {
                    let fields: Vec<&str> = value.split(',').collect();
                    let [line, block, branch, taken] = fields[..] else {
                        return Err(bad("BRDA needs four fields"));
                    };
                    let taken = if taken == "-" {
                        None
                    } else {
                        Some(number(taken)?)
                    };
                    let key = (line_no(line)?, line_no(block)?, line_no(branch)?);
                    if file.branches.insert(key, taken).is_some() {
                        return Err(bad("duplicate BRDA"));
                    }
                }
                "FNF" | "FNH" | "LF" | "LH" | "BRF" | "BRH" => {
                    file.summaries.insert(tag.to_owned(), number(value)?);
                }
                _ => return Err(bad("unknown tag")),
            }
        }
        if let Some((path, _)) = current {
            return Err(format!("record for {path} has no end_of_record"));
        }
        Ok(lcov)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_tag_llvm_cov_writes() {
        let text = "SF:/src/a.rs\nFN:3,_RNvf\nFNDA:2,_RNvf\nFNF:1\nFNH:1\nDA:3,2\nDA:4,0\n\
                    BRDA:4,0,0,1\nBRDA:4,0,1,-\nBRF:2\nBRH:1\nLF:2\nLH:1\nend_of_record\n";
        let lcov = LcovTracefile::parse(text);
        let file = &lcov.files["/src/a.rs"];
        assert_eq!(
            file.functions,
            vec![LcovFunction {
                name: "_RNvf".into(),
                line: 3,
                count: Some(2)
            }]
        );
        assert_eq!(file.lines, BTreeMap::from([(3, 2), (4, 0)]));
        assert_eq!(file.branches[&(4, 0, 0)], Some(1));
        assert_eq!(file.branches[&(4, 0, 1)], None);
        assert_eq!(file.summaries["BRF"], 2);
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(LcovTracefile::try_parse("DA:1,1\n").is_err());
        assert!(LcovTracefile::try_parse("SF:/a\nDA:x,1\nend_of_record\n").is_err());
        assert!(LcovTracefile::try_parse("SF:/a\nDA:1,1\n").is_err());
        assert!(LcovTracefile::try_parse("SF:/a\nBRDA:1,0,0\nend_of_record\n").is_err());
    }
}
