//! AVX2 + FMA kernels. Callers (see `super::kernels`) only select these after detecting both
//! features at run time. All unsafe code is the two entry points (calling a target-feature
//! function) and the loads (`load8`, `load8_u8`, `load16_u4`: unaligned loads from slices
//! checked to be long enough).

use std::arch::x86_64::*;

pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: `kernels()` installs this function only when avx2 and fma were detected.
    unsafe { l2_sq_impl(a, b) }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as above, the CPU supports avx2 and fma.
    unsafe { dot_impl(a, b) }
}

pub fn sq8_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    // SAFETY: as above, the CPU supports avx2 and fma.
    unsafe { sq8_l2_impl(qd, scale, c) }
}

pub fn sq8_dot(qs: &[f32], c: &[u8]) -> f32 {
    // SAFETY: as above, the CPU supports avx2 and fma.
    unsafe { sq8_dot_impl(qs, c) }
}

pub fn sq4_l2(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    // SAFETY: as above, the CPU supports avx2 and fma.
    unsafe { sq4_l2_impl(qd, scale, c) }
}

pub fn sq4_dot(qs: &[f32], c: &[u8]) -> f32 {
    // SAFETY: as above, the CPU supports avx2 and fma.
    unsafe { sq4_dot_impl(qs, c) }
}

/// Unpacks the first 8 bytes of `c` (16 packed 4-bit components, low nibble first) into two
/// vectors of 8 floats (panics if it has fewer than 8 bytes).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load16_u4(c: &[u8]) -> (__m256, __m256) {
    let c = &c[..8];
    // SAFETY: `c` holds exactly 8 bytes, and `_mm_loadl_epi64` reads 8 bytes (unaligned).
    let b = unsafe { _mm_loadl_epi64(c.as_ptr().cast::<__m128i>()) };
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(b, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
    // Bytes in dimension order: lo0, hi0, lo1, hi1, ...
    let x = _mm_unpacklo_epi8(lo, hi);
    let a = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(x));
    let b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(x, 8)));
    (a, b)
}

#[target_feature(enable = "avx2,fma")]
fn sq4_l2_impl(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    let n = qd.len().min(scale.len()).min(c.len() * 2);
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        let (c0, c1) = load16_u4(&c[i / 2..]);
        let d0 = _mm256_fnmadd_ps(load8(&scale[i..]), c0, load8(&qd[i..]));
        let d1 = _mm256_fnmadd_ps(load8(&scale[i + 8..]), c1, load8(&qd[i + 8..]));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        i += 16;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        let d = qd[i] - scale[i] * super::scalar::nibble(c, i);
        s += d * d;
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma")]
fn sq4_dot_impl(qs: &[f32], c: &[u8]) -> f32 {
    let n = qs.len().min(c.len() * 2);
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        let (c0, c1) = load16_u4(&c[i / 2..]);
        acc0 = _mm256_fmadd_ps(load8(&qs[i..]), c0, acc0);
        acc1 = _mm256_fmadd_ps(load8(&qs[i + 8..]), c1, acc1);
        i += 16;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += qs[i] * super::scalar::nibble(c, i);
        i += 1;
    }
    s
}

/// Loads the first 8 bytes of `c` and widens them to 8 floats (panics if it has fewer).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load8_u8(c: &[u8]) -> __m256 {
    let c = &c[..8];
    // SAFETY: `c` holds exactly 8 bytes, and `_mm_loadl_epi64` reads 8 bytes (unaligned).
    let b = unsafe { _mm_loadl_epi64(c.as_ptr().cast::<__m128i>()) };
    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b))
}

#[target_feature(enable = "avx2,fma")]
fn sq8_l2_impl(qd: &[f32], scale: &[f32], c: &[u8]) -> f32 {
    let n = qd.len().min(scale.len()).min(c.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        let d0 = _mm256_fnmadd_ps(load8(&scale[i..]), load8_u8(&c[i..]), load8(&qd[i..]));
        let d1 = _mm256_fnmadd_ps(load8(&scale[i + 8..]), load8_u8(&c[i + 8..]), load8(&qd[i + 8..]));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        i += 16;
    }
    if i + 8 <= n {
        let d0 = _mm256_fnmadd_ps(load8(&scale[i..]), load8_u8(&c[i..]), load8(&qd[i..]));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        let d = qd[i] - scale[i] * c[i] as f32;
        s += d * d;
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma")]
fn sq8_dot_impl(qs: &[f32], c: &[u8]) -> f32 {
    let n = qs.len().min(c.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        acc0 = _mm256_fmadd_ps(load8(&qs[i..]), load8_u8(&c[i..]), acc0);
        acc1 = _mm256_fmadd_ps(load8(&qs[i + 8..]), load8_u8(&c[i + 8..]), acc1);
        i += 16;
    }
    if i + 8 <= n {
        acc0 = _mm256_fmadd_ps(load8(&qs[i..]), load8_u8(&c[i..]), acc0);
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += qs[i] * c[i] as f32;
        i += 1;
    }
    s
}

/// Loads the first 8 floats of `s` (panics if it has fewer; callers guarantee 8).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn load8(s: &[f32]) -> __m256 {
    let s = &s[..8];
    // SAFETY: `s` holds exactly 8 floats, so the unaligned 8-lane load stays inside it.
    unsafe { _mm256_loadu_ps(s.as_ptr()) }
}

#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
fn l2_sq_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        let d0 = _mm256_sub_ps(load8(&a[i..]), load8(&b[i..]));
        let d1 = _mm256_sub_ps(load8(&a[i + 8..]), load8(&b[i + 8..]));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        i += 16;
    }
    if i + 8 <= n {
        let d0 = _mm256_sub_ps(load8(&a[i..]), load8(&b[i..]));
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        let d = a[i] - b[i];
        s += d * d;
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma")]
fn dot_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        acc0 = _mm256_fmadd_ps(load8(&a[i..]), load8(&b[i..]), acc0);
        acc1 = _mm256_fmadd_ps(load8(&a[i + 8..]), load8(&b[i + 8..]), acc1);
        i += 16;
    }
    if i + 8 <= n {
        acc0 = _mm256_fmadd_ps(load8(&a[i..]), load8(&b[i..]), acc0);
        i += 8;
    }
    let mut s = hsum(_mm256_add_ps(acc0, acc1));
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}
