//! Where model files come from: an explicit local path, the memlayer model
//! cache filled by `scripts/fetch-models`, or a Hugging Face hub repository
//! (looked up in the local hub cache when offline, downloaded when online).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Names of the models `scripts/fetch-models` installs, with the path of the
/// model inside the cache entry.
///
/// `name` is the folder under the cache root; `file` is `None` for models that
/// are a directory (embedders) and the GGUF file name otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedModel {
    /// Folder under the memlayer model cache.
    pub name: &'static str,
    /// The model file inside that folder, or `None` for directory models.
    pub file: Option<&'static str>,
}

impl CachedModel {
    /// sentence-transformers all-MiniLM-L6-v2 (384-d): the default embedder.
    pub const MINILM_L6_V2: CachedModel = CachedModel {
        name: "all-minilm-l6-v2",
        file: None,
    };
    /// SmolLM2-135M-Instruct Q4_1: the fast test chat model.
    pub const SMOLLM2_135M: CachedModel = CachedModel {
        name: "smollm2-135m-instruct-q4_1",
        file: Some("SmolLM2-135M-Instruct.Q4_1.gguf"),
    };
    /// Qwen2.5-Coder-0.5B-Instruct Q4_K_M: the default chat model.
    pub const QWEN25_05B: CachedModel = CachedModel {
        name: "qwen2.5-coder-0.5b-instruct-q4_k_m",
        file: Some("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    };
    /// Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the larger chat model (1.1 GB).
    pub const QWEN25_15B: CachedModel = CachedModel {
        name: "qwen2.5-coder-1.5b-instruct-q4_k_m",
        file: Some("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    };
    /// Gemma 3 270M base (not instruct) Q4_K_M.
    pub const GEMMA3_270M: CachedModel = CachedModel {
        name: "gemma-3-270m-q4_k_m",
        file: Some("gemma-3-270m-q4_k_m.gguf"),
    };

    /// sentence-transformers all-mpnet-base-v2 (768-d): the larger,
    /// opt-in embedder (MPNet: BERT plus relative-position attention
    /// buckets).
    pub const MPNET_BASE_V2: CachedModel = CachedModel {
        name: "all-mpnet-base-v2",
        file: None,
    };

    /// Every model the fetch script knows.
    pub const ALL: [CachedModel; 6] = [
        Self::MINILM_L6_V2,
        Self::SMOLLM2_135M,
        Self::QWEN25_05B,
        Self::QWEN25_15B,
        Self::GEMMA3_270M,
        Self::MPNET_BASE_V2,
    ];

    /// Looks a cached model up by its folder name or a short alias
    /// (`minilm`, `smollm2`, `qwen`, `qwen1.5b`, `gemma3`, `mpnet`).
    ///
    /// ```
    /// use memlayer_models::CachedModel;
    /// assert_eq!(CachedModel::by_name("qwen"), Some(CachedModel::QWEN25_05B));
    /// assert_eq!(CachedModel::by_name("nope"), None);
    /// ```
    pub fn by_name(name: &str) -> Option<CachedModel> {
        let alias = match name {
            "minilm" => Some(Self::MINILM_L6_V2),
            "smollm2" => Some(Self::SMOLLM2_135M),
            "qwen" => Some(Self::QWEN25_05B),
            "qwen1.5b" => Some(Self::QWEN25_15B),
            "gemma3" => Some(Self::GEMMA3_270M),
            "mpnet" => Some(Self::MPNET_BASE_V2),
            _ => None,
        };
        alias.or_else(|| Self::ALL.into_iter().find(|m| m.name == name))
    }

    /// The path this model has in the cache rooted at [`models_dir`].
    pub fn path(&self) -> PathBuf {
        self.path_in(&models_dir())
    }

    /// The path this model has in a cache rooted at `root`.
    pub fn path_in(&self, root: &Path) -> PathBuf {
        let dir = root.join(self.name);
        match self.file {
            Some(f) => dir.join(f),
            None => dir,
        }
    }

    /// The short alias `scripts/fetch-models` takes for this model.
    pub fn alias(&self) -> &'static str {
        match self.name {
            "all-minilm-l6-v2" => "minilm",
            "smollm2-135m-instruct-q4_1" => "smollm2",
            "qwen2.5-coder-0.5b-instruct-q4_k_m" => "qwen",
            "qwen2.5-coder-1.5b-instruct-q4_k_m" => "qwen1.5b",
            "all-mpnet-base-v2" => "mpnet",
            _ => "gemma3",
        }
    }
}

/// The root of the memlayer model cache: `$MEMLAYER_MODELS_DIR`, else
/// `$XDG_CACHE_HOME/memlayer/models`, else `~/.cache/memlayer/models`.
/// This is where `scripts/fetch-models` installs models.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MEMLAYER_MODELS_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("memlayer").join("models")
}

/// Where a model comes from.
///
/// Serialises as `{"path": "..."}`, `{"cached": "qwen"}` or
/// `{"hub": {"repo": "...", "file": "..."}}`, so it can sit in a TOML or JSON
/// config file.
///
/// ```
/// use memlayer_models::ModelSource;
/// let s: ModelSource = serde_json::from_str(r#"{"cached": "minilm"}"#).unwrap();
/// assert_eq!(s, ModelSource::Cached("minilm".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// A local file (GGUF) or directory (embedder with config.json,
    /// model.safetensors and tokenizer.json).
    Path(PathBuf),
    /// A model installed by `scripts/fetch-models`, by alias (`minilm`,
    /// `smollm2`, `qwen`, `qwen1.5b`, `gemma3`) or cache folder name.
    Cached(String),
    /// A Hugging Face hub repository.
    Hub(HubSource),
}

/// A model in a Hugging Face hub repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubSource {
    /// Repository id, e.g. `sentence-transformers/all-MiniLM-L6-v2`.
    pub repo: String,
    /// Branch, tag or commit hash; `main` when absent.
    #[serde(default)]
    pub revision: Option<String>,
    /// For single-file models (GGUF): the file in the repository. `None` for
    /// directory models such as embedders.
    #[serde(default)]
    pub file: Option<String>,
    /// The hub cache directory; `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub` when absent.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network, even if `HF_HUB_OFFLINE` is unset.
    #[serde(default)]
    pub offline: bool,
}

impl HubSource {
    /// A hub source for `repo` at `main`, with no single file.
    pub fn new(repo: impl Into<String>) -> Self {
        HubSource {
            repo: repo.into(),
            revision: None,
            file: None,
            cache_dir: None,
            offline: false,
        }
    }

    /// Sets the single model file (for GGUF models).
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the hub cache directory.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Forces offline resolution.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }

    fn cache_root(&self) -> PathBuf {
        if let Some(d) = &self.cache_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
            return PathBuf::from(d);
        }
        hf_hub::Cache::from_env().path().clone()
    }

    fn is_offline(&self) -> bool {
        self.offline
            || std::env::var("HF_HUB_OFFLINE")
                .map(|v| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "1" | "true" | "yes" | "on"
                    )
                })
                .unwrap_or(false)
    }

    /// Looks `file` up in the local hub cache (no network), following the
    /// layout `models--ORG--NAME/{refs/REV, snapshots/COMMIT/FILE}`.
    /// `revision` may be a branch or tag (read through `refs/`) or a commit hash.
    pub fn cached_file(&self, file: &str) -> Option<PathBuf> {
        // File names come from configuration: never let one leave the cache.
        let rel = Path::new(file);
        if file.is_empty()
            || !rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return None;
        }
        let repo_dir = self
            .cache_root()
            .join(format!("models--{}", self.repo.replace('/', "--")));
        let rev = self.revision();
        let commit = match std::fs::read_to_string(repo_dir.join("refs").join(rev)) {
            Ok(c) => c.trim().to_string(),
            Err(_) => rev.to_string(),
        };
        if commit.is_empty() || commit.contains(['/', '\\']) || commit.starts_with('.') {
            return None;
        }
        let p = repo_dir.join("snapshots").join(commit).join(file);
        p.exists().then_some(p)
    }

    /// Resolves one file: from the cache, else (when online) by download.
    fn resolve_one(
        &self,
        file: &str,
        api: &mut Option<hf_hub::api::sync::ApiRepo>,
    ) -> Result<PathBuf> {
        if let Some(p) = self.cached_file(file) {
            return Ok(p);
        }
        let err = |reason: String| ModelError::Hub {
            repo: self.repo.clone(),
            file: file.to_string(),
            reason,
        };
        if self.is_offline() {
            return Err(err(format!(
                "not in the local hub cache at {} and offline mode is on (HF_HUB_OFFLINE); download it while online or pass a local path",
                self.cache_root().display()
            )));
        }
        if api.is_none() {
            let built =
                hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(self.cache_root()))
                    .with_progress(false)
                    .build()
                    .map_err(|e| {
                        err(format!(
                            "{e}; set HF_HUB_OFFLINE=1 to use only the local cache"
                        ))
                    })?;
            *api = Some(built.repo(hf_hub::Repo::with_revision(
                self.repo.clone(),
                hf_hub::RepoType::Model,
                self.revision().to_string(),
            )));
        }
        match api {
            Some(repo) => repo.get(file).map_err(|e| {
                err(format!(
                    "{e}; check the repository name and your network, or set HF_HUB_OFFLINE=1"
                ))
            }),
            None => Err(err("hub client unavailable".into())),
        }
    }
}

impl ModelSource {
    /// Resolves a single-file model (a GGUF) to a local path.
    pub fn resolve_file(&self) -> Result<PathBuf> {
        match self {
            ModelSource::Path(p) => existing(p),
            ModelSource::Cached(name) => existing(&cached(name)?.path()),
            ModelSource::Hub(h) => {
                let file = h.file.clone().ok_or_else(|| {
                    ModelError::InvalidArgument(format!(
                        "hub source {} names no `file`; set the GGUF file name",
                        h.repo
                    ))
                })?;
                h.resolve_one(&file, &mut None)
            }
        }
    }

    /// Resolves a directory model (an embedder): every `required` file must be
    /// found; `optional` files are fetched when present. Returns the directory
    /// that holds them.
    pub fn resolve_dir(&self, required: &[&str], optional: &[&str]) -> Result<PathBuf> {
        let dir = match self {
            ModelSource::Path(p) => existing(p)?,
            ModelSource::Cached(name) => existing(&cached(name)?.path())?,
            ModelSource::Hub(h) => {
                let mut api = None;
                let mut dir = None;
                for f in required {
                    let p = h.resolve_one(f, &mut api)?;
                    if dir.is_none() {
                        dir = snapshot_dir(&p, f);
                    }
                }
                for f in optional {
                    if let Err(e) = h.resolve_one(f, &mut api) {
                        tracing::debug!(file = f, error = %e, "optional model file not available");
                    }
                }
                return dir
                    .ok_or_else(|| ModelError::InvalidArgument("no required files named".into()));
            }
        };
        for f in required {
            let p = dir.join(f);
            if !p.is_file() {
                return Err(ModelError::NotFound {
                    path: p,
                    hint: "an embedder directory needs config.json, model.safetensors and tokenizer.json".into(),
                });
            }
        }
        Ok(dir)
    }
}

fn cached(name: &str) -> Result<CachedModel> {
    CachedModel::by_name(name).ok_or_else(|| {
        ModelError::InvalidArgument(format!(
            "unknown cached model {name:?}; known: minilm, smollm2, qwen, qwen1.5b, gemma3 (see scripts/fetch-models --list)"
        ))
    })
}

fn existing(p: &Path) -> Result<PathBuf> {
    if p.exists() {
        Ok(p.to_path_buf())
    } else {
        Err(ModelError::NotFound {
            path: p.to_path_buf(),
            hint: "run scripts/fetch-models (or set MEMLAYER_MODELS_DIR), or pass the path of an existing model".into(),
        })
    }
}

/// The snapshot directory of a resolved file `p` that was requested as `f`
/// (which may contain subdirectories, e.g. `1_Pooling/config.json`).
fn snapshot_dir(p: &Path, f: &str) -> Option<PathBuf> {
    let depth = Path::new(f).components().count();
    let mut dir = p.to_path_buf();
    for _ in 0..depth {
        dir = dir.parent()?.to_path_buf();
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lays out a hub cache the way hf-hub / huggingface_hub do:
    /// `models--ORG--NAME/refs/main` holds the commit, files live in
    /// `snapshots/COMMIT/` (as symlinks to `blobs/` in real caches).
    fn fake_cache(root: &Path, repo: &str, commit: &str, files: &[&str], ref_newline: bool) {
        let repo_dir = root.join(format!("models--{}", repo.replace('/', "--")));
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
        let nl = if ref_newline { "\n" } else { "" };
        std::fs::write(repo_dir.join("refs/main"), format!("{commit}{nl}")).unwrap();
        for (i, f) in files.iter().enumerate() {
            let blob = repo_dir.join("blobs").join(format!("blob{i}"));
            std::fs::write(&blob, format!("content of {f}")).unwrap();
            let link = repo_dir.join("snapshots").join(commit).join(f);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(&blob, &link).unwrap();
            #[cfg(not(unix))]
            std::fs::copy(&blob, &link).unwrap();
        }
    }

    #[test]
    fn offline_lookup_finds_files_in_a_hub_laid_out_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let files = [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "1_Pooling/config.json",
        ];
        fake_cache(
            tmp.path(),
            "sentence-transformers/all-MiniLM-L6-v2",
            "abc123",
            &files,
            true,
        );
        let src = ModelSource::Hub(
            HubSource::new("sentence-transformers/all-MiniLM-L6-v2")
                .with_cache_dir(tmp.path())
                .offline(true),
        );
        let dir = src
            .resolve_dir(
                &["config.json", "model.safetensors", "tokenizer.json"],
                &["1_Pooling/config.json"],
            )
            .unwrap();
        assert!(dir.ends_with("snapshots/abc123"), "{}", dir.display());
        assert_eq!(
            std::fs::read_to_string(dir.join("tokenizer.json")).unwrap(),
            "content of tokenizer.json"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("1_Pooling/config.json")).unwrap(),
            "content of 1_Pooling/config.json"
        );
    }

    #[test]
    fn offline_lookup_of_a_single_gguf_file_and_commit_revision() {
        let tmp = tempfile::tempdir().unwrap();
        fake_cache(
            tmp.path(),
            "org/model-GGUF",
            "deadbeef",
            &["m.Q4_K_M.gguf"],
            false,
        );
        let mut h = HubSource::new("org/model-GGUF")
            .with_file("m.Q4_K_M.gguf")
            .with_cache_dir(tmp.path())
            .offline(true);
        let p = ModelSource::Hub(h.clone()).resolve_file().unwrap();
        assert!(p.ends_with("snapshots/deadbeef/m.Q4_K_M.gguf"));
        // A commit hash as the revision works without a ref file.
        h.revision = Some("deadbeef".into());
        assert_eq!(ModelSource::Hub(h).resolve_file().unwrap(), p);
    }

    #[test]
    fn offline_miss_is_a_clear_error_not_a_download() {
        let tmp = tempfile::tempdir().unwrap();
        fake_cache(tmp.path(), "org/model", "c1", &["a.gguf"], false);
        let h = HubSource::new("org/model")
            .with_file("b.gguf")
            .with_cache_dir(tmp.path())
            .offline(true);
        let e = ModelSource::Hub(h).resolve_file().unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ModelError::Hub { .. }), "{msg}");
        assert!(msg.contains("offline"), "{msg}");
        assert!(msg.contains("b.gguf"), "{msg}");
    }

    #[test]
    fn unknown_revision_and_path_traversal_are_misses() {
        let tmp = tempfile::tempdir().unwrap();
        fake_cache(tmp.path(), "org/model", "c1", &["a.gguf"], false);
        let mut h = HubSource::new("org/model")
            .with_cache_dir(tmp.path())
            .offline(true);
        h.revision = Some("v2".into());
        assert!(h.cached_file("a.gguf").is_none());
        h.revision = Some("..".into());
        assert!(h.cached_file("a.gguf").is_none());
        h.revision = None;
        assert!(h.cached_file("a.gguf").is_some());
        for evil in ["../refs/main", "/etc/passwd", "", "a/../../x"] {
            assert!(h.cached_file(evil).is_none(), "{evil}");
        }
    }

    #[test]
    fn explicit_and_cached_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("x.gguf");
        std::fs::write(&f, b"GGUF").unwrap();
        assert_eq!(ModelSource::Path(f.clone()).resolve_file().unwrap(), f);
        let missing = ModelSource::Path(tmp.path().join("nope.gguf"))
            .resolve_file()
            .unwrap_err();
        assert!(matches!(missing, ModelError::NotFound { .. }));
        assert!(missing.to_string().contains("nope.gguf"));
        let bad = ModelSource::Cached("nope".into())
            .resolve_file()
            .unwrap_err();
        assert!(bad.to_string().contains("unknown cached model"));
        assert_eq!(
            CachedModel::QWEN25_05B.path_in(Path::new("/m")),
            PathBuf::from(
                "/m/qwen2.5-coder-0.5b-instruct-q4_k_m/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
            )
        );
        for m in CachedModel::ALL {
            assert_eq!(CachedModel::by_name(m.alias()), Some(m));
            assert_eq!(CachedModel::by_name(m.name), Some(m));
        }
    }

    #[test]
    fn source_serde_shapes() {
        let s: ModelSource =
            serde_json::from_str(r#"{"hub": {"repo": "a/b", "file": "m.gguf"}}"#).unwrap();
        assert_eq!(
            ModelSource::Hub(HubSource::new("a/b").with_file("m.gguf")),
            s
        );
        let p: ModelSource = serde_json::from_str(r#"{"path": "/x/y"}"#).unwrap();
        assert_eq!(p, ModelSource::Path("/x/y".into()));
    }
}
