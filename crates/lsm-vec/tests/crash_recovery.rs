//! Crash consistency: a writer process is killed with SIGKILL at random moments; every reopen
//! succeeds, every acknowledged operation is there, nothing else is.
//!
//! The test binary re-executes itself (`current_exe() --exact <test> --nocapture`) with
//! `LSMVEC_CRASH_CHILD` set, so the child runs the writer role. The child writes a record to its
//! stdout (a pipe read by the parent) before each operation ("begin") and after the call returned
//! Ok ("ack"); each record is one `write` of less than PIPE_BUF bytes, so it is atomic and is
//! already in the pipe when the process is killed. Vectors are a pure function of (id, version),
//! so the parent can check them without the child logging floats.
//!
//! After each kill the parent reopens the same database and checks:
//! * every acknowledged insert/update (not later deleted) is present with exactly its vector;
//! * every acknowledged delete is absent;
//! * the one operation begun but not acknowledged may have happened or not, but completely: if
//!   present, `get` returns the full exact vector of the old or the new version;
//! * ids that were never attempted do not exist, `len` equals the model, and search works and
//!   returns only live ids with exact distances.
//!
//! Then the next child continues writing to the same database. `LSMVEC_CRASH_ROUNDS` raises the
//! number of kills (default 25 per layout).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use lsm_vec::{DbOptions, DistanceMetric, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 16;
const VEC_SEED: u64 = 0xC0FFEE;
const ENV_CHILD: &str = "LSMVEC_CRASH_CHILD";
const ENV_STATE: &str = "LSMVEC_CRASH_STATE";
const ENV_SEED: &str = "LSMVEC_CRASH_SEED";
const ENV_STORAGE: &str = "LSMVEC_CRASH_STORAGE";
const ENV_SYNC: &str = "LSMVEC_CRASH_SYNC";
const ENV_MODE: &str = "LSMVEC_CRASH_MODE";
/// Vectors `insert_batch` commits together.
const GROUP: usize = 256;
/// Writer threads of the concurrent-insert crash test.
const WRITERS: u64 = 4;

fn options(storage: VectorStorageType, reinit: bool, sync: bool) -> DbOptions {
    let mut o = DbOptions::new(DIM);
    o.sync_writes = sync;
    o.metric = DistanceMetric::L2;
    o.vector_storage_type = storage;
    o.reinit = reinit;
    o.paged_max_cached_pages = 16;
    o
}

fn vec_of(id: u64, version: u64) -> Vec<f32> {
    vector_for(VEC_SEED, id, version, DIM)
}

/// What the parent knows between rounds: live id -> version, and the next id to insert.
#[derive(Debug, Default, Clone)]
struct State {
    next_id: u64,
    live: BTreeMap<u64, u64>,
}

impl State {
    fn save(&self, path: &Path) {
        let mut s = format!("{}\n", self.next_id);
        for (id, v) in &self.live {
            s.push_str(&format!("{id} {v}\n"));
        }
        std::fs::write(path, s).unwrap();
    }

    fn load(path: &Path) -> State {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let next_id = lines.next().unwrap().parse().unwrap();
        let live = lines
            .map(|l| {
                let mut it = l.split(' ').map(|x| x.parse::<u64>().unwrap());
                (it.next().unwrap(), it.next().unwrap())
            })
            .collect();
        State { next_id, live }
    }
}

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Insert { id: u64 },
    Batch { ids: Vec<u64> },
    Update { id: u64, version: u64 },
    Delete { id: u64 },
}

impl Op {
    fn encode(&self) -> String {
        match self {
            Op::Insert { id } => format!("I {id}"),
            Op::Batch { ids } => format!(
                "B {}",
                ids.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Op::Update { id, version } => format!("U {id} {version}"),
            Op::Delete { id } => format!("D {id}"),
        }
    }

    fn decode(kind: &str, args: &[&str]) -> Op {
        match kind {
            "I" => Op::Insert {
                id: args[0].parse().unwrap(),
            },
            "B" => Op::Batch {
                ids: args[0].split(',').map(|x| x.parse().unwrap()).collect(),
            },
            "U" => Op::Update {
                id: args[0].parse().unwrap(),
                version: args[1].parse().unwrap(),
            },
            "D" => Op::Delete {
                id: args[0].parse().unwrap(),
            },
            other => panic!("unknown op {other}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child: the writer
// ---------------------------------------------------------------------------------------------

fn emit(line: &str) {
    // One write per record, flushed at once: it is in the pipe before the next operation starts.
    let mut out = std::io::stdout().lock();
    out.write_all(format!("@@ {line} .\n").as_bytes()).unwrap();
    out.flush().unwrap();
}

fn child(dir: String) {
    let state = State::load(Path::new(&std::env::var(ENV_STATE).unwrap()));
    let seed: u64 = std::env::var(ENV_SEED).unwrap().parse().unwrap();
    let storage =
        VectorStorageType::from_code(std::env::var(ENV_STORAGE).unwrap().parse().unwrap()).unwrap();
    let sync = std::env::var(ENV_SYNC).as_deref() == Ok("1");
    let db = match LsmVecDb::open(&dir, options(storage, false, sync)) {
        Ok(db) => db,
        Err(e) => {
            emit(&format!("OPENFAIL {e}"));
            std::process::exit(3);
        }
    };
    emit("READY");
    let mut rng = Rng::new(seed);
    let mut live = state.live.clone();
    let mut live_ids: Vec<u64> = live.keys().copied().collect();
    let mut next_id = state.next_id;
    let started = Instant::now();
    // Bounded so a child that is never killed (a bug in the parent) still ends.
    while started.elapsed() < Duration::from_secs(20) {
        let roll = rng.below(100);
        let op = if roll < 55 || live_ids.len() < 20 {
            next_id += 1;
            Op::Insert { id: next_id - 1 }
        } else if roll < 60 {
            // Mostly small batches (one group); one in five spans 2-3 groups of 256, planned
            // on 2 threads.
            let n = if rng.below(5) == 0 { 300 + rng.below(400) } else { 2 + rng.below(4) };
            let ids = (next_id..next_id + n).collect();
            next_id += n;
            Op::Batch { ids }
        } else if roll < 75 {
            let id = live_ids[rng.index(live_ids.len())];
            Op::Update {
                id,
                version: live[&id] + 1,
            }
        } else {
            let i = rng.index(live_ids.len());
            Op::Delete { id: live_ids[i] }
        };
        emit(&format!("B {}", op.encode()));
        let r = match &op {
            Op::Insert { id } => db.insert(*id, &vec_of(*id, 0)),
            Op::Batch { ids } => {
                let vs: Vec<Vec<f32>> = ids.iter().map(|id| vec_of(*id, 0)).collect();
                db.insert_batch(ids, &flatten(&vs), 2)
            }
            Op::Update { id, version } => db.update(*id, &vec_of(*id, *version)),
            Op::Delete { id } => db.delete(*id),
        };
        if let Err(e) = r {
            emit(&format!("ERR {e}"));
            std::process::exit(4);
        }
        emit(&format!("A {}", op.encode()));
        match op {
            Op::Insert { id } => {
                live.insert(id, 0);
                live_ids.push(id);
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
                live.remove(&id);
                let i = live_ids.iter().position(|x| *x == id).unwrap();
                live_ids.swap_remove(i);
            }
        }
    }
    emit("DONE");
}

// ---------------------------------------------------------------------------------------------
// Parent: kill, reopen, verify
// ---------------------------------------------------------------------------------------------

struct ChildRun {
    begun: Vec<Op>,
    acked: Vec<Op>,
    ready: bool,
    other: Vec<String>,
}

/// Where and how one child runs.
struct ChildSpec<'a> {
    test_name: &'a str,
    dir: &'a Path,
    state_file: &'a Path,
    stderr_file: &'a Path,
    storage: VectorStorageType,
    sync: bool,
    /// `ops` (one writer, mixed operations) or `concurrent` (WRITERS threads inserting).
    mode: &'a str,
}

/// Runs one child writer with `seed`, kills it `delay` after it reported READY (or after spawn
/// when `wait_ready` is false), and parses its log.
fn run_child(spec: &ChildSpec<'_>, seed: u64, wait_ready: bool, delay: Duration) -> ChildRun {
    let stderr_file = spec.stderr_file;
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", spec.test_name, "--nocapture", "--test-threads=1"])
        .env(ENV_CHILD, spec.dir)
        .env(ENV_STATE, spec.state_file)
        .env(ENV_SEED, seed.to_string())
        .env(ENV_STORAGE, spec.storage.code().to_string())
        .env(ENV_SYNC, if spec.sync { "1" } else { "0" })
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

    let mut run = ChildRun {
        begun: Vec::new(),
        acked: Vec::new(),
        ready: false,
        other: Vec::new(),
    };
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
fn apply_log(state: &mut State, run: &ChildRun) -> Option<Op> {
    assert!(
        run.acked.len() == run.begun.len() || run.acked.len() + 1 == run.begun.len(),
        "log out of order: {} begun, {} acked",
        run.begun.len(),
        run.acked.len()
    );
    for (i, op) in run.acked.iter().enumerate() {
        assert_eq!(op, &run.begun[i], "ack {i} does not match its begin");
        match op {
            Op::Insert { id } => {
                assert!(
                    state.live.insert(*id, 0).is_none(),
                    "child inserted live id {id}"
                );
            }
            Op::Batch { ids } => {
                for id in ids {
                    assert!(
                        state.live.insert(*id, 0).is_none(),
                        "child inserted live id {id}"
                    );
                }
            }
            Op::Update { id, version } => {
                state.live.insert(*id, *version);
            }
            Op::Delete { id } => {
                state.live.remove(id);
            }
        }
    }
    for op in &run.begun {
        if let Op::Insert { id } = op {
            state.next_id = state.next_id.max(id + 1);
        }
        if let Op::Batch { ids } = op {
            state.next_id = state.next_id.max(ids.iter().max().unwrap() + 1);
        }
    }
    run.begun.get(run.acked.len()).cloned()
}

/// Checks that `id` is either absent or present with exactly one of `versions`; returns which.
fn observe(db: &LsmVecDb, id: u64, versions: &[u64], ctx: &str) -> Option<u64> {
    let present = ok(db.contains(id), "contains");
    match db.get(id) {
        Ok(v) => {
            assert!(
                present,
                "{ctx}: get({id}) succeeds but contains({id}) is false"
            );
            let which = versions.iter().copied().find(|ver| v == vec_of(id, *ver));
            assert!(which.is_some(), "{ctx}: id {id} holds a vector that is none of versions {versions:?} (torn or foreign write): {v:?}");
            which
        }
        Err(lsm_vec::Error::NotFound(_)) => {
            assert!(
                !present,
                "{ctx}: contains({id}) is true but get({id}) is NotFound"
            );
            None
        }
        Err(e) => panic!("{ctx}: get({id}): {e:?}"),
    }
}

/// Checks the reopened database; durability violations panic at once, search-quality problems
/// (fewer results than k) are returned so that they do not hide durability checks of later rounds.
fn verify(
    db: &LsmVecDb,
    state: &mut State,
    in_flight: Option<Op>,
    ever_deleted: &BTreeSet<u64>,
    round: usize,
) -> Vec<String> {
    let mut shortfalls = Vec::new();
    let ctx = format!("round {round} (in flight: {in_flight:?})");
    // Resolve the in-flight operation first: either outcome is fine, but it must be complete.
    let mut exempt = BTreeSet::new();
    match &in_flight {
        None => {}
        Some(Op::Insert { id }) => {
            exempt.insert(*id);
            if observe(db, *id, &[0], &ctx).is_some() {
                state.live.insert(*id, 0);
            }
        }
        Some(Op::Batch { ids }) => {
            // Groups of GROUP vectors commit atomically and in order: what is present is a
            // prefix of whole groups (or the whole batch).
            let mut present = Vec::new();
            for id in ids {
                exempt.insert(*id);
                if observe(db, *id, &[0], &ctx).is_some() {
                    state.live.insert(*id, 0);
                    present.push(*id);
                }
            }
            let p = present.len();
            assert!(present[..] == ids[..p], "{ctx}: the interrupted batch left {p} vectors that are not a prefix of it");
            assert!(p % GROUP == 0 || p == ids.len(), "{ctx}: the interrupted batch left {p} of {} vectors, not whole groups of {GROUP}", ids.len());
            for &id in present.iter().step_by(17) {
                let r = ok(db.search_knn(&vec_of(id, 0), &SearchOptions::new(1, 64)), "search");
                if r.first().map(|x| x.id) != Some(id) {
                    shortfalls.push(format!("{ctx}: committed batch member {id} is not its own nearest neighbour: {r:?}"));
                }
            }
        }
        Some(Op::Update { id, version }) => {
            exempt.insert(*id);
            let old = state.live[id];
            match observe(db, *id, &[old, *version], &ctx) {
                Some(v) => {
                    state.live.insert(*id, v);
                }
                None => panic!("{ctx}: an interrupted update made id {id} disappear"),
            }
        }
        Some(Op::Delete { id }) => {
            exempt.insert(*id);
            let old = state.live[id];
            if observe(db, *id, &[old], &ctx).is_none() {
                state.live.remove(id);
            }
        }
    }
    // Every acknowledged, not deleted id: present with exactly its vector.
    for (id, ver) in &state.live {
        if exempt.contains(id) {
            continue;
        }
        match db.get(*id) {
            Ok(v) => assert!(
                v == vec_of(*id, *ver),
                "{ctx}: id {id} does not hold version {ver} (acknowledged)"
            ),
            Err(e) => panic!("{ctx}: acknowledged id {id} (version {ver}) lost: {e:?}"),
        }
    }
    // Every acknowledged delete: absent (unless re-inserted, which this writer never does).
    for id in ever_deleted {
        if !exempt.contains(id) {
            assert!(
                !ok(db.contains(*id), "contains"),
                "{ctx}: deleted id {id} is back"
            );
        }
    }
    // Never attempted ids do not exist, and nothing else does either.
    for id in state.next_id..state.next_id + 20 {
        assert!(
            !ok(db.contains(id), "contains"),
            "{ctx}: id {id} was never inserted but exists"
        );
    }
    assert_eq!(
        ok(db.len(), "len"),
        state.live.len(),
        "{ctx}: len differs from the acknowledged operations"
    );
    // Search works and returns only live ids with exact distances.
    let mut rng = Rng::new(round as u64);
    let ids: Vec<u64> = state.live.keys().copied().collect();
    let mut self_found = 0;
    let probes = 20.min(ids.len());
    for p in 0..probes {
        let id = ids[rng.index(ids.len())];
        let q = vec_of(id, state.live[&id]);
        let res = ok(
            db.search_knn(&q, &SearchOptions::new(10, 64)),
            "search after crash",
        );
        check_result_shape(&res, 10).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        if res.len() != 10.min(ids.len()) {
            shortfalls.push(format!(
                "{ctx}: probe {p} (query = vector of id {id}): {} results of {} live: {res:?}",
                res.len(),
                ids.len()
            ));
        }
        for r in &res {
            let ver = state
                .live
                .get(&r.id)
                .unwrap_or_else(|| panic!("{ctx}: search returned id {} which is not live", r.id));
            let exact = distance(DistanceMetric::L2, &vec_of(r.id, *ver), &q);
            assert!(
                distance_close(r.distance, exact),
                "{ctx}: id {} distance {} exact {exact}",
                r.id,
                r.distance
            );
        }
        if res.first().map(|r| r.id) == Some(id) {
            self_found += 1;
        }
    }
    if self_found * 10 < probes * 9 {
        shortfalls.push(format!("{ctx}: a stored vector was its own nearest neighbour in only {self_found} of {probes} probes"));
    }
    shortfalls
}

/// Serialises the crash tests of this binary. Two of them running in parallel threads would each
/// fork children while the other holds its database open: a forked child owns a copy of the
/// parent's lock-file descriptor until it execs, and an unlucky interleaving then shows the other
/// test's next child a `Busy` database. That is flock semantics, not an engine bug.
static ONE_CRASH_TEST_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn crash_test(test_name: &str, storage: VectorStorageType, sync: bool, seed: u64) {
    if let Ok(dir) = std::env::var(ENV_CHILD) {
        child(dir);
        return;
    }
    let _serial = ONE_CRASH_TEST_AT_A_TIME
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let rounds: usize = std::env::var("LSMVEC_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("db");
    let state_file = tmp.path().join("state");
    let stderr_file = tmp.path().join("child.stderr");
    ok(LsmVecDb::open(&dir, options(storage, true, sync)), "create")
        .close()
        .unwrap();
    let spec = ChildSpec {
        test_name,
        dir: &dir,
        state_file: &state_file,
        stderr_file: &stderr_file,
        storage,
        sync,
        mode: "ops",
    };
    let mut state = State::default();
    let mut ever_deleted = BTreeSet::new();
    let mut rng = Rng::new(seed);
    let mut total_acked = 0;
    let mut kills_mid_op = 0;
    let mut kills_mid_groups = 0;
    let mut shortfalls = Vec::new();
    let started = Instant::now();
    for round in 0..rounds {
        state.save(&state_file);
        // Most rounds kill while writing; every fifth kills soon after spawn, often during open
        // and recovery.
        let early = round % 5 == 4;
        let delay = if early {
            Duration::from_millis(rng.below(40))
        } else {
            Duration::from_millis(2 + rng.below(60))
        };
        let run = run_child(&spec, seed * 1000 + round as u64, !early, delay);
        let in_flight = apply_log(&mut state, &run);
        for op in &run.acked {
            if let Op::Delete { id } = op {
                ever_deleted.insert(*id);
            }
        }
        total_acked += run.acked.len();
        kills_mid_op += usize::from(in_flight.is_some());
        kills_mid_groups += usize::from(matches!(&in_flight, Some(Op::Batch { ids }) if ids.len() > GROUP));
        let db = ok(
            LsmVecDb::open(&dir, options(storage, false, sync)),
            &format!("reopen after kill {round}"),
        );
        let deleting = matches!(in_flight, Some(Op::Delete { .. }));
        let del_id = if let Some(Op::Delete { id }) = &in_flight {
            Some(*id)
        } else {
            None
        };
        shortfalls.extend(verify(&db, &mut state, in_flight, &ever_deleted, round));
        if deleting {
            let id = del_id.unwrap();
            if !state.live.contains_key(&id) {
                ever_deleted.insert(id);
            }
        }
        // Close cleanly on some rounds, drop on others: both must leave a database the next
        // child can open.
        if round % 2 == 0 {
            ok(db.close(), "close");
        }
        drop(db);
    }
    eprintln!(
        "{storage:?} (sync_writes {sync}): {rounds} kills ({kills_mid_op} in the middle of an operation, {kills_mid_groups} of a batch of several groups), {total_acked} acknowledged ops, {} live at the end, {:.1?}",
        state.live.len(),
        started.elapsed()
    );
    assert!(
        shortfalls.is_empty(),
        "{storage:?}: durability held, but searches after recovery were short:\n{}",
        shortfalls.join("\n")
    );
    assert!(
        total_acked > 0,
        "the children acknowledged no operation in {rounds} rounds: the kills hit nothing"
    );
}

#[test]
fn sigkill_during_writes_keeps_acknowledged_ops_paged() {
    crash_test(
        "sigkill_during_writes_keeps_acknowledged_ops_paged",
        VectorStorageType::Paged,
        false,
        1,
    );
}

#[test]
fn sigkill_during_writes_keeps_acknowledged_ops_basic() {
    crash_test(
        "sigkill_during_writes_keeps_acknowledged_ops_basic",
        VectorStorageType::Basic,
        false,
        2,
    );
}

/// The same with `sync_writes = true` (fsync of the vector file, then of the journal, on every
/// write): a different write path under the same kills.
#[test]
fn sigkill_during_synced_writes_keeps_acknowledged_ops_paged() {
    crash_test(
        "sigkill_during_synced_writes_keeps_acknowledged_ops_paged",
        VectorStorageType::Paged,
        true,
        3,
    );
}

/// The concurrent writer: WRITERS threads insert distinct ids (thread t: base + t + WRITERS k),
/// each logging begin and ack around its call, until killed.
fn concurrent_child(dir: String) {
    let state = State::load(Path::new(&std::env::var(ENV_STATE).unwrap()));
    let db = match LsmVecDb::open(&dir, options(VectorStorageType::Paged, false, false)) {
        Ok(db) => db,
        Err(e) => {
            emit(&format!("OPENFAIL {e}"));
            std::process::exit(3);
        }
    };
    emit("READY");
    let base = state.next_id;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let db = &db;
            s.spawn(move || {
                let mut k = 0;
                while started.elapsed() < Duration::from_secs(20) {
                    let id = base + t + WRITERS * k;
                    k += 1;
                    let op = Op::Insert { id };
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
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("db");
    let state_file = tmp.path().join("state");
    let stderr_file = tmp.path().join("child.stderr");
    ok(LsmVecDb::open(&dir, options(VectorStorageType::Paged, true, false)), "create").close().unwrap();
    let spec = ChildSpec {
        test_name: NAME,
        dir: &dir,
        state_file: &state_file,
        stderr_file: &stderr_file,
        storage: VectorStorageType::Paged,
        sync: false,
        mode: "concurrent",
    };
    let mut state = State::default();
    let mut rng = Rng::new(77);
    let (mut total_acked, mut total_in_flight) = (0usize, 0usize);
    let mut shortfalls = Vec::new();
    for round in 0..rounds {
        state.save(&state_file);
        let run = run_child(&spec, round as u64, true, Duration::from_millis(5 + rng.below(80)));
        let ctx = format!("concurrent round {round}");
        let id_of = |op: &Op| match op {
            Op::Insert { id } => *id,
            other => panic!("{ctx}: unexpected op {other:?}"),
        };
        let begun: BTreeSet<u64> = run.begun.iter().map(id_of).collect();
        let acked: BTreeSet<u64> = run.acked.iter().map(id_of).collect();
        assert!(acked.is_subset(&begun), "{ctx}: an ack without its begin");
        let in_flight: Vec<u64> = begun.difference(&acked).copied().collect();
        assert!(in_flight.len() <= WRITERS as usize, "{ctx}: {} inserts in flight with {WRITERS} writers", in_flight.len());
        total_acked += acked.len();
        total_in_flight += in_flight.len();
        let db = ok(LsmVecDb::open(&dir, options(VectorStorageType::Paged, false, false)), &format!("{ctx}: reopen"));
        for &id in &acked {
            match db.get(id) {
                Ok(v) => assert!(v == vec_of(id, 0), "{ctx}: acknowledged id {id} holds another vector"),
                Err(e) => panic!("{ctx}: acknowledged id {id} lost: {e:?}"),
            }
            state.live.insert(id, 0);
        }
        for &id in &in_flight {
            if observe(&db, id, &[0], &ctx).is_some() {
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
