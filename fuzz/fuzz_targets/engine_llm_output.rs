//! Arbitrary text as a chat model's answer: an error or decisions that only
//! touch the shown candidates, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| memlayer_fuzz::engine::check_llm_output(data));
