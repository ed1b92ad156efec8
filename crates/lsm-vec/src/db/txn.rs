//! [`Txn`]: one mutation's pending changes overlaid on a [`View`] (read-your-writes), turned
//! into one atomic LSM batch plus the in-memory [`Changes`] applied after it commits.

use std::collections::HashMap;

use super::meta;
use super::view::View;
use crate::distance::{Metric, Query};
use crate::error::{Error, Result};
use crate::graph::codec::{NodeRecord, UNPLACED};
use crate::graph::{IdHashBuilder, StoreWrite};
use crate::hnsw::{self, Graph, GraphMut};
use crate::stats::OpCounters;

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
        self.nodes.insert(
            id,
            Some(NodeRecord { ext_id, slot: UNPLACED, level: level as u8, checksum, head: None, deleted: false }),
        );
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
            return Err(Error::corruption(
                self.base.vectors.path(),
                None,
                format!("twin {twin} of {head} has no record"),
            ));
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

    /// Purges every ghost that `keep` does not mark (all of them for an empty `keep`), whatever
    /// links to it: for ghosts that no route from a live node reaches (`hnsw::routed_ghosts`),
    /// or after `hnsw::drop_ghost_links` removed every live link to a ghost.
    pub fn purge_ghosts_except(&mut self, keep: &[bool]) -> Result<()> {
        let ghosts: Vec<u32> = (0..self.base.state.slots.len() as u32)
            .filter(|&id| hnsw::Graph::is_ghost(self, id))
            .chain(self.ghosts.iter().filter(|&(_, &g)| g).map(|(&id, _)| id))
            .collect();
        for id in ghosts {
            if !hnsw::Graph::is_ghost(self, id) || keep.get(id as usize).copied().unwrap_or(false) {
                continue;
            }
            let mut list = Vec::new();
            hnsw::Graph::neighbors(self, id, 0, &mut list)?;
            self.count_links(&list, -1);
            self.adj.remove(&adj_key(id, 0));
            self.ghosts.insert(id, false);
        }
        Ok(())
    }

    /// Purges the ghosts nothing links to any more (repeatedly: a purged ghost's own links go).
    pub fn purge_ghosts(&mut self) -> Result<()> {
        loop {
            let dead: Vec<u32> = self
                .ghosts
                .iter()
                .filter(|&(_, &g)| g)
                .map(|(&id, _)| id)
                .chain(
                    self.indeg
                        .keys()
                        .copied()
                        .filter(|&id| self.base.state.is_ghost(id) && !self.ghosts.contains_key(&id)),
                )
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
            if n.slot != UNPLACED {
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
                    None => self.base.state.upper.get(&id).and_then(|ls| ls.get(l - 1)).cloned().unwrap_or_default(),
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
