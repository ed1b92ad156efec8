//! Fuzz target: `meta` records: `params` of every format (first byte), `entry`, u64 values.
//! The property is `lsm_vec::fuzzing::check::meta`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::meta(data));
