//! The problems a load reports, each with its place in the file.

use std::fmt;

/// One thing wrong with a configuration file.
///
/// Displays as `file:line:column: path: message`, without `: path` when the problem is not
/// about one key, and as `file: path: message` when it concerns the whole file (`line` 0: the file
/// cannot be read, is too large, or serde lost the position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line, or 0 when the problem has no position.
    pub line: usize,
    /// 1-based column, counted in characters, or 0 when the problem has no position.
    pub column: usize,
    /// Key path like `integrations.host.interval` or `exporters.otlp.endpoints[1]`; empty when
    /// the problem is not about one key.
    pub path: String,
    /// What is wrong; never contains a value substituted from the environment.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a configuration file, sorted by line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(.problems))]
pub struct ConfigError {
    /// The problems, sorted by line and column; never empty.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// Sorts `problems` (stably, so equal positions keep the order they were found in).
    pub(crate) fn new(mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| (p.line, p.column));
        Self { problems }
    }

    /// A problem with the whole file.
    pub(crate) fn whole_file(file: &str, message: String) -> Self {
        Self::new(vec![Problem {
            file: file.to_owned(),
            line: 0,
            column: 0,
            path: String::new(),
            message,
        }])
    }
}

struct Lines<'a>(&'a [Problem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
