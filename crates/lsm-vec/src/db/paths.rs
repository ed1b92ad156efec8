//! Where a database's files are, and the rules that keep a copied or moved database from
//! touching another database's files.
//!
//! * The database directory is canonicalised once at open; an empty path is refused (it would
//!   silently mean the current directory).
//! * The vector file's location is stored **relative to the database directory** when it lies
//!   inside it (the default `vectors.bin`, or the specification's `./db/vectors.bin`), so that
//!   `cp -a`, `mv` and backups carry a working database; a file outside the directory is stored
//!   as an absolute path. A relative `vector_file_path` is taken relative to the working
//!   directory of the call (as every command-line tool reads a path), then stored by this rule.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The vector file of a database, as stored in its parameters record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VectorFileLocation {
    /// Relative to the database directory.
    Inside(PathBuf),
    /// An absolute path outside the database directory.
    Outside(PathBuf),
}

impl VectorFileLocation {
    /// The default: `vectors.bin` inside the database directory.
    pub fn default_file() -> VectorFileLocation {
        VectorFileLocation::Inside(PathBuf::from("vectors.bin"))
    }

    /// The file's path, for a database in (canonical) directory `dir`.
    pub fn resolve(&self, dir: &Path) -> PathBuf {
        match self {
            VectorFileLocation::Inside(p) => dir.join(p),
            VectorFileLocation::Outside(p) => p.clone(),
        }
    }

    pub fn is_outside(&self) -> bool {
        matches!(self, VectorFileLocation::Outside(_))
    }

    /// Where `requested` (an option value: absolute, or relative to the working directory)
    /// is, relative to the database in canonical directory `dir`.
    pub fn of_requested(dir: &Path, requested: &Path) -> Result<VectorFileLocation> {
        let abs = absolute(requested)?;
        Ok(match abs.strip_prefix(dir) {
            Ok(rel) if !rel.as_os_str().is_empty() => VectorFileLocation::Inside(rel.to_path_buf()),
            _ => VectorFileLocation::Outside(abs),
        })
    }
}

/// Checks, creates and canonicalises a database directory path.
pub(crate) fn database_dir(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("the database path is empty (give a directory; \".\" for the current one)"));
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io(format!("create directory {}", path.display()), e))?;
    std::fs::canonicalize(path).map_err(|e| Error::io(format!("resolve directory {}", path.display()), e))
}

/// `p` made absolute against the working directory, with `.` and `..` resolved through the
/// real file system for the parent directory (which must exist) and the file name kept.
pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Error::io("read the working directory", e))?.join(p)
    };
    let name = match joined.components().next_back() {
        Some(Component::Normal(n)) => n.to_owned(),
        _ => return Err(Error::invalid(format!("vector_file_path {} does not name a file", p.display()))),
    };
    let parent = joined.parent().unwrap_or(Path::new("/"));
    let parent = std::fs::canonicalize(parent)
        .map_err(|e| Error::io(format!("resolve the directory of vector_file_path {}", p.display()), e))?;
    Ok(parent.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_paths_are_relative_outside_absolute() {
        let t = tempfile::tempdir().unwrap();
        let dir = database_dir(&t.path().join("db")).unwrap();
        let inside = VectorFileLocation::of_requested(&dir, &dir.join("sub/../v.bin"));
        // The parent `sub` does not exist: canonicalising it fails.
        assert!(inside.is_err());
        let inside = VectorFileLocation::of_requested(&dir, &dir.join("./v.bin")).unwrap();
        assert_eq!(inside, VectorFileLocation::Inside(PathBuf::from("v.bin")));
        let outside = VectorFileLocation::of_requested(&dir, &t.path().join("x.bin")).unwrap();
        assert!(outside.is_outside());
        assert_eq!(outside.resolve(&dir), std::fs::canonicalize(t.path()).unwrap().join("x.bin"));
        assert_eq!(database_dir(Path::new("")).unwrap_err().kind(), crate::ErrorKind::InvalidArgument);
    }
}
