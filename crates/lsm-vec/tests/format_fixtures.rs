//! The databases of every released on-disk format (`tests/fixtures/`, see its README) open with
//! this build and read back exactly what they held; after writes and a reopen they still do.
//! Each fixture is copied to a temporary directory first and never modified in place. The v1
//! fixtures store the absolute path their vector file had when they were written, so opening a
//! copy is also the test that a moved v1 database opens (with its own vector file).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use lsm_vec::{DbOptions, DistanceMetric, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 8;

fn fixture_dir(format: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(format).join(name)
}

/// `expected.txt`: `id v0 v1 ...` per live id, values printed so that they parse back exactly.
fn parse_expected(path: &Path) -> BTreeMap<u64, Vec<f32>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let id: u64 = it.next().unwrap().parse().unwrap_or_else(|e| panic!("bad id in {l:?}: {e}"));
            let v: Vec<f32> = it.map(|x| x.parse().unwrap_or_else(|e| panic!("bad value {x:?}: {e}"))).collect();
            assert_eq!(v.len(), DIM, "line {l:?}");
            (id, v)
        })
        .collect()
}

/// Every file of a directory with its bytes (to prove the fixture is not touched).
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

fn check(db: &LsmVecDb, expected: &BTreeMap<u64, Vec<f32>>, metric: DistanceMetric, what: &str) {
    assert_eq!(ok(db.len(), what), expected.len(), "{what}: len()");
    for (&id, v) in expected {
        let got = ok(db.get(id), &format!("{what}: get({id})"));
        assert!(
            got.iter().map(|x| x.to_bits()).eq(v.iter().map(|x| x.to_bits())),
            "{what}: get({id}) = {got:?}, expected {v:?}"
        );
        let rs = ok(db.search_knn(v, &SearchOptions::new(1, 64)), &format!("{what}: search {id}"));
        assert_eq!(rs.len(), 1, "{what}: search of {id}: {rs:?}");
        assert_eq!(rs[0].id, id, "{what}: search of {id}'s vector returned {rs:?}");
        match metric {
            DistanceMetric::Cosine => assert!(rs[0].distance.abs() < 1e-6, "{what}: distance {rs:?}"),
            _ => assert_eq!(rs[0].distance, 0.0, "{what}: distance {rs:?}"),
        }
    }
}

/// The vector file an open database uses (relative paths resolved against its directory).
fn vector_file_of(db: &LsmVecDb) -> PathBuf {
    let p = ok(db.options(), "options").vector_file_path;
    let p = if p.is_relative() { db.path().join(p) } else { p };
    p.canonicalize().unwrap_or(p)
}

/// Copies a fixture to `dst`. The committed v1 fixtures lack fjall's empty `lsm/lock` file, which
/// every real v1 database has (fjall 3 refuses to open a directory without it, even at 6bed0a2):
/// the copy gets it back, so the copy is what a user's v1 database looks like.
fn copy_fixture(src: &Path, dst: &Path) {
    copy_dir_recursive(src, dst);
    let lock = dst.join("lsm").join("lock");
    if !lock.exists() {
        std::fs::write(&lock, b"").unwrap_or_else(|e| panic!("create {}: {e}", lock.display()));
    }
}

fn run_fixture(format: &str, name: &str, metric: DistanceMetric, storage: VectorStorageType) {
    let src = fixture_dir(format, name);
    let before = contents(&src);
    let mut expected = parse_expected(&src.join("expected.txt"));
    assert!(!expected.is_empty());
    let t = tempfile::tempdir().expect("tempdir");
    let a = t.path().join(name);
    copy_fixture(&src, &a);
    let what = format!("{format}/{name}");

    // open_existing of the copy.
    let db = ok(LsmVecDb::open_existing(&a), &format!("{what}: open_existing"));
    let o = ok(db.options(), "options");
    assert_eq!((o.dim, o.metric, o.vector_storage_type), (DIM, metric, storage), "{what}: stored parameters");
    assert_eq!((o.m, o.m_max), (4, 8), "{what}: stored m / m_max");
    assert_eq!(
        vector_file_of(&db),
        a.join("vectors.bin").canonicalize().unwrap(),
        "{what}: the copy does not use its own vector file"
    );
    check(&db, &expected, metric, &format!("{what} (open_existing)"));

    // Writes: inserts, deletes, updates.
    let mut rng = Rng::new(0xF1);
    let ids: Vec<u64> = expected.keys().copied().collect();
    let mut new_vectors = Vec::new();
    for i in 0..5u64 {
        let mut v = uniform_vector(&mut rng, DIM);
        v[0] += 2.0;
        let id = 10_000 + i;
        ok(db.insert(id, &v), &format!("{what}: insert"));
        expected.insert(id, v.clone());
        new_vectors.push(v);
    }
    for &id in ids.iter().step_by(40) {
        ok(db.delete(id), &format!("{what}: delete"));
        expected.remove(&id);
    }
    for &id in ids.iter().skip(7).step_by(50) {
        if let Some(slot) = expected.get_mut(&id) {
            let mut v = uniform_vector(&mut rng, DIM);
            v[1] += 2.0;
            ok(db.update(id, &v), &format!("{what}: update"));
            *slot = v.clone();
            new_vectors.push(v);
        }
    }
    check(&db, &expected, metric, &format!("{what} after writes"));
    ok(db.close(), &format!("{what}: close"));

    // The writes went into the copy's vector file.
    let vf = std::fs::read(a.join("vectors.bin")).unwrap();
    for v in &new_vectors {
        assert!(
            !find_all(&vf, &f32_le_bytes(v)).is_empty(),
            "{what}: a written vector is not in the copy's vector file"
        );
    }

    // Reopen as the specification does: dim and metric only.
    let mut spec = DbOptions::new(DIM);
    spec.metric = metric;
    let db = ok(LsmVecDb::open(&a, spec.clone()), &format!("{what}: open(dir, DbOptions::new(8))"));
    check(&db, &expected, metric, &format!("{what} after reopen"));
    ok(db.close(), "close");
    let db = ok(LsmVecDb::open_existing(&a), &format!("{what}: open_existing after writes"));
    check(&db, &expected, metric, &format!("{what} after writes (open_existing)"));
    ok(db.close(), "close");

    // A second copy opened with open() directly.
    let b = t.path().join(format!("{name}-second"));
    copy_fixture(&src, &b);
    let expected_b = parse_expected(&src.join("expected.txt"));
    let db = ok(LsmVecDb::open(&b, spec), &format!("{what}: open() of a second copy"));
    assert_eq!(
        vector_file_of(&db),
        b.join("vectors.bin").canonicalize().unwrap(),
        "{what}: the second copy does not use its own vector file"
    );
    check(&db, &expected_b, metric, &format!("{what} second copy"));
    let v = vector_for(5, 1, 0, DIM);
    ok(db.insert(20_000, &v), "insert into the second copy");
    ok(db.close(), "close");
    let db = ok(LsmVecDb::open_existing(&a), "the first copy once more");
    check(&db, &expected, metric, &format!("{what}: first copy after writes to the second"));
    assert!(!ok(db.contains(20_000), "contains"), "{what}: the second copy wrote into the first");
    drop(db);

    assert!(contents(&src) == before, "{what}: the fixture itself was modified");
}

#[test]
fn format_v1_paged_l2_opens() {
    run_fixture("format-v1", "paged-l2", DistanceMetric::L2, VectorStorageType::Paged);
}

#[test]
fn format_v1_basic_cosine_opens() {
    run_fixture("format-v1", "basic-cosine", DistanceMetric::Cosine, VectorStorageType::Basic);
}

#[test]
fn format_v2_paged_l2_opens() {
    run_fixture("format-v2", "paged-l2", DistanceMetric::L2, VectorStorageType::Paged);
}

#[test]
fn format_v2_basic_cosine_opens() {
    run_fixture("format-v2", "basic-cosine", DistanceMetric::Cosine, VectorStorageType::Basic);
}
