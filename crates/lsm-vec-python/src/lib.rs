//! Python bindings of lsm-vec: the compiled module `lsm_vec._lsm_vec`, re-exported by the
//! pure-Python package `lsm_vec` (see `python/lsm_vec/`). A thin layer over the engine's
//! public API: argument conversion (`convert`), the exception mapping (`errors`), the value
//! types (`options`) and the database handle (`db`).

mod convert;
mod db;
mod errors;
mod options;

use pyo3::prelude::*;

/// lsm-vec: a disk-resident vector database (HNSW with layer 0 in an LSM tree).
#[pymodule]
fn _lsm_vec(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<options::PyDistanceMetric>()?;
    m.add_class::<options::PyQuantization>()?;
    m.add_class::<options::PyDbOptions>()?;
    m.add_class::<options::PySearchOptions>()?;
    m.add_class::<options::PySearchResult>()?;
    m.add_class::<db::PyLsmVecDb>()?;
    errors::register(m)?;
    Ok(())
}
