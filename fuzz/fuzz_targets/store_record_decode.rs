//! Arbitrary bytes must make `memlayer_store::codec::decode_record` return
//! `Ok` or `Err` and never panic; a record that decodes must survive
//! `encode_record` → `decode_record` unchanged (bar the recomputed hash).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| memlayer_fuzz::check_record_decode(data));
