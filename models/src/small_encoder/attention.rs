//! The register-blocked pieces of the encoder's self-attention
//! ([`super::Weights::attention`]): a query's scores against transposed
//! keys, and its context from the values.

/// The buffers of [`super::Weights::attention`].
#[derive(Default)]
pub(super) struct Attention {
    /// The context of every row (`n × heads · d`).
    pub(super) ctx: Vec<f32>,
    /// One head's keys, transposed and scaled (`d × n`).
    pub(super) kt: Vec<f32>,
    /// One query's scores, then probabilities (`n`).
    pub(super) probs: Vec<f32>,
}

/// Keys per block of register accumulators in [`scores`].
pub(super) const KEYS: usize = 16;
/// Context dimensions per block of register accumulators in [`context`].
const DIMS: usize = 32;

/// `probs[j] = q · k_j` for the `probs.len()` keys of `kt` (`q.len()`
/// rows of `np` keys each, `np` a multiple of [`KEYS`]). Two accumulator
/// sets (even and odd dimensions) halve the FMA latency chain.
pub(super) fn scores(q: &[f32], kt: &[f32], np: usize, probs: &mut [f32]) {
    let d = q.len();
    for jc in (0..np).step_by(KEYS) {
        let (mut even, mut odd) = ([0f32; KEYS], [0f32; KEYS]);
        let row = |t: usize| &kt[t * np + jc..][..KEYS];
        for t in (0..d - d % 2).step_by(2) {
            let (r0, r1, q0, q1) = (row(t), row(t + 1), q[t], q[t + 1]);
            for l in 0..KEYS {
                even[l] = q0.mul_add(r0[l], even[l]);
                odd[l] = q1.mul_add(r1[l], odd[l]);
            }
        }
        if d % 2 == 1 {
            let (r, qt) = (row(d - 1), q[d - 1]);
            for l in 0..KEYS {
                even[l] = qt.mul_add(r[l], even[l]);
            }
        }
        for (l, p) in probs.iter_mut().skip(jc).take(KEYS).enumerate() {
            *p = even[l] + odd[l];
        }
    }
}

/// `out = Σ_j probs[j] · values(j)`, [`DIMS`] dimensions at a time in
/// register accumulators.
pub(super) fn context<'a>(probs: &[f32], values: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
    let d = out.len();
    let mut c = 0;
    while c + DIMS <= d {
        let mut acc = [0f32; DIMS];
        for (j, &pj) in probs.iter().enumerate() {
            let v = &values(j)[c..c + DIMS];
            for l in 0..DIMS {
                acc[l] = pj.mul_add(v[l], acc[l]);
            }
        }
        out[c..c + DIMS].copy_from_slice(&acc);
        c += DIMS;
    }
    // A head size that is not a multiple of DIMS: the rest plainly.
    for (l, o) in out.iter_mut().enumerate().skip(c) {
        *o = probs
            .iter()
            .enumerate()
            .map(|(j, &pj)| pj * values(j)[l])
            .sum();
    }
}
