//! The storage seam: the two narrow interfaces through which the engine reaches its files, and
//! the backends behind them.
//!
//! * [`VectorIo`]: the byte-level file the vector file (`vectors::VectorFile`) is made of —
//!   positioned reads and writes, `fdatasync`, the length. The page cache, the header and the
//!   record checksums stay above it, in `vectors`.
//! * [`KvStore`]: the raw keyspaces the LSM records (`graph::LsmStore`) live in — a point get, an
//!   ordered scan, the last key, one atomic batch commit (optionally fsync'd), an fsync of
//!   everything committed. The record encodings stay above it, in `graph`.
//! * [`Storage`]: what opening a database needs of a file system — open, create, remove files and
//!   key-value stores, ask whether they exist and how long a file is. `db::open` routes every
//!   access to the vector file and the LSM through it.
//!
//! Backends: [`DiskStorage`] (`disk.rs`: `std::fs::File` with `pread`/`pwrite`, and fjall, with
//! `readahead.rs` for reads of many pages that overlap at the device), the only one a normal
//! build contains; and, with the `fault-injection` feature, `SimStorage`
//! (`sim.rs`), an in-memory file system that remembers what is durable and what is not
//! (`memory.rs`) and fails or cuts the power where its fault plan says (`faults.rs`), for the
//! power-cut tests. The `STATE` record and the `LOCK` file stay on the real file system: `STATE`
//! is replaced atomically (temporary file, fsync, rename, fsync of the directory), so it is never
//! partly written, and the lock lives only as long as the process.
//!
//! Costs: one dynamic call per actual `pread` / `pwrite` (page-cache hits never reach this layer)
//! and one per LSM get or commit; no allocation is added on any path.
//!
//! Who calls it: `vectors` (through [`VectorIo`]), `graph` (through [`KvStore`]) and `db::open`
//! (through [`Storage`]). It knows nothing of records, pages or the graph.

use std::io;
use std::path::Path;

use crate::error::Result;

mod disk;
#[cfg(feature = "fault-injection")]
mod faults;
#[cfg(feature = "fault-injection")]
mod memory;
mod readahead;
#[cfg(feature = "fault-injection")]
pub(crate) mod sim;

pub(crate) use disk::DiskStorage;
#[cfg(feature = "fault-injection")]
pub use faults::{FaultReport, SimFault, Writeback};

/// A file of the vector store, read and written at byte offsets.
pub(crate) trait VectorIo: Send + Sync {
    /// Reads `buf.len()` bytes at `off`, fewer only where the file ends (the rest of `buf` is
    /// left as it was); returns how many.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `off`, extending the file if needed (not durable until
    /// [`VectorIo::sync`]).
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    /// Makes every completed write durable (`fdatasync`: data and the length).
    fn sync(&self) -> io::Result<()>;
    /// The current length in bytes (written, durable or not).
    fn len_bytes(&self) -> io::Result<u64>;
    /// A hint that reads will be random from now (no readahead). Failure is ignored.
    fn advise_random(&self) {}
    /// Reads `buf.len()` bytes at `off` only if that needs no device read (the OS holds them);
    /// `false` otherwise, and the caller reads them with [`VectorIo::read_at`]. See `readahead`.
    fn read_cached(&self, _buf: &mut [u8], _off: u64) -> bool {
        false
    }
    /// A hint that `len` bytes at `off` will be read soon: start reading them now.
    fn will_need(&self, _off: u64, _len: u64) {}
}

/// The keyspaces of the LSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Space {
    Adj0,
    Upper,
    Nodes,
    Meta,
}

impl Space {
    /// The keyspace's name in the LSM directory.
    pub fn name(self) -> &'static str {
        match self {
            Space::Adj0 => "adj0",
            Space::Upper => "upper",
            Space::Nodes => "nodes",
            Space::Meta => "meta",
        }
    }
}

/// A key: an internal id's 4 bytes, or a fixed name (`meta`). No allocation per write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Id([u8; 4]),
    Name(&'static str),
}

impl Key {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Id(b) => b,
            Key::Name(n) => n.as_bytes(),
        }
    }
}

/// One write of a batch: `None` removes the key.
#[derive(Debug, Clone)]
pub(crate) struct KvWrite {
    pub space: Space,
    pub key: Key,
    pub value: Option<Vec<u8>>,
}

/// What [`KvStore::scan`] calls for each entry: `(key, value)`.
pub(crate) type ScanFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'a;

/// The ordered key-value store the LSM records live in. Errors are the crate's: an I/O failure
/// is `Io`, damage the store detects is `Corruption`.
pub(crate) trait KvStore: Send + Sync {
    /// Calls `f` with the value of `key` if there is one; returns whether there was.
    fn get(&self, space: Space, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool>;
    /// Calls `f(key, value)` for every entry of `space` in key order; stops at its first error.
    fn scan(&self, space: Space, f: &mut ScanFn<'_>) -> Result<()>;
    /// The largest key of `space`.
    fn last_key(&self, space: Space) -> Result<Option<Vec<u8>>>;
    /// Applies all `writes` atomically: after a crash, all or none of them. Handed at least to
    /// the OS (a killed process loses nothing); durable against a power cut only with `sync`
    /// (then everything committed before is durable too). An iterator, so that the caller's
    /// records are encoded straight into the batch (no list of them is built).
    fn commit(&self, writes: &mut dyn Iterator<Item = KvWrite>, sync: bool) -> Result<()>;
    /// Makes every committed batch durable.
    fn persist(&self) -> Result<()>;
    /// About how many entries `space` holds (cheap).
    fn approximate_len(&self, space: Space) -> usize;
    /// Bytes the store occupies on its medium.
    fn disk_bytes(&self) -> u64;
}

/// Where the vector files and the LSM of a database live.
pub(crate) trait Storage: Send + Sync {
    /// Opens an existing file (for writing too with `write`).
    fn open_file(&self, path: &Path, write: bool) -> io::Result<Box<dyn VectorIo>>;
    /// Creates an empty file for reading and writing. With `replace` an existing file is
    /// truncated; without, an existing file is an error (`O_EXCL`). The new directory entry is
    /// durable when this returns; the contents are not until synced.
    fn create_file(&self, path: &Path, replace: bool) -> io::Result<Box<dyn VectorIo>>;
    /// Whether a file exists at `path`.
    fn file_exists(&self, path: &Path) -> bool;
    /// Removes the file at `path` (`NotFound` if there is none).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Whether a key-value store was created in directory `dir`.
    fn kv_exists(&self, dir: &Path) -> bool;
    /// Opens the key-value store in `dir`, creating it if there is none. `cache_bytes` sizes
    /// its block cache.
    fn open_kv(&self, dir: &Path, cache_bytes: u64) -> Result<Box<dyn KvStore>>;
    /// Removes the key-value store in `dir` (only its own files), if there is one.
    fn remove_kv(&self, dir: &Path) -> Result<()>;
}
