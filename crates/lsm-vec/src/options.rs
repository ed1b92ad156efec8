//! Options of a database and of a search, with the specification's names and defaults.
//!
//! Everything is validated in [`crate::LsmVecDb::open`] (see [`DbOptions::validate`]); the
//! parameters that shape the bytes on disk (`dim`, `metric`, `m`, `m_max`,
//! `vector_storage_type`) are stored in the database and checked when it is reopened.

use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

/// Largest supported dimension. Vectors above one 4 KiB page (1024 floats) take whole pages.
pub const MAX_DIM: usize = 65_536;

/// How distances are measured. Reported distances are:
/// * `L2`: Euclidean distance (not squared),
/// * `Cosine`: `1 - cos(a, b)` (the stored vector is the one the caller gave, not normalised),
/// * `InnerProduct`: `-dot(a, b)` (smaller is closer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DistanceMetric {
    /// Euclidean distance.
    #[default]
    L2,
    /// One minus cosine similarity.
    Cosine,
    /// Negative dot product.
    InnerProduct,
}

impl DistanceMetric {
    /// Stable numeric code, as stored on disk and used by the C ABI (L2 = 0, Cosine = 1,
    /// InnerProduct = 2).
    pub fn code(self) -> u8 {
        match self {
            DistanceMetric::L2 => 0,
            DistanceMetric::Cosine => 1,
            DistanceMetric::InnerProduct => 2,
        }
    }

    /// Inverse of [`DistanceMetric::code`].
    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(DistanceMetric::L2),
            1 => Ok(DistanceMetric::Cosine),
            2 => Ok(DistanceMetric::InnerProduct),
            other => Err(Error::invalid(format!(
                "unknown metric code {other} (expected 0 = L2, 1 = Cosine, 2 = InnerProduct)"
            ))),
        }
    }
}

impl fmt::Display for DistanceMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DistanceMetric::L2 => "L2",
            DistanceMetric::Cosine => "Cosine",
            DistanceMetric::InnerProduct => "InnerProduct",
        })
    }
}

impl std::str::FromStr for DistanceMetric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(DistanceMetric::L2),
            "cosine" | "cos" => Ok(DistanceMetric::Cosine),
            "ip" | "innerproduct" | "inner_product" | "dot" => Ok(DistanceMetric::InnerProduct),
            _ => Err(Error::invalid(format!("unknown metric {s:?} (expected l2, cosine or ip)"))),
        }
    }
}

/// The layout of the vector file (`vector_storage_type` in the specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VectorStorageType {
    /// 0: slot `i` at a fixed offset of a flat file.
    Basic,
    /// 1: 4 KiB pages; a record never straddles a page unless it is larger than a page, and new
    /// vectors are placed on the pages of their nearest neighbours.
    #[default]
    Paged,
}

impl VectorStorageType {
    /// The specification's integer code (0 = basic, 1 = paged).
    pub fn code(self) -> u8 {
        match self {
            VectorStorageType::Basic => 0,
            VectorStorageType::Paged => 1,
        }
    }

    /// Inverse of [`VectorStorageType::code`]; any other value is `InvalidArgument`.
    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(VectorStorageType::Basic),
            1 => Ok(VectorStorageType::Paged),
            other => {
                Err(Error::invalid(format!("unknown vector_storage_type {other} (expected 0 = basic or 1 = paged)")))
            }
        }
    }
}

/// Compressed codes kept in memory for navigation (`quantization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Quantization {
    /// No codes: searches score the full vectors (read through the page cache).
    None,
    /// One byte per dimension (per-dimension offset and scale, trained on the data): searches
    /// navigate on the codes in memory and re-rank the best candidates with the full vectors.
    #[default]
    Sq8,
    /// Half a byte per dimension (16 levels over a per-dimension range that leaves out the
    /// 0.1% most extreme values on each side): half the memory of SQ8, for a less exact
    /// navigation that the re-rank makes up for with more candidates.
    Sq4,
}

impl Quantization {
    /// Stable name, as used by the bindings and the CLI (`"none"`, `"sq8"`, `"sq4"`).
    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Sq8 => "sq8",
            Quantization::Sq4 => "sq4",
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Quantization {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Quantization::None),
            "sq8" => Ok(Quantization::Sq8),
            "sq4" => Ok(Quantization::Sq4),
            _ => Err(Error::invalid(format!("unknown quantization {s:?} (expected \"none\", \"sq8\" or \"sq4\")"))),
        }
    }
}

/// How a layer-0 search decides which neighbours to score (`routing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Routing {
    /// Score every unvisited live neighbour (default).
    #[default]
    Exact,
    /// With codes: skip a neighbour when a SimHash test says, with probability at least
    /// `1 - routing_epsilon`, that it cannot enter the result pool (see `quant::routing`).
    /// Costs 20 bytes per vector in memory.
    Probabilistic,
}

impl Routing {
    /// Stable name (`"exact"`, `"probabilistic"`).
    pub fn name(self) -> &'static str {
        match self {
            Routing::Exact => "exact",
            Routing::Probabilistic => "probabilistic",
        }
    }
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Routing {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "exact" => Ok(Routing::Exact),
            "probabilistic" => Ok(Routing::Probabilistic),
            _ => Err(Error::invalid(format!("unknown routing {s:?} (expected \"exact\" or \"probabilistic\")"))),
        }
    }
}

// Enums serialize as the values the CLI's JSON has always carried: the metric's display name,
// the storage type's code, the lower-case names of quantization and routing.
impl Serialize for DistanceMetric {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for VectorStorageType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl Serialize for Quantization {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl Serialize for Routing {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Options of [`crate::LsmVecDb::open`]. Field names and defaults follow the specification.
///
/// `Serialize` is the mapping the bindings share (the CLI's JSON, the names of Python's
/// `LSMVecDBOptions`, the checks of the C `lsm_vec_options_t`): enums as their stable names
/// (`metric` as its display name, `vector_storage_type` as its code), paths as strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbOptions {
    /// Required. Dimensionality of the vectors (1 ..= 65536).
    pub dim: usize,
    /// Distance metric. Default `L2`. Stored; reopening with another metric is an error.
    pub metric: DistanceMetric,
    /// HNSW: links created per node when it is inserted (default 8). Layer 0 keeps up to
    /// `max(2 * m, m_max)` links per node. Stored in the database.
    pub m: usize,
    /// HNSW: maximum links per node on the upper layers (default 16). Stored in the database.
    pub m_max: usize,
    /// HNSW: candidate pool size during construction (default 32.0). The effective pool is
    /// `max(ceil(ef_construction), m)`.
    pub ef_construction: f32,
    /// Initial capacity hint in vectors (default 100000). The vector file grows on demand; this
    /// only sizes in-memory tables up front.
    pub vec_file_capacity: usize,
    /// Size of the user-space vector page cache, in 4 KiB pages (default 4096 = 16 MiB).
    pub paged_max_cached_pages: usize,
    /// Vector file layout: `Basic` (0) or `Paged` (1, default). Stored in the database.
    pub vector_storage_type: VectorStorageType,
    /// Size hint in bytes for the LSM (default 100 GiB). Validated (> 0) and recorded; fjall
    /// sizes its tables itself, so it does not change behaviour today.
    pub db_target_size: u64,
    /// Seed of the RNG that draws HNSW levels (default 12345). Same seed + same operations =
    /// same graph.
    pub random_seed: u64,
    /// Collect latency histograms per operation (default false). Counters (pages read, cache
    /// hits, distance computations, ...) are always collected: they cost one atomic add per call.
    pub enable_stats: bool,
    /// During search, read the unvisited neighbours of an expanded node together, grouped by
    /// page (default true).
    pub enable_batch_read: bool,
    /// Wipe the database directory's contents (and the vector file) on open (default false).
    pub reinit: bool,
    /// Path of the vector file. Empty (default) = `vectors.bin` inside the database directory.
    /// Stored: reopening looks for the file where it was created unless a path is given.
    pub vector_file_path: PathBuf,
    /// Log file (open/close/reinit and failed writes are appended). Empty (default) = no log.
    pub log_file_path: PathBuf,
    /// Default `k` for searches that pass no [`SearchOptions`] (default 1).
    pub k: usize,
    /// Default `ef_search` for searches that pass no [`SearchOptions`] (default 64).
    pub ef_search: usize,
    /// Capacity of the decoded layer-0 adjacency cache, in lists (default 1048576). Each cached
    /// list costs about `4 * max_degree0 + 48` bytes; 0 disables the cache.
    pub edge_cache_size: usize,
    /// Capacity of the fjall block cache in bytes (default 8 MiB).
    pub lsm_cache_bytes: u64,
    /// fsync the vector file and the journal on every write, so acknowledged writes survive a
    /// power loss (default false: they survive a process crash, like RocksDB's default).
    pub sync_writes: bool,
    /// Compressed codes in memory (default [`Quantization::Sq8`]). A tuning knob: codes are
    /// derived from the vectors at open, so it may change at every open.
    pub quantization: Quantization,
    /// With codes: how many of the best candidates a search re-scores with the full vectors
    /// (at least `k`); 0 (default) = automatic ([`DbOptions::rerank_for`]).
    pub rerank: usize,
    /// Memory for the parts that grow with the data (codes, adjacency table, page cache,
    /// edge cache), split by the rule in the README; 0 (default) = no budget: codes and the
    /// adjacency table for every vector, caches at their sizes. Explicitly changed cache sizes
    /// win over the split.
    pub memory_budget_bytes: u64,
    /// Layer-0 routing of searches (default [`Routing::Exact`]). A tuning knob of each open.
    pub routing: Routing,
    /// With probabilistic routing: the bound on the probability that one test wrongly skips a
    /// neighbour that would have entered the result pool (0 < ε < 1, default 0.1).
    pub routing_epsilon: f32,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            dim: 0,
            metric: DistanceMetric::L2,
            m: 8,
            m_max: 16,
            ef_construction: 32.0,
            vec_file_capacity: 100_000,
            paged_max_cached_pages: 4096,
            vector_storage_type: VectorStorageType::Paged,
            db_target_size: 100 * 1024 * 1024 * 1024,
            random_seed: 12345,
            enable_stats: false,
            enable_batch_read: true,
            reinit: false,
            vector_file_path: PathBuf::new(),
            log_file_path: PathBuf::new(),
            k: 1,
            ef_search: 64,
            edge_cache_size: 1 << 20,
            lsm_cache_bytes: 8 * 1024 * 1024,
            sync_writes: false,
            quantization: Quantization::Sq8,
            rerank: 0,
            memory_budget_bytes: 0,
            routing: Routing::Exact,
            routing_epsilon: 0.1,
        }
    }
}

impl DbOptions {
    /// The number of candidates a search with `k` and pool `ef` re-scores exactly (at most the
    /// `ef` it found): `rerank` if set (at least `k`), else `max(2k, 16, ef / 4)` with SQ8 and
    /// `max(3k, 32, ef / 2)` with SQ4. Measured on 100k x 128 (BENCHMARKS.md): with SQ8,
    /// re-ranking 16 candidates gave the recall of re-ranking all of them at ef 16 to 64; SQ4's
    /// coarser order needs about twice as many (ef 64: recall 0.989 with 20, 0.996 with 40),
    /// while each re-ranked candidate costs a vector read.
    pub fn rerank_for(&self, k: usize, ef: usize) -> usize {
        if self.rerank > 0 {
            self.rerank.max(k)
        } else if self.quantization == Quantization::Sq4 {
            (3 * k).max(32).max(ef / 2)
        } else {
            (2 * k).max(16).max(ef / 4)
        }
    }

    /// Options with the given dimension and every other field at its default.
    pub fn new(dim: usize) -> Self {
        DbOptions { dim, ..Default::default() }
    }

    /// Checks every field; `open` calls this before touching the disk.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            return Err(Error::invalid("dim must be > 0"));
        }
        if self.dim > MAX_DIM {
            return Err(Error::invalid(format!("dim {} exceeds the maximum {MAX_DIM}", self.dim)));
        }
        if self.m < 2 {
            return Err(Error::invalid(format!("m must be >= 2, got {}", self.m)));
        }
        if self.m > 512 {
            return Err(Error::invalid(format!("m must be <= 512, got {}", self.m)));
        }
        if self.m_max < self.m {
            return Err(Error::invalid(format!("m_max ({}) must be >= m ({})", self.m_max, self.m)));
        }
        if self.m_max > 1024 {
            return Err(Error::invalid(format!("m_max must be <= 1024, got {}", self.m_max)));
        }
        if !self.ef_construction.is_finite() || self.ef_construction < 1.0 {
            return Err(Error::invalid(format!(
                "ef_construction must be a finite number >= 1, got {}",
                self.ef_construction
            )));
        }
        if self.ef_construction > 100_000.0 {
            return Err(Error::invalid(format!("ef_construction must be <= 100000, got {}", self.ef_construction)));
        }
        if self.paged_max_cached_pages == 0 {
            return Err(Error::invalid("paged_max_cached_pages must be >= 1"));
        }
        if self.db_target_size == 0 {
            return Err(Error::invalid("db_target_size must be > 0"));
        }
        if !(self.routing_epsilon > 0.0 && self.routing_epsilon < 1.0) {
            return Err(Error::invalid(format!("routing_epsilon must be in (0, 1), got {}", self.routing_epsilon)));
        }
        if self.memory_budget_bytes > 0 && self.memory_budget_bytes < 1 << 20 {
            return Err(Error::invalid(format!(
                "memory_budget_bytes {} is too small for anything (0 = no budget, else at least 1 MiB)",
                self.memory_budget_bytes
            )));
        }
        SearchOptions { k: self.k, ef_search: self.ef_search }.validate()?;
        Ok(())
    }

    /// Layer-0 degree cap: `max(2 * m, m_max)`.
    pub fn max_degree0(&self) -> usize {
        (2 * self.m).max(self.m_max)
    }

    /// Effective construction pool size: `max(ceil(ef_construction), m)`.
    pub fn ef_construction_usize(&self) -> usize {
        (self.ef_construction.ceil() as usize).max(self.m)
    }

    /// The default search options held in these options.
    pub fn search_options(&self) -> SearchOptions {
        SearchOptions { k: self.k, ef_search: self.ef_search }
    }
}

/// Parameters of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Number of nearest neighbours to return (default 1, >= 1).
    pub k: usize,
    /// Candidate pool size (default 64). Must be >= k; higher = better recall, slower.
    pub ef_search: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { k: 1, ef_search: 64 }
    }
}

impl SearchOptions {
    /// Options with the given `k` and `ef_search`.
    pub fn new(k: usize, ef_search: usize) -> Self {
        SearchOptions { k, ef_search }
    }

    /// `k >= 1`, `ef_search >= k`, and both at most 1_000_000.
    pub fn validate(&self) -> Result<()> {
        if self.k < 1 {
            return Err(Error::invalid(format!("k must be >= 1, got {}", self.k)));
        }
        if self.ef_search < self.k {
            return Err(Error::invalid(format!("ef_search ({}) must be >= k ({})", self.ef_search, self.k)));
        }
        if self.ef_search > 1_000_000 {
            return Err(Error::invalid(format!("ef_search must be <= 1000000, got {}", self.ef_search)));
        }
        Ok(())
    }
}

/// One search hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchResult {
    /// The caller's id of the vector.
    pub id: u64,
    /// Distance from the query under the database's metric.
    pub distance: f32,
}
