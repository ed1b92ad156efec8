//! `lsm-vec bench` (the seed's test binary grown up) and `lsm-vec gen-data`.
//!
//! bench: load queries, get the exact ground truth (from a file, or by brute force), build the
//! index with `insert_batch` on `--build-threads` threads, [`BUILD_CHUNK`] vectors per call (the
//! base set is streamed in chunks, so the peak RSS is the index's, not the dataset's, and the
//! progress line moves between calls), then run the queries one at a time on one thread
//! for each ef_search value, measuring every query with `Instant`, and the engine's counters
//! (pages read, distance computations) as deltas of `stats()`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsm_vec::{DistanceMetric, LsmVecDb};
use serde::Serialize;

use crate::data::synthetic::{Generator, KnnAccumulator, CHUNK_ROWS};
use crate::data::{self, Matrix, Truth, VecReader};
use crate::error::{Context, Result};
use crate::measure::pass::{per, search_pass, SweepRow};
use crate::measure::report;
use crate::{bail, BenchArgs};

/// Vectors per `insert_batch` call of a build (bench and load): large enough for the engine's
/// parallel groups of 256, small enough for the progress line to move.
pub const BUILD_CHUNK: usize = 10_000;

/// The thread count `threads` means (0 = one per available core, like the engine).
pub fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

/// Where the base vectors come from.
enum Source {
    Synthetic { generator: Generator, n: usize },
    File { base: PathBuf, query: PathBuf, truth: Option<PathBuf> },
}

/// Streams base vectors in chunks, from the generator or a file.
enum BaseStream {
    Synthetic { generator: Generator, n: usize, next: usize },
    File(VecReader),
}

impl BaseStream {
    fn open(source: &Source) -> Result<BaseStream> {
        Ok(match source {
            Source::Synthetic { generator, n } => {
                BaseStream::Synthetic { generator: generator.clone(), n: *n, next: 0 }
            }
            Source::File { base, .. } => BaseStream::File(VecReader::open(base)?),
        })
    }

    fn len(&self) -> usize {
        match self {
            BaseStream::Synthetic { n, .. } => *n,
            BaseStream::File(r) => r.len(),
        }
    }

    fn dim(&self) -> usize {
        match self {
            BaseStream::Synthetic { generator, .. } => generator.dim(),
            BaseStream::File(r) => r.dim(),
        }
    }

    /// Next chunk of up to `max` rows: ids (row numbers) and values. Empty at the end.
    fn next_chunk(&mut self, max: usize, ids: &mut Vec<u64>, rows: &mut Vec<f32>) -> Result<()> {
        ids.clear();
        match self {
            BaseStream::Synthetic { generator, n, next } => {
                let end = (*next + max).min(*n);
                ids.extend(*next as u64..end as u64);
                *next = end;
                generator.base_chunk(ids, rows);
            }
            BaseStream::File(r) => {
                let d = r.dim();
                rows.clear();
                rows.resize(max * d, 0.0);
                let mut got = 0;
                while got < max && r.read_row(&mut rows[got * d..(got + 1) * d])? {
                    got += 1;
                }
                rows.truncate(got * d);
                let start = r.position() - got;
                ids.extend((start..start + got).map(|i| i as u64));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct DatasetInfo {
    source: &'static str,
    base: Option<PathBuf>,
    query: Option<PathBuf>,
    truth: Option<PathBuf>,
    n: usize,
    dim: usize,
    queries: usize,
    metric: String,
    seed: Option<u64>,
    clusters: Option<usize>,
    ground_truth: &'static str,
    ground_truth_seconds: f64,
}

#[derive(Debug, Serialize)]
struct IndexInfo {
    db: PathBuf,
    vector_file: PathBuf,
    m: usize,
    m_max: usize,
    ef_construction: f32,
    vector_storage_type: u8,
    paged_max_cached_pages: usize,
    edge_cache_size: usize,
    enable_batch_read: bool,
    sync_writes: bool,
    k: usize,
}

#[derive(Debug, Serialize)]
struct BuildInfo {
    reused: bool,
    inserts: usize,
    /// Threads of the `insert_batch` calls (`--build-threads`, 0 resolved to the core count).
    build_threads: usize,
    /// Vectors per `insert_batch` call.
    batch_size: usize,
    /// Time spent inside insert calls (data generation / reading excluded).
    seconds: f64,
    inserts_per_sec: f64,
    /// Wall time of the build phase including reading or generating the data.
    wall_seconds: f64,
    flush_seconds: f64,
    insert_latency_p50_us: f64,
    insert_latency_p95_us: f64,
    insert_latency_p99_us: f64,
    distance_computations_per_insert: f64,
}

#[derive(Debug, Serialize)]
struct MemoryInfo {
    peak_rss_bytes: Option<u64>,
    peak_rss_mib: Option<f64>,
    rss_after_build_bytes: Option<u64>,
    rss_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
struct DiskInfo {
    total_bytes: u64,
    vector_file_bytes: u64,
    lsm_disk_bytes: u64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    tool: &'static str,
    version: &'static str,
    dataset: DatasetInfo,
    index: IndexInfo,
    build: BuildInfo,
    sweep: Vec<SweepRow>,
    memory: MemoryInfo,
    disk: DiskInfo,
    count: u64,
    max_level: usize,
    upper_layer_nodes: u64,
}

/// Runs `lsm-vec bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let quiet = args.json;
    let show = report::progress_enabled(args.json);
    let metric = args.metric;
    if args.k == 0 {
        bail!("--k must be >= 1");
    }
    if args.ef_search.is_empty() {
        bail!("--ef-search needs at least one value");
    }

    // 1. Data source.
    let source = if let Some(dir) = &args.data_dir {
        Source::File {
            base: dir.join("input.fvecs"),
            query: dir.join("query.fvecs"),
            truth: Some(dir.join("groundtruth.ivecs")),
        }
    } else if let (Some(b), Some(q)) = (&args.base, &args.query) {
        Source::File { base: b.clone(), query: q.clone(), truth: args.truth.clone() }
    } else {
        if args.n == 0 || args.dim == 0 {
            bail!("--n and --dim must be > 0");
        }
        if args.n > u32::MAX as usize {
            bail!("--n must be < 2^32");
        }
        Source::Synthetic { generator: Generator::new(args.dim, args.clusters, args.seed), n: args.n }
    };

    // 2. Queries.
    let mut queries = match &source {
        Source::Synthetic { generator, .. } => generator.queries(args.queries.unwrap_or(1000)),
        Source::File { query, .. } => data::read_matrix(query)?,
    };
    if let Some(limit) = args.queries {
        if limit < queries.n {
            queries.data.truncate(limit * queries.dim);
            queries.n = limit;
        }
    }
    if queries.n == 0 {
        bail!("no queries");
    }
    let probe = BaseStream::open(&source)?;
    let (n, dim) = (probe.len(), probe.dim());
    drop(probe);
    if n == 0 {
        bail!("the base set is empty");
    }
    if queries.dim != dim {
        bail!("queries have dimension {} but the base vectors have {dim}", queries.dim);
    }
    report::note(quiet, &format!("dataset: {} base vectors, {} queries, dim {dim}, metric {metric}", n, queries.n));

    // 3. Ground truth.
    let t = Instant::now();
    let (truth, gt_kind) = ground_truth(&source, &queries, args.k, metric, show)?;
    let gt_secs = t.elapsed().as_secs_f64();
    if truth.n < queries.n {
        bail!("the ground truth has {} rows but there are {} queries", truth.n, queries.n);
    }
    if truth.k < args.k {
        bail!("the ground truth has {} neighbours per query, fewer than --k {}", truth.k, args.k);
    }
    report::note(quiet, &format!("ground truth: {gt_kind} ({gt_secs:.2} s)"));

    // 4. Open the database.
    let db_dir = args.index.db.clone().unwrap_or_else(|| PathBuf::from("run/bench-db"));
    let mut opts = args.index.db_options(dim, metric, n)?;
    opts.reinit = !args.reuse;
    opts.k = args.k;
    opts.ef_search = args.ef_search[0].max(args.k);
    if !args.reuse {
        std::fs::create_dir_all(&db_dir).context(|| format!("cannot create {}", db_dir.display()))?;
    }
    let mut db = LsmVecDb::open(&db_dir, opts.clone())?;

    // 5. Build.
    let existing = db.len()?;
    let build = if args.reuse && existing > 0 {
        if existing != n {
            bail!(
                "--reuse: the database at {} holds {existing} vectors but the dataset has {n}; \
                 run without --reuse to rebuild",
                db_dir.display()
            );
        }
        report::note(quiet, &format!("build: reusing {} ({existing} vectors)", db_dir.display()));
        BuildInfo {
            reused: true,
            inserts: 0,
            build_threads: 0,
            batch_size: 0,
            seconds: 0.0,
            inserts_per_sec: 0.0,
            wall_seconds: 0.0,
            flush_seconds: 0.0,
            insert_latency_p50_us: 0.0,
            insert_latency_p95_us: 0.0,
            insert_latency_p99_us: 0.0,
            distance_computations_per_insert: 0.0,
        }
    } else {
        let threads = args.build_threads.unwrap_or(0);
        let line = report::progress_line_enabled(args.progress, quiet, n);
        build_index(&db, &source, n, threads, line, quiet)?
    };
    let rss_after_build = report::rss_bytes();

    // 6. The ef_search sweep.
    let mut sweep = Vec::new();
    for &ef in &args.ef_search {
        if args.cold {
            // Cold: a fresh handle (empty page cache; open reads and verifies the vector file)
            // and then an empty OS page cache, so every page the pass needs comes from the device.
            db.close()?;
            let mut o = opts.clone();
            o.reinit = false;
            db = LsmVecDb::open(&db_dir, o)?;
            report::drop_os_caches()?;
        }
        let mut row = search_pass(&db, &queries, &truth, args.k, ef, show)?;
        row.cold = args.cold;
        report::note(quiet, &format!("search ef={ef}: recall@{} {:.4}, {:.0} QPS", args.k, row.recall, row.qps));
        sweep.push(row);
    }

    // 7. Final numbers.
    let stats = db.stats()?;
    let options = db.options()?;
    let vector_file = if options.vector_file_path.as_os_str().is_empty() {
        db_dir.join("vectors.bin")
    } else {
        options.vector_file_path.clone()
    };
    let disk = DiskInfo {
        total_bytes: report::db_disk_usage(&db_dir, &vector_file),
        vector_file_bytes: stats.vector_file_bytes,
        lsm_disk_bytes: stats.lsm_disk_bytes,
    };
    db.close()?;
    let peak = report::peak_rss_bytes();
    let report = BenchReport {
        tool: "lsm-vec bench",
        version: env!("CARGO_PKG_VERSION"),
        dataset: DatasetInfo {
            source: match source {
                Source::Synthetic { .. } => "synthetic",
                Source::File { .. } => "files",
            },
            base: match &source {
                Source::File { base, .. } => Some(base.clone()),
                _ => None,
            },
            query: match &source {
                Source::File { query, .. } => Some(query.clone()),
                _ => None,
            },
            truth: match &source {
                Source::File { truth, .. } => truth.clone(),
                _ => None,
            },
            n,
            dim,
            queries: queries.n,
            metric: metric.to_string(),
            seed: matches!(source, Source::Synthetic { .. }).then_some(args.seed),
            clusters: matches!(source, Source::Synthetic { .. }).then_some(args.clusters),
            ground_truth: gt_kind,
            ground_truth_seconds: gt_secs,
        },
        index: IndexInfo {
            db: db_dir.clone(),
            vector_file,
            m: options.m,
            m_max: options.m_max,
            ef_construction: options.ef_construction,
            vector_storage_type: options.vector_storage_type.code(),
            paged_max_cached_pages: options.paged_max_cached_pages,
            edge_cache_size: options.edge_cache_size,
            enable_batch_read: options.enable_batch_read,
            sync_writes: options.sync_writes,
            k: args.k,
        },
        build,
        sweep,
        memory: MemoryInfo {
            peak_rss_bytes: peak,
            peak_rss_mib: peak.map(report::mib),
            rss_after_build_bytes: rss_after_build,
            rss_bytes: report::rss_bytes(),
        },
        disk,
        count: stats.count,
        max_level: stats.max_level,
        upper_layer_nodes: stats.upper_layer_nodes,
    };

    if let Some(out) = &args.out {
        report::write_json_file(out, &report)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn ground_truth(
    source: &Source,
    queries: &Matrix,
    k: usize,
    metric: DistanceMetric,
    show: bool,
) -> Result<(Truth, &'static str)> {
    let from_lists = |lists: Vec<Vec<(u64, f32)>>| -> Truth {
        let mut ids = Vec::with_capacity(lists.len() * k);
        let mut dists = Vec::with_capacity(lists.len() * k);
        for l in &lists {
            for j in 0..k {
                let (id, d) = l.get(j).copied().unwrap_or((u32::MAX as u64, f32::INFINITY));
                ids.push(id as u32);
                dists.push(d);
            }
        }
        Truth { n: lists.len(), k, ids, dists: Some(dists) }
    };
    match source {
        Source::File { truth: Some(t), .. } => Ok((data::read_truth(t)?, "file")),
        _ => {
            let mut stream = BaseStream::open(source)?;
            let n = stream.len();
            if n > u32::MAX as usize {
                bail!("more than 2^32 base vectors");
            }
            let pb = report::progress(show, n as u64, "ground truth");
            let mut acc = KnnAccumulator::new(&queries.data, queries.dim, k, metric);
            let (mut ids, mut rows) = (Vec::new(), Vec::new());
            loop {
                stream.next_chunk(CHUNK_ROWS, &mut ids, &mut rows)?;
                if ids.is_empty() {
                    break;
                }
                acc.add_chunk(&ids, &rows);
                pb.inc(ids.len() as u64);
            }
            pb.finish_and_clear();
            Ok((from_lists(acc.finish()), "brute force"))
        }
    }
}

fn build_index(db: &LsmVecDb, source: &Source, n: usize, threads: usize, show: bool, quiet: bool) -> Result<BuildInfo> {
    let mut stream = BaseStream::open(source)?;
    let threads = resolve_threads(threads);
    let mut line = report::ProgressLine::new(show, "build", n);
    let before = db.stats()?;
    let wall = Instant::now();
    let mut in_insert = Duration::ZERO;
    let (mut ids, mut rows) = (Vec::new(), Vec::new());
    let mut inserted = 0usize;
    loop {
        stream.next_chunk(BUILD_CHUNK, &mut ids, &mut rows)?;
        let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
            break;
        };
        let t = Instant::now();
        db.insert_batch(&ids, &rows, threads)
            .map_err(|e| batch_error(&e, inserted, n, &format!("insert_batch of ids {first}..={last}")))?;
        in_insert += t.elapsed();
        inserted += ids.len();
        line.set(inserted);
    }
    line.finish();
    let t = Instant::now();
    db.flush()?;
    let flush_secs = t.elapsed().as_secs_f64();
    let wall_secs = wall.elapsed().as_secs_f64();
    let after = db.stats()?;
    let secs = in_insert.as_secs_f64();
    let info = BuildInfo {
        reused: false,
        inserts: inserted,
        build_threads: threads,
        batch_size: BUILD_CHUNK,
        seconds: secs,
        inserts_per_sec: report::rate(inserted, secs),
        wall_seconds: wall_secs,
        flush_seconds: flush_secs,
        insert_latency_p50_us: after.insert_latency.p50_us,
        insert_latency_p95_us: after.insert_latency.p95_us,
        insert_latency_p99_us: after.insert_latency.p99_us,
        distance_computations_per_insert: per(
            after.distance_computations.saturating_sub(before.distance_computations),
            inserted,
        ),
    };
    report::note(
        quiet,
        &format!(
            "build: {inserted} inserts in {secs:.2} s ({:.0} inserts/s) on {threads} threads, \
             flush {flush_secs:.2} s",
            info.inserts_per_sec
        ),
    );
    Ok(info)
}

/// The error of a failed `insert_batch` during a load of `total` vectors of which `before` were
/// committed by earlier calls: says how many are in the database now (a
/// [`lsm_vec::Error::BatchIncomplete`] committed a prefix of its own batch).
pub fn batch_error(e: &lsm_vec::Error, before: usize, total: usize, what: &str) -> crate::error::CliError {
    let committed = match e {
        lsm_vec::Error::BatchIncomplete { committed, .. } => before + committed,
        _ => before,
    };
    crate::error::CliError(format!("{what}: {e}; the first {committed} of the {total} vectors are in the database"))
}

fn print_table(r: &BenchReport) {
    let d = &r.dataset;
    println!("lsm-vec bench {}", r.version);
    match d.source {
        "synthetic" => println!(
            "dataset      synthetic: n={} dim={} queries={} metric={} clusters={} seed={}",
            d.n,
            d.dim,
            d.queries,
            d.metric,
            d.clusters.unwrap_or(0),
            d.seed.unwrap_or(0)
        ),
        _ => println!(
            "dataset      {}: n={} dim={} queries={} metric={}",
            d.base.as_deref().map(Path::display).map(|x| x.to_string()).unwrap_or_default(),
            d.n,
            d.dim,
            d.queries,
            d.metric
        ),
    }
    println!("ground truth {} ({:.2} s)", d.ground_truth, d.ground_truth_seconds);
    let i = &r.index;
    println!(
        "index        M={} Mmax={} efc={} storage={} cache={} pages edge-cache={} db={}",
        i.m,
        i.m_max,
        i.ef_construction,
        if i.vector_storage_type == 0 { "basic" } else { "paged" },
        i.paged_max_cached_pages,
        i.edge_cache_size,
        i.db.display()
    );
    let b = &r.build;
    if b.reused {
        println!("build        reused the existing database ({} vectors)", r.count);
    } else {
        // Batches record no per-insert latency (a group of 256 commits at once).
        let latency = if b.insert_latency_p99_us > 0.0 {
            format!(
                "insert p50/p95/p99 {:.0}/{:.0}/{:.0} us; ",
                b.insert_latency_p50_us, b.insert_latency_p95_us, b.insert_latency_p99_us
            )
        } else {
            String::new()
        };
        println!(
            "build        {} inserts in {:.2} s = {:.0} inserts/s on {} threads (insert_batch of {}; \
             wall {:.2} s, flush {:.2} s); {latency}{:.0} distances/insert",
            b.inserts,
            b.seconds,
            b.inserts_per_sec,
            b.build_threads,
            b.batch_size,
            b.wall_seconds,
            b.flush_seconds,
            b.distance_computations_per_insert
        );
    }
    println!();
    println!(
        "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "ef_search",
        format!("recall@{}", i.k),
        "QPS",
        "mean_us",
        "p50_us",
        "p95_us",
        "p99_us",
        "pages/q",
        "dist/q",
        "lsm_get/q",
        "devKB/q"
    );
    for s in &r.sweep {
        println!(
            "{:>9} {:>9.4} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.2} {:>9.1} {:>9.2} {:>9.1}",
            s.ef_search,
            s.recall,
            s.qps,
            s.latency.mean_us,
            s.latency.p50_us,
            s.latency.p95_us,
            s.latency.p99_us,
            s.pages_read_per_query,
            s.distance_computations_per_query,
            s.lsm_gets_per_query,
            s.device_read_bytes_per_query / 1024.0
        );
    }
    println!();
    println!(
        "memory       peak RSS {:.1} MiB (VmHWM), RSS after build {:.1} MiB",
        r.memory.peak_rss_bytes.map(report::mib).unwrap_or(0.0),
        r.memory.rss_after_build_bytes.map(report::mib).unwrap_or(0.0)
    );
    println!(
        "disk         {:.1} MiB total (vector file {:.1} MiB, lsm {:.1} MiB)",
        report::mib(r.disk.total_bytes),
        report::mib(r.disk.vector_file_bytes),
        report::mib(r.disk.lsm_disk_bytes)
    );
    println!("graph        {} vectors, max level {}, {} upper-layer nodes", r.count, r.max_level, r.upper_layer_nodes);
}
