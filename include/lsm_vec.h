/*
 * lsm_vec.h -- C API of lsm-vec, a disk-resident vector database (HNSW whose layer 0 lives in an
 * LSM tree, raw vectors in a paged file). Link with liblsmvec.a or liblsmvec.so.
 *
 * Hand-written; it must match crates/lsm-vec-capi/src (types.rs, api.rs, status.rs). The struct
 * sizes are pinned by tests on both sides (types.rs and tests/c/test_capi.c).
 *
 * Conventions
 * - Fallible functions return an lsm_vec_status_t; LSM_VEC_OK (0) is success. The codes mirror
 *   RocksDB's Status::Code numbers where RocksDB has the kind; they never change.
 * - The detail of a failure is a per-thread message: lsm_vec_last_error_message() returns it
 *   (without the kind; lsm_vec_status_name() gives that). It stays valid until the next lsm_vec_*
 *   call on the same thread. A successful call sets it to "".
 * - Every function runs behind a panic boundary: an internal Rust panic is returned as
 *   LSM_VEC_PANIC, it never unwinds into the caller.
 * - No pointer argument may be NULL unless stated (LSM_VEC_INVALID_ARGUMENT). A data pointer
 *   whose length is 0 may be NULL. Strings are NUL-terminated UTF-8 (LSM_VEC_INVALID_ARGUMENT
 *   otherwise) and are only borrowed for the duration of the call.
 * - Output buffers belong to the caller and come with a capacity. The only object the library
 *   allocates for the caller is the database handle, released by lsm_vec_free().
 * - Out-parameters are written only on success, except: lsm_vec_open sets *db to NULL on failure,
 *   and lsm_vec_get sets *len to the needed length when the buffer is too small.
 * - A handle may be used by any number of threads at once (searches run concurrently, also with
 *   a writer), for every function except lsm_vec_free, which must be the last call on it.
 */
#ifndef LSM_VEC_H
#define LSM_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes ---------------------------------------------------------------------------- */

typedef enum lsm_vec_status {
    LSM_VEC_OK = 0,
    /* The id is not live (get / update / delete), or there is no database (open_existing). */
    LSM_VEC_NOT_FOUND = 1,
    /* A file is damaged, foreign or of an unknown format version. */
    LSM_VEC_CORRUPTION = 2,
    /* Not produced by this version; reserved (RocksDB kNotSupported). */
    LSM_VEC_NOT_SUPPORTED = 3,
    /* NULL pointer, invalid UTF-8, bad option (dim <= 0, negative integer, unknown metric,
     * storage type or quantization, m_max < m, a memory budget too small for the codes, ...),
     * wrong dimension, NaN/infinite component, zero vector under cosine, duplicate id, k < 1,
     * ef_search < k, too small output buffer, or a reopen whose dim or metric differs from the
     * stored one (a different m / m_max / storage type is not an error: the stored values win). */
    LSM_VEC_INVALID_ARGUMENT = 4,
    /* Operating-system I/O failure or storage engine failure. */
    LSM_VEC_IO_ERROR = 5,
    /* The handle was closed (lsm_vec_close), or poisoned by an earlier failed write. */
    LSM_VEC_SHUTDOWN_IN_PROGRESS = 8,
    LSM_VEC_CLOSED = 8, /* alias */
    /* The database directory is already open (in this or another process). */
    LSM_VEC_BUSY = 11,
    /* An internal panic was caught at the ABI boundary (a bug: please report it). */
    LSM_VEC_PANIC = 100,
    /* An error this library version cannot classify. */
    LSM_VEC_UNKNOWN = 101
} lsm_vec_status_t;

/* RocksDB-style name of a code: "OK", "NotFound", "Corruption", "Not implemented",
 * "Invalid argument", "IO error", "Shutdown in progress", "Resource busy", "Panic", "Unknown".
 * Static string. */
const char *lsm_vec_status_name(int status);

/* Message of the last failed call on this thread ("" after a success). Never NULL. */
const char *lsm_vec_last_error_message(void);

/* Library version, e.g. "0.1.0". Static string. */
const char *lsm_vec_version(void);

/* ---- Options --------------------------------------------------------------------------------- */

typedef enum lsm_vec_metric {
    LSM_VEC_METRIC_L2 = 0,            /* Euclidean distance (not squared) */
    LSM_VEC_METRIC_COSINE = 1,        /* 1 - cosine similarity */
    LSM_VEC_METRIC_INNER_PRODUCT = 2  /* -dot(a, b) */
} lsm_vec_metric_t;

typedef enum lsm_vec_storage_type {
    LSM_VEC_STORAGE_BASIC = 0,  /* flat file, slot i at a fixed offset */
    LSM_VEC_STORAGE_PAGED = 1   /* 4 KiB pages + page cache (default) */
} lsm_vec_storage_type_t;

typedef enum lsm_vec_quantization {
    LSM_VEC_QUANTIZATION_NONE = 0, /* no codes: searches score the full vectors */
    LSM_VEC_QUANTIZATION_SQ8 = 1,  /* one byte per dimension in memory, exact re-rank (default) */
    LSM_VEC_QUANTIZATION_SQ4 = 2   /* half a byte per dimension in memory, exact re-rank */
} lsm_vec_quantization_t;

typedef enum lsm_vec_routing {
    LSM_VEC_ROUTING_EXACT = 0,        /* score every unvisited neighbour (default) */
    LSM_VEC_ROUTING_PROBABILISTIC = 1 /* with codes: a SimHash test skips neighbours that, with
                                       * probability >= 1 - routing_epsilon, cannot enter the
                                       * result pool (20 bytes per vector) */
} lsm_vec_routing_t;

/* Options of lsm_vec_open. Always start from lsm_vec_options_init(). Signed fields are signed so
 * that negative values are rejected (LSM_VEC_INVALID_ARGUMENT), never wrapped. */
typedef struct lsm_vec_options {
    int64_t dim;                   /* required, > 0 (default 0) */
    int32_t metric;                /* lsm_vec_metric_t (default LSM_VEC_METRIC_L2) */
    int64_t m;                     /* HNSW links per inserted node (default 8) */
    int64_t m_max;                 /* HNSW max links on upper layers, >= m (default 16) */
    float ef_construction;         /* construction candidate pool (default 32.0) */
    size_t vec_file_capacity;      /* initial capacity hint in vectors (default 100000) */
    size_t paged_max_cached_pages; /* vector page cache, 4 KiB pages (default 4096) */
    int32_t vector_storage_type;   /* lsm_vec_storage_type_t (default LSM_VEC_STORAGE_PAGED) */
    uint64_t db_target_size;       /* LSM size hint in bytes (default 100 GiB) */
    int64_t random_seed;           /* HNSW level RNG seed, >= 0 (default 12345) */
    bool enable_stats;             /* latency histograms (default false) */
    bool enable_batch_read;        /* group vector reads by page during search (default true) */
    bool reinit;                   /* wipe existing data on open (default false) */
    const char *vector_file_path;  /* NULL or "" = vectors.bin in the database dir (default "") */
    const char *log_file_path;     /* NULL or "" = no log file (default "") */
    int64_t k;                     /* k of lsm_vec_search_knn_default (default 1) */
    int64_t ef_search;             /* ef_search of lsm_vec_search_knn_default (default 64) */
    size_t edge_cache_size;        /* decoded adjacency cache, in lists; 0 = off (default 1048576) */
    uint64_t lsm_cache_bytes;      /* LSM block cache in bytes (default 8 MiB) */
    bool sync_writes;              /* fsync on every write (default false) */
    int32_t quantization;          /* lsm_vec_quantization_t (default LSM_VEC_QUANTIZATION_SQ8) */
    int64_t rerank;                /* with codes: candidates re-scored exactly, >= k; 0 = automatic (default 0) */
    uint64_t memory_budget_bytes;  /* codes + adjacency table + caches; 0 = no budget (default 0). Too
                                    * small for the codes: LSM_VEC_INVALID_ARGUMENT at open */
    int32_t routing;               /* lsm_vec_routing_t (default LSM_VEC_ROUTING_EXACT) */
    float routing_epsilon;         /* probabilistic routing: wrong-skip bound, in (0, 1) (default 0.1) */
} lsm_vec_options_t;

/* Fills *opts with the defaults above. */
lsm_vec_status_t lsm_vec_options_init(lsm_vec_options_t *opts);

typedef struct lsm_vec_search_options {
    int64_t k;         /* neighbours to return, >= 1 (default 1) */
    int64_t ef_search; /* candidate pool, >= k (default 64) */
} lsm_vec_search_options_t;

/* Fills *opts with k = 1, ef_search = 64. */
lsm_vec_status_t lsm_vec_search_options_init(lsm_vec_search_options_t *opts);

typedef struct lsm_vec_search_result {
    uint64_t id;    /* the caller's id */
    float distance; /* under the database's metric */
} lsm_vec_search_result_t;

/* ---- Lifecycle ------------------------------------------------------------------------------- */

/* An open database. Opaque. */
typedef struct lsm_vec_db lsm_vec_db_t;

/* Creates or opens the database in directory `path` (created if missing). On success *db is a
 * new handle; on failure *db = NULL. LSM_VEC_BUSY if the directory is open elsewhere;
 * LSM_VEC_INVALID_ARGUMENT for bad options or a reopen with a different dim or metric (the
 * stored m, m_max and storage type replace the ones passed); LSM_VEC_CORRUPTION for a damaged
 * database or a vector file that belongs to another one. */
lsm_vec_status_t lsm_vec_open(const char *path, const lsm_vec_options_t *opts, lsm_vec_db_t **db);

/* Opens an existing database with its stored parameters and default tuning knobs. */
lsm_vec_status_t lsm_vec_open_existing(const char *path, lsm_vec_db_t **db);

/* Flushes and closes. The handle stays allocated until lsm_vec_free; other calls on it then
 * return LSM_VEC_SHUTDOWN_IN_PROGRESS; closing twice is LSM_VEC_OK. */
lsm_vec_status_t lsm_vec_close(lsm_vec_db_t *db);

/* Closes (if open; errors ignored, call lsm_vec_close first to see them) and frees the handle.
 * NULL is a no-op. */
void lsm_vec_free(lsm_vec_db_t *db);

/* *closed = whether lsm_vec_close has been called. */
lsm_vec_status_t lsm_vec_is_closed(const lsm_vec_db_t *db, bool *closed);

/* Persists the journal and the vector file (fsync). */
lsm_vec_status_t lsm_vec_flush(const lsm_vec_db_t *db);

/* Repairs now every deleted node whose repair is pending (repair_backlog of the stats), which a
 * background thread otherwise does shortly after the deletes. */
lsm_vec_status_t lsm_vec_finish_repairs(const lsm_vec_db_t *db);

/* ---- Writes ---------------------------------------------------------------------------------- */

/* Inserts vector `id` (`len` floats, must equal the dimension). An id that is already live is
 * LSM_VEC_INVALID_ARGUMENT (never a silent overwrite). */
lsm_vec_status_t lsm_vec_insert(const lsm_vec_db_t *db, uint64_t id, const float *vector, size_t len);

/* Inserts n vectors: ids[n] and row-major vectors[n * dim]; `dim` must equal the database
 * dimension. The insertion is planned on `threads` threads (0 = one per core). The batch is
 * validated first, so a bad batch writes nothing; it is then committed in groups of 256 vectors,
 * in order, each group atomically. If a group after the first fails, the groups before it stay
 * committed: the status is that of the cause and lsm_vec_last_error_message() says "the first N
 * of the M vectors are committed, the others are not". */
lsm_vec_status_t lsm_vec_insert_batch(const lsm_vec_db_t *db, const uint64_t *ids, size_t n,
                                      const float *vectors, size_t dim, size_t threads);

/* Replaces the vector of a live id. LSM_VEC_NOT_FOUND if it is not live. */
lsm_vec_status_t lsm_vec_update(const lsm_vec_db_t *db, uint64_t id, const float *vector, size_t len);

/* Deletes a vector. LSM_VEC_NOT_FOUND if it is not live. */
lsm_vec_status_t lsm_vec_delete(const lsm_vec_db_t *db, uint64_t id);

/* ---- Reads ----------------------------------------------------------------------------------- */

/* Copies the vector of `id` to out[0 .. *len) (capacity `cap` floats; *len = dimension).
 * LSM_VEC_NOT_FOUND if not live; LSM_VEC_INVALID_ARGUMENT with *len = needed length if
 * cap < dimension. */
lsm_vec_status_t lsm_vec_get(const lsm_vec_db_t *db, uint64_t id, float *out, size_t cap, size_t *len);

/* *found = whether `id` is live. */
lsm_vec_status_t lsm_vec_contains(const lsm_vec_db_t *db, uint64_t id, bool *found);

/* *count = number of live vectors. */
lsm_vec_status_t lsm_vec_count(const lsm_vec_db_t *db, uint64_t *count);

/* *dim = the database's dimension. */
lsm_vec_status_t lsm_vec_dim(const lsm_vec_db_t *db, size_t *dim);

/* *opts = the k / ef_search the database was opened with (used by lsm_vec_search_knn_default). */
lsm_vec_status_t lsm_vec_default_search_options(const lsm_vec_db_t *db, lsm_vec_search_options_t *opts);

/* The opts->k nearest live vectors to query[len], by ascending distance, in results[0 .. *n).
 * `cap` must be >= opts->k; *n < k when the database holds fewer live vectors (0 when empty). */
lsm_vec_status_t lsm_vec_search_knn(const lsm_vec_db_t *db, const float *query, size_t len,
                                    const lsm_vec_search_options_t *opts,
                                    lsm_vec_search_result_t *results, size_t cap, size_t *n);

/* lsm_vec_search_knn with the k / ef_search of the options given to lsm_vec_open. */
lsm_vec_status_t lsm_vec_search_knn_default(const lsm_vec_db_t *db, const float *query, size_t len,
                                            lsm_vec_search_result_t *results, size_t cap, size_t *n);

/* Searches n_queries queries (row-major queries[n_queries * dim], dim = database dimension) on
 * `threads` threads (0 = one per core). The hits of query i are results[i * k .. i * k + counts[i])
 * with k = opts->k, so `cap` must be >= n_queries * k and counts must hold n_queries entries. */
lsm_vec_status_t lsm_vec_search_knn_batch(const lsm_vec_db_t *db, const float *queries, size_t n_queries,
                                          size_t dim, const lsm_vec_search_options_t *opts, size_t threads,
                                          lsm_vec_search_result_t *results, size_t cap, size_t *counts);

/* ---- Statistics ------------------------------------------------------------------------------ */

typedef struct lsm_vec_latency {
    uint64_t count; /* operations recorded */
    double p50_us;
    double p95_us;
    double p99_us;
    double max_us;
} lsm_vec_latency_t;

typedef struct lsm_vec_stats {
    uint64_t count;               /* live vectors */
    uint64_t dim;
    int32_t metric;               /* lsm_vec_metric_t */
    int32_t vector_storage_type;  /* lsm_vec_storage_type_t */
    uint64_t m;
    uint64_t m_max;
    uint64_t max_level;           /* highest HNSW level */
    uint64_t upper_layer_nodes;   /* nodes on level >= 1 (in memory) */
    uint64_t vector_file_bytes;
    uint64_t lsm_disk_bytes;
    uint64_t searches;            /* operations since open */
    uint64_t inserts;
    uint64_t updates;
    uint64_t deletes;
    uint64_t vector_pages_read;   /* 4 KiB pages read (= page cache misses) */
    uint64_t page_cache_hits;
    uint64_t page_cache_misses;
    uint64_t page_cache_pages;    /* pages held */
    uint64_t lsm_gets;            /* adjacency lists read from the LSM */
    uint64_t edge_cache_hits;     /* adjacency lists served from the decoded cache */
    uint64_t edge_cache_entries;  /* lists held */
    uint64_t distance_computations;
    uint64_t nodes_visited;
    uint64_t nodes_expanded;
    lsm_vec_latency_t search_latency; /* latencies: only with enable_stats */
    lsm_vec_latency_t insert_latency;
    lsm_vec_latency_t update_latency;
    lsm_vec_latency_t delete_latency;
    /* Added after the latencies (the fields above keep their offsets). Memory in bytes. */
    uint64_t ghost_nodes;         /* deleted nodes still kept for routing */
    uint64_t twin_nodes;          /* exact duplicates stored as twins of a graph node */
    uint64_t code_bytes;          /* compressed codes (0 without codes) */
    uint64_t adjacency_bytes;     /* dense layer-0 adjacency table */
    uint64_t adjacency_lists;     /* lists held by that table */
    uint64_t page_cache_bytes;    /* vector page cache */
    uint64_t edge_cache_bytes;    /* decoded adjacency (edge) cache, estimated */
    uint64_t bookkeeping_bytes;   /* id map, node table, slots, in-degrees, upper layers, estimated */
    uint64_t memory_bytes;        /* sum of the five memory parts above */
    uint64_t memory_budget_bytes; /* the option (0 = no budget) */
    uint64_t repair_backlog;      /* deleted nodes whose repair is pending (not results any more) */
    uint64_t repairs;             /* deleted nodes repaired since open */
    uint64_t routing_skips;       /* neighbours probabilistic routing skipped (0 with exact routing) */
} lsm_vec_stats_t;

/* Fills *stats with a snapshot. */
lsm_vec_status_t lsm_vec_get_stats(const lsm_vec_db_t *db, lsm_vec_stats_t *stats);

/* Prints the statistics to stdout (Rust's stdout, flushed before returning; call fflush(stdout)
 * first if you also print with stdio). */
lsm_vec_status_t lsm_vec_print_statistics(const lsm_vec_db_t *db);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LSM_VEC_H */
