//! Random insert / update / delete / search / compact / snapshot sequences
//! on `HnswIndex`, checked against `FlatIndex` as the exact oracle.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| memlayer_fuzz::check_index_ops(data));
