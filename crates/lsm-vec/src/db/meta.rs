//! The `meta` keyspace: format version, instance id, the parameters that shape the bytes on disk,
//! and the entry point. See docs/format.md.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::options::{DbOptions, DistanceMetric, VectorStorageType};

/// Format version of the LSM records.
pub(crate) const FORMAT_VERSION: u32 = 1;

pub(crate) const KEY_FORMAT: &str = "format";
pub(crate) const KEY_INSTANCE: &str = "instance";
pub(crate) const KEY_PARAMS: &str = "params";
pub(crate) const KEY_ENTRY: &str = "entry";

/// Persisted parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredParams {
    pub dim: usize,
    pub metric: DistanceMetric,
    pub m: usize,
    pub m_max: usize,
    pub storage: VectorStorageType,
    pub vector_file: PathBuf,
}

impl StoredParams {
    pub fn from_options(o: &DbOptions, vector_file: &Path) -> StoredParams {
        StoredParams {
            dim: o.dim,
            metric: o.metric,
            m: o.m,
            m_max: o.m_max,
            storage: o.vector_storage_type,
            vector_file: vector_file.to_path_buf(),
        }
    }

    /// dim u32, metric u8, m u32, m_max u32, storage u8, path length u32, path bytes (UTF-8).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(self.dim as u32).to_le_bytes());
        v.push(self.metric.code());
        v.extend_from_slice(&(self.m as u32).to_le_bytes());
        v.extend_from_slice(&(self.m_max as u32).to_le_bytes());
        v.push(self.storage.code());
        let p = self.vector_file.to_string_lossy();
        v.extend_from_slice(&(p.len() as u32).to_le_bytes());
        v.extend_from_slice(p.as_bytes());
        v
    }

    pub fn decode(b: &[u8], dir: &Path) -> Result<StoredParams> {
        let bad = || Error::corruption(dir, None, "undecodable parameters record in meta");
        if b.len() < 18 {
            return Err(bad());
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let plen = u32_at(14) as usize;
        if b.len() != 18 + plen {
            return Err(bad());
        }
        let path = std::str::from_utf8(&b[18..]).map_err(|_| bad())?;
        Ok(StoredParams {
            dim: u32_at(0) as usize,
            metric: DistanceMetric::from_code(b[4] as i64).map_err(|_| bad())?,
            m: u32_at(5) as usize,
            m_max: u32_at(9) as usize,
            storage: VectorStorageType::from_code(b[13] as i64).map_err(|_| bad())?,
            vector_file: PathBuf::from(path),
        })
    }

    /// Errors naming both values for each parameter that differs from the stored one.
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
        if self.m != o.m {
            return mismatch("m", self.m.to_string(), o.m.to_string());
        }
        if self.m_max != o.m_max {
            return mismatch("m_max", self.m_max.to_string(), o.m_max.to_string());
        }
        if self.storage != o.vector_storage_type {
            return mismatch(
                "vector_storage_type",
                self.storage.code().to_string(),
                o.vector_storage_type.code().to_string(),
            );
        }
        Ok(())
    }
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
