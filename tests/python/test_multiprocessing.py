"""lsm-vec and several processes: one process owns a database at a time (BusyError for the
others); a handle inherited through fork() fails fast with ClosedError and never hangs, never
acknowledges a write that would be lost; the patterns the README documents work (close before
forking, or "spawn" workers that open the database themselves).

Every wait on another process is bounded (HANG_TIMEOUT_S): a hung child is killed and the test
fails, instead of hanging the suite. The bound is a guard against hangs, not a measurement."""

import gc
import multiprocessing
import os
import signal
import time
import traceback
import warnings

import numpy as np
import pytest

import lsm_vec
from conftest import make_options

DIM = 8
HANG_TIMEOUT_S = 60
CHILD_ID = 1000

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def vec(x):
    return [float(x)] * DIM


def fork_quietly():
    """os.fork() without Python 3.12's warning about forking a multi-threaded process (the
    point of these tests is what happens then)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def wait_or_kill(pid):
    """Waits for child ``pid`` at most HANG_TIMEOUT_S; returns its exit code, or kills it and
    returns None if it is still running then."""
    deadline = time.monotonic() + HANG_TIMEOUT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.05)


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def run_in_fork(child):
    """Runs ``child(say)`` in a forked child process, which never returns into pytest: it exits
    0 if ``child`` returns, 1 if it raises (the traceback comes back through a pipe, and so does
    whatever it passes to ``say`` on the way). Returns ``(exit code or None if it hung and was
    killed, what the child reported)``."""
    r, w = os.pipe()
    pid = fork_quietly()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(r)

            def say(msg):
                os.write(w, (msg[-4000:] + "\n").encode())

            try:
                child(say)
                code = 0
            except BaseException:  # noqa: BLE001 - everything goes back to the parent
                say(traceback.format_exc())
        finally:
            os._exit(code)
    os.close(w)
    code = wait_or_kill(pid)
    return code, read_all(r)


def test_handle_inherited_by_fork_fails_fast_with_closed_error(tmp_path):
    """issue 7 item 9: the child of a fork must not use the parent's handle: every call raises
    ClosedError (an lsm_vec.Error), the insert is not acknowledged, and dropping the handle in
    the child returns at once. The parent's handle is unaffected. (Needs the engine's fork
    detection; without it the child hangs and is killed after HANG_TIMEOUT_S.)"""
    path = str(tmp_path / "db")
    db = lsm_vec.LSMVecDB.open(path, make_options(DIM))
    for i in range(20):
        db.insert(i, vec(i))

    def child(say):
        nonlocal db
        failures = []
        for what, call in [
            ("insert", lambda: db.insert(CHILD_ID, vec(CHILD_ID))),
            ("insert again", lambda: db.insert(CHILD_ID + 1, vec(CHILD_ID))),
            ("search_knn", lambda: db.search_knn(vec(3), k=1, ef_search=8)),
            ("get", lambda: db.get(3)),
        ]:
            try:
                call()
                failures.append(f"{what} in the forked child did not raise ClosedError")
            except lsm_vec.ClosedError:
                pass
            except BaseException as e:  # noqa: BLE001
                failures.append(f"{what} in the forked child raised {type(e).__name__}: {e}")
        for f in failures:
            say(f)
        say("dropping the inherited handle")  # the parent's report says where it hung
        del db  # the last reference: drops the engine handle in the child
        gc.collect()
        assert not failures, failures

    code, report = run_in_fork(child)
    assert code is not None, f"the forked child hung (killed after {HANG_TIMEOUT_S} s)\n{report}"
    assert code == 0, f"the forked child failed (exit {code}):\n{report}"

    # the parent's handle works and never saw the child's insert
    assert CHILD_ID not in db and CHILD_ID + 1 not in db and len(db) == 20
    db.insert(21, vec(21))
    assert db.search_knn(vec(21), k=1, ef_search=16)[0].id == 21
    db.close()
    with lsm_vec.LSMVecDB.open(path) as again:
        assert len(again) == 21 and CHILD_ID not in again
        np.testing.assert_array_equal(again.get(21), np.full(DIM, 21.0, dtype=np.float32))


def test_closing_before_fork_lets_the_child_open_the_database(tmp_path):
    """The documented fork pattern: the parent closes its handle before forking; the child
    opens the database itself, writes, closes; the parent reopens and sees the child's writes."""
    path = str(tmp_path / "db")
    with lsm_vec.LSMVecDB.open(path, make_options(DIM)) as db:
        db.insert(1, vec(1))

    def child(say):
        with lsm_vec.LSMVecDB.open(path) as db:
            assert 1 in db
            db.insert(CHILD_ID, vec(CHILD_ID))

    code, report = run_in_fork(child)
    assert code is not None, f"the forked child hung (killed after {HANG_TIMEOUT_S} s)\n{report}"
    assert code == 0, f"the forked child failed (exit {code}):\n{report}"
    with lsm_vec.LSMVecDB.open(path) as db:
        assert len(db) == 2 and CHILD_ID in db


# --- multiprocessing: workers must be importable (module level) for "spawn" ----------------


def _insert_range(path, start, n):
    """Worker: opens the database, inserts ids start .. start+n-1, closes; returns len(db)."""
    with lsm_vec.LSMVecDB.open(path) as db:
        db.insert_batch(np.arange(start, start + n), np.full((n, DIM), float(start)))
        return len(db)


def _open_and_close(path):
    """Worker: opens the database (BusyError while another process holds it)."""
    with lsm_vec.LSMVecDB.open(path) as db:
        return len(db)


def test_spawn_workers_open_the_database_one_at_a_time(tmp_path):
    """The documented multiprocessing pattern: workers started with "spawn" open the database
    themselves, one process at a time; while the parent holds it open, a worker's open raises
    BusyError (sent back through the pool like any exception)."""
    path = str(tmp_path / "db")
    ctx = multiprocessing.get_context("spawn")
    db = lsm_vec.LSMVecDB.open(path, make_options(DIM))
    db.insert_batch(np.arange(10), np.ones((10, DIM)))
    with ctx.Pool(processes=1) as pool:
        with pytest.raises(lsm_vec.BusyError, match="already open"):
            pool.apply_async(_open_and_close, (path,)).get(timeout=HANG_TIMEOUT_S)
        db.close()  # hand the database over to the workers
        assert pool.apply_async(_insert_range, (path, 100, 10)).get(timeout=HANG_TIMEOUT_S) == 20
        assert pool.apply_async(_insert_range, (path, 200, 10)).get(timeout=HANG_TIMEOUT_S) == 30
    with lsm_vec.LSMVecDB.open(path) as db:
        assert len(db) == 30 and 105 in db and 209 in db
        assert db.search_knn(np.full(DIM, 200.0), k=1, ef_search=32)[0].id in range(200, 210)


def test_fork_pool_after_close_works(tmp_path):
    """With the "fork" start method the parent closes its handle before the pool forks."""
    path = str(tmp_path / "db")
    with lsm_vec.LSMVecDB.open(path, make_options(DIM)) as db:
        db.insert(1, vec(1))
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pool = ctx.Pool(processes=1)
    with pool:
        assert pool.apply_async(_insert_range, (path, 100, 5)).get(timeout=HANG_TIMEOUT_S) == 6
    with lsm_vec.LSMVecDB.open(path) as db:
        assert len(db) == 6
