//! The engine behind [`crate::LsmVecDb`]: its state, the commit of a batch (vector bytes
//! written first, then one atomic LSM batch, then the in-memory state), durability, close and
//! statistics. Opening and recovery are in `open.rs`, the write path in `write.rs` and
//! `insert.rs`, the read path in `read.rs`, the quantizer's life cycle in `codes.rs`.
//!
//! Concurrency: readers hold `state.read()` for a whole search, so they see one committed
//! version of the in-memory index. Writers are serialised by `writer`; a writer plans under
//! `state.read()` (concurrently with searches), commits to the LSM, then applies the changes to
//! the in-memory state, the edge cache and the page cache under `state.write()`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::fault::{Fault, Faults};
use super::lock::DirLock;
use super::meta;
use super::state::{IndexState, GHOST, TWIN};
use super::state_file::StateRecord;
use super::txn::Changes;
use super::view::View;
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::graph::{EdgeCache, LsmStore, StoreWrite};
use crate::hnsw::{self, Params, Visited};
use crate::options::{DbOptions, DistanceMetric, Quantization};
use crate::stats::{Counters, Stats};
use crate::vectors::{SlotAllocator, VectorFile};

/// Without `sync_writes`, freed slots wait until this many have gathered, then one fsync of the
/// vector file and the journal makes the frees durable and the slots reusable (see
/// [`Engine::release_durable_frees`]).
const PENDING_FREE_LIMIT: usize = 256;
/// ... or as soon as this many wait and an insert needs a slot (one fsync per 64 frees bounds
/// how far the file grows past its live data).
pub(super) const EARLY_RELEASE: usize = 64;

/// Largest accepted squared norm: a quarter of `f32::MAX`, so `|a - b|² <= 4 max(|a|², |b|²)`
/// and `|a·b| <= |a||b|` stay finite.
const MAX_NORM2: f64 = f32::MAX as f64 / 4.0;
/// Smallest squared norm accepted under cosine (below it, `x·x` underflows in f32).
const MIN_COSINE_NORM2: f64 = 1e-30;

/// Writer-private allocation state, rebuilt from the node table at open.
pub(super) struct WriterState {
    pub alloc: SlotAllocator,
    pub free_ids: VecDeque<u32>,
    /// Mutations since the last connectivity check.
    pub since_check: usize,
    /// Internal ids and slots allocated by the mutation being planned (returned if it fails).
    pub undo_ids: Vec<u32>,
    pub undo_slots: Vec<u32>,
    /// Sequence number of the last committed batch (`meta/seq`).
    pub seq: u64,
    /// Slots freed by committed batches that may not be durable yet: they are not reused until
    /// they are, so a power cut that loses the journal's tail can never leave a live node
    /// pointing at a slot that a lost insert overwrote.
    pub pending_free: Vec<u32>,
    /// Set by `close` under the writer lock: a call that was already inside the engine when
    /// the handle closed (holding its own reference) must not commit after the clean-close
    /// record was written.
    pub closed: bool,
}

/// Kinds of mutation, for counters.
#[derive(Clone, Copy)]
pub(super) enum Op {
    Insert,
    Update,
    Delete,
    /// The repair of deleted nodes (not counted).
    Repair,
}

pub(crate) struct Engine {
    pub(super) opts: DbOptions,
    pub(super) params: Params,
    pub(super) metric: Metric,
    pub(super) store: LsmStore,
    pub(super) vectors: VectorFile,
    pub(super) edges: EdgeCache,
    pub(super) state: RwLock<IndexState>,
    pub(super) writer: Mutex<WriterState>,
    /// Single inserts waiting for a writer to commit them (the write group), and the signal
    /// that a writer released the lock (see `insert::WriterGuard`).
    pub(super) insert_queue: Mutex<Vec<std::sync::Arc<super::insert::Pending>>>,
    pub(super) writer_released: std::sync::Condvar,
    /// The background repair of deleted nodes (`db::repair`), which waits for the writer to
    /// be idle: when the last write other than a repair committed, in ms since `opened_at`.
    pub(super) repairer: super::repair::Repairer,
    pub(super) last_write_ms: std::sync::atomic::AtomicU64,
    pub(super) opened_at: Instant,
    /// The graph nodes added by each of the last few commits (by commit number), for write-group
    /// searches that ran before them.
    pub(super) recent_nodes: Mutex<VecDeque<(u64, Vec<u32>)>>,
    /// Batches committed by this handle (a write-group search older than a few is redone).
    pub(super) commits: std::sync::atomic::AtomicU64,
    pub(super) counters: Counters,
    pub(super) visited: Mutex<Vec<Visited>>,
    pub(super) poisoned: AtomicBool,
    pub(super) log: Option<Mutex<File>>,
    /// The canonical database directory.
    pub(super) dir: PathBuf,
    /// The process that opened the handle (a `fork()` child may not use it).
    pub(super) pid: u32,
    pub(super) faults: Faults,
    /// The split of the memory budget.
    pub(super) memory: super::budget::MemoryPlan,
    /// The database's instance id (LSM `meta/instance`, vector file header, state file).
    pub(super) instance: u64,
    pub(super) _lock: DirLock,
}

pub(super) fn lock_mutex<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    pub(super) fn log(&self, msg: &str) {
        if let Some(f) = &self.log {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(lock_mutex(f), "{t:.3} lsm-vec: {msg}");
        }
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    pub(super) fn read_state(&self) -> RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write_state(&self) -> RwLockWriteGuard<'_, IndexState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn view<'a>(&'a self, state: &'a IndexState) -> View<'a> {
        View::new(state, &self.store, &self.edges, &self.vectors, self.metric, self.opts.enable_batch_read)
    }

    /// A view for the write path: with quantization on, it scores with the codes once they
    /// are trained (see [`View::build_codes`]).
    pub(super) fn write_view<'a>(&'a self, state: &'a IndexState) -> View<'a> {
        let mut v = self.view(state);
        v.build_codes = self.opts.quantization != Quantization::None;
        v
    }

    pub(super) fn take_visited(&self) -> Visited {
        lock_mutex(&self.visited).pop().unwrap_or_else(Visited::new)
    }

    pub(super) fn return_visited(&self, v: Visited) {
        let mut pool = lock_mutex(&self.visited);
        if pool.len() < 64 {
            pool.push(v);
        }
    }

    /// Rejects a vector of the wrong length, with NaN/infinite values, with a norm whose
    /// square leaves the f32 range distances are computed in (`|v|² > f32::MAX / 4`, so that
    /// no L2 distance, dot product or cosine of two accepted vectors can overflow to infinity
    /// or NaN), or, under cosine, with a norm too small to divide by (`|v|² < 1e-30`).
    pub(super) fn check_vector(&self, v: &[f32], what: &str) -> Result<()> {
        if v.len() != self.opts.dim {
            return Err(Error::DimensionMismatch { expected: self.opts.dim, got: v.len() });
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(format!("{what} has a non-finite value {} at index {i}", v[i])));
        }
        let norm2: f64 = v.iter().map(|&x| x as f64 * x as f64).sum();
        if norm2 > MAX_NORM2 {
            return Err(Error::invalid(format!(
                "{what} is too large: its squared norm {norm2:e} exceeds {MAX_NORM2:e}, beyond which distances overflow f32"
            )));
        }
        if self.opts.metric == DistanceMetric::Cosine {
            if norm2 == 0.0 {
                return Err(Error::invalid(format!("{what} is a zero vector, which has no cosine distance")));
            }
            if norm2 < MIN_COSINE_NORM2 {
                return Err(Error::invalid(format!(
                    "{what} is too small for cosine: its squared norm {norm2:e} is below {MIN_COSINE_NORM2:e}"
                )));
            }
        }
        Ok(())
    }

    /// Refuses use from a `fork()` child of the process that opened the handle.
    pub fn check_process(&self) -> Result<()> {
        let now = std::process::id();
        if now != self.pid {
            return Err(Error::Forked { opened_in: self.pid, used_in: now });
        }
        Ok(())
    }

    pub(super) fn check_writable(&self) -> Result<()> {
        if self.poisoned.load(Relaxed) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    pub(super) fn level_for(&self, ext_id: u64) -> usize {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.opts.random_seed.to_le_bytes());
        b[8..].copy_from_slice(&ext_id.to_le_bytes());
        hnsw::draw_level(xxhash_rust::xxh3::xxh3_64(&b), self.opts.m)
    }

    /// Commits `changes` (plus the next sequence number) and applies them in memory.
    ///
    /// A failure before the batch reaches the LSM (the vector file's fsync) leaves the write
    /// undone; a failure of the commit itself leaves its outcome unknown ([`Error::CommitUncertain`]).
    /// Either way the handle is poisoned: the in-memory state may no longer match the disk, so
    /// only a reopen can be trusted.
    pub(super) fn commit(&self, w: &mut WriterState, changes: Changes) -> Result<()> {
        let Changes {
            mut writes,
            adj0,
            upper,
            nodes,
            ids,
            entry,
            indeg,
            ghosts,
            freed_slots,
            written_slots,
            twins,
            encode,
            counters,
        } = changes;
        let sync = self.opts.sync_writes;
        let fail = |e: Error| {
            self.poisoned.store(true, Relaxed);
            self.log(&format!("write failed, handle poisoned: {e}"));
            e
        };
        if sync && !written_slots.is_empty() {
            self.sync_vectors().map_err(fail)?;
        }
        writes.push(StoreWrite::Meta(meta::KEY_SEQ, (w.seq + 1).to_le_bytes().to_vec()));
        let res = self
            .faults
            .hit(Fault::CommitBefore)
            .and_then(|()| self.store.commit(writes, sync))
            .and_then(|()| self.faults.hit(Fault::CommitAfter));
        if let Err(e) = res {
            return Err(fail(Error::CommitUncertain { source: Box::new(e) }));
        }
        w.seq += 1;
        let mut st = self.write_state();
        let commit_no = self.commits.fetch_add(1, std::sync::atomic::Ordering::Release) + 1;
        if !encode.is_empty() {
            let mut recent = lock_mutex(&self.recent_nodes);
            recent.push_back((commit_no, encode.iter().map(|(id, _)| *id).collect()));
            while recent.front().is_some_and(|(c, _)| *c + super::insert::STALE_COMMITS < commit_no) {
                recent.pop_front();
            }
        }
        for (id, n) in nodes {
            // `live` counts caller ids: a node marked deleted (repair pending) is not one.
            let was_live = st.node(id).is_some_and(|r| !r.deleted);
            let was_doomed = st.is_doomed(id);
            let now_live = n.is_some_and(|r| !r.deleted);
            if n.is_some_and(|r| r.deleted) && !was_doomed {
                st.doomed.push_back(id);
            }
            let was = st.set_node(id, n);
            match (was_live, now_live) {
                (false, true) => st.live += 1,
                (true, false) => st.live -= 1,
                _ => {}
            }
            if was && n.is_none() && !ghosts.contains(&(id, true)) {
                w.free_ids.push_back(id);
            }
        }
        for &(id, g) in &ghosts {
            if g {
                st.set_ghost(id);
            } else if st.is_ghost(id) {
                st.set_node(id, None);
                w.free_ids.push_back(id);
            }
        }
        for (head, twin, add) in twins {
            st.set_twin(head, twin, add);
        }
        if let Some(codes) = st.codes.as_mut() {
            for (id, v) in &encode {
                codes.set(*id, v);
            }
            if !self.memory.codes_fit(codes.len()) {
                st.codes = None;
                self.log("the codes outgrew their share of memory_budget_bytes: searches use the full vectors until the next open");
            }
        }
        for (ext, id) in ids {
            match id {
                Some(id) => st.ids.insert(ext, id),
                None => st.ids.remove(&ext),
            };
        }
        for (id, lists) in upper {
            match lists {
                Some(l) => st.upper.insert(id, l),
                None => st.upper.remove(&id),
            };
        }
        if let Some(e) = entry {
            st.entry = e;
        }
        for (id, d) in indeg {
            st.cover(id);
            let i = id as usize;
            st.indeg[i] = (st.indeg[i] as i64 + d).clamp(0, u32::MAX as i64) as u32;
        }
        for (id, list) in adj0 {
            match (list, st.adj.covers(id)) {
                (Some(l), true) => st.adj.set(id, &l),
                (None, true) => st.adj.remove(id),
                (Some(l), false) => self.edges.put(id, l),
                (None, false) => self.edges.remove(id),
            }
        }
        for (s, v) in &written_slots {
            self.vectors.refresh_slot(*s, v);
        }
        drop(st);
        self.counters.publish(&counters);
        self.vectors.publish(&counters.io);
        if sync {
            // The batch is durable: its freed slots may be reused at once.
            for s in freed_slots {
                w.alloc.release(s);
            }
            return Ok(());
        }
        w.pending_free.extend(freed_slots);
        if w.pending_free.len() >= PENDING_FREE_LIMIT {
            // This batch is committed whatever happens here: a failure poisons the handle for
            // the writes to come, and is logged, but does not turn this write into an error.
            let _ = self.make_durable(w);
        }
        Ok(())
    }

    /// fsyncs the vector file (an injectable step).
    fn sync_vectors(&self) -> Result<()> {
        self.faults.hit(Fault::Sync)?;
        self.vectors.sync()
    }

    /// Makes every committed batch durable (vector file, then journal) and releases the slots
    /// they freed for reuse. A failed fsync poisons the handle (after a failed fsync the
    /// kernel may have dropped the dirty pages: nothing about the file is known any more).
    pub(super) fn make_durable(&self, w: &mut WriterState) -> Result<()> {
        let res = self.sync_vectors().and_then(|()| self.faults.hit(Fault::Sync)).and_then(|()| self.store.persist());
        if let Err(e) = res {
            self.poisoned.store(true, Relaxed);
            self.log(&format!("fsync failed, handle poisoned: {e}"));
            return Err(e);
        }
        for s in w.pending_free.drain(..) {
            w.alloc.release(s);
        }
        Ok(())
    }

    /// Makes everything committed durable and records it in the state file, so that a later
    /// open that recovers less reports `Corruption`.
    pub fn flush(&self) -> Result<()> {
        let mut w = self.lock_writer();
        if w.closed {
            return Err(Error::Closed);
        }
        self.make_durable(&mut w)?;
        self.write_state_record(false, w.seq)
    }

    pub(super) fn write_state_record(&self, clean: bool, seq: u64) -> Result<()> {
        let rec = StateRecord { clean, instance: self.instance, seq, vector_file: self.vectors.path().to_path_buf() };
        rec.write(&self.dir)
    }

    /// Serialises with any in-flight write, makes everything durable (vector file, then
    /// journal) and records the clean shutdown with its sequence number, so that a reopen that
    /// recovers less (a damaged or truncated journal) reports `Corruption` instead of serving
    /// an older database. A poisoned handle only makes durable what is there: its state record
    /// stays "not clean", and the next open checks what it recovers.
    ///
    /// The memtables are not written to tables here: that made fjall's flush workers busy
    /// while the handle was dropped, and valgrind then found blocks of stopped-but-unjoined
    /// threads at process exit (flaky C tests). The journal is fsync'd and checksummed, and the
    /// state record turns any loss in it into an error.
    pub fn close(&self) -> Result<()> {
        // Pending repairs stay marked in their records; the next open finishes them.
        self.stop_repairer();
        let mut w = self.lock_writer();
        w.closed = true;
        let r = if self.poisoned.load(Relaxed) {
            self.vectors.sync().and_then(|()| self.store.persist())
        } else {
            self.make_durable(&mut w).and_then(|()| self.write_state_record(true, w.seq))
        };
        self.log(&format!("close ({} vectors){}", self.len(), if r.is_err() { " with errors" } else { "" }));
        r
    }

    pub fn stats(&self) -> Result<Stats> {
        let state = self.read_state();
        let c = &self.counters;
        let code_bytes = state.codes.as_ref().map(|c| c.bytes()).unwrap_or(0);
        let adjacency_bytes = state.adj.bytes();
        let page_cache_bytes = self.vectors.cached_pages() as u64 * crate::vectors::PAGE_BYTES as u64;
        let edge_cache_bytes =
            self.edges.len() as u64 * (crate::graph::AdjTable::row_bytes(self.params.max_degree0) + 48);
        let upper: u64 =
            state.upper.values().map(|ls| ls.iter().map(|l| l.capacity() as u64 * 4 + 24).sum::<u64>() + 48).sum();
        let bookkeeping_bytes = state.nodes.capacity() as u64
            * std::mem::size_of::<Option<crate::graph::codec::NodeRecord>>() as u64
            + (state.slots.capacity() + state.indeg.capacity()) as u64 * 4
            + state.ids.capacity() as u64 * 16
            + upper;
        Ok(Stats {
            count: state.live as u64,
            dim: self.opts.dim,
            metric: self.opts.metric,
            vector_storage_type: self.opts.vector_storage_type,
            m: self.opts.m,
            m_max: self.opts.m_max,
            max_level: state.entry.map(|e| e.1).unwrap_or(0),
            upper_layer_nodes: state.upper.len() as u64,
            ghost_nodes: state.slots.iter().filter(|&&s| s == GHOST).count() as u64,
            repair_backlog: state.doomed.len() as u64,
            repairs: c.repairs.load(Relaxed),
            twin_nodes: state.slots.iter().filter(|&&s| s == TWIN).count() as u64,
            code_bytes,
            adjacency_bytes,
            adjacency_lists: state.adj.len() as u64,
            page_cache_bytes,
            edge_cache_bytes,
            bookkeeping_bytes,
            memory_bytes: code_bytes + adjacency_bytes + page_cache_bytes + edge_cache_bytes + bookkeeping_bytes,
            memory_budget_bytes: self.opts.memory_budget_bytes,
            vector_file_bytes: self.vectors.len_bytes().unwrap_or(0),
            lsm_disk_bytes: self.store.disk_bytes(),
            searches: c.searches.load(Relaxed),
            inserts: c.inserts.load(Relaxed),
            updates: c.updates.load(Relaxed),
            deletes: c.deletes.load(Relaxed),
            vector_pages_read: self.vectors.pages_read(),
            page_cache_hits: self.vectors.page_hits(),
            page_cache_misses: self.vectors.pages_read(),
            page_cache_pages: self.vectors.cached_pages() as u64,
            lsm_gets: c.lsm_gets.load(Relaxed),
            edge_cache_hits: c.edge_cache_hits.load(Relaxed),
            routing_skips: c.routing_skips.load(Relaxed),
            edge_cache_entries: self.edges.len() as u64,
            distance_computations: c.distance_computations.load(Relaxed),
            nodes_visited: c.nodes_visited.load(Relaxed),
            nodes_expanded: c.nodes_expanded.load(Relaxed),
            search_latency: c.search_latency.summary(),
            insert_latency: c.insert_latency.summary(),
            update_latency: c.update_latency.summary(),
            delete_latency: c.delete_latency.summary(),
        })
    }
}

/// `threads`, or one per available core for 0.
pub(crate) fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
    } else {
        threads
    }
}
