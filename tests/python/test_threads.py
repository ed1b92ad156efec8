"""The GIL is released during database work: Python threads search in parallel, also while
another thread inserts."""

import threading
import time

import numpy as np

DIM = 32


def test_four_searchers_and_one_inserter(open_db):
    rng = np.random.default_rng(7)
    db = open_db(DIM)
    base = rng.standard_normal((2000, DIM)).astype(np.float32)
    db.insert_batch(np.arange(2000), base)
    extra = rng.standard_normal((600, DIM)).astype(np.float32)
    errors = []
    stop = threading.Event()
    searches = [0] * 4

    def searcher(t):
        local = np.random.default_rng(100 + t)
        try:
            while not stop.is_set():
                q = local.standard_normal(DIM).astype(np.float32)
                res = db.search_knn(q, k=10, ef_search=64)
                assert len(res) == 10
                d = [r.distance for r in res]
                assert d == sorted(d)
                searches[t] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def inserter():
        try:
            for i, v in enumerate(extra):
                db.insert(10_000 + i, v)
                if i % 50 == 0:
                    db.delete(i)  # deletes of base vectors, concurrently with searches
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            stop.set()

    threads = [threading.Thread(target=searcher, args=(t,)) for t in range(4)]
    writer = threading.Thread(target=inserter)
    for t in threads:
        t.start()
    writer.start()
    writer.join(timeout=120)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(db) == 2000 + 600 - 12
    assert all(n > 0 for n in searches), searches
    for i in range(0, 600, 97):
        np.testing.assert_array_equal(db.get(10_000 + i), extra[i])


def test_gil_is_released_during_batch_search(open_db):
    """While one thread is inside a long batch search, another Python thread keeps running:
    its largest pause is far shorter than the call (a held GIL would freeze it throughout)."""
    rng = np.random.default_rng(11)
    db = open_db(DIM)
    db.insert_batch(np.arange(3000), rng.standard_normal((3000, DIM)).astype(np.float32))
    queries = rng.standard_normal((400, DIM)).astype(np.float32)

    # size the batch so the call takes ~0.5 s here
    t0 = time.perf_counter()
    db.search_knn_batch(queries, k=10, ef_search=200, threads=1)
    per_call = time.perf_counter() - t0
    reps = max(1, int(0.5 / max(per_call, 1e-6)))
    big = np.tile(queries, (reps, 1))

    window = {}

    def worker():
        window["start"] = time.perf_counter()
        db.search_knn_batch(big, k=10, ef_search=200, threads=1)
        window["end"] = time.perf_counter()

    t = threading.Thread(target=worker)
    stamps = []
    t.start()
    while t.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    duration = window["end"] - window["start"]
    inside = [s for s in stamps if window["start"] <= s <= window["end"]]
    assert duration > 0.2
    gaps = np.diff([window["start"]] + inside + [window["end"]])
    assert gaps.max() < duration / 2, (gaps.max(), duration)


def test_parallel_searches_from_python_threads(open_db):
    """Searches from several threads give the same answers as from one."""
    rng = np.random.default_rng(5)
    db = open_db(DIM)
    db.insert_batch(np.arange(3000), rng.standard_normal((3000, DIM)).astype(np.float32))
    queries = rng.standard_normal((200, DIM)).astype(np.float32)
    expected = [[r.id for r in db.search_knn(q, k=5, ef_search=64)] for q in queries]
    got = [None] * len(queries)

    def run(part):
        for i in range(part, len(queries), 4):
            got[i] = [r.id for r in db.search_knn(queries[i], k=5, ef_search=64)]

    threads = [threading.Thread(target=run, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_close_while_other_threads_search(open_db):
    """Closing from one thread while others search: they get RuntimeError, nothing crashes."""
    rng = np.random.default_rng(3)
    db = open_db(DIM)
    db.insert_batch(np.arange(1000), rng.standard_normal((1000, DIM)).astype(np.float32))
    q = rng.standard_normal(DIM).astype(np.float32)
    outcome = []
    started = threading.Barrier(4)

    def searcher():
        started.wait()
        try:
            while True:
                db.search_knn(q, k=5, ef_search=32)
        except RuntimeError as e:
            outcome.append(str(e))
        except Exception as e:  # noqa: BLE001
            outcome.append(e)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.05)
    db.close()
    for t in threads:
        t.join(timeout=30)
    assert len(outcome) == 3 and all(isinstance(o, str) and "closed" in o for o in outcome), outcome
