//! Streaming traces (DESIGN.md §9): `lsm-vec gen-trace` writes one, `lsm-vec replay` plays it
//! against a database.
//!
//! Trace directory:
//! ```text
//! manifest.json                 what is in the trace and how it was generated
//! base.fbin   base.ids.u32      the initial set and its ids
//! pool.fbin   pool.ids.u32      vectors inserted by later epochs (ids continue after base)
//! query.fbin                    the queries of every query pass
//! epoch_NNN.ins.u32             ids (from the pool) inserted in epoch NNN (001..)
//! epoch_NNN.del.u32             ids deleted in epoch NNN (missing file = no deletes)
//! gt/epoch_NNN.gt100            u32 nq, u32 K, u32 ids[nq*K], f32 squared L2 [nq*K]
//! ```
//! An epoch is: deletes, then inserts, then the query pass. Epoch 000 is the base set alone.
//! Ground truth is computed by brute force over the live set after the epoch's updates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lsm_vec::{DistanceMetric, LsmVecDb};
use serde::Serialize;

use crate::data::synthetic::{ground_truth_synthetic, Generator, Rng};
use crate::data::{self, RowFile, Truth, VecReader, VecWriter};
use crate::error::{CliError, Context, Result};
use crate::measure::pass::search_pass;
use crate::measure::report::{self, JsonLines};
use crate::{bail, GenTraceArgs, ReplayArgs};

/// Format name and version written to `manifest.json`.
pub const TRACE_FORMAT: &str = "lsm-vec-trace";
/// Current trace manifest version.
pub const TRACE_VERSION: u32 = 1;

fn epoch_name(e: usize) -> String {
    format!("epoch_{e:03}")
}

fn gt_path(dir: &Path, e: usize) -> PathBuf {
    dir.join("gt").join(format!("{}.gt100", epoch_name(e)))
}

#[derive(Debug, Serialize, serde::Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    dim: usize,
    metric: String,
    base_count: usize,
    pool_count: usize,
    query_count: usize,
    epochs: usize,
    inserts_per_epoch: usize,
    deletes_per_epoch: usize,
    gt_k: usize,
    gt_epochs: Vec<usize>,
    files: serde_json::Value,
    generator: serde_json::Value,
}

fn write_vectors(path: &Path, g: &Generator, ids: &[u64], pb: &indicatif::ProgressBar) -> Result<()> {
    let mut w = VecWriter::create(path, g.dim())?;
    let mut buf = Vec::new();
    for chunk in ids.chunks(crate::data::synthetic::CHUNK_ROWS) {
        g.base_chunk(chunk, &mut buf);
        for row in buf.chunks_exact(g.dim()) {
            w.write_row(row)?;
        }
        pb.inc(chunk.len() as u64);
    }
    w.finish()
}

/// Runs `lsm-vec gen-trace`.
pub fn gen_trace(a: &GenTraceArgs) -> Result<()> {
    if a.n == 0 || a.dim == 0 || a.queries == 0 || a.gt_k == 0 {
        bail!("--n, --dim, --queries and --gt-k must be > 0");
    }
    if a.epochs > 999 {
        bail!("--epochs must be <= 999 (epoch files are numbered with three digits)");
    }
    if a.gt_every == 0 {
        bail!("--gt-every must be >= 1");
    }
    if !(0.0..=1.0).contains(&a.insert_frac) || !(0.0..=1.0).contains(&a.delete_frac) {
        bail!("--insert-frac and --delete-frac must be between 0 and 1");
    }
    let ins = (a.n as f64 * a.insert_frac).round() as usize;
    let del = (a.n as f64 * a.delete_frac).round() as usize;
    let pool = ins * a.epochs;
    if (a.n + pool) as u64 > u32::MAX as u64 {
        bail!("base + pool = {} vectors exceed the u32 id space", a.n + pool);
    }
    let show = report::progress_enabled(false);
    let t0 = Instant::now();
    let out = &a.out;
    std::fs::create_dir_all(out.join("gt")).context(|| format!("cannot create {}", out.display()))?;
    let g = Generator::new(a.dim, a.clusters, a.seed);

    // Vectors: base ids 0..n, pool ids n..n+pool; vector of id i = the generator's base vector i.
    let base_ids: Vec<u64> = (0..a.n as u64).collect();
    let pool_ids: Vec<u64> = (a.n as u64..(a.n + pool) as u64).collect();
    let pb = report::progress(show, (a.n + pool) as u64, "vectors");
    write_vectors(&out.join("base.fbin"), &g, &base_ids, &pb)?;
    write_vectors(&out.join("pool.fbin"), &g, &pool_ids, &pb)?;
    pb.finish_and_clear();
    let as_u32 = |v: &[u64]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
    data::write_u32_list(out.join("base.ids.u32"), &as_u32(&base_ids))?;
    data::write_u32_list(out.join("pool.ids.u32"), &as_u32(&pool_ids))?;
    let queries = g.queries(a.queries);
    data::write_matrix(out.join("query.fbin"), &queries)?;

    // Epochs. `live` keeps a deterministic order so that the seed fixes the deletes.
    let mut live: Vec<u32> = as_u32(&base_ids);
    let mut rng = Rng::for_item(a.seed, 0x7EAC_E000, 0);
    let mut gt_epochs = Vec::new();
    let write_gt = |e: usize, live: &[u32]| -> Result<()> {
        let ids: Vec<u64> = live.iter().map(|&x| x as u64).collect();
        let pb = report::progress(show, ids.len() as u64, &format!("gt {}", epoch_name(e)));
        let lists = ground_truth_synthetic(&g, &ids, &queries.data, a.gt_k, DistanceMetric::L2, |c| pb.inc(c as u64));
        pb.finish_and_clear();
        let mut t = Truth {
            n: lists.len(),
            k: a.gt_k,
            ids: Vec::with_capacity(lists.len() * a.gt_k),
            dists: Some(Vec::with_capacity(lists.len() * a.gt_k)),
        };
        for l in &lists {
            for j in 0..a.gt_k {
                // Fewer live vectors than K: pad with id u32::MAX at infinite distance.
                let (id, d) = l.get(j).copied().unwrap_or((u32::MAX as u64, f32::INFINITY));
                t.ids.push(id as u32);
                if let Some(ds) = t.dists.as_mut() {
                    ds.push(d);
                }
            }
        }
        data::write_gt(gt_path(out, e), &t)
    };
    write_gt(0, &live)?;
    gt_epochs.push(0);
    let mut next_pool = 0usize;
    for e in 1..=a.epochs {
        let mut dels = Vec::with_capacity(del);
        for _ in 0..del.min(live.len()) {
            let i = rng.below(live.len() as u64) as usize;
            dels.push(live.swap_remove(i));
        }
        let inss: Vec<u32> = pool_ids[next_pool..next_pool + ins].iter().map(|&x| x as u32).collect();
        next_pool += ins;
        live.extend_from_slice(&inss);
        data::write_u32_list(out.join(format!("{}.del.u32", epoch_name(e))), &dels)?;
        data::write_u32_list(out.join(format!("{}.ins.u32", epoch_name(e))), &inss)?;
        if e % a.gt_every == 0 || e == a.epochs {
            write_gt(e, &live)?;
            gt_epochs.push(e);
        }
    }

    let manifest = Manifest {
        format: TRACE_FORMAT.into(),
        version: TRACE_VERSION,
        dim: a.dim,
        metric: "l2".into(),
        base_count: a.n,
        pool_count: pool,
        query_count: a.queries,
        epochs: a.epochs,
        inserts_per_epoch: ins,
        deletes_per_epoch: del,
        gt_k: a.gt_k,
        gt_epochs: gt_epochs.clone(),
        files: serde_json::json!({
            "base": "base.fbin", "base_ids": "base.ids.u32",
            "pool": "pool.fbin", "pool_ids": "pool.ids.u32",
            "query": "query.fbin",
            "inserts": "epoch_NNN.ins.u32", "deletes": "epoch_NNN.del.u32",
            "ground_truth": "gt/epoch_NNN.gt100",
            "ground_truth_layout": "u32 nq, u32 K, u32 ids[nq*K], f32 squared L2 distances[nq*K], little-endian",
            "epoch_order": "deletes, then inserts, then the query pass; epoch 000 = base set only",
        }),
        generator: serde_json::json!({
            "tool": "lsm-vec gen-trace", "version": env!("CARGO_PKG_VERSION"),
            "dataset": "clustered synthetic (Gaussian clusters with 12-dim subspaces + noise)",
            "seed": a.seed, "clusters": a.clusters,
            "insert_frac": a.insert_frac, "delete_frac": a.delete_frac,
            "gt_every": a.gt_every,
            "deletes": "uniformly random among the ids live before the epoch",
        }),
    };
    report::write_json_file(&out.join("manifest.json"), &manifest)?;
    eprintln!(
        "wrote trace {}: {} base + {} pool vectors (dim {}), {} queries, {} epochs of +{ins}/-{del}, \
         ground truth at epochs {:?} ({:.1} s)",
        out.display(),
        a.n,
        pool,
        a.dim,
        a.queries,
        a.epochs,
        gt_epochs,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One JSON line of `replay`.
#[derive(Debug, Serialize)]
struct EpochLine {
    epoch: usize,
    live: usize,
    inserts: usize,
    deletes: usize,
    insert_per_s: f64,
    delete_per_s: f64,
    k: usize,
    ef_search: usize,
    recall_at_k: Option<f64>,
    query_mean_us: f64,
    query_p50_us: f64,
    query_p95_us: f64,
    query_p99_us: f64,
    qps: f64,
    pages_read_per_query: f64,
    distance_computations_per_query: f64,
    rss_bytes: Option<u64>,
    peak_rss_bytes: Option<u64>,
    disk_bytes: u64,
    elapsed_s: f64,
}

fn count_epochs(dir: &Path) -> Result<usize> {
    let mut max = 0;
    let rd = std::fs::read_dir(dir).context(|| format!("cannot list {}", dir.display()))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("epoch_") {
            if let Some(num) = rest.strip_suffix(".ins.u32").or_else(|| rest.strip_suffix(".del.u32")) {
                if let Ok(n) = num.parse::<usize>() {
                    max = max.max(n);
                }
            }
        }
    }
    Ok(max)
}

/// Reads `<name>.ids.u32` of a trace and checks it has one id per vector of `<name>.fbin`.
fn read_ids_for(dir: &Path, name: &str, vectors: usize) -> Result<Vec<u32>> {
    let path = dir.join(format!("{name}.ids.u32"));
    let ids = data::read_u32_list(&path)?;
    if ids.len() != vectors {
        bail!("{}: {} ids for {} {name} vectors", path.display(), ids.len(), vectors);
    }
    Ok(ids)
}

fn read_ids_if_exists(path: &Path) -> Result<Vec<u32>> {
    if path.exists() {
        data::read_u32_list(path)
    } else {
        Ok(Vec::new())
    }
}

/// Runs `lsm-vec replay`.
pub fn replay(a: &ReplayArgs) -> Result<()> {
    let dir = &a.trace;
    if !dir.is_dir() {
        bail!("{}: not a trace directory", dir.display());
    }
    let quiet = a.quiet;
    let show = !quiet && report::progress_enabled(false);
    let t_start = Instant::now();

    let manifest: Option<Manifest> = {
        let p = dir.join("manifest.json");
        if p.exists() {
            let s = std::fs::read_to_string(&p).context(|| format!("{}: cannot read", p.display()))?;
            Some(serde_json::from_str(&s).map_err(|e| CliError(format!("{}: {e}", p.display())))?)
        } else {
            None
        }
    };
    let metric = match &manifest {
        Some(m) => m.metric.parse::<DistanceMetric>()?,
        None => DistanceMetric::L2,
    };
    let mut base = VecReader::open(dir.join("base.fbin"))?;
    let base_ids = read_ids_for(dir, "base", base.len())?;
    let dim = base.dim();
    let pool_path = dir.join("pool.fbin");
    let (pool, pool_index) = if pool_path.exists() {
        let pool = RowFile::open(&pool_path)?;
        let ids = read_ids_for(dir, "pool", pool.len())?;
        if pool.dim() != dim && !pool.is_empty() {
            bail!("{}: dimension {} differs from base.fbin's {dim}", pool_path.display(), pool.dim());
        }
        let index: HashMap<u32, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        (Some(pool), index)
    } else {
        (None, HashMap::new())
    };
    let queries = data::read_matrix(dir.join("query.fbin"))?;
    if queries.dim != dim {
        bail!("query.fbin has dimension {} but base.fbin has {dim}", queries.dim);
    }
    if let Some(m) = &manifest {
        if m.dim != dim {
            bail!("manifest.json says dim {} but base.fbin has {dim}", m.dim);
        }
    }
    let mut epochs = match &manifest {
        Some(m) => m.epochs,
        None => count_epochs(dir)?,
    };
    if let Some(max) = a.max_epochs {
        epochs = epochs.min(max);
    }

    let db_dir = a.index.db.clone().unwrap_or_else(|| PathBuf::from("run/replay-db"));
    std::fs::create_dir_all(&db_dir).context(|| format!("cannot create {}", db_dir.display()))?;
    let mut opts = a.index.db_options(dim, metric, base.len() + pool.as_ref().map_or(0, |p| p.len()))?;
    opts.reinit = true;
    opts.k = a.k;
    opts.ef_search = a.ef_search.max(a.k);
    let db = LsmVecDb::open(&db_dir, opts)?;
    let vector_file = {
        let o = db.options()?;
        if o.vector_file_path.as_os_str().is_empty() {
            db_dir.join("vectors.bin")
        } else {
            o.vector_file_path
        }
    };
    let mut out = JsonLines::new(a.json_out.as_deref())?;
    report::note(
        quiet,
        &format!(
            "replay {}: {} base vectors, dim {dim}, {} queries, {epochs} epochs, db {}",
            dir.display(),
            base.len(),
            queries.n,
            db_dir.display()
        ),
    );

    // Epoch 0: the base set.
    let pb = report::progress(show, base.len() as u64, "base");
    let mut row = vec![0f32; dim];
    let mut in_insert = Duration::ZERO;
    let mut i = 0;
    while base.read_row(&mut row)? {
        let id = base_ids[i] as u64;
        let t = Instant::now();
        db.insert(id, &row).map_err(|e| CliError(format!("epoch 0: insert of id {id}: {e}")))?;
        in_insert += t.elapsed();
        i += 1;
        if i % 1024 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    let mut recalls = Vec::new();
    let line = epoch_pass(
        &db,
        a,
        dir,
        0,
        (i, in_insert),
        (0, Duration::ZERO),
        &queries,
        &db_dir,
        &vector_file,
        t_start,
        show,
    )?;
    if let Some(r) = line.recall_at_k {
        recalls.push((0, r));
    }
    out.emit(&line)?;

    for e in 1..=epochs {
        let name = epoch_name(e);
        let dels = read_ids_if_exists(&dir.join(format!("{name}.del.u32")))?;
        let inss = read_ids_if_exists(&dir.join(format!("{name}.ins.u32")))?;
        let mut del_time = Duration::ZERO;
        for &id in &dels {
            let t = Instant::now();
            db.delete(id as u64).map_err(|err| CliError(format!("epoch {e}: delete of id {id}: {err}")))?;
            del_time += t.elapsed();
        }
        let mut ins_time = Duration::ZERO;
        for &id in &inss {
            let Some(&r) = pool_index.get(&id) else {
                bail!("epoch {e}: inserted id {id} is not in pool.ids.u32");
            };
            if let Some(p) = &pool {
                p.read_row(r, &mut row)?;
            }
            let t = Instant::now();
            db.insert(id as u64, &row).map_err(|err| CliError(format!("epoch {e}: insert of id {id}: {err}")))?;
            ins_time += t.elapsed();
        }
        let line = epoch_pass(
            &db,
            a,
            dir,
            e,
            (inss.len(), ins_time),
            (dels.len(), del_time),
            &queries,
            &db_dir,
            &vector_file,
            t_start,
            show,
        )?;
        if let Some(r) = line.recall_at_k {
            recalls.push((e, r));
        }
        out.emit(&line)?;
    }
    db.close()?;
    if !quiet {
        let summary: Vec<String> = recalls.iter().map(|(e, r)| format!("{e}:{r:.4}")).collect();
        eprintln!(
            "replay done in {:.1} s; recall@{} by epoch: {}",
            t_start.elapsed().as_secs_f64(),
            a.k,
            summary.join(" ")
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn epoch_pass(
    db: &LsmVecDb,
    a: &ReplayArgs,
    dir: &Path,
    epoch: usize,
    (inserts, ins_time): (usize, Duration),
    (deletes, del_time): (usize, Duration),
    queries: &data::Matrix,
    db_dir: &Path,
    vector_file: &Path,
    t_start: Instant,
    show: bool,
) -> Result<EpochLine> {
    let gt_file = gt_path(dir, epoch);
    let truth = if gt_file.exists() {
        let t = data::read_truth(&gt_file)?;
        if t.n < queries.n {
            bail!("{}: {} rows for {} queries", gt_file.display(), t.n, queries.n);
        }
        if t.k < a.k {
            bail!("{}: K={} is smaller than --k {}", gt_file.display(), t.k, a.k);
        }
        Some(t)
    } else {
        None
    };
    // Without ground truth, recall is not computed (an empty truth of width k never matches).
    let dummy = Truth { n: queries.n, k: a.k, ids: vec![u32::MAX; queries.n * a.k], dists: None };
    let row = search_pass(db, queries, truth.as_ref().unwrap_or(&dummy), a.k, a.ef_search, show)?;
    Ok(EpochLine {
        epoch,
        live: db.len()?,
        inserts,
        deletes,
        insert_per_s: report::rate(inserts, ins_time.as_secs_f64()),
        delete_per_s: report::rate(deletes, del_time.as_secs_f64()),
        k: a.k,
        ef_search: a.ef_search,
        recall_at_k: truth.is_some().then_some(row.recall),
        query_mean_us: row.latency.mean_us,
        query_p50_us: row.latency.p50_us,
        query_p95_us: row.latency.p95_us,
        query_p99_us: row.latency.p99_us,
        qps: row.qps,
        pages_read_per_query: row.pages_read_per_query,
        distance_computations_per_query: row.distance_computations_per_query,
        rss_bytes: report::rss_bytes(),
        peak_rss_bytes: report::peak_rss_bytes(),
        disk_bytes: report::db_disk_usage(db_dir, vector_file),
        elapsed_s: t_start.elapsed().as_secs_f64(),
    })
}
