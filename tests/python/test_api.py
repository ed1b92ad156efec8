"""Names, defaults, read-write properties, docstrings and stubs of the Python API."""

import inspect
import pathlib

import pytest

import lsm_vec

SPEC_DEFAULTS = {
    "dim": 0,
    "metric": lsm_vec.DistanceMetric.L2,
    "m": 8,
    "m_max": 16,
    "ef_construction": 32.0,
    "vec_file_capacity": 100000,
    "paged_max_cached_pages": 4096,
    "vector_storage_type": 1,
    "db_target_size": 100 * 1024**3,
    "random_seed": 12345,
    "enable_stats": False,
    "enable_batch_read": True,
    "reinit": False,
    "vector_file_path": "",
    "log_file_path": "",
    # used by search_knn without options (the spec's examples set them)
    "k": 1,
    "ef_search": 64,
    # our additions
    "edge_cache_size": 1 << 20,
    "lsm_cache_bytes": 8 * 1024 * 1024,
    "sync_writes": False,
    "quantization": lsm_vec.Quantization.SQ8,
    "rerank": 0,
    "memory_budget_bytes": 0,
}

NEW_VALUES = {
    "dim": 128,
    "metric": lsm_vec.DistanceMetric.Cosine,
    "m": 16,
    "m_max": 32,
    "ef_construction": 200.0,
    "vec_file_capacity": 5,
    "paged_max_cached_pages": 16,
    "vector_storage_type": 0,
    "db_target_size": 1 << 30,
    "random_seed": 2**64 - 1,
    "enable_stats": True,
    "enable_batch_read": False,
    "reinit": True,
    "vector_file_path": "./db/vectors.bin",
    "log_file_path": "./db/log.txt",
    "k": 10,
    "ef_search": 128,
    "edge_cache_size": 0,
    "lsm_cache_bytes": 1 << 20,
    "sync_writes": True,
    "quantization": lsm_vec.Quantization.NONE,
    "rerank": 40,
    "memory_budget_bytes": 64 << 20,
}


def test_options_defaults_match_spec():
    opts = lsm_vec.LSMVecDBOptions()
    for name, value in SPEC_DEFAULTS.items():
        assert getattr(opts, name) == value, name


def test_all_options_are_read_write():
    opts = lsm_vec.LSMVecDBOptions()
    for name, value in NEW_VALUES.items():
        setattr(opts, name, value)
    for name, value in NEW_VALUES.items():
        assert getattr(opts, name) == value, name
    # keyword construction sets the same properties
    again = lsm_vec.LSMVecDBOptions(**NEW_VALUES)
    for name, value in NEW_VALUES.items():
        assert getattr(again, name) == value, name
    assert "dim=128" in repr(again)


def test_option_conveniences():
    opts = lsm_vec.LSMVecDBOptions()
    opts.vector_file_path = pathlib.Path("a") / "b.bin"
    assert opts.vector_file_path == str(pathlib.Path("a") / "b.bin")
    opts.metric = "cosine"
    assert opts.metric == lsm_vec.DistanceMetric.Cosine
    opts.metric = "ip"
    assert opts.metric == lsm_vec.DistanceMetric.InnerProduct
    opts.ef_construction = 40
    assert opts.ef_construction == 40.0


def test_search_options():
    so = lsm_vec.SearchOptions()
    assert (so.k, so.ef_search) == (1, 64)
    so.k = 10
    so.ef_search = 128
    assert (so.k, so.ef_search) == (10, 128)
    assert repr(so) == "SearchOptions(k=10, ef_search=128)"
    so2 = lsm_vec.SearchOptions(k=5, ef_search=50)
    assert (so2.k, so2.ef_search) == (5, 50)
    with pytest.raises(ValueError):
        so.k = -1


def test_distance_metric_members():
    assert {m.name for m in (lsm_vec.DistanceMetric.L2, lsm_vec.DistanceMetric.Cosine,
                             lsm_vec.DistanceMetric.InnerProduct)} == {"L2", "Cosine", "InnerProduct"}
    assert lsm_vec.DistanceMetric.L2 == lsm_vec.DistanceMetric.L2
    assert lsm_vec.DistanceMetric.L2 != lsm_vec.DistanceMetric.Cosine
    assert repr(lsm_vec.DistanceMetric.Cosine) == "DistanceMetric.Cosine"
    assert len({lsm_vec.DistanceMetric.L2, lsm_vec.DistanceMetric.L2}) == 1
    # members compare equal to their integer codes
    assert [lsm_vec.DistanceMetric.L2, lsm_vec.DistanceMetric.Cosine,
            lsm_vec.DistanceMetric.InnerProduct] == [0, 1, 2]
    assert lsm_vec.DistanceMetric.Cosine != 2


ERRORS = ["Error", "CorruptionError", "BusyError", "ClosedError", "IoError"]

PUBLIC = {
    lsm_vec.LSMVecDB: ["open", "close", "insert", "insert_batch", "search_knn",
                       "search_knn_batch", "get", "update", "delete", "flush", "stats",
                       "print_statistics", "closed", "dim", "path", "options"],
    lsm_vec.LSMVecDBOptions: list(SPEC_DEFAULTS),
    lsm_vec.SearchOptions: ["k", "ef_search"],
    lsm_vec.SearchResult: ["id", "distance"],
    lsm_vec.Quantization: ["NONE", "SQ8", "name", "value"],
}


def test_every_public_name_has_a_docstring():
    assert lsm_vec.__doc__
    for cls, members in PUBLIC.items():
        assert inspect.getdoc(cls), cls
        for name in members:
            assert inspect.getdoc(getattr(cls, name)), f"{cls.__name__}.{name}"
    assert inspect.getdoc(lsm_vec.DistanceMetric)
    for name in ERRORS:
        assert inspect.getdoc(getattr(lsm_vec, name)), name


def test_stubs_and_py_typed_are_shipped():
    pkg = pathlib.Path(lsm_vec.__file__).parent
    assert (pkg / "py.typed").exists()
    stub = (pkg / "_lsm_vec.pyi").read_text()
    for cls, members in PUBLIC.items():
        assert f"class {cls.__name__}" in stub
        for name in members:
            assert name in stub, name
    for name in ERRORS:
        assert f"class {name}(" in stub, name
    compile(stub, "_lsm_vec.pyi", "exec")


def test_module_exports():
    assert set(lsm_vec.__all__) >= {"LSMVecDB", "LSMVecDBOptions", "SearchOptions",
                                     "SearchResult", "DistanceMetric", "Quantization", *ERRORS}
    for name in lsm_vec.__all__:
        assert hasattr(lsm_vec, name), name
    assert isinstance(lsm_vec.__version__, str)


def test_stubs_match_runtime(tmp_path):
    """mypy's stubtest finds no difference between the stubs and the compiled module. Takes
    ~15 s, so it runs only with LSM_VEC_STUBTEST=1 and mypy installed."""
    import os

    if os.environ.get("LSM_VEC_STUBTEST") != "1":
        pytest.skip("set LSM_VEC_STUBTEST=1 (and pip install mypy) to run stubtest")
    pytest.importorskip("mypy.stubtest")
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "lsm_vec"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
