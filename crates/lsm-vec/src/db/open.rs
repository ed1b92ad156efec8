//! Opening a database: creation, recovery, the checks that keep a database from touching files
//! that are not its own, the migration of format 1, and the rebuild of the in-memory index.
//!
//! The order of creation makes every crash point recoverable without guessing:
//! 1. the LSM gets `meta/pending = instance` (fsync'd);
//! 2. the vector file is created (`O_EXCL`, directory fsync'd) with that instance in its header
//!    (fsync'd);
//! 3. the state file is written (not clean, sequence 0, that instance);
//! 4. one batch writes `format`, `params`, `entry`, `seq` and, last, `instance` (fsync'd).
//!
//! A directory whose LSM has no `instance` is new. An existing vector file at the chosen path is
//! refused, unless it is the file of step 2 (at most a header long) and either its header names
//! `pending` or it holds nothing but (sectors of) the header step 2 writes for `pending`: a
//! crash during step 2 leaves the file empty or its header torn. A state file is refused too,
//! unless it is the one of step 3 (instance `pending`, sequence 0). So a crash between steps 3
//! and 4 resumes the creation, and once `instance` is committed the state file exists.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::budget::{self, MemoryPlan};
use super::engine::{Engine, WriterState};
use super::fault::Faults;
use super::lock::lock_dir;
use super::meta::{self, StoredParams};
use super::paths::{self, VectorFileLocation};
use super::state::{IndexState, FREE, TWIN};
use super::state_file::StateRecord;
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::graph::{EdgeCache, LsmStore, StoreWrite};
use crate::hnsw::Params;
use crate::options::DbOptions;
use crate::quant::{self, ScalarQuantizer};
use crate::stats::Counters;
use crate::storage::Storage;
use crate::vectors::{checksum, Header, SlotAllocator, VectorFile};

fn lsm_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("lsm")
}

fn new_instance_id(dir: &Path) -> u64 {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut buf = Vec::new();
    buf.extend_from_slice(&t.to_le_bytes());
    buf.extend_from_slice(&std::process::id().to_le_bytes());
    buf.extend_from_slice(dir.to_string_lossy().as_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf) | 1
}

fn meta_u64(store: &LsmStore, key: &str, lsm: &Path) -> Result<Option<u64>> {
    match store.meta(key)? {
        None => Ok(None),
        Some(b) => {
            meta::decode_u64(&b).map(Some).ok_or_else(|| Error::corruption(lsm, None, format!("bad {key} record")))
        }
    }
}

/// The LSM record format version (`meta/format`).
fn read_format(store: &LsmStore, lsm: &Path) -> Result<u32> {
    let b = store.meta(meta::KEY_FORMAT)?.ok_or_else(|| Error::corruption(lsm, None, "missing format record"))?;
    Ok(u32::from_le_bytes(b.as_slice().try_into().map_err(|_| Error::corruption(lsm, None, "bad format record"))?))
}

/// `reinit`: deletes what is provably this database's (fjall's files in `lsm/`, the state file,
/// and the vector files that belong to it) and nothing else. Every candidate is checked before
/// anything is deleted, so a refusal changes nothing.
fn reinit(fs: &dyn Storage, dir: &Path, requested: Option<&Path>, cache_bytes: u64) -> Result<()> {
    let default_vf = VectorFileLocation::default_file().resolve(dir);
    let mut vector_files = vec![default_vf.clone()];
    if let Some(r) = requested {
        vector_files.push(paths::absolute(r)?);
    }
    let (instance, referenced) = identity(fs, dir, cache_bytes);
    for vf in &vector_files {
        if !fs.file_exists(vf) {
            continue;
        }
        // Ours: referenced by this directory's LSM or state record (even if its header is
        // damaged), or a header naming this database's instance or this directory as owner, or
        // a format-1 header (no owner) at the default path inside this directory.
        let ours = referenced.iter().any(|r| r == vf)
            || match VectorFile::read_header(fs, vf) {
                Ok(h) => {
                    Some(h.instance) == instance
                        || h.owner.as_deref() == Some(dir)
                        || (h.owner.is_none() && *vf == default_vf)
                }
                Err(_) => false,
            };
        if !ours {
            return Err(Error::corruption(
                vf,
                Some(0),
                "reinit refuses to delete this file: it is not a vector file of this database \
                 (not an lsm-vec file, or another database's)",
            ));
        }
    }
    for vf in &vector_files {
        match fs.remove_file(vf) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("remove {}", vf.display()), e));
            }
            _ => {}
        }
    }
    LsmStore::remove_files(fs, &lsm_dir(dir))?;
    StateRecord::remove(dir)
}

/// What `dir` says about itself, as far as it can be read: its instance id and the vector
/// files its LSM and its state record reference.
fn identity(fs: &dyn Storage, dir: &Path, cache_bytes: u64) -> (Option<u64>, Vec<std::path::PathBuf>) {
    let mut instance = None;
    let mut referenced = Vec::new();
    if let Ok(Some(st)) = StateRecord::read(dir) {
        instance = Some(st.instance);
        referenced.push(st.vector_file);
    }
    let lsm = lsm_dir(dir);
    if !LsmStore::exists(fs, &lsm) {
        return (instance, referenced);
    }
    let Ok(store) = LsmStore::open(fs, &lsm, cache_bytes) else { return (instance, referenced) };
    if let Ok(Some(i)) = meta_u64(&store, meta::KEY_INSTANCE, &lsm) {
        instance = Some(i);
    }
    let params = read_format(&store, &lsm)
        .ok()
        .and_then(|f| Some((f, store.meta(meta::KEY_PARAMS).ok()??)))
        .and_then(|(f, b)| Some((f, StoredParams::decode(&b, f, &lsm).ok()?)));
    if let Some((format, sp)) = params {
        match &sp.vector_file {
            VectorFileLocation::Outside(p) if format == 1 => referenced.extend(paths::absolute(p).ok()),
            loc => referenced.push(loc.resolve(dir)),
        }
    }
    (instance, referenced)
}

/// What opening found on disk, before the in-memory index is built.
struct Opened {
    opts: DbOptions,
    store: LsmStore,
    vectors: VectorFile,
    instance: u64,
    format: u32,
    seq: u64,
    is_new: bool,
    /// A new parameters record to write (the vector file moved, or a migration).
    new_params: Option<StoredParams>,
    memory: MemoryPlan,
}

/// Splits the memory budget for about `nodes` nodes and puts the cache sizes into `o` (so
/// that `options()` reports the effective ones).
fn apply_plan(o: &mut DbOptions, nodes: usize) -> Result<MemoryPlan> {
    let p = budget::plan(o, nodes)?;
    o.paged_max_cached_pages = p.page_cache_pages.max(1);
    o.edge_cache_size = p.edge_cache_lists;
    Ok(p)
}

impl Engine {
    /// Opens (`opts = Some`) or creates the database at `path`, or opens an existing one with its
    /// stored parameters (`opts = None`); its vector file and LSM are reached through `fs`.
    pub fn open(path: &Path, opts: Option<DbOptions>, fs: &dyn Storage) -> Result<Engine> {
        if opts.is_none() && !path.as_os_str().is_empty() && !path.is_dir() {
            return Err(Error::invalid(format!("no lsm-vec database at {}", path.display())));
        }
        let dir = paths::database_dir(path)?;
        let lock = lock_dir(&dir)?;
        let log = match &opts {
            Some(o) if !o.log_file_path.as_os_str().is_empty() => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&o.log_file_path)
                    .map_err(|e| Error::io(format!("open log file {}", o.log_file_path.display()), e))?,
            )),
            _ => None,
        };
        let requested = opts.as_ref().map(|o| o.vector_file_path.clone()).filter(|p| !p.as_os_str().is_empty());
        if let Some(o) = &opts {
            if o.reinit {
                reinit(fs, &dir, requested.as_deref(), o.lsm_cache_bytes)?;
            }
        }
        let mut notes = Vec::new();
        let o = open_files(fs, &dir, opts, requested.as_deref(), &mut notes)?;
        let engine = build(dir, o, lock, log)?;
        for n in notes {
            engine.log(&n);
        }
        engine.log(&format!(
            "open {} (dim {}, metric {}, {} vectors, reinit {})",
            engine.dir.display(),
            engine.opts.dim,
            engine.opts.metric,
            engine.len(),
            engine.opts.reinit
        ));
        Ok(engine)
    }
}

/// Opens or creates the LSM and the vector file and checks that they belong together.
fn open_files(
    fs: &dyn Storage,
    dir: &Path,
    opts: Option<DbOptions>,
    requested: Option<&Path>,
    notes: &mut Vec<String>,
) -> Result<Opened> {
    let lsm = lsm_dir(dir);
    let state = StateRecord::read(dir)?;
    let cache_bytes = opts.as_ref().map(|o| o.lsm_cache_bytes).unwrap_or_else(|| DbOptions::default().lsm_cache_bytes);
    if opts.is_none() && !LsmStore::exists(fs, &lsm) && state.is_none() {
        return Err(Error::invalid(format!("no lsm-vec database at {}", dir.display())));
    }
    let store = LsmStore::open(fs, &lsm, cache_bytes)?;
    match meta_u64(&store, meta::KEY_INSTANCE, &lsm)? {
        None => create(fs, dir, store, opts, requested, state),
        Some(instance) => open_existing(fs, dir, store, instance, opts, requested, state, notes),
    }
}

fn create(
    fs: &dyn Storage,
    dir: &Path,
    store: LsmStore,
    opts: Option<DbOptions>,
    requested: Option<&Path>,
    state: Option<StateRecord>,
) -> Result<Opened> {
    let lsm = lsm_dir(dir);
    let pending = meta_u64(&store, meta::KEY_PENDING, &lsm)?;
    if let Some(st) = state.filter(|st| !(Some(st.instance) == pending && st.seq == 0)) {
        return Err(Error::corruption(
            &st.vector_file,
            None,
            format!(
                "{} records a database (instance {:x}, sequence {}) whose LSM in {} is lost or damaged; \
                 its vector file is left untouched (reinit = true starts an empty database)",
                dir.join(super::state_file::FILE_NAME).display(),
                st.instance,
                st.seq,
                lsm.display()
            ),
        ));
    }
    let Some(mut o) = opts else {
        return Err(Error::invalid(format!("no lsm-vec database at {}", dir.display())));
    };
    let memory = apply_plan(&mut o, 0)?;
    let location = match requested {
        Some(r) => VectorFileLocation::of_requested(dir, r)?,
        None => VectorFileLocation::default_file(),
    };
    let vf = location.resolve(dir);
    let mut resume = None;
    if fs.file_exists(&vf) {
        // Only the header-only file of an interrupted creation of this very directory may be
        // reused; anything else may be another database's data.
        let interrupted = |p| VectorFile::is_interrupted_creation(fs, &vf, o.dim, o.vector_storage_type, p, dir);
        match pending {
            Some(p) if interrupted(p)? => resume = Some(p),
            _ => {
                return Err(Error::corruption(
                    &vf,
                    None,
                    "the vector file already exists but this database's LSM does not reference it \
                     (another database's file, or a database whose LSM was lost): refusing to overwrite it; \
                     choose another vector_file_path, or reinit = true to start over",
                ));
            }
        }
    }
    let instance = match resume {
        Some(i) => i,
        None => {
            let i = new_instance_id(dir);
            store.commit(vec![StoreWrite::Meta(meta::KEY_PENDING, i.to_le_bytes().to_vec())], true)?;
            i
        }
    };
    let vectors = VectorFile::create(
        fs,
        &vf,
        o.dim,
        o.vector_storage_type,
        instance,
        dir,
        o.paged_max_cached_pages,
        resume.is_some(),
    )?;
    // Before `instance`: from the commit of `instance` on, the state file exists.
    StateRecord { clean: false, instance, seq: 0, vector_file: vf.clone() }.write(dir)?;
    let sp = StoredParams::from_options(&o, location);
    store.commit(
        vec![
            StoreWrite::Meta(meta::KEY_FORMAT, meta::FORMAT_VERSION.to_le_bytes().to_vec()),
            StoreWrite::Meta(meta::KEY_PARAMS, sp.encode()),
            StoreWrite::Meta(meta::KEY_ENTRY, meta::encode_entry(None)),
            StoreWrite::Meta(meta::KEY_SEQ, 0u64.to_le_bytes().to_vec()),
            StoreWrite::Meta(meta::KEY_INSTANCE, instance.to_le_bytes().to_vec()),
        ],
        true,
    )?;
    store.persist()?;
    Ok(Opened {
        opts: o,
        store,
        vectors,
        instance,
        format: meta::FORMAT_VERSION,
        seq: 0,
        is_new: true,
        new_params: None,
        memory,
    })
}

#[allow(clippy::too_many_arguments)]
fn open_existing(
    fs: &dyn Storage,
    dir: &Path,
    store: LsmStore,
    instance: u64,
    opts: Option<DbOptions>,
    requested: Option<&Path>,
    state: Option<StateRecord>,
    notes: &mut Vec<String>,
) -> Result<Opened> {
    let lsm = lsm_dir(dir);
    let format = read_format(&store, &lsm)?;
    if format == 0 || format > meta::FORMAT_VERSION {
        return Err(Error::corruption(
            &lsm,
            None,
            format!(
                "the database has format version {format}, this build of lsm-vec reads versions 1 to {}: upgrade lsm-vec",
                meta::FORMAT_VERSION
            ),
        ));
    }
    let params = store.meta(meta::KEY_PARAMS)?.ok_or_else(|| Error::corruption(&lsm, None, "missing params record"))?;
    let sp = StoredParams::decode(&params, format, &lsm)?;
    let o = match opts {
        Some(mut o) => {
            sp.check(&o)?;
            for c in sp.apply(&mut o) {
                notes.push(format!("stored parameter wins: {c}"));
            }
            o
        }
        None => DbOptions {
            dim: sp.dim,
            metric: sp.metric,
            m: sp.m,
            m_max: sp.m_max,
            vector_storage_type: sp.storage,
            ..DbOptions::default()
        },
    };
    let mut o = o;
    let memory = apply_plan(&mut o, store.approx_nodes())?;
    let seq = meta_u64(&store, meta::KEY_SEQ, &lsm)?.unwrap_or(0);
    if format >= 2 {
        check_state(dir, instance, seq, state.as_ref())?;
    }

    // Where the vector file is. Format 1 stored the path as the creator gave it (often absolute,
    // into the creator's directory): a file inside this directory with our instance wins, so a
    // moved or copied format-1 database uses its own file.
    let location = match requested {
        Some(r) => VectorFileLocation::of_requested(dir, r)?,
        None if format == 1 => {
            let own = VectorFileLocation::default_file();
            match VectorFile::read_header(fs, &own.resolve(dir)) {
                Ok(h) if h.instance == instance => own,
                _ => match &sp.vector_file {
                    VectorFileLocation::Outside(p) | VectorFileLocation::Inside(p) => {
                        VectorFileLocation::of_requested(dir, p)?
                    }
                },
            }
        }
        None => sp.vector_file.clone(),
    };
    let vf = location.resolve(dir);
    let (vectors, header) =
        VectorFile::open(fs, &vf, o.dim, o.vector_storage_type, instance, o.paged_max_cached_pages)?;
    if location.is_outside() {
        check_not_a_copy(dir, instance, &vf, &header)?;
    }
    if header.version == 1 || (location.is_outside() && header.owner.as_deref() != Some(dir)) {
        vectors.rewrite_header(instance, dir)?;
    }
    let new_params =
        (format == 1 || location != sp.vector_file).then(|| StoredParams { vector_file: location, ..sp.clone() });
    Ok(Opened { opts: o, store, vectors, instance, format, seq, is_new: false, new_params, memory })
}

/// A reopen must recover at least what the state file says was durable: everything up to the
/// clean close, or up to the last `flush()` / open after an unclean shutdown.
fn check_state(dir: &Path, instance: u64, seq: u64, state: Option<&StateRecord>) -> Result<()> {
    let file = dir.join(super::state_file::FILE_NAME);
    let Some(st) = state else {
        return Err(Error::corruption(
            &file,
            None,
            "the state file is missing (it records what a reopen must recover)",
        ));
    };
    if st.instance != instance {
        return Err(Error::corruption(
            &file,
            None,
            format!(
                "the state file belongs to another database (instance {:x}, the LSM says {instance:x})",
                st.instance
            ),
        ));
    }
    if st.clean && seq != st.seq {
        return Err(Error::corruption(
            &file,
            None,
            format!(
                "the database was closed cleanly at sequence {} but the LSM recovered sequence {seq}: {}",
                st.seq,
                if seq < st.seq {
                    "committed writes were lost (damaged journal or tables)"
                } else {
                    "the state file is older than the LSM"
                }
            ),
        ));
    }
    if !st.clean && seq < st.seq {
        return Err(Error::corruption(
            &file,
            None,
            format!("writes up to sequence {} were durable but the LSM recovered only up to {seq} (damaged journal or tables)", st.seq),
        ));
    }
    Ok(())
}

/// An external vector file records the directory that writes it. When that is another
/// directory whose state file names the same instance and the same file, this database is a
/// copy of it, and writing would corrupt the original. Otherwise (the owner is gone, or uses
/// another file) this database was moved or its file was copied, and it takes ownership.
fn check_not_a_copy(dir: &Path, instance: u64, vf: &Path, header: &Header) -> Result<()> {
    let Some(owner) = header.owner.as_deref() else { return Ok(()) };
    if owner == dir {
        return Ok(());
    }
    if let Ok(Some(st)) = StateRecord::read(owner) {
        if st.instance == instance && st.vector_file == vf {
            return Err(Error::corruption(
                vf,
                None,
                format!(
                    "this vector file is used by the database at {}, and the database at {} is a copy of it: \
                     copy the vector file as well and open the copy with vector_file_path set to it",
                    owner.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Rebuilds the in-memory index from the LSM, verifies every referenced vector record, applies
/// a pending migration, makes the recovered state durable and records it.
fn build(
    dir: std::path::PathBuf,
    o: Opened,
    lock: super::lock::DirLock,
    log: Option<Mutex<std::fs::File>>,
) -> Result<Engine> {
    let Opened { mut opts, store, vectors, instance, format, seq, is_new, new_params, memory } = o;
    opts.vector_file_path = vectors.path().to_path_buf();
    // Tables are sized up front from `vec_file_capacity` (a hint), or, under a memory budget,
    // from the nodes present (+25%).
    let cap = if opts.memory_budget_bytes > 0 {
        let n = store.approx_nodes();
        n + n / 4 + 1024
    } else {
        opts.vec_file_capacity
    }
    .min(1 << 24);
    let mut state = IndexState::new(opts.max_degree0(), memory.adj_nodes, cap);
    let mut alloc = SlotAllocator::new(vectors.layout);
    let edges = EdgeCache::new(opts.edge_cache_size);
    let lsm = lsm_dir(&dir);
    let mut migration = Vec::new();
    if !is_new {
        // The in-memory tables are dense in internal ids: a damaged key or list that named a
        // huge id would make them allocate without bound. Ids come from records, so none may
        // exceed the largest key, and that must fit the machine.
        let id_bound = store.id_bound()?;
        check_id_bound(&lsm, id_bound)?;
        let mut checks: Vec<(u32, u32, u32)> = Vec::new();
        let file_len = vectors.len_bytes()?;
        store.for_each_node(format, |id, n| {
            if n.deleted && (format < 3 || n.head.is_some()) {
                return Err(Error::corruption(
                    &lsm,
                    Some(id as u64),
                    "a node record marked deleted in a format without deletes, or a deleted twin",
                ));
            }
            if n.deleted {
                // Deleted before the crash or close, its repair pending: finished by the
                // repairer after this open.
                state.doomed.push_back(id);
            } else {
                if state.ids.insert(n.ext_id, id).is_some() {
                    return Err(Error::corruption(&lsm, Some(id as u64), format!("id {} mapped twice", n.ext_id)));
                }
                state.live += 1;
            }
            // Before the allocator grows to the slot: a damaged slot must not make it grow
            // to billions of entries.
            vectors.check_holds_in(n.slot, file_len)?;
            state.set_node(id, Some(n));
            alloc.mark_used(n.slot);
            checks.push((n.slot, n.checksum, id));
            Ok(())
        })?;
        if format == 1 {
            // Format 1 had no checksums: compute them from the records as they are.
            let mut scratch = Vec::new();
            let mut io = Default::default();
            for id in 0..state.nodes.len() as u32 {
                if let Some(mut n) = state.node(id).copied() {
                    n.checksum = vectors.with_record(n.slot, &mut scratch, &mut io, checksum)?;
                    state.set_node(id, Some(n));
                    migration.push(StoreWrite::Node(id, Some(n)));
                }
            }
        } else {
            // Every referenced record is checked once; with a trained quantizer the same pass
            // computes the codes of the graph nodes.
            let bits = quant::bits_of(opts.quantization);
            let params = match bits {
                Some(b) => store.meta(meta::quantizer_key(b))?.map(|p| (b, p)),
                None => None,
            };
            let mut codes = match params {
                None => None,
                Some((bits, p)) => {
                    let key = meta::quantizer_key(bits);
                    let sq = ScalarQuantizer::decode_params(&p, bits)
                        .filter(|q| q.dim() == opts.dim)
                        .ok_or_else(|| Error::corruption(&lsm, None, format!("undecodable {key} record in meta")))?;
                    Some(super::codes::new_codes(&opts, sq, 0))
                }
            };
            vectors.read_verified(&mut checks, |id, v| {
                if let Some(c) = codes.as_mut() {
                    if state.slots[id as usize] != TWIN {
                        c.set(id, v);
                        c.trained_on += 1;
                    }
                }
            })?;
            if let Some(c) = codes.as_mut() {
                c.reset_drift();
            }
            state.codes = codes.filter(|c| memory.codes_fit(c.len()));
        }
        for id in 0..state.nodes.len() as u32 {
            if let Some(h) = state.node(id).and_then(|n| n.head) {
                if state.node(h).is_none_or(|hn| hn.head.is_some()) {
                    return Err(Error::corruption(
                        &lsm,
                        Some(id as u64),
                        format!("twin {id} names {h}, which is not a graph node"),
                    ));
                }
                state.set_twin(h, id, true);
            }
        }
        // In-degrees are derived from the lists (and the scan warms the edge cache).
        let edges = &edges;
        store.for_each_adj0(|id, list| {
            for &t in &list {
                if t >= id_bound {
                    return Err(Error::corruption(
                        &lsm,
                        Some(id as u64),
                        format!("the layer-0 list of internal id {id} names id {t}, which has no record"),
                    ));
                }
                state.cover(t);
                state.indeg[t as usize] += 1;
            }
            if state.node(id).is_none() {
                // A list without a node record: a ghost.
                state.set_ghost(id);
            } else if state.slots[id as usize] == TWIN {
                return Err(Error::corruption(&lsm, Some(id as u64), format!("twin {id} has a layer-0 list")));
            }
            if state.adj.covers(id) {
                state.adj.set(id, &list);
            } else {
                edges.put(id, list.into_boxed_slice());
            }
            Ok(())
        })?;
        store.for_each_upper(|id, lists| {
            state.upper.insert(id, lists);
            Ok(())
        })?;
        let e = store.meta(meta::KEY_ENTRY)?.unwrap_or_default();
        state.entry = meta::decode_entry(&e).ok_or_else(|| Error::corruption(&lsm, None, "bad entry record"))?;
        match state.entry {
            Some((id, _)) if state.live_slot(id).is_none() => {
                return Err(Error::corruption(&lsm, Some(id as u64), "entry point is not a live graph node"));
            }
            None if state.live > 0 => return Err(Error::corruption(&lsm, None, "no entry point in a non-empty index")),
            _ => {}
        }
    }
    if let Some(sp) = new_params {
        migration.push(StoreWrite::Meta(meta::KEY_PARAMS, sp.encode()));
    }
    if format != meta::FORMAT_VERSION {
        migration.push(StoreWrite::Meta(meta::KEY_FORMAT, meta::FORMAT_VERSION.to_le_bytes().to_vec()));
        migration.push(StoreWrite::Meta(meta::KEY_SEQ, seq.to_le_bytes().to_vec()));
    }
    if !migration.is_empty() {
        store.commit(migration, true)?;
    }
    // What was recovered is made durable before it becomes the floor the next open must reach.
    vectors.sync()?;
    vectors.advise_random();
    store.persist()?;
    let free_ids: VecDeque<u32> =
        state.slots.iter().enumerate().filter(|(_, &s)| s == FREE).map(|(i, _)| i as u32).collect();
    let params = Params {
        m: opts.m,
        m_max: opts.m_max,
        max_degree0: opts.max_degree0(),
        ef_construction: opts.ef_construction_usize(),
    };
    let engine = Engine {
        params,
        metric: Metric(opts.metric),
        store,
        vectors,
        edges,
        state: RwLock::new(state),
        writer: Mutex::new(WriterState {
            alloc,
            free_ids,
            since_check: usize::MAX,
            undo_ids: Vec::new(),
            undo_slots: Vec::new(),
            seq,
            pending_free: Vec::new(),
            closed: false,
        }),
        counters: Counters::new(),
        visited: Mutex::new(Vec::new()),
        insert_queue: Mutex::new(Vec::new()),
        writer_released: std::sync::Condvar::new(),
        commits: std::sync::atomic::AtomicU64::new(0),
        repairer: Default::default(),
        last_write_ms: std::sync::atomic::AtomicU64::new(0),
        opened_at: std::time::Instant::now(),
        recent_nodes: Mutex::new(VecDeque::new()),
        poisoned: AtomicBool::new(false),
        log,
        dir,
        pid: std::process::id(),
        faults: Faults::default(),
        memory,
        instance,
        _lock: lock,
        opts,
    };
    engine.write_state_record(false, seq)?;
    if !is_new {
        let mut w = engine.lock_writer();
        engine.maybe_check_connectivity(&mut w, 1, false)?;
        engine.maybe_train_codes(&mut w)?;
    }
    Ok(engine)
}

/// Refuses an id bound whose dense in-memory tables (about `TABLE_BYTES_PER_ID` bytes per id)
/// would not fit in the machine's memory: the keys are damaged (a real database that large
/// could not be opened here anyway). An explicit error instead of an allocation failure.
fn check_id_bound(lsm: &Path, id_bound: u32) -> Result<()> {
    const TABLE_BYTES_PER_ID: u64 = 40;
    let need = id_bound as u64 * TABLE_BYTES_PER_ID;
    let total = physical_memory_bytes();
    if need > total {
        return Err(Error::corruption(
            lsm,
            None,
            format!(
                "the LSM names internal ids up to {}, whose tables would need {} MiB, more than this machine's {} MiB",
                id_bound.saturating_sub(1),
                need >> 20,
                total >> 20
            ),
        ));
    }
    Ok(())
}

/// `MemTotal` of /proc/meminfo (u64::MAX where it cannot be read).
fn physical_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(u64::MAX)
}
