//! Python objects ⇄ JSON values ⇄ engine options; pure functions.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::validation;

/// A Python object (dict, list, str, int, float, bool, None) as JSON. The
/// error names the dict key whose value is not JSON-like.
pub fn to_json(py: Python<'_>, what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    pythonize::depythonize::<Value>(obj).map_err(|e| {
        let culprit = obj.cast::<PyDict>().ok().and_then(|d| {
            d.iter()
                .find(|(_, v)| pythonize::depythonize::<Value>(v).is_err())
                .map(|(k, _)| k.to_string())
        });
        let what = match culprit {
            Some(k) => format!("{k} (in {what})"),
            None => what.to_string(),
        };
        validation(
            py,
            format!("{what} must be JSON-like (dict, list, str, int, float, bool, None): {e}"),
        )
    })
}

/// A JSON value as a Python object.
pub fn to_py<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, v).map_err(|e| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("cannot build the Python result: {e}"))
    })
}

/// Engine options from an options dict (`None` = defaults). Unknown keys
/// and wrong types are a `ValidationError` naming the key, as over HTTP.
pub fn options<T: DeserializeOwned>(
    py: Python<'_>,
    what: &str,
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<T> {
    let v = match obj.filter(|o| !o.is_none()) {
        Some(obj) => to_json(py, what, obj)?,
        None => Value::Object(Default::default()),
    };
    parse(&v).map_err(|m| validation(py, format!("{what}: {m}")))
}

/// The deserialisation itself.
fn parse<T: DeserializeOwned>(v: &Value) -> Result<T, String> {
    if !v.is_object() {
        return Err("must be a dict".into());
    }
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}
