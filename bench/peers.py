#!/usr/bin/env python3
"""Compare lsm-vec with its peers, hnswlib and faiss (IndexHNSWFlat, IndexHNSWSQ 8-bit), on one dataset.

    python3 bench/peers.py                 # 100k x 128, 1000 queries (about 10 minutes)
    python3 bench/peers.py --quick         # 10k x 128, 200 queries: a smoke run
    python3 bench/peers.py --n 1000000     # another size (the dataset is generated once)
    python3 bench/peers.py --variant default= --variant "cache80M=--paged-cache-pages 20000" \
                           --plot bench/out/peers-100k.png
                                           # lsm-vec built once, searched in several configurations

What it does:
  * creates bench/.venv (python3 -m venv) and installs bench/requirements.txt the first time,
    then re-runs itself inside it;
  * generates the clustered synthetic dataset with `lsm-vec gen-data` (through
    `cargo run --release -p lsm-vec-cli`) into bench/data/synthetic-<n>, or reuses it;
  * runs each library in its own subprocess, one after the other, so the peak RSS (ru_maxrss of
    that process, from wait4) belongs to one library only;
  * every library process pinned to one core (--pin, default core 1) and single-threaded
    (hnswlib set_num_threads(1) and num_threads=1 for build and
    queries, faiss omp_set_num_threads(1), OMP_NUM_THREADS=1), the same M=16 (layer 0 keeps 32
    links in all three), ef_construction=200, the same ef_search sweep, queries one at a time
    (a Python loop over single queries, timed per query), recall@10 against the exact ground
    truth;
  * prints one table plus lsm-vec's ratios to hnswlib, and writes bench/out/peers-<n>.json.
"""

import argparse
import json
import shlex
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
REQUIREMENTS = os.path.join(HERE, "requirements.txt")

# Single-threaded everywhere, also inside BLAS/OpenMP of the peers.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_venv():
    """Create bench/.venv with the requirements and re-exec this script inside it."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(VENV_PY):
        log(f"creating {VENV} ...")
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    probe = subprocess.run([VENV_PY, "-c", "import numpy, hnswlib, faiss"], capture_output=True)
    if probe.returncode != 0:
        log(f"installing {REQUIREMENTS} into {VENV} (hnswlib compiles with g++) ...")
        subprocess.check_call([VENV_PY, "-m", "pip", "install", "-q", "--upgrade", "pip"])
        subprocess.check_call([VENV_PY, "-m", "pip", "install", "-q", "-r", REQUIREMENTS])
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(sys.argv[0])] + sys.argv[1:])


# ----------------------------------------------------------------------------------------------
# Dataset files (TEXMEX .fvecs / .ivecs)


def read_vecs(path, dtype):
    import numpy as np

    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise SystemExit(f"{path}: empty file")
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1) != 0:
        raise SystemExit(f"{path}: not a .fvecs/.ivecs file or truncated (dim field {dim})")
    rows = raw.reshape(-1, dim + 1)
    if not (rows[:, 0] == dim).all():
        raise SystemExit(f"{path}: rows of different dimensions")
    return np.ascontiguousarray(rows[:, 1:].view(dtype))


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def percentile(sorted_values, p):
    """Nearest-rank percentile, the same definition as lsm-vec's report."""
    if not sorted_values:
        return 0.0
    import math

    rank = max(1, min(len(sorted_values), math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


# ----------------------------------------------------------------------------------------------
# Workers (run in their own process)


def worker(args):
    import numpy as np

    base = read_vecs(os.path.join(args.data, "base.fvecs"), np.float32)
    queries = read_vecs(os.path.join(args.data, "query.fvecs"), np.float32)
    truth = read_vecs(os.path.join(args.data, "groundtruth.ivecs"), np.int32)[:, : args.k]
    n, dim = base.shape
    ef_list = [int(x) for x in args.ef_search.split(",")]

    if args.worker == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=dim)
        index.init_index(max_elements=n, ef_construction=args.efc, M=args.M, random_seed=12345)
        index.set_num_threads(1)
        t = time.perf_counter()
        index.add_items(base, np.arange(n), num_threads=1)
        build = time.perf_counter() - t

        def search(q, ef):
            index.set_ef(ef)
            labels, _ = index.knn_query(q, k=args.k, num_threads=1)
            return labels[0]

        def set_ef(ef):
            index.set_ef(ef)

    elif args.worker in ("faiss", "faiss-sq8"):
        import faiss

        faiss.omp_set_num_threads(1)
        if args.worker == "faiss":
            index = faiss.IndexHNSWFlat(dim, args.M)
        else:
            index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, args.M)
        index.hnsw.efConstruction = args.efc
        t = time.perf_counter()
        if not index.is_trained:
            index.train(base)
        index.add(base)
        build = time.perf_counter() - t

        def set_ef(ef):
            index.hnsw.efSearch = ef

        def search(q, ef):
            _, labels = index.search(q, args.k)
            return labels[0]

    else:
        raise SystemExit(f"unknown worker {args.worker}")

    sweep = []
    for ef in ef_list:
        eff = max(ef, args.k)
        set_ef(eff)
        lat = []
        hits = 0
        start = time.perf_counter()
        for i in range(queries.shape[0]):
            q = queries[i : i + 1]
            t0 = time.perf_counter()
            labels = search(q, eff)
            lat.append(time.perf_counter() - t0)
            hits += len(set(labels.tolist()) & set(truth[i].tolist()))
        total = time.perf_counter() - start
        lat_us = sorted(x * 1e6 for x in lat)
        sweep.append(
            {
                "ef_search": ef,
                "recall": hits / (args.k * queries.shape[0]),
                "qps": queries.shape[0] / total,
                "latency": {
                    "mean_us": sum(lat_us) / len(lat_us),
                    "p50_us": percentile(lat_us, 50),
                    "p95_us": percentile(lat_us, 95),
                    "p99_us": percentile(lat_us, 99),
                },
            }
        )
        log(f"  {args.worker} ef={ef}: recall@{args.k} {sweep[-1]['recall']:.4f}, {sweep[-1]['qps']:.0f} QPS")
    result = {
        "library": args.worker,
        "n": n,
        "dim": dim,
        "queries": int(queries.shape[0]),
        "build_seconds": build,
        "inserts_per_sec": n / build if build > 0 else 0.0,
        "peak_rss_bytes": peak_rss_bytes(),
        "sweep": sweep,
    }
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------
# Driver


PIN = [1]


def run_measured(cmd, cwd=None):
    """Runs cmd (pinned to core PIN[0] unless it is negative) with stdout to a temp file;
    returns (stdout, ru_maxrss bytes of that child)."""
    cpu = PIN[0]
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu >= 0 else None
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, cwd=cwd, preexec_fn=pin)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{text[-2000:]}")
    return text, usage.ru_maxrss * 1024


def lsm_vec_binary():
    """Builds the CLI in release mode and returns the path of the `lsm-vec` executable."""
    log("building lsm-vec (cargo build --release -p lsm-vec-cli) ...")
    out = subprocess.run(
        ["cargo", "build", "--release", "-p", "lsm-vec-cli", "--message-format=json-render-diagnostics"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit("cargo build failed")
    exe = None
    for line in out.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["target"]["name"] == "lsm-vec":
            exe = msg["executable"]
    if not exe:
        raise SystemExit("could not find the lsm-vec executable in cargo's output")
    return exe


def ensure_dataset(args):
    name = f"synthetic-{args.n // 1000}k" if args.n % 1000 == 0 else f"synthetic-{args.n}"
    data = args.data or os.path.join(HERE, "data", name)
    meta_path = os.path.join(data, "dataset.json")
    files = [os.path.join(data, f) for f in ("base.fvecs", "query.fvecs", "groundtruth.ivecs")]
    if all(os.path.exists(f) for f in files):
        if args.data or not os.path.exists(meta_path):
            return data
        with open(meta_path) as f:
            meta = json.load(f)
        if (meta.get("n"), meta.get("dim"), meta.get("queries")) == (args.n, args.dim, args.queries):
            log(f"reusing dataset {data}")
            return data
    if args.data:
        raise SystemExit(f"{data}: base.fvecs, query.fvecs and groundtruth.ivecs expected")
    log(f"generating dataset {data} ...")
    gen = ["gen-data", "--out", data, "--n", str(args.n), "--dim", str(args.dim), "--queries", str(args.queries)]
    if args.lsm_vec_bin:
        subprocess.check_call([args.lsm_vec_bin] + gen)
    else:
        subprocess.check_call(["cargo", "run", "--release", "-q", "-p", "lsm-vec-cli", "--"] + gen, cwd=ROOT)
    return data


def run_lsm_vec(args, exe, data, name="lsm-vec", extra="", reuse=False):
    db = os.path.join(HERE, "out", f"lsm-vec-db-{os.path.basename(data)}")
    cmd = [exe, "bench", "--base", os.path.join(data, "base.fvecs"),
           "--query", os.path.join(data, "query.fvecs"),
           "--truth", os.path.join(data, "groundtruth.ivecs"),
           "--db", db, "--json", "--k", str(args.k), "--ef-search", args.ef_search,
           "--M", str(args.M), "--Mmax", str(args.M), "--efc", str(args.efc)]
    cmd += shlex.split(args.lsm_vec_args) + shlex.split(extra)
    if reuse:
        cmd.append("--reuse")
    text, maxrss = run_measured(cmd)
    rep = json.loads(text.strip().splitlines()[-1])
    for row in rep["sweep"]:
        log(f"  {name} ef={row['ef_search']}: recall@{args.k} {row['recall']:.4f}, {row['qps']:.0f} QPS")
    return {
        "library": name,
        "config": extra,
        "reused_build": reuse,
        "n": rep["dataset"]["n"],
        "dim": rep["dataset"]["dim"],
        "queries": rep["dataset"]["queries"],
        "build_seconds": rep["build"]["seconds"],
        "inserts_per_sec": rep["build"]["inserts_per_sec"],
        "peak_rss_bytes": rep["memory"]["peak_rss_bytes"],
        "ru_maxrss_bytes": maxrss,
        "disk_bytes": rep["disk"]["total_bytes"],
        "sweep": [
            {"ef_search": r["ef_search"], "recall": r["recall"], "qps": r["qps"], "latency": r["latency"],
             "pages_read_per_query": r["pages_read_per_query"]}
            for r in rep["sweep"]
        ],
    }


def run_peer(args, lib, data):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--data", data,
           "--k", str(args.k), "--ef-search", args.ef_search, "--M", str(args.M), "--efc", str(args.efc)]
    text, maxrss = run_measured(cmd)
    res = json.loads(text.strip().splitlines()[-1])
    res["ru_maxrss_bytes"] = maxrss
    return res


def print_table(results, k):
    mb = lambda b: (b or 0) / 1e6
    by_lib = {r["library"]: r for r in results}
    hn = by_lib.get("hnswlib")
    w = max(8, max(len(r["library"]) for r in results))
    header = (f"{'library':<{w}} {'ef':>4} {'build_s':>8} {'ins/s':>8} {'recall@' + str(k):>9} {'QPS':>8} "
              f"{'p99_ms':>7} {'peakRSS_MB':>10} {'QPS/hnsw':>8} {'ins/hnsw':>8} {'RSS/hnsw':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        rss = r.get("ru_maxrss_bytes") or r.get("peak_rss_bytes")
        for row in r["sweep"]:
            ratios = ["", "", ""]
            if hn and r["library"] != "hnswlib":
                hrow = next((x for x in hn["sweep"] if x["ef_search"] == row["ef_search"]), None)
                hrss = hn.get("ru_maxrss_bytes") or hn.get("peak_rss_bytes")
                if hrow and hrow["qps"] > 0:
                    ratios[0] = f"{row['qps'] / hrow['qps']:.3f}"
                if hn["inserts_per_sec"] > 0:
                    ratios[1] = f"{r['inserts_per_sec'] / hn['inserts_per_sec']:.3f}"
                if hrss:
                    ratios[2] = f"{rss / hrss:.3f}"
            print(f"{r['library']:<{w}} {row['ef_search']:>4} {r['build_seconds']:>8.1f} {r['inserts_per_sec']:>8.0f} "
                  f"{row['recall']:>9.4f} {row['qps']:>8.0f} {row['latency']['p99_us'] / 1000:>7.3f} "
                  f"{mb(rss):>10.1f} {ratios[0]:>8} {ratios[1]:>8} {ratios[2]:>8}")
    print()
    # At equal ef_search the libraries reach different recall, so also compare at equal recall:
    # the best QPS each library reaches with at least the target recall in this sweep.
    targets = [0.9, 0.95, 0.99, 0.995]
    print(f"best QPS at recall@{k} >= target (ratio to hnswlib):")
    print(f"{'library':<{w}} " + " ".join(f"{'>=' + str(t):>16}" for t in targets))
    best = {}
    for r in results:
        best[r["library"]] = [max((x["qps"] for x in r["sweep"] if x["recall"] >= t), default=None) for t in targets]
    for r in results:
        cells = []
        for i, q in enumerate(best[r["library"]]):
            h = best.get("hnswlib", [None] * len(targets))[i]
            if q is None:
                cells.append(f"{'-':>16}")
            elif h and r["library"] != "hnswlib":
                cells.append(f"{q:>8.0f} ({q / h:5.3f})")
            else:
                cells.append(f"{q:>16.0f}")
        print(f"{r['library']:<{w}} " + " ".join(cells))
    print()
    print("notes:")
    print("  * all runs single-threaded, one query at a time, M=16 (32 links on layer 0), ef_construction=200;")
    print("    each library ran alone in its own process; peak RSS = ru_maxrss of that process (wait4).")
    print("  * hnswlib and faiss hold the whole base set in RAM as numpy arrays (loaded from base.fvecs)")
    print("    plus their in-memory index; nothing is subtracted. lsm-vec streams base.fvecs while it")
    print("    builds and keeps vectors and layer 0 on disk (page cache + edge cache in RAM).")
    print("  * peer query latencies include the Python call overhead (a few microseconds per query);")
    print("    lsm-vec's are measured inside the Rust binary around each search call.")
    print("  * the peers' build is one add call over the whole array with one thread (sequential inserts);")
    print("    lsm-vec inserts one vector per API call.")
    print("  * ratios are lsm-vec (or faiss) divided by hnswlib at the same ef_search; QPS and inserts/s:")
    print("    higher is better, RSS: lower is better.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="base vectors (default 100000)")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="smoke run: n=10000, 200 queries")
    ap.add_argument("--ef-search", default="16,32,64,128,256")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--libs", default="lsm-vec,hnswlib,faiss,faiss-sq8",
                    help="comma list of lsm-vec, hnswlib, faiss, faiss-sq8")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=FLAGS: an lsm-vec configuration (extra `lsm-vec bench` flags, tuning knobs only); "
                         "the first builds the index, the others search it (--reuse). Default: one, 'default='")
    ap.add_argument("--pin", type=int, default=1, help="core to pin every library process to (-1: no pinning)")
    ap.add_argument("--plot", help="write a recall@k vs QPS plot (PNG) of every run here")
    ap.add_argument("--data", help="use this dataset directory (base.fvecs, query.fvecs, groundtruth.ivecs)")
    ap.add_argument("--lsm-vec-bin", help="lsm-vec executable (default: cargo build --release)")
    ap.add_argument("--lsm-vec-args", default="",
                    help="extra flags for `lsm-vec bench`, e.g. \"--paged-cache-pages 20000\"")
    ap.add_argument("--out", help="JSON results file (default bench/out/peers-<dataset>.json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker(args)
        return
    ensure_venv()
    PIN[0] = args.pin
    if args.quick:
        args.n, args.queries = 10_000, 200
    data = ensure_dataset(args)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    libs = [x.strip() for x in args.libs.split(",") if x.strip()]
    exe = None
    if "lsm-vec" in libs:
        exe = args.lsm_vec_bin or lsm_vec_binary()
    results = []
    load_start = os.getloadavg()
    for lib in libs:
        log(f"running {lib} on {data} ...")
        t = time.time()
        if lib == "lsm-vec":
            variants = args.variant or ["default="]
            for i, v in enumerate(variants):
                name, _, extra = v.partition("=")
                label = "lsm-vec" if name == "default" else f"lsm-vec[{name}]"
                results.append(run_lsm_vec(args, exe, data, label, extra, reuse=i > 0))
        elif lib in ("hnswlib", "faiss", "faiss-sq8"):
            results.append(run_peer(args, lib, data))
        else:
            raise SystemExit(f"unknown library {lib}")
        log(f"  {lib} done in {time.time() - t:.1f} s")
    print(f"dataset: {data} (n={results[0]['n']}, dim={results[0]['dim']}, queries={results[0]['queries']}, L2)")
    print()
    print_table(results, args.k)
    load_end = os.getloadavg()
    print(f"  * machine: {os.cpu_count()} cores; load average {load_start[0]:.2f} at the start, "
          f"{load_end[0]:.2f} at the end (other processes running at the same time skew the numbers).")
    out = args.out or os.path.join(HERE, "out", f"peers-{os.path.basename(data)}.json")
    with open(out, "w") as f:
        json.dump({"dataset": data, "k": args.k, "M": args.M, "ef_construction": args.efc,
                   "cores": os.cpu_count(), "load_average_start": load_start, "load_average_end": load_end,
                   "results": results}, f, indent=2)
    print(f"\nresults written to {out}")
    if args.plot:
        plot(results, args, data, args.plot)


def plot(results, args, data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in results:
        xs = [row["recall"] for row in r["sweep"]]
        ys = [row["qps"] for row in r["sweep"]]
        style = "-o" if r["library"].startswith("lsm-vec") else "--s"
        ax.plot(xs, ys, style, label=r["library"], markersize=4)
    ax.set_xlabel(f"recall@{args.k}")
    ax.set_ylabel("queries per second (one core, one query at a time)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    n = results[0]["n"]
    ax.set_title(f"{os.path.basename(data)}: n={n}, dim={results[0]['dim']}, M={args.M}, efc={args.efc}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
