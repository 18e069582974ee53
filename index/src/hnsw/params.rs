//! Construction and search parameters.

use crate::error::{IndexError, Result};

/// Construction and search parameters of an [`HnswIndex`](crate::HnswIndex).
///
/// ```
/// use memlayer_index::HnswParams;
/// let p = HnswParams { m: 24, ef_construction: 300, ..HnswParams::default() };
/// assert_eq!(p.ef_search, 64);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HnswParams {
    /// Links per node on upper layers; layer 0 keeps `2 * m`. Range 2..=128.
    pub m: usize,
    /// Beam width while inserting (quality of the graph). Range 1..=65536.
    pub ef_construction: usize,
    /// Default beam width for [`HnswIndex::search`](crate::HnswIndex::search)
    /// (raised to `k` if smaller).
    pub ef_search: usize,
    /// Seed of the deterministic level assignment.
    pub seed: u64,
    /// Filtered searches whose allowed set has at most this many ids use an
    /// exact scan of the allowed ids instead of the graph.
    pub exact_filter_threshold: usize,
    /// A filtered graph search gives up and scans the allowed set exactly
    /// once it has computed more than `filter_fallback_factor × |allowed|`
    /// distances (the scan would then have been cheaper).
    pub filter_fallback_factor: f32,
    /// Rebuild the graph without tombstones once deleted nodes exceed this
    /// fraction of all nodes. `1.0` or more disables automatic compaction
    /// (call [`HnswIndex::compact`](crate::HnswIndex::compact) yourself).
    pub max_tombstone_ratio: f32,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0x6d65_6d6c_6179_6572,
            exact_filter_threshold: 2048,
            filter_fallback_factor: 1.0,
            max_tombstone_ratio: 0.3,
        }
    }
}

impl HnswParams {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(IndexError::InvalidParameter { name, reason });
        if !(2..=128).contains(&self.m) {
            return bad("m", format!("must be in 2..=128, got {}", self.m));
        }
        if !(1..=65536).contains(&self.ef_construction) {
            return bad(
                "ef_construction",
                format!("must be in 1..=65536, got {}", self.ef_construction),
            );
        }
        if !(1..=65536).contains(&self.ef_search) {
            return bad(
                "ef_search",
                format!("must be in 1..=65536, got {}", self.ef_search),
            );
        }
        if !self.filter_fallback_factor.is_finite() || self.filter_fallback_factor < 0.0 {
            return bad(
                "filter_fallback_factor",
                format!(
                    "must be finite and >= 0, got {}",
                    self.filter_fallback_factor
                ),
            );
        }
        if !self.max_tombstone_ratio.is_finite() || self.max_tombstone_ratio <= 0.0 {
            return bad(
                "max_tombstone_ratio",
                format!("must be finite and > 0, got {}", self.max_tombstone_ratio),
            );
        }
        Ok(())
    }
}
