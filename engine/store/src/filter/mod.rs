//! Mem0's filter language: parsed from JSON into a typed AST, evaluated
//! against memories with scope-equality pushdown.
//!
//! ```
//! use memlayer_store::filter;
//! use serde_json::json;
//! let f = filter::parse(&json!({
//!     "AND": [
//!         {"user_id": "alice"},
//!         {"score": {"gte": 3}},
//!         {"NOT": [{"topic": {"in": ["spam", "ads"]}}]}
//!     ]
//! })).unwrap();
//! assert_eq!(f.scope_equalities().len(), 1);
//! assert!(filter::parse(&json!({"score": {"between": [1, 2]}})).is_err());
//! ```

mod ast;
mod eval;
mod parse;

pub use ast::{Field, FieldType, Filter, Op, Scalar};
pub use parse::{MAX_DEPTH, parse};
