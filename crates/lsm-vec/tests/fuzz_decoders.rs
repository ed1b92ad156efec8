//! Issue 10, item 2: fuzzing of every decoder of the on-disk formats (docs/format.md), through
//! the hidden `lsm_vec::fuzzing` wrappers, with proptest.
//!
//! Each decoder gets three targets:
//! - `*_arbitrary_bytes`: decoding arbitrary bytes never panics and either refuses them (`None`,
//!   or `Corruption`) or returns a value that re-encodes to exactly those bytes (every format here
//!   is canonical, up to the unused rest of the vector file's header page);
//! - `*_mutated`: the same property on valid encodings with a few bit flips, overwrites,
//!   truncations and extensions (checksummed formats are also tried with the checksum repaired,
//!   inside `fuzzing::check`, so that the checks behind it are reached);
//! - `*_round_trip`: encode then decode is the identity for arbitrary valid values.
//!
//! The properties themselves live in `lsm_vec::fuzzing::check`, shared with the cargo-fuzz
//! targets of `fuzz/`. Runs are deterministic: the seed of each target is derived from its name
//! (and `LSM_VEC_FUZZ_SEED`, default 0). `LSM_VEC_FUZZ_CASES=N` runs `N` cases of every target
//! (the file-backed `records_*` targets run `N / 8`). Failures found by these targets are kept
//! as the named `regression_*` tests at the end.

use std::path::PathBuf;
use std::time::Instant;

use lsm_vec::fuzzing::{self, check, Node, Params, State};
use lsm_vec::{DistanceMetric, ErrorKind, VectorStorageType, MAX_DIM};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Cases per target of the default run.
const DEFAULT_CASES: u32 = 3000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

/// Runs `test` on `cases` values of `strategy` (scaled by `LSM_VEC_FUZZ_CASES`), seeded by the
/// target's name; a failure (returned or panicking) is shrunk and reported with the input.
fn run<S: Strategy>(name: &str, divisor: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let cases = env_u64("LSM_VEC_FUZZ_CASES").map(|n| n as u32).unwrap_or(DEFAULT_CASES) / divisor;
    let seed = env_u64("LSM_VEC_FUZZ_SEED").unwrap_or(0);
    let mut config = Config::with_cases(cases.max(1));
    config.failure_persistence = None;
    config.rng_algorithm = RngAlgorithm::ChaCha;
    config.max_shrink_iters = 4096;
    // FNV-1a of the name, mixed with the seed: every target its own fixed stream.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&h.to_le_bytes());
    key[8..16].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let start = Instant::now();
    let result = runner.run(&strategy, test);
    eprintln!("{name}: {} cases in {:.2?} (seed {seed})", cases.max(1), start.elapsed());
    if let Err(e) = result {
        panic!("{name} (LSM_VEC_FUZZ_SEED={seed}): {e}");
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// One mutation: (kind, position, byte).
type Op = (u8, usize, u8);

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec((0u8..5, any::<usize>(), any::<u8>()), 1..4)
}

/// Applies `ops` to `b`: flip a bit, overwrite a byte, truncate, extend, insert a byte.
fn mutate(mut b: Vec<u8>, ops: &[Op]) -> Vec<u8> {
    for &(kind, pos, byte) in ops {
        let n = b.len();
        match kind {
            0 if n > 0 => b[pos % n] ^= 1 << (byte % 8),
            1 if n > 0 => b[pos % n] = byte,
            2 => b.truncate(pos % (n + 1)),
            3 => b.extend(std::iter::repeat_n(byte, 1 + pos % 8)),
            _ => b.insert(pos % (n + 1), byte),
        }
    }
    b
}

fn ok() -> Result<(), TestCaseError> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Value strategies.

fn node() -> impl Strategy<Value = Node> {
    (any::<u64>(), any::<u32>(), any::<u8>(), any::<u32>(), 0u8..3, any::<u32>()).prop_map(
        |(ext_id, slot, level, checksum, kind, head)| Node {
            ext_id,
            slot,
            level,
            checksum,
            head: (kind == 2).then_some(head),
            deleted: kind == 1,
        },
    )
}

fn lists() -> impl Strategy<Value = Vec<Vec<u32>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u32>(), 0..40), 0..12)
}

fn metric() -> impl Strategy<Value = DistanceMetric> {
    prop_oneof![Just(DistanceMetric::L2), Just(DistanceMetric::Cosine), Just(DistanceMetric::InnerProduct)]
}

fn storage() -> impl Strategy<Value = VectorStorageType> {
    prop_oneof![Just(VectorStorageType::Basic), Just(VectorStorageType::Paged)]
}

fn path(max: usize) -> impl Strategy<Value = PathBuf> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9/._ \u{e9}\u{4e2d}-]{{0,{max}}}"))
        .expect("regex")
        .prop_map(PathBuf::from)
}

fn params() -> impl Strategy<Value = Params> {
    (1..=MAX_DIM, metric(), 2usize..=512, any::<u16>(), storage(), path(60), any::<bool>()).prop_map(
        |(dim, metric, m, extra, storage, vector_file, inside)| Params {
            dim,
            metric,
            m,
            m_max: m + extra as usize % (1024 - m + 1),
            storage,
            vector_file,
            inside,
        },
    )
}

fn state() -> impl Strategy<Value = State> {
    (any::<bool>(), any::<u64>(), any::<u64>(), path(120)).prop_map(|(clean, instance, seq, vector_file)| State {
        clean,
        instance,
        seq,
        vector_file,
    })
}

/// (dim, storage, instance, owner).
fn header() -> impl Strategy<Value = (usize, VectorStorageType, u64, PathBuf)> {
    (1..=MAX_DIM, storage(), any::<u64>(), path(120))
}

fn finite() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    NORMAL | SUBNORMAL | ZERO | POSITIVE | NEGATIVE
}

fn positive() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NORMAL, POSITIVE, SUBNORMAL};
    POSITIVE | NORMAL | SUBNORMAL
}

/// (lo, scale) of a quantizer.
fn quantizer() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0usize..48).prop_flat_map(|d| (proptest::collection::vec(finite(), d), proptest::collection::vec(positive(), d)))
}

// ---------------------------------------------------------------------------------------------
// LSM records: keys, adjacency lists, node records, upper-layer lists.

#[test]
fn keys_and_lists_arbitrary_bytes() {
    run("keys_and_lists_arbitrary_bytes", 1, bytes(64), |b| {
        check::key_and_list(&b);
        ok()
    });
}

#[test]
fn lists_round_trip() {
    run("lists_round_trip", 1, (proptest::collection::vec(any::<u32>(), 0..80), any::<u32>()), |(l, id)| {
        prop_assert_eq!(fuzzing::decode_list(&fuzzing::encode_list(&l)), Some(l));
        prop_assert_eq!(fuzzing::decode_key_u32(&fuzzing::key_u32(id)), Some(id));
        ok()
    });
}

#[test]
fn nodes_arbitrary_bytes() {
    run("nodes_arbitrary_bytes", 1, bytes(30), |b| {
        check::node(&b);
        ok()
    });
}

#[test]
fn nodes_mutated() {
    run("nodes_mutated", 1, (node(), ops()), |(n, ops)| {
        check::node(&mutate(fuzzing::encode_node(&n), &ops));
        ok()
    });
}

#[test]
fn nodes_round_trip() {
    run("nodes_round_trip", 1, node(), |n| {
        let b = fuzzing::encode_node(&n);
        prop_assert_eq!(b.len(), if n.head.is_some() { 22 } else { 18 });
        prop_assert_eq!(fuzzing::decode_node(&b), Some(n));
        check::node(&b);
        ok()
    });
}

#[test]
fn upper_arbitrary_bytes() {
    run("upper_arbitrary_bytes", 1, bytes(80), |b| {
        check::upper(&b);
        ok()
    });
}

#[test]
fn upper_mutated() {
    run("upper_mutated", 1, (lists(), ops()), |(l, ops)| {
        check::upper(&mutate(fuzzing::encode_upper(&l), &ops));
        ok()
    });
}

#[test]
fn upper_round_trip() {
    run("upper_round_trip", 1, lists(), |l| {
        let b = fuzzing::encode_upper(&l);
        prop_assert_eq!(fuzzing::decode_upper(&b), Some(l));
        ok()
    });
}

// ---------------------------------------------------------------------------------------------
// meta: params (every format), entry, u64 values, quantizer parameters.

#[test]
fn meta_arbitrary_bytes() {
    run("meta_arbitrary_bytes", 1, bytes(100), |b| {
        check::meta(&b);
        ok()
    });
}

#[test]
fn params_mutated() {
    run("params_mutated", 1, (params(), any::<u8>(), ops()), |(p, sel, ops)| {
        let mut b = vec![sel];
        b.extend(fuzzing::encode_params(&p));
        check::meta(&mutate(b, &ops));
        ok()
    });
}

#[test]
fn params_round_trip() {
    run("params_round_trip", 1, params(), |p| {
        let b = fuzzing::encode_params(&p);
        for format in 2..=fuzzing::FORMAT_VERSION {
            prop_assert_eq!(fuzzing::decode_params(&b, format).ok(), Some(p.clone()));
        }
        let mut sel = vec![1u8];
        sel.extend(&b);
        check::meta(&sel);
        ok()
    });
}

#[test]
fn entry_round_trip() {
    run("entry_round_trip", 1, proptest::option::of((any::<u32>(), 0usize..=255)), |e| {
        prop_assert_eq!(fuzzing::decode_entry(&fuzzing::encode_entry(e)), Some(e));
        ok()
    });
}

#[test]
fn quantizer_arbitrary_bytes() {
    run("quantizer_arbitrary_bytes", 1, bytes(120), |b| {
        check::quantizer(&b);
        ok()
    });
}

#[test]
fn quantizer_mutated() {
    run("quantizer_mutated", 1, (quantizer(), ops()), |((lo, scale), ops)| {
        check::quantizer(&mutate(fuzzing::encode_quantizer(8, &lo, &scale), &ops));
        ok()
    });
}

#[test]
fn quantizer_round_trip() {
    run("quantizer_round_trip", 1, quantizer(), |(lo, scale)| {
        for bits in [8, 4] {
            let b = fuzzing::encode_quantizer(bits, &lo, &scale);
            prop_assert_eq!(fuzzing::decode_quantizer(&b, bits), Some((lo.clone(), scale.clone())));
        }
        ok()
    });
}

// ---------------------------------------------------------------------------------------------
// The state record.

#[test]
fn state_arbitrary_bytes() {
    run("state_arbitrary_bytes", 1, bytes(120), |b| {
        check::state(&b);
        ok()
    });
}

#[test]
fn state_mutated() {
    run("state_mutated", 1, (state(), ops()), |(s, ops)| {
        check::state(&mutate(fuzzing::encode_state(&s), &ops));
        ok()
    });
}

#[test]
fn state_round_trip() {
    run("state_round_trip", 1, state(), |s| {
        let b = fuzzing::encode_state(&s);
        prop_assert_eq!(fuzzing::decode_state(&b).ok(), Some(s));
        check::state(&b);
        ok()
    });
}

// ---------------------------------------------------------------------------------------------
// The vector file: header and records.

#[test]
fn vector_header_arbitrary_bytes() {
    run("vector_header_arbitrary_bytes", 1, bytes(200), |b| {
        check::vector_header(&b);
        ok()
    });
}

#[test]
fn vector_header_mutated() {
    run("vector_header_mutated", 1, (header(), any::<usize>(), ops()), |((dim, st, inst, owner), keep, ops)| {
        let page = fuzzing::encode_vector_header(dim, st, inst, &owner);
        // Mostly the used prefix of the page (mutations then reach the checksum and the length).
        let used = 42 + owner.as_os_str().len();
        let b = page[..used + keep % (page.len() - used + 1) / 64].to_vec();
        check::vector_header(&mutate(b, &ops));
        ok()
    });
}

#[test]
fn vector_header_round_trip() {
    run("vector_header_round_trip", 1, header(), |(dim, st, inst, owner)| {
        let page = fuzzing::encode_vector_header(dim, st, inst, &owner);
        prop_assert_eq!(page.len(), 4096);
        let h = fuzzing::decode_vector_header(&page).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            (h.version, h.dim, h.storage, h.instance, h.owner),
            (fuzzing::VECTOR_FILE_VERSION, dim, st, inst, (!owner.as_os_str().is_empty()).then_some(owner))
        );
        check::vector_header(&page);
        ok()
    });
}

#[test]
fn records_arbitrary_files() {
    run("records_arbitrary_files", 8, bytes(600), |b| {
        check::records(&b);
        ok()
    });
}

// ---------------------------------------------------------------------------------------------
// Regression tests: the failures these targets found, one test each, with the fixed decoder.

/// A state record whose three reserved bytes (after `clean`) are not zero but whose checksum
/// is right was accepted, so two different files decoded to the same record (and a future
/// format using them would be misread). It is `Corruption` now.
#[test]
fn regression_state_reserved_bytes_must_be_zero() {
    let s = State { clean: true, instance: 7, seq: 9, vector_file: PathBuf::from("/db/vectors.bin") };
    let mut b = fuzzing::encode_state(&s);
    b[14] = 1;
    let at = b.len() - 8;
    let sum = fuzzing::xxh3_64(&b[..at]);
    b[at..].copy_from_slice(&sum.to_le_bytes());
    let e = fuzzing::decode_state(&b).expect_err("reserved bytes set");
    assert_eq!(e.kind(), ErrorKind::Corruption);
    check::state(&b);
}

/// Same for the three reserved bytes after the storage type in the vector file header.
#[test]
fn regression_vector_header_reserved_bytes_must_be_zero() {
    let mut page = fuzzing::encode_vector_header(8, VectorStorageType::Paged, 5, std::path::Path::new("/db"));
    page[18] = 0x80;
    let at = 34 + 3;
    let sum = fuzzing::xxh3_64(&page[..at]);
    page[at..at + 8].copy_from_slice(&sum.to_le_bytes());
    let e = fuzzing::decode_vector_header(&page).expect_err("reserved bytes set");
    assert_eq!(e.kind(), ErrorKind::Corruption);
    check::vector_header(&page);
}

/// A `params` record with values that `open` never creates (m = 0, m_max < m, m_max > 1024,
/// dim 0 or above `MAX_DIM`) was decoded and used as is, unvalidated (it replaces the caller's
/// structural options at open). It is `Corruption` now.
#[test]
fn regression_params_out_of_range_are_corruption() {
    let good = Params {
        dim: 8,
        metric: DistanceMetric::L2,
        m: 16,
        m_max: 16,
        storage: VectorStorageType::Paged,
        vector_file: PathBuf::from("vectors.bin"),
        inside: true,
    };
    assert!(fuzzing::decode_params(&fuzzing::encode_params(&good), fuzzing::FORMAT_VERSION).is_ok());
    let bad = [
        Params { m: 0, m_max: 0, ..good.clone() },
        Params { m: 1, m_max: 16, ..good.clone() },
        Params { m: 513, m_max: 1024, ..good.clone() },
        Params { m: 16, m_max: 8, ..good.clone() },
        Params { m_max: 1025, ..good.clone() },
        Params { dim: 0, ..good.clone() },
        Params { dim: MAX_DIM + 1, ..good.clone() },
    ];
    for p in bad {
        for format in 1..=fuzzing::FORMAT_VERSION {
            let mut b = fuzzing::encode_params(&p);
            if format == 1 {
                // Format 1 has neither the quantization byte nor the location kind.
                b.drain(14..16);
            }
            match fuzzing::decode_params(&b, format) {
                Err(e) => assert_eq!(e.kind(), ErrorKind::Corruption, "{p:?}: {e}"),
                Ok(v) => panic!("format {format}: out-of-range params decoded: {v:?}"),
            }
            let mut sel = vec![(format - 1) as u8];
            sel.extend(&b);
            check::meta(&sel);
        }
    }
}
