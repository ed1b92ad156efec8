"""Every code example of the specification's Python sections, run as written there (plus the
`import os` the NumPy example forgot, and the names the fragments assume), in a temporary
working directory."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lsm_vec


def run(code, ns=None):
    ns = {} if ns is None else ns
    exec(compile(textwrap.dedent(code), "<spec example>", "exec"), ns)
    return ns


def test_install_verify_prints_ok():
    out = subprocess.run(
        [sys.executable, "-c", "import lsm_vec; print('OK')"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout == "OK\n"


OPEN_CLOSE = """
import os
import lsm_vec

opts = lsm_vec.LSMVecDBOptions()
opts.dim = 128
opts.vector_file_path = "./db/vectors.bin"
opts.reinit = True

os.makedirs("./db", exist_ok=True)
db = lsm_vec.LSMVecDB.open("./db", opts)

# ... use the database ...

db.close()
"""


def test_open_close_example(in_tmp_cwd):
    ns = run(OPEN_CLOSE)
    assert ns["db"].closed
    assert os.path.exists("./db/vectors.bin")


INSERT = """
db.insert(0, [0.1] * 128)

import numpy as np
db.insert(1, np.random.rand(128).astype(np.float32))
"""

SEARCH = """
# With SearchOptions
search_opts = lsm_vec.SearchOptions()
search_opts.k = 10
search_opts.ef_search = 128
results = db.search_knn([0.1] * 128, search_opts)

# Or with k and ef_search directly
results = db.search_knn(query_array, k=10, ef_search=128)

for r in results:
    print(f"id={r.id}  distance={r.distance:.4f}")
"""

CONFIGURATION = """
opts = lsm_vec.LSMVecDBOptions()
opts.dim = 128
opts.metric = lsm_vec.DistanceMetric.Cosine
"""

METRICS = """
lsm_vec.DistanceMetric.L2      # Euclidean distance
lsm_vec.DistanceMetric.Cosine  # 1 - cosine similarity
"""


def test_insert_and_search_examples(in_tmp_cwd, capsys):
    ns = run(OPEN_CLOSE.replace("db.close()", ""))
    try:
        run(INSERT, ns)
        db = ns["db"]
        assert len(db) == 2
        assert 0 in db and 1 in db
        np.testing.assert_allclose(db.get(0), np.full(128, 0.1, dtype=np.float32))

        ns["query_array"] = np.full(128, 0.1, dtype=np.float32)
        run(SEARCH, ns)
        results = ns["results"]
        # Only two vectors: k=10 returns both, nearest first; vector 0 is the query itself.
        assert [r.id for r in results][0] == 0
        assert len(results) == 2
        assert results[0].distance == pytest.approx(0.0, abs=1e-4)
        assert results[0].distance <= results[1].distance
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "id=0  distance=0.0000"
        assert len(out) == 2

        # The SearchOptions form gives the same answer.
        so = ns["search_opts"]
        assert (so.k, so.ef_search) == (10, 128)
        assert [r.id for r in db.search_knn([0.1] * 128, so)] == [r.id for r in results]
    finally:
        ns["db"].close()


def test_get_update_delete_signatures(in_tmp_cwd):
    ns = run(OPEN_CLOSE.replace("db.close()", ""))
    db = ns["db"]
    try:
        run(INSERT, ns)
        vec = db.get(1)  # float32, 1-D
        assert isinstance(vec, np.ndarray) and vec.dtype == np.float32 and vec.shape == (128,)
        db.update(1, [0.5] * 128)
        np.testing.assert_allclose(db.get(1), np.full(128, 0.5, dtype=np.float32))
        db.delete(1)
        with pytest.raises(KeyError):
            db.get(1)
        with pytest.raises(KeyError):
            db.update(1, [0.5] * 128)
        assert [r.id for r in db.search_knn([0.5] * 128, k=2, ef_search=16)] == [0]
    finally:
        db.close()


def test_configuration_example():
    ns = run("import lsm_vec\n" + textwrap.dedent(CONFIGURATION) + textwrap.dedent(METRICS))
    assert ns["opts"].dim == 128
    assert ns["opts"].metric == lsm_vec.DistanceMetric.Cosine
    assert lsm_vec.DistanceMetric.L2 != lsm_vec.DistanceMetric.Cosine


QUICK_START = """
import lsm_vec
import os

opts = lsm_vec.LSMVecDBOptions()
opts.dim = 128
db_dir = "./run/db/"
opts.vector_file_path = os.path.join(db_dir, "vectors.bin")
opts.reinit = True

db = lsm_vec.LSMVecDB.open(db_dir, opts)

db.insert(1, [0.1] * 128)

# Search (uses k and ef_search from opts)
results = db.search_knn([0.1] * 128)
print(results[0].id, results[0].distance)
"""


def test_python_quick_start_example(in_tmp_cwd, capsys):
    ns = run(QUICK_START)
    try:
        ident, dist = capsys.readouterr().out.split()
        assert ident == "1"
        assert float(dist) == pytest.approx(0.0, abs=1e-4)
        assert len(ns["results"]) == 1  # default k = 1
        assert os.path.exists("./run/db/vectors.bin")
    finally:
        ns["db"].close()


NUMPY = """
import os
import numpy as np
import lsm_vec

opts = lsm_vec.LSMVecDBOptions()
opts.dim = 128
opts.k = 5
opts.ef_search = 100
opts.vector_file_path = "./run/db/vectors.bin"
opts.reinit = True

os.makedirs("./run/db/", exist_ok=True)
db = lsm_vec.LSMVecDB.open("./run/db/", opts)

vec = np.random.rand(128).astype(np.float32)
db.insert(42, vec)

query = np.random.rand(128).astype(np.float32)
results = db.search_knn(query)
for r in results:
    print(f"id={r.id}  distance={r.distance:.4f}")

db.close()
"""


def test_numpy_example(in_tmp_cwd, capsys):
    ns = run(NUMPY)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("id=42  distance=")
    expected = float(np.linalg.norm(ns["vec"] - ns["query"]))
    assert ns["results"][0].distance == pytest.approx(expected, rel=1e-4)
    assert ns["db"].closed


def test_numpy_example_default_k_is_used(in_tmp_cwd):
    """opts.k = 5 makes a search without options return up to 5 results."""
    ns = run(NUMPY.replace("db.close()", ""))
    db = ns["db"]
    try:
        for i in range(10):
            db.insert(i, np.random.rand(128).astype(np.float32))
        results = db.search_knn(np.random.rand(128).astype(np.float32))
        assert len(results) == 5
        dists = [r.distance for r in results]
        assert dists == sorted(dists)
    finally:
        db.close()


def test_print_statistics(in_tmp_cwd, capsys):
    ns = run(QUICK_START)
    try:
        capsys.readouterr()
        ns["db"].print_statistics()
        out = capsys.readouterr().out
        assert "lsm-vec statistics" in out
    finally:
        ns["db"].close()
