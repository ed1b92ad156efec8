//! `LSMVecDB`: the database handle. Arguments are converted while attached to the
//! interpreter, then the engine call runs detached (GIL released), so Python threads that
//! search in parallel run in parallel.

use lsm_vec::{LsmVecDb, Stats};
use numpy::ndarray::Array2;
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::{id_arg, ids_arg, serde_to_py, uint_arg, MatrixArg, VectorArg};
use crate::errors::{batch_err, closed_err, IntoPyResult};
use crate::options::{resolve_search, PyDbOptions, PySearchResult};

/// An open lsm-vec database. Create it with :meth:`LSMVecDB.open`; use it as a context manager
/// (``with LSMVecDB.open(path, opts) as db:``) to close it on exit.
///
/// The handle is safe to share between threads: searches run in parallel with each other and
/// with one writer. Every method of a closed database raises :class:`ClosedError` (a
/// ``RuntimeError``), and so does every method of a handle inherited by a forked child process.
#[pyclass(frozen, name = "LSMVecDB", module = "lsm_vec")]
pub struct PyLsmVecDb {
    db: LsmVecDb,
    /// Dimension, cached at open (batch calls check their column count against it).
    dim: usize,
    /// The `k` / `ef_search` of the options the database was opened with.
    default_search: lsm_vec::SearchOptions,
}

/// The engine's serialization of `Stats` as a dict (the keys and values of `lsm-vec stats
/// --json`: `metric` as its name, `vector_storage_type` as its code, each `*_latency` a dict).
fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    Ok(serde_to_py(py, s)?.cast_into::<PyDict>()?)
}

impl PyLsmVecDb {
    fn check_open(&self) -> PyResult<()> {
        if self.db.is_closed() {
            Err(closed_err())
        } else {
            Ok(())
        }
    }
}

#[pymethods]
impl PyLsmVecDb {
    /// ``LSMVecDB.open(path, opts)``: creates or opens the database in directory ``path``
    /// (created if missing). With ``opts=None``, opens an existing database with the parameters
    /// stored in it. ``ValueError`` for invalid options or a parameter that differs from the
    /// stored one; :class:`IoError`, :class:`CorruptionError` or :class:`BusyError` (a database
    /// already open elsewhere), all subclasses of :class:`Error` and ``RuntimeError``.
    #[staticmethod]
    #[pyo3(signature = (path, opts = None))]
    fn open(py: Python<'_>, path: std::path::PathBuf, opts: Option<PyRef<'_, PyDbOptions>>) -> PyResult<Self> {
        let options = opts.map(|o| o.to_engine());
        let db = py
            .detach(move || match options {
                Some(o) => LsmVecDb::open(&path, o),
                None => LsmVecDb::open_existing(&path),
            })
            .py()?;
        let eff = db.options().py()?;
        Ok(PyLsmVecDb { dim: eff.dim, default_search: eff.search_options(), db })
    }

    /// Flushes pending writes and releases the database. Closing twice is not an error.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.db.close()).py()
    }

    /// Whether :meth:`close` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.db.is_closed()
    }

    /// The dimension of the vectors.
    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    /// The effective options of this handle, as a new :class:`LSMVecDBOptions` (a copy:
    /// changing it changes nothing). The structural parameters (``dim``, ``metric``, ``m``,
    /// ``m_max``, ``vector_storage_type``) are the ones stored in the database, the tuning knobs
    /// those this handle was opened with, and ``vector_file_path`` the vector file in use.
    /// :class:`ClosedError` on a closed handle.
    #[getter]
    fn options(&self) -> PyResult<PyDbOptions> {
        Ok(PyDbOptions::from_engine(self.db.options().py()?))
    }

    /// The database directory, as given to :meth:`open`.
    #[getter]
    fn path(&self) -> String {
        self.db.path().to_string_lossy().into_owned()
    }

    /// Inserts a new vector (list or numpy array of length ``dim``) under ``id``
    /// (``0 <= id < 2**64``). ``ValueError`` on a dimension mismatch, NaN/inf components, a zero
    /// vector under cosine, or an id that already exists.
    fn insert(&self, py: Python<'_>, id: &Bound<'_, PyAny>, vector: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = id_arg(id)?;
        let v = VectorArg::extract(vector, "vector")?;
        let s = v.as_slice()?;
        py.detach(|| self.db.insert(id, s)).py()
    }

    /// Inserts many vectors: ``ids`` (list of ints or 1-D integer array, length n) and
    /// ``vectors`` (2-D array or list of lists, shape (n, dim)), planned on ``threads`` threads
    /// (0 or None = one per core; the GIL is released meanwhile). The whole batch is validated
    /// first (dimension, values, ids unique and not live), so a bad batch raises ``ValueError``
    /// and writes nothing. It is then committed in groups of 256 vectors, in order, each group
    /// atomically; the result does not depend on ``threads``. If a group after the first fails,
    /// the exception (the class of its cause) has the attributes ``committed`` (the leading
    /// vectors that are in the database) and ``total`` (``n``); the others are not.
    #[pyo3(signature = (ids, vectors, threads = None), text_signature = "(self, ids, vectors, threads=0)")]
    fn insert_batch(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        threads: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let threads: usize = match threads {
            Some(t) if !t.is_none() => uint_arg(t, "threads")?,
            _ => 0,
        };
        let ids = ids_arg(ids)?;
        if ids.is_empty() && vectors.len().unwrap_or(1) == 0 {
            return self.check_open();
        }
        let m = MatrixArg::extract(vectors, "vectors")?;
        if m.cols != self.dim {
            return Err(PyValueError::new_err(format!(
                "dimension mismatch: expected vectors of dimension {}, got shape ({}, {})",
                self.dim, m.rows, m.cols
            )));
        }
        if m.rows != ids.len() {
            return Err(PyValueError::new_err(format!("got {} ids but {} vectors", ids.len(), m.rows)));
        }
        let s = m.as_slice()?;
        py.detach(|| self.db.insert_batch(&ids, s, threads)).map_err(|e| batch_err(py, e))
    }

    /// The ``k`` nearest vectors to ``query``, sorted by ascending distance, as a list of
    /// :class:`SearchResult`. Three forms::
    ///
    ///     db.search_knn(query, search_opts)             # a SearchOptions
    ///     db.search_knn(query, k=10, ef_search=128)     # or positionally: (query, 10, 128)
    ///     db.search_knn(query)                          # k / ef_search of the open options
    ///
    /// With only ``k`` given, ``ef_search`` is ``max(default ef_search, k)``.
    #[pyo3(signature = (query, opts = None, ef_search = None, *, k = None))]
    fn search_knn(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        opts: Option<&Bound<'_, PyAny>>,
        ef_search: Option<&Bound<'_, PyAny>>,
        k: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PySearchResult>> {
        let so = resolve_search(self.default_search, opts, k, ef_search)?;
        let v = VectorArg::extract(query, "query")?;
        let s = v.as_slice()?;
        let hits = py.detach(|| self.db.search_knn(s, &so)).py()?;
        Ok(hits.into_iter().map(PySearchResult::from).collect())
    }

    /// Searches many queries (2-D array or list of lists, shape (n, dim)) on ``threads``
    /// threads (0 or None = one per core). Takes the search parameters like
    /// :meth:`search_knn`: ``search_knn_batch(q, k=10, ef_search=128, threads=2)``,
    /// ``search_knn_batch(q, 10, 128, 2)`` or ``search_knn_batch(q, search_opts)``. Returns ``(ids, distances)``: int64 and float32 arrays of
    /// shape (n, k), each row sorted by ascending distance. Missing neighbours (fewer than k
    /// live vectors) are id -1 with distance inf. Ids >= 2**63 appear as negative int64
    /// (two's complement): ``ids.view(numpy.uint64)`` recovers them.
    #[pyo3(signature = (queries, opts = None, ef_search = None, threads = None, *, k = None))]
    fn search_knn_batch<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        opts: Option<&Bound<'py, PyAny>>,
        ef_search: Option<&Bound<'py, PyAny>>,
        threads: Option<&Bound<'py, PyAny>>,
        k: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let so = resolve_search(self.default_search, opts, k, ef_search)?;
        let threads: usize = match threads {
            Some(t) if !t.is_none() => uint_arg(t, "threads")?,
            _ => 0,
        };
        let m = MatrixArg::extract(queries, "queries")?;
        if m.rows > 0 && m.cols != self.dim {
            return Err(PyValueError::new_err(format!(
                "dimension mismatch: expected queries of dimension {}, got shape ({}, {})",
                self.dim, m.rows, m.cols
            )));
        }
        let (n, k) = (m.rows, so.k);
        so.validate().py()?;
        // Allocate the (n, k) outputs up front: a huge n * k is a MemoryError, not an abort.
        let total = n.saturating_mul(k);
        let no_memory = || PyMemoryError::new_err(format!("cannot allocate the result arrays ({n} x {k})"));
        let mut ids: Vec<i64> = Vec::new();
        let mut dists: Vec<f32> = Vec::new();
        ids.try_reserve_exact(total).map_err(|_| no_memory())?;
        dists.try_reserve_exact(total).map_err(|_| no_memory())?;
        ids.resize(total, -1);
        dists.resize(total, f32::INFINITY);
        let s = m.as_slice()?;
        let (ids, dists) = py
            .detach(|| -> lsm_vec::Result<(Vec<i64>, Vec<f32>)> {
                if n > 0 {
                    let results = self.db.search_knn_batch(s, &so, threads)?;
                    for (row, hits) in results.iter().enumerate() {
                        for (j, h) in hits.iter().take(k).enumerate() {
                            ids[row * k + j] = h.id as i64;
                            dists[row * k + j] = h.distance;
                        }
                    }
                } else if self.db.is_closed() {
                    return Err(lsm_vec::Error::Closed);
                }
                Ok((ids, dists))
            })
            .py()?;
        let ids = Array2::from_shape_vec((n, k), ids)
            .map_err(|e| PyRuntimeError::new_err(format!("internal shape error: {e}")))?;
        let dists = Array2::from_shape_vec((n, k), dists)
            .map_err(|e| PyRuntimeError::new_err(format!("internal shape error: {e}")))?;
        let ids = PyArray2::from_owned_array(py, ids);
        let dists = PyArray2::from_owned_array(py, dists);
        PyTuple::new(py, [ids.into_any(), dists.into_any()])
    }

    /// The stored vector of ``id`` as a 1-D float32 numpy array. ``KeyError`` if absent.
    fn get<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let id = id_arg(id)?;
        let v = py.detach(|| self.db.get(id)).py()?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Replaces the vector of an existing ``id`` and rebuilds its links. ``KeyError`` if the
    /// id does not exist, ``ValueError`` for a bad vector.
    fn update(&self, py: Python<'_>, id: &Bound<'_, PyAny>, vector: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = id_arg(id)?;
        let v = VectorArg::extract(vector, "vector")?;
        let s = v.as_slice()?;
        py.detach(|| self.db.update(id, s)).py()
    }

    /// Deletes ``id``: it is never returned by a search again. ``KeyError`` if absent.
    fn delete(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = id_arg(id)?;
        py.detach(|| self.db.delete(id)).py()
    }

    /// Persists everything written so far to stable storage (fsync).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.db.flush()).py()
    }

    /// Repairs now every deleted node whose repair is pending (``stats()["repair_backlog"]``),
    /// which a background thread otherwise does shortly after the deletes.
    fn finish_repairs(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.db.finish_repairs()).py()
    }

    /// Counters, sizes and latency percentiles (``*_latency`` dicts, in microseconds; filled
    /// only with ``enable_stats``), as a dict. Memory in bytes: ``code_bytes``,
    /// ``adjacency_bytes`` (for ``adjacency_lists`` lists), ``page_cache_bytes``,
    /// ``edge_cache_bytes``, ``bookkeeping_bytes``, their sum ``memory_bytes``, and the
    /// ``memory_budget_bytes`` option (0 = no budget). Every field of the engine's statistics is
    /// a key (the same keys as ``lsm-vec stats --json``), e.g. ``routing_skips``.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = py.detach(|| self.db.stats()).py()?;
        stats_dict(py, &s)
    }

    /// Prints I/O and timing statistics to ``sys.stdout``. Latencies are recorded only when
    /// the database was opened with ``enable_stats = True``.
    fn print_statistics(&self, py: Python<'_>) -> PyResult<()> {
        let s = py.detach(|| self.db.stats()).py()?;
        let text = s.to_string();
        let kwargs = PyDict::new(py);
        kwargs.set_item("end", "")?;
        py.import("builtins")?.getattr("print")?.call((text,), Some(&kwargs))?;
        Ok(())
    }

    /// Number of live vectors.
    fn __len__(&self) -> PyResult<usize> {
        self.db.len().py()
    }

    /// ``id in db``: whether ``id`` is live. Ints outside ``[0, 2**64)`` are never contained.
    fn __contains__(&self, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = match id_arg(id) {
            Ok(id) => id,
            Err(e) if e.is_instance_of::<PyValueError>(id.py()) => {
                self.check_open()?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        self.db.contains(id).py()
    }

    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        slf.get().check_open()?;
        let _ = py;
        Ok(slf)
    }

    /// Closes the database; exceptions from the ``with`` body propagate.
    #[pyo3(signature = (_exc_type = None, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "LSMVecDB(path='{}', dim={}, closed={})",
            self.db.path().to_string_lossy(),
            self.dim,
            if self.db.is_closed() { "True" } else { "False" }
        )
    }
}
