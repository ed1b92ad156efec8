//! `lsm-vec`: benchmark, trace replay, dataset generation and inspection for lsm-vec databases.
//!
//! This file holds only the command line (clap) and the dispatch; each command lives in its
//! module: `bench` (build + query sweep), `load` (bulk load of a vector file), `trace`
//! (gen-trace + replay), `synthetic` (built-in
//! dataset + brute-force ground truth), `datasets` (file formats), `report` (measurements and
//! output). The CLI uses only the public API of the `lsm-vec` crate.

mod commands;
mod data;
mod error;
mod measure;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lsm_vec::{DbOptions, DistanceMetric, VectorStorageType};

use crate::error::Result;

/// Command-line tool of the lsm-vec vector database.
#[derive(Debug, Parser)]
#[command(name = "lsm-vec", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an index from a dataset (built-in synthetic or files), then measure recall,
    /// latency, QPS, memory and I/O over an ef_search sweep.
    Bench(BenchArgs),
    /// Write the built-in synthetic dataset as base.fvecs, query.fvecs and groundtruth.ivecs
    /// (exact top-K under L2).
    GenData(GenDataArgs),
    /// Write a streaming trace (base, insert pool, per-epoch insert/delete lists, ground truth)
    /// in the format of DESIGN.md §9.
    GenTrace(GenTraceArgs),
    /// Replay a streaming trace: build the base set, then per epoch delete, insert and query,
    /// printing one JSON line per epoch.
    Replay(ReplayArgs),
    /// Print what an existing database holds (count, dim, metric, options, sizes on disk).
    Stats(StatsArgs),
    /// Bulk-load a vector file into a database (created if absent) with parallel insert_batch;
    /// prints the count, the time and the rate.
    Load(LoadArgs),
}

fn parse_metric(s: &str) -> std::result::Result<DistanceMetric, String> {
    s.parse::<DistanceMetric>().map_err(|e| e.to_string())
}

/// Index and storage options shared by `bench` and `replay` (the seed's flag names).
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// Database directory, wiped and rebuilt unless `bench --reuse` [default: run/bench-db for
    /// bench, run/replay-db for replay].
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// HNSW links per inserted node (layer 0 keeps max(2*M, Mmax)).
    #[arg(long = "M", visible_alias = "m", default_value_t = 16)]
    pub m: usize,
    /// HNSW maximum links per node on the upper layers.
    #[arg(long = "Mmax", visible_alias = "m-max", default_value_t = 16)]
    pub m_max: usize,
    /// Construction candidate pool size (ef_construction).
    #[arg(long = "efc", visible_alias = "ef-construction", default_value_t = 200.0)]
    pub efc: f32,
    /// Vector file path (default: vectors.bin inside the database directory).
    #[arg(long = "vec", value_name = "PATH")]
    pub vec: Option<PathBuf>,
    /// Vector storage layout: 0 = basic (flat file), 1 = paged.
    #[arg(long = "vec-storage", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub vec_storage: u8,
    /// Vector page cache capacity in 4 KiB pages.
    #[arg(long = "paged-cache-pages", default_value_t = 4096)]
    pub paged_cache_pages: usize,
    /// Decoded layer-0 adjacency cache capacity in lists (0 disables; default: the engine's).
    #[arg(long = "edge-cache", value_name = "LISTS")]
    pub edge_cache: Option<usize>,
    /// fsync the vector file and the journal on every write.
    #[arg(long)]
    pub sync: bool,
    /// Do not group vector reads by page during search (enable_batch_read = false).
    #[arg(long = "no-batch-read")]
    pub no_batch_read: bool,
    /// Seed of the HNSW level generator.
    #[arg(long = "random-seed", default_value_t = 12345)]
    pub random_seed: u64,
    /// Compressed codes in memory for navigation: none, sq8 or sq4 (default: the engine's).
    #[arg(long)]
    pub quantization: Option<String>,
    /// With codes: candidates re-scored with the full vectors per search (0 = automatic).
    #[arg(long, default_value_t = 0)]
    pub rerank: usize,
    /// memory_budget_bytes in MiB: codes, adjacency table and caches share it (0 = no budget).
    #[arg(long = "memory-budget-mb", default_value_t = 0)]
    pub memory_budget_mb: u64,
    /// Layer-0 routing of searches: exact or probabilistic (SimHash test; needs codes).
    #[arg(long, default_value = "exact")]
    pub routing: String,
    /// With probabilistic routing: bound on the probability that one test wrongly skips a
    /// neighbour, in (0, 1).
    #[arg(long = "routing-epsilon", default_value_t = 0.1)]
    pub routing_epsilon: f32,
}

impl IndexArgs {
    /// Engine options for vectors of `dim` under `metric` (reinit, k and stats set by callers).
    pub fn db_options(&self, dim: usize, metric: DistanceMetric, capacity_hint: usize) -> Result<DbOptions> {
        let mut o = DbOptions::new(dim);
        o.metric = metric;
        o.m = self.m;
        o.m_max = self.m_max;
        o.ef_construction = self.efc;
        o.vector_file_path = self.vec.clone().unwrap_or_default();
        o.vector_storage_type = VectorStorageType::from_code(self.vec_storage as i64)?;
        o.paged_max_cached_pages = self.paged_cache_pages;
        if let Some(e) = self.edge_cache {
            o.edge_cache_size = e;
        }
        o.sync_writes = self.sync;
        o.enable_batch_read = !self.no_batch_read;
        o.random_seed = self.random_seed;
        if let Some(q) = &self.quantization {
            o.quantization = q.parse()?;
        }
        o.rerank = self.rerank;
        o.memory_budget_bytes = self.memory_budget_mb << 20;
        o.routing = self.routing.parse()?;
        o.routing_epsilon = self.routing_epsilon;
        o.vec_file_capacity = capacity_hint.max(1);
        o.enable_stats = true;
        o.validate()?;
        Ok(o)
    }
}

/// Flags of `lsm-vec bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Directory holding input.fvecs, query.fvecs and groundtruth.ivecs (the seed's layout).
    #[arg(long = "data-dir", value_name = "DIR", conflicts_with_all = ["base", "query", "truth"])]
    pub data_dir: Option<PathBuf>,
    /// Base vectors (.fvecs .bvecs .ivecs .fbin .u8bin .ibin), streamed while building.
    #[arg(long, value_name = "FILE", requires = "query")]
    pub base: Option<PathBuf>,
    /// Query vectors (any vector format).
    #[arg(long, value_name = "FILE", requires = "base")]
    pub query: Option<PathBuf>,
    /// Ground truth (.ivecs, .ibin, Big-ANN .bin, .gt100). Without it the exact top-k is
    /// computed by brute force over the base file.
    #[arg(long, value_name = "FILE", requires = "base")]
    pub truth: Option<PathBuf>,
    /// Built-in dataset: number of base vectors.
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    /// Built-in dataset: dimension.
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// Built-in dataset: number of queries [default: 1000]; with files: use at most this many.
    #[arg(long)]
    pub queries: Option<usize>,
    /// Built-in dataset: seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Built-in dataset: number of Gaussian clusters.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// ef_search values, comma separated; one result row per value.
    #[arg(long = "ef-search", value_delimiter = ',', default_value = "16,32,64,128,256")]
    pub ef_search: Vec<usize>,
    /// Distance metric: l2, cosine or ip.
    #[arg(long, default_value = "l2", value_parser = parse_metric)]
    pub metric: DistanceMetric,
    /// Print one JSON object on stdout instead of the table (and no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Reuse the database if it already holds the dataset: skip the build, only search.
    #[arg(long)]
    pub reuse: bool,
    /// Threads of the build's insert_batch calls [default: one per core].
    #[arg(long = "build-threads", value_name = "N")]
    pub build_threads: Option<usize>,
    /// Show the build's progress line (done/total, rate, ETA) on stderr even when stderr is not
    /// a terminal or with --json (by default: on a terminal, for builds of more than 20000).
    #[arg(long)]
    pub progress: bool,
    /// Before each query pass, reopen the database and drop the OS page cache (`sync; echo 3 >
    /// /proc/sys/vm/drop_caches`, needs root), so the pass reads from the device; the table's
    /// devKB/q column shows the bytes read from it per query.
    #[arg(long)]
    pub cold: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// Flags of `lsm-vec gen-data`.
#[derive(Debug, Clone, Args)]
pub struct GenDataArgs {
    /// Output directory (created).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of base vectors.
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    /// Dimension.
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// Number of queries.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Seed (same seed = same bytes).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of Gaussian clusters.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Neighbours per query in groundtruth.ivecs.
    #[arg(long = "gt-k", default_value_t = 100)]
    pub gt_k: usize,
}

/// Flags of `lsm-vec gen-trace`.
#[derive(Debug, Clone, Args)]
pub struct GenTraceArgs {
    /// Output directory (created).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of base vectors (N).
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    /// Dimension.
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// Number of epochs.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of queries.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// Write ground truth every this many epochs (epoch 0 and the last epoch always).
    #[arg(long = "gt-every", default_value_t = 10)]
    pub gt_every: usize,
    /// Number of Gaussian clusters.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Inserts per epoch as a fraction of N.
    #[arg(long = "insert-frac", default_value_t = 0.009)]
    pub insert_frac: f64,
    /// Deletes per epoch as a fraction of N.
    #[arg(long = "delete-frac", default_value_t = 0.001)]
    pub delete_frac: f64,
    /// Neighbours per query in the ground-truth files.
    #[arg(long = "gt-k", default_value_t = 100)]
    pub gt_k: usize,
}

/// Flags of `lsm-vec replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Trace directory (written by gen-trace or any generator of the same format).
    #[arg(long, value_name = "DIR")]
    pub trace: PathBuf,
    /// ef_search of the query passes.
    #[arg(long = "ef-search", default_value_t = 64)]
    pub ef_search: usize,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Also write the JSON lines to this file.
    #[arg(long = "json-out", value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// Stop after this many epochs.
    #[arg(long = "max-epochs")]
    pub max_epochs: Option<usize>,
    /// No progress bars or status lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// Flags of `lsm-vec load`. The index flags (`--M`, `--efc`, `--vec`, ...) apply when the
/// database is created; an existing one keeps its stored `dim`, metric, `M`, `Mmax` and storage.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("db", |a| a
    .required(true)
    .help("Database directory: created if absent, else the vectors are added to it")))]
pub struct LoadArgs {
    /// Vector file (.fvecs .bvecs .ivecs .fbin .u8bin .ibin, by extension); its dimension is the
    /// database's.
    #[arg(long, value_name = "FILE")]
    pub base: PathBuf,
    /// Ids of the vectors in file order: text with one decimal u64 per line (blank lines and
    /// lines starting with # skipped), or a .u32 file (headerless little-endian u32) [default:
    /// the row numbers 0..n].
    #[arg(long, value_name = "FILE")]
    pub ids: Option<PathBuf>,
    /// Threads of the insert_batch calls (0 = one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Distance metric of a new database: l2, cosine or ip [default: l2, or the stored one].
    #[arg(long, value_parser = parse_metric)]
    pub metric: Option<DistanceMetric>,
    /// Wipe the database first (and create it anew).
    #[arg(long)]
    pub reinit: bool,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Show the progress line (done/total, rate, ETA) on stderr even when stderr is not a
    /// terminal or with --json (by default: on a terminal, for loads of more than 20000).
    #[arg(long)]
    pub progress: bool,
    #[command(flatten)]
    pub index: IndexArgs,
}

/// Flags of `lsm-vec stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Database directory.
    #[arg(long, value_name = "DIR")]
    pub db: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bench(a) => commands::bench::run(a),
        Command::GenData(a) => commands::gen_data::gen_data(a),
        Command::GenTrace(a) => commands::trace::gen_trace(a),
        Command::Replay(a) => commands::trace::replay(a),
        Command::Stats(a) => commands::stats::run_stats(a),
        Command::Load(a) => commands::load::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lsm-vec: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seed_flag_names_parse() {
        let cli = Cli::try_parse_from([
            "lsm-vec",
            "bench",
            "--db",
            "d",
            "--M",
            "8",
            "--Mmax",
            "24",
            "--efc",
            "64",
            "--vec",
            "v.bin",
            "--vec-storage",
            "0",
            "--paged-cache-pages",
            "100",
            "--ef-search",
            "10,20",
            "--metric",
            "cosine",
            "--out",
            "o.json",
        ])
        .unwrap();
        let Command::Bench(b) = cli.command else { panic!("not bench") };
        assert_eq!((b.index.m, b.index.m_max, b.index.efc), (8, 24, 64.0));
        assert_eq!(b.ef_search, vec![10, 20]);
        assert_eq!(b.metric, DistanceMetric::Cosine);
        let o = b.index.db_options(4, b.metric, 10).unwrap();
        assert_eq!(o.vector_storage_type, VectorStorageType::Basic);
        assert!(Cli::try_parse_from(["lsm-vec", "bench", "--vec-storage", "2"]).is_err());
        assert!(Cli::try_parse_from(["lsm-vec", "bench", "--base", "b.fvecs"]).is_err());
        let cli = Cli::try_parse_from(["lsm-vec", "bench", "--build-threads", "3", "--progress"]).unwrap();
        let Command::Bench(b) = cli.command else { panic!("not bench") };
        assert_eq!((b.build_threads, b.progress), (Some(3), true));
    }

    #[test]
    fn load_flags_parse() {
        let cli = Cli::try_parse_from([
            "lsm-vec",
            "load",
            "--db",
            "d",
            "--base",
            "b.fvecs",
            "--ids",
            "ids.txt",
            "--threads",
            "2",
            "--metric",
            "ip",
            "--m",
            "12",
            "--ef-construction",
            "80",
        ])
        .unwrap();
        let Command::Load(l) = cli.command else { panic!("not load") };
        assert_eq!(l.index.db.as_deref(), Some(std::path::Path::new("d")));
        assert_eq!((l.threads, l.metric, l.index.m, l.index.efc), (2, Some(DistanceMetric::InnerProduct), 12, 80.0));
        // --db and --base are required
        assert!(Cli::try_parse_from(["lsm-vec", "load", "--base", "b.fvecs"]).is_err());
        assert!(Cli::try_parse_from(["lsm-vec", "load", "--db", "d"]).is_err());
        assert!(Cli::try_parse_from(["lsm-vec", "load", "--db", "d", "--base", "b", "--threads", "-1"]).is_err());
    }
}
