//! The engine behind [`crate::LsmVecDb`]: opening and recovery, the write path (one atomic LSM
//! batch per mutation, vector bytes written first), the read path, statistics.
//!
//! Concurrency: readers hold `state.read()` for a whole search, so they see one committed
//! version of the in-memory index. Writers are serialised by `writer`; a writer plans under
//! `state.read()` (concurrently with searches), commits to the LSM, then applies the changes to
//! the in-memory state, the edge cache and the page cache under `state.write()`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::lock::{lock_dir, DirLock};
use super::meta::{self, StoredParams};
use super::txn::{Changes, IndexState, Txn, View, FREE, GHOST};
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::graph::{EdgeCache, IdHashBuilder, LsmStore, StoreWrite};
use crate::hnsw::{self, Params, Visited};
use crate::options::{DbOptions, DistanceMetric, SearchOptions, SearchResult};
use crate::stats::{Counters, Stats};
use crate::vectors::{SlotAllocator, VectorFile};

/// Writer-private allocation state, rebuilt from the node table at open.
struct WriterState {
    alloc: SlotAllocator,
    free_ids: VecDeque<u32>,
    /// Mutations since the last connectivity check.
    since_check: usize,
    /// Internal ids and slots allocated by the mutation being planned (returned if it fails).
    undo_ids: Vec<u32>,
    undo_slots: Vec<u32>,
}

/// Kinds of mutation, for counters.
#[derive(Clone, Copy)]
enum Op {
    Insert,
    Update,
    Delete,
}

pub(crate) struct Engine {
    opts: DbOptions,
    params: Params,
    metric: Metric,
    store: LsmStore,
    vectors: VectorFile,
    edges: EdgeCache,
    state: RwLock<IndexState>,
    writer: Mutex<WriterState>,
    counters: Counters,
    visited: Mutex<Vec<Visited>>,
    poisoned: AtomicBool,
    log: Option<Mutex<File>>,
    _lock: DirLock,
}

fn lsm_dir(dir: &Path) -> PathBuf {
    dir.join("lsm")
}

fn default_vector_file(dir: &Path) -> PathBuf {
    dir.join("vectors.bin")
}

fn new_instance_id(dir: &Path) -> u64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut buf = Vec::new();
    buf.extend_from_slice(&t.to_le_bytes());
    buf.extend_from_slice(&std::process::id().to_le_bytes());
    buf.extend_from_slice(dir.to_string_lossy().as_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf) | 1
}

/// Removes a path if it exists (file or directory).
fn remove_path(p: &Path) -> Result<()> {
    let r = match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
    };
    r.map_err(|e| Error::io(format!("remove {}", p.display()), e))
}

fn lock_mutex<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Engine> {
        Self::open_inner(dir, Some(opts))
    }

    pub fn open_existing(dir: &Path) -> Result<Engine> {
        Self::open_inner(dir, None)
    }

    /// `opts = None`: open with the stored parameters (the database must exist).
    fn open_inner(dir: &Path, opts: Option<DbOptions>) -> Result<Engine> {
        if opts.is_none() && !lsm_dir(dir).exists() {
            return Err(Error::invalid(format!("no lsm-vec database at {}", dir.display())));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create directory {}", dir.display()), e))?;
        let lock = lock_dir(dir)?;
        let log = match &opts {
            Some(o) if !o.log_file_path.as_os_str().is_empty() => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&o.log_file_path)
                    .map_err(|e| Error::io(format!("open log file {}", o.log_file_path.display()), e))?,
            )),
            _ => None,
        };

        let requested_vf = opts.as_ref().map(|o| o.vector_file_path.clone()).filter(|p| !p.as_os_str().is_empty());
        if let Some(o) = &opts {
            if o.reinit {
                // The default vector file inside the directory is ours whatever its state; a
                // file elsewhere is deleted only if it carries our magic (it may be damaged),
                // so a mistyped path never destroys someone else's file.
                let default_vf = default_vector_file(dir);
                remove_path(&default_vf)?;
                if let Some(vf) = &requested_vf {
                    if vf.exists() {
                        if !VectorFile::has_magic(vf) {
                            return Err(Error::corruption(
                                vf,
                                Some(0),
                                "reinit refuses to delete a file that is not an lsm-vec vector file",
                            ));
                        }
                        remove_path(vf)?;
                    }
                }
                remove_path(&lsm_dir(dir))?;
            }
        }

        let cache_bytes = opts.as_ref().map(|o| o.lsm_cache_bytes).unwrap_or_else(|| DbOptions::default().lsm_cache_bytes);
        let store = LsmStore::open(&lsm_dir(dir), cache_bytes)?;

        let (opts, vectors, instance_is_new) = match store.meta(meta::KEY_INSTANCE)? {
            None => {
                let Some(o) = opts else {
                    return Err(Error::invalid(format!("no lsm-vec database at {}", dir.display())));
                };
                let vf = requested_vf.unwrap_or_else(|| default_vector_file(dir));
                if vf.exists() {
                    // Refuse to overwrite a file that is not an lsm-vec vector file.
                    VectorFile::read_header(&vf)?;
                }
                let instance = new_instance_id(dir);
                let vectors = VectorFile::create(&vf, o.dim, o.vector_storage_type, instance, o.paged_max_cached_pages, true)?;
                let sp = StoredParams::from_options(&o, &vf);
                store.commit(
                    vec![
                        StoreWrite::Meta(meta::KEY_FORMAT, meta::FORMAT_VERSION.to_le_bytes().to_vec()),
                        StoreWrite::Meta(meta::KEY_PARAMS, sp.encode()),
                        StoreWrite::Meta(meta::KEY_ENTRY, meta::encode_entry(None)),
                        StoreWrite::Meta(meta::KEY_INSTANCE, instance.to_le_bytes().to_vec()),
                    ],
                    true,
                )?;
                store.persist()?;
                (o, vectors, true)
            }
            Some(inst) => {
                let lsm = lsm_dir(dir);
                let instance = u64::from_le_bytes(
                    inst.as_slice().try_into().map_err(|_| Error::corruption(&lsm, None, "bad instance record"))?,
                );
                let fmt = store.meta(meta::KEY_FORMAT)?.ok_or_else(|| Error::corruption(&lsm, None, "missing format record"))?;
                let fmt = u32::from_le_bytes(fmt.as_slice().try_into().map_err(|_| Error::corruption(&lsm, None, "bad format record"))?);
                if fmt != meta::FORMAT_VERSION {
                    return Err(Error::corruption(&lsm, None, format!("unsupported format version {fmt} (this build reads {})", meta::FORMAT_VERSION)));
                }
                let params = store.meta(meta::KEY_PARAMS)?.ok_or_else(|| Error::corruption(&lsm, None, "missing params record"))?;
                let sp = StoredParams::decode(&params, &lsm)?;
                let o = match opts {
                    Some(o) => {
                        sp.check(&o)?;
                        o
                    }
                    None => DbOptions {
                        dim: sp.dim,
                        metric: sp.metric,
                        m: sp.m,
                        m_max: sp.m_max,
                        vector_storage_type: sp.storage,
                        ..DbOptions::default()
                    },
                };
                let vf = requested_vf.unwrap_or_else(|| sp.vector_file.clone());
                let vectors = VectorFile::open(&vf, o.dim, o.vector_storage_type, instance, o.paged_max_cached_pages)?;
                (o, vectors, false)
            }
        };
        let mut opts = opts;
        opts.vector_file_path = vectors.path().to_path_buf();

        // Rebuild the in-memory index from the LSM.
        let mut state = IndexState {
            nodes: Vec::with_capacity(opts.vec_file_capacity.min(1 << 24)),
            slots: Vec::with_capacity(opts.vec_file_capacity.min(1 << 24)),
            indeg: Vec::new(),
            ids: std::collections::HashMap::with_capacity_and_hasher(opts.vec_file_capacity.min(1 << 24), IdHashBuilder),
            upper: std::collections::HashMap::with_hasher(IdHashBuilder),
            entry: None,
            live: 0,
        };
        let mut alloc = SlotAllocator::new(vectors.layout);
        let edges = EdgeCache::new(opts.edge_cache_size);
        if !instance_is_new {
            let lsm = lsm_dir(dir);
            store.for_each_node(|id, n| {
                if state.ids.insert(n.ext_id, id).is_some() {
                    return Err(Error::corruption(&lsm, Some(id as u64), format!("id {} mapped twice", n.ext_id)));
                }
                state.set_node(id, Some(n));
                state.live += 1;
                alloc.mark_used(n.slot);
                Ok(())
            })?;
            // In-degrees are derived from the lists (and the scan warms the edge cache).
            let edges = &edges;
            store.for_each_adj0(|id, list| {
                for &t in &list {
                    state.cover(t);
                    state.indeg[t as usize] += 1;
                }
                if state.node(id).is_none() {
                    // A list without a node record: a ghost.
                    state.set_ghost(id);
                }
                edges.put(id, list.into_boxed_slice());
                Ok(())
            })?;
            store.for_each_upper(|id, lists| {
                state.upper.insert(id, lists);
                Ok(())
            })?;
            let e = store.meta(meta::KEY_ENTRY)?.unwrap_or_default();
            state.entry = meta::decode_entry(&e).ok_or_else(|| Error::corruption(&lsm, None, "bad entry record"))?;
            match state.entry {
                Some((id, _)) if state.node(id).is_none() => {
                    return Err(Error::corruption(&lsm, Some(id as u64), "entry point is not a live node"));
                }
                None if state.live > 0 => return Err(Error::corruption(&lsm, None, "no entry point in a non-empty index")),
                _ => {}
            }
        }
        if let Some(max_slot) = state.slots.iter().copied().filter(|&s| s < GHOST).max() {
            vectors.check_holds(max_slot)?;
        }
        let free_ids = state.slots.iter().enumerate().filter(|(_, &s)| s == FREE).map(|(i, _)| i as u32).collect();

        let params = Params {
            m: opts.m,
            m_max: opts.m_max,
            max_degree0: opts.max_degree0(),
            ef_construction: opts.ef_construction_usize(),
        };
        let engine = Engine {
            params,
            metric: Metric(opts.metric),
            store,
            vectors,
            edges,
            state: RwLock::new(state),
            writer: Mutex::new(WriterState { alloc, free_ids, since_check: usize::MAX, undo_ids: Vec::new(), undo_slots: Vec::new() }),
            counters: Counters::new(),
            visited: Mutex::new(Vec::new()),
            poisoned: AtomicBool::new(false),
            log,
            _lock: lock,
            opts,
        };
        if !instance_is_new {
            let mut w = lock_mutex(&engine.writer);
            engine.maybe_check_connectivity(&mut w)?;
        }
        engine.log(&format!(
            "open {} (dim {}, metric {}, {} vectors, reinit {})",
            dir.display(),
            engine.opts.dim,
            engine.opts.metric,
            engine.len(),
            engine.opts.reinit
        ));
        Ok(engine)
    }

    fn log(&self, msg: &str) {
        if let Some(f) = &self.log {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(lock_mutex(f), "{t:.3} lsm-vec: {msg}");
        }
    }

    pub fn options(&self) -> &DbOptions {
        &self.opts
    }

    fn read_state(&self) -> RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, IndexState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    fn view<'a>(&'a self, state: &'a IndexState) -> View<'a> {
        View::new(state, &self.store, &self.edges, &self.vectors, self.metric, self.opts.enable_batch_read)
    }

    fn take_visited(&self) -> Visited {
        lock_mutex(&self.visited).pop().unwrap_or_else(Visited::new)
    }

    fn return_visited(&self, v: Visited) {
        let mut pool = lock_mutex(&self.visited);
        if pool.len() < 64 {
            pool.push(v);
        }
    }

    /// Rejects a vector of the wrong length, with NaN/infinite values, or zero under cosine.
    fn check_vector(&self, v: &[f32], what: &str) -> Result<()> {
        if v.len() != self.opts.dim {
            return Err(Error::DimensionMismatch { expected: self.opts.dim, got: v.len() });
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(format!("{what} has a non-finite value {} at index {i}", v[i])));
        }
        if self.opts.metric == DistanceMetric::Cosine && v.iter().all(|&x| x == 0.0) {
            return Err(Error::invalid(format!("{what} is a zero vector, which has no cosine distance")));
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        if self.poisoned.load(Relaxed) {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    fn level_for(&self, ext_id: u64) -> usize {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.opts.random_seed.to_le_bytes());
        b[8..].copy_from_slice(&ext_id.to_le_bytes());
        hnsw::draw_level(xxhash_rust::xxh3::xxh3_64(&b), self.opts.m)
    }

    /// A free internal id (FIFO, so ids are reused as late as possible), else a new one.
    fn new_internal_id(w: &mut WriterState, state: &IndexState) -> u32 {
        match w.free_ids.pop_front() {
            Some(id) => {
                w.undo_ids.push(id);
                id
            }
            None => state.nodes.len() as u32,
        }
    }

    /// Plans the insertion of (`ext_id`, `v`) as internal `id` into `txn`, chooses its slot and
    /// writes the vector bytes (before the batch commits).
    fn plan_insert(&self, txn: &mut Txn<'_>, w: &mut WriterState, id: u32, ext_id: u64, v: &[f32], visited: &mut Visited) -> Result<()> {
        let level = self.level_for(ext_id);
        txn.add_node(id, ext_id, level, v);
        let near = hnsw::insert(txn, &self.params, id, v, level, visited)?;
        let hints: Vec<u32> = near.iter().filter_map(|&n| txn.node(n)).map(|n| n.slot).filter(|&s| s != u32::MAX).collect();
        let slot = w.alloc.allocate(&hints);
        w.undo_slots.push(slot);
        self.vectors.write(slot, v)?;
        txn.set_slot(id, slot);
        Ok(())
    }

    /// Plans the removal of internal `id`: repairs its neighbourhood and moves the entry point.
    fn plan_remove(&self, txn: &mut Txn<'_>, id: u32, unmap_ext: bool, visited: &mut Visited) -> Result<()> {
        let node = txn.node(id).ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("internal id {id} vanished")))?;
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
    fn maybe_check_connectivity(&self, w: &mut WriterState) -> Result<()> {
        w.since_check = w.since_check.saturating_add(1);
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
            let mut txn = Txn::new(self.view(&state));
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

    /// Commits `changes` and applies them in memory. A failed commit poisons the handle: the
    /// in-memory state may no longer match the disk, so only a reopen can be trusted.
    fn commit(&self, w: &mut WriterState, changes: Changes) -> Result<()> {
        let Changes { writes, adj0, upper, nodes, ids, entry, indeg, ghosts, freed_slots, written_slots, counters } = changes;
        let sync = self.opts.sync_writes;
        let res = (|| {
            if sync && !written_slots.is_empty() {
                self.vectors.sync()?;
            }
            self.store.commit(writes, sync)
        })();
        if let Err(e) = res {
            self.poisoned.store(true, Relaxed);
            self.log(&format!("write failed, handle poisoned: {e}"));
            return Err(e);
        }
        let mut st = self.write_state();
        for (id, n) in nodes {
            let now = n.is_some();
            match (st.set_node(id, n), now) {
                (false, true) => st.live += 1,
                (true, false) => {
                    st.live -= 1;
                    if !ghosts.contains(&(id, true)) {
                        w.free_ids.push_back(id);
                    }
                }
                _ => {}
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
            match list {
                Some(l) => self.edges.put(id, l),
                None => self.edges.remove(id),
            }
        }
        for (s, v) in &written_slots {
            self.vectors.refresh_slot(*s, v);
        }
        drop(st);
        for s in freed_slots {
            w.alloc.release(s);
        }
        self.counters.publish(&counters);
        self.vectors.publish(&counters.io);
        Ok(())
    }

    /// Runs one mutation: plans it under the read lock through a `Txn` (`plan` gets the
    /// writer state for allocations), gives orphans an in-link, commits one batch and applies
    /// it. If planning fails, the ids and slots it allocated are returned and nothing is written.
    fn mutate(
        &self,
        op: Op,
        plan: impl FnOnce(&mut Txn<'_>, &mut WriterState, &mut Visited) -> Result<()>,
    ) -> Result<()> {
        self.check_writable()?;
        let t0 = Instant::now();
        let mut w = lock_mutex(&self.writer);
        self.check_writable()?;
        let mut visited = self.take_visited();
        let planned = {
            let state = self.read_state();
            let mut txn = Txn::new(self.view(&state));
            plan(&mut txn, &mut w, &mut visited)
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
        self.commit(&mut w, changes)?;
        self.maybe_check_connectivity(&mut w)?;
        let (count, latency) = match op {
            Op::Insert => (&self.counters.inserts, &self.counters.insert_latency),
            Op::Update => (&self.counters.updates, &self.counters.update_latency),
            Op::Delete => (&self.counters.deletes, &self.counters.delete_latency),
        };
        count.fetch_add(1, Relaxed);
        if self.opts.enable_stats {
            latency.record(t0.elapsed());
        }
        Ok(())
    }

    pub fn insert(&self, ext_id: u64, v: &[f32]) -> Result<()> {
        self.check_vector(v, "vector")?;
        self.mutate(Op::Insert, |txn, w, visited| {
            if txn.base.state.ids.contains_key(&ext_id) {
                return Err(Error::AlreadyExists(ext_id));
            }
            let id = Self::new_internal_id(w, txn.base.state);
            self.plan_insert(txn, w, id, ext_id, v, visited)
        })
    }

    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
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
        for (i, &id) in ids.iter().enumerate() {
            self.insert(id, &vectors[i * dim..(i + 1) * dim])?;
        }
        Ok(())
    }

    pub fn update(&self, ext_id: u64, v: &[f32]) -> Result<()> {
        self.check_vector(v, "vector")?;
        self.mutate(Op::Update, |txn, w, visited| {
            let Some(&old) = txn.base.state.ids.get(&ext_id) else { return Err(Error::NotFound(ext_id)) };
            self.plan_remove(txn, old, false, visited)?;
            let id = Self::new_internal_id(w, txn.base.state);
            self.plan_insert(txn, w, id, ext_id, v, visited)
        })
    }

    pub fn delete(&self, ext_id: u64) -> Result<()> {
        self.mutate(Op::Delete, |txn, _w, visited| {
            let Some(&id) = txn.base.state.ids.get(&ext_id) else { return Err(Error::NotFound(ext_id)) };
            self.plan_remove(txn, id, true, visited)
        })
    }

    pub fn get(&self, ext_id: u64) -> Result<Vec<f32>> {
        let state = self.read_state();
        let id = *state.ids.get(&ext_id).ok_or(Error::NotFound(ext_id))?;
        let mut view = self.view(&state);
        let mut out = Vec::with_capacity(self.opts.dim);
        hnsw::Graph::vector(&mut view, id, &mut out)?;
        self.vectors.publish(&view.c.io);
        Ok(out)
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
            let found = hnsw::knn(&mut view, &pq, so.ef_search.max(so.k), &mut visited);
            self.counters.publish(&view.c);
            self.vectors.publish(&view.c.io);
            found.and_then(|found| {
                found
                    .into_iter()
                    .take(so.k)
                    .map(|(s, id)| {
                        let n = state.node(id).ok_or_else(|| {
                            Error::corruption(self.vectors.path(), None, format!("search reached free id {id}"))
                        })?;
                        Ok(SearchResult { id: n.ext_id, distance: self.metric.report(s) })
                    })
                    .collect::<Result<Vec<_>>>()
            })
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
        let threads = if threads == 0 {
            std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
        } else {
            threads
        }
        .clamp(1, n.max(1));
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
                    Err(_) => out.push(Err(Error::invalid("a search thread panicked"))),
                }
            }
        });
        out.into_iter().collect()
    }

    pub fn flush(&self) -> Result<()> {
        self.vectors.sync()?;
        self.store.persist()
    }

    pub fn close(&self) -> Result<()> {
        // Serialise with any in-flight write, then make everything durable.
        let _w = lock_mutex(&self.writer);
        let r = self.flush();
        self.log(&format!("close ({} vectors){}", self.len(), if r.is_err() { " with errors" } else { "" }));
        r
    }

    pub fn stats(&self) -> Result<Stats> {
        let state = self.read_state();
        let c = &self.counters;
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
