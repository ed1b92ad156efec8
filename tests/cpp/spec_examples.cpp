// The C++ examples of the specification (spec/seed-lsm-vec.md), as written there, each followed
// by checks of what the specification says they do. Each example runs in its own fresh working
// directory so that its relative paths ("./db", "./db/vectors.bin") work unchanged.
//
// Usage: spec_examples <scratch-dir>
#include "lsm_vec_db.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "check.h"

static std::string g_base;

// "C++ API: Open / Close"
static void example_open_close() {
  check::enter_fresh_dir(g_base, "open_close");
  using namespace lsm_vec;

  // ---- from the specification ----
  // Configure
  LSMVecDBOptions opts;
  opts.dim = 128;                              // required
  opts.vector_file_path = "./db/vectors.bin";  // required
  opts.reinit = true;                          // true = start fresh

  // Open
  std::unique_ptr<LSMVecDB> db;
  Status s = LSMVecDB::Open("./db", opts, &db);
  if (!s.ok()) { /* handle error */ CHECK_OK(s); return; }

  // ... use the database ...

  // Close
  db->Close();
  // ---- end ----

  CHECK_OK(s);
  CHECK(db != nullptr);
  std::vector<float> v(128, 1.0f);
  CHECK_STATUS(db->Insert(1, v), IsShutdownInProgress);  // unusable after Close
  CHECK_OK(db->Close());                                 // closing twice is fine
}

// "C++ API: Insert" and the search example after it, plus Get / Update / Delete.
static void example_insert_search() {
  check::enter_fresh_dir(g_base, "insert_search");
  using namespace lsm_vec;
  LSMVecDBOptions opts;
  opts.dim = 128;
  opts.vector_file_path = "./db/vectors.bin";
  opts.reinit = true;
  std::unique_ptr<LSMVecDB> db;
  CHECK_OK(LSMVecDB::Open("./db", opts, &db));
  if (!db) return;

  // A few other vectors so that the search has something to choose from.
  for (node_id_t id = 100; id < 130; ++id) {
    std::vector<float> other(128, 0.01f * static_cast<float>(id - 99) + 1.0f);
    CHECK_OK(db->Insert(id, other));
  }

  {
    // ---- from the specification ----
    std::vector<float> vec(128, 0.5f);
    db->Insert(42, Span<float>(vec));
    // ---- end ----
  }

  std::vector<SearchResult> results;
  {
    // ---- from the specification ----
    std::vector<float> query(128, 0.1f);

    SearchOptions search_opts;
    search_opts.k = 10;           // number of neighbors
    search_opts.ef_search = 128;  // candidate pool size (higher = better recall)

    std::vector<SearchResult> results;
    db->SearchKnn(Span<float>(query), search_opts, &results);

    for (const auto& r : results) {
        std::cout << "id=" << r.id << " dist=" << r.distance << "\n";
    }
    // ---- end ----
    ::check::record(results.size() == 10, __FILE__, __LINE__, "10 results");
    // The query (0.1 everywhere) is closest to the vector of 0.5s: id 42 first, at distance
    // sqrt(128 * 0.4^2).
    ::check::record(!results.empty() && results[0].id == 42, __FILE__, __LINE__, "id 42 first");
    if (!results.empty()) {
      ::check::record(std::fabs(results[0].distance - std::sqrt(128.0f * 0.16f)) < 1e-3f, __FILE__, __LINE__,
                      "L2 distance of id 42");
    }
    for (std::size_t i = 1; i < results.size(); ++i) {
      ::check::record(results[i - 1].distance <= results[i].distance, __FILE__, __LINE__, "ascending distances");
    }
  }

  // Get: the stored vector; vec is resized to opts.dim.
  std::vector<float> got;
  CHECK_OK(db->Get(42, &got));
  CHECK(got == std::vector<float>(128, 0.5f));
  // Get of an unknown id: NotFound.
  CHECK_STATUS(db->Get(4242, &got), IsNotFound);

  // Update: replaces the vector; NotFound for an unknown id.
  std::vector<float> moved(128, 3.0f);
  CHECK_OK(db->Update(42, moved));
  CHECK_OK(db->Get(42, &got));
  CHECK(got == moved);
  CHECK_STATUS(db->Update(4242, moved), IsNotFound);
  SearchOptions one;
  one.k = 1;
  CHECK_OK(db->SearchKnn(moved, one, &results));
  CHECK(results.size() == 1 && results[0].id == 42);

  // Dimension mismatch: InvalidArgument for Insert, Update and SearchKnn.
  std::vector<float> short_vec(64, 0.5f);
  CHECK_STATUS(db->Insert(7, short_vec), IsInvalidArgument);
  CHECK_STATUS(db->Update(42, short_vec), IsInvalidArgument);
  CHECK_STATUS(db->SearchKnn(short_vec, one, &results), IsInvalidArgument);
  Status s = db->Insert(7, short_vec);
  CHECK(s.ToString().find("Invalid argument") == 0);
  CHECK(s.ToString().find("128") != std::string::npos);

  // Delete: excluded from later searches; NotFound afterwards.
  CHECK_OK(db->Delete(42));
  CHECK_OK(db->SearchKnn(moved, one, &results));
  CHECK(results.size() == 1 && results[0].id != 42);
  CHECK_STATUS(db->Get(42, &got), IsNotFound);
  CHECK_STATUS(db->Delete(42), IsNotFound);
  CHECK_OK(db->Close());
}

// "C++ API: Configuration"
static void example_configuration() {
  check::enter_fresh_dir(g_base, "configuration");
  using namespace lsm_vec;

  // ---- from the specification ----
  LSMVecDBOptions opts;
  opts.dim = 128;
  opts.metric = DistanceMetric::kL2;
  // ... set other fields as needed ...
  // ---- end ----

  // The table's defaults.
  CHECK(opts.m == 8);
  CHECK(opts.m_max == 16);
  CHECK(opts.ef_construction == 32.0f);
  CHECK(opts.vec_file_capacity == 100000);
  CHECK(opts.paged_max_cached_pages == 4096);
  CHECK(opts.vector_storage_type == 1);
  CHECK(opts.db_target_size == 100ull * 1024 * 1024 * 1024);
  CHECK(opts.random_seed == 12345);
  CHECK(!opts.enable_stats);
  CHECK(opts.enable_batch_read);
  CHECK(!opts.reinit);
  CHECK(opts.vector_file_path.empty());
  CHECK(opts.log_file_path.empty());
  SearchOptions so;
  CHECK(so.k == 1 && so.ef_search == 64);

  opts.metric = DistanceMetric::kCosine;
  opts.enable_stats = true;
  std::unique_ptr<LSMVecDB> db;
  CHECK_OK(LSMVecDB::Open("./db", opts, &db));
  if (!db) return;
  std::vector<float> a(128, 1.0f), b(128, -1.0f);
  CHECK_OK(db->Insert(1, a));
  CHECK_OK(db->Insert(2, b));
  std::vector<SearchResult> results;
  SearchOptions two;
  two.k = 2;
  CHECK_OK(db->SearchKnn(a, two, &results));
  // Cosine: 1 - cos; identical direction 0, opposite 2.
  CHECK(results.size() == 2 && results[0].id == 1 && std::fabs(results[0].distance) < 1e-4f);
  CHECK(results.size() == 2 && results[1].id == 2 && std::fabs(results[1].distance - 2.0f) < 1e-4f);
  // "LSMVecDB::printStatistics ... Only meaningful when opts.enable_stats = true."
  db->printStatistics();
  CHECK_OK(db->Close());
}

// "C++ API: Types" (Span)
static void example_span() {
  check::enter_fresh_dir(g_base, "span");
  using namespace lsm_vec;
  LSMVecDBOptions opts;
  opts.dim = 128;
  std::unique_ptr<LSMVecDB> db;
  CHECK_OK(LSMVecDB::Open("./db", opts, &db));
  if (!db) return;

  // ---- from the specification ----
  std::vector<float> vec(128);
  db->Insert(0, vec);  // implicit Span<float>(vec)
  // ---- end ----

  std::vector<float> got;
  CHECK_OK(db->Get(0, &got));
  CHECK(got == vec);
  CHECK_STATUS(db->Insert(0, vec), IsInvalidArgument);  // duplicate id
  node_id_t big = 0xFFFFFFFFFFFFFFFFull;                  // ids are arbitrary u64 values
  CHECK_OK(db->Insert(big, vec));
  CHECK_OK(db->Get(big, &got));
}

// "Example: C++ Embedding"
static void example_embedding() {
  check::enter_fresh_dir(g_base, "embedding");

  // ---- from the specification ----
  lsm_vec::LSMVecDBOptions opts;
  opts.dim = 128;
  opts.vector_file_path = "./db/vectors.bin";

  std::unique_ptr<lsm_vec::LSMVecDB> db;
  auto s = lsm_vec::LSMVecDB::Open("./db", opts, &db);
  if (!s.ok()) { CHECK_OK(s); return; }  // (added by the test: the example assumes success)

  // Insert
  std::vector<float> vec(128, 0.1f);
  db->Insert(0, vec);

  // Search (uses k and ef_search from opts)
  std::vector<lsm_vec::SearchResult> results;
  db->SearchKnn(vec, &results);

  // Close
  db->Close();
  // ---- end ----

  CHECK_OK(s);
  CHECK(results.size() == 1);  // opts.k defaults to 1
  CHECK(!results.empty() && results[0].id == 0 && results[0].distance < 1e-4f);
  CHECK_STATUS(db->SearchKnn(vec, &results), IsShutdownInProgress);
  CHECK(results.empty());

  // The same with opts.k / opts.ef_search set (the NumPy example's reading of the options).
  lsm_vec::LSMVecDBOptions opts5 = opts;
  opts5.k = 5;
  opts5.ef_search = 100;
  db.reset();
  CHECK_OK(lsm_vec::LSMVecDB::Open("./db", opts5, &db));
  if (!db) return;
  for (lsm_vec::node_id_t id = 1; id <= 9; ++id) {
    std::vector<float> v(128, 0.1f + 0.01f * static_cast<float>(id));
    CHECK_OK(db->Insert(id, v));
  }
  CHECK_OK(db->SearchKnn(vec, &results));
  CHECK(results.size() == 5);
  CHECK(!results.empty() && results[0].id == 0);  // persisted from the first open
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <scratch-dir>\n";
    return 2;
  }
  g_base = argv[1];
  example_open_close();
  example_insert_search();
  example_configuration();
  example_span();
  example_embedding();
  return check::summary("spec_examples");
}
