//! The CLI's error type: a message that says what failed and where (file, offset, option).
//! Every command returns it; `main` prints it and exits with status 1. Nothing panics on bad
//! input files.

use std::fmt;

/// An error with a human-readable message.
#[derive(Debug)]
pub struct CliError(pub String);

/// Result alias of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An error with `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        CliError(msg.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<lsm_vec::Error> for CliError {
    /// The engine's message as it is: `main` already prefixes every error with
    /// `lsm-vec: error: `.
    fn from(e: lsm_vec::Error) -> Self {
        CliError(e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError(format!("JSON: {e}"))
    }
}

/// Adds context to errors of foreign types.
pub trait Context<T> {
    /// Prefixes the error message with `what`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError(format!("{}: {e}", what())))
    }
}

/// Returns early with a [`CliError`] built by `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::CliError(format!($($arg)*)))
    };
}
