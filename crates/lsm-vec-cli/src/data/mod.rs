//! Datasets: the vector file formats and their readers and writers (`vectors`), ground truth
//! and id lists (`truth`), the built-in synthetic generator with exact ground truth
//! (`synthetic`).

pub mod synthetic;
pub mod truth;
pub mod vectors;

pub use truth::*;
pub use vectors::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, dim: usize, integral: bool) -> Matrix {
        let data = (0..n * dim).map(|i| if integral { (i % 251) as f32 } else { (i as f32) * 0.37 - 5.0 }).collect();
        Matrix { n, dim, data }
    }

    #[test]
    fn every_vector_format_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        for (ext, integral) in
            [("fvecs", false), ("fbin", false), ("bvecs", true), ("u8bin", true), ("ivecs", true), ("ibin", true)]
        {
            let m = sample(37, 13, integral);
            let p = dir.path().join(format!("x.{ext}"));
            write_matrix(&p, &m).unwrap();
            let back = read_matrix(&p).unwrap();
            assert_eq!(back, m, "{ext}");
            // Random access agrees with streaming.
            let rf = RowFile::open(&p).unwrap();
            assert_eq!((rf.len(), rf.dim()), (37, 13));
            let mut row = vec![0f32; 13];
            rf.read_row(36, &mut row).unwrap();
            assert_eq!(row, m.row(36), "{ext}");
            assert!(rf.read_row(37, &mut row).is_err());
        }
    }

    #[test]
    fn empty_files_have_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.fbin");
        VecWriter::create(&p, 4).unwrap().finish().unwrap();
        let r = VecReader::open(&p).unwrap();
        assert_eq!((r.len(), r.dim()), (0, 4));
        let p = dir.path().join("e.fvecs");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(VecReader::open(&p).unwrap().len(), 0);
    }

    #[test]
    fn truncated_files_name_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        for ext in ["fvecs", "fbin", "bvecs", "u8bin"] {
            let m = sample(10, 8, true);
            let p = dir.path().join(format!("t.{ext}"));
            write_matrix(&p, &m).unwrap();
            let len = std::fs::metadata(&p).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            f.set_len(len - 3).unwrap();
            let err = VecReader::open(&p).unwrap_err().to_string();
            assert!(err.contains("t.") && err.contains("truncated"), "{ext}: {err}");
            assert!(err.contains("offset"), "{ext}: {err}");
        }
    }

    #[test]
    fn foreign_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.fvecs");
        std::fs::write(&p, b"hello world, this is not vectors").unwrap();
        let err = VecReader::open(&p).unwrap_err().to_string();
        assert!(err.contains("junk.fvecs"), "{err}");
        let p = dir.path().join("junk.fbin");
        std::fs::write(&p, [1u8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9]).unwrap();
        let err = VecReader::open(&p).unwrap_err().to_string();
        assert!(err.contains("unexpected bytes"), "{err}");
        let p = dir.path().join("x.txt");
        std::fs::write(&p, b"").unwrap();
        assert!(VecReader::open(&p).unwrap_err().to_string().contains("extension"));
        assert!(VecReader::open(dir.path().join("missing.fvecs")).unwrap_err().to_string().contains("missing.fvecs"));
    }

    #[test]
    fn mixed_dimensions_in_fvecs_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.fvecs");
        let mut bytes = Vec::new();
        for d in [2i32, 3] {
            bytes.extend_from_slice(&d.to_le_bytes());
            for _ in 0..2 {
                bytes.extend_from_slice(&1f32.to_le_bytes());
            }
        }
        std::fs::write(&p, bytes).unwrap();
        let mut r = VecReader::open(&p).unwrap();
        let mut row = [0f32; 2];
        assert!(r.read_row(&mut row).unwrap());
        let err = r.read_row(&mut row).unwrap_err().to_string();
        assert!(err.contains("row 1 at offset 12"), "{err}");
    }

    #[test]
    fn truth_round_trips_in_every_layout() {
        let dir = tempfile::tempdir().unwrap();
        let t = Truth { n: 3, k: 4, ids: (0..12).collect(), dists: Some((0..12).map(|i| i as f32 * 0.5).collect()) };
        let p = dir.path().join("g.gt100");
        write_gt(&p, &t).unwrap();
        assert_eq!(read_truth(&p).unwrap(), t);
        let p = dir.path().join("g.ibin");
        write_gt(&p, &t).unwrap();
        assert_eq!(read_truth(&p).unwrap(), t, "Big-ANN ground truth under .ibin");
        let p = dir.path().join("g.ivecs");
        write_ivecs(&p, &t).unwrap();
        let back = read_truth(&p).unwrap();
        assert_eq!((back.n, back.k, &back.ids), (3, 4, &t.ids));
        // An .ivecs row whose header disagrees with row 0.
        let p = dir.path().join("mixed.ivecs");
        let words: [i32; 6] = [2, 5, 6, 3, 7, 8];
        std::fs::write(&p, words.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let err = read_truth(&p).unwrap_err().to_string();
        assert!(err.contains("row 1 at offset 12"), "{err}");
        // Truncated trace ground truth.
        let p = dir.path().join("bad.gt100");
        write_gt(&p, &t).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(8 + 48 + 10).unwrap();
        let err = read_truth(&p).unwrap_err().to_string();
        assert!(err.contains("truncated") && err.contains("distances"), "{err}");
    }

    #[test]
    fn u32_lists_round_trip_and_detect_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.u32");
        let ids = vec![0, 7, u32::MAX, 42];
        write_u32_list(&p, &ids).unwrap();
        assert_eq!(read_u32_list(&p).unwrap(), ids);
        std::fs::write(&p, [1u8, 0, 0, 0, 5]).unwrap();
        let err = read_u32_list(&p).unwrap_err().to_string();
        assert!(err.contains("offset 4"), "{err}");
    }
}
