//! The `meta` keyspace: format version, instance id, the parameters that shape the bytes on disk,
//! and the entry point. See docs/format.md.

use std::path::{Path, PathBuf};

use super::paths::VectorFileLocation;
use crate::error::{Error, Result};
use crate::options::{DbOptions, DistanceMetric, VectorStorageType};

/// Format version of the LSM records written by this build. Version 1 (node records without
/// checksums, the vector file path stored as given) is migrated at open; version 2 differs
/// from 3 only in that its node records cannot be marked deleted, so its migration is the
/// version number. A build that reads up to version 2 refuses a version-3 database.
pub(crate) const FORMAT_VERSION: u32 = 3;

pub(crate) const KEY_FORMAT: &str = "format";
pub(crate) const KEY_INSTANCE: &str = "instance";
pub(crate) const KEY_PARAMS: &str = "params";
pub(crate) const KEY_ENTRY: &str = "entry";
/// u64 sequence number of the last committed mutation (written by every batch).
pub(crate) const KEY_SEQ: &str = "seq";
/// The SQ8 quantizer's parameters (`quant::ScalarQuantizer::encode_params`), once trained.
pub(crate) const KEY_SQ8: &str = "sq8";
/// The SQ4 quantizer's parameters (same encoding), once trained.
pub(crate) const KEY_SQ4: &str = "sq4";

/// The meta key of the parameters of a `bits`-bit scalar quantizer.
pub(crate) fn quantizer_key(bits: u8) -> &'static str {
    if bits == 4 {
        KEY_SQ4
    } else {
        KEY_SQ8
    }
}
/// u64 instance id of a database being created (written before its vector file is).
pub(crate) const KEY_PENDING: &str = "pending";

/// Persisted parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredParams {
    pub dim: usize,
    pub metric: DistanceMetric,
    pub m: usize,
    pub m_max: usize,
    pub storage: VectorStorageType,
    pub vector_file: VectorFileLocation,
}

impl StoredParams {
    pub fn from_options(o: &DbOptions, vector_file: VectorFileLocation) -> StoredParams {
        StoredParams {
            dim: o.dim,
            metric: o.metric,
            m: o.m,
            m_max: o.m_max,
            storage: o.vector_storage_type,
            vector_file,
        }
    }

    /// Format 2: dim u32, metric u8, m u32, m_max u32, storage u8, quantization u8 (0 = none;
    /// reserved for compressed codes), vector file location kind u8 (0 = relative to the
    /// database directory, 1 = absolute), path length u32, path bytes (UTF-8).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(self.dim as u32).to_le_bytes());
        v.push(self.metric.code());
        v.extend_from_slice(&(self.m as u32).to_le_bytes());
        v.extend_from_slice(&(self.m_max as u32).to_le_bytes());
        v.push(self.storage.code());
        v.push(0);
        let (kind, p) = match &self.vector_file {
            VectorFileLocation::Inside(p) => (0u8, p),
            VectorFileLocation::Outside(p) => (1u8, p),
        };
        v.push(kind);
        let p = p.to_string_lossy();
        v.extend_from_slice(&(p.len() as u32).to_le_bytes());
        v.extend_from_slice(p.as_bytes());
        v
    }

    /// Decodes a parameters record of LSM format `format` (1 or 2). A format-1 path is the
    /// one the creator passed (absolute, or relative to its working directory): it is returned
    /// as `Outside`, and the migration decides where the file really is.
    pub fn decode(b: &[u8], format: u32, dir: &Path) -> Result<StoredParams> {
        let bad = || Error::corruption(dir, None, "undecodable parameters record in meta");
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let (head, kind) = match format {
            1 => (14, 1u8),
            _ => {
                if b.len() < 20 || b[14] != 0 || b[15] > 1 {
                    return Err(bad());
                }
                (16, b[15])
            }
        };
        if b.len() < head + 4 {
            return Err(bad());
        }
        let plen = u32_at(head) as usize;
        if b.len() != head + 4 + plen {
            return Err(bad());
        }
        let path = PathBuf::from(std::str::from_utf8(&b[head + 4..]).map_err(|_| bad())?);
        let sp = StoredParams {
            dim: u32_at(0) as usize,
            metric: DistanceMetric::from_code(b[4] as i64).map_err(|_| bad())?,
            m: u32_at(5) as usize,
            m_max: u32_at(9) as usize,
            storage: VectorStorageType::from_code(b[13] as i64).map_err(|_| bad())?,
            vector_file: if kind == 0 { VectorFileLocation::Inside(path) } else { VectorFileLocation::Outside(path) },
        };
        // The stored values replace the caller's at open: only values that open accepts from
        // a caller (and so could have written) are valid.
        let mut probe = DbOptions::new(sp.dim);
        (probe.m, probe.m_max) = (sp.m, sp.m_max);
        if let Err(e) = probe.validate() {
            return Err(Error::corruption(dir, None, format!("parameters record in meta out of range: {e}")));
        }
        Ok(sp)
    }

    /// The parameters a reopen may not change: `dim` and `metric` (an error naming both
    /// values). The structural ones (`m`, `m_max`, `vector_storage_type`) are the database's:
    /// the caller's values are replaced by the stored ones (see [`StoredParams::apply`]).
    pub fn check(&self, o: &DbOptions) -> Result<()> {
        let mismatch = |name: &'static str, stored: String, requested: String| {
            Err(Error::ParameterMismatch { name, stored, requested })
        };
        if self.dim != o.dim {
            return mismatch("dim", self.dim.to_string(), o.dim.to_string());
        }
        if self.metric != o.metric {
            return mismatch("metric", self.metric.to_string(), o.metric.to_string());
        }
        Ok(())
    }

    /// Puts the stored structural parameters into `o`; returns a description of each value
    /// the caller asked for that differs (for the log).
    pub fn apply(&self, o: &mut DbOptions) -> Vec<String> {
        let mut changed = Vec::new();
        if o.m != self.m {
            changed.push(format!("m {} (asked {})", self.m, o.m));
            o.m = self.m;
        }
        if o.m_max != self.m_max {
            changed.push(format!("m_max {} (asked {})", self.m_max, o.m_max));
            o.m_max = self.m_max;
        }
        if o.vector_storage_type != self.storage {
            changed.push(format!(
                "vector_storage_type {} (asked {})",
                self.storage.code(),
                o.vector_storage_type.code()
            ));
            o.vector_storage_type = self.storage;
        }
        changed
    }
}

/// A u64 meta value.
pub(crate) fn decode_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Entry point: internal id u32 + level u8; empty value = empty index.
pub(crate) fn encode_entry(e: Option<(u32, usize)>) -> Vec<u8> {
    match e {
        None => Vec::new(),
        Some((id, l)) => {
            let mut v = id.to_le_bytes().to_vec();
            v.push(l as u8);
            v
        }
    }
}

pub(crate) fn decode_entry(b: &[u8]) -> Option<Option<(u32, usize)>> {
    match b.len() {
        0 => Some(None),
        5 => Some(Some((u32::from_le_bytes([b[0], b[1], b[2], b[3]]), b[4] as usize))),
        _ => None,
    }
}
