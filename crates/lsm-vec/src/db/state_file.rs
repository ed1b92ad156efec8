//! The state record `<dir>/STATE`: a small checksummed file, outside the LSM, that says whether
//! the database was closed cleanly and up to which commit sequence number it was durable.
//!
//! It turns silent roll-backs into errors. The LSM recovers its journal up to the first damaged
//! entry and drops the rest without a word; with this record a reopen that recovers less than
//! was cleanly closed (or than was last made durable by `flush()`/open) reports `Corruption`.
//! It also names the vector file and instance, so that a copy of a database can tell whether its
//! original still uses an external vector file (see `db::open`).
//!
//! Layout (little-endian): magic `LSMVECST`, version u32 (1), clean u8, 3 zero bytes, instance
//! u64, seq u64 (clean: the last committed sequence number; not clean: the durable floor),
//! vector file path length u16 + bytes (absolute), xxh3-64 of everything before it.
//! Written atomically: a temporary file, fsync, rename, fsync of the directory.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"LSMVECST";
const VERSION: u32 = 1;
pub(crate) const FILE_NAME: &str = "STATE";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateRecord {
    /// Closed cleanly (`seq` is the last commit) or open / crashed (`seq` is a durable floor).
    pub clean: bool,
    pub instance: u64,
    pub seq: u64,
    /// The vector file in use, absolute.
    pub vector_file: PathBuf,
}

impl StateRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&[self.clean as u8, 0, 0, 0]);
        b.extend_from_slice(&self.instance.to_le_bytes());
        b.extend_from_slice(&self.seq.to_le_bytes());
        let p = self.vector_file.to_string_lossy();
        let p = if p.len() > u16::MAX as usize { "" } else { p.as_ref() };
        b.extend_from_slice(&(p.len() as u16).to_le_bytes());
        b.extend_from_slice(p.as_bytes());
        let sum = xxhash_rust::xxh3::xxh3_64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    pub(crate) fn decode(path: &Path, b: &[u8]) -> Result<StateRecord> {
        let bad = |why: &str| Error::corruption(path, None, format!("state record: {why}"));
        if b.len() < 42 || &b[0..8] != MAGIC {
            return Err(bad("not an lsm-vec state file"));
        }
        let body = b.len() - 8;
        let sum = u64::from_le_bytes(b[body..].try_into().expect("8 bytes"));
        if xxhash_rust::xxh3::xxh3_64(&b[..body]) != sum {
            return Err(bad("checksum mismatch"));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(&format!("unsupported version {version}")));
        }
        let plen = u16::from_le_bytes([b[32], b[33]]) as usize;
        if 34 + plen != body || b[12] > 1 || b[13..16] != [0, 0, 0] {
            return Err(bad("malformed"));
        }
        Ok(StateRecord {
            clean: b[12] == 1,
            instance: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            seq: u64::from_le_bytes(b[24..32].try_into().expect("8 bytes")),
            vector_file: PathBuf::from(std::str::from_utf8(&b[34..body]).map_err(|_| bad("path is not UTF-8"))?),
        })
    }

    /// Reads the record of the database in `dir`; `None` if there is none.
    pub fn read(dir: &Path) -> Result<Option<StateRecord>> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(b) => Self::decode(&path, &b).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
        }
    }

    /// Replaces the record of the database in `dir`, durably.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let io = |what: &str, p: &Path, e| Error::io(format!("{what} {}", p.display()), e);
        let mut f = File::create(&tmp).map_err(|e| io("create", &tmp, e))?;
        f.write_all(&self.encode()).map_err(|e| io("write", &tmp, e))?;
        f.sync_all().map_err(|e| io("fsync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| io("rename into", &path, e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("fsync directory", dir, e))
    }

    /// Removes the record (for `reinit`).
    pub fn remove(dir: &Path) -> Result<()> {
        for name in [FILE_NAME.to_string(), format!("{FILE_NAME}.tmp")] {
            let p = dir.join(name);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(format!("remove {}", p.display()), e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(StateRecord::read(t.path()).unwrap(), None);
        let r = StateRecord { clean: true, instance: 7, seq: 42, vector_file: PathBuf::from("/x/v.bin") };
        r.write(t.path()).unwrap();
        assert_eq!(StateRecord::read(t.path()).unwrap(), Some(r.clone()));
        let p = t.path().join(FILE_NAME);
        let mut b = std::fs::read(&p).unwrap();
        for i in 0..b.len() {
            b[i] ^= 0x10;
            std::fs::write(&p, &b).unwrap();
            assert_eq!(StateRecord::read(t.path()).unwrap_err().kind(), crate::ErrorKind::Corruption, "byte {i}");
            b[i] ^= 0x10;
        }
    }
}
