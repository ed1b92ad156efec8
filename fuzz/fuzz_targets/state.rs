//! Fuzz target: the state record `STATE` (also with magic and checksum repaired).
//! The property is `lsm_vec::fuzzing::check::state`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::state(data));
