//! Counters and latency histograms, and the [`Stats`] snapshot the public API returns.
//!
//! Counters are plain atomics added to once per operation (searches accumulate locally and
//! publish at the end), so they are always on. Latency histograms are recorded only with
//! `enable_stats`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::options::{DistanceMetric, VectorStorageType};

/// Counters of one operation, accumulated without atomics and published once.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OpCounters {
    pub distance_computations: u64,
    pub nodes_visited: u64,
    pub nodes_expanded: u64,
    pub lsm_gets: u64,
    pub edge_hits: u64,
    /// Neighbours the probabilistic routing test skipped (not scored).
    pub routing_skips: u64,
    pub io: crate::vectors::IoCounters,
}

/// Log-linear latency histogram: 4 sub-buckets per power of two of nanoseconds.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Mutex<Vec<u64>>,
}

const HIST_BUCKETS: usize = 64 * 4;

fn bucket_of(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let log = 63 - ns.leading_zeros() as usize; // >= 2
    let sub = ((ns >> (log - 2)) & 3) as usize;
    (log * 4 + sub).min(HIST_BUCKETS - 1)
}

fn bucket_upper(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let log = b / 4;
    let sub = (b % 4) as u64;
    ((4 + sub + 1) << (log - 2)).saturating_sub(1)
}

impl Histogram {
    pub fn new() -> Self {
        Histogram { buckets: Mutex::new(vec![0; HIST_BUCKETS]) }
    }

    pub fn record(&self, d: Duration) {
        let b = bucket_of(d.as_nanos().min(u64::MAX as u128) as u64);
        if let Ok(mut v) = self.buckets.lock() {
            v[b] += 1;
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let v = match self.buckets.lock() {
            Ok(v) => v.clone(),
            Err(_) => return LatencySummary::default(),
        };
        let count: u64 = v.iter().sum();
        if count == 0 {
            return LatencySummary::default();
        }
        let q = |p: f64| -> f64 {
            let target = ((count as f64) * p).ceil().max(1.0) as u64;
            let mut acc = 0;
            for (b, c) in v.iter().enumerate() {
                acc += c;
                if acc >= target {
                    return bucket_upper(b) as f64 / 1000.0;
                }
            }
            0.0
        };
        let max_b = v.iter().rposition(|&c| c > 0).unwrap_or(0);
        LatencySummary {
            count,
            p50_us: q(0.50),
            p95_us: q(0.95),
            p99_us: q(0.99),
            max_us: bucket_upper(max_b) as f64 / 1000.0,
        }
    }
}

/// Latency percentiles of one kind of operation, in microseconds (upper bucket bounds of a
/// log-linear histogram, so within 25% of the true value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of operations recorded.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// Live counters of a database handle.
#[derive(Debug)]
pub(crate) struct Counters {
    pub searches: AtomicU64,
    pub inserts: AtomicU64,
    pub updates: AtomicU64,
    pub deletes: AtomicU64,
    pub repairs: AtomicU64,
    pub distance_computations: AtomicU64,
    pub nodes_visited: AtomicU64,
    pub nodes_expanded: AtomicU64,
    pub lsm_gets: AtomicU64,
    pub edge_cache_hits: AtomicU64,
    pub routing_skips: AtomicU64,
    pub search_latency: Histogram,
    pub insert_latency: Histogram,
    pub update_latency: Histogram,
    pub delete_latency: Histogram,
}

impl Counters {
    pub fn new() -> Self {
        Counters {
            searches: AtomicU64::new(0),
            inserts: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            repairs: AtomicU64::new(0),
            distance_computations: AtomicU64::new(0),
            nodes_visited: AtomicU64::new(0),
            nodes_expanded: AtomicU64::new(0),
            lsm_gets: AtomicU64::new(0),
            edge_cache_hits: AtomicU64::new(0),
            routing_skips: AtomicU64::new(0),
            search_latency: Histogram::new(),
            insert_latency: Histogram::new(),
            update_latency: Histogram::new(),
            delete_latency: Histogram::new(),
        }
    }

    /// Adds one operation's counters (the vector file publishes its own I/O counters).
    pub fn publish(&self, c: &OpCounters) {
        self.distance_computations.fetch_add(c.distance_computations, Relaxed);
        self.nodes_visited.fetch_add(c.nodes_visited, Relaxed);
        self.nodes_expanded.fetch_add(c.nodes_expanded, Relaxed);
        self.lsm_gets.fetch_add(c.lsm_gets, Relaxed);
        self.edge_cache_hits.fetch_add(c.edge_hits, Relaxed);
        self.routing_skips.fetch_add(c.routing_skips, Relaxed);
    }
}

/// A snapshot of what is in a database and what it has done since it was opened.
///
/// `Serialize` gives the one mapping the bindings share: field names are the keys of the CLI's
/// JSON (`lsm-vec stats --json`) and of Python's `stats()` dict, `metric` is its display name
/// (`"L2"`), `vector_storage_type` its code; the C ABI's `lsm_vec_stats_t` is checked against
/// it by the lsm-vec-capi tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Live vectors.
    pub count: u64,
    /// Dimension.
    pub dim: usize,
    /// Metric.
    pub metric: DistanceMetric,
    /// Vector file layout.
    pub vector_storage_type: VectorStorageType,
    /// `m` the database was created with.
    pub m: usize,
    /// `m_max` the database was created with.
    pub m_max: usize,
    /// Highest HNSW level (0 when empty or only layer 0 exists).
    pub max_level: usize,
    /// Nodes present on level >= 1 (kept in memory).
    pub upper_layer_nodes: u64,
    /// Deleted nodes whose layer-0 list is still kept for routing (purged once nothing links
    /// to them).
    pub ghost_nodes: u64,
    /// Exact duplicates of a graph node, stored without lists and returned with that node.
    pub twin_nodes: u64,
    /// Deleted graph nodes whose repair is pending: they are no longer results but still
    /// route searches until the repairer relinks their neighbourhood and removes them.
    pub repair_backlog: u64,
    /// Deleted graph nodes repaired (removed from the graph) since open.
    pub repairs: u64,
    /// Memory of the compressed codes (0 without codes).
    pub code_bytes: u64,
    /// Memory of the dense layer-0 adjacency table.
    pub adjacency_bytes: u64,
    /// Layer-0 lists held by the adjacency table.
    pub adjacency_lists: u64,
    /// Memory of the vector page cache (pages held x 4 KiB).
    pub page_cache_bytes: u64,
    /// Memory of the decoded adjacency (edge) cache, estimated per list.
    pub edge_cache_bytes: u64,
    /// Estimated bookkeeping memory (id map, node table, slots, in-degrees, upper layers).
    pub bookkeeping_bytes: u64,
    /// The sum of the parts above.
    pub memory_bytes: u64,
    /// The `memory_budget_bytes` option (0 = no budget).
    pub memory_budget_bytes: u64,
    /// Size of the vector file in bytes.
    pub vector_file_bytes: u64,
    /// Bytes the LSM (journal + tables) uses on disk.
    pub lsm_disk_bytes: u64,
    /// Searches, inserts, updates and deletes completed since open.
    pub searches: u64,
    /// See `searches`.
    pub inserts: u64,
    /// See `searches`.
    pub updates: u64,
    /// See `searches`.
    pub deletes: u64,
    /// 4 KiB vector pages read from the file (page cache misses).
    pub vector_pages_read: u64,
    /// Vector page cache hits.
    pub page_cache_hits: u64,
    /// Vector page cache misses (= pages read).
    pub page_cache_misses: u64,
    /// Pages currently held by the page cache.
    pub page_cache_pages: u64,
    /// Adjacency lists read from the LSM (edge cache misses).
    pub lsm_gets: u64,
    /// Adjacency lists served from the decoded edge cache.
    pub edge_cache_hits: u64,
    /// Neighbours that probabilistic routing skipped instead of scoring (0 with exact
    /// routing).
    pub routing_skips: u64,
    /// Lists currently held by the edge cache.
    pub edge_cache_entries: u64,
    /// Distance computations (search and construction).
    pub distance_computations: u64,
    /// Nodes whose distance was computed during searches.
    pub nodes_visited: u64,
    /// Nodes whose neighbour lists were expanded during searches.
    pub nodes_expanded: u64,
    /// Search latency (only with `enable_stats`).
    pub search_latency: LatencySummary,
    /// Insert latency (only with `enable_stats`).
    pub insert_latency: LatencySummary,
    /// Update latency (only with `enable_stats`).
    pub update_latency: LatencySummary,
    /// Delete latency (only with `enable_stats`).
    pub delete_latency: LatencySummary,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "==== lsm-vec statistics ====")?;
        writeln!(
            f,
            "vectors: {}  dim: {}  metric: {}  storage: {:?}  m: {}  m_max: {}",
            self.count, self.dim, self.metric, self.vector_storage_type, self.m, self.m_max
        )?;
        writeln!(
            f,
            "graph: max_level {}  upper-layer nodes {}  ghosts {}  twins {}  repair backlog {} ({} repaired)",
            self.max_level,
            self.upper_layer_nodes,
            self.ghost_nodes,
            self.twin_nodes,
            self.repair_backlog,
            self.repairs
        )?;
        writeln!(
            f,
            "memory: {} bytes (codes {}, adjacency table {} for {} lists, page cache {}, edge cache {}, bookkeeping {}), budget {}",
            self.memory_bytes,
            self.code_bytes,
            self.adjacency_bytes,
            self.adjacency_lists,
            self.page_cache_bytes,
            self.edge_cache_bytes,
            self.bookkeeping_bytes,
            if self.memory_budget_bytes == 0 { "none".to_string() } else { self.memory_budget_bytes.to_string() }
        )?;
        writeln!(f, "disk: vector file {} bytes  lsm {} bytes", self.vector_file_bytes, self.lsm_disk_bytes)?;
        writeln!(
            f,
            "operations: searches {}  inserts {}  updates {}  deletes {}",
            self.searches, self.inserts, self.updates, self.deletes
        )?;
        writeln!(
            f,
            "vector pages read {}  page cache hits {}  misses {}  cached pages {}",
            self.vector_pages_read, self.page_cache_hits, self.page_cache_misses, self.page_cache_pages
        )?;
        writeln!(
            f,
            "lsm gets {}  edge cache hits {}  cached lists {}",
            self.lsm_gets, self.edge_cache_hits, self.edge_cache_entries
        )?;
        writeln!(
            f,
            "distance computations {}  nodes visited {}  nodes expanded {}  routing skips {}",
            self.distance_computations, self.nodes_visited, self.nodes_expanded, self.routing_skips
        )?;
        if self.searches > 0 {
            writeln!(
                f,
                "per search: {:.1} distances  {:.1} nodes visited  {:.2} pages read",
                self.distance_computations as f64 / self.searches as f64,
                self.nodes_visited as f64 / self.searches as f64,
                self.vector_pages_read as f64 / self.searches as f64
            )?;
        }
        for (name, l) in [
            ("search", &self.search_latency),
            ("insert", &self.insert_latency),
            ("update", &self.update_latency),
            ("delete", &self.delete_latency),
        ] {
            if l.count > 0 {
                writeln!(
                    f,
                    "{name} latency (us): n={} p50={:.1} p95={:.1} p99={:.1} max={:.1}",
                    l.count, l.p50_us, l.p95_us, l.p99_us, l.max_us
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_monotonic_and_bound_values() {
        let mut prev = 0;
        for ns in [0u64, 1, 3, 4, 5, 7, 8, 100, 1000, 12345, 1 << 30] {
            let b = bucket_of(ns);
            assert!(b >= prev);
            assert!(bucket_upper(b) >= ns, "ns {ns} bucket {b} upper {}", bucket_upper(b));
            prev = b;
        }
    }

    #[test]
    fn histogram_percentiles() {
        let h = Histogram::new();
        for i in 1..=100u64 {
            h.record(Duration::from_micros(i));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert!(s.p50_us >= 50.0 && s.p50_us <= 64.0, "{s:?}");
        assert!(s.p99_us >= 99.0 && s.p99_us <= 128.0, "{s:?}");
    }
}
