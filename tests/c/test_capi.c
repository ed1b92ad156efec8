/*
 * test_capi.c -- every function of include/lsm_vec.h and every status code a caller can reach.
 *
 * Usage: test_capi <scratch-dir>   (the directory must exist; databases are created inside it)
 * Prints one line per failed check and a summary; exits 1 if any check failed.
 */
#include "lsm_vec.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        g_checks++;                                                                   \
        if (!(cond)) {                                                                \
            g_failures++;                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_RC(call, expected)                                                                    \
    do {                                                                                            \
        int rc_ = (call);                                                                           \
        g_checks++;                                                                                 \
        if (rc_ != (expected)) {                                                                    \
            g_failures++;                                                                           \
            fprintf(stderr, "%s:%d: %s returned %d (%s: %s), expected %d (%s)\n", __FILE__, __LINE__, \
                    #call, rc_, lsm_vec_status_name(rc_), lsm_vec_last_error_message(), (int)(expected), \
                    lsm_vec_status_name(expected));                                                 \
        }                                                                                           \
    } while (0)

#define DIM 8

static char g_base[4096];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", g_base, name);
}

/* Deterministic pseudo-random vector for an id. */
static void make_vec(uint64_t id, float *v, size_t dim) {
    uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < dim; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (float)(x % 10000) / 1000.0f - 5.0f;
    }
}

static lsm_vec_options_t base_options(void) {
    lsm_vec_options_t o;
    lsm_vec_options_init(&o);
    o.dim = DIM;
    return o;
}

static void test_library_functions(void) {
    CHECK(lsm_vec_version() != NULL && strlen(lsm_vec_version()) > 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_OK), "OK") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_NOT_FOUND), "NotFound") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_CORRUPTION), "Corruption") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_NOT_SUPPORTED), "Not implemented") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_INVALID_ARGUMENT), "Invalid argument") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_IO_ERROR), "IO error") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_SHUTDOWN_IN_PROGRESS), "Shutdown in progress") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_BUSY), "Resource busy") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_PANIC), "Panic") == 0);
    CHECK(strcmp(lsm_vec_status_name(LSM_VEC_UNKNOWN), "Unknown") == 0);
    CHECK(strcmp(lsm_vec_status_name(-7), "Unknown") == 0);
    /* RocksDB's numbers. */
    CHECK(LSM_VEC_OK == 0 && LSM_VEC_NOT_FOUND == 1 && LSM_VEC_CORRUPTION == 2 && LSM_VEC_NOT_SUPPORTED == 3 &&
          LSM_VEC_INVALID_ARGUMENT == 4 && LSM_VEC_IO_ERROR == 5 && LSM_VEC_SHUTDOWN_IN_PROGRESS == 8 &&
          LSM_VEC_CLOSED == 8 && LSM_VEC_BUSY == 11);
    CHECK(lsm_vec_last_error_message() != NULL);
}

static void test_options(void) {
    /* The layouts the Rust side pins in types.rs (64-bit targets). */
    if (sizeof(void *) == 8) {
        CHECK(sizeof(lsm_vec_options_t) == 168);
        CHECK(sizeof(lsm_vec_search_options_t) == 16);
        CHECK(sizeof(lsm_vec_search_result_t) == 16);
        CHECK(sizeof(lsm_vec_latency_t) == 40);
        CHECK(sizeof(lsm_vec_stats_t) == 448);
        /* The offsets types.rs pins (field_offsets_are_pinned). */
        CHECK(offsetof(lsm_vec_options_t, sync_writes) == 136);
        CHECK(offsetof(lsm_vec_options_t, quantization) == 140);
        CHECK(offsetof(lsm_vec_options_t, rerank) == 144);
        CHECK(offsetof(lsm_vec_options_t, memory_budget_bytes) == 152);
        CHECK(offsetof(lsm_vec_options_t, routing) == 160);
        CHECK(offsetof(lsm_vec_options_t, routing_epsilon) == 164);
        CHECK(offsetof(lsm_vec_stats_t, search_latency) == 184);
        CHECK(offsetof(lsm_vec_stats_t, delete_latency) == 304);
        CHECK(offsetof(lsm_vec_stats_t, ghost_nodes) == 344);
        CHECK(offsetof(lsm_vec_stats_t, memory_budget_bytes) == 416);
        CHECK(offsetof(lsm_vec_stats_t, repairs) == 432);
        CHECK(offsetof(lsm_vec_stats_t, routing_skips) == 440);
    }
    CHECK(LSM_VEC_QUANTIZATION_NONE == 0 && LSM_VEC_QUANTIZATION_SQ8 == 1 && LSM_VEC_QUANTIZATION_SQ4 == 2);
    CHECK(LSM_VEC_ROUTING_EXACT == 0 && LSM_VEC_ROUTING_PROBABILISTIC == 1);
    lsm_vec_options_t o;
    memset(&o, 0xAB, sizeof o);
    CHECK_RC(lsm_vec_options_init(&o), LSM_VEC_OK);
    CHECK(strcmp(lsm_vec_last_error_message(), "") == 0);
    CHECK(o.dim == 0);
    CHECK(o.metric == LSM_VEC_METRIC_L2);
    CHECK(o.m == 8);
    CHECK(o.m_max == 16);
    CHECK(o.ef_construction == 32.0f);
    CHECK(o.vec_file_capacity == 100000);
    CHECK(o.paged_max_cached_pages == 4096);
    CHECK(o.vector_storage_type == LSM_VEC_STORAGE_PAGED);
    CHECK(o.db_target_size == 100ull * 1024 * 1024 * 1024);
    CHECK(o.random_seed == 12345);
    CHECK(o.enable_stats == false);
    CHECK(o.enable_batch_read == true);
    CHECK(o.reinit == false);
    CHECK(o.vector_file_path != NULL && strcmp(o.vector_file_path, "") == 0);
    CHECK(o.log_file_path != NULL && strcmp(o.log_file_path, "") == 0);
    CHECK(o.k == 1);
    CHECK(o.ef_search == 64);
    CHECK(o.edge_cache_size == 1048576);
    CHECK(o.lsm_cache_bytes == 8u * 1024 * 1024);
    CHECK(o.sync_writes == false);
    CHECK(o.quantization == LSM_VEC_QUANTIZATION_SQ8);
    CHECK(o.rerank == 0);
    CHECK(o.memory_budget_bytes == 0);
    CHECK(o.routing == LSM_VEC_ROUTING_EXACT);
    CHECK(o.routing_epsilon == 0.1f);

    lsm_vec_search_options_t so;
    memset(&so, 0xAB, sizeof so);
    CHECK_RC(lsm_vec_search_options_init(&so), LSM_VEC_OK);
    CHECK(so.k == 1 && so.ef_search == 64);

    CHECK_RC(lsm_vec_options_init(NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK(strstr(lsm_vec_last_error_message(), "NULL") != NULL);
    CHECK_RC(lsm_vec_search_options_init(NULL), LSM_VEC_INVALID_ARGUMENT);
}

/* Opens `name` with `o` and expects `expected`; the handle must be NULL on failure. */
static void expect_open_fails(const char *name, const lsm_vec_options_t *o, int expected, const char *what) {
    char p[4200];
    path_in(p, sizeof p, name);
    lsm_vec_db_t *db = (lsm_vec_db_t *)&g_checks; /* garbage: must be overwritten with NULL */
    int rc = lsm_vec_open(p, o, &db);
    g_checks++;
    if (rc != expected || db != NULL) {
        g_failures++;
        fprintf(stderr, "open with %s: rc %d (%s: %s), expected %d; handle %p\n", what, rc, lsm_vec_status_name(rc),
                lsm_vec_last_error_message(), expected, (void *)db);
    }
    if (rc == LSM_VEC_OK) lsm_vec_free(db);
}

static void test_bad_open_arguments(void) {
    char p[4200];
    path_in(p, sizeof p, "bad");
    lsm_vec_options_t o = base_options();
    lsm_vec_db_t *db = NULL;

    CHECK_RC(lsm_vec_open(NULL, &o, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK_RC(lsm_vec_open(p, NULL, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_open(p, &o, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_open("", &o, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_open_existing(NULL, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_open_existing(p, NULL), LSM_VEC_INVALID_ARGUMENT);
    /* "" is not the current directory, for either open. */
    db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open_existing("", &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK(strstr(lsm_vec_last_error_message(), "empty") != NULL);
    db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open("", &o, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK(strstr(lsm_vec_last_error_message(), "empty") != NULL);
    /* No database there: an error (the engine reports it as INVALID_ARGUMENT), handle NULL. */
    char missing[4200];
    path_in(missing, sizeof missing, "no-such-db");
    db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open_existing(missing, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK(db == NULL);

    o = base_options(); o.dim = 0;                 expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "dim 0");
    o = base_options(); o.dim = -1;                expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "dim -1");
    o = base_options(); o.m = -8;                  expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "m -8");
    o = base_options(); o.m_max = 4;               expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "m_max < m");
    o = base_options(); o.metric = 7;              expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "metric 7");
    o = base_options(); o.vector_storage_type = 2; expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "storage 2");
    o = base_options(); o.vector_storage_type = -1; expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "storage -1");
    o = base_options(); o.ef_construction = NAN;   expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "ef_construction NaN");
    o = base_options(); o.k = 0;                   expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "k 0");
    o = base_options(); o.k = -3;                  expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "k -3");
    o = base_options(); o.k = 10; o.ef_search = 5; expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "ef_search < k");
    o = base_options(); o.random_seed = -1;        expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "random_seed -1");
    o = base_options(); o.paged_max_cached_pages = 0; expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "cache 0");
    o = base_options(); o.db_target_size = 0;      expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "target 0");
    o = base_options(); o.quantization = 3;        expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "quantization 3");
    CHECK(strstr(lsm_vec_last_error_message(), "quantization") != NULL);
    o = base_options(); o.quantization = -1;       expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "quantization -1");
    o = base_options(); o.rerank = -1;             expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "rerank -1");
    CHECK(strstr(lsm_vec_last_error_message(), "rerank") != NULL);
    o = base_options(); o.routing = 2;             expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "routing 2");
    CHECK(strstr(lsm_vec_last_error_message(), "routing") != NULL);
    o = base_options(); o.routing = -1;            expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "routing -1");
    o = base_options(); o.routing_epsilon = 0.0f;  expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "routing_epsilon 0");
    CHECK(strstr(lsm_vec_last_error_message(), "routing_epsilon") != NULL);
    o = base_options(); o.routing_epsilon = 1.0f;  expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "routing_epsilon 1");
    o = base_options(); o.routing_epsilon = NAN;   expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "routing_epsilon NaN");
    o = base_options(); o.memory_budget_bytes = 1000;
    expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "memory_budget_bytes 1000");
    CHECK(strstr(lsm_vec_last_error_message(), "memory_budget_bytes") != NULL);
    o = base_options(); o.vector_file_path = "\xff\xfe.bin";
    expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "non-UTF-8 vector_file_path");
    o = base_options(); o.log_file_path = "\xc3\x28";
    expect_open_fails("bad", &o, LSM_VEC_INVALID_ARGUMENT, "non-UTF-8 log_file_path");
    o = base_options();
    expect_open_fails("bad\xff", &o, LSM_VEC_INVALID_ARGUMENT, "non-UTF-8 path");
    CHECK(strstr(lsm_vec_last_error_message(), "UTF-8") != NULL);
}

static void test_null_handle(void) {
    float v[DIM] = {0};
    lsm_vec_search_options_t so;
    lsm_vec_search_options_init(&so);
    lsm_vec_search_result_t r[4];
    size_t n = 0, counts[1];
    bool b;
    uint64_t u;
    uint64_t ids[1] = {1};
    lsm_vec_stats_t st;
    CHECK_RC(lsm_vec_close(NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK(strcmp(lsm_vec_last_error_message(), "db must not be NULL") == 0);
    CHECK_RC(lsm_vec_is_closed(NULL, &b), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_flush(NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_finish_repairs(NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert(NULL, 1, v, DIM), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert_batch(NULL, ids, 1, v, DIM, 0), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_update(NULL, 1, v, DIM), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_delete(NULL, 1), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_get(NULL, 1, v, DIM, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_contains(NULL, 1, &b), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_count(NULL, &u), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_dim(NULL, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_default_search_options(NULL, &so), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn(NULL, v, DIM, &so, r, 4, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_default(NULL, v, DIM, r, 4, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_batch(NULL, v, 1, DIM, &so, 1, r, 4, counts), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_get_stats(NULL, &st), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_print_statistics(NULL), LSM_VEC_INVALID_ARGUMENT);
    lsm_vec_free(NULL); /* no-op */
}

struct thread_arg {
    lsm_vec_db_t *db;
    int index;
    int ok;
};

/* Each thread searches and checks that a failure message is its own (thread-local). */
static void *search_thread(void *p) {
    struct thread_arg *a = (struct thread_arg *)p;
    float q[DIM];
    lsm_vec_search_options_t so = {5, 32};
    lsm_vec_search_result_t r[5];
    size_t n = 0;
    a->ok = 1;
    for (int i = 0; i < 50; i++) {
        make_vec((uint64_t)(i % 200 + 1), q, DIM);
        if (lsm_vec_search_knn(a->db, q, DIM, &so, r, 5, &n) != LSM_VEC_OK || n != 5) a->ok = 0;
        /* A thread-specific failure: wrong length len = DIM - 1 - index. */
        size_t bad = (size_t)(DIM - 1 - a->index);
        if (lsm_vec_insert(a->db, 999999, q, bad) != LSM_VEC_INVALID_ARGUMENT) a->ok = 0;
        char want[64];
        snprintf(want, sizeof want, "got %zu", bad);
        if (strstr(lsm_vec_last_error_message(), want) == NULL) a->ok = 0;
    }
    return NULL;
}

static void test_main_database(void) {
    char p[4200];
    path_in(p, sizeof p, "main");
    lsm_vec_options_t o = base_options();
    o.reinit = true;
    o.k = 3;
    o.enable_stats = true;
    lsm_vec_db_t *db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db == NULL) {
        fprintf(stderr, "cannot open the main database; skipping the rest\n");
        g_failures++;
        return;
    }
    CHECK(strcmp(lsm_vec_last_error_message(), "") == 0);
    size_t dim = 0;
    CHECK_RC(lsm_vec_dim(db, &dim), LSM_VEC_OK);
    CHECK(dim == DIM);
    uint64_t count = 99;
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == 0);

    float v[DIM], w[DIM], got[DIM];
    lsm_vec_search_options_t so = {5, 64};
    lsm_vec_search_result_t r[16];
    size_t n = 0;

    /* Empty database: search returns nothing. */
    make_vec(1, v, DIM);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, r, 16, &n), LSM_VEC_OK);
    CHECK(n == 0);

    for (uint64_t id = 1; id <= 200; id++) {
        make_vec(id, v, DIM);
        CHECK_RC(lsm_vec_insert(db, id, v, DIM), LSM_VEC_OK);
    }
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == 200);
    bool found = false;
    CHECK_RC(lsm_vec_contains(db, 17, &found), LSM_VEC_OK);
    CHECK(found);
    CHECK_RC(lsm_vec_contains(db, 5000, &found), LSM_VEC_OK);
    CHECK(!found);
    CHECK_RC(lsm_vec_contains(db, 17, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_count(db, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_dim(db, NULL), LSM_VEC_INVALID_ARGUMENT);

    /* Insert errors: nothing is written. */
    make_vec(500, v, DIM);
    CHECK_RC(lsm_vec_insert(db, 500, v, DIM - 1), LSM_VEC_INVALID_ARGUMENT);
    CHECK(strstr(lsm_vec_last_error_message(), "dimension") != NULL);
    CHECK_RC(lsm_vec_insert(db, 500, v, DIM + 1), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert(db, 500, NULL, DIM), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert(db, 500, NULL, 0), LSM_VEC_INVALID_ARGUMENT);
    w[0] = NAN;
    memcpy(w + 1, v + 1, sizeof(float) * (DIM - 1));
    CHECK_RC(lsm_vec_insert(db, 500, w, DIM), LSM_VEC_INVALID_ARGUMENT);
    w[0] = INFINITY;
    CHECK_RC(lsm_vec_insert(db, 500, w, DIM), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert(db, 17, v, DIM), LSM_VEC_INVALID_ARGUMENT); /* duplicate id */
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == 200);
    CHECK_RC(lsm_vec_contains(db, 500, &found), LSM_VEC_OK);
    CHECK(!found);

    /* Get. */
    size_t len = 0;
    make_vec(42, v, DIM);
    CHECK_RC(lsm_vec_get(db, 42, got, DIM, &len), LSM_VEC_OK);
    CHECK(len == DIM && memcmp(got, v, sizeof v) == 0);
    CHECK_RC(lsm_vec_get(db, 4242, got, DIM, &len), LSM_VEC_NOT_FOUND);
    CHECK(strstr(lsm_vec_last_error_message(), "4242") != NULL);
    len = 0;
    CHECK_RC(lsm_vec_get(db, 42, got, DIM - 1, &len), LSM_VEC_INVALID_ARGUMENT);
    CHECK(len == DIM);
    CHECK_RC(lsm_vec_get(db, 42, NULL, 0, &len), LSM_VEC_INVALID_ARGUMENT);
    CHECK(len == DIM);
    CHECK_RC(lsm_vec_get(db, 42, got, DIM, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_get(db, 42, NULL, DIM, &len), LSM_VEC_INVALID_ARGUMENT);

    /* Search. */
    make_vec(17, v, DIM);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, r, 16, &n), LSM_VEC_OK);
    CHECK(n == 5);
    CHECK(r[0].id == 17 && fabsf(r[0].distance) < 1e-3f);
    for (size_t i = 1; i < n; i++) CHECK(r[i - 1].distance <= r[i].distance);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, r, 4, &n), LSM_VEC_INVALID_ARGUMENT); /* cap < k */
    CHECK_RC(lsm_vec_search_knn(db, v, DIM - 1, &so, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn(db, NULL, DIM, &so, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, NULL, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, NULL, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, r, 16, NULL), LSM_VEC_INVALID_ARGUMENT);
    lsm_vec_search_options_t bad = {0, 64};
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &bad, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    bad.k = -1;
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &bad, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    bad.k = 10; bad.ef_search = 5;
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &bad, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);
    bad.k = 1; bad.ef_search = -5;
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &bad, r, 16, &n), LSM_VEC_INVALID_ARGUMENT);

    /* Defaults from the open options (k = 3, ef_search = 64). */
    lsm_vec_search_options_t dso = {0, 0};
    CHECK_RC(lsm_vec_default_search_options(db, &dso), LSM_VEC_OK);
    CHECK(dso.k == 3 && dso.ef_search == 64);
    CHECK_RC(lsm_vec_default_search_options(db, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_default(db, v, DIM, r, 16, &n), LSM_VEC_OK);
    CHECK(n == 3 && r[0].id == 17);
    CHECK_RC(lsm_vec_search_knn_default(db, v, DIM, r, 2, &n), LSM_VEC_INVALID_ARGUMENT);

    /* Batch insert. */
    uint64_t ids[50];
    float *vecs = malloc(sizeof(float) * 50 * DIM);
    for (int i = 0; i < 50; i++) {
        ids[i] = 1000 + (uint64_t)i;
        make_vec(ids[i], vecs + i * DIM, DIM);
    }
    CHECK_RC(lsm_vec_insert_batch(db, ids, 50, vecs, DIM - 1, 0), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert_batch(db, NULL, 50, vecs, DIM, 0), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert_batch(db, ids, 50, NULL, DIM, 0), LSM_VEC_INVALID_ARGUMENT);
    ids[49] = 1000; /* duplicate inside the batch: nothing written */
    CHECK_RC(lsm_vec_insert_batch(db, ids, 50, vecs, DIM, 0), LSM_VEC_INVALID_ARGUMENT);
    ids[49] = 17; /* already live: nothing written */
    CHECK_RC(lsm_vec_insert_batch(db, ids, 50, vecs, DIM, 0), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == 200);
    ids[49] = 1049;
    CHECK_RC(lsm_vec_insert_batch(db, ids, 50, vecs, DIM, 1), LSM_VEC_OK);
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == 250);
    CHECK_RC(lsm_vec_insert_batch(db, ids, 0, NULL, DIM, 0), LSM_VEC_OK); /* empty batch */

    /* Batch search: the 10 first batch vectors find themselves. */
    lsm_vec_search_options_t bso = {4, 32};
    lsm_vec_search_result_t br[40];
    size_t counts[10];
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, 10, DIM, &bso, 2, br, 40, counts), LSM_VEC_OK);
    for (int i = 0; i < 10; i++) {
        CHECK(counts[i] == 4);
        CHECK(br[i * 4].id == 1000 + (uint64_t)i);
    }
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, 10, DIM, &bso, 0, br, 39, counts), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, 10, DIM - 1, &bso, 0, br, 40, counts), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, 10, DIM, NULL, 0, br, 40, counts), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, 10, DIM, &bso, 0, br, 40, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, 0, DIM, &bso, 0, NULL, 0, NULL), LSM_VEC_OK);
    free(vecs);

    /* Update. */
    for (int i = 0; i < DIM; i++) w[i] = 100.0f + (float)i;
    CHECK_RC(lsm_vec_update(db, 17, w, DIM), LSM_VEC_OK);
    CHECK_RC(lsm_vec_get(db, 17, got, DIM, &len), LSM_VEC_OK);
    CHECK(memcmp(got, w, sizeof w) == 0);
    CHECK_RC(lsm_vec_search_knn(db, w, DIM, &so, r, 16, &n), LSM_VEC_OK);
    CHECK(n >= 1 && r[0].id == 17);
    CHECK_RC(lsm_vec_update(db, 4242, w, DIM), LSM_VEC_NOT_FOUND);
    CHECK_RC(lsm_vec_update(db, 17, w, DIM - 1), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_update(db, 17, NULL, DIM), LSM_VEC_INVALID_ARGUMENT);
    w[3] = NAN;
    CHECK_RC(lsm_vec_update(db, 17, w, DIM), LSM_VEC_INVALID_ARGUMENT);
    w[3] = 103.0f;

    /* Delete. */
    CHECK_RC(lsm_vec_delete(db, 17), LSM_VEC_OK);
    CHECK_RC(lsm_vec_contains(db, 17, &found), LSM_VEC_OK);
    CHECK(!found);
    CHECK_RC(lsm_vec_get(db, 17, got, DIM, &len), LSM_VEC_NOT_FOUND);
    CHECK_RC(lsm_vec_search_knn(db, w, DIM, &so, r, 16, &n), LSM_VEC_OK);
    for (size_t i = 0; i < n; i++) CHECK(r[i].id != 17);
    CHECK_RC(lsm_vec_delete(db, 17), LSM_VEC_NOT_FOUND);
    CHECK_RC(lsm_vec_update(db, 17, w, DIM), LSM_VEC_NOT_FOUND);
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == 249);
    /* The id can be inserted again after its delete. */
    CHECK_RC(lsm_vec_insert(db, 17, w, DIM), LSM_VEC_OK);
    CHECK_RC(lsm_vec_delete(db, 17), LSM_VEC_OK);

    /* Concurrent searches on one handle; error messages stay per thread. */
    pthread_t th[3];
    struct thread_arg ta[3];
    for (int i = 0; i < 3; i++) {
        ta[i].db = db;
        ta[i].index = i;
        ta[i].ok = 0;
        pthread_create(&th[i], NULL, search_thread, &ta[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(ta[i].ok);
    }

    /* Statistics. */
    lsm_vec_stats_t st;
    memset(&st, 0, sizeof st);
    CHECK_RC(lsm_vec_get_stats(db, &st), LSM_VEC_OK);
    CHECK(st.count == 249);
    CHECK(st.dim == DIM);
    CHECK(st.metric == LSM_VEC_METRIC_L2);
    CHECK(st.vector_storage_type == LSM_VEC_STORAGE_PAGED);
    CHECK(st.m == 8 && st.m_max == 16);
    CHECK(st.inserts >= 250);
    CHECK(st.searches > 0);
    CHECK(st.deletes >= 2);
    CHECK(st.updates >= 1);
    CHECK(st.distance_computations > 0);
    CHECK(st.search_latency.count > 0); /* enable_stats = true */
    CHECK(st.search_latency.p50_us <= st.search_latency.p99_us);
    CHECK_RC(lsm_vec_get_stats(db, NULL), LSM_VEC_INVALID_ARGUMENT);
    fflush(stdout);
    CHECK_RC(lsm_vec_print_statistics(db), LSM_VEC_OK);

    CHECK_RC(lsm_vec_flush(db), LSM_VEC_OK);
    /* Deletes above left repairs to the background thread: finish them now. */
    CHECK_RC(lsm_vec_finish_repairs(db), LSM_VEC_OK);
    CHECK_RC(lsm_vec_get_stats(db, &st), LSM_VEC_OK);
    CHECK(st.repair_backlog == 0);

    /* A second open of the same directory is BUSY. */
    lsm_vec_db_t *db2 = (lsm_vec_db_t *)&g_checks;
    lsm_vec_options_t o2 = base_options();
    CHECK_RC(lsm_vec_open(p, &o2, &db2), LSM_VEC_BUSY);
    CHECK(db2 == NULL);
    CHECK_RC(lsm_vec_open_existing(p, &db2), LSM_VEC_BUSY);

    /* Closed handle. */
    bool closed = true;
    CHECK_RC(lsm_vec_is_closed(db, &closed), LSM_VEC_OK);
    CHECK(!closed);
    CHECK_RC(lsm_vec_is_closed(db, NULL), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_close(db), LSM_VEC_OK);
    CHECK_RC(lsm_vec_is_closed(db, &closed), LSM_VEC_OK);
    CHECK(closed);
    CHECK_RC(lsm_vec_close(db), LSM_VEC_OK); /* closing twice is fine */
    make_vec(7, v, DIM);
    CHECK_RC(lsm_vec_insert(db, 7000, v, DIM), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_insert_batch(db, ids, 1, v, DIM, 0), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_update(db, 7, v, DIM), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_delete(db, 7), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_get(db, 7, got, DIM, &len), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_contains(db, 7, &found), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_dim(db, &dim), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, r, 16, &n), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_search_knn_default(db, v, DIM, r, 16, &n), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_search_knn_batch(db, v, 1, DIM, &so, 1, r, 16, counts), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_default_search_options(db, &dso), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_flush(db), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_get_stats(db, &st), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    CHECK_RC(lsm_vec_print_statistics(db), LSM_VEC_SHUTDOWN_IN_PROGRESS);
    lsm_vec_free(db);

    /* Reopen: the data persisted. */
    o2 = base_options();
    db = NULL;
    CHECK_RC(lsm_vec_open(p, &o2, &db), LSM_VEC_OK);
    if (db != NULL) {
        CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
        CHECK(count == 249);
        make_vec(42, v, DIM);
        CHECK_RC(lsm_vec_get(db, 42, got, DIM, &len), LSM_VEC_OK);
        CHECK(memcmp(got, v, sizeof v) == 0);
        CHECK_RC(lsm_vec_get(db, 1049, got, DIM, &len), LSM_VEC_OK);
        CHECK_RC(lsm_vec_get(db, 17, got, DIM, &len), LSM_VEC_NOT_FOUND);
        CHECK_RC(lsm_vec_default_search_options(db, &dso), LSM_VEC_OK);
        CHECK(dso.k == 1 && dso.ef_search == 64); /* tuning knobs come from this open's options */
        lsm_vec_free(db); /* free without close: must still reopen cleanly */
    }

    /* Reopen with another dim: INVALID_ARGUMENT naming both values. */
    o2 = base_options();
    o2.dim = DIM * 2;
    db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open(p, &o2, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK(strstr(lsm_vec_last_error_message(), "dim") != NULL);
    CHECK(strstr(lsm_vec_last_error_message(), "16") != NULL);
    o2 = base_options();
    o2.metric = LSM_VEC_METRIC_COSINE;
    CHECK_RC(lsm_vec_open(p, &o2, &db), LSM_VEC_INVALID_ARGUMENT);

    /* open_existing takes the stored parameters. */
    db = NULL;
    CHECK_RC(lsm_vec_open_existing(p, &db), LSM_VEC_OK);
    if (db != NULL) {
        CHECK_RC(lsm_vec_dim(db, &dim), LSM_VEC_OK);
        CHECK(dim == DIM);
        CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
        CHECK(count == 249);
        CHECK_RC(lsm_vec_close(db), LSM_VEC_OK);
        lsm_vec_free(db);
    }
}

static void test_cosine_zero_vector(void) {
    char p[4200];
    path_in(p, sizeof p, "cosine");
    lsm_vec_options_t o = base_options();
    o.metric = LSM_VEC_METRIC_COSINE;
    o.vector_storage_type = LSM_VEC_STORAGE_BASIC;
    lsm_vec_db_t *db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db == NULL) return;
    float zero[DIM] = {0};
    float v[DIM];
    make_vec(3, v, DIM);
    CHECK_RC(lsm_vec_insert(db, 1, zero, DIM), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_insert(db, 2, v, DIM), LSM_VEC_OK);
    lsm_vec_search_options_t so = {1, 8};
    lsm_vec_search_result_t r[1];
    size_t n = 0;
    CHECK_RC(lsm_vec_search_knn(db, v, DIM, &so, r, 1, &n), LSM_VEC_OK);
    CHECK(n == 1 && r[0].id == 2 && fabsf(r[0].distance) < 1e-4f);
    lsm_vec_free(db);
}

/* A 2-thread insert_batch of 600 vectors (three commit groups of up to 256): everything is
 * inserted, stored exactly, and each vector is its own nearest neighbour at distance 0; a second
 * 2-thread batch with one live id writes nothing. Small: this runs under valgrind. */
static void test_parallel_insert_batch(void) {
    enum { N = 600 };
    char p[4200];
    path_in(p, sizeof p, "parallel-batch");
    lsm_vec_options_t o = base_options();
    o.reinit = true;
    lsm_vec_db_t *db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db == NULL) return;
    uint64_t *ids = malloc(sizeof(uint64_t) * N);
    float *vecs = malloc(sizeof(float) * N * DIM);
    for (size_t i = 0; i < N; i++) {
        ids[i] = 5000 + 3 * (uint64_t)i;
        make_vec(ids[i], vecs + i * DIM, DIM);
    }
    CHECK_RC(lsm_vec_insert_batch(db, ids, N, vecs, DIM, 2), LSM_VEC_OK);
    uint64_t count = 0;
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == N);

    lsm_vec_search_options_t so = {1, 64};
    lsm_vec_search_result_t *r = malloc(sizeof(lsm_vec_search_result_t) * N);
    size_t *counts = malloc(sizeof(size_t) * N);
    CHECK_RC(lsm_vec_search_knn_batch(db, vecs, N, DIM, &so, 2, r, N, counts), LSM_VEC_OK);
    int self = 0;
    for (size_t i = 0; i < N; i++) {
        if (counts[i] == 1 && r[i].id == ids[i] && r[i].distance == 0.0f) self++;
    }
    CHECK(self == N);
    float got[DIM];
    size_t len = 0;
    CHECK_RC(lsm_vec_get(db, ids[N - 1], got, DIM, &len), LSM_VEC_OK);
    CHECK(len == DIM && memcmp(got, vecs + (N - 1) * DIM, sizeof got) == 0);

    /* The last id of a second batch is already live: validated first, nothing written. */
    uint64_t more[300];
    float *mv = malloc(sizeof(float) * 300 * DIM);
    for (size_t i = 0; i < 300; i++) {
        more[i] = 100000 + (uint64_t)i;
        make_vec(more[i], mv + i * DIM, DIM);
    }
    more[299] = ids[0];
    CHECK_RC(lsm_vec_insert_batch(db, more, 300, mv, DIM, 2), LSM_VEC_INVALID_ARGUMENT);
    CHECK_RC(lsm_vec_count(db, &count), LSM_VEC_OK);
    CHECK(count == N);
    bool found = true;
    CHECK_RC(lsm_vec_contains(db, more[0], &found), LSM_VEC_OK);
    CHECK(!found);

    free(mv);
    free(counts);
    free(r);
    free(vecs);
    free(ids);
    CHECK_RC(lsm_vec_close(db), LSM_VEC_OK);
    lsm_vec_free(db);
}

/* Sum of the parts of the memory that memory_budget_bytes bounds. */
static uint64_t budgeted_bytes(const lsm_vec_stats_t *st) {
    return st->code_bytes + st->adjacency_bytes + st->page_cache_bytes + st->edge_cache_bytes;
}

/* Opens `name` (reinit) with `o`, inserts ids 1..n (make_vec), checks that a few stored vectors
 * find themselves at distance 0, and returns the stats (zeroed on failure). */
static lsm_vec_stats_t fill_and_stat(const char *name, lsm_vec_options_t o, uint64_t n) {
    char p[4200];
    path_in(p, sizeof p, name);
    o.reinit = true;
    lsm_vec_stats_t st;
    memset(&st, 0, sizeof st);
    lsm_vec_db_t *db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db == NULL) return st;
    float *vecs = malloc(sizeof(float) * (size_t)n * DIM);
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)n);
    for (uint64_t i = 0; i < n; i++) {
        ids[i] = i + 1;
        make_vec(i + 1, vecs + i * DIM, DIM);
    }
    CHECK_RC(lsm_vec_insert_batch(db, ids, (size_t)n, vecs, DIM, 0), LSM_VEC_OK);
    lsm_vec_search_options_t so = {10, 64};
    lsm_vec_search_result_t r[10];
    size_t got = 0;
    int exact = 0;
    for (uint64_t i = 0; i < n; i += n / 20) {
        if (lsm_vec_search_knn(db, vecs + i * DIM, DIM, &so, r, 10, &got) == LSM_VEC_OK && got == 10 &&
            r[0].id == i + 1 && r[0].distance == 0.0f)
            exact++;
    }
    CHECK(exact == 20); /* exact re-rank: each stored vector is its own nearest, at distance 0 */
    free(vecs);
    free(ids);
    CHECK_RC(lsm_vec_get_stats(db, &st), LSM_VEC_OK);
    CHECK_RC(lsm_vec_close(db), LSM_VEC_OK);
    lsm_vec_free(db);
    return st;
}

static void test_quantization_and_memory(void) {
    /* SQ8 (the default): the quantizer trains at 1000 vectors, so 1100 have codes. */
    lsm_vec_options_t o = base_options();
    lsm_vec_stats_t st = fill_and_stat("quant-sq8", o, 1100);
    CHECK(st.count == 1100);
    CHECK(st.code_bytes > 0);
    CHECK(st.adjacency_lists > 0 && st.adjacency_bytes > 0);
    CHECK(st.bookkeeping_bytes > 0);
    CHECK(st.memory_bytes == budgeted_bytes(&st) + st.bookkeeping_bytes);
    CHECK(st.memory_budget_bytes == 0);
    CHECK(st.twin_nodes == 0 && st.ghost_nodes == 0);
    CHECK(st.routing_skips == 0); /* exact routing (the default) skips nothing */

    /* Probabilistic routing skips neighbours; the re-rank keeps the returned distances exact. */
    o = base_options();
    o.routing = LSM_VEC_ROUTING_PROBABILISTIC;
    o.routing_epsilon = 0.2f;
    st = fill_and_stat("routing-probabilistic", o, 1100);
    CHECK(st.count == 1100);
    CHECK(st.routing_skips > 0);

    /* No codes at all with LSM_VEC_QUANTIZATION_NONE. */
    o = base_options();
    o.quantization = LSM_VEC_QUANTIZATION_NONE;
    st = fill_and_stat("quant-none", o, 1100);
    CHECK(st.count == 1100);
    CHECK(st.code_bytes == 0);
    CHECK(st.memory_bytes == budgeted_bytes(&st) + st.bookkeeping_bytes);

    /* An explicit rerank is accepted and searches stay exact. */
    o = base_options();
    o.rerank = 40;
    st = fill_and_stat("quant-rerank", o, 300);
    CHECK(st.count == 300);

    /* A generous budget: reported, and the budgeted parts stay within it. */
    o = base_options();
    o.memory_budget_bytes = 64u << 20;
    st = fill_and_stat("budget", o, 300);
    CHECK(st.count == 300);
    CHECK(st.memory_budget_bytes == 64u << 20);
    CHECK(budgeted_bytes(&st) <= st.memory_budget_bytes);

    /* A budget too small for anything: INVALID_ARGUMENT, and nothing is left behind that a later
     * open (another dimension, no budget) would trip over. */
    char p[4200];
    path_in(p, sizeof p, "tiny-budget");
    o = base_options();
    o.memory_budget_bytes = 1000;
    lsm_vec_db_t *db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK(strstr(lsm_vec_last_error_message(), "memory_budget_bytes") != NULL);
    db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open_existing(p, &db), LSM_VEC_INVALID_ARGUMENT); /* no database there */
    CHECK(db == NULL);
    o = base_options();
    o.dim = DIM * 2;
    db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db != NULL) {
        size_t dim = 0;
        CHECK_RC(lsm_vec_dim(db, &dim), LSM_VEC_OK);
        CHECK(dim == DIM * 2);
        lsm_vec_free(db);
    }

    /* twin_nodes: an exact duplicate under another id is a twin. */
    path_in(p, sizeof p, "twins");
    o = base_options();
    db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db != NULL) {
        float v[DIM];
        for (uint64_t id = 1; id <= 30; id++) {
            make_vec(id, v, DIM);
            CHECK_RC(lsm_vec_insert(db, id, v, DIM), LSM_VEC_OK);
        }
        make_vec(5, v, DIM);
        CHECK_RC(lsm_vec_insert(db, 105, v, DIM), LSM_VEC_OK);
        memset(&st, 0, sizeof st);
        CHECK_RC(lsm_vec_get_stats(db, &st), LSM_VEC_OK);
        CHECK(st.count == 31);
        CHECK(st.twin_nodes == 1);
        lsm_vec_free(db);
    }
}

static void test_io_error_and_corruption(void) {
    /* A database path below a regular file cannot be created: IO_ERROR. */
    char file[4200], p[4300];
    path_in(file, sizeof file, "plain-file");
    FILE *f = fopen(file, "w");
    if (f != NULL) {
        fputs("not a directory\n", f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/db", file);
    lsm_vec_options_t o = base_options();
    lsm_vec_db_t *db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_IO_ERROR);
    CHECK(db == NULL);

    /* A damaged vector file: CORRUPTION on reopen. */
    char vf[4200];
    path_in(p, sizeof p, "corrupt");
    path_in(vf, sizeof vf, "corrupt-vectors.bin");
    o = base_options();
    o.vector_file_path = vf;
    db = NULL;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_OK);
    if (db == NULL) return;
    float v[DIM];
    for (uint64_t id = 1; id <= 20; id++) {
        make_vec(id, v, DIM);
        CHECK_RC(lsm_vec_insert(db, id, v, DIM), LSM_VEC_OK);
    }
    CHECK_RC(lsm_vec_close(db), LSM_VEC_OK);
    lsm_vec_free(db);
    f = fopen(vf, "r+b");
    CHECK(f != NULL);
    if (f != NULL) {
        char junk[64];
        memset(junk, 0x5A, sizeof junk);
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
    }
    db = (lsm_vec_db_t *)&g_checks;
    CHECK_RC(lsm_vec_open(p, &o, &db), LSM_VEC_CORRUPTION);
    CHECK(db == NULL);
    if (db != NULL) lsm_vec_free(db);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch-dir>\n", argv[0]);
        return 2;
    }
    snprintf(g_base, sizeof g_base, "%s", argv[1]);
    test_library_functions();
    test_options();
    test_bad_open_arguments();
    test_null_handle();
    test_main_database();
    test_cosine_zero_vector();
    test_parallel_insert_batch();
    test_quantization_and_memory();
    test_io_error_and_corruption();
    printf("test_capi: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
