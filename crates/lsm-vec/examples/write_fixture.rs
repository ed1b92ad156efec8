//! Writes a small database in the current on-disk format, for the format fixtures under
//! `crates/lsm-vec/tests/fixtures/` (one directory per released format; see its README).
//!
//! `cargo run --release -p lsm-vec --example write_fixture -- OUT_DIR`
//!
//! It builds two databases, `paged-l2` and `basic-cosine`, each with inserts, updates and
//! deletes (so ghosts and freed slots exist), closes them cleanly, and writes `expected.txt`
//! beside each: one line per live id, `id v0 v1 ...`, with the values printed exactly
//! (`{:?}` of f32 round-trips).

use std::io::Write as _;
use std::path::Path;

use lsm_vec::{DbOptions, DistanceMetric, LsmVecDb, VectorStorageType};

fn value(id: u64, i: usize) -> f32 {
    let mut z = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z >> 40) as f32 / (1u64 << 24) as f32) - 0.5
}

fn build(dir: &Path, metric: DistanceMetric, storage: VectorStorageType) -> lsm_vec::Result<()> {
    let dim = 8;
    let mut o = DbOptions::new(dim);
    o.metric = metric;
    o.vector_storage_type = storage;
    o.m = 4;
    o.m_max = 8;
    o.reinit = true;
    let db = LsmVecDb::open(dir, o)?;
    let vec_of = |id: u64, gen: u64| (0..dim).map(|i| value(id * 7 + gen, i)).collect::<Vec<f32>>();
    let mut live = std::collections::BTreeMap::new();
    for id in 0..200u64 {
        let v = vec_of(id, 0);
        db.insert(id * 3 + 1, &v)?;
        live.insert(id * 3 + 1, v);
    }
    for id in (0..200u64).step_by(9) {
        db.delete(id * 3 + 1)?;
        live.remove(&(id * 3 + 1));
    }
    for id in (1..200u64).step_by(13) {
        if let Some(slot) = live.get_mut(&(id * 3 + 1)) {
            let v = vec_of(id, 1);
            db.update(id * 3 + 1, &v)?;
            *slot = v;
        }
    }
    db.close()?;
    let mut f = std::fs::File::create(dir.join("expected.txt")).expect("create expected.txt");
    for (id, v) in &live {
        let vals: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        writeln!(f, "{id} {}", vals.join(" ")).expect("write expected.txt");
    }
    Ok(())
}

fn main() -> lsm_vec::Result<()> {
    let out = std::env::args().nth(1).expect("usage: write_fixture OUT_DIR");
    let out = Path::new(&out);
    build(&out.join("paged-l2"), DistanceMetric::L2, VectorStorageType::Paged)?;
    build(&out.join("basic-cosine"), DistanceMetric::Cosine, VectorStorageType::Basic)?;
    Ok(())
}
