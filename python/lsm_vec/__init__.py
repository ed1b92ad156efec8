"""lsm-vec: a disk-resident vector database.

An HNSW index whose upper layers live in memory and whose layer 0 lives in an LSM tree,
with the raw vectors in a paged file read through a bounded page cache.

    import lsm_vec

    opts = lsm_vec.LSMVecDBOptions()
    opts.dim = 128
    opts.reinit = True
    with lsm_vec.LSMVecDB.open("./db", opts) as db:
        db.insert(1, [0.1] * 128)
        for r in db.search_knn([0.1] * 128, k=10, ef_search=128):
            print(r.id, r.distance)

Errors: ``ValueError`` for invalid arguments (dimension mismatch, NaN, bad options,
duplicate insert), ``TypeError`` for an argument of the wrong type (a bool is not an id),
``KeyError`` for an id that does not exist, and ``lsm_vec.Error`` (a ``RuntimeError``) for
everything else, through its subclasses ``CorruptionError`` (a damaged or foreign file),
``BusyError`` (the database is open elsewhere), ``ClosedError`` (a closed handle, or one
inherited by a forked child) and ``IoError`` (I/O or storage engine failure). The message
names the file where one is known; the lower-level cause (an ``OSError`` with its ``errno``,
the storage engine's error) is chained as ``__cause__``.
"""

from ._lsm_vec import (
    BusyError,
    ClosedError,
    CorruptionError,
    DistanceMetric,
    Error,
    IoError,
    LSMVecDB,
    LSMVecDBOptions,
    Quantization,
    SearchOptions,
    SearchResult,
    __version__,
)

__all__ = [
    "BusyError",
    "ClosedError",
    "CorruptionError",
    "DistanceMetric",
    "Error",
    "IoError",
    "LSMVecDB",
    "LSMVecDBOptions",
    "Quantization",
    "SearchOptions",
    "SearchResult",
    "__version__",
]
