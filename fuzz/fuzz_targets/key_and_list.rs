//! Fuzz target: `nodes` / `adj0` keys and layer-0 adjacency lists.
//! The property is `lsm_vec::fuzzing::check::key_and_list`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::key_and_list(data));
