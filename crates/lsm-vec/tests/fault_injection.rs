#![cfg(feature = "fault-injection")]
//! Issue 7, case 6: a failed call took effect. With an injected I/O error
//! (`LsmVecDb::inject_fault(fault, skip)`: the `skip + 1`-th occurrence of that I/O step fails
//! once), an error means the operation did not happen, or the error says the outcome is unknown
//! and a reopen tells which:
//!
//! * `VectorWrite` (the vector bytes, before the commit): `IoError`, nothing happened, the handle
//!   stays usable.
//! * `CommitBefore` / `CommitAfter` (the LSM batch fails before / after it reached the journal):
//!   `IoError` saying the outcome is unknown, the handle is poisoned (`Closed`), and after a
//!   reopen the operation is absent (before) or present (after), entirely; nothing else changed.
//!
//! Run with `cargo test --release -p lsm-vec --features fault-injection --test fault_injection`.

mod common;

use std::path::Path;

use common::*;
use lsm_vec::fault::Fault;
use lsm_vec::{DistanceMetric, ErrorKind, LsmVecDb, VectorStorageType};

const DIM: usize = 8;
const NEW_ID: u64 = 9_999;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A database of 60 vectors (ids `i * 3 + 1`), left open.
fn setup(dir: &Path, storage: VectorStorageType, sync: bool) -> (LsmVecDb, Model) {
    let mut o = test_options(DIM, DistanceMetric::L2, storage);
    o.sync_writes = sync;
    let db = open(dir, o);
    let mut model = Model::new();
    for i in 0..60u64 {
        let id = i * 3 + 1;
        let v = vector_for(61, id, 0, DIM);
        ok(db.insert(id, &v), "setup insert");
        model.insert(id, v);
    }
    (db, model)
}

fn reopen(dir: &Path, storage: VectorStorageType) -> LsmVecDb {
    open(dir, reopen_options(DIM, DistanceMetric::L2, storage))
}

/// Closes a handle whose close may fail (poisoned), ignoring the error.
fn close_quietly(db: LsmVecDb) {
    if let Err(e) = db.close() {
        eprintln!("close after the fault: {e}");
    }
    drop(db);
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Insert,
    Update,
    Delete,
}

#[test]
fn case6_vector_write_fault_on_insert_changes_nothing() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, mut model) = setup(t.path(), storage, false);
        ok(db.inject_fault(Fault::VectorWrite, 0), "inject_fault");
        let e = expect_kind(
            db.insert(NEW_ID, &vector_for(61, NEW_ID, 0, DIM)),
            ErrorKind::IoError,
            "insert with a failing vector write",
        );
        eprintln!("{storage:?}: {e}");
        assert!(!ok(db.contains(NEW_ID), "contains"), "{storage:?}: the failed insert is visible");
        assert_db_equals(&db, &model, "after the failed insert");
        // The handle stays usable.
        let v = vector_for(61, NEW_ID + 1, 0, DIM);
        ok(db.insert(NEW_ID + 1, &v), "the next insert");
        model.insert(NEW_ID + 1, v);
        ok(db.close(), "close");
        let db = reopen(t.path(), storage);
        assert!(!ok(db.contains(NEW_ID), "contains"), "{storage:?}: the failed insert is present after a reopen");
        assert_db_equals(&db, &model, &format!("{storage:?}: after reopen"));
    }
}

#[test]
fn case6_vector_write_fault_on_update_changes_nothing() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, model) = setup(t.path(), storage, false);
        ok(db.inject_fault(Fault::VectorWrite, 0), "inject_fault");
        expect_kind(db.update(4, &vector_for(61, 4, 1, DIM)), ErrorKind::IoError, "update with a failing vector write");
        assert_db_equals(&db, &model, &format!("{storage:?}: after the failed update"));
        ok(db.close(), "close");
        let db = reopen(t.path(), storage);
        assert_db_equals(&db, &model, &format!("{storage:?}: after reopen"));
    }
}

#[test]
fn case6_commit_fault_outcome_is_unknown_then_all_or_nothing() {
    for storage in ALL_STORAGES {
        for fault in [Fault::CommitBefore, Fault::CommitAfter] {
            for m in [Mutation::Insert, Mutation::Update, Mutation::Delete] {
                let what = format!("{storage:?} {fault:?} {m:?}");
                let t = tmp();
                let (db, model) = setup(t.path(), storage, false);
                let mut after = model.clone();
                let target = 31u64; // a live id (i = 10)
                assert!(model.contains_key(&target));
                ok(db.inject_fault(fault, 0), "inject_fault");
                let r = match m {
                    Mutation::Insert => {
                        let v = vector_for(61, NEW_ID, 0, DIM);
                        after.insert(NEW_ID, v.clone());
                        db.insert(NEW_ID, &v)
                    }
                    Mutation::Update => {
                        let v = vector_for(61, target, 1, DIM);
                        after.insert(target, v.clone());
                        db.update(target, &v)
                    }
                    Mutation::Delete => {
                        after.remove(&target);
                        db.delete(target)
                    }
                };
                let e = expect_kind(r, ErrorKind::IoError, &what);
                eprintln!("{what}: {e}");
                assert!(
                    e.to_string().to_lowercase().contains("unknown"),
                    "{what}: the error does not say the outcome is unknown: {e}"
                );
                // Poisoned: later writes are refused.
                expect_kind(
                    db.insert(NEW_ID + 1, &vector_for(61, NEW_ID + 1, 0, DIM)),
                    ErrorKind::Closed,
                    &format!("{what}: write after the fault"),
                );
                close_quietly(db);

                let db = reopen(t.path(), storage);
                let want = match fault {
                    Fault::CommitBefore => &model,
                    _ => &after,
                };
                assert_db_equals(&db, want, &format!("{what}: after reopen"));
                assert!(!ok(db.contains(NEW_ID + 1), "contains"), "{what}: the refused write is present");
                if let Mutation::Insert = m {
                    assert_eq!(
                        ok(db.contains(NEW_ID), "contains"),
                        want.contains_key(&NEW_ID),
                        "{what}: insert outcome"
                    );
                }
                // And the reopened database is writable.
                ok(db.insert(NEW_ID + 2, &vector_for(61, NEW_ID + 2, 0, DIM)), &format!("{what}: insert after reopen"));
            }
        }
    }
}

/// `insert_batch` commits groups of 256 vectors in order: a fault in the second group's commit
/// keeps the first group (and the second too when the fault came after the write), says how
/// many are committed, and leaves no vector of a later group present.
#[test]
fn case6_insert_batch_commit_fault_keeps_a_prefix() {
    const GROUP: usize = 256;
    for storage in ALL_STORAGES {
        for fault in [Fault::CommitBefore, Fault::CommitAfter] {
            let what = format!("{storage:?} {fault:?} insert_batch");
            let t = tmp();
            let (db, model) = setup(t.path(), storage, false);
            let ids: Vec<u64> = (0..(2 * GROUP + 88) as u64).map(|i| 50_000 + i).collect();
            let vs: Vec<Vec<f32>> = ids.iter().map(|&id| vector_for(61, id, 0, DIM)).collect();
            ok(db.inject_fault(fault, 1), "inject_fault"); // the second group's commit fails
            let e = expect_kind(db.insert_batch(&ids, &flatten(&vs), 2), ErrorKind::IoError, &what);
            eprintln!("{what}: {e}");
            let msg = e.to_string().to_lowercase();
            assert!(msg.contains("unknown"), "{what}: the error does not say the outcome is unknown: {e}");
            assert!(
                msg.contains(&format!("first {GROUP} of the {} vectors are committed", ids.len())),
                "{what}: the error does not say how many are committed: {e}"
            );
            match &e {
                lsm_vec::Error::BatchIncomplete { committed, total, .. } => {
                    assert_eq!((*committed, *total), (GROUP, ids.len()), "{what}");
                }
                other => panic!("{what}: expected BatchIncomplete, got {other:?}"),
            }
            close_quietly(db);
            let db = reopen(t.path(), storage);
            let kept = match fault {
                Fault::CommitBefore => GROUP,
                _ => 2 * GROUP,
            };
            let mut want = model.clone();
            for (id, v) in ids.iter().zip(&vs).take(kept) {
                want.insert(*id, v.clone());
            }
            assert_db_equals(&db, &want, &format!("{what}: after reopen"));
            for &id in &ids[kept..] {
                assert!(!ok(db.contains(id), "contains"), "{what}: id {id} after the failed commit is present");
            }
            // Every committed vector is linked: it is its own nearest neighbour.
            for (id, v) in ids.iter().zip(&vs).take(kept).step_by(7) {
                let r = ok(db.search_knn(v, &lsm_vec::SearchOptions { k: 1, ef_search: 64 }), "search");
                assert_eq!(
                    r.first().map(|x| x.id),
                    Some(*id),
                    "{what}: committed id {id} is not found by its own vector"
                );
            }
        }
    }
}

/// A failed fsync (with `sync_writes`): the call fails; whatever the handle does next, a reopen
/// holds every earlier vector exactly and the failed insert entirely or not at all.
#[test]
fn case6_sync_fault_never_loses_acknowledged_writes() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let (db, model) = setup(t.path(), storage, true);
        ok(db.inject_fault(Fault::Sync, 0), "inject_fault");
        let v = vector_for(61, NEW_ID, 0, DIM);
        let e = expect_kind(db.insert(NEW_ID, &v), ErrorKind::IoError, "insert with a failing fsync");
        eprintln!("{storage:?} Sync: {e}");
        close_quietly(db);
        let db = reopen(t.path(), storage);
        let mut want = model.clone();
        if ok(db.contains(NEW_ID), "contains") {
            want.insert(NEW_ID, v);
        }
        assert_db_equals(&db, &want, &format!("{storage:?} Sync: after reopen"));
    }
}
