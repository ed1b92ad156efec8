"""Argument conversion: lists, tuples and numpy arrays of any real dtype and layout give the
same results; ids span the whole u64 range; batch calls; return types."""

import numpy as np
import pytest

import lsm_vec

DIM = 16
MAX_ID = 2**64 - 1


def fill(db, rng, n=200):
    data = rng.standard_normal((n, DIM)).astype(np.float32)
    db.insert_batch(np.arange(n, dtype=np.uint64), data)
    return data


def test_ids_at_both_ends_of_u64(open_db):
    db = open_db(DIM)
    a = np.full(DIM, 1.0, dtype=np.float32)
    b = np.full(DIM, -1.0, dtype=np.float32)
    db.insert(0, a)
    db.insert(MAX_ID, b)
    assert 0 in db and MAX_ID in db and len(db) == 2
    np.testing.assert_array_equal(db.get(0), a)
    np.testing.assert_array_equal(db.get(MAX_ID), b)
    assert db.search_knn(b, k=1, ef_search=8)[0].id == MAX_ID
    assert db.search_knn(a, k=1, ef_search=8)[0].id == 0
    # numpy integer scalars are ids too
    np.testing.assert_array_equal(db.get(np.uint64(MAX_ID)), b)
    ids, dists = db.search_knn_batch(np.stack([a, b]), k=2, ef_search=8)
    assert ids.dtype == np.int64
    assert ids[0, 0] == 0
    assert ids.view(np.uint64)[1, 0] == MAX_ID  # ids >= 2**63 come back as negative int64
    db.update(MAX_ID, a)
    db.delete(MAX_ID)
    assert MAX_ID not in db
    db.delete(0)
    assert len(db) == 0


def test_vector_input_forms_are_equivalent(open_db, rng):
    base = rng.standard_normal(DIM)
    forms = {
        "list": [float(x) for x in base],
        "tuple": tuple(float(x) for x in base),
        "f32": base.astype(np.float32),
        "f64": base.astype(np.float64),
        "f16": base.astype(np.float16),
        "f32_strided": np.repeat(base.astype(np.float32), 2)[::2],
        "f64_reversed": base[::-1].copy()[::-1],
        "column_of_fortran": np.asfortranarray(np.stack([base, base], axis=1))[:, 0],
        "readonly": np.frombuffer(base.astype(np.float32).tobytes(), dtype=np.float32),
        "big_endian": base.astype(">f4"),
        "misaligned": np.frombuffer(b"\0" + base.astype(np.float32).tobytes(), np.float32, DIM, 1),
    }
    assert not forms["misaligned"].flags.aligned
    assert not forms["f32_strided"].flags.c_contiguous
    assert not forms["readonly"].flags.writeable
    db = open_db(DIM)
    data = fill(db, rng)
    expected_vec = base.astype(np.float32)
    expected16 = base.astype(np.float16).astype(np.float32)
    ref = [(r.id, r.distance) for r in db.search_knn(forms["f32"], k=10, ef_search=64)]
    for name, v in forms.items():
        got = [(r.id, r.distance) for r in db.search_knn(v, k=10, ef_search=64)]
        if name == "f16":
            assert [g[0] for g in got][:5] == [r[0] for r in ref][:5], name
        else:
            assert got == ref, name
    for i, (name, v) in enumerate(forms.items()):
        db.insert(10_000 + i, v)
        stored = db.get(10_000 + i)
        np.testing.assert_array_equal(stored, expected16 if name == "f16" else expected_vec)
    # ints are numbers too
    db.insert(20_000, list(range(DIM)))
    db.insert(20_001, np.arange(DIM, dtype=np.int32))
    np.testing.assert_array_equal(db.get(20_000), db.get(20_001))
    assert data.shape == (200, DIM)


def test_caller_array_is_not_modified_or_kept(open_db):
    db = open_db(DIM)
    v = np.linspace(0, 1, DIM, dtype=np.float32)
    before = v.copy()
    db.insert(1, v)
    np.testing.assert_array_equal(v, before)
    v[:] = 7.0  # mutating the caller's array afterwards does not change the stored vector
    np.testing.assert_array_equal(db.get(1), before)
    out = db.get(1)
    out[:] = 3.0  # nor does mutating the returned array
    np.testing.assert_array_equal(db.get(1), before)


def test_get_returns_float32_1d(open_db):
    db = open_db(DIM)
    db.insert(5, [0.25] * DIM)
    v = db.get(5)
    assert isinstance(v, np.ndarray)
    assert v.dtype == np.float32 and v.ndim == 1 and v.shape == (DIM,)
    assert v.flags.c_contiguous and v.flags.writeable


def test_batch_input_forms_are_equivalent(open_db, rng):
    data = rng.standard_normal((300, DIM))
    queries = rng.standard_normal((20, DIM))
    results = []
    for name, ids, vecs in [
        ("uint64+f32", np.arange(300, dtype=np.uint64), data.astype(np.float32)),
        ("int64+f64", np.arange(300, dtype=np.int64), data),
        ("list+lists", list(range(300)), data.astype(np.float32).tolist()),
        ("range+fortran", range(300), np.asfortranarray(data)),
        ("int32+strided", np.arange(300, dtype=np.int32), np.repeat(data, 2, axis=1)[:, ::2]),
        ("misaligned", np.arange(300, dtype=np.uint32),
         np.frombuffer(b"\0" + data.astype(np.float32).tobytes(), np.float32, 300 * DIM, 1)
         .reshape(300, DIM)),
    ]:
        db = open_db(DIM, name=name)
        db.insert_batch(ids, vecs)
        assert len(db) == 300
        np.testing.assert_array_equal(db.get(17), data[17].astype(np.float32))
        for qform in (queries, queries.astype(np.float32), queries.tolist(),
                      np.asfortranarray(queries)):
            results.append(db.search_knn_batch(qform, k=5, ef_search=64, threads=1))
    ref_ids, ref_d = results[0]
    assert ref_ids.shape == (20, 5) and ref_ids.dtype == np.int64
    assert ref_d.shape == (20, 5) and ref_d.dtype == np.float32
    for ids, d in results[1:]:
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_allclose(d, ref_d, rtol=1e-5)


def test_batch_search_matches_single_search(open_db, rng):
    db = open_db(DIM)
    fill(db, rng, 500)
    q = rng.standard_normal((30, DIM)).astype(np.float32)
    ids, dists = db.search_knn_batch(q, k=10, ef_search=64, threads=2)
    for i in range(len(q)):
        single = db.search_knn(q[i], k=10, ef_search=64)
        assert [r.id for r in single] == list(ids[i])
        np.testing.assert_allclose([r.distance for r in single], dists[i], rtol=1e-6)
    # SearchOptions and positional forms too
    so = lsm_vec.SearchOptions(k=10, ef_search=64)
    np.testing.assert_array_equal(db.search_knn_batch(q, so)[0], ids)
    np.testing.assert_array_equal(db.search_knn_batch(q, 10, 64)[0], ids)
    np.testing.assert_array_equal(db.search_knn_batch(q, 10, 64, 1)[0], ids)
    np.testing.assert_array_equal(db.search_knn_batch(q, so, threads=0)[0], ids)


def test_batch_missing_neighbours_are_minus_one_and_inf(open_db):
    db = open_db(DIM)
    db.insert(3, [1.0] * DIM)
    db.insert(4, [2.0] * DIM)
    ids, dists = db.search_knn_batch(np.ones((2, DIM)), k=5, ef_search=16)
    assert ids.shape == (2, 5)
    assert list(ids[0]) == [3, 4, -1, -1, -1]
    assert np.isinf(dists[0, 2:]).all() and np.isfinite(dists[0, :2]).all()


def test_empty_database_and_empty_batches(open_db):
    db = open_db(DIM)
    assert db.search_knn([0.0] * DIM, k=3, ef_search=8) == []
    ids, dists = db.search_knn_batch(np.ones((3, DIM)), k=2)
    assert (ids == -1).all() and np.isinf(dists).all()
    ids, dists = db.search_knn_batch(np.empty((0, DIM), dtype=np.float32), k=4)
    assert ids.shape == (0, 4) and dists.shape == (0, 4)
    db.insert_batch([], np.empty((0, DIM), dtype=np.float32))
    db.insert_batch([], [])
    assert len(db) == 0


def test_search_forms(open_db, rng):
    db = open_db(DIM, k=3, ef_search=32)
    fill(db, rng, 100)
    q = rng.standard_normal(DIM)
    default = db.search_knn(q)
    assert len(default) == 3  # k from the options
    so = lsm_vec.SearchOptions()
    so.k = 3
    so.ef_search = 32
    assert db.search_knn(q, so) == default
    assert db.search_knn(q, opts=so) == default
    assert db.search_knn(q, k=3, ef_search=32) == default
    assert db.search_knn(q, 3, 32) == default
    assert len(db.search_knn(q, k=50)) == 50  # ef_search is raised to k when only k is given
    assert len(db.search_knn(q, ef_search=200)) == 3
    with pytest.raises(TypeError):
        db.search_knn(q, so, k=3)
    with pytest.raises(TypeError):
        db.search_knn(q, "ten")


def test_search_result_is_read_only_value(open_db):
    db = open_db(DIM)
    db.insert(9, [0.5] * DIM)
    r = db.search_knn([0.5] * DIM, k=1, ef_search=8)[0]
    assert isinstance(r, lsm_vec.SearchResult)
    assert isinstance(r.id, int) and isinstance(r.distance, float)
    with pytest.raises(AttributeError):
        r.id = 3
    with pytest.raises(AttributeError):
        r.distance = 1.0
    assert repr(r).startswith("SearchResult(id=9, distance=")
    assert r == lsm_vec.SearchResult(9, r.distance)


def test_metrics(open_db):
    a = [1.0, 0.0] + [0.0] * (DIM - 2)
    b = [0.0, 2.0] + [0.0] * (DIM - 2)
    c = [3.0, 0.0] + [0.0] * (DIM - 2)
    cases = {
        lsm_vec.DistanceMetric.L2: {1: 0.0, 2: 5**0.5, 3: 2.0},
        lsm_vec.DistanceMetric.Cosine: {1: 0.0, 2: 1.0, 3: 0.0},
        lsm_vec.DistanceMetric.InnerProduct: {1: -1.0, 2: 0.0, 3: -3.0},
    }
    for metric, expected in cases.items():
        db = open_db(DIM, name=str(metric), metric=metric)
        db.insert(1, a)
        db.insert(2, b)
        db.insert(3, c)
        got = {r.id: r.distance for r in db.search_knn(a, k=3, ef_search=8)}
        assert got == pytest.approx(expected, abs=1e-5), metric
        assert db.stats()["metric"] in str(metric)
