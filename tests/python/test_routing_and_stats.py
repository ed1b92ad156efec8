"""routing / routing_epsilon options, and stats(): the engine's statistics, every field."""

import math

import numpy as np
import pytest

import lsm_vec
from conftest import make_options

DIM = 16

# Every field of the engine's Stats (crates/lsm-vec/src/stats.rs), which stats() serializes.
STATS_FIELDS = [
    "count", "dim", "metric", "vector_storage_type", "m", "m_max", "max_level",
    "upper_layer_nodes", "ghost_nodes", "twin_nodes", "repair_backlog", "repairs", "code_bytes",
    "adjacency_bytes", "adjacency_lists", "page_cache_bytes", "edge_cache_bytes",
    "bookkeeping_bytes", "memory_bytes", "memory_budget_bytes", "vector_file_bytes",
    "lsm_disk_bytes", "searches", "inserts", "updates", "deletes", "vector_pages_read",
    "page_cache_hits", "page_cache_misses", "page_cache_pages", "lsm_gets", "edge_cache_hits",
    "routing_skips", "edge_cache_entries", "distance_computations", "nodes_visited",
    "nodes_expanded", "search_latency", "insert_latency", "update_latency", "delete_latency",
]
LATENCY_FIELDS = ["count", "p50_us", "p95_us", "p99_us", "max_us"]


# --- the options ------------------------------------------------------------------------------

def test_routing_defaults():
    opts = lsm_vec.LSMVecDBOptions()
    assert opts.routing == "exact"
    assert opts.routing_epsilon == 0.1
    r = repr(opts)
    assert "routing='exact'" in r and "routing_epsilon=0.1" in r


@pytest.mark.parametrize("value, name", [
    ("exact", "exact"),
    ("EXACT", "exact"),
    ("probabilistic", "probabilistic"),
    ("Probabilistic", "probabilistic"),
    ("PROBABILISTIC", "probabilistic"),
])
def test_routing_accepts_names_in_any_case(value, name):
    opts = lsm_vec.LSMVecDBOptions()
    opts.routing = value
    assert opts.routing == name
    assert lsm_vec.LSMVecDBOptions(routing=value).routing == name


@pytest.mark.parametrize("bad", ["", "exactly", "prob", "hnsw"])
def test_unknown_routing_is_value_error_and_keeps_the_value(bad):
    opts = lsm_vec.LSMVecDBOptions()
    opts.routing = "probabilistic"
    with pytest.raises(ValueError, match="routing"):
        opts.routing = bad
    assert opts.routing == "probabilistic"
    with pytest.raises(ValueError, match="routing"):
        lsm_vec.LSMVecDBOptions(routing=bad)


@pytest.mark.parametrize("bad", [0, 1, True, None, b"exact"])
def test_routing_of_another_type_is_type_error(bad):
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(TypeError, match="routing"):
        opts.routing = bad


@pytest.mark.parametrize("value", [0.5, 1e-6, 0.999, 0.1, np.float32(0.25)])
def test_routing_epsilon_round_trips(value):
    opts = lsm_vec.LSMVecDBOptions()
    opts.routing_epsilon = value
    assert opts.routing_epsilon == pytest.approx(float(value), rel=1e-6)
    assert lsm_vec.LSMVecDBOptions(routing_epsilon=value).routing_epsilon == pytest.approx(float(value), rel=1e-6)


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.1, 1.5, math.nan, math.inf, -math.inf, 1e-60])
def test_routing_epsilon_outside_0_1_is_value_error(bad):
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(ValueError, match="routing_epsilon"):
        opts.routing_epsilon = bad
    assert opts.routing_epsilon == pytest.approx(0.1)
    with pytest.raises(ValueError, match="routing_epsilon"):
        lsm_vec.LSMVecDBOptions(routing_epsilon=bad)


def test_routing_epsilon_of_another_type_is_type_error():
    opts = lsm_vec.LSMVecDBOptions()
    with pytest.raises(TypeError):
        opts.routing_epsilon = "0.1"


def test_routing_reaches_the_engine_and_reads_back(tmp_path):
    path = str(tmp_path / "db")
    with lsm_vec.LSMVecDB.open(path, make_options(DIM, routing="Probabilistic", routing_epsilon=0.3)) as db:
        o = db.options
        assert o.routing == "probabilistic"
        assert o.routing_epsilon == 0.3  # the decimal given, not the f32's binary expansion
    # A tuning knob of each open: the next open may choose another.
    opts = make_options(DIM, routing="exact")
    opts.reinit = False
    with lsm_vec.LSMVecDB.open(path, opts) as db:
        assert db.options.routing == "exact"


def test_every_option_has_a_property():
    """The option names come from the engine's DbOptions: repr reads each of them, so an
    engine option without a property here fails; keyword construction accepts each of them."""
    opts = lsm_vec.LSMVecDBOptions()
    text = repr(opts)
    names = [part.split("=", 1)[0] for part in text[len("LSMVecDBOptions("):-1].split(", ")]
    assert names[0] == "dim" and "routing" in names and "routing_epsilon" in names
    assert len(names) == len(set(names))
    again = lsm_vec.LSMVecDBOptions(**{name: getattr(opts, name) for name in names})
    assert repr(again) == text
    with pytest.raises(TypeError, match="unexpected keyword"):
        lsm_vec.LSMVecDBOptions(routing_skips=1)


# --- probabilistic routing on a few thousand vectors --------------------------------------------

def _load(open_db, rng, name, n=3000, **options):
    db = open_db(DIM, name=name, **options)
    data = rng.standard_normal((n, DIM)).astype(np.float32)
    db.insert_batch(np.arange(n, dtype=np.uint64), data)
    return db, data


def test_probabilistic_search_returns_exact_distances_and_counts_skips(open_db, rng):
    db, data = _load(open_db, rng, "prob", routing="probabilistic")
    queries = rng.standard_normal((40, DIM)).astype(np.float32)
    hits = 0
    for q in queries:
        res = db.search_knn(q, k=10, ef_search=64)
        assert len(res) == 10
        dists = [r.distance for r in res]
        assert dists == sorted(dists)
        for r in res:
            exact = float(np.linalg.norm(data[r.id].astype(np.float64) - q.astype(np.float64)))
            assert r.distance == pytest.approx(exact, rel=1e-4, abs=1e-5), r
        truth = np.argsort(np.linalg.norm(data - q, axis=1))[:10]
        hits += len(set(truth.tolist()) & {r.id for r in res})
    assert hits / (10 * len(queries)) > 0.6  # a recall, not a coin toss
    s = db.stats()
    assert s["routing_skips"] > 0
    assert s["searches"] == len(queries)

    exact_db, _ = _load(open_db, np.random.default_rng(1234), "exact")
    for q in queries[:5]:
        exact_db.search_knn(q, k=10, ef_search=64)
    assert exact_db.stats()["routing_skips"] == 0


# --- stats() ------------------------------------------------------------------------------------

def test_stats_has_every_field(open_db, rng):
    db, _ = _load(open_db, rng, "stats", n=200, enable_stats=True)
    db.search_knn(rng.standard_normal(DIM).astype(np.float32), k=3)
    db.delete(7)
    s = db.stats()
    missing = [name for name in STATS_FIELDS if name not in s]
    assert not missing, missing
    assert list(s)[:4] == ["count", "dim", "metric", "vector_storage_type"]  # the engine's order
    for name in STATS_FIELDS:
        if name == "metric":
            assert s[name] == "L2"
        elif name.endswith("_latency"):
            assert sorted(s[name]) == sorted(LATENCY_FIELDS)
            assert isinstance(s[name]["count"], int)
            assert all(isinstance(s[name][k], float) for k in LATENCY_FIELDS[1:])
        else:
            assert isinstance(s[name], int) and not isinstance(s[name], bool), name
    assert s["count"] == 199 and s["dim"] == DIM and s["vector_storage_type"] == 1
    assert s["inserts"] == 200 and s["deletes"] == 1 and s["searches"] == 1
    assert s["search_latency"]["count"] == 1 and s["search_latency"]["p50_us"] > 0
    assert s["routing_skips"] == 0
