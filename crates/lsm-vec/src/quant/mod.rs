//! Compressed copies of the vectors, kept in memory so that a search can navigate without
//! reading the vector file: today SQ8 (one byte per dimension, per-dimension offset and scale).
//!
//! Codes are *derived* data: they are computed from the vectors when a vector is committed,
//! when the quantizer is (re)trained, and at open (in the same sequential pass that verifies
//! every record's checksum). Only the quantizer's parameters are persisted (`meta/sq8`), so
//! codes can never disagree with the vectors they stand for, and no second crash protocol is
//! needed. Who calls it: `db` (training, encoding, installing codes) and, through `db::txn`,
//! the search. It calls `distance` for its kernels.
//!
//! Training rule: the quantizer is trained once `TRAIN_MIN` graph nodes exist (before that,
//! searches use the full vectors), and retrained each time the number of graph nodes doubles
//! (up to `RETRAIN_MAX`), or when more than 1% of the components encoded since the last
//! training fell outside the trained range. A value outside the range is clamped to it (code 0
//! or 255): its code distance is then a little off, and the exact re-rank corrects the order
//! of the final candidates.

mod sq8;

pub(crate) use sq8::Sq8;

use crate::distance::{self, Metric};
use crate::options::DistanceMetric;

/// Graph nodes needed before the first training.
pub(crate) const TRAIN_MIN: usize = 1000;
/// No doubling retrain past this many trained-on vectors (drift still retrains).
pub(crate) const RETRAIN_MAX: usize = 1 << 24;

/// Codes of every graph node, indexed by internal id.
pub(crate) struct Codes {
    pub sq: Sq8,
    dim: usize,
    data: Vec<u8>,
    /// Exact norms (cosine only).
    norms: Vec<f32>,
    cosine: bool,
    /// Graph nodes the quantizer was trained on.
    pub trained_on: usize,
    /// Components encoded / clamped since the training.
    pub encoded: u64,
    pub clamped: u64,
}

impl Codes {
    pub fn new(sq: Sq8, metric: DistanceMetric, trained_on: usize) -> Codes {
        let dim = sq.dim();
        Codes {
            sq,
            dim,
            data: Vec::new(),
            norms: Vec::new(),
            cosine: metric == DistanceMetric::Cosine,
            trained_on,
            encoded: 0,
            clamped: 0,
        }
    }

    /// Stores the code of `v` for internal id `id`.
    pub fn set(&mut self, id: u32, v: &[f32]) {
        let i = id as usize;
        if self.data.len() < (i + 1) * self.dim {
            let want = ((i + 1) * self.dim).max(self.data.len() * 5 / 4);
            // Growth by a quarter, exactly: `resize` alone would double the capacity.
            grow_exact(&mut self.data, want.next_multiple_of(self.dim), 0);
            if self.cosine {
                grow_exact(&mut self.norms, self.data.len() / self.dim, 0.0);
            }
        }
        let clamped = self.sq.encode(v, &mut self.data[i * self.dim..(i + 1) * self.dim]);
        self.encoded += self.dim as u64;
        self.clamped += clamped as u64;
        if self.cosine {
            self.norms[i] = distance::dot(v, v).sqrt();
        }
    }

    /// Forgets the clamping counts (after encoding the training data itself).
    pub fn reset_drift(&mut self) {
        self.encoded = 0;
        self.clamped = 0;
    }

    /// Whether the data drifted out of the trained range (more than 1% of the components
    /// encoded since the training were clamped, over at least `TRAIN_MIN` vectors).
    pub fn drifted(&self) -> bool {
        self.encoded >= (TRAIN_MIN * self.dim) as u64 && self.clamped * 100 > self.encoded
    }

    /// Graph-node slots the codes cover (the highest internal id + 1, rounded up).
    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    /// Bytes held (codes and norms).
    pub fn bytes(&self) -> u64 {
        (self.data.capacity() + self.norms.capacity() * 4) as u64
    }

    /// Bytes one more vector costs.
    pub fn bytes_per_vector(dim: usize, metric: DistanceMetric) -> u64 {
        dim as u64 + if metric == DistanceMetric::Cosine { 4 } else { 0 }
    }

    /// Asks the CPU to start loading the code of `id`.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        let i = id as usize * self.dim;
        if i < self.data.len() {
            crate::vectors::prefetch_ptr(self.data[i..].as_ptr(), self.dim.div_ceil(64));
        }
    }

    fn code(&self, id: u32) -> &[u8] {
        let i = id as usize * self.dim;
        &self.data[i..i + self.dim]
    }

    /// The vector the code of `id` stands for (`lo + scale * code`), written to `out`.
    pub fn decode(&self, id: u32, out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.code(id).iter().zip(self.sq.lo.iter().zip(&self.sq.scale)).map(|(&c, (l, s))| l + s * c as f32));
    }

    /// The score `v`'s own code would get for `cq` (what an exact duplicate of `v` scores).
    pub fn self_score(&self, cq: &CodeQuery, v: &[f32], buf: &mut Vec<u8>) -> f32 {
        buf.clear();
        buf.resize(self.dim, 0);
        self.sq.encode(v, buf);
        let norm = if self.cosine { distance::dot(v, v).sqrt() } else { 0.0 };
        Self::score_code(cq, &self.sq.scale, buf, norm)
    }

    /// Prepares query `q` (its metric's `prepare`d form) for scoring against codes.
    pub fn prepare(&self, metric: Metric, q: &[f32]) -> CodeQuery {
        match metric.0 {
            DistanceMetric::L2 => CodeQuery::L2 { qd: q.iter().zip(&self.sq.lo).map(|(x, l)| x - l).collect() },
            m => {
                let qs: Vec<f32> = q.iter().zip(&self.sq.scale).map(|(x, s)| x * s).collect();
                let bias = distance::dot(q, &self.sq.lo);
                let inv_qnorm = if m == DistanceMetric::Cosine {
                    let n = distance::dot(q, q).sqrt();
                    if n > 0.0 {
                        1.0 / n
                    } else {
                        0.0
                    }
                } else {
                    1.0
                };
                CodeQuery::Dot { qs, bias, inv_qnorm, cosine: m == DistanceMetric::Cosine }
            }
        }
    }

    /// The approximate score (same meaning as `Metric::score`) of graph node `id` for `cq`.
    #[inline]
    pub fn score(&self, cq: &CodeQuery, id: u32) -> f32 {
        let norm = if self.cosine { self.norms[id as usize] } else { 0.0 };
        Self::score_code(cq, &self.sq.scale, self.code(id), norm)
    }

    /// The approximate score of code `c` (of a vector of norm `norm`, used under cosine only).
    #[inline]
    fn score_code(cq: &CodeQuery, scale: &[f32], c: &[u8], norm: f32) -> f32 {
        match cq {
            CodeQuery::L2 { qd } => distance::sq8_l2(qd, scale, c),
            CodeQuery::Dot { qs, bias, inv_qnorm, cosine } => {
                let d = bias + distance::sq8_dot(qs, c);
                if *cosine {
                    if norm > 0.0 {
                        1.0 - d * inv_qnorm / norm
                    } else {
                        1.0
                    }
                } else {
                    -d
                }
            }
        }
    }
}

/// Resizes `v` to `len` (>= its length) with capacity exactly `len`, filling with `fill`.
fn grow_exact<T: Clone>(v: &mut Vec<T>, len: usize, fill: T) {
    v.reserve_exact(len.saturating_sub(v.len()));
    v.resize(len, fill);
}

/// A query prepared for code scoring.
pub(crate) enum CodeQuery {
    /// `qd = q - lo`.
    L2 { qd: Vec<f32> },
    /// `dot(q, x) ≈ bias + sum qs_i c_i` with `qs = q * scale`, `bias = dot(q, lo)`.
    Dot { qs: Vec<f32>, bias: f32, inv_qnorm: f32, cosine: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_scores_approximate_exact_scores() {
        let dim = 37;
        let mut s = 7u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let vs: Vec<Vec<f32>> = (0..200).map(|_| (0..dim).map(|_| next()).collect()).collect();
        for metric in [DistanceMetric::L2, DistanceMetric::InnerProduct, DistanceMetric::Cosine] {
            let sq = Sq8::train(dim, vs.iter().map(|v| v.as_slice()));
            let mut codes = Codes::new(sq, metric, vs.len());
            for (i, v) in vs.iter().enumerate() {
                codes.set(i as u32, v);
            }
            assert_eq!(codes.clamped, 0);
            let m = Metric(metric);
            let q = &vs[3];
            let cq = codes.prepare(m, q);
            for (i, v) in vs.iter().enumerate() {
                let exact = m.score(&m.prepare(q), v);
                let approx = codes.score(&cq, i as u32);
                let tol = match metric {
                    DistanceMetric::L2 => 0.02 * exact.max(0.1),
                    _ => 0.05,
                };
                assert!((exact - approx).abs() <= tol, "{metric:?} {i}: exact {exact} approx {approx}");
            }
        }
    }
}
