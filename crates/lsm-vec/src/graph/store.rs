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

/// Whether `name` (an entry of the LSM directory) is one fjall creates.
fn is_fjall_entry(name: &str) -> bool {
    matches!(name, "version" | "lock" | "keyspaces")
        || name.strip_suffix(".jnl").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl LsmStore {
    /// Whether `dir` holds anything fjall wrote (so an LSM was created there).
    pub fn exists(dir: &Path) -> bool {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().any(|e| e.file_name().to_str().is_some_and(is_fjall_entry)))
            .unwrap_or(false)
    }

    /// Removes what fjall wrote in `dir` (and nothing else), for `reinit`.
    pub fn remove_files(dir: &Path) -> Result<()> {
        let Ok(rd) = std::fs::read_dir(dir) else { return Ok(()) };
        for e in rd.flatten() {
            if !e.file_name().to_str().is_some_and(is_fjall_entry) {
                continue;
            }
            let p = e.path();
            let r = if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|err| Error::io(format!("remove {}", p.display()), err))?;
        }
        Ok(())
    }

    pub fn open(dir: &Path, cache_bytes: u64) -> Result<LsmStore> {
        // fjall treats a directory without its `version` file as new and then fails on the
        // files that are there: report the damage instead.
        if Self::exists(dir) {
            if !dir.join("version").exists() {
                return Err(Error::corruption(dir, None, "the LSM directory has lost its `version` file"));
            }
            // Likewise a keyspace without its `current` file (fjall would try to create it).
            if let Ok(rd) = std::fs::read_dir(dir.join("keyspaces")) {
                for e in rd.flatten() {
                    if e.path().is_dir() && !e.path().join("current").exists() {
                        return Err(Error::corruption(e.path(), None, "an LSM keyspace has lost its `current` file"));
                    }
                }
            }
        }
        let err = |e| Error::from_lsm(dir, "open the LSM", e);
        // A 64 MiB journal cap (fjall's default is 512 MiB) bounds recovery time and disk use:
        // past it, fjall flushes memtables so that old journals can be dropped.
        let db =
            Database::builder(dir).cache_size(cache_bytes).max_journaling_size(64 * 1024 * 1024).open().map_err(err)?;
        let small = || KeyspaceCreateOptions::default().max_memtable_size(8 * 1024 * 1024);
        let point = || small().expect_point_read_hits(true);
        Ok(LsmStore {
            adj0: db.keyspace("adj0", point).map_err(err)?,
            upper: db.keyspace("upper", small).map_err(err)?,
            nodes: db.keyspace("nodes", point).map_err(err)?,
            meta: db.keyspace("meta", small).map_err(err)?,
            db,
            dir: dir.to_path_buf(),
        })
    }

    fn corrupt(&self, what: &str, key: u32) -> Error {
        Error::corruption(&self.dir, Some(key as u64), format!("undecodable {what} record for internal id {key}"))
    }

    fn lsm_err(&self, doing: &'static str) -> impl Fn(fjall::Error) -> Error + '_ {
        move |e| Error::from_lsm(&self.dir, doing, e)
    }

    pub fn adj0(&self, id: u32) -> Result<Option<Vec<u32>>> {
        match self.adj0.get(codec::key_u32(id)).map_err(self.lsm_err("read a layer-0 list"))? {
            None => Ok(None),
            Some(v) => codec::decode_list(&v).map(Some).ok_or_else(|| self.corrupt("adj0", id)),
        }
    }

    /// About how many node records there are (cheap; for sizing at open).
    pub fn approx_nodes(&self) -> usize {
        self.nodes.approximate_len()
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(key).map_err(self.lsm_err("read metadata"))?.map(|v| v.to_vec()))
    }

    /// Calls `f` for every node record; `format` is the LSM record format (1 only while
    /// migrating).
    pub fn for_each_node(&self, format: u32, mut f: impl FnMut(u32, NodeRecord) -> Result<()>) -> Result<()> {
        let decode = if format == 1 { codec::decode_node_v1 } else { codec::decode_node };
        for kv in self.nodes.iter() {
            let (k, v) = kv.into_inner().map_err(self.lsm_err("read the node table"))?;
            let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt("nodes key", 0))?;
            let n = decode(&v).ok_or_else(|| self.corrupt("nodes", id))?;
            f(id, n)?;
        }
        Ok(())
    }

    /// One past the largest internal id that has a node record or a layer-0 list (0 when
    /// there are none): no list may name an id at or above it.
    pub fn id_bound(&self) -> Result<u32> {
        let mut bound = 0u32;
        for (ks, what) in [(&self.nodes, "node key"), (&self.adj0, "adj0 key")] {
            if let Some(g) = ks.last_key_value() {
                let k = g.key().map_err(self.lsm_err("read the last key"))?;
                let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt(what, 0))?;
                bound = bound.max(id.saturating_add(1));
            }
        }
        Ok(bound)
    }

    pub fn for_each_adj0(&self, mut f: impl FnMut(u32, Vec<u32>) -> Result<()>) -> Result<()> {
        for kv in self.adj0.iter() {
            let (k, v) = kv.into_inner().map_err(self.lsm_err("read the layer-0 lists"))?;
            let id = codec::decode_key_u32(&k).ok_or_else(|| self.corrupt("adj0 key", 0))?;
            let list = codec::decode_list(&v).ok_or_else(|| self.corrupt("adj0", id))?;
            f(id, list)?;
        }
        Ok(())
    }

    pub fn for_each_upper(&self, mut f: impl FnMut(u32, Vec<Vec<u32>>) -> Result<()>) -> Result<()> {
        for kv in self.upper.iter() {
            let (k, v) = kv.into_inner().map_err(self.lsm_err("read the upper-layer lists"))?;
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
                StoreWrite::Node(id, Some(n)) => b.insert(&self.nodes, codec::key_u32(id), codec::encode_node(&n)),
                StoreWrite::Node(id, None) => b.remove(&self.nodes, codec::key_u32(id)),
                StoreWrite::Meta(k, v) => b.insert(&self.meta, k, v),
            }
        }
        b.commit().map_err(self.lsm_err("commit a write batch"))?;
        Ok(())
    }

    /// fsyncs the journal.
    pub fn persist(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll).map_err(self.lsm_err("fsync the journal"))
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
