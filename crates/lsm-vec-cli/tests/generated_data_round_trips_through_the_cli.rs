//! End-to-end runs of the `lsm-vec` binary at tiny sizes: generated datasets and traces must be
//! readable by bench and replay, reach high recall, and give the same numbers through the file
//! path as through the built-in generator.

use std::path::Path;
use std::process::{Command, Output};

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

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn recalls(report: &serde_json::Value) -> Vec<f64> {
    report["sweep"].as_array().expect("sweep").iter().map(|r| r["recall"].as_f64().unwrap()).collect()
}

const SMALL: [&str; 8] = ["--n", "2000", "--dim", "16", "--queries", "100", "--seed", "7"];

#[test]
fn gen_data_then_bench_on_the_files_matches_the_builtin_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut args = vec!["gen-data", "--out", p(&data)];
    args.extend(SMALL);
    ok(&args);
    for f in ["base.fvecs", "query.fvecs", "groundtruth.ivecs", "dataset.json"] {
        assert!(data.join(f).is_file(), "{f} written");
    }

    let common = ["--json", "--ef-search", "16,64", "--efc", "64"];
    let db1 = tmp.path().join("db-files");
    let (base, query, truth) = (data.join("base.fvecs"), data.join("query.fvecs"), data.join("groundtruth.ivecs"));
    let mut args = vec!["bench", "--base", p(&base), "--query", p(&query), "--truth", p(&truth)];
    args.extend(["--db", p(&db1)]);
    args.extend(common);
    let out_file = tmp.path().join("report.json");
    args.extend(["--out", p(&out_file)]);
    let files: serde_json::Value = serde_json::from_str(&ok(&args)).expect("one JSON object");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(saved["sweep"].as_array().unwrap().len(), 2);

    let db2 = tmp.path().join("db-builtin");
    let mut args = vec!["bench", "--db", p(&db2)];
    args.extend(SMALL);
    args.extend(common);
    let builtin: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();

    assert_eq!(files["count"], 2000);
    assert_eq!(files["build"]["inserts"], 2000);
    assert!(files["build"]["inserts_per_sec"].as_f64().unwrap() > 0.0);
    assert!(files["memory"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    let (rf, rb) = (recalls(&files), recalls(&builtin));
    assert!(rf[1] >= 0.9, "recall@10 at ef 64 is {}", rf[1]);
    assert_eq!(rf, rb, "same data, same graph, same recall");
    let row = &files["sweep"][1];
    assert!(row["qps"].as_f64().unwrap() > 0.0);
    assert!(row["latency"]["p99_us"].as_f64().unwrap() >= row["latency"]["p50_us"].as_f64().unwrap());
    assert!(row["distance_computations_per_query"].as_f64().unwrap() > 0.0);

    // --reuse searches the existing database without rebuilding.
    let mut args = vec!["bench", "--base", p(&base), "--query", p(&query), "--truth", p(&truth)];
    args.extend(["--db", p(&db1), "--reuse"]);
    args.extend(common);
    let reused: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(reused["build"]["reused"], true);
    assert_eq!(recalls(&reused), rf);

    let stats: serde_json::Value = serde_json::from_str(&ok(&["stats", "--db", p(&db1), "--json"])).unwrap();
    assert_eq!(stats["stats"]["count"], 2000);
    assert_eq!(stats["stats"]["dim"], 16);
}

#[test]
fn gen_trace_then_replay_reports_every_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace");
    let mut args = vec!["gen-trace", "--out", p(&trace), "--epochs", "3", "--gt-every", "2"];
    args.extend(SMALL);
    ok(&args);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trace.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["epochs"], 3);
    assert_eq!(manifest["inserts_per_epoch"], 18);
    assert_eq!(manifest["deletes_per_epoch"], 2);
    assert!(trace.join("gt/epoch_002.gt100").is_file());
    assert!(!trace.join("gt/epoch_001.gt100").exists());

    let db = tmp.path().join("db");
    let lines_file = tmp.path().join("replay.jsonl");
    let stdout = ok(&["replay", "--trace", p(&trace), "--db", p(&db), "--json-out", p(&lines_file), "--quiet"]);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), 4, "epochs 0..=3");
    assert_eq!(std::fs::read_to_string(&lines_file).unwrap().lines().count(), 4);
    for (e, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], e);
        assert_eq!(l["live"], 2000 + 16 * e as u64);
        assert!(l["qps"].as_f64().unwrap() > 0.0);
        assert!(l["disk_bytes"].as_u64().unwrap() > 0);
        match e {
            1 => assert!(l["recall_at_k"].is_null()),
            _ => assert!(l["recall_at_k"].as_f64().unwrap() >= 0.9, "epoch {e}: {l}"),
        }
    }
}

#[test]
fn bad_input_files_fail_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.fvecs");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&4i32.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 10]); // a row of 4 floats needs 16 bytes
    std::fs::write(&base, bytes).unwrap();
    let out = lsm_vec(&["bench", "--base", p(&base), "--query", p(&base), "--db", p(&tmp.path().join("db"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("base.fvecs") && err.contains("truncated"), "{err}");
    let out = lsm_vec(&["replay", "--trace", p(&tmp.path().join("missing"))]);
    assert!(!out.status.success());
    let out = lsm_vec(&["stats", "--db", p(&tmp.path().join("missing"))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}
