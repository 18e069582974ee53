//! `memlayer._native`: the pyo3 extension module under the `memlayer`
//! Python package.
//!
//! This layer is deliberately thin. The Python package
//! (`engine/python/python/memlayer`) gives Mem0's method names and keyword
//! arguments and turns them into one options dict per call; this module
//! reads that dict with the engine's own serde types (the same wire format
//! as `memlayer serve`, so unknown keys are rejected the same way), runs the
//! call with the GIL released, and returns plain Python objects.
//!
//! - [`memory`]: the `Memory` class (one open database).
//! - [`convert`]: Python objects ⇄ JSON values and engine options.
//! - [`error`]: engine errors → the `memlayer.MemoryError` hierarchy.
#![deny(clippy::unwrap_used)]
#![deny(missing_docs)]

mod convert;
mod error;
mod memory;

use pyo3::prelude::*;

/// The native module: `memlayer._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<memory::Memory>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
