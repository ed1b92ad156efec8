//! One query pass (`search_pass`): every query once, one at a time, on this thread, with its
//! latency, recall and the engine's counters per query; shared by `bench` and `replay`.

use std::time::Instant;

use lsm_vec::{LsmVecDb, SearchOptions, Stats};
use serde::Serialize;

use crate::data::{Matrix, Truth};
use crate::error::Result;
use crate::measure::report::{self, Latency};

/// One row of the ef_search sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    /// ef_search requested.
    pub ef_search: usize,
    /// ef_search used (at least k).
    pub ef_search_effective: usize,
    /// Mean true recall@k.
    pub recall: f64,
    /// Queries per second (one thread, one query at a time).
    pub qps: f64,
    /// Per-query latency measured around each search call.
    pub latency: Latency,
    /// Vector pages read from the file per query (page cache misses).
    pub pages_read_per_query: f64,
    /// Page cache hits per query.
    pub page_cache_hits_per_query: f64,
    /// Distance computations per query.
    pub distance_computations_per_query: f64,
    /// Nodes visited per query.
    pub nodes_visited_per_query: f64,
    /// Adjacency lists read from the LSM per query.
    pub lsm_gets_per_query: f64,
    /// Adjacency lists served by the edge cache per query.
    pub edge_cache_hits_per_query: f64,
    /// Bytes this process read from the storage device per query (`read_bytes` of
    /// /proc/self/io: page cache misses of the OS, so 0 while the files are cached).
    pub device_read_bytes_per_query: f64,
    /// Whether the OS page cache was dropped (and the database reopened) before the pass.
    pub cold: bool,
    /// Seconds for the whole pass.
    pub seconds: f64,
}

pub fn per(x: u64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        x as f64 / n as f64
    }
}

fn delta(a: &Stats, b: &Stats, f: impl Fn(&Stats) -> u64) -> u64 {
    f(b).saturating_sub(f(a))
}

/// One query pass: every query once, one at a time, on this thread.
pub fn search_pass(
    db: &LsmVecDb,
    queries: &Matrix,
    truth: &Truth,
    k: usize,
    ef: usize,
    show: bool,
) -> Result<SweepRow> {
    let eff = ef.max(k);
    let so = SearchOptions::new(k, eff);
    let pb = report::progress(show, queries.n as u64, &format!("search ef={ef}"));
    let before = db.stats()?;
    let io_before = report::device_read_bytes();
    let mut lat = Vec::with_capacity(queries.n);
    let mut recall_sum = 0.0;
    let mut ids = Vec::with_capacity(k);
    let start = Instant::now();
    for q in 0..queries.n {
        let t = Instant::now();
        let res = db.search_knn(queries.row(q), &so)?;
        lat.push(t.elapsed());
        ids.clear();
        ids.extend(res.iter().map(|r| r.id));
        recall_sum += report::recall_at_k(&ids, truth.row(q), k);
        if q % 64 == 0 {
            pb.set_position(q as u64);
        }
    }
    let total = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let io_after = report::device_read_bytes();
    let after = db.stats()?;
    let nq = queries.n;
    Ok(SweepRow {
        ef_search: ef,
        ef_search_effective: eff,
        recall: recall_sum / nq as f64,
        qps: report::rate(nq, total),
        latency: Latency::from_durations(&lat),
        pages_read_per_query: per(delta(&before, &after, |s| s.vector_pages_read), nq),
        page_cache_hits_per_query: per(delta(&before, &after, |s| s.page_cache_hits), nq),
        distance_computations_per_query: per(delta(&before, &after, |s| s.distance_computations), nq),
        nodes_visited_per_query: per(delta(&before, &after, |s| s.nodes_visited), nq),
        lsm_gets_per_query: per(delta(&before, &after, |s| s.lsm_gets), nq),
        edge_cache_hits_per_query: per(delta(&before, &after, |s| s.edge_cache_hits), nq),
        device_read_bytes_per_query: per(io_after.saturating_sub(io_before), nq),
        cold: false,
        seconds: total,
    })
}
