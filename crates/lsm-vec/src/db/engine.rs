//! The engine behind [`crate::LsmVecDb`]: opening and recovery, the write path (one atomic LSM
//! batch per mutation, vector bytes written first), the read path, statistics.
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
use super::state_file::StateRecord;
use super::txn::{Changes, IndexState, Txn, View, GHOST, TWIN};
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::graph::{EdgeCache, IdHashBuilder, LsmStore, StoreWrite};
use crate::hnsw::{self, Params, Visited};
use crate::options::{DbOptions, DistanceMetric, Quantization, Routing, SearchOptions, SearchResult};
use crate::quant::{self, Codes, ScalarQuantizer};
use crate::stats::{Counters, Stats};
use crate::vectors::{SlotAllocator, VectorFile};

/// Without `sync_writes`, freed slots wait until this many have gathered, then one fsync of the
/// vector file and the journal makes the frees durable and the slots reusable (see
/// [`Engine::release_durable_frees`]).
const PENDING_FREE_LIMIT: usize = 256;
/// ... or as soon as this many wait and an insert needs a slot (one fsync per 64 frees bounds
/// how far the file grows past its live data).
const EARLY_RELEASE: usize = 64;

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

    fn check_writable(&self) -> Result<()> {
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

    /// Allocates a slot (near the slots `hints`) and writes `v` to it, before the commit that
    /// will reference it.
    pub(super) fn write_vector(&self, w: &mut WriterState, hints: &[u32], v: &[f32]) -> Result<u32> {
        if w.pending_free.len() >= EARLY_RELEASE {
            // Rather than grow the file (or open fresh pages), make the waiting frees durable
            // and reuse them.
            self.make_durable(w)?;
        }
        let slot = w.alloc.allocate(hints);
        w.undo_slots.push(slot);
        self.faults.hit(Fault::VectorWrite)?;
        self.vectors.write(slot, v)?;
        Ok(slot)
    }

    /// Plans the removal of internal `id`: repairs its neighbourhood and moves the entry point.
    /// A twin is simply dropped; a graph node with twins hands its place to one of them.
    pub(super) fn plan_remove(&self, txn: &mut Txn<'_>, id: u32, unmap_ext: bool, visited: &mut Visited) -> Result<()> {
        let node = txn.node(id).ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("internal id {id} vanished")))?;
        if node.head.is_some() {
            txn.remove_twin(id, node, unmap_ext);
            return Ok(());
        }
        if let Some(&twin) = txn.twins_of(id).first() {
            return txn.promote_twin(id, twin, unmap_ext);
        }
        hnsw::unlink(txn, &self.params, id, node.level as usize, visited)?;
        let mut l0 = Vec::new();
        hnsw::Graph::neighbors(txn, id, 0, &mut l0)?;
        // Nodes the repair did not find may still link here: keep routing through the node
        // (as a ghost) until its in-degree falls to zero.
        let route = if txn.indeg(id) > 0 {
            Some(l0.iter().copied().filter(|&x| x != id && (hnsw::Graph::is_live(txn, x) || hnsw::Graph::is_ghost(txn, x))).collect())
        } else {
            None
        };
        txn.remove_node(id, unmap_ext, route)?;
        if hnsw::Graph::entry(txn).map(|e| e.0) == Some(id) {
            let state = txn.base.state;
            // Highest remaining upper-layer node (lowest id on ties), else a live layer-0
            // neighbour, else any live node.
            let mut best: Option<(u32, usize)> = None;
            for (&u, lists) in &state.upper {
                if u == id || !hnsw::Graph::is_live(txn, u) {
                    continue;
                }
                let l = lists.len();
                if best.is_none_or(|(b, bl)| l > bl || (l == bl && u < b)) {
                    best = Some((u, l));
                }
            }
            if best.is_none() {
                best = l0.iter().copied().find(|&n| hnsw::Graph::is_live(txn, n)).map(|n| (n, 0));
            }
            if best.is_none() {
                best = (0..state.nodes.len() as u32).find(|&n| n != id && hnsw::Graph::is_live(txn, n)).map(|n| (n, 0));
            }
            hnsw::GraphMut::set_entry(txn, best);
        }
        Ok(())
    }

    /// Gives every node this change left without a layer-0 in-link one (a few rounds, since
    /// an adoption may displace another node's last in-link).
    fn adopt_orphans(&self, txn: &mut Txn<'_>) -> Result<()> {
        txn.purge_ghosts()?;
        for _ in 0..4 {
            let orphans = txn.orphans();
            if orphans.is_empty() {
                break;
            }
            for x in orphans {
                hnsw::adopt(txn, &self.params, x)?;
            }
        }
        txn.purge_ghosts()
    }

    /// Every `max(live, 64)` mutations (`max(live / 8, 16)` under inner product, which is not a
    /// metric and strands nodes more often), and once at open, makes sure every live node is
    /// reachable from the entry point on layer 0 (amortised O(degree) per mutation). Deletes
    /// and the diversity heuristic can cut off small islands; each unreachable node gets an
    /// in-link from the nearest node a search from the entry reaches.
    pub(super) fn maybe_check_connectivity(&self, w: &mut WriterState, mutations: usize) -> Result<()> {
        w.since_check = w.since_check.saturating_add(mutations);
        let live = self.len();
        let every = match self.opts.metric {
            DistanceMetric::InnerProduct => (live / 8).max(16),
            _ => live.max(64),
        };
        if w.since_check < every {
            return Ok(());
        }
        w.since_check = 0;
        let unreachable = {
            let state = self.read_state();
            let Some((entry, _)) = state.entry else { return Ok(()) };
            let mut view = self.view(&state);
            let mut seen = vec![false; state.slots.len()];
            let mut stack = vec![entry];
            seen[entry as usize] = true;
            let mut nb = Vec::new();
            while let Some(x) = stack.pop() {
                hnsw::Graph::neighbors(&mut view, x, 0, &mut nb)?;
                for &y in &nb {
                    let i = y as usize;
                    if i < seen.len() && !seen[i] && (state.live_slot(y).is_some() || state.is_ghost(y)) {
                        seen[i] = true;
                        stack.push(y);
                    }
                }
            }
            self.counters.publish(&view.c);
            (0..state.slots.len() as u32).filter(|&x| state.live_slot(x).is_some() && !seen[x as usize]).collect::<Vec<_>>()
        };
        if unreachable.is_empty() {
            return Ok(());
        }
        self.log(&format!("connectivity check: linking {} unreachable nodes", unreachable.len()));
        let mut visited = self.take_visited();
        let changes = {
            let state = self.read_state();
            let mut txn = Txn::new(self.write_view(&state));
            let mut v = Vec::new();
            for &x in &unreachable {
                hnsw::Graph::vector(&mut txn, x, &mut v)?;
                let q = self.metric.prepare(&v);
                let near = hnsw::knn(&mut txn, &q, self.params.ef_construction, &mut visited)?;
                if let Some(&(_, y)) = near.iter().find(|&&(_, y)| y != x && !unreachable.contains(&y)) {
                    hnsw::link_to(&mut txn, &self.params, y, x)?;
                }
            }
            txn.purge_ghosts()?;
            txn.into_changes()
        };
        self.return_visited(visited);
        self.commit(w, changes)
    }

    /// Trains the quantizer once `quant::TRAIN_MIN` graph nodes exist, and retrains it when
    /// their number doubled since (up to `quant::RETRAIN_MAX`) or the data drifted out of the
    /// trained range (see `quant`). The parameters are committed (`meta/sq8`), then the codes
    /// of every graph node are computed from the vector file and installed at once.
    pub(super) fn maybe_train_codes(&self, w: &mut WriterState) -> Result<()> {
        let Some(bits) = quant::bits_of(self.opts.quantization) else { return Ok(()) };
        if self.memory.code_per == 0 {
            return Ok(());
        }
        let graph_nodes = {
            let st = self.read_state();
            let n = st.live - st.twins.values().map(|t| t.len()).sum::<usize>();
            let fits = self.memory.codes_fit(n + n / 4);
            let due = fits && match &st.codes {
                None => n >= quant::TRAIN_MIN,
                Some(c) => (n >= 2 * c.trained_on && c.trained_on < quant::RETRAIN_MAX) || c.drifted(),
            };
            if !due {
                return Ok(());
            }
            n
        };
        // Two verified passes over the vector file (train, then encode), so that the memory
        // used is that of the codes, not of the vectors.
        let mut items = self.graph_records();
        let mut trainer = quant::Trainer::new(self.opts.dim, bits, items.len());
        self.vectors.read_verified(&mut items, |_, v| trainer.add(v))?;
        let sq = trainer.finish();
        self.commit(
            w,
            Changes {
                writes: vec![StoreWrite::Meta(meta::quantizer_key(bits), sq.encode_params())],
                ..Default::default()
            },
        )?;
        let mut codes = self.new_codes(sq, graph_nodes);
        self.vectors.read_verified(&mut items, |id, v| codes.set(id, v))?;
        codes.reset_drift();
        self.log(&format!("quantizer trained on {graph_nodes} vectors"));
        self.write_state().codes = Some(codes);
        Ok(())
    }

    /// Empty codes for quantizer `sq`, with routing signatures if `routing` asks for them.
    pub(super) fn new_codes(&self, sq: ScalarQuantizer, trained_on: usize) -> Codes {
        new_codes(&self.opts, sq, trained_on)
    }

    /// (slot, checksum, internal id) of every live graph node.
    fn graph_records(&self) -> Vec<(u32, u32, u32)> {
        let st = self.read_state();
        (0..st.nodes.len() as u32)
            .filter_map(|id| st.live_slot(id).and_then(|_| st.node(id)).map(|n| (n.slot, n.checksum, id)))
            .collect()
    }

    /// Commits `changes` (plus the next sequence number) and applies them in memory.
    ///
    /// A failure before the batch reaches the LSM (the vector file's fsync) leaves the write
    /// undone; a failure of the commit itself leaves its outcome unknown ([`Error::CommitUncertain`]).
    /// Either way the handle is poisoned: the in-memory state may no longer match the disk, so
    /// only a reopen can be trusted.
    fn commit(&self, w: &mut WriterState, changes: Changes) -> Result<()> {
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

    /// Runs one mutation: plans it under the read lock through a `Txn` (`plan` gets the
    /// writer state for allocations), gives orphans an in-link, commits one batch and applies
    /// it. If planning fails, the ids and slots it allocated are returned and nothing is written.
    fn mutate(
        &self,
        op: Op,
        count: usize,
        plan: impl FnOnce(&mut Txn<'_>, &mut WriterState, &mut Visited) -> Result<()>,
    ) -> Result<()> {
        self.check_writable()?;
        let t0 = Instant::now();
        let mut w = self.lock_writer();
        self.mutate_locked(&mut w, op, count, plan)?;
        if self.opts.enable_stats && count == 1 {
            match op {
                Op::Insert => self.counters.insert_latency.record(t0.elapsed()),
                Op::Update => self.counters.update_latency.record(t0.elapsed()),
                Op::Delete => self.counters.delete_latency.record(t0.elapsed()),
                Op::Repair => {}
            }
        }
        Ok(())
    }

    /// [`Engine::mutate`] with the writer lock held by the caller (`count` mutations).
    pub(super) fn mutate_locked(
        &self,
        w: &mut WriterState,
        op: Op,
        count: usize,
        plan: impl FnOnce(&mut Txn<'_>, &mut WriterState, &mut Visited) -> Result<()>,
    ) -> Result<()> {
        self.check_writable()?;
        if w.closed {
            return Err(Error::Closed);
        }
        let mut visited = self.take_visited();
        let planned = {
            let state = self.read_state();
            let mut txn = Txn::new(self.write_view(&state));
            plan(&mut txn, w, &mut visited)
                .and_then(|()| self.adopt_orphans(&mut txn))
                .map(|()| txn.into_changes())
        };
        self.return_visited(visited);
        let undo_ids = std::mem::take(&mut w.undo_ids);
        let undo_slots = std::mem::take(&mut w.undo_slots);
        let changes = match planned {
            Ok(c) => c,
            Err(e) => {
                for id in undo_ids.into_iter().rev() {
                    w.free_ids.push_front(id);
                }
                for slot in undo_slots {
                    w.alloc.release(slot);
                }
                return Err(e);
            }
        };
        self.commit(w, changes)?;
        // The mutation is committed: a failing connectivity check or training (their own
        // commit poisons the handle if that is what failed) must not report it as failed.
        if let Err(e) = self.maybe_check_connectivity(w, count) {
            self.log(&format!("connectivity check failed: {e}"));
        }
        if let Err(e) = self.maybe_train_codes(w) {
            self.log(&format!("training the quantizer failed: {e}"));
        }
        if !matches!(op, Op::Repair) {
            self.last_write_ms.store(self.clock_ms(), Relaxed);
        }
        let counter = match op {
            Op::Insert => &self.counters.inserts,
            Op::Update => &self.counters.updates,
            Op::Delete => &self.counters.deletes,
            Op::Repair => &self.counters.repairs,
        };
        counter.fetch_add(count as u64, Relaxed);
        Ok(())
    }

    /// Inserts one vector. Concurrent inserts form a *write group*: each queues its request
    /// and waits for the writer lock; whoever gets it commits every queued request as one group
    /// (planned on up to one thread per core), and the others find their result done.
    pub fn insert(&self, ext_id: u64, v: &[f32]) -> Result<()> {
        self.check_vector(v, "vector")?;
        self.check_writable()?;
        let t0 = Instant::now();
        let r = self.insert_grouped(ext_id, v);
        if r.is_ok() && self.opts.enable_stats {
            self.counters.insert_latency.record(t0.elapsed());
        }
        r
    }

    /// Validates the whole batch (lengths, values, ids unique and not live), then plans and
    /// commits it in groups of [`super::insert::GROUP`], in order, on `threads` threads (0 =
    /// one per core). A failure after the first group names how many vectors are committed.
    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32], threads: usize) -> Result<()> {
        let dim = self.opts.dim;
        if vectors.len() != ids.len() * dim {
            return Err(Error::invalid(format!(
                "insert_batch: {} ids need {} floats ({} x dim {dim}), got {}",
                ids.len(),
                ids.len() * dim,
                ids.len(),
                vectors.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity_and_hasher(ids.len(), IdHashBuilder);
        {
            let state = self.read_state();
            for (i, &id) in ids.iter().enumerate() {
                self.check_vector(&vectors[i * dim..(i + 1) * dim], &format!("vector {i} of the batch"))?;
                if !seen.insert(id) {
                    return Err(Error::invalid(format!("insert_batch: id {id} appears twice in the batch")));
                }
                if state.ids.contains_key(&id) {
                    return Err(Error::AlreadyExists(id));
                }
            }
        }
        let threads = resolve_threads(threads);
        let mut done = 0;
        for group in ids.chunks(super::insert::GROUP) {
            let items: Vec<(u64, &[f32])> =
                group.iter().enumerate().map(|(k, &id)| (id, &vectors[(done + k) * dim..(done + k + 1) * dim])).collect();
            let r = self.mutate(Op::Insert, items.len(), |txn, w, visited| {
                // A concurrent insert may have taken an id since the validation.
                if let Some(&(id, _)) = items.iter().find(|(id, _)| txn.base.state.ids.contains_key(id)) {
                    return Err(Error::AlreadyExists(id));
                }
                self.plan_group(txn, w, &items, threads, visited, Vec::new())
            });
            if let Err(e) = r {
                return Err(if done == 0 {
                    e
                } else {
                    Error::BatchIncomplete { committed: done, total: ids.len(), source: Box::new(e) }
                });
            }
            done += group.len();
        }
        Ok(())
    }

    pub fn update(&self, ext_id: u64, v: &[f32]) -> Result<()> {
        self.check_vector(v, "vector")?;
        self.mutate(Op::Update, 1, |txn, w, visited| {
            let Some(&old) = txn.base.state.ids.get(&ext_id) else { return Err(Error::NotFound(ext_id)) };
            self.plan_remove(txn, old, false, visited)?;
            self.plan_group(txn, w, &[(ext_id, v)], 1, visited, Vec::new())
        })
    }

    /// Deletes `ext_id`. A twin goes at once, a graph node with twins hands its place to one;
    /// any other graph node is only marked deleted (one small batch): it stops being a result
    /// at once and keeps routing searches until the repairer (`db::repair`) relinks its
    /// neighbourhood and removes it.
    pub fn delete(&self, ext_id: u64) -> Result<()> {
        self.mutate(Op::Delete, 1, |txn, _w, visited| {
            let Some(&id) = txn.base.state.ids.get(&ext_id) else { return Err(Error::NotFound(ext_id)) };
            let n = txn.node(id).ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("id {ext_id} has no node")))?;
            if n.head.is_some() || !txn.twins_of(id).is_empty() {
                return self.plan_remove(txn, id, true, visited);
            }
            txn.doom(id, n);
            Ok(())
        })?;
        self.after_delete();
        Ok(())
    }

    /// The stored vector of `ext_id`, checked against its checksum.
    pub fn get(&self, ext_id: u64) -> Result<Vec<f32>> {
        let state = self.read_state();
        let id = *state.ids.get(&ext_id).ok_or(Error::NotFound(ext_id))?;
        let n = *state.node(id).ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("id {ext_id} has no node")))?;
        let mut view = self.view(&state);
        let mut out = Vec::with_capacity(self.opts.dim);
        let r = view.verified(id, &n, Some(&mut out));
        self.vectors.publish(&view.c.io);
        r.map(|()| out)
    }

    pub fn contains(&self, ext_id: u64) -> bool {
        self.read_state().ids.contains_key(&ext_id)
    }

    pub fn len(&self) -> usize {
        self.read_state().live
    }

    pub fn search(&self, q: &[f32], so: &SearchOptions) -> Result<Vec<SearchResult>> {
        so.validate()?;
        self.check_vector(q, "query")?;
        let t0 = Instant::now();
        let mut visited = self.take_visited();
        let result = {
            let state = self.read_state();
            let mut view = self.view(&state);
            let pq = self.metric.prepare(q);
            let ef = so.ef_search.max(so.k);
            if self.opts.quantization != Quantization::None {
                view.code_query = state.codes.as_ref().map(|c| c.prepare(self.metric, q));
                view.route_query = state.codes.as_ref().and_then(|c| c.router.as_ref()).map(|r| r.prepare(q));
            }
            let approx = view.code_query.is_some();
            let found = hnsw::knn(&mut view, &pq, ef, &mut visited);
            view.code_query = None;
            view.route_query = None;
            let found = found.and_then(|found| {
                // The best candidates are re-scored with the full vectors (checked against their
                // checksums): all returned distances are exact. Without codes the traversal's
                // scores are exact already and only the returned records are read again.
                let r = if approx { self.opts.rerank_for(so.k, ef) } else { so.k }.min(found.len());
                let ids: Vec<u32> = found[..r].iter().map(|&(_, id)| id).collect();
                let mut exact = Vec::with_capacity(r);
                view.exact_verified(&pq, &ids, &mut exact)?;
                let mut best: Vec<(f32, u32)> = exact.into_iter().zip(ids).collect();
                best.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                // Each graph node is followed by its twins (same vector, same distance).
                let mut out = Vec::with_capacity(so.k);
                'all: for (s, id) in best {
                    for (j, x) in std::iter::once(id).chain(state.twins_of(id).iter().copied()).enumerate() {
                        if out.len() >= so.k {
                            break 'all;
                        }
                        let n = *state.node(x).ok_or_else(|| {
                            Error::corruption(self.vectors.path(), None, format!("search reached free id {x}"))
                        })?;
                        if j > 0 {
                            view.verified(x, &n, None)?;
                        }
                        out.push(SearchResult { id: n.ext_id, distance: self.metric.report(s) });
                    }
                }
                Ok(out)
            });
            self.counters.publish(&view.c);
            self.vectors.publish(&view.c.io);
            found
        };
        self.return_visited(visited);
        self.counters.searches.fetch_add(1, Relaxed);
        if self.opts.enable_stats {
            self.counters.search_latency.record(t0.elapsed());
        }
        result
    }

    pub fn search_batch(&self, queries: &[f32], so: &SearchOptions, threads: usize) -> Result<Vec<Vec<SearchResult>>> {
        so.validate()?;
        let dim = self.opts.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::invalid(format!(
                "search batch: {} floats is not a multiple of dim {dim}",
                queries.len()
            )));
        }
        let n = queries.len() / dim;
        for i in 0..n {
            self.check_vector(&queries[i * dim..(i + 1) * dim], &format!("query {i} of the batch"))?;
        }
        let threads = resolve_threads(threads).clamp(1, n.max(1));
        if threads == 1 {
            return (0..n).map(|i| self.search(&queries[i * dim..(i + 1) * dim], so)).collect();
        }
        let mut out: Vec<Result<Vec<SearchResult>>> = Vec::with_capacity(n);
        let chunk = n.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let lo = (t * chunk).min(n);
                    let hi = ((t + 1) * chunk).min(n);
                    s.spawn(move || (lo..hi).map(|i| self.search(&queries[i * dim..(i + 1) * dim], so)).collect::<Vec<_>>())
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(v) => out.extend(v),
                    Err(p) => out.push(Err(Error::panicked("a search thread of search_knn_batch", p.as_ref()))),
                }
            }
        });
        out.into_iter().collect()
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
        let edge_cache_bytes = self.edges.len() as u64 * (crate::graph::AdjTable::row_bytes(self.params.max_degree0) + 48);
        let upper: u64 = state.upper.values().map(|ls| ls.iter().map(|l| l.capacity() as u64 * 4 + 24).sum::<u64>() + 48).sum();
        let bookkeeping_bytes = state.nodes.capacity() as u64 * std::mem::size_of::<Option<crate::graph::codec::NodeRecord>>() as u64
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
            vector_file_bytes: self.vectors.len_bytes(),
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

/// Empty codes for quantizer `sq` under `opts` (with routing signatures if `opts.routing` asks
/// for them).
pub(super) fn new_codes(opts: &DbOptions, sq: ScalarQuantizer, trained_on: usize) -> Codes {
    let codes = Codes::new(sq, opts.metric, trained_on);
    match opts.routing {
        Routing::Exact => codes,
        Routing::Probabilistic => codes.with_router(opts.routing_epsilon),
    }
}
