//! Issue 10, item 2: `open()` over a mutated database directory.
//!
//! A small database of each layout (a few hundred vectors, with deletes, updates and a twin,
//! part of it flushed into fjall tables, the rest in the journal) is built and closed once. Then,
//! for many seeded iterations, a fresh copy of it gets one randomly chosen file (the vector
//! file, `STATE`, or any file of fjall's under `lsm/`) mutated at random offsets: bit flips,
//! overwrites, truncations, extensions, zeroed ranges, copied chunks. The copy is opened, and a
//! search, some gets and an insert run on it. Properties:
//!
//! - no panic, in the calling thread or any other (a panic hook records them all), and no
//!   `Internal` error (a panicked worker);
//! - no hang: each iteration runs in its own thread and must finish within `ITERATION_TIMEOUT`;
//! - every outcome is an error, or answers that are consistent: searches sorted by distance, no
//!   NaN, only ids that were inserted; every `get` of a returned or known id gives the vector
//!   that was stored, bit for bit, with the right dimension, or `Corruption`;
//! - what docs/format.md promises: every record a node references is verified at open, so a
//!   changed byte of a live vector record (or a truncation that cuts one) fails the open with
//!   `Corruption`; so does any change to the checksummed `STATE`.
//!
//! Some mutations of fjall's files are legitimately undetectable (unused or preallocated bytes):
//! such a copy opens and must then hold exactly the database that was closed.
//!
//! fjall checksums its journal entries and table blocks, so byte damage rarely gets past it to
//! lsm-vec's own decoders. The `open_forged_records_*` targets therefore also rewrite single LSM
//! records through fjall itself (a field of a node, layer-0 or upper record, the entry point, the
//! parameters, the format, the sequence number changed; a record deleted, copied or its bytes
//! mutated). No checksum of ours covers, say, a node's caller id, so there the property is
//! weaker: no panic, no hang, no `Internal` error, and well-formed answers (right dimension,
//! sorted, no NaN).
//!
//! Deterministic: iteration `i` uses seed `LSM_VEC_FUZZ_SEED * 2^32 + i` (default seed 0; the
//! Paged layout adds 2^31). `LSM_VEC_FUZZ_CASES=N` runs `N / OPEN_DIVISOR` byte-damage and
//! `N / FORGE_DIVISOR` forged-record iterations per layout (default `N = DEFAULT_CASES`);
//! `LSM_VEC_FUZZ_ONLY=<iteration seed>` replays one iteration (and prints why open refused it);
//! `LSM_VEC_FUZZ_SKIP=<seed>,<seed>` skips known failures in long runs, and
//! `LSM_VEC_FUZZ_SKIP_VERSION_FILES=1` the damage of fjall's version files (see
//! `regression_damaged_version_file_toc_count_is_an_error`). A process abort (a failed
//! allocation) leaves the iteration it was running in `$TMPDIR/lsm-vec-fuzz-open-<layout>.running`.
//! Failures found are kept as the named `regression_*` tests at the end.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, Once};
use std::time::{Duration, Instant};

use common::*;
use lsm_vec::{DistanceMetric, ErrorKind, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 8;
const METRIC: DistanceMetric = DistanceMetric::L2;
/// The decoder targets' default case count; the open target runs this / `OPEN_DIVISOR`.
const DEFAULT_CASES: u64 = 3000;
const OPEN_DIVISOR: u64 = 15;
/// The forged-records target runs `DEFAULT_CASES / FORGE_DIVISOR` iterations per layout.
const FORGE_DIVISOR: u64 = 50;
const ITERATION_TIMEOUT: Duration = Duration::from_secs(60);
const SEED: u64 = 0x0F0F_2026;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

// ---------------------------------------------------------------------------------------------
// Panics anywhere in the process are recorded (fjall and the engine have threads of their own).

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Also caps the address space at 8 GiB: a damaged length that makes a decoder allocate
/// absurdly then fails at once (an abort, with the iteration named in its `.running` file)
/// instead of pushing the machine into swap or the OOM killer.
fn install_panic_recorder() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let cap: libc::rlim_t = 8 << 30;
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        unsafe {
            let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            if libc::getrlimit(libc::RLIMIT_AS, &mut r) == 0 && r.rlim_cur > cap {
                r.rlim_cur = cap.min(r.rlim_max);
                libc::setrlimit(libc::RLIMIT_AS, &r);
            }
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or("<unnamed>").to_string();
            PANICS.lock().unwrap_or_else(|p| p.into_inner()).push(format!("thread {thread}: {info}"));
            previous(info);
        }));
    });
}

/// Takes the recorded panics of iteration thread `mine` and of threads that are not another
/// iteration's (the engine's and fjall's); those of the test harness's own threads are dropped
/// (a failing assertion of a test running in parallel is not this iteration's).
fn take_panics(mine: &str) -> Vec<String> {
    let mut all = PANICS.lock().unwrap_or_else(|p| p.into_inner());
    let own = format!("thread {mine}:");
    let (taken, kept): (Vec<String>, Vec<String>) =
        std::mem::take(&mut *all).into_iter().partition(|p| p.starts_with(&own) || !p.starts_with("thread fuzz-open-"));
    *all = kept;
    taken.into_iter().filter(|p| !p.starts_with("thread open_") && !p.starts_with("thread regression_")).collect()
}

/// fjall 3.1.13 checks a journal entry's two value lengths with a `debug_assert_eq!`
/// (`journal/entry.rs`) before its checksum: a damaged journal panics in a build with debug
/// assertions (as the workspace's test profile is), and is refused with an error in release.
/// Tolerated here in debug builds only, counted apart and reported (see
/// `regression_damaged_journal_lengths_are_an_error`).
fn is_known_fjall_debug_assert(panic: &str) -> bool {
    cfg!(debug_assertions) && panic.contains("/fjall-3.") && panic.contains("journal/entry.rs")
}

// ---------------------------------------------------------------------------------------------
// The pristine database.

struct Pristine {
    storage: VectorStorageType,
    /// Every file (but `LOCK`), relative to the database directory.
    files: Vec<(PathBuf, Vec<u8>)>,
    model: Model,
    /// Byte offset of each live vector's record in `vectors.bin`.
    records: BTreeMap<u64, usize>,
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// 300 vectors, 20 deleted, 10 updated, a twin; then fjall's memtables are flushed into tables
/// (with fjall directly, as the engine never does it for so little data) and 40 more vectors
/// go to the journal.
fn build_pristine(dir: &Path, storage: VectorStorageType) -> Pristine {
    let mut model = Model::new();
    let db = open(dir, test_options(DIM, METRIC, storage));
    for i in 0..300u64 {
        let id = i * 7 + 3;
        let v = vector_for(SEED, id, 0, DIM);
        ok(db.insert(id, &v), "build: insert");
        model.insert(id, v);
    }
    for i in 0..20u64 {
        let id = i * 70 + 3;
        ok(db.delete(id), "build: delete");
        model.remove(&id);
    }
    for i in 0..10u64 {
        let id = (10 * i + 5) * 7 + 3;
        let v = vector_for(SEED, id, 1, DIM);
        ok(db.update(id, &v), "build: update");
        model.insert(id, v);
    }
    // A twin: an exact duplicate of a live vector. Its record has the same bytes, so it is
    // found twice in the file and not located below (damaging it is still checked for: open
    // verifies every record).
    let twin_of = model[&(5 * 7 + 3)].clone();
    ok(db.insert(9_999, &twin_of), "build: twin");
    model.insert(9_999, twin_of);
    ok(db.close(), "build: close");
    {
        let lsm = fjall::Database::builder(dir.join("lsm")).open().expect("fjall open");
        for name in ["adj0", "upper", "nodes", "meta"] {
            let ks = lsm.keyspace(name, fjall::KeyspaceCreateOptions::default).expect("fjall keyspace");
            ks.rotate_memtable_and_wait().expect("fjall flush");
        }
    }
    let db = open(dir, reopen_options(DIM, METRIC, storage));
    for i in 300..340u64 {
        let id = i * 7 + 3;
        let v = vector_for(SEED, id, 0, DIM);
        ok(db.insert(id, &v), "build: insert after the flush");
        model.insert(id, v);
    }
    assert_db_equals(&db, &model, "pristine");
    ok(db.close(), "build: second close");
    let files: Vec<(PathBuf, Vec<u8>)> = files_under(dir)
        .into_iter()
        .filter(|p| p.file_name().is_none_or(|n| n != "LOCK"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p.strip_prefix(dir).expect("under dir").to_path_buf(), b)
        })
        .collect();
    let tables = files.iter().filter(|(p, _)| p.components().any(|c| c.as_os_str() == "tables")).count();
    assert!(
        tables > 0,
        "{storage:?}: no fjall table files after the flush: {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let vf = &files.iter().find(|(p, _)| p == Path::new("vectors.bin")).expect("vectors.bin").1;
    let mut records = BTreeMap::new();
    for (&id, v) in &model {
        let hits = find_all(vf, &f32_le_bytes(v));
        if hits.len() == 1 {
            records.insert(id, hits[0]);
        }
    }
    assert!(records.len() + 2 >= model.len(), "{storage:?}: only {} of {} records located", records.len(), model.len());
    Pristine { storage, files, model, records }
}

fn restore(p: &Pristine, dir: &Path) {
    for (rel, bytes) in &p.files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create_dir_all");
        write_sparse(&path, bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

/// One iteration's damage: which file, what was done, and the bytes before and after.
struct Damage {
    file: PathBuf,
    ops: Vec<String>,
    before: Vec<u8>,
    after: Vec<u8>,
}

/// Mutates `b` with 1 to 3 random operations; offsets mostly within the used part (fjall
/// preallocates its journal with zeros), or near `hot` offsets when given.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>, hot: &[usize]) -> Vec<String> {
    let mut ops = Vec::new();
    for _ in 0..1 + rng.index(3) {
        let used = used_len(b).max(1);
        let len = b.len();
        let off = if !hot.is_empty() && rng.chance(0.5) {
            hot[rng.index(hot.len())] + rng.index(DIM * 4)
        } else if rng.chance(0.8) {
            rng.index(used)
        } else {
            rng.index(len + 1)
        };
        let off = off.min(len);
        match rng.index(6) {
            0 if off < len => {
                let mask = 1u8 << rng.index(8);
                b[off] ^= mask;
                ops.push(format!("xor byte {off} with {mask:#04x}"));
            }
            1 if off < len => {
                let n = (1 + rng.index(16)).min(len - off);
                for x in &mut b[off..off + n] {
                    *x = rng.next_u64() as u8;
                }
                ops.push(format!("overwrite {n} bytes at {off}"));
            }
            2 => {
                b.truncate(off);
                ops.push(format!("truncate to {off}"));
            }
            3 => {
                let n = 1 + rng.index(4096);
                let zeros = rng.chance(0.3);
                b.extend((0..n).map(|_| if zeros { 0 } else { rng.next_u64() as u8 }));
                ops.push(format!("extend by {n} {} bytes", if zeros { "zero" } else { "random" }));
            }
            4 if off < len => {
                let n = (1 + rng.index(4096)).min(len - off);
                b[off..off + n].fill(0);
                ops.push(format!("zero {n} bytes at {off}"));
            }
            _ if len > 0 => {
                let from = rng.index(len);
                let n = (1 + rng.index(64)).min(len - from).min(len - off);
                let chunk = b[from..from + n].to_vec();
                b[off..off + n].copy_from_slice(&chunk);
                ops.push(format!("copy {n} bytes from {from} to {off}"));
            }
            _ => ops.push("nothing (empty file)".to_string()),
        }
    }
    ops
}

/// Restores the pristine database into `dir` and damages one file chosen by `rng`.
fn damage(p: &Pristine, dir: &Path, rng: &mut Rng) -> Damage {
    restore(p, dir);
    let lsm: Vec<&PathBuf> = p.files.iter().map(|(f, _)| f).filter(|f| f.starts_with("lsm")).collect();
    let r = rng.f64();
    let file = if r < 0.4 {
        PathBuf::from("vectors.bin")
    } else if r < 0.5 {
        PathBuf::from("STATE")
    } else {
        lsm[rng.index(lsm.len())].clone()
    };
    let before = p.files.iter().find(|(f, _)| *f == file).expect("a captured file").1.clone();
    let mut after = before.clone();
    let hot: Vec<usize> =
        if file == Path::new("vectors.bin") { p.records.values().copied().collect() } else { Vec::new() };
    let ops = mutate(rng, &mut after, &hot);
    write_sparse(&dir.join(&file), &after);
    Damage { file, ops, before, after }
}

/// Internal ids that forged records name stay below this, and forged slots below 500 (so raw
/// byte mutations are only done to `meta` values): open sizes its tables from the largest
/// internal id that a layer-0 list names (`IndexState::cover`), so one forged id near
/// `u32::MAX` aborts the process on a failed allocation of 100+ GB
/// (`regression_forged_list_with_a_huge_id_is_an_error`, ignored), and it grows the slot
/// allocator one slot at a time up to the largest slot a node record names before it checks
/// that the vector file holds it, so one forged slot near `u32::MAX` hangs the open
/// (`regression_forged_node_with_a_huge_slot_is_an_error`, ignored).
const FORGED_ID_LIMIT: u32 = 1024;

/// Restores the pristine database into `dir` and rewrites one LSM record through fjall itself
/// (so that it passes fjall's checksums and reaches lsm-vec's decoders and open-time checks):
/// a field of a decoded record changed, the value's bytes mutated, the record deleted, or a
/// record added. Returns what was done.
fn forge(p: &Pristine, dir: &Path, rng: &mut Rng) -> String {
    use lsm_vec::fuzzing as fz;
    restore(p, dir);
    let lsm = fjall::Database::builder(dir.join("lsm")).open().expect("fjall open");
    let name = ["nodes", "adj0", "upper", "meta"][rng.index(4)];
    let ks = lsm.keyspace(name, fjall::KeyspaceCreateOptions::default).expect("fjall keyspace");
    let records: Vec<(Vec<u8>, Vec<u8>)> = ks
        .iter()
        .map(|g| {
            let (k, v) = g.into_inner().expect("fjall read");
            (k.to_vec(), v.to_vec())
        })
        .collect();
    let small_id = |rng: &mut Rng| if rng.chance(0.1) { FORGED_ID_LIMIT - 1 } else { rng.below(450) as u32 };
    let (key, value) = records[rng.index(records.len())].clone();
    let what = match rng.index(10) {
        0 => {
            ks.remove(key.clone()).expect("fjall remove");
            format!("{name}/{key:?} deleted")
        }
        1 if name != "meta" => {
            let id = small_id(rng);
            ks.insert(fz::key_u32(id).to_vec(), value.clone()).expect("fjall insert");
            format!("{name}/{id} := copy of {name}/{key:?}")
        }
        // Raw bytes only where they cannot name a huge internal id or slot (see FORGED_ID_LIMIT).
        2 | 3 if name == "meta" => {
            let mut v = value.clone();
            let ops = mutate(rng, &mut v, &[]);
            ks.insert(key.clone(), v).expect("fjall insert");
            format!("{name}/{key:?} bytes {ops:?}")
        }
        _ => {
            let (v, change) = forge_value(name, &key, &value, &records, rng, small_id);
            ks.insert(key.clone(), v).expect("fjall insert");
            format!("{name}/{key:?} {change}")
        }
    };
    lsm.persist(fjall::PersistMode::SyncAll).expect("fjall persist");
    what
}

/// A well-formed value for `name` that differs from `value` in one field.
fn forge_value(
    name: &str,
    key: &[u8],
    value: &[u8],
    records: &[(Vec<u8>, Vec<u8>)],
    rng: &mut Rng,
    small_id: impl Fn(&mut Rng) -> u32,
) -> (Vec<u8>, String) {
    use lsm_vec::fuzzing as fz;
    let other = |rng: &mut Rng| records[rng.index(records.len())].1.clone();
    match name {
        "nodes" => {
            let Some(mut n) = fz::decode_node(value) else { return (value.to_vec(), "unchanged (undecodable)".into()) };
            let change = match rng.index(7) {
                0 => {
                    n.slot = if rng.chance(0.5) {
                        rng.below(500) as u32
                    } else {
                        fz::decode_node(&other(rng)).map_or(0, |o| o.slot)
                    };
                    format!("slot {}", n.slot)
                }
                1 => {
                    n.level = if rng.chance(0.2) { 255 } else { rng.below(12) as u8 };
                    format!("level {}", n.level)
                }
                2 => {
                    n.head = Some(if rng.chance(0.3) { fz::decode_key_u32(key).unwrap_or(0) } else { small_id(rng) });
                    n.deleted = false;
                    format!("head {:?}", n.head)
                }
                3 if n.head.is_none() => {
                    n.deleted = !n.deleted;
                    format!("deleted {}", n.deleted)
                }
                4 => {
                    n.ext_id = if rng.chance(0.5) {
                        rng.next_u64()
                    } else {
                        fz::decode_node(&other(rng)).map_or(0, |o| o.ext_id)
                    };
                    format!("ext_id {}", n.ext_id)
                }
                5 => {
                    n.checksum = rng.next_u64() as u32;
                    format!("checksum {:#x}", n.checksum)
                }
                _ => {
                    n.head = None;
                    format!("head {:?}", n.head)
                }
            };
            (fz::encode_node(&n), change)
        }
        "adj0" => {
            let own = fz::decode_key_u32(key).unwrap_or(0);
            let mut l = fz::decode_list(value).unwrap_or_default();
            let change = match rng.index(4) {
                0 => {
                    l = (0..rng.index(80)).map(|_| small_id(rng)).collect();
                    "random list".to_string()
                }
                1 => {
                    l.push(own);
                    "self loop".to_string()
                }
                2 => {
                    l.clear();
                    "emptied".to_string()
                }
                _ => {
                    l.extend_from_slice(&l.clone());
                    "duplicated entries".to_string()
                }
            };
            (fz::encode_list(&l), format!("{change}: {l:?}"))
        }
        "upper" => {
            let mut lists = fz::decode_upper(value).unwrap_or_default();
            let change = match rng.index(3) {
                0 => {
                    lists.push((0..rng.index(20)).map(|_| small_id(rng)).collect());
                    "one more level"
                }
                1 => {
                    lists.pop();
                    "one level less"
                }
                _ => {
                    for l in &mut lists {
                        *l = (0..rng.index(40)).map(|_| small_id(rng)).collect();
                    }
                    "random lists"
                }
            };
            (fz::encode_upper(&lists), format!("{change}: {lists:?}"))
        }
        _ => match key {
            b"entry" => {
                let e = if rng.chance(0.1) { None } else { Some((small_id(rng), rng.index(12))) };
                (fz::encode_entry(e), format!("{e:?}"))
            }
            b"params" => {
                let Ok(mut pr) = fz::decode_params(value, fz::FORMAT_VERSION) else {
                    return (value.to_vec(), "unchanged".into());
                };
                match rng.index(5) {
                    0 => pr.m = 2 + rng.index(511),
                    1 => pr.m_max = pr.m + rng.index(1025 - pr.m),
                    2 => {
                        pr.storage = if pr.storage == VectorStorageType::Basic {
                            VectorStorageType::Paged
                        } else {
                            VectorStorageType::Basic
                        }
                    }
                    3 => pr.dim = 1 + rng.index(64),
                    _ => {
                        pr.vector_file =
                            PathBuf::from(["vectors.bin", "", "../vectors.bin", "lsm", "STATE"][rng.index(5)])
                    }
                }
                (fz::encode_params(&pr), format!("{pr:?}"))
            }
            b"format" => {
                let f = rng.below(5) as u32;
                (f.to_le_bytes().to_vec(), format!("{f}"))
            }
            b"seq" | b"instance" | b"pending" => {
                let v = fz::decode_u64(value).unwrap_or(0);
                let v = if rng.chance(0.5) { v.wrapping_add(1) } else { v.wrapping_sub(1) };
                (v.to_le_bytes().to_vec(), format!("{v}"))
            }
            _ => {
                let mut v = value.to_vec();
                let ops = mutate(rng, &mut v, &[]);
                (v, format!("bytes {ops:?}"))
            }
        },
    }
}

/// The located live records whose bytes the damage changed (or cut off).
fn damaged_records(p: &Pristine, d: &Damage) -> Vec<u64> {
    if d.file != Path::new("vectors.bin") {
        return Vec::new();
    }
    let rec = DIM * 4;
    p.records
        .iter()
        .filter(|(_, &off)| d.after.get(off..off + rec) != Some(&d.before[off..off + rec]))
        .map(|(&id, _)| id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One iteration.

/// How a damaged copy behaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Refused(ErrorKind),
    /// See [`is_known_fjall_debug_assert`].
    KnownFjallDebugAssert,
    OpenedIntact,
    OpenedSomeCorruption,
    /// A fjall version file was chosen under `LSM_VEC_FUZZ_SKIP_VERSION_FILES`.
    SkippedVersionFile,
}

/// `LSM_VEC_FUZZ_SKIP_VERSION_FILES=1`: long runs leave fjall's version files (`lsm/.../v<N>`)
/// alone, since one damaged byte of their table of contents aborts the process
/// (`regression_damaged_version_file_toc_count_is_an_error`), about once per 700 iterations.
fn skip_version_files() -> bool {
    std::env::var_os("LSM_VEC_FUZZ_SKIP_VERSION_FILES").is_some_and(|v| v != "0")
}

fn is_version_file(rel: &Path) -> bool {
    rel.starts_with("lsm")
        && rel
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() > 1 && n.starts_with('v') && n[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Opens the damaged copy at `dir` and checks the properties; `Err` describes a violation.
///
/// `strict` (byte damage): the copy holds exactly what was stored, or reports `Corruption`.
/// Not strict (records forged through fjall, which no checksum of ours covers, such as a node
/// record naming another caller id): any error but `Internal`, and answers that are well
/// formed (right dimension, sorted, no NaN, no id that was never stored).
fn exercise(
    p: &Pristine,
    dir: &Path,
    damaged: &[u64],
    state_changed: bool,
    seed: u64,
    strict: bool,
) -> Result<Outcome, String> {
    let opts = reopen_options(DIM, METRIC, p.storage);
    let db = match LsmVecDb::open(dir, opts) {
        Err(e) if !strict => {
            if e.kind() == ErrorKind::Internal {
                return Err(format!("open failed with Internal (a panicked worker): {e}"));
            }
            if std::env::var_os("LSM_VEC_FUZZ_ONLY").is_some() {
                eprintln!("open refused: {e}");
            }
            return Ok(Outcome::Refused(e.kind()));
        }
        Err(e) => {
            // Damaged files are Corruption; fjall may also report IoError. Anything else
            // (InvalidArgument, Internal = a panicked worker, ...) is a failure.
            if !matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError) {
                return Err(format!("open failed with {:?}: {e}", e.kind()));
            }
            if (!damaged.is_empty() || state_changed) && e.kind() != ErrorKind::Corruption {
                return Err(format!(
                    "open of a copy with damaged records {damaged:?} / STATE failed with {:?}, not Corruption: {e}",
                    e.kind()
                ));
            }
            if std::env::var_os("LSM_VEC_FUZZ_ONLY").is_some() {
                eprintln!("open refused: {e}");
            }
            return Ok(Outcome::Refused(e.kind()));
        }
        Ok(db) => db,
    };
    if !damaged.is_empty() {
        return Err(format!(
            "opened although the live records of ids {damaged:?} were damaged (open verifies every record)"
        ));
    }
    if state_changed {
        return Err("opened although STATE was changed (it is checksummed)".to_string());
    }
    let mut corrupt = 0usize;
    let mut rng = Rng::new(seed ^ 0xE5E5);
    let ids: Vec<u64> = p.model.keys().copied().collect();
    // Checks one get of a known id: the stored vector or Corruption.
    let check_get = |id: u64, corrupt: &mut usize| -> Result<(), String> {
        match db.get(id) {
            Ok(v) if v.len() != DIM => Err(format!("get({id}) returned {} values, dim is {DIM}", v.len())),
            Ok(_) if !strict => Ok(()),
            Ok(v) => match p.model.get(&id) {
                Some(m) if same_bits(&v, m) => Ok(()),
                Some(m) => Err(format!("get({id}) returned {v:?}, stored {m:?}")),
                None => Err(format!("get({id}) of an id never stored returned {v:?}")),
            },
            Err(e) if e.kind() == ErrorKind::Corruption => {
                *corrupt += 1;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound && !p.model.contains_key(&id) => Ok(()),
            Err(e) if !strict && e.kind() != ErrorKind::Internal => Ok(()),
            Err(e) => Err(format!("get({id}) failed with {:?}: {e}", e.kind())),
        }
    };
    let result = (|| -> Result<(), String> {
        match db.len() {
            Ok(n) if n == p.model.len() || !strict => {}
            Ok(n) => return Err(format!("opened holding {n} vectors, {} were stored", p.model.len())),
            Err(e) => return Err(format!("len() failed: {e}")),
        }
        for q in 0..3 {
            let query =
                if q == 0 { uniform_vector(&mut rng, DIM) } else { p.model[&ids[rng.index(ids.len())]].clone() };
            match db.search_knn(&query, &SearchOptions::new(10, 64)) {
                Ok(rs) => {
                    check_result_shape(&rs, 10).map_err(|m| format!("search: {m}"))?;
                    if let Some(r) = rs.iter().find(|r| r.distance.is_nan()) {
                        return Err(format!("search returned a NaN distance for {}", r.id));
                    }
                    for r in &rs {
                        if strict && !p.model.contains_key(&r.id) {
                            return Err(format!("search returned id {}, never stored: {rs:?}", r.id));
                        }
                        check_get(r.id, &mut corrupt)?;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Corruption => corrupt += 1,
                Err(e) if !strict && e.kind() != ErrorKind::Internal => corrupt += 1,
                Err(e) => return Err(format!("search failed with {:?}: {e}", e.kind())),
            }
        }
        for _ in 0..5 {
            check_get(ids[rng.index(ids.len())], &mut corrupt)?;
        }
        check_get(1 << 40, &mut corrupt)?;
        let new_id = 1_000_000 + seed % 1000;
        let v = vector_for(SEED, new_id, 7, DIM);
        match db.insert(new_id, &v) {
            Ok(()) => match db.get(new_id) {
                Ok(got) if same_bits(&got, &v) => {}
                Ok(got) => return Err(format!("get of the id just inserted returned {got:?}, inserted {v:?}")),
                Err(e) if e.kind() == ErrorKind::Corruption => corrupt += 1,
                Err(e) => return Err(format!("get of the id just inserted failed: {e}")),
            },
            Err(e) if matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError | ErrorKind::Closed) => {
                corrupt += 1
            }
            Err(e) if !strict && e.kind() != ErrorKind::Internal => corrupt += 1,
            Err(e) => return Err(format!("insert failed with {:?}: {e}", e.kind())),
        }
        Ok(())
    })();
    let closed = db.close();
    result?;
    match closed {
        Err(e) if matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError) => Ok(Outcome::OpenedSomeCorruption),
        Err(e) if !strict && e.kind() != ErrorKind::Internal => Ok(Outcome::OpenedSomeCorruption),
        Err(e) => Err(format!("close failed with {:?}: {e}", e.kind())),
        Ok(()) if corrupt > 0 => Ok(Outcome::OpenedSomeCorruption),
        Ok(()) => Ok(Outcome::OpenedIntact),
    }
}

/// Runs iteration `seed` on a fresh copy under `root`, in its own thread, bounded in time;
/// a panic (anywhere in the process) or a hang is a failure.
fn iteration(p: &'static Pristine, root: &Path, seed: u64, mode: Mode) -> Result<(Outcome, String), String> {
    let dir = root.join(format!("it-{seed:x}"));
    let mut rng = Rng::new(seed);
    let (what, damaged, state_changed) = match mode {
        Mode::Bytes => {
            let d = damage(p, &dir, &mut rng);
            if skip_version_files() && is_version_file(&d.file) {
                let _ = std::fs::remove_dir_all(&dir);
                return Ok((Outcome::SkippedVersionFile, format!("seed {seed}: {} skipped", d.file.display())));
            }
            let what = format!("{:?} seed {seed}: {} {:?}", p.storage, d.file.display(), d.ops);
            let state_changed = d.file == Path::new("STATE") && d.after != d.before;
            (what, damaged_records(p, &d), state_changed)
        }
        Mode::Records => {
            (format!("{:?} forged seed {seed}: {}", p.storage, forge(p, &dir, &mut rng)), Vec::new(), false)
        }
    };
    // An abort (an allocation failure cannot be caught) loses the test's output: the running
    // iteration is named in a file that outlives the process.
    let _ = std::fs::write(running_marker(p.storage), format!("{what}\n"));
    let strict = mode == Mode::Bytes;
    let (tx, rx) = mpsc::channel();
    let worker_dir = dir.clone();
    let started = Instant::now();
    let thread_name = format!("fuzz-open-{:?}-{mode:?}-{seed}", p.storage);
    let handle = std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exercise(p, &worker_dir, &damaged, state_changed, seed, strict)
            }));
            let _ = tx.send(r);
        })
        .expect("spawn");
    let result = match rx.recv_timeout(ITERATION_TIMEOUT) {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err("panicked".to_string()),
        Err(_) => {
            // The thread is left running: the test fails anyway.
            return Err(format!("{what}: no answer after {ITERATION_TIMEOUT:?} (hang)"));
        }
    };
    let _ = handle.join();
    let panics = take_panics(&thread_name);
    let result = if panics.is_empty() {
        result
    } else if panics.iter().all(|p| is_known_fjall_debug_assert(p)) {
        Ok(Outcome::KnownFjallDebugAssert)
    } else {
        Err(format!("panics: {panics:?}"))
    };
    let _ = std::fs::remove_dir_all(&dir);
    let elapsed = started.elapsed();
    result.map(|o| (o, format!("{what}: {o:?} in {elapsed:.0?}"))).map_err(|e| format!("{what}: {e}"))
}

/// Names the iteration running (see `iteration`); removed when a layout's run ends.
fn running_marker(storage: VectorStorageType) -> PathBuf {
    std::env::temp_dir().join(format!("lsm-vec-fuzz-open-{storage:?}.running"))
}

/// What an iteration damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Bytes of one file ([`damage`]).
    Bytes,
    /// LSM records, rewritten through fjall ([`forge`]).
    Records,
}

fn run_layout(storage: VectorStorageType, mode: Mode) {
    install_panic_recorder();
    // On tmpfs where there is one: an iteration is a few fsyncs, which a busy disk makes slow.
    let shm = Path::new("/dev/shm");
    let t = if shm.is_dir() {
        tempfile::Builder::new().prefix("lsm-vec-fuzz-open").tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let p: &'static Pristine = Box::leak(Box::new(build_pristine(&t.path().join("pristine"), storage)));
    let seeds: Vec<u64> = match env_u64("LSM_VEC_FUZZ_ONLY") {
        Some(s) => vec![s],
        None => {
            let n = env_u64("LSM_VEC_FUZZ_CASES").unwrap_or(DEFAULT_CASES)
                / if mode == Mode::Bytes { OPEN_DIVISOR } else { FORGE_DIVISOR };
            let base = env_u64("LSM_VEC_FUZZ_SEED").unwrap_or(0) << 32 | (storage.code() as u64) << 31;
            (0..n.max(1)).map(|i| base + i).collect()
        }
    };
    let start = Instant::now();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let skip: Vec<u64> = std::env::var("LSM_VEC_FUZZ_SKIP")
        .map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim().parse().expect("LSM_VEC_FUZZ_SKIP: seeds"))
                .collect()
        })
        .unwrap_or_default();
    for &seed in seeds.iter().filter(|s| !skip.contains(s)) {
        match iteration(p, t.path(), seed, mode) {
            Ok((o, line)) => {
                if seeds.len() == 1 {
                    eprintln!("{line}");
                }
                *outcomes.entry(format!("{o:?}")).or_default() += 1;
            }
            Err(e) => {
                eprintln!("FAILED {e}");
                let hang = e.contains("(hang)");
                failures.push(e);
                if hang || failures.len() >= 10 {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_file(running_marker(storage));
    eprintln!("{storage:?} {mode:?}: {} iterations in {:.2?}: {outcomes:?}", seeds.len(), start.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} iterations failed (replay one with LSM_VEC_FUZZ_ONLY=<seed>):\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

#[test]
fn open_mutated_paged_database() {
    run_layout(VectorStorageType::Paged, Mode::Bytes);
}

#[test]
fn open_mutated_basic_database() {
    run_layout(VectorStorageType::Basic, Mode::Bytes);
}

#[test]
fn open_forged_records_paged_database() {
    run_layout(VectorStorageType::Paged, Mode::Records);
}

#[test]
fn open_forged_records_basic_database() {
    run_layout(VectorStorageType::Basic, Mode::Records);
}

// ---------------------------------------------------------------------------------------------
// Regression tests: the failures the targets above found, one test each.

/// Found by `open_mutated_basic_database` (seeds 130 and 134 of the default run: a truncated and
/// overwritten, or a chunk copied inside, `lsm/0.jnl`). fjall 3.1.13's journal decoder compares
/// an entry's value length with its on-disk length in a `debug_assert_eq!`
/// (`journal/entry.rs`) before it checks anything else, so a damaged journal makes `open` panic
/// in a build with debug assertions (the workspace's test profile has them). The journal is
/// fjall's and `graph/store.rs` opens it, so there is no decoder of ours to fix; a release build
/// reads past the assertion. This test damages exactly that field and requires an error, or a
/// database that holds exactly what was stored, and no panic: it runs under `--release` and is
/// ignored in builds with debug assertions.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "fjall 3.1.13 panics (debug_assert_eq!) on this damage in builds with debug assertions"
)]
fn regression_damaged_journal_lengths_are_an_error() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("db");
    let db = open(&dir, test_options(DIM, METRIC, VectorStorageType::Paged));
    let mut model = Model::new();
    for id in 0..20u64 {
        let v = vector_for(SEED, id, 0, DIM);
        ok(db.insert(id, &v), "insert");
        model.insert(id, v);
    }
    ok(db.close(), "close");
    let jnl = files_under(&dir.join("lsm"))
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "jnl") && find_all(&std::fs::read(p).unwrap(), b"params").len() == 1
        })
        .expect("the journal holding meta/params");
    let mut b = std::fs::read(&jnl).unwrap();
    // Item entry: ..., key length u16, value length u32, on-disk value length u32, key, value.
    let at = find_all(&b, b"params")[0] - 8;
    let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    b[at..at + 4].copy_from_slice(&(len + 1).to_le_bytes());
    write_sparse(&jnl, &b);
    match LsmVecDb::open(&dir, reopen_options(DIM, METRIC, VectorStorageType::Paged)) {
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError), "open failed with {e} ({e:?})")
        }
        Ok(db) => {
            assert_db_equals(&db, &model, "opened after the damage");
            ok(db.close(), "close");
        }
    }
}

/// Found by `open_mutated_basic_database` under `LSM_VEC_FUZZ_CASES=100000` (Basic seed 447:
/// `lsm/keyspaces/2/v2`, 64 bytes copied from offset 95 to 70). fjall's version files are
/// single-file archives (crate `sfa` 1.0.0), whose table-of-contents reader sizes a `Vec` from the
/// stored entry count before checking anything (`sfa/src/toc/reader.rs`): the damaged count asks
/// for a 63 GB allocation and the process aborts (an allocation failure cannot be caught).
/// Not fixable in lsm-vec's decoders (`graph/store.rs` hands the directory to fjall); ignored
/// until the dependency checks the count against the file size, since running it kills the
/// test process. Long runs skip it with `LSM_VEC_FUZZ_SKIP_VERSION_FILES=1` (it recurs about once
/// per 700 byte-damage iterations: also Paged seed 2147484845, Basic seed 1709, a single bit).
#[test]
#[ignore = "aborts the process: sfa 1.0.0 (fjall's version files) allocates from an unchecked TOC count"]
fn regression_damaged_version_file_toc_count_is_an_error() {
    install_panic_recorder();
    let t = tempfile::tempdir().expect("tempdir");
    let p = build_pristine(&t.path().join("pristine"), VectorStorageType::Basic);
    let dir = t.path().join("damaged");
    restore(&p, &dir);
    let v = dir.join("lsm/keyspaces/2/v2");
    let mut b = std::fs::read(&v).expect("lsm/keyspaces/2/v2");
    let chunk = b[95..95 + 64].to_vec();
    b[70..70 + 64].copy_from_slice(&chunk);
    write_sparse(&v, &b);
    match LsmVecDb::open(&dir, reopen_options(DIM, METRIC, VectorStorageType::Basic)) {
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::Corruption | ErrorKind::IoError), "open failed with {e} ({e:?})")
        }
        Ok(db) => {
            assert_db_equals(&db, &p.model, "opened after the damage");
            ok(db.close(), "close");
        }
    }
}

/// Found by `open_forged_records_*` (Paged forged seed 2147483691 before the ids of forged lists
/// were bounded: bytes of an `adj0` value mutated). A layer-0 list naming internal id
/// 0x8000_0000 makes open size its per-node tables to that id (`IndexState::cover` in
/// `db/txn.rs`, called from the `adj0` scan of `db/open.rs`): a 137 GB allocation, which fails
/// and aborts the process. fjall's checksums keep random damage from producing such a list, but
/// a list was trusted up to `u32::MAX`. Fixed in `db/open.rs`: a list naming an id above the
/// largest node or ghost key is `Corruption` (and the largest key must fit the machine).
#[test]
fn regression_forged_list_with_a_huge_id_is_an_error() {
    install_panic_recorder();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("db");
    let db = open(&dir, test_options(DIM, METRIC, VectorStorageType::Paged));
    for id in 0..20u64 {
        ok(db.insert(id, &vector_for(SEED, id, 0, DIM)), "insert");
    }
    ok(db.close(), "close");
    {
        let lsm = fjall::Database::builder(dir.join("lsm")).open().expect("fjall open");
        let adj0 = lsm.keyspace("adj0", fjall::KeyspaceCreateOptions::default).expect("adj0");
        adj0.insert(lsm_vec::fuzzing::key_u32(3).to_vec(), lsm_vec::fuzzing::encode_list(&[1, 0x8000_0000]))
            .expect("insert");
        lsm.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    match LsmVecDb::open(&dir, reopen_options(DIM, METRIC, VectorStorageType::Paged)) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Corruption, "open failed with {e} ({e:?})"),
        Ok(db) => panic!("opened with a layer-0 list naming internal id 0x8000_0000 (stats: {:?})", db.stats().ok()),
    }
}

/// Found by `open_forged_records_*` under `LSM_VEC_FUZZ_CASES=30000` (Paged forged seed
/// 2147483888: `nodes/158`, bytes 8..15 copied to 11..18; Basic forged seed 558), both hangs
/// past the 60 s bound. A node record naming slot 2 650 800 286 makes open call
/// `SlotAllocator::mark_used` (`vectors/allocator.rs`), which grows the allocator one slot at a
/// time, a `BTreeSet` insert each, up to that slot, before `check_holds` (`db/open.rs`) would
/// have refused the slot as past the end of the vector file. Fixed in `db/open.rs`: each node's
/// slot is checked against the file before `mark_used`.
#[test]
fn regression_forged_node_with_a_huge_slot_is_an_error() {
    install_panic_recorder();
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path().join("db");
    let db = open(&dir, test_options(DIM, METRIC, VectorStorageType::Paged));
    for id in 0..20u64 {
        ok(db.insert(id, &vector_for(SEED, id, 0, DIM)), "insert");
    }
    ok(db.close(), "close");
    {
        let lsm = fjall::Database::builder(dir.join("lsm")).open().expect("fjall open");
        let nodes = lsm.keyspace("nodes", fjall::KeyspaceCreateOptions::default).expect("nodes");
        let key = lsm_vec::fuzzing::key_u32(3).to_vec();
        let mut n = lsm_vec::fuzzing::decode_node(&nodes.get(&key).expect("get").expect("node 3")).expect("decodable");
        n.slot = 2_650_800_286;
        nodes.insert(key, lsm_vec::fuzzing::encode_node(&n)).expect("insert");
        lsm.persist(fjall::PersistMode::SyncAll).expect("persist");
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = LsmVecDb::open(&dir, reopen_options(DIM, METRIC, VectorStorageType::Paged)).map(|db| db.close());
        let _ = tx.send(r.map_err(|e| (e.kind(), e.to_string())).map(|_| ()));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Err(_) => panic!("open of a node record naming slot 2650800286 did not return within 30 s"),
        Ok(Ok(())) => panic!("opened with a node record naming slot 2650800286"),
        Ok(Err((kind, msg))) => assert_eq!(kind, ErrorKind::Corruption, "open failed with {msg}"),
    }
}
