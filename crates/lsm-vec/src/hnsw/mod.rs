//! The HNSW algorithm: layer search, insertion with the diversity heuristic, and the repair of
//! a node's neighbourhood when it is deleted.
//!
//! It reaches the index only through the [`Graph`] / [`GraphMut`] traits (implemented by
//! `db::txn` over the LSM, the edge cache and the vector file, and by an in-memory graph in the
//! tests below), so it never touches files.

mod policy;
mod search;
mod visited;

pub(crate) use policy::{drop_ghost_links, reconnect, replacement_entry, routed_ghosts, unreachable};
pub(crate) use search::search_layer;
pub(crate) use visited::Visited;

use crate::distance::{Metric, Query};
use crate::error::Result;
use crate::stats::OpCounters;

/// Shape parameters of the graph.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// Links chosen for a new node on each layer.
    pub m: usize,
    /// Degree cap on the upper layers.
    pub m_max: usize,
    /// Degree cap on layer 0.
    pub max_degree0: usize,
    /// Construction pool size.
    pub ef_construction: usize,
}

impl Params {
    pub fn cap(&self, level: usize) -> usize {
        if level == 0 {
            self.max_degree0
        } else {
            self.m_max
        }
    }
}

/// Read access to an index. Implementations own their scratch space and counters (one
/// instance serves one operation), hence `&mut self`.
pub(crate) trait Graph {
    fn metric(&self) -> Metric;
    /// Whether `id` is a live node (dangling or freed ids are not).
    fn is_live(&self, id: u32) -> bool;
    /// Whether `id` is a ghost: a deleted node whose layer-0 list is kept so that searches can
    /// route through it until nothing links to it any more. Never scored or returned.
    fn is_ghost(&self, _id: u32) -> bool {
        false
    }
    /// Whether a live node may be returned (the result filter, applied on layer 0): a node
    /// deleted but not yet repaired still routes searches but is not a result. Default: all.
    fn is_result(&self, _id: u32) -> bool {
        true
    }
    /// The neighbour list of `id` on `level` (empty if none), written to `out`.
    fn neighbors(&mut self, id: u32, level: usize, out: &mut Vec<u32>) -> Result<()>;
    /// A hint that `neighbors(id, level)` will be asked for soon (default: nothing).
    fn prefetch_neighbors(&self, _id: u32, _level: usize) {}
    /// A hint that the liveness and the scores of `ids` will be asked for soon (default:
    /// nothing).
    fn prefetch_nodes(&self, _ids: &[u32]) {}
    /// Probabilistic routing: removes from `ids` (unvisited live layer-0 neighbours) those a
    /// test says are unlikely to score below `worst`, the current worst of a full result pool
    /// (default: keeps all).
    fn route(&mut self, _ids: &mut Vec<u32>, _worst: f32) {}
    /// Scores of `ids` against `q`, written to `out` in the same order.
    fn scores(&mut self, q: &Query<'_>, ids: &[u32], out: &mut Vec<f32>) -> Result<()>;
    /// A copy of the vector of `id`, as the graph scores it: an approximation when scores come
    /// from compressed codes.
    fn vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()>;
    /// The stored vector of `id`, bit for bit (default: [`Graph::vector`]).
    fn exact_vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()> {
        self.vector(id, out)
    }
    /// The score [`Graph::scores`] gives a node whose stored vector is exactly `q.v`.
    fn self_score(&mut self, q: &Query<'_>) -> f32 {
        sane(self.metric().score(q, q.v))
    }
    /// Entry point and the top level.
    fn entry(&self) -> Option<(u32, usize)>;
    /// An upper bound on internal ids (for sizing visited sets).
    fn id_bound(&self) -> usize;
    fn counters(&mut self) -> &mut OpCounters;
}

/// Write access: what insertion and repair change.
pub(crate) trait GraphMut: Graph {
    fn set_neighbors(&mut self, id: u32, level: usize, list: Vec<u32>) -> Result<()>;
    fn set_entry(&mut self, entry: Option<(u32, usize)>);
}

/// Level of a new node, drawn from `hash` (uniform u64): floor(-ln(u) / ln(m)), capped at 16.
pub(crate) fn draw_level(hash: u64, m: usize) -> usize {
    let u = ((hash >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
    let ml = 1.0 / (m.max(2) as f64).ln();
    ((-u.ln() * ml).floor() as usize).min(16)
}

/// Descends from the entry point to `level + 1` greedily, returning the entry points for
/// `level` (one element).
fn descend<G: Graph>(
    g: &mut G,
    q: &Query<'_>,
    to_level: usize,
    visited: &mut Visited,
) -> Result<Option<Vec<(f32, u32)>>> {
    let Some((ep, top)) = g.entry() else { return Ok(None) };
    let mut s = Vec::with_capacity(1);
    g.scores(q, &[ep], &mut s)?;
    g.counters().distance_computations += 1;
    let mut eps = vec![(s[0], ep)];
    let mut l = top;
    while l > to_level {
        eps = search_layer(g, q, &eps, 1, l, visited)?;
        l -= 1;
    }
    Ok(Some(eps))
}

/// k-NN search: the `ef` best (score, id) pairs on layer 0, ascending. Layer 0 is entered
/// at the node the descent found and at the entry point itself, so everything reachable from
/// the entry point (which the connectivity check guarantees) can be found.
pub(crate) fn knn<G: Graph>(g: &mut G, q: &Query<'_>, ef: usize, visited: &mut Visited) -> Result<Vec<(f32, u32)>> {
    match descend(g, q, 0, visited)? {
        None => Ok(Vec::new()),
        Some(mut eps) => {
            if let Some((e, _)) = g.entry() {
                if !eps.iter().any(|&(_, x)| x == e) {
                    let mut s = Vec::with_capacity(1);
                    g.scores(q, &[e], &mut s)?;
                    g.counters().distance_computations += 1;
                    eps.push((s[0], e));
                }
            }
            search_layer(g, q, &eps, ef, 0, visited)
        }
    }
}

/// Selects up to `m` diverse neighbours from `cands` (ascending by score to the base node):
/// a candidate is kept if it is closer to the base than to every neighbour kept so far.
/// With `fill_to`, the list is then topped up with the nearest rejected candidates.
fn select_heuristic<G: Graph>(g: &mut G, cands: &[(f32, u32)], m: usize, fill_to: usize) -> Result<Vec<u32>> {
    let metric = g.metric();
    let mut kept: Vec<u32> = Vec::with_capacity(m);
    // Vectors of the kept neighbours, back to back.
    let mut kept_vecs: Vec<f32> = Vec::new();
    let mut rejected: Vec<u32> = Vec::new();
    let mut cv = Vec::new();
    for &(d, c) in cands {
        if kept.len() >= m {
            rejected.push(c);
            continue;
        }
        g.vector(c, &mut cv)?;
        let dim = cv.len();
        let q = metric.prepare(&cv);
        let mut good = true;
        for kv in kept_vecs.chunks_exact(dim.max(1)) {
            g.counters().distance_computations += 1;
            if metric.score(&q, kv) < d {
                good = false;
                break;
            }
        }
        if good {
            kept.push(c);
            kept_vecs.extend_from_slice(&cv);
        } else {
            rejected.push(c);
        }
    }
    for c in rejected {
        if kept.len() >= fill_to {
            break;
        }
        kept.push(c);
    }
    Ok(kept)
}

/// The live ids of `list` (a neighbour list on `level`), minus `exclude` and duplicates. On
/// layer 0 each ghost in it is replaced by the live ids of its own list, so that rewriting a
/// list never loses the routes a ghost provided (ghosts exist only on layer 0).
fn live_neighbors<G: Graph>(g: &mut G, list: &[u32], exclude: &[u32], level: usize) -> Result<Vec<u32>> {
    let mut out: Vec<u32> = Vec::with_capacity(list.len());
    let mut ghost_list = Vec::new();
    for &x in list {
        if exclude.contains(&x) || out.contains(&x) {
            continue;
        }
        if g.is_live(x) {
            out.push(x);
        } else if level == 0 && g.is_ghost(x) {
            g.neighbors(x, 0, &mut ghost_list)?;
            for &y in &ghost_list {
                if g.is_live(y) && !exclude.contains(&y) && !out.contains(&y) {
                    out.push(y);
                }
            }
        }
    }
    Ok(out)
}

/// Scores `ids` against the vector of `base` and returns them ascending.
fn rank_from<G: Graph>(g: &mut G, base: u32, ids: &[u32]) -> Result<Vec<(f32, u32)>> {
    let mut bv = Vec::new();
    g.vector(base, &mut bv)?;
    let metric = g.metric();
    let q = metric.prepare(&bv);
    let mut s = Vec::with_capacity(ids.len());
    g.scores(&q, ids, &mut s)?;
    g.counters().distance_computations += ids.len() as u64;
    let mut r: Vec<(f32, u32)> = s.into_iter().zip(ids.iter().copied()).collect();
    r.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    Ok(r)
}

/// A score with NaN replaced by +infinity, so that a damaged record (whose bytes make no
/// number) sorts last instead of breaking the heaps' order. Valid vectors never score NaN
/// (their norms are bounded at insert).
#[inline]
pub(crate) fn sane(s: f32) -> f32 {
    if s.is_nan() {
        f32::INFINITY
    } else {
        s
    }
}

/// What the searches of an insertion found: per level (0..=min(level, top)), the candidates
/// ascending by score. Nothing is written while they run.
pub(crate) struct InsertPlan {
    found: Vec<Vec<(f32, u32)>>,
}

impl InsertPlan {
    /// The layer-0 candidates, ascending.
    pub fn layer0(&self) -> &[(f32, u32)] {
        self.found.first().map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// The candidates of each level, ascending (levels above the graph's top have none).
    pub fn into_found(self) -> Vec<Vec<(f32, u32)>> {
        self.found
    }
}

/// The searches of an insertion of vector `v` at `level`: descent, then an `ef_construction`
/// search on every level the new node will be on (and that exists).
pub(crate) fn insert_search<G: Graph>(
    g: &mut G,
    p: &Params,
    v: &[f32],
    level: usize,
    visited: &mut Visited,
) -> Result<InsertPlan> {
    let metric = g.metric();
    let q = metric.prepare(v);
    let Some((_, top)) = g.entry() else { return Ok(InsertPlan { found: Vec::new() }) };
    let mut eps = descend(g, &q, level, visited)?.unwrap_or_default();
    let levels = level.min(top);
    let mut found = vec![Vec::new(); levels + 1];
    for l in (0..=levels).rev() {
        let w = search_layer(g, &q, &eps, p.ef_construction, l, visited)?;
        if !w.is_empty() {
            eps = w.clone();
        }
        found[l] = w;
    }
    Ok(InsertPlan { found })
}

/// A graph node among `cands` (ascending scores against `v`) whose vector is bit for bit `v`.
/// Such a node scores exactly what `v` would score as a stored vector (same kernel, same
/// bytes or the same code: [`Graph::self_score`]), so only those candidates are compared.
pub(crate) fn exact_duplicate<G: Graph>(g: &mut G, cands: &[(f32, u32)], v: &[f32]) -> Result<Option<u32>> {
    let metric = g.metric();
    let own = g.self_score(&metric.prepare(v));
    let mut cv = Vec::new();
    for &(s, c) in cands {
        if s.to_bits() != own.to_bits() {
            continue;
        }
        g.exact_vector(c, &mut cv)?;
        if cv.len() == v.len() && cv.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits()) {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// The lists of a new node on each of its levels, chosen with the diversity heuristic from
/// its candidates there (ascending by score; `cands[l]` for level `l`, empty where it has none).
pub(crate) fn select_lists<G: Graph>(g: &mut G, p: &Params, cands: &[Vec<(f32, u32)>]) -> Result<Vec<Vec<u32>>> {
    cands.iter().map(|c| select_heuristic(g, c, p.m, 0)).collect()
}

/// The list of `n` on `level` once the new nodes `add` link to it: its live `current` list
/// plus `add`, pruned with the heuristic when that exceeds the level's cap. (Dead ids found in
/// `current` are dropped on the way, ghosts replaced by their lists.)
pub(crate) fn merge_links<G: Graph>(
    g: &mut G,
    p: &Params,
    n: u32,
    level: usize,
    current: &[u32],
    add: &[u32],
) -> Result<Vec<u32>> {
    let mut list = live_neighbors(g, current, &[n], level)?;
    for &x in add {
        if x != n && !list.contains(&x) {
            list.push(x);
        }
    }
    let cap = p.cap(level);
    if list.len() > cap {
        let ranked = rank_from(g, n, &list)?;
        list = select_heuristic(g, &ranked, cap, 0)?;
    }
    Ok(list)
}

/// One insertion, as the write path does it for a group of one: [`insert_search`], then
/// [`select_lists`] and a [`merge_links`] into each chosen neighbour. `id` must already be live
/// in `g` with its vector readable.
#[cfg(test)]
pub(crate) fn insert<G: GraphMut>(
    g: &mut G,
    p: &Params,
    id: u32,
    v: &[f32],
    level: usize,
    visited: &mut Visited,
) -> Result<Vec<u32>> {
    let top = g.entry().map(|e| e.1);
    let mut cands = insert_search(g, p, v, level, visited)?.into_found();
    cands.resize(level + 1, Vec::new());
    let lists = select_lists(g, p, &cands)?;
    let mut cur = Vec::new();
    for (l, list) in lists.iter().enumerate() {
        for &n in list {
            g.neighbors(n, l, &mut cur)?;
            let merged = merge_links(g, p, n, l, &cur, &[id])?;
            g.set_neighbors(n, l, merged)?;
        }
        g.set_neighbors(id, l, list.clone())?;
    }
    if top.is_none_or(|t| level > t) {
        g.set_entry(Some((id, level)));
    }
    Ok(lists[0].clone())
}

/// Links `y -> x` on `level` even when `y`'s list is full (then `x` replaces `y`'s farthest
/// neighbour), so that `x` keeps at least one way in.
fn force_link<G: GraphMut>(g: &mut G, p: &Params, y: u32, x: u32, level: usize, buf: &mut Vec<u32>) -> Result<()> {
    g.neighbors(y, level, buf)?;
    if buf.contains(&x) {
        return Ok(());
    }
    let mut list = live_neighbors(g, buf, &[y, x], level)?;
    if list.len() >= p.cap(level) {
        let ranked = rank_from(g, y, &list)?;
        list = ranked.iter().take(p.cap(level) - 1).map(|&(_, z)| z).collect();
    }
    list.push(x);
    g.set_neighbors(y, level, list)?;
    Ok(())
}

/// Repairs the neighbourhood of `d` (about to be removed, `level` its top level) so that the
/// graph stays navigable without it:
/// * the nodes that link to `d` are found among `d`'s own neighbours and a beam search around
///   `d`'s vector (in-links are not stored; the nodes pointing at `d` are near it);
/// * each of them gets its list rebuilt from its own neighbours and `d`'s, chosen with the
///   heuristic and topped up to its previous degree;
/// * each of `d`'s out-neighbours that no longer has an in-link from that neighbourhood gets
///   one from its nearest neighbour, so no node is stranded.
///
/// The caller removes `d` itself and fixes the entry point.
pub(crate) fn unlink<G: GraphMut>(g: &mut G, p: &Params, d: u32, level: usize, visited: &mut Visited) -> Result<()> {
    let mut dv = Vec::new();
    g.vector(d, &mut dv)?;
    let metric = g.metric();
    let q = metric.prepare(&dv);
    let mut near: Vec<Vec<u32>> = vec![Vec::new(); level + 1];
    if let Some(mut eps) = descend(g, &q, level, visited)? {
        for l in (0..=level).rev() {
            let w = search_layer(g, &q, &eps, p.ef_construction, l, visited)?;
            near[l] = w.iter().map(|&(_, x)| x).filter(|&x| x != d).collect();
            if !w.is_empty() {
                eps = w;
            }
        }
    }
    let mut nd = Vec::new();
    let mut ln = Vec::new();
    for (l, near_l) in near.iter().enumerate() {
        g.neighbors(d, l, &mut nd)?;
        let nd_live = live_neighbors(g, &nd, &[d], l)?;
        let mut suspects = nd_live.clone();
        for &x in near_l {
            if !suspects.contains(&x) {
                suspects.push(x);
            }
        }
        let mut repaired: Vec<u32> = Vec::new();
        for &n in &suspects {
            g.neighbors(n, l, &mut ln)?;
            if !ln.contains(&d) {
                continue;
            }
            let mut cands = live_neighbors(g, &ln, &[d, n], l)?;
            for &x in &nd_live {
                if x != n && !cands.contains(&x) {
                    cands.push(x);
                }
            }
            let ranked = rank_from(g, n, &cands)?;
            let cap = p.cap(l);
            let list = select_heuristic(g, &ranked, cap, cap)?;
            g.set_neighbors(n, l, list)?;
            repaired.push(n);
        }
        // Keep every out-neighbour of d reachable from its neighbourhood.
        for &x in &nd_live {
            let mut has_in = false;
            for &y in repaired.iter().chain(nd_live.iter()) {
                if y == x {
                    continue;
                }
                g.neighbors(y, l, &mut ln)?;
                if ln.contains(&x) {
                    has_in = true;
                    break;
                }
            }
            if has_in {
                continue;
            }
            let others: Vec<u32> = nd_live.iter().chain(near_l.iter()).copied().filter(|&y| y != x).collect();
            if others.is_empty() {
                continue;
            }
            let ranked = rank_from(g, x, &others)?;
            force_link(g, p, ranked[0].1, x, l, &mut ln)?;
        }
    }
    Ok(())
}

/// Adds the layer-0 link `y -> x` even when `y`'s list is full (used to reconnect `x`).
pub(crate) fn link_to<G: GraphMut>(g: &mut G, p: &Params, y: u32, x: u32) -> Result<()> {
    force_link(g, p, y, x, 0, &mut Vec::new())
}

/// Gives `x` (a live node that nothing links to on layer 0) an in-link from its nearest
/// out-neighbour, or from the entry point when it has none, so every node stays reachable.
pub(crate) fn adopt<G: GraphMut>(g: &mut G, p: &Params, x: u32) -> Result<()> {
    let mut out = Vec::new();
    g.neighbors(x, 0, &mut out)?;
    let live = live_neighbors(g, &out, &[x], 0)?;
    let y = if live.is_empty() {
        match g.entry() {
            Some((e, _)) if e != x => e,
            _ => return Ok(()),
        }
    } else {
        rank_from(g, x, &live)?[0].1
    };
    force_link(g, p, y, x, 0, &mut out)
}

#[cfg(test)]
mod tests;
