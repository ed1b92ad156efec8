//! `lsm-vec stats`: what an existing database holds and how it is configured, as text or JSON
//! (the engine's own serialization of `Stats` and `DbOptions`).

use crate::error::{CliError, Result};
use crate::measure::report::{db_disk_usage, mib, options_json, stats_json};

/// Runs `lsm-vec stats`.
pub fn run_stats(a: &crate::StatsArgs) -> Result<()> {
    if !a.db.is_dir() {
        return Err(CliError(format!("{}: no such database directory", a.db.display())));
    }
    let db = lsm_vec::LsmVecDb::open_existing(&a.db)?;
    let s = db.stats()?;
    let o = db.options()?;
    let vector_file =
        if o.vector_file_path.as_os_str().is_empty() { a.db.join("vectors.bin") } else { o.vector_file_path.clone() };
    let disk = db_disk_usage(&a.db, &vector_file);
    db.close()?;
    if a.json {
        let v = serde_json::json!({
            "db": a.db, "vector_file": vector_file, "disk_bytes": disk,
            "stats": stats_json(&s)?, "options": options_json(&o)?,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("database     {}", a.db.display());
        println!("vector file  {}", vector_file.display());
        println!(
            "on disk      {:.2} MiB total (vector file {:.2} MiB, lsm {:.2} MiB)",
            mib(disk),
            mib(s.vector_file_bytes),
            mib(s.lsm_disk_bytes)
        );
        println!(
            "stored       dim={} metric={} M={} Mmax={} vec-storage={} ({:?})",
            o.dim,
            o.metric,
            o.m,
            o.m_max,
            o.vector_storage_type.code(),
            o.vector_storage_type
        );
        println!(
            "this handle  efc={} paged-cache-pages={} edge-cache={} batch-read={} \
             (tuning knobs: defaults of open_existing, not stored)",
            o.ef_construction, o.paged_max_cached_pages, o.edge_cache_size, o.enable_batch_read
        );
        print!("{s}");
    }
    Ok(())
}
