//! Shared helpers of the integration tests: a seeded RNG, vector generators, an exact
//! brute-force reference (distances computed in f64), recall@k, and small assertion helpers.
//!
//! Everything here is deterministic: the same seed gives the same vectors on every machine.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use lsm_vec::{DbOptions, DistanceMetric, Error, ErrorKind, LsmVecDb, SearchResult, VectorStorageType};

/// Test data from the engine's generator (SplitMix64, `lsm_vec::fuzzing::SplitMix64`), with the
/// draws the tests need on top.
#[derive(Debug, Clone)]
pub struct Rng(lsm_vec::fuzzing::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(lsm_vec::fuzzing::SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f64() as f32
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.f64().max(1e-300);
        let u2 = self.f64();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// A vector whose components are uniform in `[-1, 1)`.
pub fn uniform_vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// `n` uniform vectors.
pub fn uniform_vectors(rng: &mut Rng, n: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n).map(|_| uniform_vector(rng, dim)).collect()
}

/// Gaussian clusters: `clusters` centres uniform in `[-1, 1)^dim`, points = centre + N(0, spread^2).
/// The same `(seed, clusters, spread)` gives the same centres, so data and queries drawn with
/// [`ClusteredGen::sample`] come from one distribution.
pub struct ClusteredGen {
    centres: Vec<Vec<f32>>,
    spread: f32,
    dim: usize,
}

impl ClusteredGen {
    pub fn new(rng: &mut Rng, dim: usize, clusters: usize, spread: f32) -> Self {
        let centres = (0..clusters).map(|_| uniform_vector(rng, dim)).collect();
        ClusteredGen { centres, spread, dim }
    }

    pub fn sample(&self, rng: &mut Rng) -> Vec<f32> {
        let c = &self.centres[rng.index(self.centres.len())];
        (0..self.dim).map(|i| c[i] + self.spread * rng.normal()).collect()
    }

    pub fn samples(&self, rng: &mut Rng, n: usize) -> Vec<Vec<f32>> {
        (0..n).map(|_| self.sample(rng)).collect()
    }
}

/// The vector of `(id, version)` under `seed`: a pure function, so a checker can recompute what
/// a writer (another thread or process) stored without logging floats.
pub fn vector_for(seed: u64, id: u64, version: u64, dim: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed ^ id.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ version.wrapping_mul(0xA076_1D64_78BD_642F));
    // Keep the vector away from zero so it is valid under every metric.
    let mut v = uniform_vector(&mut rng, dim);
    v[0] += 2.0;
    v
}

/// Exact distance under `metric`, computed in f64: L2 = Euclidean (not squared),
/// Cosine = 1 - cos, InnerProduct = -dot.
pub fn distance(metric: DistanceMetric, a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "distance of vectors of different lengths");
    match metric {
        DistanceMetric::L2 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = x as f64 - y as f64;
                d * d
            })
            .sum::<f64>()
            .sqrt(),
        DistanceMetric::Cosine => {
            let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
            for (&x, &y) in a.iter().zip(b) {
                dot += x as f64 * y as f64;
                na += x as f64 * x as f64;
                nb += y as f64 * y as f64;
            }
            1.0 - dot / (na.sqrt() * nb.sqrt())
        }
        DistanceMetric::InnerProduct => -a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>(),
    }
}

/// Whether a reported f32 distance matches the exact one (f32 kernels, possibly SIMD with another
/// summation order, are allowed a small relative error).
pub fn distance_close(reported: f32, exact: f64) -> bool {
    let tol = 1e-4 * exact.abs().max(1.0) + 1e-4;
    (reported as f64 - exact).abs() <= tol
}

/// The exact `k` nearest of `data` (id, vector) to `query`, ascending, ties broken by id.
pub fn brute_force_knn<'a, I>(metric: DistanceMetric, data: I, query: &[f32], k: usize) -> Vec<(u64, f64)>
where
    I: IntoIterator<Item = (u64, &'a [f32])>,
{
    let mut all: Vec<(u64, f64)> = data.into_iter().map(|(id, v)| (id, distance(metric, v, query))).collect();
    let order = |a: &(u64, f64), b: &(u64, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    if k < all.len() {
        // Partial selection, then sort only the k best: the total order (distance, id) makes
        // the answer identical to a full sort.
        all.select_nth_unstable_by(k, order);
        all.truncate(k);
    }
    all.sort_by(order);
    all
}

/// recall@k of `found` against the exact answer `truth` (ascending, `truth.len() = min(k, n)`).
/// A found id counts as a hit when its true distance is within the k-th true distance, so ties
/// at the boundary are not punished. `true_dist` gives the exact distance of a found id.
pub fn recall_at_k(found: &[SearchResult], truth: &[(u64, f64)], true_dist: impl Fn(u64) -> f64) -> f64 {
    if truth.is_empty() {
        return if found.is_empty() { 1.0 } else { 0.0 };
    }
    let kth = truth[truth.len() - 1].1;
    let eps = 1e-6 * kth.abs().max(1.0);
    let hits = found.iter().take(truth.len()).filter(|r| true_dist(r.id) <= kth + eps).count();
    hits as f64 / truth.len() as f64
}

/// Checks what every search must satisfy whatever the recall: at most `k` results, ascending
/// distances, no duplicate ids. Returns a description of the first violation.
pub fn check_result_shape(results: &[SearchResult], k: usize) -> Result<(), String> {
    if results.len() > k {
        return Err(format!("{} results for k = {k}: {results:?}", results.len()));
    }
    for w in results.windows(2) {
        // partial_cmp, not `>`, so that a NaN distance is reported too.
        if !matches!(
            w[0].distance.partial_cmp(&w[1].distance),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        ) {
            return Err(format!("results not sorted ascending: {:?} before {:?} in {results:?}", w[0], w[1]));
        }
    }
    let mut ids: Vec<u64> = results.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != results.len() {
        return Err(format!("duplicate ids in results: {results:?}"));
    }
    Ok(())
}

/// A reference model: the live ids and their vectors.
pub type Model = HashMap<u64, Vec<f32>>;

/// A live id of `model` drawn with `rng`, the same for the same seed (the ids are sorted first:
/// a HashMap's iteration order differs between processes); `None` when the model is empty.
pub fn random_live_id(model: &Model, rng: &mut Rng) -> Option<u64> {
    if model.is_empty() {
        return None;
    }
    let mut ids: Vec<u64> = model.keys().copied().collect();
    ids.sort_unstable();
    Some(ids[rng.index(ids.len())])
}

/// Options for a test database with `reinit = true` and the given layout and metric.
pub fn test_options(dim: usize, metric: DistanceMetric, storage: VectorStorageType) -> DbOptions {
    let mut o = DbOptions::new(dim);
    o.metric = metric;
    o.vector_storage_type = storage;
    o.reinit = true;
    o
}

/// Opens a database, panicking with the error if that fails.
pub fn open(path: &Path, opts: DbOptions) -> LsmVecDb {
    match LsmVecDb::open(path, opts.clone()) {
        Ok(db) => db,
        Err(e) => panic!("open({}) with {opts:?} failed: {e} ({e:?})", path.display()),
    }
}

/// Asserts that `r` is an error of `kind`, returns the error.
#[track_caller]
pub fn expect_kind<T: std::fmt::Debug>(r: Result<T, Error>, kind: ErrorKind, what: &str) -> Error {
    match r {
        Ok(v) => panic!("{what}: expected an error of kind {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong error kind for {e} ({e:?})");
            e
        }
    }
}

/// Unwraps with the error in the panic message.
#[track_caller]
pub fn ok<T>(r: Result<T, Error>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error {e} ({e:?})"),
    }
}

/// Row-major concatenation of vectors (for the batch calls).
pub fn flatten(vs: &[Vec<f32>]) -> Vec<f32> {
    vs.iter().flat_map(|v| v.iter().copied()).collect()
}

pub const ALL_METRICS: [DistanceMetric; 3] = [DistanceMetric::L2, DistanceMetric::Cosine, DistanceMetric::InnerProduct];
pub const ALL_STORAGES: [VectorStorageType; 2] = [VectorStorageType::Basic, VectorStorageType::Paged];

// ---------------------------------------------------------------------------------------------
// File helpers for the tests that copy, move or damage databases (integrity.rs, format_fixtures.rs,
// relative_vector_path.rs). They work on closed databases only.

/// Recursive copy of a directory (`cp -a` without preserving anything special): every regular
/// file is copied byte for byte, directories are created, symlinks are followed. A file whose
/// tail is zeros (fjall preallocates its journal) is copied as a sparse file of the same length,
/// so copying a database is cheap; its contents read back identical.
pub fn copy_dir_recursive(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display()));
    let entries = std::fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()));
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = std::fs::metadata(&from).unwrap_or_else(|e| panic!("stat {}: {e}", from.display()));
        if meta.is_dir() {
            copy_dir_recursive(&from, &to);
        } else {
            copy_file_sparse(&from, &to);
        }
    }
}

/// Copies one file; trailing zero bytes become a hole of the same length (reads are identical).
pub fn copy_file_sparse(from: &Path, to: &Path) {
    let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    write_sparse(to, &bytes);
}

/// Writes `bytes` to `path` (replacing it), with the trailing zeros left as a hole.
pub fn write_sparse(path: &Path, bytes: &[u8]) {
    let used = used_len(bytes);
    let f = std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    use std::io::Write as _;
    let mut w = std::io::BufWriter::new(&f);
    w.write_all(&bytes[..used]).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    w.flush().unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    drop(w);
    f.set_len(bytes.len() as u64).unwrap_or_else(|e| panic!("set_len {}: {e}", path.display()));
}

/// Length of `bytes` without its trailing zeros (the "used part" of a preallocated file).
pub fn used_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map(|i| i + 1).unwrap_or(0)
}

/// XORs the byte at `offset` of `path` with `mask` (0xFF flips the whole byte, `1 << b` one bit).
pub fn xor_byte(path: &Path, offset: u64, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let i = offset as usize;
    assert!(i < bytes.len(), "offset {offset} past the end of {} ({} bytes)", path.display(), bytes.len());
    bytes[i] ^= mask;
    write_sparse(path, &bytes);
}

/// Every file under `dir` (recursively), sorted, as paths.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// Little-endian bytes of a vector, as the vector file stores its values.
pub fn f32_le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Every offset at which `needle` occurs in `haystack`.
pub fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    haystack.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect()
}

/// Options with `reinit = false` (the reopen of an existing database).
pub fn reopen_options(dim: usize, metric: DistanceMetric, storage: VectorStorageType) -> DbOptions {
    let mut o = test_options(dim, metric, storage);
    o.reinit = false;
    o
}

/// Asserts that `db` holds exactly `model`: `len()`, and `get()` of every id returns its vector
/// bit for bit.
#[track_caller]
pub fn assert_db_equals(db: &LsmVecDb, model: &Model, what: &str) {
    assert_eq!(ok(db.len(), what), model.len(), "{what}: len()");
    for (&id, v) in model {
        let got = ok(db.get(id), &format!("{what}: get({id})"));
        assert!(
            got.iter().map(|x| x.to_bits()).eq(v.iter().map(|x| x.to_bits())),
            "{what}: get({id}) = {got:?}, expected {v:?}"
        );
    }
}

/// XORs one byte of `path` in place (a positioned write; the file keeps its inode and length),
/// for damaging a file that an open handle is using.
pub fn xor_byte_in_place(path: &Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt as _;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap_or_else(|e| panic!("read {} at {offset}: {e}", path.display()));
    b[0] ^= mask;
    f.write_all_at(&b, offset).unwrap_or_else(|e| panic!("write {} at {offset}: {e}", path.display()));
}
