//! Probabilistic routing (option `routing = Probabilistic`): before a layer-0 search scores a
//! neighbour, a SimHash test may decide that it is unlikely to beat the current `ef`-th best
//! score, and skip it (after Lu, Xiao and Ishikawa, "Probabilistic Routing for Graph-Based
//! ANNS", ICML 2024, and the sampling-based search of LSM-VEC).
//!
//! Each graph node keeps a `BITS`-bit signature, the signs of `BITS` fixed random Gaussian
//! projections of its vector (minus a centre, under L2), and the norm of that vector. For a
//! query with signature `s_q`, the Hamming distance `h` to a node's signature estimates the angle
//! between them: each bit differs with probability `θ / π`, so by Hoeffding's inequality
//! `θ >= π (h / BITS - t)` with probability at least `1 - ε` for `t = sqrt(ln(1/ε) / (2 BITS))`.
//! From that lower bound on the angle and the two norms follows a lower bound on the score (L2:
//! `|q|² + |x|² - 2 |q| |x| cos θ`; inner product: `-|q| |x| cos θ`; cosine: `1 - cos θ`); the
//! neighbour is skipped when the bound exceeds the current worst score of the full result
//! pool. So a neighbour that would have entered the pool is wrongly skipped with probability at
//! most `ε` per test. The signatures are derived data, like the codes, and live beside them.

use crate::distance;
use crate::options::DistanceMetric;

/// Signature bits per node.
pub(crate) const BITS: usize = 128;
const WORDS: usize = BITS / 64;
/// Seed of the projection directions (fixed: signatures are recomputed at every open).
const SEED: u64 = 0x5151_4841_5348_0001;

/// The projections, the centre and every node's signature and norm.
pub(crate) struct Router {
    dim: usize,
    /// `BITS` directions of `dim` floats, back to back.
    dirs: Vec<f32>,
    /// Subtracted before projecting under L2 (the middle of the quantizer's range); zero for the
    /// angle-based metrics.
    centre: Vec<f32>,
    metric: DistanceMetric,
    sigs: Vec<[u64; WORDS]>,
    norms: Vec<f32>,
    /// `t` of the Hoeffding bound for the configured `ε`.
    slack: f32,
}

/// A query prepared for the test.
pub(crate) struct RouteQuery {
    sig: [u64; WORDS],
    norm: f32,
}

impl Router {
    /// A router for `dim`-dimensional vectors under `metric`, centred on `centre` under L2,
    /// with failure probability `epsilon` (0 < ε < 1) per test.
    pub fn new(dim: usize, metric: DistanceMetric, centre: &[f32], epsilon: f32) -> Router {
        let mut rng = crate::rng::SplitMix64::new(SEED ^ dim as u64);
        let dirs = (0..BITS * dim).map(|_| rng.gaussian() as f32).collect();
        let centre = if metric == DistanceMetric::L2 { centre.to_vec() } else { vec![0.0; dim] };
        let eps = (epsilon as f64).clamp(1e-9, 1.0 - 1e-9);
        let slack = ((1.0 / eps).ln() / (2.0 * BITS as f64)).sqrt() as f32;
        Router { dim, dirs, centre, metric, sigs: Vec::new(), norms: Vec::new(), slack }
    }

    fn sign_and_norm(&self, v: &[f32], scratch: &mut Vec<f32>) -> ([u64; WORDS], f32) {
        scratch.clear();
        scratch.extend(v.iter().zip(&self.centre).map(|(x, c)| x - c));
        let mut sig = [0u64; WORDS];
        for (b, dir) in self.dirs.chunks_exact(self.dim.max(1)).enumerate() {
            if distance::dot(dir, scratch) >= 0.0 {
                sig[b / 64] |= 1 << (b % 64);
            }
        }
        (sig, distance::dot(scratch, scratch).sqrt())
    }

    /// Stores the signature of `v` for internal id `id` (growing like the codes).
    pub fn set(&mut self, id: u32, v: &[f32], scratch: &mut Vec<f32>) {
        let i = id as usize;
        if self.sigs.len() <= i {
            let want = (i + 1).max(self.sigs.len() * 5 / 4);
            super::grow_exact(&mut self.sigs, want, [0; WORDS]);
            super::grow_exact(&mut self.norms, want, 0.0);
        }
        let (sig, norm) = self.sign_and_norm(v, scratch);
        self.sigs[i] = sig;
        self.norms[i] = norm;
    }

    pub fn prepare(&self, q: &[f32]) -> RouteQuery {
        let (sig, norm) = self.sign_and_norm(q, &mut Vec::with_capacity(self.dim));
        RouteQuery { sig, norm }
    }

    /// Whether node `id` (whose signature is set) may be skipped: with probability at least
    /// `1 - ε` its score for `rq` is above `worst`.
    #[inline]
    pub fn skip(&self, rq: &RouteQuery, id: u32, worst: f32) -> bool {
        let i = id as usize;
        let Some(sig) = self.sigs.get(i) else { return false };
        let h: u32 = sig.iter().zip(&rq.sig).map(|(a, b)| (a ^ b).count_ones()).sum();
        let frac = h as f32 / BITS as f32 - self.slack;
        if frac <= 0.0 {
            return false;
        }
        let cos = (std::f32::consts::PI * frac.min(1.0)).cos();
        let (nq, nx) = (rq.norm, self.norms[i]);
        let bound = match self.metric {
            DistanceMetric::L2 => nq * nq + nx * nx - 2.0 * nq * nx * cos,
            DistanceMetric::InnerProduct => -nq * nx * cos,
            DistanceMetric::Cosine => 1.0 - cos,
        };
        bound > worst
    }

    pub fn bytes(&self) -> u64 {
        (self.sigs.capacity() * WORDS * 8 + self.norms.capacity() * 4 + self.dirs.capacity() * 4) as u64
    }

    /// Bytes one more node costs.
    pub const BYTES_PER_NODE: u64 = (WORDS * 8 + 4) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound holds: over many random pairs, a skipped pair's true score is above the
    /// threshold in all but about `ε` of the tests.
    #[test]
    fn skipped_nodes_are_rarely_better_than_the_threshold() {
        let dim = 48;
        let mut rng = crate::rng::SplitMix64::new(3);
        let vs: Vec<Vec<f32>> = (0..400).map(|_| (0..dim).map(|_| rng.gaussian() as f32).collect()).collect();
        for metric in [DistanceMetric::L2, DistanceMetric::InnerProduct, DistanceMetric::Cosine] {
            let eps = 0.1;
            let mut r = Router::new(dim, metric, &vec![0.0; dim], eps);
            let mut scratch = Vec::new();
            for (i, v) in vs.iter().enumerate() {
                r.set(i as u32, v, &mut scratch);
            }
            let m = distance::Metric(metric);
            let (mut skipped, mut wrong) = (0, 0);
            for q in vs.iter().take(40) {
                let rq = r.prepare(q);
                let pq = m.prepare(q);
                let mut scores: Vec<f32> = vs.iter().map(|v| m.score(&pq, v)).collect();
                scores.sort_by(f32::total_cmp);
                let worst = scores[20];
                for (i, v) in vs.iter().enumerate() {
                    if r.skip(&rq, i as u32, worst) {
                        skipped += 1;
                        if m.score(&pq, v) <= worst {
                            wrong += 1;
                        }
                    }
                }
            }
            assert!(skipped > 1000, "{metric:?}: the test skips far nodes ({skipped})");
            assert!((wrong as f64) <= eps as f64 * skipped as f64, "{metric:?}: {wrong} of {skipped} skips were wrong");
        }
    }
}
