//! The element-wise and row-wise steps of the single-text encoder:
//! LayerNorm, softmax and GELU (exact erf).

/// LayerNorm of each `h`-wide row of `x` in place (gain `g`, bias `b`).
/// The mean and variance are summed in 8 lanes, so they vectorise (a
/// plain `f32` sum is one serial chain of additions).
pub(super) fn layer_norm(x: &mut [f32], h: usize, (g, b): &(Vec<f32>, Vec<f32>), eps: f32) {
    for row in x.chunks_mut(h) {
        let mean = lanes_sum(row, |v| v) / h as f32;
        let var = lanes_sum(row, |v| (v - mean) * (v - mean)) / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// `Σ f(v)` over `row`, in 8 lanes added at the end.
fn lanes_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for c in chunks {
        for l in 0..8 {
            acc[l] += f(c[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Softmax of `p` in place (with [`exp`], so the loop vectorises).
pub(super) fn softmax(p: &mut [f32]) {
    // In 8 lanes, comparing rather than `f32::max` (whose NaN rule keeps
    // the loop scalar); a NaN score gives a NaN row either way.
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = p.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for c in chunks {
        for l in 0..8 {
            lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
        }
    }
    for l in lanes {
        max = if l > max { l } else { max };
    }
    for v in p.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / lanes_sum(p, |v| v);
    for v in p.iter_mut() {
        *v *= inv;
    }
}

/// `eˣ` for x in [-87, 88] (clamped there), relative error < 2e-7:
/// Cephes' `expf` (2ⁿ · a degree-7 polynomial of the remainder), written
/// without calls or branches so that a loop over it vectorises (libm's
/// `expf` was 6% of a query's time, one call per element).
#[allow(clippy::excessive_precision)]
pub(super) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // x − n·ln 2, with ln 2 in two parts so the product stays exact.
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4;
    let p = ((((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1)
        * r)
        * r
        + r
        + 1.0;
    // 2ⁿ from its exponent bits (n ∈ [-126, 127] after the clamp). n is
    // read from the low mantissa bits of 1.5·2²³ + n rather than with an
    // `as` cast, whose saturation would keep the loop scalar.
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// GELU with the exact error function, as BERT's `gelu`.
pub(super) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// Error function, |error| < 1.2e-7 (Numerical Recipes' `erfc` Chebyshev
/// fit; evaluated in f32, which keeps |error| < 4e-7). The published
/// coefficients are kept digit for digit.
#[allow(clippy::excessive_precision)]
pub(super) fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * exp(poly);
    let r = 1.0 - erfc;
    if x >= 0.0 { r } else { -r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (-1.5, -0.966_105_146_5),
            (3.0, 0.999_977_909_5),
        ] {
            assert!((f64::from(erf(x)) - want).abs() < 5e-7, "erf({x})");
        }
    }

    #[test]
    fn exp_matches_the_standard_library() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut p = [1.0f32, 2.0, 3.0];
        softmax(&mut p);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6 && p[2] > p[1]);
        // Past the 8 lanes and their remainder, the largest anywhere.
        for at in [0usize, 5, 9, 18] {
            let mut p: Vec<f32> = (0..19).map(|i| (i % 5) as f32 * 10.0 - 30.0).collect();
            p[at] = 90.0;
            let want: Vec<f32> = {
                let e: Vec<f64> = p.iter().map(|&v| (f64::from(v) - 90.0).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|v| (v / s) as f32).collect()
            };
            softmax(&mut p);
            for (g, w) in p.iter().zip(&want) {
                assert!((g - w).abs() < 1e-6, "max at {at}: {g} vs {w}");
            }
        }
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0];
        layer_norm(&mut x, 4, &(vec![1.0; 4], vec![0.0; 4]), 1e-12);
        assert!(x.iter().sum::<f32>().abs() < 1e-5);
        assert!((x.iter().map(|v| v * v).sum::<f32>() / 4.0 - 1.0).abs() < 1e-4);
    }
}
