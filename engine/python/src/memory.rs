//! `memlayer._native.Memory`: one open database.
//!
//! Every method converts its arguments while holding the GIL, then runs the
//! engine call detached from the interpreter (`Python::detach`), so other
//! Python threads run meanwhile and calls from several threads proceed in
//! parallel (the engine is `Sync`: searches run concurrently, writes are
//! serialised by the store).

use std::sync::Arc;
use std::time::Duration;

use memlayer::{
    AddOptions, BulkMemory, GetAllOptions, MemoryConfig, Messages, Scope, SearchOptions,
    UpdateOptions,
};
use parking_lot::RwLock;
use pyo3::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use crate::convert::{options, to_json, to_py};
use crate::error::{IntoPy, raise, validation};

/// One open memory database (the native half of `memlayer.Memory`).
#[pyclass(frozen, module = "memlayer._native")]
pub struct Memory {
    inner: RwLock<Option<Arc<memlayer::Memory>>>,
    path: String,
}

impl Memory {
    /// The open engine, or a clear error after `close()`.
    fn mem(&self, py: Python<'_>) -> PyResult<Arc<memlayer::Memory>> {
        self.inner.read().clone().ok_or_else(|| {
            raise(
                py,
                "closed",
                "ClosedError",
                format!("the memory database {} was closed", self.path),
                "open a new memlayer.Memory on the file",
            )
        })
    }
}

fn message_list(py: Python<'_>, messages: &Bound<'_, PyAny>) -> PyResult<Messages> {
    let v = to_json(py, "messages", messages)?;
    Messages::from_json(&v).py(py)
}

impl Memory {
    /// Runs `f` on the open engine with the GIL released; its result as a
    /// Python object (the engine validates and names what is wrong).
    fn call<'py, T: Serialize + Send>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&memlayer::Memory) -> memlayer::Result<T> + Send,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mem = self.mem(py)?;
        let r = py.detach(move || f(&mem)).py(py)?;
        to_py(py, &r)
    }
}

#[pymethods]
impl Memory {
    /// Opens (or creates) the database at `path`. `config` is memlayer's
    /// configuration as a dict (the `MemoryConfig` fields); `lock_timeout`
    /// is how many seconds to wait while another process holds the file.
    #[new]
    #[pyo3(signature = (path, config=None, lock_timeout=0.0))]
    fn new(
        py: Python<'_>,
        path: String,
        config: Option<&Bound<'_, PyAny>>,
        lock_timeout: f64,
    ) -> PyResult<Self> {
        let config: MemoryConfig = options(py, "config", config)?;
        // try_from: NaN, negative and overflowing values are errors, not panics.
        let timeout = Duration::try_from_secs_f64(lock_timeout).map_err(|_| {
            validation(
                py,
                format!("lock_timeout must be a number of seconds >= 0, not {lock_timeout}"),
            )
        })?;
        let p = path.clone();
        let mem = py
            .detach(move || {
                memlayer::Memory::builder(&p)
                    .config(config)
                    .lock_timeout(timeout)
                    .open()
            })
            .py(py)?;
        Ok(Memory {
            inner: RwLock::new(Some(Arc::new(mem))),
            path,
        })
    }

    /// The database file.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// `add(messages, options) -> {"results": [...], "relations"?: {...}}`.
    fn add<'py>(
        &self,
        py: Python<'py>,
        messages: &Bound<'py, PyAny>,
        options_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let messages = message_list(py, messages)?;
        let o: AddOptions = options(py, "add options", options_)?;
        self.call(py, move |m| m.add(messages, &o))
    }

    /// `add_many(items) -> {"ids": [...], "skipped": n, "commits": n}`:
    /// raw memories (no LLM) in bounded write batches.
    fn add_many<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = to_json(py, "items", items)?;
        let Value::Array(list) = v else {
            return Err(validation(py, "items must be a list of dicts".into()));
        };
        let mut bulk = Vec::with_capacity(list.len());
        for (i, item) in list.into_iter().enumerate() {
            bulk.push(
                serde_json::from_value::<BulkMemory>(item)
                    .map_err(|e| validation(py, format!("items[{i}]: {e}")))?,
            );
        }
        self.call(py, move |m| m.add_many(&bulk))
    }

    /// `search(query, options) -> {"results": [...], "relations"?: [...]}`.
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: String,
        options_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o: SearchOptions = options(py, "search options", options_)?;
        self.call(py, move |m| m.search(&query, &o))
    }

    /// `get(memory_id) -> dict | None`.
    fn get<'py>(&self, py: Python<'py>, memory_id: String) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, move |m| m.get(&memory_id))
    }

    /// `get_all(options) -> {"results": [...], "next_cursor"?: str}`.
    fn get_all<'py>(
        &self,
        py: Python<'py>,
        options_: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o: GetAllOptions = options(py, "get_all options", options_)?;
        self.call(py, move |m| m.get_all(&o))
    }

    /// `update(memory_id, options) -> the updated memory`.
    fn update<'py>(
        &self,
        py: Python<'py>,
        memory_id: String,
        options_: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o: UpdateOptions = options(py, "update", Some(options_))?;
        self.call(py, move |m| m.update(&memory_id, &o))
    }

    /// `delete(memory_id)`.
    fn delete<'py>(&self, py: Python<'py>, memory_id: String) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, move |m| m.delete(&memory_id))
    }

    /// `delete_all(scope) -> {"memories": n, "graph_entries": n}`; the
    /// scope must name at least one of user_id, agent_id, run_id.
    fn delete_all<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s: Scope = options(py, "scope", Some(scope))?;
        self.call(py, move |m| {
            m.delete_all(&s)
                .map(|r| json!({"memories": r.memories, "graph_entries": r.graph_entries}))
        })
    }

    /// `history(memory_id) -> [event, ...]`, oldest first.
    fn history<'py>(&self, py: Python<'py>, memory_id: String) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, move |m| m.history(&memory_id))
    }

    /// `reset()`: every memory, its history, the graph and the index.
    fn reset<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, |m| m.reset())
    }

    /// Number of live memories in the file.
    fn count<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, |m| m.len())
    }

    /// Checks the file's invariants: `{"ok": bool, "problems": [...], ...}`.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, |m| {
            m.verify().map(|r| {
                json!({
                    "ok": r.is_ok(),
                    "problem_count": r.problem_count,
                    "problems": r.problems,
                    "records": r.records,
                    "history_events": r.history_events,
                })
            })
        })
    }

    /// Closes the database (releases the file lock once no call is
    /// running). Later calls raise `memlayer.ClosedError`.
    fn close(&self, py: Python<'_>) {
        let taken = self.inner.write().take();
        // Dropping the engine flushes and unlocks the file: do it detached.
        py.detach(move || drop(taken));
    }
}
