#!/usr/bin/env python3
"""Cost of the Python binding on top of the engine, and batch-search scaling.

Builds an index (default 20k x 128, clustered, seeded) and measures on the same index:

* single-query latency through Python: a loop of ``db.search_knn(q, k=, ef_search=)`` calls
  (numpy float32 query, and a Python list query);
* the engine's own per-query time: ``search_knn_batch(queries, threads=1)`` divided by the
  number of queries (one Python call, so binding cost is amortised to ~0), and the engine's
  search latency histogram (``stats()["search_latency"]``, enable_stats=True);
* batch QPS with threads=1 vs threads=2, and 2 Python threads of single searches vs 1 (shows
  the GIL is released), each with the process's CPU-seconds per wall-second: near 2 means two
  threads really ran at once (on a machine shared with other work, QPS scaling understates
  this; the CPU ratio still shows it).

Run it in the repository's .venv after ``scripts/test-python.sh`` (or ``pip install .``):

    .venv/bin/python bench/python_overhead.py [--n 20000 --dim 128 --queries 2000]

Each measurement is repeated ``--rounds`` times and the best round is reported, to damp the
noise of a shared machine.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

import lsm_vec


def clustered(rng, n, centers, spread=0.4):
    labels = rng.integers(0, len(centers), n)
    noise = spread * rng.standard_normal((n, centers.shape[1]))
    return (centers[labels] + noise).astype(np.float32)


def best(fn, rounds):
    """Runs fn() `rounds` times, returns the smallest wall time in seconds."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=64)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--efc", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--db", default=None, help="database directory (default: a temp dir)")
    args = ap.parse_args()

    rng = np.random.default_rng(42)
    centers = rng.standard_normal((100, args.dim)) * 2.0
    data = clustered(rng, args.n, centers)
    queries = clustered(rng, args.queries, centers)
    qlists = queries.tolist()

    tmp = None
    path = args.db
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="lsmvec-bench-")
        path = os.path.join(tmp.name, "db")

    opts = lsm_vec.LSMVecDBOptions(
        dim=args.dim, m=args.m, m_max=2 * args.m, ef_construction=args.efc, reinit=True,
        enable_stats=True,
    )
    print(f"lsm_vec {lsm_vec.__version__}  python {sys.version.split()[0]}  "
          f"cpus {os.cpu_count()}  load {os.getloadavg()[0]:.1f}")
    print(f"index: n={args.n} dim={args.dim} m={args.m} efc={args.efc}; "
          f"queries={args.queries} k={args.k} ef_search={args.ef}")

    db = lsm_vec.LSMVecDB.open(path, opts)
    t0 = time.perf_counter()
    db.insert_batch(np.arange(args.n, dtype=np.uint64), data)
    build = time.perf_counter() - t0
    print(f"build (insert_batch): {build:.1f} s  ({args.n / build:,.0f} inserts/s)")

    k, ef, nq = args.k, args.ef, args.queries
    # warm the caches
    db.search_knn_batch(queries, k=k, ef_search=ef, threads=1)

    def py_loop_numpy():
        for q in queries:
            db.search_knn(q, k=k, ef_search=ef)

    def py_loop_list():
        for q in qlists:
            db.search_knn(q, k=k, ef_search=ef)

    so = lsm_vec.SearchOptions(k=k, ef_search=ef)

    def py_loop_opts():
        for q in queries:
            db.search_knn(q, so)

    def batch1():
        db.search_knn_batch(queries, k=k, ef_search=ef, threads=1)

    def batch2():
        db.search_knn_batch(queries, k=k, ef_search=ef, threads=2)

    # interleave the measurements round by round so that load changes hit all of them
    results = {name: [] for name in ("numpy", "list", "opts", "batch1", "batch2")}
    fns = {"numpy": py_loop_numpy, "list": py_loop_list, "opts": py_loop_opts,
           "batch1": batch1, "batch2": batch2}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            results[name].append(best(fn, 1))
    t = {name: min(v) for name, v in results.items()}

    us = lambda secs: secs / nq * 1e6  # noqa: E731
    engine_us = us(t["batch1"])
    print()
    print("single-query latency (mean per query, best of rounds):")
    W = 42
    print(f"  {'engine (search_knn_batch, threads=1)':<{W}}: {engine_us:8.1f} us")
    for name, label in (("numpy", "numpy f32 query"), ("opts", "numpy + SearchOptions"),
                        ("list", "Python list query")):
        over = us(t[name]) - engine_us
        print(f"  {'Python search_knn, ' + label:<{W}}: {us(t[name]):8.1f} us  "
              f"(binding overhead {over:+.1f} us = {100 * over / engine_us:+.1f}%)")
    lat = db.stats()["search_latency"]
    print(f"  {'engine histogram, all searches':<{W}}: p50 {lat['p50_us']:.1f} us  "
          f"p99 {lat['p99_us']:.1f} us  (n={lat['count']})")

    def cpu_ratio(fn):
        """Process CPU seconds per wall second while fn runs: ~2 when two threads really run
        in parallel on two free cores, <= ~1 when they are serialised (e.g. by the GIL)."""
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        return (time.process_time() - c0) / (time.perf_counter() - w0)

    print()
    print("batch search throughput (search_knn_batch):")
    q1, q2 = nq / t["batch1"], nq / t["batch2"]
    print(f"  threads=1: {q1:10,.0f} QPS  (cpu/wall {cpu_ratio(batch1):.2f})")
    print(f"  threads=2: {q2:10,.0f} QPS  (x{q2 / q1:.2f}, cpu/wall {cpu_ratio(batch2):.2f})")

    # Python threads: 1 vs 2 threads each doing single search_knn calls on half the queries.
    def threaded(nthreads):
        parts = [queries[i::nthreads] for i in range(nthreads)]

        def work(part):
            for q in part:
                db.search_knn(q, k=k, ef_search=ef)

        ts = [threading.Thread(target=work, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        return time.perf_counter() - t0

    th1 = min(threaded(1) for _ in range(args.rounds))
    th2 = min(threaded(2) for _ in range(args.rounds))
    r1 = cpu_ratio(lambda: threaded(1))
    r2 = cpu_ratio(lambda: threaded(2))
    print()
    print("Python threads calling search_knn (GIL released during the search):")
    print(f"  1 thread : {nq / th1:10,.0f} QPS  (cpu/wall {r1:.2f})")
    print(f"  2 threads: {nq / th2:10,.0f} QPS  (x{th1 / th2:.2f}, cpu/wall {r2:.2f})")

    db.close()

    # The fixed cost of one call, measured where the engine's work is tiny: a database of one
    # vector. Python call + argument conversion + GIL release/reacquire + result objects.
    tiny_path = path + "-tiny"
    tiny = lsm_vec.LSMVecDB.open(tiny_path, lsm_vec.LSMVecDBOptions(dim=args.dim, reinit=True))
    tiny.insert(1, data[0])
    q0, l0 = queries[0], qlists[0]
    reps = 20_000
    tb = best(lambda: tiny.search_knn_batch(np.tile(q0, (reps, 1)), k=1, ef_search=1, threads=1),
              args.rounds) / reps
    tn = best(lambda: [tiny.search_knn(q0, k=1, ef_search=1) for _ in range(reps)], args.rounds) / reps
    tl = best(lambda: [tiny.search_knn(l0, k=1, ef_search=1) for _ in range(reps)], args.rounds) / reps
    tiny.close()
    print()
    print(f"fixed cost of one call (1-vector database, dim {args.dim}, k=1):")
    print(f"  engine per query (batch, threads=1) : {tb * 1e6:6.2f} us")
    print(f"  search_knn, numpy f32 query         : {tn * 1e6:6.2f} us  (binding {1e6 * (tn - tb):+.2f} us)")
    print(f"  search_knn, Python list query       : {tl * 1e6:6.2f} us  (binding {1e6 * (tl - tb):+.2f} us)")

    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
