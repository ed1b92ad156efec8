#!/usr/bin/env python3
"""Ingest side by side: build rate at 1 and 2 threads, and per-operation latency of single
inserts and deletes (issue "Fast ingest").

    python3 bench/ingest.py                      # 100k x 128, M=16, efc=200
    python3 bench/ingest.py --n 1000000 --skip-updates

Build: each library builds the same base set in its own process: lsm-vec through
`lsm-vec load --threads N` (every vector committed to the journal, groups of 256 per batch),
hnswlib through `add_items(num_threads=N)`, faiss IndexHNSWFlat through `add` with N OpenMP
threads. A 1-thread build is pinned to one core (`--pin`), a multi-thread build is not pinned.

Updates (the scenario of the issue): n - u vectors are built, then u single inserts (the
remaining vectors) and u single deletes are interleaved, each call timed, in one process pinned
to one core; lsm-vec through its Python package (its background repairer shares that core),
hnswlib through add_items / mark_deleted. Then recall@10 of the live set against exact ground
truth (numpy) at ef 64. Uses bench/peers.py's virtualenv and dataset; installs the lsm-vec
package into that virtualenv when it is missing.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402


def build_worker(args):
    import numpy as np

    base = peers.read_vecs(os.path.join(args.data, "base.fvecs"), np.float32)
    n, dim = base.shape
    t = time.perf_counter()
    if args.worker == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=n, ef_construction=args.efc, M=args.M, random_seed=12345)
        index.set_num_threads(args.threads)
        t = time.perf_counter()
        index.add_items(base, np.arange(n), num_threads=args.threads)
    elif args.worker == "faiss":
        import faiss

        faiss.omp_set_num_threads(args.threads)
        index = faiss.IndexHNSWFlat(dim, args.M)
        index.hnsw.efConstruction = args.efc
        t = time.perf_counter()
        index.add(base)
    else:
        raise SystemExit(f"unknown worker {args.worker}")
    secs = time.perf_counter() - t
    print(json.dumps({"library": args.worker, "threads": args.threads, "n": n, "seconds": secs,
                      "vectors_per_sec": n / secs, "peak_rss_bytes": peers.peak_rss_bytes()}))


def updates_worker(args):
    import numpy as np

    base = peers.read_vecs(os.path.join(args.data, "base.fvecs"), np.float32)
    queries = peers.read_vecs(os.path.join(args.data, "query.fvecs"), np.float32)
    n, dim = base.shape
    u = args.updates
    m = n - u
    victims = np.arange(0, m, max(1, m // u))[:u]
    ins_lat, del_lat = [], []
    if args.worker == "lsm-vec":
        import lsm_vec

        db_dir = os.path.join(HERE, "out", "ingest-updates-db")
        opts = lsm_vec.LSMVecDBOptions()
        opts.dim, opts.m, opts.m_max, opts.ef_construction, opts.reinit = dim, args.M, args.M, args.efc, True
        db = lsm_vec.LSMVecDB.open(db_dir, opts)
        db.insert_batch(np.arange(m), base[:m])
        for j in range(u):
            t0 = time.perf_counter()
            db.insert(m + j, base[m + j])
            t1 = time.perf_counter()
            db.delete(int(victims[j]))
            t2 = time.perf_counter()
            ins_lat.append(t1 - t0)
            del_lat.append(t2 - t1)
        backlog = db.stats()["repair_backlog"]

        def search(q):
            return [r.id for r in db.search_knn(q, k=10, ef_search=64)]
    else:
        import hnswlib

        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=n, ef_construction=args.efc, M=args.M, random_seed=12345)
        index.add_items(base[:m], np.arange(m), num_threads=1)
        index.set_num_threads(1)
        for j in range(u):
            t0 = time.perf_counter()
            index.add_items(base[m + j : m + j + 1], [m + j], num_threads=1)
            t1 = time.perf_counter()
            index.mark_deleted(int(victims[j]))
            t2 = time.perf_counter()
            ins_lat.append(t1 - t0)
            del_lat.append(t2 - t1)
        backlog = 0
        index.set_ef(64)

        def search(q):
            labels, _ = index.knn_query(q, k=10, num_threads=1)
            return labels[0]

    live = np.ones(n, dtype=bool)
    live[victims] = False
    live_ids = np.nonzero(live)[0]
    lv = base[live_ids]
    hits = 0
    nq = min(len(queries), 500)
    for i in range(nq):
        d = ((lv - queries[i]) ** 2).sum(axis=1)
        truth = set(live_ids[np.argpartition(d, 10)[:10]].tolist())
        got = [int(x) for x in search(queries[i])]
        assert not (set(got) - set(live_ids.tolist())), f"{args.worker} returned a deleted id"
        hits += len(truth & set(got))

    def summary(lat):
        us = sorted(x * 1e6 for x in lat)
        return {"mean_us": sum(us) / len(us), "p50_us": peers.percentile(us, 50), "p99_us": peers.percentile(us, 99)}

    print(json.dumps({"library": args.worker, "built": int(m), "updates": u, "insert": summary(ins_lat),
                      "delete": summary(del_lat), "repair_backlog_at_end": backlog,
                      "recall_live_ef64": hits / (10 * nq)}))


def ensure_lsm_vec_package():
    probe = subprocess.run([peers.VENV_PY, "-c", "import lsm_vec"], capture_output=True)
    if probe.returncode != 0:
        peers.log("installing the lsm-vec Python package into the bench virtualenv ...")
        subprocess.check_call([peers.VENV_PY, "-m", "pip", "install", "-q", os.path.dirname(HERE)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--threads", default="1,2", help="build thread counts")
    ap.add_argument("--libs", default="lsm-vec,hnswlib,faiss")
    ap.add_argument("--updates", type=int, default=10_000, help="single inserts and deletes in the updates scenario")
    ap.add_argument("--skip-updates", action="store_true")
    ap.add_argument("--skip-builds", action="store_true")
    ap.add_argument("--pin", type=int, default=1)
    ap.add_argument("--data")
    ap.add_argument("--lsm-vec-bin")
    ap.add_argument("--out")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        (updates_worker if args.phase == "updates" else build_worker)(args)
        return
    peers.ensure_venv()
    data = peers.ensure_dataset(args)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    libs = [x for x in args.libs.split(",") if x]
    exe = args.lsm_vec_bin or (peers.lsm_vec_binary() if "lsm-vec" in libs else None)
    load_start = os.getloadavg()
    builds = []
    for threads in [] if args.skip_builds else [int(x) for x in args.threads.split(",")]:
        peers.PIN[0] = args.pin if threads == 1 else -1
        for lib in libs:
            peers.log(f"building {lib} with {threads} thread(s) ...")
            if lib == "lsm-vec":
                cmd = [exe, "load", "--db", os.path.join(HERE, "out", "ingest-db"), "--base",
                       os.path.join(data, "base.fvecs"), "--threads", str(threads), "--reinit", "--json",
                       "--M", str(args.M), "--Mmax", str(args.M), "--efc", str(args.efc)]
                text, rss = peers.run_measured(cmd)
                rep = json.loads(text.strip().splitlines()[-1])
                r = {"library": lib, "threads": threads, "n": rep["count"], "seconds": rep["seconds"],
                     "vectors_per_sec": rep["vectors_per_sec"], "peak_rss_bytes": rss}
            else:
                cmd = [peers.VENV_PY, os.path.abspath(__file__), "--worker", lib, "--phase", "build", "--data", data,
                       "--threads", str(threads), "--M", str(args.M), "--efc", str(args.efc)]
                text, rss = peers.run_measured(cmd)
                r = json.loads(text.strip().splitlines()[-1])
            peers.log(f"  {lib} x{threads}: {r['seconds']:.1f} s, {r['vectors_per_sec']:.0f} vectors/s")
            builds.append(r)
    updates = []
    if not args.skip_updates:
        ensure_lsm_vec_package()
        peers.PIN[0] = args.pin
        for lib in ("lsm-vec", "hnswlib"):
            peers.log(f"updates scenario: {lib} ...")
            cmd = [peers.VENV_PY, os.path.abspath(__file__), "--worker", lib, "--phase", "updates", "--data", data,
                   "--updates", str(args.updates), "--M", str(args.M), "--efc", str(args.efc), "--threads", "1"]
            text, _ = peers.run_measured(cmd)
            updates.append(json.loads(text.strip().splitlines()[-1]))
    load_end = os.getloadavg()

    print(f"dataset: {data}; M={args.M} ef_construction={args.efc}; load {load_start[0]:.2f} -> {load_end[0]:.2f}")
    print(f"{'library':<10} {'threads':>7} {'seconds':>9} {'vectors/s':>10} {'vs hnswlib':>10} {'peak RSS MB':>11}")
    for r in builds:
        hn = next((h for h in builds if h["library"] == "hnswlib" and h["threads"] == r["threads"]), None)
        ratio = f"{r['vectors_per_sec'] / hn['vectors_per_sec']:.2f}x" if hn else "-"
        print(f"{r['library']:<10} {r['threads']:>7} {r['seconds']:>9.1f} {r['vectors_per_sec']:>10.0f} {ratio:>10} "
              f"{r['peak_rss_bytes'] / 1e6:>11.1f}")
    if updates:
        print()
        print(f"updates: {updates[0]['built']} built, then {updates[0]['updates']} single inserts and deletes interleaved, one core")
        print(f"{'library':<10} {'insert mean us':>14} {'p99':>8} {'delete mean us':>14} {'p99':>8} {'recall@10 live (ef 64)':>23}")
        for r in updates:
            print(f"{r['library']:<10} {r['insert']['mean_us']:>14.1f} {r['insert']['p99_us']:>8.1f} "
                  f"{r['delete']['mean_us']:>14.1f} {r['delete']['p99_us']:>8.1f} {r['recall_live_ef64']:>23.4f}")
    out = args.out or os.path.join(HERE, "out", f"ingest-{os.path.basename(data)}.json")
    with open(out, "w") as f:
        json.dump({"dataset": data, "M": args.M, "ef_construction": args.efc, "load_average_start": load_start,
                   "load_average_end": load_end, "builds": builds, "updates": updates}, f, indent=2)
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()
