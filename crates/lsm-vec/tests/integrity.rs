//! Regression tests of issue 7 ("Integrity: the ways main loses or corrupts data without an
//! error"): one test per numbered case (the test name starts with `caseN_`), plus the smaller
//! items of the issue. Cases 6 (injected I/O errors) and 9 (fork) have their own files
//! (`fault_injection.rs`, `fork_child.rs`); the relative vector path of case 2 is in
//! `relative_vector_path.rs` because it changes the process's working directory.
//!
//! The rule for damaged files: a reopen either refuses with `Corruption`, or every vector that
//! was there at the clean close is there exactly (a read of a damaged record may be
//! `Corruption`), with the same `len()`, and nothing else is there. A damaged file is never
//! served as data, and a failed open never destroys data.
//!
//! Every file is damaged only after `close()`; databases are copied (sparse for fjall's
//! preallocated journal) so each damage starts from the same pristine bytes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::*;
use lsm_vec::{DbOptions, DistanceMetric, Error, ErrorKind, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 8;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Creates a database at `dir` (reinit) with `n` seeded vectors, ids `i * 7 + 3`, closes it and
/// returns the model.
fn build(dir: &Path, opts: DbOptions, n: u64, seed: u64) -> Model {
    let db = open(dir, opts);
    let mut model = Model::new();
    for i in 0..n {
        let id = i * 7 + 3;
        let v = vector_for(seed, id, 0, DIM);
        ok(db.insert(id, &v), "build: insert");
        model.insert(id, v);
    }
    ok(db.close(), "build: close");
    model
}

fn opts(metric: DistanceMetric, storage: VectorStorageType) -> DbOptions {
    test_options(DIM, metric, storage)
}

fn reopen_opts(metric: DistanceMetric, storage: VectorStorageType) -> DbOptions {
    reopen_options(DIM, metric, storage)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Asserts that the message of `e` names `file` (as given, or canonicalised).
#[track_caller]
fn assert_names_file(e: &Error, file: &Path) {
    let msg = e.to_string();
    let given = file.display().to_string();
    let canon = file.canonicalize().map(|p| p.display().to_string()).unwrap_or_else(|_| given.clone());
    assert!(msg.contains(&given) || msg.contains(&canon), "the error does not name the file {given}: {msg}");
}

/// How a damaged database behaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `open` returned `Corruption`.
    RefusedAtOpen,
    /// It opened and everything read back exactly.
    Intact,
    /// It opened; some reads were `Corruption`, every other one exact.
    CorruptionOnRead,
}

/// The rule of the module: open `dir` with `opts`; an error must be `Corruption`; an open
/// database must hold exactly `expected` (a read may be `Corruption`, never another value), with
/// `len() == expected.len()`, every search free of NaN and of ids outside `expected`, and every
/// id of `absent` absent. `search_stride` searches every n-th vector of `expected` (1 = all).
fn check_intact_or_corruption(
    dir: &Path,
    opts: &DbOptions,
    expected: &Model,
    absent: &[u64],
    search_stride: usize,
    what: &str,
) -> Outcome {
    check_opened(LsmVecDb::open(dir, opts.clone()), expected, absent, search_stride, what)
}

/// [`check_intact_or_corruption`] of the result of an open.
fn check_opened(
    opened: Result<LsmVecDb, Error>,
    expected: &Model,
    absent: &[u64],
    search_stride: usize,
    what: &str,
) -> Outcome {
    let db = match opened {
        Err(e) => {
            assert_eq!(
                e.kind(),
                ErrorKind::Corruption,
                "{what}: open failed with an error that is not Corruption: {e} ({e:?})"
            );
            eprintln!("{what}: open refused: {e}");
            return Outcome::RefusedAtOpen;
        }
        Ok(db) => db,
    };
    let mut corrupt_reads = 0usize;
    let len = ok(db.len(), what);
    assert_eq!(
        len,
        expected.len(),
        "{what}: opened without an error but holds {len} vectors instead of {}",
        expected.len()
    );
    let sorted: BTreeMap<u64, &Vec<f32>> = expected.iter().map(|(k, v)| (*k, v)).collect();
    for (&id, v) in &sorted {
        match db.get(id) {
            Ok(got) => assert!(same_bits(&got, v), "{what}: get({id}) returned {got:?}, the database held {v:?}"),
            Err(e) if e.kind() == ErrorKind::Corruption => corrupt_reads += 1,
            Err(e) => panic!("{what}: get({id}) failed with {e} ({e:?}), expected the vector or Corruption"),
        }
    }
    for &id in absent {
        match db.get(id) {
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Corruption) => {}
            Err(e) => panic!("{what}: get({id}) of an absent id failed with {e} ({e:?})"),
            Ok(v) => panic!("{what}: id {id}, deleted before the close, is back: {v:?}"),
        }
    }
    for (&id, v) in sorted.iter().step_by(search_stride.max(1)) {
        match db.search_knn(v, &SearchOptions::new(10, 64)) {
            Ok(rs) => {
                if let Err(m) = check_result_shape(&rs, 10) {
                    panic!("{what}: search of {id}: {m}");
                }
                for r in &rs {
                    assert!(!r.distance.is_nan(), "{what}: search of {id} returned a NaN distance: {rs:?}");
                    assert!(
                        expected.contains_key(&r.id),
                        "{what}: search of {id} returned id {} which was not live at the close: {rs:?}",
                        r.id
                    );
                }
            }
            Err(e) if e.kind() == ErrorKind::Corruption => corrupt_reads += 1,
            Err(e) => panic!("{what}: search of {id} failed with {e} ({e:?}), expected results or Corruption"),
        }
    }
    match db.close() {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Corruption => corrupt_reads += 1,
        Err(e) => panic!("{what}: close failed with {e} ({e:?})"),
    }
    if corrupt_reads > 0 {
        eprintln!("{what}: opened, {corrupt_reads} reads reported Corruption");
        Outcome::CorruptionOnRead
    } else {
        Outcome::Intact
    }
}

/// [`check_intact_or_corruption`] with every vector searched and no known-absent ids.
fn assert_intact_or_corruption(dir: &Path, opts: &DbOptions, expected: &HashMap<u64, Vec<f32>>) -> Outcome {
    check_intact_or_corruption(dir, opts, expected, &[], 1, &format!("{}", dir.display()))
}

/// Runs each of `cases`, collects the failures, and fails once with all of them (so a test over
/// several damaged files says which ones fail, not only the first).
fn run_all<T: std::fmt::Debug>(cases: impl IntoIterator<Item = T>, f: impl Fn(&T)) {
    let mut failures = Vec::new();
    for c in cases {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&c))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{c:?}: {msg}"));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// The files of a closed database held in memory, to restore pristine copies cheaply.
struct DirImage {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl DirImage {
    fn capture(dir: &Path) -> DirImage {
        let files = files_under(dir)
            .into_iter()
            .filter(|p| p.file_name().is_none_or(|n| n != "LOCK"))
            .map(|p| {
                let bytes = read(&p);
                (p.strip_prefix(dir).expect("under dir").to_path_buf(), bytes)
            })
            .collect();
        DirImage { files }
    }

    /// Replaces `dir` with the captured files.
    fn restore(&self, dir: &Path) {
        if dir.exists() {
            std::fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        for (rel, bytes) in &self.files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("create_dir_all");
            write_sparse(&p, bytes);
        }
    }
}

/// The journals (`lsm/*.jnl`) and tables (`lsm/keyspaces/*/tables/*`) of a database, relative to it.
fn journals_and_tables(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let lsm = dir.join("lsm");
    let mut journals = Vec::new();
    let mut tables = Vec::new();
    for p in files_under(&lsm) {
        let rel = p.strip_prefix(dir).expect("under dir").to_path_buf();
        let comps: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        if comps.len() == 2 && comps[1].ends_with(".jnl") {
            journals.push(rel);
        } else if comps.len() == 5 && comps[1] == "keyspaces" && comps[3] == "tables" {
            tables.push(rel);
        }
    }
    (journals, tables)
}

/// The `lsm/keyspaces/N/current` files of a database, relative to it.
fn keyspace_current_files(dir: &Path) -> Vec<PathBuf> {
    files_under(&dir.join("lsm"))
        .into_iter()
        .map(|p| p.strip_prefix(dir).expect("under dir").to_path_buf())
        .filter(|rel| {
            let comps: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            comps.len() == 4 && comps[1] == "keyspaces" && comps[3] == "current"
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Case 1: opening a database silently wipes another database's vector file.

#[test]
fn case1_open_with_another_databases_vector_file_is_refused() {
    let t = tmp();
    let a = t.path().join("A");
    let b = t.path().join("B");
    let model = build(&a, opts(DistanceMetric::L2, VectorStorageType::Paged), 50, 11);
    let vf = a.join("vectors.bin");
    let before = read(&vf);

    let mut o = reopen_opts(DistanceMetric::L2, VectorStorageType::Paged);
    o.vector_file_path = vf.clone();
    let e = expect_kind(LsmVecDb::open(&b, o), ErrorKind::Corruption, "open B with A's vector file");
    eprintln!("refused as expected: {e}");
    assert_names_file(&e, &vf);
    assert!(read(&vf) == before, "A's vector file changed ({} -> {} bytes)", before.len(), read(&vf).len());

    let db = open(&a, reopen_opts(DistanceMetric::L2, VectorStorageType::Paged));
    assert_db_equals(&db, &model, "A after B's attempt");
    ok(db.close(), "close A");
    let db = ok(LsmVecDb::open_existing(&a), "open_existing A");
    assert_db_equals(&db, &model, "A (open_existing) after B's attempt");
}

/// `reinit` deletes only what is provably the reinitialised database's: another database's
/// vector file (its magic is ours, its LSM is elsewhere) is not.
#[test]
fn case1_reinit_does_not_delete_another_databases_vector_file() {
    let t = tmp();
    let a = t.path().join("A");
    let b = t.path().join("B");
    let model = build(&a, opts(DistanceMetric::L2, VectorStorageType::Paged), 50, 14);
    let vf = a.join("vectors.bin");
    let before = read(&vf);
    let mut o = opts(DistanceMetric::L2, VectorStorageType::Paged); // reinit = true
    o.vector_file_path = vf.clone();
    match LsmVecDb::open(&b, o) {
        Ok(_) => panic!("reinit of B with A's vector file succeeded (A's vectors are gone)"),
        Err(e) => eprintln!("refused: {e} ({:?})", e.kind()),
    }
    assert!(read(&vf) == before, "reinit of B changed A's vector file ({} -> {} bytes)", before.len(), read(&vf).len());
    let db = open(&a, reopen_opts(DistanceMetric::L2, VectorStorageType::Paged));
    assert_db_equals(&db, &model, "A after B's reinit attempt");
}

#[test]
fn case1_two_fresh_databases_sharing_one_vector_file() {
    let t = tmp();
    let x = t.path().join("X");
    std::fs::create_dir_all(&x).unwrap();
    let shared = x.join("shared.bin");
    let d1 = t.path().join("D1");
    let d2 = t.path().join("D2");

    let mut o = reopen_opts(DistanceMetric::L2, VectorStorageType::Paged);
    o.vector_file_path = shared.clone();
    let db1 = open(&d1, o.clone());
    let mut model = Model::new();
    for id in 0..40u64 {
        let v = vector_for(3, id, 0, DIM);
        ok(db1.insert(id, &v), "insert D1");
        model.insert(id, v);
    }
    ok(db1.close(), "close D1");
    let before = read(&shared);

    let e = expect_kind(
        LsmVecDb::open(&d2, o.clone()),
        ErrorKind::Corruption,
        "second fresh database on the same vector file",
    );
    eprintln!("refused as expected: {e}");
    assert_names_file(&e, &shared);
    assert!(read(&shared) == before, "the shared vector file changed");

    // Also while the first one is open.
    let db1 = open(&d1, o.clone());
    expect_kind(LsmVecDb::open(&d2, o.clone()), ErrorKind::Corruption, "second fresh database while the first is open");
    assert_db_equals(&db1, &model, "D1 (still open) after D2's attempt");
    ok(db1.close(), "close D1");
    assert!(read(&shared) == before, "the shared vector file changed");

    let db1 = open(&d1, o);
    assert_db_equals(&db1, &model, "D1 after D2's attempts");
    ok(db1.close(), "close D1");
    let db1 = ok(LsmVecDb::open_existing(&d1), "open_existing D1");
    assert_db_equals(&db1, &model, "D1 (open_existing)");
}

#[test]
fn case1_lost_lsm_directory_does_not_truncate_vectors() {
    // (a) lsm/ lost; (b) everything but the vector file lost (lsm/ and any state file beside it).
    for only_vectors_left in [true, false] {
        let t = tmp();
        let a = t.path().join("A");
        let storage = VectorStorageType::Paged;
        build(&a, opts(DistanceMetric::L2, storage), 300, 12);
        let vf = a.join("vectors.bin");
        let before = read(&vf);
        std::fs::remove_dir_all(a.join("lsm")).unwrap();
        if only_vectors_left {
            for entry in std::fs::read_dir(&a).unwrap() {
                let p = entry.unwrap().path();
                if p != vf && p.is_file() {
                    std::fs::remove_file(&p).unwrap();
                }
            }
        }
        let what = if only_vectors_left { "only vectors.bin left" } else { "lsm/ lost" };

        let e = expect_kind(
            LsmVecDb::open(&a, reopen_opts(DistanceMetric::L2, storage)),
            ErrorKind::Corruption,
            &format!("{what}: open with options"),
        );
        eprintln!("{what}: refused as expected: {e}");
        assert!(e.to_string().contains("vectors.bin"), "{what}: the error does not name vectors.bin: {e}");
        let after = read(&vf);
        assert!(after == before, "{what}: vectors.bin changed: {} -> {} bytes", before.len(), after.len());

        match LsmVecDb::open_existing(&a) {
            Ok(db) => panic!("{what}: open_existing succeeded with {:?} vectors", db.len()),
            Err(e) => eprintln!("{what}: open_existing: {e} ({:?})", e.kind()),
        }
        assert!(read(&vf) == before, "{what}: vectors.bin changed after open_existing");

        // reinit deletes what is ours: the vector file of this directory.
        let db = ok(LsmVecDb::open(&a, opts(DistanceMetric::L2, storage)), &format!("{what}: reinit"));
        assert_eq!(ok(db.len(), "len"), 0);
        let v = vector_for(12, 1, 1, DIM);
        ok(db.insert(1, &v), "insert after reinit");
        ok(db.close(), "close");
        let db = open(&a, reopen_opts(DistanceMetric::L2, storage));
        assert_db_equals(&db, &Model::from([(1, v)]), &format!("{what}: after reinit + insert + reopen"));
    }
}

#[test]
fn case1_lost_lsm_current_file_does_not_truncate_vectors() {
    let t = tmp();
    let a = t.path().join("A");
    let storage = VectorStorageType::Paged;
    let model = build(&a, opts(DistanceMetric::L2, storage), 300, 13);
    let image = DirImage::capture(&a);
    let before = read(&a.join("vectors.bin"));
    let currents = keyspace_current_files(&a);
    assert!(!currents.is_empty(), "no lsm/keyspaces/*/current files in a closed database");
    run_all(currents, |rel| {
        let w = t.path().join("work");
        image.restore(&w);
        std::fs::remove_file(w.join(rel)).unwrap();
        let what = format!("without {}", rel.display());
        let outcome = check_intact_or_corruption(&w, &reopen_opts(DistanceMetric::L2, storage), &model, &[], 5, &what);
        let after = read(&w.join("vectors.bin"));
        if outcome == Outcome::RefusedAtOpen {
            assert!(
                after == before,
                "{what}: the refused open changed vectors.bin ({} -> {} bytes)",
                before.len(),
                after.len()
            );
        } else {
            assert!(
                after.len() >= before.len(),
                "{what}: vectors.bin shrank ({} -> {} bytes)",
                before.len(),
                after.len()
            );
        }
        eprintln!("{what}: {outcome:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Case 2: a copied database writes into the original.

/// Resolves the vector file path of an open database (relative paths against its directory).
fn effective_vector_file(db: &LsmVecDb) -> PathBuf {
    let p = ok(db.options(), "options").vector_file_path;
    let p = if p.is_relative() { db.path().join(p) } else { p };
    p.canonicalize().unwrap_or(p)
}

#[test]
fn case2_copied_database_is_independent() {
    let t = tmp();
    let c = t.path().join("C");
    let cc = t.path().join("C_copy");
    let storage = VectorStorageType::Paged;
    let model = build(&c, opts(DistanceMetric::L2, storage), 100, 21);
    let c_vf_before = read(&c.join("vectors.bin"));
    copy_dir_recursive(&c, &cc);

    let mut copy_model = model.clone();
    let db = ok(LsmVecDb::open_existing(&cc), "open_existing copy");
    assert_eq!(
        effective_vector_file(&db),
        cc.join("vectors.bin").canonicalize().unwrap(),
        "the copy uses another vector file than its own"
    );
    assert_db_equals(&db, &model, "copy as opened");
    for id in [3u64, 10, 17, 24, 31] {
        let v = vector_for(99, id, 1, DIM);
        ok(db.update(id, &v), "update in copy");
        copy_model.insert(id, v);
    }
    for id in [38u64, 45, 52] {
        ok(db.delete(id), "delete in copy");
        copy_model.remove(&id);
    }
    for id in 10_000..10_020u64 {
        let v = vector_for(99, id, 0, DIM);
        ok(db.insert(id, &v), "insert in copy");
        copy_model.insert(id, v);
    }
    ok(db.close(), "close copy");

    assert!(read(&c.join("vectors.bin")) == c_vf_before, "writes to the copy changed the original's vector file");
    let db = open(&c, reopen_opts(DistanceMetric::L2, storage));
    assert_db_equals(&db, &model, "original after writes to the copy");
    for id in 10_000..10_020u64 {
        assert!(!ok(db.contains(id), "contains"), "id {id} inserted into the copy is in the original");
    }
    ok(db.close(), "close original");

    let mut o = reopen_opts(DistanceMetric::L2, storage);
    o.vector_file_path = PathBuf::new();
    let db = open(&cc, o);
    assert_db_equals(&db, &copy_model, "copy after reopen");
}

#[test]
fn case2_moved_database_opens() {
    let t = tmp();
    let c = t.path().join("C");
    let moved = t.path().join("elsewhere").join("C_moved");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    let mut model = build(&c, opts(DistanceMetric::L2, VectorStorageType::Paged), 100, 22);
    std::fs::rename(&c, &moved).unwrap();

    let db = ok(LsmVecDb::open_existing(&moved), "open_existing of a moved database");
    assert_db_equals(&db, &model, "moved (open_existing)");
    let v = vector_for(22, 5000, 0, DIM);
    ok(db.insert(5000, &v), "insert into moved");
    model.insert(5000, v);
    ok(db.close(), "close");

    let db = ok(LsmVecDb::open(&moved, DbOptions::new(DIM)), "open(moved, DbOptions::new(dim))");
    assert_db_equals(&db, &model, "moved (open with DbOptions::new)");
    assert_eq!(effective_vector_file(&db), moved.join("vectors.bin").canonicalize().unwrap());
    assert!(!c.exists(), "opening the moved database recreated the old directory");
}

#[test]
fn case2_copy_with_external_vector_file_is_detected() {
    let t = tmp();
    let x = t.path().join("X");
    std::fs::create_dir_all(&x).unwrap();
    let ext = x.join("ext.bin");
    let c = t.path().join("C");
    let cc = t.path().join("C_copy");
    let storage = VectorStorageType::Paged;
    let mut o = opts(DistanceMetric::L2, storage);
    o.vector_file_path = ext.clone();
    let model = build(&c, o, 80, 23);
    let ext_before = read(&ext);
    copy_dir_recursive(&c, &cc);

    let mut same_vf = reopen_opts(DistanceMetric::L2, storage);
    same_vf.vector_file_path = ext.clone();
    let e = expect_kind(
        LsmVecDb::open(&cc, DbOptions::new(DIM)),
        ErrorKind::Corruption,
        "copy opened with no vector file path",
    );
    eprintln!("refused as expected: {e}");
    expect_kind(LsmVecDb::open_existing(&cc), ErrorKind::Corruption, "copy opened with open_existing");
    expect_kind(
        LsmVecDb::open(&cc, same_vf.clone()),
        ErrorKind::Corruption,
        "copy opened with the original's vector file",
    );
    assert!(read(&ext) == ext_before, "the refused opens changed the original's vector file");
    let db = open(&c, same_vf.clone());
    assert_db_equals(&db, &model, "original after the copy's attempts");
    ok(db.close(), "close original");

    // With its own copy of the vector file the copy is a database of its own.
    let ext_copy = x.join("ext_copy.bin");
    std::fs::copy(&ext, &ext_copy).unwrap();
    let mut own = reopen_opts(DistanceMetric::L2, storage);
    own.vector_file_path = ext_copy.clone();
    let db = ok(LsmVecDb::open(&cc, own.clone()), "copy with its own copy of the vector file");
    assert_db_equals(&db, &model, "copy with ext_copy.bin");
    let mut copy_model = model.clone();
    for id in [3u64, 10, 17] {
        let v = vector_for(98, id, 1, DIM);
        ok(db.update(id, &v), "update in copy");
        copy_model.insert(id, v);
    }
    ok(db.delete(24), "delete in copy");
    copy_model.remove(&24);
    ok(db.close(), "close copy");
    assert!(read(&ext) == ext_before, "writes to the copy changed the original's vector file");
    let db = open(&c, same_vf);
    assert_db_equals(&db, &model, "original after writes to the copy");
    ok(db.close(), "close original");
    let db = open(&cc, own);
    assert_db_equals(&db, &copy_model, "copy after reopen");
    ok(db.close(), "close copy");

    // A move keeps the external file: it opens.
    let moved = t.path().join("C_moved");
    std::fs::rename(&c, &moved).unwrap();
    let db = ok(LsmVecDb::open_existing(&moved), "open_existing of the moved original");
    assert_db_equals(&db, &model, "moved original");
}

// ---------------------------------------------------------------------------------------------
// Case 3: one flipped bit in the journal silently drops history.

/// 2000 vectors, then 150 deletes and 150 updates, closed cleanly: (dir image, live, deleted).
fn case3_database(dir: &Path) -> (Model, Vec<u64>) {
    let db = open(dir, opts(DistanceMetric::L2, VectorStorageType::Paged));
    let mut model = Model::new();
    let mut rng = Rng::new(31);
    let ids: Vec<u64> = (0..2000u64).map(|i| i * 5 + 1).collect();
    let vs: Vec<Vec<f32>> = ids.iter().map(|&id| vector_for(31, id, 0, DIM)).collect();
    ok(db.insert_batch(&ids, &flatten(&vs), 0), "insert_batch");
    for (id, v) in ids.iter().zip(vs) {
        model.insert(*id, v);
    }
    let mut deleted = Vec::new();
    for _ in 0..150 {
        let id = ids[rng.index(ids.len())];
        if model.remove(&id).is_some() {
            ok(db.delete(id), "delete");
            deleted.push(id);
        }
    }
    for k in 0..150u64 {
        let id = ids[rng.index(ids.len())];
        if let Some(slot) = model.get_mut(&id) {
            let v = vector_for(31, id, k + 1, DIM);
            ok(db.update(id, &v), "update");
            *slot = v;
        }
    }
    ok(db.close(), "close");
    (model, deleted)
}

#[test]
fn case3_journal_byte_flips_after_close_never_roll_back_silently() {
    let t = tmp();
    let pristine = t.path().join("pristine");
    let (model, deleted) = case3_database(&pristine);
    let image = DirImage::capture(&pristine);
    let (journals, tables) = journals_and_tables(&pristine);
    // The used part of each candidate file (fjall preallocates journals with zeros).
    let regions: Vec<(PathBuf, usize)> = journals
        .iter()
        .chain(&tables)
        .map(|rel| (rel.clone(), used_len(&read(&pristine.join(rel)))))
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!("damage targets: {regions:?}");
    let total: usize = regions.iter().map(|r| r.1).sum();
    assert!(total > 0, "no journal or table bytes in a closed database");

    let mut rng = Rng::new(0xC0FFEE);
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let ro = reopen_opts(DistanceMetric::L2, VectorStorageType::Paged);
    for trial in 0..40 {
        let mut at = rng.index(total);
        let (rel, off) = regions
            .iter()
            .find_map(|(rel, n)| {
                if at < *n {
                    Some((rel.clone(), at))
                } else {
                    at -= n;
                    None
                }
            })
            .expect("offset within the regions");
        let mask = if trial % 2 == 0 { 0xFF } else { 1u8 << rng.index(8) };
        let w = t.path().join("work");
        image.restore(&w);
        xor_byte(&w.join(&rel), off as u64, mask);
        let what = format!("flip #{trial}: {} offset {off} xor {mask:#04x}", rel.display());
        let outcome = check_intact_or_corruption(&w, &ro, &model, &deleted, 4, &what);
        *outcomes.entry(format!("{outcome:?}")).or_default() += 1;
    }
    eprintln!("40 flips: {outcomes:?}");
}

#[test]
fn case3_journal_truncation_after_close() {
    let t = tmp();
    let pristine = t.path().join("pristine");
    let (model, deleted) = case3_database(&pristine);
    let image = DirImage::capture(&pristine);
    let (journals, _) = journals_and_tables(&pristine);
    let ro = reopen_opts(DistanceMetric::L2, VectorStorageType::Paged);
    if journals.is_empty() {
        eprintln!("no journal after a clean close: nothing to truncate");
        check_intact_or_corruption(&pristine, &ro, &model, &deleted, 1, "pristine");
        return;
    }
    // The journal with the most bytes in use.
    let (rel, used) = journals
        .iter()
        .map(|rel| (rel.clone(), used_len(&read(&pristine.join(rel)))))
        .max_by_key(|(_, n)| *n)
        .expect("a journal");
    eprintln!("truncating {} ({used} bytes used)", rel.display());
    let cuts = [used / 4, used / 2, used * 3 / 4, used.saturating_sub(1)];
    for cut in cuts {
        let w = t.path().join("work");
        image.restore(&w);
        let f = std::fs::OpenOptions::new().write(true).open(w.join(&rel)).unwrap();
        f.set_len(cut as u64).unwrap();
        drop(f);
        let what = format!("{} truncated to {cut} of {used} bytes", rel.display());
        let outcome = check_intact_or_corruption(&w, &ro, &model, &deleted, 4, &what);
        eprintln!("{what}: {outcome:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Case 4: damaged vector bytes are served as data.

/// Where each vector's bytes lie in the vector file (found by content, so the test does not
/// depend on the record layout: every vector of these tests is distinct and appears once).
fn locate_records(vf: &[u8], model: &Model) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for (&id, v) in model {
        let hits = find_all(vf, &f32_le_bytes(v));
        if hits.len() == 1 {
            out.insert(id, hits[0]);
        }
    }
    out
}

/// Opens a database whose vector file was damaged in the records of `damaged`: `Corruption` at
/// open, or every read of a damaged id is `Corruption` and no search returns it; every other id
/// reads back exactly or `Corruption`. Returns a short description of the outcome.
fn check_damaged_vectors(dir: &Path, o: &DbOptions, model: &Model, damaged: &[u64], what: &str) -> &'static str {
    let db = match LsmVecDb::open(dir, o.clone()) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: open failed with {e} ({e:?}), not Corruption");
            assert!(e.to_string().contains("vectors.bin"), "{what}: the Corruption does not name the vector file: {e}");
            return "refused at open";
        }
        Ok(db) => db,
    };
    assert_eq!(ok(db.len(), what), model.len(), "{what}: len()");
    for &id in damaged {
        match db.get(id) {
            Err(e) if e.kind() == ErrorKind::Corruption => {
                assert!(
                    e.to_string().contains("vectors.bin"),
                    "{what}: the Corruption does not name the vector file: {e}"
                );
            }
            Err(e) => panic!("{what}: get({id}) of a damaged record failed with {e} ({e:?}), not Corruption"),
            Ok(v) => assert!(
                same_bits(&v, &model[&id]),
                "{what}: get({id}) returned the damaged record {v:?} as data (stored {:?})",
                model[&id]
            ),
        }
    }
    for (&id, v) in model {
        match db.get(id) {
            Ok(got) => assert!(same_bits(&got, v), "{what}: get({id}) = {got:?}, stored {v:?}"),
            Err(e) if e.kind() == ErrorKind::Corruption => {}
            Err(e) => panic!("{what}: get({id}) failed with {e} ({e:?})"),
        }
        match db.search_knn(v, &SearchOptions::new(10, 64)) {
            Ok(rs) => {
                for r in &rs {
                    assert!(!r.distance.is_nan(), "{what}: NaN distance in {rs:?}");
                    assert!(
                        !damaged.contains(&r.id),
                        "{what}: a search returned the damaged record of id {} (distance {}) without an error",
                        r.id,
                        r.distance
                    );
                }
            }
            Err(e) if e.kind() == ErrorKind::Corruption => {}
            Err(e) => panic!("{what}: search failed with {e} ({e:?})"),
        }
    }
    let _ = db.close();
    "Corruption on read"
}

fn case4_database(dir: &Path, storage: VectorStorageType) -> Model {
    build(dir, opts(DistanceMetric::L2, storage), 300, 41)
}

#[test]
fn case4_vector_bit_flips_are_corruption() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let pristine = t.path().join("pristine");
        let model = case4_database(&pristine, storage);
        let image = DirImage::capture(&pristine);
        let vf = read(&pristine.join("vectors.bin"));
        let located = locate_records(&vf, &model);
        assert!(
            located.len() >= 17,
            "{storage:?}: only {} of {} records found in vectors.bin",
            located.len(),
            model.len()
        );
        let ids: Vec<u64> = located.keys().copied().collect();
        let mut rng = Rng::new(0x4444 + storage.code() as u64);
        let ro = reopen_opts(DistanceMetric::L2, storage);
        let mut chosen = Vec::new();
        while chosen.len() < 17 {
            let id = ids[rng.index(ids.len())];
            if !chosen.contains(&id) {
                chosen.push(id);
            }
        }
        for (n, &id) in chosen.iter().enumerate() {
            let off = located[&id] + rng.index(DIM * 4);
            let mask = 1u8 << rng.index(8);
            let w = t.path().join("work");
            image.restore(&w);
            xor_byte(&w.join("vectors.bin"), off as u64, mask);
            let what = format!("{storage:?} flip #{n}: id {id}, vectors.bin offset {off} xor {mask:#04x}");
            let outcome = check_damaged_vectors(&w, &ro, &model, &[id], &what);
            eprintln!("{what}: {outcome}");
        }
    }
}

#[test]
fn case4_zeroed_vector_page_is_corruption() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let pristine = t.path().join("pristine");
        let model = case4_database(&pristine, storage);
        let image = DirImage::capture(&pristine);
        let vf = read(&pristine.join("vectors.bin"));
        let located = locate_records(&vf, &model);
        let rec = DIM * 4;
        // The 4 KiB block after the first (the header) that overlaps the most records.
        let blocks = vf.len().div_ceil(4096);
        let overlapping = |b: usize| -> Vec<u64> {
            let (lo, hi) = (b * 4096, (b + 1) * 4096);
            located.iter().filter(|(_, &p)| p < hi && p + rec > lo).map(|(&id, _)| id).collect()
        };
        let block = (1..blocks).max_by_key(|&b| overlapping(b).len()).expect("a data page");
        let damaged = overlapping(block);
        assert!(!damaged.is_empty(), "{storage:?}: no record in any data page");
        let w = t.path().join("work");
        image.restore(&w);
        let mut bytes = read(&w.join("vectors.bin"));
        let end = ((block + 1) * 4096).min(bytes.len());
        bytes[block * 4096..end].fill(0);
        write_sparse(&w.join("vectors.bin"), &bytes);
        let what = format!("{storage:?}: page at offset {} zeroed ({} records)", block * 4096, damaged.len());
        let outcome = check_damaged_vectors(&w, &reopen_opts(DistanceMetric::L2, storage), &model, &damaged, &what);
        eprintln!("{what}: {outcome}");
    }
}

/// Damage under an open handle (after the checks at open): reads of the damaged records are
/// `Corruption` or, from a cached clean copy, exact; a search that returns a damaged id reports
/// its true distance.
#[test]
fn case4_vector_damage_under_an_open_handle_is_corruption_on_read() {
    for storage in ALL_STORAGES {
        let t = tmp();
        let dir = t.path().join("db");
        let mut o = opts(DistanceMetric::L2, storage);
        o.paged_max_cached_pages = 1;
        let model = build(&dir, o.clone(), 2000, 42);
        o.reinit = false;
        let vf_path = dir.join("vectors.bin");
        let located = locate_records(&read(&vf_path), &model);
        let db = open(&dir, o);
        let mut rng = Rng::new(0x4545 + storage.code() as u64);
        let ids: Vec<u64> = located.keys().copied().collect();
        let (mut corrupt, mut cached) = (0, 0);
        for n in 0..17 {
            let id = ids[rng.index(ids.len())];
            let off = located[&id] + rng.index(DIM * 4);
            let what = format!("{storage:?} open-handle flip #{n}: id {id}, offset {off}");
            // Read another page first so the damaged one is not the cached page.
            let far = ids[(ids.iter().position(|&x| x == id).unwrap() + ids.len() / 2) % ids.len()];
            let _ = db.get(far);
            let mask = 1u8 << rng.index(8);
            xor_byte_in_place(&vf_path, off as u64, mask);
            match db.get(id) {
                Err(e) if e.kind() == ErrorKind::Corruption => {
                    assert!(
                        e.to_string().contains("vectors.bin"),
                        "{what}: the Corruption does not name the vector file: {e}"
                    );
                    corrupt += 1;
                }
                Err(e) => panic!("{what}: get failed with {e} ({e:?}), not Corruption"),
                Ok(v) => {
                    assert!(
                        same_bits(&v, &model[&id]),
                        "{what}: get returned the damaged record {v:?} as data (stored {:?})",
                        model[&id]
                    );
                    cached += 1;
                }
            }
            match db.search_knn(&model[&id], &SearchOptions::new(10, 64)) {
                Ok(rs) => {
                    for r in &rs {
                        let exact = distance(DistanceMetric::L2, &model[&r.id], &model[&id]);
                        assert!(
                            distance_close(r.distance, exact),
                            "{what}: search reported id {} at {} but its stored vector is at {exact}: {rs:?}",
                            r.id,
                            r.distance
                        );
                    }
                }
                Err(e) if e.kind() == ErrorKind::Corruption => {}
                Err(e) => panic!("{what}: search failed with {e} ({e:?})"),
            }
            // Undo, so that each flip damages one record.
            xor_byte_in_place(&vf_path, off as u64, mask);
        }
        eprintln!("{storage:?}: {corrupt} reads reported Corruption, {cached} came from a clean cached copy");
        let _ = db.close();
    }
}

// ---------------------------------------------------------------------------------------------
// Case 5: slot reuse can attach one vector's bytes to another id.

#[test]
fn case5_lost_tail_cannot_attach_a_reused_slot_to_another_id() {
    for storage in ALL_STORAGES {
        for (round, a) in [3u64, 500].into_iter().enumerate() {
            let t = tmp();
            let dir = t.path().join("db");
            let side = t.path().join("durable");
            let mut o = opts(DistanceMetric::L2, storage);
            o.sync_writes = false;
            let db = open(&dir, o);
            let mut model = Model::new();
            for i in 0..100u64 {
                let id = i * 7 + 3;
                let v = vector_for(51, id, 0, DIM);
                ok(db.insert(id, &v), "insert");
                model.insert(id, v);
            }
            ok(db.flush(), "flush");
            // The durable state: everything but the vector file (and the lock).
            copy_dir_recursive(&dir, &side);
            let _ = std::fs::remove_file(side.join("vectors.bin"));
            let _ = std::fs::remove_file(side.join("LOCK"));

            // Lost tail: a delete of A and an insert of B near A (so B may take A's slot).
            let b = 100_000 + a;
            let mut vb = model[&a].clone();
            vb[1] += 1e-3;
            ok(db.delete(a), "delete A");
            ok(db.insert(b, &vb), "insert B");
            ok(db.close(), "close");

            // Power cut: the journal tail is lost, the vector file kept its newer bytes.
            for entry in std::fs::read_dir(&dir).unwrap() {
                let p = entry.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name == "vectors.bin" || name == "LOCK" {
                    continue;
                }
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).unwrap();
                } else {
                    std::fs::remove_file(&p).unwrap();
                }
            }
            copy_dir_recursive(&side, &dir);

            let what = format!("{storage:?} round {round} (A = {a}, B = {b})");
            match LsmVecDb::open(&dir, reopen_opts(DistanceMetric::L2, storage)) {
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: open failed with {e} ({e:?})");
                    eprintln!("{what}: refused at open: {e}");
                }
                Ok(db) => {
                    match db.get(a) {
                        Ok(v) => {
                            assert!(
                                !same_bits(&v, &vb),
                                "{what}: get(A) returned B's vector (the slot freed by the lost delete was reused)"
                            );
                            assert!(same_bits(&v, &model[&a]), "{what}: get(A) = {v:?}, stored {:?}", model[&a]);
                        }
                        Err(e) if e.kind() == ErrorKind::Corruption => eprintln!("{what}: get(A): {e}"),
                        Err(e) => panic!("{what}: get(A) failed with {e} ({e:?}); A's insert was durable"),
                    }
                    match db.get(b) {
                        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Corruption) => {}
                        other => panic!("{what}: B's insert was lost with the tail, get(B) = {other:?}"),
                    }
                    // Nobody else is damaged either.
                    for (&id, v) in &model {
                        match db.get(id) {
                            Ok(got) => assert!(same_bits(&got, v), "{what}: get({id}) = {got:?}, stored {v:?}"),
                            Err(e) if e.kind() == ErrorKind::Corruption => {}
                            Err(e) => panic!("{what}: get({id}) failed with {e} ({e:?})"),
                        }
                    }
                    match db.search_knn(&model[&a], &SearchOptions::new(5, 64)) {
                        Ok(rs) => {
                            assert!(rs.iter().all(|r| r.id != b), "{what}: search returned B: {rs:?}");
                            if let Some(r) = rs.iter().find(|r| r.id == a) {
                                assert!(
                                    r.distance.abs() < 1e-6,
                                    "{what}: A found at distance {} from its own vector",
                                    r.distance
                                );
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Corruption => {}
                        Err(e) => panic!("{what}: search failed with {e} ({e:?})"),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Case 7: exact duplicates make most of the database unreachable.

/// `search(q, k = 3000, ef = 3000)` must return every live id (`live.len() <= 3000`).
#[track_caller]
fn assert_all_reachable(db: &LsmVecDb, q: &[f32], live: &Model, what: &str) {
    let rs = ok(db.search_knn(q, &SearchOptions::new(3000, 3000)), what);
    if let Err(m) = check_result_shape(&rs, 3000) {
        panic!("{what}: {m}");
    }
    let found: std::collections::HashSet<u64> = rs.iter().map(|r| r.id).collect();
    let missing = live.keys().filter(|id| !found.contains(id)).count();
    assert_eq!(missing, 0, "{what}: {} of {} live vectors returned at k = ef = 3000", rs.len(), live.len());
    assert_eq!(rs.len(), live.len(), "{what}: results outside the live set");
    for r in &rs {
        assert!(!r.distance.is_nan(), "{what}: NaN distance");
    }
}

#[test]
fn case7_exact_duplicates_are_all_reachable() {
    for metric in [DistanceMetric::L2, DistanceMetric::Cosine] {
        let mut rng = Rng::new(71 + metric.code() as u64);
        let dup = vector_for(71, 0, 0, DIM);

        // 3000 identical vectors.
        let t = tmp();
        let o = opts(metric, VectorStorageType::Paged);
        let db = open(t.path(), o.clone());
        let mut live = Model::new();
        let ids: Vec<u64> = (0..3000u64).collect();
        ok(db.insert_batch(&ids, &dup.repeat(ids.len()), 0), "insert 3000 duplicates");
        for &id in &ids {
            live.insert(id, dup.clone());
        }
        assert_all_reachable(&db, &dup, &live, &format!("{metric}: 3000 identical"));
        ok(db.close(), "close");
        let mut ro = o.clone();
        ro.reinit = false;
        let db = open(t.path(), ro.clone());
        assert_all_reachable(&db, &dup, &live, &format!("{metric}: 3000 identical after reopen"));
        // Delete some duplicates, update some to other vectors and some to the duplicate again.
        for _ in 0..300 {
            let id = ids[rng.index(ids.len())];
            if live.remove(&id).is_some() {
                ok(db.delete(id), "delete duplicate");
            }
        }
        for k in 0..200u64 {
            let id = ids[rng.index(ids.len())];
            if live.contains_key(&id) {
                let v = if k % 2 == 0 { vector_for(72, id, k, DIM) } else { dup.clone() };
                ok(db.update(id, &v), "update duplicate");
                live.insert(id, v);
            }
        }
        assert_all_reachable(&db, &dup, &live, &format!("{metric}: after deletes and updates"));
        ok(db.close(), "close");
        let db = open(t.path(), ro);
        assert_all_reachable(&db, &dup, &live, &format!("{metric}: after deletes, updates and reopen"));
        assert_db_equals(&db, &live, &format!("{metric}: vectors after deletes and updates"));
        drop(db);

        // 200 identical.
        let t = tmp();
        let db = open(t.path(), o.clone());
        let ids: Vec<u64> = (0..200u64).map(|i| i * 13 + 5).collect();
        ok(db.insert_batch(&ids, &dup.repeat(ids.len()), 0), "insert 200 duplicates");
        let live: Model = ids.iter().map(|&id| (id, dup.clone())).collect();
        assert_all_reachable(&db, &dup, &live, &format!("{metric}: 200 identical"));
        ok(db.close(), "close");
        let mut ro = o.clone();
        ro.reinit = false;
        let db = open(t.path(), ro);
        assert_all_reachable(&db, &dup, &live, &format!("{metric}: 200 identical after reopen"));
        drop(db);

        // 500 identical among 2500 random.
        let t = tmp();
        let db = open(t.path(), o.clone());
        let mut live = Model::new();
        let mut dups = Vec::new();
        for i in 0..3000u64 {
            let v = if i % 6 == 0 { dup.clone() } else { uniform_vector(&mut rng, DIM) };
            if i % 6 == 0 {
                dups.push(i);
            }
            ok(db.insert(i, &v), "insert");
            live.insert(i, v);
        }
        assert_eq!(dups.len(), 500);
        let what = format!("{metric}: 500 identical among 2500 random");
        assert_all_reachable(&db, &dup, &live, &what);
        let rs = ok(db.search_knn(&dup, &SearchOptions::new(500, 3000)), &what);
        let mut got: Vec<u64> = rs.iter().map(|r| r.id).collect();
        got.sort_unstable();
        assert_eq!(got, dups, "{what}: the 500 nearest of the duplicate are not the 500 duplicates");
        ok(db.close(), "close");
        let mut ro = o.clone();
        ro.reinit = false;
        let db = open(t.path(), ro);
        assert_all_reachable(&db, &dup, &live, &format!("{what}, after reopen"));
        // Random queries see every vector too.
        for _ in 0..3 {
            let q = uniform_vector(&mut rng, DIM);
            assert_all_reachable(&db, &q, &live, &format!("{what}, random query"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Case 8: NaN distances.

#[test]
fn case8_overflowing_vectors_are_rejected() {
    let overflow_cosine: Vec<f32> = [3e38f32, -3e38].repeat(4);
    let underflow_cosine = vec![1e-30f32; DIM];
    let huge: Vec<Vec<f32>> = vec![
        vec![1e19; DIM],
        vec![-2e19; DIM],
        [1e20f32, -1e20].repeat(4),
        vec![3e38; DIM],
        [3e38f32, -3e38].repeat(4),
        {
            let mut v = vec![0.5f32; DIM];
            v[3] = 3e38;
            v
        },
    ];
    for metric in ALL_METRICS {
        for storage in ALL_STORAGES {
            let t = tmp();
            let db = open(t.path(), opts(metric, storage));
            let mut model = Model::new();
            let mut rng = Rng::new(81);
            for id in 0..200u64 {
                let v = vector_for(81, id, 0, DIM);
                ok(db.insert(id, &v), "insert");
                model.insert(id, v);
            }
            let what = format!("{metric} {storage:?}");
            let mut bad: Vec<Vec<f32>> = huge.clone();
            if metric == DistanceMetric::Cosine {
                bad.push(overflow_cosine.clone());
                bad.push(underflow_cosine.clone());
            }
            for (i, v) in bad.iter().enumerate() {
                let e = expect_kind(db.insert(999, v), ErrorKind::InvalidArgument, &format!("{what}: insert of {v:?}"));
                eprintln!("{what}: insert {v:?}: {e}");
                expect_kind(db.update(5, v), ErrorKind::InvalidArgument, &format!("{what}: update to {v:?}"));
                let ids = [1000 + i as u64, 2000 + i as u64];
                let batch = [vector_for(81, 1000, 0, DIM), v.clone()];
                expect_kind(
                    db.insert_batch(&ids, &flatten(&batch), 0),
                    ErrorKind::InvalidArgument,
                    &format!("{what}: insert_batch with {v:?}"),
                );
                expect_kind(
                    db.search_knn(v, &SearchOptions::new(5, 32)),
                    ErrorKind::InvalidArgument,
                    &format!("{what}: query {v:?}"),
                );
                expect_kind(
                    db.search_knn_batch(&flatten(&[model[&1].clone(), v.clone()]), &SearchOptions::new(5, 32), 2),
                    ErrorKind::InvalidArgument,
                    &format!("{what}: batch query with {v:?}"),
                );
            }
            // Nothing was written by the rejected calls.
            assert_db_equals(&db, &model, &format!("{what}: after rejected calls"));
            assert!(!ok(db.contains(999), "contains"));
            // Large vectors that do not overflow may be accepted or rejected, never give NaN.
            let mut big_ok = 0;
            for (j, scale) in [1e15f32, 1e17, 3e17].into_iter().enumerate() {
                let mut v = uniform_vector(&mut rng, DIM);
                v[0] += 1.5;
                let v: Vec<f32> = v.iter().map(|x| x * scale).collect();
                let id = 5000 + j as u64;
                match db.insert(id, &v) {
                    Ok(()) => {
                        model.insert(id, v);
                        big_ok += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::InvalidArgument => {}
                    Err(e) => panic!("{what}: insert of a large vector failed with {e} ({e:?})"),
                }
            }
            let mut queries: Vec<Vec<f32>> = model.values().take(50).cloned().collect();
            for _ in 0..20 {
                queries.push(uniform_vector(&mut rng, DIM));
            }
            queries.push(vec![1e15; DIM]);
            for q in &queries {
                let rs = match db.search_knn(q, &SearchOptions::new(20, 64)) {
                    Ok(rs) => rs,
                    Err(e) if e.kind() == ErrorKind::InvalidArgument => continue,
                    Err(e) => panic!("{what}: search failed with {e} ({e:?})"),
                };
                if let Err(m) = check_result_shape(&rs, 20) {
                    panic!("{what}: {m}");
                }
                assert!(rs.iter().all(|r| !r.distance.is_nan()), "{what}: NaN distance for query {q:?}: {rs:?}");
            }
            let flat = flatten(&queries[..50]);
            for rs in ok(db.search_knn_batch(&flat, &SearchOptions::new(20, 64), 2), "batch search") {
                assert!(rs.iter().all(|r| !r.distance.is_nan()), "{what}: NaN distance in a batch search: {rs:?}");
            }
            eprintln!("{what}: {big_ok} of 3 large (non-overflowing) vectors accepted");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Case 10: reopen as the specification's examples do.

#[test]
fn case10_reopen_with_only_dim_and_path() {
    let t = tmp();
    let dir = t.path().join("db");
    let vf = dir.join("vectors.bin");
    let mut o = DbOptions::new(24);
    o.m = 16;
    o.m_max = 32;
    o.metric = DistanceMetric::Cosine;
    o.vector_storage_type = VectorStorageType::Basic;
    o.vector_file_path = vf.clone();
    let db = open(&dir, o);
    let mut model = Model::new();
    for id in 0..60u64 {
        let v = vector_for(101, id, 0, 24);
        ok(db.insert(id, &v), "insert");
        model.insert(id, v);
    }
    ok(db.close(), "close");

    let mut spec = DbOptions::new(24);
    spec.metric = DistanceMetric::Cosine;
    spec.vector_file_path = vf.clone();
    let db = ok(LsmVecDb::open(&dir, spec.clone()), "reopen with only dim, metric and vector_file_path");
    let eff = ok(db.options(), "options");
    assert_eq!(eff.m, 16, "effective m");
    assert_eq!(eff.m_max, 32, "effective m_max");
    assert_eq!(eff.vector_storage_type, VectorStorageType::Basic, "effective storage type");
    assert_eq!(eff.metric, DistanceMetric::Cosine);
    assert_eq!(eff.dim, 24);
    assert_db_equals(&db, &model, "after reopen with the spec's options");
    let v = vector_for(101, 500, 0, 24);
    ok(db.insert(500, &v), "insert after reopen");
    model.insert(500, v);
    ok(db.close(), "close");

    // Only dim and the path (metric at its default, L2): a metric mismatch.
    let mut only = DbOptions::new(24);
    only.vector_file_path = vf.clone();
    let e = expect_kind(LsmVecDb::open(&dir, only), ErrorKind::InvalidArgument, "metric mismatch");
    let msg = e.to_string().to_lowercase();
    assert!(msg.contains("cosine") && msg.contains("l2"), "the metric mismatch does not name both values: {e}");

    let mut wrong_dim = spec.clone();
    wrong_dim.dim = 17;
    let e = expect_kind(LsmVecDb::open(&dir, wrong_dim), ErrorKind::InvalidArgument, "dim mismatch");
    let msg = e.to_string();
    assert!(msg.contains("24") && msg.contains("17"), "the dim mismatch does not name both values: {e}");

    // The database is unchanged by the refused opens, and m given explicitly differently opens too.
    let mut other_m = spec;
    other_m.m = 8;
    other_m.m_max = 16;
    let db = ok(LsmVecDb::open(&dir, other_m), "reopen with other m / m_max");
    assert_eq!(ok(db.options(), "options").m, 16);
    assert_db_equals(&db, &model, "after the refused opens");
}

// ---------------------------------------------------------------------------------------------
// The smaller items of the issue.

#[test]
fn reinit_keeps_unrelated_files() {
    let t = tmp();
    let dir = t.path().join("db");
    build(&dir, opts(DistanceMetric::L2, VectorStorageType::Paged), 30, 111);
    let precious = dir.join("lsm").join("precious.txt");
    let notes = dir.join("notes.txt");
    std::fs::write(&precious, b"do not delete me").unwrap();
    std::fs::write(&notes, b"mine too").unwrap();
    let db = ok(LsmVecDb::open(&dir, opts(DistanceMetric::L2, VectorStorageType::Paged)), "reinit");
    assert_eq!(ok(db.len(), "len"), 0, "reinit did not empty the database");
    let v = vector_for(111, 1, 1, DIM);
    ok(db.insert(1, &v), "insert after reinit");
    ok(db.close(), "close");
    assert_eq!(
        std::fs::read(&precious).ok().as_deref(),
        Some(&b"do not delete me"[..]),
        "reinit deleted lsm/precious.txt"
    );
    assert_eq!(std::fs::read(&notes).ok().as_deref(), Some(&b"mine too"[..]), "reinit deleted notes.txt");
    let db = open(&dir, reopen_opts(DistanceMetric::L2, VectorStorageType::Paged));
    assert_db_equals(&db, &Model::from([(1, v)]), "after reinit");
    drop(db);

    // A stranger's file at the default vector file path of a directory with no database.
    let d2 = t.path().join("stranger");
    std::fs::create_dir_all(&d2).unwrap();
    let mut rng = Rng::new(112);
    let stranger: Vec<u8> = (0..10_000).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(d2.join("vectors.bin"), &stranger).unwrap();
    match LsmVecDb::open(&d2, opts(DistanceMetric::L2, VectorStorageType::Paged)) {
        Ok(_) => panic!("reinit over a stranger's vectors.bin succeeded"),
        Err(e) => eprintln!("reinit over a stranger's vectors.bin refused: {e} ({:?})", e.kind()),
    }
    assert!(read(&d2.join("vectors.bin")) == stranger, "reinit changed a stranger's vectors.bin");
    match LsmVecDb::open(&d2, reopen_opts(DistanceMetric::L2, VectorStorageType::Paged)) {
        Ok(_) => panic!("open over a stranger's vectors.bin succeeded"),
        Err(e) => eprintln!("open over a stranger's vectors.bin refused: {e} ({:?})", e.kind()),
    }
    assert!(read(&d2.join("vectors.bin")) == stranger, "open changed a stranger's vectors.bin");
}

#[test]
fn empty_path_is_invalid() {
    // On a build that accepts "" this opens the current directory: remove what it creates there.
    let cwd = std::env::current_dir().unwrap();
    let created = ["LOCK", "lsm", "vectors.bin"].map(|n| (cwd.join(n), cwd.join(n).exists()));
    let r = LsmVecDb::open("", reopen_opts(DistanceMetric::L2, VectorStorageType::Paged));
    let outcome = r.as_ref().map(|_| ()).map_err(|e| (e.kind(), e.to_string()));
    drop(r);
    for (p, existed) in &created {
        if !existed && p.exists() {
            let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        }
    }
    match outcome {
        Ok(()) => panic!("open(\"\") succeeded (it opened the current directory)"),
        Err((kind, msg)) => assert_eq!(kind, ErrorKind::InvalidArgument, "open(\"\"): {msg}"),
    }
    expect_kind(LsmVecDb::open_existing(""), ErrorKind::InvalidArgument, "open_existing(\"\")");
}

#[test]
fn storage_errors_read_like_sentences() {
    let t = tmp();
    let pristine = t.path().join("pristine");
    let (model, _) = case3_database(&pristine);
    let image = DirImage::capture(&pristine);
    let (_, tables) = journals_and_tables(&pristine);
    assert!(!tables.is_empty(), "no table files after a clean close");
    let mut rng = Rng::new(121);
    let mut messages = Vec::new();
    let ro = reopen_opts(DistanceMetric::L2, VectorStorageType::Paged);
    for rel in &tables {
        let len = read(&pristine.join(rel)).len();
        for _ in 0..3 {
            let off = len / 10 + rng.index((len * 8 / 10).max(1));
            let w = t.path().join("work");
            image.restore(&w);
            xor_byte(&w.join(rel), off as u64, 0xFF);
            let mut errs: Vec<Error> = Vec::new();
            match LsmVecDb::open(&w, ro.clone()) {
                Err(e) => errs.push(e),
                Ok(db) => {
                    for (&id, v) in model.iter().take(400) {
                        if let Err(e) = db.get(id) {
                            errs.push(e);
                        }
                        if let Err(e) = db.search_knn(v, &SearchOptions::new(5, 32)) {
                            errs.push(e);
                        }
                    }
                    if let Err(e) = db.close() {
                        errs.push(e);
                    }
                }
            }
            for e in errs {
                messages.push((format!("{} offset {off}", rel.display()), e.kind(), e.to_string()));
            }
        }
    }
    assert!(!messages.is_empty(), "no flipped table byte gave any error");
    for (what, kind, msg) in &messages {
        eprintln!("{what}: {kind:?}: {msg}");
        for bad in ["ChecksumMismatch {", "Storage(", "Checksum("] {
            assert!(!msg.contains(bad), "{what}: the error leaks storage engine Debug text ({bad}): {msg}");
        }
    }
}

#[test]
fn missing_lsm_version_is_corruption() {
    let t = tmp();
    let dir = t.path().join("db");
    let model = build(&dir, opts(DistanceMetric::L2, VectorStorageType::Paged), 100, 131);
    let version = dir.join("lsm").join("version");
    let saved = read(&version);
    let vf_before = read(&dir.join("vectors.bin"));
    std::fs::remove_file(&version).unwrap();

    let e = expect_kind(
        LsmVecDb::open(&dir, reopen_opts(DistanceMetric::L2, VectorStorageType::Paged)),
        ErrorKind::Corruption,
        "open without lsm/version",
    );
    eprintln!("open: {e}");
    assert!(!e.to_string().contains("File exists"), "misleading message: {e}");
    let e = expect_kind(LsmVecDb::open_existing(&dir), ErrorKind::Corruption, "open_existing without lsm/version");
    eprintln!("open_existing: {e}");
    assert!(!e.to_string().contains("File exists"), "misleading message: {e}");
    assert!(read(&dir.join("vectors.bin")) == vf_before, "the refused open changed vectors.bin");

    // Nothing was destroyed: with the file back the database is whole.
    std::fs::write(&version, saved).unwrap();
    let db = open(&dir, reopen_opts(DistanceMetric::L2, VectorStorageType::Paged));
    assert_db_equals(&db, &model, "after restoring lsm/version");
}

#[test]
fn missing_keyspace_current_file_is_corruption() {
    let t = tmp();
    let pristine = t.path().join("pristine");
    let model = build(&pristine, opts(DistanceMetric::L2, VectorStorageType::Paged), 200, 141);
    let image = DirImage::capture(&pristine);
    let currents = keyspace_current_files(&pristine);
    assert!(!currents.is_empty(), "no lsm/keyspaces/*/current files");
    let ro = reopen_opts(DistanceMetric::L2, VectorStorageType::Paged);
    let cases: Vec<(PathBuf, bool)> = currents.iter().flat_map(|r| [(r.clone(), false), (r.clone(), true)]).collect();
    run_all(cases, |(rel, existing)| {
        let w = t.path().join("work");
        image.restore(&w);
        std::fs::remove_file(w.join(rel)).unwrap();
        let what = format!("without {} ({})", rel.display(), if *existing { "open_existing" } else { "open" });
        let r = if *existing { LsmVecDb::open_existing(&w) } else { LsmVecDb::open(&w, ro.clone()) };
        if let Err(e) = &r {
            eprintln!("{what}: {e}");
            assert!(!e.to_string().contains("no lsm-vec database"), "{what}: says there is no database: {e}");
        }
        let outcome = check_opened(r, &model, &[], 1, &what);
        eprintln!("{what}: {outcome:?}");
        if outcome != Outcome::RefusedAtOpen {
            // And a second open (after the first one's close) is just as whole.
            assert_intact_or_corruption(&w, &ro, &model);
        }
    });
}
