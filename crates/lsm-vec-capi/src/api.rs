//! The exported `extern "C"` functions. Each one is a thin shell: check the pointers, convert the
//! arguments, call the engine's public API, copy the result out, all inside [`guard`].

use std::ffi::{c_char, c_int, CStr};
use std::io::Write;

use lsm_vec::LsmVecDb;

use crate::status::{guard, last_error_ptr, status_name, FfiError, FfiResult, LSM_VEC_UNKNOWN};
use crate::types::{lsm_vec_options_t, lsm_vec_search_options_t, lsm_vec_search_result_t, lsm_vec_stats_t, path_arg};

/// An open database (opaque to C: `typedef struct lsm_vec_db lsm_vec_db_t;`). Created by
/// `lsm_vec_open`, released by `lsm_vec_free`.
#[allow(non_camel_case_types)]
pub struct lsm_vec_db_t {
    db: LsmVecDb,
}

// ---------------------------------------------------------------------------------------------
// Argument helpers. Each documents what the caller of the exported function must guarantee.
// ---------------------------------------------------------------------------------------------

/// The database behind a handle.
///
/// # Safety
/// `db` must be NULL or a handle returned by `lsm_vec_open` and not yet passed to `lsm_vec_free`.
unsafe fn db_arg<'a>(db: *const lsm_vec_db_t) -> FfiResult<&'a LsmVecDb> {
    // SAFETY: a non-NULL `db` points to a live `lsm_vec_db_t` per the contract above; the handle
    // is only read (the engine is `Sync`).
    match unsafe { db.as_ref() } {
        Some(h) => Ok(&h.db),
        None => Err(FfiError::null("db")),
    }
}

/// A read-only slice from a pointer and a length; NULL is allowed when `len` is 0.
///
/// # Safety
/// If `len > 0`, `ptr` must point to `len` initialised, properly aligned `T` that stay valid and
/// unmodified for the returned lifetime.
unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize, name: &str) -> FfiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    if len.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(FfiError::invalid(format!("{name}: length {len} is too large")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` valid elements; the byte size fits in
    // isize (checked above).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Fails with `INVALID_ARGUMENT` when `ptr` is NULL.
fn non_null<T>(ptr: *const T, name: &str) -> FfiResult<()> {
    if ptr.is_null() {
        Err(FfiError::null(name))
    } else {
        Ok(())
    }
}

/// `len` elements of `src` written to `dst` (which may be uninitialised memory).
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` elements and not overlap `src`.
unsafe fn write_slice<T: Copy>(dst: *mut T, src: &[T]) {
    // SAFETY: per the contract above.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
}

fn results_to_c(hits: &[lsm_vec::SearchResult]) -> Vec<lsm_vec_search_result_t> {
    hits.iter().map(|h| lsm_vec_search_result_t { id: h.id, distance: h.distance }).collect()
}

/// Copies at most `cap` hits into `out` and returns how many were written.
///
/// # Safety
/// `out` must be valid for writes of `cap` results.
unsafe fn write_hits(out: *mut lsm_vec_search_result_t, cap: usize, hits: &[lsm_vec::SearchResult]) -> usize {
    let c = results_to_c(&hits[..hits.len().min(cap)]);
    // SAFETY: `c.len() <= cap` and `out` holds `cap` results per the contract.
    unsafe { write_slice(out, &c) };
    c.len()
}

// ---------------------------------------------------------------------------------------------
// Library-level functions.
// ---------------------------------------------------------------------------------------------

/// The panic boundary of the functions that return a string instead of a status: `""` if `f`
/// panics (none of them has a panicking path today; the boundary is there so it stays so).
fn guard_str(f: impl FnOnce() -> *const c_char + std::panic::UnwindSafe) -> *const c_char {
    std::panic::catch_unwind(f).unwrap_or(c"".as_ptr())
}

/// The library version, e.g. `"0.1.0"` (static string).
#[no_mangle]
pub extern "C" fn lsm_vec_version() -> *const c_char {
    const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    guard_str(|| VERSION.as_ptr())
}

/// RocksDB-style name of a status code (`"OK"`, `"NotFound"`, `"Invalid argument"`, ...);
/// `"Unknown"` for numbers that are not codes. Static string.
#[no_mangle]
pub extern "C" fn lsm_vec_status_name(status: c_int) -> *const c_char {
    guard_str(|| status_name(status).as_ptr())
}

/// The message of the last failed `lsm_vec_*` call on this thread (`""` after a success).
/// Valid until the next `lsm_vec_*` call on this thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn lsm_vec_last_error_message() -> *const c_char {
    guard_str(last_error_ptr)
}

/// Fills `opts` with the specification's defaults (dim 0, L2, m 8, m_max 16, ...).
///
/// # Safety
/// `opts` must be NULL or valid for writing one `lsm_vec_options_t`.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_options_init(opts: *mut lsm_vec_options_t) -> c_int {
    guard(|| {
        non_null(opts, "opts")?;
        // SAFETY: non-NULL and writable per the contract; `write` does not read the old value.
        unsafe { opts.write(lsm_vec_options_t::defaults()) };
        Ok(())
    })
}

/// Fills `opts` with the default search options (k 1, ef_search 64).
///
/// # Safety
/// `opts` must be NULL or valid for writing one `lsm_vec_search_options_t`.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_search_options_init(opts: *mut lsm_vec_search_options_t) -> c_int {
    guard(|| {
        non_null(opts, "opts")?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { opts.write(lsm_vec_search_options_t::defaults()) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.
// ---------------------------------------------------------------------------------------------

/// Creates or opens the database in directory `path`. On success `*db` is a new handle (free it
/// with `lsm_vec_free`); on failure `*db` is set to NULL.
///
/// # Safety
/// `path` must be NULL or a NUL-terminated string; `opts` NULL or a valid options struct whose
/// path fields are NULL or NUL-terminated; `db` NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_open(
    path: *const c_char,
    opts: *const lsm_vec_options_t,
    db: *mut *mut lsm_vec_db_t,
) -> c_int {
    guard(|| {
        non_null(db, "db (out)")?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { db.write(std::ptr::null_mut()) };
        non_null(path, "path")?;
        // SAFETY: non-NULL and NUL-terminated per the contract.
        let path = unsafe { path_arg(path, "path") }?;
        if path.as_os_str().is_empty() {
            return Err(FfiError::invalid("path must not be empty"));
        }
        // SAFETY: `opts` is NULL or valid for reads per the contract.
        let opts = unsafe { opts.as_ref() }.ok_or_else(|| FfiError::null("opts"))?;
        // SAFETY: the options' path fields are NULL or NUL-terminated per the contract.
        let options = unsafe { opts.to_db_options() }?;
        let handle = Box::new(lsm_vec_db_t { db: LsmVecDb::open(&path, options)? });
        // SAFETY: `db` is writable (checked non-NULL above).
        unsafe { db.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Opens an existing database with the parameters stored in it and default tuning knobs.
///
/// # Safety
/// As for `lsm_vec_open` (without `opts`).
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_open_existing(path: *const c_char, db: *mut *mut lsm_vec_db_t) -> c_int {
    guard(|| {
        non_null(db, "db (out)")?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { db.write(std::ptr::null_mut()) };
        non_null(path, "path")?;
        // SAFETY: non-NULL and NUL-terminated per the contract.
        let path = unsafe { path_arg(path, "path") }?;
        if path.as_os_str().is_empty() {
            return Err(FfiError::invalid("path must not be empty"));
        }
        let handle = Box::new(lsm_vec_db_t { db: LsmVecDb::open_existing(&path)? });
        // SAFETY: `db` is writable (checked non-NULL above).
        unsafe { db.write(Box::into_raw(handle)) };
        Ok(())
    })
}

/// Flushes and closes the database. The handle stays allocated: later calls on it return
/// `LSM_VEC_SHUTDOWN_IN_PROGRESS`, closing again is `LSM_VEC_OK`, and it must still be freed
/// with `lsm_vec_free`.
///
/// # Safety
/// `db` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_close(db: *mut lsm_vec_db_t) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        db.close()?;
        Ok(())
    })
}

/// Closes the database if it is open (errors are ignored: call `lsm_vec_close` first to see
/// them) and frees the handle. NULL is a no-op. The handle must not be used afterwards.
///
/// # Safety
/// `db` must be NULL or a handle from `lsm_vec_open` that has not been freed, and no other
/// thread may be using it.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_free(db: *mut lsm_vec_db_t) {
    let _ = guard(|| {
        if !db.is_null() {
            // SAFETY: `db` came from `Box::into_raw` in `lsm_vec_open` and is freed only once
            // per the contract.
            drop(unsafe { Box::from_raw(db) });
        }
        Ok(())
    });
}

/// `*closed = true` after `lsm_vec_close`.
///
/// # Safety
/// `db` NULL or a live handle; `closed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_is_closed(db: *const lsm_vec_db_t, closed: *mut bool) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(closed, "closed")?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { closed.write(db.is_closed()) };
        Ok(())
    })
}

/// Persists the journal and the vector file (fsync).
///
/// # Safety
/// `db` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_flush(db: *const lsm_vec_db_t) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        unsafe { db_arg(db) }?.flush()?;
        Ok(())
    })
}

/// Repairs now every deleted node whose repair is pending (`repair_backlog` of the stats),
/// which a background thread otherwise does shortly after the deletes.
///
/// # Safety
/// `db` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_finish_repairs(db: *const lsm_vec_db_t) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        unsafe { db_arg(db) }?.finish_repairs()?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Writes.
// ---------------------------------------------------------------------------------------------

/// Inserts vector `id` (`len` floats, must equal the dimension). `LSM_VEC_INVALID_ARGUMENT` for a
/// wrong length, NaN/infinite values, a zero vector under cosine, or an id that is already live.
///
/// # Safety
/// `db` NULL or a live handle; `vector` valid for reading `len` floats (may be NULL if `len` 0).
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_insert(db: *const lsm_vec_db_t, id: u64, vector: *const f32, len: usize) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        // SAFETY: per the contract.
        let v = unsafe { slice_arg(vector, len, "vector") }?;
        db.insert(id, v)?;
        Ok(())
    })
}

/// Inserts `n` vectors: `ids[n]` and row-major `vectors[n * dim]` (`dim` must equal the database
/// dimension), planned on `threads` threads (0 = one per core). The whole batch is validated
/// first, so a bad batch writes nothing; it is then committed in groups of 256 vectors, in order,
/// each group atomically. A failure after the first group keeps the groups already committed:
/// the status is the cause's (kind-based, like every other call) and
/// `lsm_vec_last_error_message()` says "the first N of the M vectors are committed".
///
/// # Safety
/// `db` NULL or a live handle; `ids` readable for `n` ids; `vectors` for `n * dim` floats.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_insert_batch(
    db: *const lsm_vec_db_t,
    ids: *const u64,
    n: usize,
    vectors: *const f32,
    dim: usize,
    threads: usize,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        check_dim(db, dim)?;
        let total = n.checked_mul(dim).ok_or_else(|| FfiError::invalid(format!("n ({n}) * dim ({dim}) overflows")))?;
        // SAFETY: per the contract.
        let ids = unsafe { slice_arg(ids, n, "ids") }?;
        // SAFETY: per the contract.
        let vectors = unsafe { slice_arg(vectors, total, "vectors") }?;
        db.insert_batch(ids, vectors, threads)?;
        Ok(())
    })
}

/// Replaces the vector of a live id. `LSM_VEC_NOT_FOUND` if the id is not live.
///
/// # Safety
/// As for `lsm_vec_insert`.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_update(db: *const lsm_vec_db_t, id: u64, vector: *const f32, len: usize) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        // SAFETY: per the contract.
        let v = unsafe { slice_arg(vector, len, "vector") }?;
        db.update(id, v)?;
        Ok(())
    })
}

/// Deletes a vector. `LSM_VEC_NOT_FOUND` if the id is not live.
///
/// # Safety
/// `db` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_delete(db: *const lsm_vec_db_t, id: u64) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        unsafe { db_arg(db) }?.delete(id)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Reads.
// ---------------------------------------------------------------------------------------------

/// Copies the vector of `id` into `out` (capacity `cap` floats) and sets `*len` to its length
/// (the dimension). `LSM_VEC_NOT_FOUND` if the id is not live; `LSM_VEC_INVALID_ARGUMENT` with
/// `*len` set to the needed length if `cap` is too small.
///
/// # Safety
/// `db` NULL or a live handle; `out` writable for `cap` floats (may be NULL if `cap` is 0);
/// `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_get(
    db: *const lsm_vec_db_t,
    id: u64,
    out: *mut f32,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(len, "len")?;
        if cap > 0 {
            non_null(out, "out")?;
        }
        let v = db.get(id)?;
        // SAFETY: `len` is non-NULL and writable per the contract.
        unsafe { len.write(v.len()) };
        if v.len() > cap {
            return Err(FfiError::invalid(format!("output buffer holds {cap} floats, the vector has {}", v.len())));
        }
        // SAFETY: `out` is writable for `cap >= v.len()` floats (non-NULL when v is non-empty,
        // since then cap > 0 and it was checked).
        unsafe { write_slice(out, &v) };
        Ok(())
    })
}

/// `*found = true` if `id` is live.
///
/// # Safety
/// `db` NULL or a live handle; `found` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_contains(db: *const lsm_vec_db_t, id: u64, found: *mut bool) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(found, "found")?;
        let f = db.contains(id)?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { found.write(f) };
        Ok(())
    })
}

/// `*count` = number of live vectors.
///
/// # Safety
/// `db` NULL or a live handle; `count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_count(db: *const lsm_vec_db_t, count: *mut u64) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(count, "count")?;
        let n = db.len()? as u64;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { count.write(n) };
        Ok(())
    })
}

/// `*dim` = the database's dimension.
///
/// # Safety
/// `db` NULL or a live handle; `dim` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_dim(db: *const lsm_vec_db_t, dim: *mut usize) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(dim, "dim")?;
        let d = db.options()?.dim;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { dim.write(d) };
        Ok(())
    })
}

/// `*opts` = the `k` and `ef_search` the database was opened with (what
/// `lsm_vec_search_knn_default` uses).
///
/// # Safety
/// `db` NULL or a live handle; `opts` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_default_search_options(
    db: *const lsm_vec_db_t,
    opts: *mut lsm_vec_search_options_t,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(opts, "opts")?;
        let so = lsm_vec_search_options_t::from_search_options(db.options()?.search_options());
        // SAFETY: non-NULL and writable per the contract.
        unsafe { opts.write(so) };
        Ok(())
    })
}

fn check_dim(db: &LsmVecDb, given: usize) -> FfiResult {
    let dim = db.options()?.dim;
    if given != dim {
        return Err(lsm_vec::Error::DimensionMismatch { expected: dim, got: given }.into());
    }
    Ok(())
}

fn check_capacity(cap: usize, needed: usize, what: &str) -> FfiResult {
    if cap < needed {
        return Err(FfiError::invalid(format!("{what}: capacity {cap} is less than the {needed} needed")));
    }
    Ok(())
}

/// The `k` nearest live vectors to `query` (`len` floats), sorted by ascending distance, written
/// to `results` (capacity `cap`, which must be >= `opts->k`); `*n` = how many were found (fewer
/// than k when the database holds fewer vectors).
///
/// # Safety
/// `db` NULL or a live handle; `query` readable for `len` floats; `opts` NULL or readable;
/// `results` writable for `cap` results; `n` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_search_knn(
    db: *const lsm_vec_db_t,
    query: *const f32,
    len: usize,
    opts: *const lsm_vec_search_options_t,
    results: *mut lsm_vec_search_result_t,
    cap: usize,
    n: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        // SAFETY: `opts` is NULL or readable per the contract.
        let so = unsafe { opts.as_ref() }.ok_or_else(|| FfiError::null("opts"))?.to_search_options()?;
        // SAFETY: per the contract.
        unsafe { search_into(db, query, len, so, results, cap, n) }
    })
}

/// `lsm_vec_search_knn` with the `k` and `ef_search` of the options the database was opened with.
///
/// # Safety
/// As for `lsm_vec_search_knn` (without `opts`).
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_search_knn_default(
    db: *const lsm_vec_db_t,
    query: *const f32,
    len: usize,
    results: *mut lsm_vec_search_result_t,
    cap: usize,
    n: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        let so = db.options()?.search_options();
        // SAFETY: per the contract.
        unsafe { search_into(db, query, len, so, results, cap, n) }
    })
}

/// # Safety
/// As for `lsm_vec_search_knn`.
unsafe fn search_into(
    db: &LsmVecDb,
    query: *const f32,
    len: usize,
    so: lsm_vec::SearchOptions,
    results: *mut lsm_vec_search_result_t,
    cap: usize,
    n: *mut usize,
) -> FfiResult {
    so.validate()?;
    non_null(n, "n")?;
    non_null(results, "results")?;
    check_capacity(cap, so.k, "results")?;
    // SAFETY: per the contract.
    let q = unsafe { slice_arg(query, len, "query") }?;
    let hits = db.search_knn(q, &so)?;
    // SAFETY: `results` is writable for `cap` results per the contract.
    let written = unsafe { write_hits(results, cap, &hits) };
    // SAFETY: non-NULL and writable per the contract.
    unsafe { n.write(written) };
    Ok(())
}

/// Searches `n_queries` queries (row-major `queries[n_queries * dim]`, `dim` = the database
/// dimension) on `threads` threads (0 = one per core). The hits of query `i` are written to
/// `results[i * opts->k ..]` (so `cap` must be >= `n_queries * opts->k`) and their number to
/// `counts[i]`.
///
/// # Safety
/// `db` NULL or a live handle; `queries` readable for `n_queries * dim` floats; `opts` NULL or
/// readable; `results` writable for `cap` results; `counts` writable for `n_queries` sizes.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_search_knn_batch(
    db: *const lsm_vec_db_t,
    queries: *const f32,
    n_queries: usize,
    dim: usize,
    opts: *const lsm_vec_search_options_t,
    threads: usize,
    results: *mut lsm_vec_search_result_t,
    cap: usize,
    counts: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        // SAFETY: `opts` is NULL or readable per the contract.
        let so = unsafe { opts.as_ref() }.ok_or_else(|| FfiError::null("opts"))?.to_search_options()?;
        so.validate()?;
        check_dim(db, dim)?;
        let total = n_queries
            .checked_mul(dim)
            .ok_or_else(|| FfiError::invalid(format!("n_queries ({n_queries}) * dim ({dim}) overflows")))?;
        let needed = n_queries
            .checked_mul(so.k)
            .ok_or_else(|| FfiError::invalid(format!("n_queries ({n_queries}) * k ({}) overflows", so.k)))?;
        if n_queries > 0 {
            non_null(results, "results")?;
            non_null(counts, "counts")?;
        }
        check_capacity(cap, needed, "results")?;
        // SAFETY: per the contract.
        let q = unsafe { slice_arg(queries, total, "queries") }?;
        let lists = db.search_knn_batch(q, &so, threads)?;
        if lists.len() != n_queries {
            return Err(FfiError {
                code: LSM_VEC_UNKNOWN,
                message: format!("engine returned {} result lists for {n_queries} queries", lists.len()),
            });
        }
        for (i, hits) in lists.iter().enumerate() {
            // SAFETY: `i * k + k <= n_queries * k <= cap`, so the `k` slots from `i * k` are in
            // the caller's buffer; at most `k` hits are written.
            let written = unsafe { write_hits(results.add(i * so.k), so.k, hits) };
            // SAFETY: `counts` is writable for `n_queries` entries and `i < n_queries`.
            unsafe { counts.add(i).write(written) };
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Statistics.
// ---------------------------------------------------------------------------------------------

/// Fills `stats` with a snapshot of the database's counters and latency percentiles.
///
/// # Safety
/// `db` NULL or a live handle; `stats` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_get_stats(db: *const lsm_vec_db_t, stats: *mut lsm_vec_stats_t) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        non_null(stats, "stats")?;
        let s = db.stats()?;
        // SAFETY: non-NULL and writable per the contract.
        unsafe { stats.write(lsm_vec_stats_t::from(&s)) };
        Ok(())
    })
}

/// Prints the statistics to stdout (the specification's `printStatistics`) and flushes Rust's
/// stdout buffer. Callers mixing this with C stdio should `fflush(stdout)` before the call. On
/// error a one-line notice is printed and the error returned.
///
/// # Safety
/// `db` NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lsm_vec_print_statistics(db: *const lsm_vec_db_t) -> c_int {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { db_arg(db) }?;
        let stats = db.stats();
        let mut out = std::io::stdout().lock();
        // Output errors (closed stdout) are not the database's problem: ignored.
        match &stats {
            Ok(s) => {
                let _ = write!(out, "{s}");
            }
            Err(e) => {
                let _ = writeln!(out, "lsm-vec statistics unavailable: {e}");
            }
        }
        let _ = out.flush();
        stats?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{last_error_string, LSM_VEC_INVALID_ARGUMENT, LSM_VEC_OK, LSM_VEC_SHUTDOWN_IN_PROGRESS};

    #[test]
    fn null_handles_and_out_pointers_are_invalid_argument() {
        let v = [1.0f32; 4];
        let mut n = 0usize;
        let mut r = [lsm_vec_search_result_t { id: 0, distance: 0.0 }; 4];
        let so = lsm_vec_search_options_t::defaults();
        // SAFETY: all pointers are NULL or point to live locals of the right size.
        unsafe {
            assert_eq!(lsm_vec_insert(std::ptr::null(), 1, v.as_ptr(), 4), LSM_VEC_INVALID_ARGUMENT);
            assert_eq!(last_error_string(), "db must not be NULL");
            assert_eq!(lsm_vec_delete(std::ptr::null(), 1), LSM_VEC_INVALID_ARGUMENT);
            assert_eq!(
                lsm_vec_search_knn(std::ptr::null(), v.as_ptr(), 4, &so, r.as_mut_ptr(), 4, &mut n),
                LSM_VEC_INVALID_ARGUMENT
            );
            assert_eq!(lsm_vec_options_init(std::ptr::null_mut()), LSM_VEC_INVALID_ARGUMENT);
            assert_eq!(
                lsm_vec_open(c"/tmp/x".as_ptr(), std::ptr::null(), std::ptr::null_mut()),
                LSM_VEC_INVALID_ARGUMENT
            );
            let mut h: *mut lsm_vec_db_t = std::ptr::dangling_mut();
            assert_eq!(lsm_vec_open(c"/tmp/x".as_ptr(), std::ptr::null(), &mut h), LSM_VEC_INVALID_ARGUMENT);
            assert!(h.is_null(), "open must clear *db on failure");
            lsm_vec_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn bad_options_fail_before_touching_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::ffi::CString::new(dir.path().join("db").to_str().unwrap()).unwrap();
        let mut o = lsm_vec_options_t::defaults();
        let mut h: *mut lsm_vec_db_t = std::ptr::null_mut();
        for dim in [0i64, -1] {
            o.dim = dim;
            // SAFETY: valid path, options and out pointer.
            let rc = unsafe { lsm_vec_open(path.as_ptr(), &o, &mut h) };
            assert_eq!(rc, LSM_VEC_INVALID_ARGUMENT, "dim {dim}: {}", last_error_string());
            assert!(h.is_null());
        }
        assert!(!dir.path().join("db").exists());
    }

    /// Runs only once the engine is implemented (it reports "under construction" until then).
    #[test]
    fn roundtrip_through_the_abi() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::ffi::CString::new(dir.path().join("db").to_str().unwrap()).unwrap();
        let mut o = lsm_vec_options_t::defaults();
        o.dim = 4;
        o.reinit = true;
        let mut h: *mut lsm_vec_db_t = std::ptr::null_mut();
        // SAFETY: valid path, options and out pointer.
        let rc = unsafe { lsm_vec_open(path.as_ptr(), &o, &mut h) };
        if rc != LSM_VEC_OK && last_error_string().contains("under construction") {
            eprintln!("skipping: engine under construction");
            return;
        }
        assert_eq!(rc, LSM_VEC_OK, "{}", last_error_string());
        let mut r = [lsm_vec_search_result_t { id: 0, distance: 0.0 }; 2];
        let mut n = 0usize;
        let so = lsm_vec_search_options_t { k: 2, ef_search: 16 };
        // SAFETY: `h` is a live handle; buffers are live locals of the stated sizes.
        unsafe {
            assert_eq!(lsm_vec_insert(h, 7, [1.0, 0.0, 0.0, 0.0].as_ptr(), 4), LSM_VEC_OK);
            assert_eq!(lsm_vec_insert(h, 9, [0.0, 1.0, 0.0, 0.0].as_ptr(), 4), LSM_VEC_OK);
            assert_eq!(
                lsm_vec_search_knn(h, [1.0, 0.1, 0.0, 0.0].as_ptr(), 4, &so, r.as_mut_ptr(), 2, &mut n),
                LSM_VEC_OK
            );
            assert_eq!(n, 2);
            assert_eq!(r[0].id, 7);
            assert_eq!(lsm_vec_close(h), LSM_VEC_OK);
            assert_eq!(lsm_vec_delete(h, 7), LSM_VEC_SHUTDOWN_IN_PROGRESS);
            lsm_vec_free(h);
        }
    }
}
