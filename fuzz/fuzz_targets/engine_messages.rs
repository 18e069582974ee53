//! Arbitrary JSON as `add` messages: a validation error or messages within
//! every limit, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| memlayer_fuzz::engine::check_messages(data));
