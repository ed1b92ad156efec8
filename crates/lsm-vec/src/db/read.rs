//! The read path: `get`, `contains`, `len` and k-NN search (one query, or a batch on several
//! threads). A search holds `state.read()` throughout, so it sees one committed version of the
//! index; with codes it navigates on them and re-ranks the best candidates exactly (every
//! returned distance comes from a checksum-verified vector record).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::engine::{resolve_threads, Engine};
use crate::error::{Error, Result};
use crate::hnsw;
use crate::options::{Quantization, SearchOptions, SearchResult};

impl Engine {
    /// The stored vector of `ext_id`, checked against its checksum.
    pub fn get(&self, ext_id: u64) -> Result<Vec<f32>> {
        let state = self.read_state();
        let id = *state.ids.get(&ext_id).ok_or(Error::NotFound(ext_id))?;
        let n = *state
            .node(id)
            .ok_or_else(|| Error::corruption(self.vectors.path(), None, format!("id {ext_id} has no node")))?;
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
                    s.spawn(move || {
                        (lo..hi).map(|i| self.search(&queries[i * dim..(i + 1) * dim], so)).collect::<Vec<_>>()
                    })
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
}
