//! Allowed-id sets for filtered (scoped) search.

/// A set of external ids a search may return (a user's scope).
///
/// Built once per query (or cached by the engine per scope). Stored as a
/// dense bitmap when the ids are clustered (the usual case: store-assigned
/// sequential ids), otherwise as a sorted array; membership is O(1) or
/// O(log n) respectively.
///
/// ```
/// use memlayer_index::AllowSet;
/// let s = AllowSet::from_ids([7u64, 3, 9, 3]);
/// assert_eq!(s.len(), 3);
/// assert!(s.contains(9) && !s.contains(4));
/// assert_eq!(s.iter().collect::<Vec<_>>(), vec![3, 7, 9]);
/// ```
#[derive(Debug, Clone)]
pub struct AllowSet {
    repr: Repr,
    len: usize,
}

#[derive(Debug, Clone)]
enum Repr {
    Dense { base: u64, words: Vec<u64> },
    Sorted(Vec<u64>),
}

impl AllowSet {
    /// Builds a set from any ids (duplicates are ignored).
    pub fn from_ids<I: IntoIterator<Item = u64>>(ids: I) -> Self {
        let mut v: Vec<u64> = ids.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        let len = v.len();
        match (v.first(), v.last()) {
            (Some(&lo), Some(&hi)) => {
                let span_words = ((hi - lo) / 64).saturating_add(1);
                // Dense when the bitmap is no bigger than 4 words per id.
                if span_words <= (len as u64).saturating_mul(4).saturating_add(16) {
                    let mut words = vec![0u64; span_words as usize];
                    for &id in &v {
                        let o = id - lo;
                        words[(o / 64) as usize] |= 1 << (o % 64);
                    }
                    Self {
                        repr: Repr::Dense { base: lo, words },
                        len,
                    }
                } else {
                    Self {
                        repr: Repr::Sorted(v),
                        len,
                    }
                }
            }
            _ => Self {
                repr: Repr::Sorted(Vec::new()),
                len: 0,
            },
        }
    }

    /// Number of ids in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the set is empty (a search with it returns nothing).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `id` is allowed.
    #[inline]
    pub fn contains(&self, id: u64) -> bool {
        match &self.repr {
            Repr::Dense { base, words } => {
                let Some(o) = id.checked_sub(*base) else {
                    return false;
                };
                match words.get((o / 64) as usize) {
                    Some(w) => w & (1 << (o % 64)) != 0,
                    None => false,
                }
            }
            Repr::Sorted(v) => v.binary_search(&id).is_ok(),
        }
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (dense, sorted) = match &self.repr {
            Repr::Dense { base, words } => (Some((*base, words)), None),
            Repr::Sorted(v) => (None, Some(v.iter().copied())),
        };
        let dense = dense.into_iter().flat_map(|(base, words)| {
            words.iter().enumerate().flat_map(move |(wi, &w)| {
                let mut w = w;
                std::iter::from_fn(move || {
                    if w == 0 {
                        return None;
                    }
                    let b = w.trailing_zeros() as u64;
                    w &= w - 1;
                    Some(base + wi as u64 * 64 + b)
                })
            })
        });
        dense.chain(sorted.into_iter().flatten())
    }
}

impl FromIterator<u64> for AllowSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        Self::from_ids(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_agree() {
        let dense = AllowSet::from_ids((100..1000).step_by(3));
        assert!(matches!(dense.repr, Repr::Dense { .. }));
        let sparse = AllowSet::from_ids((0..300u64).map(|i| i * 1_000_003));
        assert!(matches!(sparse.repr, Repr::Sorted(_)));
        for s in [&dense, &sparse] {
            let ids: Vec<u64> = s.iter().collect();
            assert_eq!(ids.len(), s.len());
            for &i in &ids {
                assert!(s.contains(i));
                assert!(!s.contains(i + 1));
            }
        }
        assert!(!dense.contains(0) && !dense.contains(u64::MAX));
        assert!(AllowSet::from_ids([u64::MAX, 0]).contains(u64::MAX));
        assert!(AllowSet::from_ids(std::iter::empty()).is_empty());
    }
}
