//! The x86_64 kernels: AVX-512F and AVX2+FMA, picked at run time by
//! [`super::kernels`] after feature detection.

use std::arch::x86_64::*;

pub(super) fn dot4_avx2(q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    r.map(|x| dot_avx2(q, x))
}

pub(super) fn l2sq4_avx2(q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    r.map(|x| l2sq_avx2(q, x))
}

pub(super) fn dot4_avx512(q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    let n = r.iter().fold(q.len(), |n, x| n.min(x.len()));
    // SAFETY: only stored in `Kernels` after avx512f was detected; `n`
    // is within the query and all four rows.
    unsafe { batch4_avx512::<false>(q.as_ptr(), r.map(<[f32]>::as_ptr), n) }
}

pub(super) fn l2sq4_avx512(q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    let n = r.iter().fold(q.len(), |n, x| n.min(x.len()));
    // SAFETY: as for `dot4_avx512`.
    unsafe { batch4_avx512::<true>(q.as_ptr(), r.map(<[f32]>::as_ptr), n) }
}

/// Dot products (`L2 = false`) or squared distances (`L2 = true`) of
/// `q` against four rows, 16 lanes at a time, two accumulators per row.
///
/// # Safety
/// The CPU must support avx512f; `q` and every row must be valid for
/// `n` reads.
#[target_feature(enable = "avx512f")]
unsafe fn batch4_avx512<const L2: bool>(q: *const f32, r: [*const f32; 4], n: usize) -> [f32; 4] {
    // SAFETY: every load reads lanes `i..i+16` with `i + 16 <= n`, or a
    // masked tail covering only lanes `< n`.
    unsafe {
        let mut a = [_mm512_setzero_ps(); 4];
        let mut b = [_mm512_setzero_ps(); 4];
        let step = |acc: &mut __m512, x: __m512, y: __m512| {
            if L2 {
                let d = _mm512_sub_ps(x, y);
                *acc = _mm512_fmadd_ps(d, d, *acc);
            } else {
                *acc = _mm512_fmadd_ps(x, y, *acc);
            }
        };
        let mut i = 0;
        while i + 32 <= n {
            let q0 = _mm512_loadu_ps(q.add(i));
            let q1 = _mm512_loadu_ps(q.add(i + 16));
            for j in 0..4 {
                step(&mut a[j], q0, _mm512_loadu_ps(r[j].add(i)));
                step(&mut b[j], q1, _mm512_loadu_ps(r[j].add(i + 16)));
            }
            i += 32;
        }
        while i + 16 <= n {
            let q0 = _mm512_loadu_ps(q.add(i));
            for j in 0..4 {
                step(&mut a[j], q0, _mm512_loadu_ps(r[j].add(i)));
            }
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let q0 = _mm512_maskz_loadu_ps(mask, q.add(i));
            for j in 0..4 {
                step(&mut b[j], q0, _mm512_maskz_loadu_ps(mask, r[j].add(i)));
            }
        }
        [0, 1, 2, 3].map(|j| _mm512_reduce_add_ps(_mm512_add_ps(a[j], b[j])))
    }
}

pub(super) fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: this function is only stored in `Kernels` after
    // `is_x86_feature_detected!("avx512f")` returned true, and `n` is
    // within both slices.
    unsafe { dot_avx512_impl(a.as_ptr(), b.as_ptr(), n) }
}

pub(super) fn l2sq_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as for `dot_avx512`: avx512f was detected at runtime and
    // `n` is within both slices.
    unsafe { l2sq_avx512_impl(a.as_ptr(), b.as_ptr(), n) }
}

pub(super) fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: only selected after avx2 and fma were detected at runtime;
    // `n` is within both slices.
    unsafe { dot_avx2_impl(a.as_ptr(), b.as_ptr(), n) }
}

pub(super) fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: only selected after avx2 and fma were detected at runtime;
    // `n` is within both slices.
    unsafe { l2sq_avx2_impl(a.as_ptr(), b.as_ptr(), n) }
}

/// # Safety
/// The CPU must support avx512f; `a` and `b` must be valid for `n` reads.
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512_impl(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: every load below reads lanes `i..i+16` with `i + 16 <= n`,
    // or a masked tail whose mask covers only lanes `< n`; the caller
    // guarantees `n` readable floats behind both pointers.
    unsafe {
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut acc2 = _mm512_setzero_ps();
        let mut acc3 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 64 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.add(i + 16)),
                _mm512_loadu_ps(b.add(i + 16)),
                acc1,
            );
            acc2 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.add(i + 32)),
                _mm512_loadu_ps(b.add(i + 32)),
                acc2,
            );
            acc3 = _mm512_fmadd_ps(
                _mm512_loadu_ps(a.add(i + 48)),
                _mm512_loadu_ps(b.add(i + 48)),
                acc3,
            );
            i += 64;
        }
        while i + 16 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), acc0);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let x = _mm512_maskz_loadu_ps(mask, a.add(i));
            let y = _mm512_maskz_loadu_ps(mask, b.add(i));
            acc1 = _mm512_fmadd_ps(x, y, acc1);
        }
        let s = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
        _mm512_reduce_add_ps(s)
    }
}

/// # Safety
/// The CPU must support avx512f; `a` and `b` must be valid for `n` reads.
#[target_feature(enable = "avx512f")]
unsafe fn l2sq_avx512_impl(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: loads stay within `n` floats (full blocks or a masked
    // tail), which the caller guarantees are readable.
    unsafe {
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut acc2 = _mm512_setzero_ps();
        let mut acc3 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 64 <= n {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            let d1 = _mm512_sub_ps(
                _mm512_loadu_ps(a.add(i + 16)),
                _mm512_loadu_ps(b.add(i + 16)),
            );
            let d2 = _mm512_sub_ps(
                _mm512_loadu_ps(a.add(i + 32)),
                _mm512_loadu_ps(b.add(i + 32)),
            );
            let d3 = _mm512_sub_ps(
                _mm512_loadu_ps(a.add(i + 48)),
                _mm512_loadu_ps(b.add(i + 48)),
            );
            acc0 = _mm512_fmadd_ps(d0, d0, acc0);
            acc1 = _mm512_fmadd_ps(d1, d1, acc1);
            acc2 = _mm512_fmadd_ps(d2, d2, acc2);
            acc3 = _mm512_fmadd_ps(d3, d3, acc3);
            i += 64;
        }
        while i + 16 <= n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            acc0 = _mm512_fmadd_ps(d, d, acc0);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let d = _mm512_sub_ps(
                _mm512_maskz_loadu_ps(mask, a.add(i)),
                _mm512_maskz_loadu_ps(mask, b.add(i)),
            );
            acc1 = _mm512_fmadd_ps(d, d, acc1);
        }
        let s = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
        _mm512_reduce_add_ps(s)
    }
}

/// Horizontal sum of 8 lanes.
///
/// # Safety
/// The CPU must support avx2.
#[target_feature(enable = "avx2")]
unsafe fn hsum256(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps::<1>(v);
    let s = _mm_add_ps(lo, hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// # Safety
/// The CPU must support avx2 and fma; `a` and `b` must be valid for `n` reads.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_impl(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: vector loads read `i..i+8` with `i + 8 <= n`; the scalar
    // tail reads `i < n`; the caller guarantees `n` readable floats.
    unsafe {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 8)),
                _mm256_loadu_ps(b.add(i + 8)),
                acc1,
            );
            acc2 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 16)),
                _mm256_loadu_ps(b.add(i + 16)),
                acc2,
            );
            acc3 = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(i + 24)),
                _mm256_loadu_ps(b.add(i + 24)),
                acc3,
            );
            i += 32;
        }
        while i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), acc0);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
        let mut r = hsum256(s);
        while i < n {
            r += *a.add(i) * *b.add(i);
            i += 1;
        }
        r
    }
}

/// # Safety
/// The CPU must support avx2 and fma; `a` and `b` must be valid for `n` reads.
#[target_feature(enable = "avx2,fma")]
unsafe fn l2sq_avx2_impl(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: as in `dot_avx2_impl`, every read is below `n`.
    unsafe {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut acc2 = _mm256_setzero_ps();
        let mut acc3 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            let d1 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i + 8)), _mm256_loadu_ps(b.add(i + 8)));
            let d2 = _mm256_sub_ps(
                _mm256_loadu_ps(a.add(i + 16)),
                _mm256_loadu_ps(b.add(i + 16)),
            );
            let d3 = _mm256_sub_ps(
                _mm256_loadu_ps(a.add(i + 24)),
                _mm256_loadu_ps(b.add(i + 24)),
            );
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            acc1 = _mm256_fmadd_ps(d1, d1, acc1);
            acc2 = _mm256_fmadd_ps(d2, d2, acc2);
            acc3 = _mm256_fmadd_ps(d3, d3, acc3);
            i += 32;
        }
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            acc0 = _mm256_fmadd_ps(d, d, acc0);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
        let mut r = hsum256(s);
        while i < n {
            let d = *a.add(i) - *b.add(i);
            r += d * d;
            i += 1;
        }
        r
    }
}

/// Kernels for explicit testing of each implementation.
pub(super) fn available() -> Vec<super::Kernels> {
    let mut v = Vec::new();
    if std::is_x86_feature_detected!("avx512f") {
        v.push(super::Kernels {
            dot: dot_avx512,
            l2sq: l2sq_avx512,
            dot4: dot4_avx512,
            l2sq4: l2sq4_avx512,
            name: "avx512",
        });
    }
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        v.push(super::Kernels {
            dot: dot_avx2,
            l2sq: l2sq_avx2,
            dot4: dot4_avx2,
            l2sq4: l2sq4_avx2,
            name: "avx2+fma",
        });
    }
    v
}
