//! The crate's error type.

/// Errors of fedhe-he, sorted by whose fault they are: bad parameters
/// (configuration), malformed wire input (a peer), and API misuse (the caller).
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A parameter set is malformed.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// A parameter set is well formed but unsafe; the message says why.
    #[error("unsafe parameters refused: {0}")]
    Unsafe(String),
    /// No preset has that name.
    #[error("unknown preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The selectable names.
        known: String,
    },
    /// An error of the ring layer.
    #[error(transparent)]
    Ring(#[from] fedhe_ring::Error),
    /// A value to encrypt is not below `T`.
    #[error("value {value} at index {index} is not below the plaintext modulus 2^{bits}")]
    PlaintextOutOfRange {
        /// Position in the input.
        index: usize,
        /// The value.
        value: u64,
        /// `b`.
        bits: u32,
    },
    /// Objects made under different parameter sets were combined.
    #[error("parameter digest mismatch: {0}")]
    ParamsMismatch(&'static str),
    /// Ciphertext lists of different lengths were added.
    #[error("ciphertext lists differ: {0}")]
    ShapeMismatch(String),
    /// A member index or set is malformed.
    #[error("committee error: {0}")]
    Committee(String),
    /// Decryption shares do not belong together or to the ciphertext.
    #[error("decryption shares refused: {0}")]
    ShareMismatch(String),
    /// The key has decrypted as many coefficients as its parameters allow.
    #[error(
        "decryption budget exhausted: {used} + {requested} coefficients exceeds the key's limit {limit}; rotate the key"
    )]
    BudgetExhausted {
        /// Coefficients already decrypted.
        used: u64,
        /// Coefficients asked for now.
        requested: u64,
        /// `M`.
        limit: u64,
    },
    /// Malformed bytes on the wire.
    #[error("malformed {what}: {reason}")]
    Wire {
        /// Which wire form.
        what: &'static str,
        /// What was wrong and what was expected.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
