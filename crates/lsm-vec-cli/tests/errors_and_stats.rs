//! The CLI's error line and `lsm-vec stats` on a database that was copied with `cp -a`.

use std::path::Path;
use std::process::{Command, Output};

use lsm_vec::{DbOptions, LsmVecDb};

fn lsm_vec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lsm-vec")).args(args).output().expect("run lsm-vec")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `cp -a src dst` for a directory of plain files and directories.
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A closed database of `n` vectors of dimension 4 in `dir`, with the default vector file.
fn make_db(dir: &Path, n: u64) {
    let mut opts = DbOptions::new(4);
    opts.reinit = true;
    let db = LsmVecDb::open(dir, opts).unwrap();
    for i in 0..n {
        db.insert(i, &[i as f32, 1.0, 0.0, 0.0]).unwrap();
    }
    db.close().unwrap();
}

#[test]
fn an_engine_error_is_printed_with_one_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("not-a-db");
    std::fs::create_dir(&empty).unwrap();
    let out = lsm_vec(&["stats", "--db", p(&empty)]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.trim_end();
    assert!(line.starts_with("lsm-vec: error: "), "{err}");
    assert_eq!(line.matches("lsm-vec:").count(), 1, "the prefix is printed once: {err}");
    assert!(line.contains("not-a-db"), "the message names the directory: {err}");
    assert_eq!(line.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_cli_error_is_printed_with_one_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = lsm_vec(&["stats", "--db", p(&tmp.path().join("missing"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("lsm-vec: error: "), "{err}");
    assert_eq!(err.matches("lsm-vec:").count(), 1, "{err}");
}

/// issue 7: `lsm-vec stats` on a copy reported the original's vector file. It prints the
/// vector file the engine opened (`options().vector_file_path`), which for a copy is the
/// copy's own. (Needs the engine's relative vector file path.)
#[test]
fn stats_on_a_copied_database_reports_the_copys_vector_file() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = tmp.path().join("orig");
    make_db(&orig, 10);
    let copy = tmp.path().join("copy");
    copy_dir(&orig, &copy);
    let expected = copy.join("vectors.bin").canonicalize().unwrap();

    let out = lsm_vec(&["stats", "--db", p(&copy), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["stats"]["count"], 10);
    for (what, reported) in
        [("vector_file", &v["vector_file"]), ("options.vector_file_path", &v["options"]["vector_file_path"])]
    {
        let reported = Path::new(reported.as_str().expect("a path"));
        assert_eq!(
            reported.canonicalize().ok().as_deref(),
            Some(expected.as_path()),
            "{what} is {} (the original's is {})",
            reported.display(),
            orig.join("vectors.bin").display()
        );
    }

    let text = lsm_vec(&["stats", "--db", p(&copy)]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("vector file")).expect("a vector file line");
    let shown = Path::new(line.trim_start_matches("vector file").trim());
    assert_eq!(shown.canonicalize().ok().as_deref(), Some(expected.as_path()), "{line}");

    // The copy stands alone: with the original gone it still opens and holds everything.
    std::fs::remove_dir_all(&orig).unwrap();
    let out = lsm_vec(&["stats", "--db", p(&copy), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"]["count"], 10);
}
