//! The insert path: new vectors are planned as a *group* and committed in one LSM batch (one
//! journal write). A single `insert` or `update` is a group of one; `insert_batch` cuts its
//! vectors into groups of [`GROUP`].
//!
//! A group is planned in five steps; 1, 3 and 4 run on `threads` threads against the committed
//! index (searches keep running beside them and see nothing of the group until its commit):
//! 1. each member searches the committed graph (`ef_construction`) for its candidates on every
//!    level, and looks among them for a node with exactly its vector;
//! 2. (in order) exact duplicates become twins (of that node, or of an earlier member with the
//!    same bytes), the others get internal ids, and the entry point moves up where a member's
//!    level exceeds the top;
//! 3. each member chooses its lists (diversity heuristic) from its candidates plus the group
//!    members before it, scored exactly: members of one group link to each other;
//! 4. the reverse links are grouped by target node, and each target's list is merged and
//!    pruned once;
//! 5. (in order) the lists, the entry point and the node records go into the mutation's
//!    transaction, and each vector is written to its slot (near its neighbours' slots) before
//!    the commit that references it.
//!
//! With trained codes the searches and the heuristic score with the codes (see
//! [`super::txn::View::build_codes`]), so a build reads no vector page; a group of one (which
//! may follow a removal, in `update`) plans directly in the mutation's transaction.

use std::collections::{BTreeMap, HashMap};

use super::engine::{Engine, WriterState};
use super::txn::{IndexState, Txn};
use crate::error::{Error, Result};
use crate::graph::IdHashBuilder;
use crate::hnsw::{self, Graph, GraphMut, Visited};
use crate::vectors::checksum;

/// Vectors `insert_batch` plans and commits together. Larger groups mean fewer commits and more
/// work per parallel step, but members of a group see each other only by brute force.
pub(crate) const GROUP: usize = 256;

/// Candidates of one member on each level (ascending), as its search found them.
type Found = Vec<Vec<(f32, u32)>>;

/// One vector of a group.
struct Member<'v> {
    ext: u64,
    v: &'v [f32],
    level: usize,
    sum: u32,
    id: u32,
    /// The graph node this member is an exact duplicate of.
    twin_of: Option<u32>,
    /// The top level of the graph before this member (`None`: the graph was empty).
    top_before: Option<usize>,
}

impl Engine {
    /// Plans the insertion of `items` (caller id, vector) into `txn` as one group, on `threads`
    /// threads. The ids must not be live (checked by the caller).
    pub(super) fn plan_group(
        &self,
        txn: &mut Txn<'_>,
        w: &mut WriterState,
        items: &[(u64, &[f32])],
        threads: usize,
        visited: &mut Visited,
    ) -> Result<()> {
        let alone = items.len() == 1;
        let state = txn.base.state;
        let levels: Vec<usize> = items.iter().map(|&(ext, _)| self.level_for(ext)).collect();

        // 1. Searches.
        let search = |g: &mut Txn<'_>, vis: &mut Visited, i: usize| -> Result<(Found, Option<u32>)> {
            let plan = hnsw::insert_search(g, &self.params, items[i].1, levels[i], vis)?;
            let dup = hnsw::exact_duplicate(g, plan.layer0(), items[i].1)?;
            Ok((plan.into_found(), dup))
        };
        let searched = if alone {
            vec![search(txn, visited, 0)?]
        } else {
            self.in_parallel(state, threads, items.len(), &[], search)?
        };

        // 2. Twins, ids, levels, entry point.
        let mut members: Vec<Member<'_>> = Vec::with_capacity(items.len());
        let mut found: Vec<Found> = Vec::with_capacity(items.len());
        // Members by checksum, to find exact duplicates inside the group.
        let mut by_sum: HashMap<u32, Vec<usize>, IdHashBuilder> = HashMap::with_hasher(IdHashBuilder);
        let mut fresh = hnsw::Graph::id_bound(txn) as u32;
        let mut top = hnsw::Graph::entry(txn).map(|e| e.1);
        let mut new_entry = None;
        for (i, ((&(ext, v), &level), (f, dup))) in items.iter().zip(&levels).zip(searched).enumerate() {
            let sum = checksum(v);
            let same = by_sum.entry(sum).or_default();
            let earlier = same.iter().copied().find(|&j| same_bits(members[j].v, v));
            same.push(i);
            let twin_of = dup.or_else(|| earlier.map(|j| members[j].twin_of.unwrap_or(members[j].id)));
            let id = Self::new_internal_id(w, &mut fresh);
            let top_before = top;
            if twin_of.is_none() && top.is_none_or(|t| level > t) {
                new_entry = Some((id, level));
                top = Some(level);
            }
            members.push(Member { ext, v, level, sum, id, twin_of, top_before });
            found.push(f);
        }
        let graph: Vec<usize> = (0..members.len()).filter(|&i| members[i].twin_of.is_none()).collect();
        for &i in &graph {
            let m = &members[i];
            txn.add_node(m.id, m.ext, m.level, m.v, m.sum);
        }
        let staged: Vec<(u32, u64, usize, &[f32], u32)> = if alone {
            Vec::new()
        } else {
            graph.iter().map(|&i| &members[i]).map(|m| (m.id, m.ext, m.level, m.v, m.sum)).collect()
        };

        // 3. Each member's own lists.
        let choose = |g: &mut Txn<'_>, _: &mut Visited, k: usize| -> Result<Vec<Vec<u32>>> {
            let i = graph[k];
            let m = &members[i];
            let Some(top) = m.top_before else { return Ok(vec![Vec::new(); m.level + 1]) };
            let upto = m.level.min(top);
            let mut cands: Found = (0..=upto).map(|l| found[i].get(l).cloned().unwrap_or_default()).collect();
            let earlier: Vec<u32> = graph[..k].iter().map(|&j| members[j].id).collect();
            if !earlier.is_empty() {
                let q = self.metric.prepare(m.v);
                let mut s = Vec::with_capacity(earlier.len());
                g.scores(&q, &earlier, &mut s)?;
                g.counters().distance_computations += earlier.len() as u64;
                for (&j, &d) in graph[..k].iter().zip(&s) {
                    for c in cands.iter_mut().take(members[j].level.min(upto) + 1) {
                        c.push((d, members[j].id));
                    }
                }
            }
            for c in &mut cands {
                c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                c.truncate(self.params.ef_construction);
            }
            let mut lists = hnsw::select_lists(g, &self.params, &cands)?;
            lists.resize(m.level + 1, Vec::new());
            Ok(lists)
        };
        let own: Vec<Vec<Vec<u32>>> = if alone {
            if graph.is_empty() {
                Vec::new()
            } else {
                vec![choose(txn, visited, 0)?]
            }
        } else {
            self.in_parallel(state, threads, graph.len(), &staged, choose)?
        };

        // 4. Reverse links, merged per target.
        let member_of: HashMap<u32, usize, IdHashBuilder> = graph.iter().enumerate().map(|(k, &i)| (members[i].id, k)).collect();
        let mut wanted: BTreeMap<(u32, usize), Vec<u32>> = BTreeMap::new();
        for (k, lists) in own.iter().enumerate() {
            for (l, list) in lists.iter().enumerate() {
                for &n in list {
                    wanted.entry((n, l)).or_default().push(members[graph[k]].id);
                }
            }
        }
        let targets: Vec<((u32, usize), Vec<u32>)> = wanted.into_iter().collect();
        let merge = |g: &mut Txn<'_>, _: &mut Visited, t: usize| -> Result<Vec<u32>> {
            let ((n, l), ref add) = targets[t];
            let mut current = Vec::new();
            match member_of.get(&n) {
                Some(&k) => current.clone_from(&own[k][l]),
                None => g.neighbors(n, l, &mut current)?,
            }
            hnsw::merge_links(g, &self.params, n, l, &current, add)
        };
        let merged: Vec<Vec<u32>> = if alone {
            (0..targets.len()).map(|t| merge(txn, visited, t)).collect::<Result<_>>()?
        } else {
            self.in_parallel(state, threads, targets.len(), &staged, merge)?
        };

        // 5. Into the transaction; vectors to their slots.
        let mut lists: HashMap<(u32, usize), Vec<u32>> = HashMap::new();
        for (k, ls) in own.into_iter().enumerate() {
            for (l, list) in ls.into_iter().enumerate() {
                lists.insert((members[graph[k]].id, l), list);
            }
        }
        for ((key, _), list) in targets.into_iter().zip(merged) {
            lists.insert(key, list);
        }
        let mut keys: Vec<(u32, usize)> = lists.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let list = lists.remove(&key).unwrap_or_default();
            txn.set_neighbors(key.0, key.1, list)?;
        }
        if let Some(e) = new_entry {
            txn.set_entry(Some(e));
        }
        let mut nb = Vec::new();
        for &i in &graph {
            let m = &members[i];
            hnsw::Graph::neighbors(txn, m.id, 0, &mut nb)?;
            let hints: Vec<u32> = nb.iter().filter_map(|&n| txn.node(n)).map(|n| n.slot).filter(|&s| s != u32::MAX).collect();
            let slot = self.write_vector(w, &hints, m.v)?;
            txn.set_slot(m.id, slot);
        }
        for m in members.iter().filter(|m| m.twin_of.is_some()) {
            let head = m.twin_of.unwrap_or(u32::MAX);
            let near: Vec<u32> = txn.node(head).map(|n| n.slot).into_iter().filter(|&s| s != u32::MAX).collect();
            let slot = self.write_vector(w, &near, m.v)?;
            txn.add_twin(m.id, m.ext, head, slot, m.v, m.sum);
        }
        Ok(())
    }

    /// Runs `f(graph, visited, i)` for `i` in `0..n` on up to `threads` threads, each with its
    /// own transaction over the committed `state` (with the nodes `staged` added, so that group
    /// members can be scored and linked to) and its own visited set. Results come in order.
    fn in_parallel<'s, R: Send>(
        &'s self,
        state: &'s IndexState,
        threads: usize,
        n: usize,
        staged: &[(u32, u64, usize, &[f32], u32)],
        f: impl Fn(&mut Txn<'s>, &mut Visited, usize) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let run = |lo: usize, hi: usize| -> Result<Vec<R>> {
            let mut g = Txn::new(self.write_view(state));
            for &(id, ext, level, v, sum) in staged {
                g.add_node(id, ext, level, v, sum);
            }
            let mut visited = self.take_visited();
            let r = (lo..hi).map(|i| f(&mut g, &mut visited, i)).collect();
            self.return_visited(visited);
            self.counters.publish(&g.base.c);
            self.vectors.publish(&g.base.c.io);
            r
        };
        let threads = threads.clamp(1, n.max(1));
        if threads == 1 {
            return run(0, n);
        }
        let per = n.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let run = &run;
                    s.spawn(move || run((t * per).min(n), ((t + 1) * per).min(n)))
                })
                .collect();
            let mut out = Vec::with_capacity(n);
            for h in handles {
                let part = h.join().map_err(|_| Error::Io {
                    context: "planning an insert".into(),
                    source: std::io::Error::other("a worker thread panicked"),
                })??;
                out.extend(part);
            }
            Ok(out)
        })
    }

    /// A free internal id (FIFO, so ids are reused as late as possible), else the next new one.
    fn new_internal_id(w: &mut WriterState, fresh: &mut u32) -> u32 {
        match w.free_ids.pop_front() {
            Some(id) => {
                w.undo_ids.push(id);
                id
            }
            None => {
                *fresh += 1;
                *fresh - 1
            }
        }
    }
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
