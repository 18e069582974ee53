//! Calendar dates named in a query ("in June", "on October 13, 2023",
//! "1 February, 2023", "in 2022"), as precise as they are written, so that
//! keyword search can match them against when memories were made.
//!
//! Recognised: an English month name or its abbreviation, with an optional
//! day of the month before ("13 October", "13th of October") or after it
//! ("October 13", "Oct 13th") and an optional year after it ("October
//! 2023", "October 13, 2023"); a year on its own (1900–2199). "May" and
//! "March" are also common words, so alone they count as months only after
//! "in", "during", "since", "until", "of" or "early"/"mid"/"late", or next
//! to a day or a year. Relative dates ("last week") are not resolved.

use crate::words;

/// A date named in a text: every field that was written, the others
/// `None`. At least one field is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NamedDate {
    /// The year, when written.
    pub year: Option<i32>,
    /// The month (1–12), when written.
    pub month: Option<u8>,
    /// The day of the month (1–31), only with a month.
    pub day: Option<u8>,
}

impl NamedDate {
    /// Whether the civil date (`year`, `month` 1–12, `day` 1–31) falls
    /// within this named date (every written field is equal).
    ///
    /// ```
    /// use memlayer_text::dates::named_dates;
    /// let june = named_dates("camping in June")[0];
    /// assert!(june.contains(2023, 6, 27) && !june.contains(2023, 7, 1));
    /// ```
    pub fn contains(&self, year: i32, month: u8, day: u8) -> bool {
        self.year.is_none_or(|y| y == year)
            && self.month.is_none_or(|m| m == month)
            && self.day.is_none_or(|d| d == day)
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Month number (1–12) of a lowercase English month name or its
/// abbreviation ("oct", "sept").
///
/// ```
/// use memlayer_text::dates::month_number;
/// assert_eq!(month_number("october"), Some(10));
/// assert_eq!(month_number("sept"), Some(9));
/// assert_eq!(month_number("smarch"), None);
/// ```
pub fn month_number(w: &str) -> Option<u8> {
    if let Some(i) = MONTHS.iter().position(|m| *m == w) {
        return Some(i as u8 + 1);
    }
    let abbr = [
        "jan", "feb", "mar", "apr", "", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if w == "sept" {
        return Some(9);
    }
    abbr.iter()
        .position(|a| !a.is_empty() && *a == w)
        .map(|i| i as u8 + 1)
}

/// A day of the month: 1–31 with an optional ordinal suffix.
fn day(w: &str) -> Option<u8> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))
        .unwrap_or(w);
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

/// A four-digit year in 1900–2199.
fn year(w: &str) -> Option<i32> {
    if w.len() != 4 || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok().filter(|y| (1900..=2199).contains(y))
}

/// Words after which "may" and "march" name the month.
const MONTH_CUES: &[&str] = &[
    "in", "during", "since", "until", "of", "early", "mid", "late", "last", "next", "this",
];

/// The dates named in `text`, in order of appearance, without repeats.
///
/// ```
/// use memlayer_text::dates::{named_dates, NamedDate};
/// let d = named_dates("What did Gina find on 1 February, 2023?");
/// assert_eq!(d, [NamedDate { year: Some(2023), month: Some(2), day: Some(1) }]);
/// assert_eq!(named_dates("How many times in 2023?")[0].year, Some(2023));
/// assert!(named_dates("You may paint").is_empty());
/// ```
pub fn named_dates(text: &str) -> Vec<NamedDate> {
    let w: Vec<String> = words(text).collect();
    let mut out: Vec<NamedDate> = Vec::new();
    let mut used = vec![false; w.len()];
    let push = |d: NamedDate, out: &mut Vec<NamedDate>| {
        if !out.contains(&d) {
            out.push(d);
        }
    };
    for i in 0..w.len() {
        let Some(m) = month_number(&w[i]) else {
            continue;
        };
        // Day before: "13 October", "13th of October".
        let before = match i.checked_sub(1).map(|j| w[j].as_str()) {
            Some("of") => i.checked_sub(2).and_then(|j| day(&w[j]).map(|d| (j, d))),
            Some(_) => day(&w[i - 1]).map(|d| (i - 1, d)),
            None => None,
        };
        // Day after: "October 13" (not a year).
        let after = w.get(i + 1).and_then(|x| day(x)).map(|d| (i + 1, d));
        let (day_at, d) = match (before, after) {
            (Some(b), _) => (Some(b.0), Some(b.1)),
            (None, Some(a)) => (Some(a.0), Some(a.1)),
            (None, None) => (None, None),
        };
        let next = day_at.filter(|&j| j > i).map_or(i + 1, |j| j + 1);
        let y = w.get(next).and_then(|x| year(x));
        let ambiguous = matches!(w[i].as_str(), "may" | "march" | "mar");
        let cued = i
            .checked_sub(1)
            .is_some_and(|j| MONTH_CUES.contains(&w[j].as_str()));
        if ambiguous && d.is_none() && y.is_none() && !cued {
            continue;
        }
        used[i] = true;
        if let Some(j) = day_at {
            used[j] = true;
        }
        if y.is_some() {
            used[next] = true;
        }
        push(
            NamedDate {
                year: y,
                month: Some(m),
                day: d,
            },
            &mut out,
        );
    }
    for (i, x) in w.iter().enumerate() {
        if !used[i]
            && let Some(y) = year(x)
        {
            push(
                NamedDate {
                    year: Some(y),
                    month: None,
                    day: None,
                },
                &mut out,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(year: Option<i32>, month: Option<u8>, day: Option<u8>) -> NamedDate {
        NamedDate { year, month, day }
    }

    #[test]
    fn reads_each_written_form() {
        let cases: &[(&str, &[NamedDate])] = &[
            (
                "When did Melanie go camping in June?",
                &[d(None, Some(6), None)],
            ),
            ("in July 2023", &[d(Some(2023), Some(7), None)]),
            ("on October 13, 2023", &[d(Some(2023), Some(10), Some(13))]),
            ("on 1 February, 2023", &[d(Some(2023), Some(2), Some(1))]),
            ("the 13th of Oct", &[d(None, Some(10), Some(13))]),
            ("on May 23rd", &[d(None, Some(5), Some(23))]),
            (
                "Sept 2022 and in 2024",
                &[d(Some(2022), Some(9), None), d(Some(2024), None, None)],
            ),
            ("in May", &[d(None, Some(5), None)]),
            ("early March", &[d(None, Some(3), None)]),
            ("beach in 2023? in 2023", &[d(Some(2023), None, None)]),
        ];
        for (text, want) in cases {
            assert_eq!(named_dates(text), *want, "{text}");
        }
    }

    #[test]
    fn ignores_words_that_only_look_like_dates() {
        for text in [
            "You may march on",
            "I have 2 dogs and 31 cats",
            "Room 12345 on floor 3",
            "",
            "mayday",
        ] {
            assert!(named_dates(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn contains_checks_only_written_fields() {
        let oct13 = d(Some(2023), Some(10), Some(13));
        assert!(oct13.contains(2023, 10, 13));
        assert!(!oct13.contains(2022, 10, 13) && !oct13.contains(2023, 10, 14));
        assert!(d(Some(2023), None, None).contains(2023, 1, 1));
    }
}
