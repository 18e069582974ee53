//! Replays the engine targets' seed corpora on stable (`cargo test` here).

use std::fs;
use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut out: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    out.sort();
    assert!(out.len() >= 10, "corpus/{target}: {} seeds", out.len());
    out
}

#[test]
fn engine_messages_seeds() {
    for s in seeds("engine_messages") {
        memlayer_fuzz::engine::check_messages(&s);
    }
}

#[test]
fn engine_llm_output_seeds() {
    for s in seeds("engine_llm_output") {
        memlayer_fuzz::engine::check_llm_output(&s);
    }
}
