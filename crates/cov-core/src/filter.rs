//! Which source files are the application's own.
//!
//! A coverage mapping names every file the binary was compiled from: the service's code,
//! but also the standard library, every dependency in the cargo registry, generated code in
//! `target/`, and this SDK itself. [`SourceFilter`] keeps only the first kind:
//!
//! 1. the file must lie under the **source root** (by default the canonicalized current
//!    directory, as the Python SDK does), compared component-wise after resolving symlinks
//!    on both sides, so `/app` never matches `/application` and the root itself matches;
//! 2. unless turned off with [`SourceFilterBuilder::default_omissions`], it must not be in a
//!    place that is never the application's own code (see [`SourceFilterBuilder`]);
//! 3. its path relative to the root (`/`-separated) must match an **include** glob when any
//!    is given, and then must match no **exclude** glob: include first, as the Tusk CLI
//!    applies its `coverage.include`/`coverage.exclude`.
//!
//! Globs follow the Tusk CLI's doublestar semantics ([`PathPatterns`]): `*` stays within one
//! path component, `**` spans any number of components, `{a,b}` alternates.
//!
//! ## Purity
//!
//! The filter never reads the environment: values such as `CARGO_HOME`, `OUT_DIR` or
//! `CARGO_TARGET_DIR` come from the caller ([`SourceFilterBuilder::cargo_home`],
//! [`SourceFilterBuilder::omit_dir`]). Its only I/O is resolving symlinks
//! (`std::fs::canonicalize`), once per directory it is given when built and once per file
//! in [`SourceFilter::matches`]; a path that does not exist on this machine (a remapped or
//! deleted file) is cleaned lexically instead. The default root is the one exception that
//! asks the process for something: its current directory, when no root is set.
//!
//! ## The SDK's own crates, and a root found in the mapping
//!
//! The SDK's crates are left out by what they are, not by their names: the caller (cov-sdk)
//! gives each crate's source directory, as cargo told that crate when it was built
//! (`env!("CARGO_MANIFEST_DIR")`), to [`SourceFilterBuilder::omit_dir`].
//!
//! A program run from another directory than the one it was built in (a copied
//! executable, a container's `WORKDIR`) has none of its files under the current directory.
//! [`SourceFilterBuilder::build_for`] then looks at where the mapping's files are: each
//! compilation unit records the directory it was compiled in ([`CompilationUnit`]), and the
//! one holding most of the files the default omissions keep becomes the root. When even
//! that selects nothing, [`NoSourceFiles`] says where the root was and where the files are.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Directory names that hold build output or non-application code when they appear below the
/// source root.
const OMITTED_DIR_NAMES: [&str; 3] = ["target", "tests", "benches"];

/// Errors building a [`SourceFilter`] or [`PathPatterns`].
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A glob pattern does not parse.
    #[error("invalid coverage glob pattern `{pattern}`: {source}")]
    InvalidGlob {
        /// The pattern as given.
        pattern: String,
        /// Why globset rejected it.
        #[source]
        source: globset::Error,
    },
    /// The current directory, needed as the default source root, cannot be read.
    #[error("cannot determine the current directory for the default source root: {0}")]
    CurrentDir(#[source] std::io::Error),
}

/// Include and exclude globs with the Tusk CLI's semantics: a path is allowed when it
/// matches at least one include pattern (or there are none), and then no exclude pattern.
///
/// Built on globset (the matcher ripgrep uses: one compiled automaton per set, so a path is
/// tested against all patterns at once) with a literal separator, which gives doublestar's
/// meaning: `*`, `?` and `[…]` never match `/`, `**` as a whole component matches any number
/// of components (including none; `a/**` also matches `a` itself, as in doublestar). `{a,b}`
/// alternates, `[…]`/`[!…]`/`[^…]` classes and `\\` escapes work as in doublestar.
/// Backslashes in paths are read as `/` first. One difference remains: globset matches `?`
/// and a class against one byte where doublestar matches one character, so `a?b` does not
/// match `a☺b` here; `*` and `**` are unaffected.
///
/// ```
/// use cov_core::filter::PathPatterns;
///
/// let patterns = PathPatterns::new(["src/**"], ["**/migrations/**", "**/*_generated.rs"])?;
/// assert!(patterns.allows("src/handlers/user.rs"));
/// assert!(!patterns.allows("src/db/migrations/init.rs"));
/// assert!(!patterns.allows("src/api_generated.rs"));
/// assert!(!patterns.allows("build.rs"));
/// # Ok::<(), cov_core::filter::FilterError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PathPatterns {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl PathPatterns {
    /// Compiles the two pattern lists. An empty include list allows everything.
    pub fn new<I, E>(include: I, exclude: E) -> Result<Self, FilterError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        E: IntoIterator,
        E::Item: AsRef<str>,
    {
        Ok(Self {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// Whether `path` (relative, `/`- or `\`-separated) passes include, then exclude.
    pub fn allows(&self, path: &str) -> bool {
        let path = path.replace('\\', "/");
        if let Some(include) = &self.include
            && !include.is_match(&path)
        {
            return false;
        }
        !self
            .exclude
            .as_ref()
            .is_some_and(|exclude| exclude.is_match(&path))
    }

    /// Whether neither list has a pattern.
    pub fn is_empty(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

/// Compiles a pattern list; `None` when it is empty.
fn compile<P>(patterns: P) -> Result<Option<GlobSet>, FilterError>
where
    P: IntoIterator,
    P::Item: AsRef<str>,
{
    let mut builder = GlobSetBuilder::new();
    let mut n_patterns = 0;
    for pattern in patterns {
        let pattern = pattern.as_ref();
        builder.add(glob(pattern, pattern)?);
        // doublestar lets a trailing `/**` match the directory itself (`a/**` matches `a`);
        // globset needs that spelled out as a second pattern.
        let mut directory = pattern;
        while let Some(parent) = directory.strip_suffix("/**") {
            directory = parent;
        }
        if directory != pattern && !directory.is_empty() {
            builder.add(glob(directory, pattern)?);
        }
        n_patterns += 1;
    }
    if n_patterns == 0 {
        return Ok(None);
    }
    let set = builder.build().map_err(|source| FilterError::InvalidGlob {
        pattern: String::new(),
        source,
    })?;
    Ok(Some(set))
}

/// Compiles one glob with doublestar's separator rules; errors name `original`.
fn glob(pattern: &str, original: &str) -> Result<globset::Glob, FilterError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .empty_alternates(true)
        .build()
        .map_err(|source| FilterError::InvalidGlob {
            pattern: original.to_owned(),
            source,
        })
}

/// Decides whether a source file is part of the application. Build one with
/// [`SourceFilter::builder`].
///
/// ```
/// use cov_core::filter::SourceFilter;
///
/// let filter = SourceFilter::builder()
///     .root("/srv/app")
///     .cargo_home("/home/app/.cargo")
///     .exclude("**/generated/**")
///     .build()?;
/// assert!(filter.matches("/srv/app/src/main.rs"));
/// assert!(!filter.matches("/srv/application/src/main.rs"));
/// assert!(!filter.matches("/home/app/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.0/src/lib.rs"));
/// # Ok::<(), cov_core::filter::FilterError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SourceFilter {
    root: PathBuf,
    omitted_dirs: Vec<PathBuf>,
    default_omissions: bool,
    patterns: PathPatterns,
}

impl SourceFilter {
    /// A builder with the defaults: root = canonicalized current directory, default
    /// omissions on, no globs.
    pub fn builder() -> SourceFilterBuilder {
        SourceFilterBuilder::default()
    }

    /// The resolved source root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the file at `path` is the application's own source. A relative `path` is
    /// taken relative to the root. Resolves symlinks (one `canonicalize` call), so call it
    /// once per file, not once per line.
    pub fn matches(&self, path: &str) -> bool {
        if path.is_empty() {
            return false;
        }
        let given = Path::new(path);
        if self.default_omissions && is_standard_library(given) {
            return false;
        }
        let absolute = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.root.join(given)
        };
        let resolved = resolve(&absolute);
        let Ok(relative) = resolved.strip_prefix(&self.root) else {
            return false;
        };
        if self.default_omissions
            && (is_standard_library(&resolved)
                || self
                    .omitted_dirs
                    .iter()
                    .any(|dir| resolved.starts_with(dir))
                || has_omitted_component(relative))
        {
            return false;
        }
        if self.patterns.is_empty() {
            return true;
        }
        let relative = relative
            .components()
            .map(|component| component.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        self.patterns.allows(&relative)
    }
}

/// Builds a [`SourceFilter`], in tokio's builder shape.
///
/// With default omissions on (the default), these never match, wherever they are:
/// - the cargo registry and git checkouts: `<CARGO_HOME>/registry/` and `<CARGO_HOME>/git/`
///   for the `CARGO_HOME` given with [`SourceFilterBuilder::cargo_home`], and any path
///   through a `.cargo/registry/` or `.cargo/git/` directory;
/// - the standard library: `/rustc/<hash>/…` (rustc's remapped sysroot paths) and anything
///   under a `lib/rustlib/src/rust/` directory (the rust-src component);
/// - below the root: any directory named `target`, `tests` or `benches` (build output,
///   generated code in `OUT_DIR`, integration tests, benchmarks);
/// - every directory given with [`SourceFilterBuilder::omit_dir`]: the SDK's own crates'
///   source directories (cov-sdk gives them), `OUT_DIR` or `CARGO_TARGET_DIR` when they are
///   set and outside `target/`.
#[derive(Clone, Debug)]
pub struct SourceFilterBuilder {
    root: Option<PathBuf>,
    cargo_home: Option<PathBuf>,
    omit_dirs: Vec<PathBuf>,
    include: Vec<String>,
    exclude: Vec<String>,
    default_omissions: bool,
}

impl Default for SourceFilterBuilder {
    fn default() -> Self {
        Self {
            root: None,
            cargo_home: None,
            omit_dirs: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            default_omissions: true,
        }
    }
}

impl SourceFilterBuilder {
    /// The source root; files outside it never match. Default: the current directory.
    pub fn root(&mut self, root: impl Into<PathBuf>) -> &mut Self {
        self.root = Some(root.into());
        self
    }

    /// Where cargo keeps its registry and git checkouts (the caller's `CARGO_HOME`, or
    /// `$HOME/.cargo`). Its `registry/` and `git/` directories never match.
    pub fn cargo_home(&mut self, cargo_home: impl Into<PathBuf>) -> &mut Self {
        self.cargo_home = Some(cargo_home.into());
        self
    }

    /// A directory whose files never match (e.g. `OUT_DIR`, `CARGO_TARGET_DIR`, a sysroot).
    pub fn omit_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.omit_dirs.push(dir.into());
        self
    }

    /// Adds an include glob, matched against the path relative to the root.
    pub fn include(&mut self, pattern: impl Into<String>) -> &mut Self {
        self.include.push(pattern.into());
        self
    }

    /// Adds an exclude glob, matched against the path relative to the root.
    pub fn exclude(&mut self, pattern: impl Into<String>) -> &mut Self {
        self.exclude.push(pattern.into());
        self
    }

    /// Turns the default omissions (registry, standard library, `target/`, `tests/`,
    /// `benches/`, [`SourceFilterBuilder::omit_dir`]) on or off.
    /// On by default.
    pub fn default_omissions(&mut self, enabled: bool) -> &mut Self {
        self.default_omissions = enabled;
        self
    }

    /// Resolves the root and the omitted directories and compiles the globs.
    pub fn build(&self) -> Result<SourceFilter, FilterError> {
        let root = match &self.root {
            Some(root) => root.clone(),
            None => std::env::current_dir().map_err(FilterError::CurrentDir)?,
        };
        let root = resolve(&root);
        let mut omitted_dirs = Vec::new();
        if let Some(cargo_home) = &self.cargo_home {
            let cargo_home = resolve(cargo_home);
            omitted_dirs.push(cargo_home.join("registry"));
            omitted_dirs.push(cargo_home.join("git"));
        }
        omitted_dirs.extend(self.omit_dirs.iter().map(|dir| resolve(dir)));
        Ok(SourceFilter {
            root,
            omitted_dirs,
            default_omissions: self.default_omissions,
            patterns: PathPatterns::new(&self.include, &self.exclude)?,
        })
    }
}

/// One compilation unit of a coverage mapping: the directory it was compiled in (entry 0
/// of its filename table, where cargo ran rustc: the workspace root for a workspace
/// member, the package's own directory for any other crate) and the files it names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompilationUnit {
    /// The compilation directory, as the compiler recorded it.
    pub directory: String,
    /// The unit's files, absolute (relative names already joined to the directory).
    pub files: Vec<String>,
}

/// Where a filter's root came from ([`SourceFilterBuilder::build_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootOrigin {
    /// Set with [`SourceFilterBuilder::root`].
    Configured,
    /// The current directory, which holds some of the mapping's files.
    CurrentDir,
    /// The current directory holds none of the mapping's files; the compilation directory
    /// holding most of the files the default omissions keep was taken instead.
    CompilationDir {
        /// The current directory, which selected nothing.
        current_dir: PathBuf,
    },
}

/// A filter built for one coverage mapping, with what it selects.
#[derive(Clone, Debug)]
pub struct MappedSelection {
    /// The filter.
    pub filter: SourceFilter,
    /// Where its root came from.
    pub origin: RootOrigin,
    /// How many distinct files of the mapping it selects.
    pub n_selected: usize,
}

impl MappedSelection {
    /// Why nothing is selected, when nothing is: the message names the root, the current
    /// directory and where the mapping's files are.
    pub fn no_files(&self, units: &[CompilationUnit]) -> Option<NoSourceFiles> {
        if self.n_selected > 0 {
            return None;
        }
        let mut directories: Vec<String> =
            units.iter().map(|unit| unit.directory.clone()).collect();
        directories.sort();
        directories.dedup();
        let candidates = own_directories(&self.filter, units);
        Some(NoSourceFiles {
            root: self.filter.root.clone(),
            current_dir: std::env::current_dir().ok(),
            candidates,
            n_units: units.len(),
            n_directories: directories.len(),
        })
    }
}

/// No file of the coverage mapping is the application's: the source root is not where the
/// program was built, or the globs leave nothing. Its text is what the SDK logs and answers
/// snapshot requests with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "no source file of this program is under the source root {root} (the current directory is {current_dir}); {where_files_are}; set the source root with cov_sdk::Builder::source_root, run the service from its project directory, or check the include/exclude globs",
    root = root.display(),
    current_dir = current_dir.as_deref().map_or_else(|| "unknown".into(), |dir| dir.display().to_string()),
    where_files_are = where_files_are(candidates, *n_units, *n_directories),
)]
pub struct NoSourceFiles {
    /// The root the filter used.
    pub root: PathBuf,
    /// The process's current directory, if it can be read.
    pub current_dir: Option<PathBuf>,
    /// The compilation directories holding files the default omissions keep (the
    /// application's code, wherever it was built), most files first.
    pub candidates: Vec<String>,
    /// Compilation units in the mapping.
    pub n_units: usize,
    /// Distinct compilation directories in the mapping.
    pub n_directories: usize,
}

fn where_files_are(candidates: &[String], n_units: usize, n_directories: usize) -> String {
    if n_units == 0 {
        return "the coverage mapping names no file".to_owned();
    }
    if candidates.is_empty() {
        return format!(
            "the mapping's {n_units} compilation units in {n_directories} directories hold only dependencies, the standard library and the SDK"
        );
    }
    const SHOWN: usize = 5;
    let mut listed = candidates
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if candidates.len() > SHOWN {
        listed.push_str(&format!(" and {} more", candidates.len() - SHOWN));
    }
    format!("the program was compiled in {listed}")
}

impl SourceFilterBuilder {
    /// Builds the filter for the files of a coverage mapping, finding the root in the
    /// mapping when it has to.
    ///
    /// With a root set ([`SourceFilterBuilder::root`]), or when the current directory
    /// holds some of the mapping's files, this is [`SourceFilterBuilder::build`]. Otherwise
    /// the root becomes the compilation directory that holds the most files the default
    /// omissions keep (ties: the first in path order): a program run away from where it
    /// was built still reports its own files. [`MappedSelection::n_selected`] says how many
    /// files the result selects, and [`MappedSelection::no_files`] why none, when none.
    pub fn build_for(&self, units: &[CompilationUnit]) -> Result<MappedSelection, FilterError> {
        let filter = self.build()?;
        let n_selected = count_selected(&filter, units);
        if self.root.is_some() || n_selected > 0 {
            let origin = if self.root.is_some() {
                RootOrigin::Configured
            } else {
                RootOrigin::CurrentDir
            };
            return Ok(MappedSelection {
                filter,
                origin,
                n_selected,
            });
        }
        let Some(directory) = own_directories(&filter, units).into_iter().next() else {
            return Ok(MappedSelection {
                filter,
                origin: RootOrigin::CurrentDir,
                n_selected,
            });
        };
        let current_dir = filter.root.clone();
        let filter = self.clone().root(&directory).build()?;
        let n_selected = count_selected(&filter, units);
        Ok(MappedSelection {
            filter,
            origin: RootOrigin::CompilationDir { current_dir },
            n_selected,
        })
    }
}

/// Distinct files of the mapping the filter selects.
fn count_selected(filter: &SourceFilter, units: &[CompilationUnit]) -> usize {
    let mut files: Vec<&str> = units
        .iter()
        .flat_map(|unit| unit.files.iter().map(String::as_str))
        .collect();
    files.sort_unstable();
    files.dedup();
    files
        .into_iter()
        .filter(|path| filter.matches(path))
        .count()
}

/// The compilation directories holding files that no default omission (nor an omitted
/// directory of `filter`) leaves out, each judged with itself as the root; most such files
/// first, then in path order.
fn own_directories(filter: &SourceFilter, units: &[CompilationUnit]) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut by_directory: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for unit in units {
        by_directory
            .entry(&unit.directory)
            .or_default()
            .extend(unit.files.iter().map(String::as_str));
    }
    let mut ranked: Vec<(usize, &str)> = Vec::new();
    for (directory, files) in by_directory {
        let path = Path::new(directory);
        if !path.is_absolute() {
            continue;
        }
        let root = resolve(path);
        let in_dependencies = is_standard_library(&root)
            || filter.omitted_dirs.iter().any(|dir| root.starts_with(dir))
            || has_cargo_store_component(&root);
        if in_dependencies {
            continue;
        }
        let at_directory = SourceFilter {
            root,
            omitted_dirs: filter.omitted_dirs.clone(),
            default_omissions: true,
            patterns: PathPatterns::default(),
        };
        let n_own = files
            .into_iter()
            .filter(|file| at_directory.matches(file))
            .count();
        if n_own > 0 {
            ranked.push((n_own, directory));
        }
    }
    ranked.sort_by(|left, right| right.0.cmp(&left.0).then(left.1.cmp(right.1)));
    ranked
        .into_iter()
        .map(|(_, directory)| directory.to_owned())
        .collect()
}

/// Whether a path goes through a `.cargo/registry` or `.cargo/git` directory.
fn has_cargo_store_component(path: &Path) -> bool {
    let names: Vec<&std::ffi::OsStr> = path.iter().collect();
    names
        .windows(2)
        .any(|pair| pair[0] == ".cargo" && (pair[1] == "registry" || pair[1] == "git"))
}

/// The path with symlinks resolved, or cleaned lexically when it does not exist here.
fn resolve(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| clean_lexically(path))
}

/// Removes `.` components and resolves `..` against the preceding component.
fn clean_lexically(path: &Path) -> PathBuf {
    let mut cleaned = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !cleaned.pop() {
                    cleaned.push(component);
                }
            }
            other => cleaned.push(other),
        }
    }
    cleaned
}

/// Whether the path is the standard library's: `/rustc/<hash>/…` or rust-src.
fn is_standard_library(path: &Path) -> bool {
    let names: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    if path.has_root() && names.first().is_some_and(|first| *first == "rustc") {
        return true;
    }
    names
        .windows(4)
        .any(|window| window == ["lib", "rustlib", "src", "rust"])
}

/// Whether a directory of the root-relative path (not the file name) is omitted by default.
fn has_omitted_component(relative: &Path) -> bool {
    let names: Vec<String> = relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect();
    let Some((_file_name, dirs)) = names.split_last() else {
        return false;
    };
    let cargo_store = dirs
        .windows(2)
        .any(|pair| pair[0] == ".cargo" && (pair[1] == "registry" || pair[1] == "git"));
    cargo_store
        || dirs
            .iter()
            .any(|dir| OMITTED_DIR_NAMES.contains(&dir.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_at(root: &Path) -> SourceFilter {
        SourceFilter::builder()
            .root(root)
            .build()
            .expect("valid filter")
    }

    #[test]
    fn standard_library_paths_never_match() {
        let filter = filter_at(Path::new("/"));
        assert!(
            !filter.matches(
                "/rustc/17067e9ac6d7e98f18d4e7f0d2c6e1b3a8d7c0a1/library/core/src/option.rs"
            )
        );
        assert!(!filter.matches(
            "/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/std/src/io/mod.rs"
        ));
        assert!(filter.matches("/srv/rustc-like/src/main.rs"));
    }

    #[test]
    fn default_omissions_can_be_turned_off() {
        let filter = SourceFilter::builder()
            .root("/nonexistent-root-for-test")
            .default_omissions(false)
            .build()
            .expect("valid filter");
        assert!(filter.matches("/nonexistent-root-for-test/tests/it.rs"));
    }

    #[test]
    fn omissions_below_the_root_only_look_below_the_root() {
        let filter = filter_at(Path::new("/nonexistent/tests/target/app"));
        assert!(filter.matches("/nonexistent/tests/target/app/src/main.rs"));
        assert!(!filter.matches("/nonexistent/tests/target/app/target/debug/build/x-1/out/gen.rs"));
        assert!(!filter.matches("/nonexistent/tests/target/app/tests/api.rs"));
        assert!(!filter.matches("/nonexistent/tests/target/app/benches/b.rs"));
        assert!(
            filter.matches("/nonexistent/tests/target/app/crates/cov-sdk/src/lib.rs"),
            "a crate is left out by its directory (omit_dir), not by its name"
        );
        assert!(
            !filter.matches(
                "/nonexistent/tests/target/app/.cargo/registry/src/i/serde-1.0.0/src/lib.rs"
            )
        );
        assert!(
            filter.matches("/nonexistent/tests/target/app/src/tests.rs"),
            "a file named like a directory is kept"
        );
    }

    #[test]
    fn cargo_home_and_explicit_dirs_are_omitted_wherever_they_are() {
        let filter = SourceFilter::builder()
            .root("/nonexistent/app")
            .cargo_home("/nonexistent/app/cargo-home")
            .omit_dir("/nonexistent/app/gen-out")
            .build()
            .expect("valid filter");
        assert!(!filter.matches(
            "/nonexistent/app/cargo-home/registry/src/index.crates.io-1/serde-1.0.0/src/lib.rs"
        ));
        assert!(
            !filter.matches("/nonexistent/app/cargo-home/git/checkouts/dep-abc/1234/src/lib.rs")
        );
        assert!(!filter.matches("/nonexistent/app/gen-out/bindings.rs"));
        assert!(filter.matches("/nonexistent/app/cargo-home/other/x.rs"));
        assert!(filter.matches("/nonexistent/app/src/lib.rs"));
    }

    #[test]
    fn relative_paths_are_taken_relative_to_the_root() {
        let filter = filter_at(Path::new("/nonexistent/app"));
        assert!(filter.matches("src/main.rs"));
        assert!(!filter.matches("../other/src/main.rs"));
        assert!(!filter.matches(""));
    }

    fn unit(directory: &str, files: &[&str]) -> CompilationUnit {
        CompilationUnit {
            directory: directory.to_owned(),
            files: files
                .iter()
                .map(|file| format!("{directory}/{file}"))
                .collect(),
        }
    }

    #[test]
    fn a_program_run_away_from_its_build_directory_finds_its_root_in_the_mapping() {
        let units = [
            unit("/nonexistent-build/app", &["src/main.rs", "src/routes.rs"]),
            unit(
                "/nonexistent-build/app",
                &["src/main.rs", "target/debug/build/x/out/gen.rs"],
            ),
            unit(
                "/nonexistent-build/sdk/crates/cov-sdk",
                &["src/a.rs", "src/b.rs", "src/c.rs"],
            ),
            unit(
                "/nonexistent-home/.cargo/registry/src/index/serde-1.0.0",
                &["src/a.rs", "src/b.rs", "src/c.rs", "src/d.rs"],
            ),
            unit("/rustc/0123abcd", &["library/core/src/option.rs"]),
            unit("/nonexistent-build/lib", &["src/lib.rs"]),
        ];
        let mut builder = SourceFilter::builder();
        builder.omit_dir("/nonexistent-build/sdk/crates/cov-sdk");
        let selection = builder.build_for(&units).expect("valid filter");
        assert_eq!(selection.filter.root(), Path::new("/nonexistent-build/app"));
        assert_eq!(selection.n_selected, 2, "main.rs and routes.rs, not gen.rs");
        assert!(matches!(
            selection.origin,
            RootOrigin::CompilationDir { .. }
        ));
        assert_eq!(selection.no_files(&units), None);
    }

    #[test]
    fn a_configured_root_is_kept_and_selecting_nothing_says_where_the_files_are() {
        let units = [unit("/nonexistent-build/app", &["src/main.rs"])];
        let selection = SourceFilter::builder()
            .root("/nonexistent-elsewhere")
            .build_for(&units)
            .expect("valid filter");
        assert_eq!(selection.origin, RootOrigin::Configured);
        assert_eq!(selection.n_selected, 0);
        let message = selection
            .no_files(&units)
            .expect("nothing selected")
            .to_string();
        let current_dir = std::env::current_dir().expect("current dir");
        for part in [
            "under the source root /nonexistent-elsewhere".to_owned(),
            format!("the current directory is {}", current_dir.display()),
            "the program was compiled in /nonexistent-build/app".to_owned(),
        ] {
            assert!(message.contains(&part), "{part:?} not in {message}");
        }

        let only_dependencies = [unit("/rustc/0123abcd", &["library/core/src/option.rs"])];
        let selection = SourceFilter::builder()
            .build_for(&only_dependencies)
            .expect("valid filter");
        let message = selection
            .no_files(&only_dependencies)
            .expect("nothing")
            .to_string();
        assert!(
            message.contains("hold only dependencies, the standard library and the SDK"),
            "{message}"
        );
    }

    #[test]
    fn invalid_globs_are_reported_with_the_pattern() {
        let error = SourceFilter::builder()
            .include("src/[")
            .build()
            .expect_err("unclosed class");
        assert!(error.to_string().contains("`src/[`"), "{error}");
    }
}
