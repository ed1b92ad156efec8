"""Open / close / reopen from Python, the context manager, stats."""

import os

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


def test_options_property_is_a_read_only_copy_of_the_effective_options(tmp_path):
    path = tmp_path / "db"
    opts = make_options(DIM, metric=lsm_vec.DistanceMetric.Cosine, m=6, m_max=20,
                        vector_storage_type=0, k=3, ef_search=40, paged_max_cached_pages=64,
                        edge_cache_size=1000, enable_stats=True, random_seed=99)
    with lsm_vec.LSMVecDB.open(str(path), opts) as db:
        eff = db.options
        assert isinstance(eff, lsm_vec.LSMVecDBOptions)
        assert (eff.dim, eff.metric, eff.m, eff.m_max, eff.vector_storage_type) == (
            DIM, lsm_vec.DistanceMetric.Cosine, 6, 20, 0)
        assert (eff.k, eff.ef_search, eff.paged_max_cached_pages, eff.edge_cache_size,
                eff.enable_stats, eff.random_seed) == (3, 40, 64, 1000, True, 99)
        # the vector file in use, not "" (the default is inside the database directory)
        assert eff.vector_file_path != ""
        assert os.path.samefile(eff.vector_file_path, path / "vectors.bin")
        # a copy: changing it changes nothing, and the property cannot be assigned
        eff.m = 30
        eff.metric = lsm_vec.DistanceMetric.L2
        assert db.options.m == 6 and db.options.metric == lsm_vec.DistanceMetric.Cosine
        assert db.options is not db.options
        with pytest.raises(AttributeError):
            db.options = opts
        # usable as options of another database
        other = db.options
        other.reinit = True
        other.vector_file_path = ""
        with lsm_vec.LSMVecDB.open(str(tmp_path / "other"), other) as db2:
            assert db2.options.m == 6 and db2.dim == DIM


def test_options_without_options_at_open_are_the_stored_ones(tmp_path):
    path = str(tmp_path / "db")
    create = make_options(DIM, m=12, m_max=30, vector_storage_type=0,
                          metric=lsm_vec.DistanceMetric.InnerProduct)
    lsm_vec.LSMVecDB.open(path, create).close()
    with lsm_vec.LSMVecDB.open(path) as db:
        eff = db.options
        assert (eff.dim, eff.metric, eff.m, eff.m_max, eff.vector_storage_type) == (
            DIM, lsm_vec.DistanceMetric.InnerProduct, 12, 30, 0)


def test_options_after_reopen_with_other_structure_are_the_stored_ones(tmp_path):
    """DESIGN.md section 6: at reopen the stored structural parameters (m, m_max,
    vector_storage_type) win over the ones passed, and db.options shows them; the tuning knobs
    are this open's. (Needs the engine's stored-parameters-win change.)"""
    path = str(tmp_path / "db")
    create = make_options(DIM, m=16, m_max=24, vector_storage_type=0)
    with lsm_vec.LSMVecDB.open(path, create) as db:
        db.insert(1, [1.0] * DIM)
    # as the specification's examples reopen: only dim set, m / m_max / storage at defaults
    again = lsm_vec.LSMVecDBOptions(dim=DIM, k=2, ef_search=50)
    assert (again.m, again.m_max, again.vector_storage_type) == (8, 16, 1)
    with lsm_vec.LSMVecDB.open(path, again) as db:
        eff = db.options
        assert (eff.m, eff.m_max, eff.vector_storage_type) == (16, 24, 0)
        assert (eff.k, eff.ef_search) == (2, 50)
        assert 1 in db
        db.insert(2, [2.0] * DIM)
    # explicitly different values lose too
    other = lsm_vec.LSMVecDBOptions(dim=DIM, m=4, m_max=6, vector_storage_type=1)
    with lsm_vec.LSMVecDB.open(path, other) as db:
        eff = db.options
        assert (eff.m, eff.m_max, eff.vector_storage_type) == (16, 24, 0)
        assert len(db) == 2
