//! The write path of single mutations: validation, planning under the writer lock, removal and
//! its graph repair, and the connectivity check. Batches and the write group are in
//! `insert.rs`; the commit itself in `engine.rs`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::engine::{resolve_threads, Engine, Op, WriterState, EARLY_RELEASE};
use super::fault::Fault;
use super::txn::Txn;
use crate::error::{Error, Result};
use crate::graph::IdHashBuilder;
use crate::hnsw::{self, Visited};
use crate::options::DistanceMetric;

impl Engine {
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
        let node = txn
            .node(id)
            .ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("internal id {id} vanished")))?;
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
            Some(
                l0.iter()
                    .copied()
                    .filter(|&x| x != id && (hnsw::Graph::is_live(txn, x) || hnsw::Graph::is_ghost(txn, x)))
                    .collect(),
            )
        } else {
            None
        };
        txn.remove_node(id, unmap_ext, route)?;
        if hnsw::Graph::entry(txn).map(|e| e.0) == Some(id) {
            let state = txn.base.state;
            let upper = state.upper.iter().map(|(&u, lists)| (u, lists.len()));
            let best = hnsw::replacement_entry(txn, id, upper, &l0, state.nodes.len());
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
    ///
    /// With `sweep` (the write path; not the check at open, so that a reopen leaves the graph
    /// as it was), ghosts are garbage-collected first (`sweep_ghosts`).
    pub(super) fn maybe_check_connectivity(&self, w: &mut WriterState, mutations: usize, sweep: bool) -> Result<()> {
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
        if sweep {
            self.sweep_ghosts(w)?;
        }
        let unreachable = {
            let state = self.read_state();
            let mut view = self.view(&state);
            let found = hnsw::unreachable(&mut view, state.slots.len())?;
            self.counters.publish(&view.c);
            found
        };
        if unreachable.is_empty() {
            return Ok(());
        }
        self.log(&format!("connectivity check: linking {} unreachable nodes", unreachable.len()));
        let mut visited = self.take_visited();
        let changes = {
            let state = self.read_state();
            let mut txn = Txn::new(self.write_view(&state));
            hnsw::reconnect(&mut txn, &self.params, &unreachable, &mut visited)?;
            txn.purge_ghosts()?;
            txn.into_changes()
        };
        self.return_visited(visited);
        self.commit(w, changes)
    }

    /// Garbage-collects ghosts (part of the connectivity check). Ghosts that no route from a
    /// live node reaches (kept alive only by each other's lists) are purged: no search can use
    /// them. When the routed ones still exceed a quarter of the live nodes, every live list that
    /// links to a ghost is rewritten with the ghost's live neighbours instead
    /// (`hnsw::drop_ghost_links`) and all ghosts are purged; orphans are adopted. Without it,
    /// ghosts that a delete's repair missed stay linked from old nodes and keep each other
    /// alive: under constant churn their number grew with every delete (found by the soak,
    /// `tests/soak.rs`). The quarter keeps the routes ghosts provide while they are few: the
    /// full sweep costs some recall (0.984 -> 0.978 in `delete_keeps_recall`'s churn when run
    /// at every check).
    fn sweep_ghosts(&self, w: &mut WriterState) -> Result<()> {
        let changes = {
            let state = self.read_state();
            let ghosts = state.slots.iter().filter(|&&s| s == super::state::GHOST).count();
            if ghosts == 0 {
                return Ok(());
            }
            let mut txn = Txn::new(self.write_view(&state));
            let (keep, linkers) = hnsw::routed_ghosts(&mut txn, state.slots.len())?;
            let routed = keep.iter().filter(|&&k| k).count();
            let full = routed > (state.live / 4).max(64);
            if !full && routed == ghosts {
                return Ok(());
            }
            if full {
                for &n in &linkers {
                    hnsw::drop_ghost_links(&mut txn, &self.params, n)?;
                }
                txn.purge_ghosts_except(&[])?;
                self.log(&format!("ghost sweep: all {ghosts} ghosts purged, {} lists rewritten", linkers.len()));
            } else {
                txn.purge_ghosts_except(&keep)?;
                self.log(&format!(
                    "ghost sweep: {} of {ghosts} ghosts purged (no route reaches them)",
                    ghosts - routed
                ));
            }
            self.adopt_orphans(&mut txn)?;
            txn.into_changes()
        };
        self.commit(w, changes)
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
            plan(&mut txn, w, &mut visited).and_then(|()| self.adopt_orphans(&mut txn)).map(|()| txn.into_changes())
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
        if let Err(e) = self.maybe_check_connectivity(w, count, true) {
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
            let items: Vec<(u64, &[f32])> = group
                .iter()
                .enumerate()
                .map(|(k, &id)| (id, &vectors[(done + k) * dim..(done + k + 1) * dim]))
                .collect();
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
            let n = txn
                .node(id)
                .ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("id {ext_id} has no node")))?;
            if n.head.is_some() || !txn.twins_of(id).is_empty() {
                return self.plan_remove(txn, id, true, visited);
            }
            txn.doom(id, n);
            Ok(())
        })?;
        self.after_delete();
        Ok(())
    }
}
