//! [`View`]: read access to the committed index for one operation, as the HNSW algorithm
//! sees it (`hnsw::Graph`): the in-memory state, layer-0 lists from the dense table, the edge
//! cache or the LSM, scores from the codes or from the vectors through the page cache.

use super::state::IndexState;
use crate::distance::{Metric, Query};
use crate::error::{Error, Result};
use crate::graph::codec::NodeRecord;
use crate::graph::{EdgeCache, LsmStore};
use crate::hnsw::{self, Graph};
use crate::quant::{CodeQuery, Codes, RouteQuery};
use crate::stats::OpCounters;
use crate::vectors::VectorFile;

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
        for &id in ids {
            let Some(n) = self.state.node(id) else {
                return Err(Error::corruption(
                    self.vectors.path(),
                    None,
                    format!("internal id {id} has no node record"),
                ));
            };
            self.slots.push(n.slot);
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
        self.state
            .live_slot(id)
            .ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("internal id {id} has no node record")))
    }
}

impl Graph for View<'_> {
    fn metric(&self) -> Metric {
        self.metric
    }

    fn is_live(&self, id: u32) -> bool {
        self.state.is_live(id)
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
                crate::prefetch::prefetch_ptr(e.cast(), 2);
            }
        }
    }

    fn prefetch_nodes(&self, ids: &[u32]) {
        // Scoring on codes needs only the codes (liveness comes from a bit table); scoring
        // on the vectors needs each node's slot.
        let on_codes = self.code_query.is_some() || self.build_codes;
        if let (true, Some(codes)) = (on_codes, &self.state.codes) {
            for &id in ids {
                codes.prefetch(id);
            }
            return;
        }
        let slots = &self.state.slots;
        for &id in ids {
            if let Some(s) = slots.get(id as usize) {
                crate::prefetch::prefetch_ptr((s as *const u32).cast(), 1);
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
                if !state.is_live(id) {
                    return Err(Error::corruption(
                        self.vectors.path(),
                        None,
                        format!("internal id {id} has no node record"),
                    ));
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
