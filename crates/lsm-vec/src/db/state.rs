//! The committed in-memory part of the index (`IndexState`): the node table, the slot of
//! every internal id (with the sentinels for free ids, ghosts and twins), the upper layers, the
//! dense layer-0 table, the codes, the deferred-delete marks and the entry point. Guarded by
//! the engine's `RwLock`; changed only by applying a committed `txn::Changes`.

use std::collections::HashMap;

use crate::graph::codec::NodeRecord;
use crate::graph::{AdjTable, IdHashBuilder};
use crate::quant::Codes;

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
    /// A bit per internal id: whether it is a live graph node (`slots[id] < TWIN`). The
    /// search's liveness test reads this (1 bit per id, small enough to stay in the CPU
    /// cache) instead of `slots` (4 bytes per id, a cache miss per neighbour at 1M).
    live_bits: Vec<u64>,
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
            live_bits: Vec::new(),
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
            self.live_bits.resize(n.div_ceil(64), 0);
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
        self.set_live_bit(id, self.slots[i] < TWIN);
        self.set_doomed_bit(id, n.is_some_and(|n| n.deleted));
        self.nodes[i] = n;
        was
    }

    /// Whether `id` is a live graph node (`live_slot(id).is_some()`, from the bit table).
    #[inline]
    pub fn is_live(&self, id: u32) -> bool {
        self.live_bits.get(id as usize / 64).is_some_and(|w| w >> (id % 64) & 1 == 1)
    }

    fn set_live_bit(&mut self, id: u32, on: bool) {
        let (w, b) = (id as usize / 64, id % 64);
        if on {
            self.live_bits[w] |= 1 << b;
        } else {
            self.live_bits[w] &= !(1 << b);
        }
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
        self.set_live_bit(id, false);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_bits_follow_the_slots() {
        let mut st = IndexState::new(4, 0, 0);
        let mut r = crate::rng::SplitMix64::new(7);
        for step in 0..5000u32 {
            let x = r.next_u64();
            let id = ((x >> 33) % 300) as u32;
            let rec = |head| NodeRecord { ext_id: 1, slot: step, level: 0, checksum: 0, head, deleted: step % 7 == 0 };
            match (x >> 20) % 4 {
                0 => drop(st.set_node(id, None)),
                1 => st.set_ghost(id),
                2 => drop(st.set_node(id, Some(rec(Some(0))))),
                _ => drop(st.set_node(id, Some(rec(None)))),
            }
            for i in 0..=301u32 {
                assert_eq!(st.is_live(i), st.live_slot(i).is_some(), "id {i} after step {step}");
            }
        }
    }
}
