//! The public database handle: lifecycle (open / close / reinit / locking), validation of every
//! input, and the mapping of the caller's u64 ids onto the index. The index work is done by
//! [`engine::Engine`]; this file only guards it.

mod budget;
mod codes;
mod engine;
pub(crate) mod fault;
mod insert;
mod lock;
pub(crate) mod meta;
mod open;
pub(crate) mod paths;
mod read;
mod repair;
mod state;
pub(crate) mod state_file;
mod txn;
mod view;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::options::{DbOptions, SearchOptions, SearchResult};
use crate::stats::Stats;

use engine::Engine;

/// An open lsm-vec database. `Send + Sync`: share it (`Arc<LsmVecDb>` or `&LsmVecDb`) between
/// threads; searches run concurrently with each other and with one writer at a time.
pub struct LsmVecDb {
    path: PathBuf,
    engine: RwLock<Option<Arc<Engine>>>,
}

impl std::fmt::Debug for LsmVecDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmVecDb").field("path", &self.path).finish_non_exhaustive()
    }
}

impl LsmVecDb {
    /// Creates or opens the database in directory `path` (created if missing).
    ///
    /// Fails with `InvalidArgument` for bad options or when `dim`, `metric`, `m`, `m_max` or
    /// `vector_storage_type` differ from the ones the database was created with, `Busy` when the
    /// directory is open elsewhere, `Corruption` for a damaged or foreign file.
    pub fn open(path: impl AsRef<Path>, options: DbOptions) -> Result<LsmVecDb> {
        options.validate()?;
        let path = path.as_ref().to_path_buf();
        let engine = Arc::new(Engine::open(&path, Some(options), &crate::storage::DiskStorage)?);
        engine.start_repairer()?;
        Ok(LsmVecDb { path, engine: RwLock::new(Some(engine)) })
    }

    /// Opens an existing database with the parameters stored in it (dim, metric, m, m_max,
    /// storage type, vector file) and default tuning knobs. `NotFound`-style `InvalidArgument`
    /// if there is no database at `path`.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<LsmVecDb> {
        let path = path.as_ref().to_path_buf();
        let engine = Arc::new(Engine::open(&path, None, &crate::storage::DiskStorage)?);
        engine.start_repairer()?;
        Ok(LsmVecDb { path, engine: RwLock::new(Some(engine)) })
    }

    /// [`LsmVecDb::open`] over simulated storage (the power-cut tests; feature
    /// `fault-injection`): the vector file and the LSM live in `storage`, the `STATE` and `LOCK`
    /// files in the real directory `path`. No background repair thread is started, so that a
    /// run is deterministic: deleted nodes are repaired by `finish_repairs` and by the deletes
    /// themselves beyond the backlog limit.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub fn open_with_storage(
        path: impl AsRef<Path>,
        options: DbOptions,
        storage: &crate::sim::SimStorage,
    ) -> Result<LsmVecDb> {
        options.validate()?;
        let path = path.as_ref().to_path_buf();
        let engine = Arc::new(Engine::open(&path, Some(options), storage)?);
        Ok(LsmVecDb { path, engine: RwLock::new(Some(engine)) })
    }

    /// Flushes everything to disk and releases the database. Later calls on this handle return
    /// [`Error::Closed`]; closing twice is not an error.
    ///
    /// In a `fork()` child of the process that opened the handle, nothing is flushed or
    /// released (the parent owns the files, the lock and fjall's threads): the handle is closed
    /// in the child only, its memory is left to the child's exit, and the call returns
    /// [`Error::Forked`].
    pub fn close(&self) -> Result<()> {
        let taken = match self.engine.write() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        match taken {
            Some(e) => match e.check_process() {
                Ok(()) => e.close(),
                Err(forked) => {
                    // Dropping the engine would join fjall's background threads, which do not
                    // exist in the child: it would wait forever.
                    std::mem::forget(e);
                    Err(forked)
                }
            },
            None => Ok(()),
        }
    }

    /// Whether [`LsmVecDb::close`] has been called.
    pub fn is_closed(&self) -> bool {
        self.engine.read().map(|g| g.is_none()).unwrap_or(true)
    }

    fn engine(&self) -> Result<Arc<Engine>> {
        let e = match self.engine.read() {
            Ok(g) => g.clone().ok_or(Error::Closed)?,
            Err(_) => return Err(Error::Closed),
        };
        e.check_process()?;
        Ok(e)
    }

    /// Makes the `skip + 1`-th occurrence (from now) of the I/O step `fault` fail once with an
    /// I/O error. For tests of the failure paths; only with the `fault-injection` feature.
    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&self, fault: crate::fault::Fault, skip: u64) -> Result<()> {
        self.engine()?.faults.arm(fault, skip);
        Ok(())
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The effective options (stored parameters plus this handle's tuning knobs).
    pub fn options(&self) -> Result<DbOptions> {
        Ok(self.engine()?.options().clone())
    }

    /// Inserts a new vector. `InvalidArgument` for a wrong dimension, NaN/infinite components,
    /// a zero vector under cosine, or an id that is already live; nothing is written then.
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.engine()?.insert(id, vector)
    }

    /// Inserts many vectors (`vectors` is row-major, `ids.len() * dim` floats) using `threads`
    /// threads (0 = one per available core). The whole batch is validated first (dimension,
    /// values, ids unique and not live), so a bad batch writes nothing. It is then planned and
    /// committed in groups of 256 vectors, in order: each group is one atomic LSM batch (one
    /// journal write, durable like a single insert under `sync_writes`), and its vectors can
    /// link to each other. After a failure past the first group the error is
    /// [`Error::BatchIncomplete`](crate::Error::BatchIncomplete), which says how many leading
    /// vectors are committed; the others are absent.
    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32], threads: usize) -> Result<()> {
        self.engine()?.insert_batch(ids, vectors, threads)
    }

    /// Replaces the vector of a live id and rebuilds its links. `NotFound` if not live.
    pub fn update(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.engine()?.update(id, vector)
    }

    /// Deletes a vector: it is never returned again, its neighbours are relinked and its slot
    /// is reused. `NotFound` if not live.
    pub fn delete(&self, id: u64) -> Result<()> {
        self.engine()?.delete(id)
    }

    /// The stored vector of `id`, or `NotFound`.
    pub fn get(&self, id: u64) -> Result<Vec<f32>> {
        self.engine()?.get(id)
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> Result<bool> {
        Ok(self.engine()?.contains(id))
    }

    /// Number of live vectors.
    pub fn len(&self) -> Result<usize> {
        Ok(self.engine()?.len())
    }

    /// Whether there are no live vectors.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The `k` nearest live vectors to `query`, sorted by ascending distance (fewer if the
    /// database holds fewer). An empty database returns an empty list.
    pub fn search_knn(&self, query: &[f32], options: &SearchOptions) -> Result<Vec<SearchResult>> {
        self.engine()?.search(query, options)
    }

    /// [`LsmVecDb::search_knn`] with the `k` and `ef_search` of the database options.
    pub fn search_knn_default(&self, query: &[f32]) -> Result<Vec<SearchResult>> {
        let e = self.engine()?;
        let so = e.options().search_options();
        e.search(query, &so)
    }

    /// Searches many queries (row-major, `n * dim` floats) on `threads` threads (0 = one per
    /// available core). Returns one result list per query, in order.
    pub fn search_knn_batch(
        &self,
        queries: &[f32],
        options: &SearchOptions,
        threads: usize,
    ) -> Result<Vec<Vec<SearchResult>>> {
        self.engine()?.search_batch(queries, options, threads)
    }

    /// Repairs now every deleted node whose repair is pending (see `stats().repair_backlog`),
    /// which the handle's background thread otherwise does shortly after the deletes.
    pub fn finish_repairs(&self) -> Result<()> {
        self.engine()?.finish_repairs()
    }

    /// Persists the journal and the vector file to stable storage (fsync), and records in the
    /// database's state file that everything up to here is durable: a later open that
    /// recovers less reports `Corruption`.
    pub fn flush(&self) -> Result<()> {
        self.engine()?.flush()
    }

    /// Counters, sizes and latency percentiles.
    pub fn stats(&self) -> Result<Stats> {
        self.engine()?.stats()
    }

    /// Prints [`LsmVecDb::stats`] to stdout (the specification's `printStatistics`).
    pub fn print_statistics(&self) {
        match self.stats() {
            Ok(s) => print!("{s}"),
            Err(e) => println!("lsm-vec statistics unavailable: {e}"),
        }
    }
}

impl Drop for LsmVecDb {
    fn drop(&mut self) {
        // Best effort: a drop without close() must still leave a database that reopens.
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handle_is_send_and_sync() {
        assert_send_sync::<super::LsmVecDb>();
    }
}
