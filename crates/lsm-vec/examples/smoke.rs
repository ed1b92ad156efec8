//! A quick end-to-end check used during development: builds an index of uniform random vectors,
//! measures recall@10 against brute force, insert rate and single-thread QPS.
//! `cargo run --release -p lsm-vec --example smoke -- [n] [dim] [storage 0|1]`

use std::time::Instant;

use lsm_vec::{DbOptions, LsmVecDb, SearchOptions, VectorStorageType};

/// CPU time of the calling thread in seconds (Linux), so numbers survive a busy machine.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()))
        .map(|ns| ns / 1e9)
        .unwrap_or(0.0)
}

fn main() -> lsm_vec::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dim: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let storage = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut s = 42u64;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    let data: Vec<f32> = (0..n * dim).map(|_| next()).collect();
    let nq = 200;
    let queries: Vec<f32> = (0..nq * dim).map(|_| next()).collect();
    // SMOKE_DIR keeps the database; SMOKE_REUSE=1 skips the build and only searches it.
    let keep = std::env::var_os("SMOKE_DIR");
    let reuse = std::env::var_os("SMOKE_REUSE").is_some();
    let dir = keep
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("lsm-vec-smoke-{}", std::process::id())));
    let mut o = DbOptions::new(dim);
    o.m = 16;
    o.m_max = 16;
    o.ef_construction = 200.0;
    o.reinit = !reuse;
    o.enable_stats = true;
    o.vector_storage_type = VectorStorageType::from_code(storage)?;
    let db = LsmVecDb::open(&dir, o)?;
    let t = Instant::now();
    let c0 = cpu_secs();
    for i in 0..if reuse { 0 } else { n } {
        db.insert(i as u64, &data[i * dim..(i + 1) * dim])?;
    }
    let bt = t.elapsed().as_secs_f64();
    let bc = cpu_secs() - c0;
    println!(
        "build: {n} x {dim} in {bt:.2}s = {:.0} inserts/s (cpu {bc:.2}s = {:.0} inserts per cpu-s)",
        n as f64 / bt,
        n as f64 / bc
    );
    let k = 10;
    let truth: Vec<Vec<usize>> = (0..nq)
        .map(|q| {
            let qv = &queries[q * dim..(q + 1) * dim];
            let mut d: Vec<(f32, usize)> =
                (0..n).map(|i| (lsm_vec::distance::l2_sq(qv, &data[i * dim..(i + 1) * dim]), i)).collect();
            d.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
            d[..k].iter().map(|x| x.1).collect()
        })
        .collect();
    let reps = if reuse { 4 } else { 1 };
    for ef in std::iter::repeat_n([32, 64, 128], reps).flatten() {
        let so = SearchOptions::new(k, ef);
        let t = Instant::now();
        let c0 = cpu_secs();
        let mut res = Vec::new();
        for q in 0..nq {
            res.push(db.search_knn(&queries[q * dim..(q + 1) * dim], &so)?);
        }
        let qt = t.elapsed().as_secs_f64();
        let qc = cpu_secs() - c0;
        let mut hits = 0;
        for q in 0..nq {
            hits += res[q].iter().filter(|r| truth[q].contains(&(r.id as usize))).count();
        }
        println!(
            "ef {ef}: recall@10 {:.4}  QPS {:.0}  (per cpu-s {:.0})",
            hits as f64 / (nq * k) as f64,
            nq as f64 / qt,
            nq as f64 / qc
        );
    }
    db.print_statistics();
    db.close()?;
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
