//! Fuzz target: vector records: a small vector file built from the input, read through every path (temporary file).
//! The property is `lsm_vec::fuzzing::check::records`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::records(data));
