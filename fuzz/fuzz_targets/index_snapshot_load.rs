//! Arbitrary bytes as an index snapshot: `HnswIndex::load_from_bytes` must
//! return `Ok` or `Err` and never panic; a snapshot that loads must round
//! trip and answer searches and writes without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| memlayer_fuzz::check_index_snapshot_load(data));
