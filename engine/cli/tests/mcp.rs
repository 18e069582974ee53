//! `memlayer mcp` driven by a real MCP client: the official Python SDK
//! (`mcp` on PyPI, pinned), installed into a venv under the target
//! directory on first use. The client script (`tests/mcp_client.py`)
//! initializes, lists tools, calls every tool and its error paths, over
//! the handshake-era and the 2026-07-28 protocol; inference runs on the
//! real SmolLM2 model, embeddings on MiniLM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{need, python_with_mcp};
use memlayer_models::{CachedModel, models_dir};

#[test]
fn python_sdk_client_calls_every_tool() {
    need(&[CachedModel::MINILM_L6_V2, CachedModel::SMOLLM2_135M]);
    let python = python_with_mcp();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("graph.toml");
    std::fs::write(&config, "graph = true\n").unwrap();
    let out = Command::new(python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join("mcp_client.py"),
        )
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_memlayer"))
        .arg("--db")
        .arg(dir.path().join("m.redb"))
        .arg("--graph-db")
        .arg(dir.path().join("g.redb"))
        .arg("--graph-config")
        .arg(&config)
        .args(["--chat", "smollm2"])
        .env("MEMLAYER_MODELS_DIR", models_dir())
        .env_remove("MEMLAYER_DB")
        .env_remove("MEMLAYER_USER_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The transcript, for `--nocapture` runs and failure reports.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "MCP client failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(r#""kind": "done""#), "{stdout}");
}
