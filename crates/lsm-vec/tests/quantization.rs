//! Compressed codes and the memory budget: the quantizer trains once 1000 vectors exist and
//! codes are rebuilt at open; every returned distance is exact; `stats()` parts stay within
//! `memory_budget_bytes`; bad values are `InvalidArgument` and change nothing.

mod common;

use common::*;
use lsm_vec::{DistanceMetric, ErrorKind, LsmVecDb, Quantization, SearchOptions, VectorStorageType};

const DIM: usize = 24;

fn parts(s: &lsm_vec::Stats) -> u64 {
    s.code_bytes + s.adjacency_bytes + s.page_cache_bytes + s.edge_cache_bytes
}

#[test]
fn codes_train_on_growth_and_are_rebuilt_at_open() {
    let cases = [Quantization::Sq8, Quantization::Sq4]
        .into_iter()
        .flat_map(|q| [DistanceMetric::L2, DistanceMetric::Cosine, DistanceMetric::InnerProduct].map(move |m| (q, m)));
    for (quantization, metric) in cases {
        let t = tempfile::tempdir().unwrap();
        let mut rng = Rng::new(5);
        let data = uniform_vectors(&mut rng, 2500, DIM);
        let mut o = test_options(DIM, metric, VectorStorageType::Paged);
        o.quantization = quantization;
        let db = open(t.path(), o.clone());
        for (i, v) in data.iter().enumerate().take(900) {
            ok(db.insert(i as u64, v), "insert");
        }
        assert_eq!(ok(db.stats(), "stats").code_bytes, 0, "{metric:?}: no codes before 1000 vectors");
        for (i, v) in data.iter().enumerate().skip(900) {
            ok(db.insert(i as u64, v), "insert");
        }
        let codes = ok(db.stats(), "stats").code_bytes;
        let per = if quantization == Quantization::Sq4 { DIM / 2 } else { DIM };
        assert!(
            codes >= (2500 * per) as u64 && codes < (2500 * (per + 8) * 5 / 4) as u64,
            "{quantization:?} {metric:?}: codes {codes}"
        );
        let so = SearchOptions::new(5, 64);
        let check = |db: &LsmVecDb, what: &str| {
            for i in (0..2500).step_by(97) {
                let hits = ok(db.search_knn(&data[i], &so), "search");
                assert_eq!(hits[0].id, i as u64, "{metric:?} {what}: vector {i} is not its own nearest neighbour");
                for h in &hits {
                    let exact = distance(metric, &data[h.id as usize], &data[i]);
                    assert!(
                        distance_close(h.distance, exact),
                        "{metric:?} {what}: id {} reported {} exact {exact}",
                        h.id,
                        h.distance
                    );
                }
            }
        };
        check(&db, "after training");
        ok(db.close(), "close");
        o.reinit = false;
        let db = open(t.path(), o);
        assert_eq!(ok(db.stats(), "stats").code_bytes, codes, "{metric:?}: codes rebuilt at open");
        check(&db, "after reopen");
        // A deleted vector's code goes with it, an updated one is re-encoded.
        ok(db.delete(0), "delete");
        ok(db.update(97, &data[1]), "update");
        let hits = ok(db.search_knn(&data[1], &SearchOptions::new(2, 64)), "search");
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert!(ids.contains(&1) && ids.contains(&97), "{metric:?}: {ids:?}");
        ok(db.close(), "close");
    }
}

#[test]
fn memory_budget_bounds_the_parts() {
    for budget in [2u64 << 20, 64 << 20] {
        let t = tempfile::tempdir().unwrap();
        let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
        o.memory_budget_bytes = budget;
        let db = open(t.path(), o.clone());
        let mut rng = Rng::new(9);
        let data = uniform_vectors(&mut rng, 3000, DIM);
        ok(db.insert_batch(&(0..3000).collect::<Vec<u64>>(), &flatten(&data), 0), "insert_batch");
        for v in data.iter().take(200) {
            ok(db.search_knn(v, &SearchOptions::new(10, 64)), "search");
        }
        let s = ok(db.stats(), "stats");
        assert!(parts(&s) <= budget, "budget {budget}: parts use {} ({s:?})", parts(&s));
        assert!(s.code_bytes > 0, "budget {budget}: the quantizer trained on a database created under the budget");
        assert_eq!(s.memory_budget_bytes, budget);
        assert!(s.memory_bytes >= parts(&s));
        ok(db.close(), "close");
        // Reopened: the table and the caches are sized for the 3000 vectors, still within it.
        o.reinit = false;
        let db = open(t.path(), o);
        for v in data.iter().take(200) {
            ok(db.search_knn(v, &SearchOptions::new(10, 64)), "search");
        }
        let s = ok(db.stats(), "stats");
        assert!(parts(&s) <= budget, "budget {budget} after reopen: parts use {}", parts(&s));
        assert!(s.code_bytes > 0, "budget {budget}: the codes fit and are kept");
    }
}

#[test]
fn bad_quantization_values_are_invalid_and_change_nothing() {
    assert_eq!("foo".parse::<Quantization>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!("SQ8".parse::<Quantization>().unwrap(), Quantization::Sq8);
    assert_eq!("sq4".parse::<Quantization>().unwrap(), Quantization::Sq4);
    assert_eq!("sq16".parse::<Quantization>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("db");
    let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    o.memory_budget_bytes = 1000;
    expect_kind(LsmVecDb::open(&dir, o.clone()), ErrorKind::InvalidArgument, "a budget too small for anything");
    assert!(!dir.exists(), "a rejected open created {}", dir.display());
    // A budget that cannot hold the codes of an existing database: refused, the database intact.
    o.memory_budget_bytes = 0;
    let db = open(&dir, o.clone());
    let mut rng = Rng::new(3);
    let data = uniform_vectors(&mut rng, 2000, DIM);
    ok(db.insert_batch(&(0..2000).collect::<Vec<u64>>(), &flatten(&data), 0), "insert_batch");
    ok(db.close(), "close");
    o.reinit = false;
    o.memory_budget_bytes = 1 << 20;
    let mut big = test_options(512, DistanceMetric::L2, VectorStorageType::Paged);
    big.memory_budget_bytes = 1 << 20;
    let tb = tempfile::tempdir().unwrap();
    let dbb = open(tb.path(), {
        let mut b = big.clone();
        b.memory_budget_bytes = 0;
        b
    });
    let vb = uniform_vectors(&mut rng, 3000, 512);
    ok(dbb.insert_batch(&(0..3000).collect::<Vec<u64>>(), &flatten(&vb), 0), "insert_batch 512-d");
    ok(dbb.close(), "close");
    big.reinit = false;
    expect_kind(LsmVecDb::open(tb.path(), big), ErrorKind::InvalidArgument, "codes of 3000 x 512 in 1 MiB");
    let dbb = ok(LsmVecDb::open_existing(tb.path()), "reopen without a budget");
    assert_eq!(ok(dbb.len(), "len"), 3000);
    // quantization none under a budget needs no room for codes.
    let db = open(&dir, {
        let mut n = o.clone();
        n.quantization = Quantization::None;
        n
    });
    assert_eq!(ok(db.stats(), "stats").code_bytes, 0);
    assert_eq!(ok(db.len(), "len"), 2000);
}

/// Probabilistic routing skips neighbours (counted in `routing_skips`), keeps exact distances
/// and the nearest neighbour of each stored vector; a bad `routing_epsilon` is refused.
#[test]
fn probabilistic_routing_skips_neighbours_and_keeps_answers() {
    let t = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(21);
    let data = uniform_vectors(&mut rng, 3000, DIM);
    for metric in [DistanceMetric::L2, DistanceMetric::Cosine, DistanceMetric::InnerProduct] {
        let mut o = test_options(DIM, metric, VectorStorageType::Paged);
        o.routing = lsm_vec::Routing::Probabilistic;
        let db = open(t.path(), o.clone());
        ok(db.insert_batch(&(0..3000).collect::<Vec<u64>>(), &flatten(&data), 0), "insert_batch");
        let so = SearchOptions::new(10, 64);
        for i in (0..3000).step_by(61) {
            let hits = ok(db.search_knn(&data[i], &so), "search");
            if metric != DistanceMetric::InnerProduct {
                assert_eq!(hits[0].id, i as u64, "{metric:?}: vector {i} is not its own nearest neighbour");
            }
            for h in &hits {
                let exact = distance(metric, &data[h.id as usize], &data[i]);
                assert!(
                    distance_close(h.distance, exact),
                    "{metric:?}: id {} reported {} exact {exact}",
                    h.id,
                    h.distance
                );
            }
        }
        let s = ok(db.stats(), "stats");
        assert!(s.routing_skips > 0, "{metric:?}: nothing was skipped");
        ok(db.close(), "close");
    }
    for bad in [0.0f32, 1.0, -0.5, f32::NAN] {
        let mut o = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
        o.routing_epsilon = bad;
        let dir = t.path().join(format!("bad-{bad}"));
        expect_kind(LsmVecDb::open(&dir, o), ErrorKind::InvalidArgument, "routing_epsilon out of (0, 1)");
        assert!(!dir.exists());
    }
    assert_eq!("PROBABILISTIC".parse::<lsm_vec::Routing>().unwrap(), lsm_vec::Routing::Probabilistic);
    assert_eq!("fast".parse::<lsm_vec::Routing>().unwrap_err().kind(), ErrorKind::InvalidArgument);
}
