//! Stage 4, scoring path: supersession as classification. For each
//! contested fact and each of its nearest memories, the chat model picks
//! one of four fixed answers ([`Relation`]) by its next-token
//! probabilities (one short prefill, no sampling, no JSON); these labels
//! then decide the fact's change without any generated text.

use super::candidates::CandidateSet;
use super::reconcile::Planned;

/// How a new fact relates to one stored memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Relation {
    /// The memory already says it.
    Same,
    /// Same attribute, new value: the memory is no longer true.
    Changed,
    /// The fact adds detail; the memory stays true.
    Detail,
    /// A different thing: both are true.
    Unrelated,
}

impl Relation {
    /// The answers scored, in the order of [`Relation::ALL`]; each starts
    /// with its own token.
    pub(crate) const CHOICES: [&'static str; 4] = ["same", "changed", "detail", "unrelated"];
    /// Every relation, in the order of [`Relation::CHOICES`].
    pub(crate) const ALL: [Relation; 4] = [
        Relation::Same,
        Relation::Changed,
        Relation::Detail,
        Relation::Unrelated,
    ];
}

/// Words that open a fact about someone other than the user ("Brother
/// Tom lives in Toronto", "Mom is a retired pharmacist"), in the languages
/// the extraction prompt sees most.
const RELATION_WORDS: &[&str] = &[
    "brother",
    "sister",
    "mom",
    "mother",
    "mum",
    "dad",
    "father",
    "parents",
    "wife",
    "husband",
    "son",
    "daughter",
    "kids",
    "children",
    "child",
    "friend",
    "boyfriend",
    "girlfriend",
    "partner",
    "fiance",
    "fiancee",
    "coworker",
    "co-worker",
    "colleague",
    "boss",
    "roommate",
    "flatmate",
    "neighbor",
    "neighbour",
    "uncle",
    "aunt",
    "cousin",
    "niece",
    "nephew",
    "grandma",
    "grandmother",
    "grandpa",
    "grandfather",
    "grandson",
    "granddaughter",
    "stepson",
    "stepdaughter",
    "stepmother",
    "stepfather",
    "in-law",
    "teammate",
    "classmate",
    "manager",
    "hermano",
    "hermana",
    "madre",
    "padre",
    "esposa",
    "esposo",
    "hijo",
    "hija",
    "amigo",
    "amiga",
    "frère",
    "soeur",
    "sœur",
    "mère",
    "père",
    "femme",
    "mari",
    "fils",
    "fille",
    "ami",
    "amie",
    "bruder",
    "schwester",
    "mutter",
    "vater",
    "frau",
    "mann",
    "sohn",
    "tochter",
    "freund",
    "freundin",
    "irmão",
    "irmã",
    "mãe",
    "pai",
    "fratello",
    "sorella",
    "madre",
    "moglie",
    "marito",
    "figlio",
    "figlia",
];

/// Words that may stand before a relation word ("best friend").
const MODIFIERS: &[&str] = &[
    "best", "close", "old", "older", "younger", "little", "big", "baby", "twin", "ex", "step",
    "late", "new", "elder", "eldest", "youngest", "oldest",
];

/// Whom a fact is about: `None` for the user (the default subject of an
/// extracted fact), else the lowercase relation phrase it opens with, e.g.
/// `"brother tom"` for "Brother Tom lives in Toronto" or `"best friend
/// jess"` for "My best friend Jess is a nurse".
pub(crate) fn subject_of(fact: &str) -> Option<String> {
    let words: Vec<String> = fact
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-')
                .to_lowercase()
        })
        .collect();
    let mut i = 0;
    if matches!(
        words.first().map(String::as_str),
        Some(
            "my" | "our" | "mi" | "mon" | "ma" | "mein" | "meine" | "meu" | "minha" | "mio" | "mia"
        )
    ) {
        i = 1;
    }
    // Up to two modifiers before the relation word ("best friend",
    // "older sister", "ex wife").
    let bare = |k: usize| words[k].trim_end_matches("'s").to_string();
    let is_relation =
        |w: &str| RELATION_WORDS.contains(&w) || RELATION_WORDS.contains(&w.trim_end_matches('s'));
    let mut at = i;
    while at < words.len() && at < i + 2 && MODIFIERS.contains(&bare(at).as_str()) {
        at += 1;
    }
    if at >= words.len() || !is_relation(&bare(at)) {
        return None;
    }
    let mut phrase: Vec<String> = (i..=at).map(bare).collect();
    // A name right after the relation word belongs to the subject.
    let original: Vec<&str> = fact.split_whitespace().collect();
    if !words[at].ends_with("'s")
        && let Some(next) = original.get(at + 1)
        && next.chars().next().is_some_and(char::is_uppercase)
    {
        phrase.push(bare(at + 1));
    }
    Some(phrase.join(" "))
}

/// Contextual calibration (Zhao et al., 2021): small models favour some
/// answers whatever the question; dividing each answer's probability by
/// its probability for a content-free question (`prior`) and
/// renormalising removes that bias. A prior of the wrong length, or with a
/// zero, leaves `probs` as they are.
pub(crate) fn calibrate(probs: &[f32], prior: &[f32]) -> Vec<f32> {
    if prior.len() != probs.len() || prior.iter().any(|&p| !(p.is_finite() && p > 0.0)) {
        return probs.to_vec();
    }
    let q: Vec<f32> = probs.iter().zip(prior).map(|(p, b)| p / b).collect();
    let sum: f32 = q.iter().sum();
    if !(sum.is_finite() && sum > 0.0) {
        return probs.to_vec();
    }
    q.iter().map(|x| x / sum).collect()
}

/// Index of the largest value (the first on a tie).
pub(crate) fn argmax(xs: &[f32]) -> Option<usize> {
    xs.iter()
        .enumerate()
        .fold(None, |acc: Option<(usize, f32)>, (i, &x)| match acc {
            Some((_, b)) if b >= x => acc,
            _ => Some((i, x)),
        })
        .map(|(i, _)| i)
}

/// A scored pair: (fact index, candidate index) and its label.
pub(crate) type Labelled = ((usize, usize), Relation);

/// The (fact, candidate) pairs to score: each contested fact with its
/// `per_fact` nearest candidates (indices into `facts` and `set.known`).
pub(crate) fn pairs(
    contested: &[usize],
    set: &CandidateSet,
    per_fact: usize,
) -> Vec<(usize, usize)> {
    contested
        .iter()
        .flat_map(|&i| {
            set.near
                .get(i)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .take(per_fact)
                .map(move |&(ci, _)| (i, ci))
        })
        .collect()
}

/// Turns the labels of the scored pairs into one change per fact:
/// - any `Same` → nothing (already known);
/// - else every `Changed` memory is superseded by the fact (added once);
/// - else the nearest `Detail` memory is rewritten as the fact;
/// - else, when the fact is `Changed` or `Detail` to a memory that an
///   earlier fact of this `add` already changes, the two facts describe one
///   change ("I moved to Lisbon last month, so I live in Lisbon now"): the
///   fact joins the earlier fact's text (see [`join`]) instead of becoming
///   a second memory about the same attribute;
/// - else the fact is added.
///
/// A memory is the target of at most one change per `add`.
pub(crate) fn plan(
    contested: &[usize],
    facts: &[String],
    set: &CandidateSet,
    labelled: &[Labelled],
) -> Vec<Planned> {
    /// One change being planned: its text and what it does.
    enum Target {
        Supersede(Vec<usize>),
        Update(usize),
        Add,
    }
    // The change group that took each memory.
    let mut owner: Vec<Option<usize>> = vec![None; set.known.len()];
    let mut groups: Vec<(String, Target)> = Vec::new();
    for &i in contested {
        let Some(fact) = facts.get(i) else { continue };
        let mine: Vec<(usize, Relation)> = labelled
            .iter()
            .filter(|((f, ci), _)| *f == i && *ci < owner.len())
            .map(|&((_, ci), r)| (ci, r))
            .collect();
        let free = |want: Relation, owner: &[Option<usize>]| -> Vec<usize> {
            mine.iter()
                .filter(|&&(ci, r)| r == want && owner[ci].is_none())
                .map(|&(ci, _)| ci)
                .collect()
        };
        if mine.iter().any(|&(_, r)| r == Relation::Same) {
            continue;
        }
        let changed = free(Relation::Changed, &owner);
        if !changed.is_empty() {
            for &ci in &changed {
                owner[ci] = Some(groups.len());
            }
            groups.push((fact.clone(), Target::Supersede(changed)));
            continue;
        }
        if let Some(&ci) = free(Relation::Detail, &owner).first() {
            owner[ci] = Some(groups.len());
            groups.push((fact.clone(), Target::Update(ci)));
            continue;
        }
        let earlier = mine
            .iter()
            .filter(|&&(_, r)| matches!(r, Relation::Changed | Relation::Detail))
            .find_map(|&(ci, _)| owner[ci]);
        match earlier {
            Some(g) => groups[g].0 = join(&groups[g].0, fact),
            None => groups.push((fact.clone(), Target::Add)),
        }
    }
    let mut out = Vec::new();
    for (text, target) in groups {
        match target {
            // Every changed memory names the fact as its replacement; the
            // batch inserts the fact once.
            Target::Supersede(cis) => out.extend(cis.into_iter().map(|ci| {
                let k = &set.known[ci];
                Planned::Supersede {
                    id: k.id,
                    hash: k.hash.clone(),
                    old: k.text.clone(),
                    replacement: Some(text.clone()),
                }
            })),
            Target::Update(ci) => {
                let k = &set.known[ci];
                out.push(Planned::Update {
                    id: k.id,
                    hash: k.hash.clone(),
                    old: k.text.clone(),
                    text,
                });
            }
            Target::Add => out.push(Planned::Add { text }),
        }
    }
    out
}

/// One memory text from two facts of the same change: `a; b`, or `a` when
/// it already says `b` (case-insensitive).
pub(crate) fn join(a: &str, b: &str) -> String {
    if a.to_lowercase().contains(&b.to_lowercase()) {
        return a.to_string();
    }
    format!("{}; {}", a.trim_end_matches(['.', ';', ' ']), b.trim())
}

#[cfg(test)]
mod tests {
    use super::super::candidates::tests::{known, set};
    use super::*;

    #[test]
    fn choices_and_relations_line_up() {
        assert_eq!(Relation::CHOICES.len(), Relation::ALL.len());
        let firsts: std::collections::HashSet<char> = Relation::CHOICES
            .iter()
            .filter_map(|c| c.chars().next())
            .collect();
        assert_eq!(firsts.len(), 4, "choices must start differently");
    }

    #[test]
    fn subject_of_names_the_person_a_fact_is_about() {
        let cases = [
            ("Lives in Paris", None),
            ("Works as a teacher", None),
            ("Brother Tom lives in Toronto", Some("brother tom")),
            ("My daughter Efua got an iPhone", Some("daughter efua")),
            ("Mom is a retired pharmacist", Some("mom")),
            (
                "Best friend Jess works as a nurse",
                Some("best friend jess"),
            ),
            (
                "coworker Marisol is allergic to gluten",
                Some("coworker marisol"),
            ),
            ("Sister's dog is called Bruno", Some("sister")),
            ("Older sister Eva lives in Bergen", Some("older sister eva")),
            ("Son Leo loves soccer", Some("son leo")),
            ("Mi hermana vive en Madrid", Some("hermana")),
            ("Has a sister named Ana", None),
            ("Is married", None),
        ];
        for (fact, want) in cases {
            assert_eq!(subject_of(fact).as_deref(), want, "{fact}");
        }
    }

    #[test]
    fn calibration_removes_a_constant_bias() {
        // The model says "unrelated" 60% of the time on a content-free
        // question; a 0.43 vs 0.42 answer then favours "changed".
        let prior = [0.1, 0.2, 0.1, 0.6];
        let p = calibrate(&[0.10, 0.42, 0.05, 0.43], &prior);
        assert_eq!(argmax(&p), Some(1));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Unusable priors leave the scores alone.
        let raw = [0.1, 0.42, 0.05, 0.43];
        assert_eq!(calibrate(&raw, &[0.5, 0.5]), raw.to_vec());
        assert_eq!(calibrate(&raw, &[0.0, 0.2, 0.2, 0.6]), raw.to_vec());
        assert_eq!(argmax(&[]), None);
        assert_eq!(argmax(&[0.5, 0.5]), Some(0));
    }

    #[test]
    fn pairs_take_the_nearest_per_fact() {
        let s = set(
            vec![known(1, "A"), known(2, "B"), known(3, "C")],
            vec![vec![(2, 0.9), (0, 0.8), (1, 0.5)], vec![], vec![(1, 0.4)]],
        );
        assert_eq!(pairs(&[0, 2], &s, 2), vec![(0, 2), (0, 0), (2, 1)]);
        assert!(pairs(&[1], &s, 3).is_empty());
    }

    /// One fact against two memories: which change do the labels give?
    #[test]
    fn labels_table() {
        use Relation::*;
        let berlin = known(1, "Lives in Berlin");
        let old_flat = known(2, "Lives in Berlin since 2019");
        let s = set(
            vec![berlin.clone(), old_flat.clone()],
            vec![vec![(0, 0.8), (1, 0.7)]],
        );
        let facts = vec!["Lives in Lisbon".to_string()];
        let add = Planned::Add {
            text: "Lives in Lisbon".into(),
        };
        let del = |k: &super::super::candidates::Known| Planned::Supersede {
            id: k.id,
            hash: k.hash.clone(),
            old: k.text.clone(),
            replacement: Some("Lives in Lisbon".to_string()),
        };
        let upd = |k: &super::super::candidates::Known| Planned::Update {
            id: k.id,
            hash: k.hash.clone(),
            old: k.text.clone(),
            text: "Lives in Lisbon".into(),
        };
        // (label of memory 0, label of memory 1, expected plan)
        let cases: Vec<(Relation, Relation, Vec<Planned>)> = vec![
            (Same, Changed, vec![]),
            (Changed, Unrelated, vec![del(&berlin)]),
            (Changed, Changed, vec![del(&berlin), del(&old_flat)]),
            (Unrelated, Detail, vec![upd(&old_flat)]),
            (Detail, Changed, vec![del(&old_flat)]),
            (Unrelated, Unrelated, vec![add.clone()]),
        ];
        for (a, b, want) in cases {
            let labelled = [((0, 0), a), ((0, 1), b)];
            assert_eq!(plan(&[0], &facts, &s, &labelled), want, "{a:?} {b:?}");
        }
    }

    #[test]
    fn facts_of_one_change_join_and_a_memory_is_targeted_once() {
        use Relation::*;
        let berlin = known(1, "Lives in Berlin");
        let tea = known(2, "Likes tea");
        let s = set(
            vec![berlin.clone(), tea.clone()],
            vec![
                vec![(0, 0.8)],
                vec![(0, 0.7)],
                vec![(1, 0.6)],
                vec![(0, 0.5)],
            ],
        );
        let facts: Vec<String> = [
            "Moved to Lisbon last month",
            "Lives in Lisbon now",
            "Likes green tea",
            "Has a cat",
        ]
        .map(String::from)
        .to_vec();
        // Fact 1 changes Berlin too, which fact 0 already supersedes: one
        // memory. Fact 2 details tea. Fact 3 is unrelated to Berlin: added.
        let labelled = [
            ((0, 0), Changed),
            ((1, 0), Changed),
            ((2, 1), Detail),
            ((3, 0), Unrelated),
        ];
        let p = plan(&[0, 1, 2, 3], &facts, &s, &labelled);
        assert_eq!(
            p,
            vec![
                Planned::Supersede {
                    id: berlin.id,
                    hash: berlin.hash.clone(),
                    old: berlin.text.clone(),
                    replacement: Some("Moved to Lisbon last month; Lives in Lisbon now".into()),
                },
                Planned::Update {
                    id: tea.id,
                    hash: tea.hash.clone(),
                    old: tea.text.clone(),
                    text: "Likes green tea".into(),
                },
                Planned::Add {
                    text: "Has a cat".into()
                },
            ]
        );
        // A detail of a memory another fact updates joins that update.
        let labelled = [((0, 0), Detail), ((1, 0), Detail)];
        let p = plan(&[0, 1], &facts, &s, &labelled);
        assert!(
            matches!(&p[..], [Planned::Update { text, .. }] if text == "Moved to Lisbon last month; Lives in Lisbon now"),
            "{p:?}"
        );
    }

    #[test]
    fn join_skips_what_is_already_said() {
        assert_eq!(
            join("Lives in Lisbon.", "lives in lisbon"),
            "Lives in Lisbon."
        );
        assert_eq!(
            join("Sold the Honda.", "Drives a Tesla"),
            "Sold the Honda; Drives a Tesla"
        );
    }
}
