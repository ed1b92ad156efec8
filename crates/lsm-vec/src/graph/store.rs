//! The fjall database behind the index: keyspaces `adj0`, `upper`, `nodes`, `meta`.
//!
//! Every mutation of the index is one [`LsmStore::commit`] of one fjall write batch, flushed at
//! least to the OS (`PersistMode::Buffer`: fjall's journal sits behind a `BufWriter`, so a batch
//! committed without a persist mode could be lost by a process crash), or fsync'd with
//! `sync_writes`.

use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::codec::{self, NodeRecord};
use crate::error::{Error, Result};

/// One write of a commit. `None` removes the key.
pub(crate) enum StoreWrite {
    Adj0(u32, Option<Vec<u32>>),
    Upper(u32, Option<Vec<Vec<u32>>>),
    Node(u32, Option<NodeRecord>),
    Meta(&'static str, Vec<u8>),
}

pub(crate) struct LsmStore {
    db: Database,
    adj0: Keyspace,
    upper: Keyspace,
    nodes: Keyspace,
    meta: Keyspace,
    dir: PathBuf,
}

impl LsmStore {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<LsmStore> {
        // A 64 MiB journal cap (fjall's default is 512 MiB) bounds recovery time and disk use:
        // past it, fjall flushes memtables so that old journals can be dropped.
        let db = Database::builder(dir).cache_size(cache_bytes).max_journaling_size(64 * 1024 * 1024).open()?;
        let small = || KeyspaceCreateOptions::default().max_memtable_size(8 * 1024 * 1024);
        let point = || small().expect_point_read_hits(true);
        Ok(LsmStore {
            adj0: db.keyspace("adj0", point)?,
            upper: db.keyspace("upper", small)?,
            nodes: db.keyspace("nodes", point)?,
            meta: db.keyspace("meta", small)?,
            db,
            dir: dir.to_path_buf(),
        })
    }

    fn corrupt(&self, what: &str, key: u32) -> Error {
        Error::corruption(&self.dir, Some(key as u64), format!("undecodable {what} record for internal id {key}"))
    }

    pub fn adj0(&self, id: u32) -> Result<Option<Vec<u32>>> {
        match self.adj0.get(codec::key_u32(id))? {
            None => Ok(None),
            Some(v) => codec::decode_list(&v).map(Some).ok_or_else(|| self.corrupt("adj0", id)),
        }
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    pub fn for_each_node(&self, mut f: impl FnMut(u32, NodeRecord) -> Result<()>) -> Result<()> {
        for kv in self.nodes.iter() {
            let (k, v) = kv.into_inner()?;
            let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt("nodes key", 0))?;
            let n = codec::decode_node(&v).ok_or_else(|| self.corrupt("nodes", id))?;
            f(id, n)?;
        }
        Ok(())
    }

    pub fn for_each_adj0(&self, mut f: impl FnMut(u32, Vec<u32>) -> Result<()>) -> Result<()> {
        for kv in self.adj0.iter() {
            let (k, v) = kv.into_inner()?;
            let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt("adj0 key", 0))?;
            let list = codec::decode_list(&v).ok_or_else(|| self.corrupt("adj0", id))?;
            f(id, list)?;
        }
        Ok(())
    }

    pub fn for_each_upper(&self, mut f: impl FnMut(u32, Vec<Vec<u32>>) -> Result<()>) -> Result<()> {
        for kv in self.upper.iter() {
            let (k, v) = kv.into_inner()?;
            let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt("upper key", 0))?;
            let lists = codec::decode_upper(&v).ok_or_else(|| self.corrupt("upper", id))?;
            f(id, lists)?;
        }
        Ok(())
    }

    /// Commits all `writes` atomically.
    pub fn commit(&self, writes: Vec<StoreWrite>, sync: bool) -> Result<()> {
        let mode = if sync { PersistMode::SyncData } else { PersistMode::Buffer };
        let mut b = self.db.batch().durability(Some(mode));
        for w in writes {
            match w {
                StoreWrite::Adj0(id, Some(l)) => b.insert(&self.adj0, codec::key_u32(id), codec::encode_list(&l)),
                StoreWrite::Adj0(id, None) => b.remove(&self.adj0, codec::key_u32(id)),
                StoreWrite::Upper(id, Some(l)) => b.insert(&self.upper, codec::key_u32(id), codec::encode_upper(&l)),
                StoreWrite::Upper(id, None) => b.remove(&self.upper, codec::key_u32(id)),
                StoreWrite::Node(id, Some(n)) => b.insert(&self.nodes, codec::key_u32(id), codec::encode_node(&n).to_vec()),
                StoreWrite::Node(id, None) => b.remove(&self.nodes, codec::key_u32(id)),
                StoreWrite::Meta(k, v) => b.insert(&self.meta, k, v),
            }
        }
        b.commit()?;
        Ok(())
    }

    /// fsyncs the journal.
    pub fn persist(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// Bytes allocated on disk by the LSM directory (blocks actually used: fjall preallocates
    /// its journal, so apparent sizes overstate a small database many times).
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            use std::os::unix::fs::MetadataExt;
            let Ok(md) = std::fs::symlink_metadata(p) else { return 0 };
            let own = md.blocks() * 512;
            if !md.is_dir() {
                return own;
            }
            let Ok(rd) = std::fs::read_dir(p) else { return own };
            own + rd.flatten().map(|e| walk(&e.path())).sum::<u64>()
        }
        walk(&self.dir)
    }
}
