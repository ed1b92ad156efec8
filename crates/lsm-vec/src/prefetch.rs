//! CPU cache hints: start loading memory that will be read soon (no effect on results).

/// Prefetches `lines` cache lines from `p` (a hint: it never faults, whatever `p` is).
#[inline]
pub(crate) fn prefetch_ptr(p: *const u8, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for l in 0..lines {
            // SAFETY: a prefetch never faults and does not access memory architecturally, so
            // any address is allowed; `wrapping_add` avoids pointer-arithmetic UB.
            unsafe { _mm_prefetch(p.wrapping_add(l * 64).cast::<i8>(), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}
