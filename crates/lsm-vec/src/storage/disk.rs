//! The real backend: vector files are `std::fs::File`s read and written with `pread`/`pwrite`
//! (no shared seek pointer, so concurrent readers need no lock), the key-value store is a fjall
//! database with one keyspace per [`Space`].
//!
//! fjall specifics live here and nowhere else: the keyspace options, the journal cap, the persist
//! modes, the names of the files fjall writes (for `exists` and `reinit`), and the mapping of
//! fjall's errors onto the crate's (`Error::from_lsm`, which tells damage from I/O failure).
//! Commits are `PersistMode::Buffer` (fjall's journal sits behind a `BufWriter`: a batch committed
//! without a persist mode could be lost by a process crash), or `SyncData` with `sync`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{readahead, KvStore, KvWrite, ScanFn, Space, Storage, VectorIo};
use crate::error::{Error, Result};

/// The file system.
pub(crate) struct DiskStorage;

struct DiskFile(File);

impl VectorIo for DiskFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], off + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        self.0.write_all_at(buf, off)
    }

    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn len_bytes(&self) -> io::Result<u64> {
        self.0.metadata().map(|m| m.len())
    }

    fn advise_random(&self) {
        readahead::random_access(&self.0);
    }

    fn read_cached(&self, buf: &mut [u8], off: u64) -> bool {
        readahead::read_cached(&self.0, buf, off)
    }

    fn will_need(&self, off: u64, len: u64) {
        readahead::will_need(&self.0, off, len);
    }
}

/// Whether `name` (an entry of the LSM directory) is one fjall creates.
fn is_fjall_entry(name: &str) -> bool {
    matches!(name, "version" | "lock" | "keyspaces")
        || name.strip_suffix(".jnl").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Storage for DiskStorage {
    fn open_file(&self, path: &Path, write: bool) -> io::Result<Box<dyn VectorIo>> {
        Ok(Box::new(DiskFile(OpenOptions::new().read(true).write(write).open(path)?)))
    }

    fn create_file(&self, path: &Path, replace: bool) -> io::Result<Box<dyn VectorIo>> {
        let mut oo = OpenOptions::new();
        oo.read(true).write(true);
        if replace {
            oo.create(true).truncate(true);
        } else {
            oo.create_new(true);
        }
        let f = oo.open(path)?;
        // The directory entry: without this fsync a power cut could lose the file even after
        // its own contents were synced (and with it the vector file the LSM goes on to name).
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(parent)?.sync_all()?;
        Ok(Box::new(DiskFile(f)))
    }

    fn file_exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn kv_exists(&self, dir: &Path) -> bool {
        std::fs::read_dir(dir)
            .map(|rd| rd.flatten().any(|e| e.file_name().to_str().is_some_and(is_fjall_entry)))
            .unwrap_or(false)
    }

    fn remove_kv(&self, dir: &Path) -> Result<()> {
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

    fn open_kv(&self, dir: &Path, cache_bytes: u64) -> Result<Box<dyn KvStore>> {
        Ok(Box::new(FjallStore::open(self, dir, cache_bytes)?))
    }
}

/// The fjall database of an LSM directory, one keyspace per [`Space`] (indexed by `Space as usize`).
struct FjallStore {
    db: Database,
    spaces: [Keyspace; 4],
    dir: PathBuf,
}

impl FjallStore {
    fn open(disk: &DiskStorage, dir: &Path, cache_bytes: u64) -> Result<FjallStore> {
        // fjall treats a directory without its `version` file as new and then fails on the
        // files that are there: report the damage instead.
        if disk.kv_exists(dir) {
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
        let ks = |s: Space| match s {
            Space::Adj0 | Space::Nodes => db.keyspace(s.name(), point),
            Space::Upper | Space::Meta => db.keyspace(s.name(), small),
        };
        let spaces = [
            ks(Space::Adj0).map_err(err)?,
            ks(Space::Upper).map_err(err)?,
            ks(Space::Nodes).map_err(err)?,
            ks(Space::Meta).map_err(err)?,
        ];
        Ok(FjallStore { db, spaces, dir: dir.to_path_buf() })
    }

    fn ks(&self, s: Space) -> &Keyspace {
        &self.spaces[s as usize]
    }

    fn err(&self, doing: &'static str) -> impl Fn(fjall::Error) -> Error + '_ {
        move |e| Error::from_lsm(&self.dir, doing, e)
    }
}

impl KvStore for FjallStore {
    fn get(&self, space: Space, key: &[u8], f: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let doing = match space {
            Space::Adj0 => "read a layer-0 list",
            Space::Upper => "read an upper-layer list",
            Space::Nodes => "read a node record",
            Space::Meta => "read metadata",
        };
        match self.ks(space).get(key).map_err(self.err(doing))? {
            Some(v) => {
                f(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(&self, space: Space, f: &mut ScanFn<'_>) -> Result<()> {
        let doing = match space {
            Space::Adj0 => "read the layer-0 lists",
            Space::Upper => "read the upper-layer lists",
            Space::Nodes => "read the node table",
            Space::Meta => "read metadata",
        };
        for kv in self.ks(space).iter() {
            let (k, v) = kv.into_inner().map_err(self.err(doing))?;
            f(&k, &v)?;
        }
        Ok(())
    }

    fn last_key(&self, space: Space) -> Result<Option<Vec<u8>>> {
        match self.ks(space).last_key_value() {
            None => Ok(None),
            Some(g) => Ok(Some(g.key().map_err(self.err("read the last key"))?.to_vec())),
        }
    }

    fn commit(&self, writes: &mut dyn Iterator<Item = KvWrite>, sync: bool) -> Result<()> {
        let mode = if sync { PersistMode::SyncData } else { PersistMode::Buffer };
        let mut b = self.db.batch().durability(Some(mode));
        for w in writes {
            let ks = self.ks(w.space);
            match w.value {
                Some(v) => b.insert(ks, w.key.as_bytes(), v),
                None => b.remove(ks, w.key.as_bytes()),
            }
        }
        b.commit().map_err(self.err("commit a write batch"))
    }

    fn persist(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll).map_err(self.err("fsync the journal"))
    }

    fn approximate_len(&self, space: Space) -> usize {
        self.ks(space).approximate_len()
    }

    /// Blocks actually used: fjall preallocates its journal, so apparent sizes overstate a small
    /// database many times.
    fn disk_bytes(&self) -> u64 {
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
