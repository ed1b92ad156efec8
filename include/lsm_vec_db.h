// lsm_vec_db.h -- the C++ API of lsm-vec (namespace lsm_vec), as in the specification.
//
// Header-only, C++17, over the C API in lsm_vec.h: link with liblsmvec.a or liblsmvec.so (see
// the README for the link line). LSMVecDB owns its C handle and frees it in its destructor
// (closing the database if Close() was not called), so there is nothing to release by hand.
//
//   lsm_vec::LSMVecDBOptions opts;
//   opts.dim = 128;
//   std::unique_ptr<lsm_vec::LSMVecDB> db;
//   lsm_vec::Status s = lsm_vec::LSMVecDB::Open("./db", opts, &db);
//   if (!s.ok()) { std::cerr << s.ToString() << "\n"; }
//
// Errors are Status values, never exceptions (std::bad_alloc aside). Thread safety: one
// LSMVecDB may be used by many threads at once (searches run concurrently, also with a writer);
// destroying it must happen after every other call has returned.
#ifndef LSM_VEC_DB_H
#define LSM_VEC_DB_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lsm_vec.h"

namespace lsm_vec {

/// Unique 64-bit vector identifier.
using node_id_t = std::uint64_t;

/// Outcome of an operation, in the style of rocksdb::Status: ok(), code, message, ToString().
class Status {
 public:
  /// The codes of lsm_vec.h (RocksDB's numbers where RocksDB has the kind).
  enum Code : int {
    kOk = LSM_VEC_OK,
    kNotFound = LSM_VEC_NOT_FOUND,
    kCorruption = LSM_VEC_CORRUPTION,
    kNotSupported = LSM_VEC_NOT_SUPPORTED,
    kInvalidArgument = LSM_VEC_INVALID_ARGUMENT,
    kIOError = LSM_VEC_IO_ERROR,
    kShutdownInProgress = LSM_VEC_SHUTDOWN_IN_PROGRESS,
    kBusy = LSM_VEC_BUSY,
    kPanic = LSM_VEC_PANIC,
    kUnknown = LSM_VEC_UNKNOWN,
  };

  Status() noexcept = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg = {}) { return Status(kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg = {}) { return Status(kCorruption, std::move(msg)); }
  static Status NotSupported(std::string msg = {}) { return Status(kNotSupported, std::move(msg)); }
  static Status InvalidArgument(std::string msg = {}) { return Status(kInvalidArgument, std::move(msg)); }
  static Status IOError(std::string msg = {}) { return Status(kIOError, std::move(msg)); }
  static Status Busy(std::string msg = {}) { return Status(kBusy, std::move(msg)); }
  static Status ShutdownInProgress(std::string msg = {}) {
    return Status(kShutdownInProgress, std::move(msg));
  }

  bool ok() const noexcept { return code_ == kOk; }
  bool IsNotFound() const noexcept { return code_ == kNotFound; }
  bool IsCorruption() const noexcept { return code_ == kCorruption; }
  bool IsNotSupported() const noexcept { return code_ == kNotSupported; }
  bool IsInvalidArgument() const noexcept { return code_ == kInvalidArgument; }
  bool IsIOError() const noexcept { return code_ == kIOError; }
  bool IsBusy() const noexcept { return code_ == kBusy; }
  bool IsShutdownInProgress() const noexcept { return code_ == kShutdownInProgress; }
  /// The handle was closed (same code as IsShutdownInProgress).
  bool IsClosed() const noexcept { return code_ == kShutdownInProgress; }
  bool IsPanic() const noexcept { return code_ == kPanic; }

  Code code() const noexcept { return code_; }
  /// The detail without the kind, e.g. "dimension mismatch: expected 128, got 64".
  const std::string& message() const noexcept { return message_; }
  /// "OK", or "<kind>: <message>", e.g. "Invalid argument: dimension mismatch: expected 128, got 64".
  std::string ToString() const {
    std::string s = lsm_vec_status_name(static_cast<int>(code_));
    if (!ok() && !message_.empty()) {
      s += ": ";
      s += message_;
    }
    return s;
  }

  bool operator==(const Status& o) const noexcept { return code_ == o.code_; }
  bool operator!=(const Status& o) const noexcept { return code_ != o.code_; }

  /// The Status of a C call's return code (reads the thread's last error message).
  static Status FromC(int rc) {
    if (rc == LSM_VEC_OK) return Status();
    return Status(static_cast<Code>(rc), lsm_vec_last_error_message());
  }

 private:
  Code code_ = kOk;
  std::string message_{};
};

/// A non-owning, read-only view over contiguous elements (like C++20 std::span<const T>).
/// std::vector<T>, std::array<T, N> and C arrays convert to it implicitly. The viewed memory must
/// outlive the call it is passed to (and nothing longer is needed: the library copies).
template <typename T>
class Span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;

  constexpr Span() noexcept = default;
  constexpr Span(const T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <typename Alloc>
  Span(const std::vector<value_type, Alloc>& v) noexcept : data_(v.data()), size_(v.size()) {}  // NOLINT: implicit
  template <std::size_t N>
  constexpr Span(const std::array<value_type, N>& a) noexcept : data_(a.data()), size_(N) {}  // NOLINT: implicit
  template <std::size_t N>
  constexpr Span(const T (&a)[N]) noexcept : data_(a), size_(N) {}  // NOLINT: implicit

  constexpr const T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  constexpr const T* begin() const noexcept { return data_; }
  constexpr const T* end() const noexcept { return data_ + size_; }

 private:
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Distance metric. kL2: Euclidean distance; kCosine: 1 - cosine similarity; kInnerProduct
/// (an addition to the specification): -dot(a, b).
enum class DistanceMetric : int {
  kL2 = LSM_VEC_METRIC_L2,
  kCosine = LSM_VEC_METRIC_COSINE,
  kInnerProduct = LSM_VEC_METRIC_INNER_PRODUCT,
};

/// Compressed codes kept in memory (an addition to the specification). kNone: searches score
/// the full vectors; kSq8: one byte per dimension, navigation on the codes, exact re-rank.
enum class Quantization : int {
  kNone = LSM_VEC_QUANTIZATION_NONE,
  kSq8 = LSM_VEC_QUANTIZATION_SQ8,
  kSq4 = LSM_VEC_QUANTIZATION_SQ4,
};

/// Layer-0 routing of searches (an addition to the specification). kExact: score every
/// unvisited neighbour; kProbabilistic: with codes, a SimHash test skips neighbours that, with
/// probability at least 1 - routing_epsilon, cannot enter the result pool.
enum class Routing : int {
  kExact = LSM_VEC_ROUTING_EXACT,
  kProbabilistic = LSM_VEC_ROUTING_PROBABILISTIC,
};

/// Options of LSMVecDB::Open, with the specification's names, types and defaults. Negative
/// values of the int fields are rejected with InvalidArgument.
struct LSMVecDBOptions {
  int dim = 0;                                          ///< Required, > 0.
  DistanceMetric metric = DistanceMetric::kL2;          ///< Stored; reopening with another is an error.
  int m = 8;                                            ///< HNSW links created per node.
  int m_max = 16;                                       ///< HNSW max links per node on upper layers.
  float ef_construction = 32.0f;                        ///< Construction candidate pool size.
  std::size_t vec_file_capacity = 100000;               ///< Initial capacity hint; grows on demand.
  std::size_t paged_max_cached_pages = 4096;            ///< Vector page cache, in 4 KiB pages.
  int vector_storage_type = 1;                          ///< 0 = basic (flat), 1 = paged.
  std::uint64_t db_target_size = 100ull << 30;          ///< LSM size hint in bytes (~100 GiB).
  int random_seed = 12345;                              ///< HNSW level RNG seed (>= 0).
  bool enable_stats = false;                            ///< Collect latency histograms.
  bool enable_batch_read = true;                        ///< Group vector reads by page in search.
  bool reinit = false;                                  ///< true = wipe existing data on open.
  std::string vector_file_path{};                       ///< "" = vectors.bin in the database dir.
  std::string log_file_path{};                          ///< "" = no log file.
  // Defaults of the SearchKnn overload without SearchOptions (the specification's examples).
  int k = 1;                                            ///< Neighbours returned.
  int ef_search = 64;                                   ///< Candidate pool, >= k.
  // Additions of this implementation.
  std::size_t edge_cache_size = std::size_t{1} << 20;   ///< Decoded adjacency cache, in lists (0 = off).
  std::uint64_t lsm_cache_bytes = 8ull << 20;           ///< LSM block cache in bytes.
  bool sync_writes = false;                             ///< fsync every write (survive power loss).
  Quantization quantization = Quantization::kSq8;       ///< Codes in memory; may change at every open.
  int rerank = 0;                                       ///< Candidates re-scored exactly (>= k); 0 = automatic.
  std::uint64_t memory_budget_bytes = 0;                ///< Codes + adjacency + caches; 0 = no budget.
                                                        ///< Too small for the codes: InvalidArgument.
  Routing routing = Routing::kExact;                    ///< Layer-0 routing; may change at every open.
  float routing_epsilon = 0.1f;                         ///< kProbabilistic: wrong-skip bound, in (0, 1).
};

/// Parameters of one search.
struct SearchOptions {
  int k = 1;           ///< Number of nearest neighbours to return (>= 1).
  int ef_search = 64;  ///< Candidate pool size (>= k); higher = better recall, slower.
};

/// One search hit.
struct SearchResult {
  node_id_t id;    ///< Identifier of the matched vector.
  float distance;  ///< Distance from the query.
};

/// Statistics snapshot (see lsm_vec.h for the fields).
using Statistics = lsm_vec_stats_t;

/// An open database. Create with Open(); the object frees the underlying handle when destroyed.
class LSMVecDB {
 public:
  /// Creates or opens the database in directory `path`. On success *db holds the handle; on
  /// failure *db is reset to null.
  static Status Open(const std::string& path, const LSMVecDBOptions& opts, std::unique_ptr<LSMVecDB>* db) {
    if (db == nullptr) return Status::InvalidArgument("db (out) must not be NULL");
    db->reset();
    lsm_vec_options_t c;
    int rc = lsm_vec_options_init(&c);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    c.dim = opts.dim;
    c.metric = static_cast<std::int32_t>(opts.metric);
    c.m = opts.m;
    c.m_max = opts.m_max;
    c.ef_construction = opts.ef_construction;
    c.vec_file_capacity = opts.vec_file_capacity;
    c.paged_max_cached_pages = opts.paged_max_cached_pages;
    c.vector_storage_type = opts.vector_storage_type;
    c.db_target_size = opts.db_target_size;
    c.random_seed = opts.random_seed;
    c.enable_stats = opts.enable_stats;
    c.enable_batch_read = opts.enable_batch_read;
    c.reinit = opts.reinit;
    c.vector_file_path = opts.vector_file_path.c_str();
    c.log_file_path = opts.log_file_path.c_str();
    c.k = opts.k;
    c.ef_search = opts.ef_search;
    c.edge_cache_size = opts.edge_cache_size;
    c.lsm_cache_bytes = opts.lsm_cache_bytes;
    c.sync_writes = opts.sync_writes;
    c.quantization = static_cast<std::int32_t>(opts.quantization);
    c.rerank = opts.rerank;
    c.memory_budget_bytes = opts.memory_budget_bytes;
    c.routing = static_cast<std::int32_t>(opts.routing);
    c.routing_epsilon = opts.routing_epsilon;
    lsm_vec_db_t* raw = nullptr;
    rc = lsm_vec_open(path.c_str(), &c, &raw);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    Handle handle(raw);  // owns `raw` from here on, also if the lines below throw
    std::size_t dim = 0;
    rc = lsm_vec_dim(handle.get(), &dim);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    db->reset(new LSMVecDB(std::move(handle), dim));
    return Status::OK();
  }

  LSMVecDB(const LSMVecDB&) = delete;
  LSMVecDB& operator=(const LSMVecDB&) = delete;
  LSMVecDB(LSMVecDB&&) = delete;
  LSMVecDB& operator=(LSMVecDB&&) = delete;
  ~LSMVecDB() = default;  // Handle's deleter closes (if needed) and frees.

  /// Flushes pending writes and releases all resources. Later calls return
  /// ShutdownInProgress (IsClosed()); calling Close() again is OK.
  Status Close() { return Status::FromC(lsm_vec_close(handle_.get())); }

  /// Inserts a new vector (length must equal opts.dim). InvalidArgument on a dimension mismatch,
  /// NaN/infinite values, or an id that is already present.
  Status Insert(node_id_t id, Span<float> vec) {
    return Status::FromC(lsm_vec_insert(handle_.get(), id, vec.data(), vec.size()));
  }

  /// Inserts ids.size() vectors given row-major in `vectors` (ids.size() * dim floats), planned
  /// on `threads` threads (0 = one per core). A bad batch writes nothing; a failure after the
  /// first group of 256 keeps the groups before it (the message says how many vectors).
  Status InsertBatch(Span<node_id_t> ids, Span<float> vectors, std::size_t threads = 0) {
    if (ids.size() != 0 && vectors.size() != ids.size() * dim_) {
      return Status::InvalidArgument("vectors holds " + std::to_string(vectors.size()) + " floats, expected " +
                                     std::to_string(ids.size()) + " * " + std::to_string(dim_));
    }
    return Status::FromC(
        lsm_vec_insert_batch(handle_.get(), ids.data(), ids.size(), vectors.data(), dim_, threads));
  }

  /// Replaces the vector of an existing id. NotFound if the id does not exist.
  Status Update(node_id_t id, Span<float> vec) {
    return Status::FromC(lsm_vec_update(handle_.get(), id, vec.data(), vec.size()));
  }

  /// Deletes a vector; it is excluded from later searches. NotFound if the id does not exist.
  Status Delete(node_id_t id) { return Status::FromC(lsm_vec_delete(handle_.get(), id)); }

  /// Retrieves the vector of `id`; *vec is resized to opts.dim on success and left unchanged on
  /// failure. NotFound if the id does not exist.
  Status Get(node_id_t id, std::vector<float>* vec) {
    if (vec == nullptr) return Status::InvalidArgument("vec (out) must not be NULL");
    std::vector<float> buf(dim_);
    std::size_t len = 0;
    int rc = lsm_vec_get(handle_.get(), id, buf.data(), buf.size(), &len);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    buf.resize(len);
    vec->swap(buf);
    return Status::OK();
  }

  /// *found = whether `id` is present.
  Status Contains(node_id_t id, bool* found) {
    if (found == nullptr) return Status::InvalidArgument("found (out) must not be NULL");
    return Status::FromC(lsm_vec_contains(handle_.get(), id, found));
  }

  /// *count = number of live vectors.
  Status Count(std::uint64_t* count) {
    if (count == nullptr) return Status::InvalidArgument("count (out) must not be NULL");
    return Status::FromC(lsm_vec_count(handle_.get(), count));
  }

  /// The options.k nearest vectors to `query`, sorted by ascending distance (fewer if the
  /// database holds fewer). *out is replaced on success and cleared on failure.
  Status SearchKnn(Span<float> query, const SearchOptions& options, std::vector<SearchResult>* out) {
    if (out == nullptr) return Status::InvalidArgument("out must not be NULL");
    out->clear();
    lsm_vec_search_options_t so{options.k, options.ef_search};
    std::vector<lsm_vec_search_result_t> buf(ResultCapacity(options.k));
    std::size_t n = 0;
    int rc = lsm_vec_search_knn(handle_.get(), query.data(), query.size(), &so, buf.data(), buf.size(), &n);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    CopyResults(buf.data(), n, out);
    return Status::OK();
  }

  /// SearchKnn with the k and ef_search of the LSMVecDBOptions the database was opened with.
  Status SearchKnn(Span<float> query, std::vector<SearchResult>* out) {
    if (out == nullptr) return Status::InvalidArgument("out must not be NULL");
    out->clear();
    lsm_vec_search_options_t so;
    int rc = lsm_vec_default_search_options(handle_.get(), &so);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    std::vector<lsm_vec_search_result_t> buf(ResultCapacity(so.k));
    std::size_t n = 0;
    rc = lsm_vec_search_knn_default(handle_.get(), query.data(), query.size(), buf.data(), buf.size(), &n);
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    CopyResults(buf.data(), n, out);
    return Status::OK();
  }

  /// Searches queries.size() / dim queries (row-major) on `threads` threads (0 = one per
  /// core); (*out)[i] holds the hits of query i.
  Status SearchKnnBatch(Span<float> queries, const SearchOptions& options,
                        std::vector<std::vector<SearchResult>>* out, std::size_t threads = 0) {
    if (out == nullptr) return Status::InvalidArgument("out must not be NULL");
    out->clear();
    if (dim_ == 0 || queries.size() % dim_ != 0) {
      return Status::InvalidArgument("queries holds " + std::to_string(queries.size()) +
                                     " floats, not a multiple of the dimension " + std::to_string(dim_));
    }
    const std::size_t nq = queries.size() / dim_;
    // An out-of-range k gets no buffer: the library rejects it before looking at buffers.
    const std::size_t k = ResultCapacity(options.k) == 0 ? 0 : static_cast<std::size_t>(options.k);
    lsm_vec_search_options_t so{options.k, options.ef_search};
    std::vector<lsm_vec_search_result_t> buf(nq * k);
    std::vector<std::size_t> counts(nq);
    int rc = lsm_vec_search_knn_batch(handle_.get(), queries.data(), nq, dim_, &so, threads, buf.data(),
                                      buf.size(), counts.data());
    if (rc != LSM_VEC_OK) return Status::FromC(rc);
    out->resize(nq);
    for (std::size_t i = 0; i < nq; ++i) CopyResults(buf.data() + i * k, counts[i], &(*out)[i]);
    return Status::OK();
  }

  /// Persists the journal and the vector file (fsync).
  Status Flush() { return Status::FromC(lsm_vec_flush(handle_.get())); }

  /// Repairs now every deleted node whose repair is pending (Stats::repair_backlog), which a
  /// background thread otherwise does shortly after the deletes.
  Status FinishRepairs() { return Status::FromC(lsm_vec_finish_repairs(handle_.get())); }

  /// Fills *stats with counters, sizes and (with enable_stats) latency percentiles.
  Status GetStatistics(Statistics* stats) const {
    if (stats == nullptr) return Status::InvalidArgument("stats must not be NULL");
    return Status::FromC(lsm_vec_get_stats(handle_.get(), stats));
  }

  /// Prints I/O and timing statistics to stdout. Latencies need opts.enable_stats = true.
  void printStatistics() const {
    std::cout.flush();
    std::fflush(stdout);
    (void)lsm_vec_print_statistics(handle_.get());
  }

  /// The database's dimension.
  std::size_t dim() const noexcept { return dim_; }

  /// The underlying C handle (still owned by this object).
  lsm_vec_db_t* handle() const noexcept { return handle_.get(); }

 private:
  struct Deleter {
    void operator()(lsm_vec_db_t* p) const noexcept { lsm_vec_free(p); }
  };
  using Handle = std::unique_ptr<lsm_vec_db_t, Deleter>;

  LSMVecDB(Handle handle, std::size_t dim) noexcept : handle_(std::move(handle)), dim_(dim) {}

  /// Result slots to allocate for `k`: k itself when it is in the library's valid range
  /// (1 ..= 1000000); otherwise 0, and the library reports the invalid k.
  static std::size_t ResultCapacity(std::int64_t k) noexcept {
    return (k >= 1 && k <= 1000000) ? static_cast<std::size_t>(k) : 0;
  }

  static void CopyResults(const lsm_vec_search_result_t* src, std::size_t n, std::vector<SearchResult>* out) {
    out->clear();
    out->reserve(n);
    for (std::size_t i = 0; i < n; ++i) out->push_back(SearchResult{src[i].id, src[i].distance});
  }

  Handle handle_;
  std::size_t dim_;
};

}  // namespace lsm_vec

#endif  // LSM_VEC_DB_H
