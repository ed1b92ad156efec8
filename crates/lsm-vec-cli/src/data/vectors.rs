//! Readers and writers for the vector file formats of DESIGN.md §9.
//!
//! * TEXMEX: `.fvecs` (per row: i32 dim, then f32 values), `.bvecs` (i32 dim, then u8),
//!   `.ivecs` (i32 dim, then i32 values).
//! * Big-ANN: `.fbin` / `.u8bin` / `.ibin` (i32 n, i32 d, then n*d values, row-major).
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

pub(super) fn open_file(path: &Path) -> Result<(File, u64)> {
    let f = File::open(path).map_err(|e| CliError(format!("{}: cannot open: {e}", path.display())))?;
    let len = f.metadata().map_err(|e| CliError(format!("{}: cannot stat: {e}", path.display())))?.len();
    Ok((f, len))
}

pub(super) fn read_i32_at(f: &File, path: &Path, offset: u64, what: &str) -> Result<i32> {
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

pub(super) fn write_err(path: &Path, e: std::io::Error) -> CliError {
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

pub(super) fn read_u32s(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub(super) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError(format!("{}: cannot read: {e}", path.display())))
}
