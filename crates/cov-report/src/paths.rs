//! Path normalisation for reports, as the Tusk CLI does it.
//!
//! The CLI makes every path it receives repo-relative in two steps: first it strips a
//! configured container prefix (`coverage.strip_path_prefix`, e.g. `/app` for a service
//! running in Docker), then it makes what is still absolute relative to the git root. A path
//! outside the root is kept as it is. [`PathNormalizer`] does the same, purely: the caller
//! supplies the root (the git root or the current directory) instead of this crate asking
//! git or the process for it.

/// Rewrites absolute source paths into the repo-relative paths reports show.
///
/// ```
/// use cov_report::paths::PathNormalizer;
///
/// let mut normalizer = PathNormalizer::new();
/// normalizer.strip_prefix("/app").relative_to("/home/me/repo");
/// assert_eq!(normalizer.normalize("/app/src/main.rs"), "src/main.rs");
/// assert_eq!(normalizer.normalize("/home/me/repo/src/lib.rs"), "src/lib.rs");
/// assert_eq!(normalizer.normalize("/elsewhere/x.rs"), "/elsewhere/x.rs");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathNormalizer {
    strip_prefix: Option<String>,
    relative_to: Option<String>,
}

impl PathNormalizer {
    /// A normalizer that leaves every path unchanged until configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// Strips this prefix (trailing `/` ignored) from paths that start with it followed by
    /// `/`; the prefix itself becomes `.`. An empty prefix disables the step.
    pub fn strip_prefix(&mut self, prefix: impl Into<String>) -> &mut Self {
        let prefix = prefix.into();
        let trimmed = prefix.trim_end_matches('/');
        self.strip_prefix = (!prefix.is_empty()).then(|| trimmed.to_owned());
        self
    }

    /// Makes absolute paths under `root` relative to it (the CLI uses the git root, falling
    /// back to the current directory). Paths outside `root` are kept unchanged.
    pub fn relative_to(&mut self, root: impl Into<String>) -> &mut Self {
        let root = root.into();
        self.relative_to = (!root.is_empty()).then_some(root);
        self
    }

    /// The path as reports show it.
    pub fn normalize(&self, path: &str) -> String {
        let mut current = path.to_owned();
        if let Some(prefix) = &self.strip_prefix {
            if let Some(rest) = current
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
            {
                current = rest.to_owned();
            } else if current == *prefix {
                current = ".".to_owned();
            }
        }
        if let Some(root) = &self.relative_to
            && current.starts_with('/')
            && let Some(relative) = relative_under(&clean(root), &clean(&current))
        {
            return relative;
        }
        current
    }
}

/// `path` relative to `root` when it is `root` itself (`.`) or lies under it, component-wise.
fn relative_under(root: &str, path: &str) -> Option<String> {
    if path == root {
        return Some(".".to_owned());
    }
    if root == "/" {
        return path.strip_prefix('/').map(str::to_owned);
    }
    path.strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(str::to_owned)
}

/// Lexically cleans an absolute `/`-separated path like Go's `filepath.Clean`: no empty or
/// `.` components, `..` resolved, no trailing `/`.
pub(crate) fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer(strip: &str, root: &str) -> PathNormalizer {
        let mut normalizer = PathNormalizer::new();
        normalizer.strip_prefix(strip).relative_to(root);
        normalizer
    }

    #[test]
    fn strip_prefix_is_separator_safe() {
        let normalizer = normalizer("/app/", "");
        assert_eq!(normalizer.normalize("/app/src/a.rs"), "src/a.rs");
        assert_eq!(
            normalizer.normalize("/application/a.rs"),
            "/application/a.rs"
        );
        assert_eq!(normalizer.normalize("/app"), ".");
    }

    #[test]
    fn relative_to_keeps_paths_outside_the_root() {
        let normalizer = normalizer("", "/repo/");
        assert_eq!(normalizer.normalize("/repo/src//a.rs"), "src/a.rs");
        assert_eq!(normalizer.normalize("/repo"), ".");
        assert_eq!(normalizer.normalize("/repository/a.rs"), "/repository/a.rs");
        assert_eq!(normalizer.normalize("relative/a.rs"), "relative/a.rs");
    }

    #[test]
    fn clean_resolves_dots() {
        assert_eq!(clean("/a/./b/../c/"), "/a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean(""), ".");
    }
}
