//! Measurement helpers shared by the commands: memory (from `/proc/self/status`), disk usage,
//! percentiles, recall, progress bars, the progress line of long loads and output files.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::{CliError, Result};

fn status_field_kib(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse::<u64>().ok()
    })
}

/// Peak resident set size of this process in bytes (`VmHWM`), if the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    status_field_kib("VmHWM").map(|k| k * 1024)
}

/// Current resident set size in bytes (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    status_field_kib("VmRSS").map(|k| k * 1024)
}

/// Bytes allocated on disk (like `du`) by a file or a directory tree. Missing paths count 0.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        let mut total = meta.blocks() * 512;
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                total += disk_usage(&e.path());
            }
        }
        total
    } else {
        meta.blocks() * 512
    }
}

/// Disk usage of a database: its directory plus the vector file when that lives elsewhere.
pub fn db_disk_usage(db_dir: &Path, vector_file: &Path) -> u64 {
    let mut total = disk_usage(db_dir);
    if !vector_file.as_os_str().is_empty() {
        let inside = match (db_dir.canonicalize(), vector_file.canonicalize()) {
            (Ok(d), Ok(v)) => v.starts_with(d),
            _ => true,
        };
        if !inside {
            total += disk_usage(vector_file);
        }
    }
    total
}

/// Nearest-rank percentile (`p` in 0..=100) of ascending `sorted` values; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summary of per-operation latencies, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Latency {
    /// Summarises `durations`.
    pub fn from_durations(durations: &[Duration]) -> Latency {
        let mut us: Vec<f64> = durations.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let mean = if us.is_empty() { 0.0 } else { us.iter().sum::<f64>() / us.len() as f64 };
        Latency {
            mean_us: mean,
            p50_us: percentile(&us, 50.0),
            p95_us: percentile(&us, 95.0),
            p99_us: percentile(&us, 99.0),
            max_us: us.last().copied().unwrap_or(0.0),
        }
    }
}

/// True recall@k of one query: |returned ∩ true top-k| / k (`truth` may hold more than k ids).
pub fn recall_at_k(returned: &[u64], truth: &[u32], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let top = &truth[..k.min(truth.len())];
    let hits = returned.iter().take(k).filter(|&&id| top.iter().any(|&t| t as u64 == id)).count();
    hits as f64 / k as f64
}

/// `count / seconds`, 0 for an empty interval.
pub fn rate(count: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether progress bars should be drawn: stderr is a terminal and JSON output is off.
pub fn progress_enabled(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A progress bar on stderr, or a hidden one.
pub fn progress(enabled: bool, len: u64, msg: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let style =
        ProgressStyle::with_template("{msg:<14} [{bar:30}] {human_pos}/{human_len} elapsed {elapsed} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(msg.to_string());
    pb
}

/// Loads of more than this many vectors show a [`ProgressLine`] when stderr is a terminal.
pub const LONG_LOAD: usize = 20_000;

/// Whether a load of `total` vectors shows its [`ProgressLine`]: always with `--progress`
/// (`force`), else when stderr is a terminal, the output is not `quiet` (JSON) and the load is
/// longer than [`LONG_LOAD`] vectors.
pub fn progress_line_enabled(force: bool, quiet: bool, total: usize) -> bool {
    force || (!quiet && total > LONG_LOAD && std::io::stderr().is_terminal())
}

/// `42s`, `3m07s`, `2h05m`.
pub fn format_eta(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The text of a progress line: `load: 120000/1000000 vectors (12.0%), 45210 vectors/s, ETA 19s`.
pub fn progress_text(label: &str, done: u64, total: u64, elapsed: f64) -> String {
    let pct = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
    let rate = if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 };
    let eta = if done >= total {
        format!("done in {}", format_eta(elapsed))
    } else if rate > 0.0 {
        format!("ETA {}", format_eta((total - done) as f64 / rate))
    } else {
        "ETA ?".into()
    };
    format!("{label}: {done}/{total} vectors ({pct:.1}%), {rate:.0} vectors/s, {eta}")
}

/// One progress line on stderr for long loads (done/total, rate, ETA), redrawn in place on a
/// terminal and written as separate lines otherwise (`--progress` into a file or pipe); at most
/// [`ProgressLine::TTY_EVERY`] / [`ProgressLine::LINE_EVERY`] apart, plus the final count.
/// Never on stdout.
#[derive(Debug)]
pub struct ProgressLine {
    enabled: bool,
    tty: bool,
    label: String,
    total: u64,
    start: Instant,
    last: Option<Instant>,
    last_done: Option<u64>,
}

impl ProgressLine {
    /// Smallest interval between two redraws on a terminal.
    pub const TTY_EVERY: Duration = Duration::from_millis(250);
    /// Smallest interval between two lines when stderr is not a terminal.
    pub const LINE_EVERY: Duration = Duration::from_secs(1);

    /// A line for `total` vectors; draws nothing unless `enabled`. The clock starts now.
    pub fn new(enabled: bool, label: &str, total: usize) -> ProgressLine {
        ProgressLine {
            enabled,
            tty: std::io::stderr().is_terminal(),
            label: label.to_string(),
            total: total as u64,
            start: Instant::now(),
            last: None,
            last_done: None,
        }
    }

    /// `done` vectors of the total are in; redraws if the last draw is old enough (or at the end).
    pub fn set(&mut self, done: usize) {
        if !self.enabled {
            return;
        }
        let done = done as u64;
        let now = Instant::now();
        let every = if self.tty { Self::TTY_EVERY } else { Self::LINE_EVERY };
        let due = self.last.is_none_or(|t| now.duration_since(t) >= every);
        if !(due || done >= self.total) || self.last_done == Some(done) {
            return;
        }
        let text = progress_text(&self.label, done, self.total, self.start.elapsed().as_secs_f64());
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { write!(err, "\r\x1b[2K{text}") } else { writeln!(err, "{text}") };
        let _ = err.flush();
        self.last = Some(now);
        self.last_done = Some(done);
    }

    /// Ends the line (on a terminal it is cleared, so that the summary that follows replaces it).
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.last.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
        self.enabled = false;
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        // An error ends a load early: leave the terminal's line clean for the message.
        self.finish();
    }
}

/// Prints a line on stderr unless quiet (status messages never go to stdout, which carries
/// the report).
pub fn note(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("{msg}");
    }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json_file(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    std::fs::write(path, s).map_err(|e| CliError(format!("{}: cannot write: {e}", path.display())))
}

/// An output sink for JSON lines: stdout and optionally a file.
#[derive(Debug)]
pub struct JsonLines {
    file: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
}

impl JsonLines {
    /// Lines go to stdout and, if given, to `path` (created/truncated).
    pub fn new(path: Option<&Path>) -> Result<JsonLines> {
        let file = match path {
            Some(p) => {
                let f =
                    std::fs::File::create(p).map_err(|e| CliError(format!("{}: cannot create: {e}", p.display())))?;
                Some((p.to_path_buf(), std::io::BufWriter::new(f)))
            }
            None => None,
        };
        Ok(JsonLines { file })
    }

    /// Emits one line.
    pub fn emit(&mut self, value: &impl Serialize) -> Result<()> {
        let line = serde_json::to_string(value)?;
        println!("{line}");
        let _ = std::io::stdout().flush();
        if let Some((p, f)) = &mut self.file {
            writeln!(f, "{line}")
                .and_then(|_| f.flush())
                .map_err(|e| CliError(format!("{}: cannot write: {e}", p.display())))?;
        }
        Ok(())
    }
}

/// The engine's serialization of `value` as a JSON value. Through the text, so that an `f32`
/// option reads `0.1` (its shortest decimal) rather than the `f64` of its binary value.
fn engine_json(value: &impl Serialize) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&serde_json::to_string(value)?)?)
}

/// The engine's statistics as JSON: the engine's own serialization (`Stats: Serialize`), so a
/// new field appears here, in Python's `stats()` and in the C ABI check without a copy.
pub fn stats_json(s: &lsm_vec::Stats) -> Result<serde_json::Value> {
    engine_json(s)
}

/// Database options as JSON (the engine's serialization of `DbOptions`; a path that is not
/// UTF-8 is an error).
pub fn options_json(o: &lsm_vec::DbOptions) -> Result<serde_json::Value> {
    engine_json(o)
}

/// Bytes this process has read from storage devices (`read_bytes` of /proc/self/io; 0 where
/// the file is not available).
pub fn device_read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("read_bytes:").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(0)
}

/// Writes dirty pages back and drops the OS page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`).
pub fn drop_os_caches() -> crate::error::Result<()> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc_sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").map_err(|e| {
        crate::error::CliError::new(format!(
            "--cold: cannot drop the OS page cache (/proc/sys/vm/drop_caches: {e}); it needs root"
        ))
    })
}

extern "C" {
    #[link_name = "sync"]
    fn libc_sync();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 95.0), 95.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), 5.0);
        assert_eq!(percentile(&v, 95.0), 10.0);
        assert_eq!(percentile(&v, 90.0), 9.0);
    }

    #[test]
    fn latency_summary_of_durations() {
        let d: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let l = Latency::from_durations(&d);
        assert!((l.mean_us - 500.5).abs() < 1e-6);
        assert!((l.p50_us - 500.0).abs() < 1e-6);
        assert!((l.p99_us - 990.0).abs() < 1e-6);
        assert!((l.max_us - 1000.0).abs() < 1e-6);
        assert_eq!(Latency::from_durations(&[]), Latency::default());
    }

    #[test]
    fn recall_counts_the_intersection_with_the_true_top_k() {
        let truth = [1u32, 2, 3, 4, 99, 98];
        assert_eq!(recall_at_k(&[1, 2, 3, 4], &truth, 4), 1.0);
        assert_eq!(recall_at_k(&[4, 3, 7, 8], &truth, 4), 0.5);
        // An id beyond the true top-k is not a hit.
        assert_eq!(recall_at_k(&[99, 98, 1], &truth, 4), 0.25);
        assert_eq!(recall_at_k(&[], &truth, 4), 0.0);
    }

    #[test]
    fn progress_text_has_counts_rate_and_eta() {
        assert_eq!(
            progress_text("load", 25_000, 100_000, 2.0),
            "load: 25000/100000 vectors (25.0%), 12500 vectors/s, ETA 6s"
        );
        assert_eq!(
            progress_text("build", 100, 100, 125.0),
            "build: 100/100 vectors (100.0%), 1 vectors/s, done in 2m05s"
        );
        assert_eq!(progress_text("load", 0, 10, 0.0), "load: 0/10 vectors (0.0%), 0 vectors/s, ETA ?");
        assert_eq!(format_eta(59.4), "59s");
        assert_eq!(format_eta(3600.0 * 2.0 + 300.0), "2h05m");
        assert_eq!(format_eta(f64::INFINITY), "?");
    }

    #[test]
    fn progress_line_policy() {
        assert!(progress_line_enabled(true, true, 1));
        assert!(!progress_line_enabled(false, false, LONG_LOAD)); // short loads: never by default
                                                                  // tests run with stderr captured (not a terminal): only --progress turns it on
        if !std::io::stderr().is_terminal() {
            assert!(!progress_line_enabled(false, false, 10 * LONG_LOAD));
        }
        let mut off = ProgressLine::new(false, "x", 10);
        off.set(5);
        off.finish();
    }

    /// The JSON of `lsm-vec stats --json` keeps the keys and value types it had when it was
    /// written by hand (bench/*.py and the CLI tests read them), now with every field.
    #[test]
    fn stats_and_options_json_come_from_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = lsm_vec::DbOptions::new(4);
        o.metric = lsm_vec::DistanceMetric::InnerProduct;
        o.routing = lsm_vec::Routing::Probabilistic;
        let db = lsm_vec::LsmVecDb::open(dir.path(), o.clone()).unwrap();
        db.insert(7, &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let s = stats_json(&db.stats().unwrap()).unwrap();
        let opts = options_json(&db.options().unwrap()).unwrap();
        db.close().unwrap();
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "count",
            "dim",
            "metric",
            "vector_storage_type",
            "m",
            "m_max",
            "max_level",
            "upper_layer_nodes",
            "ghost_nodes",
            "twin_nodes",
            "repair_backlog",
            "repairs",
            "code_bytes",
            "adjacency_bytes",
            "adjacency_lists",
            "page_cache_bytes",
            "edge_cache_bytes",
            "bookkeeping_bytes",
            "memory_bytes",
            "memory_budget_bytes",
            "vector_file_bytes",
            "lsm_disk_bytes",
            "searches",
            "inserts",
            "updates",
            "deletes",
            "vector_pages_read",
            "page_cache_hits",
            "page_cache_misses",
            "page_cache_pages",
            "lsm_gets",
            "edge_cache_hits",
            "routing_skips",
            "edge_cache_entries",
            "distance_computations",
            "nodes_visited",
            "nodes_expanded",
            "search_latency",
            "insert_latency",
            "update_latency",
            "delete_latency",
        ] {
            assert!(keys.contains(&k), "stats JSON lacks {k}: {keys:?}");
        }
        assert_eq!(s["count"], 1);
        assert_eq!(s["dim"], 4);
        assert_eq!(s["metric"], "InnerProduct");
        assert_eq!(s["vector_storage_type"], 1);
        assert_eq!(s["routing_skips"], 0);
        let lat = s["search_latency"].as_object().unwrap();
        let lat_keys: Vec<&str> = lat.keys().map(String::as_str).collect();
        assert_eq!(lat_keys, ["count", "max_us", "p50_us", "p95_us", "p99_us"]);
        assert_eq!(opts["dim"], 4);
        assert_eq!(opts["metric"], "InnerProduct");
        assert_eq!(opts["vector_storage_type"], 1);
        assert_eq!(opts["quantization"], "sq8");
        assert_eq!(opts["routing"], "probabilistic");
        assert_eq!(opts["routing_epsilon"], 0.1);
        assert_eq!(opts["ef_construction"], 32.0);
        assert!(opts["vector_file_path"].as_str().unwrap().ends_with("vectors.bin"), "{opts}");
        assert_eq!(opts["reinit"], false);
    }

    #[test]
    fn memory_and_disk_are_measured() {
        assert!(peak_rss_bytes().unwrap() >= rss_bytes().unwrap() / 2);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![1u8; 10_000]).unwrap();
        assert!(disk_usage(dir.path()) >= 8192);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }
}
