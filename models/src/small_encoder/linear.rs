//! A linear layer's weights packed for the single-text encoder, and the
//! register-blocked microkernel that multiplies a few token rows by them.

/// Output columns per weight panel (two 8-lane AVX2 vectors).
pub(super) const PANEL: usize = 16;
/// Most token rows per microkernel call: 6 rows × 2 vectors are 12 of
/// AVX2's 16 registers, leaving 2 for weights and 1 for a broadcast.
pub(super) const ROWS: usize = 6;

/// The row blocks of an `n`-row product: as few as [`ROWS`] allows, of
/// near-equal sizes (10 rows are 5 + 5, not 6 + 4), as `(start, len)`. A
/// block of 4 or more rows keeps 8 or more accumulators in flight, enough
/// to hide the FMA latency; a short last block would not.
fn blocks(n: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = n.div_ceil(ROWS).max(1);
    let (base, extra) = (n / count, n % count);
    (0..count).scan(0, move |start, b| {
        let len = base + usize::from(b < extra);
        let block = (*start, len);
        *start += len;
        Some(block)
    })
}

/// A linear layer's weights packed in panels: for each group of 16
/// outputs, the `k` inputs' 16 weights side by side (`[m/16][k][16]`), so
/// the microkernel reads one sequential stream per panel and its lanes run
/// over outputs (no horizontal sums).
///
/// On CPUs with F16C the panels are stored as IEEE half floats and widened
/// to f32 in registers (accumulation stays f32): MiniLM-L6's encoder
/// weights are 42 MB in f32, more than a 32 MB L3, and 21 MB in f16, so
/// successive queries read them from cache instead of memory. The rounding
/// (relative 2⁻¹¹ per weight) moves embeddings by cosine < 1e-5; the tests
/// check ≥ 0.9999 against the reference fixture.
pub(super) struct Linear {
    packed: Packed,
    b: Vec<f32>,
    k: usize,
}

/// Panel storage.
enum Packed {
    F32(Vec<f32>),
    #[cfg(target_arch = "x86_64")]
    F16(Vec<u16>),
}

/// Whether the f16 panels and the AVX2 kernels can run here.
#[cfg(target_arch = "x86_64")]
fn simd_f16() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

impl Linear {
    /// From PyTorch layout `w` = `[out][in]` and bias `[out]`.
    pub(super) fn new(w: &[f32], b: Vec<f32>) -> Linear {
        Self::with_f16(w, b, true)
    }

    /// As [`Linear::new`]; `f16` allows half-float panels where supported.
    pub(super) fn with_f16(w: &[f32], b: Vec<f32>, f16: bool) -> Linear {
        let (m, k) = (b.len(), w.len() / b.len().max(1));
        let mut panels = vec![0f32; m.div_ceil(PANEL) * k * PANEL];
        for o in 0..m {
            let (p, l) = (o / PANEL, o % PANEL);
            for j in 0..k {
                panels[(p * k + j) * PANEL + l] = w[o * k + j];
            }
        }
        #[cfg(target_arch = "x86_64")]
        if f16 && simd_f16() {
            let mut half = vec![0u16; panels.len()];
            // SAFETY: F16C/AVX2 are present (simd_f16), and both slices
            // have the same length, a multiple of 16.
            unsafe { to_f16(&panels, &mut half) };
            return Linear {
                packed: Packed::F16(half),
                b,
                k,
            };
        }
        let _ = f16;
        Linear {
            packed: Packed::F32(panels),
            b,
            k,
        }
    }

    /// `out = x · Wᵀ + b` for `x` of `n × k`; `out` becomes `n × m`.
    pub(super) fn apply(&self, x: &[f32], n: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(n * self.b.len(), 0.0);
        self.apply_into(x, n, out);
    }

    /// [`Linear::apply`] into `out` of exactly `n × m` values, on the
    /// calling thread (the encoder splits a layer's weights between two
    /// threads instead: see [`super::Layer`]).
    pub(super) fn apply_into(&self, x: &[f32], n: usize, out: &mut [f32]) {
        let (m, k) = (self.b.len(), self.k);
        debug_assert!(x.len() >= n * k && out.len() == n * m);
        // Panel by panel, so one panel's weights stay in cache while every
        // block of rows reads them.
        for p in 0..m.div_ceil(PANEL) {
            let o0 = p * PANEL;
            let w = (m - o0).min(PANEL);
            let bias = &self.b[o0..o0 + w];
            for (r, rows) in blocks(n).filter(|&(_, len)| len > 0) {
                // The first block also prefetches the next panel into L2,
                // so that it arrives while this panel's blocks compute.
                let acc = self.kernel(&x[r * k..(r + rows) * k], p, r == 0);
                for (i, vals) in acc.iter().take(rows).enumerate() {
                    let dst = &mut out[(r + i) * m + o0..][..w];
                    for ((d, v), bb) in dst.iter_mut().zip(vals).zip(bias) {
                        *d = v + bb;
                    }
                }
            }
        }
    }

    /// 1 to [`ROWS`] rows of `x` (each `k` long) times panel `p`.
    /// With `prefetch`, also requests panel `p + 1` into L2.
    fn kernel(&self, x: &[f32], p: usize, prefetch: bool) -> [[f32; PANEL]; ROWS] {
        let k = self.k;
        let rows = x.len() / k.max(1);
        let mut acc = [[0f32; PANEL]; ROWS];
        match &self.packed {
            Packed::F32(panels) => {
                let panel = &panels[p * k * PANEL..(p + 1) * k * PANEL];
                panel_portable(x, k, rows.min(ROWS), panel, &mut acc);
            }
            #[cfg(target_arch = "x86_64")]
            Packed::F16(panels) => {
                let panel = &panels[p * k * PANEL..(p + 1) * k * PANEL];
                let next = panels
                    .get((p + 1) * k * PANEL..(p + 2) * k * PANEL)
                    .filter(|_| prefetch)
                    .unwrap_or(panel);
                // SAFETY: F16C, AVX2 and FMA are present (the panels are
                // f16 only then); x holds rows·k, the panel and `next`
                // 16·k values each.
                unsafe {
                    match rows {
                        6.. => panel_avx2_f16::<6>(x, k, panel, next, &mut acc),
                        5 => panel_avx2_f16::<5>(x, k, panel, next, &mut acc),
                        4 => panel_avx2_f16::<4>(x, k, panel, next, &mut acc),
                        3 => panel_avx2_f16::<3>(x, k, panel, next, &mut acc),
                        2 => panel_avx2_f16::<2>(x, k, panel, next, &mut acc),
                        _ => panel_avx2_f16::<1>(x, k, panel, next, &mut acc),
                    }
                }
            }
        }
        acc
    }
}

/// f32 → IEEE half (round to nearest even), 8 at a time.
///
/// # Safety
/// The CPU must support F16C and AVX; `src.len() == dst.len()`, a multiple
/// of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn to_f16(src: &[f32], dst: &mut [u16]) {
    use std::arch::x86_64::*;
    for (s, d) in src.chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
        // SAFETY: 8 readable f32 and 8 writable u16.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(s.as_ptr()));
            _mm_storeu_si128(d.as_mut_ptr().cast(), h);
        }
    }
}

/// The microkernel on AVX2 + FMA + F16C for `R` (1 to 6) rows: 2·R
/// accumulators (R rows × 2 vectors of 8 lanes); per input step two f16
/// weight loads widened to f32, R broadcasts, 2·R FMAs, and a prefetch
/// of the same offset in `next` (the panel after this one, or this one
/// again). A short block costs its own rows, not 6.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C; `R <= ROWS`, `x.len() >= R·k`
/// and `panel.len()`, `next.len() >= 16·k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn panel_avx2_f16<const R: usize>(
    x: &[f32],
    k: usize,
    panel: &[u16],
    next: &[u16],
    acc: &mut [[f32; PANEL]; ROWS],
) {
    use std::arch::x86_64::*;
    let z = _mm256_setzero_ps();
    let mut c = [[z; 2]; R];
    let (xp, wp, np) = (x.as_ptr(), panel.as_ptr(), next.as_ptr());
    for j in 0..k {
        // SAFETY: j < k, so 16·j + 16 ≤ 16·k ≤ panel.len() and
        // r·k + j < R·k ≤ x.len() (the caller's bounds).
        unsafe {
            let w = wp.add(j * PANEL);
            // A hint only: `next` (16·k values) covers the address.
            _mm_prefetch::<_MM_HINT_T1>(np.add(j * PANEL).cast());
            let w0 = _mm256_cvtph_ps(_mm_loadu_si128(w.cast()));
            let w1 = _mm256_cvtph_ps(_mm_loadu_si128(w.add(8).cast()));
            for (r, cr) in c.iter_mut().enumerate() {
                let xv = _mm256_set1_ps(*xp.add(r * k + j));
                cr[0] = _mm256_fmadd_ps(xv, w0, cr[0]);
                cr[1] = _mm256_fmadd_ps(xv, w1, cr[1]);
            }
        }
    }
    for (a, cr) in acc.iter_mut().zip(&c) {
        // SAFETY: `a` is 16 writable f32.
        unsafe {
            _mm256_storeu_ps(a.as_mut_ptr(), cr[0]);
            _mm256_storeu_ps(a.as_mut_ptr().add(8), cr[1]);
        }
    }
}

/// The portable microkernel (f32 panels: CPUs without AVX2/FMA/F16C).
fn panel_portable(x: &[f32], k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; PANEL]; ROWS]) {
    for (j, w) in panel.chunks_exact(PANEL).take(k).enumerate() {
        for (r, a) in acc.iter_mut().enumerate().take(rows) {
            let xv = x[r * k + j];
            for (av, &wv) in a.iter_mut().zip(w) {
                *av = xv.mul_add(wv, *av);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_a_naive_product() {
        let (n, k, m) = (7, 37, 70);
        let x: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let w: Vec<f32> = (0..m * k)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..m).map(|i| i as f32 / 10.0).collect();
        for f16 in [false, true] {
            let mut out = Vec::new();
            Linear::with_f16(&w, b.clone(), f16).apply(&x, n, &mut out);
            for r in 0..n {
                for o in 0..m {
                    let want: f32 = (0..k).map(|j| x[r * k + j] * w[o * k + j]).sum::<f32>() + b[o];
                    // f16 rounds each weight by at most 2^-11 relative.
                    let tol = if f16 { 2e-2 } else { 1e-4 };
                    assert!((out[r * m + o] - want).abs() < tol, "({r},{o}) f16={f16}");
                }
            }
        }
    }

    #[test]
    fn portable_and_simd_kernels_agree() {
        let k = 45;
        let x: Vec<f32> = (0..ROWS * k)
            .map(|i| ((i * 3 % 17) as f32 - 8.0) / 9.0)
            .collect();
        let panel: Vec<f32> = (0..k * PANEL)
            .map(|i| ((i * 7 % 19) as f32 - 9.0) / 4.0)
            .collect();
        // Panel 0 of a layer whose weights are that panel, f32 and f16.
        let mut w = vec![0f32; PANEL * k];
        for o in 0..PANEL {
            for j in 0..k {
                w[o * k + j] = panel[j * PANEL + o];
            }
        }
        // Blocks of 1 to 6 rows.
        for rows in 1..=ROWS {
            let x = &x[..rows * k];
            let mut slow = [[0f32; PANEL]; ROWS];
            panel_portable(x, k, rows, &panel, &mut slow);
            assert!(slow[rows - 1].iter().any(|&v| v != 0.0));
            for f16 in [false, true] {
                let lin = Linear::with_f16(&w, vec![0.0; PANEL], f16);
                let fast = lin.kernel(x, 0, true);
                for r in 0..ROWS {
                    for l in 0..PANEL {
                        // Weights here are multiples of 1/4: exact in f16;
                        // rows past the block stay 0 in both.
                        let ok = (slow[r][l] - fast[r][l]).abs() < 1e-4;
                        assert!(ok, "rows={rows} f16={f16} r={r}");
                    }
                }
            }
        }
    }

    #[test]
    fn row_blocks_are_few_and_even() {
        let sizes = |n| blocks(n).map(|(_, len)| len).collect::<Vec<_>>();
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(6), [6]);
        assert_eq!(sizes(7), [4, 3]);
        assert_eq!(sizes(8), [4, 4]);
        assert_eq!(sizes(10), [5, 5]);
        assert_eq!(sizes(16), [6, 5, 5]);
        for n in 1..100 {
            let b: Vec<_> = blocks(n).collect();
            assert_eq!(b.len(), n.div_ceil(ROWS));
            assert!(b.iter().all(|&(_, len)| (1..=ROWS).contains(&len)));
            // Contiguous from 0 to n.
            let end = b.iter().fold(0, |at, &(start, len)| {
                assert_eq!(start, at);
                at + len
            });
            assert_eq!(end, n);
        }
    }
}
