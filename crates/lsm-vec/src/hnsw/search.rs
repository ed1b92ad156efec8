//! Best-first search on one layer.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::{Graph, Visited};
use crate::distance::Query;
use crate::error::Result;

#[derive(Clone, Copy, PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// The `ef` nearest (score, id) pairs reachable on `level` from `entry`, ascending. Only live
/// nodes are scored and expanded; on layer 0 only those that pass [`Graph::is_result`] are
/// returned (the others are explored as candidates, as hnswlib does with deleted nodes).
/// `visited` is reset here.
pub(crate) fn search_layer<G: Graph>(
    g: &mut G,
    q: &Query<'_>,
    entry: &[(f32, u32)],
    ef: usize,
    level: usize,
    visited: &mut Visited,
) -> Result<Vec<(f32, u32)>> {
    let ef = ef.max(1);
    visited.reset(g.id_bound());
    // Capacity hints only: a huge ef_search on a small index must not allocate ef up front.
    let hint = ef.min(g.id_bound()).min(1 << 16);
    let mut cand: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(hint * 2);
    let mut res: BinaryHeap<Scored> = BinaryHeap::with_capacity(hint + 1);
    let filter = level == 0;
    for &(d, id) in entry {
        if visited.insert(id) {
            cand.push(Reverse(Scored(d, id)));
            if !filter || g.is_result(id) {
                res.push(Scored(d, id));
            }
        }
    }
    while res.len() > ef {
        res.pop();
    }
    let mut nb = Vec::new();
    let mut ghost = Vec::new();
    let mut ids = Vec::new();
    let mut ds = Vec::new();
    let mut visited_n = 0u64;
    let mut expanded = 0u64;
    while let Some(Reverse(Scored(d, c))) = cand.pop() {
        if res.len() >= ef {
            if let Some(w) = res.peek() {
                if d > w.0 {
                    break;
                }
            }
        }
        // Start loading the next candidate's list while this one is processed.
        if let Some(Reverse(Scored(_, next))) = cand.peek() {
            g.prefetch_neighbors(*next, level);
        }
        g.neighbors(c, level, &mut nb)?;
        g.prefetch_nodes(&nb);
        expanded += 1;
        ids.clear();
        // `nb` grows while it is walked: a ghost's list is appended in its place, so the
        // search routes through deleted nodes without scoring them.
        let mut i = 0;
        while i < nb.len() {
            let n = nb[i];
            i += 1;
            if !visited.insert(n) {
                continue;
            }
            if g.is_live(n) {
                ids.push(n);
            } else if g.is_ghost(n) {
                g.neighbors(n, level, &mut ghost)?;
                nb.extend_from_slice(&ghost);
            }
        }
        if filter && res.len() >= ef && !ids.is_empty() {
            if let Some(w) = res.peek() {
                g.route(&mut ids, w.0);
            }
        }
        if ids.is_empty() {
            continue;
        }
        g.scores(q, &ids, &mut ds)?;
        visited_n += ids.len() as u64;
        for (&n, &dn) in ids.iter().zip(ds.iter()) {
            let worst = res.peek().map(|w| w.0).unwrap_or(f32::INFINITY);
            if res.len() < ef || dn < worst {
                cand.push(Reverse(Scored(dn, n)));
                if !filter || g.is_result(n) {
                    res.push(Scored(dn, n));
                    if res.len() > ef {
                        res.pop();
                    }
                }
            }
        }
    }
    let c = g.counters();
    c.nodes_visited += visited_n;
    c.nodes_expanded += expanded;
    c.distance_computations += visited_n;
    let mut out: Vec<(f32, u32)> = res.into_iter().map(|s| (s.0, s.1)).collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(out)
}
