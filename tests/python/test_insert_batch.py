"""insert_batch(ids, vectors, threads=0): the result does not depend on the thread count, bad
``threads`` values and bad batches are rejected before anything is written, the GIL is
released, and a batch that fails after its first commit group says how much is committed."""

import pickle
import threading
import time

import numpy as np
import pytest

import lsm_vec

DIM = 16


def dataset(n, seed=2024):
    """A fixed clustered dataset: n float32 vectors of dimension DIM."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM)) * 4
    x = centres[rng.integers(0, 20, n)] + rng.standard_normal((n, DIM))
    return x.astype(np.float32)


def test_one_and_two_threads_give_identical_results(open_db):
    """The engine plans each group the same way whatever the thread count: same graph, so the
    same neighbours and distances (2500 vectors: ten commit groups, codes trained on the way)."""
    x = dataset(2500)
    ids = np.arange(10_000, 12_500, dtype=np.uint64)
    queries = dataset(100, seed=99)
    results = []
    for threads in (1, 2):
        db = open_db(DIM, name=f"db-{threads}", m=8, ef_construction=64.0)
        db.insert_batch(ids, x, threads=threads)
        assert len(db) == len(ids)
        results.append(db.search_knn_batch(queries, k=10, ef_search=64, threads=1))
        np.testing.assert_array_equal(db.get(12_499), x[-1])
        # stored vectors find themselves (exact re-rank: distance 0)
        self_ids, self_d = db.search_knn_batch(x[::50], k=1, ef_search=64)
        np.testing.assert_array_equal(self_ids[:, 0], ids[::50].astype(np.int64))
        assert np.all(self_d[:, 0] == 0.0)
    (ids1, d1), (ids2, d2) = results
    assert ids1.shape == (100, 10) and np.all(ids1 >= 10_000)
    np.testing.assert_array_equal(ids1, ids2)
    np.testing.assert_array_equal(d1, d2)


def test_threads_forms(open_db):
    x = dataset(40)
    db = open_db(DIM)
    db.insert_batch(np.arange(10), x[:10])  # default: one per core
    db.insert_batch(np.arange(10, 20), x[10:20], 2)  # positional
    db.insert_batch(np.arange(20, 30), x[20:30], threads=None)  # None = 0
    db.insert_batch(np.arange(30, 40), x[30:40], threads=np.int64(3))  # numpy int
    assert len(db) == 40
    db.insert_batch([], [], threads=4)  # empty batch
    assert len(db) == 40


@pytest.mark.parametrize(
    "threads, exc",
    [
        (-1, ValueError),
        (-(2**70), ValueError),
        (2**70, ValueError),
        (1.5, TypeError),
        (2.0, TypeError),
        ("2", TypeError),
        (True, TypeError),
        (np.bool_(False), TypeError),
        ([2], TypeError),
    ],
)
def test_bad_threads_are_rejected_and_write_nothing(open_db, threads, exc):
    db = open_db(DIM)
    with pytest.raises(exc, match="threads"):
        db.insert_batch(np.arange(300), dataset(300), threads=threads)
    assert len(db) == 0


@pytest.mark.parametrize("threads", [1, 2, 0])
def test_duplicate_id_inside_the_batch_writes_nothing(open_db, threads):
    db = open_db(DIM)
    x = dataset(600)
    ids = np.arange(600, dtype=np.uint64)
    ids[-1] = 3  # same id as row 3, in the last commit group
    with pytest.raises(ValueError, match="appears twice") as info:
        db.insert_batch(ids, x, threads=threads)
    assert not hasattr(info.value, "committed")
    assert len(db) == 0
    assert 0 not in db and 3 not in db
    # the handle is fine: the same batch with distinct ids goes in
    db.insert_batch(np.arange(600), x, threads=threads)
    assert len(db) == 600


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_value_in_the_last_row_writes_nothing(open_db, bad):
    db = open_db(DIM)
    db.insert(100_000, dataset(1, seed=5)[0])
    x = dataset(600)
    x[-1, DIM - 1] = bad
    with pytest.raises(ValueError, match="599") as info:
        db.insert_batch(np.arange(600), x, threads=2)
    assert not hasattr(info.value, "committed")
    assert len(db) == 1
    assert all(i not in db for i in (0, 255, 256, 598, 599))
    res = db.search_knn(x[0], k=5, ef_search=32)
    assert [r.id for r in res] == [100_000]


def test_live_id_in_the_last_row_writes_nothing(open_db):
    db = open_db(DIM)
    db.insert(7, dataset(1, seed=5)[0])
    ids = np.arange(1000, 1600)
    ids[-1] = 7
    with pytest.raises(ValueError):
        db.insert_batch(ids, dataset(600), threads=2)
    assert len(db) == 1


def test_gil_is_released_during_insert_batch(open_db):
    """While one thread is inside a long insert_batch, another Python thread keeps running:
    its largest pause is far shorter than the call (a held GIL would freeze it throughout)."""
    x = dataset(20_000, seed=8)
    # size the batch so the call takes ~0.6 s here
    probe = open_db(DIM, name="probe")
    t0 = time.perf_counter()
    probe.insert_batch(np.arange(1000), x[:1000], threads=1)
    per_vector = (time.perf_counter() - t0) / 1000
    n = int(min(len(x), max(2000, 0.6 / max(per_vector, 1e-7))))
    db = open_db(DIM)

    window = {}

    def worker():
        window["start"] = time.perf_counter()
        db.insert_batch(np.arange(n), x[:n], threads=1)
        window["end"] = time.perf_counter()

    t = threading.Thread(target=worker)
    stamps = []
    t.start()
    while t.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    assert len(db) == n
    duration = window["end"] - window["start"]
    inside = [s for s in stamps if window["start"] <= s <= window["end"]]
    assert duration > 0.2, (duration, n)
    gaps = np.diff([window["start"]] + inside + [window["end"]])
    assert gaps.max() < duration / 2, (gaps.max(), duration)


def test_failure_after_the_first_group_says_what_is_committed(open_db):
    """A batch whose later group fails (here: another thread inserts one of its ids after the
    batch was validated and its first group committed) raises the exception of the cause's kind
    (ValueError for an existing id) with ``committed`` and ``total``; exactly the first
    ``committed`` vectors are in the database."""
    groups = 16
    n = 256 * groups
    x = dataset(n + 1, seed=12)
    for attempt in range(5):
        db = open_db(DIM, name=f"race-{attempt}")
        ids = np.arange(n, dtype=np.uint64) + 1_000_000
        outcome = {}

        def batch():
            try:
                db.insert_batch(ids, x[:n], threads=1)
                outcome["batch"] = None
            except Exception as e:  # noqa: BLE001 - checked below
                outcome["batch"] = e

        t = threading.Thread(target=batch)
        t.start()
        while len(db) == 0 and t.is_alive():
            time.sleep(0.0005)
        try:
            db.insert(int(ids[-1]), x[n])  # the batch's last id, taken from under it
            outcome["insert"] = None
        except ValueError as e:
            outcome["insert"] = e
        t.join()
        e = outcome["batch"]
        if outcome["insert"] is not None or e is None:
            continue  # the batch won the race (it was already done): try again
        assert isinstance(e, ValueError), repr(e)
        assert isinstance(e.committed, int) and isinstance(e.total, int)
        assert e.total == n
        assert 0 < e.committed < n and e.committed % 256 == 0, e.committed
        assert f"the first {e.committed} of the {n} vectors are committed" in str(e)
        assert len(db) == e.committed + 1
        assert all(int(i) in db for i in ids[: e.committed : 97])
        assert int(ids[e.committed - 1]) in db
        assert all(int(i) not in db for i in ids[e.committed : -1 : 97])
        np.testing.assert_array_equal(db.get(int(ids[-1])), x[n])
        # the committed prefix is searchable and exact
        ri, rd = db.search_knn_batch(x[: e.committed : 50], k=1, ef_search=64)
        assert np.all(rd[:, 0] == 0.0)
        # the error survives pickling with its attributes (multiprocessing workers)
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is ValueError and back.committed == e.committed and back.total == n
        return
    pytest.fail("the concurrent insert never landed between two groups of the batch")



def test_finish_repairs_empties_the_backlog(open_db):
    """Deletes leave their repairs to a background thread; finish_repairs() does them now."""
    x = dataset(3000)
    db = open_db(DIM, m=8, ef_construction=64.0)
    db.insert_batch(np.arange(3000, dtype=np.uint64), x)
    for i in range(0, 3000, 3):
        db.delete(i)
    db.finish_repairs()
    s = db.stats()
    assert s["repair_backlog"] == 0 and s["repairs"] >= 1
    res = db.search_knn(x[1], k=5, ef_search=64)
    assert res[0].id == 1 and all(r.id % 3 != 0 for r in res)
    db.close()
    with pytest.raises(lsm_vec.ClosedError):
        db.finish_repairs()
