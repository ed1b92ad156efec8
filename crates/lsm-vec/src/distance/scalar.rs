//! Portable reference kernels. Four independent accumulators let the compiler vectorise them
//! with the baseline instruction set, and keep the summation order close to the SIMD kernels.

pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for j in 0..4 {
            let d = a[i * 4 + j] - b[i * 4 + j];
            acc[j] += d * d;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in chunks * 4..n {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for j in 0..4 {
            acc[j] += a[i * 4 + j] * b[i * 4 + j];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in chunks * 4..n {
        s += a[i] * b[i];
    }
    s
}

/// `sum_{k < n} term(k)`, summed in four interleaved lanes and then the tail (the order every
/// scalar code kernel uses, so they round alike).
#[inline]
fn sum4(n: usize, term: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            *a += term(i * 4 + j);
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in chunks * 4..n {
        s += term(k);
    }
    s
}

/// `sum_i (qd[i] - scale[i] * c[i])^2`: squared L2 between a query (minus the quantizer's
/// offsets) and an SQ8 code.
pub fn sq8_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    let n = qd.len().min(scale.len()).min(c.len());
    sum4(n, |k| {
        let d = qd[k] - scale[k] * c[k] as f32;
        d * d
    })
}

/// `sum_i qs[i] * c[i]`: dot product of a (pre-scaled) query and an SQ8 code.
pub fn sq8_dot(qs: &[f32], c: &[u8]) -> f32 {
    sum4(qs.len().min(c.len()), |k| qs[k] * c[k] as f32)
}

/// Component `i` of a packed 4-bit code: dimension `2k` in the low nibble of byte `k`,
/// dimension `2k + 1` in its high nibble.
#[inline]
pub fn nibble(c: &[u8], i: usize) -> f32 {
    ((c[i / 2] >> ((i & 1) * 4)) & 0x0F) as f32
}

/// `sum_i (qd[i] - scale[i] * c[i])^2` for a packed 4-bit code `c` (see [`nibble`]).
pub fn sq4_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    let n = qd.len().min(scale.len()).min(c.len() * 2);
    sum4(n, |k| {
        let d = qd[k] - scale[k] * nibble(c, k);
        d * d
    })
}

/// `sum_i qs[i] * c[i]` for a packed 4-bit code `c` (see [`nibble`]).
pub fn sq4_dot(qs: &[f32], c: &[u8]) -> f32 {
    sum4(qs.len().min(c.len() * 2), |k| qs[k] * nibble(c, k))
}
