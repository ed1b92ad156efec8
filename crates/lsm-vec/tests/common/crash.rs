//! The SIGKILL harness shared by `crash_recovery.rs` and `crash_campaign.rs` (included there with
//! `#[path = "common/crash.rs"] mod crash;`, next to `mod common;`).
//!
//! The test binary re-executes itself (`current_exe() --exact <test> --include-ignored
//! --nocapture`) with `LSMVEC_CRASH_CHILD` set, so the child runs the writer role. The child
//! writes a record to its stdout (a pipe read by the parent) before each operation ("begin") and
//! after the call returned Ok ("ack"); each record is one `write` of less than PIPE_BUF bytes, so
//! it is atomic and is already in the pipe when the process is killed. Vectors are a pure
//! function of (metric, id, version), so the parent can check them without the child logging
//! floats.
//!
//! After each kill the parent reopens the same database and checks ([`verify`]):
//! * every acknowledged insert/update (not later deleted) is present with exactly its vector;
//! * every acknowledged delete is absent (unless a later acknowledged insert brought it back);
//! * the one operation begun but not acknowledged may have happened or not, but completely: if
//!   present, `get` returns the full exact vector of the old or the new version;
//! * ids that were never attempted do not exist, `len` equals the model, and search works and
//!   returns only live ids with exact distances.
//!
//! Then the next child continues writing to the same database ([`run_rounds`]).
//!
//! [`ChildConfig::campaign`] widens the writer for the kill campaign: it also re-inserts deleted
//! ids (with a new version) and closes and reopens its handle in the middle of its work, and the
//! parent then checks that every operation acknowledged by the last child is there and (for
//! inserts and updates) is its own nearest neighbour. With `campaign = false` the writer, its
//! random draws and the checks are exactly those of `crash_recovery.rs` before this file
//! existed.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;
use lsm_vec::{DbOptions, DistanceMetric, LsmVecDb, SearchOptions, VectorStorageType};

pub const DIM: usize = 16;
const VEC_SEED: u64 = 0xC0FFEE;
pub const ENV_CHILD: &str = "LSMVEC_CRASH_CHILD";
const ENV_STATE: &str = "LSMVEC_CRASH_STATE";
const ENV_SEED: &str = "LSMVEC_CRASH_SEED";
const ENV_STORAGE: &str = "LSMVEC_CRASH_STORAGE";
const ENV_METRIC: &str = "LSMVEC_CRASH_METRIC";
const ENV_SYNC: &str = "LSMVEC_CRASH_SYNC";
const ENV_CAMPAIGN: &str = "LSMVEC_CRASH_CAMPAIGN";
const ENV_MODE: &str = "LSMVEC_CRASH_MODE";
/// Vectors `insert_batch` commits together.
pub const GROUP: usize = 256;

/// What a child writer runs against; the parent passes it in the environment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChildConfig {
    pub storage: VectorStorageType,
    pub metric: DistanceMetric,
    pub sync: bool,
    /// The campaign's wider mix: re-inserts of deleted ids, close + reopen inside the child, and
    /// a self-search of every operation the last child acknowledged.
    pub campaign: bool,
}

impl ChildConfig {
    /// The configuration of `crash_recovery.rs`: L2, the plain mix.
    pub fn plain(storage: VectorStorageType, sync: bool) -> Self {
        ChildConfig { storage, metric: DistanceMetric::L2, sync, campaign: false }
    }

    fn from_env() -> Self {
        let num = |k: &str| std::env::var(k).unwrap().parse::<i64>().unwrap();
        ChildConfig {
            storage: VectorStorageType::from_code(num(ENV_STORAGE)).unwrap(),
            metric: DistanceMetric::from_code(num(ENV_METRIC)).unwrap(),
            sync: std::env::var(ENV_SYNC).as_deref() == Ok("1"),
            campaign: std::env::var(ENV_CAMPAIGN).as_deref() == Ok("1"),
        }
    }
}

impl std::fmt::Display for ChildConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}/{}/{}", self.storage, self.metric, if self.sync { "sync" } else { "nosync" })
    }
}

pub fn options(cfg: ChildConfig, reinit: bool) -> DbOptions {
    let mut o = DbOptions::new(DIM);
    o.sync_writes = cfg.sync;
    o.metric = cfg.metric;
    o.vector_storage_type = cfg.storage;
    o.reinit = reinit;
    o.paged_max_cached_pages = 16;
    o
}

/// The vector of `(id, version)`. Under inner product it is scaled to unit length, so that every
/// stored vector is its own nearest neighbour (-dot is smallest for itself) as under L2 and
/// cosine.
pub fn vec_of(metric: DistanceMetric, id: u64, version: u64) -> Vec<f32> {
    let mut v = vector_for(VEC_SEED, id, version, DIM);
    if metric == DistanceMetric::InnerProduct {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// What the parent knows between rounds: live id -> version, deleted id -> its last version,
/// and the next id to insert.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub next_id: u64,
    pub live: BTreeMap<u64, u64>,
    pub dead: BTreeMap<u64, u64>,
}

impl State {
    pub fn save(&self, path: &Path) {
        let mut s = format!("{}\n", self.next_id);
        for (id, v) in &self.live {
            s.push_str(&format!("{id} {v}\n"));
        }
        for (id, v) in &self.dead {
            s.push_str(&format!("d {id} {v}\n"));
        }
        std::fs::write(path, s).unwrap();
    }

    pub fn load(path: &Path) -> State {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let next_id = lines.next().unwrap().parse().unwrap();
        let mut st = State { next_id, ..State::default() };
        for l in lines {
            let (map, rest) = match l.strip_prefix("d ") {
                Some(rest) => (&mut st.dead, rest),
                None => (&mut st.live, l),
            };
            let mut it = rest.split(' ').map(|x| x.parse::<u64>().unwrap());
            map.insert(it.next().unwrap(), it.next().unwrap());
        }
        st
    }
}

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A new id (version 0) or the re-insert of a deleted id (its last version + 1).
    Insert {
        id: u64,
        version: u64,
    },
    Batch {
        ids: Vec<u64>,
    },
    Update {
        id: u64,
        version: u64,
    },
    Delete {
        id: u64,
    },
    /// `close()` of the child's handle, then a new `open`.
    Reopen,
}

impl Op {
    pub fn encode(&self) -> String {
        match self {
            Op::Insert { id, version } => format!("I {id} {version}"),
            Op::Batch { ids } => format!("B {}", ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
            Op::Update { id, version } => format!("U {id} {version}"),
            Op::Delete { id } => format!("D {id}"),
            Op::Reopen => "R".to_string(),
        }
    }

    fn decode(kind: &str, args: &[&str]) -> Op {
        match kind {
            "I" => Op::Insert { id: args[0].parse().unwrap(), version: args[1].parse().unwrap() },
            "B" => Op::Batch { ids: args[0].split(',').map(|x| x.parse().unwrap()).collect() },
            "U" => Op::Update { id: args[0].parse().unwrap(), version: args[1].parse().unwrap() },
            "D" => Op::Delete { id: args[0].parse().unwrap() },
            "R" => Op::Reopen,
            other => panic!("unknown op {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child: the writer
// ---------------------------------------------------------------------------------------------

pub fn emit(line: &str) {
    // One write per record, flushed at once: it is in the pipe before the next operation starts.
    let mut out = std::io::stdout().lock();
    out.write_all(format!("@@ {line} .\n").as_bytes()).unwrap();
    out.flush().unwrap();
}

/// Opens the child's database or reports OPENFAIL and exits.
fn child_open(dir: &str, cfg: ChildConfig) -> LsmVecDb {
    match LsmVecDb::open(dir, options(cfg, false)) {
        Ok(db) => db,
        Err(e) => {
            emit(&format!("OPENFAIL {e}"));
            std::process::exit(3);
        }
    }
}

/// The state file the parent wrote for this child.
pub fn child_state() -> State {
    State::load(Path::new(&std::env::var(ENV_STATE).unwrap()))
}

/// The single writer with mixed operations (`mode = "ops"`), until killed.
pub fn child(dir: String) {
    let state = child_state();
    let seed: u64 = std::env::var(ENV_SEED).unwrap().parse().unwrap();
    let cfg = ChildConfig::from_env();
    let vec_of = |id, version| vec_of(cfg.metric, id, version);
    let mut db = child_open(&dir, cfg);
    emit("READY");
    let mut rng = Rng::new(seed);
    let mut live = state.live.clone();
    let mut live_ids: Vec<u64> = live.keys().copied().collect();
    let mut dead = state.dead.clone();
    let mut dead_ids: Vec<u64> = dead.keys().copied().collect();
    let mut next_id = state.next_id;
    let started = Instant::now();
    // Bounded so a child that is never killed (a bug in the parent) still ends.
    while started.elapsed() < Duration::from_secs(20) {
        let roll = rng.below(100);
        // The campaign's extra draw: 3% re-inserts of a deleted id, 0.3% close + reopen (an
        // open takes as long as hundreds of writes: more would make most kills hit a reopen).
        let extra = if cfg.campaign { rng.below(1000) } else { 1000 };
        let op = if extra < 30 && !dead_ids.is_empty() {
            let id = dead_ids[rng.index(dead_ids.len())];
            Op::Insert { id, version: dead[&id] + 1 }
        } else if extra < 33 {
            Op::Reopen
        } else if roll < 55 || live_ids.len() < 20 {
            next_id += 1;
            Op::Insert { id: next_id - 1, version: 0 }
        } else if roll < 60 {
            // Mostly small batches (one group); one in five spans 2-3 groups of 256, planned
            // on 2 threads.
            let n = if rng.below(5) == 0 { 300 + rng.below(400) } else { 2 + rng.below(4) };
            let ids = (next_id..next_id + n).collect();
            next_id += n;
            Op::Batch { ids }
        } else if roll < 75 {
            let id = live_ids[rng.index(live_ids.len())];
            Op::Update { id, version: live[&id] + 1 }
        } else {
            let i = rng.index(live_ids.len());
            Op::Delete { id: live_ids[i] }
        };
        emit(&format!("B {}", op.encode()));
        let r = match &op {
            Op::Insert { id, version } => db.insert(*id, &vec_of(*id, *version)),
            Op::Batch { ids } => {
                let vs: Vec<Vec<f32>> = ids.iter().map(|id| vec_of(*id, 0)).collect();
                db.insert_batch(ids, &flatten(&vs), 2)
            }
            Op::Update { id, version } => db.update(*id, &vec_of(*id, *version)),
            Op::Delete { id } => db.delete(*id),
            Op::Reopen => db.close().map(|()| {
                db = child_open(&dir, cfg);
            }),
        };
        if let Err(e) = r {
            emit(&format!("ERR {e}"));
            std::process::exit(4);
        }
        emit(&format!("A {}", op.encode()));
        match op {
            Op::Insert { id, version } => {
                live.insert(id, version);
                live_ids.push(id);
                if dead.remove(&id).is_some() {
                    let i = dead_ids.iter().position(|x| *x == id).unwrap();
                    dead_ids.swap_remove(i);
                }
            }
            Op::Batch { ids } => {
                for id in ids {
                    live.insert(id, 0);
                    live_ids.push(id);
                }
            }
            Op::Update { id, version } => {
                live.insert(id, version);
            }
            Op::Delete { id } => {
                let ver = live.remove(&id).unwrap();
                let i = live_ids.iter().position(|x| *x == id).unwrap();
                live_ids.swap_remove(i);
                dead.insert(id, ver);
                dead_ids.push(id);
            }
            Op::Reopen => {}
        }
    }
    emit("DONE");
}

// ---------------------------------------------------------------------------------------------
// Parent: kill, reopen, verify
// ---------------------------------------------------------------------------------------------

pub struct ChildRun {
    pub begun: Vec<Op>,
    pub acked: Vec<Op>,
    pub ready: bool,
    pub other: Vec<String>,
}

/// Where and how one child runs.
pub struct ChildSpec<'a> {
    pub test_name: &'a str,
    pub dir: &'a Path,
    pub state_file: &'a Path,
    pub stderr_file: &'a Path,
    pub cfg: ChildConfig,
    /// `ops` (one writer, mixed operations) or another mode the test binary dispatches on.
    pub mode: &'a str,
}

/// Runs one child writer with `seed`, kills it `delay` after it reported READY (or after spawn
/// when `wait_ready` is false), and parses its log.
pub fn run_child(spec: &ChildSpec<'_>, seed: u64, wait_ready: bool, delay: Duration) -> ChildRun {
    let stderr_file = spec.stderr_file;
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", spec.test_name, "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(ENV_CHILD, spec.dir)
        .env(ENV_STATE, spec.state_file)
        .env(ENV_SEED, seed.to_string())
        .env(ENV_STORAGE, spec.cfg.storage.code().to_string())
        .env(ENV_METRIC, spec.cfg.metric.code().to_string())
        .env(ENV_SYNC, if spec.cfg.sync { "1" } else { "0" })
        .env(ENV_CAMPAIGN, if spec.cfg.campaign { "1" } else { "0" })
        .env(ENV_MODE, spec.mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(stderr_file).unwrap()))
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut r = BufReader::new(stdout);
        let mut buf = String::new();
        loop {
            buf.clear();
            match r.read_line(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if !buf.ends_with('\n') {
                break; // torn last line (cannot happen with atomic pipe writes, but be safe)
            }
            if buf.contains("@@ READY") {
                let _ = ready_tx.send(());
            }
            lines.push(buf.clone());
        }
        lines
    });
    if wait_ready {
        // No timing threshold: a slow machine just waits longer. The bound only catches a
        // child that died before opening.
        if ready_rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            let lines = reader.join().unwrap();
            panic!(
                "child never became ready; output {lines:?}; stderr {}",
                std::fs::read_to_string(stderr_file).unwrap_or_default()
            );
        }
    }
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();

    let mut run = ChildRun { begun: Vec::new(), acked: Vec::new(), ready: false, other: Vec::new() };
    for line in &lines {
        let Some(pos) = line.find("@@ ") else {
            continue;
        };
        let rec = line[pos + 3..].trim_end();
        let Some(rec) = rec.strip_suffix(" .") else {
            run.other.push(line.clone());
            continue;
        };
        let toks: Vec<&str> = rec.split(' ').collect();
        match toks[0] {
            "READY" => run.ready = true,
            "B" => run.begun.push(Op::decode(toks[1], &toks[2..])),
            "A" => run.acked.push(Op::decode(toks[1], &toks[2..])),
            "DONE" => {}
            _ => run.other.push(line.clone()),
        }
    }
    assert!(
        run.other.is_empty(),
        "child reported a failure: {:?} (exit {status:?}); stderr {}",
        run.other,
        std::fs::read_to_string(stderr_file).unwrap_or_default()
    );
    run
}

/// Applies a child's log to the model; returns the in-flight operation (begun, not acked), if any.
pub fn apply_log(state: &mut State, run: &ChildRun) -> Option<Op> {
    assert!(
        run.acked.len() == run.begun.len() || run.acked.len() + 1 == run.begun.len(),
        "log out of order: {} begun, {} acked",
        run.begun.len(),
        run.acked.len()
    );
    for (i, op) in run.acked.iter().enumerate() {
        assert_eq!(op, &run.begun[i], "ack {i} does not match its begin");
        match op {
            Op::Insert { id, version } => {
                assert!(state.live.insert(*id, *version).is_none(), "child inserted live id {id}");
                state.dead.remove(id);
            }
            Op::Batch { ids } => {
                for id in ids {
                    assert!(state.live.insert(*id, 0).is_none(), "child inserted live id {id}");
                }
            }
            Op::Update { id, version } => {
                state.live.insert(*id, *version);
            }
            Op::Delete { id } => {
                let ver = state.live.remove(id).expect("child deleted an id that is not live");
                state.dead.insert(*id, ver);
            }
            Op::Reopen => {}
        }
    }
    for op in &run.begun {
        if let Op::Insert { id, .. } = op {
            state.next_id = state.next_id.max(id + 1);
        }
        if let Op::Batch { ids } = op {
            state.next_id = state.next_id.max(ids.iter().max().unwrap() + 1);
        }
    }
    run.begun.get(run.acked.len()).cloned()
}

/// Checks that `id` is either absent or present with exactly one of `versions`; returns which.
pub fn observe(db: &LsmVecDb, metric: DistanceMetric, id: u64, versions: &[u64], ctx: &str) -> Option<u64> {
    let present = ok(db.contains(id), "contains");
    match db.get(id) {
        Ok(v) => {
            assert!(present, "{ctx}: get({id}) succeeds but contains({id}) is false");
            let which = versions.iter().copied().find(|ver| v == vec_of(metric, id, *ver));
            assert!(
                which.is_some(),
                "{ctx}: id {id} holds a vector that is none of versions {versions:?} (torn or foreign write): {v:?}"
            );
            which
        }
        Err(lsm_vec::Error::NotFound(_)) => {
            assert!(!present, "{ctx}: contains({id}) is true but get({id}) is NotFound");
            None
        }
        Err(e) => panic!("{ctx}: get({id}): {e:?}"),
    }
}

/// Whether a search for `id`'s own vector returns `id` first.
fn self_nearest(db: &LsmVecDb, metric: DistanceMetric, id: u64, version: u64, ef: usize) -> Result<(), String> {
    let r = ok(db.search_knn(&vec_of(metric, id, version), &SearchOptions::new(1, ef)), "search");
    if r.first().map(|x| x.id) == Some(id) {
        Ok(())
    } else {
        Err(format!("id {id} (version {version}) is not its own nearest neighbour: {r:?}"))
    }
}

/// What [`verify`] saw besides the durability checks (which panic).
#[derive(Debug, Default)]
pub struct Verified {
    /// Search-quality problems (fewer results than k, a vector not its own nearest neighbour):
    /// returned rather than panicking, so that they do not hide durability checks of later rounds.
    pub shortfalls: Vec<String>,
    /// The in-flight operation was found to have happened (`Some(true)`) or not (`Some(false)`).
    pub in_flight_applied: Option<bool>,
    /// Self-searches of freshly acknowledged inserts and updates (campaign only).
    pub self_checks: usize,
}

/// Checks the reopened database against `state` after a child's `run` (already applied to
/// `state` with [`apply_log`], which returned `in_flight`), and resolves `in_flight` into
/// `state`.
pub fn verify(
    db: &LsmVecDb,
    cfg: ChildConfig,
    state: &mut State,
    run: &ChildRun,
    in_flight: Option<Op>,
    round: usize,
) -> Verified {
    let metric = cfg.metric;
    let vec_of = |id, version| vec_of(metric, id, version);
    let mut out = Verified::default();
    let ctx = format!("{cfg} round {round} (in flight: {in_flight:?})");
    // Resolve the in-flight operation first: either outcome is fine, but it must be complete.
    let mut exempt = BTreeSet::new();
    match &in_flight {
        None | Some(Op::Reopen) => {}
        Some(Op::Insert { id, version }) => {
            exempt.insert(*id);
            let there = observe(db, metric, *id, &[*version], &ctx).is_some();
            if there {
                state.live.insert(*id, *version);
                state.dead.remove(id);
            }
            out.in_flight_applied = Some(there);
        }
        Some(Op::Batch { ids }) => {
            // Groups of GROUP vectors commit atomically and in order: what is present is a
            // prefix of whole groups (or the whole batch).
            let mut present = Vec::new();
            for id in ids {
                exempt.insert(*id);
                if observe(db, metric, *id, &[0], &ctx).is_some() {
                    state.live.insert(*id, 0);
                    present.push(*id);
                }
            }
            let p = present.len();
            assert!(
                present[..] == ids[..p],
                "{ctx}: the interrupted batch left {p} vectors that are not a prefix of it"
            );
            assert!(
                p % GROUP == 0 || p == ids.len(),
                "{ctx}: the interrupted batch left {p} of {} vectors, not whole groups of {GROUP}",
                ids.len()
            );
            for &id in present.iter().step_by(17) {
                if let Err(e) = self_nearest(db, metric, id, 0, 64) {
                    out.shortfalls.push(format!("{ctx}: committed batch member: {e}"));
                }
            }
            out.in_flight_applied = Some(p > 0);
        }
        Some(Op::Update { id, version }) => {
            exempt.insert(*id);
            let old = state.live[id];
            match observe(db, metric, *id, &[old, *version], &ctx) {
                Some(v) => {
                    state.live.insert(*id, v);
                    out.in_flight_applied = Some(v == *version);
                }
                None => panic!("{ctx}: an interrupted update made id {id} disappear"),
            }
        }
        Some(Op::Delete { id }) => {
            exempt.insert(*id);
            let old = state.live[id];
            let gone = observe(db, metric, *id, &[old], &ctx).is_none();
            if gone {
                state.live.remove(id);
                state.dead.insert(*id, old);
            }
            out.in_flight_applied = Some(gone);
        }
    }
    // Every acknowledged, not deleted id: present with exactly its vector.
    for (id, ver) in &state.live {
        if exempt.contains(id) {
            continue;
        }
        match db.get(*id) {
            Ok(v) => assert!(v == vec_of(*id, *ver), "{ctx}: id {id} does not hold version {ver} (acknowledged)"),
            Err(e) => panic!("{ctx}: acknowledged id {id} (version {ver}) lost: {e:?}"),
        }
    }
    // Every acknowledged delete (not undone by a later acknowledged insert): absent.
    for id in state.dead.keys() {
        if !exempt.contains(id) {
            assert!(!ok(db.contains(*id), "contains"), "{ctx}: deleted id {id} is back");
            assert!(
                matches!(db.get(*id), Err(lsm_vec::Error::NotFound(_))),
                "{ctx}: get of deleted id {id} is not NotFound"
            );
        }
    }
    // Never attempted ids do not exist, and nothing else does either.
    for id in state.next_id..state.next_id + 20 {
        assert!(!ok(db.contains(id), "contains"), "{ctx}: id {id} was never inserted but exists");
    }
    assert_eq!(ok(db.len(), "len"), state.live.len(), "{ctx}: len differs from the acknowledged operations");
    // Campaign: every insert and update the last child acknowledged (and that is still live in
    // that version) is found by a search for its own vector, first.
    if cfg.campaign {
        for op in &run.acked {
            let fresh: Vec<(u64, u64)> = match op {
                Op::Insert { id, version } | Op::Update { id, version } => vec![(*id, *version)],
                Op::Batch { ids } => ids.iter().map(|id| (*id, 0)).collect(),
                Op::Delete { .. } | Op::Reopen => Vec::new(),
            };
            for (id, ver) in fresh {
                if state.live.get(&id) == Some(&ver) {
                    out.self_checks += 1;
                    if let Err(e) = self_nearest(db, metric, id, ver, 128) {
                        out.shortfalls.push(format!("{ctx}: acknowledged in this round: {e}"));
                    }
                }
            }
        }
    }
    // Search works and returns only live ids with exact distances.
    let mut rng = Rng::new(round as u64);
    let ids: Vec<u64> = state.live.keys().copied().collect();
    let mut self_found = 0;
    let probes = 20.min(ids.len());
    for p in 0..probes {
        let id = ids[rng.index(ids.len())];
        let q = vec_of(id, state.live[&id]);
        let res = ok(db.search_knn(&q, &SearchOptions::new(10, 64)), "search after crash");
        check_result_shape(&res, 10).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        if res.len() != 10.min(ids.len()) {
            out.shortfalls.push(format!(
                "{ctx}: probe {p} (query = vector of id {id}): {} results of {} live: {res:?}",
                res.len(),
                ids.len()
            ));
        }
        for r in &res {
            let ver =
                state.live.get(&r.id).unwrap_or_else(|| panic!("{ctx}: search returned id {} which is not live", r.id));
            let exact = distance(metric, &vec_of(r.id, *ver), &q);
            assert!(distance_close(r.distance, exact), "{ctx}: id {} distance {} exact {exact}", r.id, r.distance);
        }
        if res.first().map(|r| r.id) == Some(id) {
            self_found += 1;
        }
    }
    if self_found * 10 < probes * 9 {
        out.shortfalls.push(format!(
            "{ctx}: a stored vector was its own nearest neighbour in only {self_found} of {probes} probes"
        ));
    }
    out
}

/// Serialises the crash tests of a binary. Two of them running in parallel threads would each
/// fork children while the other holds its database open: a forked child owns a copy of the
/// parent's lock-file descriptor until it execs, and an unlucky interleaving then shows the other
/// test's next child a `Busy` database. That is flock semantics, not an engine bug.
pub static ONE_CRASH_TEST_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A temporary database directory with the parent's side files.
pub struct CrashDir {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub state_file: PathBuf,
    pub stderr_file: PathBuf,
}

/// Creates an empty database for `cfg` in a new temporary directory.
pub fn crash_dir(cfg: ChildConfig) -> CrashDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let state_file = tmp.path().join("state");
    let stderr_file = tmp.path().join("child.stderr");
    ok(LsmVecDb::open(&dir, options(cfg, true)), "create").close().unwrap();
    CrashDir { _tmp: tmp, dir, state_file, stderr_file }
}

/// Counts of one series of kills.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub kills: usize,
    /// Kills that hit an operation between its begin and its ack.
    pub kills_mid_op: usize,
    /// Kills in a batch of more than one group.
    pub kills_mid_groups: usize,
    /// Kills in the child's own close + reopen.
    pub kills_mid_reopen: usize,
    /// In-flight operations found applied / not applied after the reopen.
    pub in_flight_applied: usize,
    pub in_flight_absent: usize,
    /// Acknowledged operations (a batch counts once; `batch_vectors` counts its vectors).
    pub acked: usize,
    pub inserts: usize,
    pub reinserts: usize,
    pub batches: usize,
    pub batch_vectors: usize,
    pub updates: usize,
    pub deletes: usize,
    pub reopens: usize,
    /// Parent-side closes (clean) and drops after the verification.
    pub parent_closes: usize,
    pub self_checks: usize,
    pub live_at_end: usize,
    pub shortfalls: Vec<String>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn add(&mut self, o: &Summary) {
        self.kills += o.kills;
        self.kills_mid_op += o.kills_mid_op;
        self.kills_mid_groups += o.kills_mid_groups;
        self.kills_mid_reopen += o.kills_mid_reopen;
        self.in_flight_applied += o.in_flight_applied;
        self.in_flight_absent += o.in_flight_absent;
        self.acked += o.acked;
        self.inserts += o.inserts;
        self.reinserts += o.reinserts;
        self.batches += o.batches;
        self.batch_vectors += o.batch_vectors;
        self.updates += o.updates;
        self.deletes += o.deletes;
        self.reopens += o.reopens;
        self.parent_closes += o.parent_closes;
        self.self_checks += o.self_checks;
        self.live_at_end += o.live_at_end;
        self.shortfalls.extend(o.shortfalls.iter().cloned());
        self.elapsed += o.elapsed;
    }
}

/// `rounds` kills of a mixed-operations child (`mode = "ops"`) on the database of `spec`,
/// seeded by `seed`; panics at the first durability violation. `summary` is filled as the
/// rounds go, so a caller that catches the panic still has the counts up to it.
pub fn run_rounds(spec: &ChildSpec<'_>, rounds: usize, seed: u64, summary: &mut Summary) {
    let cfg = spec.cfg;
    let mut state = State::default();
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    for round in 0..rounds {
        state.save(spec.state_file);
        // Most rounds kill while writing; every fifth kills soon after spawn, often during open
        // and recovery.
        let early = round % 5 == 4;
        let delay = if early {
            Duration::from_millis(rng.below(40))
        } else if cfg.campaign && round % 5 == 2 {
            // The campaign: one kill in five after a longer run (100-500 ms), so that the
            // child's own close + reopen (tens of ms on a grown database) completes and is
            // followed by writes before a kill.
            Duration::from_millis(100 + rng.below(400))
        } else {
            Duration::from_millis(2 + rng.below(60))
        };
        let run = run_child(spec, seed * 1000 + round as u64, !early, delay);
        let in_flight = apply_log(&mut state, &run);
        summary.kills += 1;
        summary.acked += run.acked.len();
        for op in &run.acked {
            match op {
                Op::Insert { version: 0, .. } => summary.inserts += 1,
                Op::Insert { .. } => summary.reinserts += 1,
                Op::Batch { ids } => {
                    summary.batches += 1;
                    summary.batch_vectors += ids.len();
                }
                Op::Update { .. } => summary.updates += 1,
                Op::Delete { .. } => summary.deletes += 1,
                Op::Reopen => summary.reopens += 1,
            }
        }
        summary.kills_mid_op += usize::from(in_flight.is_some());
        summary.kills_mid_reopen += usize::from(matches!(in_flight, Some(Op::Reopen)));
        summary.kills_mid_groups += usize::from(matches!(&in_flight, Some(Op::Batch { ids }) if ids.len() > GROUP));
        let db = ok(LsmVecDb::open(spec.dir, options(cfg, false)), &format!("{cfg}: reopen after kill {round}"));
        let v = verify(&db, cfg, &mut state, &run, in_flight, round);
        match v.in_flight_applied {
            Some(true) => summary.in_flight_applied += 1,
            Some(false) => summary.in_flight_absent += 1,
            None => {}
        }
        summary.self_checks += v.self_checks;
        summary.shortfalls.extend(v.shortfalls);
        // Close cleanly on some rounds, drop on others: both must leave a database the next
        // child can open.
        if round % 2 == 0 {
            ok(db.close(), "close");
            summary.parent_closes += 1;
        }
        drop(db);
        summary.live_at_end = state.live.len();
        summary.elapsed = started.elapsed();
    }
}
