//! The algorithm against an in-memory graph (no files involved).

use std::collections::HashMap;

use super::*;
use crate::options::DistanceMetric;

struct MemGraph {
    metric: Metric,
    vecs: Vec<Vec<f32>>,
    live: Vec<bool>,
    adj: HashMap<(u32, usize), Vec<u32>>,
    entry: Option<(u32, usize)>,
    c: OpCounters,
}

impl Graph for MemGraph {
    fn metric(&self) -> Metric {
        self.metric
    }
    fn is_live(&self, id: u32) -> bool {
        self.live.get(id as usize).copied().unwrap_or(false)
    }
    fn neighbors(&mut self, id: u32, level: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        if let Some(l) = self.adj.get(&(id, level)) {
            out.extend_from_slice(l);
        }
        Ok(())
    }
    fn scores(&mut self, q: &Query<'_>, ids: &[u32], out: &mut Vec<f32>) -> Result<()> {
        out.clear();
        out.extend(ids.iter().map(|&i| self.metric.score(q, &self.vecs[i as usize])));
        Ok(())
    }
    fn vector(&mut self, id: u32, out: &mut Vec<f32>) -> Result<()> {
        out.clear();
        out.extend_from_slice(&self.vecs[id as usize]);
        Ok(())
    }
    fn entry(&self) -> Option<(u32, usize)> {
        self.entry
    }
    fn id_bound(&self) -> usize {
        self.vecs.len()
    }
    fn counters(&mut self) -> &mut OpCounters {
        &mut self.c
    }
}

impl GraphMut for MemGraph {
    fn set_neighbors(&mut self, id: u32, level: usize, list: Vec<u32>) -> Result<()> {
        self.adj.insert((id, level), list);
        Ok(())
    }
    fn set_entry(&mut self, entry: Option<(u32, usize)>) {
        self.entry = entry;
    }
}

fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut r = crate::rng::SplitMix64::new(seed);
    move || (r.next_u64() >> 40) as f32 / (1u64 << 24) as f32
}

fn recall(g: &mut MemGraph, queries: &[Vec<f32>], k: usize, ef: usize) -> f64 {
    let mut hits = 0;
    let mut vis = Visited::new();
    for q in queries {
        let pq = g.metric.prepare(q);
        let mut truth: Vec<(f32, u32)> = (0..g.vecs.len() as u32)
            .filter(|&i| g.live[i as usize])
            .map(|i| (g.metric.score(&pq, &g.vecs[i as usize]), i))
            .collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let got = knn(g, &pq, ef, &mut vis).unwrap();
        for &(_, id) in got.iter().take(k) {
            assert!(g.live[id as usize], "dead id {id} returned");
            if truth.iter().take(k).any(|&(_, t)| t == id) {
                hits += 1;
            }
        }
    }
    hits as f64 / (queries.len() * k) as f64
}

#[test]
fn build_search_and_delete_keep_recall() {
    let dim = 16;
    let n = 3000;
    let mut r = rng(7);
    let vecs: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| r()).collect()).collect();
    let queries: Vec<Vec<f32>> = (0..50).map(|_| (0..dim).map(|_| r()).collect()).collect();
    let p = Params { m: 12, m_max: 12, max_degree0: 24, ef_construction: 100 };
    let mut g = MemGraph {
        metric: Metric(DistanceMetric::L2),
        vecs: Vec::new(),
        live: Vec::new(),
        adj: HashMap::new(),
        entry: None,
        c: OpCounters::default(),
    };
    let mut vis = Visited::new();
    for (i, v) in vecs.iter().enumerate() {
        g.vecs.push(v.clone());
        g.live.push(true);
        let level = draw_level((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xABCDEF, p.m);
        insert(&mut g, &p, i as u32, v, level, &mut vis).unwrap();
    }
    let r0 = recall(&mut g, &queries, 10, 64);
    assert!(r0 >= 0.95, "recall after build {r0}");

    // Delete every third node (including, probably, the entry point).
    for d in (0..n as u32).step_by(3) {
        let level = (0..17).rev().find(|&l| g.adj.contains_key(&(d, l))).unwrap_or(0);
        unlink(&mut g, &p, d, level, &mut vis).unwrap();
        g.live[d as usize] = false;
        for l in 0..=level {
            g.adj.remove(&(d, l));
        }
        if g.entry.map(|e| e.0) == Some(d) {
            let best = (0..n as u32)
                .filter(|&i| g.live[i as usize])
                .map(|i| (i, (0..17).rev().find(|&l| g.adj.contains_key(&(i, l))).unwrap_or(0)))
                .max_by_key(|&(i, l)| (l, std::cmp::Reverse(i)));
            g.entry = best;
        }
    }
    let r1 = recall(&mut g, &queries, 10, 64);
    assert!(r1 >= 0.93, "recall after deleting a third {r1}");
}

#[test]
fn levels_follow_the_geometric_law() {
    let m = 16;
    let n = 100_000u64;
    let above0 =
        (0..n).filter(|&i| draw_level(i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ i, m) > 0).count() as f64
            / n as f64;
    assert!((above0 - 1.0 / 16.0).abs() < 0.01, "{above0}");
}
