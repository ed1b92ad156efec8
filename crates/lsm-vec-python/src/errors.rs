//! The exception mapping of the specification, driven by [`lsm_vec::Error::kind`]:
//!
//! | engine kind       | Python exception |
//! |-------------------|------------------|
//! | `InvalidArgument` | `ValueError`     |
//! | `NotFound`        | `KeyError`       |
//! | anything else     | `RuntimeError`   |
//!
//! The message is the engine's `Display` text, which says what was wrong.

use lsm_vec::{Error, ErrorKind};
use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// Converts an engine error into the Python exception the specification maps it to.
pub fn to_py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::InvalidArgument => PyValueError::new_err(msg),
        ErrorKind::NotFound => PyKeyError::new_err(msg),
        // IoError, Corruption, Busy, Closed and any kind added later.
        _ => PyRuntimeError::new_err(msg),
    }
}

/// `.map_err(to_py_err)` in one word.
pub trait IntoPyResult<T> {
    /// Maps the engine error, if any, onto its Python exception.
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py_err)
    }
}
