//! Engine errors → Python exceptions.
//!
//! The exception classes live in Python (`memlayer/errors.py`), so they can
//! also derive from the matching built-ins (`ValueError`, `KeyError`, ...);
//! this module picks the class by [`memlayer::ErrorCode`] and fills in
//! `code` and `suggestion`.

use memlayer::{ErrorCode, MemoryError};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The Python class name for an error code.
fn class_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Validation => "ValidationError",
        ErrorCode::NotFound => "NotFoundError",
        ErrorCode::Model => "ModelError",
        ErrorCode::Storage => "StorageError",
        ErrorCode::Index => "VectorIndexError",
        ErrorCode::Conflict => "ConflictError",
        ErrorCode::Cancelled => "CancelledError",
        ErrorCode::Locked => "LockedError",
        _ => "MemoryError",
    }
}

/// A Python exception of the `memlayer.MemoryError` family.
pub fn raise(py: Python<'_>, code: &str, class: &str, message: String, suggestion: &str) -> PyErr {
    let built = py
        .import("memlayer.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message.clone(), code, suggestion)));
    match built {
        Ok(e) => PyErr::from_value(e),
        // The package is broken (errors.py missing): still say what failed.
        Err(_) => PyRuntimeError::new_err(format!("{code}: {message} ({suggestion})")),
    }
}

/// A [`MemoryError`] as a Python exception: the whole cause chain as the
/// message, the stable code and the suggestion as attributes.
pub fn to_py(py: Python<'_>, e: &MemoryError) -> PyErr {
    let code = e.code();
    raise(
        py,
        code.as_str(),
        class_name(code),
        e.report(),
        e.suggestion(),
    )
}

/// A bad argument found on the Python side of the boundary.
pub fn validation(py: Python<'_>, message: String) -> PyErr {
    raise(
        py,
        "validation",
        "ValidationError",
        message,
        "fix the argument named in the message; nothing was changed",
    )
}

/// Extension trait: `result.py(py)?` for engine results.
pub trait IntoPy<T> {
    /// Converts the engine error, if any.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, MemoryError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e))
    }
}
