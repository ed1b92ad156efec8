//! The kill campaign (issue 10, item 3): many SIGKILL cycles of a writer child over every
//! configuration (both vector layouts x L2 / InnerProduct / Cosine x with and without
//! `sync_writes`), each configuration on its own database that survives all its kills.
//!
//! The child writer, the model and the checks are the harness of `crash_recovery.rs`
//! (`common/crash.rs`) in its campaign mode: the writer mixes single inserts, `insert_batch`
//! (2-5 vectors, and 300-700 on 2 threads, i.e. several commit groups), updates, deletes,
//! re-inserts of deleted ids, and close + reopen of its own handle; the parent kills it after a
//! random delay (2-62 ms after it is ready; every fifth kill instead 0-40 ms after the spawn,
//! often during open and recovery, and every fifth 100-500 ms after it is ready), reopens,
//! and checks that every acknowledged operation is there (an insert or update: `get` returns
//! exactly that vector and a search for it returns it first; a delete: gone), that the operation
//! in flight is entirely there or entirely absent, and that nothing else changed (`len`, deleted
//! ids, never-used ids, search results only live ids with exact distances). Then it closes the
//! handle cleanly or drops it, alternately, and the next child continues.
//!
//! * `campaign_ci` (run by `cargo test`): `CI_KILLS` kills, spread over the 12 configurations.
//! * `campaign_full` (`--ignored`, driven by `scripts/crash-campaign.sh`): `LSM_VEC_CAMPAIGN_KILLS`
//!   kills (default 1000), seed `LSM_VEC_CAMPAIGN_SEED` (default 1), optionally only the
//!   configurations whose name (`Paged/Cosine/sync`, ...) contains `LSM_VEC_CAMPAIGN_ONLY`.
//!
//! A configuration that fails is reported with its seed and round and the campaign goes on with
//! the others; the test fails at the end if any did. The kill moments are drawn from the seed,
//! but where the child is at that moment depends on the machine, so a seed reproduces the
//! operations, not the exact interleaving.

mod common;
#[path = "common/crash.rs"]
mod crash;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crash::*;

/// Kills of the CI variant: 5 per configuration (so each has one early kill, during open).
const CI_KILLS: usize = 60;

fn configs() -> Vec<ChildConfig> {
    let mut out = Vec::new();
    for storage in [lsm_vec::VectorStorageType::Paged, lsm_vec::VectorStorageType::Basic] {
        for metric in
            [lsm_vec::DistanceMetric::L2, lsm_vec::DistanceMetric::InnerProduct, lsm_vec::DistanceMetric::Cosine]
        {
            for sync in [false, true] {
                out.push(ChildConfig { storage, metric, sync, campaign: true });
            }
        }
    }
    out
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("{name}={s:?} is not a number")),
        Err(_) => default,
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".to_string())
}

fn campaign(test_name: &str, kills: usize, seed: u64) {
    if let Ok(dir) = std::env::var(ENV_CHILD) {
        child(dir);
        return;
    }
    let _serial = ONE_CRASH_TEST_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let only = std::env::var("LSM_VEC_CAMPAIGN_ONLY").unwrap_or_default();
    let cfgs: Vec<(usize, ChildConfig)> =
        configs().into_iter().enumerate().filter(|(_, c)| c.to_string().contains(&only)).collect();
    assert!(!cfgs.is_empty(), "LSM_VEC_CAMPAIGN_ONLY={only:?} matches no configuration");
    let started = Instant::now();
    let mut total = Summary::default();
    let mut failures = Vec::new();
    eprintln!("campaign: {kills} kills over {} configurations, seed {seed}", cfgs.len());
    for (n, (index, cfg)) in cfgs.iter().enumerate() {
        // Kills spread evenly, the remainder to the first configurations.
        let rounds = kills / cfgs.len() + usize::from(n < kills % cfgs.len());
        if rounds == 0 {
            continue;
        }
        let cfg_seed = seed * 100 + *index as u64;
        let d = crash_dir(*cfg);
        let spec = ChildSpec {
            test_name,
            dir: &d.dir,
            state_file: &d.state_file,
            stderr_file: &d.stderr_file,
            cfg: *cfg,
            mode: "ops",
        };
        let mut s = Summary::default();
        let result = catch_unwind(AssertUnwindSafe(|| run_rounds(&spec, rounds, cfg_seed, &mut s)));
        let status = match &result {
            Ok(()) if s.shortfalls.is_empty() => "ok".to_string(),
            Ok(()) => {
                failures.push(format!(
                    "{cfg} (config seed {cfg_seed}): {} search shortfalls, first: {}",
                    s.shortfalls.len(),
                    s.shortfalls[0]
                ));
                format!("SEARCH SHORTFALLS {}", s.shortfalls.len())
            }
            Err(p) => {
                failures.push(format!(
                    "{cfg} (config seed {cfg_seed}) after {} kills: {}",
                    s.kills,
                    panic_text(p.as_ref())
                ));
                "FAILED".to_string()
            }
        };
        eprintln!(
            "campaign: config {cfg:<24} seed {cfg_seed:>5}: {:>4} kills ({:>3} mid-op: {} applied / {} absent, {} in a multi-group batch, {} in the child's reopen), {:>6} acked ops (inserts {}, re-inserts {}, batches {} = {} vectors, updates {}, deletes {}, child reopens {}), {} parent closes, {} self-searches, {} live, {:.1?}: {status}",
            s.kills, s.kills_mid_op, s.in_flight_applied, s.in_flight_absent, s.kills_mid_groups, s.kills_mid_reopen, s.acked, s.inserts, s.reinserts, s.batches, s.batch_vectors, s.updates, s.deletes, s.reopens, s.parent_closes, s.self_checks, s.live_at_end, s.elapsed
        );
        total.add(&s);
    }
    eprintln!(
        "campaign: TOTAL {} kills, {} configurations, {} mid-op ({} applied / {} absent, {} in a multi-group batch, {} in the child's reopen), {} acked ops (inserts {}, re-inserts {}, batches {} = {} vectors, updates {}, deletes {}, child reopens {}), {} self-searches, {} failures, wall {:.1?}",
        total.kills, cfgs.len(), total.kills_mid_op, total.in_flight_applied, total.in_flight_absent, total.kills_mid_groups, total.kills_mid_reopen, total.acked, total.inserts, total.reinserts, total.batches, total.batch_vectors, total.updates, total.deletes, total.reopens, total.self_checks, failures.len(), started.elapsed()
    );
    for f in &failures {
        eprintln!("campaign: FAILURE {f}");
    }
    assert!(failures.is_empty(), "{} configurations failed:\n{}", failures.len(), failures.join("\n"));
    assert!(total.acked > 0, "the children acknowledged nothing: the kills hit nothing");
}

/// A few dozen kills, every configuration, in the normal test run.
#[test]
fn campaign_ci() {
    campaign("campaign_ci", CI_KILLS, env_or("LSM_VEC_CAMPAIGN_SEED", 7));
}

/// The full campaign: `scripts/crash-campaign.sh N` (or `LSM_VEC_CAMPAIGN_KILLS=N cargo test
/// -p lsm-vec --test crash_campaign -- --ignored --nocapture campaign`).
#[test]
#[ignore = "long: the 1,000-kill campaign, run by scripts/crash-campaign.sh"]
fn campaign_full() {
    campaign("campaign_full", env_or("LSM_VEC_CAMPAIGN_KILLS", 1000), env_or("LSM_VEC_CAMPAIGN_SEED", 1));
}
