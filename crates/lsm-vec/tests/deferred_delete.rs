//! Deletes return before their graph repair (issue "Fast ingest", cheap deletes): a deleted
//! graph node is marked in its record and filtered from results at once, keeps routing until
//! the background repairer removes it, and a reopen finishes any repair left pending.
//!
//! The repairer runs on its own schedule, so these tests assert what must hold at every moment
//! (a deleted id is never seen again, a live one always is) and what holds once
//! `finish_repairs` returned (no backlog, no marked record left), never how far the background
//! got.

mod common;

use common::*;
use lsm_vec::{DistanceMetric, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 16;

fn setup(dir: &std::path::Path, n: u64) -> (LsmVecDb, Vec<Vec<f32>>) {
    let mut rng = Rng::new(5);
    let gen = ClusteredGen::new(&mut rng, DIM, 8, 0.5);
    let data = gen.samples(&mut rng, n as usize);
    let db = open(dir, test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged));
    ok(db.insert_batch(&(0..n).collect::<Vec<u64>>(), &flatten(&data), 2), "insert_batch");
    (db, data)
}

fn assert_gone(db: &LsmVecDb, id: u64, v: &[f32], what: &str) {
    assert!(!ok(db.contains(id), "contains"), "{what}: deleted id {id} is contained");
    assert!(matches!(db.get(id), Err(lsm_vec::Error::NotFound(_))), "{what}: get of deleted id {id}");
    let r = ok(db.search_knn(v, &SearchOptions { k: 10, ef_search: 64 }), "search");
    assert!(r.iter().all(|x| x.id != id), "{what}: deleted id {id} returned by a search for its own vector: {r:?}");
    assert_eq!(r.len(), 10, "{what}: short result");
}

#[test]
fn deleted_ids_are_never_returned_before_or_after_their_repair() {
    let dir = tempfile::tempdir().unwrap();
    let (db, data) = setup(dir.path(), 3000);
    let victims: Vec<u64> = (0..3000).step_by(3).collect();
    for &id in &victims {
        ok(db.delete(id), "delete");
        assert_gone(&db, id, &data[id as usize], "right after its delete");
    }
    assert_eq!(ok(db.len(), "len"), 2000);
    let s = ok(db.stats(), "stats");
    assert_eq!(
        s.repair_backlog + s.repairs,
        victims.len() as u64,
        "every graph-node delete is pending or repaired: {s:?}"
    );
    // A deleted id can be inserted again at once, with another vector, while its old node may
    // still be pending.
    for &id in victims.iter().take(50) {
        let v: Vec<f32> = data[id as usize].iter().map(|x| x + 3.0).collect();
        ok(db.insert(id, &v), "re-insert");
        let r = ok(db.search_knn(&v, &SearchOptions { k: 1, ef_search: 64 }), "search");
        assert_eq!((r[0].id, r[0].distance), (id, 0.0), "re-inserted id {id}");
    }
    ok(db.finish_repairs(), "finish_repairs");
    let s = ok(db.stats(), "stats");
    assert_eq!(s.repair_backlog, 0);
    assert_eq!(s.repairs, victims.len() as u64);
    for &id in victims.iter().skip(50) {
        assert_gone(&db, id, &data[id as usize], "after the repairs");
    }
    for id in (0..3000u64).filter(|i| i % 3 != 0).step_by(7) {
        let r = ok(db.search_knn(&data[id as usize], &SearchOptions { k: 1, ef_search: 64 }), "search");
        assert_eq!(r[0].id, id, "live id {id} after the repairs");
    }
}

#[test]
fn a_reopen_finishes_repairs_left_pending() {
    let dir = tempfile::tempdir().unwrap();
    let (db, data) = setup(dir.path(), 2000);
    let victims: Vec<u64> = (0..2000).step_by(2).collect();
    for &id in &victims {
        ok(db.delete(id), "delete");
    }
    let pending_at_close = ok(db.stats(), "stats").repair_backlog;
    ok(db.close(), "close");
    drop(db);
    let db = open(dir.path(), reopen_options(DIM, DistanceMetric::L2, VectorStorageType::Paged));
    assert_eq!(ok(db.len(), "len"), 1000);
    let s = ok(db.stats(), "stats");
    assert!(
        s.repair_backlog <= pending_at_close,
        "backlog grew across the reopen: {} -> {}",
        pending_at_close,
        s.repair_backlog
    );
    for &id in victims.iter().step_by(5) {
        assert_gone(&db, id, &data[id as usize], "after the reopen");
    }
    ok(db.finish_repairs(), "finish_repairs");
    assert_eq!(ok(db.stats(), "stats").repair_backlog, 0);
    eprintln!("pending at close: {pending_at_close}; repaired after the reopen: {}", ok(db.stats(), "stats").repairs);
    // Closed with nothing pending: the next open has no backlog at all.
    ok(db.close(), "close");
    drop(db);
    let db = open(dir.path(), reopen_options(DIM, DistanceMetric::L2, VectorStorageType::Paged));
    assert_eq!(ok(db.stats(), "stats").repair_backlog, 0);
    for id in (1..2000u64).step_by(2) {
        let r = ok(db.search_knn(&data[id as usize], &SearchOptions { k: 1, ef_search: 64 }), "search");
        assert_eq!(r[0].id, id, "live id {id}");
    }
}

#[test]
fn the_backlog_stays_bounded_when_deletes_outrun_the_repairer() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = setup(dir.path(), 6000);
    let mut peak = 0;
    for id in 0..5500u64 {
        ok(db.delete(id), "delete");
        peak = peak.max(ok(db.stats(), "stats").repair_backlog);
    }
    // The limit (max(live / 10, 1024)) plus the group a delete may find in flight.
    assert!(peak <= 1024 + 8, "backlog reached {peak}");
    assert_eq!(ok(db.len(), "len"), 500);
}
