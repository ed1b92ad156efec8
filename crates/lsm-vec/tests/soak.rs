//! The soak test (issue 10, item 4): one shared `LsmVecDb`, 8 threads searching, 1 writer doing
//! single inserts, updates and deletes, and 1 thread doing `insert_batch` (and deleting as many
//! of its own ids as it inserted), for `LSM_VEC_SOAK_SECS` seconds (default 600, `soak_long`,
//! `--ignored`) or 5 seconds (`soak_short`, in the normal test run). The live set stays at its
//! initial size: every insert is matched by a delete.
//!
//! Asserted:
//! * no call returns an error;
//! * every search result is well formed (at most k, ascending, no duplicates), fills k, and
//!   each id in it is live or was deleted (or updated away from the matching version) recently,
//!   meaning the delete or update had not returned when the search began, and its distance is
//!   the exact distance of one such version of the id;
//! * (`soak_long` only) memory is flat: VmRSS from /proc/self/status is sampled every few
//!   seconds; the median of the samples in the last tenth of the run exceeds the median of the
//!   samples around the middle by less than `RSS_GROWTH_BOUND_KB` (the justification is at
//!   the constant).
//!
//! Ordering without clocks: the model maps each id to its versions, each with the write
//! sequence at which it stopped being current (u64::MAX while current). A write that ends a
//! version (update, delete) stamps it with `seq + 1` under the model's write lock and then
//! publishes that sequence. A searcher reads the sequence `s0` before its search; a version is
//! an acceptable answer iff it was stamped after `s0` (or is current). Versions stamped at or
//! before the oldest running search's `s0` are pruned, so the model has a constant size too.

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use common::*;
use lsm_vec::{DbOptions, DistanceMetric, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 32;
const SEED: u64 = 0x50A4;
const METRIC: DistanceMetric = DistanceMetric::L2;
const SEARCHERS: usize = 8;
/// Live ids owned by the single-op writer and by the batch thread.
const WRITER_LIVE: u64 = 4000;
const BATCH_LIVE: u64 = 4000;
/// The batch thread's ids start here (the writer's at 0): the two never touch the same id.
const BATCH_BASE: u64 = 1 << 40;
/// Growth of RSS allowed between the middle and the end of `soak_long`: 16 MiB.
///
/// Why: with the live set constant, everything the engine holds is either proportional to the
/// live set (codes, adjacency, id map, slots) or capped by an option (page cache 256 pages =
/// 1 MiB, fjall block cache 4 MiB, edge cache 4096 lists ~ 0.5 MiB), and all of it is filled
/// in the first half. What may still move is fjall's memtables: lsm-vec caps each keyspace's at
/// 8 MiB and two keyspaces take the writes (`adj0`, `nodes`), so between two moments the
/// memtables can differ by up to 16 MiB; both ends are medians over a tenth of the run (about a
/// minute, several memtable cycles at the write rate here), which smooths that further. A leak
/// proportional to the writes is what the bound must catch: the run prints the writes of the
/// second half and the smallest per-write leak 16 MiB detects (255-806 bytes per write in the
/// 10-minute runs on the 2-core machine, where 8 searchers leave the writers 100-250 writes/s).
const RSS_GROWTH_BOUND_KB: u64 = 16 * 1024;

fn vec_of(id: u64, version: u64) -> Vec<f32> {
    vector_for(SEED, id, version, DIM)
}

/// Versions of one id: (version, write sequence at which it stopped being current).
type Versions = Vec<(u64, u64)>;

#[derive(Default)]
struct Shared {
    model: RwLock<HashMap<u64, Versions>>,
    /// Sequence of completed updates and deletes (see the module comment).
    seq: AtomicU64,
    /// `s0` of the searches running now (a multiset).
    active: Mutex<BTreeMap<u64, usize>>,
    /// (stamp, id) of ended versions, oldest first, for pruning.
    ended: Mutex<VecDeque<(u64, u64)>>,
    stop: AtomicBool,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, SeqCst);
        self.first_error.lock().unwrap().get_or_insert(what);
        self.stop.store(true, SeqCst);
    }

    /// Registers a new version before the call that writes it (a search may see it early).
    fn begin_version(&self, id: u64, version: u64) {
        self.model.write().unwrap().entry(id).or_default().push((version, u64::MAX));
    }

    /// After an update of `id` to `new` returned (or, with `new = None`, its delete): ends every
    /// other current version.
    fn end_versions(&self, id: u64, new: Option<u64>) {
        let mut m = self.model.write().unwrap();
        let s = self.seq.load(SeqCst) + 1;
        for (ver, end) in m.get_mut(&id).expect("a written id is in the model") {
            if *end == u64::MAX && Some(*ver) != new {
                *end = s;
            }
        }
        self.seq.store(s, SeqCst);
        drop(m);
        self.ended.lock().unwrap().push_back((s, id));
    }

    fn search_begins(&self) -> u64 {
        let mut a = self.active.lock().unwrap();
        let s0 = self.seq.load(SeqCst);
        *a.entry(s0).or_default() += 1;
        s0
    }

    fn search_ends(&self, s0: u64) {
        let mut a = self.active.lock().unwrap();
        let n = a.get_mut(&s0).unwrap();
        *n -= 1;
        if *n == 0 {
            a.remove(&s0);
        }
    }

    /// Drops the versions no running or future search may accept; returns the model's size.
    fn prune(&self) -> usize {
        let threshold = {
            let a = self.active.lock().unwrap();
            a.keys().next().copied().unwrap_or_else(|| self.seq.load(SeqCst))
        };
        let mut due = Vec::new();
        {
            let mut e = self.ended.lock().unwrap();
            while e.front().is_some_and(|(s, _)| *s <= threshold) {
                due.push(e.pop_front().unwrap().1);
            }
        }
        let mut m = self.model.write().unwrap();
        for id in due {
            if let Some(vs) = m.get_mut(&id) {
                vs.retain(|(_, end)| *end > threshold);
                if vs.is_empty() {
                    m.remove(&id);
                }
            }
        }
        m.len()
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    inserts: u64,
    updates: u64,
    deletes: u64,
    batches: u64,
    batch_vectors: u64,
    batch_deletes: u64,
    searches: u64,
    results: u64,
    /// Results that were a deleted id or a superseded version (allowed: the write had not
    /// returned when the search began).
    recent_results: u64,
}

fn options() -> DbOptions {
    let mut o = test_options(DIM, METRIC, VectorStorageType::Paged);
    o.paged_max_cached_pages = 256;
    o.lsm_cache_bytes = 4 << 20;
    o.edge_cache_size = 4096;
    o
}

/// A field of /proc/self/status in KiB (`VmRSS`, `RssAnon`, `RssFile`).
fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// VmRSS of this process in KiB.
fn rss_kb() -> u64 {
    status_kb("VmRSS")
}

fn median(mut v: Vec<u64>) -> u64 {
    assert!(!v.is_empty());
    v.sort_unstable();
    v[v.len() / 2]
}

/// The single-op writer: insert a new id, update a random live one, delete a random live one.
fn writer(db: &LsmVecDb, sh: &Shared, counts: &Mutex<Counts>) {
    let mut rng = Rng::new(SEED + 1);
    let mut live: Vec<u64> = (0..WRITER_LIVE).collect();
    let mut version: HashMap<u64, u64> = live.iter().map(|id| (*id, 0)).collect();
    let mut next = WRITER_LIVE;
    let mut c = Counts::default();
    let mut step = 0u64;
    while !sh.stop.load(SeqCst) {
        step += 1;
        match step % 3 {
            0 => {
                let id = next;
                next += 1;
                sh.begin_version(id, 0);
                if let Err(e) = db.insert(id, &vec_of(id, 0)) {
                    return sh.error(format!("insert({id}): {e}"));
                }
                live.push(id);
                version.insert(id, 0);
                c.inserts += 1;
            }
            1 => {
                let id = live[rng.index(live.len())];
                let v = version[&id] + 1;
                sh.begin_version(id, v);
                if let Err(e) = db.update(id, &vec_of(id, v)) {
                    return sh.error(format!("update({id}): {e}"));
                }
                sh.end_versions(id, Some(v));
                version.insert(id, v);
                c.updates += 1;
            }
            _ => {
                let id = live.swap_remove(rng.index(live.len()));
                if let Err(e) = db.delete(id) {
                    return sh.error(format!("delete({id}): {e}"));
                }
                sh.end_versions(id, None);
                version.remove(&id);
                c.deletes += 1;
            }
        }
        if step.is_multiple_of(256) {
            sh.prune();
            *counts.lock().unwrap() = c;
        }
    }
    *counts.lock().unwrap() = c;
}

/// The batch thread: `insert_batch` of 64..512 new ids on 2 threads, then deletes as many of
/// its oldest ids, one by one.
fn batcher(db: &LsmVecDb, sh: &Shared, counts: &Mutex<Counts>) {
    let mut rng = Rng::new(SEED + 2);
    let mut live: VecDeque<u64> = (BATCH_BASE..BATCH_BASE + BATCH_LIVE).collect();
    let mut next = BATCH_BASE + BATCH_LIVE;
    let mut c = Counts::default();
    while !sh.stop.load(SeqCst) {
        let n = 64 + rng.below(449);
        let ids: Vec<u64> = (next..next + n).collect();
        next += n;
        for &id in &ids {
            sh.begin_version(id, 0);
        }
        let vs: Vec<Vec<f32>> = ids.iter().map(|id| vec_of(*id, 0)).collect();
        if let Err(e) = db.insert_batch(&ids, &flatten(&vs), 2) {
            return sh.error(format!("insert_batch of {n} ids from {}: {e}", ids[0]));
        }
        live.extend(&ids);
        c.batches += 1;
        c.batch_vectors += n;
        for _ in 0..n {
            if sh.stop.load(SeqCst) {
                break;
            }
            let id = live.pop_front().unwrap();
            if let Err(e) = db.delete(id) {
                return sh.error(format!("delete({id}) after a batch: {e}"));
            }
            sh.end_versions(id, None);
            c.batch_deletes += 1;
        }
        *counts.lock().unwrap() = c;
    }
    *counts.lock().unwrap() = c;
}

fn searcher(t: usize, db: &LsmVecDb, sh: &Shared, counts: &Mutex<Counts>) {
    let mut rng = Rng::new(SEED + 100 + t as u64);
    let mut c = Counts::default();
    while !sh.stop.load(SeqCst) {
        let k = 1 + rng.index(20);
        let so = SearchOptions::new(k, k + 40);
        let q = uniform_vector(&mut rng, DIM);
        let s0 = sh.search_begins();
        let res = db.search_knn(&q, &so);
        let checked = match res {
            Err(e) => Err(format!("searcher {t}: search_knn: {e}")),
            Ok(res) => check(&res, k, &q, s0, sh, &mut c).map_err(|e| format!("searcher {t}: {e}")),
        };
        sh.search_ends(s0);
        if let Err(e) = checked {
            return sh.error(e);
        }
        c.searches += 1;
        if c.searches.is_multiple_of(64) {
            *counts.lock().unwrap() = c;
        }
    }
    *counts.lock().unwrap() = c;
}

fn check(
    res: &[lsm_vec::SearchResult],
    k: usize,
    q: &[f32],
    s0: u64,
    sh: &Shared,
    c: &mut Counts,
) -> Result<(), String> {
    check_result_shape(res, k)?;
    // At least WRITER_LIVE + BATCH_LIVE - 512 ids are live at any time.
    if res.len() != k {
        return Err(format!("k {k}, {} results: {res:?}", res.len()));
    }
    let m = sh.model.read().unwrap();
    for r in res {
        let Some(vs) = m.get(&r.id) else {
            return Err(format!(
                "search begun at sequence {s0} returned id {}, which is neither live nor recently deleted: {res:?}",
                r.id
            ));
        };
        let hit = vs
            .iter()
            .filter(|(_, end)| *end > s0)
            .find(|(ver, _)| distance_close(r.distance, distance(METRIC, &vec_of(r.id, *ver), q)));
        match hit {
            Some((_, end)) => c.recent_results += u64::from(*end != u64::MAX),
            None => {
                return Err(format!(
                    "search begun at sequence {s0} returned id {} at distance {}, which is the distance of none of its acceptable versions {vs:?}",
                    r.id, r.distance
                ))
            }
        }
    }
    c.results += res.len() as u64;
    Ok(())
}

fn soak(secs: u64, check_memory: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options());
    let sh = Shared::default();
    // Preload both owners' live sets with insert_batch.
    for ids in [(0..WRITER_LIVE).collect::<Vec<u64>>(), (BATCH_BASE..BATCH_BASE + BATCH_LIVE).collect()] {
        let vs: Vec<Vec<f32>> = ids.iter().map(|id| vec_of(*id, 0)).collect();
        ok(db.insert_batch(&ids, &flatten(&vs), 0), "preload");
        let mut m = sh.model.write().unwrap();
        for id in ids {
            m.insert(id, vec![(0, u64::MAX)]);
        }
    }
    let duration = Duration::from_secs(secs);
    let interval = Duration::from_millis((secs * 1000 / 150).clamp(500, 4000));
    let writer_counts = Mutex::new(Counts::default());
    let batch_counts = Mutex::new(Counts::default());
    let search_counts: Vec<Mutex<Counts>> = (0..SEARCHERS).map(|_| Mutex::new(Counts::default())).collect();
    let rss0 = rss_kb();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut writes_at_half = None;
    let total_writes = |w: &Counts, b: &Counts| w.inserts + w.updates + w.deletes + b.batch_vectors + b.batch_deletes;
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| writer(&db, &sh, &writer_counts));
        s.spawn(|| batcher(&db, &sh, &batch_counts));
        for (t, c) in search_counts.iter().enumerate() {
            let (db, sh) = (&db, &sh);
            s.spawn(move || searcher(t, db, sh, c));
        }
        while started.elapsed() < duration && !sh.stop.load(SeqCst) {
            std::thread::sleep(interval.min(duration.saturating_sub(started.elapsed())));
            let t = started.elapsed();
            samples.push((t, rss_kb()));
            if writes_at_half.is_none() && t >= duration / 2 {
                writes_at_half = Some(total_writes(&writer_counts.lock().unwrap(), &batch_counts.lock().unwrap()));
            }
            if secs >= 60 && samples.len().is_multiple_of(15) {
                let st = db.stats();
                eprintln!(
                    "soak: {:>5.0} s VmRSS {} KiB (anon {}, file {}), model {} ids, {}",
                    t.as_secs_f64(),
                    samples.last().unwrap().1,
                    status_kb("RssAnon"),
                    status_kb("RssFile"),
                    sh.model.read().unwrap().len(),
                    st.map(|st| format!(
                        "live {}, repair backlog {}, engine memory {} KiB, ghosts {}",
                        st.count,
                        st.repair_backlog,
                        st.memory_bytes / 1024,
                        st.ghost_nodes
                    ))
                    .unwrap_or_else(|e| e.to_string())
                );
            }
        }
        sh.stop.store(true, SeqCst);
    });
    let elapsed = started.elapsed();
    let w = *writer_counts.lock().unwrap();
    let b = *batch_counts.lock().unwrap();
    let mut srch = Counts::default();
    for c in &search_counts {
        let c = c.lock().unwrap();
        srch.searches += c.searches;
        srch.results += c.results;
        srch.recent_results += c.recent_results;
    }
    let errors = sh.errors.load(SeqCst);
    let live = ok(db.len(), "len");
    let st = ok(db.stats(), "stats");
    let at = |lo: f64, hi: f64| {
        let v: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t >= duration.mul_f64(lo) && *t <= duration.mul_f64(hi))
            .map(|(_, r)| *r)
            .collect();
        if v.is_empty() {
            samples.last().map(|x| x.1).unwrap_or(rss0)
        } else {
            median(v)
        }
    };
    let (rss_start, rss_mid, rss_end) = (at(0.0, 0.1), at(0.45, 0.55), at(0.9, 1.0));
    let rss_max = samples.iter().map(|x| x.1).max().unwrap_or(rss0);
    let second_half_writes = total_writes(&w, &b) - writes_at_half.unwrap_or(0);
    eprintln!(
        "soak: {:.1?}: single inserts {}, updates {}, deletes {}; insert_batch {} calls = {} vectors, {} deletes by the batch thread; {} searches ({} results, {} of them recently deleted or superseded); {errors} errors; live {live} (at start {}), repair backlog {}, ghost nodes {}",
        elapsed, w.inserts, w.updates, w.deletes, b.batches, b.batch_vectors, b.batch_deletes, srch.searches, srch.results, srch.recent_results, WRITER_LIVE + BATCH_LIVE, st.repair_backlog, st.ghost_nodes
    );
    eprintln!(
        "soak: VmRSS KiB: before the threads {rss0}, start (median of the first tenth) {rss_start}, middle (median of 45-55%) {rss_mid}, end (median of the last tenth) {rss_end}, max {rss_max}; {} samples every {:.1?}; {second_half_writes} writes in the second half (a bound of {} KiB detects a leak of {} bytes per write)",
        samples.len(),
        interval,
        RSS_GROWTH_BOUND_KB,
        (RSS_GROWTH_BOUND_KB * 1024).checked_div(second_half_writes).unwrap_or(0)
    );
    assert_eq!(errors, 0, "errors during the soak; first: {:?}", sh.first_error.lock().unwrap());
    let inserted = w.inserts + b.batch_vectors;
    let deleted = w.deletes + b.batch_deletes;
    assert_eq!(live as u64 + deleted, WRITER_LIVE + BATCH_LIVE + inserted, "len() does not match the writes");
    assert!(
        w.inserts > 0 && w.updates > 0 && w.deletes > 0 && b.batches > 0 && srch.searches > 0,
        "some kind of operation never ran: {w:?} {b:?} {srch:?}"
    );
    if check_memory {
        assert!(
            rss_end <= rss_mid + RSS_GROWTH_BOUND_KB,
            "RSS grew by {} KiB over the second half (middle {rss_mid} KiB, end {rss_end} KiB), more than {RSS_GROWTH_BOUND_KB} KiB",
            rss_end.saturating_sub(rss_mid)
        );
    }
    ok(db.close(), "close");
}

/// 5 seconds in the normal test run: the same checks, no memory assertion.
#[test]
fn soak_short() {
    soak(5, false);
}

/// The soak: `LSM_VEC_SOAK_SECS` seconds (default 600), with the memory assertion. The
/// 10-minute run failed it at 906ce15 (+19.9 MiB over the second half: deleted nodes piled up
/// as ghosts, see `ghost_nodes_level_off_under_constant_churn`) and passes at c4345a9 (+1.6 MiB);
/// figures in docs/durability.md.
#[test]
#[ignore = "long: 10 minutes by default (LSM_VEC_SOAK_SECS)"]
fn soak_long() {
    let secs = std::env::var("LSM_VEC_SOAK_SECS")
        .ok()
        .map(|s| s.parse().expect("LSM_VEC_SOAK_SECS is a number of seconds"))
        .unwrap_or(600);
    soak(secs, true);
}

/// Found by `soak_long` (issue 10): with a constant live set, `stats().ghost_nodes` (deleted
/// nodes kept for routing until nothing links to them) grew without bound (19,803 ghosts after
/// 20 rounds), and RSS with it. One thread, no searches: 2000 live vectors, then rounds of
/// 1000 inserts + 1000 deletes of the oldest ids, `finish_repairs()` after each round. Fixed by
/// the ghost sweep of the connectivity check (`db/write.rs`): their number now levels off.
#[test]
fn ghost_nodes_level_off_under_constant_churn() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = test_options(16, METRIC, VectorStorageType::Paged);
    o.random_seed = 1;
    let db = open(dir.path(), o);
    let live0 = 2000u64;
    let ids: Vec<u64> = (0..live0).collect();
    let vs: Vec<Vec<f32>> = ids.iter().map(|id| vector_for(SEED, *id, 0, 16)).collect();
    ok(db.insert_batch(&ids, &flatten(&vs), 1), "preload");
    let mut live: VecDeque<u64> = ids.into_iter().collect();
    let mut next = live0;
    let mut ghosts = Vec::new();
    for round in 0..20 {
        for _ in 0..1000 {
            ok(db.insert(next, &vector_for(SEED, next, 0, 16)), "insert");
            live.push_back(next);
            next += 1;
            ok(db.delete(live.pop_front().unwrap()), "delete");
        }
        ok(db.finish_repairs(), "finish_repairs");
        let st = ok(db.stats(), "stats");
        eprintln!(
            "round {round}: live {}, ghosts {}, repair backlog {}, engine memory {} KiB, LSM on disk {} KiB, VmRSS {} KiB",
            st.count,
            st.ghost_nodes,
            st.repair_backlog,
            st.memory_bytes / 1024,
            st.lsm_disk_bytes / 1024,
            rss_kb()
        );
        ghosts.push(st.ghost_nodes);
    }
    let (mid, end) = (ghosts[9], ghosts[19]);
    assert!(end <= mid + mid / 2 + 100, "ghost nodes keep growing under constant churn: {ghosts:?}");
}
