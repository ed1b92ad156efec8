//! The index as the HNSW algorithm sees it.
//!
//! [`View`] reads the committed index: the in-memory state (node table, upper layers, entry
//! point), layer-0 lists through the edge cache or the LSM, vectors through the page cache.
//! [`Txn`] overlays one mutation's pending changes on a view (read-your-writes) and turns them
//! into one atomic LSM batch plus the in-memory changes applied after it commits.

use std::collections::HashMap;

use crate::distance::{Metric, Query};
use crate::error::{Error, Result};
use crate::graph::codec::NodeRecord;
use crate::graph::{AdjTable, EdgeCache, IdHashBuilder, LsmStore, StoreWrite};
use crate::hnsw::{self, Graph, GraphMut};
use crate::quant::{CodeQuery, Codes, RouteQuery};
use crate::stats::OpCounters;
use crate::vectors::VectorFile;

use super::meta;

/// `IndexState::slots` value of a free internal id.
pub(crate) const FREE: u32 = u32::MAX;
/// `IndexState::slots` value of a ghost (deleted, layer-0 list kept for routing).
pub(crate) const GHOST: u32 = u32::MAX - 1;
/// `IndexState::slots` value of a twin (an exact duplicate of a graph node, not in the graph).
pub(crate) const TWIN: u32 = u32::MAX - 2;

/// The committed in-memory part of the index, guarded by the engine's `RwLock`.
pub(crate) struct IndexState {
    /// Node table by internal id; `None` = free id.
    pub nodes: Vec<Option<NodeRecord>>,
    /// The slot of each live graph node (`FREE` = free id, `GHOST` = ghost, `TWIN` = twin): a
    /// dense copy of `nodes[i].slot`, so the search's liveness and slot look-ups touch 4 bytes
    /// per node.
    pub slots: Vec<u32>,
    /// The twins of each graph node that has exact duplicates (usually none).
    pub twins: HashMap<u32, Vec<u32>, IdHashBuilder>,
    /// Caller id -> internal id, for live nodes.
    pub ids: HashMap<u64, u32, IdHashBuilder>,
    /// Layer-0 in-degree of every internal id (entries of all lists naming it).
    pub indeg: Vec<u32>,
    /// Upper-layer lists (levels 1..=L) of nodes whose level L >= 1.
    pub upper: HashMap<u32, Vec<Vec<u32>>, IdHashBuilder>,
    pub entry: Option<(u32, usize)>,
    pub live: usize,
    /// Codes of every graph node, once the quantizer is trained (`quant`).
    pub codes: Option<Codes>,
    /// Layer-0 lists of the ids the memory budget lets it cover.
    pub adj: AdjTable,
    /// Deleted graph nodes whose repair is pending (see `db::repair`), oldest first, and a bit
    /// per internal id saying which ids they are (the search's result filter).
    pub doomed: std::collections::VecDeque<u32>,
    doomed_bits: Vec<u64>,
}

impl IndexState {
    /// An empty index whose layer-0 table covers ids below `adj_capacity`.
    pub fn new(max_degree0: usize, adj_capacity: usize, cap: usize) -> IndexState {
        IndexState {
            nodes: Vec::with_capacity(cap),
            slots: Vec::with_capacity(cap),
            twins: HashMap::with_hasher(IdHashBuilder),
            ids: HashMap::with_capacity_and_hasher(cap, IdHashBuilder),
            indeg: Vec::new(),
            upper: HashMap::with_hasher(IdHashBuilder),
            entry: None,
            live: 0,
            codes: None,
            adj: AdjTable::new(max_degree0, adj_capacity),
            doomed: std::collections::VecDeque::new(),
            doomed_bits: Vec::new(),
        }
    }

    /// Whether `id` is a deleted graph node whose repair is pending.
    #[inline]
    pub fn is_doomed(&self, id: u32) -> bool {
        self.doomed_bits.get(id as usize / 64).is_some_and(|w| w >> (id % 64) & 1 == 1)
    }

    fn set_doomed_bit(&mut self, id: u32, on: bool) {
        let w = id as usize / 64;
        if on && self.doomed_bits.len() <= w {
            self.doomed_bits.resize(w + 1, 0);
        }
        if let Some(x) = self.doomed_bits.get_mut(w) {
            if on {
                *x |= 1 << (id % 64);
            } else {
                *x &= !(1 << (id % 64));
            }
        }
    }

    pub fn node(&self, id: u32) -> Option<&NodeRecord> {
        self.nodes.get(id as usize).and_then(|n| n.as_ref())
    }

    /// Makes the per-id tables (`nodes`, `slots`, `indeg`) cover internal id `id`.
    pub fn cover(&mut self, id: u32) {
        let n = id as usize + 1;
        if self.nodes.len() < n {
            self.nodes.resize(n, None);
            self.slots.resize(n, FREE);
        }
        if self.indeg.len() < n {
            self.indeg.resize(n, 0);
        }
    }

    /// Sets (or frees, with `None`) internal id `id`; returns whether it was live before.
    pub fn set_node(&mut self, id: u32, n: Option<NodeRecord>) -> bool {
        self.cover(id);
        let i = id as usize;
        let was = self.nodes[i].is_some();
        self.slots[i] = match n {
            Some(NodeRecord { head: Some(_), .. }) => TWIN,
            Some(n) => n.slot,
            None => FREE,
        };
        self.set_doomed_bit(id, n.is_some_and(|n| n.deleted));
        self.nodes[i] = n;
        was
    }

    #[inline]
    pub fn live_slot(&self, id: u32) -> Option<u32> {
        match self.slots.get(id as usize) {
            Some(&s) if s < TWIN => Some(s),
            _ => None,
        }
    }

    pub fn is_ghost(&self, id: u32) -> bool {
        self.slots.get(id as usize) == Some(&GHOST)
    }

    /// Marks `id` a ghost (it has no node record).
    pub fn set_ghost(&mut self, id: u32) {
        self.cover(id);
        self.slots[id as usize] = GHOST;
        self.set_doomed_bit(id, false);
    }

    /// The twins of graph node `id`.
    pub fn twins_of(&self, id: u32) -> &[u32] {
        self.twins.get(&id).map(|t| t.as_slice()).unwrap_or(&[])
    }

    /// Records (`add`) or forgets twin `twin` of `head`.
    pub fn set_twin(&mut self, head: u32, twin: u32, add: bool) {
        if add {
            self.twins.entry(head).or_default().push(twin);
        } else if let Some(t) = self.twins.get_mut(&head) {
            t.retain(|&x| x != twin);
            if t.is_empty() {
                self.twins.remove(&head);
            }
        }
    }
}

/// Read access to the committed index for one operation.
pub(crate) struct View<'a> {
    pub state: &'a IndexState,
    pub store: &'a LsmStore,
    pub edges: &'a EdgeCache,
    pub vectors: &'a VectorFile,
    pub metric: Metric,
    pub batch_read: bool,
    pub c: OpCounters,
    /// Set by a search: score with the in-memory codes instead of the vectors.
    pub code_query: Option<CodeQuery>,
    /// The search's query for the probabilistic routing test, when that is on.
    pub route_query: Option<RouteQuery>,
    /// Set by the write path: score every query against the codes (when trained) and read
    /// vectors as their decoded codes, so that building and repairing the graph read no vector
    /// page. Exact duplicates are still compared with the stored bytes.
    pub build_codes: bool,
    /// The code form of the last query a write-path score was asked for, by its tag.
    build_cq: Option<(u64, CodeQuery)>,
    code_buf: Vec<u8>,
    slots: Vec<u32>,
    misses: Vec<u32>,
    scratch: Vec<f32>,
}

impl<'a> View<'a> {
    pub fn new(
        state: &'a IndexState,
        store: &'a LsmStore,
        edges: &'a EdgeCache,
        vectors: &'a VectorFile,
        metric: Metric,
        batch_read: bool,
    ) -> View<'a> {
        View {
            state,
            store,
            edges,
            vectors,
            metric,
            batch_read,
            c: OpCounters::default(),
            code_query: None,
            route_query: None,
            build_codes: false,
            build_cq: None,
            code_buf: Vec::new(),
            slots: Vec::new(),
            misses: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Reads the record of node `n` (internal id `id`: a graph node or a twin), checks it
    /// against the node's checksum and, with `out`, copies it there. A mismatch is
    /// `Corruption` naming the file, the offset and the id.
    pub fn verified(&mut self, id: u32, n: &NodeRecord, out: Option<&mut Vec<f32>>) -> Result<()> {
        let View { vectors, scratch, c, .. } = self;
        let ok = vectors.with_record(n.slot, scratch, &mut c.io, |r| {
            let ok = crate::vectors::checksum(r) == n.checksum;
            if let (true, Some(o)) = (ok, out) {
                o.clear();
                o.extend_from_slice(r);
            }
            ok
        })?;
        if ok {
            Ok(())
        } else {
            Err(vectors.bad_record(n.slot, id))
        }
    }

    /// Exact scores of graph nodes `ids` against `q`, reading their records grouped by page
    /// and checking each against its checksum (the re-rank of a search).
    pub fn exact_verified(&mut self, q: &Query<'_>, ids: &[u32], out: &mut Vec<f32>) -> Result<()> {
        self.slots.clear();
        self.slots.extend(ids.iter().map(|&id| self.state.node(id).map(|n| n.slot).unwrap_or(u32::MAX)));
        if let Some(i) = self.slots.iter().position(|&s| s == u32::MAX) {
            return Err(Error::corruption(self.vectors.path(), None, format!("internal id {} has no node record", ids[i])));
        }
        out.clear();
        out.resize(ids.len(), 0.0);
        let mut bad = None;
        let metric = self.metric;
        let state = self.state;
        let View { vectors, batch_read, slots, misses, scratch, c, .. } = self;
        vectors.for_each_record(slots, *batch_read, misses, scratch, &mut c.io, |i, r| {
            let ok = state.node(ids[i]).is_some_and(|n| crate::vectors::checksum(r) == n.checksum);
            if !ok && bad.is_none() {
                bad = Some(i);
            }
            out[i] = hnsw::sane(metric.score(q, r));
        })?;
        c.distance_computations += ids.len() as u64;
        match bad {
            Some(i) => Err(vectors.bad_record(slots[i], ids[i])),
            None => Ok(()),
        }
    }

    /// The codes and the code form of `q` to score with: the search's query, or (write path)
    /// `q` itself, prepared once per distinct query.
    fn code_scoring(&mut self, q: &Query<'_>) -> Option<(&'a Codes, &CodeQuery)> {
        let codes = self.state.codes.as_ref()?;
        if self.code_query.is_some() {
            return self.code_query.as_ref().map(|cq| (codes, cq));
        }
        if !self.build_codes {
            return None;
        }
        if !matches!(&self.build_cq, Some((tag, _)) if *tag == q.tag) {
            self.build_cq = Some((q.tag, codes.prepare(self.metric, q.v)));
        }
        self.build_cq.as_ref().map(|(_, cq)| (codes, cq))
    }

    fn slot(&self, id: u32) -> Result<u32> {
        self.state.live_slot(id).ok_or_else(|| {
            Error::corruption(self.vectors.path(), None, format!("internal id {id} has no node record"))
        })
    }
}

impl Graph for View<'_> {
    fn metric(&self) -> Metric {
        self.metric
    }

    fn is_live(&self, id: u32) -> bool {
        self.state.live_slot(id).is_some()
    }

    fn is_ghost(&self, id: u32) -> bool {
        self.state.is_ghost(id)
    }

    fn is_result(&self, id: u32) -> bool {
        !self.state.is_doomed(id)
    }

    fn neighbors(&mut self, id: u32, level: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        if level > 0 {
            if let Some(l) = self.state.upper.get(&id).and_then(|ls| ls.get(level - 1)) {
                out.extend_from_slice(l);
            }
            return Ok(());
        }
        if self.state.adj.covers(id) {
            self.c.edge_hits += 1;
            if let Some(l) = self.state.adj.get(id) {
                out.extend_from_slice(l);
            }
            return Ok(());
        }
        if let Some(hit) = self.edges.get(id) {
            if let Some(e) = hit.as_ref() {
                self.c.edge_hits += 1;
                out.extend_from_slice(&e.value);
                return Ok(());
            }
        }
        self.c.lsm_gets += 1;
        if let Some(l) = self.store.adj0(id)? {
            out.extend_from_slice(&l);
            if self.is_live(id) || self.is_ghost(id) {
                self.edges.put(id, l.into_boxed_slice());
            }
        }
        Ok(())
    }

    fn prefetch_neighbors(&self, id: u32, level: usize) {
        if level == 0 && self.state.adj.covers(id) {
            self.state.adj.prefetch(id);
        } else if level == 0 {
            if let Some(e) = self.edges.get(id).as_ref().and_then(|h| h.as_ref().map(|e| e.value.as_ptr())) {
                crate::vectors::prefetch_ptr(e.cast(), 2);
            }
        }
    }

    fn prefetch_nodes(&self, ids: &[u32]) {
        let slots = &self.state.slots;
        for &id in ids {
            if let Some(s) = slots.get(id as usize) {
                crate::vectors::prefetch_ptr((s as *const u32).cast(), 1);
            }
        }
        if let (Some(_), Some(codes)) = (&self.code_query, &self.state.codes) {
            for &id in ids {
                codes.prefetch(id);
            }
        }
    }

    fn route(&mut self, ids: &mut Vec<u32>, worst: f32) {
        let (Some(rq), Some(r)) = (&self.route_query, self.state.codes.as_ref().and_then(|c| c.router.as_ref())) else {
            return;
        };
        let before = ids.len();
        ids.retain(|&id| !r.skip(rq, id, worst));
        self.c.routing_skips += (before - ids.len()) as u64;
    }

    fn scores(&mut self, q: &Query<'_>, ids: &[u32], out: &mut Vec<f32>) -> Result<()> {
        let state = self.state;
        if let Some((codes, cq)) = self.code_scoring(q) {
            out.clear();
            for &id in ids {
                if state.live_slot(id).is_none() {
                    return Err(Error::corruption(self.vectors.path(), None, format!("internal id {id} has no node record")));
                }
                out.push(hnsw::sane(codes.score(cq, id)));
            }
            return Ok(());
        }
        self.slots.clear();
        for &id in ids {
            let s = self.slot(id)?;
            self.slots.push(s);
        }
        out.clear();
        out.resize(ids.len(), 0.0);
        let metric = self.metric;
        let View { vectors, batch_read, slots, misses, scratch, c, .. } = self;
        vectors.for_each_record(slots, *batch_read, misses, scratch, &mut c.io, |i, r| {
            out[i] = hnsw::sane(metric.score(q, r));
        })
    }

    fn vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()> {
        if let (true, Some(codes)) = (self.build_codes, &self.state.codes) {
            self.slot(id)?;
            codes.decode(id, out);
            return Ok(());
        }
        self.exact_vector(id, out)
    }

    fn exact_vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()> {
        let slot = self.slot(id)?;
        out.clear();
        let View { vectors, scratch, c, .. } = self;
        vectors.with_record(slot, scratch, &mut c.io, |r| out.extend_from_slice(r))
    }

    fn self_score(&mut self, q: &Query<'_>) -> f32 {
        let mut buf = std::mem::take(&mut self.code_buf);
        let s = match self.code_scoring(q) {
            Some((codes, cq)) => hnsw::sane(codes.self_score(cq, q.v, &mut buf)),
            None => hnsw::sane(self.metric.score(q, q.v)),
        };
        self.code_buf = buf;
        s
    }

    fn entry(&self) -> Option<(u32, usize)> {
        self.state.entry
    }

    fn id_bound(&self) -> usize {
        self.state.nodes.len()
    }

    fn counters(&mut self) -> &mut OpCounters {
        &mut self.c
    }
}

/// What one committed mutation changes in memory.
#[derive(Default)]
pub(crate) struct Changes {
    pub writes: Vec<StoreWrite>,
    pub adj0: Vec<(u32, Option<Box<[u32]>>)>,
    pub upper: Vec<(u32, Option<Vec<Vec<u32>>>)>,
    pub nodes: Vec<(u32, Option<NodeRecord>)>,
    pub ids: Vec<(u64, Option<u32>)>,
    pub entry: Option<Option<(u32, usize)>>,
    pub indeg: Vec<(u32, i64)>,
    /// Ids that became ghosts (`true`) or ghosts that were purged (`false`).
    pub ghosts: Vec<(u32, bool)>,
    pub freed_slots: Vec<u32>,
    /// Slots written by this change, with their vectors (to refresh cached pages).
    pub written_slots: Vec<(u32, Vec<f32>)>,
    /// Twins added (`true`) or removed: (head, twin).
    pub twins: Vec<(u32, u32, bool)>,
    /// New graph nodes and their vectors (to encode).
    pub encode: Vec<(u32, Vec<f32>)>,
    pub counters: OpCounters,
}

fn adj_key(id: u32, level: usize) -> u64 {
    ((id as u64) << 8) | level as u64
}

fn adj_key_parts(k: u64) -> (u32, usize) {
    ((k >> 8) as u32, (k & 0xff) as usize)
}

/// Pending changes of one mutation over a [`View`].
pub(crate) struct Txn<'a> {
    pub base: View<'a>,
    /// Pending lists by `adj_key(id, level)`.
    adj: HashMap<u64, Vec<u32>, IdHashBuilder>,
    nodes: HashMap<u32, Option<NodeRecord>, IdHashBuilder>,
    vecs: HashMap<u32, Vec<f32>, IdHashBuilder>,
    ids: Vec<(u64, Option<u32>)>,
    entry: Option<Option<(u32, usize)>>,
    freed_slots: Vec<u32>,
    written_slots: Vec<(u32, Vec<f32>)>,
    indeg: HashMap<u32, i64, IdHashBuilder>,
    ghosts: HashMap<u32, bool, IdHashBuilder>,
    twins: Vec<(u32, u32, bool)>,
    bound: usize,
    split_ids: Vec<u32>,
    split_pos: Vec<usize>,
    split_out: Vec<f32>,
}

impl<'a> Txn<'a> {
    pub fn new(base: View<'a>) -> Txn<'a> {
        let bound = base.state.nodes.len();
        Txn {
            base,
            adj: HashMap::with_hasher(IdHashBuilder),
            nodes: HashMap::with_hasher(IdHashBuilder),
            vecs: HashMap::with_hasher(IdHashBuilder),
            ids: Vec::new(),
            entry: None,
            freed_slots: Vec::new(),
            written_slots: Vec::new(),
            indeg: HashMap::with_hasher(IdHashBuilder),
            ghosts: HashMap::with_hasher(IdHashBuilder),
            twins: Vec::new(),
            bound,
            split_ids: Vec::new(),
            split_pos: Vec::new(),
            split_out: Vec::new(),
        }
    }

    pub fn node(&self, id: u32) -> Option<NodeRecord> {
        match self.nodes.get(&id) {
            Some(n) => *n,
            None => self.base.state.node(id).copied(),
        }
    }

    /// Adds a graph node whose vector is held in memory until its slot is chosen.
    pub fn add_node(&mut self, id: u32, ext_id: u64, level: usize, v: &[f32], checksum: u32) {
        self.nodes.insert(id, Some(NodeRecord { ext_id, slot: u32::MAX, level: level as u8, checksum, head: None, deleted: false }));
        self.vecs.insert(id, v.to_vec());
        self.ids.push((ext_id, Some(id)));
        self.bound = self.bound.max(id as usize + 1);
    }

    /// The twins of graph node `head`, including this change.
    pub fn twins_of(&self, head: u32) -> Vec<u32> {
        let mut t = self.base.state.twins_of(head).to_vec();
        for &(h, x, add) in &self.twins {
            if h == head {
                if add {
                    t.push(x);
                } else {
                    t.retain(|&y| y != x);
                }
            }
        }
        t
    }

    /// Adds `id` as a twin of graph node `head`: an exact duplicate with its own slot (already
    /// written with `v`) and no lists.
    pub fn add_twin(&mut self, id: u32, ext_id: u64, head: u32, slot: u32, v: &[f32], checksum: u32) {
        self.nodes.insert(id, Some(NodeRecord { ext_id, slot, level: 0, checksum, head: Some(head), deleted: false }));
        self.ids.push((ext_id, Some(id)));
        self.written_slots.push((slot, v.to_vec()));
        self.twins.push((head, id, true));
        self.bound = self.bound.max(id as usize + 1);
    }

    /// Deletes graph node `id` cheaply: its record is marked deleted and its caller id unmapped;
    /// it keeps routing until its repair (`db::repair`) removes it.
    pub fn doom(&mut self, id: u32, n: NodeRecord) {
        self.ids.push((n.ext_id, None));
        self.nodes.insert(id, Some(NodeRecord { deleted: true, ..n }));
    }

    /// Removes twin `id` (its slot is freed after commit).
    pub fn remove_twin(&mut self, id: u32, n: NodeRecord, unmap_ext: bool) {
        if unmap_ext {
            self.ids.push((n.ext_id, None));
        }
        self.freed_slots.push(n.slot);
        self.nodes.insert(id, None);
        if let Some(h) = n.head {
            self.twins.push((h, id, false));
        }
    }

    /// Removes graph node `head` by handing its place to its twin `twin`: the graph node keeps
    /// its lists and its slot (the bytes are identical) and takes the twin's caller id; the
    /// twin's own record and slot go.
    pub fn promote_twin(&mut self, head: u32, twin: u32, unmap_ext: bool) -> Result<()> {
        let (Some(h), Some(t)) = (self.node(head), self.node(twin)) else {
            return Err(Error::corruption(self.base.vectors.path(), None, format!("twin {twin} of {head} has no record")));
        };
        if unmap_ext {
            self.ids.push((h.ext_id, None));
        }
        self.ids.push((t.ext_id, Some(head)));
        self.nodes.insert(head, Some(NodeRecord { ext_id: t.ext_id, ..h }));
        self.freed_slots.push(t.slot);
        self.nodes.insert(twin, None);
        self.twins.push((head, twin, false));
        Ok(())
    }

    /// Records the slot the new node's vector was written to.
    pub fn set_slot(&mut self, id: u32, slot: u32) {
        if let Some(Some(n)) = self.nodes.get_mut(&id) {
            n.slot = slot;
        }
        if let Some(v) = self.vecs.get(&id) {
            self.written_slots.push((slot, v.clone()));
        }
    }

    fn count_links(&mut self, list: &[u32], delta: i64) {
        for &x in list {
            *self.indeg.entry(x).or_insert(0) += delta;
        }
    }

    /// Layer-0 in-degree of `id` including this change.
    pub fn indeg(&self, id: u32) -> i64 {
        self.base.state.indeg.get(id as usize).copied().unwrap_or(0) as i64 + self.indeg.get(&id).copied().unwrap_or(0)
    }

    /// Purges the ghosts nothing links to any more (repeatedly: a purged ghost's own links go).
    pub fn purge_ghosts(&mut self) -> Result<()> {
        loop {
            let dead: Vec<u32> = self
                .ghosts
                .iter()
                .filter(|&(_, &g)| g)
                .map(|(&id, _)| id)
                .chain(self.indeg.keys().copied().filter(|&id| self.base.state.is_ghost(id) && !self.ghosts.contains_key(&id)))
                .filter(|&id| self.indeg(id) <= 0)
                .collect();
            if dead.is_empty() {
                return Ok(());
            }
            for id in dead {
                let mut list = Vec::new();
                hnsw::Graph::neighbors(self, id, 0, &mut list)?;
                self.count_links(&list, -1);
                self.adj.remove(&adj_key(id, 0));
                self.ghosts.insert(id, false);
            }
        }
    }

    /// Live nodes that this change left without any layer-0 in-link (the entry point needs none).
    pub fn orphans(&self) -> Vec<u32> {
        let entry = hnsw::Graph::entry(self).map(|e| e.0);
        let mut out: Vec<u32> = self
            .indeg
            .iter()
            .filter(|&(_, &d)| d < 0)
            .map(|(&id, _)| id)
            .chain(self.vecs.keys().copied())
            .filter(|&id| Some(id) != entry && hnsw::Graph::is_live(self, id))
            .filter(|&id| {
                let base = self.base.state.indeg.get(id as usize).copied().unwrap_or(0) as i64;
                base + self.indeg.get(&id).copied().unwrap_or(0) <= 0
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Removes a node (its lists, its record; its slot is freed after commit). With `route`,
    /// the node stays as a ghost whose layer-0 list is `route`.
    pub fn remove_node(&mut self, id: u32, unmap_ext: bool, route: Option<Vec<u32>>) -> Result<()> {
        let mut old = Vec::new();
        hnsw::Graph::neighbors(self, id, 0, &mut old)?;
        self.count_links(&old, -1);
        if let Some(n) = self.node(id) {
            if unmap_ext {
                self.ids.push((n.ext_id, None));
            }
            if n.slot != u32::MAX {
                self.freed_slots.push(n.slot);
            }
            for l in 0..=n.level as usize {
                self.adj.remove(&adj_key(id, l));
            }
        }
        self.nodes.insert(id, None);
        self.vecs.remove(&id);
        if let Some(route) = route {
            self.count_links(&route, 1);
            self.adj.insert(adj_key(id, 0), route);
            self.ghosts.insert(id, true);
        }
        Ok(())
    }

    /// Turns the pending changes into the LSM batch and the in-memory changes.
    pub fn into_changes(self) -> Changes {
        let mut ch = Changes { counters: self.base.c, ..Default::default() };
        let mut upper_touched: Vec<u32> = Vec::new();
        for (&k, list) in &self.adj {
            let (id, l) = adj_key_parts(k);
            if matches!(self.nodes.get(&id), Some(None)) && !(l == 0 && self.ghosts.get(&id) == Some(&true)) {
                continue;
            }
            if l == 0 {
                ch.writes.push(StoreWrite::Adj0(id, Some(list.clone())));
                ch.adj0.push((id, Some(list.clone().into_boxed_slice())));
            } else if !upper_touched.contains(&id) {
                upper_touched.push(id);
            }
        }
        for id in upper_touched {
            let Some(n) = self.node(id) else { continue };
            let lists: Vec<Vec<u32>> = (1..=n.level as usize)
                .map(|l| match self.adj.get(&adj_key(id, l)) {
                    Some(x) => x.clone(),
                    None => self
                        .base
                        .state
                        .upper
                        .get(&id)
                        .and_then(|ls| ls.get(l - 1))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect();
            ch.writes.push(StoreWrite::Upper(id, Some(lists.clone())));
            ch.upper.push((id, Some(lists)));
        }
        for (&id, n) in &self.nodes {
            match n {
                Some(rec) => ch.writes.push(StoreWrite::Node(id, Some(*rec))),
                None => {
                    // Only ids that existed before need deleting on disk; a twin has no lists.
                    if let Some(old) = self.base.state.node(id) {
                        ch.writes.push(StoreWrite::Node(id, None));
                        if old.head.is_none() && self.ghosts.get(&id) != Some(&true) {
                            ch.writes.push(StoreWrite::Adj0(id, None));
                            ch.adj0.push((id, None));
                        }
                        if old.level > 0 {
                            ch.writes.push(StoreWrite::Upper(id, None));
                            ch.upper.push((id, None));
                        }
                    }
                }
            }
            ch.nodes.push((id, *n));
        }
        if let Some(e) = self.entry {
            if e != self.base.state.entry {
                ch.writes.push(StoreWrite::Meta(meta::KEY_ENTRY, meta::encode_entry(e)));
                ch.entry = Some(e);
            }
        }
        for (&id, &g) in &self.ghosts {
            // A ghost of an earlier change purged now: its list goes. (A node deleted and purged
            // in this same change lost its list with its record above.)
            if !g && self.base.state.is_ghost(id) {
                ch.writes.push(StoreWrite::Adj0(id, None));
                ch.adj0.push((id, None));
            }
            ch.ghosts.push((id, g));
        }
        ch.indeg = self.indeg.into_iter().filter(|&(_, d)| d != 0).collect();
        ch.ids = self.ids;
        ch.freed_slots = self.freed_slots;
        ch.written_slots = self.written_slots;
        ch.twins = self.twins;
        ch.encode = self.vecs.into_iter().collect();
        ch
    }
}

impl Graph for Txn<'_> {
    fn metric(&self) -> Metric {
        self.base.metric
    }

    fn is_live(&self, id: u32) -> bool {
        match self.nodes.get(&id) {
            Some(n) => n.is_some_and(|n| n.head.is_none()),
            None => self.base.is_live(id),
        }
    }

    fn is_ghost(&self, id: u32) -> bool {
        match self.ghosts.get(&id) {
            Some(&g) => g,
            None => self.base.is_ghost(id),
        }
    }

    fn is_result(&self, id: u32) -> bool {
        match self.nodes.get(&id) {
            Some(n) => n.is_some_and(|n| !n.deleted),
            None => self.base.is_result(id),
        }
    }

    fn neighbors(&mut self, id: u32, level: usize, out: &mut Vec<u32>) -> Result<()> {
        if let Some(n) = self.nodes.get(&id) {
            if n.is_none() && !(level == 0 && self.ghosts.get(&id) == Some(&true)) {
                out.clear();
                return Ok(());
            }
        }
        if self.ghosts.get(&id) == Some(&false) {
            out.clear();
            return Ok(());
        }
        if let Some(l) = self.adj.get(&adj_key(id, level)) {
            out.clear();
            out.extend_from_slice(l);
            return Ok(());
        }
        if self.vecs.contains_key(&id) {
            out.clear();
            return Ok(());
        }
        self.base.neighbors(id, level, out)
    }

    fn scores(&mut self, q: &Query<'_>, ids: &[u32], out: &mut Vec<f32>) -> Result<()> {
        if self.vecs.is_empty() || !ids.iter().any(|i| self.vecs.contains_key(i)) {
            return self.base.scores(q, ids, out);
        }
        out.clear();
        out.resize(ids.len(), 0.0);
        self.split_ids.clear();
        self.split_pos.clear();
        for (i, &id) in ids.iter().enumerate() {
            match self.vecs.get(&id) {
                Some(v) => out[i] = hnsw::sane(self.base.metric.score(q, v)),
                None => {
                    self.split_ids.push(id);
                    self.split_pos.push(i);
                }
            }
        }
        if !self.split_ids.is_empty() {
            let split_ids = std::mem::take(&mut self.split_ids);
            let mut split_out = std::mem::take(&mut self.split_out);
            self.base.scores(q, &split_ids, &mut split_out)?;
            for (k, &pos) in self.split_pos.iter().enumerate() {
                out[pos] = split_out[k];
            }
            self.split_ids = split_ids;
            self.split_out = split_out;
        }
        Ok(())
    }

    fn prefetch_neighbors(&self, id: u32, level: usize) {
        if !self.adj.contains_key(&adj_key(id, level)) {
            self.base.prefetch_neighbors(id, level);
        }
    }

    fn prefetch_nodes(&self, ids: &[u32]) {
        self.base.prefetch_nodes(ids);
    }

    fn vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()> {
        if let Some(v) = self.vecs.get(&id) {
            out.clear();
            out.extend_from_slice(v);
            return Ok(());
        }
        self.base.vector(id, out)
    }

    fn exact_vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()> {
        if let Some(v) = self.vecs.get(&id) {
            out.clear();
            out.extend_from_slice(v);
            return Ok(());
        }
        self.base.exact_vector(id, out)
    }

    fn self_score(&mut self, q: &Query<'_>) -> f32 {
        self.base.self_score(q)
    }

    fn entry(&self) -> Option<(u32, usize)> {
        self.entry.unwrap_or(self.base.state.entry)
    }

    fn id_bound(&self) -> usize {
        self.bound
    }

    fn counters(&mut self) -> &mut OpCounters {
        &mut self.base.c
    }
}

impl GraphMut for Txn<'_> {
    fn set_neighbors(&mut self, id: u32, level: usize, list: Vec<u32>) -> Result<()> {
        if level == 0 {
            let mut old = Vec::new();
            hnsw::Graph::neighbors(self, id, 0, &mut old)?;
            self.count_links(&old, -1);
            self.count_links(&list, 1);
        }
        self.adj.insert(adj_key(id, level), list);
        Ok(())
    }

    fn set_entry(&mut self, entry: Option<(u32, usize)>) {
        self.entry = Some(entry);
    }
}
