#![cfg(feature = "fault-injection")]
//! Faults below the engine, at the I/O level, on the simulated storage
//! (`lsm_vec::sim::SimStorage`, opened with `LsmVecDb::open_with_storage`).
//!
//! `cargo test --release -p lsm-vec --features fault-injection --test power_cut -- --nocapture`

mod common;

use common::*;
use lsm_vec::sim::{SimFault, SimStorage, Writeback};
use lsm_vec::{DbOptions, DistanceMetric, Error, ErrorKind, LsmVecDb, VectorStorageType};

#[derive(Debug, Clone, Copy)]
struct Config {
    storage: VectorStorageType,
    metric: DistanceMetric,
    sync: bool,
    writeback: Writeback,
}

fn options(cfg: Config, dim: usize, reinit: bool) -> DbOptions {
    let mut o = test_options(dim, cfg.metric, cfg.storage);
    o.reinit = reinit;
    o.sync_writes = cfg.sync;
    o.paged_max_cached_pages = 2;
    o.ef_construction = 24.0;
    o.random_seed = 3;
    o
}

fn acceptable_kind(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::IoError | ErrorKind::Closed)
}

/// Regression: a fault at any I/O step of the creation of a database leaves a directory that
/// opens as an empty database (the creation resumes). Before the fix, a crash after the batch
/// holding `meta/instance` and before the `STATE` file was written made every later open fail
/// with "the state file is missing".
#[test]
fn a_fault_anywhere_in_creation_leaves_a_database_that_opens() {
    let cfg = Config {
        storage: VectorStorageType::Paged,
        metric: DistanceMetric::L2,
        sync: false,
        writeback: Writeback::Unordered,
    };
    let counts = {
        let t = tempfile::tempdir().expect("tempdir");
        let sim = SimStorage::new();
        let db = ok(LsmVecDb::open_with_storage(t.path(), options(cfg, 8, true), &sim), "create");
        let c = sim.counts();
        drop(db);
        c
    };
    let mut runs = 0;
    for fault in SimFault::ALL {
        let total = match fault {
            SimFault::Read => counts.reads,
            SimFault::Write | SimFault::TornWrite => counts.writes,
            SimFault::Sync => counts.syncs,
            SimFault::Commit => counts.commits,
            _ => counts.writes + counts.syncs + counts.commits,
        };
        for skip in 0..total {
            for (seed, writeback) in [(1, Writeback::Ordered), (2, cfg.writeback), (3, Writeback::Unordered)] {
                let what = format!("{fault:?} at step {skip} of {total} ({writeback:?}, seed {seed})");
                let t = tempfile::tempdir().expect("tempdir");
                let sim = SimStorage::new();
                sim.arm(fault, skip, writeback, seed);
                let e = match LsmVecDb::open_with_storage(t.path(), options(cfg, 8, true), &sim) {
                    Ok(_) => panic!("{what}: the creation succeeded"),
                    Err(e) => e,
                };
                assert!(acceptable_kind(&e), "{what}: {e}");
                sim.restart();
                let db = match LsmVecDb::open_with_storage(t.path(), options(cfg, 8, false), &sim) {
                    Ok(db) => db,
                    Err(e) => panic!("{what} ({:?}): the reopen failed: {e}", sim.report()),
                };
                assert_eq!(ok(db.len(), &what), 0, "{what}");
                ok(db.insert(1, &vector_for(1, 1, 0, 8)), &what);
                ok(db.close(), &what);
                runs += 1;
            }
        }
    }
    eprintln!("creation faults: {runs} runs over {counts:?}");
}
