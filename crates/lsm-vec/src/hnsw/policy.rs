//! Graph policy the index applies around the algorithm proper: keeping layer 0 connected, and
//! choosing a new entry point when the current one is removed.

use super::{knn, link_to, live_neighbors, rank_from, select_heuristic, Graph, GraphMut, Params, Visited};
use crate::error::Result;

/// Live nodes (ids below `bound`) that a walk of layer 0 from the entry point does not reach
/// (through live nodes and ghosts).
pub(crate) fn unreachable<G: Graph>(g: &mut G, bound: usize) -> Result<Vec<u32>> {
    let Some((entry, _)) = g.entry() else { return Ok(Vec::new()) };
    let mut seen = vec![false; bound.max(entry as usize + 1)];
    let mut stack = vec![entry];
    seen[entry as usize] = true;
    let mut nb = Vec::new();
    while let Some(x) = stack.pop() {
        g.neighbors(x, 0, &mut nb)?;
        for &y in &nb {
            let i = y as usize;
            if i < seen.len() && !seen[i] && (g.is_live(y) || g.is_ghost(y)) {
                seen[i] = true;
                stack.push(y);
            }
        }
    }
    Ok((0..bound as u32).filter(|&x| g.is_live(x) && !seen[x as usize]).collect())
}

/// Gives each node of `unreachable` an in-link from the nearest node that a search from the
/// entry point reaches (and that is not itself unreachable).
pub(crate) fn reconnect<G: GraphMut>(g: &mut G, p: &Params, unreachable: &[u32], visited: &mut Visited) -> Result<()> {
    let metric = g.metric();
    let mut v = Vec::new();
    for &x in unreachable {
        g.vector(x, &mut v)?;
        let q = metric.prepare(&v);
        let near = knn(g, &q, p.ef_construction, visited)?;
        if let Some(&(_, y)) = near.iter().find(|&&(_, y)| y != x && !unreachable.contains(&y)) {
            link_to(g, p, y, x)?;
        }
    }
    Ok(())
}

/// Which ids below `bound` are ghosts that a route can reach: linked from a live node's
/// layer-0 list, directly or through other such ghosts (the others are kept alive only by each
/// other's lists, since in-degree counts those links too, and can go); and the live nodes whose
/// lists link to a ghost.
pub(crate) fn routed_ghosts<G: Graph>(g: &mut G, bound: usize) -> Result<(Vec<bool>, Vec<u32>)> {
    let mut marked = vec![false; bound];
    let mut linkers = Vec::new();
    let mut stack = Vec::new();
    let mut nb = Vec::new();
    for x in 0..bound as u32 {
        if !g.is_live(x) {
            continue;
        }
        g.neighbors(x, 0, &mut nb)?;
        let mut links_ghost = false;
        for &y in &nb {
            if !g.is_ghost(y) {
                continue;
            }
            links_ghost = true;
            if (y as usize) < bound && !marked[y as usize] {
                marked[y as usize] = true;
                stack.push(y);
            }
        }
        if links_ghost {
            linkers.push(x);
        }
    }
    while let Some(x) = stack.pop() {
        g.neighbors(x, 0, &mut nb)?;
        for &y in &nb {
            if (y as usize) < bound && !marked[y as usize] && g.is_ghost(y) {
                marked[y as usize] = true;
                stack.push(y);
            }
        }
    }
    Ok((marked, linkers))
}

/// Rewrites the layer-0 list of live node `n` without its ghosts: each ghost is replaced by
/// the live nodes of its own list, and the list is chosen again with the heuristic (topped up
/// to the cap). After this no route through `n` needs a ghost.
pub(crate) fn drop_ghost_links<G: GraphMut>(g: &mut G, p: &Params, n: u32) -> Result<()> {
    let mut ln = Vec::new();
    g.neighbors(n, 0, &mut ln)?;
    if !ln.iter().any(|&x| g.is_ghost(x)) {
        return Ok(());
    }
    let cands = live_neighbors(g, &ln, &[n], 0)?;
    let ranked = rank_from(g, n, &cands)?;
    let cap = p.cap(0);
    let list = select_heuristic(g, &ranked, cap, cap)?;
    g.set_neighbors(n, 0, list)
}

/// The entry point to use once `removed` is gone: the live node with the highest top level
/// among `upper` (ids with their number of upper layers; lowest id on ties), else a live
/// layer-0 neighbour of `removed` (`l0`), else any live node below `bound`.
pub(crate) fn replacement_entry<G: Graph>(
    g: &G,
    removed: u32,
    upper: impl Iterator<Item = (u32, usize)>,
    l0: &[u32],
    bound: usize,
) -> Option<(u32, usize)> {
    let mut best: Option<(u32, usize)> = None;
    for (u, l) in upper {
        if u == removed || !g.is_live(u) {
            continue;
        }
        if best.is_none_or(|(b, bl)| l > bl || (l == bl && u < b)) {
            best = Some((u, l));
        }
    }
    best.or_else(|| l0.iter().copied().find(|&n| g.is_live(n)).map(|n| (n, 0)))
        .or_else(|| (0..bound as u32).find(|&n| n != removed && g.is_live(n)).map(|n| (n, 0)))
}
