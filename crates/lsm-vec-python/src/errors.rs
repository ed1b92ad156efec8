//! The exception mapping of the specification, driven by [`lsm_vec::Error::kind`]:
//!
//! | engine kind       | Python exception                              |
//! |-------------------|-----------------------------------------------|
//! | `InvalidArgument` | `ValueError`                                  |
//! | `NotFound`        | `KeyError`                                    |
//! | `Corruption`      | `lsm_vec.CorruptionError`                     |
//! | `Busy`            | `lsm_vec.BusyError`                           |
//! | `Closed`          | `lsm_vec.ClosedError`                         |
//! | `IoError`         | `lsm_vec.IoError`                             |
//! | `Internal`        | `lsm_vec.Error` (a panicking engine thread)   |
//! | any kind added later | `lsm_vec.Error`                            |
//!
//! `lsm_vec.Error` subclasses `RuntimeError` and is the base of the four others, so
//! `except RuntimeError` (the specification's "everything else") still catches them all.
//! The message is the engine's `Display` text, which says what was wrong (and names the file
//! where one is known). The engine error's causes ([`std::error::Error::source`]) are chained as
//! `__cause__`, outermost first ([`cause_chain`]): an inner engine error as the exception of its
//! kind, an operating-system error as `OSError(errno, strerror)` (so `FileNotFoundError`,
//! `PermissionError`, ... with `.errno`), anything else (fjall's error) as a `RuntimeError`
//! with its message. An `insert_batch` that fails after committing some groups
//! (`BatchIncomplete`) raises the class of its cause's kind, with the integer attributes
//! `committed` and `total` ([`batch_err`]).

use lsm_vec::ErrorKind;
use pyo3::exceptions::{PyKeyError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::PyErr;

pyo3::create_exception!(
    lsm_vec,
    Error,
    PyRuntimeError,
    "Base class of the database errors that are neither ``ValueError`` (invalid argument) nor \
     ``KeyError`` (missing id): I/O, corruption, a database open elsewhere, a closed handle. A \
     subclass of ``RuntimeError``. Raised as itself for an internal error (a worker thread of a \
     batch call panicked: a bug). The lower-level cause, if any, is chained as ``__cause__``: \
     an ``OSError`` (with ``errno``) for a failed system call, a ``RuntimeError`` with the \
     storage engine's (fjall's) text, or the wrapped database error."
);
pyo3::create_exception!(
    lsm_vec,
    CorruptionError,
    Error,
    "A file of the database is damaged, truncated, foreign, or of an unknown format version. \
     The message names the file (the LSM directory when the storage engine found the damage; \
     its error is then the ``__cause__``)."
);
pyo3::create_exception!(
    lsm_vec,
    BusyError,
    Error,
    "The database directory is already open, by another handle in this process or by another \
     process (one process owns a database at a time)."
);
pyo3::create_exception!(
    lsm_vec,
    ClosedError,
    Error,
    "The handle cannot be used: it was closed, an earlier failed write poisoned it (reopen the \
     database), or it was inherited by a forked child process (open the database in the child)."
);
pyo3::create_exception!(
    lsm_vec,
    IoError,
    Error,
    "An operating-system I/O failure or a failure of the storage engine (for example a full \
     disk). The message names the file; ``__cause__`` is the ``OSError`` (``FileNotFoundError``, \
     ... with ``errno``) of the failed system call."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("CorruptionError", py.get_type::<CorruptionError>())?;
    m.add("BusyError", py.get_type::<BusyError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    Ok(())
}

/// The exception of an engine error kind, with message `msg`.
fn of_kind(kind: ErrorKind, msg: String) -> PyErr {
    match kind {
        ErrorKind::InvalidArgument => PyValueError::new_err(msg),
        ErrorKind::NotFound => PyKeyError::new_err(msg),
        ErrorKind::Corruption => CorruptionError::new_err(msg),
        ErrorKind::Busy => BusyError::new_err(msg),
        ErrorKind::Closed => ClosedError::new_err(msg),
        ErrorKind::IoError => IoError::new_err(msg),
        // `Internal` (a panicking engine thread) and any kind added later.
        _ => Error::new_err(msg),
    }
}

/// The Python exception standing for one cause in an engine error's `source()` chain.
fn cause_err(cause: &(dyn std::error::Error + 'static)) -> PyErr {
    if let Some(e) = cause.downcast_ref::<lsm_vec::Error>() {
        return of_kind(e.kind(), e.to_string());
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        let msg = io.to_string();
        return match io.raw_os_error() {
            // `OSError(errno, strerror)` picks the subclass (FileNotFoundError, ...) and sets
            // `.errno` / `.strerror`; Rust's " (os error N)" suffix would repeat the number.
            Some(code) => {
                let suffix = format!(" (os error {code})");
                let text = msg.strip_suffix(suffix.as_str()).unwrap_or(&msg).to_owned();
                PyOSError::new_err((code, text))
            }
            None => PyOSError::new_err(msg),
        };
    }
    PyRuntimeError::new_err(cause.to_string())
}

/// The exceptions of `e`'s causes chained through `__cause__`, outermost first (`None` when
/// `e` has no source). Needs the interpreter: attaches to it (the callers hold it already, so
/// this does not block).
fn cause_chain(e: &lsm_vec::Error) -> Option<PyErr> {
    use std::error::Error as _;
    let first = e.source()?;
    let mut causes = Vec::new();
    let mut cur = Some(first);
    // Bounded: a chain is a few levels deep; a cycle would be a bug, not worth hanging on.
    while let (Some(c), true) = (cur, causes.len() < 16) {
        causes.push(cause_err(c));
        cur = c.source();
    }
    Python::attach(|py| {
        let mut inner: Option<PyErr> = None;
        while let Some(err) = causes.pop() {
            err.set_cause(py, inner.take());
            inner = Some(err);
        }
        inner
    })
}

/// Converts an engine error into the Python exception the specification maps it to, with the
/// engine error's causes as its `__cause__` chain.
pub fn to_py_err(e: lsm_vec::Error) -> PyErr {
    let cause = cause_chain(&e);
    let err = of_kind(e.kind(), e.to_string());
    if cause.is_some() {
        Python::attach(|py| err.set_cause(py, cause));
    }
    err
}

/// [`to_py_err`] for `insert_batch`: an [`lsm_vec::Error::BatchIncomplete`] (a failure after the
/// first committed group) becomes the exception of its kind with the integer attributes
/// `committed` (leading vectors of the batch that are in the database) and `total`.
pub fn batch_err(py: Python<'_>, e: lsm_vec::Error) -> PyErr {
    let counts = match &e {
        lsm_vec::Error::BatchIncomplete { committed, total, .. } => Some((*committed, *total)),
        _ => None,
    };
    let err = to_py_err(e);
    if let Some((committed, total)) = counts {
        let value = err.value(py);
        // Exception instances have a `__dict__`; should setting fail anyway, the message still
        // says how many vectors are committed.
        let _ = value.setattr("committed", committed).and_then(|()| value.setattr("total", total));
    }
    err
}

/// The error of a call on a closed handle (the engine's own message).
pub fn closed_err() -> PyErr {
    to_py_err(lsm_vec::Error::Closed)
}

/// `.map_err(to_py_err)` in one word.
pub trait IntoPyResult<T> {
    /// Maps the engine error, if any, onto its Python exception.
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, lsm_vec::Error> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py_err)
    }
}
