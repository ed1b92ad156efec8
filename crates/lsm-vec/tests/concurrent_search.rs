//! Concurrency: 4 threads search (and read) while one thread inserts, updates and deletes, all on
//! one `Arc<LsmVecDb>`. No call fails, every result is well formed with exact distances, and no
//! search returns an id whose delete had returned before that search began.
//!
//! Ordering without clocks: the writer, after `delete(id)` returns, records `id -> s` in a shared
//! map and then publishes `s` in an atomic sequence counter. A searcher reads the counter (S)
//! before calling search; any id in its results whose recorded sequence is <= S was deleted
//! before the search began, which is a bug. Ids are never reused, so any later sighting is one.
//!
//! Vectors are a pure function of (id, version), so searchers can check distances of ids the
//! writer inserted or updated concurrently: the distance must match one version the id had.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, RwLock};

use common::*;
use lsm_vec::{DistanceMetric, SearchOptions, VectorStorageType};

const DIM: usize = 24;
const SEED: u64 = 42;
const SEARCHERS: usize = 4;

fn vec_of(id: u64, version: u64) -> Vec<f32> {
    vector_for(SEED, id, version, DIM)
}

#[derive(Default)]
struct Shared {
    /// id -> sequence number at which its delete had returned.
    deleted: Mutex<HashMap<u64, u64>>,
    /// Sequence of completed deletes.
    seq: AtomicU64,
    /// id -> highest version whose insert/update has *started* (a search may see it early).
    versions: RwLock<HashMap<u64, u64>>,
    done: AtomicBool,
}

fn run(storage: VectorStorageType, metric: DistanceMetric, writer_ops: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut o = test_options(DIM, metric, storage);
    o.m = 8;
    o.m_max = 16;
    o.ef_construction = 64.0;
    o.paged_max_cached_pages = 32; // small: page cache evictions race with reads
    o.edge_cache_size = 512; // small: edge cache evictions race with reads
    let db = Arc::new(open(dir.path(), o));
    let shared = Arc::new(Shared::default());

    // Preload: ids 0..1000, of which 0..200 are never touched (readers get them).
    let pre = 1000u64;
    let ids: Vec<u64> = (0..pre).collect();
    let vs: Vec<Vec<f32>> = ids.iter().map(|id| vec_of(*id, 0)).collect();
    ok(db.insert_batch(&ids, &flatten(&vs), 0), "preload");
    {
        let mut v = shared.versions.write().unwrap();
        for id in 0..pre {
            v.insert(id, 0);
        }
    }

    let writer = {
        let db = Arc::clone(&db);
        let sh = Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut rng = Rng::new(7);
            let mut live: Vec<u64> = (200..pre).collect();
            let mut next = pre;
            for step in 0..writer_ops {
                let roll = rng.below(10);
                if roll < 5 || live.len() < 100 {
                    sh.versions.write().unwrap().insert(next, 0);
                    ok(db.insert(next, &vec_of(next, 0)), "concurrent insert");
                    live.push(next);
                    next += 1;
                } else if roll < 7 {
                    let id = live[rng.index(live.len())];
                    let ver = {
                        let mut v = sh.versions.write().unwrap();
                        let e = v.get_mut(&id).unwrap();
                        *e += 1;
                        *e
                    };
                    ok(db.update(id, &vec_of(id, ver)), "concurrent update");
                } else {
                    let i = rng.index(live.len());
                    let id = live.swap_remove(i);
                    ok(db.delete(id), "concurrent delete");
                    let s = sh.seq.load(SeqCst) + 1;
                    sh.deleted.lock().unwrap().insert(id, s);
                    sh.seq.store(s, SeqCst);
                }
                if step % 500 == 0 {
                    std::thread::yield_now();
                }
            }
            sh.done.store(true, SeqCst);
            live
        })
    };

    let searchers: Vec<_> = (0..SEARCHERS)
        .map(|t| {
            let db = Arc::clone(&db);
            let sh = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                let mut searches = 0usize;
                let mut stable_hits = 0usize;
                let mut stable_probes = 0usize;
                let mut short: Vec<String> = Vec::new();
                while !sh.done.load(SeqCst) || searches < 50 {
                    let start_seq = sh.seq.load(SeqCst);
                    let k = 1 + rng.index(20);
                    let so = SearchOptions::new(k, k + 40);
                    let (results, probe) = match rng.below(8) {
                        0 => {
                            // A batch of 3 queries on 2 threads.
                            let qs: Vec<Vec<f32>> = (0..3).map(|_| uniform_vector(&mut rng, DIM)).collect();
                            (ok(db.search_knn_batch(&flatten(&qs), &so, 2), "concurrent batch search").into_iter().zip(qs).collect::<Vec<_>>(), None)
                        }
                        1 => {
                            // get of a never-touched id: always present and exact.
                            let id = rng.below(200);
                            let v = ok(db.get(id), "concurrent get");
                            assert!(v == vec_of(id, 0), "thread {t}: get({id}) returned a wrong vector");
                            assert!(ok(db.contains(id), "contains"));
                            continue;
                        }
                        2 => {
                            // A never-touched vector is its own nearest neighbour.
                            let id = rng.below(200);
                            let q = vec_of(id, 0);
                            (vec![(ok(db.search_knn(&q, &so), "concurrent search"), q)], Some(id))
                        }
                        _ => {
                            let q = uniform_vector(&mut rng, DIM);
                            (vec![(ok(db.search_knn(&q, &so), "concurrent search"), q)], None)
                        }
                    };
                    for (res, q) in &results {
                        searches += 1;
                        check_result_shape(res, k).unwrap_or_else(|e| panic!("thread {t}: {e}"));
                        // At least 300 vectors are live at any time (200 untouched + >= 100 of
                        // the writer's), so every search must fill k.
                        if res.len() != k {
                            short.push(format!("thread {t}: k {k}, {} results: {res:?}", res.len()));
                        }
                        let deleted = sh.deleted.lock().unwrap();
                        for r in res {
                            if let Some(&s) = deleted.get(&r.id) {
                                assert!(
                                    s > start_seq,
                                    "thread {t}: search that began at delete sequence {start_seq} returned id {}, whose delete returned at sequence {s}",
                                    r.id
                                );
                            }
                        }
                        drop(deleted);
                        let versions = sh.versions.read().unwrap();
                        for r in res {
                            let Some(&max_ver) = versions.get(&r.id) else {
                                panic!("thread {t}: search returned id {} that was never inserted", r.id);
                            };
                            // The distance must be that of one version the id has had (an
                            // update may be in flight): a mix-up of slots would show here.
                            let matches = (0..=max_ver).rev().take(3).any(|ver| distance_close(r.distance, distance(metric, &vec_of(r.id, ver), q)));
                            assert!(matches, "thread {t}: id {} distance {} matches none of its versions <= {max_ver}", r.id, r.distance);
                        }
                    }
                    if let Some(id) = probe {
                        stable_probes += 1;
                        if results[0].0.first().map(|r| r.id) == Some(id) {
                            stable_hits += 1;
                        }
                    }
                }
                (searches, stable_hits, stable_probes, short)
            })
        })
        .collect();

    let live = writer.join().expect("writer panicked");
    let mut total = 0;
    for (t, h) in searchers.into_iter().enumerate() {
        let (searches, hits, probes, short) = h.join().unwrap_or_else(|_| panic!("searcher {t} panicked"));
        total += searches;
        assert!(
            short.is_empty(),
            "searcher {t}: {} of {searches} searches returned fewer than k results over >= 300 live vectors; first: {:?}",
            short.len(),
            short.first()
        );
        assert!(
            hits * 10 >= probes * 9,
            "searcher {t}: a stored, never-touched vector was its own nearest neighbour in only {hits} of {probes} searches"
        );
    }
    eprintln!("{storage:?}/{metric:?}: {writer_ops} writer ops, {total} concurrent searches");

    // After the storm: the database agrees with the writer exactly.
    assert_eq!(ok(db.len(), "len"), 200 + live.len());
    let versions = shared.versions.read().unwrap();
    for id in live.iter().chain(&(0..200).collect::<Vec<u64>>()) {
        let v = ok(db.get(*id), "get after");
        assert!(v == vec_of(*id, versions[id]), "id {id} does not hold its last version {}", versions[id]);
    }
    for id in shared.deleted.lock().unwrap().keys() {
        assert!(!ok(db.contains(*id), "contains"), "deleted id {id} is live");
    }
}

#[test]
fn searches_run_while_a_writer_inserts_and_deletes_paged() {
    run(VectorStorageType::Paged, DistanceMetric::L2, 3000);
}

#[test]
fn searches_run_while_a_writer_inserts_and_deletes_basic_cosine() {
    run(VectorStorageType::Basic, DistanceMetric::Cosine, 3000);
}

/// Many threads inserting at once (writes may be serialised inside, but must not fail or lose
/// anything), with searches on top.
#[test]
fn concurrent_writers_do_not_lose_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(open(dir.path(), test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged)));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    let id = t * 1_000_000 + i;
                    ok(db.insert(id, &vec_of(id, 0)), "parallel insert");
                    if i % 3 == 0 {
                        ok(db.delete(id), "parallel delete");
                    }
                    if i % 10 == 0 {
                        ok(db.search_knn(&vec_of(id, 0), &SearchOptions::new(5, 32)), "parallel search");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread panicked");
    }
    assert_eq!(ok(db.len(), "len"), 4 * 200);
    for t in 0..4u64 {
        for i in 0..300u64 {
            let id = t * 1_000_000 + i;
            if i % 3 == 0 {
                assert!(!ok(db.contains(id), "contains"), "deleted id {id} is live");
            } else {
                assert!(ok(db.get(id), "get") == vec_of(id, 0), "id {id} lost or wrong");
            }
        }
    }
    let mut hits = 0;
    for t in 0..4u64 {
        for i in (1..300u64).step_by(7).filter(|i| i % 3 != 0) {
            let id = t * 1_000_000 + i;
            let r = ok(db.search_knn(&vec_of(id, 0), &SearchOptions::new(1, 32)), "search");
            hits += usize::from(r[0].id == id);
        }
    }
    let probes = 4 * (1..300u64).step_by(7).filter(|i| i % 3 != 0).count();
    assert!(
        hits * 10 >= probes * 9,
        "after parallel inserts only {hits} of {probes} vectors are their own nearest neighbour"
    );
}

/// `close()` while other threads search and write: every call returns a valid result or
/// `Error::Closed`, never another error, a panic or a hang; the database then reopens with
/// everything that was acknowledged.
#[test]
fn close_while_searching_and_writing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    let db = Arc::new(open(dir.path(), opts.clone()));
    let ids: Vec<u64> = (0..500).collect();
    let vs: Vec<Vec<f32>> = ids.iter().map(|id| vec_of(*id, 0)).collect();
    ok(db.insert_batch(&ids, &flatten(&vs), 0), "preload");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let db = Arc::clone(&db);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                let mut rng = Rng::new(t);
                for i in 0u64.. {
                    let r = if t == 0 {
                        let id = 10_000 + i;
                        let r = db.insert(id, &vec_of(id, 0)).map(|()| Vec::new());
                        if r.is_ok() {
                            acked.lock().unwrap().push(id);
                        }
                        r
                    } else {
                        db.search_knn(&uniform_vector(&mut rng, DIM), &SearchOptions::new(5, 32))
                    };
                    match r {
                        Ok(res) => {
                            if t != 0 {
                                assert_eq!(res.len(), 5, "thread {t}: {res:?}");
                            }
                        }
                        Err(lsm_vec::Error::Closed) => return i,
                        Err(e) => panic!("thread {t}: call {i} during close failed with {e:?} instead of Closed"),
                    }
                }
                unreachable!()
            })
        })
        .collect();
    // Let the threads get going (no timing assertion: any interleaving is valid).
    while acked.lock().unwrap().len() < 20 && !threads.iter().any(|h| h.is_finished()) {
        std::thread::yield_now();
    }
    ok(db.close(), "close under load");
    for (t, h) in threads.into_iter().enumerate() {
        let calls = h.join().unwrap_or_else(|_| panic!("thread {t} panicked"));
        assert!(db.is_closed(), "thread {t} stopped after {calls} calls");
    }
    let mut o = opts;
    o.reinit = false;
    let db = open(dir.path(), o);
    let acked = acked.lock().unwrap();
    assert_eq!(ok(db.len(), "len"), 500 + acked.len(), "acknowledged inserts lost by close()");
    for id in acked.iter() {
        assert!(ok(db.get(*id), "get") == vec_of(*id, 0), "id {id} acknowledged before close() is wrong or lost");
    }
}
