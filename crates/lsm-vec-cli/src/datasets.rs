//! Readers and writers for the vector file formats of DESIGN.md §9.
//!
//! * TEXMEX: `.fvecs` (per row: i32 dim, then f32 values), `.bvecs` (i32 dim, then u8),
//!   `.ivecs` (i32 dim, then i32 values).
//! * Big-ANN: `.fbin` / `.u8bin` / `.ibin` (i32 n, i32 d, then n*d values, row-major).
//! * Ground truth: `.ivecs`, `.ibin`, the Big-ANN ground-truth layout (u32 n, u32 k, ids[n*k],
//!   f32 distances[n*k]; accepted under `.ibin`, `.bin` and `.gt100`).
//! * Headerless little-endian u32 id lists (`*.u32`) of streaming traces.
//!
//! Everything is little-endian. Vector files are streamed row by row ([`VecReader`]) or read at
//! a row index with positioned I/O ([`RowFile`]), so a base set never has to sit in memory.
//! Every error names the file, and the byte offset where a file is truncated or inconsistent.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::bail;
use crate::error::{CliError, Result};

/// Largest dimension a reader accepts; a larger header value means a foreign file.
pub const MAX_FILE_DIM: usize = 1 << 20;

/// A vector file format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TEXMEX float vectors.
    Fvecs,
    /// TEXMEX byte vectors.
    Bvecs,
    /// TEXMEX int vectors (ids of a ground truth).
    Ivecs,
    /// Big-ANN float matrix.
    Fbin,
    /// Big-ANN byte matrix.
    U8bin,
    /// Big-ANN int matrix.
    Ibin,
}

impl Format {
    /// The format of `path`, from its extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
        Ok(match ext.as_str() {
            "fvecs" => Format::Fvecs,
            "bvecs" => Format::Bvecs,
            "ivecs" => Format::Ivecs,
            "fbin" => Format::Fbin,
            "u8bin" => Format::U8bin,
            "ibin" | "i32bin" => Format::Ibin,
            _ => bail!(
                "{}: unknown vector file extension {ext:?} (expected .fvecs, .bvecs, .ivecs, \
                 .fbin, .u8bin or .ibin)",
                path.display()
            ),
        })
    }

    /// Bytes per component.
    pub fn elem_size(self) -> usize {
        match self {
            Format::Bvecs | Format::U8bin => 1,
            _ => 4,
        }
    }

    /// Whether every row carries its own dimension header (TEXMEX).
    pub fn is_vecs(self) -> bool {
        matches!(self, Format::Fvecs | Format::Bvecs | Format::Ivecs)
    }

    /// The extension without a dot.
    pub fn name(self) -> &'static str {
        match self {
            Format::Fvecs => "fvecs",
            Format::Bvecs => "bvecs",
            Format::Ivecs => "ivecs",
            Format::Fbin => "fbin",
            Format::U8bin => "u8bin",
            Format::Ibin => "ibin",
        }
    }

    fn decode(self, raw: &[u8], out: &mut [f32]) {
        match self {
            Format::Fvecs | Format::Fbin => {
                for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Format::Ivecs | Format::Ibin => {
                for (o, c) in out.iter_mut().zip(raw.chunks_exact(4)) {
                    *o = i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32;
                }
            }
            Format::Bvecs | Format::U8bin => {
                for (o, &b) in out.iter_mut().zip(raw) {
                    *o = b as f32;
                }
            }
        }
    }
}

fn open_file(path: &Path) -> Result<(File, u64)> {
    let f = File::open(path).map_err(|e| CliError(format!("{}: cannot open: {e}", path.display())))?;
    let len = f.metadata().map_err(|e| CliError(format!("{}: cannot stat: {e}", path.display())))?.len();
    Ok((f, len))
}

fn read_i32_at(f: &File, path: &Path, offset: u64, what: &str) -> Result<i32> {
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, offset)
        .map_err(|e| CliError(format!("{}: cannot read {what} at offset {offset}: {e}", path.display())))?;
    Ok(i32::from_le_bytes(b))
}

/// Shape of a vector file: rows, dimension and where the first row starts.
#[derive(Debug, Clone, Copy)]
struct Layout {
    format: Format,
    n: usize,
    dim: usize,
    /// Byte offset of row 0's first component.
    data_start: u64,
    /// Bytes between the starts of consecutive rows.
    row_stride: u64,
}

impl Layout {
    fn row_offset(&self, i: usize) -> u64 {
        // For TEXMEX rows, point at the row's dimension header.
        let header = if self.format.is_vecs() { 4 } else { 0 };
        self.data_start - header + i as u64 * self.row_stride
    }

    fn probe(f: &File, path: &Path, len: u64, format: Format) -> Result<Layout> {
        let es = format.elem_size() as u64;
        if format.is_vecs() {
            if len == 0 {
                return Ok(Layout { format, n: 0, dim: 0, data_start: 4, row_stride: 4 });
            }
            if len < 4 {
                bail!(
                    "{}: truncated: {len} bytes is shorter than one .{} row header (4 bytes)",
                    path.display(),
                    format.name()
                );
            }
            let d = read_i32_at(f, path, 0, "the first row's dimension")?;
            if d <= 0 || d as usize > MAX_FILE_DIM {
                bail!(
                    "{}: not a .{} file: the first row's dimension field at offset 0 is {d}",
                    path.display(),
                    format.name()
                );
            }
            let row = 4 + d as u64 * es;
            if !len.is_multiple_of(row) {
                let full = len / row;
                bail!(
                    "{}: truncated or not a .{} file: {len} bytes is not a whole number of rows \
                     of {row} bytes (dim {d}); row {full} at offset {} is incomplete",
                    path.display(),
                    format.name(),
                    full * row
                );
            }
            Ok(Layout { format, n: (len / row) as usize, dim: d as usize, data_start: 4, row_stride: row })
        } else {
            if len < 8 {
                bail!(
                    "{}: truncated: {len} bytes is shorter than the 8-byte .{} header (n, d)",
                    path.display(),
                    format.name()
                );
            }
            let n = read_i32_at(f, path, 0, "the row count")?;
            let d = read_i32_at(f, path, 4, "the dimension")?;
            if n < 0 || d <= 0 || d as usize > MAX_FILE_DIM {
                bail!("{}: not a .{} file: header says n={n}, d={d} at offset 0", path.display(), format.name());
            }
            let row = d as u64 * es;
            let expected = 8 + n as u64 * row;
            if len < expected {
                let full = (len - 8) / row;
                bail!(
                    "{}: truncated: the header says {n} rows of dim {d} ({expected} bytes) but \
                     the file has {len} bytes; row {full} at offset {} is incomplete",
                    path.display(),
                    8 + full * row
                );
            }
            if len > expected {
                bail!(
                    "{}: not a .{} file (or wrong extension): the header says {n} rows of dim {d} \
                     ({expected} bytes) but the file has {len} bytes; {} unexpected bytes from \
                     offset {expected}",
                    path.display(),
                    format.name(),
                    len - expected
                );
            }
            Ok(Layout { format, n: n as usize, dim: d as usize, data_start: 8, row_stride: row })
        }
    }
}

/// A dense row-major matrix of f32 held in memory (query sets).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub n: usize,
    /// Components per row.
    pub dim: usize,
    /// `n * dim` values.
    pub data: Vec<f32>,
}

impl Matrix {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Streams the rows of a vector file, converting components to f32.
pub struct VecReader {
    path: PathBuf,
    layout: Layout,
    reader: BufReader<File>,
    next: usize,
    raw: Vec<u8>,
}

impl std::fmt::Debug for VecReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecReader").field("path", &self.path).field("next", &self.next).finish()
    }
}

impl VecReader {
    /// Opens `path`, choosing the format by extension, and checks its shape against its size.
    pub fn open(path: impl AsRef<Path>) -> Result<VecReader> {
        let path = path.as_ref();
        VecReader::open_as(path, Format::from_path(path)?)
    }

    /// Opens `path` as `format`.
    pub fn open_as(path: impl AsRef<Path>, format: Format) -> Result<VecReader> {
        let path = path.as_ref().to_path_buf();
        let (mut f, len) = open_file(&path)?;
        let layout = Layout::probe(&f, &path, len, format)?;
        let start = if format.is_vecs() { 0 } else { 8 };
        f.seek(SeekFrom::Start(start)).map_err(|e| CliError(format!("{}: seek: {e}", path.display())))?;
        let raw = vec![0u8; layout.row_stride as usize];
        Ok(VecReader { path, layout, reader: BufReader::with_capacity(1 << 20, f), next: 0, raw })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.layout.n
    }

    /// Whether the file has no rows.
    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.layout.n == 0
    }

    /// Components per row.
    pub fn dim(&self) -> usize {
        self.layout.dim
    }

    /// Index of the next row to be read (= rows read so far).
    pub fn position(&self) -> usize {
        self.next
    }

    /// Reads the next row into `out` (`dim` values). Returns false after the last row.
    pub fn read_row(&mut self, out: &mut [f32]) -> Result<bool> {
        if self.next >= self.layout.n {
            return Ok(false);
        }
        let offset = self.layout.row_offset(self.next);
        self.reader.read_exact(&mut self.raw).map_err(|e| {
            CliError(format!(
                "{}: cannot read row {} at offset {offset}: {e} (file truncated while reading?)",
                self.path.display(),
                self.next
            ))
        })?;
        let body = if self.layout.format.is_vecs() {
            let d = i32::from_le_bytes([self.raw[0], self.raw[1], self.raw[2], self.raw[3]]);
            if d as i64 != self.layout.dim as i64 {
                bail!(
                    "{}: row {} at offset {offset} has dimension {d}, expected {} like row 0 \
                     (mixed dimensions or not a .{} file)",
                    self.path.display(),
                    self.next,
                    self.layout.dim,
                    self.layout.format.name()
                );
            }
            &self.raw[4..]
        } else {
            &self.raw[..]
        };
        self.layout.format.decode(body, &mut out[..self.layout.dim]);
        self.next += 1;
        Ok(true)
    }

    /// Reads every remaining row into memory.
    pub fn read_all(mut self) -> Result<Matrix> {
        let rows = self.layout.n - self.next;
        let dim = self.layout.dim;
        let mut data = vec![0f32; rows * dim];
        for r in 0..rows {
            self.read_row(&mut data[r * dim..(r + 1) * dim])?;
        }
        Ok(Matrix { n: rows, dim, data })
    }
}

/// Reads a whole vector file into memory.
pub fn read_matrix(path: impl AsRef<Path>) -> Result<Matrix> {
    VecReader::open(path)?.read_all()
}

/// Random access to the rows of a vector file with positioned reads (no shared seek pointer).
pub struct RowFile {
    path: PathBuf,
    file: File,
    layout: Layout,
}

impl std::fmt::Debug for RowFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFile").field("path", &self.path).finish()
    }
}

impl RowFile {
    /// Opens `path` (format by extension) and checks its shape.
    pub fn open(path: impl AsRef<Path>) -> Result<RowFile> {
        let path = path.as_ref().to_path_buf();
        let format = Format::from_path(&path)?;
        let (file, len) = open_file(&path)?;
        let layout = Layout::probe(&file, &path, len, format)?;
        Ok(RowFile { path, file, layout })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.layout.n
    }

    /// Whether the file has no rows.
    pub fn is_empty(&self) -> bool {
        self.layout.n == 0
    }

    /// Components per row.
    pub fn dim(&self) -> usize {
        self.layout.dim
    }

    /// Reads row `i` into `out`.
    pub fn read_row(&self, i: usize, out: &mut [f32]) -> Result<()> {
        if i >= self.layout.n {
            bail!("{}: row {i} out of range (the file has {} rows)", self.path.display(), self.layout.n);
        }
        let es = self.layout.format.elem_size();
        let mut raw = vec![0u8; self.layout.dim * es];
        let offset = self.layout.data_start + i as u64 * self.layout.row_stride;
        self.file
            .read_exact_at(&mut raw, offset)
            .map_err(|e| CliError(format!("{}: cannot read row {i} at offset {offset}: {e}", self.path.display())))?;
        self.layout.format.decode(&raw, &mut out[..self.layout.dim]);
        Ok(())
    }
}

/// Writes a vector file row by row. Big-ANN headers are patched with the row count on
/// [`VecWriter::finish`].
pub struct VecWriter {
    path: PathBuf,
    format: Format,
    dim: usize,
    n: usize,
    w: BufWriter<File>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for VecWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecWriter").field("path", &self.path).finish()
    }
}

fn write_err(path: &Path, e: std::io::Error) -> CliError {
    CliError(format!("{}: write failed: {e}", path.display()))
}

impl VecWriter {
    /// Creates `path` (format by extension) for rows of `dim` components.
    pub fn create(path: impl AsRef<Path>, dim: usize) -> Result<VecWriter> {
        let path = path.as_ref();
        VecWriter::create_as(path, Format::from_path(path)?, dim)
    }

    /// Creates `path` as `format`.
    pub fn create_as(path: impl AsRef<Path>, format: Format, dim: usize) -> Result<VecWriter> {
        let path = path.as_ref().to_path_buf();
        if dim == 0 || dim > MAX_FILE_DIM || dim > i32::MAX as usize {
            bail!("{}: cannot write vectors of dimension {dim}", path.display());
        }
        let f = File::create(&path).map_err(|e| CliError(format!("{}: cannot create: {e}", path.display())))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        if !format.is_vecs() {
            w.write_all(&0i32.to_le_bytes()).map_err(|e| write_err(&path, e))?;
            w.write_all(&(dim as i32).to_le_bytes()).map_err(|e| write_err(&path, e))?;
        }
        Ok(VecWriter { path, format, dim, n: 0, w, buf: Vec::new() })
    }

    /// Appends one row. Byte formats need integral values in 0..=255, int formats integral
    /// values in the i32 range.
    pub fn write_row(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.dim {
            bail!("{}: row of {} values, expected {}", self.path.display(), row.len(), self.dim);
        }
        self.buf.clear();
        if self.format.is_vecs() {
            self.buf.extend_from_slice(&(self.dim as i32).to_le_bytes());
        }
        for &v in row {
            match self.format {
                Format::Fvecs | Format::Fbin => self.buf.extend_from_slice(&v.to_le_bytes()),
                Format::Bvecs | Format::U8bin => {
                    if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
                        bail!("{}: value {v} does not fit a byte", self.path.display());
                    }
                    self.buf.push(v as u8);
                }
                Format::Ivecs | Format::Ibin => {
                    if v.fract() != 0.0 || v < i32::MIN as f32 || v > i32::MAX as f32 {
                        bail!("{}: value {v} is not an i32", self.path.display());
                    }
                    self.buf.extend_from_slice(&(v as i32).to_le_bytes());
                }
            }
        }
        self.w.write_all(&self.buf).map_err(|e| write_err(&self.path, e))?;
        self.n += 1;
        Ok(())
    }

    /// Flushes, patches the header and closes the file.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let mut f = self.w.into_inner().map_err(|e| write_err(&path, e.into_error()))?;
        if !self.format.is_vecs() {
            if self.n > i32::MAX as usize {
                bail!("{}: too many rows ({}) for the i32 header", path.display(), self.n);
            }
            f.seek(SeekFrom::Start(0)).map_err(|e| write_err(&path, e))?;
            f.write_all(&(self.n as i32).to_le_bytes()).map_err(|e| write_err(&path, e))?;
        }
        f.sync_all().map_err(|e| write_err(&path, e))?;
        Ok(())
    }
}

/// Writes a whole matrix (format by extension).
pub fn write_matrix(path: impl AsRef<Path>, m: &Matrix) -> Result<()> {
    let mut w = VecWriter::create(path, m.dim)?;
    for i in 0..m.n {
        w.write_row(m.row(i))?;
    }
    w.finish()
}

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

fn read_u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError(format!("{}: cannot read: {e}", path.display())))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, dim: usize, integral: bool) -> Matrix {
        let data = (0..n * dim).map(|i| if integral { (i % 251) as f32 } else { (i as f32) * 0.37 - 5.0 }).collect();
        Matrix { n, dim, data }
    }

    #[test]
    fn every_vector_format_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        for (ext, integral) in
            [("fvecs", false), ("fbin", false), ("bvecs", true), ("u8bin", true), ("ivecs", true), ("ibin", true)]
        {
            let m = sample(37, 13, integral);
            let p = dir.path().join(format!("x.{ext}"));
            write_matrix(&p, &m).unwrap();
            let back = read_matrix(&p).unwrap();
            assert_eq!(back, m, "{ext}");
            // Random access agrees with streaming.
            let rf = RowFile::open(&p).unwrap();
            assert_eq!((rf.len(), rf.dim()), (37, 13));
            let mut row = vec![0f32; 13];
            rf.read_row(36, &mut row).unwrap();
            assert_eq!(row, m.row(36), "{ext}");
            assert!(rf.read_row(37, &mut row).is_err());
        }
    }

    #[test]
    fn empty_files_have_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.fbin");
        VecWriter::create(&p, 4).unwrap().finish().unwrap();
        let r = VecReader::open(&p).unwrap();
        assert_eq!((r.len(), r.dim()), (0, 4));
        let p = dir.path().join("e.fvecs");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(VecReader::open(&p).unwrap().len(), 0);
    }

    #[test]
    fn truncated_files_name_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        for ext in ["fvecs", "fbin", "bvecs", "u8bin"] {
            let m = sample(10, 8, true);
            let p = dir.path().join(format!("t.{ext}"));
            write_matrix(&p, &m).unwrap();
            let len = std::fs::metadata(&p).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_len(len - 3).unwrap();
            let err = VecReader::open(&p).unwrap_err().to_string();
            assert!(err.contains("t.") && err.contains("truncated"), "{ext}: {err}");
            assert!(err.contains("offset"), "{ext}: {err}");
        }
    }

    #[test]
    fn foreign_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.fvecs");
        std::fs::write(&p, b"hello world, this is not vectors").unwrap();
        let err = VecReader::open(&p).unwrap_err().to_string();
        assert!(err.contains("junk.fvecs"), "{err}");
        let p = dir.path().join("junk.fbin");
        std::fs::write(&p, [1u8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9]).unwrap();
        let err = VecReader::open(&p).unwrap_err().to_string();
        assert!(err.contains("unexpected bytes"), "{err}");
        let p = dir.path().join("x.txt");
        std::fs::write(&p, b"").unwrap();
        assert!(VecReader::open(&p).unwrap_err().to_string().contains("extension"));
        assert!(VecReader::open(dir.path().join("missing.fvecs")).unwrap_err().to_string().contains("missing.fvecs"));
    }

    #[test]
    fn mixed_dimensions_in_fvecs_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.fvecs");
        let mut bytes = Vec::new();
        for d in [2i32, 3] {
            bytes.extend_from_slice(&d.to_le_bytes());
            for _ in 0..2 {
                bytes.extend_from_slice(&1f32.to_le_bytes());
            }
        }
        std::fs::write(&p, bytes).unwrap();
        let mut r = VecReader::open(&p).unwrap();
        let mut row = [0f32; 2];
        assert!(r.read_row(&mut row).unwrap());
        let err = r.read_row(&mut row).unwrap_err().to_string();
        assert!(err.contains("row 1 at offset 12"), "{err}");
    }

    #[test]
    fn truth_round_trips_in_every_layout() {
        let dir = tempfile::tempdir().unwrap();
        let t = Truth { n: 3, k: 4, ids: (0..12).collect(), dists: Some((0..12).map(|i| i as f32 * 0.5).collect()) };
        let p = dir.path().join("g.gt100");
        write_gt(&p, &t).unwrap();
        assert_eq!(read_truth(&p).unwrap(), t);
        let p = dir.path().join("g.ibin");
        write_gt(&p, &t).unwrap();
        assert_eq!(read_truth(&p).unwrap(), t, "Big-ANN ground truth under .ibin");
        let p = dir.path().join("g.ivecs");
        write_ivecs(&p, &t).unwrap();
        let back = read_truth(&p).unwrap();
        assert_eq!((back.n, back.k, &back.ids), (3, 4, &t.ids));
        // An .ivecs row whose header disagrees with row 0.
        let p = dir.path().join("mixed.ivecs");
        let words: [i32; 6] = [2, 5, 6, 3, 7, 8];
        std::fs::write(&p, words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let err = read_truth(&p).unwrap_err().to_string();
        assert!(err.contains("row 1 at offset 12"), "{err}");
        // Truncated trace ground truth.
        let p = dir.path().join("bad.gt100");
        write_gt(&p, &t).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(8 + 48 + 10).unwrap();
        let err = read_truth(&p).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("distances"), "{err}");
    }

    #[test]
    fn u32_lists_round_trip_and_detect_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.u32");
        let ids = vec![0, 7, u32::MAX, 42];
        write_u32_list(&p, &ids).unwrap();
        assert_eq!(read_u32_list(&p).unwrap(), ids);
        std::fs::write(&p, [1u8, 0, 0, 0, 5]).unwrap();
        let err = read_u32_list(&p).unwrap_err().to_string();
        assert!(err.contains("offset 4"), "{err}");
    }
}
