//! `DistanceMetric`, `LSMVecDBOptions`, `SearchOptions` and `SearchResult`: the value types of
//! the specification's Python API, with its names and defaults.

use std::path::PathBuf;

use lsm_vec::{DbOptions, Quantization, Routing, VectorStorageType};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::convert::{is_bool, uint_arg};
use crate::errors::IntoPyResult;

/// Distance metric of a database.
///
/// * ``L2``: Euclidean distance (not squared).
/// * ``Cosine``: ``1 - cosine_similarity``.
/// * ``InnerProduct``: ``-dot(a, b)`` (smaller is closer).
#[pyclass(eq, eq_int, frozen, hash, name = "DistanceMetric", module = "lsm_vec")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyDistanceMetric {
    /// Euclidean distance.
    L2,
    /// One minus cosine similarity.
    Cosine,
    /// Negative dot product.
    InnerProduct,
}

impl From<PyDistanceMetric> for lsm_vec::DistanceMetric {
    fn from(m: PyDistanceMetric) -> Self {
        match m {
            PyDistanceMetric::L2 => lsm_vec::DistanceMetric::L2,
            PyDistanceMetric::Cosine => lsm_vec::DistanceMetric::Cosine,
            PyDistanceMetric::InnerProduct => lsm_vec::DistanceMetric::InnerProduct,
        }
    }
}

impl From<lsm_vec::DistanceMetric> for PyDistanceMetric {
    fn from(m: lsm_vec::DistanceMetric) -> Self {
        match m {
            lsm_vec::DistanceMetric::L2 => PyDistanceMetric::L2,
            lsm_vec::DistanceMetric::Cosine => PyDistanceMetric::Cosine,
            lsm_vec::DistanceMetric::InnerProduct => PyDistanceMetric::InnerProduct,
        }
    }
}

#[pymethods]
impl PyDistanceMetric {
    /// The member's name: ``"L2"``, ``"Cosine"`` or ``"InnerProduct"``.
    #[getter]
    fn name(&self) -> &'static str {
        match self {
            PyDistanceMetric::L2 => "L2",
            PyDistanceMetric::Cosine => "Cosine",
            PyDistanceMetric::InnerProduct => "InnerProduct",
        }
    }

    /// The stable numeric code: L2 = 0, Cosine = 1, InnerProduct = 2.
    #[getter]
    fn value(&self) -> u8 {
        lsm_vec::DistanceMetric::from(*self).code()
    }
}

/// Accepts a `DistanceMetric`, its integer code (0 = L2, 1 = Cosine, 2 = InnerProduct; any
/// other int is `ValueError`) or a name such as `"l2"`, `"cosine"`, `"ip"`. `bool` is refused
/// (`TypeError`) although Python counts it as an int.
fn metric_arg(obj: &Bound<'_, PyAny>) -> PyResult<lsm_vec::DistanceMetric> {
    if let Ok(m) = obj.cast::<PyDistanceMetric>() {
        return Ok((*m.get()).into());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow()?.parse::<lsm_vec::DistanceMetric>().py();
    }
    if let Some(code) = code_arg(obj, "metric")? {
        return lsm_vec::DistanceMetric::from_code(code).py();
    }
    Err(PyTypeError::new_err(format!(
        "metric must be a DistanceMetric, its code 0 / 1 / 2 or 'l2' / 'cosine' / 'ip', got {}",
        obj.get_type().name()?
    )))
}

/// Compressed codes kept in memory (``LSMVecDBOptions.quantization``).
///
/// * ``NONE`` (code 0): no codes; searches score the full vectors.
/// * ``SQ8`` (code 1, the default): one byte per dimension, trained on the data; searches
///   navigate on the codes and re-rank the best candidates with the full vectors, so returned
///   distances are exact.
///
/// ``None`` is a Python keyword, hence the upper-case member names.
#[pyclass(eq, eq_int, frozen, hash, name = "Quantization", module = "lsm_vec")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyQuantization {
    /// No codes.
    #[pyo3(name = "NONE")]
    Off,
    /// SQ8 codes.
    #[pyo3(name = "SQ8")]
    Sq8,
    /// SQ4 codes.
    #[pyo3(name = "SQ4")]
    Sq4,
}

impl From<PyQuantization> for Quantization {
    fn from(q: PyQuantization) -> Self {
        match q {
            PyQuantization::Off => Quantization::None,
            PyQuantization::Sq8 => Quantization::Sq8,
            PyQuantization::Sq4 => Quantization::Sq4,
        }
    }
}

impl From<Quantization> for PyQuantization {
    fn from(q: Quantization) -> Self {
        match q {
            Quantization::None => PyQuantization::Off,
            Quantization::Sq8 => PyQuantization::Sq8,
            Quantization::Sq4 => PyQuantization::Sq4,
        }
    }
}

impl PyQuantization {
    fn from_code(code: i64) -> PyResult<Self> {
        match code {
            0 => Ok(PyQuantization::Off),
            1 => Ok(PyQuantization::Sq8),
            2 => Ok(PyQuantization::Sq4),
            other => Err(PyValueError::new_err(format!(
                "unknown quantization code {other} (expected 0 = none, 1 = sq8 or 2 = sq4)"
            ))),
        }
    }
}

#[pymethods]
impl PyQuantization {
    /// The member's name: ``"NONE"``, ``"SQ8"`` or ``"SQ4"``.
    #[getter]
    fn name(&self) -> &'static str {
        match self {
            PyQuantization::Off => "NONE",
            PyQuantization::Sq8 => "SQ8",
            PyQuantization::Sq4 => "SQ4",
        }
    }

    /// The stable numeric code (as in the C API): NONE = 0, SQ8 = 1, SQ4 = 2.
    #[getter]
    fn value(&self) -> u8 {
        match self {
            PyQuantization::Off => 0,
            PyQuantization::Sq8 => 1,
            PyQuantization::Sq4 => 2,
        }
    }
}

/// Accepts a `Quantization`, a name (`"none"`, `"sq8"`, `"sq4"`, any case) or a code
/// (0 = none, 1 = sq8, 2 = sq4). Another name or int is `ValueError`; `bool` and other types are `TypeError`.
fn quantization_arg(obj: &Bound<'_, PyAny>) -> PyResult<Quantization> {
    if let Ok(q) = obj.cast::<PyQuantization>() {
        return Ok((*q.get()).into());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow()?.parse::<Quantization>().py();
    }
    if let Some(code) = code_arg(obj, "quantization")? {
        return PyQuantization::from_code(code).map(Quantization::from);
    }
    Err(PyTypeError::new_err(format!(
        "quantization must be a Quantization, 'none' / 'sq8' / 'sq4' or the code 0 / 1 / 2, got {}",
        obj.get_type().name()?
    )))
}

/// An enum's integer code: `Some(code)` for an int (or numpy integer), `None` for anything
/// else (the caller says what it accepts). `bool` is `TypeError`; an int beyond `i64` is
/// `ValueError` (no such code).
fn code_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<i64>> {
    if is_bool(obj) {
        return Err(PyTypeError::new_err(format!("{what} must be an int code, not bool")));
    }
    match obj.extract::<i64>() {
        Ok(code) => Ok(Some(code)),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            Err(PyValueError::new_err(format!("unknown {what} code {}", obj.repr()?)))
        }
        Err(_) => Ok(None),
    }
}

fn path_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<PathBuf> {
    obj.extract::<PathBuf>().map_err(|_| PyTypeError::new_err(format!("{what} must be a str or os.PathLike")))
}

/// Options of :meth:`LSMVecDB.open`. Every property is read-write; the defaults are the
/// specification's. Keyword arguments set properties: ``LSMVecDBOptions(dim=128, reinit=True)``.
///
/// Properties: ``dim`` (required, > 0), ``metric`` (``DistanceMetric.L2``), ``m`` (8),
/// ``m_max`` (16), ``ef_construction`` (32.0), ``vec_file_capacity`` (100000),
/// ``paged_max_cached_pages`` (4096), ``vector_storage_type`` (1: 0 = basic, 1 = paged),
/// ``db_target_size`` (100 GiB), ``random_seed`` (12345), ``enable_stats`` (False),
/// ``enable_batch_read`` (True), ``reinit`` (False), ``vector_file_path`` ("" = inside the
/// database directory), ``log_file_path`` ("" = no log), ``k`` (1) and ``ef_search`` (64): the
/// defaults of a ``search_knn`` call without search options; and the additions
/// ``edge_cache_size`` (1048576 adjacency lists), ``lsm_cache_bytes`` (8 MiB),
/// ``sync_writes`` (False), ``quantization`` (``Quantization.SQ8``; also ``"none"`` /
/// ``"sq8"``), ``rerank`` (0 = automatic), ``memory_budget_bytes`` (0 = no budget),
/// ``routing`` (``"exact"``; or ``"probabilistic"``) and ``routing_epsilon`` (0.1).
#[pyclass(name = "LSMVecDBOptions", module = "lsm_vec")]
#[derive(Debug, Clone)]
pub struct PyDbOptions {
    pub(crate) inner: DbOptions,
}

impl PyDbOptions {
    /// The engine's options (the remaining checks are `open`'s).
    pub fn to_engine(&self) -> DbOptions {
        self.inner.clone()
    }

    /// A Python copy of engine options (`LSMVecDB.options`).
    pub fn from_engine(inner: DbOptions) -> Self {
        PyDbOptions { inner }
    }
}

/// The option names: the keys of the engine's serialization of `DbOptions`, in its field order.
/// They are the keywords `LSMVecDBOptions(...)` accepts and the properties its `repr` shows, so
/// an option the engine gains without a property here makes `repr` fail (the tests call it).
fn option_names(py: Python<'_>) -> PyResult<&'static [String]> {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    if let Some(names) = NAMES.get() {
        return Ok(names);
    }
    let dict = crate::convert::serde_to_py(py, &DbOptions::default())?.cast_into::<PyDict>()?;
    let names = dict.keys().iter().map(|k| k.extract::<String>()).collect::<PyResult<Vec<_>>>()?;
    Ok(NAMES.get_or_init(|| names))
}

#[pymethods]
impl PyDbOptions {
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let this = PyDbOptions { inner: DbOptions::default() };
        let Some(kwargs) = kwargs else {
            return Ok(this);
        };
        let py = kwargs.py();
        let obj = Bound::new(py, this)?;
        for (key, value) in kwargs.iter() {
            let name: String = key.extract()?;
            if !option_names(py)?.contains(&name) {
                return Err(PyTypeError::new_err(format!(
                    "LSMVecDBOptions() got an unexpected keyword argument '{name}'"
                )));
            }
            obj.setattr(name.as_str(), value)?;
        }
        let out = obj.borrow().clone();
        Ok(out)
    }

    /// Required. Dimensionality of the vectors (1 ..= 65536). Default 0 (unset).
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim
    }
    #[setter]
    fn set_dim(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.dim = uint_arg(v, "dim")?;
        Ok(())
    }

    /// Distance metric (``DistanceMetric.L2`` by default). Also accepts the codes 0 (L2),
    /// 1 (Cosine), 2 (InnerProduct) and the names 'l2', 'cosine', 'ip'; another int is
    /// ``ValueError``.
    #[getter]
    fn metric(&self) -> PyDistanceMetric {
        self.inner.metric.into()
    }
    #[setter]
    fn set_metric(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.metric = metric_arg(v)?;
        Ok(())
    }

    /// HNSW links created per inserted node (default 8, >= 2).
    #[getter]
    fn m(&self) -> usize {
        self.inner.m
    }
    #[setter]
    fn set_m(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.m = uint_arg(v, "m")?;
        Ok(())
    }

    /// HNSW maximum links per node on the upper layers (default 16, >= m).
    #[getter]
    fn m_max(&self) -> usize {
        self.inner.m_max
    }
    #[setter]
    fn set_m_max(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.m_max = uint_arg(v, "m_max")?;
        Ok(())
    }

    /// HNSW candidate pool size during construction (default 32.0).
    #[getter]
    fn ef_construction(&self) -> f32 {
        self.inner.ef_construction
    }
    #[setter]
    fn set_ef_construction(&mut self, v: f64) -> PyResult<()> {
        self.inner.ef_construction = v as f32;
        Ok(())
    }

    /// Initial capacity hint, in vectors (default 100000); the vector file grows on demand.
    #[getter]
    fn vec_file_capacity(&self) -> usize {
        self.inner.vec_file_capacity
    }
    #[setter]
    fn set_vec_file_capacity(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.vec_file_capacity = uint_arg(v, "vec_file_capacity")?;
        Ok(())
    }

    /// Vector page cache size in 4 KiB pages (default 4096 = 16 MiB).
    #[getter]
    fn paged_max_cached_pages(&self) -> usize {
        self.inner.paged_max_cached_pages
    }
    #[setter]
    fn set_paged_max_cached_pages(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.paged_max_cached_pages = uint_arg(v, "paged_max_cached_pages")?;
        Ok(())
    }

    /// Vector file layout: 0 = basic (flat file), 1 = paged (default); another int is
    /// ``ValueError``.
    #[getter]
    fn vector_storage_type(&self) -> u8 {
        self.inner.vector_storage_type.code()
    }
    #[setter]
    fn set_vector_storage_type(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(code) = code_arg(v, "vector_storage_type")? else {
            return Err(PyTypeError::new_err(format!(
                "vector_storage_type must be an int (0 = basic, 1 = paged), got {}",
                v.get_type().name()?
            )));
        };
        self.inner.vector_storage_type = VectorStorageType::from_code(code).py()?;
        Ok(())
    }

    /// Size hint in bytes for the LSM tree (default 100 GiB).
    #[getter]
    fn db_target_size(&self) -> u64 {
        self.inner.db_target_size
    }
    #[setter]
    fn set_db_target_size(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.db_target_size = uint_arg(v, "db_target_size")?;
        Ok(())
    }

    /// Seed of the RNG that draws HNSW levels (default 12345).
    #[getter]
    fn random_seed(&self) -> u64 {
        self.inner.random_seed
    }
    #[setter]
    fn set_random_seed(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.random_seed = uint_arg(v, "random_seed")?;
        Ok(())
    }

    /// Collect latency histograms (default False); counters are always collected.
    #[getter]
    fn enable_stats(&self) -> bool {
        self.inner.enable_stats
    }
    #[setter]
    fn set_enable_stats(&mut self, v: bool) {
        self.inner.enable_stats = v;
    }

    /// Read a node's unvisited neighbours together, grouped by page (default True).
    #[getter]
    fn enable_batch_read(&self) -> bool {
        self.inner.enable_batch_read
    }
    #[setter]
    fn set_enable_batch_read(&mut self, v: bool) {
        self.inner.enable_batch_read = v;
    }

    /// Wipe existing data on open (default False = reopen).
    #[getter]
    fn reinit(&self) -> bool {
        self.inner.reinit
    }
    #[setter]
    fn set_reinit(&mut self, v: bool) {
        self.inner.reinit = v;
    }

    /// Path of the vector file ("" = ``vectors.bin`` inside the database directory).
    #[getter]
    fn vector_file_path(&self) -> String {
        self.inner.vector_file_path.to_string_lossy().into_owned()
    }
    #[setter]
    fn set_vector_file_path(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.vector_file_path = path_arg(v, "vector_file_path")?;
        Ok(())
    }

    /// Path of a log file ("" = no log file).
    #[getter]
    fn log_file_path(&self) -> String {
        self.inner.log_file_path.to_string_lossy().into_owned()
    }
    #[setter]
    fn set_log_file_path(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.log_file_path = path_arg(v, "log_file_path")?;
        Ok(())
    }

    /// Default ``k`` of ``search_knn`` calls that pass no search options (default 1).
    #[getter]
    fn k(&self) -> usize {
        self.inner.k
    }
    #[setter]
    fn set_k(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.k = uint_arg(v, "k")?;
        Ok(())
    }

    /// Default ``ef_search`` of ``search_knn`` calls that pass no search options (default 64).
    #[getter]
    fn ef_search(&self) -> usize {
        self.inner.ef_search
    }
    #[setter]
    fn set_ef_search(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.ef_search = uint_arg(v, "ef_search")?;
        Ok(())
    }

    /// Capacity of the decoded layer-0 adjacency cache, in lists (default 1048576; 0 = off).
    /// Each cached list costs about ``4 * max(2*m, m_max) + 48`` bytes.
    #[getter]
    fn edge_cache_size(&self) -> usize {
        self.inner.edge_cache_size
    }
    #[setter]
    fn set_edge_cache_size(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.edge_cache_size = uint_arg(v, "edge_cache_size")?;
        Ok(())
    }

    /// Capacity of the LSM block cache in bytes (default 8 MiB).
    #[getter]
    fn lsm_cache_bytes(&self) -> u64 {
        self.inner.lsm_cache_bytes
    }
    #[setter]
    fn set_lsm_cache_bytes(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.lsm_cache_bytes = uint_arg(v, "lsm_cache_bytes")?;
        Ok(())
    }

    /// fsync on every write so acknowledged writes survive power loss (default False).
    #[getter]
    fn sync_writes(&self) -> bool {
        self.inner.sync_writes
    }
    #[setter]
    fn set_sync_writes(&mut self, v: bool) {
        self.inner.sync_writes = v;
    }

    /// Compressed codes kept in memory (``Quantization.SQ8`` by default). Also accepts the
    /// names ``"none"`` / ``"sq8"`` (any case) and the codes 0 / 1; another name or int is
    /// ``ValueError``. May change at every open (the codes are derived from the vectors).
    #[getter]
    fn quantization(&self) -> PyQuantization {
        self.inner.quantization.into()
    }
    #[setter]
    fn set_quantization(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.quantization = quantization_arg(v)?;
        Ok(())
    }

    /// With codes: how many of the best candidates a search re-scores with the full vectors
    /// (at least ``k``); 0 (default) = automatic.
    #[getter]
    fn rerank(&self) -> usize {
        self.inner.rerank
    }
    #[setter]
    fn set_rerank(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.rerank = uint_arg(v, "rerank")?;
        Ok(())
    }

    /// Memory in bytes for the parts that grow with the data (codes, adjacency table, page
    /// cache, edge cache), split by the rule in the README; 0 (default) = no budget. A budget
    /// too small for the codes makes ``open`` raise ``ValueError``.
    #[getter]
    fn memory_budget_bytes(&self) -> u64 {
        self.inner.memory_budget_bytes
    }
    #[setter]
    fn set_memory_budget_bytes(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.memory_budget_bytes = uint_arg(v, "memory_budget_bytes")?;
        Ok(())
    }

    /// Layer-0 routing of searches: ``"exact"`` (default) or ``"probabilistic"`` (any case on
    /// assignment; reads back the lower-case name). With codes, probabilistic routing skips
    /// neighbours that a SimHash test says (with probability at least ``1 - routing_epsilon``)
    /// cannot enter the result pool; returned distances stay exact. Another name is
    /// ``ValueError``. May change at every open.
    #[getter]
    fn routing(&self) -> &'static str {
        self.inner.routing.name()
    }
    #[setter]
    fn set_routing(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        let Ok(s) = v.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "routing must be 'exact' or 'probabilistic', got {}",
                v.get_type().name()?
            )));
        };
        self.inner.routing = s.to_cow()?.parse::<Routing>().py()?;
        Ok(())
    }

    /// With probabilistic routing: the bound on the probability that one test wrongly skips a
    /// neighbour, in (0, 1) (default 0.1); ``ValueError`` outside.
    #[getter]
    fn routing_epsilon(&self) -> f64 {
        // The shortest decimal of the f32 the engine keeps: 0.3 reads back as 0.3, not
        // 0.30000001192092896.
        let e = self.inner.routing_epsilon;
        e.to_string().parse().unwrap_or(f64::from(e))
    }
    #[setter]
    fn set_routing_epsilon(&mut self, v: f64) -> PyResult<()> {
        // Checked as the f32 the engine keeps (a value that rounds to 0 or 1 is out too).
        let e = v as f32;
        if !(e > 0.0 && e < 1.0) {
            return Err(PyValueError::new_err(format!("routing_epsilon must be in (0, 1), got {v}")));
        }
        self.inner.routing_epsilon = e;
        Ok(())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let names = option_names(slf.py())?;
        let mut parts = Vec::with_capacity(names.len());
        for name in names {
            parts.push(format!("{name}={}", slf.getattr(name.as_str())?.repr()?));
        }
        Ok(format!("LSMVecDBOptions({})", parts.join(", ")))
    }
}

/// Parameters of one search: ``k`` (default 1) nearest neighbours from a candidate pool of
/// ``ef_search`` (default 64, must be >= k). ``SearchOptions(k=10, ef_search=128)`` also works.
#[pyclass(name = "SearchOptions", module = "lsm_vec")]
#[derive(Debug, Clone, Copy)]
pub struct PySearchOptions {
    pub(crate) inner: lsm_vec::SearchOptions,
}

#[pymethods]
impl PySearchOptions {
    #[new]
    #[pyo3(signature = (k = None, ef_search = None))]
    fn new(k: Option<&Bound<'_, PyAny>>, ef_search: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let mut inner = lsm_vec::SearchOptions::default();
        if let Some(k) = k {
            inner.k = uint_arg(k, "k")?;
        }
        if let Some(ef) = ef_search {
            inner.ef_search = uint_arg(ef, "ef_search")?;
        }
        Ok(PySearchOptions { inner })
    }

    /// Number of nearest neighbours to return (default 1).
    #[getter]
    fn k(&self) -> usize {
        self.inner.k
    }
    #[setter]
    fn set_k(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.k = uint_arg(v, "k")?;
        Ok(())
    }

    /// Candidate pool size (default 64); must be >= k. Higher = better recall, slower.
    #[getter]
    fn ef_search(&self) -> usize {
        self.inner.ef_search
    }
    #[setter]
    fn set_ef_search(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.ef_search = uint_arg(v, "ef_search")?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("SearchOptions(k={}, ef_search={})", self.inner.k, self.inner.ef_search)
    }
}

/// One search hit: ``id`` (int) and ``distance`` (float), both read-only.
#[pyclass(frozen, eq, name = "SearchResult", module = "lsm_vec")]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PySearchResult {
    /// Identifier of the matched vector.
    #[pyo3(get)]
    pub id: u64,
    /// Distance from the query under the database's metric.
    #[pyo3(get)]
    pub distance: f32,
}

#[pymethods]
impl PySearchResult {
    #[new]
    fn new(id: &Bound<'_, PyAny>, distance: f32) -> PyResult<Self> {
        Ok(PySearchResult { id: crate::convert::id_arg(id)?, distance })
    }

    fn __repr__(&self) -> String {
        format!("SearchResult(id={}, distance={:?})", self.id, self.distance)
    }

    /// ``(id, distance)``.
    fn __getnewargs__(&self) -> (u64, f32) {
        (self.id, self.distance)
    }
}

impl From<lsm_vec::SearchResult> for PySearchResult {
    fn from(r: lsm_vec::SearchResult) -> Self {
        PySearchResult { id: r.id, distance: r.distance }
    }
}

/// Resolves the optional search arguments of `search_knn` / `search_knn_batch`:
/// `opts` may be a `SearchOptions` or (positional form) the `k`; keywords fill the rest; what
/// is missing comes from the database's defaults. When only `k` is given, `ef_search` is
/// raised to at least `k`.
pub fn resolve_search(
    defaults: lsm_vec::SearchOptions,
    opts: Option<&Bound<'_, PyAny>>,
    k: Option<&Bound<'_, PyAny>>,
    ef_search: Option<&Bound<'_, PyAny>>,
) -> PyResult<lsm_vec::SearchOptions> {
    let mut k_val: Option<usize> = None;
    if let Some(o) = opts.filter(|o| !o.is_none()) {
        if let Ok(so) = o.cast::<PySearchOptions>() {
            if k.is_some() || ef_search.is_some() {
                return Err(PyTypeError::new_err("pass either a SearchOptions or k / ef_search, not both"));
            }
            return Ok(so.borrow().inner);
        }
        if k.is_some() {
            return Err(PyTypeError::new_err("k given both positionally and as a keyword"));
        }
        k_val = Some(uint_arg(o, "k").map_err(|e| {
            if e.is_instance_of::<PyTypeError>(o.py()) {
                PyTypeError::new_err(format!(
                    "expected SearchOptions or an int k, got {}",
                    o.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))
            } else {
                e
            }
        })?);
    }
    if let Some(k) = k.filter(|o| !o.is_none()) {
        k_val = Some(uint_arg(k, "k")?);
    }
    let ef_val: Option<usize> = match ef_search.filter(|o| !o.is_none()) {
        Some(e) => Some(uint_arg(e, "ef_search")?),
        None => None,
    };
    let k = k_val.unwrap_or(defaults.k);
    let ef = ef_val.unwrap_or_else(|| defaults.ef_search.max(k));
    if k == 0 {
        return Err(PyValueError::new_err("k must be >= 1, got 0"));
    }
    Ok(lsm_vec::SearchOptions::new(k, ef))
}
