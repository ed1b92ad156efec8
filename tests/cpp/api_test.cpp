// The C++ layer beyond the specification's examples: Status, Span, option conversion (negative
// ints), RAII and lifecycle, batch calls, statistics, and error statuses.
//
// Usage: api_test <scratch-dir>
#include "lsm_vec_db.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "check.h"

using namespace lsm_vec;

static std::string g_base;

static std::vector<float> make_vec(node_id_t id, int dim) {
  std::vector<float> v(static_cast<std::size_t>(dim));
  std::uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
  for (auto& f : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    f = static_cast<float>(x % 10000) / 1000.0f - 5.0f;
  }
  return v;
}

static void test_status() {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.ToString() == "OK");
  CHECK(Status::OK().ok());
  Status nf = Status::NotFound("id 5");
  CHECK(!nf.ok() && nf.IsNotFound() && !nf.IsInvalidArgument());
  CHECK(nf.ToString() == "NotFound: id 5");
  CHECK(Status::InvalidArgument("x").ToString() == "Invalid argument: x");
  CHECK(Status::IOError("x").ToString() == "IO error: x");
  CHECK(Status::Corruption("x").IsCorruption());
  CHECK(Status::Busy("x").IsBusy());
  CHECK(Status::NotSupported().IsNotSupported());
  CHECK(Status::ShutdownInProgress().IsClosed());
  CHECK(Status::InvalidArgument() == Status::InvalidArgument("other message"));
  CHECK(Status::InvalidArgument() != Status::NotFound());
  CHECK(Status::FromC(LSM_VEC_OK).ok());
  // The C++ enum has the C codes.
  CHECK(Status::kBusy == 11 && Status::kShutdownInProgress == 8 && Status::kInvalidArgument == 4);
}

static void test_span() {
  std::vector<float> v{1.0f, 2.0f, 3.0f};
  const std::vector<float>& cv = v;
  Span<float> a = v;
  Span<float> b(cv);
  std::array<float, 2> arr{4.0f, 5.0f};
  Span<float> c = arr;
  float raw[4] = {1, 2, 3, 4};
  Span<float> d = raw;
  Span<float> e(raw, 2);
  Span<float> empty;
  CHECK(a.size() == 3 && a.data() == v.data() && a[2] == 3.0f);
  CHECK(b.size() == 3 && b.data() == v.data());
  CHECK(c.size() == 2 && c[1] == 5.0f);
  CHECK(d.size() == 4 && e.size() == 2 && !e.empty());
  CHECK(empty.empty() && empty.data() == nullptr);
  float sum = 0;
  for (float f : a) sum += f;
  CHECK(sum == 6.0f);
}

// LSMVecDBOptions' defaults are those of the C library (lsm_vec_options_init).
static void test_option_defaults_match_the_library() {
  LSMVecDBOptions o;
  lsm_vec_options_t c;
  CHECK(lsm_vec_options_init(&c) == LSM_VEC_OK);
  CHECK(o.dim == c.dim);
  CHECK(static_cast<int>(o.metric) == c.metric);
  CHECK(o.m == c.m && o.m_max == c.m_max);
  CHECK(o.ef_construction == c.ef_construction);
  CHECK(o.vec_file_capacity == c.vec_file_capacity);
  CHECK(o.paged_max_cached_pages == c.paged_max_cached_pages);
  CHECK(o.vector_storage_type == c.vector_storage_type);
  CHECK(o.db_target_size == c.db_target_size);
  CHECK(o.random_seed == c.random_seed);
  CHECK(o.enable_stats == c.enable_stats && o.enable_batch_read == c.enable_batch_read && o.reinit == c.reinit);
  CHECK(o.k == c.k && o.ef_search == c.ef_search);
  CHECK(o.edge_cache_size == c.edge_cache_size);
  CHECK(o.lsm_cache_bytes == c.lsm_cache_bytes);
  CHECK(o.sync_writes == c.sync_writes);
  CHECK(static_cast<int>(o.quantization) == c.quantization);
  CHECK(o.quantization == Quantization::kSq8);
  CHECK(o.rerank == c.rerank && o.rerank == 0);
  CHECK(o.memory_budget_bytes == c.memory_budget_bytes && o.memory_budget_bytes == 0);
  CHECK(static_cast<int>(o.routing) == c.routing && o.routing == Routing::kExact);
  CHECK(o.routing_epsilon == c.routing_epsilon && o.routing_epsilon == 0.1f);
  SearchOptions so;
  lsm_vec_search_options_t cso;
  CHECK(lsm_vec_search_options_init(&cso) == LSM_VEC_OK);
  CHECK(so.k == cso.k && so.ef_search == cso.ef_search);
}

static void expect_invalid_open(const LSMVecDBOptions& o, const char* what) {
  std::unique_ptr<LSMVecDB> db;
  Status s = LSMVecDB::Open(g_base + "/invalid", o, &db);
  check::record(s.IsInvalidArgument() && db == nullptr, __FILE__, __LINE__,
                std::string("Open with ") + what + " -> " + s.ToString());
}

static void test_invalid_options() {
  LSMVecDBOptions base;
  base.dim = 16;
  LSMVecDBOptions o;
  o = base; o.dim = 0;                     expect_invalid_open(o, "dim 0");
  o = base; o.dim = -1;                    expect_invalid_open(o, "dim -1");
  o = base; o.dim = std::numeric_limits<int>::min(); expect_invalid_open(o, "dim INT_MIN");
  o = base; o.m = -1;                      expect_invalid_open(o, "m -1");
  o = base; o.m_max = -16;                 expect_invalid_open(o, "m_max -16");
  o = base; o.k = -1;                      expect_invalid_open(o, "k -1");
  o = base; o.ef_search = -64;             expect_invalid_open(o, "ef_search -64");
  o = base; o.random_seed = -1;            expect_invalid_open(o, "random_seed -1");
  o = base; o.vector_storage_type = -1;    expect_invalid_open(o, "vector_storage_type -1");
  o = base; o.vector_storage_type = 2;     expect_invalid_open(o, "vector_storage_type 2");
  o = base; o.metric = static_cast<DistanceMetric>(7); expect_invalid_open(o, "metric 7");
  o = base; o.ef_construction = std::nanf(""); expect_invalid_open(o, "ef_construction NaN");
  o = base; o.k = 10; o.ef_search = 5;     expect_invalid_open(o, "ef_search < k");
  o = base; o.vector_file_path = "\xff.bin"; expect_invalid_open(o, "non-UTF-8 vector_file_path");
  o = base; o.quantization = static_cast<Quantization>(3); expect_invalid_open(o, "quantization 3");
  o = base; o.quantization = static_cast<Quantization>(-1); expect_invalid_open(o, "quantization -1");
  o = base; o.rerank = -1;                 expect_invalid_open(o, "rerank -1");
  o = base; o.memory_budget_bytes = 1000;  expect_invalid_open(o, "memory_budget_bytes 1000");
  o = base; o.routing = static_cast<Routing>(2); expect_invalid_open(o, "routing 2");
  o = base; o.routing_epsilon = 0.0f;      expect_invalid_open(o, "routing_epsilon 0");
  o = base; o.routing_epsilon = 1.5f;      expect_invalid_open(o, "routing_epsilon 1.5");

  Status s = LSMVecDB::Open(g_base + "/invalid", base, nullptr);
  CHECK(s.IsInvalidArgument());
  std::unique_ptr<LSMVecDB> db;
  s = LSMVecDB::Open("", base, &db);
  CHECK(s.IsInvalidArgument() && db == nullptr);
  o = base; o.dim = -1;
  s = LSMVecDB::Open(g_base + "/invalid", o, &db);
  CHECK(s.ToString().find("Invalid argument: dim") == 0);
}

static void test_lifecycle_and_errors() {
  const std::string path = g_base + "/lifecycle";
  const int dim = 16;
  LSMVecDBOptions opts;
  opts.dim = dim;
  opts.reinit = true;
  opts.enable_stats = true;
  std::unique_ptr<LSMVecDB> db;
  CHECK_OK(LSMVecDB::Open(path, opts, &db));
  if (!db) return;
  CHECK(db->dim() == static_cast<std::size_t>(dim));
  CHECK(db->handle() != nullptr);

  // InsertBatch of 300, then single inserts.
  std::vector<node_id_t> ids;
  std::vector<float> flat;
  for (node_id_t id = 1; id <= 300; ++id) {
    ids.push_back(id * 1000);
    auto v = make_vec(id * 1000, dim);
    flat.insert(flat.end(), v.begin(), v.end());
  }
  CHECK_OK(db->InsertBatch(ids, flat));
  CHECK_STATUS(db->InsertBatch(ids, flat), IsInvalidArgument);  // all already present
  std::vector<float> odd(flat.begin(), flat.end() - 1);
  CHECK_STATUS(db->InsertBatch(ids, odd), IsInvalidArgument);
  std::uint64_t count = 0;
  CHECK_OK(db->Count(&count));
  CHECK(count == 300);
  CHECK_STATUS(db->Count(nullptr), IsInvalidArgument);
  bool found = false;
  CHECK_OK(db->Contains(5000, &found));
  CHECK(found);
  CHECK_OK(db->Contains(5001, &found));
  CHECK(!found);

  // Search variants.
  std::vector<SearchResult> res;
  SearchOptions so;
  so.k = 5;
  so.ef_search = 50;
  auto q = make_vec(7000, dim);
  CHECK_OK(db->SearchKnn(q, so, &res));
  CHECK(res.size() == 5 && res[0].id == 7000);
  SearchOptions bad;
  bad.k = 0;
  CHECK_STATUS(db->SearchKnn(q, bad, &res), IsInvalidArgument);
  CHECK(res.empty());
  bad.k = -5;
  CHECK_STATUS(db->SearchKnn(q, bad, &res), IsInvalidArgument);
  bad.k = 2000000;
  bad.ef_search = 2000000;
  CHECK_STATUS(db->SearchKnn(q, bad, &res), IsInvalidArgument);
  bad.k = 10;
  bad.ef_search = 4;
  CHECK_STATUS(db->SearchKnn(q, bad, &res), IsInvalidArgument);
  CHECK_STATUS(db->SearchKnn(q, so, nullptr), IsInvalidArgument);
  std::vector<float> nan_q(dim, std::nanf(""));
  Status nan_search = db->SearchKnn(nan_q, so, &res);
  CHECK(nan_search.IsInvalidArgument());

  // Batch search.
  std::vector<float> queries;
  for (node_id_t id = 1; id <= 20; ++id) {
    auto v = make_vec(id * 1000, dim);
    queries.insert(queries.end(), v.begin(), v.end());
  }
  std::vector<std::vector<SearchResult>> batch;
  CHECK_OK(db->SearchKnnBatch(queries, so, &batch, 2));
  CHECK(batch.size() == 20);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    check::record(batch[i].size() == 5 && batch[i][0].id == (i + 1) * 1000, __FILE__, __LINE__, "batch hit");
  }
  std::vector<float> ragged(queries.begin(), queries.end() - 3);
  CHECK_STATUS(db->SearchKnnBatch(ragged, so, &batch), IsInvalidArgument);
  CHECK_STATUS(db->SearchKnnBatch(queries, bad, &batch), IsInvalidArgument);
  CHECK_OK(db->SearchKnnBatch(std::vector<float>{}, so, &batch));
  CHECK(batch.empty());

  // Get leaves the output unchanged on failure.
  std::vector<float> got{9.0f};
  CHECK_STATUS(db->Get(12345, &got), IsNotFound);
  CHECK(got.size() == 1 && got[0] == 9.0f);
  CHECK_STATUS(db->Get(1000, nullptr), IsInvalidArgument);
  std::vector<float> inf_v(dim, 1.0f);
  inf_v[3] = std::numeric_limits<float>::infinity();
  CHECK_STATUS(db->Insert(1, inf_v), IsInvalidArgument);
  CHECK_STATUS(db->Update(1000, inf_v), IsInvalidArgument);
  CHECK_STATUS(db->Insert(1, Span<float>()), IsInvalidArgument);

  // Statistics.
  Statistics st;
  std::memset(&st, 0, sizeof st);
  CHECK_OK(db->GetStatistics(&st));
  CHECK(st.count == 300 && st.dim == static_cast<std::uint64_t>(dim));
  CHECK(st.searches > 0 && st.search_latency.count > 0);
  CHECK(st.memory_bytes ==
        st.code_bytes + st.adjacency_bytes + st.page_cache_bytes + st.edge_cache_bytes + st.bookkeeping_bytes);
  CHECK(st.bookkeeping_bytes > 0 && st.adjacency_lists > 0);
  CHECK(st.code_bytes == 0);  // 300 vectors: the SQ8 quantizer trains at 1000
  CHECK(st.memory_budget_bytes == 0 && st.ghost_nodes == 0 && st.twin_nodes == 0);
  CHECK_STATUS(db->GetStatistics(nullptr), IsInvalidArgument);
  db->printStatistics();
  CHECK_OK(db->Flush());

  // A second handle on the same directory: Busy.
  std::unique_ptr<LSMVecDB> other;
  LSMVecDBOptions reopen;
  reopen.dim = dim;
  CHECK_STATUS(LSMVecDB::Open(path, reopen, &other), IsBusy);
  CHECK(other == nullptr);

  // Destroy without Close(): the destructor closes and frees; the database reopens.
  db.reset();
  CHECK_OK(LSMVecDB::Open(path, reopen, &db));
  if (!db) return;
  CHECK_OK(db->Count(&count));
  CHECK(count == 300);
  CHECK_OK(db->Get(300000, &got));
  CHECK(got == make_vec(300000, dim));

  // Reopening a handle in place: Open resets *db first, so the old handle is released before
  // the directory is opened again.
  CHECK_OK(LSMVecDB::Open(path, reopen, &db));

  // Close: later calls are ShutdownInProgress; the object still frees cleanly.
  CHECK_OK(db->Close());
  CHECK_STATUS(db->Insert(1, make_vec(1, dim)), IsClosed);
  CHECK_STATUS(db->Get(1000, &got), IsShutdownInProgress);
  CHECK_STATUS(db->Count(&count), IsShutdownInProgress);
  CHECK_STATUS(db->Flush(), IsShutdownInProgress);
  CHECK_STATUS(db->GetStatistics(&st), IsShutdownInProgress);
  db->printStatistics();  // prints a notice, must not crash
  CHECK_OK(db->Close());

  // Reopen with another dimension: InvalidArgument naming both values.
  db.reset();
  LSMVecDBOptions wrong;
  wrong.dim = dim + 1;
  Status s = LSMVecDB::Open(path, wrong, &db);
  CHECK(s.IsInvalidArgument() && db == nullptr);
  CHECK(s.ToString().find("16") != std::string::npos && s.ToString().find("17") != std::string::npos);
}

// quantization, rerank, memory_budget_bytes and routing reach the engine; searches stay exact.
static void test_quantization_and_budget() {
  const int dim = 8;
  struct Case {
    const char* name;
    Quantization q;
    int rerank;
    std::uint64_t budget;
    node_id_t n;  // > 1000 where the codes matter: the SQ8 quantizer trains at 1000 vectors
    Routing routing = Routing::kExact;
  };
  for (const Case& c : {Case{"sq8", Quantization::kSq8, 0, 0, 1100}, Case{"none", Quantization::kNone, 0, 0, 1100},
                        Case{"rerank", Quantization::kSq8, 40, 0, 300},
                        Case{"budget", Quantization::kSq8, 0, 64u << 20, 300},
                        Case{"routing", Quantization::kSq8, 0, 0, 1100, Routing::kProbabilistic}}) {
    std::vector<node_id_t> ids;
    std::vector<float> flat;
    for (node_id_t id = 1; id <= c.n; ++id) {
      ids.push_back(id);
      auto v = make_vec(id, dim);
      flat.insert(flat.end(), v.begin(), v.end());
    }
    LSMVecDBOptions opts;
    opts.dim = dim;
    opts.reinit = true;
    opts.quantization = c.q;
    opts.rerank = c.rerank;
    opts.memory_budget_bytes = c.budget;
    opts.routing = c.routing;
    std::unique_ptr<LSMVecDB> db;
    CHECK_OK(LSMVecDB::Open(g_base + "/quant-" + c.name, opts, &db));
    if (!db) continue;
    CHECK_OK(db->InsertBatch(ids, flat));
    SearchOptions so;
    so.k = 10;
    so.ef_search = 64;
    std::vector<SearchResult> res;
    int exact = 0;
    for (node_id_t id = 1; id <= c.n; id += c.n / 20) {
      if (db->SearchKnn(make_vec(id, dim), so, &res).ok() && res.size() == 10 && res[0].id == id &&
          res[0].distance == 0.0f)
        ++exact;
    }
    check::record(exact == 20, __FILE__, __LINE__, std::string(c.name) + ": stored vectors find themselves at 0");
    Statistics st;
    std::memset(&st, 0, sizeof st);
    CHECK_OK(db->GetStatistics(&st));
    CHECK(st.count == c.n);
    CHECK(st.memory_budget_bytes == c.budget);
    if (c.q == Quantization::kNone) {
      check::record(st.code_bytes == 0, __FILE__, __LINE__, std::string(c.name) + ": no codes");
    } else if (c.n > 1000) {
      check::record(st.code_bytes > 0, __FILE__, __LINE__, std::string(c.name) + ": codes trained");
    }
    if (c.budget > 0) {
      CHECK(st.code_bytes + st.adjacency_bytes + st.page_cache_bytes + st.edge_cache_bytes <= c.budget);
    }
    check::record((st.routing_skips > 0) == (c.routing == Routing::kProbabilistic), __FILE__, __LINE__,
                  std::string(c.name) + ": routing_skips " + std::to_string(st.routing_skips));
    CHECK_OK(db->Close());
  }

  // A budget too small for anything: InvalidArgument naming the option.
  LSMVecDBOptions tiny;
  tiny.dim = dim;
  tiny.memory_budget_bytes = 1000;
  std::unique_ptr<LSMVecDB> db;
  Status s = LSMVecDB::Open(g_base + "/quant-tiny", tiny, &db);
  CHECK(s.IsInvalidArgument() && db == nullptr);
  CHECK(s.ToString().find("memory_budget_bytes") != std::string::npos);
}

// Many threads search one handle while another inserts.
static void test_threads() {
  const int dim = 8;
  LSMVecDBOptions opts;
  opts.dim = dim;
  opts.reinit = true;
  std::unique_ptr<LSMVecDB> db;
  CHECK_OK(LSMVecDB::Open(g_base + "/threads", opts, &db));
  if (!db) return;
  for (node_id_t id = 0; id < 200; ++id) CHECK_OK(db->Insert(id, make_vec(id, dim)));
  std::vector<int> ok(4, 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      SearchOptions so;
      so.k = 3;
      std::vector<SearchResult> res;
      for (node_id_t id = 0; id < 100; ++id) {
        if (!db->SearchKnn(make_vec(id, dim), so, &res).ok() || res.empty() || res[0].id != id) ok[t] = 0;
      }
    });
  }
  threads.emplace_back([&] {
    for (node_id_t id = 1000; id < 1100; ++id) {
      if (!db->Insert(id, make_vec(id, dim)).ok()) ok[3] = 0;
    }
  });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) check::record(ok[t] == 1, __FILE__, __LINE__, "thread " + std::to_string(t));
  std::uint64_t count = 0;
  CHECK_OK(db->Count(&count));
  CHECK(count == 300);
}

// InsertBatch on 2 threads: ~600 vectors (three commit groups) all inserted, each its own nearest
// neighbour at distance 0; the same batch on 1 thread gives the same search results (the
// engine's planning does not depend on the thread count). Small: this runs under valgrind.
static void test_parallel_insert_batch() {
  const int dim = 8;
  const node_id_t n = 600;
  std::vector<node_id_t> ids;
  std::vector<float> flat;
  for (node_id_t i = 0; i < n; ++i) {
    ids.push_back(70000 + 7 * i);
    auto v = make_vec(ids.back(), dim);
    flat.insert(flat.end(), v.begin(), v.end());
  }
  SearchOptions so;
  so.k = 5;
  so.ef_search = 64;
  std::vector<std::vector<SearchResult>> by_threads[2];
  const std::size_t thread_counts[2] = {2, 1};
  for (int t = 0; t < 2; ++t) {
    LSMVecDBOptions opts;
    opts.dim = dim;
    opts.reinit = true;
    std::unique_ptr<LSMVecDB> db;
    CHECK_OK(LSMVecDB::Open(g_base + "/parallel-batch-" + std::to_string(thread_counts[t]), opts, &db));
    if (!db) return;
    CHECK_OK(db->InsertBatch(ids, flat, thread_counts[t]));
    std::uint64_t count = 0;
    CHECK_OK(db->Count(&count));
    CHECK(count == n);
    CHECK_OK(db->SearchKnnBatch(flat, so, &by_threads[t], 2));
    CHECK(by_threads[t].size() == n);
    node_id_t self = 0;
    for (node_id_t i = 0; i < n && i < by_threads[t].size(); ++i) {
      const auto& r = by_threads[t][i];
      if (!r.empty() && r[0].id == ids[i] && r[0].distance == 0.0f) ++self;
    }
    check::record(self == n, __FILE__, __LINE__,
                  std::to_string(self) + " of " + std::to_string(n) + " vectors are their own nearest neighbour");
    // A bad batch (a live id at the end) on 2 threads writes nothing.
    std::vector<node_id_t> more{1, 2, ids[n - 1]};
    std::vector<float> more_flat(3 * dim, 0.25f);
    CHECK_STATUS(db->InsertBatch(more, more_flat, 2), IsInvalidArgument);
    CHECK_OK(db->Count(&count));
    CHECK(count == n);
    CHECK_OK(db->Close());
  }
  bool same = by_threads[0].size() == by_threads[1].size();
  for (std::size_t i = 0; same && i < by_threads[0].size(); ++i) {
    same = by_threads[0][i].size() == by_threads[1][i].size();
    for (std::size_t j = 0; same && j < by_threads[0][i].size(); ++j)
      same = by_threads[0][i][j].id == by_threads[1][i][j].id &&
             by_threads[0][i][j].distance == by_threads[1][i][j].distance;
  }
  check::record(same, __FILE__, __LINE__, "1-thread and 2-thread InsertBatch give the same search results");
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <scratch-dir>\n";
    return 2;
  }
  g_base = argv[1];
  test_status();
  test_span();
  test_option_defaults_match_the_library();
  test_invalid_options();
  test_lifecycle_and_errors();
  test_quantization_and_budget();
  test_threads();
  test_parallel_insert_batch();
  return check::summary("api_test");
}
