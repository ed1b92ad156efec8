//! Fuzz target: `nodes` records (formats 1 and 2/3).
//! The property is `lsm_vec::fuzzing::check::node`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::node(data));
