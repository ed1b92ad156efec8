//! Distance metrics and their kernels (pure functions).
//!
//! `scalar` is the reference; `x86_avx2` is used when the CPU has AVX2 and FMA (detected once).
//! Internally the index compares "scores" that order like the reported distance but are cheaper:
//! squared L2 for `L2`, `1 - cos` for Cosine, `-dot` for InnerProduct. [`Metric::report`] turns a
//! score into the distance the API returns.

mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;

use std::sync::OnceLock;

/// The packing of SQ4 codes (shared with `quant`, which writes them).
pub(crate) use scalar::nibble;

use crate::options::DistanceMetric;

/// A set of kernels for one instruction set.
#[derive(Clone, Copy)]
struct Kernels {
    name: &'static str,
    l2_sq: fn(&[f32], &[f32]) -> f32,
    dot: fn(&[f32], &[f32]) -> f32,
    sq8_l2: fn(&[f32], &[f32], &[u8]) -> f32,
    sq8_dot: fn(&[f32], &[u8]) -> f32,
    sq4_l2: fn(&[f32], &[f32], &[u8]) -> f32,
    sq4_dot: fn(&[f32], &[u8]) -> f32,
}

fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernels {
                    name: "avx2+fma",
                    l2_sq: x86_avx2::l2_sq,
                    dot: x86_avx2::dot,
                    sq8_l2: x86_avx2::sq8_l2,
                    sq8_dot: x86_avx2::sq8_dot,
                    sq4_l2: x86_avx2::sq4_l2,
                    sq4_dot: x86_avx2::sq4_dot,
                };
            }
        }
        Kernels {
            name: "scalar",
            l2_sq: scalar::l2_sq,
            dot: scalar::dot,
            sq8_l2: scalar::sq8_l2,
            sq8_dot: scalar::sq8_dot,
            sq4_l2: scalar::sq4_l2,
            sq4_dot: scalar::sq4_dot,
        }
    })
}

/// Squared Euclidean distance with the best available kernel. Panics if lengths differ.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    (kernels().l2_sq)(a, b)
}

/// Dot product with the best available kernel. Panics if lengths differ.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    (kernels().dot)(a, b)
}

/// Squared L2 between a query minus the SQ8 offsets (`qd`) and SQ8 code `c` with per-dimension
/// `scale`: `sum (qd[i] - scale[i] * c[i])^2`. Panics if lengths differ.
#[inline]
pub fn sq8_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    assert!(qd.len() == scale.len() && qd.len() == c.len(), "vector lengths differ");
    (kernels().sq8_l2)(qd, scale, c)
}

/// Dot product of a pre-scaled query `qs` (query times the SQ8 scales) and SQ8 code `c`.
/// Panics if lengths differ.
#[inline]
pub fn sq8_dot(qs: &[f32], c: &[u8]) -> f32 {
    assert_eq!(qs.len(), c.len(), "vector lengths differ");
    (kernels().sq8_dot)(qs, c)
}

/// [`sq8_l2`] for a packed 4-bit code `c` (`dim.div_ceil(2)` bytes; dimension `2k` in the
/// low nibble of byte `k`). Panics if lengths differ.
#[inline]
pub fn sq4_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    assert!(qd.len() == scale.len() && qd.len().div_ceil(2) == c.len(), "vector lengths differ");
    (kernels().sq4_l2)(qd, scale, c)
}

/// [`sq8_dot`] for a packed 4-bit code `c` (see [`sq4_l2`]). Panics if lengths differ.
#[inline]
pub fn sq4_dot(qs: &[f32], c: &[u8]) -> f32 {
    assert_eq!(qs.len().div_ceil(2), c.len(), "vector lengths differ");
    (kernels().sq4_dot)(qs, c)
}

/// Reference (scalar) [`sq4_l2`].
pub fn sq4_l2_scalar(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    scalar::sq4_l2(qd, scale, c)
}

/// Reference (scalar) [`sq4_dot`].
pub fn sq4_dot_scalar(qs: &[f32], c: &[u8]) -> f32 {
    scalar::sq4_dot(qs, c)
}

/// Reference (scalar) [`sq8_l2`].
pub fn sq8_l2_scalar(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    scalar::sq8_l2(qd, scale, c)
}

/// Reference (scalar) [`sq8_dot`].
pub fn sq8_dot_scalar(qs: &[f32], c: &[u8]) -> f32 {
    scalar::sq8_dot(qs, c)
}

/// Reference (scalar) squared Euclidean distance.
pub fn l2_sq_scalar(a: &[f32], b: &[f32]) -> f32 {
    scalar::l2_sq(a, b)
}

/// Reference (scalar) dot product.
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    scalar::dot(a, b)
}

/// Name of the kernel set in use (`"avx2+fma"` or `"scalar"`).
pub fn kernel_name() -> &'static str {
    kernels().name
}

/// A metric bound to its kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Metric(pub DistanceMetric);

/// A query prepared for repeated scoring (its norm precomputed for cosine).
pub(crate) struct Query<'a> {
    pub v: &'a [f32],
    inv_norm: f32,
    /// Distinct for every `prepare` on a thread, so that a scorer can cache a derived form of
    /// the query (its code form) without comparing vectors.
    pub tag: u64,
}

thread_local! {
    static NEXT_TAG: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Metric {
    pub fn prepare<'a>(&self, v: &'a [f32]) -> Query<'a> {
        let inv_norm = match self.0 {
            DistanceMetric::Cosine => {
                let n = dot(v, v).sqrt();
                if n > 0.0 {
                    1.0 / n
                } else {
                    0.0
                }
            }
            _ => 1.0,
        };
        let tag = NEXT_TAG.with(|t| {
            let x = t.get().wrapping_add(1);
            t.set(x);
            x
        });
        Query { v, inv_norm, tag }
    }

    /// Score of a stored vector against a prepared query (smaller is closer).
    #[inline]
    pub fn score(&self, q: &Query<'_>, x: &[f32]) -> f32 {
        match self.0 {
            DistanceMetric::L2 => l2_sq(q.v, x),
            DistanceMetric::InnerProduct => -dot(q.v, x),
            DistanceMetric::Cosine => {
                let d = dot(q.v, x);
                let n = dot(x, x);
                if n <= 0.0 || q.inv_norm == 0.0 {
                    1.0
                } else {
                    1.0 - d * q.inv_norm / n.sqrt()
                }
            }
        }
    }

    /// The distance reported to callers for a score.
    #[inline]
    pub fn report(&self, score: f32) -> f32 {
        match self.0 {
            DistanceMetric::L2 => score.max(0.0).sqrt(),
            _ => score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vecs(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let a = (0..n).map(|_| next()).collect();
        let b = (0..n).map(|_| next()).collect();
        (a, b)
    }

    #[test]
    fn kernels_match_scalar_reference_on_odd_dimensions() {
        for &d in &[1usize, 2, 3, 7, 8, 15, 16, 17, 31, 97, 128, 384, 1000, 1536, 3072] {
            let (a, b) = vecs(d, d as u64 + 1);
            let (r1, r2) = (l2_sq_scalar(&a, &b), l2_sq(&a, &b));
            assert!((r1 - r2).abs() <= 1e-4 * r1.abs().max(1.0), "l2 d={d}: {r1} vs {r2}");
            let (r1, r2) = (dot_scalar(&a, &b), dot(&a, &b));
            assert!((r1 - r2).abs() <= 1e-4 * r1.abs().max(1.0), "dot d={d}: {r1} vs {r2}");
        }
        eprintln!("kernel in use: {}", kernel_name());
    }

    #[test]
    fn sq8_kernels_match_scalar_reference_on_odd_dimensions() {
        for &d in &[1usize, 2, 3, 7, 8, 9, 15, 16, 17, 31, 97, 128, 384, 1000, 1536] {
            let (a, b) = vecs(d, d as u64 + 7);
            let c: Vec<u8> = b.iter().map(|x| ((x + 1.0) * 127.0) as u8).collect();
            let scale: Vec<f32> = a.iter().map(|x| x.abs() * 0.01 + 0.001).collect();
            let (r1, r2) = (sq8_l2_scalar(&a, &scale, &c), sq8_l2(&a, &scale, &c));
            assert!((r1 - r2).abs() <= 1e-4 * r1.abs().max(1.0), "sq8 l2 d={d}: {r1} vs {r2}");
            // The reference itself against a plain f64 computation.
            let exact: f64 = (0..d).map(|i| (a[i] as f64 - scale[i] as f64 * c[i] as f64).powi(2)).sum();
            assert!((r1 as f64 - exact).abs() <= 1e-4 * exact.max(1.0), "sq8 l2 d={d}: {r1} vs {exact}");
            let (r1, r2) = (sq8_dot_scalar(&a, &c), sq8_dot(&a, &c));
            assert!((r1 - r2).abs() <= 1e-4 * r1.abs().max(1.0), "sq8 dot d={d}: {r1} vs {r2}");
            let exact: f64 = (0..d).map(|i| a[i] as f64 * c[i] as f64).sum();
            assert!((r1 as f64 - exact).abs() <= 1e-4 * exact.abs().max(1.0), "sq8 dot d={d}: {r1} vs {exact}");
        }
    }

    #[test]
    fn sq4_kernels_match_scalar_reference_on_odd_dimensions() {
        for &d in &[1usize, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 97, 128, 384, 1000, 1536] {
            let (a, b) = vecs(d, d as u64 + 11);
            let nib: Vec<u8> = b.iter().map(|x| ((x + 1.0) * 7.9) as u8).collect();
            let mut c = vec![0u8; d.div_ceil(2)];
            for (i, &x) in nib.iter().enumerate() {
                c[i / 2] |= x << ((i & 1) * 4);
            }
            let scale: Vec<f32> = a.iter().map(|x| x.abs() * 0.1 + 0.01).collect();
            let (r1, r2) = (sq4_l2_scalar(&a, &scale, &c), sq4_l2(&a, &scale, &c));
            assert!((r1 - r2).abs() <= 1e-4 * r1.abs().max(1.0), "sq4 l2 d={d}: {r1} vs {r2}");
            let exact: f64 = (0..d).map(|i| (a[i] as f64 - scale[i] as f64 * nib[i] as f64).powi(2)).sum();
            assert!((r1 as f64 - exact).abs() <= 1e-4 * exact.max(1.0), "sq4 l2 d={d}: {r1} vs {exact}");
            let (r1, r2) = (sq4_dot_scalar(&a, &c), sq4_dot(&a, &c));
            assert!((r1 - r2).abs() <= 1e-4 * r1.abs().max(1.0), "sq4 dot d={d}: {r1} vs {r2}");
            let exact: f64 = (0..d).map(|i| a[i] as f64 * nib[i] as f64).sum();
            assert!((r1 as f64 - exact).abs() <= 1e-4 * exact.abs().max(1.0), "sq4 dot d={d}: {r1} vs {exact}");
        }
    }

    #[test]
    fn metrics_report_expected_distances() {
        let a = [3.0f32, 0.0];
        let b = [0.0f32, 4.0];
        let l2 = Metric(DistanceMetric::L2);
        assert_eq!(l2.report(l2.score(&l2.prepare(&a), &b)), 5.0);
        let ip = Metric(DistanceMetric::InnerProduct);
        assert_eq!(ip.report(ip.score(&ip.prepare(&a), &[2.0, 1.0])), -6.0);
        let cos = Metric(DistanceMetric::Cosine);
        let d = cos.report(cos.score(&cos.prepare(&a), &b));
        assert!((d - 1.0).abs() < 1e-6);
        let d = cos.report(cos.score(&cos.prepare(&a), &[6.0, 0.0]));
        assert!(d.abs() < 1e-6);
    }
}
