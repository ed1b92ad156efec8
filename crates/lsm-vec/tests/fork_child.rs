//! Issue 7, case 9: a handle used or dropped in a forked child fails fast with a clear error
//! (`ErrorKind::Closed`), never hangs and never acknowledges a write that is then lost; the
//! parent's handle is unaffected.
//!
//! The child only calls the handle and `_exit`s: it never unwinds into the test harness and never
//! prints (another thread of the parent may have held the stdout lock at the fork).

mod common;

use std::time::{Duration, Instant};

use common::*;
use lsm_vec::{DistanceMetric, ErrorKind, LsmVecDb, SearchOptions, VectorStorageType};

const DIM: usize = 8;
const CHILD_ID: u64 = 777_777;

/// Exit codes of the child.
const OK: i32 = 0;
const INSERT_ACCEPTED: i32 = 1;
const WRONG_ERROR: i32 = 2;
const SLOW: i32 = 3;
const PANICKED: i32 = 4;
const SEARCH_NOT_CLOSED: i32 = 5;

fn child(db: LsmVecDb) -> i32 {
    let t0 = Instant::now();
    let r = db.insert(CHILD_ID, &vector_for(9, CHILD_ID, 0, DIM));
    let elapsed = t0.elapsed();
    let search = db.search_knn(&vector_for(9, 1, 0, DIM), &SearchOptions::new(3, 16));
    // Dropping the handle (it closes) must not hang either: the parent's deadline catches that.
    drop(db);
    match r {
        Ok(()) => INSERT_ACCEPTED,
        Err(e) if e.kind() != ErrorKind::Closed => WRONG_ERROR,
        Err(_) if elapsed > Duration::from_secs(5) => SLOW,
        Err(_) => match search {
            Err(e) if e.kind() == ErrorKind::Closed => OK,
            _ => SEARCH_NOT_CLOSED,
        },
    }
}

#[test]
fn case9_handle_in_forked_child_fails_fast() {
    let t = tempfile::tempdir().expect("tempdir");
    let opts = test_options(DIM, DistanceMetric::L2, VectorStorageType::Paged);
    let db = open(t.path(), opts.clone());
    let mut model = Model::new();
    for id in 0..200u64 {
        let v = vector_for(9, id, 0, DIM);
        ok(db.insert(id, &v), "insert");
        model.insert(id, v);
    }

    // SAFETY: fork() in a test process; the child runs only `child` (no unwinding: the result
    // of catch_unwind decides the exit code) and leaves with _exit, never returning to Rust's
    // runtime or the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || child(db))).unwrap_or(PANICKED);
        // SAFETY: _exit ends the child at once, without running atexit handlers or destructors.
        unsafe { libc::_exit(code) };
    }

    // Parent: wait at most 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let mut status = 0i32;
        // SAFETY: waitpid on our own child with a valid pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == pid {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung for 60 s (killed)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(libc::WIFEXITED(status), "the child did not exit normally (status {status:#x})");
    let code = libc::WEXITSTATUS(status);
    let meaning = match code {
        OK => "ok",
        INSERT_ACCEPTED => "the child's insert was acknowledged",
        WRONG_ERROR => "the child's insert failed with another error kind than Closed",
        SLOW => "the child's insert took more than 5 s to fail",
        PANICKED => "the child panicked",
        SEARCH_NOT_CLOSED => "the child's search did not fail with Closed",
        _ => "unknown exit code",
    };
    assert_eq!(code, OK, "child: {meaning}");

    // The parent's handle is unaffected.
    assert!(!ok(db.contains(CHILD_ID), "contains"), "the child's insert is visible in the parent");
    assert_db_equals(&db, &model, "parent after the child");
    let v = vector_for(9, 5000, 0, DIM);
    ok(db.insert(5000, &v), "parent insert after the fork");
    model.insert(5000, v.clone());
    let rs = ok(db.search_knn(&v, &SearchOptions::new(3, 32)), "parent search after the fork");
    assert_eq!(rs[0].id, 5000);
    ok(db.close(), "parent close");

    let mut ro = opts;
    ro.reinit = false;
    let db = open(t.path(), ro);
    assert!(!ok(db.contains(CHILD_ID), "contains"), "the child's insert is in the database after a reopen");
    assert_db_equals(&db, &model, "after reopen");
}
