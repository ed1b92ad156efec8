//! The one public error type of the engine.
//!
//! Every variant carries enough context to say what was wrong (expected vs got dimension, the
//! file and offset of a corruption, both values of a parameter mismatch). [`Error::kind`] maps a
//! variant onto the status kinds of the specification (`InvalidArgument`, `NotFound`, `IOError`,
//! `Corruption`, ...), which is what the Python and C layers translate into exceptions and codes.

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
        /// What went wrong, in words.
        reason: String,
        /// fjall's error.
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
        /// The underlying error, when the damage was reported by a lower layer (fjall).
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
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
        }
    }

    /// A copy of this error with the same kind, message and fields, for when one failure is
    /// the result of several calls (the members of a write group). Lower-level sources are
    /// copied as their messages.
    pub(crate) fn duplicate(&self) -> Self {
        let msg = |e: &dyn std::error::Error| -> Box<dyn std::error::Error + Send + Sync> { Box::new(std::io::Error::other(e.to_string())) };
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
                Error::Io { context: context.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
            }
            Error::Storage { reason, source } => Error::Storage { reason: reason.clone(), source: msg(source.as_ref()) },
            Error::Corruption { file, offset, reason, source } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
                source: source.as_ref().map(|s| msg(s.as_ref())),
            },
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

    /// An I/O error injected by a test (`fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn injected(what: &str) -> Self {
        Error::io(format!("injected fault: {what}"), std::io::Error::other("injected I/O error"))
    }

    /// Converts a fjall error met while working on the LSM in `dir` (doing `doing`).
    pub(crate) fn from_lsm(dir: &std::path::Path, doing: &str, e: fjall::Error) -> Self {
        use fjall::Error as F;
        let damage = |what: String, e: F| Error::Corruption {
            file: dir.to_path_buf(),
            offset: None,
            reason: format!("{doing}: {what}"),
            source: Some(Box::new(e)),
        };
        match e {
            F::Io(io) => Error::io(format!("{doing} ({})", dir.display()), io),
            F::Storage(fjall::LsmError::Io(io)) => Error::io(format!("{doing} ({})", dir.display()), io),
            F::Poisoned => Error::Poisoned,
            F::Locked => Error::Locked(dir.to_path_buf()),
            e @ F::Storage(fjall::LsmError::ChecksumMismatch { .. }) => {
                damage("a block of an LSM table fails its checksum".into(), e)
            }
            e @ F::JournalRecovery(_) => damage("the journal cannot be recovered".into(), e),
            e @ (F::InvalidVersion(_) | F::Storage(fjall::LsmError::InvalidVersion(_))) => {
                damage("unknown LSM file format version".into(), e)
            }
            e @ (F::Decompress(_) | F::Storage(fjall::LsmError::Decompress(_))) => {
                damage("an LSM block does not decompress".into(), e)
            }
            e @ (F::InvalidTrailer
            | F::InvalidTag(_)
            | F::Storage(
                fjall::LsmError::InvalidTrailer
                | fjall::LsmError::InvalidTag(_)
                | fjall::LsmError::InvalidHeader(_)
                | fjall::LsmError::Utf8(_),
            )) => damage("an LSM file is malformed".into(), e),
            e @ (F::Unrecoverable | F::Storage(fjall::LsmError::Unrecoverable)) => {
                damage("files the LSM needs are missing or unreadable".into(), e)
            }
            e => Error::Storage { reason: format!("{doing}: the storage engine failed"), source: Box::new(e) },
        }
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

impl From<fjall::Error> for Error {
    fn from(e: fjall::Error) -> Self {
        Error::from_lsm(std::path::Path::new("lsm"), "storage engine", e)
    }
}
