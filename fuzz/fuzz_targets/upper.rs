//! Fuzz target: `upper` records (upper-layer lists).
//! The property is `lsm_vec::fuzzing::check::upper`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::upper(data));
