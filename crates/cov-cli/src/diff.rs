//! Which lines a change touches, read from a unified diff.
//!
//! `drift-cov` asks git itself for the diff (`git diff --unified=0 --find-renames`, with the
//! prefixes and quoting pinned so no user configuration changes the format) or reads a
//! patch file, and this module turns it into [`FileChange`]s: per file, its path before and
//! after, and its [`Change`]s as line ranges on both sides.
//!
//! It is a small parser of our own rather than a crate: all `impact` and `patch` need is the
//! file headers (including git's `rename from`/`new file`/`deleted file` lines) and the
//! line numbers of each hunk, which is about a hundred lines; the patch crates we looked at
//! (`diffy`, `patch`, `unidiff`) parse hunk text for applying patches, drop or reject git's
//! extended headers, or are no longer maintained. Hunks are walked line by line, so patches
//! with context lines (plain `git diff`, `diff -u`) work as well as `--unified=0` output.

use std::path::Path;
use std::process::Command;

use crate::Error;

/// One file of a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileChange {
    /// The path before the change; `None` for a file the change adds.
    pub(crate) old_path: Option<String>,
    /// The path after the change; `None` for a file the change deletes.
    pub(crate) new_path: Option<String>,
    /// The changed blocks, in file order.
    pub(crate) changes: Vec<Change>,
}

impl FileChange {
    /// What happened to the file: `added`, `deleted`, `renamed` or `modified`.
    pub(crate) fn status(&self) -> &'static str {
        match (&self.old_path, &self.new_path) {
            (None, _) => "added",
            (_, None) => "deleted",
            (Some(old), Some(new)) if old != new => "renamed",
            _ => "modified",
        }
    }
}

/// One block of consecutive changed lines: old lines `old_start .. old_start + old_len` were
/// replaced by new lines `new_start .. new_start + new_len` (1-based).
///
/// When `old_len` is 0 the block is a pure insertion between old lines `old_start - 1` and
/// `old_start`; when `new_len` is 0 it is a pure deletion, and the old lines were between new
/// lines `new_start - 1` and `new_start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) old_start: u32,
    pub(crate) old_len: u32,
    pub(crate) new_start: u32,
    pub(crate) new_len: u32,
}

impl Change {
    /// The old lines the block modifies or deletes.
    pub(crate) fn old_lines(&self) -> std::ops::Range<u32> {
        self.old_start..self.old_start + self.old_len
    }

    /// The new lines the block adds or modifies.
    pub(crate) fn new_lines(&self) -> std::ops::Range<u32> {
        self.new_start..self.new_start + self.new_len
    }
}

/// Runs `git diff` for `range` (`BASE..HEAD`, or anything `git diff` takes as a revision
/// argument) in `repo` and parses its output.
pub(crate) fn from_git(repo: &Path, range: &str) -> Result<Vec<FileChange>, Error> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "core.quotePath=true",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            // Paths from the repository root even with `diff.relative` set, as the
            // coverage JSON has them.
            "--no-relative",
            "--unified=0",
            "--find-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            range,
            "--",
        ])
        .output()
        .map_err(|source| Error::Git {
            range: range.to_owned(),
            message: source.to_string(),
        })?;
    if !output.status.success() {
        return Err(Error::Git {
            range: range.to_owned(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout)).map_err(|message| Error::Diff {
        source_name: format!("git diff {range}"),
        message,
    })
}

/// Parses a unified diff (git's or plain `diff -u`); the error names the offending line.
pub(crate) fn parse(text: &str) -> Result<Vec<FileChange>, String> {
    let mut files: Vec<FileChange> = Vec::new();
    // Whether the current file's `---`/`+++` lines are still to come (inside a git header).
    let mut in_git_header = false;
    let mut lines = text.lines().enumerate().peekable();
    while let Some((line_idx, line)) = lines.next() {
        let at = |message: &str| format!("line {}: {message}: {line:?}", line_idx + 1);
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let (old, new) = git_header_paths(rest).unwrap_or_default();
            files.push(FileChange {
                old_path: Some(old),
                new_path: Some(new),
                changes: Vec::new(),
            });
            in_git_header = true;
        } else if let Some(rest) = line.strip_prefix("--- ") {
            if !in_git_header {
                files.push(FileChange {
                    old_path: None,
                    new_path: None,
                    changes: Vec::new(),
                });
            }
            let file = files.last_mut().expect("a file was pushed");
            file.old_path = side_path(rest, "a/");
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            let file = files.last_mut().ok_or_else(|| at("`+++` without `---`"))?;
            file.new_path = side_path(rest, "b/");
            in_git_header = false;
        } else if line.starts_with("@@ ") {
            in_git_header = false;
            let file = files
                .last_mut()
                .ok_or_else(|| at("hunk before any file header"))?;
            let (old_start, old_count, new_start, new_count) =
                hunk_header(line).ok_or_else(|| at("malformed hunk header"))?;
            // A side with no lines names the line before the hunk (git's convention).
            let mut old_line = if old_count == 0 {
                old_start + 1
            } else {
                old_start
            };
            let mut new_line = if new_count == 0 {
                new_start + 1
            } else {
                new_start
            };
            let (mut old_left, mut new_left) = (old_count, new_count);
            let mut block: Option<Change> = None;
            while old_left > 0 || new_left > 0 {
                let Some((body_idx, body)) = lines.next() else {
                    return Err(format!(
                        "line {}: the hunk ends early (the diff is cut off)",
                        line_idx + 1
                    ));
                };
                let kind = body.as_bytes().first().copied().unwrap_or(b' ');
                let block = block.get_or_insert(Change {
                    old_start: old_line,
                    old_len: 0,
                    new_start: new_line,
                    new_len: 0,
                });
                match kind {
                    b'-' if old_left > 0 => {
                        block.old_len += 1;
                        old_line += 1;
                        old_left -= 1;
                    }
                    b'+' if new_left > 0 => {
                        block.new_len += 1;
                        new_line += 1;
                        new_left -= 1;
                    }
                    b' ' if old_left > 0 && new_left > 0 => {
                        end_block(file, block);
                        old_line += 1;
                        new_line += 1;
                        old_left -= 1;
                        new_left -= 1;
                    }
                    b'\\' => {}
                    _ => {
                        return Err(format!(
                            "line {}: unexpected line in a hunk: {body:?}",
                            body_idx + 1
                        ));
                    }
                }
            }
            if let Some(block) = block {
                keep_block(file, block);
            }
            // "\ No newline at end of file" after the hunk's last line.
            while lines.next_if(|(_, body)| body.starts_with('\\')).is_some() {}
        } else if let Some(file) = files.last_mut().filter(|_| in_git_header) {
            git_extended_header(file, line);
        }
    }
    Ok(files)
}

/// Keeps `block` on `file` when it changed anything.
fn keep_block(file: &mut FileChange, block: Change) {
    if block.old_len > 0 || block.new_len > 0 {
        file.changes.push(block);
    }
}

/// Ends `block` at a context line: keeps it and starts a new one after that line.
fn end_block(file: &mut FileChange, block: &mut Change) {
    keep_block(file, *block);
    *block = Change {
        old_start: block.old_start + block.old_len + 1,
        old_len: 0,
        new_start: block.new_start + block.new_len + 1,
        new_len: 0,
    };
}

/// Applies one line of git's extended header (`new file mode`, `rename from`, ...).
fn git_extended_header(file: &mut FileChange, line: &str) {
    if line.starts_with("new file mode ") {
        file.old_path = None;
    } else if line.starts_with("deleted file mode ") {
        file.new_path = None;
    } else if let Some(path) = line
        .strip_prefix("rename from ")
        .or_else(|| line.strip_prefix("copy from "))
    {
        file.old_path = Some(unquote(path));
    } else if let Some(path) = line
        .strip_prefix("rename to ")
        .or_else(|| line.strip_prefix("copy to "))
    {
        file.new_path = Some(unquote(path));
    }
}

/// The two paths of `diff --git a/X b/Y`. Unambiguous when quoted or when X equals Y (the
/// only unquoted case git leaves without `---`/`+++` or `rename` lines to say it better).
fn git_header_paths(rest: &str) -> Option<(String, String)> {
    if rest.starts_with('"') {
        let (old, after) = split_quoted(rest)?;
        let new = after.trim_start();
        let new = if new.starts_with('"') {
            split_quoted(new)?.0
        } else {
            new.to_owned()
        };
        return Some((strip(&old, "a/"), strip(&new, "b/")));
    }
    let half = rest.len().checked_sub(1)? / 2;
    let (old, new) = (rest.get(..half)?, rest.get(half + 1..)?);
    (rest.as_bytes().get(half) == Some(&b' ') && old.get(2..) == new.get(2..))
        .then(|| (strip(old, "a/"), strip(new, "b/")))
}

/// The path of a `---`/`+++` line: `None` for `/dev/null`, without git's prefix, without the
/// tab and timestamp `diff -u` appends.
fn side_path(rest: &str, prefix: &str) -> Option<String> {
    let path = if rest.starts_with('"') {
        split_quoted(rest).map_or_else(|| rest.to_owned(), |(path, _)| path)
    } else {
        rest.split('\t').next().unwrap_or(rest).to_owned()
    };
    (path != "/dev/null").then(|| strip(&path, prefix))
}

fn strip(path: &str, prefix: &str) -> String {
    path.strip_prefix(prefix).unwrap_or(path).to_owned()
}

/// `@@ -a[,b] +c[,d] @@...` → `(a, b, c, d)`; an omitted count is 1.
fn hunk_header(line: &str) -> Option<(u32, u32, u32, u32)> {
    let mut fields = line.strip_prefix("@@ -")?.split(' ');
    let old = fields.next()?;
    let new = fields.next()?.strip_prefix('+')?;
    let range = |text: &str| -> Option<(u32, u32)> {
        match text.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((text.parse().ok()?, 1)),
        }
    };
    let (old_start, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some((old_start, old_count, new_start, new_count))
}

/// A path as git writes it: C-quoted (`"a/t\303\251st \"x\".rs"`) when it has unusual bytes.
fn unquote(text: &str) -> String {
    match text.starts_with('"').then(|| split_quoted(text)).flatten() {
        Some((path, _)) => path,
        None => text.to_owned(),
    }
}

/// Reads one C-quoted string from the start of `text`: the unquoted text and what follows.
fn split_quoted(text: &str) -> Option<(String, &str)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut idx = 1;
    while idx < bytes.len() {
        match bytes[idx] {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), &text[idx + 1..])),
            b'\\' => {
                let escaped = *bytes.get(idx + 1)?;
                idx += 2;
                let byte = match escaped {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'v' => 0x0b,
                    b'0'..=b'7' => {
                        let digits = text.get(idx - 1..idx + 2)?;
                        idx += 2;
                        u8::from_str_radix(digits, 8).ok()?
                    }
                    other => other,
                };
                out.push(byte);
            }
            byte => {
                out.push(byte);
                idx += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old_start: u32, old_len: u32, new_start: u32, new_len: u32) -> Change {
        Change {
            old_start,
            old_len,
            new_start,
            new_len,
        }
    }

    #[test]
    fn zero_context_hunks_become_blocks_with_git_insertion_positions() {
        let diff = "\
diff --git a/src/a.rs b/src/a.rs
index 1111111..2222222 100644
--- a/src/a.rs
+++ b/src/a.rs
@@ -3 +3 @@ fn a() {
-    old();
+    new();
@@ -10,0 +11,2 @@ fn b() {
+    one();
+    two();
@@ -20,2 +22,0 @@
-    gone();
-    gone_too();
";
        let files = parse(diff).expect("parses");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].old_path.as_deref(), Some("src/a.rs"));
        assert_eq!(files[0].new_path.as_deref(), Some("src/a.rs"));
        assert_eq!(
            files[0].changes,
            [
                change(3, 1, 3, 1),
                change(11, 0, 11, 2),
                change(20, 2, 23, 0)
            ]
        );
    }

    #[test]
    fn context_lines_split_a_hunk_into_blocks() {
        let diff = "\
--- a.rs\t2026-01-01 00:00:00
+++ a.rs\t2026-01-02 00:00:00
@@ -1,6 +1,7 @@
 one
-two
+TWO
 three
+inserted
 four
 five
-six
\\ No newline at end of file
+six
";
        let files = parse(diff).expect("parses");
        assert_eq!(files[0].old_path.as_deref(), Some("a.rs"));
        assert_eq!(
            files[0].changes,
            [change(2, 1, 2, 1), change(4, 0, 4, 1), change(6, 1, 7, 1)]
        );
    }

    #[test]
    fn git_headers_name_added_deleted_renamed_and_quoted_files() {
        let diff = "\
diff --git a/new.rs b/new.rs
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/new.rs
@@ -0,0 +1,2 @@
+fn a() {}
+fn b() {}
diff --git a/old.rs b/old.rs
deleted file mode 100644
index 1111111..0000000
--- a/old.rs
+++ /dev/null
@@ -1 +0,0 @@
-fn a() {}
diff --git a/from.rs b/to.rs
similarity index 100%
rename from from.rs
rename to to.rs
diff --git \"a/t\\303\\251st \\\"x\\\".rs\" \"b/t\\303\\251st \\\"x\\\".rs\"
new file mode 100644
index 0000000..e69de29
diff --git a/bin.dat b/bin.dat
index 1111111..2222222 100644
Binary files a/bin.dat and b/bin.dat differ
";
        let files = parse(diff).expect("parses");
        let summary: Vec<(Option<&str>, Option<&str>, &str, usize)> = files
            .iter()
            .map(|file| {
                (
                    file.old_path.as_deref(),
                    file.new_path.as_deref(),
                    file.status(),
                    file.changes.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (None, Some("new.rs"), "added", 1),
                (Some("old.rs"), None, "deleted", 1),
                (Some("from.rs"), Some("to.rs"), "renamed", 0),
                (None, Some("tést \"x\".rs"), "added", 0),
                (Some("bin.dat"), Some("bin.dat"), "modified", 0),
            ]
        );
        assert_eq!(files[0].changes, [change(1, 0, 1, 2)]);
        assert_eq!(files[1].changes, [change(1, 1, 1, 0)]);
    }

    #[test]
    fn a_line_starting_with_dashes_inside_a_hunk_is_a_deletion() {
        let diff = "--- a/x\n+++ b/x\n@@ -1,2 +1 @@\n--- not a header\n-x\n+y\n";
        let files = parse(diff).expect("parses");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].changes, [change(1, 2, 1, 1)]);
    }

    #[test]
    fn malformed_input_is_an_error_naming_the_line() {
        let cut = parse("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-x\n").expect_err("cut off");
        assert!(cut.contains("line 3") && cut.contains("cut off"), "{cut}");
        let header = parse("--- a/x\n+++ b/x\n@@ -x +1 @@\n").expect_err("bad header");
        assert!(header.contains("malformed hunk header"), "{header}");
        let orphan = parse("@@ -1 +1 @@\n-a\n+b\n").expect_err("no file");
        assert!(orphan.contains("line 1"), "{orphan}");
    }
}
