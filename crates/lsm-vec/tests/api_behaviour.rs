//! Every public call of `LsmVecDb` and every error case the specification and DESIGN.md (sections
//! 5 and 6) name: results of valid calls, the kind of each error, and that a failed call leaves
//! the database exactly as it was.

mod common;

use std::path::Path;

use common::*;
use lsm_vec::{DbOptions, DistanceMetric, Error, ErrorKind, LsmVecDb, SearchOptions, SearchResult, VectorStorageType};

const DIM: usize = 4;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A small database of `n` seeded vectors with ids `10, 20, 30, ...`, returned with its model.
fn small_db(path: &Path, metric: DistanceMetric, storage: VectorStorageType, n: u64) -> (LsmVecDb, Model) {
    let db = open(path, test_options(DIM, metric, storage));
    let mut model = Model::new();
    let mut rng = Rng::new(7);
    for i in 1..=n {
        let mut v = uniform_vector(&mut rng, DIM);
        v[0] += 1.5; // never a zero vector
        ok(db.insert(i * 10, &v), "insert");
        model.insert(i * 10, v);
    }
    (db, model)
}

/// Everything observable about a database: len, every model id's vector, and search results
/// of a few fixed queries.
#[derive(Debug, PartialEq)]
struct Snapshot {
    len: usize,
    vectors: Vec<(u64, Option<Vec<f32>>)>,
    searches: Vec<Vec<(u64, f32)>>,
}

fn snapshot(db: &LsmVecDb, ids: &[u64]) -> Snapshot {
    let mut rng = Rng::new(99);
    let searches = (0..4)
        .map(|_| {
            let mut q = uniform_vector(&mut rng, DIM);
            q[1] += 0.5;
            ok(db.search_knn(&q, &SearchOptions::new(5, 32)), "snapshot search")
                .into_iter()
                .map(|r| (r.id, r.distance))
                .collect()
        })
        .collect();
    let vectors = ids.iter().map(|&id| (id, db.get(id).ok())).collect();
    Snapshot { len: ok(db.len(), "len"), vectors, searches }
}

/// Runs `f` (a call that must fail with `kind`) and checks that the database did not change.
#[track_caller]
fn fails_without_change<T: std::fmt::Debug>(
    db: &LsmVecDb,
    ids: &[u64],
    what: &str,
    kind: ErrorKind,
    f: impl FnOnce(&LsmVecDb) -> lsm_vec::Result<T>,
) -> Error {
    let before = snapshot(db, ids);
    let e = expect_kind(f(db), kind, what);
    let after = snapshot(db, ids);
    assert_eq!(before, after, "{what}: the database changed although the call failed with {e}");
    e
}

fn probe_ids(model: &Model) -> Vec<u64> {
    let mut ids: Vec<u64> = model.keys().copied().collect();
    ids.extend([0, 1, 999, u64::MAX]);
    ids.sort_unstable();
    ids
}

// ---------------------------------------------------------------------------------------------
// Basic calls
// ---------------------------------------------------------------------------------------------

#[test]
fn open_creates_missing_directory() {
    let t = tmp();
    let path = t.path().join("a").join("b").join("db");
    assert!(!path.exists());
    let db = open(&path, test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged));
    assert!(path.is_dir(), "open did not create {}", path.display());
    assert_eq!(db.path(), path.as_path());
    assert_eq!(ok(db.len(), "len"), 0);
    assert!(ok(db.is_empty(), "is_empty"));
    assert!(!db.is_closed());
    ok(db.close(), "close");
    assert!(db.is_closed());
}

#[test]
fn insert_get_contains_len_in_both_layouts() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, model) = small_db(t.path(), DistanceMetric::L2, storage, 50);
        assert_eq!(ok(db.len(), "len"), 50, "{storage:?}");
        assert!(!ok(db.is_empty(), "is_empty"));
        for (id, v) in &model {
            assert_eq!(&ok(db.get(*id), "get"), v, "{storage:?}: get({id}) is not the inserted vector");
            assert!(ok(db.contains(*id), "contains"), "{storage:?}: contains({id})");
        }
        for id in [0, 5, 11, 501, u64::MAX] {
            assert!(!ok(db.contains(id), "contains"), "{storage:?}: contains({id}) of an id never inserted");
        }
        let o = ok(db.options(), "options");
        assert_eq!((o.dim, o.metric, o.vector_storage_type), (DIM, DistanceMetric::L2, storage));
        ok(db.close(), "close");
    }
}

#[test]
fn update_replaces_vector_and_search_finds_new_one() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, model) = small_db(t.path(), DistanceMetric::L2, storage, 40);
        let new_v = vec![50.0, -50.0, 25.0, 0.5];
        ok(db.update(200, &new_v), "update");
        assert_eq!(ok(db.get(200), "get"), new_v, "{storage:?}: get after update");
        assert_eq!(ok(db.len(), "len"), 40, "{storage:?}: update changed len");
        let hits = ok(db.search_knn(&new_v, &SearchOptions::new(1, 32)), "search");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].id, 200, "{storage:?}: search for the updated vector: {hits:?}");
        assert!(hits[0].distance.abs() < 1e-4, "{storage:?}: distance to itself {hits:?}");
        // The old vector of 200 is gone: searching for it must not report 200 at distance 0.
        let old = &model[&200];
        let hits = ok(db.search_knn(old, &SearchOptions::new(3, 32)), "search");
        for h in &hits {
            let v = if h.id == 200 { &new_v } else { &model[&h.id] };
            assert!(
                distance_close(h.distance, distance(DistanceMetric::L2, v, old)),
                "{storage:?}: stale distance for {h:?} after update"
            );
        }
        // Other ids untouched.
        for (id, v) in model.iter().filter(|(id, _)| **id != 200) {
            assert_eq!(&ok(db.get(*id), "get"), v);
        }
    }
}

#[test]
fn delete_removes_from_get_contains_len_and_search() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, model) = small_db(t.path(), DistanceMetric::L2, storage, 30);
        ok(db.delete(100), "delete");
        assert!(!ok(db.contains(100), "contains"));
        assert!(matches!(db.get(100), Err(Error::NotFound(100))), "{storage:?}: get after delete");
        assert_eq!(ok(db.len(), "len"), 29);
        let hits = ok(db.search_knn(&model[&100], &SearchOptions::new(30, 64)), "search");
        assert_eq!(hits.len(), 29, "{storage:?}: k > live count must return every live vector");
        assert!(hits.iter().all(|h| h.id != 100), "{storage:?}: deleted id returned: {hits:?}");
        // Deleting again, updating a deleted id: NotFound.
        assert!(matches!(db.delete(100), Err(Error::NotFound(100))));
        assert!(matches!(db.update(100, &model[&100]), Err(Error::NotFound(100))));
        // Re-inserting a deleted id is allowed (it is not live) and stores the new vector.
        let v = vec![9.0, 9.0, 9.0, 9.0];
        ok(db.insert(100, &v), "re-insert of a deleted id");
        assert_eq!(ok(db.get(100), "get"), v);
        assert_eq!(ok(db.len(), "len"), 30);
        let hits = ok(db.search_knn(&v, &SearchOptions::new(1, 16)), "search");
        assert_eq!(hits[0].id, 100, "{storage:?}: {hits:?}");
    }
}

#[test]
fn search_returns_sorted_results_with_exact_distances_for_every_metric() {
    for metric in ALL_METRICS {
        for storage in ALL_STORAGES {
            let t = tmp();
            let (db, model) = small_db(t.path(), metric, storage, 60);
            let mut rng = Rng::new(3);
            for _ in 0..10 {
                let mut q = uniform_vector(&mut rng, DIM);
                q[2] += 0.3;
                // k = number of vectors: the whole set, so it must be exact.
                let hits = ok(db.search_knn(&q, &SearchOptions::new(60, 100)), "search");
                assert_eq!(hits.len(), 60, "{metric:?}/{storage:?}");
                check_result_shape(&hits, 60).unwrap_or_else(|e| panic!("{metric:?}/{storage:?}: {e}"));
                for h in &hits {
                    let exact = distance(metric, &model[&h.id], &q);
                    assert!(
                        distance_close(h.distance, exact),
                        "{metric:?}/{storage:?}: id {} reported distance {} but the exact one is {exact}",
                        h.id,
                        h.distance
                    );
                }
                let truth = brute_force_knn(metric, model.iter().map(|(i, v)| (*i, v.as_slice())), &q, 5);
                let top5 = ok(db.search_knn(&q, &SearchOptions::new(5, 64)), "search");
                let r = recall_at_k(&top5, &truth, |id| distance(metric, &model[&id], &q));
                assert_eq!(r, 1.0, "{metric:?}/{storage:?}: top-5 of 60 vectors with ef 64 {top5:?} vs {truth:?}");
            }
        }
    }
}

#[test]
fn distances_follow_the_documented_definitions() {
    // L2: Euclidean, not squared.
    let t = tmp();
    let db = open(t.path(), test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged));
    ok(db.insert(1, &[3.0, 4.0, 0.0, 0.0]), "insert");
    let h = ok(db.search_knn(&[0.0, 0.0, 0.0, 0.0], &SearchOptions::new(1, 8)), "search");
    assert_eq!(h.len(), 1);
    assert!((h[0].distance - 5.0).abs() < 1e-5, "L2 distance of (3,4) from the origin: {h:?} (expected 5)");
    drop(db);

    // Cosine: 1 - cos.
    let t = tmp();
    let db = open(t.path(), test_options(DIM, DistanceMetric::Cosine, VectorStorageType::Paged));
    ok(db.insert(1, &[2.0, 0.0, 0.0, 0.0]), "insert");
    let h = ok(db.search_knn(&[1.0, 1.0, 0.0, 0.0], &SearchOptions::new(1, 8)), "search");
    let expected = 1.0 - std::f32::consts::FRAC_1_SQRT_2;
    assert!((h[0].distance - expected).abs() < 1e-5, "cosine distance {h:?} (expected {expected})");
    // The stored vector is the caller's, not a normalised copy.
    assert_eq!(ok(db.get(1), "get"), vec![2.0, 0.0, 0.0, 0.0]);
    drop(db);

    // InnerProduct: -dot.
    let t = tmp();
    let db = open(t.path(), test_options(DIM, DistanceMetric::InnerProduct, VectorStorageType::Paged));
    ok(db.insert(1, &[1.0, 2.0, 3.0, 4.0]), "insert");
    ok(db.insert(2, &[-1.0, 0.0, 0.0, 0.0]), "insert");
    let h = ok(db.search_knn(&[1.0, 1.0, 1.0, 1.0], &SearchOptions::new(2, 8)), "search");
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].id, 1, "{h:?}");
    assert!((h[0].distance + 10.0).abs() < 1e-5, "inner product distance {h:?} (expected -10)");
    assert!((h[1].distance - 1.0).abs() < 1e-5, "inner product distance {h:?} (expected 1)");
}

#[test]
fn empty_database_search_returns_empty() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let db = open(t.path(), test_options(DIM, DistanceMetric::L2, storage));
        let q = [0.1, 0.2, 0.3, 0.4];
        assert!(ok(db.search_knn(&q, &SearchOptions::new(10, 64)), "search").is_empty());
        assert!(ok(db.search_knn_default(&q), "search_knn_default").is_empty());
        let b = ok(db.search_knn_batch(&flatten(&[q.to_vec(), q.to_vec()]), &SearchOptions::new(3, 8), 2), "batch");
        assert_eq!(b, vec![Vec::<SearchResult>::new(), Vec::new()]);
        // Also after everything was deleted (the entry point is gone).
        ok(db.insert(1, &q), "insert");
        ok(db.insert(2, &[1.0, 1.0, 1.0, 1.0]), "insert");
        ok(db.delete(1), "delete");
        ok(db.delete(2), "delete");
        assert_eq!(ok(db.len(), "len"), 0);
        assert!(ok(db.is_empty(), "is_empty"));
        let r = ok(db.search_knn(&q, &SearchOptions::new(10, 64)), "search after deleting everything");
        assert!(r.is_empty(), "{storage:?}: {r:?}");
        // And the database is usable again.
        ok(db.insert(3, &q), "insert after emptying");
        let r = ok(db.search_knn(&q, &SearchOptions::new(10, 64)), "search");
        assert_eq!(r.iter().map(|h| h.id).collect::<Vec<_>>(), vec![3]);
    }
}

#[test]
fn k_larger_than_count_returns_all_live_sorted() {
    for metric in ALL_METRICS {
        let t = tmp();
        let (db, mut model) = small_db(t.path(), metric, VectorStorageType::Paged, 12);
        ok(db.delete(50), "delete");
        model.remove(&50);
        let q = [0.5, -0.5, 0.25, 1.0];
        let hits = ok(db.search_knn(&q, &SearchOptions::new(100, 200)), "search");
        check_result_shape(&hits, 100).unwrap_or_else(|e| panic!("{metric:?}: {e}"));
        let mut got: Vec<u64> = hits.iter().map(|h| h.id).collect();
        got.sort_unstable();
        let mut want: Vec<u64> = model.keys().copied().collect();
        want.sort_unstable();
        assert_eq!(got, want, "{metric:?}: k > count must return every live id");
        let truth = brute_force_knn(metric, model.iter().map(|(i, v)| (*i, v.as_slice())), &q, 100);
        for (h, (_, d)) in hits.iter().zip(&truth) {
            assert!(distance_close(h.distance, *d), "{metric:?}: sorted distances differ: {hits:?} vs {truth:?}");
        }
    }
}

#[test]
fn extreme_ids_zero_and_max_work() {
    let t = tmp();
    let opts = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    let db = open(t.path(), opts.clone());
    let a = vec![1.0, 0.0, 0.0, 0.0];
    let b = vec![0.0, 1.0, 0.0, 0.0];
    ok(db.insert(0, &a), "insert id 0");
    ok(db.insert(u64::MAX, &b), "insert id u64::MAX");
    ok(db.insert(u64::MAX - 1, &[0.0, 0.0, 1.0, 0.0]), "insert id u64::MAX - 1");
    assert_eq!(ok(db.get(0), "get"), a);
    assert_eq!(ok(db.get(u64::MAX), "get"), b);
    assert_eq!(ok(db.search_knn(&a, &SearchOptions::new(1, 8)), "search")[0].id, 0);
    assert_eq!(ok(db.search_knn(&b, &SearchOptions::new(1, 8)), "search")[0].id, u64::MAX);
    ok(db.close(), "close");
    let mut reopen = opts;
    reopen.reinit = false;
    let db = open(t.path(), reopen);
    assert_eq!(ok(db.get(0), "get after reopen"), a);
    assert_eq!(ok(db.get(u64::MAX), "get after reopen"), b);
    ok(db.update(u64::MAX, &a), "update u64::MAX");
    ok(db.delete(0), "delete 0");
    assert!(!ok(db.contains(0), "contains"));
    assert!(matches!(db.get(0), Err(Error::NotFound(0))));
    assert_eq!(ok(db.get(u64::MAX), "get"), a);
    assert_eq!(ok(db.len(), "len"), 2);
}

#[test]
fn insert_batch_inserts_everything() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let db = open(t.path(), test_options(DIM, DistanceMetric::L2, storage));
        let mut rng = Rng::new(11);
        let vs = uniform_vectors(&mut rng, 100, DIM);
        let ids: Vec<u64> = (0..100u64).map(|i| i * 7919 + 3).collect();
        ok(db.insert_batch(&ids, &flatten(&vs), 0), "insert_batch");
        assert_eq!(ok(db.len(), "len"), 100);
        for (id, v) in ids.iter().zip(&vs) {
            assert_eq!(&ok(db.get(*id), "get"), v, "{storage:?}: get({id}) after insert_batch");
        }
        for (id, v) in ids.iter().zip(&vs).step_by(9) {
            let h = ok(db.search_knn(v, &SearchOptions::new(1, 32)), "search");
            assert_eq!(h[0].id, *id, "{storage:?}: nearest of a stored vector must be itself: {h:?}");
        }
        ok(db.insert_batch(&[], &[], 0), "empty insert_batch");
        assert_eq!(ok(db.len(), "len"), 100);
    }
}

#[test]
fn search_knn_batch_matches_single_searches() {
    let t = tmp();
    let (db, _model) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 200);
    let mut rng = Rng::new(5);
    let queries = uniform_vectors(&mut rng, 17, DIM);
    let so = SearchOptions::new(7, 40);
    let single: Vec<Vec<SearchResult>> = queries.iter().map(|q| ok(db.search_knn(q, &so), "search")).collect();
    for threads in [0, 1, 3] {
        let batch = ok(db.search_knn_batch(&flatten(&queries), &so, threads), "search_knn_batch");
        assert_eq!(batch.len(), queries.len(), "threads {threads}: one result list per query");
        for (i, (b, s)) in batch.iter().zip(&single).enumerate() {
            let bi: Vec<u64> = b.iter().map(|h| h.id).collect();
            let si: Vec<u64> = s.iter().map(|h| h.id).collect();
            assert_eq!(bi, si, "threads {threads}: query {i}: batch {b:?} vs single {s:?}");
        }
    }
    assert!(ok(db.search_knn_batch(&[], &so, 2), "empty batch").is_empty());
    let e = expect_kind(db.search_knn_batch(&[0.0; DIM * 2 + 1], &so, 1), ErrorKind::InvalidArgument, "ragged batch");
    drop(e);
}

#[test]
fn search_knn_default_uses_k_and_ef_search_of_the_options() {
    let t = tmp();
    let mut opts = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    let db = open(t.path(), opts.clone());
    let mut rng = Rng::new(8);
    for id in 0..30 {
        ok(db.insert(id, &uniform_vector(&mut rng, DIM)), "insert");
    }
    // Defaults: k = 1.
    assert_eq!(ok(db.search_knn_default(&[0.0; DIM]), "search_knn_default").len(), 1);
    ok(db.close(), "close");
    // Tuning knobs may change on reopen.
    opts.reinit = false;
    opts.k = 5;
    opts.ef_search = 20;
    let db = open(t.path(), opts);
    let q = [0.1, 0.2, -0.3, 0.0];
    let d = ok(db.search_knn_default(&q), "search_knn_default");
    let e = ok(db.search_knn(&q, &SearchOptions::new(5, 20)), "search");
    assert_eq!(d.len(), 5, "search_knn_default with k = 5: {d:?}");
    assert_eq!(d, e, "search_knn_default must equal search_knn with the options' k and ef_search");
}

#[test]
fn stats_flush_and_print_statistics() {
    let t = tmp();
    let mut opts = test_options(DIM, DistanceMetric::Cosine, VectorStorageType::Basic);
    opts.enable_stats = true;
    opts.m = 6;
    opts.m_max = 12;
    let db = open(t.path(), opts);
    let mut rng = Rng::new(1);
    for id in 0..40 {
        let mut v = uniform_vector(&mut rng, DIM);
        v[0] += 2.0;
        ok(db.insert(id, &v), "insert");
    }
    ok(db.update(3, &[1.0, 1.0, 1.0, 1.0]), "update");
    ok(db.delete(4), "delete");
    for _ in 0..5 {
        ok(db.search_knn(&[1.0, 0.5, 0.0, 0.0], &SearchOptions::new(3, 16)), "search");
    }
    ok(db.flush(), "flush");
    let s = ok(db.stats(), "stats");
    assert_eq!(s.count, 39, "{s:?}");
    assert_eq!(
        (s.dim, s.metric, s.vector_storage_type, s.m, s.m_max),
        (DIM, DistanceMetric::Cosine, VectorStorageType::Basic, 6, 12),
        "{s:?}"
    );
    assert_eq!((s.inserts, s.updates, s.deletes, s.searches), (40, 1, 1, 5), "{s:?}");
    assert!(s.distance_computations > 0, "{s:?}");
    assert!(s.vector_file_bytes >= 39 * DIM as u64 * 4, "vector file smaller than its vectors: {s:?}");
    assert_eq!(s.search_latency.count, 5, "enable_stats records search latency: {s:?}");
    assert_eq!(s.insert_latency.count, 40, "{s:?}");
    let text = s.to_string();
    assert!(text.contains("39"), "Display of stats does not show the count: {text}");
    db.print_statistics();
}

// ---------------------------------------------------------------------------------------------
// Errors of calls, and that nothing changes
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_dimension_is_dimension_mismatch_and_changes_nothing() {
    let t = tmp();
    let (db, model) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 20);
    let ids = probe_ids(&model);
    for bad in [vec![1.0; DIM - 1], vec![1.0; DIM + 1], vec![]] {
        let n = bad.len();
        let check = |e: Error| {
            assert!(
                matches!(e, Error::DimensionMismatch { expected: DIM, got } if got == n),
                "expected DimensionMismatch {{ expected: {DIM}, got: {n} }}, got {e:?}"
            )
        };
        check(fails_without_change(&db, &ids, "insert wrong dim", ErrorKind::InvalidArgument, |d| d.insert(5, &bad)));
        check(fails_without_change(&db, &ids, "update wrong dim", ErrorKind::InvalidArgument, |d| d.update(10, &bad)));
        check(fails_without_change(&db, &ids, "search wrong dim", ErrorKind::InvalidArgument, |d| {
            d.search_knn(&bad, &SearchOptions::new(3, 10))
        }));
        check(fails_without_change(&db, &ids, "search_knn_default wrong dim", ErrorKind::InvalidArgument, |d| {
            d.search_knn_default(&bad)
        }));
    }
    // insert_batch whose float count does not match ids * dim.
    fails_without_change(&db, &ids, "insert_batch ragged", ErrorKind::InvalidArgument, |d| {
        d.insert_batch(&[1, 2], &[1.0; DIM * 2 - 1], 0)
    });
    assert!(!ok(db.contains(5), "contains"));
}

#[test]
fn non_finite_components_are_rejected_and_change_nothing() {
    let t = tmp();
    let (db, model) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 20);
    let ids = probe_ids(&model);
    for bad_val in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let bad = vec![1.0, bad_val, 0.0, 0.0];
        let w = format!("{bad_val}");
        fails_without_change(&db, &ids, &format!("insert {w}"), ErrorKind::InvalidArgument, |d| d.insert(5, &bad));
        fails_without_change(&db, &ids, &format!("update {w}"), ErrorKind::InvalidArgument, |d| d.update(10, &bad));
        fails_without_change(&db, &ids, &format!("search {w}"), ErrorKind::InvalidArgument, |d| {
            d.search_knn(&bad, &SearchOptions::new(3, 10))
        });
        fails_without_change(&db, &ids, &format!("search_knn_batch {w}"), ErrorKind::InvalidArgument, |d| {
            d.search_knn_batch(&flatten(&[vec![0.0; DIM], bad.clone()]), &SearchOptions::new(3, 10), 1)
        });
        // A batch with one bad row writes nothing, not even the good rows before it.
        fails_without_change(&db, &ids, &format!("insert_batch {w}"), ErrorKind::InvalidArgument, |d| {
            d.insert_batch(&[1, 2, 3], &flatten(&[vec![0.5; DIM], vec![0.25; DIM], bad.clone()]), 0)
        });
        for id in [1, 2, 3, 5] {
            assert!(!ok(db.contains(id), "contains"), "{w}: id {id} was written by a failed call");
        }
    }
}

#[test]
fn zero_vector_is_rejected_under_cosine_only() {
    let t = tmp();
    let (db, model) = small_db(t.path(), DistanceMetric::Cosine, VectorStorageType::Paged, 20);
    let ids = probe_ids(&model);
    let zero = vec![0.0; DIM];
    fails_without_change(&db, &ids, "cosine insert zero", ErrorKind::InvalidArgument, |d| d.insert(5, &zero));
    fails_without_change(&db, &ids, "cosine update zero", ErrorKind::InvalidArgument, |d| d.update(10, &zero));
    fails_without_change(&db, &ids, "cosine search zero", ErrorKind::InvalidArgument, |d| {
        d.search_knn(&zero, &SearchOptions::new(3, 10))
    });
    fails_without_change(&db, &ids, "cosine insert_batch zero", ErrorKind::InvalidArgument, |d| {
        d.insert_batch(&[1, 2], &flatten(&[vec![1.0; DIM], zero.clone()]), 0)
    });
    assert!(!ok(db.contains(1), "contains"));
    // Under L2 and inner product the zero vector is an ordinary vector.
    for metric in [DistanceMetric::L2, DistanceMetric::InnerProduct] {
        let t = tmp();
        let db = open(t.path(), test_options(DIM, metric, VectorStorageType::Paged));
        ok(db.insert(1, &zero), "insert zero");
        assert_eq!(ok(db.get(1), "get"), zero);
        assert_eq!(ok(db.search_knn(&zero, &SearchOptions::new(1, 4)), "search zero").len(), 1, "{metric:?}");
    }
}

#[test]
fn duplicate_insert_is_already_exists_and_changes_nothing() {
    let t = tmp();
    let (db, model) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 20);
    let ids = probe_ids(&model);
    let e = fails_without_change(&db, &ids, "duplicate insert", ErrorKind::InvalidArgument, |d| {
        d.insert(30, &[7.0, 7.0, 7.0, 7.0])
    });
    assert!(matches!(e, Error::AlreadyExists(30)), "{e:?}");
    assert_eq!(ok(db.get(30), "get"), model[&30], "duplicate insert overwrote the vector");
    // In a batch: an id that is live, and an id repeated inside the batch.
    let e = fails_without_change(&db, &ids, "insert_batch with a live id", ErrorKind::InvalidArgument, |d| {
        d.insert_batch(&[1, 30], &[0.5; DIM * 2], 0)
    });
    assert!(matches!(e, Error::AlreadyExists(30)) || matches!(e, Error::InvalidArgument(_)), "{e:?}");
    fails_without_change(&db, &ids, "insert_batch with a repeated id", ErrorKind::InvalidArgument, |d| {
        d.insert_batch(&[2, 3, 2], &[0.5; DIM * 3], 0)
    });
    for id in [1, 2, 3] {
        assert!(!ok(db.contains(id), "contains"), "failed insert_batch wrote id {id}");
    }
}

#[test]
fn unknown_ids_are_not_found_and_change_nothing() {
    let t = tmp();
    let (db, model) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 20);
    let ids = probe_ids(&model);
    for id in [0, 15, 999, u64::MAX] {
        let e = fails_without_change(&db, &ids, "update unknown", ErrorKind::NotFound, |d| d.update(id, &[1.0; DIM]));
        assert!(matches!(e, Error::NotFound(x) if x == id), "{e:?}");
        let e = fails_without_change(&db, &ids, "delete unknown", ErrorKind::NotFound, |d| d.delete(id));
        assert!(matches!(e, Error::NotFound(x) if x == id), "{e:?}");
        let e = expect_kind(db.get(id), ErrorKind::NotFound, "get unknown");
        assert!(matches!(e, Error::NotFound(x) if x == id), "{e:?}");
    }
}

#[test]
fn bad_search_options_are_invalid_argument() {
    let t = tmp();
    let (db, model) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 20);
    let ids = probe_ids(&model);
    let q = [0.0; DIM];
    for (k, ef) in [(0, 10), (0, 0), (10, 9), (2, 1)] {
        let so = SearchOptions::new(k, ef);
        fails_without_change(&db, &ids, &format!("search k={k} ef={ef}"), ErrorKind::InvalidArgument, |d| {
            d.search_knn(&q, &so)
        });
        fails_without_change(&db, &ids, &format!("batch k={k} ef={ef}"), ErrorKind::InvalidArgument, |d| {
            d.search_knn_batch(&q, &so, 1)
        });
    }
    // ef_search == k is fine.
    assert_eq!(ok(db.search_knn(&q, &SearchOptions::new(4, 4)), "search ef == k").len(), 4);
}

#[test]
fn bad_options_are_rejected_before_touching_the_disk() {
    let t = tmp();
    type Spoil = Box<dyn Fn(&mut DbOptions)>;
    let cases: Vec<(&str, Spoil)> = vec![
        ("dim 0", Box::new(|o| o.dim = 0)),
        ("dim above MAX_DIM", Box::new(|o| o.dim = lsm_vec::MAX_DIM + 1)),
        ("m 0", Box::new(|o| o.m = 0)),
        ("m 1", Box::new(|o| o.m = 1)),
        (
            "m_max < m",
            Box::new(|o| {
                o.m = 10;
                o.m_max = 9;
            }),
        ),
        ("ef_construction NaN", Box::new(|o| o.ef_construction = f32::NAN)),
        ("ef_construction inf", Box::new(|o| o.ef_construction = f32::INFINITY)),
        ("ef_construction 0", Box::new(|o| o.ef_construction = 0.0)),
        ("paged_max_cached_pages 0", Box::new(|o| o.paged_max_cached_pages = 0)),
        ("db_target_size 0", Box::new(|o| o.db_target_size = 0)),
        ("default k 0", Box::new(|o| o.k = 0)),
        (
            "default ef_search < k",
            Box::new(|o| {
                o.k = 10;
                o.ef_search = 5;
            }),
        ),
    ];
    for (i, (what, f)) in cases.iter().enumerate() {
        let path = t.path().join(format!("db{i}"));
        let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
        f(&mut o);
        expect_kind(LsmVecDb::open(&path, o.clone()), ErrorKind::InvalidArgument, what);
        assert!(!path.exists(), "{what}: a rejected open created {}", path.display());
    }
    // The storage type and metric codes reject unknown values.
    expect_kind(VectorStorageType::from_code(2), ErrorKind::InvalidArgument, "storage type 2");
    expect_kind(VectorStorageType::from_code(-1), ErrorKind::InvalidArgument, "storage type -1");
    expect_kind(DistanceMetric::from_code(3), ErrorKind::InvalidArgument, "metric 3");
    assert_eq!(VectorStorageType::from_code(0).ok(), Some(VectorStorageType::Basic));
    assert_eq!(VectorStorageType::from_code(1).ok(), Some(VectorStorageType::Paged));
}

#[test]
fn defaults_follow_the_specification() {
    let o = DbOptions::default();
    assert_eq!(
        (o.dim, o.metric, o.m, o.m_max, o.ef_construction, o.vec_file_capacity, o.paged_max_cached_pages),
        (0, DistanceMetric::L2, 8, 16, 32.0, 100_000, 4096)
    );
    assert_eq!(
        (o.vector_storage_type, o.random_seed, o.enable_stats, o.enable_batch_read, o.reinit),
        (VectorStorageType::Paged, 12345, false, true, false)
    );
    assert_eq!((o.k, o.ef_search), (1, 64));
    assert_eq!(SearchOptions::default(), SearchOptions::new(1, 64));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn calls_after_close_return_closed() {
    let t = tmp();
    let (db, _) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 5);
    ok(db.close(), "close");
    assert!(db.is_closed());
    ok(db.close(), "second close");
    let v = [1.0; DIM];
    let so = SearchOptions::new(1, 8);
    let closed = |what: &str, e: Option<Error>| match e {
        Some(Error::Closed) => {}
        other => panic!("{what} after close: expected Err(Closed), got {other:?}"),
    };
    closed("insert", db.insert(100, &v).err());
    closed("insert_batch", db.insert_batch(&[101], &v, 0).err());
    closed("update", db.update(10, &v).err());
    closed("delete", db.delete(10).err());
    closed("get", db.get(10).err());
    closed("contains", db.contains(10).err());
    closed("len", db.len().err());
    closed("is_empty", db.is_empty().err());
    closed("search_knn", db.search_knn(&v, &so).err());
    closed("search_knn_default", db.search_knn_default(&v).err());
    closed("search_knn_batch", db.search_knn_batch(&v, &so, 1).err());
    closed("flush", db.flush().err());
    closed("stats", db.stats().err());
    closed("options", db.options().err());
    assert_eq!(Error::Closed.kind(), ErrorKind::Closed);
    db.print_statistics(); // must not panic
}

#[test]
fn reopen_after_close_and_after_drop_keeps_everything() {
    for storage in ALL_STORAGES {
        for use_close in [true, false] {
            let t = tmp();
            let (db, mut model) = small_db(t.path(), DistanceMetric::Cosine, storage, 100);
            ok(db.delete(500), "delete");
            model.remove(&500);
            let nv = vec![0.5, 0.5, -0.5, 3.0];
            ok(db.update(70, &nv), "update");
            model.insert(70, nv);
            if use_close {
                ok(db.close(), "close");
            }
            drop(db);
            let mut o = test_options(DIM, DistanceMetric::Cosine, storage);
            o.reinit = false;
            let db = open(t.path(), o);
            let how = if use_close { "close" } else { "drop" };
            assert_eq!(ok(db.len(), "len"), model.len(), "{storage:?} after {how}");
            for (id, v) in &model {
                assert_eq!(&ok(db.get(*id), "get after reopen"), v, "{storage:?} after {how}: id {id}");
            }
            assert!(!ok(db.contains(500), "contains"), "{storage:?} after {how}: deleted id came back");
            let q = [1.0, 0.2, 0.3, 0.4];
            let hits = ok(db.search_knn(&q, &SearchOptions::new(10, 64)), "search after reopen");
            let truth = brute_force_knn(DistanceMetric::Cosine, model.iter().map(|(i, v)| (*i, v.as_slice())), &q, 10);
            let r = recall_at_k(&hits, &truth, |id| distance(DistanceMetric::Cosine, &model[&id], &q));
            assert!(
                r >= 0.9,
                "{storage:?} after {how}: recall@10 {r} of 99 vectors after reopen: {hits:?} vs {truth:?}"
            );
            // Still writable.
            ok(db.insert(12345, &[1.0, 2.0, 3.0, 4.0]), "insert after reopen");
            assert!(matches!(db.insert(70, &[1.0; DIM]), Err(Error::AlreadyExists(70))));
        }
    }
}

#[test]
fn reinit_wipes_existing_data() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, _) = small_db(t.path(), DistanceMetric::L2, storage, 30);
        ok(db.close(), "close");
        let db = open(t.path(), test_options(DIM, DistanceMetric::L2, storage)); // reinit = true
        assert_eq!(ok(db.len(), "len"), 0, "{storage:?}: reinit kept data");
        assert!(matches!(db.get(10), Err(Error::NotFound(10))));
        assert!(ok(db.search_knn(&[0.0; DIM], &SearchOptions::new(5, 10)), "search").is_empty());
        ok(db.insert(10, &[1.0; DIM]), "insert after reinit");
        // reinit may also change the stored parameters (a new database).
        ok(db.close(), "close");
        let db = open(t.path(), test_options(DIM + 2, DistanceMetric::Cosine, storage));
        assert_eq!(ok(db.options(), "options").dim, DIM + 2);
        assert_eq!(ok(db.len(), "len"), 0);
    }
}

#[test]
fn reopen_with_different_dim_or_metric_names_both_values() {
    let t = tmp();
    let (db, _) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 10);
    ok(db.close(), "close");

    let mut o = test_options(7, DistanceMetric::L2, VectorStorageType::Paged);
    o.reinit = false;
    let e = expect_kind(LsmVecDb::open(t.path(), o), ErrorKind::InvalidArgument, "reopen with another dim");
    let msg = e.to_string();
    assert!(msg.contains('4') && msg.contains('7') && msg.contains("dim"), "message must name dim, 4 and 7: {msg}");

    let mut o = test_options(DIM, DistanceMetric::Cosine, VectorStorageType::Paged);
    o.reinit = false;
    let e = expect_kind(LsmVecDb::open(t.path(), o), ErrorKind::InvalidArgument, "reopen with another metric");
    let msg = e.to_string();
    assert!(msg.contains("L2") && msg.contains("Cosine"), "message must name L2 and Cosine: {msg}");

    // The structural parameters are the database's (DESIGN.md section 6): a reopen that
    // passes other values opens with the stored ones and reports them.
    let stored = {
        let db = ok(LsmVecDb::open_existing(t.path()), "open_existing");
        ok(db.options(), "options")
    };
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Basic);
    o.reinit = false;
    o.m = stored.m + 4;
    o.m_max = stored.m_max + 8;
    let db = open(t.path(), o);
    let eff = ok(db.options(), "options");
    assert_eq!(
        (eff.m, eff.m_max, eff.vector_storage_type),
        (stored.m, stored.m_max, VectorStorageType::Paged),
        "stored m / m_max / storage type win"
    );
    assert_eq!(ok(db.len(), "len"), 10);
    ok(db.close(), "close");

    // The failed opens left the database intact and unlocked.
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    o.reinit = false;
    o.paged_max_cached_pages = 3; // tuning knobs may change
    o.edge_cache_size = 0;
    o.enable_batch_read = false;
    let db = open(t.path(), o);
    assert_eq!(ok(db.len(), "len"), 10);
    assert_eq!(ok(db.search_knn(&[1.0; DIM], &SearchOptions::new(10, 10)), "search").len(), 10);
}

#[test]
fn second_open_of_the_same_directory_is_busy() {
    let t = tmp();
    let (db, _) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 10);
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    o.reinit = false;
    let e = expect_kind(LsmVecDb::open(t.path(), o.clone()), ErrorKind::Busy, "second open");
    assert!(matches!(e, Error::Locked(_)), "{e:?}");
    expect_kind(LsmVecDb::open_existing(t.path()), ErrorKind::Busy, "second open_existing");
    // reinit must not wipe a database that is open elsewhere.
    let mut wipe = o.clone();
    wipe.reinit = true;
    expect_kind(LsmVecDb::open(t.path(), wipe), ErrorKind::Busy, "second open with reinit");
    assert_eq!(ok(db.len(), "len of the first handle"), 10, "a rejected second open changed the first handle");
    assert_eq!(ok(db.get(10), "get").len(), DIM);
    ok(db.close(), "close");
    let db2 = open(t.path(), o);
    assert_eq!(ok(db2.len(), "len"), 10);
    drop(db2);
    // After a drop (no close) the lock is released too.
    let db3 = ok(LsmVecDb::open_existing(t.path()), "open_existing after drop");
    assert_eq!(ok(db3.len(), "len"), 10);
}

#[test]
fn open_existing_uses_the_stored_parameters() {
    let t = tmp();
    let mut o = test_options(5, DistanceMetric::InnerProduct, VectorStorageType::Basic);
    o.m = 6;
    o.m_max = 20;
    let db = open(t.path(), o);
    let v = vec![1.0, 2.0, 3.0, 4.0, 5.0];
    ok(db.insert(77, &v), "insert");
    ok(db.close(), "close");
    let db = ok(LsmVecDb::open_existing(t.path()), "open_existing");
    let s = ok(db.options(), "options");
    assert_eq!(
        (s.dim, s.metric, s.vector_storage_type, s.m, s.m_max),
        (5, DistanceMetric::InnerProduct, VectorStorageType::Basic, 6, 20),
        "open_existing must use the stored parameters: {s:?}"
    );
    assert_eq!(ok(db.get(77), "get"), v);
    let h = ok(db.search_knn(&[1.0; 5], &SearchOptions::new(1, 4)), "search");
    assert!((h[0].distance + 15.0).abs() < 1e-5, "{h:?}");
    ok(db.close(), "close");
    // No database there.
    let empty = t.path().join("nothing-here");
    expect_kind(LsmVecDb::open_existing(&empty), ErrorKind::InvalidArgument, "open_existing of a missing database");
    std::fs::create_dir_all(&empty).unwrap();
    expect_kind(LsmVecDb::open_existing(&empty), ErrorKind::InvalidArgument, "open_existing of an empty directory");
}

#[test]
fn custom_vector_file_path_is_stored() {
    let t = tmp();
    let db_dir = t.path().join("db");
    let vec_file = t.path().join("elsewhere").join("my-vectors.bin");
    std::fs::create_dir_all(vec_file.parent().unwrap()).unwrap();
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    o.vector_file_path = vec_file.clone();
    let db = open(&db_dir, o);
    ok(db.insert(1, &[1.0, 2.0, 3.0, 4.0]), "insert");
    ok(db.close(), "close");
    assert!(vec_file.is_file(), "vector file not created at {}", vec_file.display());
    let db = ok(LsmVecDb::open_existing(&db_dir), "open_existing");
    assert_eq!(ok(db.get(1), "get"), vec![1.0, 2.0, 3.0, 4.0]);
}

// ---------------------------------------------------------------------------------------------
// Damaged and foreign files
// ---------------------------------------------------------------------------------------------

fn default_vector_file(dir: &Path) -> std::path::PathBuf {
    dir.join("vectors.bin")
}

#[test]
fn garbage_vector_file_header_is_corruption() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, _) = small_db(t.path(), DistanceMetric::L2, storage, 20);
        ok(db.close(), "close");
        let f = default_vector_file(t.path());
        let mut bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        assert!(bytes.len() >= 64, "vector file too small: {} bytes", bytes.len());
        for (i, b) in bytes.iter_mut().take(32).enumerate() {
            *b = 0xA5 ^ (i as u8).wrapping_mul(37);
        }
        std::fs::write(&f, &bytes).unwrap();
        let mut o = test_options(DIM, DistanceMetric::L2, storage);
        o.reinit = false;
        let e = expect_kind(LsmVecDb::open(t.path(), o), ErrorKind::Corruption, "open with a garbage header");
        assert!(matches!(e, Error::Corruption { .. }), "{storage:?}: {e:?}");
        expect_kind(LsmVecDb::open_existing(t.path()), ErrorKind::Corruption, "open_existing with a garbage header");
        // reinit recovers from it.
        let db = open(t.path(), test_options(DIM, DistanceMetric::L2, storage));
        assert_eq!(ok(db.len(), "len"), 0);
    }
}

#[test]
fn text_file_as_vector_file_is_corruption() {
    // Replacing the vector file of an existing database.
    let t = tmp();
    let (db, _) = small_db(t.path(), DistanceMetric::L2, VectorStorageType::Paged, 20);
    ok(db.close(), "close");
    std::fs::write(default_vector_file(t.path()), b"hello, this is not a vector file\n").unwrap();
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    o.reinit = false;
    expect_kind(LsmVecDb::open(t.path(), o), ErrorKind::Corruption, "open with a text vector file");

    // A new database whose vector_file_path points at someone else's text file: refuse, keep the file.
    let t = tmp();
    let foreign = t.path().join("notes.txt");
    let text = b"shopping list: milk, eggs\n".repeat(300);
    std::fs::write(&foreign, &text).unwrap();
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Basic);
    o.reinit = false;
    o.vector_file_path = foreign.clone();
    expect_kind(LsmVecDb::open(t.path().join("db"), o), ErrorKind::Corruption, "new database over a foreign file");
    assert_eq!(std::fs::read(&foreign).unwrap(), text, "the foreign file was modified");
}

#[test]
fn truncated_vector_file_does_not_panic() {
    // Cutting the vector file short must give an error or a database that reports the missing
    // vectors as an error on get, never a panic or garbage floats.
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, model) = small_db(t.path(), DistanceMetric::L2, storage, 50);
        ok(db.close(), "close");
        let f = default_vector_file(t.path());
        let len = std::fs::metadata(&f).unwrap().len();
        let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        file.set_len(len / 3).unwrap();
        drop(file);
        let mut o = test_options(DIM, DistanceMetric::L2, storage);
        o.reinit = false;
        match LsmVecDb::open(t.path(), o) {
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError),
                "{storage:?}: truncated vector file: {e:?}"
            ),
            Ok(db) => {
                for (id, v) in &model {
                    match db.get(*id) {
                        Ok(got) => {
                            assert_eq!(&got, v, "{storage:?}: get({id}) returned wrong floats")
                        }
                        Err(e) => assert!(
                            matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError),
                            "{storage:?}: get({id}) on a truncated file: {e:?}"
                        ),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Large dimensions
// ---------------------------------------------------------------------------------------------

#[test]
fn dimensions_above_one_page_work_in_both_layouts() {
    for dim in [1024, 1536, 3000] {
        for storage in ALL_STORAGES {
            let t = tmp();
            let mut o = test_options(dim, DistanceMetric::L2, storage);
            o.paged_max_cached_pages = 8; // fewer pages than vectors: forces reads from the file
            let db = open(t.path(), o.clone());
            let mut rng = Rng::new(dim as u64);
            let vs = uniform_vectors(&mut rng, 40, dim);
            for (i, v) in vs.iter().enumerate() {
                ok(db.insert(i as u64 * 3, v), "insert large dim");
            }
            ok(db.delete(3), "delete");
            ok(db.insert(1000, &vs[1]), "insert into a freed slot");
            let check = |db: &LsmVecDb, when: &str| {
                for (i, v) in vs.iter().enumerate() {
                    let id = if i == 1 { 1000 } else { i as u64 * 3 };
                    let got = ok(db.get(id), "get large dim");
                    assert!(got == *v, "dim {dim} {storage:?} {when}: get({id}) is not the exact vector");
                    let h = ok(db.search_knn(v, &SearchOptions::new(1, 16)), "search large dim");
                    assert_eq!(h[0].id, id, "dim {dim} {storage:?} {when}: nearest of a stored vector {h:?}");
                    assert!(h[0].distance.abs() < 1e-3, "dim {dim} {storage:?} {when}: {h:?}");
                }
            };
            check(&db, "before reopen");
            ok(db.close(), "close");
            o.reinit = false;
            let db = open(t.path(), o);
            check(&db, "after reopen");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Options that change behaviour without changing results
// ---------------------------------------------------------------------------------------------

#[test]
fn vector_file_grows_past_the_capacity_hint_and_reuses_freed_slots() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let mut o = test_options(16, DistanceMetric::L2, storage);
        o.vec_file_capacity = 1; // a hint only: the file grows on demand
        let db = open(t.path(), o);
        let mut rng = Rng::new(21);
        let vs = uniform_vectors(&mut rng, 300, 16);
        for (i, v) in vs.iter().enumerate() {
            ok(db.insert(i as u64, v), "insert beyond vec_file_capacity");
        }
        let full = ok(db.stats(), "stats").vector_file_bytes;
        for id in 0..150u64 {
            ok(db.delete(id), "delete");
        }
        // A deleted vector's slot is freed by its repair, which runs when the writer is idle
        // (or once the backlog is large): do them now.
        ok(db.finish_repairs(), "finish_repairs");
        for id in 1000..1150u64 {
            ok(db.insert(id, &vs[(id - 1000) as usize]), "insert into freed slots");
        }
        let after = ok(db.stats(), "stats").vector_file_bytes;
        // Without reuse the file would grow by the 150 new vectors (9600 bytes). The paged layout
        // places a vector near its graph neighbours, so it may open a few new pages: allow growth
        // of up to half of that.
        let no_reuse_growth = 150 * 16 * 4;
        assert!(
            after <= full + no_reuse_growth / 2,
            "{storage:?}: freed slots not reused: vector file grew from {full} to {after} bytes after 150 deletes + 150 inserts"
        );
        for id in 1000..1150u64 {
            assert_eq!(ok(db.get(id), "get"), vs[(id - 1000) as usize], "{storage:?}: id {id} in a reused slot");
        }
        for id in 150..300u64 {
            assert_eq!(ok(db.get(id), "get"), vs[id as usize], "{storage:?}: id {id} next to reused slots");
        }
    }
}

#[test]
fn caches_respect_their_capacity() {
    let t = tmp();
    let mut o = test_options(64, DistanceMetric::L2, VectorStorageType::Paged);
    o.paged_max_cached_pages = 3;
    o.edge_cache_size = 10;
    let db = open(t.path(), o);
    let mut rng = Rng::new(5);
    let vs = uniform_vectors(&mut rng, 500, 64);
    ok(db.insert_batch(&(0..500).collect::<Vec<u64>>(), &flatten(&vs), 0), "insert_batch");
    for q in vs.iter().step_by(25) {
        let h = ok(db.search_knn(q, &SearchOptions::new(5, 32)), "search");
        assert_eq!(h.len(), 5);
    }
    let s = ok(db.stats(), "stats");
    assert!(s.page_cache_pages <= 3, "page cache holds {} pages, capacity 3: {s:?}", s.page_cache_pages);
    assert!(s.edge_cache_entries <= 10, "edge cache holds {} lists, capacity 10: {s:?}", s.edge_cache_entries);
    assert!(s.vector_pages_read > 0, "a 3-page cache over 500 vectors of 256 bytes must read pages: {s:?}");
}

#[test]
fn same_seed_and_operations_give_the_same_results() {
    let run = |path: &Path, batch_read: bool, sync: bool| {
        let mut o = test_options(12, DistanceMetric::L2, VectorStorageType::Paged);
        o.random_seed = 777;
        o.enable_batch_read = batch_read;
        o.sync_writes = sync;
        let db = open(path, o);
        let mut rng = Rng::new(31);
        for id in 0..400u64 {
            ok(db.insert(id, &uniform_vector(&mut rng, 12)), "insert");
        }
        for id in (0..400u64).step_by(5) {
            ok(db.delete(id), "delete");
        }
        let queries = uniform_vectors(&mut rng, 20, 12);
        let out: Vec<Vec<(u64, f32)>> = queries
            .iter()
            .map(|q| {
                ok(db.search_knn(q, &SearchOptions::new(10, 20)), "search").iter().map(|r| (r.id, r.distance)).collect()
            })
            .collect();
        out
    };
    let (a, b, c) = (tmp(), tmp(), tmp());
    let ra = run(a.path(), true, false);
    let rb = run(b.path(), true, false);
    assert_eq!(ra, rb, "same random_seed and same operations gave different search results");
    // enable_batch_read and sync_writes change how, not what.
    let rc = run(c.path(), false, true);
    assert_eq!(ra, rc, "enable_batch_read = false / sync_writes = true changed search results");
}

#[test]
fn log_file_records_lifecycle() {
    let t = tmp();
    let log = t.path().join("logs").join("lsm-vec.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    o.log_file_path = log.clone();
    let db = open(&t.path().join("db"), o);
    ok(db.insert(1, &[1.0; DIM]), "insert");
    let _ = db.insert(1, &[1.0; DIM]); // a failed write
    ok(db.close(), "close");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("log file {} not written: {e}", log.display()));
    assert!(!text.trim().is_empty(), "log file is empty");
}
