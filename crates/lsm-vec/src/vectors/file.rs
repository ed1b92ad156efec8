//! The vector file: a header page, then records at the offsets `Layout` gives.
//!
//! Header (little-endian, format 2): magic `LSMVECVF` (8 bytes), format version u32, dim u32,
//! storage type u8, 3 zero bytes, record bytes u32, instance id u64 (shared with the LSM's
//! `meta`, so a vector file of another database is rejected), owner path length u16 and the
//! owner path (the database directory that writes this file, so that a copied database that
//! would share an external vector file is caught), then xxh3-64 of everything before it.
//! Format 1 (read only, for migration) ended after the instance id with the checksum.
//! All reads and writes are positioned (`pread`/`pwrite`, through `storage::VectorIo`), so
//! concurrent readers need no seek lock.
//!
//! Records carry no header: each record's checksum lives in the node record of the LSM that
//! references the slot ([`checksum`]), so a damaged record, or a slot holding another node's
//! bytes, fails the check on every verified read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::layout::{Layout, HEADER_BYTES, PAGE_BYTES, PAGE_FLOATS};
use std::sync::Arc;

use crate::cache::{ClockCache, Entry};
use crate::error::{Error, Result};
use crate::options::VectorStorageType;
use crate::storage::{Storage, VectorIo};

#[cfg(not(target_endian = "little"))]
compile_error!("lsm-vec stores f32 little-endian and reads them in place: little-endian only");

const MAGIC: &[u8; 8] = b"LSMVECVF";
/// Vector file format version written by this build.
pub(crate) const FILE_VERSION: u32 = 2;
/// The longest owner path a header can hold.
const MAX_OWNER_BYTES: usize = 3900;

/// The checksum of a record, as stored in its node record: the low 32 bits of xxh3-64 of the
/// record's bytes.
pub(crate) fn checksum(v: &[f32]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(f32_bytes(v)) as u32
}

/// One cached page, held inline in the cache entry (one pointer hop from the cache slot), on a
/// cache-line boundary: a record at a 64-byte multiple within the page (every record of the
/// paged layout at 16, 32, 64, 128... dimensions) loads only its own lines.
#[repr(C, align(64))]
struct PageBuf([f32; PAGE_FLOATS]);

impl std::ops::Deref for PageBuf {
    type Target = [f32; PAGE_FLOATS];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
/// A cached page, shared with the cache.
type PageRef = Arc<Entry<PageBuf>>;

/// Cache and I/O counters a caller accumulates locally.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IoCounters {
    pub page_hits: u64,
    pub page_misses: u64,
}

pub(crate) struct VectorFile {
    file: Box<dyn VectorIo>,
    path: PathBuf,
    pub layout: Layout,
    dim: usize,
    cache: ClockCache<PageBuf>,
    pages_read: AtomicU64,
    page_hits: AtomicU64,
}

fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding or invalid bit patterns as bytes; the byte slice covers exactly
    // the memory of `v` and borrows it for the same lifetime.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn f32_bytes_mut(v: &mut [f32]) -> &mut [u8] {
    // SAFETY: every byte pattern is a valid f32, so writing arbitrary bytes is sound; the slice
    // covers exactly `v`'s memory and borrows it mutably for the same lifetime.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn encode_header(dim: usize, storage: VectorStorageType, rec_bytes: usize, instance: u64, owner: &Path) -> Vec<u8> {
    let mut h = Vec::with_capacity(PAGE_BYTES);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FILE_VERSION.to_le_bytes());
    h.extend_from_slice(&(dim as u32).to_le_bytes());
    h.push(storage.code());
    h.extend_from_slice(&[0, 0, 0]);
    h.extend_from_slice(&(rec_bytes as u32).to_le_bytes());
    h.extend_from_slice(&instance.to_le_bytes());
    let o = owner.to_string_lossy();
    let o = if o.len() > MAX_OWNER_BYTES { "" } else { o.as_ref() };
    h.extend_from_slice(&(o.len() as u16).to_le_bytes());
    h.extend_from_slice(o.as_bytes());
    let sum = xxhash_rust::xxh3::xxh3_64(&h);
    h.extend_from_slice(&sum.to_le_bytes());
    h.resize(PAGE_BYTES, 0);
    h
}

/// What a header says; `decode_header` checks magic, checksum and version.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub version: u32,
    pub dim: usize,
    pub storage: VectorStorageType,
    pub instance: u64,
    /// The database directory that owns the file (format 2; `None` in format 1 or when the
    /// path was too long to record).
    pub owner: Option<PathBuf>,
}

fn decode_header(path: &Path, h: &[u8]) -> Result<Header> {
    let bad = |off: u64, why: &str| Error::corruption(path, Some(off), why.to_string());
    if h.len() < 40 {
        return Err(bad(0, "file too short for an lsm-vec vector file header"));
    }
    if &h[0..8] != MAGIC {
        return Err(bad(0, "bad magic: not an lsm-vec vector file"));
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let version = u32_at(8);
    let (sum_at, owner) = match version {
        1 => (32, None),
        2 => {
            let len = u16::from_le_bytes([h[32], h[33]]) as usize;
            if len > MAX_OWNER_BYTES || 34 + len + 8 > h.len() {
                return Err(bad(32, "header owner field is out of range"));
            }
            (34 + len, Some(&h[34..34 + len]))
        }
        v => {
            return Err(bad(
                8,
                &format!("unsupported vector file format version {v} (this build reads 1 and {FILE_VERSION})"),
            ));
        }
    };
    let sum = u64::from_le_bytes(h[sum_at..sum_at + 8].try_into().expect("8 bytes"));
    if xxhash_rust::xxh3::xxh3_64(&h[0..sum_at]) != sum {
        return Err(bad(sum_at as u64, "header checksum mismatch"));
    }
    let owner = match owner {
        Some([]) | None => None,
        Some(o) => Some(PathBuf::from(std::str::from_utf8(o).map_err(|_| bad(34, "owner path is not UTF-8"))?)),
    };
    let dim = u32_at(12) as usize;
    let storage = VectorStorageType::from_code(h[16] as i64).map_err(|_| bad(16, "unknown storage type"))?;
    if h[17..20] != [0, 0, 0] {
        return Err(bad(17, "reserved header bytes are not zero"));
    }
    let rec = u32_at(20) as usize;
    if dim == 0 || rec != dim * 4 {
        return Err(bad(12, "inconsistent dimension / record size"));
    }
    let instance = u64::from_le_bytes(h[24..32].try_into().expect("8 bytes"));
    Ok(Header { version, dim, storage, instance, owner })
}

impl Header {
    /// The format version this build writes.
    pub(crate) const CURRENT_VERSION: u32 = FILE_VERSION;

    /// The header page for these values (for the fuzz wrappers; `create` and `rewrite_header`
    /// call `encode_header` directly).
    pub(crate) fn encode(dim: usize, storage: VectorStorageType, instance: u64, owner: &Path) -> Vec<u8> {
        encode_header(dim, storage, dim * 4, instance, owner)
    }

    /// Decodes the first bytes of a vector file (`path` names it in errors).
    pub(crate) fn decode(path: &Path, h: &[u8]) -> Result<Header> {
        decode_header(path, h)
    }
}

fn read_header_of(f: &dyn VectorIo, path: &Path) -> Result<Header> {
    let mut h = vec![0u8; PAGE_BYTES];
    let n = f.read_at(&mut h, 0).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    decode_header(path, &h[..n])
}

impl VectorFile {
    /// Checks that the file is long enough to hold `slot`, so a truncated file is reported
    /// instead of read as zeros.
    pub fn check_holds(&self, slot: u32) -> Result<()> {
        self.check_holds_in(slot, self.len_bytes()?)
    }

    /// [`VectorFile::check_holds`] against a file length read once (open checks every node's
    /// slot: one `fstat` for all of them).
    pub fn check_holds_in(&self, slot: u32, len: u64) -> Result<()> {
        let end = self.layout.offset(slot) + self.layout.rec_bytes as u64;
        if len < end {
            return Err(Error::corruption(
                &self.path,
                Some(len),
                format!("vector file is truncated: slot {slot} ends at byte {end}, the file has {len} bytes"),
            ));
        }
        Ok(())
    }

    /// Reads the header of an existing file without opening it for writing.
    pub fn read_header(fs: &dyn Storage, path: &Path) -> Result<Header> {
        let f = fs.open_file(path, false).map_err(|e| Error::io(format!("open vector file {}", path.display()), e))?;
        read_header_of(f.as_ref(), path)
    }

    /// Whether the file at `path` is what an interrupted [`VectorFile::create`] of the database
    /// `owner` with instance `instance` left: at most a header long, and either a header naming
    /// `instance`, or nothing but 512-byte sectors that are zero or equal to those of the header
    /// that creation writes (an empty file, or a torn header write).
    pub fn is_interrupted_creation(
        fs: &dyn Storage,
        path: &Path,
        dim: usize,
        storage: VectorStorageType,
        instance: u64,
        owner: &Path,
    ) -> Result<bool> {
        let io = |e| Error::io(format!("read {}", path.display()), e);
        let f = fs.open_file(path, false).map_err(io)?;
        if f.len_bytes().map_err(io)? > HEADER_BYTES {
            return Ok(false);
        }
        let mut b = vec![0u8; PAGE_BYTES];
        let n = f.read_at(&mut b, 0).map_err(io)?;
        if decode_header(path, &b[..n]).is_ok_and(|h| h.instance == instance) {
            return Ok(true);
        }
        let want = creation_header(dim, storage, instance, owner);
        Ok(b.chunks(512).zip(want.chunks(512)).all(|(got, want)| got == want || got.iter().all(|&x| x == 0)))
    }

    /// Creates a vector file holding only its header. With `replace`, an existing file is
    /// truncated (the caller has proved it is ours); without, an existing file is an error.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        fs: &dyn Storage,
        path: &Path,
        dim: usize,
        storage: VectorStorageType,
        instance: u64,
        owner: &Path,
        cache_pages: usize,
        replace: bool,
    ) -> Result<VectorFile> {
        let layout = Layout::new(storage, dim);
        let file = fs
            .create_file(path, replace)
            .map_err(|e| Error::io(format!("create vector file {}", path.display()), e))?;
        file.write_at(&creation_header(dim, storage, instance, owner), 0)
            .map_err(|e| Error::io(format!("write header of {}", path.display()), e))?;
        file.sync().map_err(|e| Error::io(format!("fsync {}", path.display()), e))?;
        Ok(Self::wrap(file, path, layout, dim, cache_pages))
    }

    /// Opens an existing vector file and checks it belongs to this database (instance id,
    /// dim, storage type). Returns the file and its header.
    pub fn open(
        fs: &dyn Storage,
        path: &Path,
        dim: usize,
        storage: VectorStorageType,
        instance: u64,
        cache_pages: usize,
    ) -> Result<(VectorFile, Header)> {
        let file =
            fs.open_file(path, true).map_err(|e| Error::io(format!("open vector file {}", path.display()), e))?;
        let hd = read_header_of(file.as_ref(), path)?;
        if hd.instance != instance {
            return Err(Error::corruption(
                path,
                Some(24),
                "vector file belongs to another database (instance id mismatch)",
            ));
        }
        if hd.dim != dim || hd.storage != storage {
            return Err(Error::corruption(
                path,
                Some(12),
                format!(
                    "vector file has dim {} / storage {:?}, the database says dim {dim} / storage {storage:?}",
                    hd.dim, hd.storage
                ),
            ));
        }
        Ok((Self::wrap(file, path, Layout::new(storage, dim), dim, cache_pages), hd))
    }

    /// Rewrites the header in the current format with `owner` (same instance, dim, layout),
    /// and fsyncs it. Used when a database is moved, and to migrate a format-1 header.
    pub fn rewrite_header(&self, instance: u64, owner: &Path) -> Result<()> {
        let h = encode_header(self.dim, self.layout.storage, self.layout.rec_bytes, instance, owner);
        self.file.write_at(&h, 0).map_err(|e| Error::io(format!("write header of {}", self.path.display()), e))?;
        self.sync()
    }

    /// Reads the records of `items` (`(slot, checksum, internal id)`, sorted here by slot),
    /// checks each against its checksum and calls `f(internal id, record)`. The file is read
    /// sequentially in large chunks (not through the page cache). The first mismatch is
    /// `Corruption` naming the file, the offset and the internal id.
    pub fn read_verified(&self, items: &mut [(u32, u32, u32)], mut f: impl FnMut(u32, &[f32])) -> Result<()> {
        items.sort_unstable_by_key(|&(slot, _, _)| slot);
        const CHUNK: u64 = 1 << 20;
        let rec = self.layout.rec_bytes as u64;
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_off = 0u64;
        let mut tmp = vec![0f32; self.dim];
        for &(slot, sum, id) in items.iter() {
            let off = self.layout.offset(slot);
            if off < buf_off || off + rec > buf_off + buf.len() as u64 {
                buf_off = off;
                buf.clear();
                buf.resize(CHUNK.max(rec) as usize, 0);
                let n = self
                    .file
                    .read_at(&mut buf, off)
                    .map_err(|e| Error::io(format!("read {} at {off}", self.path.display()), e))?;
                buf.truncate(n);
                if (n as u64) < rec {
                    return Err(Error::corruption(
                        &self.path,
                        Some(off),
                        format!("record of internal id {id} lies past the end of the file"),
                    ));
                }
            }
            let start = (off - buf_off) as usize;
            f32_bytes_mut(&mut tmp).copy_from_slice(&buf[start..start + rec as usize]);
            if checksum(&tmp) != sum {
                return Err(self.bad_record(slot, id));
            }
            f(id, &tmp);
        }
        Ok(())
    }

    /// The error for a record that fails its checksum.
    pub fn bad_record(&self, slot: u32, id: u32) -> Error {
        Error::corruption(
            &self.path,
            Some(self.layout.offset(slot)),
            format!("vector record of internal id {id} (slot {slot}) fails its checksum"),
        )
    }

    fn wrap(file: Box<dyn VectorIo>, path: &Path, layout: Layout, dim: usize, cache_pages: usize) -> VectorFile {
        VectorFile {
            file,
            path: path.to_path_buf(),
            layout,
            dim,
            cache: ClockCache::new(cache_pages),
            pages_read: AtomicU64::new(0),
            page_hits: AtomicU64::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length.
    pub fn len_bytes(&self) -> Result<u64> {
        self.file.len_bytes().map_err(|e| Error::io(format!("read the length of {}", self.path.display()), e))
    }

    pub fn cached_pages(&self) -> usize {
        self.cache.len()
    }

    pub fn pages_read(&self) -> u64 {
        self.pages_read.load(Relaxed)
    }

    pub fn page_hits(&self) -> u64 {
        self.page_hits.load(Relaxed)
    }

    pub fn publish(&self, c: &IoCounters) {
        if c.page_misses > 0 {
            self.pages_read.fetch_add(c.page_misses, Relaxed);
        }
        if c.page_hits > 0 {
            self.page_hits.fetch_add(c.page_hits, Relaxed);
        }
    }

    /// Reads data page `page` from the file (bytes past the end read as zeros) straight into
    /// a new cache entry (no copies of the 4 KiB page).
    fn read_page(&self, page: u32, io: &mut IoCounters) -> Result<PageRef> {
        io.page_misses += 1;
        let mut e = zeroed_page_entry();
        let buf = &mut Arc::get_mut(&mut e).expect("a new Arc is unique").value;
        let off = HEADER_BYTES + page as u64 * PAGE_BYTES as u64;
        self.file
            .read_at(f32_bytes_mut(&mut buf.0), off)
            .map_err(|e| Error::io(format!("read {} at {off}", self.path.display()), e))?;
        Ok(e)
    }

    /// Calls `f` with data page `page`, through the cache.
    #[inline]
    fn with_page<R>(&self, page: u32, io: &mut IoCounters, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
        if let Some(hit) = self.cache.get(page) {
            if let Some(e) = hit.as_ref() {
                io.page_hits += 1;
                return Ok(f(&e.value.0));
            }
        }
        let e = self.read_page(page, io)?;
        let r = f(&e.value.0);
        self.cache.put_entry(page, e);
        Ok(r)
    }

    /// Calls `f` with the record of `slot`: in place when it lies in one page, else gathered
    /// into `scratch`.
    pub fn with_record<R>(
        &self,
        slot: u32,
        scratch: &mut Vec<f32>,
        io: &mut IoCounters,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R> {
        let (first, start) = self.layout.locate(slot);
        let dim = self.dim;
        if start + dim <= PAGE_FLOATS {
            return self.with_page(first, io, |p| f(&p[start..start + dim]));
        }
        scratch.clear();
        let mut page = first;
        let mut from = start;
        while scratch.len() < dim {
            let take = (dim - scratch.len()).min(PAGE_FLOATS - from);
            self.with_page(page, io, |p| scratch.extend_from_slice(&p[from..from + take]))?;
            page += 1;
            from = 0;
        }
        Ok(f(scratch))
    }

    /// Calls `f(i, record)` for every `slots[i]`. With `batch`, records whose pages are not
    /// cached are deferred and then read grouped by page, so each missing page is read once.
    /// `misses` is scratch space.
    pub fn for_each_record(
        &self,
        slots: &[u32],
        batch: bool,
        misses: &mut Vec<u32>,
        scratch: &mut Vec<f32>,
        io: &mut IoCounters,
        mut f: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        if !batch || slots.len() < 2 {
            for (i, &s) in slots.iter().enumerate() {
                self.with_record(s, scratch, io, |r| f(i, r))?;
            }
            return Ok(());
        }
        misses.clear();
        let dim = self.dim;
        // Hits are handled in groups: first the cache look-ups, with a prefetch of each record,
        // then the distances, so the memory latency of a group overlaps. Groups stay within
        // arc-swap's fast per-thread guard slots.
        const GROUP: usize = 6;
        let mut group: [(usize, usize, Option<crate::cache::Hit<PageBuf>>); GROUP] = Default::default();
        let mut idx = 0;
        while idx < slots.len() {
            let mut g = 0;
            while g < GROUP && idx < slots.len() {
                let i = idx;
                idx += 1;
                let (page, start) = self.layout.locate(slots[i]);
                if start + dim <= PAGE_FLOATS {
                    if let Some(hit) = self.cache.get(page) {
                        if let Some(e) = hit.as_ref() {
                            prefetch(&e.value[start..start + dim]);
                            group[g] = (i, start, Some(hit));
                            g += 1;
                            continue;
                        }
                    }
                }
                misses.push(i as u32);
            }
            for slot in group.iter_mut().take(g) {
                let (i, start, hit) = (slot.0, slot.1, slot.2.take());
                if let Some(e) = hit.as_ref().and_then(|h| h.as_ref()) {
                    io.page_hits += 1;
                    f(i, &e.value[start..start + dim]);
                }
            }
        }
        if misses.len() < 2 {
            for &i in misses.iter() {
                self.with_record(slots[i as usize], scratch, io, |r| f(i as usize, r))?;
            }
            return Ok(());
        }
        let layout = self.layout;
        misses.sort_unstable_by_key(|&i| layout.first_page(slots[i as usize]));
        let pages = self.load_pages(slots, misses, io)?;
        let page_of = |p: u32| &pages[pages.partition_point(|(q, _)| *q < p)].1.value;
        for &i in misses.iter() {
            let (first, start) = layout.locate(slots[i as usize]);
            if start + dim <= PAGE_FLOATS {
                f(i as usize, &page_of(first)[start..start + dim]);
                continue;
            }
            scratch.clear();
            let (mut page, mut from) = (first, start);
            while scratch.len() < dim {
                let take = (dim - scratch.len()).min(PAGE_FLOATS - from);
                scratch.extend_from_slice(&page_of(page)[from..from + take]);
                page += 1;
                from = 0;
            }
            f(i as usize, scratch);
        }
        Ok(())
    }

    /// The pages holding the records `slots[i]` for `i` in `misses`, sorted by page number:
    /// from the cache where it has them, else from the file, with the reads that must wait for
    /// the device started together (see `storage::readahead`). Pages read are added to the cache.
    fn load_pages(&self, slots: &[u32], misses: &[u32], io: &mut IoCounters) -> Result<Vec<(u32, PageRef)>> {
        let mut wanted = Vec::with_capacity(misses.len());
        for &i in misses {
            let (first, start) = self.layout.locate(slots[i as usize]);
            let span = (start + self.dim).div_ceil(PAGE_FLOATS) as u32;
            wanted.extend(first..first + span);
        }
        wanted.sort_unstable();
        wanted.dedup();
        let offset = |page: u32| HEADER_BYTES + page as u64 * PAGE_BYTES as u64;
        let mut got: Vec<(u32, Option<PageRef>, bool)> = Vec::with_capacity(wanted.len());
        let mut waiting = 0;
        for &page in &wanted {
            if let Some(e) = self.cache.get(page).and_then(|h| h.as_ref().cloned()) {
                io.page_hits += 1;
                got.push((page, Some(e), false));
                continue;
            }
            let mut e = zeroed_page_entry();
            let buf = &mut Arc::get_mut(&mut e).expect("a new Arc is unique").value;
            if self.file.read_cached(f32_bytes_mut(&mut buf.0), offset(page)) {
                io.page_misses += 1;
                got.push((page, Some(e), true));
            } else {
                waiting += 1;
                got.push((page, None, true));
            }
        }
        if waiting > 1 {
            for (page, _, _) in got.iter().filter(|g| g.1.is_none()) {
                self.file.will_need(offset(*page), PAGE_BYTES as u64);
            }
        }
        let mut out = Vec::with_capacity(got.len());
        for (page, e, new) in got {
            let e = match e {
                Some(e) => e,
                None => self.read_page(page, io)?,
            };
            if new {
                self.cache.put_entry(page, Arc::clone(&e));
            }
            out.push((page, e));
        }
        Ok(out)
    }

    /// Writes a record (positioned write; the caller invalidates cached pages after commit).
    pub fn write(&self, slot: u32, v: &[f32]) -> Result<()> {
        let off = self.layout.offset(slot);
        self.file
            .write_at(f32_bytes(v), off)
            .map_err(|e| Error::io(format!("write {} at {off}", self.path.display()), e))
    }

    /// After a commit that wrote `v` to `slot`: cached pages holding it are replaced by copies
    /// with the new bytes (copy-on-write; readers holding the old page keep it).
    pub fn refresh_slot(&self, slot: u32, v: &[f32]) {
        let (first, start) = self.layout.locate(slot);
        let mut page = first;
        let mut from = start;
        let mut done = 0;
        while done < v.len() {
            let take = (v.len() - done).min(PAGE_FLOATS - from);
            if let Some(old) = self.cache.get(page).and_then(|h| h.as_ref().cloned()) {
                let mut e = zeroed_page_entry();
                let buf = &mut Arc::get_mut(&mut e).expect("a new Arc is unique").value;
                buf.copy_from_slice(&old.value.0);
                buf[from..from + take].copy_from_slice(&v[done..done + take]);
                self.cache.put_entry(page, e);
            }
            done += take;
            page += 1;
            from = 0;
        }
    }

    /// Tells the kernel that reads will be random (no readahead): a search reads single
    /// pages, and readahead would fetch (and evict for) pages nobody asked for. Called after the
    /// sequential verification pass of open. A hint: failure is ignored.
    pub fn advise_random(&self) {
        self.file.advise_random()
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync().map_err(|e| Error::io(format!("fsync {}", self.path.display()), e))
    }
}

/// The header [`VectorFile::create`] writes (and [`VectorFile::is_interrupted_creation`]
/// recognises, whole or torn).
fn creation_header(dim: usize, storage: VectorStorageType, instance: u64, owner: &Path) -> Vec<u8> {
    encode_header(dim, storage, Layout::new(storage, dim).rec_bytes, instance, owner)
}

/// A zero-filled page cache entry, allocated directly on the heap.
fn zeroed_page_entry() -> PageRef {
    let e = Arc::<Entry<PageBuf>>::new_zeroed();
    // SAFETY: `Entry<PageBuf>` is an array of f32 and an AtomicBool; all-zero bytes are a valid
    // value of both (0.0 and false).
    unsafe { e.assume_init() }
}

/// Asks the CPU to start loading `r` into cache (a hint; no effect on results).
#[inline]
fn prefetch(r: &[f32]) {
    crate::prefetch::prefetch_ptr(r.as_ptr().cast(), (std::mem::size_of_val(r) / 64).min(16) + 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DiskStorage;

    #[test]
    fn write_read_round_trip_both_layouts_and_large_dims() {
        let dir = tempfile::tempdir().unwrap();
        for storage in [VectorStorageType::Basic, VectorStorageType::Paged] {
            for dim in [3usize, 100, 128, 1536, 3000] {
                let p = dir.path().join(format!("v-{storage:?}-{dim}"));
                let f = VectorFile::create(&DiskStorage, &p, dim, storage, 7, dir.path(), 4, false).unwrap();
                assert!(
                    VectorFile::create(&DiskStorage, &p, dim, storage, 7, dir.path(), 4, false).is_err(),
                    "an existing file is not overwritten"
                );
                let mut io = IoCounters::default();
                let mut scratch = Vec::new();
                for slot in 0..20u32 {
                    let v: Vec<f32> = (0..dim).map(|i| slot as f32 * 1000.0 + i as f32).collect();
                    f.write(slot, &v).unwrap();
                }
                for slot in (0..20u32).rev() {
                    let got = f.with_record(slot, &mut scratch, &mut io, |r| r.to_vec()).unwrap();
                    assert_eq!(got[0], slot as f32 * 1000.0);
                    assert_eq!(got[dim - 1], slot as f32 * 1000.0 + (dim - 1) as f32);
                }
                let slots: Vec<u32> = (0..20).collect();
                let mut seen = [false; 20];
                f.for_each_record(&slots, true, &mut Vec::new(), &mut scratch, &mut io, |i, r| {
                    assert_eq!(r[0], i as f32 * 1000.0);
                    seen[i] = true;
                })
                .unwrap();
                assert!(seen.iter().all(|&s| s));
                drop(f);
                let (f, h) = VectorFile::open(&DiskStorage, &p, dim, storage, 7, 4).unwrap();
                assert_eq!((h.version, h.owner.as_deref()), (FILE_VERSION, Some(dir.path())));
                let got = f.with_record(5, &mut scratch, &mut io, |r| r.to_vec()).unwrap();
                assert_eq!(got[1], 5001.0);
                let mut items: Vec<(u32, u32, u32)> = (0..20u32)
                    .map(|slot| {
                        let v: Vec<f32> = (0..dim).map(|i| slot as f32 * 1000.0 + i as f32).collect();
                        (slot, checksum(&v), slot + 100)
                    })
                    .collect();
                let mut seen = 0;
                f.read_verified(&mut items, |id, r| {
                    assert_eq!(r[0], (id - 100) as f32 * 1000.0);
                    seen += 1;
                })
                .unwrap();
                assert_eq!(seen, 20);
                items[7].1 ^= 1;
                let e = f.read_verified(&mut items, |_, _| {}).unwrap_err();
                assert!(e.to_string().contains("internal id 107"), "{e}");
                assert!(matches!(
                    VectorFile::open(&DiskStorage, &p, dim, storage, 8, 4),
                    Err(Error::Corruption { .. })
                ));
            }
        }
    }

    #[test]
    fn foreign_file_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"hello, this is not a vector file at all, really not").unwrap();
        assert!(matches!(
            VectorFile::open(&DiskStorage, &p, 4, VectorStorageType::Paged, 1, 4),
            Err(Error::Corruption { .. })
        ));
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            VectorFile::open(&DiskStorage, &p, 4, VectorStorageType::Paged, 1, 4),
            Err(Error::Corruption { .. })
        ));
    }
}
