//! **Not API.** Thin wrappers around the crate-private decoders and encoders of the on-disk
//! formats (docs/format.md), for the fuzz tests (`tests/fuzz_decoders.rs`) and the cargo-fuzz
//! targets (`fuzz/`), and the properties both check ([`check`]). Hidden from the documentation;
//! anything here may change or go away in any release.
//!
//! The wrappers convert to and from small public mirror types so that no internal type becomes
//! public. Errors are the crate's [`Error`](crate::Error): a decoder that refuses its input says
//! `Corruption`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The engine's generator, for the integration tests' data (`tests/common`), so that the tree
/// has one.
pub use crate::rng::SplitMix64;

use crate::db::meta::{self, StoredParams};
use crate::db::paths::VectorFileLocation;
use crate::db::state_file::StateRecord;
use crate::graph::codec::{self, NodeRecord};
use crate::quant::ScalarQuantizer;
use crate::vectors::{Header, IoCounters, VectorFile};
use crate::{DistanceMetric, Result, VectorStorageType};

/// A `nodes` record (see `graph::codec::NodeRecord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub ext_id: u64,
    pub slot: u32,
    pub level: u8,
    pub checksum: u32,
    /// The head of a twin.
    pub head: Option<u32>,
    /// Deleted, repair pending (never set together with `head`).
    pub deleted: bool,
}

impl From<NodeRecord> for Node {
    fn from(n: NodeRecord) -> Node {
        Node { ext_id: n.ext_id, slot: n.slot, level: n.level, checksum: n.checksum, head: n.head, deleted: n.deleted }
    }
}

impl From<&Node> for NodeRecord {
    fn from(n: &Node) -> NodeRecord {
        NodeRecord {
            ext_id: n.ext_id,
            slot: n.slot,
            level: n.level,
            checksum: n.checksum,
            head: n.head,
            deleted: n.deleted,
        }
    }
}

pub fn encode_node(n: &Node) -> Vec<u8> {
    codec::encode_node(&n.into())
}

pub fn decode_node(b: &[u8]) -> Option<Node> {
    codec::decode_node(b).map(Node::from)
}

/// A node record of LSM format 1 (read only: there is no encoder).
pub fn decode_node_v1(b: &[u8]) -> Option<Node> {
    codec::decode_node_v1(b).map(Node::from)
}

pub fn encode_list(l: &[u32]) -> Vec<u8> {
    codec::encode_list(l)
}

pub fn decode_list(b: &[u8]) -> Option<Vec<u32>> {
    codec::decode_list(b)
}

pub fn encode_upper(lists: &[Vec<u32>]) -> Vec<u8> {
    codec::encode_upper(lists)
}

pub fn decode_upper(b: &[u8]) -> Option<Vec<Vec<u32>>> {
    codec::decode_upper(b)
}

pub fn key_u32(id: u32) -> [u8; 4] {
    codec::key_u32(id)
}

pub fn decode_key_u32(b: &[u8]) -> Option<u32> {
    codec::decode_key_u32(b)
}

/// The `meta/params` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub dim: usize,
    pub metric: DistanceMetric,
    pub m: usize,
    pub m_max: usize,
    pub storage: VectorStorageType,
    pub vector_file: PathBuf,
    /// The path is relative to the database directory (else absolute, outside it).
    pub inside: bool,
}

/// The LSM record format this build writes.
pub const FORMAT_VERSION: u32 = meta::FORMAT_VERSION;

pub fn encode_params(p: &Params) -> Vec<u8> {
    let vector_file = if p.inside {
        VectorFileLocation::Inside(p.vector_file.clone())
    } else {
        VectorFileLocation::Outside(p.vector_file.clone())
    };
    StoredParams { dim: p.dim, metric: p.metric, m: p.m, m_max: p.m_max, storage: p.storage, vector_file }.encode()
}

/// Decodes a `meta/params` record of LSM format `format`.
pub fn decode_params(b: &[u8], format: u32) -> Result<Params> {
    let sp = StoredParams::decode(b, format, Path::new("fuzz"))?;
    let (inside, vector_file) = match sp.vector_file {
        VectorFileLocation::Inside(p) => (true, p),
        VectorFileLocation::Outside(p) => (false, p),
    };
    Ok(Params { dim: sp.dim, metric: sp.metric, m: sp.m, m_max: sp.m_max, storage: sp.storage, vector_file, inside })
}

pub fn encode_entry(e: Option<(u32, usize)>) -> Vec<u8> {
    meta::encode_entry(e)
}

pub fn decode_entry(b: &[u8]) -> Option<Option<(u32, usize)>> {
    meta::decode_entry(b)
}

pub fn decode_u64(b: &[u8]) -> Option<u64> {
    meta::decode_u64(b)
}

/// The state record (`<dir>/STATE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub clean: bool,
    pub instance: u64,
    pub seq: u64,
    pub vector_file: PathBuf,
}

pub fn encode_state(s: &State) -> Vec<u8> {
    StateRecord { clean: s.clean, instance: s.instance, seq: s.seq, vector_file: s.vector_file.clone() }.encode()
}

pub fn decode_state(b: &[u8]) -> Result<State> {
    let r = StateRecord::decode(Path::new("STATE"), b)?;
    Ok(State { clean: r.clean, instance: r.instance, seq: r.seq, vector_file: r.vector_file })
}

/// What a vector file header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorHeader {
    pub version: u32,
    pub dim: usize,
    pub storage: VectorStorageType,
    pub instance: u64,
    pub owner: Option<PathBuf>,
}

/// The vector file format version this build writes.
pub const VECTOR_FILE_VERSION: u32 = Header::CURRENT_VERSION;

/// The header page (4096 bytes) of a vector file.
pub fn encode_vector_header(dim: usize, storage: VectorStorageType, instance: u64, owner: &Path) -> Vec<u8> {
    Header::encode(dim, storage, instance, owner)
}

/// Decodes the first bytes of a vector file (at most a page is read by the engine).
pub fn decode_vector_header(b: &[u8]) -> Result<VectorHeader> {
    let h = Header::decode(Path::new("vectors.bin"), b)?;
    Ok(VectorHeader { version: h.version, dim: h.dim, storage: h.storage, instance: h.instance, owner: h.owner })
}

/// The `meta/sq8` / `meta/sq4` record of a scalar quantizer (`bits` 8 or 4): per-dimension
/// offsets and scales.
pub fn encode_quantizer(bits: u8, lo: &[f32], scale: &[f32]) -> Vec<u8> {
    ScalarQuantizer { bits, lo: lo.to_vec(), scale: scale.to_vec() }.encode_params()
}

pub fn decode_quantizer(b: &[u8], bits: u8) -> Option<(Vec<f32>, Vec<f32>)> {
    ScalarQuantizer::decode_params(b, bits).map(|q| (q.lo, q.scale))
}

/// The checksum a node record holds for its vector record.
pub fn record_checksum(v: &[f32]) -> u32 {
    crate::vectors::checksum(v)
}

/// xxh3-64, the checksum of the headers and the state record.
pub fn xxh3_64(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
}

/// An open vector file, for reading records.
pub struct VectorFileReader {
    file: VectorFile,
    scratch: Vec<f32>,
}

impl VectorFileReader {
    /// Opens an existing vector file (its header must match `dim`, `storage` and `instance`).
    pub fn open(
        path: &Path,
        dim: usize,
        storage: VectorStorageType,
        instance: u64,
        cache_pages: usize,
    ) -> Result<Self> {
        let (file, _) =
            VectorFile::open(&crate::storage::DiskStorage, path, dim, storage, instance, cache_pages.max(1))?;
        Ok(VectorFileReader { file, scratch: Vec::new() })
    }

    /// File offset of `slot`.
    pub fn offset(&self, slot: u32) -> u64 {
        self.file.layout.offset(slot)
    }

    /// The record of `slot` through the page cache (unverified; bytes past the end are zeros).
    pub fn read(&mut self, slot: u32) -> Result<Vec<f32>> {
        let mut io = IoCounters::default();
        self.file.with_record(slot, &mut self.scratch, &mut io, |r| r.to_vec())
    }

    /// The records of `slots` (in that order) through the page cache, optionally batched.
    pub fn read_many(&mut self, slots: &[u32], batch: bool) -> Result<Vec<Vec<f32>>> {
        let mut io = IoCounters::default();
        let mut out = vec![Vec::new(); slots.len()];
        self.file
            .for_each_record(slots, batch, &mut Vec::new(), &mut self.scratch, &mut io, |i, r| out[i] = r.to_vec())?;
        Ok(out)
    }

    /// The verified sequential read of open: `items` are `(slot, checksum)`; returns
    /// `(index in items, record)` in the order read.
    pub fn read_verified(&self, items: &[(u32, u32)]) -> Result<Vec<(usize, Vec<f32>)>> {
        let mut it: Vec<(u32, u32, u32)> = items.iter().enumerate().map(|(i, &(s, c))| (s, c, i as u32)).collect();
        let mut out = Vec::new();
        self.file.read_verified(&mut it, |i, r| out.push((i as usize, r.to_vec())))?;
        Ok(out)
    }

    /// The open-time check that the file holds `slot`.
    pub fn check_holds(&self, slot: u32) -> Result<()> {
        self.file.check_holds(slot)
    }
}

/// The properties of every decoder, each a function of arbitrary bytes that panics when a
/// property fails. The fuzz tests and the cargo-fuzz targets call these.
///
/// For every decoder: decoding never panics; a refusal is `None` or a `Corruption` error; a
/// value decoded from a canonical format re-encodes to exactly the input bytes. Checksummed
/// formats are also tried with the checksum repaired, so that the checks behind it are reached.
pub mod check {
    use super::*;
    use crate::ErrorKind;
    use crate::MAX_DIM;

    #[track_caller]
    fn refused<T: std::fmt::Debug>(r: &Result<T>, what: &str) {
        if let Err(e) = r {
            assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: a refusal that is not Corruption: {e}");
        }
    }

    /// `nodes` keys and `adj0` lists.
    pub fn key_and_list(data: &[u8]) {
        if let Some(id) = decode_key_u32(data) {
            assert_eq!(key_u32(id).as_slice(), data, "key re-encodes differently");
        } else {
            assert_ne!(data.len(), 4, "a 4-byte key was refused");
        }
        match decode_list(data) {
            Some(l) => assert_eq!(encode_list(&l), data, "adjacency list re-encodes differently"),
            None => assert!(!data.len().is_multiple_of(4), "a list of whole u32s was refused"),
        }
    }

    /// `nodes` values of formats 1 and 2/3.
    pub fn node(data: &[u8]) {
        if let Some(n) = decode_node(data) {
            assert!(!(n.deleted && n.head.is_some()), "decoded a deleted twin: {n:?}");
            assert_eq!(encode_node(&n), data, "node {n:?} re-encodes differently");
        }
        if let Some(n) = decode_node_v1(data) {
            assert_eq!(data.len(), 13);
            assert_eq!((n.head, n.deleted, n.checksum), (None, false, 0));
            let mut b = n.ext_id.to_le_bytes().to_vec();
            b.extend_from_slice(&n.slot.to_le_bytes());
            b.push(n.level);
            assert_eq!(b, data, "format-1 node {n:?} does not hold the input's fields");
        }
    }

    /// `upper` values.
    pub fn upper(data: &[u8]) {
        if let Some(lists) = decode_upper(data) {
            assert!(lists.len() <= u8::MAX as usize && lists.iter().all(|l| l.len() <= u16::MAX as usize));
            assert_eq!(encode_upper(&lists), data, "upper lists {lists:?} re-encode differently");
        }
    }

    /// `meta/params` of every format (the first byte picks the format), `meta/entry`,
    /// `meta/seq`-like u64 values.
    pub fn meta(data: &[u8]) {
        if let Some(e) = decode_entry(data) {
            assert_eq!(encode_entry(e), data, "entry {e:?} re-encodes differently");
        }
        if let Some(v) = decode_u64(data) {
            assert_eq!(v.to_le_bytes().as_slice(), data);
        }
        let Some((&sel, rest)) = data.split_first() else { return };
        let format = 1 + sel as u32 % FORMAT_VERSION;
        let r = decode_params(rest, format);
        refused(&r, "params");
        if let Ok(p) = r {
            let mut probe = crate::DbOptions::new(p.dim);
            (probe.m, probe.m_max) = (p.m, p.m_max);
            assert!(
                (1..=MAX_DIM).contains(&p.dim) && probe.validate().is_ok(),
                "params {p:?} decoded, but open would never have created them ({:?})",
                probe.validate().err()
            );
            if format == 1 {
                assert!(!p.inside, "a format-1 path is returned as given (outside)");
                assert_eq!(
                    decode_params(&encode_params(&p), FORMAT_VERSION).ok(),
                    Some(p),
                    "format-1 params re-encoded"
                );
            } else {
                assert_eq!(encode_params(&p), rest, "params {p:?} re-encode differently");
            }
        }
    }

    /// `meta/sq8` and `meta/sq4`.
    pub fn quantizer(data: &[u8]) {
        for bits in [8, 4] {
            if let Some((lo, scale)) = decode_quantizer(data, bits) {
                assert_eq!(lo.len(), scale.len());
                assert!(lo.iter().all(|x| x.is_finite()) && scale.iter().all(|s| s.is_finite() && *s > 0.0));
                assert_eq!(encode_quantizer(bits, &lo, &scale), data, "quantizer params re-encode differently");
            }
        }
    }

    /// Replaces the 8 bytes at `at` with the xxh3-64 of the bytes before them.
    fn fix_checksum(b: &mut [u8], at: usize) {
        let sum = xxh3_64(&b[..at]);
        b[at..at + 8].copy_from_slice(&sum.to_le_bytes());
    }

    /// The state record, as given, and repaired so that the checks behind the checksum are
    /// reached: magic and checksum, and (as a hash of the input chooses) version 1 and a path
    /// length that fits.
    pub fn state(data: &[u8]) {
        state_once(data);
        let sel = xxh3_64(data);
        let mut b = data.to_vec();
        if b.len() < 42 {
            b.resize(42, 0);
        }
        b[..8].copy_from_slice(b"LSMVECST");
        if sel & 3 != 0 {
            b[8..12].copy_from_slice(&1u32.to_le_bytes());
        }
        if sel & 12 != 0 {
            let plen = (b.len() - 42).min(u16::MAX as usize) as u16;
            b[32..34].copy_from_slice(&plen.to_le_bytes());
        }
        let at = b.len() - 8;
        fix_checksum(&mut b, at);
        state_once(&b);
    }

    fn state_once(data: &[u8]) {
        let r = decode_state(data);
        refused(&r, "state record");
        if let Ok(s) = r {
            assert_eq!(encode_state(&s), data, "state record {s:?} re-encodes differently");
        }
    }

    /// The vector file header, as given, and repaired so that the checks behind the checksum
    /// are reached: magic, and (as a hash of the input chooses) version 1 or 2 and an owner
    /// length that fits, then the checksum where the version and owner length say it lies.
    pub fn vector_header(data: &[u8]) {
        header_once(data);
        let sel = xxh3_64(data);
        let mut b = data.to_vec();
        if b.len() < 42 {
            b.resize(42, 0);
        }
        b[..8].copy_from_slice(b"LSMVECVF");
        match sel & 7 {
            0 => b[8..12].copy_from_slice(&1u32.to_le_bytes()),
            1..=5 => b[8..12].copy_from_slice(&2u32.to_le_bytes()),
            _ => {}
        }
        let fits = (b.len() - 42).min(4096 - 42) as u16;
        if sel & 0x18 != 0 && u16::from_le_bytes([b[32], b[33]]) > fits {
            b[32..34].copy_from_slice(&fits.to_le_bytes());
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let at = if version == 1 { 32 } else { 34 + u16::from_le_bytes([b[32], b[33]]) as usize };
        if at + 8 <= b.len() {
            fix_checksum(&mut b, at);
            header_once(&b);
        }
    }

    fn header_once(data: &[u8]) {
        let r = decode_vector_header(data);
        refused(&r, "vector file header");
        let Ok(h) = r else { return };
        assert!(h.dim >= 1, "header {h:?} with dim 0");
        if h.version == VECTOR_FILE_VERSION {
            let owner = h.owner.clone().unwrap_or_default();
            let enc = encode_vector_header(h.dim, h.storage, h.instance, &owner);
            let used = 34 + owner.as_os_str().len() + 8;
            assert_eq!(&enc[..used], &data[..used], "header {h:?} re-encodes differently");
        } else {
            assert_eq!(h.version, 1, "decoded header of unknown version {h:?}");
            assert_eq!(h.owner, None);
        }
    }

    static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

    /// Where slot `s` lives, as docs/format.md states it (an oracle independent of `Layout`).
    pub fn documented_offset(storage: VectorStorageType, dim: usize, s: u64) -> u64 {
        let rec = dim as u64 * 4;
        match storage {
            VectorStorageType::Basic => 4096 + s * rec,
            VectorStorageType::Paged if rec <= 4096 => {
                let r = 4096 / rec;
                4096 + (s / r) * 4096 + (s % r) * rec
            }
            VectorStorageType::Paged => 4096 + s * rec.div_ceil(4096) * 4096,
        }
    }

    /// Vector records: a file of a small database (`data` chooses dim, layout, the bytes after
    /// the header and a list of slots with right or wrong checksums). Every read agrees with the
    /// bytes at the documented offset (zeros past the end), the verified read accepts exactly
    /// the records that are in the file and match their checksums, and refuses with
    /// `Corruption` otherwise. Uses a temporary file in `/dev/shm` (else `std::env::temp_dir()`).
    pub fn records(data: &[u8]) {
        const DIMS: [usize; 8] = [1, 3, 8, 100, 1023, 1024, 1025, 1536];
        let mut u = data.iter().copied();
        let mut next = || u.next().unwrap_or(0);
        let dim = DIMS[next() as usize % DIMS.len()];
        let storage = if next() & 1 == 0 { VectorStorageType::Basic } else { VectorStorageType::Paged };
        let n_items = next() as usize % 12;
        let mut items = Vec::new();
        for _ in 0..n_items {
            let slot = u16::from_le_bytes([next(), next()]) as u32 % 64;
            let good = next() & 3 != 0;
            let wrong = u32::from_le_bytes([next(), next(), next(), next()]);
            items.push((slot, good, wrong));
        }
        let consumed = 3 + n_items * 7;
        let body = data.get(consumed..).unwrap_or(&[]);
        // A short body is stretched (repeated) so that files reach past a few records.
        let body_len = (body.len() * 61) % (70 * dim * 4 + 1);
        let body: Vec<u8> = body.iter().copied().cycle().take(body_len).collect();

        // tmpfs where there is one: a busy disk makes creating and removing files slow.
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let path = tmp.join(format!(
            "lsm-vec-fuzz-records-{}-{}",
            std::process::id(),
            FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = encode_vector_header(dim, storage, 42, Path::new("/fuzz"));
        file.extend_from_slice(&body);
        std::fs::write(&path, &file).expect("write the fuzz vector file");
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| records_in(&path, &file, dim, storage, &items)));
        let _ = std::fs::remove_file(&path);
        if let Err(p) = result {
            std::panic::resume_unwind(p);
        }
    }

    fn records_in(path: &Path, file: &[u8], dim: usize, storage: VectorStorageType, items: &[(u32, bool, u32)]) {
        let what = format!("dim {dim} {storage:?}, file of {} bytes", file.len());
        let rec = dim * 4;
        let bytes_of = |slot: u32| -> (Vec<f32>, bool) {
            let off = documented_offset(storage, dim, slot as u64) as usize;
            let mut b = vec![0u8; rec];
            let inside = off + rec <= file.len();
            if off < file.len() {
                let n = (file.len() - off).min(rec);
                b[..n].copy_from_slice(&file[off..off + n]);
            }
            (b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(), inside)
        };
        assert!(
            VectorFileReader::open(path, dim, storage, 43, 4).is_err_and(|e| e.kind() == ErrorKind::Corruption),
            "{what}: a file of another instance opened"
        );
        let mut f = VectorFileReader::open(path, dim, storage, 42, 2).unwrap_or_else(|e| panic!("{what}: open: {e}"));
        let same =
            |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        let slots: Vec<u32> = items.iter().map(|i| i.0).collect();
        for &s in &slots {
            assert_eq!(f.offset(s), documented_offset(storage, dim, s as u64), "{what}: offset of slot {s}");
            let got = f.read(s).unwrap_or_else(|e| panic!("{what}: read slot {s}: {e}"));
            assert!(same(&got, &bytes_of(s).0), "{what}: slot {s} read other bytes than the file holds");
            let holds = f.check_holds(s);
            refused(&holds, "check_holds");
            assert_eq!(holds.is_ok(), bytes_of(s).1, "{what}: check_holds({s})");
        }
        for batch in [false, true] {
            let got = f.read_many(&slots, batch).unwrap_or_else(|e| panic!("{what}: read_many: {e}"));
            for (i, &s) in slots.iter().enumerate() {
                assert!(same(&got[i], &bytes_of(s).0), "{what}: read_many(batch {batch}) slot {s}");
            }
        }
        let checked: Vec<(u32, u32)> = items
            .iter()
            .map(|&(s, good, wrong)| (s, if good { record_checksum(&bytes_of(s).0) } else { wrong }))
            .collect();
        let all_good = checked.iter().all(|&(s, c)| {
            let (v, inside) = bytes_of(s);
            inside && record_checksum(&v) == c
        });
        let r = f.read_verified(&checked);
        refused(&r, "read_verified");
        match r {
            Ok(got) => {
                assert!(all_good, "{what}: read_verified accepted a missing or damaged record: {checked:?}");
                assert_eq!(got.len(), checked.len(), "{what}: read_verified skipped records");
                for (i, v) in got {
                    assert!(
                        same(&v, &bytes_of(checked[i].0).0),
                        "{what}: read_verified slot {} returned other bytes",
                        checked[i].0
                    );
                }
            }
            Err(e) => assert!(!all_good, "{what}: read_verified refused good records {checked:?}: {e}"),
        }
    }
}
