//! Arbitrary bytes, read as JSON and as a JSON string value, must make
//! `memlayer_store::filter::parse` return `Ok` or `Err` and never panic; a
//! filter that parses must evaluate against memories without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| memlayer_fuzz::check_filter_parse(data));
