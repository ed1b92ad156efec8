//! `lsm-vec load`: bulk-loads a vector file into a database (created if absent) with
//! `insert_batch` on `--threads` threads, [`BUILD_CHUNK`] vectors per call.
//!
//! Everything that can be checked before writing is checked before the database is opened (or
//! created): the vector file's shape, the id file (one id per vector, no id twice), every value
//! (finite; not a zero vector under cosine), and, for an existing database, its dimension and
//! metric and that no id is already live. So a bad input leaves no half-loaded database behind.
//! A failure while loading (I/O) says how many leading vectors are in the database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lsm_vec::{DistanceMetric, LsmVecDb};
use serde::Serialize;

use crate::commands::bench::{batch_error, resolve_threads, BUILD_CHUNK};
use crate::data::{self, VecReader};
use crate::error::{CliError, Context, Result};
use crate::measure::report;
use crate::{bail, LoadArgs};

/// What `load` prints (`--json`: this object).
#[derive(Debug, Serialize)]
struct LoadReport {
    tool: &'static str,
    version: &'static str,
    db: PathBuf,
    base: PathBuf,
    ids: Option<PathBuf>,
    /// Whether the database was created (or wiped with --reinit) by this load.
    created: bool,
    dim: usize,
    metric: String,
    /// Vectors loaded.
    loaded: usize,
    /// Vectors in the database afterwards.
    count: usize,
    threads: usize,
    batch_size: usize,
    /// Wall time of the load: the insert_batch calls and the closing flush.
    seconds: f64,
    insert_seconds: f64,
    close_seconds: f64,
    /// `loaded / seconds`.
    vectors_per_sec: f64,
}

/// The ids of the vectors, in file order, and where each came from (for messages).
struct Ids {
    ids: Vec<u64>,
    /// Line number of each id in a text file (empty for a binary list or the default ids).
    lines: Vec<usize>,
}

impl Ids {
    fn origin(&self, i: usize) -> String {
        match self.lines.get(i) {
            Some(l) => format!("line {l}"),
            None => format!("id #{i}"),
        }
    }
}

/// Reads an id file: `.u32` = headerless little-endian u32 list (the traces' format), anything
/// else = text, one decimal u64 per line (blank lines and lines starting with `#` skipped).
fn read_ids(path: &Path) -> Result<Ids> {
    let is_u32 = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("u32"));
    if is_u32 {
        let ids = data::read_u32_list(path)?;
        return Ok(Ids { ids: ids.into_iter().map(u64::from).collect(), lines: Vec::new() });
    }
    let bytes = std::fs::read(path).context(|| format!("{}: cannot read", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        CliError(format!(
            "{}: not a text file of ids (invalid UTF-8 at byte offset {}); binary id lists \
             need the .u32 extension",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let (mut ids, mut lines) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let id = t.parse::<u64>().map_err(|_| {
            CliError(format!(
                "{}: line {}: {t:?} is not an id (one decimal integer in 0..=2^64-1 per line)",
                path.display(),
                i + 1
            ))
        })?;
        ids.push(id);
        lines.push(i + 1);
    }
    Ok(Ids { ids, lines })
}

/// Whether `dir` holds anything (a database to add to).
fn non_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// Reads every row of `base` once and checks what the engine would refuse, so that a bad value
/// is reported before anything is written.
fn check_values(base: &Path, metric: DistanceMetric) -> Result<()> {
    let mut r = VecReader::open(base)?;
    let mut row = vec![0f32; r.dim()];
    let mut i = 0usize;
    while r.read_row(&mut row)? {
        if let Some(j) = row.iter().position(|x| !x.is_finite()) {
            bail!(
                "{}: row {i} has a non-finite value ({} at component {j}); nothing was loaded",
                base.display(),
                row[j]
            );
        }
        if metric == DistanceMetric::Cosine && row.iter().all(|&x| x == 0.0) {
            bail!(
                "{}: row {i} is a zero vector, which has no direction under the cosine metric; \
                 nothing was loaded",
                base.display()
            );
        }
        i += 1;
    }
    Ok(())
}

/// Runs `lsm-vec load`.
pub fn run(a: &LoadArgs) -> Result<()> {
    let quiet = a.json;
    let Some(db_dir) = a.index.db.clone() else {
        bail!("--db DIR is required");
    };

    // 1. The inputs, before touching the database.
    let probe = VecReader::open(&a.base)?;
    let (n, dim) = (probe.len(), probe.dim());
    drop(probe);
    if n == 0 {
        bail!("{}: holds no vectors; nothing to load", a.base.display());
    }
    let ids = match &a.ids {
        Some(p) => {
            let ids = read_ids(p)?;
            if ids.ids.len() != n {
                bail!(
                    "{}: holds {} ids but {} holds {n} vectors (one id per vector, in file \
                     order); nothing was loaded",
                    p.display(),
                    ids.ids.len(),
                    a.base.display()
                );
            }
            ids
        }
        None => Ids { ids: (0..n as u64).collect(), lines: Vec::new() },
    };
    let mut first_at: HashMap<u64, usize> = HashMap::with_capacity(n);
    for (i, &id) in ids.ids.iter().enumerate() {
        if let Some(&j) = first_at.get(&id) {
            bail!(
                "{}: id {id} appears twice ({} and {}); nothing was loaded",
                a.ids.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
                ids.origin(j),
                ids.origin(i)
            );
        }
        first_at.insert(id, i);
    }
    drop(first_at);

    // 2. New or existing database: the metric (an existing database keeps its own).
    let existing = !a.reinit && non_empty_dir(&db_dir);
    let metric = match (existing, a.metric) {
        (_, Some(m)) => m,
        (false, None) => DistanceMetric::L2,
        (true, None) => {
            let db = LsmVecDb::open_existing(&db_dir).map_err(|e| CliError(format!("{}: {e}", db_dir.display())))?;
            let stored = db.options()?;
            db.close()?;
            if stored.dim != dim {
                bail!(
                    "the database {} holds vectors of dimension {} but {} has dimension {dim}; \
                     nothing was loaded",
                    db_dir.display(),
                    stored.dim,
                    a.base.display()
                );
            }
            stored.metric
        }
    };
    check_values(&a.base, metric)?;

    // 3. Open (or create) the database; no live id may be in the file.
    let mut opts = a.index.db_options(dim, metric, n)?;
    opts.reinit = a.reinit;
    std::fs::create_dir_all(&db_dir).context(|| format!("cannot create {}", db_dir.display()))?;
    let db = LsmVecDb::open(&db_dir, opts)?;
    let before = db.len()?;
    if before > 0 {
        for (i, &id) in ids.ids.iter().enumerate() {
            if db.contains(id)? {
                db.close()?;
                bail!(
                    "id {id} ({}) is already in the database {}; nothing was loaded",
                    match &a.ids {
                        Some(p) => format!("{} {}", p.display(), ids.origin(i)),
                        None => format!("row {i} of {}", a.base.display()),
                    },
                    db_dir.display()
                );
            }
        }
    }
    let threads = resolve_threads(a.threads);
    report::note(
        quiet,
        &format!(
            "load: {n} vectors of dimension {dim} ({metric}) from {} into {} ({}), {threads} threads",
            a.base.display(),
            db_dir.display(),
            if existing { format!("holding {before}") } else { "new".to_string() }
        ),
    );

    // 4. Load.
    let mut reader = VecReader::open(&a.base)?;
    let mut line = report::ProgressLine::new(report::progress_line_enabled(a.progress, quiet, n), "load", n);
    let start = Instant::now();
    let mut rows = vec![0f32; BUILD_CHUNK * dim];
    let mut done = 0usize;
    while done < n {
        let want = BUILD_CHUNK.min(n - done);
        for r in 0..want {
            if !reader.read_row(&mut rows[r * dim..(r + 1) * dim])? {
                bail!("{}: ended after {} rows, expected {n}", a.base.display(), done + r);
            }
        }
        let chunk = &ids.ids[done..done + want];
        db.insert_batch(chunk, &rows[..want * dim], threads).map_err(|e| {
            batch_error(&e, done, n, &format!("loading rows {done}..{} of {}", done + want, a.base.display()))
        })?;
        done += want;
        line.set(done);
    }
    line.finish();
    let insert_secs = start.elapsed().as_secs_f64();
    let count = db.len()?;
    let t = Instant::now();
    db.close()?;
    let close_secs = t.elapsed().as_secs_f64();
    let secs = start.elapsed().as_secs_f64();

    let r = LoadReport {
        tool: "lsm-vec load",
        version: env!("CARGO_PKG_VERSION"),
        db: db_dir,
        base: a.base.clone(),
        ids: a.ids.clone(),
        created: !existing,
        dim,
        metric: metric.to_string(),
        loaded: done,
        count,
        threads,
        batch_size: BUILD_CHUNK,
        seconds: secs,
        insert_seconds: insert_secs,
        close_seconds: close_secs,
        vectors_per_sec: report::rate(done, secs),
    };
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("loaded       {} vectors (dim {}, {}) from {}", r.loaded, r.dim, r.metric, r.base.display());
        println!(
            "time         {:.2} s = {:.0} vectors/s on {} threads (insert {:.2} s, close {:.2} s)",
            r.seconds, r.vectors_per_sec, r.threads, r.insert_seconds, r.close_seconds
        );
        println!(
            "database     {} ({}), {} vectors",
            r.db.display(),
            if r.created { "created" } else { "added to" },
            r.count
        );
    }
    Ok(())
}
