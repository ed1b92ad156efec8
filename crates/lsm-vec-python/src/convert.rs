//! Conversion of Python arguments into what the engine takes.
//!
//! Vectors: a C-contiguous (aligned, native-endian) float32 numpy array is borrowed without a
//! copy; any other numpy array of a real numeric dtype (float16/32/64, ints), any memory
//! layout, is converted once with `numpy.require(x, dtype=float32, requirements="CA")`;
//! lists and tuples are read element by element. Ids: Python ints (or numpy integers) in
//! `0 ..= 2**64-1`; anything outside is a `ValueError`, never a silent truncation; a `bool`
//! (or a numpy bool array of ids) is a `TypeError`, not the id 1 or 0.
//!
//! All conversion happens while attached to the interpreter; the work that follows runs
//! detached (GIL released) on the borrowed slices.

use numpy::{
    PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyTuple};

/// Whether `obj` is a `bool` or a numpy bool scalar. Python counts `True` as the int 1; an id,
/// count or code given as a bool is almost surely a mistake, so the conversions here refuse it.
pub fn is_bool(obj: &Bound<'_, PyAny>) -> bool {
    if obj.is_instance_of::<PyBool>() {
        return true;
    }
    if obj.is_instance_of::<PyInt>() {
        return false;
    }
    let t = obj.get_type();
    let named_bool = t.name().map(|n| matches!(n.to_cow().as_deref(), Ok("bool" | "bool_"))).unwrap_or(false);
    named_bool && t.module().map(|m| m.to_cow().map(|m| m == "numpy").unwrap_or(false)).unwrap_or(false)
}

fn bool_err(what: &str) -> PyErr {
    PyTypeError::new_err(format!("{what} must be an int, not bool"))
}

/// Extracts a non-negative integer that fits in `T`; negative or too large values are
/// `ValueError` (Python would say `OverflowError`), non-integers (and bools) `TypeError`.
pub fn uint_arg<T: TryFrom<u64>>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    if !obj.is_exact_instance_of::<PyInt>() && is_bool(obj) {
        return Err(bool_err(what));
    }
    let out_of_range = || {
        let shown = obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
        let max = std::any::type_name::<T>();
        PyValueError::new_err(format!("{what} must be a non-negative integer that fits in {max}, got {shown}"))
    };
    match obj.extract::<u64>() {
        Ok(v) => T::try_from(v).map_err(|_| out_of_range()),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(out_of_range()),
        // Name the argument: "threads must be an int, not float".
        Err(e) if e.is_instance_of::<PyTypeError>(obj.py()) => {
            let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
            Err(PyTypeError::new_err(format!("{what} must be an int, not {ty}")))
        }
        Err(e) => Err(e),
    }
}

/// Extracts a vector id (`0 ..= 2**64-1`): an int or numpy integer; a bool is `TypeError`.
pub fn id_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if !obj.is_exact_instance_of::<PyInt>() && is_bool(obj) {
        return Err(bool_err("id"));
    }
    match obj.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            let shown = obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
            Err(PyValueError::new_err(format!("id must be an integer in [0, 2**64-1], got {shown}")))
        }
        Err(e) => Err(e),
    }
}

/// `numpy.require(obj, dtype=float32, requirements="CA")`: a C-contiguous, aligned float32
/// array (the caller's own when it already is one, else a converted copy).
fn as_f32_c_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", np.getattr("float32")?)?;
    kwargs.set_item("requirements", "CA")?;
    np.call_method("require", (obj,), Some(&kwargs))
}

/// Checks that a numpy array holds real numbers (float, signed or unsigned int).
fn check_numeric(arr: &Bound<'_, PyUntypedArray>, what: &str) -> PyResult<()> {
    let dtype = arr.dtype();
    match dtype.kind() {
        b'f' | b'i' | b'u' => Ok(()),
        _ => Err(PyTypeError::new_err(format!(
            "{what} must hold real numbers, got a numpy array of dtype {}",
            dtype.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
        ))),
    }
}

fn shape_str(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// A 1-D float32 vector argument, borrowed from numpy when possible.
pub enum VectorArg<'py> {
    /// A C-contiguous float32 array (the caller's, or a converted copy).
    Array(PyReadonlyArray1<'py, f32>),
    /// Values read from a list or tuple.
    Owned(Vec<f32>),
}

impl<'py> VectorArg<'py> {
    /// Converts `obj` (list, tuple, numpy array, or anything `numpy.asarray` accepts).
    pub fn extract(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(arr) = obj.cast::<PyUntypedArray>() {
            if arr.ndim() != 1 {
                return Err(PyValueError::new_err(format!(
                    "{what} must be 1-D, got a numpy array of shape {}",
                    shape_str(arr.shape())
                )));
            }
            if let Ok(f) = obj.cast::<PyArray1<f32>>() {
                if f.is_c_contiguous() && f.is_aligned() {
                    return Ok(VectorArg::Array(f.try_readonly()?));
                }
            }
            check_numeric(arr, what)?;
            return Self::converted(obj, what);
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            return Ok(VectorArg::Owned(
                obj.extract::<Vec<f32>>()
                    .map_err(|e| PyTypeError::new_err(format!("{what} must be a sequence of numbers: {e}")))?,
            ));
        }
        if obj.is_instance_of::<pyo3::types::PyString>() {
            return Err(PyTypeError::new_err(format!("{what} must be a sequence of numbers, got str")));
        }
        Self::converted(obj, what)
    }

    fn converted(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let conv = as_f32_c_array(obj)?;
        let arr = conv.cast_into::<PyArray1<f32>>().map_err(|_| {
            let nd = obj
                .py()
                .import("numpy")
                .and_then(|np| np.call_method1("ndim", (obj,)))
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into());
            PyValueError::new_err(format!("{what} must be 1-D, got a {nd}-d value"))
        })?;
        Ok(VectorArg::Array(arr.try_readonly()?))
    }

    /// The values, contiguous.
    pub fn as_slice(&self) -> PyResult<&[f32]> {
        match self {
            VectorArg::Array(a) => {
                a.as_slice().map_err(|e| PyValueError::new_err(format!("array is not contiguous: {e}")))
            }
            VectorArg::Owned(v) => Ok(v),
        }
    }
}

/// A 2-D float32 matrix argument (row-major), borrowed from numpy when possible.
pub struct MatrixArg<'py> {
    arr: PyReadonlyArray2<'py, f32>,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl<'py> MatrixArg<'py> {
    /// Converts `obj` (a 2-D numpy array of any real dtype and layout, or a list of lists).
    pub fn extract(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let arr: Bound<'py, PyArray2<f32>> = match obj.cast::<PyArray2<f32>>() {
            Ok(f) if f.is_c_contiguous() && f.is_aligned() => f.clone(),
            _ => {
                if let Ok(u) = obj.cast::<PyUntypedArray>() {
                    check_numeric(u, what)?;
                }
                let conv = as_f32_c_array(obj)?;
                match conv.cast_into::<PyArray2<f32>>() {
                    Ok(a) => a,
                    Err(e) => {
                        let got = e.into_inner();
                        let shape =
                            got.cast::<PyUntypedArray>().map(|u| shape_str(u.shape())).unwrap_or_else(|_| "?".into());
                        return Err(PyValueError::new_err(format!(
                            "{what} must be 2-D (one row per vector), got shape {shape}"
                        )));
                    }
                }
            }
        };
        let shape = arr.shape();
        let (rows, cols) = (shape[0], shape[1]);
        Ok(MatrixArg { arr: arr.try_readonly()?, rows, cols })
    }

    /// The values, row-major.
    pub fn as_slice(&self) -> PyResult<&[f32]> {
        self.arr.as_slice().map_err(|e| PyValueError::new_err(format!("array is not contiguous: {e}")))
    }
}

/// A list of ids: a 1-D numpy integer array or any iterable of Python ints.
pub fn ids_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    let py = obj.py();
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        if arr.ndim() != 1 {
            return Err(PyValueError::new_err(format!(
                "ids must be 1-D, got a numpy array of shape {}",
                shape_str(arr.shape())
            )));
        }
        if let Ok(u) = obj.cast::<PyArray1<u64>>() {
            return Ok(u.to_vec()?);
        }
        match arr.dtype().kind() {
            b'u' => {}
            b'i' => {
                let np = py.import("numpy")?;
                let negative: bool = np.call_method1("any", (obj.call_method1("__lt__", (0,))?,))?.extract()?;
                if negative {
                    return Err(PyValueError::new_err("ids must be integers in [0, 2**64-1], got a negative id"));
                }
            }
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "ids must be integers, got a numpy array of dtype {}",
                    arr.dtype().str()?
                )))
            }
        }
        let conv = obj.call_method1("astype", ("uint64",))?;
        return Ok(conv.cast_into::<PyArray1<u64>>()?.to_vec()?);
    }
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for item in obj.try_iter()? {
        out.push(id_arg(&item?)?);
    }
    Ok(out)
}

/// A JSON text (the engine's serialization of `Stats` or `DbOptions`) as Python objects, with
/// `json.loads`: objects become dicts in the struct's field order, integers stay exact ints.
/// Python's `stats()` dict and the option names derive from it, so a field the engine gains
/// appears in the bindings without a hand-written copy.
pub fn json_to_py<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (json,))
}

/// `value` serialized by serde and converted with [`json_to_py`].
pub fn serde_to_py<'py, T: serde::Serialize + ?Sized>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("cannot serialize: {e}")))?;
    json_to_py(py, &json)
}
