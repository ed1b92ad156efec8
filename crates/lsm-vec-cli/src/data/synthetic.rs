//! The built-in synthetic dataset and exact brute-force ground truth.
//!
//! The dataset is a mixture of Gaussian clusters with low intrinsic dimension, like real
//! embeddings: every cluster has a random centre (N(0, 1) per component) and a random
//! `INTRINSIC`-dimensional subspace; a point is `centre + basis * z + noise` with
//! `z ~ N(0, I)`. Clusters are drawn with unequal weights. Every vector is a pure function of
//! `(seed, kind, index)`, so the base set can be regenerated in any order and streamed without
//! holding it in memory; the same seed gives the same bytes on every machine.
//!
//! Ground truth is computed exactly by [`KnnAccumulator`]: rows arrive in chunks, the queries
//! are split across threads (`std::thread::scope`), and each query keeps its `k` best
//! `(distance, id)` pairs (ties broken by the smaller id, so the result is deterministic).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use lsm_vec::DistanceMetric;

/// xoshiro256** seeded through splitmix64. Small, fast and reproducible everywhere.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        Rng { s: [splitmix(&mut x), splitmix(&mut x), splitmix(&mut x), splitmix(&mut x)] }
    }

    /// A generator for stream `(seed, tag, index)`.
    pub fn for_item(seed: u64, tag: u64, index: u64) -> Rng {
        let mut x = seed ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let a = splitmix(&mut x);
        Rng::new(a ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Intrinsic dimension of each cluster.
const INTRINSIC: usize = 12;
/// Variance per component contributed by the cluster's subspace.
const SUBSPACE_VAR: f64 = 0.4;
/// Variance per component of the isotropic noise.
const NOISE_VAR: f64 = 0.1;

const TAG_MODEL: u64 = 1;
const TAG_BASE: u64 = 2;
const TAG_QUERY: u64 = 3;

/// The clustered synthetic distribution.
#[derive(Debug, Clone)]
pub struct Generator {
    dim: usize,
    seed: u64,
    clusters: usize,
    /// `clusters * dim` centre coordinates.
    centres: Vec<f32>,
    /// `clusters * INTRINSIC * dim` basis vectors.
    bases: Vec<f32>,
    /// Cumulative cluster weights (unequal cluster sizes), last = 1.
    cumulative: Vec<f64>,
}

impl Generator {
    /// The distribution for `(dim, clusters, seed)`.
    pub fn new(dim: usize, clusters: usize, seed: u64) -> Generator {
        let clusters = clusters.max(1);
        let mut rng = Rng::for_item(seed, TAG_MODEL, 0);
        let centres = (0..clusters * dim).map(|_| rng.gaussian() as f32).collect();
        let s = (SUBSPACE_VAR / INTRINSIC as f64).sqrt();
        let bases = (0..clusters * INTRINSIC * dim).map(|_| (rng.gaussian() * s) as f32).collect();
        // Weights 1 / (1 + rank / 4): the largest cluster is a few times the smallest.
        let weights: Vec<f64> = (0..clusters).map(|c| 1.0 / (1.0 + c as f64 / 4.0)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Generator { dim, seed, clusters, centres, bases, cumulative }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    fn sample(&self, mut rng: Rng, out: &mut [f32]) {
        let u = rng.next_f64();
        let c = self.cumulative.partition_point(|&x| x <= u).min(self.clusters - 1);
        let d = self.dim;
        let mut z = [0f32; INTRINSIC];
        for zi in z.iter_mut() {
            *zi = rng.gaussian() as f32;
        }
        let noise = NOISE_VAR.sqrt();
        out[..d].copy_from_slice(&self.centres[c * d..(c + 1) * d]);
        for (j, &zj) in z.iter().enumerate() {
            let b = &self.bases[(c * INTRINSIC + j) * d..(c * INTRINSIC + j + 1) * d];
            for (o, &bv) in out.iter_mut().zip(b) {
                *o += zj * bv;
            }
        }
        for o in out[..d].iter_mut() {
            *o += (rng.gaussian() * noise) as f32;
        }
    }

    /// Base vector `i` into `out`.
    pub fn base_vector(&self, i: u64, out: &mut [f32]) {
        self.sample(Rng::for_item(self.seed, TAG_BASE, i), out);
    }

    /// Query vector `j` into `out` (same distribution, an independent stream).
    pub fn query_vector(&self, j: u64, out: &mut [f32]) {
        self.sample(Rng::for_item(self.seed, TAG_QUERY, j), out);
    }

    /// Base vectors for `ids` (row-major), generated on all cores.
    pub fn base_chunk(&self, ids: &[u64], out: &mut Vec<f32>) {
        let d = self.dim;
        out.clear();
        out.resize(ids.len() * d, 0.0);
        let threads = threads();
        let per = ids.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for (idc, outc) in ids.chunks(per).zip(out.chunks_mut(per * d)) {
                s.spawn(move || {
                    for (&id, row) in idc.iter().zip(outc.chunks_exact_mut(d)) {
                        self.base_vector(id, row);
                    }
                });
            }
        });
    }

    /// The first `n` query vectors.
    pub fn queries(&self, n: usize) -> crate::data::Matrix {
        let mut data = vec![0f32; n * self.dim];
        for (j, row) in data.chunks_exact_mut(self.dim.max(1)).enumerate() {
            self.query_vector(j as u64, row);
        }
        crate::data::Matrix { n, dim: self.dim, data }
    }
}

/// Worker threads for brute force and generation: the available cores.
pub fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Squared Euclidean distance (8 independent lanes so the compiler vectorises it).
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += (x - y) * (x - y);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Dot product (8 lanes).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// The ranking distance of the ground truth: squared L2, `1 - cos`, or `-dot`.
/// `norm_a` / `norm_b` are the Euclidean norms (used by cosine only).
pub fn rank_distance(metric: DistanceMetric, a: &[f32], b: &[f32], norm_a: f32, norm_b: f32) -> f32 {
    match metric {
        DistanceMetric::L2 => l2_squared(a, b),
        DistanceMetric::Cosine => {
            let den = norm_a * norm_b;
            if den > 0.0 {
                1.0 - dot(a, b) / den
            } else {
                1.0
            }
        }
        _ => -dot(a, b),
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    dist: f32,
    id: u64,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.dist.total_cmp(&o.dist).then(self.id.cmp(&o.id))
    }
}

/// Exact k-nearest-neighbour search over rows streamed in chunks.
#[derive(Debug)]
pub struct KnnAccumulator {
    dim: usize,
    k: usize,
    metric: DistanceMetric,
    queries: Vec<f32>,
    qnorms: Vec<f32>,
    heaps: Vec<BinaryHeap<Entry>>,
}

impl KnnAccumulator {
    /// Ground truth of `k` neighbours for the row-major `queries`.
    pub fn new(queries: &[f32], dim: usize, k: usize, metric: DistanceMetric) -> KnnAccumulator {
        let nq = queries.len().checked_div(dim).unwrap_or(0);
        let qnorms = queries.chunks_exact(dim.max(1)).map(|q| dot(q, q).sqrt()).collect();
        KnnAccumulator {
            dim,
            k,
            metric,
            queries: queries.to_vec(),
            qnorms,
            heaps: (0..nq).map(|_| BinaryHeap::with_capacity(k + 1)).collect(),
        }
    }

    /// Adds rows (`ids.len() * dim` values) to the candidates.
    pub fn add_chunk(&mut self, ids: &[u64], rows: &[f32]) {
        let d = self.dim;
        if ids.is_empty() || self.heaps.is_empty() {
            return;
        }
        let rnorms: Vec<f32> = match self.metric {
            DistanceMetric::Cosine => rows.chunks_exact(d).map(|r| dot(r, r).sqrt()).collect(),
            _ => vec![0.0; ids.len()],
        };
        let per = self.heaps.len().div_ceil(threads()).max(1);
        let (k, metric, rnorms) = (self.k, self.metric, &rnorms);
        std::thread::scope(|s| {
            for ((heaps, qs), qn) in
                self.heaps.chunks_mut(per).zip(self.queries.chunks(per * d)).zip(self.qnorms.chunks(per))
            {
                s.spawn(move || {
                    for ((heap, q), &qnorm) in heaps.iter_mut().zip(qs.chunks_exact(d)).zip(qn) {
                        for ((&id, row), &rn) in ids.iter().zip(rows.chunks_exact(d)).zip(rnorms) {
                            let e = Entry { dist: rank_distance(metric, q, row, qnorm, rn), id };
                            if heap.len() < k {
                                heap.push(e);
                            } else if let Some(mut top) = heap.peek_mut() {
                                if e < *top {
                                    *top = e;
                                }
                            }
                        }
                    }
                });
            }
        });
    }

    /// Per query, the `(id, distance)` pairs, nearest first.
    pub fn finish(self) -> Vec<Vec<(u64, f32)>> {
        self.heaps.into_iter().map(|h| h.into_sorted_vec().into_iter().map(|e| (e.id, e.dist)).collect()).collect()
    }
}

/// Rows generated per brute-force chunk.
pub const CHUNK_ROWS: usize = 4096;

/// Exact top-`k` over base vectors `ids` of `generator` (generated on the fly, chunk by chunk).
pub fn ground_truth_synthetic(
    generator: &Generator,
    ids: &[u64],
    queries: &[f32],
    k: usize,
    metric: DistanceMetric,
    mut progress: impl FnMut(usize),
) -> Vec<Vec<(u64, f32)>> {
    let mut acc = KnnAccumulator::new(queries, generator.dim(), k, metric);
    let mut buf = Vec::new();
    for chunk in ids.chunks(CHUNK_ROWS) {
        generator.base_chunk(chunk, &mut buf);
        acc.add_chunk(chunk, &buf);
        progress(chunk.len());
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_with_a_seed() {
        let a = Generator::new(16, 10, 7);
        let b = Generator::new(16, 10, 7);
        let c = Generator::new(16, 10, 8);
        let (mut x, mut y, mut z) = (vec![0f32; 16], vec![0f32; 16], vec![0f32; 16]);
        for i in [0u64, 1, 999, 123_456] {
            a.base_vector(i, &mut x);
            b.base_vector(i, &mut y);
            c.base_vector(i, &mut z);
            assert_eq!(x, y);
            assert_ne!(x, z);
            assert!(x.iter().all(|v| v.is_finite()));
        }
        a.query_vector(3, &mut x);
        a.base_vector(3, &mut y);
        assert_ne!(x, y, "queries are an independent stream");
        // Chunked (multi-threaded) generation equals one-by-one generation.
        let ids: Vec<u64> = (0..100).collect();
        let mut buf = Vec::new();
        a.base_chunk(&ids, &mut buf);
        for &i in &ids {
            a.base_vector(i, &mut x);
            assert_eq!(&buf[i as usize * 16..(i as usize + 1) * 16], &x[..]);
        }
        // A fixed value (xoshiro256** seeded by splitmix64), so a change of the generator is
        // noticed: generated datasets on disk would no longer match their seed.
        assert_eq!(Rng::new(42).next_u64(), 1_546_998_764_402_558_742);
    }

    #[test]
    fn rng_helpers_stay_in_range() {
        let mut r = Rng::new(1);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let u = r.next_f64();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
            sum += r.gaussian();
        }
        assert!((sum / 10_000.0).abs() < 0.05);
    }

    #[test]
    fn kernels_match_naive_sums() {
        for dim in [1usize, 7, 8, 97] {
            let a: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.3).sin()).collect();
            let b: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.7).cos()).collect();
            let l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let d: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((l2_squared(&a, &b) - l2).abs() < 1e-4 * (1.0 + l2));
            assert!((dot(&a, &b) - d).abs() < 1e-4 * (1.0 + d.abs()));
        }
    }

    fn naive(base: &[f32], queries: &[f32], dim: usize, k: usize, metric: DistanceMetric) -> Vec<Vec<u64>> {
        queries
            .chunks_exact(dim)
            .map(|q| {
                let mut all: Vec<(f32, u64)> = base
                    .chunks_exact(dim)
                    .enumerate()
                    .map(|(i, r)| {
                        let d = match metric {
                            DistanceMetric::L2 => q.iter().zip(r).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>(),
                            DistanceMetric::Cosine => {
                                let dd: f64 = q.iter().zip(r).map(|(x, y)| (*x as f64) * (*y as f64)).sum();
                                let nq: f64 = q.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                                let nr: f64 = r.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                                1.0 - dd / (nq * nr)
                            }
                            _ => -q.iter().zip(r).map(|(x, y)| (*x as f64) * (*y as f64)).sum::<f64>(),
                        };
                        (d as f32, i as u64)
                    })
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.into_iter().take(k).map(|x| x.1).collect()
            })
            .collect()
    }

    #[test]
    fn ground_truth_matches_a_naive_computation() {
        let dim = 24;
        let g = Generator::new(dim, 5, 3);
        let n = 5000u64;
        let ids: Vec<u64> = (0..n).collect();
        let mut base = Vec::new();
        g.base_chunk(&ids, &mut base);
        let q = g.queries(20);
        for metric in [DistanceMetric::L2, DistanceMetric::Cosine, DistanceMetric::InnerProduct] {
            let got = ground_truth_synthetic(&g, &ids, &q.data, 10, metric, |_| {});
            let want = naive(&base, &q.data, dim, 10, metric);
            let mut agree = 0;
            for (gq, wq) in got.iter().zip(&want) {
                assert_eq!(gq.len(), 10);
                assert!(gq.windows(2).all(|w| w[0].1 <= w[1].1), "sorted ascending");
                agree += gq.iter().filter(|(id, _)| wq.contains(id)).count();
            }
            // f32 vs f64 summation may swap exact near-ties only.
            assert!(agree >= 199, "{metric}: {agree}/200");
        }
        // Chunk boundaries do not matter.
        let mut acc = KnnAccumulator::new(&q.data, dim, 10, DistanceMetric::L2);
        for c in ids.chunks(333) {
            let mut buf = Vec::new();
            g.base_chunk(c, &mut buf);
            acc.add_chunk(c, &buf);
        }
        assert_eq!(acc.finish(), ground_truth_synthetic(&g, &ids, &q.data, 10, DistanceMetric::L2, |_| {}));
    }

    #[test]
    fn fewer_rows_than_k_returns_all() {
        let q = vec![0f32; 4];
        let mut acc = KnnAccumulator::new(&q, 4, 10, DistanceMetric::L2);
        acc.add_chunk(&[5, 6], &[1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0]);
        let r = acc.finish();
        assert_eq!(r[0].iter().map(|x| x.0).collect::<Vec<_>>(), vec![6, 5]);
    }
}
