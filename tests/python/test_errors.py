"""The specification's exception mapping: ValueError for invalid arguments, KeyError for a
missing id, RuntimeError for everything else, as lsm_vec.Error and its subclasses
CorruptionError / BusyError / ClosedError / IoError; messages say what was wrong."""

import math
import pickle

import numpy as np
import pytest

import lsm_vec
from conftest import make_options

DIM = 8


def vec(x=0.5, dim=DIM):
    return [x] * dim


# --- ValueError: invalid arguments --------------------------------------------------------


def test_dimension_mismatch_is_value_error(open_db):
    db = open_db(DIM)
    db.insert(1, vec())
    with pytest.raises(ValueError, match=r"expected 8, got 7"):
        db.insert(2, vec(dim=7))
    with pytest.raises(ValueError, match=r"dimension"):
        db.search_knn(vec(dim=9), k=1, ef_search=8)
    with pytest.raises(ValueError, match=r"dimension"):
        db.update(1, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"dimension"):
        db.insert_batch([5, 6], np.zeros((2, 7), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dimension"):
        db.search_knn_batch(np.zeros((2, 9), dtype=np.float32), k=1)
    assert len(db) == 1 and 2 not in db


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_value_error(open_db, bad):
    db = open_db(DIM)
    v = vec()
    v[3] = bad
    with pytest.raises(ValueError):
        db.insert(1, v)
    with pytest.raises(ValueError):
        db.insert(1, np.array(v, dtype=np.float32))
    assert len(db) == 0
    db.insert(1, vec())
    with pytest.raises(ValueError):
        db.update(1, v)
    with pytest.raises(ValueError):
        db.search_knn(v, k=1, ef_search=4)
    np.testing.assert_array_equal(db.get(1), np.full(DIM, 0.5, dtype=np.float32))


def test_float64_overflowing_float32_is_value_error(open_db):
    db = open_db(DIM)
    with pytest.raises(ValueError), np.errstate(over="ignore"):
        db.insert(1, np.full(DIM, 1e300))


def test_duplicate_insert_is_value_error(open_db):
    db = open_db(DIM)
    db.insert(7, vec(0.1))
    with pytest.raises(ValueError, match="7"):
        db.insert(7, vec(0.9))
    np.testing.assert_allclose(db.get(7), vec(0.1))
    with pytest.raises(ValueError):
        db.insert_batch([8, 7], np.ones((2, DIM)))
    assert 8 not in db  # a bad batch writes nothing
    with pytest.raises(ValueError):
        db.insert_batch([9, 9], np.ones((2, DIM)))


def test_zero_vector_under_cosine_is_value_error(open_db):
    db = open_db(DIM, metric=lsm_vec.DistanceMetric.Cosine)
    with pytest.raises(ValueError):
        db.insert(1, [0.0] * DIM)


@pytest.mark.parametrize(
    "field, value",
    [
        ("dim", 0),
        ("m", 1),
        ("m_max", 4),  # < m = 8
        ("ef_construction", 0.0),
        ("ef_construction", math.nan),
        ("paged_max_cached_pages", 0),
        ("db_target_size", 0),
        ("k", 0),
        ("ef_search", 0),
    ],
)
def test_bad_options_are_value_error_at_open(tmp_path, field, value):
    opts = make_options(DIM)
    setattr(opts, field, value)
    with pytest.raises(ValueError):
        lsm_vec.LSMVecDB.open(str(tmp_path / "db"), opts)


@pytest.mark.parametrize("field", ["dim", "m", "m_max", "k", "ef_search", "random_seed",
                                   "vec_file_capacity", "paged_max_cached_pages",
                                   "db_target_size", "edge_cache_size", "lsm_cache_bytes",
                                   "rerank", "memory_budget_bytes", "quantization"])
def test_negative_integer_options_are_value_error(field):
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(ValueError, match=field):
        setattr(opts, field, -1)


def test_bad_option_types_are_type_error():
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(TypeError):
        opts.dim = 1.5
    with pytest.raises(TypeError):
        opts.metric = 1.0
    with pytest.raises(TypeError):
        opts.metric = None
    with pytest.raises(ValueError):
        opts.metric = "manhattan"
    with pytest.raises(TypeError):
        opts.vector_storage_type = "paged"
    with pytest.raises(TypeError):
        opts.vector_storage_type = 1.0
    with pytest.raises(TypeError):
        lsm_vec.LSMVecDBOptions(dimm=3)


@pytest.mark.parametrize("code, member", [
    (0, lsm_vec.DistanceMetric.L2),
    (1, lsm_vec.DistanceMetric.Cosine),
    (2, lsm_vec.DistanceMetric.InnerProduct),
])
def test_metric_accepts_its_integer_code(code, member):
    """The members compare equal to their codes, so the codes are accepted wherever a metric
    is: the property, the constructor's keywords, numpy integers."""
    assert member == code and int(member) == code and member.value == code
    opts = lsm_vec.LSMVecDBOptions()
    opts.metric = code
    assert opts.metric == member and opts.metric is member
    assert lsm_vec.LSMVecDBOptions(metric=code).metric is member
    opts.metric = np.int64(code)
    assert opts.metric is member
    opts.metric = member
    assert opts.metric is member


def test_metric_code_opens_a_database_with_that_metric(tmp_path):
    with lsm_vec.LSMVecDB.open(str(tmp_path / "db"), make_options(DIM, metric=2)) as db:
        assert db.stats()["metric"] == "InnerProduct"


@pytest.mark.parametrize("bad", [3, -1, 255, 2**64, -(2**70)])
def test_unknown_metric_code_is_value_error(bad):
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(ValueError, match="metric"):
        opts.metric = bad
    with pytest.raises(ValueError, match="metric"):
        lsm_vec.LSMVecDBOptions(metric=bad)
    assert opts.metric == lsm_vec.DistanceMetric.L2  # unchanged


@pytest.mark.parametrize("code", [0, 1])
def test_vector_storage_type_accepts_its_codes(code):
    opts = lsm_vec.LSMVecDBOptions()
    opts.vector_storage_type = code
    assert opts.vector_storage_type == code
    assert lsm_vec.LSMVecDBOptions(vector_storage_type=np.int32(code)).vector_storage_type == code


@pytest.mark.parametrize("bad", [2, -1, 7, 2**64])
def test_unknown_vector_storage_type_is_value_error(bad):
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(ValueError, match="vector_storage_type"):
        opts.vector_storage_type = bad
    with pytest.raises(ValueError, match="vector_storage_type"):
        lsm_vec.LSMVecDBOptions(vector_storage_type=bad)
    assert opts.vector_storage_type == 1  # unchanged


@pytest.mark.parametrize("field", ["metric", "vector_storage_type", "dim", "m", "k",
                                   "quantization", "rerank", "memory_budget_bytes"])
def test_bool_is_not_an_integer_option(field):
    """``True`` is an int to Python, but ``metric=True`` or ``dim=True`` is a mistake."""
    opts = lsm_vec.LSMVecDBOptions()
    before = getattr(opts, field)
    for bad in (True, False, np.bool_(True)):
        with pytest.raises(TypeError, match="bool"):
            setattr(opts, field, bad)
    assert getattr(opts, field) == before


def test_bad_search_options_are_value_error(open_db):
    db = open_db(DIM)
    db.insert(1, vec())
    with pytest.raises(ValueError, match="ef_search"):
        db.search_knn(vec(), k=10, ef_search=5)
    so = lsm_vec.SearchOptions()
    so.k = 0
    with pytest.raises(ValueError, match="k"):
        db.search_knn(vec(), so)
    with pytest.raises(ValueError):
        db.search_knn(vec(), k=-1)
    with pytest.raises(ValueError):
        db.search_knn_batch(np.ones((2, DIM)), k=10, ef_search=5)


def test_reopen_with_other_dim_is_value_error(tmp_path):
    path = str(tmp_path / "db")
    lsm_vec.LSMVecDB.open(path, make_options(DIM)).close()
    opts = make_options(DIM + 1)
    opts.reinit = False
    with pytest.raises(ValueError, match="dim"):
        lsm_vec.LSMVecDB.open(path, opts)


def test_bad_ids(open_db):
    db = open_db(DIM)
    for bad in (-1, 2**64, -(2**70), 2**100):
        with pytest.raises(ValueError, match="id"):
            db.insert(bad, vec())
        with pytest.raises(ValueError):
            db.get(bad)
        with pytest.raises(ValueError):
            db.delete(bad)
        with pytest.raises(ValueError):
            db.update(bad, vec())
        assert bad not in db
    with pytest.raises(TypeError):
        db.insert(1.0, vec())
    with pytest.raises(TypeError):
        db.insert("1", vec())
    with pytest.raises(ValueError):
        db.insert_batch([1, -2], np.ones((2, DIM)))
    with pytest.raises(ValueError):
        db.insert_batch(np.array([1, -2]), np.ones((2, DIM)))
    with pytest.raises(TypeError):
        db.insert_batch(np.array([1.0, 2.0]), np.ones((2, DIM)))
    assert len(db) == 0


def test_bool_ids_are_type_error(open_db):
    """``True`` / ``False`` are not the ids 1 / 0: every call taking an id refuses them with
    TypeError (as Python does for an argument of the wrong type), and nothing is written."""
    db = open_db(DIM)
    db.insert(0, vec(0.25))
    db.insert(1, vec(0.5))
    for bad in (True, False, np.bool_(True), np.bool_(False)):
        with pytest.raises(TypeError, match="bool"):
            db.insert(bad, vec())
        with pytest.raises(TypeError, match="bool"):
            db.update(bad, vec(0.9))
        with pytest.raises(TypeError, match="bool"):
            db.delete(bad)
        with pytest.raises(TypeError, match="bool"):
            db.get(bad)
        with pytest.raises(TypeError, match="bool"):
            bad in db  # noqa: B015
        with pytest.raises(TypeError, match="bool"):
            db.insert_batch([5, bad], np.ones((2, DIM)))
        with pytest.raises(TypeError):
            lsm_vec.SearchResult(bad, 0.0)
    with pytest.raises(TypeError, match="bool"):
        db.insert_batch(np.array([True, False]), np.ones((2, DIM)))
    with pytest.raises(TypeError, match="bool"):
        db.insert_batch(np.array([False]), np.ones((1, DIM)))
    with pytest.raises(TypeError, match="bool"):
        db.search_knn(vec(), k=True)
    # nothing changed: both ids still hold their vectors, no other id appeared
    assert len(db) == 2 and 5 not in db
    np.testing.assert_array_equal(db.get(0), np.full(DIM, 0.25, dtype=np.float32))
    np.testing.assert_array_equal(db.get(1), np.full(DIM, 0.5, dtype=np.float32))
    # ints and numpy integers still work
    db.insert(np.uint8(2), vec(0.75))
    db.insert_batch(np.array([3, 4], dtype=np.int16), np.ones((2, DIM)))
    assert 2 in db and np.int64(4) in db and len(db) == 5


def test_bad_vector_types(open_db):
    db = open_db(DIM)
    with pytest.raises(TypeError):
        db.insert(1, "abcdefgh")
    with pytest.raises(TypeError):
        db.insert(1, ["a"] * DIM)
    with pytest.raises(TypeError):
        db.insert(1, np.ones(DIM, dtype=np.complex64))
    with pytest.raises(ValueError, match="1-D"):
        db.insert(1, np.ones((2, DIM), dtype=np.float32))
    with pytest.raises(ValueError):
        db.insert_batch([1, 2, 3], np.ones((2, DIM)))
    with pytest.raises(ValueError, match="2-D"):
        db.search_knn_batch(np.ones(DIM), k=1)


# --- KeyError: missing ids ----------------------------------------------------------------


def test_missing_id_is_key_error(open_db):
    db = open_db(DIM)
    db.insert(1, vec())
    with pytest.raises(KeyError, match="2"):
        db.get(2)
    with pytest.raises(KeyError):
        db.update(2, vec())
    with pytest.raises(KeyError):
        db.delete(2)
    db.delete(1)
    with pytest.raises(KeyError):
        db.delete(1)
    with pytest.raises(KeyError):
        db.get(1)


def test_empty_path_is_value_error_and_opens_nothing(in_tmp_cwd):
    """``""`` is not the current directory: open refuses it and writes nothing there.
    (Needs the engine's empty-path check.)"""
    with pytest.raises(ValueError, match="path"):
        lsm_vec.LSMVecDB.open("", make_options(DIM))
    with pytest.raises(ValueError, match="path"):
        lsm_vec.LSMVecDB.open("")
    opts = make_options(DIM)
    opts.reinit = False
    with pytest.raises(ValueError, match="path"):
        lsm_vec.LSMVecDB.open("", opts)
    assert list(in_tmp_cwd.iterdir()) == []


# --- RuntimeError: everything else, as lsm_vec.Error and its subclasses -----------------

ERROR_CLASSES = ["CorruptionError", "BusyError", "ClosedError", "IoError"]


def test_error_hierarchy():
    assert issubclass(lsm_vec.Error, RuntimeError)
    assert lsm_vec.Error.__module__ == "lsm_vec" and lsm_vec.Error.__doc__
    for name in ERROR_CLASSES:
        cls = getattr(lsm_vec, name)
        assert issubclass(cls, lsm_vec.Error) and issubclass(cls, RuntimeError), name
        assert not issubclass(cls, (ValueError, KeyError)), name
        assert cls.__module__ == "lsm_vec" and cls.__name__ == name and cls.__doc__, name
        assert name in lsm_vec.__all__
        # picklable (multiprocessing sends exceptions back from workers)
        again = pickle.loads(pickle.dumps(cls("boom")))
        assert type(again) is cls and str(again) == "boom"
    assert len({getattr(lsm_vec, n) for n in ERROR_CLASSES}) == 4
    assert "Error" in lsm_vec.__all__


def test_second_open_of_same_directory_is_busy_error(tmp_path):
    path = str(tmp_path / "db")
    db = lsm_vec.LSMVecDB.open(path, make_options(DIM))
    try:
        opts = make_options(DIM)
        opts.reinit = False
        with pytest.raises(lsm_vec.BusyError, match="already open"):
            lsm_vec.LSMVecDB.open(path, opts)
        with pytest.raises(RuntimeError):  # the specification's class still catches it
            lsm_vec.LSMVecDB.open(path)
        db.insert(1, vec())  # the first handle is unaffected
    finally:
        db.close()
    opts = make_options(DIM)
    opts.reinit = False
    with lsm_vec.LSMVecDB.open(path, opts) as again:
        assert 1 in again


def test_open_on_a_file_is_runtime_error(tmp_path):
    f = tmp_path / "not_a_dir"
    f.write_text("hello")
    with pytest.raises(lsm_vec.Error):
        lsm_vec.LSMVecDB.open(str(f), make_options(DIM))
    with pytest.raises(RuntimeError):
        lsm_vec.LSMVecDB.open(str(f), make_options(DIM))


def test_unwritable_log_file_is_io_error(tmp_path):
    opts = make_options(DIM, log_file_path=str(tmp_path / "no-such-dir" / "log.txt"))
    with pytest.raises(lsm_vec.IoError, match="log"):
        lsm_vec.LSMVecDB.open(str(tmp_path / "db"), opts)


def test_foreign_vector_file_is_corruption_error(tmp_path):
    """A file at the vector file's place that is not an lsm-vec vector file is never
    overwritten: open refuses it with CorruptionError naming the file."""
    path = tmp_path / "db"
    path.mkdir()
    (path / "vectors.bin").write_bytes(b"not a vector file" * 300)
    opts = make_options(DIM)
    opts.reinit = False
    with pytest.raises(lsm_vec.CorruptionError, match="vectors.bin"):
        lsm_vec.LSMVecDB.open(str(path), opts)
    assert (path / "vectors.bin").read_bytes() == b"not a vector file" * 300


def test_closed_database_raises_never_crashes(open_db):
    db = open_db(DIM)
    db.insert(1, vec())
    db.close()
    assert db.closed
    db.close()  # closing twice is fine
    calls = [
        lambda: db.insert(2, vec()),
        lambda: db.insert_batch([3], np.ones((1, DIM))),
        lambda: db.search_knn(vec()),
        lambda: db.search_knn(vec(), k=1, ef_search=4),
        lambda: db.search_knn_batch(np.ones((2, DIM)), k=1),
        lambda: db.get(1),
        lambda: db.update(1, vec()),
        lambda: db.delete(1),
        lambda: db.stats(),
        lambda: db.print_statistics(),
        lambda: db.flush(),
        lambda: len(db),
        lambda: 1 in db,
        lambda: db.__enter__(),
    ]
    for call in calls:
        with pytest.raises(lsm_vec.ClosedError, match="closed"):
            call()
        with pytest.raises(RuntimeError, match="closed"):  # the specification's class
            call()
    with pytest.raises(lsm_vec.ClosedError):
        db.options
    assert "closed=True" in repr(db)
