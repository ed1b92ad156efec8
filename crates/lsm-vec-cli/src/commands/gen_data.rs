//! `lsm-vec gen-data`: writes the built-in synthetic dataset (base, queries) and its exact
//! ground truth, streaming the base set so that it never sits in memory.

use std::time::Instant;

use crate::data::synthetic::{Generator, KnnAccumulator, CHUNK_ROWS};
use crate::data::{self, Truth};
use lsm_vec::DistanceMetric;

use crate::error::{Context, Result};
use crate::measure::report;
use crate::{bail, GenDataArgs};

/// Runs `lsm-vec gen-data`: base.fvecs, query.fvecs, groundtruth.ivecs (exact top-K, L2).
pub fn gen_data(args: &GenDataArgs) -> Result<()> {
    if args.n == 0 || args.dim == 0 || args.queries == 0 || args.gt_k == 0 {
        bail!("--n, --dim, --queries and --gt-k must be > 0");
    }
    if args.n > u32::MAX as usize {
        bail!("--n must be < 2^32");
    }
    let show = report::progress_enabled(false);
    std::fs::create_dir_all(&args.out).context(|| format!("cannot create {}", args.out.display()))?;
    let g = Generator::new(args.dim, args.clusters, args.seed);
    let t = Instant::now();
    let queries = g.queries(args.queries);
    data::write_matrix(args.out.join("query.fvecs"), &queries)?;
    let mut w = data::VecWriter::create(args.out.join("base.fvecs"), args.dim)?;
    let mut acc = KnnAccumulator::new(&queries.data, args.dim, args.gt_k, DistanceMetric::L2);
    let pb = report::progress(show, args.n as u64, "base + truth");
    let mut buf = Vec::new();
    let all: Vec<u64> = (0..args.n as u64).collect();
    for chunk in all.chunks(CHUNK_ROWS) {
        g.base_chunk(chunk, &mut buf);
        for row in buf.chunks_exact(args.dim) {
            w.write_row(row)?;
        }
        acc.add_chunk(chunk, &buf);
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    w.finish()?;
    let lists = acc.finish();
    let k = args.gt_k.min(args.n);
    let mut ids = Vec::with_capacity(lists.len() * k);
    for l in &lists {
        ids.extend(l.iter().take(k).map(|x| x.0 as u32));
    }
    let truth = Truth { n: lists.len(), k, ids, dists: None };
    data::write_ivecs(args.out.join("groundtruth.ivecs"), &truth)?;
    let info = serde_json::json!({
        "generator": "lsm-vec gen-data",
        "version": env!("CARGO_PKG_VERSION"),
        "n": args.n, "dim": args.dim, "queries": args.queries, "seed": args.seed,
        "clusters": args.clusters, "metric": "l2", "groundtruth_k": k,
        "files": {"base": "base.fvecs", "query": "query.fvecs", "groundtruth": "groundtruth.ivecs"},
    });
    report::write_json_file(&args.out.join("dataset.json"), &info)?;
    eprintln!(
        "wrote {} ({} base, {} queries, dim {}, exact top-{k} L2 ground truth) in {:.1} s",
        args.out.display(),
        args.n,
        args.queries,
        args.dim,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
