//! Churn: deletes repair the graph, so recall does not decay. Build 10 000 vectors, then 20
//! rounds of deleting 5% and inserting 5% new ones; recall@10 of the churned index on its live
//! set stays within 0.02 of a fresh build of the same live set, and a deleted id never appears in
//! any result.
//!
//! The data are overlapping Gaussian clusters and ef_search is 48, so a fresh build scores about
//! 0.98 rather than a saturated 1.0: graph damage shows up as lost recall instead of being
//! absorbed by an easy data set.
//!
//! The long variant (`#[ignore]`) takes its sizes from `LSMVEC_CHURN_N` and `LSMVEC_CHURN_ROUNDS`.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use lsm_vec::{DbOptions, DistanceMetric, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 32;
const K: usize = 10;
const EF: usize = 48;
const TOLERANCE: f64 = 0.02;

fn options(metric: DistanceMetric, storage: VectorStorageType) -> DbOptions {
    let mut o = test_options(DIM, metric, storage);
    o.m = 16;
    o.m_max = 16;
    o.ef_construction = 100.0;
    o
}

/// Mean recall@K of `db` over `queries` against the live set `live`; checks that no result is
/// outside the live set (in particular no deleted id). Searches that return fewer than K results
/// (they count as misses in the recall) are appended to `short`.
fn measure(
    db: &LsmVecDb,
    metric: DistanceMetric,
    live: &BTreeMap<u64, Vec<f32>>,
    deleted: &HashSet<u64>,
    queries: &[Vec<f32>],
    what: &str,
    short: &mut Vec<String>,
) -> f64 {
    let so = SearchOptions::new(K, EF);
    let results = ok(db.search_knn_batch(&flatten(queries), &so, 0), "search_knn_batch");
    let mut total = 0.0;
    for (qi, (q, found)) in queries.iter().zip(&results).enumerate() {
        check_result_shape(found, K).unwrap_or_else(|e| panic!("{what} query {qi}: {e}"));
        if found.len() != K.min(live.len()) {
            short.push(format!("{what} query {qi}: {} results: {found:?}", found.len()));
        }
        for r in found {
            assert!(!deleted.contains(&r.id), "{what} query {qi}: deleted id {} returned: {found:?}", r.id);
            let v = live.get(&r.id).unwrap_or_else(|| panic!("{what} query {qi}: id {} was never live", r.id));
            let exact = distance(metric, v, q);
            assert!(
                distance_close(r.distance, exact),
                "{what} query {qi}: id {} distance {} exact {exact}",
                r.id,
                r.distance
            );
        }
        let truth = brute_force_knn(metric, live.iter().map(|(i, v)| (*i, v.as_slice())), q, K);
        total += recall_at_k(found, &truth, |id| distance(metric, &live[&id], q));
    }
    total / queries.len() as f64
}

fn fresh_build_recall(
    metric: DistanceMetric,
    storage: VectorStorageType,
    live: &BTreeMap<u64, Vec<f32>>,
    queries: &[Vec<f32>],
) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(metric, storage));
    let ids: Vec<u64> = live.keys().copied().collect();
    let vs: Vec<Vec<f32>> = live.values().cloned().collect();
    ok(db.insert_batch(&ids, &flatten(&vs), 0), "fresh insert_batch");
    let mut short = Vec::new();
    let r = measure(&db, metric, live, &HashSet::new(), queries, "fresh build", &mut short);
    assert!(short.is_empty(), "a fresh build returned fewer than {K} results: {short:?}");
    r
}

fn churn(metric: DistanceMetric, storage: VectorStorageType, n: usize, rounds: usize, fraction: f64, seed: u64) {
    let mut rng = Rng::new(seed);
    let gen = ClusteredGen::new(&mut rng, DIM, 32, 0.8);
    let queries = gen.samples(&mut rng, 400);
    let dir = tempfile::tempdir().unwrap();
    let opts = options(metric, storage);
    let mut db = open(dir.path(), opts.clone());

    let mut live: BTreeMap<u64, Vec<f32>> = BTreeMap::new();
    let mut deleted: HashSet<u64> = HashSet::new();
    let mut next_id = 0u64;
    let initial = gen.samples(&mut rng, n);
    let ids: Vec<u64> = (0..n as u64).collect();
    // Where the time goes (printed with --nocapture): build, deletes, inserts, measuring.
    let mut times = [Duration::ZERO; 4];
    let t = Instant::now();
    ok(db.insert_batch(&ids, &flatten(&initial), 0), "initial insert_batch");
    times[0] += t.elapsed();
    for (id, v) in ids.iter().zip(initial) {
        live.insert(*id, v);
    }
    next_id += n as u64;
    let mut short = Vec::new();
    let r0 = measure(&db, metric, &live, &deleted, &queries, "initial build", &mut short);

    let per_round = ((n as f64) * fraction).round() as usize;
    let mut history = vec![r0];
    let mut pending: Vec<(f64, u64)> = Vec::new();
    for round in 1..=rounds {
        // Delete: random live ids, always including the smallest live id (the first inserted
        // ones are the likeliest entry points).
        let mut keys: Vec<u64> = live.keys().copied().collect();
        let mut victims = vec![keys[0]];
        keys.remove(0);
        while victims.len() < per_round {
            let i = rng.index(keys.len());
            victims.push(keys.swap_remove(i));
        }
        let t = Instant::now();
        for id in &victims {
            ok(db.delete(*id), "delete");
            live.remove(id);
            deleted.insert(*id);
        }
        times[1] += t.elapsed();
        let t = Instant::now();
        // Insert fresh ids (deleted ids are never reused, so any deleted id in a result is a bug),
        // in one batch (single inserts are covered by the model tests; this keeps the file fast).
        let new_ids: Vec<u64> = (next_id..next_id + per_round as u64).collect();
        let new_vs = gen.samples(&mut rng, per_round);
        ok(db.insert_batch(&new_ids, &flatten(&new_vs), 0), "insert_batch");
        for (id, v) in new_ids.into_iter().zip(new_vs) {
            live.insert(id, v);
        }
        next_id += per_round as u64;
        times[2] += t.elapsed();
        assert_eq!(ok(db.len(), "len"), live.len(), "round {round}");
        let what = format!("{metric:?}/{storage:?} churn round {round}");
        let t = Instant::now();
        // Deletes return before their repair: measured first with whatever the background
        // repairer has not done yet (the deleted nodes still route), then once it is done.
        let rp = measure(&db, metric, &live, &deleted, &queries, &format!("{what} (repairs pending)"), &mut short);
        let backlog = ok(db.stats(), "stats").repair_backlog;
        ok(db.finish_repairs(), "finish_repairs");
        assert_eq!(ok(db.stats(), "stats").repair_backlog, 0, "{what}: backlog after finish_repairs");
        let r = measure(&db, metric, &live, &deleted, &queries, &what, &mut short);
        times[3] += t.elapsed();
        pending.push((rp, backlog));
        history.push(r);
        if round == rounds / 2 {
            // Half way: reopen, so the rest of the churn runs on a recovered graph.
            ok(db.close(), "close");
            let mut o = opts.clone();
            o.reinit = false;
            db = open(dir.path(), o);
            let r2 = measure(&db, metric, &live, &deleted, &queries, &format!("{what} after reopen"), &mut short);
            assert!((r2 - r).abs() <= 0.005, "{what}: recall {r} before reopen, {r2} after");
        }
    }
    // One fresh build of the final live set is the reference for every round: the live sets of
    // all rounds come from the same distribution, so a healthy index stays within the tolerance
    // of it in every round, not only at the end.
    let t = Instant::now();
    let fresh = fresh_build_recall(metric, storage, &live, &queries);
    eprintln!(
        "{metric:?}/{storage:?} recall@{K} per round: {history:.3?}; fresh build of the final live set: {fresh:.3}"
    );
    eprintln!(
        "{metric:?}/{storage:?} time: build {:.1?}, deletes {:.1?}, inserts {:.1?}, measuring {:.1?}, fresh build + measure {:.1?}",
        times[0],
        times[1],
        times[2],
        times[3],
        t.elapsed()
    );
    eprintln!("{metric:?}/{storage:?} recall@{K} with repairs pending (recall, backlog) per round: {pending:.3?}");
    let bad: Vec<(usize, f64)> = history
        .iter()
        .copied()
        .chain(pending.iter().map(|&(r, _)| r))
        .enumerate()
        .filter(|(_, r)| *r < fresh - TOLERANCE)
        .collect();
    assert!(
        bad.is_empty(),
        "{metric:?}/{storage:?}: recall@{K} fell more than {TOLERANCE} below a fresh build ({fresh:.4}) in rounds \
         (round, recall) {bad:.4?}; rounds of {per_round} deletes + {per_round} inserts on {n} vectors; \
         history {history:.3?}; {} searches returned fewer than {K} results, first: {:?}",
        short.len(),
        short.first()
    );
    assert!(
        short.is_empty(),
        "{metric:?}/{storage:?}: {} searches over >= {} live vectors returned fewer than {K} results:\n{}",
        short.len(),
        live.len(),
        short.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    // Stored vectors are still exact.
    for (id, v) in live.iter().step_by(97) {
        assert_eq!(&ok(db.get(*id), "get"), v, "id {id} after churn");
    }
    for id in deleted.iter().take(200) {
        assert!(!ok(db.contains(*id), "contains"), "deleted id {id} is live again");
    }
}

#[test]
fn churn_l2_paged_keeps_recall() {
    churn(DistanceMetric::L2, VectorStorageType::Paged, 10_000, 20, 0.05, 1);
}

#[test]
fn churn_cosine_basic_keeps_recall() {
    churn(DistanceMetric::Cosine, VectorStorageType::Basic, 10_000, 20, 0.05, 2);
}

/// Deleting half of the vectors, whole clusters first, then the rest at random: the remaining
/// half is still found as well as by a fresh build.
#[test]
fn deleting_half_including_whole_regions_keeps_recall() {
    let metric = DistanceMetric::L2;
    let storage = VectorStorageType::Paged;
    let mut rng = Rng::new(9);
    let gen = ClusteredGen::new(&mut rng, DIM, 20, 0.8);
    let n = 6000;
    let data = gen.samples(&mut rng, n);
    let queries = gen.samples(&mut rng, 200);
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options(metric, storage));
    ok(db.insert_batch(&(0..n as u64).collect::<Vec<_>>(), &flatten(&data), 0), "insert_batch");
    let mut live: BTreeMap<u64, Vec<f32>> = data.into_iter().enumerate().map(|(i, v)| (i as u64, v)).collect();
    let mut deleted = HashSet::new();
    // A whole region: everything near the first query's nearest vector.
    let centre = live[&0].clone();
    let mut by_dist: Vec<(u64, f64)> = live.iter().map(|(i, v)| (*i, distance(metric, v, &centre))).collect();
    by_dist.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (id, _) in by_dist.iter().take(n / 4) {
        ok(db.delete(*id), "delete region");
        live.remove(id);
        deleted.insert(*id);
    }
    let mut keys: Vec<u64> = live.keys().copied().collect();
    while live.len() > n / 2 {
        let id = keys.swap_remove(rng.index(keys.len()));
        ok(db.delete(id), "delete random");
        live.remove(&id);
        deleted.insert(id);
    }
    let mut short = Vec::new();
    let churned = measure(&db, metric, &live, &deleted, &queries, "after deleting half", &mut short);
    let fresh = fresh_build_recall(metric, storage, &live, &queries);
    eprintln!("deleting half: churned {churned:.4} fresh {fresh:.4}, {} short searches", short.len());
    assert!(
        churned >= fresh - TOLERANCE,
        "after deleting half: recall {churned:.4} vs fresh build {fresh:.4}; {} searches returned fewer than {K} results, first: {:?}",
        short.len(),
        short.first()
    );
    assert!(short.is_empty(), "after deleting half: short searches {short:?}");
    // Queries aimed at the deleted region still return k live results.
    let res = ok(db.search_knn(&centre, &SearchOptions::new(K, EF)), "search in deleted region");
    assert_eq!(res.len(), K, "{res:?}");
    assert!(res.iter().all(|r| live.contains_key(&r.id)), "{res:?}");
}

#[test]
#[ignore = "long churn; sizes from LSMVEC_CHURN_N and LSMVEC_CHURN_ROUNDS"]
fn churn_long() {
    let n = std::env::var("LSMVEC_CHURN_N").ok().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let rounds = std::env::var("LSMVEC_CHURN_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    for metric in ALL_METRICS {
        churn(metric, VectorStorageType::Paged, n, rounds, 0.05, 1000 + metric.code() as u64);
    }
}
