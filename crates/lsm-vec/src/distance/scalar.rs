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

/// `sum_i (qd[i] - scale[i] * c[i])^2`: squared L2 between a query (minus the quantizer's
/// offsets) and an SQ8 code.
pub fn sq8_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    let n = qd.len().min(scale.len()).min(c.len());
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            let k = i * 4 + j;
            let d = qd[k] - scale[k] * c[k] as f32;
            *a += d * d;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in chunks * 4..n {
        let d = qd[k] - scale[k] * c[k] as f32;
        s += d * d;
    }
    s
}

/// `sum_i qs[i] * c[i]`: dot product of a (pre-scaled) query and an SQ8 code.
pub fn sq8_dot(qs: &[f32], c: &[u8]) -> f32 {
    let n = qs.len().min(c.len());
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            let k = i * 4 + j;
            *a += qs[k] * c[k] as f32;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in chunks * 4..n {
        s += qs[k] * c[k] as f32;
    }
    s
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
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            let k = i * 4 + j;
            let d = qd[k] - scale[k] * nibble(c, k);
            *a += d * d;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in chunks * 4..n {
        let d = qd[k] - scale[k] * nibble(c, k);
        s += d * d;
    }
    s
}

/// `sum_i qs[i] * c[i]` for a packed 4-bit code `c` (see [`nibble`]).
pub fn sq4_dot(qs: &[f32], c: &[u8]) -> f32 {
    let n = qs.len().min(c.len() * 2);
    let mut acc = [0.0f32; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            let k = i * 4 + j;
            *a += qs[k] * nibble(c, k);
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (k, &x) in qs.iter().enumerate().take(n).skip(chunks * 4) {
        s += x * nibble(c, k);
    }
    s
}
