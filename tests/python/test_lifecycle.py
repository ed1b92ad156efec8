"""Open / close / reopen from Python, the context manager, stats."""

import numpy as np
import pytest

import lsm_vec
from conftest import make_options

DIM = 12


def test_reopen_keeps_data(tmp_path, rng):
    path = str(tmp_path / "db")
    data = rng.standard_normal((300, DIM)).astype(np.float32)
    db = lsm_vec.LSMVecDB.open(path, make_options(DIM))
    db.insert_batch(np.arange(300), data)
    db.insert(10**15, data[0] * 2)
    db.delete(5)
    db.update(6, data[7])
    q = rng.standard_normal((10, DIM)).astype(np.float32)
    before = db.search_knn_batch(q, k=5, ef_search=64)
    db.close()

    opts = make_options(DIM)
    opts.reinit = False
    with lsm_vec.LSMVecDB.open(path, opts) as db:
        assert len(db) == 300
        assert 5 not in db and 10**15 in db
        np.testing.assert_array_equal(db.get(6), data[7])
        np.testing.assert_array_equal(db.get(299), data[299])
        after = db.search_knn_batch(q, k=5, ef_search=64)
        np.testing.assert_array_equal(after[0], before[0])
    assert db.closed

    # without options: the stored parameters
    with lsm_vec.LSMVecDB.open(path) as db:
        assert db.dim == DIM and len(db) == 300

    # reinit wipes
    with lsm_vec.LSMVecDB.open(path, make_options(DIM)) as db:
        assert len(db) == 0


def test_drop_without_close_reopens(tmp_path):
    path = str(tmp_path / "db")
    db = lsm_vec.LSMVecDB.open(path, make_options(DIM))
    db.insert(1, [1.0] * DIM)
    del db
    import gc

    gc.collect()
    opts = make_options(DIM)
    opts.reinit = False
    with lsm_vec.LSMVecDB.open(path, opts) as db:
        assert 1 in db


def test_context_manager_closes_on_exception(tmp_path):
    path = str(tmp_path / "db")
    with pytest.raises(ZeroDivisionError):
        with lsm_vec.LSMVecDB.open(path, make_options(DIM)) as db:
            db.insert(1, [1.0] * DIM)
            1 / 0
    assert db.closed
    # the lock was released
    with lsm_vec.LSMVecDB.open(path, make_options(DIM)) as db2:
        assert not db2.closed


def test_path_object_and_repr(tmp_path):
    with lsm_vec.LSMVecDB.open(tmp_path / "db", make_options(DIM)) as db:
        assert db.path == str(tmp_path / "db")
        assert db.dim == DIM
        assert repr(db).startswith("LSMVecDB(")


def test_len_contains_stats(open_db, capsys):
    db = open_db(DIM, enable_stats=True)
    assert len(db) == 0 and 1 not in db
    for i in range(50):
        db.insert(i, np.full(DIM, float(i), dtype=np.float32))
    db.delete(3)
    assert len(db) == 49 and 4 in db and 3 not in db and -1 not in db and 2**70 not in db
    for i in range(20):
        db.search_knn(np.full(DIM, float(i)), k=3, ef_search=16)
    s = db.stats()
    assert s["count"] == 49 and s["dim"] == DIM
    assert s["inserts"] >= 50 and s["deletes"] == 1 and s["searches"] >= 20
    assert s["distance_computations"] > 0
    assert s["search_latency"]["count"] >= 20 and s["search_latency"]["p50_us"] > 0
    for key in ("vector_pages_read", "page_cache_hits", "page_cache_misses", "lsm_gets",
                "edge_cache_hits", "nodes_visited", "insert_latency"):
        assert key in s
    db.print_statistics()
    assert "search latency" in capsys.readouterr().out
