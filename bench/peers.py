#!/usr/bin/env python3
"""Compare lsm-vec with its peers, hnswlib, faiss (IndexHNSWFlat, IndexHNSWSQ 8-bit) and DiskANN
(diskannpy disk index), on one dataset.

    python3 bench/peers.py                 # 100k x 128, 1000 queries (about 10 minutes)
    python3 bench/peers.py --quick         # 10k x 128, 200 queries: a smoke run
    python3 bench/peers.py --n 1000000     # another size (the dataset is generated once)
    python3 bench/peers.py --variant default= --variant "cache80M=--paged-cache-pages 20000" \
                           --plot bench/out/peers-100k.png
                                           # lsm-vec built once, searched in several configurations
    python3 bench/peers.py --quick --dim 384 --metric cosine --libs lsm-vec,hnswlib,faiss,diskann
                                           # 384-d cosine dataset, DiskANN included
    python3 bench/peers.py --cold          # drop the OS page cache before every query pass (root)

What it does:
  * creates bench/.venv (python3 -m venv) and installs bench/requirements.txt the first time,
    then re-runs itself inside it;
  * with `--libs ...,diskann`, also creates bench/.venv-diskann with bench/requirements-diskann.txt
    (diskannpy 0.7.0 pins numpy 1.25, so it cannot share bench/.venv); the diskann worker runs there;
  * generates the clustered synthetic dataset with `lsm-vec gen-data` (through
    `cargo run --release -p lsm-vec-cli`) into bench/data/synthetic-<n> (synthetic-<n>-d<dim> when
    dim != 128), or reuses it; gen-data writes L2 ground truth only, so for `--metric cosine` the
    exact cosine top-100 is computed here with numpy (groundtruth-cosine.ivecs, written once);
  * runs each library in its own subprocess, one after the other, so the peak RSS (ru_maxrss of
    that process, from wait4) belongs to one library only;
  * every library process pinned to one core (--pin, default core 1) and single-threaded
    (hnswlib set_num_threads(1) and num_threads=1 for build and
    queries, faiss omp_set_num_threads(1), OMP_NUM_THREADS=1), the same M=16 (layer 0 keeps 32
    links in all three), ef_construction=200, the same ef_search sweep, queries one at a time
    (a Python loop over single queries, timed per query), recall@10 against the exact ground
    truth;
  * DiskANN: diskannpy.build_disk_index with graph degree R = 2*M (the layer-0 degree of the HNSW
    peers), build complexity L = ef_construction, one build thread, full-precision vectors on disk
    (pq_disk_bytes=0) and a search memory budget sized so that its in-memory PQ codes take
    --diskann-pq-bytes bytes per vector (default: dim, the size of lsm-vec's default SQ8 codes);
    searched with StaticDiskIndex.search(q, k, complexity=ef_search, beam_width=--diskann-beam-width);
  * --cold: before each query pass, sync and `echo 3 > /proc/sys/vm/drop_caches` (needs root);
    lsm-vec gets `bench --cold` (it reopens the database and drops the cache itself), DiskANN's
    index is reopened; every pass reports the bytes this process read from the device per query
    (/proc/self/io read_bytes, warm or cold);
  * prints one table plus the ratios to hnswlib, and writes bench/out/peers-<dataset>[-cosine][-cold].json.
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
# DiskANN gets its own virtualenv: diskannpy 0.7.0 requires numpy==1.25 (bench/.venv has numpy 2).
VENV_DISKANN = os.path.join(HERE, ".venv-diskann")
VENV_DISKANN_PY = os.path.join(VENV_DISKANN, "bin", "python")
REQUIREMENTS_DISKANN = os.path.join(HERE, "requirements-diskann.txt")
PEERS = ("hnswlib", "faiss", "faiss-sq8", "diskann")

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


def ensure_diskann_venv():
    """Creates bench/.venv-diskann with requirements-diskann.txt (once); returns its python.
    Fails with pip's reason when diskannpy cannot be installed for this Python."""
    probe = [VENV_DISKANN_PY, "-c", "import numpy, diskannpy"]
    if os.path.exists(VENV_DISKANN_PY) and subprocess.run(probe, capture_output=True).returncode == 0:
        return VENV_DISKANN_PY
    if not os.path.exists(VENV_DISKANN_PY):
        log(f"creating {VENV_DISKANN} ...")
        subprocess.check_call([sys.executable, "-m", "venv", VENV_DISKANN])
    log(f"installing {REQUIREMENTS_DISKANN} into {VENV_DISKANN} ...")
    subprocess.run([VENV_DISKANN_PY, "-m", "pip", "install", "-q", "--upgrade", "pip"], capture_output=True)
    pip = subprocess.run([VENV_DISKANN_PY, "-m", "pip", "install", "-q", "-r", REQUIREMENTS_DISKANN],
                         capture_output=True, text=True)
    check = subprocess.run(probe, capture_output=True, text=True)
    if pip.returncode != 0 or check.returncode != 0:
        import platform

        detail = (pip.stderr or pip.stdout or check.stderr).strip().splitlines()[-6:]
        raise SystemExit(
            f"--libs diskann: cannot install diskannpy into {VENV_DISKANN} for Python "
            f"{platform.python_version()} on {platform.machine()} (diskannpy 0.7.0 is published only as "
            "binary wheels for CPython 3.9-3.11 on manylinux_2_28 x86_64, with numpy==1.25; there is no "
            "source distribution to build from). pip said:\n  " + "\n  ".join(detail))
    return VENV_DISKANN_PY


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


def device_read_bytes():
    """Bytes this process has caused to be read from the storage device (/proc/self/io
    read_bytes: page cache misses and O_DIRECT reads), or None where the kernel has no such file."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def drop_os_caches():
    """sync; echo 3 > /proc/sys/vm/drop_caches (needs root)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        raise SystemExit(f"--cold: cannot drop the OS page cache (/proc/sys/vm/drop_caches: {e}); it needs root")


def normalized(x):
    """Rows scaled to unit L2 norm (zero rows left as they are), float32, C-contiguous."""
    import numpy as np

    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


# DiskANN's build may use this much RAM (build_memory_maximum, GB): large enough that every dataset
# this harness makes is built in one shot, not partitioned into shards and merged.
DISKANN_BUILD_MEMORY_GB = 8.0


def diskann_search_memory_gb(n, pq_bytes):
    """search_memory_maximum (GB) for which build_disk_index makes PQ codes of `pq_bytes` bytes per
    vector. DiskANN (disk_utils.cpp, build_disk_index) takes num_pq_chunks = floor(budget / n),
    capped at dim, after subtracting 0.25 GB for its node cache when budget - 0.25 GB >= 1 GB; half a
    byte per vector of slack keeps the floor from rounding down."""
    gb = (pq_bytes + 0.5) * n / 2**30
    if gb >= 1.0:
        gb += 0.25
    return gb


def cached_build(args):
    """With --reuse-peers: the build seconds recorded next to a saved index built with the same
    parameters (the index is then loaded, not built), else None."""
    if not args.peer_cache:
        return None
    try:
        with open(args.peer_cache + ".json") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if meta.get("key") != peer_key(args):
        return None
    return meta["build_s"]


def save_build(args, build):
    with open(args.peer_cache + ".json", "w") as f:
        json.dump({"key": peer_key(args), "build_s": build}, f)


def peer_key(args):
    """What a saved peer index depends on."""
    base = os.path.join(args.data, "base.fvecs")
    return [args.worker, args.metric, args.M, args.efc, os.path.getsize(base), int(os.path.getmtime(base)),
            args.diskann_pq_bytes if args.worker == "diskann" else 0]


def worker(args):
    import numpy as np

    # Results go to the original stdout; everything else written to fd 1 (diskannpy's C++ logs a
    # lot to std::cout, also at exit) goes to stderr or to a log file.
    result_fd = os.dup(1)
    os.dup2(2, 1)

    base = read_vecs(os.path.join(args.data, "base.fvecs"), np.float32)
    queries = read_vecs(os.path.join(args.data, "query.fvecs"), np.float32)
    truth = read_vecs(args.truth, np.int32)[:, : args.k]
    n, dim = base.shape
    ef_list = [int(x) for x in args.ef_search.split(",")]
    cosine = args.metric == "cosine"
    extra = {}
    reopen = None

    if args.worker == "hnswlib":
        import hnswlib

        # hnswlib's 'cosine' space normalises the inserted vectors and each query itself.
        index = hnswlib.Index(space="cosine" if cosine else "l2", dim=dim)
        build = cached_build(args)
        if build is not None:
            index.load_index(args.peer_cache, max_elements=n)
        else:
            index.init_index(max_elements=n, ef_construction=args.efc, M=args.M, random_seed=12345)
            index.set_num_threads(1)
            t = time.perf_counter()
            index.add_items(base, np.arange(n), num_threads=1)
            build = time.perf_counter() - t
            if args.peer_cache:
                index.save_index(args.peer_cache)
                save_build(args, build)

        def search(q, ef):
            index.set_ef(ef)
            labels, _ = index.knn_query(q, k=args.k, num_threads=1)
            return labels[0]

        def set_ef(ef):
            index.set_ef(ef)

    elif args.worker in ("faiss", "faiss-sq8"):
        import faiss

        faiss.omp_set_num_threads(1)
        # Cosine: inner product over unit vectors (the base normalised inside the build time, each
        # query inside its search time).
        metric = faiss.METRIC_INNER_PRODUCT if cosine else faiss.METRIC_L2
        if args.worker == "faiss":
            index = faiss.IndexHNSWFlat(dim, args.M, metric)
        else:
            index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, args.M, metric)
        index.hnsw.efConstruction = args.efc
        build = cached_build(args)
        if build is not None:
            index = faiss.read_index(args.peer_cache)
        else:
            t = time.perf_counter()
            data = normalized(base) if cosine else base
            if not index.is_trained:
                index.train(data)
            index.add(data)
            build = time.perf_counter() - t
            del data
            if args.peer_cache:
                faiss.write_index(index, args.peer_cache)
                save_build(args, build)

        def set_ef(ef):
            index.hnsw.efSearch = ef

        def search(q, ef):
            _, labels = index.search(normalized(q) if cosine else q, args.k)
            return labels[0]

    elif args.worker == "diskann":
        import diskannpy

        # StaticDiskIndex does not support cosine (diskannpy 0.7.0's own table: "For
        # StaticDiskIndex, Cosine distances are not currently supported"), so cosine is L2 over unit
        # vectors, which ranks identically (|a-b|^2 = 2 - 2 cos(a,b)).
        index_dir = args.diskann_dir
        build = cached_build(args)
        if build is None and os.path.exists(index_dir):
            import shutil

            shutil.rmtree(index_dir)
        os.makedirs(index_dir, exist_ok=True)
        log_path = index_dir + ".log"
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        # diskannpy's C++ progress output (std::cout and std::cerr) goes to the log; this script's
        # own messages and tracebacks keep the original stderr.
        sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        log(f"  diskann: index in {index_dir}, its log in {log_path}")
        pq_bytes = min(args.diskann_pq_bytes or dim, dim)
        budget_gb = diskann_search_memory_gb(n, pq_bytes)
        if build is None:
            t = time.perf_counter()
            diskannpy.build_disk_index(
                data=normalized(base) if cosine else base,
                distance_metric="l2",
                index_directory=index_dir,
                complexity=args.efc,
                graph_degree=2 * args.M,
                search_memory_maximum=budget_gb,
                build_memory_maximum=DISKANN_BUILD_MEMORY_GB,
                num_threads=args.diskann_build_threads,
                pq_disk_bytes=0,
            )
            build = time.perf_counter() - t
            if args.peer_cache:
                save_build(args, build)
        codes = os.path.getsize(os.path.join(index_dir, "ann_pq_compressed.bin")) - 8
        # ann_vectors.bin (diskannpy's copy of the input array) and ann_mem.index.data (the build's
        # copy) are build by-products that the search does not read: not counted.
        disk_bytes = sum(os.path.getsize(os.path.join(index_dir, f)) for f in os.listdir(index_dir)
                         if f not in ("ann_vectors.bin", "ann_mem.index.data"))
        # A node on disk: the full vector, its degree and R neighbour ids; DiskANN reads whole
        # 4 KiB sectors, ceil(node / 4096) of them per visited node.
        sectors_per_node = -(-(dim * 4 + 4 + 2 * args.M * 4) // 4096)
        extra = {"disk_bytes": disk_bytes, "pq_bytes_per_vector": codes / n, "search_memory_gb": budget_gb,
                 "graph_degree": 2 * args.M, "build_complexity": args.efc, "beam_width": args.diskann_beam_width,
                 "num_nodes_to_cache": args.diskann_cache_nodes,
                 "index_metric": "l2 over unit vectors" if cosine else "l2"}

        def open_index():
            # num_threads=2 although only this thread searches: with 1, diskannpy 0.7.0 deadlocks in
            # load (DiskANN issues #462 and PR #556: load borrows its only thread context twice).
            # The extra context is idle; the process stays pinned to one core.
            return diskannpy.StaticDiskIndex(index_dir, num_threads=2, num_nodes_to_cache=args.diskann_cache_nodes)

        holder = [open_index()]

        def reopen():
            holder[0] = None
            holder[0] = open_index()

        def set_ef(ef):
            pass

        def search(q, ef):
            v = normalized(q)[0] if cosine else q[0]
            return holder[0].search(v, args.k, complexity=ef, beam_width=args.diskann_beam_width).identifiers

    else:
        raise SystemExit(f"unknown worker {args.worker}")

    sweep = []
    for ef in ef_list:
        eff = max(ef, args.k)
        set_ef(eff)
        if args.cold:
            if reopen:
                reopen()
            drop_os_caches()
        lat = []
        hits = 0
        read0 = device_read_bytes()
        start = time.perf_counter()
        for i in range(queries.shape[0]):
            q = queries[i : i + 1]
            t0 = time.perf_counter()
            labels = search(q, eff)
            lat.append(time.perf_counter() - t0)
            hits += len(set(labels.tolist()) & set(truth[i].tolist()))
        total = time.perf_counter() - start
        read1 = device_read_bytes()
        lat_us = sorted(x * 1e6 for x in lat)
        row = {
            "ef_search": ef,
            "recall": hits / (args.k * queries.shape[0]),
            "qps": queries.shape[0] / total,
            "latency": {
                "mean_us": sum(lat_us) / len(lat_us),
                "p50_us": percentile(lat_us, 50),
                "p95_us": percentile(lat_us, 95),
                "p99_us": percentile(lat_us, 99),
            },
            "cold": args.cold,
            "device_read_bytes_per_query": None if read0 is None else (read1 - read0) / queries.shape[0],
        }
        if args.worker == "diskann" and row["device_read_bytes_per_query"] is not None:
            # diskannpy computes DiskANN's QueryStats (n_ios) but does not return them; its node
            # reads are O_DIRECT, so read_bytes counts them exactly: one read = sectors_per_node * 4 KiB.
            row["ios_per_query"] = row["device_read_bytes_per_query"] / (4096 * sectors_per_node)
        sweep.append(row)
        log(f"  {args.worker} ef={ef}: recall@{args.k} {row['recall']:.4f}, {row['qps']:.0f} QPS")
    result = {
        "library": args.worker,
        "n": n,
        "dim": dim,
        "metric": args.metric,
        "queries": int(queries.shape[0]),
        "build_seconds": build,
        "inserts_per_sec": n / build if build > 0 else 0.0,
        "peak_rss_bytes": peak_rss_bytes(),
        "sweep": sweep,
    }
    result.update(extra)
    os.write(result_fd, (json.dumps(result) + "\n").encode())
    os.close(result_fd)


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


def dataset_dir(args):
    size = f"{args.n // 1000}k" if args.n % 1000 == 0 else f"{args.n}"
    suffix = "" if args.dim == 128 else f"-d{args.dim}"
    return args.data or os.path.join(HERE, "data", f"synthetic-{size}{suffix}")


def ensure_dataset(args):
    data = dataset_dir(args)
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


def fvecs_memmap(path):
    """A read-only (n, dim) float32 view of an .fvecs file, without loading it."""
    import numpy as np

    dim = int(np.fromfile(path, dtype=np.int32, count=1)[0])
    raw = np.memmap(path, dtype=np.float32, mode="r")
    return raw.reshape(-1, dim + 1)[:, 1:]


def write_ivecs(path, ids):
    import numpy as np

    ids = np.asarray(ids, dtype=np.int32)
    out = np.empty((ids.shape[0], ids.shape[1] + 1), dtype=np.int32)
    out[:, 0] = ids.shape[1]
    out[:, 1:] = ids
    tmp = path + ".tmp"
    out.tofile(tmp)
    os.replace(tmp, path)


def cosine_ground_truth(data, gt_k=100, chunk=65536, margin=16):
    """Exact top-gt_k under cosine similarity, written to DATA/groundtruth-cosine.ivecs once
    (`lsm-vec gen-data` writes L2 ground truth only). A float32 scan of the base file in chunks keeps
    the best gt_k + margin candidates per query; those are re-scored in float64 and sorted (ties by
    id), so float32 rounding cannot reorder the answer."""
    import numpy as np

    path = os.path.join(data, "groundtruth-cosine.ivecs")
    base_path = os.path.join(data, "base.fvecs")
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(base_path):
        log(f"reusing {path}")
        return path
    log(f"computing exact cosine ground truth into {path} ...")
    t = time.time()
    base = fvecs_memmap(base_path)
    q = normalized(read_vecs(os.path.join(data, "query.fvecs"), np.float32))
    n = base.shape[0]
    keep = min(gt_k + margin, n)
    cand_s = np.empty((q.shape[0], 0), dtype=np.float32)
    cand_i = np.empty((q.shape[0], 0), dtype=np.int64)
    for start in range(0, n, chunk):
        s = q @ normalized(np.asarray(base[start : start + chunk])).T
        s = np.concatenate([cand_s, s], axis=1)
        i = np.concatenate([cand_i, np.broadcast_to(np.arange(start, start + s.shape[1] - cand_i.shape[1]),
                                                     (q.shape[0], s.shape[1] - cand_i.shape[1]))], axis=1)
        if s.shape[1] > keep:
            top = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
            s, i = np.take_along_axis(s, top, axis=1), np.take_along_axis(i, top, axis=1)
        cand_s, cand_i = s, i
    q64 = q.astype(np.float64)
    q64 /= np.maximum(np.linalg.norm(q64, axis=1, keepdims=True), 1e-300)
    out = np.empty((q.shape[0], min(gt_k, n)), dtype=np.int32)
    for r in range(q.shape[0]):
        ids = cand_i[r]
        vecs = np.asarray(base[ids], dtype=np.float64)
        norms = np.linalg.norm(vecs, axis=1)
        norms[norms == 0] = 1.0
        sim = (vecs @ q64[r]) / norms
        order = np.lexsort((ids, -sim))
        out[r] = ids[order[: out.shape[1]]]
    write_ivecs(path, out)
    log(f"  cosine ground truth: {q.shape[0]} queries x top-{out.shape[1]} in {time.time() - t:.1f} s")
    return path


def run_lsm_vec(args, exe, data, name="lsm-vec", extra="", reuse=False):
    suffix = "" if args.metric == "l2" else f"-{args.metric}"
    db = os.path.join(HERE, "out", f"lsm-vec-db-{os.path.basename(data)}{suffix}")
    cmd = [exe, "bench", "--base", os.path.join(data, "base.fvecs"),
           "--query", os.path.join(data, "query.fvecs"),
           "--truth", args.truth, "--metric", args.metric,
           "--db", db, "--json", "--k", str(args.k), "--ef-search", args.ef_search,
           "--M", str(args.M), "--Mmax", str(args.M), "--efc", str(args.efc)]
    if args.cold:
        cmd.append("--cold")  # lsm-vec reopens the database and drops the OS page cache per pass
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
        "metric": str(rep["dataset"].get("metric", args.metric)).lower(),
        "queries": rep["dataset"]["queries"],
        "build_seconds": rep["build"]["seconds"],
        "inserts_per_sec": rep["build"]["inserts_per_sec"],
        "peak_rss_bytes": rep["memory"]["peak_rss_bytes"],
        "ru_maxrss_bytes": maxrss,
        "disk_bytes": rep["disk"]["total_bytes"],
        "sweep": [
            {"ef_search": r["ef_search"], "recall": r["recall"], "qps": r["qps"], "latency": r["latency"],
             "pages_read_per_query": r["pages_read_per_query"],
             "device_read_bytes_per_query": r.get("device_read_bytes_per_query"),
             "cold": r.get("cold", args.cold)}
            for r in rep["sweep"]
        ],
    }


def run_peer(args, lib, data, python):
    cmd = [python, os.path.abspath(__file__), "--worker", lib, "--data", data, "--truth", args.truth,
           "--metric", args.metric, "--k", str(args.k), "--ef-search", args.ef_search, "--M", str(args.M),
           "--efc", str(args.efc)]
    if args.cold:
        cmd.append("--cold")
    suffix = "" if args.metric == "l2" else f"-{args.metric}"
    if args.reuse_peers:
        # diskann: the index directory itself; the others: one saved index file.
        cache = (os.path.join(HERE, "out", f"diskann-{os.path.basename(data)}{suffix}", "peer-cache") if lib == "diskann"
                 else os.path.join(HERE, "out", f"{lib}-{os.path.basename(data)}{suffix}-M{args.M}-efc{args.efc}.index"))
        cmd += ["--peer-cache", cache]
    if lib == "diskann":
        cmd += ["--diskann-dir", os.path.join(HERE, "out", f"diskann-{os.path.basename(data)}{suffix}"),
                "--diskann-pq-bytes", str(args.diskann_pq_bytes),
                "--diskann-beam-width", str(args.diskann_beam_width),
                "--diskann-build-threads", str(args.diskann_build_threads),
                "--diskann-cache-nodes", str(args.diskann_cache_nodes)]
    text, maxrss = run_measured(cmd)
    res = json.loads(text.strip().splitlines()[-1])
    res["ru_maxrss_bytes"] = maxrss
    return res


def io_cells(r, row):
    """(device KiB read per query, reads per query) of one sweep row, as table cells."""
    dev = row.get("device_read_bytes_per_query")
    ios = row.get("ios_per_query", row.get("pages_read_per_query"))
    return (f"{dev / 1024:.1f}" if dev is not None else "-"), (f"{ios:.1f}" if ios is not None else "-")


def print_table(results, k):
    mb = lambda b: (b or 0) / 1e6
    by_lib = {r["library"]: r for r in results}
    hn = by_lib.get("hnswlib")
    w = max(8, max(len(r["library"]) for r in results))
    header = (f"{'library':<{w}} {'ef':>4} {'build_s':>8} {'ins/s':>8} {'recall@' + str(k):>9} {'QPS':>8} "
              f"{'p99_ms':>7} {'devKB/q':>7} {'IO/q':>6} {'peakRSS_MB':>10} {'QPS/hnsw':>8} {'ins/hnsw':>8} "
              f"{'RSS/hnsw':>8}")
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
            dev, ios = io_cells(r, row)
            print(f"{r['library']:<{w}} {row['ef_search']:>4} {r['build_seconds']:>8.1f} {r['inserts_per_sec']:>8.0f} "
                  f"{row['recall']:>9.4f} {row['qps']:>8.0f} {row['latency']['p99_us'] / 1000:>7.3f} "
                  f"{dev:>7} {ios:>6} {mb(rss):>10.1f} {ratios[0]:>8} {ratios[1]:>8} {ratios[2]:>8}")
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
    print("  * devKB/q: KiB this process read from the storage device per query (/proc/self/io read_bytes;")
    print("    0 while everything is in the OS page cache). IO/q: lsm-vec's vector pages read from its file per")
    print("    query (misses of its own page cache, which the OS cache may still serve); DiskANN's 4 KiB node")
    print("    reads per query (its reads are O_DIRECT, so they always reach the device, warm or cold).")
    dk = next((r for r in results if r["library"] == "diskann"), None)
    if dk:
        print(f"  * diskann: disk index, R={dk.get('graph_degree')} (2*M), build L={dk.get('build_complexity')}, "
              f"search L=ef_search, beam_width={dk.get('beam_width')}, {dk.get('num_nodes_to_cache')} nodes cached;")
        print(f"    PQ codes in RAM {dk.get('pq_bytes_per_vector', 0):.0f} B/vector (search_memory_maximum "
              f"{dk.get('search_memory_gb', 0):.4f} GB), full vectors on disk (pq_disk_bytes=0);")
        print(f"    metric {dk.get('index_metric')}; index {mb(dk.get('disk_bytes')):.1f} MB on disk.")


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
                    help="comma list of lsm-vec, hnswlib, faiss, faiss-sq8, diskann (diskann: own venv "
                         "bench/.venv-diskann, created on first use)")
    ap.add_argument("--metric", choices=("l2", "cosine"), default="l2",
                    help="distance: l2, or cosine (exact cosine ground truth computed here once; hnswlib "
                         "space 'cosine', faiss inner product over unit vectors, DiskANN L2 over unit vectors, "
                         "lsm-vec --metric cosine)")
    ap.add_argument("--truth", help="ground-truth .ivecs (default: DATA/groundtruth.ivecs for l2, "
                                    "DATA/groundtruth-cosine.ivecs, computed if absent, for cosine)")
    ap.add_argument("--cold", action="store_true",
                    help="drop the OS page cache (sync; echo 3 > /proc/sys/vm/drop_caches, root only) before "
                         "each library's query pass; lsm-vec runs `bench --cold`")
    ap.add_argument("--diskann-pq-bytes", type=int, default=0,
                    help="DiskANN in-memory PQ code bytes per vector (default 0 = dim, the size of lsm-vec's "
                         "SQ8 codes); sets build_disk_index's search_memory_maximum")
    ap.add_argument("--diskann-beam-width", type=int, default=4,
                    help="DiskANN beam width W: node reads issued together per search step (default 4)")
    ap.add_argument("--diskann-cache-nodes", type=int, default=0,
                    help="DiskANN nodes cached in RAM around the medoid (num_nodes_to_cache, default 0)")
    ap.add_argument("--diskann-build-threads", type=int, default=1,
                    help="threads of DiskANN's build (default 1, like every other build here; more only to prepare "
                         "a saved index for search-only runs with --reuse-peers, whose build_s is then not comparable)")
    ap.add_argument("--diskann-dir", help=argparse.SUPPRESS)
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=FLAGS: an lsm-vec configuration (extra `lsm-vec bench` flags, tuning knobs only); "
                         "the first builds the index, the others search it (--reuse). Default: one, 'default='")
    ap.add_argument("--pin", type=int, default=1, help="core to pin every library process to (-1: no pinning)")
    ap.add_argument("--plot", help="write a recall@k vs QPS plot (PNG) of every run here")
    ap.add_argument("--data", help="use this dataset directory (base.fvecs, query.fvecs, groundtruth.ivecs)")
    ap.add_argument("--lsm-vec-bin", help="lsm-vec executable (default: cargo build --release)")
    ap.add_argument("--lsm-vec-args", default="",
                    help="extra flags for `lsm-vec bench`, e.g. \"--paged-cache-pages 20000\"")
    ap.add_argument("--out", help="JSON results file (default bench/out/peers-<dataset>[-cosine][-cold].json)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--peer-cache", help=argparse.SUPPRESS)
    ap.add_argument("--reuse-peers", action="store_true",
                    help="save each peer's index under bench/out the first time and load it in later runs with "
                         "the same dataset and parameters (build_s is then that of the saved build; peak RSS is "
                         "that of a loaded index, like lsm-vec with --lsm-vec-args=--reuse)")
    args = ap.parse_args()

    if args.worker:
        worker(args)
        return
    ensure_venv()
    PIN[0] = args.pin
    if args.quick:
        args.n, args.queries = 10_000, 200
    libs = [x.strip() for x in args.libs.split(",") if x.strip()]
    for lib in libs:
        if lib != "lsm-vec" and lib not in PEERS:
            raise SystemExit(f"unknown library {lib} (expected lsm-vec, {', '.join(PEERS)})")
    if args.cold and os.geteuid() != 0:
        raise SystemExit("--cold drops the OS page cache through /proc/sys/vm/drop_caches, which needs root "
                         f"(this is uid {os.geteuid()})")
    python = {lib: sys.executable for lib in PEERS}
    if "diskann" in libs:
        python["diskann"] = ensure_diskann_venv()
    data = ensure_dataset(args)
    if not args.truth:
        args.truth = (cosine_ground_truth(data) if args.metric == "cosine"
                      else os.path.join(data, "groundtruth.ivecs"))
    args.truth = os.path.abspath(args.truth)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
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
        else:
            results.append(run_peer(args, lib, data, python[lib]))
        log(f"  {lib} done in {time.time() - t:.1f} s")
    print(f"dataset: {data} (n={results[0]['n']}, dim={results[0]['dim']}, queries={results[0]['queries']}, "
          f"{args.metric}, truth {os.path.basename(args.truth)}){' cold: OS page cache dropped before each pass' if args.cold else ''}")
    print()
    print_table(results, args.k)
    load_end = os.getloadavg()
    print(f"  * machine: {os.cpu_count()} cores; load average {load_start[0]:.2f} at the start, "
          f"{load_end[0]:.2f} at the end (other processes running at the same time skew the numbers).")
    tag = ("" if args.metric == "l2" else f"-{args.metric}") + ("-cold" if args.cold else "")
    out = args.out or os.path.join(HERE, "out", f"peers-{os.path.basename(data)}{tag}.json")
    with open(out, "w") as f:
        json.dump({"dataset": data, "metric": args.metric, "truth": args.truth, "cold": args.cold,
                   "k": args.k, "M": args.M, "ef_construction": args.efc,
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
    ax.set_title(f"{os.path.basename(data)}: n={n}, dim={results[0]['dim']}, {args.metric}, M={args.M}, efc={args.efc}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
