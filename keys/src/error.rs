//! The crate's error type.

/// Errors of fedhe-keys. Each names the file (or the input) it concerns and,
/// where a committee member is at fault, the member, so that an operator knows
/// which USB stick to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be decoded: bad encoding, a missing or unknown field,
    /// a value out of range, or bytes that are not in canonical form.
    #[error("{file}: malformed {expected}: {reason}")]
    Malformed {
        /// The file (or input) read.
        file: String,
        /// What the file should have held.
        expected: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A signature does not verify.
    #[error("{file}: {who}: signature does not verify over the {what}")]
    BadSignature {
        /// The file.
        file: String,
        /// Whose signature.
        who: String,
        /// What was signed.
        what: &'static str,
    },
    /// A sealed (encrypted at rest) file does not open.
    #[error("{file}: cannot open the sealed {kind}: wrong passphrase, or the file was altered")]
    Unseal {
        /// The file.
        file: String,
        /// What it holds.
        kind: &'static str,
    },
    /// A ceremony step found its inputs inconsistent.
    #[error("{file}: {who}: {reason}")]
    Ceremony {
        /// The file.
        file: String,
        /// The member (or party) at fault.
        who: String,
        /// What was wrong and what was expected.
        reason: String,
    },
    /// A certificate was refused.
    #[error("certificate {file}: refused: {reason}")]
    CertificateRefused {
        /// The certificate file.
        file: String,
        /// Why.
        reason: Refusal,
    },
    /// A key id that is not the current key of the federation.
    #[error("key {key_id}: {reason}")]
    KeyRefused {
        /// The key id (hex).
        key_id: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A caller supplied bad arguments (not a peer's fault).
    #[error("invalid argument: {0}")]
    Argument(String),
    /// An error of the cryptographic core.
    #[error(transparent)]
    He(#[from] fedhe_he::Error),
    /// A primitive failed (randomness, certificate generation).
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
}

/// Why a presented certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Not DER/PEM X.509, or not in fedhe's profile.
    #[error("not a fedhe participant certificate: {0}")]
    Malformed(String),
    /// Not signed by the federation CA.
    #[error("not issued by this federation's CA ({0})")]
    OtherCa(String),
    /// Validity ended.
    #[error("expired at {not_after} (unix time), now {now}")]
    Expired {
        /// End of validity.
        not_after: i64,
        /// The time of the check.
        now: i64,
    },
    /// Validity has not started.
    #[error("not valid before {not_before} (unix time), now {now}")]
    NotYetValid {
        /// Start of validity.
        not_before: i64,
        /// The time of the check.
        now: i64,
    },
    /// Listed as revoked in the roster.
    #[error("revoked by roster version {roster_version} (serial {serial})")]
    Revoked {
        /// The certificate serial (hex).
        serial: String,
        /// The roster's version.
        roster_version: u64,
    },
    /// The participant is not on the roster, or with another role.
    #[error("participant {id} as {role} is not on the roster ({detail})")]
    NotOnRoster {
        /// Participant id.
        id: u32,
        /// Role in the certificate.
        role: String,
        /// What the roster says.
        detail: String,
    },
    /// The role does not fit the step.
    #[error("role {actual} does not fit this step, which needs {expected}")]
    RoleMismatch {
        /// The role needed.
        expected: String,
        /// The certificate's role.
        actual: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn malformed(file: &str, expected: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        file: file.to_string(),
        expected,
        reason: reason.into(),
    }
}
