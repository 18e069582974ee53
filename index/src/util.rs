//! Internal building blocks: the aligned vector buffer, visited sets,
//! heap items.

use std::cmp::Ordering;

/// Floats per padded block: rows are padded to a multiple of 16 floats
/// (one AVX-512 register, one 64-byte cache line) so kernels run without a
/// tail and rows never straddle cache lines.
pub(crate) const LANE: usize = 16;

/// Row stride (in floats) for `dims`-dimensional vectors.
pub(crate) fn stride_for(dims: usize) -> usize {
    dims.div_ceil(LANE).max(1) * LANE
}

/// Vectors in one contiguous, 64-byte aligned buffer of fixed-stride rows.
pub(crate) struct AlignedRows {
    buf: Vec<f32>,
    off: usize,
    stride: usize,
    rows: usize,
}

impl AlignedRows {
    pub(crate) fn new(stride: usize) -> Self {
        Self {
            buf: Vec::new(),
            off: 0,
            stride,
            rows: 0,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// Ensures room for `extra` more rows without reallocating later.
    pub(crate) fn reserve(&mut self, extra: usize) {
        let needed = (self.rows + extra) * self.stride;
        if self.off + needed <= self.buf.capacity() {
            return;
        }
        let cap = (needed + LANE).max(self.buf.capacity() * 3 / 2);
        let mut nb: Vec<f32> = Vec::with_capacity(cap);
        let off = nb.as_ptr().align_offset(64).min(LANE);
        nb.resize(off, 0.0);
        nb.extend_from_slice(&self.buf[self.off..self.off + self.rows * self.stride]);
        self.buf = nb;
        self.off = off;
    }

    /// Appends a zeroed row and returns it for filling.
    pub(crate) fn push_zeroed(&mut self) -> &mut [f32] {
        self.reserve(1);
        let start = self.off + self.rows * self.stride;
        self.buf.resize(start + self.stride, 0.0);
        self.rows += 1;
        &mut self.buf[start..start + self.stride]
    }

    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        let s = self.off + i * self.stride;
        &self.buf[s..s + self.stride]
    }

    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let s = self.off + i * self.stride;
        &mut self.buf[s..s + self.stride]
    }

    /// Moves the last row into `i` and drops the last row.
    pub(crate) fn swap_remove(&mut self, i: usize) {
        let last = self.rows - 1;
        if i != last {
            let s = self.off + last * self.stride;
            let d = self.off + i * self.stride;
            self.buf.copy_within(s..s + self.stride, d);
        }
        self.rows = last;
        self.buf.truncate(self.off + last * self.stride);
    }
}

/// Epoch-stamped visited set: clearing is O(1) (bump the epoch).
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    pub(crate) fn new() -> Self {
        Self {
            marks: Vec::new(),
            epoch: 0,
        }
    }

    /// Starts a new search over `n` nodes.
    pub(crate) fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
    }

    /// Marks `i`; returns true if it was not yet visited in this epoch.
    #[inline(always)]
    pub(crate) fn insert(&mut self, i: u32) -> bool {
        match self.marks.get_mut(i as usize) {
            Some(m) if *m != self.epoch => {
                *m = self.epoch;
                true
            }
            _ => false,
        }
    }
}

/// A (distance, node) pair ordered by distance, then node id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Item {
    pub(crate) d: f32,
    pub(crate) id: u32,
}

impl Eq for Item {}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        self.d.total_cmp(&other.d).then(self.id.cmp(&other.id))
    }
}

/// Keeps the `k` smallest items seen; `into_sorted` returns them ascending.
pub(crate) struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<Item>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, it: Item) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(it);
        } else if let Some(top) = self.heap.peek()
            && it < *top
        {
            self.heap.pop();
            self.heap.push(it);
        }
    }

    pub(crate) fn into_sorted(self) -> Vec<Item> {
        self.heap.into_sorted_vec()
    }
}

/// splitmix64: a fast, well-mixed 64-bit hash for seeds.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_rows_are_aligned_and_stable() {
        let mut r = AlignedRows::new(stride_for(20));
        for i in 0..100 {
            let row = r.push_zeroed();
            row[0] = i as f32;
        }
        for i in 0..100 {
            assert_eq!(r.row(i)[0], i as f32);
            assert_eq!(r.row(i).as_ptr() as usize % 64, 0);
        }
        r.swap_remove(3);
        assert_eq!(r.row(3)[0], 99.0);
        assert_eq!(r.rows(), 99);
    }

    #[test]
    fn visited_epochs_wrap() {
        let mut v = Visited::new();
        for _ in 0..70_000 {
            v.reset(10);
            assert!(v.insert(3));
            assert!(!v.insert(3));
        }
        assert!(!v.insert(10));
    }
}
