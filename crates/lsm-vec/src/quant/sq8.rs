//! SQ8: each dimension mapped linearly onto 0..=255 between the minimum and maximum seen in
//! training (`x ≈ lo + scale * code`).

/// Per-dimension offsets and scales.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sq8 {
    pub lo: Vec<f32>,
    pub scale: Vec<f32>,
}

impl Sq8 {
    /// Trains on `samples` (each of length `dim`; at least one).
    pub fn train<'a>(dim: usize, samples: impl Iterator<Item = &'a [f32]>) -> Sq8 {
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for v in samples {
            for i in 0..dim {
                lo[i] = lo[i].min(v[i]);
                hi[i] = hi[i].max(v[i]);
            }
        }
        let scale = lo
            .iter_mut()
            .zip(&hi)
            .map(|(l, &h)| {
                if !l.is_finite() || !h.is_finite() {
                    *l = 0.0;
                    return 1.0;
                }
                let s = (h - *l) / 255.0;
                if s > 0.0 && s.is_finite() {
                    s
                } else {
                    // A constant dimension: any positive scale encodes it exactly as code 0.
                    1.0
                }
            })
            .collect();
        Sq8 { lo, scale }
    }

    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// Encodes `v` into `out`; returns how many components were clamped to the range.
    pub fn encode(&self, v: &[f32], out: &mut [u8]) -> usize {
        let mut clamped = 0;
        for i in 0..out.len() {
            let c = ((v[i] - self.lo[i]) / self.scale[i]).round();
            if !(0.0..=255.0).contains(&c) {
                clamped += 1;
            }
            out[i] = c.clamp(0.0, 255.0) as u8;
        }
        clamped
    }

    /// `meta/sq8`: dim u32, then `lo` and `scale` as f32 each.
    pub fn encode_params(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.dim() * 8);
        b.extend_from_slice(&(self.dim() as u32).to_le_bytes());
        for x in self.lo.iter().chain(&self.scale) {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b
    }

    pub fn decode_params(b: &[u8]) -> Option<Sq8> {
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
        Some(Sq8 { lo, scale })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clamping() {
        let vs = [vec![0.0f32, -1.0, 5.0], vec![1.0, 1.0, 5.0]];
        let q = Sq8::train(3, vs.iter().map(|v| v.as_slice()));
        let mut c = [0u8; 3];
        assert_eq!(q.encode(&vs[1], &mut c), 0);
        assert_eq!(c, [255, 255, 0]);
        assert_eq!(q.encode(&[2.0, -3.0, 5.0], &mut c), 2);
        assert_eq!(c, [255, 0, 0]);
        assert_eq!(Sq8::decode_params(&q.encode_params()), Some(q.clone()));
        assert!(Sq8::decode_params(&q.encode_params()[1..]).is_none());
    }
}
