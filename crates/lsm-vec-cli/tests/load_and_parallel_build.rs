//! `lsm-vec load` (bulk load of a vector file, with or without an id file) and the parallel
//! build of `lsm-vec bench --build-threads`: what they print, what ends up in the database, and
//! bad inputs that are refused before a database is created.

use std::path::Path;
use std::process::{Command, Output};

use lsm_vec::LsmVecDb;

fn lsm_vec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm-vec")).args(args).output().expect("run lsm-vec")
}

fn ok(args: &[&str]) -> String {
    let out = lsm_vec(args);
    assert!(
        out.status.success(),
        "lsm-vec {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail with exit status 1 and one error line; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = lsm_vec(args);
    assert_eq!(out.status.code(), Some(1), "lsm-vec {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("lsm-vec: error: "), "{err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not one JSON object ({e}): {s}"))
}

/// Row `i` of the small test files: dimension 8, distinct values.
fn row(i: usize) -> Vec<f32> {
    (0..8).map(|j| ((i * 31 + j * 17) % 101) as f32 / 10.0 + (i as f32) * 1e-3).collect()
}

/// Writes `rows` as .fvecs.
fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut b = Vec::new();
    for r in rows {
        b.extend_from_slice(&(r.len() as i32).to_le_bytes());
        for x in r {
            b.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, b).unwrap();
}

const GEN: [&str; 10] = ["--n", "3000", "--dim", "16", "--queries", "50", "--seed", "7", "--gt-k", "10"];

#[test]
fn load_a_generated_file_then_search_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut args = vec!["gen-data", "--out", p(&data)];
    args.extend(GEN);
    ok(&args);
    let (base, query, truth) = (data.join("base.fvecs"), data.join("query.fvecs"), data.join("groundtruth.ivecs"));
    let db = tmp.path().join("nested/db"); // created, parents included
    let r = json(&ok(&["load", "--db", p(&db), "--base", p(&base), "--threads", "2", "--efc", "64", "--json"]));
    assert_eq!(r["loaded"], 3000);
    assert_eq!(r["count"], 3000);
    assert_eq!(r["dim"], 16);
    assert_eq!(r["metric"], "L2");
    assert_eq!(r["threads"], 2);
    assert_eq!(r["created"], true);
    assert!(r["seconds"].as_f64().unwrap() > 0.0);
    assert!(r["vectors_per_sec"].as_f64().unwrap() > 0.0);

    // The ids are the row numbers, so the generated ground truth applies: search it with bench.
    let b = json(&ok(&[
        "bench",
        "--base",
        p(&base),
        "--query",
        p(&query),
        "--truth",
        p(&truth),
        "--db",
        p(&db),
        "--reuse",
        "--json",
        "--ef-search",
        "64",
        "--efc",
        "64",
    ]));
    assert_eq!(b["build"]["reused"], true);
    let recall = b["sweep"][0]["recall"].as_f64().unwrap();
    assert!(recall >= 0.9, "recall@10 at ef 64 after load: {recall}");

    // Text output: count, time and rate.
    let db2 = tmp.path().join("db2");
    let text = ok(&["load", "--db", p(&db2), "--base", p(&base), "--threads", "1"]);
    assert!(text.starts_with("loaded       3000 vectors (dim 16, L2)"), "{text}");
    assert!(text.contains("vectors/s on 1 threads"), "{text}");
    assert!(text.contains("(created), 3000 vectors"), "{text}");
    let stats = json(&ok(&["stats", "--db", p(&db2), "--json"]));
    assert_eq!(stats["stats"]["count"], 3000);
}

#[test]
fn load_with_an_ids_file_then_add_more_to_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f32>> = (0..600).map(row).collect();
    let base = tmp.path().join("a.fvecs");
    write_fvecs(&base, &rows);
    let ids: Vec<u64> = (0..600u64).map(|i| u64::MAX - 3 * i).collect();
    let ids_file = tmp.path().join("a.ids");
    let mut text = String::from("# ids of a.fvecs, one per line\n\n");
    for id in &ids {
        text.push_str(&format!(" {id}\n"));
    }
    std::fs::write(&ids_file, text).unwrap();
    let db = tmp.path().join("db");
    let r = json(&ok(&[
        "load",
        "--db",
        p(&db),
        "--base",
        p(&base),
        "--ids",
        p(&ids_file),
        "--metric",
        "cosine",
        "--M",
        "8",
        "--json",
    ]));
    assert_eq!((r["loaded"].as_u64(), r["count"].as_u64()), (Some(600), Some(600)));
    assert_eq!(r["metric"], "Cosine");

    // A second file with a .u32 id list goes into the same database (its stored metric kept).
    let more: Vec<Vec<f32>> = (600..900).map(row).collect();
    let base2 = tmp.path().join("b.fvecs");
    write_fvecs(&base2, &more);
    let ids2: Vec<u32> = (0..300).map(|i| 10 + i).collect();
    let ids2_file = tmp.path().join("b.u32");
    std::fs::write(&ids2_file, ids2.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let r = json(&ok(&["load", "--db", p(&db), "--base", p(&base2), "--ids", p(&ids2_file), "--json"]));
    assert_eq!((r["loaded"].as_u64(), r["count"].as_u64()), (Some(300), Some(900)));
    assert_eq!(r["created"], false);
    assert_eq!(r["metric"], "Cosine");

    // Loading a file again: its ids are live, refused before anything is written.
    let err = fails(&["load", "--db", p(&db), "--base", p(&base2), "--ids", p(&ids2_file)]);
    assert!(err.contains("id 10 ") && err.contains("already in the database"), "{err}");
    // A different dimension or metric than the stored ones: refused too.
    let wide = tmp.path().join("wide.fvecs");
    write_fvecs(&wide, &[vec![1.0; 9], vec![2.0; 9]]);
    let err = fails(&["load", "--db", p(&db), "--base", p(&wide)]);
    assert!(err.contains("dimension 8") && err.contains("dimension 9"), "{err}");
    let _ = fails(&["load", "--db", p(&db), "--base", p(&base2), "--metric", "l2"]);

    let h = LsmVecDb::open_existing(&db).unwrap();
    assert_eq!(h.len().unwrap(), 900);
    for i in (0..600).step_by(37) {
        assert_eq!(h.get(ids[i]).unwrap(), rows[i], "row {i} under id {}", ids[i]);
    }
    for i in (0..300).step_by(29) {
        assert_eq!(h.get(ids2[i] as u64).unwrap(), more[i]);
    }
    h.close().unwrap();
}

#[test]
fn bad_inputs_are_refused_before_a_database_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f32>> = (0..300).map(row).collect();
    let base = tmp.path().join("base.fvecs");
    write_fvecs(&base, &rows);
    let db = tmp.path().join("db");
    let ids_of = |name: &str, lines: Vec<String>| {
        let f = tmp.path().join(name);
        std::fs::write(&f, lines.join("\n")).unwrap();
        f
    };

    // One id too few.
    let short = ids_of("short.txt", (0..299).map(|i| i.to_string()).collect());
    let err = fails(&["load", "--db", p(&db), "--base", p(&base), "--ids", p(&short)]);
    assert!(err.contains("short.txt") && err.contains("holds 299 ids") && err.contains("300 vectors"), "{err}");
    assert!(!db.exists(), "no database was created");

    // An id twice (lines 3 and 300).
    let mut lines: Vec<String> = (0..300).map(|i| (i * 2).to_string()).collect();
    lines[299] = "4".into();
    let twice = ids_of("twice.txt", lines);
    let err = fails(&["load", "--db", p(&db), "--base", p(&base), "--ids", p(&twice)]);
    assert!(err.contains("id 4 appears twice (line 3 and line 300)"), "{err}");
    assert!(!db.exists());

    // Not a number; a negative id.
    for (name, bad) in [("word.txt", "seven"), ("neg.txt", "-1")] {
        let mut lines: Vec<String> = (0..300).map(|i| i.to_string()).collect();
        lines[10] = bad.into();
        let f = ids_of(name, lines);
        let err = fails(&["load", "--db", p(&db), "--base", p(&base), "--ids", p(&f)]);
        assert!(err.contains(name) && err.contains("line 11") && err.contains(bad), "{err}");
        assert!(!db.exists());
    }

    // A NaN in the last row, and a zero vector under cosine.
    let mut nan = rows.clone();
    nan[299][5] = f32::NAN;
    let nan_file = tmp.path().join("nan.fvecs");
    write_fvecs(&nan_file, &nan);
    let err = fails(&["load", "--db", p(&db), "--base", p(&nan_file)]);
    assert!(err.contains("nan.fvecs") && err.contains("row 299"), "{err}");
    assert!(!db.exists());
    let mut zero = rows.clone();
    zero[150] = vec![0.0; 8];
    let zero_file = tmp.path().join("zero.fvecs");
    write_fvecs(&zero_file, &zero);
    let err = fails(&["load", "--db", p(&db), "--base", p(&zero_file), "--metric", "cosine"]);
    assert!(err.contains("row 150") && err.contains("cosine"), "{err}");
    assert!(!db.exists());

    // A truncated vector file, a missing id file.
    let trunc = tmp.path().join("trunc.fvecs");
    let mut bytes = std::fs::read(&base).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&trunc, bytes).unwrap();
    let err = fails(&["load", "--db", p(&db), "--base", p(&trunc)]);
    assert!(err.contains("trunc.fvecs"), "{err}");
    let err = fails(&["load", "--db", p(&db), "--base", p(&base), "--ids", p(&tmp.path().join("none.txt"))]);
    assert!(err.contains("none.txt"), "{err}");
    assert!(!db.exists());

    // And the good file loads.
    let r = json(&ok(&["load", "--db", p(&db), "--base", p(&base), "--json"]));
    assert_eq!(r["count"], 300);
}

#[test]
fn progress_goes_to_stderr_and_stdout_stays_parseable() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f32>> = (0..500).map(row).collect();
    let base = tmp.path().join("base.fvecs");
    write_fvecs(&base, &rows);
    let db = tmp.path().join("db");
    let out = lsm_vec(&["load", "--db", p(&db), "--base", p(&base), "--json", "--progress"]);
    assert!(out.status.success());
    let r = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(r["count"], 500);
    let err = String::from_utf8(out.stderr).unwrap();
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("load: 500/500 vectors (100.0%), "), "{err}");
    assert!(last.contains(" vectors/s, done in "), "{err}");

    // Without --progress (stderr is not a terminal here): no progress line.
    let out = lsm_vec(&["load", "--db", p(&db), "--base", p(&base), "--reinit"]);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("vectors/s"), "{err}");

    // bench --progress: the build's line on stderr, the report on stdout.
    let out = lsm_vec(&[
        "bench",
        "--n",
        "1500",
        "--dim",
        "8",
        "--queries",
        "20",
        "--db",
        p(&tmp.path().join("b")),
        "--ef-search",
        "32",
        "--efc",
        "32",
        "--json",
        "--progress",
        "--build-threads",
        "2",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(r["build"]["inserts"], 1500);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("build: 1500/1500 vectors (100.0%)"), "{err}");
}

#[test]
fn bench_build_threads_are_reported_and_do_not_change_the_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for threads in ["1", "2"] {
        let db = tmp.path().join(format!("db-{threads}"));
        let r = json(&ok(&[
            "bench",
            "--n",
            "3000",
            "--dim",
            "16",
            "--queries",
            "100",
            "--seed",
            "3",
            "--db",
            p(&db),
            "--ef-search",
            "16,64",
            "--efc",
            "64",
            "--json",
            "--build-threads",
            threads,
        ]));
        assert_eq!(r["build"]["build_threads"], threads.parse::<u64>().unwrap());
        assert_eq!(r["build"]["batch_size"], 10_000);
        assert_eq!(r["build"]["inserts"], 3000);
        assert!(r["build"]["inserts_per_sec"].as_f64().unwrap() > 0.0);
        reports.push(r);
    }
    let recalls = |r: &serde_json::Value| -> Vec<f64> {
        r["sweep"].as_array().unwrap().iter().map(|s| s["recall"].as_f64().unwrap()).collect()
    };
    assert_eq!(recalls(&reports[0]), recalls(&reports[1]), "same graph on 1 and 2 threads");
    assert!(recalls(&reports[0])[1] >= 0.9, "{:?}", recalls(&reports[0]));
    // Default: one thread per core.
    let r = json(&ok(&[
        "bench",
        "--n",
        "500",
        "--dim",
        "8",
        "--queries",
        "10",
        "--db",
        p(&tmp.path().join("d")),
        "--ef-search",
        "16",
        "--json",
    ]));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(r["build"]["build_threads"], cores);
}
