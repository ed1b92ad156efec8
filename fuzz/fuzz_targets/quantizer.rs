//! Fuzz target: `meta/sq8` and `meta/sq4` quantizer parameters.
//! The property is `lsm_vec::fuzzing::check::quantizer`, shared with `crates/lsm-vec/tests/fuzz_decoders.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lsm_vec::fuzzing::check::quantizer(data));
