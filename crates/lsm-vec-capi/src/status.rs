//! Status codes, the thread-local last-error message and the panic boundary.
//!
//! Every exported function that can fail returns an `lsm_vec_status_t` (a C `int`). The numbers
//! mirror RocksDB's `Status::Code` where RocksDB has the kind (`kNotFound = 1`, `kCorruption = 2`,
//! `kNotSupported = 3`, `kInvalidArgument = 4`, `kIOError = 5`, `kShutdownInProgress = 8`,
//! `kBusy = 11`); the codes RocksDB lacks start at 100. The numbers are part of the ABI and never
//! change.
//!
//! The message of the last failed call is kept per thread (like `errno`, or libgit2's
//! `git_error_last`): read it with `lsm_vec_last_error_message()` on the same thread, before the
//! next `lsm_vec_*` call. Every status-returning call resets it (to `""` on success).

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use lsm_vec::{Error, ErrorKind};

/// Success.
pub const LSM_VEC_OK: c_int = 0;
/// The id (or database) does not exist (RocksDB `kNotFound`).
pub const LSM_VEC_NOT_FOUND: c_int = 1;
/// A file on disk is damaged, foreign or of an unknown version (RocksDB `kCorruption`).
pub const LSM_VEC_CORRUPTION: c_int = 2;
/// The operation is not supported (RocksDB `kNotSupported`). Not produced today; reserved.
pub const LSM_VEC_NOT_SUPPORTED: c_int = 3;
/// Bad argument, option, dimension, value, duplicate id, NULL pointer, invalid UTF-8, too small
/// output buffer, or a reopen with different stored parameters (RocksDB `kInvalidArgument`).
pub const LSM_VEC_INVALID_ARGUMENT: c_int = 4;
/// I/O or storage engine failure (RocksDB `kIOError`).
pub const LSM_VEC_IO_ERROR: c_int = 5;
/// The handle is closed, or poisoned by an earlier failed write (RocksDB `kShutdownInProgress`).
pub const LSM_VEC_SHUTDOWN_IN_PROGRESS: c_int = 8;
/// The database directory is open elsewhere (RocksDB `kBusy`).
pub const LSM_VEC_BUSY: c_int = 11;
/// A Rust panic (a bug in lsm-vec): caught at the ABI boundary, or in a worker thread of the
/// engine (the engine's `ErrorKind::Internal`, e.g. a search thread of a batch search). The
/// handle may still be used, but reopening is the safe choice.
pub const LSM_VEC_PANIC: c_int = 100;
/// An error of a kind this library version does not know how to classify.
pub const LSM_VEC_UNKNOWN: c_int = 101;

/// An error on its way to the C caller: a status code and a message (without the kind prefix,
/// which `lsm_vec_status_name` gives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FfiError {
    /// One of the `LSM_VEC_*` codes, never `LSM_VEC_OK`.
    pub code: c_int,
    /// Human-readable detail.
    pub message: String,
}

impl FfiError {
    /// An `LSM_VEC_INVALID_ARGUMENT` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        FfiError { code: LSM_VEC_INVALID_ARGUMENT, message: message.into() }
    }

    /// `LSM_VEC_INVALID_ARGUMENT` for a NULL pointer argument.
    pub fn null(what: &str) -> Self {
        FfiError::invalid(format!("{what} must not be NULL"))
    }
}

/// The status code of an engine error kind.
pub fn code_of_kind(kind: ErrorKind) -> c_int {
    match kind {
        ErrorKind::InvalidArgument => LSM_VEC_INVALID_ARGUMENT,
        ErrorKind::NotFound => LSM_VEC_NOT_FOUND,
        ErrorKind::IoError => LSM_VEC_IO_ERROR,
        ErrorKind::Corruption => LSM_VEC_CORRUPTION,
        ErrorKind::Busy => LSM_VEC_BUSY,
        ErrorKind::Closed => LSM_VEC_SHUTDOWN_IN_PROGRESS,
        ErrorKind::Internal => LSM_VEC_PANIC,
        _ => LSM_VEC_UNKNOWN,
    }
}

/// Prefixes of the engine's `Display` output that repeat the kind; the C message leaves them out
/// so that `"<status name>: <message>"` reads like a RocksDB `Status::ToString()`.
const KIND_PREFIXES: [&str; 5] =
    ["invalid argument: ", "not found: ", "resource busy: ", "I/O error: ", "internal error: "];

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let code = code_of_kind(e.kind());
        let full = e.to_string();
        let message = KIND_PREFIXES.iter().find_map(|p| full.strip_prefix(p)).map(str::to_owned).unwrap_or(full);
        FfiError { code, message }
    }
}

/// Result type of the bodies of exported functions.
pub type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Stores `message` as this thread's last error (interior NULs become spaces).
fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; then the message is dropped.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = c;
        }
    });
}

/// This thread's last error message (a copy; for tests and the C++ layer's sake).
pub fn last_error_string() -> String {
    LAST_ERROR
        .try_with(|slot| slot.try_borrow().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
        .unwrap_or_default()
}

/// Pointer to this thread's last error message; valid until the next `lsm_vec_*` call on this
/// thread.
pub fn last_error_ptr() -> *const c_char {
    static EMPTY: &CStr = c"";
    LAST_ERROR
        .try_with(|slot| slot.try_borrow().map(|s| s.as_ptr()).unwrap_or(EMPTY.as_ptr()))
        .unwrap_or(EMPTY.as_ptr())
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// The panic boundary: runs `body`, turns its result into a status code, records the message,
/// and converts a panic into `LSM_VEC_PANIC` instead of unwinding into C (which would abort, or
/// worse). Every exported function goes through here.
pub fn guard<F>(body: F) -> c_int
where
    F: FnOnce() -> FfiResult,
{
    // AssertUnwindSafe: after a panic the only state we touch is the thread-local message; the
    // database handle's own locks recover from poisoning (the engine maps a poisoned lock to a
    // `Closed` error), so no broken invariant can be observed through the ABI.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            set_last_error("");
            LSM_VEC_OK
        }
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.code
        }
        Err(payload) => {
            set_last_error(&format!("panic in lsm-vec: {}", panic_message(payload.as_ref())));
            LSM_VEC_PANIC
        }
    }
}

/// RocksDB-style name of a status code (the prefix of `Status::ToString()`).
pub fn status_name(code: c_int) -> &'static CStr {
    match code {
        LSM_VEC_OK => c"OK",
        LSM_VEC_NOT_FOUND => c"NotFound",
        LSM_VEC_CORRUPTION => c"Corruption",
        LSM_VEC_NOT_SUPPORTED => c"Not implemented",
        LSM_VEC_INVALID_ARGUMENT => c"Invalid argument",
        LSM_VEC_IO_ERROR => c"IO error",
        LSM_VEC_SHUTDOWN_IN_PROGRESS => c"Shutdown in progress",
        LSM_VEC_BUSY => c"Resource busy",
        LSM_VEC_PANIC => c"Panic",
        _ => c"Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn codes_match_rocksdb_numbers() {
        assert_eq!(LSM_VEC_OK, 0);
        assert_eq!(LSM_VEC_NOT_FOUND, 1);
        assert_eq!(LSM_VEC_CORRUPTION, 2);
        assert_eq!(LSM_VEC_NOT_SUPPORTED, 3);
        assert_eq!(LSM_VEC_INVALID_ARGUMENT, 4);
        assert_eq!(LSM_VEC_IO_ERROR, 5);
        assert_eq!(LSM_VEC_SHUTDOWN_IN_PROGRESS, 8);
        assert_eq!(LSM_VEC_BUSY, 11);
    }

    #[test]
    fn every_engine_error_maps_to_its_code() {
        let io = || std::io::Error::other("disk on fire");
        let cases: Vec<(Error, c_int)> = vec![
            (Error::InvalidArgument("x".into()), LSM_VEC_INVALID_ARGUMENT),
            (Error::DimensionMismatch { expected: 4, got: 3 }, LSM_VEC_INVALID_ARGUMENT),
            (Error::AlreadyExists(7), LSM_VEC_INVALID_ARGUMENT),
            (
                Error::ParameterMismatch { name: "dim", stored: "4".into(), requested: "8".into() },
                LSM_VEC_INVALID_ARGUMENT,
            ),
            (Error::NotFound(9), LSM_VEC_NOT_FOUND),
            (Error::Locked(PathBuf::from("/db")), LSM_VEC_BUSY),
            (Error::Closed, LSM_VEC_SHUTDOWN_IN_PROGRESS),
            (Error::Poisoned, LSM_VEC_SHUTDOWN_IN_PROGRESS),
            (Error::Io { context: "read".into(), source: io() }, LSM_VEC_IO_ERROR),
            (Error::Storage { reason: "fjall".into(), source: Box::new(io()) }, LSM_VEC_IO_ERROR),
            (
                Error::CommitUncertain { source: Box::new(Error::Io { context: "commit".into(), source: io() }) },
                LSM_VEC_IO_ERROR,
            ),
            (Error::Forked { opened_in: 1, used_in: 2 }, LSM_VEC_SHUTDOWN_IN_PROGRESS),
            // A panicking worker thread of the engine: a panic, not a bad argument.
            (
                Error::Panicked { context: "a search thread of search_knn_batch".into(), message: "boom".into() },
                LSM_VEC_PANIC,
            ),
            (
                Error::Corruption {
                    file: PathBuf::from("v.bin"),
                    offset: Some(4),
                    reason: "magic".into(),
                    source: None,
                },
                LSM_VEC_CORRUPTION,
            ),
            // insert_batch after its first group: the cause's code.
            (
                Error::BatchIncomplete {
                    committed: 256,
                    total: 600,
                    source: Box::new(Error::Io { context: "write".into(), source: io() }),
                },
                LSM_VEC_IO_ERROR,
            ),
            (
                Error::BatchIncomplete { committed: 512, total: 600, source: Box::new(Error::AlreadyExists(3)) },
                LSM_VEC_INVALID_ARGUMENT,
            ),
        ];
        for (e, code) in cases {
            let shown = e.to_string();
            let f = FfiError::from(e);
            assert_eq!(f.code, code, "{shown}");
            assert!(!f.message.is_empty(), "{shown}");
        }
    }

    #[test]
    fn batch_incomplete_message_says_how_many_are_committed() {
        let e = Error::BatchIncomplete {
            committed: 256,
            total: 600,
            source: Box::new(Error::Io { context: "write".into(), source: std::io::Error::other("disk full") }),
        };
        let f = FfiError::from(e);
        assert_eq!(f.code, LSM_VEC_IO_ERROR);
        assert!(f.message.contains("disk full"), "{}", f.message);
        assert!(f.message.contains("the first 256 of the 600 vectors are committed"), "{}", f.message);
    }

    #[test]
    fn kind_prefix_is_stripped_from_messages() {
        let f = FfiError::from(Error::DimensionMismatch { expected: 4, got: 3 });
        assert_eq!(f.message, "dimension mismatch: expected 4, got 3");
        let f = FfiError::from(Error::NotFound(5));
        assert_eq!(f.message, "id 5");
        let f = FfiError::from(Error::Closed);
        assert_eq!(f.message, "database is closed");
        let f = FfiError::from(Error::Panicked { context: "a search thread".into(), message: "boom".into() });
        assert_eq!(f.message, "a search thread panicked (a bug in lsm-vec): boom");
    }

    #[test]
    fn guard_sets_and_clears_the_message() {
        let rc = guard(|| Err(FfiError::invalid("bad k")));
        assert_eq!(rc, LSM_VEC_INVALID_ARGUMENT);
        assert_eq!(last_error_string(), "bad k");
        let rc = guard(|| Ok(()));
        assert_eq!(rc, LSM_VEC_OK);
        assert_eq!(last_error_string(), "");
    }

    #[test]
    fn guard_catches_panics() {
        // Silence the default hook's report for this deliberate panic.
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let rc = guard(|| panic!("boom {}", 42));
        std::panic::set_hook(prev);
        assert_eq!(rc, LSM_VEC_PANIC);
        assert_eq!(last_error_string(), "panic in lsm-vec: boom 42");
        // The boundary keeps working afterwards.
        assert_eq!(guard(|| Ok(())), LSM_VEC_OK);
    }

    #[test]
    fn messages_with_nul_bytes_survive() {
        let rc = guard(|| Err(FfiError::invalid("a\0b")));
        assert_eq!(rc, LSM_VEC_INVALID_ARGUMENT);
        assert_eq!(last_error_string(), "a b");
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(LSM_VEC_OK), c"OK");
        assert_eq!(status_name(LSM_VEC_INVALID_ARGUMENT), c"Invalid argument");
        assert_eq!(status_name(12345), c"Unknown");
    }
}
