//! The crate's single error type.

/// Everything that can go wrong in `fedhe-dp`.
///
/// Bad parameters are reported with the name of the parameter, what was
/// expected and what was given, so that a CLI or a protocol layer can pass the
/// message on unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}`: expected {expected}, got {got}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// An input has the wrong length.
    #[error("length mismatch for `{name}`: expected {expected}, got {got}")]
    LengthMismatch {
        /// Name of the input.
        name: &'static str,
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// An exact integer computation would not fit in 128 bits.
    #[error("integer overflow: {0}")]
    Overflow(&'static str),
    /// Conditional randomized rounding did not meet the norm bound.
    #[error("conditional rounding failed to meet the norm bound after {attempts} attempts")]
    RoundingExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// The planner refuses these parameters.
    #[error("plan refused: {0}")]
    PlanRefused(String),
    /// The round would cross the privacy budget.
    #[error(
        "privacy budget exceeded: epsilon would be {epsilon:.6} > budget {budget_epsilon} at delta {delta:e}"
    )]
    BudgetExceeded {
        /// Epsilon after the round.
        epsilon: f64,
        /// The budget's epsilon.
        budget_epsilon: f64,
        /// The budget's delta.
        delta: f64,
    },
    /// A ledger entry or serialized ledger does not conform.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The operating system's randomness source failed.
    #[error("randomness source failed: {0}")]
    Rng(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

pub(crate) fn invalid(name: &'static str, expected: &'static str, got: impl ToString) -> Error {
    Error::InvalidParameter {
        name,
        expected,
        got: got.to_string(),
    }
}
