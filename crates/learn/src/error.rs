//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `fedhe-learn`.
///
/// File errors always carry the path and what was wrong with the file, so a
/// user can act on the message without reading the code. Errors are sorted by
/// fault: [`Error::Io`] and [`Error::Format`] are the input file's fault,
/// [`Error::InvalidConfig`] and [`Error::Shape`] are the caller's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    // The io error is part of the message rather than a `source()`, so that
    // printing the error chain does not repeat it.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The file was read but its content is not what was expected
    /// (bad magic, truncated, wrong dimensions, label out of range, a
    /// non-numeric CSV cell, ...).
    #[error("{}: {what}", path.display())]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What was wrong, including the row/column or byte offset when known.
        what: String,
    },
    /// A configuration value is out of its allowed range.
    #[error("invalid {field}: {what}")]
    InvalidConfig {
        /// The field (or CLI flag) at fault.
        field: &'static str,
        /// What was expected.
        what: String,
    },
    /// Arrays passed to a function have inconsistent shapes.
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    Shape {
        /// Where the mismatch was detected.
        context: &'static str,
        /// The expected size.
        expected: usize,
        /// The size that was given.
        got: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn format(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error,
        }
    }

    pub(crate) fn config(field: &'static str, what: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            what: what.into(),
        }
    }
}
