//! The split encoder against a plain, unsplit forward pass, and the
//! helper thread against one thread.

use super::*;

/// Deterministic weights that f16 holds exactly (multiples of 1/64 in
/// [-0.5, 0.5) times `scale`, a power of two), so the packed path and
/// the plain one differ only in summation order.
struct Rng(u32);

impl Rng {
    fn vec(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len)
            .map(|_| {
                self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((self.0 >> 16) % 64) as f32 / 64.0 - 0.5
            })
            .map(|v| v * scale)
            .collect()
    }
}

/// A small random encoder (2 layers, hidden 32 or 36 for 3 heads,
/// `heads` heads, intermediate 72: not a multiple of two panels) and its
/// unsplit layers.
fn tiny(heads: usize) -> (Weights, Vec<Full>) {
    let mut r = Rng(7);
    let (h, i) = (if heads == 3 { 36 } else { 32 }, 72);
    let full = |r: &mut Rng| Full {
        qkv: (r.vec(3 * h * h, 0.5), r.vec(3 * h, 0.25)),
        out: (r.vec(h * h, 0.5), r.vec(h, 0.25)),
        ln1: (
            r.vec(h, 0.5).iter().map(|v| v + 1.0).collect(),
            r.vec(h, 0.25),
        ),
        inter: (r.vec(i * h, 0.5), r.vec(i, 0.25)),
        down: (r.vec(h * i, 0.5), r.vec(h, 0.25)),
        ln2: (
            r.vec(h, 0.5).iter().map(|v| v + 1.0).collect(),
            r.vec(h, 0.25),
        ),
    };
    let fulls: Vec<Full> = (0..2).map(|_| full(&mut r)).collect();
    let copy = |f: &Full| Full {
        qkv: f.qkv.clone(),
        out: f.out.clone(),
        ln1: f.ln1.clone(),
        inter: f.inter.clone(),
        down: f.down.clone(),
        ln2: f.ln2.clone(),
    };
    let w = Weights {
        hidden: h,
        heads,
        eps: 1e-12,
        max_pos: 64,
        word: r.vec(50 * h, 1.0),
        pos: r.vec(64 * h, 0.5),
        type0: r.vec(h, 0.125),
        pos_offset: 0,
        emb_ln: (vec![1.0; h], vec![0.0; h]),
        rel: None,
        layers: fulls
            .iter()
            .map(|f| Layer::split(copy(f), h, heads))
            .collect(),
    };
    (w, fulls)
}

/// `x · Wᵀ + b`, plainly.
fn matmul(x: &[f32], n: usize, (w, b): &(Vec<f32>, Vec<f32>)) -> Vec<f32> {
    let (m, k) = (b.len(), w.len() / b.len());
    let mut out = vec![0f32; n * m];
    for r in 0..n {
        for o in 0..m {
            let s: f32 = (0..k).map(|j| x[r * k + j] * w[o * k + j]).sum();
            out[r * m + o] = s + b[o];
        }
    }
    out
}

/// The textbook BERT layer stack over the embedded `x`.
fn plain(w: &Weights, fulls: &[Full], mut x: Vec<f32>, n: usize) -> Vec<f32> {
    let (h, d) = (w.hidden, w.hidden / w.heads);
    for f in fulls {
        let qkv = matmul(&x, n, &f.qkv);
        let mut ctx = vec![0f32; n * h];
        for head in 0..w.heads {
            for i in 0..n {
                let q = &qkv[i * 3 * h + head * d..][..d];
                let mut p: Vec<f32> = (0..n)
                    .map(|j| {
                        let k = &qkv[j * 3 * h + h + head * d..][..d];
                        let bias = w.rel.as_ref().map_or(0.0, |r| {
                            r.table[r.bucket(j as i64 - i as i64) * w.heads + head]
                        });
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() / (d as f32).sqrt() + bias
                    })
                    .collect();
                softmax(&mut p);
                for (j, pj) in p.iter().enumerate() {
                    for c in 0..d {
                        ctx[i * h + head * d + c] += pj * qkv[j * 3 * h + 2 * h + head * d + c];
                    }
                }
            }
        }
        let o = matmul(&ctx, n, &f.out);
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        layer_norm(&mut x, h, &f.ln1, w.eps);
        let mut t = matmul(&x, n, &f.inter);
        t.iter_mut().for_each(|v| *v = gelu(*v));
        let o = matmul(&t, n, &f.down);
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        layer_norm(&mut x, h, &f.ln2, w.eps);
    }
    x
}

fn ids(n: usize) -> Vec<u32> {
    (0..n).map(|i| (i * 7 % 50) as u32).collect()
}

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[test]
fn split_halves_compute_the_plain_layers() {
    // Even and odd head counts (an odd count gives half 0 one more head).
    for heads in [4, 3, 1] {
        let (w, fulls) = tiny(heads);
        for n in [1, 3, 4, 5, 9, 13] {
            let ids = ids(n);
            let x = w.embed(&ids).expect("embed");
            let want = plain(&w, &fulls, x.clone(), n);
            let mut got = x;
            w.pass_alone(&mut got, n);
            let err = worst(&want, &got);
            assert!(err < 1e-4, "heads {heads}, {n} rows: {err}");
        }
    }
}

#[test]
fn relative_buckets_match_mpnet() {
    // Expected values from `MPNetEncoder.relative_position_bucket`
    // (32 buckets, max distance 128), key position minus query position.
    let rel = RelativeBias {
        table: Vec::new(),
        buckets: 32,
        max_distance: 128,
    };
    let offsets = [
        -300, -128, -100, -20, -9, -8, -7, -1, 0, 1, 7, 8, 9, 20, 100, 128, 300,
    ];
    let want = [
        15, 15, 15, 10, 8, 8, 7, 1, 0, 17, 23, 24, 24, 26, 31, 31, 31,
    ];
    let got: Vec<usize> = offsets.iter().map(|&o| rel.bucket(o)).collect();
    assert_eq!(got, want);
}

#[test]
fn relative_bias_and_position_offset_reach_the_scores() {
    // An MPNet-like encoder: the split halves with the bias give the plain
    // layers with the bias, and the bias changes the result.
    let (mut w, fulls) = tiny(4);
    let n = 9;
    let x = w.embed(&ids(n)).expect("embed");
    let mut without = x.clone();
    w.pass_alone(&mut without, n);
    w.rel = Some(RelativeBias {
        table: Rng(3).vec(32 * 4, 2.0),
        buckets: 32,
        max_distance: 128,
    });
    let want = plain(&w, &fulls, x.clone(), n);
    let mut got = x;
    w.pass_alone(&mut got, n);
    assert!(worst(&want, &got) < 1e-4, "{}", worst(&want, &got));
    assert!(worst(&without, &got) > 1e-3);
    // Positions from the offset: the last `pos_offset` positions are out
    // of reach.
    w.pos_offset = 2;
    assert!(w.embed(&ids(62)).is_ok());
    assert!(w.embed(&ids(63)).is_err());
}

#[test]
fn the_helper_thread_gives_the_same_bits_as_one_thread() {
    let (w, _) = tiny(4);
    let enc = SmallEncoder::new(w, true);
    assert!(enc.pair.is_some() || rayon::current_num_threads() < 2);
    for n in [1, 2, 4, 7, 16, 33] {
        let ids = ids(n);
        let alone = enc.forward_alone(&ids).expect("alone");
        for _ in 0..3 {
            assert_eq!(enc.forward(&ids).expect("pair"), alone, "{n} rows");
        }
    }
}

#[test]
fn concurrent_passes_share_the_helper_and_agree() {
    let (w, _) = tiny(4);
    let enc = SmallEncoder::new(w, true);
    let want: Vec<Vec<f32>> = (1..=12)
        .map(|n| enc.forward_alone(&ids(n)).expect("alone"))
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (enc, want) = (&enc, &want);
            s.spawn(move || {
                for round in 0..50 {
                    let n = (t * 5 + round) % 12 + 1;
                    assert_eq!(enc.forward(&ids(n)).expect("forward"), want[n - 1]);
                }
            });
        }
    });
}

#[test]
fn bad_sequences_are_typed_errors() {
    let (w, _) = tiny(4);
    let enc = SmallEncoder::new(w, false);
    assert!(enc.pair.is_none());
    assert!(enc.forward(&[]).is_err());
    assert!(enc.forward(&[50]).is_err());
    assert!(enc.forward(&vec![1; 65]).is_err());
    assert_eq!(enc.forward(&[1; 64]).expect("64 tokens").len(), 64 * 32);
}

#[test]
fn rows_and_columns_select_submatrices() {
    // 3 outputs × 4 inputs.
    let w: Vec<f32> = (0..12).map(|v| v as f32).collect();
    assert_eq!(rows(&w, 4, 1..3), &w[4..12]);
    assert_eq!(columns(&w, 4, 1..3), vec![1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
    assert!(columns(&w, 4, 2..2).is_empty());
}

#[test]
fn scores_and_context_match_plain_sums() {
    let mut r = Rng(11);
    // Head sizes odd, even, a multiple of DIMS and not; key counts below,
    // at and above a KEYS block.
    for d in [5usize, 32, 40, 64] {
        for n in [1usize, 7, 16, 17, 33] {
            let np = n.div_ceil(KEYS) * KEYS;
            let q = r.vec(d, 1.0);
            let keys: Vec<Vec<f32>> = (0..n).map(|_| r.vec(d, 1.0)).collect();
            let mut kt = vec![0f32; d * np];
            for (j, k) in keys.iter().enumerate() {
                for t in 0..d {
                    kt[t * np + j] = k[t];
                }
            }
            let mut got = vec![0f32; n];
            scores(&q, &kt, np, &mut got);
            for (j, k) in keys.iter().enumerate() {
                let want: f32 = q.iter().zip(k).map(|(a, b)| a * b).sum();
                assert!((got[j] - want).abs() < 1e-5, "scores d={d} n={n} j={j}");
            }
            let probs = r.vec(n, 1.0);
            let values: Vec<Vec<f32>> = (0..n).map(|_| r.vec(d, 1.0)).collect();
            let mut out = vec![f32::NAN; d];
            context(&probs, |j| &values[j], &mut out);
            for (l, o) in out.iter().enumerate() {
                let want: f32 = (0..n).map(|j| probs[j] * values[j][l]).sum();
                assert!((o - want).abs() < 1e-5, "context d={d} n={n} l={l}");
            }
        }
    }
}
