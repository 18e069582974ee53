//! Shared helpers for memlayer's integration tests and benchmarks: where the
//! real models and fixtures are, and a small JSON Schema validator for the
//! schema subset our prompts use.

use std::path::PathBuf;

use memlayer_models::CachedModel;

pub mod schema;

/// Path of a cached model, or a panic that says how to get it.
///
/// Tests never skip silently: a missing model is a failure with instructions.
pub fn require(model: CachedModel) -> PathBuf {
    let p = model.path();
    assert!(
        p.exists(),
        "model {} not found at {}; run `scripts/fetch-models {}` (or set MEMLAYER_MODELS_DIR)",
        model.name,
        p.display(),
        model.alias()
    );
    p
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A fixture file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests").join("fixtures").join(name)
}

/// One case of the MiniLM reference fixture.
#[derive(Debug, serde::Deserialize)]
pub struct ReferenceCase {
    /// Input text.
    pub text: String,
    /// Word pieces including [CLS]/[SEP] (after truncation at 256).
    pub tokens: usize,
    /// Reference embedding (float64 implementation, L2-normalised).
    pub embedding: Vec<f32>,
}

/// The MiniLM reference fixture.
#[derive(Debug, serde::Deserialize)]
pub struct Reference {
    /// Maximum sequence length the reference used.
    pub max_seq_length: usize,
    /// The cases.
    pub cases: Vec<ReferenceCase>,
}

/// Loads `tests/fixtures/minilm_reference.json` (a copy of
/// `../shared/fixtures/minilm_reference.json`).
pub fn minilm_reference() -> Reference {
    let p = fixture("minilm_reference.json");
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("bad fixture {}: {e}", p.display()))
}

/// The `p` quantile (0..=1, nearest rank) of `v` (sorted in place); NaN
/// when empty. Shared by the scenario runners.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A model named on a runner's command line: a cached model name
/// (`qwen`, `smollm2`, `minilm`) or a path.
pub fn model_source(s: &str) -> memlayer_models::ModelSource {
    match CachedModel::by_name(s) {
        Some(_) => memlayer_models::ModelSource::Cached(s.into()),
        None => memlayer_models::ModelSource::Path(s.into()),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (for the measurement binaries).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// The command line of a measurement binary: `--name VALUE` options and
/// `--flag` switches.
pub struct Args(Vec<String>);

impl Args {
    /// This process's arguments.
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// The value after `name`, if given.
    pub fn value(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    /// Whether the switch `name` is given.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}
