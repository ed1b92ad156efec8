//! Issue 7, case 2: a relative `vector_file_path` (the specification's example,
//! `open("./db", vector_file_path = "./db/vectors.bin")`) must not be resolved against whatever
//! the working directory is at a later open, and a database created that way can be copied with
//! `cp -a` into an independent database.
//!
//! This binary changes the process's current directory (`std::env::set_current_dir` is
//! process-global), so it holds exactly one test.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use lsm_vec::{DbOptions, LsmVecDb};

const DIM: usize = 8;

/// Restores the working directory when dropped (also on a panic).
struct Cwd(PathBuf);

impl Drop for Cwd {
    fn drop(&mut self) {
        let _ = std::env::set_current_dir(&self.0);
    }
}

fn cd(p: &Path) {
    std::env::set_current_dir(p).unwrap_or_else(|e| panic!("cd {}: {e}", p.display()));
}

#[test]
fn case2_relative_vector_file_path_and_copy() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().canonicalize().unwrap();
    let work = root.join("work");
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let _restore = Cwd(std::env::current_dir().unwrap());

    // As the specification's example: cwd = work, open "db" with "./db/vectors.bin".
    cd(&work);
    let mut spec = DbOptions::new(DIM);
    spec.vector_file_path = PathBuf::from("./db/vectors.bin");
    let db = ok(LsmVecDb::open("db", spec.clone()), "open(\"db\") with ./db/vectors.bin");
    let mut model = Model::new();
    for id in 0..100u64 {
        let v = vector_for(201, id, 0, DIM);
        ok(db.insert(id, &v), "insert");
        model.insert(id, v);
    }
    ok(db.close(), "close");
    let abs_db = work.join("db");
    assert!(abs_db.join("vectors.bin").is_file(), "the vector file is not at ./db/vectors.bin");
    assert!(!abs_db.join("db").exists(), "the vector path was resolved against the database directory");

    // The spec's reopen, from the same working directory.
    let db = ok(LsmVecDb::open("db", spec.clone()), "reopen as the spec does");
    assert_db_equals(&db, &model, "reopen from the same cwd");
    ok(db.close(), "close");

    // From another working directory, by absolute path and without a vector file path.
    cd(&elsewhere);
    let db = ok(LsmVecDb::open_existing(&abs_db), "open_existing from another cwd");
    assert_db_equals(&db, &model, "open_existing from another cwd");
    ok(db.close(), "close");
    let db = ok(LsmVecDb::open(&abs_db, DbOptions::new(DIM)), "open(abs, DbOptions::new(dim)) from another cwd");
    assert_db_equals(&db, &model, "open from another cwd");
    let v = vector_for(201, 1000, 0, DIM);
    ok(db.insert(1000, &v), "insert from another cwd");
    model.insert(1000, v);
    ok(db.close(), "close");
    assert!(!elsewhere.join("db").exists(), "a reopen from another cwd created ./db there");

    // cp -a db db_copy: the copy is a database of its own.
    let copy = work.join("db_copy");
    copy_dir_recursive(&abs_db, &copy);
    let original_vf = std::fs::read(abs_db.join("vectors.bin")).unwrap();
    let db = ok(LsmVecDb::open_existing(&copy), "open_existing of the copy");
    assert_db_equals(&db, &model, "copy as opened");
    let mut copy_model = model.clone();
    for id in [1u64, 2, 3, 50] {
        let v = vector_for(202, id, 1, DIM);
        ok(db.update(id, &v), "update in the copy");
        copy_model.insert(id, v);
    }
    ok(db.delete(60), "delete in the copy");
    copy_model.remove(&60);
    ok(db.close(), "close copy");
    assert!(
        std::fs::read(abs_db.join("vectors.bin")).unwrap() == original_vf,
        "updates in the copy changed the original's vector file"
    );
    let db = ok(LsmVecDb::open_existing(&abs_db), "open_existing of the original");
    assert_db_equals(&db, &model, "original after updates in the copy");
    ok(db.close(), "close original");
    let db = ok(LsmVecDb::open(&copy, DbOptions::new(DIM)), "reopen the copy");
    assert_db_equals(&db, &copy_model, "copy after reopen");
    ok(db.close(), "close copy");

    // And the spec's relative reopen of the original still works from its cwd.
    cd(&work);
    let db = ok(LsmVecDb::open("db", spec), "spec reopen at the end");
    assert_db_equals(&db, &model, "spec reopen at the end");
}
