//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong in `memlayer-index`.
///
/// Snapshot errors ([`IndexError::Corrupt`], [`IndexError::BadMagic`],
/// [`IndexError::UnsupportedVersion`]) all mean the same thing to the
/// engine: discard the snapshot and rebuild the index from the store.
///
/// Non-exhaustive: new variants may be added without a breaking change, so
/// matches outside this crate need a wildcard arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A vector or query has the wrong number of dimensions.
    #[error(
        "dimension mismatch: the index holds {expected}-d vectors but got a {actual}-d one; \
         embed with the model the index was created for"
    )]
    DimensionMismatch {
        /// Dimensions of the index.
        expected: usize,
        /// Dimensions of the offending vector.
        actual: usize,
    },
    /// A vector contains NaN or ±infinity.
    #[error(
        "vector has a non-finite value (NaN or infinity) at position {position}; \
         check the embedding model's output"
    )]
    NonFiniteVector {
        /// Index of the first non-finite component.
        position: usize,
    },
    /// A vector's squared norm overflows `f32`, so distances would be meaningless.
    #[error("vector norm overflows f32; scale the vector down (components must stay below ~1e18)")]
    VectorOverflow,
    /// A zero vector cannot be normalised for cosine distance.
    #[error(
        "zero vector cannot be normalised for the cosine metric; drop it or use the dot/L2 metric"
    )]
    ZeroVector,
    /// An id that is being inserted already exists.
    #[error("id {0} is already in the index; use `update` to replace its vector")]
    DuplicateId(u64),
    /// An id that is being updated does not exist.
    #[error("id {0} is not in the index; use `insert` to add it")]
    UnknownId(u64),
    /// Invalid construction or search parameter.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch's ids and vectors do not line up.
    #[error("batch shape mismatch: {ids} ids but {floats} floats for {dims}-d vectors")]
    BatchShape {
        /// Number of ids.
        ids: usize,
        /// Number of floats supplied.
        floats: usize,
        /// Dimensions of the index.
        dims: usize,
    },
    /// The index cannot hold more nodes (internal ids are `u32`).
    #[error(
        "index capacity exceeded: at most {max} nodes (call `compact` to reclaim deleted slots)"
    )]
    CapacityExceeded {
        /// Maximum node count.
        max: usize,
    },
    /// An I/O error while reading or writing a snapshot.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a memlayer index snapshot.
    #[error("not a memlayer index snapshot (bad magic bytes); rebuild the index from the store")]
    BadMagic,
    /// The snapshot was written by an incompatible format version.
    #[error(
        "snapshot format version {found} is not supported (this build reads version {expected}); \
         rebuild the index from the store"
    )]
    UnsupportedVersion {
        /// Version found in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// The snapshot is truncated, fails a checksum or is internally inconsistent.
    #[error("snapshot corrupt: {0}; rebuild the index from the store")]
    Corrupt(String),
}

/// Result alias for this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
