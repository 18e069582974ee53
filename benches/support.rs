//! Workloads shared by memlayer's benchmarks and peer scripts.

/// `n` short, varied sentences (5–15 word pieces each).
pub fn short_texts(n: usize) -> Vec<String> {
    const SUBJ: [&str; 8] = [
        "I",
        "My sister",
        "Our team",
        "The agent",
        "Priya",
        "Tom",
        "We",
        "My doctor",
    ];
    const VERB: [&str; 8] = [
        "likes",
        "hates",
        "booked",
        "prefers",
        "forgot",
        "visited",
        "ordered",
        "recommended",
    ];
    const OBJ: [&str; 8] = [
        "green tea",
        "a trip to Lisbon",
        "the aisle seat",
        "vegetarian food",
        "the quarterly report",
        "a new cello",
        "running shoes",
        "the Rust compiler",
    ];
    (0..n)
        .map(|i| {
            format!(
                "{} {} {} on day {}.",
                SUBJ[i % 8],
                VERB[(i / 8) % 8],
                OBJ[(i / 64 + i) % 8],
                i
            )
        })
        .collect()
}

/// `n` texts of about `words` words each (MiniLM turns ~100 words into ~128
/// word pieces); each text differs.
pub fn long_texts(n: usize, words: usize) -> Vec<String> {
    let base = short_texts(words);
    (0..n)
        .map(|i| {
            let mut s = String::new();
            let mut w = 0;
            let mut j = i;
            while w < words {
                let t = &base[j % base.len()];
                w += t.split_whitespace().count();
                s.push_str(t);
                s.push(' ');
                j += 7;
            }
            s
        })
        .collect()
}

/// Multiply-accumulate FLOPs (2 per MAC) of one BERT encoder forward pass over
/// `tokens` tokens: Q, K, V, O projections, attention scores and mixing, and
/// the two feed-forward matmuls, for every layer (embeddings, layer norms and
/// softmax are lower order and not counted).
pub fn bert_flops(tokens: usize, hidden: usize, intermediate: usize, layers: usize) -> f64 {
    let (t, h, i) = (tokens as f64, hidden as f64, intermediate as f64);
    let per_layer = 2.0 * (4.0 * t * h * h + 2.0 * t * t * h + 2.0 * t * h * i);
    per_layer * layers as f64
}

/// A system prompt of about `approx_tokens` tokens, shaped like a memory
/// extraction prompt (rules and examples), for prefix-reuse measurements.
pub fn long_system_prompt(approx_tokens: usize) -> String {
    let mut s = String::from(
        "You are a memory extraction engine. Read the conversation and return the durable facts about the \
         user as JSON {\"facts\": [...]}. Each fact is one short sentence in the third person.\n",
    );
    let examples = [
        (
            "Hi, I'm Ana and I live in Porto.",
            "[\"Name is Ana\", \"Lives in Porto\"]",
        ),
        ("The weather is nice today.", "[]"),
        (
            "I switched from coffee to green tea.",
            "[\"Drinks green tea instead of coffee\"]",
        ),
        (
            "My son Leo is allergic to peanuts.",
            "[\"Has a son named Leo\", \"Leo is allergic to peanuts\"]",
        ),
        (
            "I work as a nurse at the city hospital.",
            "[\"Works as a nurse at the city hospital\"]",
        ),
        (
            "Book me the aisle seat please, I always take it.",
            "[\"Prefers aisle seats\"]",
        ),
    ];
    let mut i = 0;
    // ~4 characters per token for English text.
    while s.len() < approx_tokens * 4 {
        let (input, out) = examples[i % examples.len()];
        s.push_str(&format!("Example {}: user: {input}\nfacts: {out}\n", i + 1));
        i += 1;
    }
    s
}

/// `n` texts of exactly `chars` characters each (word-shaped, varied).
pub fn texts_of_len(n: usize, chars: usize) -> Vec<String> {
    let words = short_texts(64).join(" ");
    let words: Vec<&str> = words.split_whitespace().collect();
    (0..n)
        .map(|i| {
            let mut s = String::with_capacity(chars + 16);
            let mut j = i * 3;
            while s.len() < chars {
                s.push_str(words[j % words.len()]);
                s.push(' ');
                j += 5;
            }
            s.truncate(chars);
            s
        })
        .collect()
}

/// `n` pseudo-random unit vectors of `dims` dimensions (deterministic in `seed`).
pub fn random_unit_vectors(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dims).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

/// `n` varied memory-like facts ("Prefers window seats on long flights to
/// Lisbon", ...): a subject phrase, a predicate and an object with a detail,
/// so that BM25 and embeddings both have something to work with.
pub fn memory_facts(n: usize, salt: u64) -> Vec<String> {
    const PRED: [&str; 16] = [
        "Prefers",
        "Is allergic to",
        "Recently bought",
        "Wants to learn",
        "Dislikes",
        "Often cooks",
        "Is planning a trip with",
        "Works on",
        "Collects",
        "Volunteers at",
        "Listens to",
        "Is reading about",
        "Practises",
        "Forgot about",
        "Loves",
        "Avoids",
    ];
    const OBJ: [&str; 32] = [
        "green tea",
        "peanuts",
        "a road bike",
        "Portuguese",
        "crowded trains",
        "mushroom risotto",
        "her sister Ana",
        "the billing service",
        "vintage cameras",
        "the animal shelter",
        "jazz records",
        "volcanoes",
        "the cello",
        "the dentist appointment",
        "spicy ramen",
        "shellfish",
        "window seats",
        "the Kubernetes migration",
        "board games",
        "sourdough bread",
        "marathon training",
        "Lisbon",
        "the quarterly report",
        "rock climbing",
        "oat milk",
        "night shifts",
        "a golden retriever",
        "chess openings",
        "the garden",
        "tax forms",
        "electric cars",
        "watercolour painting",
    ];
    const DETAIL: [&str; 16] = [
        "on weekends",
        "since last spring",
        "with friends",
        "every morning",
        "after work",
        "when travelling",
        "in the summer",
        "for her birthday",
        "at the office",
        "twice a week",
        "during holidays",
        "since childhood",
        "at night",
        "with colleagues",
        "before meetings",
        "on long flights",
    ];
    let mut x = salt ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            format!(
                "{} {} {} (note {i})",
                PRED[(r % 16) as usize],
                OBJ[((r >> 8) % 32) as usize],
                DETAIL[((r >> 16) % 16) as usize]
            )
        })
        .collect()
}

/// `n` search queries in the vocabulary of [`memory_facts`].
pub fn memory_queries(n: usize) -> Vec<String> {
    const Q: [&str; 8] = [
        "what does she think about {}?",
        "anything about {}",
        "{} plans",
        "does the user like {}",
        "{}",
        "tell me about {} habits",
        "when does she do {}",
        "is there a problem with {}",
    ];
    let objs = memory_facts(n, 99);
    objs.iter()
        .enumerate()
        .map(|(i, f)| {
            let words: Vec<&str> = f.split_whitespace().collect();
            let mid = words.len() / 2;
            let obj = words[mid.saturating_sub(1)..=mid].join(" ");
            Q[i % 8].replace("{}", &obj)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_have_the_requested_shape() {
        assert_eq!(short_texts(100).len(), 100);
        assert!(
            long_texts(3, 100)
                .iter()
                .all(|t| t.split_whitespace().count() >= 100)
        );
        assert!(long_system_prompt(600).len() >= 2400);
        // MiniLM-L6: 6 layers, 384 hidden, 1536 intermediate; ~21 MFLOP per token at short lengths.
        let f = bert_flops(1, 384, 1536, 6) / 1e6;
        assert!((21.0..22.0).contains(&f), "{f}");
    }
}
