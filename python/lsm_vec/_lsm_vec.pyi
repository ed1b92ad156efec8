"""Type stubs of the compiled module ``lsm_vec._lsm_vec`` (re-exported by ``lsm_vec``)."""

import os
from typing import Any, ClassVar, Optional, Sequence, SupportsFloat, SupportsIndex, Tuple, Union, final

import numpy as np
import numpy.typing as npt

__version__: str
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

_Vector = Union[Sequence[SupportsFloat], npt.NDArray[Any]]
"""A vector: a list/tuple of numbers or a 1-D numpy array of any real dtype and layout.
C-contiguous float32 arrays are used without a copy."""

_Matrix = Union[Sequence[Sequence[SupportsFloat]], npt.NDArray[Any]]
"""Several vectors: a 2-D numpy array (one row per vector) or a list of lists."""

_Id = SupportsIndex
"""A vector id: an int (or numpy integer) in [0, 2**64 - 1]. Other ints raise ValueError; a bool
(``True`` / ``False``, numpy bools, bool arrays of ids) raises TypeError."""

_Ids = Union[Sequence[SupportsIndex], npt.NDArray[np.integer[Any]]]

class Error(RuntimeError):
    """Base class of the database errors that are neither ``ValueError`` (invalid argument)
    nor ``KeyError`` (missing id). A subclass of ``RuntimeError``. Raised as itself (not a
    subclass) for an internal error: a worker thread of a batch call panicked (a bug).

    The lower-level cause, if any, is chained as ``__cause__``: an ``OSError`` (with
    ``errno``) for a failed system call, a ``RuntimeError`` with the storage engine's (fjall's)
    text, or the wrapped database error."""

class CorruptionError(Error):
    """A file of the database is damaged, truncated, foreign, or of an unknown format version.
    The message names the file (the LSM directory when the storage engine found the damage;
    its error is then the ``__cause__``)."""

class BusyError(Error):
    """The database directory is already open, by another handle or another process."""

class ClosedError(Error):
    """The handle was closed, poisoned by an earlier failed write, or inherited by a forked
    child process."""

class IoError(Error):
    """An operating-system I/O failure or a failure of the storage engine. The message names
    the file; ``__cause__`` is the ``OSError`` (``FileNotFoundError``, ... with ``errno``) of
    the failed system call."""

@final
class DistanceMetric:
    """Distance metric of a database (an enum-like class; members compare by identity and
    with their integer codes).

    * ``L2``: Euclidean distance (not squared).
    * ``Cosine``: ``1 - cosine_similarity``.
    * ``InnerProduct``: ``-dot(a, b)`` (smaller is closer).
    """

    L2: ClassVar["DistanceMetric"]
    """Euclidean distance (code 0)."""
    Cosine: ClassVar["DistanceMetric"]
    """One minus cosine similarity (code 1)."""
    InnerProduct: ClassVar["DistanceMetric"]
    """Negative dot product (code 2)."""
    @property
    def name(self) -> str:
        """``"L2"``, ``"Cosine"`` or ``"InnerProduct"``."""
    @property
    def value(self) -> int:
        """The numeric code: L2 = 0, Cosine = 1, InnerProduct = 2."""
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Quantization:
    """Compressed codes kept in memory (an enum-like class; members compare by identity and
    with their integer codes). ``None`` is a Python keyword, hence the upper-case names.

    * ``NONE``: no codes; searches score the full vectors.
    * ``SQ8``: one byte per dimension, trained on the data; searches navigate on the codes and
      re-rank the best candidates with the full vectors (returned distances are exact).
    * ``SQ4``: half a byte per dimension, the same way; half the memory, less exact navigation.
    """

    NONE: ClassVar["Quantization"]
    """No codes (code 0)."""
    SQ8: ClassVar["Quantization"]
    """SQ8 codes, the default (code 1)."""
    SQ4: ClassVar["Quantization"]
    """SQ4 codes (code 2)."""
    @property
    def name(self) -> str:
        """``"NONE"``, ``"SQ8"`` or ``"SQ4"``."""
    @property
    def value(self) -> int:
        """The numeric code (as in the C API): NONE = 0, SQ8 = 1, SQ4 = 2."""
    def __int__(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class LSMVecDBOptions:
    """Options of :meth:`LSMVecDB.open`. Every property is read-write; defaults are the
    specification's. Keyword arguments set properties: ``LSMVecDBOptions(dim=128, reinit=True)``.

    Integer properties reject negative values with ``ValueError``; the remaining checks
    (``dim > 0``, ``m >= 2``, ``m_max >= m``, ``ef_search >= k``, ...) are done by ``open``,
    which raises ``ValueError``.
    """

    def __new__(cls, **kwargs: Any) -> "LSMVecDBOptions": ...
    dim: int
    """Required. Dimensionality of the vectors (1 ..= 65536). Default 0 (unset)."""
    @property
    def metric(self) -> DistanceMetric:
        """Distance metric, default ``DistanceMetric.L2``. Also accepts the codes 0 (L2),
        1 (Cosine), 2 (InnerProduct) and 'l2', 'cosine', 'ip'; another int is ValueError."""
    @metric.setter
    def metric(self, value: Union[DistanceMetric, int, str]) -> None: ...
    m: int
    """HNSW links created per inserted node (default 8)."""
    m_max: int
    """HNSW maximum links per node on the upper layers (default 16)."""
    ef_construction: float
    """HNSW candidate pool size during construction (default 32.0)."""
    vec_file_capacity: int
    """Initial capacity hint in vectors (default 100000); the vector file grows on demand."""
    paged_max_cached_pages: int
    """Vector page cache size in 4 KiB pages (default 4096 = 16 MiB)."""
    vector_storage_type: int
    """0 = basic (flat file), 1 = paged (default); another int is ValueError."""
    db_target_size: int
    """Size hint in bytes for the LSM tree (default 100 GiB)."""
    random_seed: int
    """Seed of the RNG that draws HNSW levels (default 12345)."""
    enable_stats: bool
    """Collect latency histograms (default False); counters are always collected."""
    enable_batch_read: bool
    """Read a node's unvisited neighbours together, grouped by page (default True)."""
    reinit: bool
    """Wipe existing data on open (default False = reopen)."""
    vector_file_path: Union[str, "os.PathLike[str]"]
    """Path of the vector file ("" = ``vectors.bin`` inside the database directory). Read back as str."""
    log_file_path: Union[str, "os.PathLike[str]"]
    """Path of a log file ("" = no log file). Read back as str."""
    k: int
    """Default ``k`` of a ``search_knn`` call without search options (default 1)."""
    ef_search: int
    """Default ``ef_search`` of a ``search_knn`` call without search options (default 64)."""
    edge_cache_size: int
    """Capacity of the decoded layer-0 adjacency cache, in lists (default 1048576; 0 = off)."""
    lsm_cache_bytes: int
    """Capacity of the LSM block cache in bytes (default 8 MiB)."""
    sync_writes: bool
    """fsync on every write so acknowledged writes survive power loss (default False)."""
    @property
    def quantization(self) -> Quantization:
        """Compressed codes in memory, default ``Quantization.SQ8``. Also accepts ``"none"`` /
        ``"sq8"`` / ``"sq4"`` (any case) and the codes 0 / 1 / 2; another name or int is ValueError. May change
        at every open."""
    @quantization.setter
    def quantization(self, value: Union[Quantization, int, str]) -> None: ...
    rerank: int
    """With codes: candidates a search re-scores with the full vectors (at least ``k``);
    0 (default) = automatic."""
    memory_budget_bytes: int
    """Memory in bytes for codes, adjacency table, page cache and edge cache, split by the
    README's rule; 0 (default) = no budget. Too small for the codes: ``open`` raises ValueError."""
    @property
    def routing(self) -> str:
        """Layer-0 routing of searches: ``"exact"`` (default) or ``"probabilistic"`` (with codes,
        a SimHash test skips neighbours that, with probability at least ``1 - routing_epsilon``,
        cannot enter the result pool; returned distances stay exact). Accepts either name in any
        case and reads back the lower-case name; another name is ValueError, a non-str TypeError.
        May change at every open."""
    @routing.setter
    def routing(self, value: str) -> None: ...
    routing_epsilon: float
    """With probabilistic routing: the bound on one test's probability of a wrong skip, in
    (0, 1) (default 0.1); ValueError outside."""

@final
class SearchOptions:
    """Parameters of one search: ``k`` (default 1) nearest neighbours from a candidate pool of
    ``ef_search`` (default 64, must be >= k)."""

    def __new__(cls, k: Optional[int] = None, ef_search: Optional[int] = None) -> "SearchOptions": ...
    k: int
    """Number of nearest neighbours to return (default 1)."""
    ef_search: int
    """Candidate pool size (default 64); must be >= k. Higher = better recall, slower."""

@final
class SearchResult:
    """One search hit. Compares equal to another with the same id and distance."""

    def __new__(cls, id: int, distance: float) -> "SearchResult": ...
    @property
    def id(self) -> int:
        """Identifier of the matched vector (read-only)."""
    @property
    def distance(self) -> float:
        """Distance from the query under the database's metric (read-only)."""

@final
class LSMVecDB:
    """An open lsm-vec database; create it with :meth:`open`, use it as a context manager to
    close it on exit. Safe to share between threads: the GIL is released during every database
    operation, so searches from several Python threads run in parallel. Every method of a
    closed database, or of a handle inherited by a forked child process, raises
    :class:`ClosedError`. One process owns a database at a time (:class:`BusyError`)."""

    @staticmethod
    def open(
        path: Union[str, "os.PathLike[str]"], opts: Optional[LSMVecDBOptions] = None
    ) -> "LSMVecDB":
        """Creates or opens the database in directory ``path`` (created if missing).

        With ``opts=None`` an existing database is opened with its stored parameters.
        Raises ``ValueError`` for invalid options (an empty path included) or a stored
        parameter that differs, :class:`IoError` for I/O errors, :class:`CorruptionError` for a
        damaged or foreign file, :class:`BusyError` for a database already open elsewhere."""
    def close(self) -> None:
        """Flushes pending writes and releases the database. Closing twice is not an error."""
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
    @property
    def options(self) -> LSMVecDBOptions:
        """The effective options, as a new :class:`LSMVecDBOptions` (a copy): the structural
        parameters stored in the database, this handle's tuning knobs, and the vector file in
        use. Read-only; :class:`ClosedError` on a closed handle."""
    @property
    def path(self) -> str:
        """The database directory, as given to :meth:`open`."""
    def insert(self, id: _Id, vector: _Vector) -> None:
        """Inserts a new vector of length ``dim``.

        ``ValueError`` on a dimension mismatch, NaN/inf components, a zero vector under
        cosine, or an id that already exists."""
    def insert_batch(self, ids: _Ids, vectors: _Matrix, threads: Optional[int] = 0) -> None:
        """Inserts ``len(ids)`` vectors (shape ``(n, dim)``), planned on ``threads`` threads
        (0 or None = one per core; the GIL is released meanwhile). The whole batch is validated
        first, so a bad batch raises ``ValueError`` and writes nothing. It is then committed in
        groups of 256 vectors, in order, each group atomically; the result does not depend on
        ``threads``. If a group after the first fails, the exception (the class of its cause)
        has the int attributes ``committed`` (the leading vectors that are in the database) and
        ``total``; the others are not."""
    def search_knn(
        self,
        query: _Vector,
        opts: Union[SearchOptions, int, None] = None,
        ef_search: Optional[int] = None,
        *,
        k: Optional[int] = None,
    ) -> list[SearchResult]:
        """The ``k`` nearest vectors, sorted by ascending distance.

        Forms: ``search_knn(q, search_opts)``, ``search_knn(q, k=10, ef_search=128)`` (or
        positionally ``search_knn(q, 10, 128)``), and ``search_knn(q)``, which uses the ``k``
        and ``ef_search`` of the options the database was opened with. With only ``k`` given,
        ``ef_search`` is ``max(default ef_search, k)``."""
    def search_knn_batch(
        self,
        queries: _Matrix,
        opts: Union[SearchOptions, int, None] = None,
        ef_search: Optional[int] = None,
        threads: Optional[int] = None,
        *,
        k: Optional[int] = None,
    ) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Searches ``n`` queries (shape ``(n, dim)``) on ``threads`` threads (0 or None =
        one per core), with the search parameters in any form :meth:`search_knn` takes
        (``search_knn_batch(q, k=10, ef_search=128, threads=2)`` or ``(q, 10, 128, 2)``). Returns ``(ids, distances)`` of shape ``(n, k)``: int64 and float32,
        rows sorted by ascending distance; missing neighbours are id -1 with distance inf.
        Ids >= 2**63 appear as negative int64; ``ids.view(numpy.uint64)`` recovers them."""
    def get(self, id: _Id) -> npt.NDArray[np.float32]:
        """The stored vector as a 1-D float32 array. ``KeyError`` if the id does not exist."""
    def update(self, id: _Id, vector: _Vector) -> None:
        """Replaces the vector of an existing id and rebuilds its links. ``KeyError`` if the
        id does not exist."""
    def delete(self, id: _Id) -> None:
        """Deletes the id; it is never returned by a search again. ``KeyError`` if absent."""
    def flush(self) -> None:
        """Persists everything written so far to stable storage (fsync)."""
    def finish_repairs(self) -> None:
        """Repairs now every deleted node whose repair is pending (``stats()["repair_backlog"]``),
        which a background thread otherwise does shortly after the deletes."""
    def stats(self) -> dict[str, Any]:
        """Counters, sizes and latency percentiles as a dict; the ``*_latency`` entries are
        dicts with ``count``, ``p50_us``, ``p95_us``, ``p99_us``, ``max_us`` (filled only with
        ``enable_stats``). Memory in bytes: ``code_bytes``, ``adjacency_bytes`` (for
        ``adjacency_lists`` lists), ``page_cache_bytes``, ``edge_cache_bytes``,
        ``bookkeeping_bytes``, their sum ``memory_bytes``, and ``memory_budget_bytes`` (the
        option; 0 = no budget); graph: ``ghost_nodes``, ``twin_nodes``, ``repair_backlog`` (deleted nodes whose
        repair is pending) and ``repairs`` (repaired since open); ``routing_skips`` (neighbours
        probabilistic routing skipped). The keys are those of ``lsm-vec stats --json``: every
        field of the engine's statistics."""
    def print_statistics(self) -> None:
        """Prints I/O and timing statistics to ``sys.stdout``."""
    def __len__(self) -> int:
        """Number of live vectors."""
    def __contains__(self, key: object, /) -> bool:
        """Whether ``id`` is live."""
    def __enter__(self) -> "LSMVecDB": ...
    def __exit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> bool:
        """Closes the database."""
