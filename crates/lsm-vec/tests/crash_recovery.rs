//! Crash consistency: a writer process is killed with SIGKILL at random moments; every reopen
//! succeeds, every acknowledged operation is there, nothing else is.
//!
//! The harness (the child writer re-executing this binary, its log of begun and acknowledged
//! operations, the model and the checks after each reopen) is in `common/crash.rs`, shared with
//! the kill campaign `crash_campaign.rs`. `LSMVEC_CRASH_ROUNDS` raises the number of kills
//! (default 25 per layout).

mod common;
#[path = "common/crash.rs"]
mod crash;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use crash::*;
use lsm_vec::{LsmVecDb, SearchOptions, VectorStorageType};

/// Writer threads of the concurrent-insert crash test.
const WRITERS: u64 = 4;

fn crash_test(test_name: &str, storage: VectorStorageType, sync: bool, seed: u64) {
    if let Ok(dir) = std::env::var(ENV_CHILD) {
        child(dir);
        return;
    }
    let _serial = ONE_CRASH_TEST_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rounds: usize = std::env::var("LSMVEC_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(25);
    let cfg = ChildConfig::plain(storage, sync);
    let d = crash_dir(cfg);
    let spec =
        ChildSpec { test_name, dir: &d.dir, state_file: &d.state_file, stderr_file: &d.stderr_file, cfg, mode: "ops" };
    let mut s = Summary::default();
    run_rounds(&spec, rounds, seed, &mut s);
    eprintln!(
        "{storage:?} (sync_writes {sync}): {rounds} kills ({} in the middle of an operation, {} of a batch of several groups), {} acknowledged ops, {} live at the end, {:.1?}",
        s.kills_mid_op, s.kills_mid_groups, s.acked, s.live_at_end, s.elapsed
    );
    assert!(
        s.shortfalls.is_empty(),
        "{storage:?}: durability held, but searches after recovery were short:\n{}",
        s.shortfalls.join("\n")
    );
    assert!(s.acked > 0, "the children acknowledged no operation in {rounds} rounds: the kills hit nothing");
}

#[test]
fn sigkill_during_writes_keeps_acknowledged_ops_paged() {
    crash_test("sigkill_during_writes_keeps_acknowledged_ops_paged", VectorStorageType::Paged, false, 1);
}

#[test]
fn sigkill_during_writes_keeps_acknowledged_ops_basic() {
    crash_test("sigkill_during_writes_keeps_acknowledged_ops_basic", VectorStorageType::Basic, false, 2);
}

/// The same with `sync_writes = true` (fsync of the vector file, then of the journal, on every
/// write): a different write path under the same kills.
#[test]
fn sigkill_during_synced_writes_keeps_acknowledged_ops_paged() {
    crash_test("sigkill_during_synced_writes_keeps_acknowledged_ops_paged", VectorStorageType::Paged, true, 3);
}

/// The configuration of the concurrent-insert test.
const CFG: ChildConfig = ChildConfig {
    storage: VectorStorageType::Paged,
    metric: lsm_vec::DistanceMetric::L2,
    sync: false,
    campaign: false,
};

fn vec_of(id: u64, version: u64) -> Vec<f32> {
    crash::vec_of(CFG.metric, id, version)
}

/// The concurrent writer: WRITERS threads insert distinct ids (thread t: base + t + WRITERS k),
/// each logging begin and ack around its call, until killed.
fn concurrent_child(dir: String) {
    let state = child_state();
    let db = match LsmVecDb::open(&dir, options(CFG, false)) {
        Ok(db) => db,
        Err(e) => {
            emit(&format!("OPENFAIL {e}"));
            std::process::exit(3);
        }
    };
    emit("READY");
    let base = state.next_id;
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let db = &db;
            s.spawn(move || {
                let mut k = 0;
                while started.elapsed() < Duration::from_secs(20) {
                    let id = base + t + WRITERS * k;
                    k += 1;
                    let op = Op::Insert { id, version: 0 };
                    emit(&format!("B {}", op.encode()));
                    if let Err(e) = db.insert(id, &vec_of(id, 0)) {
                        emit(&format!("ERR {e}"));
                        std::process::exit(4);
                    }
                    emit(&format!("A {}", op.encode()));
                }
            });
        }
    });
    emit("DONE");
}

/// SIGKILL while WRITERS threads insert concurrently: every acknowledged vector is present,
/// exact and linked (its own nearest neighbour); each of the (at most WRITERS) inserts in
/// flight is entirely present or absent; nothing never attempted exists.
#[test]
fn sigkill_during_concurrent_inserts_keeps_acknowledged_ones() {
    const NAME: &str = "sigkill_during_concurrent_inserts_keeps_acknowledged_ones";
    if let Ok(dir) = std::env::var(ENV_CHILD) {
        concurrent_child(dir);
        return;
    }
    let _serial = ONE_CRASH_TEST_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rounds: usize = std::env::var("LSMVEC_CRASH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12);
    let d = crash_dir(CFG);
    let (dir, state_file) = (&d.dir, &d.state_file);
    let spec =
        ChildSpec { test_name: NAME, dir, state_file, stderr_file: &d.stderr_file, cfg: CFG, mode: "concurrent" };
    let mut state = State::default();
    let mut rng = Rng::new(77);
    let (mut total_acked, mut total_in_flight) = (0usize, 0usize);
    let mut shortfalls = Vec::new();
    for round in 0..rounds {
        state.save(state_file);
        let run = run_child(&spec, round as u64, true, Duration::from_millis(5 + rng.below(80)));
        let ctx = format!("concurrent round {round}");
        let id_of = |op: &Op| match op {
            Op::Insert { id, .. } => *id,
            other => panic!("{ctx}: unexpected op {other:?}"),
        };
        let begun: BTreeSet<u64> = run.begun.iter().map(id_of).collect();
        let acked: BTreeSet<u64> = run.acked.iter().map(id_of).collect();
        assert!(acked.is_subset(&begun), "{ctx}: an ack without its begin");
        let in_flight: Vec<u64> = begun.difference(&acked).copied().collect();
        assert!(
            in_flight.len() <= WRITERS as usize,
            "{ctx}: {} inserts in flight with {WRITERS} writers",
            in_flight.len()
        );
        total_acked += acked.len();
        total_in_flight += in_flight.len();
        let db = ok(LsmVecDb::open(dir, options(CFG, false)), &format!("{ctx}: reopen"));
        for &id in &acked {
            match db.get(id) {
                Ok(v) => assert!(v == vec_of(id, 0), "{ctx}: acknowledged id {id} holds another vector"),
                Err(e) => panic!("{ctx}: acknowledged id {id} lost: {e:?}"),
            }
            state.live.insert(id, 0);
        }
        for &id in &in_flight {
            if observe(&db, CFG.metric, id, &[0], &ctx).is_some() {
                state.live.insert(id, 0);
            }
        }
        let hi = begun.iter().next_back().map(|x| x + 1).unwrap_or(state.next_id);
        for id in state.next_id..hi + 2 * WRITERS {
            if !begun.contains(&id) {
                assert!(!ok(db.contains(id), "contains"), "{ctx}: id {id} was never inserted but exists");
            }
        }
        assert_eq!(ok(db.len(), "len"), state.live.len(), "{ctx}: len differs from the acknowledged inserts");
        for &id in acked.iter().step_by(7) {
            let r = ok(db.search_knn(&vec_of(id, 0), &SearchOptions::new(1, 64)), "search");
            if r.first().map(|x| x.id) != Some(id) {
                shortfalls.push(format!("{ctx}: acknowledged id {id} is not its own nearest neighbour: {r:?}"));
            }
        }
        state.next_id = hi;
        if round % 2 == 0 {
            ok(db.close(), "close");
        }
        drop(db);
    }
    eprintln!("concurrent inserts: {rounds} kills, {total_acked} acknowledged, {total_in_flight} in flight at a kill, {} live", state.live.len());
    assert!(total_acked > 0, "the children acknowledged nothing");
    assert!(shortfalls.is_empty(), "durability held, but searches were short:\n{}", shortfalls.join("\n"));
}
