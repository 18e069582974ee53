//! `--lab`: ranking levers measured outside the engine, by brute force over
//! each conversation's turns, so that one run compares many variants (BM25
//! with and without stemming and context, embeddings with and without the
//! neighbouring turn, weighted-sum vs reciprocal-rank fusion). What wins
//! here is then built into the engine and measured through the API.

use std::collections::HashMap;
use std::path::Path;

use memlayer::models::Embedder;

use super::{Question, Run, Turn};

/// Embeddings of `texts`, cached in `cache` (raw little-endian f32).
fn embed_cached(e: &dyn Embedder, texts: &[String], cache: &Path) -> Vec<Vec<f32>> {
    let d = e.dims();
    if let Ok(bytes) = std::fs::read(cache)
        && bytes.len() == texts.len() * d * 4
    {
        let f: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        return f.chunks(d).map(<[f32]>::to_vec).collect();
    }
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(32) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        out.extend(e.embed_batch(&refs).unwrap());
    }
    let bytes: Vec<u8> = out.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(cache, bytes).unwrap();
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Ranks (0 = best) of the documents by a score; documents scoring 0 or
/// less get no rank when `positive_only`.
fn ranks(scores: &[f32], positive_only: bool) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..scores.len())
        .filter(|&i| !positive_only || scores[i] > 0.0)
        .collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut r = vec![None; scores.len()];
    for (pos, &i) in order.iter().enumerate() {
        r[i] = Some(pos);
    }
    r
}

/// One conversation's documents in every representation.
struct Conv {
    ids: Vec<String>,
    /// Index of the previous turn of the same session.
    prev_session: Vec<Option<usize>>,
    /// Index of the previous turn in the conversation (any session).
    prev: Vec<Option<usize>>,
    toks: HashMap<&'static str, Vec<Vec<String>>>,
    emb: HashMap<&'static str, Vec<Vec<f32>>>,
}

fn stem_tokens(text: &str) -> Vec<String> {
    memlayer_text::tokenize(text, true)
        .iter()
        .map(|w| memlayer_text::stem(w))
        .collect()
}

pub(super) fn run(embedder: &dyn Embedder, turns: &[Turn], questions: &[Question], dir: &Path) {
    // Context strings: the previous turn of the same session.
    let mut prev: Vec<String> = Vec::with_capacity(turns.len());
    for (i, t) in turns.iter().enumerate() {
        let p = i
            .checked_sub(1)
            .map(|j| &turns[j])
            .filter(|p| p.user == t.user && p.session == t.session);
        prev.push(p.map_or_else(String::new, |p| p.text.clone()));
    }
    // The next turn of the same session.
    let next: Vec<String> = (0..turns.len())
        .map(|i| {
            turns
                .get(i + 1)
                .filter(|n| n.user == turns[i].user && n.session == turns[i].session)
                .map_or_else(String::new, |n| n.text.clone())
        })
        .collect();
    let plain: Vec<String> = turns.iter().map(|t| t.text.clone()).collect();
    let with_prev: Vec<String> = turns
        .iter()
        .zip(&prev)
        .map(|(t, p)| {
            if p.is_empty() {
                t.text.clone()
            } else {
                format!("{p}\n{}", t.text)
            }
        })
        .collect();
    let t0 = std::time::Instant::now();
    let e_plain = embed_cached(embedder, &plain, &dir.join("emb-plain.f32"));
    let e_prev = embed_cached(embedder, &with_prev, &dir.join("emb-prev.f32"));
    let qtexts: Vec<String> = questions.iter().map(|q| q.text.clone()).collect();
    let e_q = embed_cached(embedder, &qtexts, &dir.join("emb-q.f32"));
    println!(
        "lab: embeddings ready in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let mut convs: HashMap<&str, Conv> = HashMap::new();
    for (i, t) in turns.iter().enumerate() {
        let c = convs.entry(t.user.as_str()).or_insert_with(|| Conv {
            ids: Vec::new(),
            prev_session: Vec::new(),
            prev: Vec::new(),
            toks: HashMap::new(),
            emb: HashMap::new(),
        });
        c.prev.push(c.ids.len().checked_sub(1));
        c.prev_session.push(
            c.ids
                .len()
                .checked_sub(1)
                .filter(|_| i > 0 && turns[i - 1].session == t.session),
        );
        c.ids.push(t.dia_id.clone());
        let mut put = |k: &'static str, v: Vec<String>| c.toks.entry(k).or_default().push(v);
        put("plain", memlayer_text::tokenize(&t.text, true));
        put("stem", stem_tokens(&t.text));
        put("stem+date", stem_tokens(&format!("{} {}", t.text, t.date)));
        put("stem+prev", stem_tokens(&format!("{} {}", t.text, prev[i])));
        put(
            "stem+prev+next",
            stem_tokens(&format!("{} {} {}", t.text, prev[i], next[i])),
        );
        put(
            "stem+prev+date",
            stem_tokens(&format!("{} {} {}", t.text, prev[i], t.date)),
        );
        c.emb.entry("plain").or_default().push(e_plain[i].clone());
        c.emb.entry("prev").or_default().push(e_prev[i].clone());
    }

    // Every question's per-signal scores, computed once.
    struct Sig {
        bm25: HashMap<&'static str, Vec<f32>>,
        cos: HashMap<&'static str, Vec<f32>>,
    }
    let sigs: Vec<Sig> = questions
        .iter()
        .enumerate()
        .map(|(qi, q)| {
            let c = &convs[q.user.as_str()];
            let qt_plain = memlayer_text::tokenize(&q.text, true);
            let qt_stem = stem_tokens(&q.text);
            let bm25 = c
                .toks
                .iter()
                .map(|(&k, docs)| {
                    let qt = if k == "plain" { &qt_plain } else { &qt_stem };
                    (k, memlayer_text::bm25::score_docs(qt, docs))
                })
                .collect();
            let cos = c
                .emb
                .iter()
                .map(|(&k, docs)| (k, docs.iter().map(|d| dot(&e_q[qi], d)).collect()))
                .collect();
            Sig { bm25, cos }
        })
        .collect();

    let eval = |name: String, score: &dyn Fn(&Sig) -> Vec<f32>| {
        let mut run = Run::new(&name);
        for (q, s) in questions.iter().zip(&sigs) {
            let c = &convs[q.user.as_str()];
            let sc = score(s);
            let mut order: Vec<usize> = (0..sc.len()).collect();
            order.sort_by(|&a, &b| sc[b].total_cmp(&sc[a]).then(a.cmp(&b)));
            let ranked: Vec<String> = order.iter().take(10).map(|&i| c.ids[i].clone()).collect();
            run.add(q, &ranked);
        }
        run
    };
    let mut runs = Vec::new();
    for k in [
        "plain",
        "stem",
        "stem+date",
        "stem+prev",
        "stem+prev+next",
        "stem+prev+date",
    ] {
        runs.push(eval(format!("bm25 {k}"), &|s| s.bm25[k].clone()));
    }
    for k in ["plain", "prev"] {
        runs.push(eval(format!("cosine {k}"), &|s| s.cos[k].clone()));
    }
    // Neighbour propagation: b(d) + a·b(prev(d)), the previous memory of
    // the scope in insertion order (no session boundary).
    let prop = |s: &Sig, q: &Question, a: f32| -> Vec<f32> {
        let c = &convs[q.user.as_str()];
        let b = &s.bm25["stem"];
        (0..b.len())
            .map(|i| b[i] + c.prev[i].map_or(0.0, |p| a * b[p]))
            .collect()
    };
    let qs: HashMap<*const Sig, &Question> = sigs
        .iter()
        .zip(questions)
        .map(|(s, q)| (s as *const Sig, q))
        .collect();
    for a in [0.5f32, 0.7, 1.0] {
        runs.push(eval(format!("bm25 stem prop a={a}"), &|s| {
            prop(s, qs[&(s as *const Sig)], a)
        }));
    }
    let weighted = |b: &[f32], c: &[f32], w: f32, k: f32| -> Vec<f32> {
        b.iter()
            .zip(c)
            .map(|(&b, &c)| w * c.max(0.0) + (1.0 - w) * b / (b + k))
            .collect()
    };
    let rrf = |b: &[f32], c: &[f32], w: f32, k: f32| -> Vec<f32> {
        let rb = ranks(b, true);
        let rc = ranks(c, false);
        rb.iter()
            .zip(&rc)
            .map(|(b, c)| {
                let f = |r: &Option<usize>| r.map_or(0.0, |r| 1.0 / (k + r as f32 + 1.0));
                (1.0 - w) * f(b) + w * f(c)
            })
            .collect()
    };
    for a in [0.0f32, 0.5, 1.0] {
        for (w, k) in [
            (0.5f32, 4.0f32),
            (0.4, 4.0),
            (0.3, 4.0),
            (0.5, 8.0),
            (0.4, 8.0),
        ] {
            runs.push(eval(
                format!("weighted w={w} k={k} bm25 prop a={a} + cos"),
                &|s| weighted(&prop(s, qs[&(s as *const Sig)], a), &s.cos["plain"], w, k),
            ));
        }
        for (w, k) in [(0.5f32, 10.0f32), (0.5, 20.0), (0.4, 20.0), (0.5, 40.0)] {
            runs.push(eval(
                format!("rrf w={w} k={k} bm25 prop a={a} + cos"),
                &|s| rrf(&prop(s, qs[&(s as *const Sig)], a), &s.cos["plain"], w, k),
            ));
        }
    }
    // Indexed context (the document's BM25 over its text and its
    // neighbours' together) fused with the cosine, and the cosine with
    // neighbour propagation.
    let cos_prop = |s: &Sig, q: &Question, beta: f32| -> Vec<f32> {
        let c = &convs[q.user.as_str()];
        let v = &s.cos["plain"];
        (0..v.len())
            .map(|i| v[i] + c.prev[i].map_or(0.0, |p| beta * v[p].max(0.0)))
            .collect()
    };
    for key in ["stem+prev", "stem+prev+next", "stem+prev+date"] {
        for (w, k) in [
            (0.3f32, 4.0f32),
            (0.4, 4.0),
            (0.5, 4.0),
            (0.4, 8.0),
            (0.5, 8.0),
        ] {
            runs.push(eval(
                format!("weighted w={w} k={k} bm25 {key} + cos"),
                &|s| weighted(&s.bm25[key], &s.cos["plain"], w, k),
            ));
        }
    }
    for beta in [0.1f32, 0.2, 0.3] {
        for key in ["stem+prev", "stem+prev+next"] {
            runs.push(eval(
                format!("weighted w=0.4 k=4 bm25 {key} + cos prop b={beta}"),
                &|s| {
                    let q = qs[&(s as *const Sig)];
                    weighted(&s.bm25[key], &cos_prop(s, q, beta), 0.4, 4.0)
                },
            ));
        }
        runs.push(eval(
            format!("weighted w=0.4 k=4 bm25 prop a=0.5 + cos prop b={beta}"),
            &|s| {
                let q = qs[&(s as *const Sig)];
                weighted(&prop(s, q, 0.5), &cos_prop(s, q, beta), 0.4, 4.0)
            },
        ));
    }
    // BM25 over each document's words plus `alpha` × its previous
    // document's (term frequencies and lengths), with `b` as given: what
    // a query-time joint score over the postings can compute.
    let joint = |q: &Question, prev: &[Option<usize>], alpha: f32, b: f32| -> Vec<f32> {
        let c = &convs[q.user.as_str()];
        let docs = &c.toks["stem"];
        let qt = {
            let mut v = stem_tokens(&q.text);
            v.sort();
            v.dedup();
            v
        };
        let tf = |i: usize, t: &str| docs[i].iter().filter(|w| *w == t).count() as f32;
        let n = docs.len();
        let dl: Vec<f32> = (0..n)
            .map(|i| docs[i].len() as f32 + prev[i].map_or(0.0, |p| alpha * docs[p].len() as f32))
            .collect();
        let avgdl = dl.iter().sum::<f32>() / n as f32;
        let mut out = vec![0.0f32; n];
        for t in &qt {
            let jt: Vec<f32> = (0..n)
                .map(|i| tf(i, t) + prev[i].map_or(0.0, |p| alpha * tf(p, t)))
                .collect();
            let df = jt.iter().filter(|&&x| x > 0.0).count() as f32;
            let idf = memlayer_text::bm25::idf(n as f32, df);
            let k1 = memlayer_text::bm25::K1;
            for i in 0..n {
                if jt[i] > 0.0 {
                    out[i] +=
                        idf * jt[i] * (k1 + 1.0) / (jt[i] + k1 * (1.0 - b + b * dl[i] / avgdl));
                }
            }
        }
        out
    };
    let joints: Vec<(String, Vec<Vec<f32>>)> = [
        ("session", 1.0f32, 0.75f32),
        ("scope", 1.0, 0.75),
        ("scope", 0.7, 0.75),
        ("scope", 0.5, 0.75),
        ("scope", 1.0, 0.6),
        ("scope", 1.0, 0.5),
        ("scope", 0.7, 0.6),
        ("scope", 0.5, 0.5),
    ]
    .iter()
    .map(|&(which, alpha, b)| {
        let v = questions
            .iter()
            .map(|q| {
                let c = &convs[q.user.as_str()];
                let prev = if which == "session" {
                    &c.prev_session
                } else {
                    &c.prev
                };
                joint(q, prev, alpha, b)
            })
            .collect();
        (format!("joint prev={which} alpha={alpha} b={b}"), v)
    })
    .collect();
    let qpos: HashMap<*const Sig, usize> = sigs
        .iter()
        .enumerate()
        .map(|(i, s)| (s as *const Sig, i))
        .collect();
    for (name, v) in &joints {
        runs.push(eval(format!("bm25 {name}"), &|s| {
            v[qpos[&(s as *const Sig)]].clone()
        }));
        for (w, k) in [(0.4f32, 4.0f32), (0.4, 8.0), (0.5, 8.0)] {
            runs.push(eval(
                format!("weighted w={w} k={k} bm25 {name} + cos"),
                &|s| weighted(&v[qpos[&(s as *const Sig)]], &s.cos["plain"], w, k),
            ));
        }
    }
    println!("\n| variant | R@1 | R@5 | R@10 | hit@10 | R@10 c1 | c2 | c3 | c4 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let [r1, r5, r10, h] = r.by_cat[&0].row();
        let c = |k: u8| r.by_cat.get(&k).map_or(f64::NAN, |s| s.row()[2]);
        println!(
            "| {} | {r1:.3} | {r5:.3} | {r10:.3} | {h:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.name,
            c(1),
            c(2),
            c(3),
            c(4)
        );
    }
}
