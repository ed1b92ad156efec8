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
//! [`super::view::View::build_codes`]), so a build reads no vector page; a group of one (which
//! may follow a removal, in `update`) plans directly in the mutation's transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::engine::{lock_mutex, Engine, Op, WriterState};
use super::state::IndexState;
use super::txn::Txn;
use crate::error::{Error, Result};
use crate::graph::codec::UNPLACED;
use crate::graph::IdHashBuilder;
use crate::hnsw::{self, Graph, GraphMut, Visited};
use crate::vectors::checksum;

/// Vectors `insert_batch` plans and commits together. Larger groups mean fewer commits and more
/// work per parallel step, but members of a group see each other only by brute force.
pub(crate) const GROUP: usize = 256;

/// Candidates of one member on each level (ascending), as its search found them.
type Found = Vec<Vec<(f32, u32)>>;
/// What step 1 found for one vector: its candidates, and the node with exactly its vector.
pub(super) type Searched = (Found, Option<u32>);

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
    ///
    /// `presearched` may hold step 1's results for some items, computed by their callers
    /// against an earlier committed state (the write group): candidates that died since are
    /// dropped, the graph nodes committed since (which that search could not see) are scored
    /// and added, and a duplicate whose node died is searched again.
    pub(super) fn plan_group(
        &self,
        txn: &mut Txn<'_>,
        w: &mut WriterState,
        items: &[(u64, &[f32])],
        threads: usize,
        visited: &mut Visited,
        presearched: Vec<Option<(Searched, Vec<u32>)>>,
    ) -> Result<()> {
        let alone = items.len() == 1;
        let state = txn.base.state;
        let levels: Vec<usize> = items.iter().map(|&(ext, _)| self.level_for(ext)).collect();

        // 1. Searches.
        let mut searched: Vec<Option<Searched>> = Vec::with_capacity(items.len());
        let mut exact = Vec::new();
        let mut scores = Vec::new();
        for (i, pre) in presearched.into_iter().enumerate() {
            let Some(((mut found, mut dup), unseen)) = pre else {
                searched.push(None);
                continue;
            };
            let v = items[i].1;
            // The node may have died since, and its id been reused: compare the bytes again
            // (and search again if they differ).
            if let Some(d) = dup {
                let same = hnsw::Graph::is_live(txn, d) && {
                    hnsw::Graph::exact_vector(txn, d, &mut exact)?;
                    same_bits(&exact, v)
                };
                if !same {
                    searched.push(None);
                    continue;
                }
            }
            for f in found.iter_mut() {
                f.retain(|&(_, id)| hnsw::Graph::is_live(txn, id));
            }
            let unseen: Vec<u32> = unseen.into_iter().filter(|&id| hnsw::Graph::is_live(txn, id)).collect();
            if !unseen.is_empty() {
                let q = self.metric.prepare(v);
                txn.scores(&q, &unseen, &mut scores)?;
                let own = txn.self_score(&q);
                for (&id, &d) in unseen.iter().zip(&scores) {
                    if dup.is_none() && d.to_bits() == own.to_bits() {
                        hnsw::Graph::exact_vector(txn, id, &mut exact)?;
                        if same_bits(&exact, v) {
                            dup = Some(id);
                        }
                    }
                    let top = txn.node(id).map(|n| n.level as usize).unwrap_or(0).min(levels[i]);
                    if found.len() <= top {
                        found.resize(top + 1, Vec::new());
                    }
                    for f in found.iter_mut().take(top + 1) {
                        if !f.iter().any(|&(_, x)| x == id) {
                            f.push((d, id));
                        }
                    }
                }
                for f in found.iter_mut() {
                    f.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    f.truncate(self.params.ef_construction);
                }
            }
            searched.push(Some((found, dup)));
        }
        searched.resize_with(items.len(), || None);
        let missing: Vec<usize> = (0..items.len()).filter(|&i| searched[i].is_none()).collect();
        let search = |g: &mut Txn<'_>, vis: &mut Visited, k: usize| -> Result<Searched> {
            let i = missing[k];
            self.search_for(g, items[i].1, levels[i], vis)
        };
        let fresh = if alone && missing.len() == 1 {
            vec![search(txn, visited, 0)?]
        } else {
            self.in_parallel(state, threads, missing.len(), &[], search)?
        };
        for (i, r) in missing.iter().zip(fresh) {
            searched[*i] = Some(r);
        }
        let searched = searched.into_iter().map(|s| s.unwrap_or_default());

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
        let member_of: HashMap<u32, usize, IdHashBuilder> =
            graph.iter().enumerate().map(|(k, &i)| (members[i].id, k)).collect();
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
            let hints: Vec<u32> =
                nb.iter().filter_map(|&n| txn.node(n)).map(|n| n.slot).filter(|&s| s != UNPLACED).collect();
            let slot = self.write_vector(w, &hints, m.v)?;
            txn.set_slot(m.id, slot);
        }
        for m in members.iter() {
            let Some(head) = m.twin_of else { continue };
            let near: Vec<u32> = txn.node(head).map(|n| n.slot).into_iter().filter(|&s| s != UNPLACED).collect();
            let slot = self.write_vector(w, &near, m.v)?;
            txn.add_twin(m.id, m.ext, head, slot, m.v, m.sum);
        }
        Ok(())
    }

    /// Step 1 for vector `v` of `level` in `g`: its candidates on every level and the graph
    /// node whose vector is exactly `v`, if any.
    fn search_for(&self, g: &mut Txn<'_>, v: &[f32], level: usize, visited: &mut Visited) -> Result<Searched> {
        let plan = hnsw::insert_search(g, &self.params, v, level, visited)?;
        let dup = hnsw::exact_duplicate(g, plan.layer0(), v)?;
        Ok((plan.into_found(), dup))
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
                let part = h.join().map_err(|p| Error::panicked("a planning thread of an insert", p.as_ref()))??;
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

/// A single insert waiting in the write group queue.
pub(crate) struct Pending {
    ext: u64,
    v: Vec<f32>,
    /// Step 1, done by the caller before it queued, and the commit count it saw.
    searched: Mutex<Option<Searched>>,
    seen_commits: u64,
    done: Mutex<Option<Result<()>>>,
}

/// A search older than this many commits is done again by the leader; a younger one gets the
/// graph nodes committed since (`Engine::recent_nodes`) as extra candidates.
pub(super) const STALE_COMMITS: u64 = 8;

/// The writer lock. Releasing it wakes the inserts waiting in the write group queue, so that
/// one of them leads the next group (or finds its result done).
pub(super) struct WriterGuard<'e> {
    guard: Option<MutexGuard<'e, WriterState>>,
    engine: &'e Engine,
}

impl std::ops::Deref for WriterGuard<'_> {
    type Target = WriterState;
    fn deref(&self) -> &WriterState {
        self.guard.as_ref().expect("held until drop")
    }
}

impl std::ops::DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut WriterState {
        self.guard.as_mut().expect("held until drop")
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        self.guard = None;
        // Under the queue lock, so that a waiter between its check and its wait cannot miss it.
        let _q = lock_mutex(&self.engine.insert_queue);
        self.engine.writer_released.notify_all();
    }
}

impl Engine {
    /// Takes the writer lock (waiting for it).
    pub(super) fn lock_writer(&self) -> WriterGuard<'_> {
        WriterGuard { guard: Some(lock_mutex(&self.writer)), engine: self }
    }

    /// Queues (`ext_id`, `v`) and waits until a writer committed it, or the writer lock is free
    /// (then this call leads: it commits everything queued, as groups, on up to one thread per
    /// core). Waiters never need the writer lock to learn their result, so a leader that keeps
    /// the lock busy cannot starve them.
    pub(super) fn insert_grouped(&self, ext_id: u64, v: &[f32]) -> Result<()> {
        // The search (most of an insert's work) runs here, beside other callers' searches;
        // only linking and the commit are the leader's.
        let seen_commits = self.commits.load(std::sync::atomic::Ordering::Acquire);
        let searched = {
            let state = self.read_state();
            let mut g = Txn::new(self.write_view(&state));
            let mut visited = self.take_visited();
            let r = self.search_for(&mut g, v, self.level_for(ext_id), &mut visited);
            self.return_visited(visited);
            self.counters.publish(&g.base.c);
            self.vectors.publish(&g.base.c.io);
            r?
        };
        let me = Arc::new(Pending {
            ext: ext_id,
            v: v.to_vec(),
            searched: Mutex::new(Some(searched)),
            seen_commits,
            done: Mutex::new(None),
        });
        let mut q = lock_mutex(&self.insert_queue);
        q.push(me.clone());
        loop {
            if let Some(r) = lock_mutex(&me.done).take() {
                return r;
            }
            let w = match self.writer.try_lock() {
                Ok(w) => w,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    q = self.writer_released.wait(q).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
            };
            let queued = std::mem::take(&mut *q);
            drop(q);
            let mut w = WriterGuard { guard: Some(w), engine: self };
            for group in queued.chunks(GROUP) {
                self.commit_pending(&mut w, group);
            }
            drop(w);
            q = lock_mutex(&self.insert_queue);
        }
    }
    /// Commits the queued inserts `group` as one group and stores each one's result: ids that
    /// are live (or repeated within the group) fail alone with `AlreadyExists`; a failure of the
    /// group's planning or commit is every member's.
    fn commit_pending(&self, w: &mut WriterState, group: &[Arc<Pending>]) {
        let mut refused: Vec<Option<Error>> = (0..group.len()).map(|_| None).collect();
        let mut taken: Vec<usize> = Vec::with_capacity(group.len());
        let r = {
            let refused = &mut refused;
            let taken = &mut taken;
            let state = self.read_state();
            let mut seen = std::collections::HashSet::with_capacity_and_hasher(group.len(), IdHashBuilder);
            for (i, p) in group.iter().enumerate() {
                if state.ids.contains_key(&p.ext) || !seen.insert(p.ext) {
                    refused[i] = Some(Error::AlreadyExists(p.ext));
                } else {
                    taken.push(i);
                }
            }
            drop(state);
            if taken.is_empty() {
                Ok(())
            } else {
                let items: Vec<(u64, &[f32])> = taken.iter().map(|&i| (group[i].ext, group[i].v.as_slice())).collect();
                let now = self.commits.load(std::sync::atomic::Ordering::Acquire);
                let recent = lock_mutex(&self.recent_nodes);
                let pre: Vec<Option<(Searched, Vec<u32>)>> = taken
                    .iter()
                    .map(|&i| {
                        let seen = group[i].seen_commits;
                        let s = lock_mutex(&group[i].searched).take().filter(|_| now - seen <= STALE_COMMITS)?;
                        let unseen =
                            recent.iter().filter(|(c, _)| *c > seen).flat_map(|(_, ids)| ids.iter().copied()).collect();
                        Some((s, unseen))
                    })
                    .collect();
                drop(recent);
                // Linking a few vectors is cheaper than starting threads for it.
                let threads = if items.len() >= 64 { super::engine::resolve_threads(0) } else { 1 };
                self.mutate_locked(w, Op::Insert, items.len(), |txn, w, visited| {
                    // The writer lock is held since the check above: nothing became live.
                    self.plan_group(txn, w, &items, threads, visited, pre)
                })
            }
        };
        for (i, p) in group.iter().enumerate() {
            let res = match refused[i].take() {
                Some(e) => Err(e),
                None => r.as_ref().map(|_| ()).map_err(Error::duplicate),
            };
            *lock_mutex(&p.done) = Some(res);
        }
    }
}
