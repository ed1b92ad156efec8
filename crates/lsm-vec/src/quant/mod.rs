//! Compressed copies of the vectors, kept in memory so that a search can navigate without
//! reading the vector file: SQ8 (one byte per dimension) or SQ4 (half a byte per dimension),
//! both with a per-dimension offset and scale (`scalar`).
//!
//! Codes are *derived* data: they are computed from the vectors when a vector is committed,
//! when the quantizer is (re)trained, and at open (in the same sequential pass that verifies
//! every record's checksum). Only the quantizer's parameters are persisted (`meta/sq8` or
//! `meta/sq4`), so
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

pub(crate) mod routing;
mod scalar;

pub(crate) use routing::{RouteQuery, Router};
pub(crate) use scalar::{ScalarQuantizer, Trainer};

use crate::distance::{self, Metric};
use crate::options::{DistanceMetric, Quantization};

/// Graph nodes needed before the first training.
pub(crate) const TRAIN_MIN: usize = 1000;
/// No doubling retrain past this many trained-on vectors (drift still retrains).
pub(crate) const RETRAIN_MAX: usize = 1 << 24;

/// Codes of every graph node, indexed by internal id.
pub(crate) struct Codes {
    pub sq: ScalarQuantizer,
    dim: usize,
    /// Bytes per code.
    code_len: usize,
    /// The codes, back to back from a cache-line boundary: a code whose length is a multiple
    /// of 64 bytes (SQ8 at 64, 128, 384, 768... dimensions; SQ4 at multiples of 128) loads
    /// exactly its own lines, where an unaligned one would touch one more line per visit.
    data: CodeLines,
    /// Exact norms (cosine only).
    norms: Vec<f32>,
    cosine: bool,
    /// Graph nodes the quantizer was trained on.
    pub trained_on: usize,
    /// Components encoded / clamped since the training.
    pub encoded: u64,
    pub clamped: u64,
    metric: DistanceMetric,
    /// Signatures for probabilistic routing, when that is on.
    pub router: Option<Router>,
    scratch: Vec<f32>,
}

impl Codes {
    pub fn new(sq: ScalarQuantizer, metric: DistanceMetric, trained_on: usize) -> Codes {
        let dim = sq.dim();
        Codes {
            code_len: sq.code_len(),
            sq,
            dim,
            data: CodeLines::default(),
            norms: Vec::new(),
            cosine: metric == DistanceMetric::Cosine,
            metric,
            trained_on,
            encoded: 0,
            clamped: 0,
            router: None,
            scratch: Vec::new(),
        }
    }

    /// Also keeps routing signatures (centred, under L2, on the middle of the quantizer's
    /// range), with failure bound `epsilon`. Call before the first `set`.
    pub fn with_router(mut self, epsilon: f32) -> Codes {
        let levels = ((1u32 << self.sq.bits) - 1) as f32;
        let centre: Vec<f32> = self.sq.lo.iter().zip(&self.sq.scale).map(|(l, s)| l + s * levels / 2.0).collect();
        self.router = Some(Router::new(self.dim, self.metric, &centre, epsilon));
        self
    }

    /// Stores the code of `v` for internal id `id`.
    pub fn set(&mut self, id: u32, v: &[f32]) {
        let (i, len) = (id as usize, self.code_len);
        if self.data.len < (i + 1) * len {
            let want = ((i + 1) * len).max(self.data.len * 5 / 4);
            self.data.grow(want.next_multiple_of(len));
            if self.cosine {
                grow_exact(&mut self.norms, self.data.len / len, 0.0);
            }
        }
        let clamped = self.sq.encode(v, &mut self.data.bytes_mut()[i * len..(i + 1) * len]);
        self.encoded += self.dim as u64;
        self.clamped += clamped as u64;
        if self.cosine {
            self.norms[i] = distance::dot(v, v).sqrt();
        }
        if let Some(r) = self.router.as_mut() {
            r.set(id, v, &mut self.scratch);
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
        self.data.len / self.code_len.max(1)
    }

    /// Bytes held (codes and norms).
    pub fn bytes(&self) -> u64 {
        (self.data.capacity_bytes() + self.norms.capacity() * 4) as u64 + self.router.as_ref().map_or(0, |r| r.bytes())
    }

    /// Bytes one more vector costs with quantizer `q` (0 for `none`).
    pub fn bytes_per_vector(dim: usize, metric: DistanceMetric, q: Quantization) -> u64 {
        let code = match bits_of(q) {
            None => return 0,
            Some(bits) => ScalarQuantizer::code_len_of(dim, bits) as u64,
        };
        code + if metric == DistanceMetric::Cosine { 4 } else { 0 }
    }

    /// Asks the CPU to start loading the code of `id`.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        let i = id as usize * self.code_len;
        if i < self.data.len {
            let p = self.data.bytes()[i..].as_ptr();
            // Every line the code touches (one more when it does not start on a line).
            let lines = (p as usize % 64 + self.code_len).div_ceil(64);
            crate::prefetch::prefetch_ptr(p, lines);
        }
    }

    fn code(&self, id: u32) -> &[u8] {
        let i = id as usize * self.code_len;
        &self.data.bytes()[i..i + self.code_len]
    }

    /// The vector the code of `id` stands for (`lo + scale * code`), written to `out`.
    pub fn decode(&self, id: u32, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.dim, 0.0);
        let c = self.code(id);
        let (lo, scale) = (&self.sq.lo[..self.dim], &self.sq.scale[..self.dim]);
        // Straight loops over equal-length slices, so that the compiler vectorizes them (the
        // write path decodes about a thousand codes per insert).
        if self.sq.bits == 4 {
            let pairs = out.chunks_exact_mut(2).zip(lo.chunks_exact(2)).zip(scale.chunks_exact(2));
            for (((o, l), s), &b) in pairs.zip(c) {
                o[0] = l[0] + s[0] * (b & 0x0F) as f32;
                o[1] = l[1] + s[1] * (b >> 4) as f32;
            }
            if self.dim % 2 == 1 {
                let i = self.dim - 1;
                out[i] = lo[i] + scale[i] * distance::nibble(c, i);
            }
        } else {
            for (((o, l), s), &b) in out.iter_mut().zip(lo).zip(scale).zip(c) {
                *o = l + s * b as f32;
            }
        }
    }

    /// The score `v`'s own code would get for `cq` (what an exact duplicate of `v` scores).
    pub fn self_score(&self, cq: &CodeQuery, v: &[f32], buf: &mut Vec<u8>) -> f32 {
        buf.clear();
        buf.resize(self.code_len, 0);
        self.sq.encode(v, buf);
        let norm = if self.cosine { distance::dot(v, v).sqrt() } else { 0.0 };
        self.score_code(cq, buf, norm)
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
        self.score_code(cq, self.code(id), norm)
    }

    /// The approximate score of code `c` (of a vector of norm `norm`, used under cosine only).
    #[inline]
    fn score_code(&self, cq: &CodeQuery, c: &[u8], norm: f32) -> f32 {
        let four = self.sq.bits == 4;
        match cq {
            CodeQuery::L2 { qd } if four => distance::sq4_l2(qd, &self.sq.scale, c),
            CodeQuery::L2 { qd } => distance::sq8_l2(qd, &self.sq.scale, c),
            CodeQuery::Dot { qs, bias, inv_qnorm, cosine } => {
                let d = bias + if four { distance::sq4_dot(qs, c) } else { distance::sq8_dot(qs, c) };
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

/// Bits per dimension of quantizer `q` (`None` for no codes).
pub(crate) fn bits_of(q: Quantization) -> Option<u8> {
    match q {
        Quantization::None => None,
        Quantization::Sq8 => Some(8),
        Quantization::Sq4 => Some(4),
    }
}

/// Resizes `v` to `len` (>= its length) with capacity exactly `len`, filling with `fill`.
/// One cache line of code bytes.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A byte array that starts on a cache-line boundary and grows by exact amounts.
#[derive(Default)]
struct CodeLines {
    lines: Vec<Line>,
    /// Bytes in use (the lines hold `len` rounded up to 64).
    len: usize,
}

impl CodeLines {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `Line` is `repr(C)` over `[u8; 64]` (size 64, no padding), so the lines are
        // `lines.len() * 64` initialised bytes; `len` never exceeds that.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<u8>(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and the slice borrows `self` mutably.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// Grows to `len` bytes (new bytes are zero).
    fn grow(&mut self, len: usize) {
        grow_exact(&mut self.lines, len.div_ceil(64), Line([0; 64]));
        self.len = self.len.max(len);
    }

    fn capacity_bytes(&self) -> usize {
        self.lines.capacity() * 64
    }
}

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
        let mut r = crate::rng::SplitMix64::new(7);
        let mut next = || r.next_f64() as f32 * 2.0 - 1.0;
        let vs: Vec<Vec<f32>> = (0..200).map(|_| (0..dim).map(|_| next()).collect()).collect();
        for (bits, metric) in [8u8, 4]
            .into_iter()
            .flat_map(|b| [DistanceMetric::L2, DistanceMetric::InnerProduct, DistanceMetric::Cosine].map(|m| (b, m)))
        {
            let sq = ScalarQuantizer::train(dim, bits, vs.iter().map(|v| v.as_slice()));
            let mut codes = Codes::new(sq, metric, vs.len());
            for (i, v) in vs.iter().enumerate() {
                codes.set(i as u32, v);
            }
            // SQ4 trims the range (a few values clamp); SQ8 covers it.
            assert!(if bits == 8 { codes.clamped == 0 } else { codes.clamped < codes.encoded / 50 });
            let m = Metric(metric);
            let q = &vs[3];
            let cq = codes.prepare(m, q);
            for (i, v) in vs.iter().enumerate() {
                let exact = m.score(&m.prepare(q), v);
                let approx = codes.score(&cq, i as u32);
                // SQ4's step is 17 times SQ8's: its error is that much larger.
                let f = if bits == 8 { 1.0 } else { 17.0 };
                let tol = f * match metric {
                    DistanceMetric::L2 => 0.02 * exact.max(0.1 * f),
                    _ => 0.05,
                };
                assert!((exact - approx).abs() <= tol, "sq{bits} {metric:?} {i}: exact {exact} approx {approx}");
                // Decoding gives `lo + scale * component`, component by component (odd `dim`:
                // SQ4's last byte holds one component).
                let mut dv = Vec::new();
                codes.decode(i as u32, &mut dv);
                let c = codes.code(i as u32);
                let want: Vec<f32> =
                    (0..dim).map(|j| codes.sq.lo[j] + codes.sq.scale[j] * codes.sq.component(c, j)).collect();
                assert_eq!(dv, want, "sq{bits} decode of {i}");
                // The decoded vector scores what the code scores (cosine: the code's score uses
                // the exact norm instead of the decoded one).
                if metric == DistanceMetric::Cosine {
                    continue;
                }
                let via_decoded = m.score(&m.prepare(q), &dv);
                assert!((via_decoded - approx).abs() <= 1e-3 * via_decoded.abs().max(1.0), "sq{bits} {metric:?} {i}");
            }
        }
    }
}
