//! Ground truth and id lists (DESIGN.md §9):
//!
//! * Ground truth: `.ivecs`, `.ibin`, the Big-ANN ground-truth layout (u32 n, u32 k, ids[n*k],
//!   f32 distances[n*k]; accepted under `.ibin`, `.bin` and `.gt100`).
//! * Headerless little-endian u32 id lists (`*.u32`) of streaming traces.

use std::path::Path;

use super::vectors::{read_file, read_u32s, write_err, Format, VecReader, MAX_FILE_DIM};
use crate::bail;
use crate::error::Result;

/// Ground truth: `k` ids per query (and the distances when the file holds them).
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Number of queries.
    pub n: usize,
    /// Neighbours per query.
    pub k: usize,
    /// `n * k` ids, nearest first. Negative ids of int files (padding) become `u32::MAX`.
    pub ids: Vec<u32>,
    /// `n * k` distances (squared L2 for traces), when the file has them.
    pub dists: Option<Vec<f32>>,
}

impl Truth {
    /// The ids of query `q`.
    pub fn row(&self, q: usize) -> &[u32] {
        &self.ids[q * self.k..(q + 1) * self.k]
    }
}

/// Reads a ground-truth file: `.ivecs`, `.ibin`, or the Big-ANN / trace ground-truth layout
/// (u32 n, u32 k, ids, f32 distances) under `.ibin`, `.bin` or `.gtNNN`.
pub fn read_truth(path: impl AsRef<Path>) -> Result<Truth> {
    let path = path.as_ref();
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    if ext == "ivecs" {
        let m = VecReader::open_as(path, Format::Ivecs)?;
        let (n, k) = (m.len(), m.dim());
        let bytes = read_file(path)?;
        if bytes.len() != n * (4 + 4 * k) {
            bail!("{}: the file changed while it was read", path.display());
        }
        let mut ids = Vec::with_capacity(n * k);
        for r in 0..n {
            let row = r * (4 + 4 * k);
            let d = i32::from_le_bytes([bytes[row], bytes[row + 1], bytes[row + 2], bytes[row + 3]]);
            if d as i64 != k as i64 {
                bail!("{}: row {r} at offset {row} has {d} ids, expected {k} like row 0", path.display());
            }
            ids.extend(read_u32s(&bytes[row + 4..row + 4 + 4 * k]));
        }
        return Ok(Truth { n, k, ids, dists: None });
    }
    let is_gt = ext == "bin" || ext.starts_with("gt");
    if ext != "ibin" && ext != "i32bin" && !is_gt {
        bail!("{}: unknown ground-truth extension {ext:?} (expected .ivecs, .ibin, .bin or .gt100)", path.display());
    }
    let bytes = read_file(path)?;
    let len = bytes.len() as u64;
    if len < 8 {
        bail!("{}: truncated: {len} bytes is shorter than the 8-byte header (n, k)", path.display());
    }
    let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as u64;
    let k = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as u64;
    if k == 0 || k > MAX_FILE_DIM as u64 || n > i32::MAX as u64 {
        bail!("{}: not a ground-truth file: header says n={n}, k={k} at offset 0", path.display());
    }
    let ids_end = 8 + 4 * n * k;
    let with_dists = 8 + 8 * n * k;
    let has_dists = if len == with_dists {
        true
    } else if len == ids_end && !is_gt {
        false
    } else if len < if is_gt { with_dists } else { ids_end } {
        bail!(
            "{}: truncated: the header says {n} queries x {k} neighbours, {} bytes expected{}, \
             the file has {len} bytes (ends inside {} at offset {len})",
            path.display(),
            if is_gt { with_dists } else { ids_end },
            if is_gt { " (ids then f32 distances)" } else { "" },
            if len < ids_end { "the ids" } else { "the distances" }
        );
    } else {
        bail!(
            "{}: not a ground-truth file: the header says {n} queries x {k} neighbours but the \
             file has {len} bytes (expected {ids_end} or {with_dists})",
            path.display()
        );
    };
    let ids = read_u32s(&bytes[8..ids_end as usize]);
    let dists = has_dists.then(|| {
        bytes[ids_end as usize..with_dists as usize]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    });
    Ok(Truth { n: n as usize, k: k as usize, ids, dists })
}

/// Writes ground truth as `.ivecs` (ids only).
pub fn write_ivecs(path: impl AsRef<Path>, t: &Truth) -> Result<()> {
    let path = path.as_ref();
    let mut out = Vec::with_capacity(t.n * (4 + 4 * t.k));
    for q in 0..t.n {
        out.extend_from_slice(&(t.k as i32).to_le_bytes());
        for &id in t.row(q) {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    std::fs::write(path, out).map_err(|e| write_err(path, e))
}

/// Writes ground truth in the trace layout (u32 n, u32 k, u32 ids, f32 distances).
pub fn write_gt(path: impl AsRef<Path>, t: &Truth) -> Result<()> {
    let path = path.as_ref();
    let dists = match &t.dists {
        Some(d) => d,
        None => bail!("{}: ground truth without distances cannot be written as .gt", path.display()),
    };
    let mut out = Vec::with_capacity(8 + 8 * t.n * t.k);
    out.extend_from_slice(&(t.n as u32).to_le_bytes());
    out.extend_from_slice(&(t.k as u32).to_le_bytes());
    for &id in &t.ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    for &d in dists {
        out.extend_from_slice(&d.to_le_bytes());
    }
    std::fs::write(path, out).map_err(|e| write_err(path, e))
}

/// Reads a headerless little-endian u32 list.
pub fn read_u32_list(path: impl AsRef<Path>) -> Result<Vec<u32>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    if bytes.len() % 4 != 0 {
        bail!(
            "{}: truncated or not a u32 list: {} bytes is not a multiple of 4 (last id at offset \
             {} is incomplete)",
            path.display(),
            bytes.len(),
            bytes.len() / 4 * 4
        );
    }
    Ok(read_u32s(&bytes))
}

/// Writes a headerless little-endian u32 list.
pub fn write_u32_list(path: impl AsRef<Path>, ids: &[u32]) -> Result<()> {
    let path = path.as_ref();
    let mut out = Vec::with_capacity(ids.len() * 4);
    for &id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    std::fs::write(path, out).map_err(|e| write_err(path, e))
}
