//! Scalar quantizers: each dimension mapped linearly onto `0..=levels` (255 for SQ8, 15 for
//! SQ4) over a per-dimension range learned in training (`x ≈ lo + scale * code`).
//!
//! SQ8 takes the range from the minimum to the maximum seen. SQ4 has only 16 levels, which one
//! outlier would stretch for every other value, so it takes the range between the 0.1% and the
//! 99.9% quantiles of (at most `QUANTILE_SAMPLES`) training vectors: the rare values outside are
//! clamped, and the exact re-rank corrects their order.

/// Most training vectors the SQ4 quantiles are computed from (a stride over the input; 16
/// values beyond each 0.1% quantile at most)...
const QUANTILE_SAMPLES: usize = 1 << 14;
/// ... and most bytes they may take (the sample is transient, but it adds to the peak RSS of
/// every retraining: 64k x 128-d samples added 33 MB to the churn replay's peak).
const QUANTILE_SAMPLE_BYTES: usize = 16 << 20;
/// Fraction of the values SQ4 leaves outside its range on each side.
const TRIM: f64 = 0.001;

/// Per-dimension offsets and scales, for 8 or 4 bits per dimension.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScalarQuantizer {
    pub bits: u8,
    pub lo: Vec<f32>,
    pub scale: Vec<f32>,
}

impl ScalarQuantizer {
    /// Trains a `bits`-bit (8 or 4) quantizer on `samples` (each of length `dim`; at least one).
    #[cfg(test)]
    pub fn train<'a>(dim: usize, bits: u8, samples: impl ExactSizeIterator<Item = &'a [f32]>) -> ScalarQuantizer {
        let mut t = Trainer::new(dim, bits, samples.len());
        for v in samples {
            t.add(v);
        }
        t.finish()
    }

    fn from_range(bits: u8, mut lo: Vec<f32>, hi: Vec<f32>) -> ScalarQuantizer {
        let levels = Self::levels_of(bits);
        let scale = lo
            .iter_mut()
            .zip(&hi)
            .map(|(l, &h)| {
                if !l.is_finite() || !h.is_finite() {
                    *l = 0.0;
                    return 1.0;
                }
                let s = (h - *l) / levels;
                if s > 0.0 && s.is_finite() {
                    s
                } else {
                    // A constant dimension: any positive scale encodes it exactly as code 0.
                    1.0
                }
            })
            .collect();
        ScalarQuantizer { bits, lo, scale }
    }

    fn levels_of(bits: u8) -> f32 {
        ((1u32 << bits) - 1) as f32
    }

    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// Bytes of one code.
    pub fn code_len(&self) -> usize {
        Self::code_len_of(self.dim(), self.bits)
    }

    pub fn code_len_of(dim: usize, bits: u8) -> usize {
        if bits == 4 {
            dim.div_ceil(2)
        } else {
            dim
        }
    }

    /// Encodes `v` into `out` (`code_len()` bytes; 4-bit codes packed low nibble first);
    /// returns how many components were clamped to the range.
    pub fn encode(&self, v: &[f32], out: &mut [u8]) -> usize {
        let levels = Self::levels_of(self.bits);
        let mut clamped = 0;
        if self.bits == 4 {
            out.fill(0);
        }
        for i in 0..self.dim() {
            let c = ((v[i] - self.lo[i]) / self.scale[i]).round();
            if !(0.0..=levels).contains(&c) {
                clamped += 1;
            }
            let c = c.clamp(0.0, levels) as u8;
            if self.bits == 4 {
                out[i / 2] |= c << ((i & 1) * 4);
            } else {
                out[i] = c;
            }
        }
        clamped
    }

    /// Component `i` of code `c`.
    #[inline]
    #[cfg(test)]
    pub fn component(&self, c: &[u8], i: usize) -> f32 {
        if self.bits == 4 {
            crate::distance::nibble(c, i)
        } else {
            c[i] as f32
        }
    }

    /// `meta/sq8` or `meta/sq4`: dim u32, then `lo` and `scale` as f32 each.
    pub fn encode_params(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.dim() * 8);
        b.extend_from_slice(&(self.dim() as u32).to_le_bytes());
        for x in self.lo.iter().chain(&self.scale) {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b
    }

    pub fn decode_params(b: &[u8], bits: u8) -> Option<ScalarQuantizer> {
        let dim = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
        if b.len() != 4 + dim * 8 {
            return None;
        }
        let f = |i: usize| f32::from_le_bytes(b[4 + i * 4..8 + i * 4].try_into().expect("4 bytes"));
        let lo: Vec<f32> = (0..dim).map(f).collect();
        let scale: Vec<f32> = (dim..2 * dim).map(f).collect();
        if lo.iter().any(|x| !x.is_finite()) || scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return None;
        }
        Some(ScalarQuantizer { bits, lo, scale })
    }
}

/// Trains a quantizer from a stream of vectors in bounded memory: SQ8 keeps the running
/// minimum and maximum of every dimension; SQ4 keeps a stride of at most `QUANTILE_SAMPLES`
/// vectors (and `QUANTILE_SAMPLE_BYTES`) for its quantiles.
pub(crate) struct Trainer {
    dim: usize,
    bits: u8,
    lo: Vec<f32>,
    hi: Vec<f32>,
    stride: usize,
    seen: usize,
    /// SQ4: the sampled vectors, back to back.
    sample: Vec<f32>,
}

impl Trainer {
    /// A trainer for `expected` vectors (sizes the SQ4 stride).
    pub fn new(dim: usize, bits: u8, expected: usize) -> Trainer {
        let cap = QUANTILE_SAMPLES.min(QUANTILE_SAMPLE_BYTES / (4 * dim.max(1))).max(1);
        Trainer {
            dim,
            bits,
            lo: vec![f32::INFINITY; dim],
            hi: vec![f32::NEG_INFINITY; dim],
            stride: expected.div_ceil(cap).max(1),
            seen: 0,
            sample: Vec::new(),
        }
    }

    pub fn add(&mut self, v: &[f32]) {
        if self.bits == 8 {
            for ((l, h), &x) in self.lo.iter_mut().zip(self.hi.iter_mut()).zip(v) {
                *l = l.min(x);
                *h = h.max(x);
            }
        } else if self.seen.is_multiple_of(self.stride) {
            self.sample.extend_from_slice(&v[..self.dim]);
        }
        self.seen += 1;
    }

    pub fn finish(mut self) -> ScalarQuantizer {
        if self.bits != 8 {
            self.quantile_range();
        }
        ScalarQuantizer::from_range(self.bits, self.lo, self.hi)
    }

    /// The `TRIM` and `1 - TRIM` quantiles of each dimension over the sample.
    fn quantile_range(&mut self) {
        let n = self.sample.len() / self.dim.max(1);
        if n == 0 {
            return;
        }
        let cut = ((n as f64 * TRIM) as usize).min((n - 1) / 2);
        let mut col = Vec::with_capacity(n);
        for i in 0..self.dim {
            col.clear();
            col.extend(self.sample.chunks_exact(self.dim).map(|v| v[i]));
            self.lo[i] = *col.select_nth_unstable_by(cut, f32::total_cmp).1;
            self.hi[i] = *col.select_nth_unstable_by(n - 1 - cut, f32::total_cmp).1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clamping() {
        let vs = [vec![0.0f32, -1.0, 5.0], vec![1.0, 1.0, 5.0]];
        let q = ScalarQuantizer::train(3, 8, vs.iter().map(|v| v.as_slice()));
        let mut c = [0u8; 3];
        assert_eq!(q.encode(&vs[1], &mut c), 0);
        assert_eq!(c, [255, 255, 0]);
        assert_eq!(q.encode(&[2.0, -3.0, 5.0], &mut c), 2);
        assert_eq!(c, [255, 0, 0]);
        assert_eq!(ScalarQuantizer::decode_params(&q.encode_params(), 8), Some(q.clone()));
        assert!(ScalarQuantizer::decode_params(&q.encode_params()[1..], 8).is_none());
    }

    #[test]
    fn four_bit_codes_pack_two_dimensions_per_byte_and_trim_outliers() {
        // 2000 values spread over 0..=1 in every dimension, plus one far outlier in dim 0.
        let mut vs: Vec<Vec<f32>> = (0..2000).map(|i| vec![i as f32 / 1999.0; 3]).collect();
        vs.push(vec![1000.0, 0.5, 0.5]);
        let q = ScalarQuantizer::train(3, 4, vs.iter().map(|v| v.as_slice()));
        assert_eq!(q.code_len(), 2);
        // The outlier did not stretch dimension 0's range.
        assert!(q.lo[0] < 0.01 && q.lo[0] + 15.0 * q.scale[0] < 1.01, "{q:?}");
        let mut c = [0u8; 2];
        assert_eq!(q.encode(&[1.0, 0.0, 1.0], &mut c), 0);
        assert_eq!(c, [0x0F, 0x0F]);
        assert_eq!((q.component(&c, 0), q.component(&c, 1), q.component(&c, 2)), (15.0, 0.0, 15.0));
        assert_eq!(q.encode(&[1000.0, 0.0, 0.0], &mut c), 1);
        assert_eq!(q.component(&c, 0), 15.0);
    }
}
