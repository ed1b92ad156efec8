//! The one public error type of the engine.
//!
//! Every variant carries enough context to say what was wrong (expected vs got dimension, the
//! file and offset of a corruption, both values of a parameter mismatch). [`Error::kind`] maps a
//! variant onto the status kinds of the specification (`InvalidArgument`, `NotFound`, `IOError`,
//! `Corruption`, ...), which is what the Python and C layers translate into exceptions and codes.
//!
//! Causes are kept: the [`std::io::Error`] of a failed system call, the [`fjall::Error`] of the
//! storage engine and the inner [`Error`] of [`Error::CommitUncertain`] and
//! [`Error::BatchIncomplete`] are the [`std::error::Error::source`] of the error, so that
//! programs can walk the chain and downcast (for example to read `raw_os_error()`). The
//! `Display` text is complete on its own (the C layer and Python's `str(e)` show only it): it
//! names the file or directory concerned where one is known and says in words what the cause
//! reported. Python also chains the causes as `__cause__`.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The status kinds of the specification (RocksDB-style). Bindings map these, not the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller passed something invalid (bad option, wrong dimension, NaN, duplicate id, ...).
    InvalidArgument,
    /// The id (or the database) does not exist.
    NotFound,
    /// An operating-system level I/O failure, or the storage engine failed.
    IoError,
    /// A file on disk is damaged, foreign or of an unknown format version.
    Corruption,
    /// The database directory is locked by another handle or process.
    Busy,
    /// The handle was closed, or poisoned by an earlier fatal write failure.
    Closed,
    /// A bug in lsm-vec: a worker thread of the engine panicked. The call failed as a whole.
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::InvalidArgument => "Invalid argument",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::IoError => "IO error",
            ErrorKind::Corruption => "Corruption",
            ErrorKind::Busy => "Resource busy",
            ErrorKind::Closed => "Shutdown in progress",
            ErrorKind::Internal => "Internal error",
        };
        f.write_str(s)
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An argument or option is invalid; the message says which and why.
    InvalidArgument(String),
    /// A vector (or query) has the wrong number of components.
    DimensionMismatch {
        /// The database's dimension.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// `insert` of an id that is already live.
    AlreadyExists(u64),
    /// The id is not live in the database.
    NotFound(u64),
    /// Reopening with a parameter that differs from the one the database was created with.
    ParameterMismatch {
        /// Option name, e.g. `dim`.
        name: &'static str,
        /// Value stored in the database.
        stored: String,
        /// Value that was requested.
        requested: String,
    },
    /// Another handle (in this or another process) holds the database directory.
    Locked(PathBuf),
    /// The handle has been closed.
    Closed,
    /// An earlier write failed in a way that may have left the journal or vector file in an
    /// unknown state (for example a failed fsync); the handle refuses further writes.
    Poisoned,
    /// The handle was opened in another process: this process is a `fork()` child of the one
    /// that opened it. A handle cannot be shared across `fork()` (its threads, locks and file
    /// positions belong to the parent); open the database in the child instead.
    Forked {
        /// The process that opened the handle.
        opened_in: u32,
        /// The process that tried to use it.
        used_in: u32,
    },
    /// A write failed while it was being committed, so whether it took effect is unknown: the
    /// handle is poisoned (later writes fail with [`Error::Poisoned`]) and reopening the
    /// database tells. The write is then either entirely present or entirely absent.
    CommitUncertain {
        /// What failed.
        source: Box<Error>,
    },
    /// `insert_batch` failed after committing its first `committed` vectors (of `total`):
    /// those are present and linked, the rest are not. The kind is the cause's kind.
    BatchIncomplete {
        /// Vectors of the batch committed, from its start.
        committed: usize,
        /// Vectors in the batch.
        total: usize,
        /// Why the rest were not.
        source: Box<Error>,
    },
    /// An I/O error, with what was being done.
    Io {
        /// What the engine was doing.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The LSM storage engine (fjall) failed for a reason other than I/O or damage.
    Storage {
        /// What went wrong, in words: what the engine was doing, in which directory, and what
        /// fjall reported.
        reason: String,
        /// fjall's error (a [`fjall::Error`], or its message when a write group copied it).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file is damaged or not ours.
    Corruption {
        /// The file concerned.
        file: PathBuf,
        /// Byte offset (or record key) where the problem was found, if known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
        /// The underlying error, when the damage was reported by a lower layer (a
        /// [`fjall::Error`]).
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A worker thread of the engine (a search thread of `search_knn_batch`, a planning thread
    /// of `insert_batch`) panicked: a bug in lsm-vec. The call failed (an `insert_batch` that had
    /// committed groups before reports it as the source of [`Error::BatchIncomplete`]);
    /// reopening the database is the safe choice. Kind [`ErrorKind::Internal`].
    Panicked {
        /// Which thread, e.g. `a search thread of search_knn_batch`.
        context: String,
        /// The panic message (`"non-string panic payload"` when it was not a string).
        message: String,
    },
}

impl Error {
    /// The specification's status kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_)
            | Error::DimensionMismatch { .. }
            | Error::AlreadyExists(_)
            | Error::ParameterMismatch { .. } => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Locked(_) => ErrorKind::Busy,
            Error::Closed | Error::Poisoned | Error::Forked { .. } => ErrorKind::Closed,
            Error::Io { .. } | Error::Storage { .. } | Error::CommitUncertain { .. } => ErrorKind::IoError,
            Error::Corruption { .. } => ErrorKind::Corruption,
            Error::BatchIncomplete { source, .. } => source.kind(),
            Error::Panicked { .. } => ErrorKind::Internal,
        }
    }

    /// A copy of this error with the same kind, message and fields, for when one failure is
    /// the result of several calls (the members of a write group). Lower-level sources are
    /// copied as their messages; an operating-system error keeps its error number.
    pub(crate) fn duplicate(&self) -> Self {
        let msg = |e: &dyn std::error::Error| -> Box<dyn std::error::Error + Send + Sync> {
            Box::new(std::io::Error::other(e.to_string()))
        };
        match self {
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::DimensionMismatch { expected, got } => Error::DimensionMismatch { expected: *expected, got: *got },
            Error::AlreadyExists(id) => Error::AlreadyExists(*id),
            Error::NotFound(id) => Error::NotFound(*id),
            Error::ParameterMismatch { name, stored, requested } => {
                Error::ParameterMismatch { name, stored: stored.clone(), requested: requested.clone() }
            }
            Error::Locked(p) => Error::Locked(p.clone()),
            Error::Closed => Error::Closed,
            Error::Poisoned => Error::Poisoned,
            Error::Forked { opened_in, used_in } => Error::Forked { opened_in: *opened_in, used_in: *used_in },
            Error::CommitUncertain { source } => Error::CommitUncertain { source: Box::new(source.duplicate()) },
            Error::BatchIncomplete { committed, total, source } => {
                Error::BatchIncomplete { committed: *committed, total: *total, source: Box::new(source.duplicate()) }
            }
            Error::Io { context, source } => {
                let source = match source.raw_os_error() {
                    // Same kind and message, and `raw_os_error()` still answers.
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                };
                Error::Io { context: context.clone(), source }
            }
            Error::Storage { reason, source } => {
                Error::Storage { reason: reason.clone(), source: msg(source.as_ref()) }
            }
            Error::Corruption { file, offset, reason, source } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
                source: source.as_ref().map(|s| msg(s.as_ref())),
            },
            Error::Panicked { context, message } => {
                Error::Panicked { context: context.clone(), message: message.clone() }
            }
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    pub(crate) fn corruption(file: impl Into<PathBuf>, offset: Option<u64>, reason: impl Into<String>) -> Self {
        Error::Corruption { file: file.into(), offset, reason: reason.into(), source: None }
    }

    /// The worker thread `context` panicked with `payload` (what `JoinHandle::join` returns).
    pub(crate) fn panicked(context: impl Into<String>, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Error::Panicked { context: context.into(), message }
    }

    /// An I/O error injected by a test (`fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn injected(what: &str) -> Self {
        Error::io(format!("injected fault: {what}"), std::io::Error::other("injected I/O error"))
    }

    /// Converts a fjall error met while working on the LSM in `dir` (doing `doing`). The fjall
    /// error (for an I/O failure: its `std::io::Error`) becomes the source; the message names
    /// `dir` and says in words what fjall reported (fjall's own `Display` is its `Debug` text).
    pub(crate) fn from_lsm(dir: &std::path::Path, doing: &str, e: fjall::Error) -> Self {
        use fjall::Error as F;
        let said = describe_fjall(&e);
        let damage = |what: &str, e: F| Error::Corruption {
            file: dir.to_path_buf(),
            offset: None,
            reason: format!("{doing}: {what} ({said})"),
            source: Some(Box::new(e)),
        };
        // A file of the LSM that ends before its own metadata says, or that the LSM's version
        // lists but that is gone: damage, not a failing device (found by tests/fuzz_open.rs).
        let truncated_or_missing =
            |io: &std::io::Error| matches!(io.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::NotFound);
        match e {
            F::Io(io) | F::Storage(fjall::LsmError::Io(io)) if truncated_or_missing(&io) => Error::Corruption {
                file: dir.to_path_buf(),
                offset: None,
                reason: format!("{doing}: an LSM file is truncated or missing ({io})"),
                source: Some(Box::new(io)),
            },
            F::Io(io) => Error::io(format!("{doing} ({})", dir.display()), io),
            F::Storage(fjall::LsmError::Io(io)) => Error::io(format!("{doing} ({})", dir.display()), io),
            F::Poisoned => Error::Poisoned,
            F::Locked => Error::Locked(dir.to_path_buf()),
            e @ F::Storage(fjall::LsmError::ChecksumMismatch { .. }) => {
                damage("a block of an LSM table fails its checksum", e)
            }
            e @ F::JournalRecovery(_) => damage("the journal cannot be recovered", e),
            e @ (F::InvalidVersion(_) | F::Storage(fjall::LsmError::InvalidVersion(_))) => {
                damage("unknown LSM file format version", e)
            }
            e @ (F::Decompress(_) | F::Storage(fjall::LsmError::Decompress(_))) => {
                damage("an LSM block does not decompress", e)
            }
            e @ (F::InvalidTrailer
            | F::InvalidTag(_)
            | F::Storage(
                fjall::LsmError::InvalidTrailer
                | fjall::LsmError::InvalidTag(_)
                | fjall::LsmError::InvalidHeader(_)
                | fjall::LsmError::Utf8(_),
            )) => damage("an LSM file is malformed", e),
            e @ (F::Unrecoverable | F::Storage(fjall::LsmError::Unrecoverable)) => {
                damage("files the LSM needs are missing or unreadable", e)
            }
            e => Error::Storage { reason: format!("{doing} ({}): {said}", dir.display()), source: Box::new(e) },
        }
    }
}

/// What a fjall error reports, in words (fjall's `Display` prints its `Debug` form).
fn describe_fjall(e: &fjall::Error) -> String {
    use fjall::{Error as F, JournalRecoveryError as J, LsmError as L};
    match e {
        F::Io(io) | F::Storage(L::Io(io)) => io.to_string(),
        // The two 128-bit values stay in the source (fjall's error).
        F::Storage(L::ChecksumMismatch { .. }) => "fjall: checksum mismatch".to_owned(),
        F::Storage(L::InvalidVersion(v)) => format!("fjall: unknown table format version {v}"),
        F::Storage(L::Decompress(c)) | F::Decompress(c) => format!("fjall: {c} decompression failed"),
        F::Storage(L::Unrecoverable) | F::Unrecoverable => {
            "fjall: some required files could not be recovered from disk".to_owned()
        }
        F::Storage(L::InvalidTag((what, tag))) | F::InvalidTag((what, tag)) => {
            format!("fjall: invalid {what} tag {tag}")
        }
        F::Storage(L::InvalidTrailer) | F::InvalidTrailer => "fjall: invalid block trailer".to_owned(),
        F::Storage(L::InvalidHeader(what)) => format!("fjall: invalid {what} header"),
        F::Storage(L::Utf8(u)) => format!("fjall: invalid UTF-8: {u}"),
        F::JournalRecovery(J::InsufficientLength) => {
            "fjall: a journal batch has fewer items than it declares".to_owned()
        }
        F::JournalRecovery(J::TooManyItems) => "fjall: a journal batch has more items than it declares".to_owned(),
        F::JournalRecovery(J::ChecksumMismatch) => "fjall: a journal batch fails its checksum".to_owned(),
        F::JournalRecovery(J::InvalidFileName) => "fjall: a journal file has an unparsable name".to_owned(),
        F::InvalidVersion(Some(v)) => format!("fjall: unsupported database format version {v:?}"),
        F::InvalidVersion(None) => "fjall: unreadable database format version".to_owned(),
        F::Poisoned => "fjall: an earlier flush or commit failed, the database is poisoned".to_owned(),
        F::KeyspaceDeleted => "fjall: the keyspace was deleted".to_owned(),
        F::Locked => "fjall: the database is locked".to_owned(),
        // A variant of a later fjall (or of lsm-tree).
        other => other.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::DimensionMismatch { expected, got } => {
                write!(f, "invalid argument: dimension mismatch: expected {expected}, got {got}")
            }
            Error::AlreadyExists(id) => write!(f, "invalid argument: id {id} already exists"),
            Error::NotFound(id) => write!(f, "not found: id {id}"),
            Error::ParameterMismatch { name, stored, requested } => write!(
                f,
                "invalid argument: {name} mismatch: the database was created with {name}={stored}, \
                 opened with {name}={requested}"
            ),
            Error::Locked(p) => write!(
                f,
                "resource busy: database {} is already open (locked by another handle or process)",
                p.display()
            ),
            Error::Closed => write!(f, "database is closed"),
            Error::Poisoned => write!(
                f,
                "database is poisoned by an earlier failed write; reopen it to recover"
            ),
            Error::Forked { opened_in, used_in } => write!(
                f,
                "database handle opened in process {opened_in} cannot be used in process {used_in} \
                 (a fork() child); open the database in the child process instead"
            ),
            Error::CommitUncertain { source } => write!(
                f,
                "commit failed, the outcome of this write is unknown: reopen the database to see \
                 whether it was applied (it is then entirely present or entirely absent); this \
                 handle refuses further writes: {source}"
            ),
            Error::BatchIncomplete { committed, total, source } => write!(
                f,
                "{source} (insert_batch: the first {committed} of the {total} vectors are committed, the others are not)"
            ),
            Error::Io { context, source } => write!(f, "I/O error: {context}: {source}"),
            Error::Storage { reason, .. } => write!(f, "storage engine error: {reason}"),
            Error::Corruption { file, offset, reason, .. } => match offset {
                Some(o) => write!(f, "corruption in {} at offset {o}: {reason}", file.display()),
                None => write!(f, "corruption in {}: {reason}", file.display()),
            },
            Error::Panicked { context, message } => {
                write!(f, "internal error: {context} panicked (a bug in lsm-vec): {message}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::CommitUncertain { source } | Error::BatchIncomplete { source, .. } => Some(source.as_ref()),
            Error::Storage { source, .. } => Some(source.as_ref()),
            Error::Corruption { source: Some(s), .. } => Some(s.as_ref()),
            _ => None,
        }
    }
}

/// For a fjall error met outside the engine's own calls: the message names `lsm` (the LSM's
/// directory inside a database) since the real directory is unknown here. The fjall error is
/// kept as the source, as in [`Error::from_lsm`].
impl From<fjall::Error> for Error {
    fn from(e: fjall::Error) -> Self {
        Error::from_lsm(std::path::Path::new("lsm"), "storage engine", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::path::Path;

    /// The `Display` texts of `e` and of its sources, outermost first.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut cur = e.source();
        while let Some(s) = cur {
            out.push(s.to_string());
            cur = s.source();
        }
        out
    }

    const ENOSPC: i32 = 28;
    const EIO: i32 = 5;

    #[test]
    fn io_error_is_the_source_and_keeps_its_errno() {
        let e = Error::io("write /db/vectors.bin at 4096", std::io::Error::from_raw_os_error(ENOSPC));
        assert_eq!(e.kind(), ErrorKind::IoError);
        let src = e.source().expect("an I/O error has a source");
        let io = src.downcast_ref::<std::io::Error>().expect("the source is the std::io::Error");
        assert_eq!(io.raw_os_error(), Some(ENOSPC));
        let c = chain(&e);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].starts_with("I/O error: write /db/vectors.bin at 4096: "), "{c:?}");
        assert!(c[0].ends_with(&c[1]), "the message says what the cause said: {c:?}");
    }

    #[test]
    fn fjall_io_error_becomes_an_io_error_naming_the_directory() {
        let dir = Path::new("/data/db/lsm");
        let e = Error::from_lsm(dir, "open the LSM", fjall::Error::Io(std::io::Error::from_raw_os_error(EIO)));
        assert_eq!(e.kind(), ErrorKind::IoError);
        assert!(e.to_string().contains("open the LSM (/data/db/lsm)"), "{e}");
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("io source");
        assert_eq!(io.raw_os_error(), Some(EIO));
        // A missing or short file of the LSM is damage (keeping the io error as its source).
        for kind in [std::io::ErrorKind::NotFound, std::io::ErrorKind::UnexpectedEof] {
            let e = Error::from_lsm(dir, "open the LSM", fjall::Error::Io(std::io::Error::from(kind)));
            assert_eq!(e.kind(), ErrorKind::Corruption, "{kind:?}: {e}");
            assert!(e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).is_some_and(|io| io.kind() == kind));
        }
        // The same through lsm-tree's error inside fjall's.
        let e = Error::from_lsm(
            dir,
            "read a layer-0 list",
            fjall::Error::Storage(fjall::LsmError::Io(std::io::Error::from_raw_os_error(ENOSPC))),
        );
        assert_eq!(e.kind(), ErrorKind::IoError);
        assert_eq!(
            e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).and_then(|io| io.raw_os_error()),
            Some(ENOSPC)
        );
    }

    #[test]
    fn fjall_damage_is_corruption_with_the_fjall_error_as_source() {
        let dir = Path::new("/data/db/lsm");
        let cases = [
            fjall::Error::InvalidTrailer,
            fjall::Error::Storage(fjall::LsmError::InvalidHeader("Block")),
            fjall::Error::Storage(fjall::LsmError::Unrecoverable),
            fjall::Error::JournalRecovery(fjall::JournalRecoveryError::ChecksumMismatch),
            fjall::Error::InvalidVersion(None),
        ];
        for f in cases {
            let debug = format!("{f:?}");
            let e = Error::from_lsm(dir, "read the node table", f);
            assert_eq!(e.kind(), ErrorKind::Corruption, "{debug}");
            let shown = e.to_string();
            assert!(shown.starts_with("corruption in /data/db/lsm: read the node table: "), "{shown}");
            assert!(shown.contains("(fjall: "), "the message says what fjall reported: {shown}");
            assert!(!shown.contains("FjallError"), "fjall's Debug text stays out of the message: {shown}");
            let src = e.source().expect("fjall's error is the source");
            let fj = src.downcast_ref::<fjall::Error>().expect("the source is the fjall::Error");
            assert_eq!(format!("{fj:?}"), debug);
        }
    }

    #[test]
    fn other_fjall_failures_are_storage_errors_with_source() {
        let e = Error::from_lsm(Path::new("/db/lsm"), "commit a write group", fjall::Error::KeyspaceDeleted);
        assert_eq!(e.kind(), ErrorKind::IoError);
        assert_eq!(
            e.to_string(),
            "storage engine error: commit a write group (/db/lsm): fjall: the keyspace was deleted"
        );
        let fj = e.source().and_then(|s| s.downcast_ref::<fjall::Error>()).expect("fjall source");
        assert!(matches!(fj, fjall::Error::KeyspaceDeleted));
    }

    #[test]
    fn fjall_lock_and_poison_keep_their_kinds() {
        let e = Error::from_lsm(Path::new("/db/lsm"), "open the LSM", fjall::Error::Locked);
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(e.to_string().contains("/db/lsm"), "{e}");
        let e = Error::from_lsm(Path::new("/db/lsm"), "commit", fjall::Error::Poisoned);
        assert_eq!(e.kind(), ErrorKind::Closed);
    }

    #[test]
    fn nested_errors_chain_down_to_the_os_error() {
        let io = std::io::Error::from_raw_os_error(ENOSPC);
        let e = Error::BatchIncomplete {
            committed: 256,
            total: 600,
            source: Box::new(Error::CommitUncertain { source: Box::new(Error::io("fsync /db/vectors.bin", io)) }),
        };
        assert_eq!(e.kind(), ErrorKind::IoError);
        let c = chain(&e);
        assert_eq!(c.len(), 4, "{c:?}");
        assert!(c[0].contains("the first 256 of the 600 vectors are committed"), "{c:?}");
        assert!(c[1].starts_with("commit failed"), "{c:?}");
        assert!(c[2].starts_with("I/O error: fsync /db/vectors.bin: "), "{c:?}");
        let mid = e.source().and_then(|s| s.downcast_ref::<Error>()).expect("inner lsm-vec error");
        assert!(matches!(mid, Error::CommitUncertain { .. }));
        let last = mid.source().and_then(|s| s.source()).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(last.and_then(|io| io.raw_os_error()), Some(ENOSPC));
    }

    #[test]
    fn corruption_found_by_lsm_vec_has_no_source() {
        let e = Error::corruption("/db/vectors.bin", Some(4096), "record checksum mismatch");
        assert_eq!(e.kind(), ErrorKind::Corruption);
        assert!(e.source().is_none());
        assert_eq!(e.to_string(), "corruption in /db/vectors.bin at offset 4096: record checksum mismatch");
    }

    #[test]
    fn a_panicking_thread_is_an_internal_error() {
        let payload: Box<dyn std::any::Any + Send> = Box::new(format!("index {} out of range", 7));
        let e = Error::panicked("a search thread of search_knn_batch", payload.as_ref());
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_ne!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "internal error: a search thread of search_knn_batch panicked (a bug in lsm-vec): index 7 out of range"
        );
        assert!(e.source().is_none());
        let payload: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert!(Error::panicked("t", payload.as_ref()).to_string().ends_with(": boom"));
        let payload: Box<dyn std::any::Any + Send> = Box::new(42u8);
        assert!(Error::panicked("t", payload.as_ref()).to_string().ends_with("non-string panic payload"));
        assert_eq!(ErrorKind::Internal.to_string(), "Internal error");
    }

    #[test]
    fn duplicate_keeps_kind_message_and_chain() {
        let originals = [
            Error::io("fsync /db/vectors.bin", std::io::Error::from_raw_os_error(ENOSPC)),
            Error::io("commit", std::io::Error::other("injected I/O error")),
            Error::from_lsm(Path::new("/db/lsm"), "commit", fjall::Error::KeyspaceDeleted),
            Error::from_lsm(Path::new("/db/lsm"), "read", fjall::Error::InvalidTrailer),
            Error::CommitUncertain { source: Box::new(Error::io("write", std::io::Error::from_raw_os_error(ENOSPC))) },
            Error::panicked("a planning thread of an insert", &"boom"),
        ];
        for e in &originals {
            let d = e.duplicate();
            assert_eq!(d.kind(), e.kind(), "{e}");
            assert_eq!(chain(&d), chain(e), "{e}");
        }
        // An operating-system error keeps its number through the copy.
        let d = originals[0].duplicate();
        let io = d.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("io source");
        assert_eq!(io.raw_os_error(), Some(ENOSPC));
    }
}
