//! The `#[repr(C)]` structs of the ABI and their conversions to and from the engine's types.
//! Field order and types here must match `include/lsm_vec.h` exactly; the layout tests at the
//! bottom pin the sizes the C test checks too.

use std::ffi::{c_char, CStr};
use std::path::PathBuf;

use lsm_vec::{
    DbOptions, DistanceMetric, LatencySummary, Quantization, Routing, SearchOptions, Stats, VectorStorageType,
};

use crate::status::{FfiError, FfiResult};

/// `quantization` code: no codes, searches score the full vectors.
pub const LSM_VEC_QUANTIZATION_NONE: i32 = 0;
/// `quantization` code: SQ8 codes in memory (one byte per dimension), exact re-rank (default).
pub const LSM_VEC_QUANTIZATION_SQ8: i32 = 1;
/// `quantization` code: SQ4 codes in memory (half a byte per dimension), exact re-rank.
pub const LSM_VEC_QUANTIZATION_SQ4: i32 = 2;

/// The C code of a quantization (`LSM_VEC_QUANTIZATION_*`).
pub fn quantization_code(q: Quantization) -> i32 {
    match q {
        Quantization::None => LSM_VEC_QUANTIZATION_NONE,
        Quantization::Sq8 => LSM_VEC_QUANTIZATION_SQ8,
        Quantization::Sq4 => LSM_VEC_QUANTIZATION_SQ4,
    }
}

/// Inverse of [`quantization_code`]; any other value is `INVALID_ARGUMENT`.
pub fn quantization_from_code(code: i32) -> FfiResult<Quantization> {
    match code {
        LSM_VEC_QUANTIZATION_NONE => Ok(Quantization::None),
        LSM_VEC_QUANTIZATION_SQ8 => Ok(Quantization::Sq8),
        LSM_VEC_QUANTIZATION_SQ4 => Ok(Quantization::Sq4),
        other => {
            Err(FfiError::invalid(format!("unknown quantization code {other} (expected 0 = none, 1 = sq8 or 2 = sq4)")))
        }
    }
}

/// `routing` code: searches score every unvisited neighbour (default).
pub const LSM_VEC_ROUTING_EXACT: i32 = 0;
/// `routing` code: with codes, a SimHash test skips neighbours that (with probability at least
/// `1 - routing_epsilon`) cannot enter the result pool.
pub const LSM_VEC_ROUTING_PROBABILISTIC: i32 = 1;

/// The C code of a routing (`LSM_VEC_ROUTING_*`).
pub fn routing_code(r: Routing) -> i32 {
    match r {
        Routing::Exact => LSM_VEC_ROUTING_EXACT,
        Routing::Probabilistic => LSM_VEC_ROUTING_PROBABILISTIC,
    }
}

/// Inverse of [`routing_code`]; any other value is `INVALID_ARGUMENT`.
pub fn routing_from_code(code: i32) -> FfiResult<Routing> {
    match code {
        LSM_VEC_ROUTING_EXACT => Ok(Routing::Exact),
        LSM_VEC_ROUTING_PROBABILISTIC => Ok(Routing::Probabilistic),
        other => {
            Err(FfiError::invalid(format!("unknown routing code {other} (expected 0 = exact or 1 = probabilistic)")))
        }
    }
}

/// Lists the fields of a `#[repr(C)]` struct in declaration order with their offsets, as
/// `const $list: &[(&str, usize)]`, and fails to compile when the list misses a field of the
/// struct or names one it does not have (an exhaustive destructuring). The tests check each
/// list against the engine's serialization (`Stats`, `DbOptions`) and against `lsm_vec.h`.
macro_rules! c_fields {
    ($(#[$doc:meta])* $list:ident = $ty:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        pub const $list: &[(&str, usize)] = &[$((stringify!($field), std::mem::offset_of!($ty, $field))),*];
        const _: fn($ty) = |v: $ty| {
            let $ty { $($field: _),* } = v;
        };
    };
}

/// Options of `lsm_vec_open`. Initialise with `lsm_vec_options_init` (the specification's
/// defaults), then set fields. Signed integers are signed so that a negative value from C or C++
/// (`opts.dim = -1`) is rejected with `LSM_VEC_INVALID_ARGUMENT` instead of wrapping around.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct lsm_vec_options_t {
    /// Required, > 0. Default 0.
    pub dim: i64,
    /// `LSM_VEC_METRIC_L2` (0, default), `LSM_VEC_METRIC_COSINE` (1), `LSM_VEC_METRIC_INNER_PRODUCT` (2).
    pub metric: i32,
    /// Default 8.
    pub m: i64,
    /// Default 16.
    pub m_max: i64,
    /// Default 32.0.
    pub ef_construction: f32,
    /// Default 100000.
    pub vec_file_capacity: usize,
    /// Default 4096 (4 KiB pages).
    pub paged_max_cached_pages: usize,
    /// 0 = basic, 1 = paged (default).
    pub vector_storage_type: i32,
    /// Default 100 GiB.
    pub db_target_size: u64,
    /// Default 12345; must be >= 0.
    pub random_seed: i64,
    /// Default false.
    pub enable_stats: bool,
    /// Default true.
    pub enable_batch_read: bool,
    /// Default false.
    pub reinit: bool,
    /// UTF-8, NUL-terminated; NULL or "" (default) = `vectors.bin` in the database directory.
    /// Borrowed only for the duration of `lsm_vec_open`.
    pub vector_file_path: *const c_char,
    /// UTF-8, NUL-terminated; NULL or "" (default) = no log file.
    pub log_file_path: *const c_char,
    /// Default `k` of `lsm_vec_search_knn_default` (default 1).
    pub k: i64,
    /// Default `ef_search` of `lsm_vec_search_knn_default` (default 64).
    pub ef_search: i64,
    /// Decoded adjacency cache capacity in lists (default 1048576; 0 disables it).
    pub edge_cache_size: usize,
    /// LSM block cache in bytes (default 8 MiB).
    pub lsm_cache_bytes: u64,
    /// fsync every write (default false).
    pub sync_writes: bool,
    /// `LSM_VEC_QUANTIZATION_NONE` (0), `LSM_VEC_QUANTIZATION_SQ8` (1, default) or
    /// `LSM_VEC_QUANTIZATION_SQ4` (2).
    pub quantization: i32,
    /// With codes: candidates re-scored with the full vectors (at least k); 0 (default) =
    /// automatic; must be >= 0.
    pub rerank: i64,
    /// Memory budget in bytes for codes, adjacency table and caches; 0 (default) = no budget.
    pub memory_budget_bytes: u64,
    /// `LSM_VEC_ROUTING_EXACT` (0, default) or `LSM_VEC_ROUTING_PROBABILISTIC` (1).
    pub routing: i32,
    /// With probabilistic routing: bound on one test's probability of a wrong skip, in (0, 1)
    /// (default 0.1).
    pub routing_epsilon: f32,
}

c_fields! {
    /// The fields of [`lsm_vec_options_t`]: the keys of `DbOptions`' serialization, in the order
    /// of `include/lsm_vec.h` (checked by the tests).
    OPTIONS_FIELDS = lsm_vec_options_t {
        dim, metric, m, m_max, ef_construction, vec_file_capacity, paged_max_cached_pages,
        vector_storage_type, db_target_size, random_seed, enable_stats, enable_batch_read, reinit,
        vector_file_path, log_file_path, k, ef_search, edge_cache_size, lsm_cache_bytes,
        sync_writes, quantization, rerank, memory_budget_bytes, routing, routing_epsilon,
    }
}

impl lsm_vec_options_t {
    /// The specification's defaults (those of [`DbOptions::default`]).
    pub fn defaults() -> Self {
        let d = DbOptions::default();
        lsm_vec_options_t {
            dim: d.dim as i64,
            metric: i32::from(d.metric.code()),
            m: d.m as i64,
            m_max: d.m_max as i64,
            ef_construction: d.ef_construction,
            vec_file_capacity: d.vec_file_capacity,
            paged_max_cached_pages: d.paged_max_cached_pages,
            vector_storage_type: i32::from(d.vector_storage_type.code()),
            db_target_size: d.db_target_size,
            random_seed: d.random_seed as i64,
            enable_stats: d.enable_stats,
            enable_batch_read: d.enable_batch_read,
            reinit: d.reinit,
            vector_file_path: c"".as_ptr(),
            log_file_path: c"".as_ptr(),
            k: d.k as i64,
            ef_search: d.ef_search as i64,
            edge_cache_size: d.edge_cache_size,
            lsm_cache_bytes: d.lsm_cache_bytes,
            sync_writes: d.sync_writes,
            quantization: quantization_code(d.quantization),
            rerank: saturate_i64(d.rerank),
            memory_budget_bytes: d.memory_budget_bytes,
            routing: routing_code(d.routing),
            routing_epsilon: d.routing_epsilon,
        }
    }

    /// Converts to engine options, rejecting negative integers, unknown codes and paths that are
    /// not UTF-8. The remaining checks (dim > 0, m_max >= m, ...) are the engine's `validate`.
    ///
    /// # Safety
    /// The two path pointers must each be NULL or point to a NUL-terminated string that stays
    /// valid for the duration of the call.
    pub unsafe fn to_db_options(&self) -> FfiResult<DbOptions> {
        // SAFETY: forwarded from this function's contract.
        let vector_file_path = unsafe { path_arg(self.vector_file_path, "vector_file_path") }?;
        // SAFETY: forwarded from this function's contract.
        let log_file_path = unsafe { path_arg(self.log_file_path, "log_file_path") }?;
        let random_seed = u64::try_from(self.random_seed)
            .map_err(|_| FfiError::invalid(format!("random_seed must not be negative, got {}", self.random_seed)))?;
        // Every field is set today; `..DbOptions::default()` stays so that an option the engine
        // gains later keeps its default here (and this crate still compiles) until the ABI
        // carries it.
        #[allow(clippy::needless_update)]
        Ok(DbOptions {
            dim: non_negative("dim", self.dim)?,
            metric: DistanceMetric::from_code(i64::from(self.metric))?,
            m: non_negative("m", self.m)?,
            m_max: non_negative("m_max", self.m_max)?,
            ef_construction: self.ef_construction,
            vec_file_capacity: self.vec_file_capacity,
            paged_max_cached_pages: self.paged_max_cached_pages,
            vector_storage_type: VectorStorageType::from_code(i64::from(self.vector_storage_type))?,
            db_target_size: self.db_target_size,
            random_seed,
            enable_stats: self.enable_stats,
            enable_batch_read: self.enable_batch_read,
            reinit: self.reinit,
            vector_file_path,
            log_file_path,
            k: non_negative("k", self.k)?,
            ef_search: non_negative("ef_search", self.ef_search)?,
            edge_cache_size: self.edge_cache_size,
            lsm_cache_bytes: self.lsm_cache_bytes,
            sync_writes: self.sync_writes,
            quantization: quantization_from_code(self.quantization)?,
            rerank: non_negative("rerank", self.rerank)?,
            memory_budget_bytes: self.memory_budget_bytes,
            routing: routing_from_code(self.routing)?,
            routing_epsilon: self.routing_epsilon,
            ..DbOptions::default()
        })
    }
}

/// Parameters of one search. Initialise with `lsm_vec_search_options_init` (k 1, ef_search 64).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct lsm_vec_search_options_t {
    /// Neighbours to return, >= 1. Default 1.
    pub k: i64,
    /// Candidate pool size, >= k. Default 64.
    pub ef_search: i64,
}

impl lsm_vec_search_options_t {
    /// Default search options.
    pub fn defaults() -> Self {
        let d = SearchOptions::default();
        lsm_vec_search_options_t { k: d.k as i64, ef_search: d.ef_search as i64 }
    }

    /// Converts to engine options; negative values are `INVALID_ARGUMENT` (the engine checks the
    /// rest when searching).
    pub fn to_search_options(self) -> FfiResult<SearchOptions> {
        Ok(SearchOptions::new(non_negative("k", self.k)?, non_negative("ef_search", self.ef_search)?))
    }

    /// From engine options.
    pub fn from_search_options(s: SearchOptions) -> Self {
        lsm_vec_search_options_t { k: saturate_i64(s.k), ef_search: saturate_i64(s.ef_search) }
    }
}

/// One search hit.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct lsm_vec_search_result_t {
    /// The caller's id.
    pub id: u64,
    /// Distance under the database's metric.
    pub distance: f32,
}

/// Latency percentiles of one kind of operation, in microseconds.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct lsm_vec_latency_t {
    /// Operations recorded.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

c_fields! {
    /// The fields of [`lsm_vec_latency_t`]: the keys of `LatencySummary`'s serialization.
    LATENCY_FIELDS = lsm_vec_latency_t { count, p50_us, p95_us, p99_us, max_us }
}

impl From<LatencySummary> for lsm_vec_latency_t {
    fn from(l: LatencySummary) -> Self {
        lsm_vec_latency_t { count: l.count, p50_us: l.p50_us, p95_us: l.p95_us, p99_us: l.p99_us, max_us: l.max_us }
    }
}

/// Statistics snapshot (see the engine's `Stats` for the meaning of each field).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct lsm_vec_stats_t {
    /// Live vectors.
    pub count: u64,
    /// Dimension.
    pub dim: u64,
    /// Metric code.
    pub metric: i32,
    /// Storage type code.
    pub vector_storage_type: i32,
    /// HNSW m.
    pub m: u64,
    /// HNSW m_max.
    pub m_max: u64,
    /// Highest HNSW level.
    pub max_level: u64,
    /// Nodes on level >= 1.
    pub upper_layer_nodes: u64,
    /// Vector file size in bytes.
    pub vector_file_bytes: u64,
    /// LSM disk usage in bytes.
    pub lsm_disk_bytes: u64,
    /// Searches since open.
    pub searches: u64,
    /// Inserts since open.
    pub inserts: u64,
    /// Updates since open.
    pub updates: u64,
    /// Deletes since open.
    pub deletes: u64,
    /// 4 KiB vector pages read.
    pub vector_pages_read: u64,
    /// Page cache hits.
    pub page_cache_hits: u64,
    /// Page cache misses.
    pub page_cache_misses: u64,
    /// Pages held by the page cache.
    pub page_cache_pages: u64,
    /// Adjacency lists read from the LSM.
    pub lsm_gets: u64,
    /// Adjacency lists served by the edge cache.
    pub edge_cache_hits: u64,
    /// Lists held by the edge cache.
    pub edge_cache_entries: u64,
    /// Distance computations.
    pub distance_computations: u64,
    /// Nodes visited by searches.
    pub nodes_visited: u64,
    /// Nodes expanded by searches.
    pub nodes_expanded: u64,
    /// Search latency (with `enable_stats`).
    pub search_latency: lsm_vec_latency_t,
    /// Insert latency (with `enable_stats`).
    pub insert_latency: lsm_vec_latency_t,
    /// Update latency (with `enable_stats`).
    pub update_latency: lsm_vec_latency_t,
    /// Delete latency (with `enable_stats`).
    pub delete_latency: lsm_vec_latency_t,
    // Appended after the latencies so that the offsets of the fields above stay those of
    // earlier versions.
    /// Deleted nodes kept for routing (ghosts).
    pub ghost_nodes: u64,
    /// Exact duplicates stored as twins of a graph node.
    pub twin_nodes: u64,
    /// Memory of the compressed codes (0 without codes).
    pub code_bytes: u64,
    /// Memory of the dense layer-0 adjacency table.
    pub adjacency_bytes: u64,
    /// Layer-0 lists held by the adjacency table.
    pub adjacency_lists: u64,
    /// Memory of the vector page cache.
    pub page_cache_bytes: u64,
    /// Memory of the decoded adjacency (edge) cache (estimate).
    pub edge_cache_bytes: u64,
    /// Bookkeeping memory (estimate).
    pub bookkeeping_bytes: u64,
    /// Sum of the memory parts above.
    pub memory_bytes: u64,
    /// The `memory_budget_bytes` option (0 = no budget).
    pub memory_budget_bytes: u64,
    /// Deleted nodes whose repair is pending.
    pub repair_backlog: u64,
    /// Deleted nodes repaired since open.
    pub repairs: u64,
    /// Neighbours probabilistic routing skipped instead of scoring (0 with exact routing).
    pub routing_skips: u64,
}

c_fields! {
    /// The fields of [`lsm_vec_stats_t`]: the keys of `Stats`' serialization, in the order of
    /// `include/lsm_vec.h` (checked by the tests). New fields go at the end.
    STATS_FIELDS = lsm_vec_stats_t {
        count, dim, metric, vector_storage_type, m, m_max, max_level, upper_layer_nodes,
        vector_file_bytes, lsm_disk_bytes, searches, inserts, updates, deletes, vector_pages_read,
        page_cache_hits, page_cache_misses, page_cache_pages, lsm_gets, edge_cache_hits,
        edge_cache_entries, distance_computations, nodes_visited, nodes_expanded, search_latency,
        insert_latency, update_latency, delete_latency, ghost_nodes, twin_nodes, code_bytes,
        adjacency_bytes, adjacency_lists, page_cache_bytes, edge_cache_bytes, bookkeeping_bytes,
        memory_bytes, memory_budget_bytes, repair_backlog, repairs, routing_skips,
    }
}

impl From<&Stats> for lsm_vec_stats_t {
    fn from(s: &Stats) -> Self {
        lsm_vec_stats_t {
            count: s.count,
            dim: s.dim as u64,
            metric: i32::from(s.metric.code()),
            vector_storage_type: i32::from(s.vector_storage_type.code()),
            m: s.m as u64,
            m_max: s.m_max as u64,
            max_level: s.max_level as u64,
            upper_layer_nodes: s.upper_layer_nodes,
            vector_file_bytes: s.vector_file_bytes,
            lsm_disk_bytes: s.lsm_disk_bytes,
            searches: s.searches,
            inserts: s.inserts,
            updates: s.updates,
            deletes: s.deletes,
            vector_pages_read: s.vector_pages_read,
            page_cache_hits: s.page_cache_hits,
            page_cache_misses: s.page_cache_misses,
            page_cache_pages: s.page_cache_pages,
            lsm_gets: s.lsm_gets,
            edge_cache_hits: s.edge_cache_hits,
            edge_cache_entries: s.edge_cache_entries,
            distance_computations: s.distance_computations,
            nodes_visited: s.nodes_visited,
            nodes_expanded: s.nodes_expanded,
            search_latency: s.search_latency.into(),
            insert_latency: s.insert_latency.into(),
            update_latency: s.update_latency.into(),
            delete_latency: s.delete_latency.into(),
            ghost_nodes: s.ghost_nodes,
            twin_nodes: s.twin_nodes,
            code_bytes: s.code_bytes,
            adjacency_bytes: s.adjacency_bytes,
            adjacency_lists: s.adjacency_lists,
            page_cache_bytes: s.page_cache_bytes,
            edge_cache_bytes: s.edge_cache_bytes,
            bookkeeping_bytes: s.bookkeeping_bytes,
            memory_bytes: s.memory_bytes,
            memory_budget_bytes: s.memory_budget_bytes,
            repair_backlog: s.repair_backlog,
            repairs: s.repairs,
            routing_skips: s.routing_skips,
        }
    }
}

/// `value` as a usize, or `INVALID_ARGUMENT` naming the option when it is negative.
pub fn non_negative(name: &str, value: i64) -> FfiResult<usize> {
    usize::try_from(value).map_err(|_| {
        if value < 0 {
            FfiError::invalid(format!("{name} must not be negative, got {value}"))
        } else {
            FfiError::invalid(format!("{name} is too large: {value}"))
        }
    })
}

fn saturate_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A borrowed C string as UTF-8: NULL is `""`.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string valid for the returned lifetime.
pub unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Ok("");
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| FfiError::invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// A borrowed C string as a path (NULL or "" = empty path).
///
/// # Safety
/// As for [`str_arg`].
pub unsafe fn path_arg(ptr: *const c_char, name: &str) -> FfiResult<PathBuf> {
    // SAFETY: forwarded from this function's contract.
    Ok(PathBuf::from(unsafe { str_arg(ptr, name) }?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    /// The C test (`tests/c/test_capi.c`) checks the same numbers against the header.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn struct_layouts_are_pinned() {
        assert_eq!(size_of::<lsm_vec_options_t>(), 168);
        assert_eq!(align_of::<lsm_vec_options_t>(), 8);
        assert_eq!(size_of::<lsm_vec_search_options_t>(), 16);
        assert_eq!(size_of::<lsm_vec_search_result_t>(), 16);
        assert_eq!(size_of::<lsm_vec_latency_t>(), 40);
        assert_eq!(size_of::<lsm_vec_stats_t>(), 22 * 8 + 8 + 4 * 40 + 13 * 8);
    }

    /// Offsets of the fields this version added (and of a few older ones, which must not move).
    /// The C test checks the same offsets with `offsetof`.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn field_offsets_are_pinned() {
        use std::mem::offset_of;
        assert_eq!(offset_of!(lsm_vec_options_t, sync_writes), 136);
        assert_eq!(offset_of!(lsm_vec_options_t, quantization), 140);
        assert_eq!(offset_of!(lsm_vec_options_t, rerank), 144);
        assert_eq!(offset_of!(lsm_vec_options_t, memory_budget_bytes), 152);
        assert_eq!(offset_of!(lsm_vec_options_t, routing), 160);
        assert_eq!(offset_of!(lsm_vec_options_t, routing_epsilon), 164);
        assert_eq!(offset_of!(lsm_vec_stats_t, search_latency), 184);
        assert_eq!(offset_of!(lsm_vec_stats_t, delete_latency), 304);
        assert_eq!(offset_of!(lsm_vec_stats_t, ghost_nodes), 344);
        assert_eq!(offset_of!(lsm_vec_stats_t, memory_budget_bytes), 416);
        assert_eq!(offset_of!(lsm_vec_stats_t, repair_backlog), 424);
        assert_eq!(offset_of!(lsm_vec_stats_t, repairs), 432);
        assert_eq!(offset_of!(lsm_vec_stats_t, routing_skips), 440);
    }

    fn names(fields: &[(&'static str, usize)]) -> Vec<&'static str> {
        fields.iter().map(|&(n, _)| n).collect()
    }

    fn sorted_keys(v: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("a JSON object").keys().cloned().collect();
        k.sort();
        k
    }

    fn sorted_names(fields: &[(&'static str, usize)]) -> Vec<String> {
        let mut n: Vec<String> = names(fields).into_iter().map(String::from).collect();
        n.sort();
        n
    }

    /// The fields a `typedef struct <tag> { ... } <name>;` of `include/lsm_vec.h` declares, in
    /// order (comments removed; the last identifier of each declaration).
    fn header_fields(tag: &str, name: &str) -> Vec<String> {
        const HEADER: &str = include_str!("../../../include/lsm_vec.h");
        let open = format!("typedef struct {tag} {{");
        let close = format!("}} {name};");
        let start = HEADER.find(&open).unwrap_or_else(|| panic!("lsm_vec.h lacks `{open}`")) + open.len();
        let end = start + HEADER[start..].find(&close).unwrap_or_else(|| panic!("lsm_vec.h lacks `{close}`"));
        let mut body = HEADER[start..end].to_string();
        while let Some(c) = body.find("/*") {
            let e = body[c..].find("*/").expect("unterminated comment in lsm_vec.h") + c + 2;
            body.replace_range(c..e, " ");
        }
        body.split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                let ident = d.rsplit(|c: char| c.is_whitespace() || c == '*').next().unwrap_or_default();
                ident.to_string()
            })
            .collect()
    }

    /// Declaration order: the offsets of each list grow, so the list is the struct's order.
    #[test]
    fn field_lists_are_in_declaration_order() {
        for list in [OPTIONS_FIELDS, STATS_FIELDS, LATENCY_FIELDS] {
            assert!(list.windows(2).all(|w| w[0].1 < w[1].1), "{list:?}");
        }
    }

    /// Every key of the engine's `DbOptions` serialization is a field of `lsm_vec_options_t` and
    /// the other way round: an option the engine gains fails here until the ABI carries it.
    #[test]
    fn options_fields_are_the_engines() {
        let v = serde_json::to_value(DbOptions::default()).unwrap();
        assert_eq!(sorted_keys(&v), sorted_names(OPTIONS_FIELDS), "DbOptions vs lsm_vec_options_t");
    }

    /// A database with some history, so that most counters are non-zero and distinct.
    fn busy_stats() -> Stats {
        let dir = tempfile::tempdir().unwrap();
        let mut o = DbOptions::new(8);
        o.enable_stats = true;
        o.routing = Routing::Probabilistic;
        o.metric = DistanceMetric::Cosine;
        let db = lsm_vec::LsmVecDb::open(dir.path(), o).unwrap();
        let v =
            |i: u64| -> Vec<f32> { (0..8).map(|d| ((i * 31 + d * 7) % 17) as f32 - 8.0 + d as f32 * 0.1).collect() };
        for i in 0..300 {
            db.insert(i, &v(i)).unwrap();
        }
        for i in 0..20 {
            db.search_knn(&v(i * 3 + 1), &SearchOptions::new(5, 32)).unwrap();
        }
        db.update(5, &v(1000)).unwrap();
        for i in 100..110 {
            db.delete(i).unwrap();
        }
        let s = db.stats().unwrap();
        db.close().unwrap();
        s
    }

    /// Every key of the engine's `Stats` serialization (and of each latency summary) is a field
    /// of the C struct and the other way round, and `From<&Stats>` copies each value into the
    /// field of the same name.
    #[test]
    fn stats_fields_are_the_engines() {
        let s = busy_stats();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(sorted_keys(&v), sorted_names(STATS_FIELDS), "Stats vs lsm_vec_stats_t");
        assert_eq!(
            sorted_keys(&v["search_latency"]),
            sorted_names(LATENCY_FIELDS),
            "LatencySummary vs lsm_vec_latency_t"
        );
        let c = lsm_vec_stats_t::from(&s);
        let base = std::ptr::from_ref(&c).cast::<u8>();
        let read_u64 = |off: usize| -> u64 {
            assert!(off + 8 <= size_of::<lsm_vec_stats_t>());
            // SAFETY: `off + 8` is within `c`, which lives for the whole test.
            unsafe { base.add(off).cast::<u64>().read_unaligned() }
        };
        let read_f64 = |off: usize| f64::from_bits(read_u64(off));
        let read_i32 = |off: usize| -> i32 {
            assert!(off + 4 <= size_of::<lsm_vec_stats_t>());
            // SAFETY: `off + 4` is within `c`, which lives for the whole test.
            unsafe { base.add(off).cast::<i32>().read_unaligned() }
        };
        let mut nonzero = 0;
        for (i, &(name, off)) in STATS_FIELDS.iter().enumerate() {
            let size = STATS_FIELDS.get(i + 1).map_or(size_of::<lsm_vec_stats_t>(), |n| n.1) - off;
            let want = &v[name];
            match name {
                "metric" => assert_eq!(read_i32(off), i32::from(s.metric.code())),
                _ if want.is_object() => {
                    for &(lname, loff) in LATENCY_FIELDS {
                        let got = if lname == "count" {
                            serde_json::json!(read_u64(off + loff))
                        } else {
                            serde_json::json!(read_f64(off + loff))
                        };
                        assert_eq!(&got, &want[lname], "{name}.{lname}");
                    }
                }
                _ if size == 4 => assert_eq!(serde_json::json!(read_i32(off)), *want, "{name}"),
                _ => {
                    assert_eq!(size, 8, "{name}");
                    assert_eq!(serde_json::json!(read_u64(off)), *want, "{name}");
                    nonzero += usize::from(read_u64(off) != 0);
                }
            }
        }
        assert!(nonzero >= 20, "too few non-zero counters to tell fields apart: {v}");
        assert!(s.routing_skips > 0 || s.searches > 0);
        assert!(s.search_latency.count > 0 && s.search_latency.p50_us > 0.0);
    }

    /// `include/lsm_vec.h` declares the fields of each struct, in the same order.
    #[test]
    fn header_declares_every_field() {
        assert_eq!(header_fields("lsm_vec_options", "lsm_vec_options_t"), names(OPTIONS_FIELDS));
        assert_eq!(header_fields("lsm_vec_stats", "lsm_vec_stats_t"), names(STATS_FIELDS));
        assert_eq!(header_fields("lsm_vec_latency", "lsm_vec_latency_t"), names(LATENCY_FIELDS));
    }

    #[test]
    fn defaults_are_the_specifications() {
        let o = lsm_vec_options_t::defaults();
        assert_eq!(o.dim, 0);
        assert_eq!(o.metric, 0);
        assert_eq!(o.m, 8);
        assert_eq!(o.m_max, 16);
        assert_eq!(o.ef_construction, 32.0);
        assert_eq!(o.vec_file_capacity, 100_000);
        assert_eq!(o.paged_max_cached_pages, 4096);
        assert_eq!(o.vector_storage_type, 1);
        assert_eq!(o.db_target_size, 100 << 30);
        assert_eq!(o.random_seed, 12345);
        assert!(!o.enable_stats);
        assert!(o.enable_batch_read);
        assert!(!o.reinit);
        assert_eq!(o.k, 1);
        assert_eq!(o.ef_search, 64);
        assert_eq!(o.quantization, LSM_VEC_QUANTIZATION_SQ8);
        assert_eq!(o.rerank, 0);
        assert_eq!(o.memory_budget_bytes, 0);
        assert_eq!(o.routing, LSM_VEC_ROUTING_EXACT);
        assert_eq!(o.routing_epsilon, 0.1);
        // SAFETY: the default paths are static "" literals.
        let d = unsafe { o.to_db_options() }.unwrap();
        assert_eq!(d, DbOptions::default());
    }

    #[test]
    fn negative_integers_are_invalid_not_wrapped() {
        for set in [
            (|o: &mut lsm_vec_options_t| o.dim = -1) as fn(&mut lsm_vec_options_t),
            |o| o.m = -8,
            |o| o.m_max = -1,
            |o| o.k = -1,
            |o| o.ef_search = -64,
            |o| o.random_seed = -5,
            |o| o.metric = -1,
            |o| o.vector_storage_type = -1,
            |o| o.metric = 3,
            |o| o.vector_storage_type = 2,
            |o| o.quantization = -1,
            |o| o.quantization = 3,
            |o| o.rerank = -1,
            |o| o.routing = -1,
            |o| o.routing = 2,
        ] {
            let mut o = lsm_vec_options_t::defaults();
            o.dim = 4;
            set(&mut o);
            // SAFETY: the paths are static "" literals.
            let e = unsafe { o.to_db_options() }.unwrap_err();
            assert_eq!(e.code, crate::status::LSM_VEC_INVALID_ARGUMENT, "{e:?}");
        }
    }

    #[test]
    fn new_options_reach_the_engine() {
        let mut o = lsm_vec_options_t::defaults();
        o.dim = 4;
        o.quantization = LSM_VEC_QUANTIZATION_NONE;
        o.rerank = 40;
        o.memory_budget_bytes = 64 << 20;
        // SAFETY: the paths are static "" literals.
        let d = unsafe { o.to_db_options() }.unwrap();
        assert_eq!(d.quantization, Quantization::None);
        assert_eq!(d.rerank, 40);
        assert_eq!(d.memory_budget_bytes, 64 << 20);
        for q in [Quantization::None, Quantization::Sq8, Quantization::Sq4] {
            assert_eq!(quantization_from_code(quantization_code(q)).unwrap(), q);
        }
        o.routing = LSM_VEC_ROUTING_PROBABILISTIC;
        o.routing_epsilon = 0.25;
        // SAFETY: the paths are static "" literals.
        let d = unsafe { o.to_db_options() }.unwrap();
        assert_eq!(d.routing, Routing::Probabilistic);
        assert_eq!(d.routing_epsilon, 0.25);
        for r in [Routing::Exact, Routing::Probabilistic] {
            assert_eq!(routing_from_code(routing_code(r)).unwrap(), r);
        }
    }

    #[test]
    fn invalid_utf8_paths_are_rejected() {
        let bad = [0xffu8, 0xfe, b'x', 0];
        let mut o = lsm_vec_options_t::defaults();
        o.dim = 4;
        o.vector_file_path = bad.as_ptr().cast();
        // SAFETY: `bad` is NUL-terminated and outlives the call.
        let e = unsafe { o.to_db_options() }.unwrap_err();
        assert_eq!(e.code, crate::status::LSM_VEC_INVALID_ARGUMENT);
        assert!(e.message.contains("vector_file_path"), "{}", e.message);
    }

    #[test]
    fn search_options_roundtrip() {
        let s = lsm_vec_search_options_t::defaults();
        assert_eq!(s, lsm_vec_search_options_t { k: 1, ef_search: 64 });
        assert_eq!(s.to_search_options().unwrap(), SearchOptions::new(1, 64));
        assert!(lsm_vec_search_options_t { k: -1, ef_search: 4 }.to_search_options().is_err());
    }
}
